#include "errors.h"

#include <string.h>

#include <cstdio>

#include "instance.h"

namespace epoxy {

const char* ErrnoName(int err) {
  // strerrorname_np (glibc >= 2.32) knows every errno the kernel can hand us and returns NULL
  // for numbers it does not know, which we render as E<n> so codes stay stable strings.
  const char* name = strerrorname_np(err);
  if (name != nullptr) return name;
  static thread_local char unknown[24];
  snprintf(unknown, sizeof unknown, "E%d", err);
  return unknown;
}

static Napi::Object NewError(Napi::Env env, bool system, const std::string& message) {
  InstanceData* data = GetInstanceData(env);
  Napi::FunctionReference& ctor = system ? data->system_error_class : data->epoxy_error_class;
  if (!ctor.IsEmpty()) {
    return ctor.New({Napi::String::New(env, message)});
  }
  return Napi::Error::New(env, message).Value();
}

void ThrowSystemError(Napi::Env env, int err, const char* syscall, const std::string& address,
                      int port) {
  const char* code = ErrnoName(err);
  std::string message = std::string(syscall) + " " + code + ": " + strerror(err);
  if (!address.empty()) {
    message += " ";
    message += address;
    if (port >= 0) message += ":" + std::to_string(port);
  }
  Napi::Object error = NewError(env, true, message);
  if (env.IsExceptionPending()) return;
  error.Set("code", code);
  error.Set("errno", -err);
  error.Set("syscall", syscall);
  error.Set("description", strerror(err));
  if (!address.empty()) error.Set("address", address);
  if (port >= 0) error.Set("port", port);
  Napi::Error(env, error).ThrowAsJavaScriptException();
}

void ThrowSystemErrorDetail(Napi::Env env, int err, const char* syscall, const std::string& detail) {
  const char* code = ErrnoName(err);
  std::string message = std::string(syscall) + " " + code + ": " + strerror(err) + " (" + detail + ")";
  Napi::Object error = NewError(env, true, message);
  if (env.IsExceptionPending()) return;
  error.Set("code", code);
  error.Set("errno", -err);
  error.Set("syscall", syscall);
  error.Set("description", strerror(err));
  Napi::Error(env, error).ThrowAsJavaScriptException();
}

void ThrowCodedError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Object error = NewError(env, false, message);
  if (env.IsExceptionPending()) return;
  error.Set("code", code);
  Napi::Error(env, error).ThrowAsJavaScriptException();
}

Napi::Value SetErrorClasses(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsFunction() || !info[1].IsFunction()) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG",
                    "setErrorClasses(systemError, epoxyError) expects two constructors");
    return env.Undefined();
  }
  InstanceData* data = GetInstanceData(env);
  data->system_error_class = Napi::Persistent(info[0].As<Napi::Function>());
  data->epoxy_error_class = Napi::Persistent(info[1].As<Napi::Function>());
  return env.Undefined();
}

Napi::Value ErrnoNameJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "errnoName(errno) expects a number");
    return env.Undefined();
  }
  int err = info[0].As<Napi::Number>().Int32Value();
  if (err < 0) err = -err;
  return Napi::String::New(env, ErrnoName(err));
}

// JS: strerror(errno: number) -> string; accepts positive or negative values.
Napi::Value StrerrorJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "strerror(errno) expects a number");
    return env.Undefined();
  }
  int err = info[0].As<Napi::Number>().Int32Value();
  return Napi::String::New(env, strerror(err < 0 ? -err : err));
}

void InitErrors(Napi::Env env, Napi::Object exports) {
  exports.Set("strerror", Napi::Function::New(env, StrerrorJs, "strerror"));
  exports.Set("setErrorClasses", Napi::Function::New(env, SetErrorClasses, "setErrorClasses"));
  exports.Set("errnoName", Napi::Function::New(env, ErrnoNameJs, "errnoName"));
}

}  // namespace epoxy
