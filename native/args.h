// Argument checking shared by every exported function. A wrong argument type is a programming
// error in TypeScript, so it throws ERR_EPOXY_INVALID_ARG even on data-path calls; what the kernel
// says is never thrown there.
#pragma once

#include <napi.h>
#include <stdint.h>

#include "errors.h"

namespace epoxy {

// Reads info[i] as an int32. On failure throws and returns false.
inline bool ArgInt(const Napi::CallbackInfo& info, size_t i, const char* what, int32_t* out) {
  if (i >= info.Length() || !info[i].IsNumber()) {
    ThrowCodedError(info.Env(), "ERR_EPOXY_INVALID_ARG", std::string(what) + " must be a number");
    return false;
  }
  *out = info[i].As<Napi::Number>().Int32Value();
  return true;
}

// Optional int32 argument: `fallback` when absent or undefined.
inline bool ArgIntOr(const Napi::CallbackInfo& info, size_t i, const char* what, int32_t fallback,
                     int32_t* out) {
  if (i >= info.Length() || info[i].IsUndefined()) {
    *out = fallback;
    return true;
  }
  return ArgInt(info, i, what, out);
}

// A view of a TypedArray/Buffer argument's bytes; no copy, no allocation.
struct Bytes {
  uint8_t* data = nullptr;
  size_t length = 0;
};

inline bool ArgBytes(const Napi::CallbackInfo& info, size_t i, const char* what, Bytes* out) {
  if (i >= info.Length() || !info[i].IsTypedArray()) {
    ThrowCodedError(info.Env(), "ERR_EPOXY_INVALID_ARG",
                    std::string(what) + " must be a Uint8Array or Buffer");
    return false;
  }
  // The C call hands back the data pointer with the view's offset applied and creates no
  // ArrayBuffer handle, which keeps the per-call cost of data-path functions flat.
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_status status =
      napi_get_typedarray_info(info.Env(), info[i], &type, &length, &data, nullptr, nullptr);
  if (status != napi_ok || type != napi_uint8_array) {
    ThrowCodedError(info.Env(), "ERR_EPOXY_INVALID_ARG",
                    std::string(what) + " must be a Uint8Array or Buffer");
    return false;
  }
  out->data = static_cast<uint8_t*>(data);
  out->length = length;
  return true;
}

// An Int32Array argument (used for batched results written by the addon).
inline bool ArgInt32Array(const Napi::CallbackInfo& info, size_t i, const char* what,
                          int32_t** data, size_t* count) {
  if (i >= info.Length() || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    ThrowCodedError(info.Env(), "ERR_EPOXY_INVALID_ARG", std::string(what) + " must be an Int32Array");
    return false;
  }
  napi_typedarray_type type;
  void* raw = nullptr;
  if (napi_get_typedarray_info(info.Env(), info[i], &type, count, &raw, nullptr, nullptr) != napi_ok) {
    ThrowCodedError(info.Env(), "ERR_EPOXY_INVALID_ARG", std::string(what) + " must be an Int32Array");
    return false;
  }
  *data = static_cast<int32_t*>(raw);
  return true;
}

// A Float64Array argument (field values and deltas). `optional`: absent or undefined gives null.
inline bool ArgFloat64Array(const Napi::CallbackInfo& info, size_t i, const char* what, bool optional,
                            double** data, size_t* count) {
  if (optional && (i >= info.Length() || info[i].IsUndefined())) {
    *data = nullptr;
    *count = 0;
    return true;
  }
  napi_typedarray_type type;
  void* raw = nullptr;
  if (i >= info.Length() || !info[i].IsTypedArray() ||
      napi_get_typedarray_info(info.Env(), info[i], &type, count, &raw, nullptr, nullptr) != napi_ok ||
      type != napi_float64_array) {
    ThrowCodedError(info.Env(), "ERR_EPOXY_INVALID_ARG", std::string(what) + " must be a Float64Array");
    return false;
  }
  *data = static_cast<double*>(raw);
  return true;
}

}  // namespace epoxy
