#include "client_hello_napi.h"

#include "args.h"
#include "client_hello.h"
#include "errors.h"

namespace epoxy {

namespace {

// Slots of clientHelloInspect's `out` Int32Array: a state (ChState) and its value per fact;
// spans are an offset into the inspected bytes and a length.
enum InspectSlot : size_t {
  kSlotHelloTypeState = 0,
  kSlotHelloType,
  kSlotVersionState,
  kSlotVersion,
  kSlotSniState,
  kSlotSniOffset,
  kSlotSniLength,
  kSlotAlpnState,
  kSlotAlpnOffset,
  kSlotAlpnLength,
  kSlotEcExtState,
  kSlotEcExt,
  kSlotCount,
};

// JS: clientHelloInspect(buffer, length, out: Int32Array) -> undefined; fills `out`.
// Once per read during content inspection, so it answers every fact in one call and allocates
// nothing; only arguments of the wrong shape throw.
Napi::Value ClientHelloInspect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes buf;
  int32_t* out;
  size_t out_count;
  int32_t length;
  if (!ArgBytes(info, 0, "buffer", &buf) || !ArgInt(info, 1, "length", &length) ||
      !ArgInt32Array(info, 2, "out", &out, &out_count)) {
    return env.Undefined();
  }
  if (length < 0 || static_cast<size_t>(length) > buf.length || out_count < kSlotCount) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG",
                    "clientHelloInspect: length outside the buffer, or out shorter than " +
                        std::to_string(static_cast<size_t>(kSlotCount)) + " slots");
    return env.Undefined();
  }
  ChResult r;
  ch_inspect(buf.data, static_cast<size_t>(length), &r);
  out[kSlotHelloTypeState] = r.hello_type_state;
  out[kSlotHelloType] = r.hello_type;
  out[kSlotVersionState] = r.version_state;
  out[kSlotVersion] = r.version;
  out[kSlotSniState] = r.sni_state;
  out[kSlotSniOffset] = static_cast<int32_t>(r.sni.offset);
  out[kSlotSniLength] = static_cast<int32_t>(r.sni.length);
  out[kSlotAlpnState] = r.alpn_state;
  out[kSlotAlpnOffset] = static_cast<int32_t>(r.alpn.offset);
  out[kSlotAlpnLength] = static_cast<int32_t>(r.alpn.length);
  out[kSlotEcExtState] = r.ec_ext_state;
  out[kSlotEcExt] = r.ec_ext ? 1 : 0;
  return env.Undefined();
}

}  // namespace

void InitClientHello(Napi::Env env, Napi::Object exports) {
  exports.Set("clientHelloInspect", Napi::Function::New(env, ClientHelloInspect, "clientHelloInspect"));
  Napi::Object c = Napi::Object::New(env);
  c.Set("OUT_SLOTS", static_cast<double>(kSlotCount));
  c.Set("MAX_RECORD", static_cast<double>(kChMaxRecord));
  exports.Set("clientHello", c);
}

}  // namespace epoxy
