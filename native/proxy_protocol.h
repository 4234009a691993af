// PROXY protocol v1 and v2 (HAProxy's doc/proxy-protocol.txt, 2020/03/05): the strict parser
// behind `accept-proxy` and the builders behind `send-proxy` / `send-proxy-v2`.
//
// Plain C++ over bytes and sockaddrs, no Node-API and no allocation, so the fuzz target
// (test/fuzz/proxy_protocol_fuzz.cc) links this file alone. The bindings are in
// proxy_protocol_napi.cc.
//
// The parser is meant to be called again on the same growing buffer as bytes arrive (the session
// layer peeks or buffers): it answers "need more" for every strict prefix of a valid header, and an
// error as soon as the bytes seen so far cannot start one.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

namespace epoxy {

// v1: the longest line a receiver must accept, CRLF included (spec 2.1: "PROXY UNKNOWN" followed
// by two full-length IPv6 addresses and two ports). No CRLF within it: the line is refused.
constexpr size_t kPpV1MaxLine = 107;
// v2: the fixed part: 12-byte signature, version|command, family|transport, 16-bit length.
constexpr size_t kPpV2FixedSize = 16;
// v2: the largest whole header accepted (fixed part + address block + TLVs). The spec has no cap
// (the length field allows 16 + 65535) and HAProxy's is its buffer size (16 KiB). 1536 holds the
// largest address block (two AF_UNIX paths: 216) plus every TLV HAProxy sends, each at the cap
// HAProxy itself enforces or emits (authority 255, unique-id 128, ALPN, the SSL block with
// version, CN, cipher, sig/key algs, netns, CRC32C, the AWS/Azure/GCP ids): about 1.1 KiB at
// worst. It is also one Ethernet MTU, so a conforming sender (which must send the header at once,
// spec 2) delivers it in one segment, and it bounds the session layer's peek buffer. The check is
// made as soon as the 16 fixed bytes are in, without waiting for the announced length.
constexpr size_t kPpV2MaxHeader = 1536;
// Upper bound of any value pp_parse returns.
constexpr size_t kPpMaxHeader = kPpV2MaxHeader;
// The builders never write more than this: v2 with two AF_UNIX addresses (16 + 2*108). A v1 line
// is at most kPpV1MaxLine.
constexpr size_t kPpBuildMax = kPpV2FixedSize + 216;
// PP2_TYPE_UNIQUE_ID: "up to 128 bytes" (spec 2.2.5); longer is refused, as HAProxy does.
constexpr size_t kPpMaxUniqueId = 128;
// PP2_TYPE_AUTHORITY: a host name (SNI) is at most 255 bytes; HAProxy refuses longer ones too.
constexpr size_t kPpMaxAuthority = 255;

// What the header says about the connection.
enum PpCommand : int {
  kPpCommandLocal = 0,  // v2 LOCAL: made by the proxy itself (health check); use the real endpoints
  kPpCommandProxy = 1,  // relayed on behalf of a client: use the addresses carried, when there are
};

// Why a header is refused (pp_parse's negative results). Stable: the numbers cross to TypeScript.
enum PpError : int {
  kPpErrSignature = -1,        // starts with neither "PROXY " nor the v2 signature
  kPpErrV1Syntax = -2,         // v1: wrong spacing, missing or extra fields, bare CR or LF, non-ASCII
  kPpErrV1TooLong = -3,        // v1: no CRLF within the first 107 bytes
  kPpErrAddress = -4,          // v1: an address that is not canonical IPv4/IPv6 of the stated family
  kPpErrPort = -5,             // v1: a port outside 0..65535 or with a leading zero
  kPpErrFamily = -6,           // v1: protocol not TCP4/TCP6/UNKNOWN; v2: family > 3 or transport > 2
  kPpErrV2Version = -7,        // v2: version nibble other than 2
  kPpErrV2Command = -8,        // v2: command other than LOCAL (0) or PROXY (1)
  kPpErrV2TooLong = -9,        // v2: 16 + length above kPpV2MaxHeader
  kPpErrV2Truncated = -10,     // v2: length shorter than the address block of the stated family
  kPpErrTlvOverflow = -11,     // v2: a TLV (or SSL sub-TLV) runs past the end of the header
  kPpErrTlvValue = -12,        // v2: a known TLV with an impossible length, or a second CRC32C
  kPpErrChecksum = -13,        // v2: the PP2_TYPE_CRC32C value does not match the header
};
// The most negative PpError.
constexpr int kPpErrLast = kPpErrChecksum;

// A TLV value inside the parsed header: `offset` from the header's first byte (0 = absent; a TLV
// value can never start there) and its length.
struct PpSpan {
  uint32_t offset;
  uint32_t length;
};

struct PpResult {
  size_t length;          // bytes of header to consume
  int version;            // 1 or 2
  int command;            // PpCommand; v1 is always kPpCommandProxy
  // The addresses carried, as the kernel would give them (network byte order inside). Length 0:
  // none usable, so the connection's own endpoints apply: LOCAL, v1 UNKNOWN, v2 UNSPEC, v2 DGRAM
  // (the spec's "fall back to UNSPEC" for transports a receiver does not implement).
  sockaddr_storage source;
  socklen_t source_length;
  sockaddr_storage destination;
  socklen_t destination_length;
  // v2 TLVs kept for later use (the first of each type); all are bounds-checked either way.
  PpSpan alpn;       // PP2_TYPE_ALPN
  PpSpan authority;  // PP2_TYPE_AUTHORITY (SNI)
  PpSpan unique_id;  // PP2_TYPE_UNIQUE_ID
};

// Parses a header at the start of buf[0, len). Returns the header length (> 0) when complete and
// valid, 0 when the bytes so far are a valid beginning (call again with more), or a PpError.
// *out is fully written on every call; it means something only when the result is > 0.
int pp_parse(const uint8_t* buf, size_t len, PpResult* out);

// "PP_BAD_SIGNATURE" for kPpErrSignature...; nullptr for a number that is not a PpError.
const char* pp_error_name(int code);
// A sentence saying what is wrong, for logs; nullptr for a number that is not a PpError.
const char* pp_error_description(int code);

// Builders. Both write one header into out[0, cap) and return its length, or 0 when cap is too
// small or an address is malformed (a length that does not fit its family). `source` and
// `destination` are the client's addresses as seen by this proxy (its peer and its local end).
//
// v1: TCP4 when both are IPv4; TCP6 when both are IP and one is IPv6 (IPv4 then written
// v4-mapped, ::ffff:a.b.c.d, as HAProxy does); "PROXY UNKNOWN\r\n" otherwise, including when
// either is null (nothing to tell, e.g. a health check).
size_t pp_build_v1(const sockaddr* source, socklen_t source_length, const sockaddr* destination,
                   socklen_t destination_length, uint8_t* out, size_t cap);
// v2: PROXY with TCP over IPv4 (0x11), over IPv6 (0x21, IPv4 mapped when mixed) or UNIX stream
// (0x31); PROXY with UNSPEC (0x00, no address) for other combinations; LOCAL with UNSPEC when
// either is null. No TLVs.
size_t pp_build_v2(const sockaddr* source, socklen_t source_length, const sockaddr* destination,
                   socklen_t destination_length, uint8_t* out, size_t cap);

// CRC32C (Castagnoli, as RFC 4960 appendix B) of data, the checksum PP2_TYPE_CRC32C carries.
uint32_t pp_crc32c(const uint8_t* data, size_t len);

}  // namespace epoxy
