// libFuzzer target for the PROXY protocol parser (native/proxy_protocol.cc, linked alone: the
// core has no Node-API). Built with ASan + UBSan and run for a bounded time by test/fuzz/run.sh.
//
// Beyond "no crash, no sanitizer report", every input checks the parser's contract:
//  - the result is a PpError with a name, 0, or a length within the input and kPpMaxHeader;
//  - a complete header of n bytes parses the same with the bytes after it cut off, and every
//    strict prefix (n - 1 and one chosen by the input) is "need more", never an error;
//  - TLV spans lie inside the header; addresses come in pairs;
//  - rebuilding the addresses with pp_build_v1 and pp_build_v2 gives a header that parses back
//    to the same addresses (v1 carries no unix address: UNKNOWN), and rebuilding that parse gives
//    the same bytes again.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy_protocol.h"

using epoxy::PpResult;

#define CHECK(cond)                                                               \
  do {                                                                            \
    if (!(cond)) {                                                                \
      fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      abort();                                                                    \
    }                                                                             \
  } while (0)

namespace {

bool SameAddress(const sockaddr_storage& a, socklen_t alen, const sockaddr_storage& b, socklen_t blen) {
  return alen == blen && memcmp(&a, &b, alen) == 0;
}

bool SameResult(const PpResult& a, const PpResult& b) {
  return a.length == b.length && a.version == b.version && a.command == b.command &&
         SameAddress(a.source, a.source_length, b.source, b.source_length) &&
         SameAddress(a.destination, a.destination_length, b.destination, b.destination_length) &&
         a.alpn.offset == b.alpn.offset && a.alpn.length == b.alpn.length &&
         a.authority.offset == b.authority.offset && a.authority.length == b.authority.length &&
         a.unique_id.offset == b.unique_id.offset && a.unique_id.length == b.unique_id.length;
}

void CheckSpan(const epoxy::PpSpan& span, size_t header) {
  if (span.offset == 0) {
    CHECK(span.length == 0);
    return;
  }
  CHECK(span.offset >= epoxy::kPpV2FixedSize);
  CHECK(span.offset + span.length <= header);
}

size_t Build(int version, const PpResult& r, uint8_t* out, size_t cap) {
  const sockaddr* s = r.source_length ? reinterpret_cast<const sockaddr*>(&r.source) : nullptr;
  const sockaddr* d = r.destination_length ? reinterpret_cast<const sockaddr*>(&r.destination) : nullptr;
  return version == 1 ? epoxy::pp_build_v1(s, r.source_length, d, r.destination_length, out, cap)
                      : epoxy::pp_build_v2(s, r.source_length, d, r.destination_length, out, cap);
}

void CheckRoundTrip(int version, const PpResult& r) {
  uint8_t built[epoxy::kPpBuildMax];
  size_t n = Build(version, r, built, sizeof built);
  CHECK(n > 0 && n <= sizeof built);
  CHECK(version == 2 || n <= epoxy::kPpV1MaxLine);
  // Too small by one byte: refused, nothing half-written counted as success.
  uint8_t small[epoxy::kPpBuildMax];
  CHECK(Build(version, r, small, n - 1) == 0);

  PpResult back;
  CHECK(epoxy::pp_parse(built, n, &back) == static_cast<int>(n));
  CHECK(back.version == version);
  bool unix_in_v1 = version == 1 && r.source_length != 0 && r.source.ss_family == AF_UNIX;
  if (unix_in_v1) {
    CHECK(back.source_length == 0 && back.destination_length == 0);
  } else {
    CHECK(SameAddress(back.source, back.source_length, r.source, r.source_length));
    CHECK(SameAddress(back.destination, back.destination_length, r.destination, r.destination_length));
  }
  uint8_t again[epoxy::kPpBuildMax];
  size_t m = Build(version, back, again, sizeof again);
  CHECK(m == n && memcmp(again, built, n) == 0);
  for (size_t k = 0; k < n; k++) {
    PpResult partial;
    CHECK(epoxy::pp_parse(built, k, &partial) == 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  PpResult r;
  int rc = epoxy::pp_parse(data, size, &r);
  CHECK(rc >= epoxy::kPpErrLast);
  if (rc < 0) {
    CHECK(epoxy::pp_error_name(rc) != nullptr && epoxy::pp_error_description(rc) != nullptr);
    return 0;
  }
  if (rc == 0) return 0;

  size_t n = static_cast<size_t>(rc);
  CHECK(n <= size && n <= epoxy::kPpMaxHeader && n == r.length);
  CHECK(r.version == 1 || r.version == 2);
  CHECK(r.command == epoxy::kPpCommandLocal || r.command == epoxy::kPpCommandProxy);
  CHECK(r.version == 2 || (r.command == epoxy::kPpCommandProxy && n <= epoxy::kPpV1MaxLine));
  CHECK((r.source_length == 0) == (r.destination_length == 0));
  CHECK(r.source_length <= sizeof(sockaddr_storage) && r.destination_length <= sizeof(sockaddr_storage));
  if (r.source_length != 0) CHECK(r.source.ss_family == r.destination.ss_family);
  CheckSpan(r.alpn, n);
  CheckSpan(r.authority, n);
  CheckSpan(r.unique_id, n);

  PpResult alone;
  CHECK(epoxy::pp_parse(data, n, &alone) == rc && SameResult(alone, r));
  PpResult partial;
  CHECK(epoxy::pp_parse(data, n - 1, &partial) == 0);
  CHECK(epoxy::pp_parse(data, size % n, &partial) == 0);

  CheckRoundTrip(1, r);
  CheckRoundTrip(2, r);
  return 0;
}
