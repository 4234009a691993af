#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "args.h"
#include "errors.h"

namespace epoxy {

namespace {

// JS: setParentDeathSignal(signal: number). 0 clears it. Note the kernel's rule: the signal is
// sent when the *thread* that forked us exits, which for a Node parent is its main thread.
Napi::Value SetParentDeathSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t sig;
  if (!ArgInt(info, 0, "signal", &sig)) return env.Undefined();
  if (prctl(PR_SET_PDEATHSIG, static_cast<unsigned long>(sig), 0, 0, 0) < 0) {
    ThrowSystemError(env, errno, "prctl(PR_SET_PDEATHSIG)");
  }
  return env.Undefined();
}

// JS: getParentDeathSignal() -> number (0 when none)
Napi::Value GetParentDeathSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sig = 0;
  if (prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) < 0) {
    ThrowSystemError(env, errno, "prctl(PR_GET_PDEATHSIG)");
    return env.Undefined();
  }
  return Napi::Number::New(env, sig);
}

// RLIM_INFINITY does not fit a JS number exactly; it crosses as -1.
double LimitToJs(rlim_t value) { return value == RLIM_INFINITY ? -1 : static_cast<double>(value); }

// JS: getNofileLimit() -> { soft, hard }
Napi::Value GetNofileLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) < 0) {
    ThrowSystemError(env, errno, "getrlimit(RLIMIT_NOFILE)");
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("soft", LimitToJs(limit.rlim_cur));
  out.Set("hard", LimitToJs(limit.rlim_max));
  return out;
}

// JS: setNofileLimit(soft, hard = current hard)
Napi::Value SetNofileLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) < 0) {
    ThrowSystemError(env, errno, "getrlimit(RLIMIT_NOFILE)");
    return env.Undefined();
  }
  if (info.Length() < 1 || !info[0].IsNumber()) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "setNofileLimit(soft, hard?) expects numbers");
    return env.Undefined();
  }
  double soft = info[0].As<Napi::Number>().DoubleValue();
  limit.rlim_cur = soft < 0 ? RLIM_INFINITY : static_cast<rlim_t>(soft);
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!info[1].IsNumber()) {
      ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "setNofileLimit: the hard limit must be a number");
      return env.Undefined();
    }
    double hard = info[1].As<Napi::Number>().DoubleValue();
    limit.rlim_max = hard < 0 ? RLIM_INFINITY : static_cast<rlim_t>(hard);
  }
  if (setrlimit(RLIMIT_NOFILE, &limit) < 0) {
    ThrowSystemError(env, errno, "setrlimit(RLIMIT_NOFILE)");
  }
  return env.Undefined();
}

// JS: setCloexec(fd, on: boolean). F_GETFD/F_SETFD only touch FD_CLOEXEC; the read-modify-write
// keeps any other descriptor flag the kernel may add.
Napi::Value SetCloexec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return env.Undefined();
  bool on = info.Length() < 2 || info[1].ToBoolean().Value();
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) {
    ThrowSystemError(env, errno, "fcntl(F_GETFD)");
    return env.Undefined();
  }
  int wanted = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
  if (wanted != flags && fcntl(fd, F_SETFD, wanted) < 0) {
    ThrowSystemError(env, errno, "fcntl(F_SETFD)");
  }
  return env.Undefined();
}

// JS: getCloexec(fd) -> boolean
Napi::Value GetCloexec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return env.Undefined();
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) {
    ThrowSystemError(env, errno, "fcntl(F_GETFD)");
    return env.Undefined();
  }
  return Napi::Boolean::New(env, (flags & FD_CLOEXEC) != 0);
}

// JS: setNonBlocking(fd, on: boolean). Read-modify-write of the status flags: HAProxy's
// F_SETFL with O_NONBLOCK alone would clear O_APPEND and friends on an inherited fd.
Napi::Value SetNonBlocking(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return env.Undefined();
  bool on = info.Length() < 2 || info[1].ToBoolean().Value();
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) {
    ThrowSystemError(env, errno, "fcntl(F_GETFL)");
    return env.Undefined();
  }
  int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (wanted != flags && fcntl(fd, F_SETFL, wanted) < 0) {
    ThrowSystemError(env, errno, "fcntl(F_SETFL)");
  }
  return env.Undefined();
}

// JS: isNonBlocking(fd) -> boolean
Napi::Value IsNonBlocking(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return env.Undefined();
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) {
    ThrowSystemError(env, errno, "fcntl(F_GETFL)");
    return env.Undefined();
  }
  return Napi::Boolean::New(env, (flags & O_NONBLOCK) != 0);
}

}  // namespace

void InitProcess(Napi::Env env, Napi::Object exports) {
  exports.Set("setParentDeathSignal", Napi::Function::New(env, SetParentDeathSignal, "setParentDeathSignal"));
  exports.Set("getParentDeathSignal", Napi::Function::New(env, GetParentDeathSignal, "getParentDeathSignal"));
  exports.Set("getNofileLimit", Napi::Function::New(env, GetNofileLimit, "getNofileLimit"));
  exports.Set("setNofileLimit", Napi::Function::New(env, SetNofileLimit, "setNofileLimit"));
  exports.Set("setCloexec", Napi::Function::New(env, SetCloexec, "setCloexec"));
  exports.Set("getCloexec", Napi::Function::New(env, GetCloexec, "getCloexec"));
  exports.Set("setNonBlocking", Napi::Function::New(env, SetNonBlocking, "setNonBlocking"));
  exports.Set("isNonBlocking", Napi::Function::New(env, IsNonBlocking, "isNonBlocking"));
}

}  // namespace epoxy
