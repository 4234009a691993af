#include "client_hello.h"

namespace epoxy {

namespace {

// Record content types an SSLv3-or-later first record may have (change_cipher_spec, alert,
// handshake, application_data); 0xFF too, as HAProxy's version and hello-type fetches accept it.
bool Sslv3RecordType(uint8_t type) { return (type >= 0x14 && type <= 0x17) || type == 0xFF; }

uint32_t Be16(const uint8_t* p) { return static_cast<uint32_t>(p[0]) << 8 | p[1]; }
uint32_t Be24(const uint8_t* p) { return static_cast<uint32_t>(p[0]) << 16 | Be16(p + 1); }

constexpr uint8_t kHandshakeRecord = 0x16;
constexpr uint8_t kClientHello = 1;
constexpr size_t kRecordHeader = 5;
constexpr size_t kHandshakeHeader = 4;
// The smallest bodies that can still hold an extension block: version, random, the three length
// prefixes with one compression method, the extensions' length and one extension header.
constexpr uint32_t kMinHelloBody = 2 + 32 + 1 + 2 + 2 + 1 + 1 + 2 + 2;
constexpr uint32_t kMinHelloRecord = kHandshakeHeader + kMinHelloBody;
constexpr uint16_t kExtServerName = 0;
constexpr uint16_t kExtSupportedGroups = 10;
constexpr uint16_t kExtAlpn = 16;
constexpr uint8_t kHostName = 0;

void InspectVersion(const uint8_t* p, size_t n, ChResult* out) {
  out->version_state = kChNeedMore;
  if (n == 0) return;
  size_t at;
  uint32_t version;
  size_t body;
  if (Sslv3RecordType(p[0])) {
    // Eleven bytes: the record header and the smallest message worth calling a hello.
    if (n < kRecordHeader + 6) return;
    version = static_cast<uint32_t>(p[1]) << 16 | p[2];
    body = Be16(p + 3);
    if (version < 0x30000 || body < 6 || body > kChMaxRecord) {
      out->version_state = kChAbsent;
      return;
    }
    at = kRecordHeader;
  } else {
    // SSLv2 record header: 2 bytes (15-bit length) or 3 (14-bit length and a padding length),
    // then a CLIENT-HELLO: type 1, version, cipher-specs, session-id and challenge lengths.
    const bool short_header = (p[0] & 0x80) != 0;
    size_t header = short_header ? 2 : 3;
    if (n < header + 1) return;
    uint32_t record = short_header ? ((p[0] & 0x7Fu) << 8 | p[1]) : ((p[0] & 0x3Fu) << 8 | p[1]);
    uint32_t padding = short_header ? 0 : p[2];
    if (p[header] != kClientHello) {
      out->version_state = kChAbsent;
      return;
    }
    at = header + 1;
    if (n < at + 8) return;
    version = static_cast<uint32_t>(p[at]) << 16 | p[at + 1];
    uint32_t ciphers = Be16(p + at + 2);
    uint32_t session_id = Be16(p + at + 4);
    uint32_t challenge = Be16(p + at + 6);
    if (ciphers % 3 != 0 || (session_id != 0 && session_id != 16) || challenge < 16 || challenge > 32 ||
        record != 9 + ciphers + session_id + challenge) {
      out->version_state = kChAbsent;
      return;
    }
    at += 8;
    body = ciphers + session_id + challenge + padding;
  }
  if (n - at < body) return;
  out->version_state = kChFound;
  out->version = static_cast<int32_t>(version);
}

void InspectHelloType(const uint8_t* p, size_t n, ChResult* out) {
  out->hello_type_state = kChNeedMore;
  if (n == 0) return;
  if (!Sslv3RecordType(p[0])) {
    out->hello_type_state = kChAbsent;
    return;
  }
  if (n < kRecordHeader + kHandshakeHeader) return;
  if ((static_cast<uint32_t>(p[1]) << 16 | p[2]) < 0x30000 || Be16(p + 3) < kHandshakeHeader) {
    out->hello_type_state = kChAbsent;
    return;
  }
  if (n - kRecordHeader - kHandshakeHeader < Be24(p + 6)) return;
  out->hello_type_state = kChFound;
  out->hello_type = p[5];
}

// Walks a ClientHello's extensions for the server name, the ALPN list and supported_groups.
// A fact found before a malformed part stays found, as each of HAProxy's fetches stops at its own
// extension; the others are then absent.
void InspectExtensions(const uint8_t* p, size_t n, ChResult* out) {
  out->sni_state = out->alpn_state = out->ec_ext_state = kChNeedMore;
  auto absent = [out](bool hello_complete) {
    if (out->sni_state != kChFound) out->sni_state = kChAbsent;
    if (out->alpn_state != kChFound) out->alpn_state = kChAbsent;
    if (out->ec_ext_state != kChFound) {
      // A whole, well-formed hello without the extension says "false"; anything else says nothing.
      out->ec_ext_state = hello_complete ? kChFound : kChAbsent;
      out->ec_ext = false;
    }
  };
  if (n == 0) return;
  if (p[0] != kHandshakeRecord) return absent(false);
  if (n < 3) return;
  if (p[1] < 3) return absent(false);
  if (n < kRecordHeader) return;
  uint32_t record = Be16(p + 3);
  if (record < kMinHelloRecord) return absent(false);
  if (n < kRecordHeader + 1) return;
  if (p[5] != kClientHello) return absent(false);
  if (n < kRecordHeader + kHandshakeHeader) return;
  uint32_t hello = Be24(p + 6);
  // A hello split over several records is legal but unseen in practice; HAProxy reads it as one
  // record and fails, so it is simply not inspected.
  if (hello < kMinHelloBody || kHandshakeHeader + hello > record) return absent(false);
  if (n - kRecordHeader - kHandshakeHeader < hello) return;

  size_t at = kRecordHeader + kHandshakeHeader;
  const size_t end = at + hello;
  at += 2 + 32;
  at += 1 + p[at];  // session id
  if (at + 2 > end) return absent(false);
  at += 2 + Be16(p + at);  // cipher suites
  if (at + 1 > end) return absent(false);
  at += 1 + p[at];  // compression methods
  if (at == end) return absent(true);  // no extensions at all
  if (at + 2 > end) return absent(false);
  const size_t extensions_end = at + 2 + Be16(p + at);
  if (extensions_end > end) return absent(false);
  at += 2;
  while (at < extensions_end) {
    if (extensions_end - at < 4) return absent(false);
    const uint32_t type = Be16(p + at);
    const size_t length = Be16(p + at + 2);
    at += 4;
    if (extensions_end - at < length) return absent(false);
    const uint8_t* ext = p + at;
    if (type == kExtSupportedGroups && out->ec_ext_state != kChFound) {
      out->ec_ext_state = kChFound;
      out->ec_ext = true;
    } else if (type == kExtServerName && out->sni_state != kChFound) {
      if (length < 2 || Be16(ext) + 2u > length) return absent(false);
      const size_t list_end = 2 + Be16(ext);
      for (size_t entry = 2; entry < list_end;) {
        if (list_end - entry < 3) return absent(false);
        const size_t name_length = Be16(ext + entry + 1);
        if (list_end - entry - 3 < name_length) return absent(false);
        if (ext[entry] == kHostName) {
          out->sni_state = kChFound;
          out->sni = {static_cast<uint32_t>(at + entry + 3), static_cast<uint32_t>(name_length)};
          break;
        }
        entry += 3 + name_length;
      }
    } else if (type == kExtAlpn && out->alpn_state != kChFound) {
      if (length < 3 || Be16(ext) + 2u > length) return absent(false);
      const size_t list_end = 2 + Be16(ext);
      for (size_t entry = 2; entry < list_end; entry += 1 + ext[entry]) {
        if (ext[entry] == 0 || list_end - entry - 1 < ext[entry]) return absent(false);
      }
      out->alpn_state = kChFound;
      out->alpn = {static_cast<uint32_t>(at + 2), static_cast<uint32_t>(list_end - 2)};
    }
    at += length;
  }
  absent(true);
}

}  // namespace

void ch_inspect(const uint8_t* bytes, size_t length, ChResult* out) {
  *out = ChResult{};
  InspectHelloType(bytes, length, out);
  InspectVersion(bytes, length, out);
  InspectExtensions(bytes, length, out);
}

}  // namespace epoxy
