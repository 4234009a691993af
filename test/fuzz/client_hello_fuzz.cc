// libFuzzer target for the ClientHello inspector (native/client_hello.cc, linked alone: the core
// has no Node-API). Built with ASan + UBSan and run for a bounded time by test/fuzz/run.sh.
//
// Beyond "no crash, no sanitizer report", every input checks the inspector's contract:
//  - states are absent / need more / found, and spans lie inside the input;
//  - a fact found on the whole input was "need more" or found with the same value on every
//    prefix, never "absent": bytes that arrive later cannot make a rule that gave up wrong, and a
//    rule waiting for a fact is never told "no" before the bytes that carry it are in;
//  - a fact found or absent stays so when more bytes follow (appending cannot change a decision).
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_hello.h"

using epoxy::ChResult;
using epoxy::ChSpan;
using epoxy::ChState;

#define CHECK(cond)                                                                      \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      abort();                                                                           \
    }                                                                                    \
  } while (0)

namespace {

bool ValidState(ChState s) { return s == epoxy::kChAbsent || s == epoxy::kChNeedMore || s == epoxy::kChFound; }

void CheckSpan(ChState s, const ChSpan& span, size_t size) {
  if (s == epoxy::kChFound) CHECK(span.offset <= size && span.length <= size - span.offset);
}

struct Fact {
  ChState state;
  int64_t value;
};

// The five facts, each reduced to a state and a comparable value.
void Facts(const ChResult& r, Fact out[5]) {
  out[0] = {r.hello_type_state, r.hello_type};
  out[1] = {r.version_state, r.version};
  out[2] = {r.sni_state, static_cast<int64_t>(r.sni.offset) << 32 | r.sni.length};
  out[3] = {r.alpn_state, static_cast<int64_t>(r.alpn.offset) << 32 | r.alpn.length};
  out[4] = {r.ec_ext_state, r.ec_ext ? 1 : 0};
}

// `earlier` is the answer on a prefix of the bytes `later` answered on.
void CheckMonotonic(const Fact& earlier, const Fact& later) {
  if (earlier.state == epoxy::kChNeedMore) return;
  CHECK(earlier.state == later.state);
  if (earlier.state == epoxy::kChFound) CHECK(earlier.value == later.value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ChResult whole;
  epoxy::ch_inspect(data, size, &whole);
  CHECK(ValidState(whole.hello_type_state) && ValidState(whole.version_state) && ValidState(whole.sni_state) &&
        ValidState(whole.alpn_state) && ValidState(whole.ec_ext_state));
  CheckSpan(whole.sni_state, whole.sni, size);
  CheckSpan(whole.alpn_state, whole.alpn, size);

  Fact last[5];
  Facts(whole, last);
  // A few prefixes rather than all: the inputs reach 16 KiB and the inspector is linear.
  const size_t cuts[] = {0, 1, 5, 9, size / 3, size / 2, size - (size > 0 ? 1 : 0), size % 64};
  for (size_t cut : cuts) {
    if (cut > size) continue;
    ChResult partial;
    epoxy::ch_inspect(data, cut, &partial);
    Fact first[5];
    Facts(partial, first);
    for (int i = 0; i < 5; i++) CheckMonotonic(first[i], last[i]);
  }
  return 0;
}
