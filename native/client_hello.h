// The TLS/SSL facts HAProxy's layer-6 fetches read from the first bytes a client sends
// (req.ssl_hello_type, req.ssl_ver, req.ssl_sni, req.ssl_alpn, req.ssl_ec_ext), for routing TLS
// by SNI without terminating it.
//
// Plain C++ over bytes, no Node-API and no allocation, so the fuzz target
// (test/fuzz/client_hello_fuzz.cc) links this file alone; the bindings are in
// client_hello_napi.cc. The bytes are never changed: the session layer forwards them as received.
//
// Called again on the same growing buffer as bytes arrive. Each fact is answered on its own, as
// HAProxy's fetches are: "need more" while the bytes so far are a strict prefix of what the fetch
// needs (a rule then waits, up to inspect-delay), "absent" once the bytes cannot give it (not
// TLS, a ServerHello, no such extension, a malformed hello), or "found".
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace epoxy {

enum ChState : int32_t {
  kChAbsent = 0,
  kChNeedMore = 1,
  kChFound = 2,
};

// A value inside the inspected bytes (offset from their start).
struct ChSpan {
  uint32_t offset;
  uint32_t length;
};

struct ChResult {
  // The handshake message type of the first record (1: ClientHello), once that whole message is in.
  ChState hello_type_state;
  int32_t hello_type;
  // major << 16 | minor: the record layer's version, or an SSLv2-format hello's; once the first
  // message is in.
  ChState version_state;
  int32_t version;
  // The first host_name of the server_name extension of a whole ClientHello.
  ChState sni_state;
  ChSpan sni;
  // The protocol list of the ALPN extension of a whole ClientHello (length-prefixed names, each
  // checked to lie inside the list): HAProxy matches a pattern against every one of them.
  ChState alpn_state;
  ChSpan alpn;
  // Whether a whole ClientHello carries supported_groups (RFC 4492's elliptic_curves, type 10).
  ChState ec_ext_state;
  bool ec_ext;
};

// The largest record the version fetch accepts: 2^14 of plaintext plus 2048 of expansion
// (RFC 5246 6.2.3); a longer announced length is not TLS.
constexpr size_t kChMaxRecord = (1u << 14) + 2048;

// Fills `out` from bytes[0, length). Never reads outside them, never fails.
void ch_inspect(const uint8_t* bytes, size_t length, ChResult* out);

}  // namespace epoxy
