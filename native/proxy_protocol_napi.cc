#include "proxy_protocol_napi.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "args.h"
#include "errors.h"
#include "proxy_protocol.h"
#include "sockaddr.h"

namespace epoxy {

namespace {

// Slots of proxyParse's `out` Int32Array. The first five are required; the TLV spans are written
// only when the array is long enough for them. An absent TLV has offset -1.
enum ParseSlot : size_t {
  kSlotStatus = 0,        // the return value again
  kSlotVersion,           // 1 or 2 (0 unless complete)
  kSlotCommand,           // 0 LOCAL, 1 PROXY
  kSlotSourceLength,      // bytes written to `source` (0: no address carried)
  kSlotDestinationLength, // bytes written to `destination`
  kSlotRequired,          // count of the slots above
  kSlotAlpnOffset = kSlotRequired,
  kSlotAlpnLength,
  kSlotAuthorityOffset,
  kSlotAuthorityLength,
  kSlotUniqueIdOffset,
  kSlotUniqueIdLength,
  kSlotCount,
};

// Address outputs must hold the largest address the parser produces.
constexpr size_t kAddrOutMin = sizeof(sockaddr_un);

void PutSpan(int32_t* out, size_t slot, const PpSpan& span) {
  out[slot] = span.offset == 0 ? -1 : static_cast<int32_t>(span.offset);
  out[slot + 1] = span.offset == 0 ? 0 : static_cast<int32_t>(span.length);
}

// JS: proxyParse(buffer, length | undefined, out: Int32Array, source: Uint8Array,
//                destination: Uint8Array) -> header length | 0 (need more) | PpError (< 0)
// Never throws for what the bytes contain; only for arguments of the wrong shape.
Napi::Value ProxyParse(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes buf, src, dst;
  int32_t* out;
  size_t out_count;
  if (!ArgBytes(info, 0, "buffer", &buf)) return env.Undefined();
  int32_t length;
  if (!ArgIntOr(info, 1, "length", static_cast<int32_t>(buf.length), &length)) return env.Undefined();
  if (!ArgInt32Array(info, 2, "out", &out, &out_count) || !ArgBytes(info, 3, "source", &src) ||
      !ArgBytes(info, 4, "destination", &dst)) {
    return env.Undefined();
  }
  if (length < 0 || static_cast<size_t>(length) > buf.length) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "proxyParse: length outside the buffer");
    return env.Undefined();
  }
  if (out_count < kSlotRequired || src.length < kAddrOutMin || dst.length < kAddrOutMin) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG",
                    "proxyParse: out needs 5 slots, source and destination " +
                        std::to_string(kAddrOutMin) + " bytes");
    return env.Undefined();
  }
  PpResult result;
  int rc = pp_parse(buf.data, static_cast<size_t>(length), &result);
  bool complete = rc > 0;
  out[kSlotStatus] = rc;
  out[kSlotVersion] = complete ? result.version : 0;
  out[kSlotCommand] = complete ? result.command : 0;
  out[kSlotSourceLength] = complete ? static_cast<int32_t>(result.source_length) : 0;
  out[kSlotDestinationLength] = complete ? static_cast<int32_t>(result.destination_length) : 0;
  if (complete) {
    memcpy(src.data, &result.source, result.source_length);
    memcpy(dst.data, &result.destination, result.destination_length);
  }
  if (out_count >= kSlotCount) {
    PpSpan none = {0, 0};
    PutSpan(out, kSlotAlpnOffset, complete ? result.alpn : none);
    PutSpan(out, kSlotAuthorityOffset, complete ? result.authority : none);
    PutSpan(out, kSlotUniqueIdOffset, complete ? result.unique_id : none);
  }
  return Napi::Number::New(env, rc);
}

// JS: proxyErrorName(code) -> 'PP_BAD_SIGNATURE'... ('PP_UNKNOWN_ERROR' for other numbers)
Napi::Value ProxyErrorName(const Napi::CallbackInfo& info) {
  int32_t code;
  if (!ArgInt(info, 0, "code", &code)) return info.Env().Undefined();
  const char* name = pp_error_name(code);
  return Napi::String::New(info.Env(), name != nullptr ? name : "PP_UNKNOWN_ERROR");
}

// JS: proxyErrorDescription(code) -> a sentence for logs
Napi::Value ProxyErrorDescription(const Napi::CallbackInfo& info) {
  int32_t code;
  if (!ArgInt(info, 0, "code", &code)) return info.Env().Undefined();
  const char* text = pp_error_description(code);
  return Napi::String::New(info.Env(), text != nullptr ? text : "unknown PROXY protocol error");
}

// An address argument that may be null (nothing to tell: LOCAL / UNKNOWN). False when the bytes
// are not a socket address of a known family.
bool OptionalSockaddr(const Napi::CallbackInfo& info, size_t i, const char* what, sockaddr_storage* ss,
                      socklen_t* len, bool* present, bool* ok) {
  *present = false;
  *ok = true;
  if (i < info.Length() && (info[i].IsNull() || info[i].IsUndefined())) return true;
  Bytes bytes;
  if (!ArgBytes(info, i, what, &bytes)) return false;
  *present = true;
  *ok = SockaddrFromBytes(bytes.data, bytes.length, ss, len);
  return true;
}

// JS: proxyBuild(version: 1 | 2, source | null, destination | null, out) -> bytes written |
//     -EINVAL (address bytes of no known family) | -ENOSPC (out too small)
Napi::Value ProxyBuild(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t version;
  if (!ArgInt(info, 0, "version", &version)) return env.Undefined();
  if (version != 1 && version != 2) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "proxyBuild: version must be 1 or 2");
    return env.Undefined();
  }
  sockaddr_storage src, dst;
  socklen_t src_len = 0, dst_len = 0;
  bool has_src, has_dst, src_ok, dst_ok;
  Bytes out;
  if (!OptionalSockaddr(info, 1, "source", &src, &src_len, &has_src, &src_ok) ||
      !OptionalSockaddr(info, 2, "destination", &dst, &dst_len, &has_dst, &dst_ok) ||
      !ArgBytes(info, 3, "out", &out)) {
    return env.Undefined();
  }
  if (!src_ok || !dst_ok) return Napi::Number::New(env, -EINVAL);
  const sockaddr* s = has_src ? reinterpret_cast<const sockaddr*>(&src) : nullptr;
  const sockaddr* d = has_dst ? reinterpret_cast<const sockaddr*>(&dst) : nullptr;
  // Built into a full-size scratch buffer first, so "too small" is told apart from a bad address.
  uint8_t scratch[kPpBuildMax];
  size_t n = version == 1 ? pp_build_v1(s, src_len, d, dst_len, scratch, sizeof scratch)
                          : pp_build_v2(s, src_len, d, dst_len, scratch, sizeof scratch);
  if (n == 0) return Napi::Number::New(env, -EINVAL);
  if (n > out.length) return Napi::Number::New(env, -ENOSPC);
  memcpy(out.data, scratch, n);
  return Napi::Number::New(env, static_cast<double>(n));
}

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  c.Set("V1_MAX_LINE", static_cast<double>(kPpV1MaxLine));
  c.Set("V2_MAX_HEADER", static_cast<double>(kPpV2MaxHeader));
  c.Set("MAX_HEADER", static_cast<double>(kPpMaxHeader));
  c.Set("BUILD_MAX", static_cast<double>(kPpBuildMax));
  c.Set("OUT_SLOTS", static_cast<double>(kSlotCount));
  c.Set("ADDRESS_SIZE", static_cast<double>(kAddrOutMin));
  Napi::Object errors = Napi::Object::New(env);
  for (int code = -1; code >= kPpErrLast; code--) errors.Set(pp_error_name(code), code);
  c.Set("errors", errors);
  return c;
}

}  // namespace

void InitProxyProtocol(Napi::Env env, Napi::Object exports) {
  exports.Set("proxyParse", Napi::Function::New(env, ProxyParse, "proxyParse"));
  exports.Set("proxyErrorName", Napi::Function::New(env, ProxyErrorName, "proxyErrorName"));
  exports.Set("proxyErrorDescription",
              Napi::Function::New(env, ProxyErrorDescription, "proxyErrorDescription"));
  exports.Set("proxyBuild", Napi::Function::New(env, ProxyBuild, "proxyBuild"));
  exports.Set("proxyProtocol", Constants(env));
}

}  // namespace epoxy
