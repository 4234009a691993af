#include "proxy_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

namespace epoxy {

namespace {

// "\r\n\r\n\0\r\nQUIT\n": contains a NUL, so never handled as a string.
constexpr uint8_t kV2Signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr size_t kV2SignatureSize = sizeof kV2Signature;
// v1 starts with "PROXY" and exactly one space; requiring the space up front lets a stream such
// as "PROXYFOO" fail at its 6th byte.
constexpr char kV1Signature[] = "PROXY ";
constexpr size_t kV1SignatureSize = sizeof kV1Signature - 1;

// v2 byte 13: address family (high nibble) and transport (low nibble).
constexpr uint8_t kFamUnspec = 0x0;
constexpr uint8_t kFamInet = 0x1;
constexpr uint8_t kFamInet6 = 0x2;
constexpr uint8_t kFamUnix = 0x3;
constexpr uint8_t kTransUnspec = 0x0;
constexpr uint8_t kTransStream = 0x1;
constexpr uint8_t kTransDgram = 0x2;
constexpr uint8_t kVersion2 = 0x2;

// Address block sizes per family, in this order: source address, destination address, then the
// ports for IP families.
constexpr size_t kAddrLenInet = 4 + 4 + 2 + 2;
constexpr size_t kAddrLenInet6 = 16 + 16 + 2 + 2;
constexpr size_t kUnixPathSize = 108;
constexpr size_t kAddrLenUnix = kUnixPathSize + kUnixPathSize;
static_assert(sizeof(sockaddr_un::sun_path) == kUnixPathSize, "v2 carries Linux-sized sun_path");
static_assert(kPpBuildMax == kPpV2FixedSize + kAddrLenUnix, "kPpBuildMax is the unix v2 header");

// TLV types the parser looks into; all others are skipped after the bounds check.
constexpr uint8_t kTlvAlpn = 0x01;
constexpr uint8_t kTlvAuthority = 0x02;
constexpr uint8_t kTlvCrc32c = 0x03;
constexpr uint8_t kTlvUniqueId = 0x05;
constexpr uint8_t kTlvSsl = 0x20;
constexpr size_t kTlvHeaderSize = 3;  // type, 16-bit big-endian length
constexpr size_t kCrc32cSize = 4;
constexpr size_t kSslFixedSize = 5;  // PP2_TYPE_SSL value: client (1 byte), verify (4), sub-TLVs

// Longest v1 address tokens: a dotted quad; INET6_ADDRSTRLEN - 1 (a v4-mapped address written
// with every group in full). Ports have at most 5 digits.
constexpr size_t kV1MaxIpv4 = 15;
constexpr size_t kV1MaxIpv6 = 45;
constexpr size_t kV1MaxPort = 5;

uint16_t ReadBe16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

bool StartsLike(const uint8_t* p, size_t n, const char* word, size_t word_len) {
  return n <= word_len && memcmp(p, word, n) == 0;
}

bool Equals(const uint8_t* p, size_t n, const char* word) {
  return n == strlen(word) && memcmp(p, word, n) == 0;
}

bool IsDigit(uint8_t c) { return c >= '0' && c <= '9'; }

bool IsHex(uint8_t c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Whether every byte may appear in an address (or port) token of this kind.
bool TokenCharsOk(const uint8_t* p, size_t n, int kind) {
  for (size_t i = 0; i < n; i++) {
    uint8_t c = p[i];
    bool ok = kind == AF_INET    ? (IsDigit(c) || c == '.')
              : kind == AF_INET6 ? (IsHex(c) || c == ':' || c == '.')
                                 : IsDigit(c);
    if (!ok) return false;
  }
  return true;
}

// Whether p[0, n) (digits, already checked) can still grow into a port: its value so far is at
// most 65535. A longer value only grows, so a prefix above it is refused at once.
bool PortPrefixOk(const uint8_t* p, size_t n) {
  uint32_t value = 0;
  for (size_t i = 0; i < n; i++) value = value * 10 + (p[i] - '0');
  return value <= 65535;
}

// Whether p[0, n) (digits and dots, already checked) can still grow into a dotted quad: at most
// four parts, none empty but the last, each at most 255 without a leading zero.
bool Ipv4PrefixOk(const uint8_t* p, size_t n) {
  int dots = 0;
  size_t part_start = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i < n && p[i] != '.') continue;
    size_t len = i - part_start;
    if (i < n) {
      if (len == 0 || ++dots > 3) return false;
    }
    if (len > 3 || (len > 1 && p[part_start] == '0')) return false;
    uint32_t value = 0;
    for (size_t k = part_start; k < i; k++) value = value * 10 + (p[k] - '0');
    if (value > 255) return false;
    part_start = i + 1;
  }
  return true;
}

// A v1 port: 1 to 5 decimal digits, no leading zero, at most 65535.
bool ParsePort(const uint8_t* p, size_t n, uint16_t* port) {
  if (n == 0 || n > kV1MaxPort || !TokenCharsOk(p, n, AF_UNSPEC)) return false;
  if (n > 1 && p[0] == '0') return false;
  uint32_t value = 0;
  for (size_t i = 0; i < n; i++) value = value * 10 + (p[i] - '0');
  if (value > 65535) return false;
  *port = static_cast<uint16_t>(value);
  return true;
}

// A v1 address of the stated family. glibc's inet_pton is strict where the spec is: exactly four
// decimal parts without leading zeros for IPv4; 1-4 hex digits per group, one "::", 128 bits for
// IPv6 (plus the dotted v4-mapped tail, which HAProxy's own sender writes through inet_ntop).
bool ParseAddress(const uint8_t* p, size_t n, int family, void* addr) {
  size_t max = family == AF_INET ? kV1MaxIpv4 : kV1MaxIpv6;
  if (n == 0 || n > max || !TokenCharsOk(p, n, family)) return false;
  char text[kV1MaxIpv6 + 1];
  memcpy(text, p, n);
  text[n] = '\0';
  return inet_pton(family, text, addr) == 1;
}

void StoreInet(const in_addr& addr, uint16_t port, sockaddr_storage* out, socklen_t* len) {
  sockaddr_in in;
  memset(&in, 0, sizeof in);
  in.sin_family = AF_INET;
  in.sin_addr = addr;
  in.sin_port = htons(port);
  memcpy(out, &in, sizeof in);
  *len = sizeof in;
}

void StoreInet6(const in6_addr& addr, uint16_t port, sockaddr_storage* out, socklen_t* len) {
  sockaddr_in6 in6;
  memset(&in6, 0, sizeof in6);
  in6.sin6_family = AF_INET6;
  in6.sin6_addr = addr;
  in6.sin6_port = htons(port);
  memcpy(out, &in6, sizeof in6);
  *len = sizeof in6;
}

// Parses the v1 fields after "PROXY " in [p, end). `complete`: end is the CR of the line's CRLF;
// otherwise the bytes simply stop there, and the last token may still grow. Returns 0 when the
// fields are valid (or a valid beginning), else a PpError. Fills the addresses when complete.
int ParseV1Fields(const uint8_t* p, const uint8_t* end, bool complete, PpResult* out) {
  const uint8_t* token = p;
  while (p < end && *p != ' ') p++;
  size_t n = static_cast<size_t>(p - token);
  if (p == end && !complete) {
    return StartsLike(token, n, "TCP4", 4) || StartsLike(token, n, "TCP6", 4) ||
                   StartsLike(token, n, "UNKNOWN", 7)
               ? 0
               : kPpErrFamily;
  }
  if (n == 0) return kPpErrV1Syntax;
  // UNKNOWN: the sender may omit the rest of the line, and the receiver ignores whatever is there
  // (spec 2.1); only the spacing after the keyword is checked.
  if (Equals(token, n, "UNKNOWN")) return 0;
  int family;
  if (Equals(token, n, "TCP4")) {
    family = AF_INET;
  } else if (Equals(token, n, "TCP6")) {
    family = AF_INET6;
  } else {
    return kPpErrFamily;
  }
  if (p == end) return kPpErrV1Syntax;  // "PROXY TCP4\r\n"
  p++;

  // Source address, destination address, source port, destination port: each followed by
  // exactly one space, the last by the CRLF.
  union {
    in_addr v4;
    in6_addr v6;
  } addrs[2];
  uint16_t ports[2] = {0, 0};
  for (int i = 0; i < 4; i++) {
    token = p;
    while (p < end && *p != ' ') p++;
    n = static_cast<size_t>(p - token);
    bool is_port = i >= 2;
    int bad = is_port ? kPpErrPort : kPpErrAddress;
    if (p == end && !complete) {
      // Still arriving: refuse it only once it can no longer become valid.
      size_t max = is_port ? kV1MaxPort : family == AF_INET ? kV1MaxIpv4 : kV1MaxIpv6;
      if (n > max || !TokenCharsOk(token, n, is_port ? AF_UNSPEC : family)) return bad;
      if (is_port && ((n > 1 && token[0] == '0') || !PortPrefixOk(token, n))) return kPpErrPort;
      if (!is_port && family == AF_INET && !Ipv4PrefixOk(token, n)) return kPpErrAddress;
      return 0;
    }
    if (n == 0) return kPpErrV1Syntax;           // two spaces, or a space before the CRLF
    if (p == end && i < 3) return kPpErrV1Syntax;  // fields missing
    if (p < end && i == 3) return kPpErrV1Syntax;  // something after the destination port
    if (is_port) {
      if (!ParsePort(token, n, &ports[i - 2])) return kPpErrPort;
    } else if (!ParseAddress(token, n, family, &addrs[i])) {
      return kPpErrAddress;
    }
    if (p < end) p++;
  }
  if (family == AF_INET) {
    StoreInet(addrs[0].v4, ports[0], &out->source, &out->source_length);
    StoreInet(addrs[1].v4, ports[1], &out->destination, &out->destination_length);
  } else {
    StoreInet6(addrs[0].v6, ports[0], &out->source, &out->source_length);
    StoreInet6(addrs[1].v6, ports[1], &out->destination, &out->destination_length);
  }
  return 0;
}

int ParseV1(const uint8_t* buf, size_t len, PpResult* out) {
  // Find the CR within the line limit, refusing anything that is not printable US-ASCII on the
  // way (a bare LF included: the spec forbids ending the line with a lone CR or LF).
  size_t limit = len < kPpV1MaxLine ? len : kPpV1MaxLine;
  size_t cr = 0;
  for (size_t i = kV1SignatureSize; i < limit; i++) {
    uint8_t c = buf[i];
    if (c == '\r') {
      cr = i;
      break;
    }
    if (c < 0x20 || c > 0x7e) return kPpErrV1Syntax;
  }
  out->version = 1;
  out->command = kPpCommandProxy;
  if (cr == 0) {
    if (len >= kPpV1MaxLine) return kPpErrV1TooLong;
    return ParseV1Fields(buf + kV1SignatureSize, buf + len, false, out);
  }
  // The LF must also fit in the 107 bytes.
  if (cr + 1 >= kPpV1MaxLine) return kPpErrV1TooLong;
  int rc = ParseV1Fields(buf + kV1SignatureSize, buf + cr, true, out);
  if (rc < 0) return rc;
  if (cr + 1 >= len) return 0;
  if (buf[cr + 1] != '\n') return kPpErrV1Syntax;
  out->length = cr + 2;
  return static_cast<int>(out->length);
}

// CRC32C, reflected polynomial 0x82F63B78, bit by bit: headers are small and checksummed rarely,
// so a table would cost more cache than it saves.
uint32_t Crc32cUpdate(uint32_t crc, const uint8_t* data, size_t len) {
  for (size_t i = 0; i < len; i++) {
    crc ^= data[i];
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return crc;
}

// The checksum of the whole header with the 4 bytes of the CRC32C value taken as zeros.
bool ChecksumMatches(const uint8_t* buf, size_t total, size_t value_offset) {
  static const uint8_t kZeros[kCrc32cSize] = {0, 0, 0, 0};
  uint32_t crc = 0xFFFFFFFFu;
  crc = Crc32cUpdate(crc, buf, value_offset);
  crc = Crc32cUpdate(crc, kZeros, kCrc32cSize);
  crc = Crc32cUpdate(crc, buf + value_offset + kCrc32cSize, total - value_offset - kCrc32cSize);
  crc = ~crc;
  uint32_t carried = (static_cast<uint32_t>(buf[value_offset]) << 24) |
                     (static_cast<uint32_t>(buf[value_offset + 1]) << 16) |
                     (static_cast<uint32_t>(buf[value_offset + 2]) << 8) | buf[value_offset + 3];
  return crc == carried;
}

// Walks the TLVs in buf[start, end): each must fit whole, known ones must have a possible length.
// `crc_offset` (when not null) receives the CRC32C value's offset (0: none).
int WalkTlvs(const uint8_t* buf, size_t start, size_t end, PpResult* out, size_t* crc_offset) {
  size_t off = start;
  while (off < end) {
    if (end - off < kTlvHeaderSize) return kPpErrTlvOverflow;
    uint8_t type = buf[off];
    size_t value_len = ReadBe16(buf + off + 1);
    size_t value = off + kTlvHeaderSize;
    if (value_len > end - value) return kPpErrTlvOverflow;
    if (out != nullptr) {
      PpSpan span = {static_cast<uint32_t>(value), static_cast<uint32_t>(value_len)};
      switch (type) {
        case kTlvAlpn:
          if (out->alpn.offset == 0) out->alpn = span;
          break;
        case kTlvAuthority:
          if (value_len > kPpMaxAuthority) return kPpErrTlvValue;
          if (out->authority.offset == 0) out->authority = span;
          break;
        case kTlvCrc32c:
          // Two checksums could never both hold (each sees the other unzeroed): refused.
          if (value_len != kCrc32cSize || *crc_offset != 0) return kPpErrTlvValue;
          *crc_offset = value;
          break;
        case kTlvUniqueId:
          if (value_len > kPpMaxUniqueId) return kPpErrTlvValue;
          if (out->unique_id.offset == 0) out->unique_id = span;
          break;
        case kTlvSsl: {
          // client + verify, then sub-TLVs bounded by this TLV's own length.
          if (value_len < kSslFixedSize) return kPpErrTlvValue;
          int rc = WalkTlvs(buf, value + kSslFixedSize, value + value_len, nullptr, nullptr);
          if (rc < 0) return rc;
          break;
        }
        default:
          break;  // NOOP, NETNS, SSL sub-types at top level, custom and future types: skipped
      }
    }
    off = value + value_len;
  }
  return 0;
}

// Copies one 108-byte v2 unix address into a sockaddr_un the way the kernel reports addresses:
// a path up to its NUL (NUL counted, as accept() does); an abstract name (leading NUL) up to its
// last non-NUL byte, since the block's zero padding cannot be told from the name; nothing but the
// family for an all-zero block (an unnamed socket).
void StoreUnix(const uint8_t* block, sockaddr_storage* out, socklen_t* len) {
  sockaddr_un un;
  memset(&un, 0, sizeof un);
  un.sun_family = AF_UNIX;
  size_t path_len;
  if (block[0] != 0) {
    size_t used = strnlen(reinterpret_cast<const char*>(block), kUnixPathSize);
    memcpy(un.sun_path, block, used);
    path_len = used < kUnixPathSize ? used + 1 : kUnixPathSize;
  } else {
    path_len = kUnixPathSize;
    while (path_len > 0 && block[path_len - 1] == 0) path_len--;
    memcpy(un.sun_path, block, path_len);
  }
  memcpy(out, &un, sizeof un);
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_len);
}

int ParseV2(const uint8_t* buf, size_t len, PpResult* out) {
  // Each check runs as soon as its byte is in, so a bad header fails without waiting for more.
  if (len <= 12) return 0;
  uint8_t version = buf[12] >> 4;
  uint8_t command = buf[12] & 0x0F;
  if (version != kVersion2) return kPpErrV2Version;
  if (command != kPpCommandLocal && command != kPpCommandProxy) return kPpErrV2Command;
  if (len <= 13) return 0;
  uint8_t family = buf[13] >> 4;
  uint8_t transport = buf[13] & 0x0F;
  // LOCAL: "the family is ignored" (spec 2.2), so only PROXY has its family checked.
  bool proxy = command == kPpCommandProxy;
  if (proxy && (family > kFamUnix || transport > kTransDgram)) return kPpErrFamily;
  if (len < kPpV2FixedSize) return 0;
  size_t body = ReadBe16(buf + 14);
  size_t total = kPpV2FixedSize + body;
  if (total > kPpV2MaxHeader) return kPpErrV2TooLong;
  // Both nibbles known: the address block has a known size and TLVs follow it. One of them
  // UNSPEC: the layout is unknown, so the whole block is skipped unread.
  bool known = family != kFamUnspec && transport != kTransUnspec;
  size_t addr_len = !known                 ? 0
                    : family == kFamInet   ? kAddrLenInet
                    : family == kFamInet6  ? kAddrLenInet6
                                           : kAddrLenUnix;
  if (proxy && known && body < addr_len) return kPpErrV2Truncated;
  if (len < total) return 0;

  out->version = 2;
  out->command = command;
  out->length = total;
  if (!proxy) return static_cast<int>(total);

  const uint8_t* a = buf + kPpV2FixedSize;
  if (known && transport == kTransStream) {
    if (family == kFamInet) {
      in_addr src, dst;
      uint16_t sport, dport;
      memcpy(&src, a, 4);
      memcpy(&dst, a + 4, 4);
      sport = ReadBe16(a + 8);
      dport = ReadBe16(a + 10);
      StoreInet(src, sport, &out->source, &out->source_length);
      StoreInet(dst, dport, &out->destination, &out->destination_length);
    } else if (family == kFamInet6) {
      in6_addr src, dst;
      memcpy(&src, a, 16);
      memcpy(&dst, a + 16, 16);
      StoreInet6(src, ReadBe16(a + 32), &out->source, &out->source_length);
      StoreInet6(dst, ReadBe16(a + 34), &out->destination, &out->destination_length);
    } else {
      StoreUnix(a, &out->source, &out->source_length);
      StoreUnix(a + kUnixPathSize, &out->destination, &out->destination_length);
    }
  }
  // DGRAM over a known family: addresses not used (a TCP proxy falls back to UNSPEC, spec 2.2),
  // but the TLVs after them are still checked. UNSPEC/UNSPEC has no address block: TLVs only.
  bool walk = known || (family == kFamUnspec && transport == kTransUnspec);
  if (walk) {
    size_t crc_offset = 0;
    int rc = WalkTlvs(buf, kPpV2FixedSize + addr_len, total, out, &crc_offset);
    if (rc < 0) return rc;
    if (crc_offset != 0 && !ChecksumMatches(buf, total, crc_offset)) return kPpErrChecksum;
  }
  return static_cast<int>(total);
}

// What the builders make of an address: its family, or one of these.
constexpr int kAddrAbsent = -1;     // null: nothing to tell (LOCAL / UNKNOWN)
constexpr int kAddrOther = -2;      // a family PROXY cannot carry (UNSPEC / UNKNOWN)
constexpr int kAddrMalformed = -3;  // a length that does not fit its family: refused

int Classify(const sockaddr* sa, socklen_t len) {
  if (sa == nullptr) return kAddrAbsent;
  if (len < static_cast<socklen_t>(sizeof(sa_family_t))) return kAddrMalformed;
  sa_family_t family;
  memcpy(&family, sa, sizeof family);
  switch (family) {
    case AF_INET:
      return len >= static_cast<socklen_t>(sizeof(sockaddr_in)) ? AF_INET : kAddrMalformed;
    case AF_INET6:
      return len >= static_cast<socklen_t>(sizeof(sockaddr_in6)) ? AF_INET6 : kAddrMalformed;
    case AF_UNIX:
      return len <= static_cast<socklen_t>(sizeof(sockaddr_un)) ? AF_UNIX : kAddrMalformed;
    default:
      return kAddrOther;
  }
}

// IPv6 as is, IPv4 as ::ffff:a.b.c.d.
void AsInet6(const sockaddr* sa, int family, sockaddr_in6* out) {
  if (family == AF_INET6) {
    memcpy(out, sa, sizeof *out);
    return;
  }
  sockaddr_in in;
  memcpy(&in, sa, sizeof in);
  memset(out, 0, sizeof *out);
  out->sin6_family = AF_INET6;
  out->sin6_port = in.sin_port;
  out->sin6_addr.s6_addr[10] = 0xff;
  out->sin6_addr.s6_addr[11] = 0xff;
  memcpy(&out->sin6_addr.s6_addr[12], &in.sin_addr, 4);
}

void CopyUnixBlock(const sockaddr* sa, socklen_t len, uint8_t* block) {
  memset(block, 0, kUnixPathSize);
  size_t path_len = static_cast<size_t>(len) > offsetof(sockaddr_un, sun_path)
                        ? static_cast<size_t>(len) - offsetof(sockaddr_un, sun_path)
                        : 0;
  memcpy(block, reinterpret_cast<const uint8_t*>(sa) + offsetof(sockaddr_un, sun_path), path_len);
}

}  // namespace

int pp_parse(const uint8_t* buf, size_t len, PpResult* out) {
  memset(out, 0, sizeof *out);
  if (len == 0) return 0;
  if (buf[0] == kV1Signature[0]) {
    size_t n = len < kV1SignatureSize ? len : kV1SignatureSize;
    if (memcmp(buf, kV1Signature, n) != 0) return kPpErrSignature;
    if (len < kV1SignatureSize) return 0;
    return ParseV1(buf, len, out);
  }
  if (buf[0] == kV2Signature[0]) {
    size_t n = len < kV2SignatureSize ? len : kV2SignatureSize;
    if (memcmp(buf, kV2Signature, n) != 0) return kPpErrSignature;
    return ParseV2(buf, len, out);
  }
  return kPpErrSignature;
}

namespace {

struct ErrorInfo {
  const char* name;
  const char* description;
};

// Indexed by -code.
constexpr ErrorInfo kErrors[] = {
    {nullptr, nullptr},
    {"PP_BAD_SIGNATURE", "not a PROXY protocol header (neither \"PROXY \" nor the v2 signature)"},
    {"PP_V1_SYNTAX", "malformed PROXY v1 line"},
    {"PP_V1_TOO_LONG", "PROXY v1 line without CRLF in its first 107 bytes"},
    {"PP_BAD_ADDRESS", "invalid address in PROXY v1 line"},
    {"PP_BAD_PORT", "invalid port in PROXY v1 line"},
    {"PP_BAD_FAMILY", "unknown protocol or address family in PROXY header"},
    {"PP_V2_BAD_VERSION", "PROXY v2 signature with a version other than 2"},
    {"PP_V2_BAD_COMMAND", "PROXY v2 command neither LOCAL nor PROXY"},
    {"PP_V2_TOO_LONG", "PROXY v2 header longer than 1536 bytes"},
    {"PP_V2_TRUNCATED_ADDRESS", "PROXY v2 length shorter than its address block"},
    {"PP_V2_TLV_OVERFLOW", "PROXY v2 TLV runs past the end of the header"},
    {"PP_V2_BAD_TLV", "PROXY v2 TLV with an invalid length"},
    {"PP_V2_BAD_CHECKSUM", "PROXY v2 CRC32C does not match the header"},
};
static_assert(sizeof kErrors / sizeof kErrors[0] == static_cast<size_t>(-kPpErrLast) + 1,
              "one name per PpError");

}  // namespace

const char* pp_error_name(int code) {
  if (code >= 0 || code < kPpErrLast) return nullptr;
  return kErrors[-code].name;
}

const char* pp_error_description(int code) {
  if (code >= 0 || code < kPpErrLast) return nullptr;
  return kErrors[-code].description;
}

size_t pp_build_v1(const sockaddr* source, socklen_t source_length, const sockaddr* destination,
                   socklen_t destination_length, uint8_t* out, size_t cap) {
  int sf = Classify(source, source_length);
  int df = Classify(destination, destination_length);
  if (sf == kAddrMalformed || df == kAddrMalformed) return 0;
  bool ip = (sf == AF_INET || sf == AF_INET6) && (df == AF_INET || df == AF_INET6);
  char line[kPpV1MaxLine + 1];
  int n;
  if (!ip) {
    n = snprintf(line, sizeof line, "PROXY UNKNOWN\r\n");
  } else if (sf == AF_INET && df == AF_INET) {
    sockaddr_in s, d;
    memcpy(&s, source, sizeof s);
    memcpy(&d, destination, sizeof d);
    char st[INET_ADDRSTRLEN], dt[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &s.sin_addr, st, sizeof st);
    inet_ntop(AF_INET, &d.sin_addr, dt, sizeof dt);
    n = snprintf(line, sizeof line, "PROXY TCP4 %s %s %u %u\r\n", st, dt, ntohs(s.sin_port),
                 ntohs(d.sin_port));
  } else {
    sockaddr_in6 s, d;
    AsInet6(source, sf, &s);
    AsInet6(destination, df, &d);
    char st[INET6_ADDRSTRLEN], dt[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &s.sin6_addr, st, sizeof st);
    inet_ntop(AF_INET6, &d.sin6_addr, dt, sizeof dt);
    n = snprintf(line, sizeof line, "PROXY TCP6 %s %s %u %u\r\n", st, dt, ntohs(s.sin6_port),
                 ntohs(d.sin6_port));
  }
  // inet_ntop writes at most 39 characters per IPv6 address, so the line is at most 104 bytes.
  if (n <= 0 || static_cast<size_t>(n) > kPpV1MaxLine || static_cast<size_t>(n) > cap) return 0;
  memcpy(out, line, static_cast<size_t>(n));
  return static_cast<size_t>(n);
}

size_t pp_build_v2(const sockaddr* source, socklen_t source_length, const sockaddr* destination,
                   socklen_t destination_length, uint8_t* out, size_t cap) {
  int sf = Classify(source, source_length);
  int df = Classify(destination, destination_length);
  if (sf == kAddrMalformed || df == kAddrMalformed) return 0;
  uint8_t header[kPpBuildMax];
  memcpy(header, kV2Signature, kV2SignatureSize);
  uint8_t* a = header + kPpV2FixedSize;
  uint8_t command = kPpCommandProxy;
  uint8_t fam = 0;
  size_t body = 0;
  if (sf == kAddrAbsent || df == kAddrAbsent) {
    command = kPpCommandLocal;
  } else if (sf == AF_INET && df == AF_INET) {
    sockaddr_in s, d;
    memcpy(&s, source, sizeof s);
    memcpy(&d, destination, sizeof d);
    fam = (kFamInet << 4) | kTransStream;
    memcpy(a, &s.sin_addr, 4);
    memcpy(a + 4, &d.sin_addr, 4);
    memcpy(a + 8, &s.sin_port, 2);  // both already in network byte order
    memcpy(a + 10, &d.sin_port, 2);
    body = kAddrLenInet;
  } else if ((sf == AF_INET || sf == AF_INET6) && (df == AF_INET || df == AF_INET6)) {
    sockaddr_in6 s, d;
    AsInet6(source, sf, &s);
    AsInet6(destination, df, &d);
    fam = (kFamInet6 << 4) | kTransStream;
    memcpy(a, &s.sin6_addr, 16);
    memcpy(a + 16, &d.sin6_addr, 16);
    memcpy(a + 32, &s.sin6_port, 2);
    memcpy(a + 34, &d.sin6_port, 2);
    body = kAddrLenInet6;
  } else if (sf == AF_UNIX && df == AF_UNIX) {
    fam = (kFamUnix << 4) | kTransStream;
    CopyUnixBlock(source, source_length, a);
    CopyUnixBlock(destination, destination_length, a + kUnixPathSize);
    body = kAddrLenUnix;
  }
  // Otherwise: PROXY over UNSPEC, no address ("unsupported protocol families", spec 2.2).
  header[12] = static_cast<uint8_t>((kVersion2 << 4) | command);
  header[13] = fam;
  header[14] = static_cast<uint8_t>(body >> 8);
  header[15] = static_cast<uint8_t>(body & 0xff);
  size_t total = kPpV2FixedSize + body;
  if (total > cap) return 0;
  memcpy(out, header, total);
  return total;
}

uint32_t pp_crc32c(const uint8_t* data, size_t len) { return ~Crc32cUpdate(0xFFFFFFFFu, data, len); }

}  // namespace epoxy
