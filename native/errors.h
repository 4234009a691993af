// errno -> JavaScript error mapping, done once for the whole addon.
//
// Control-plane calls (socket, bind, listen, setsockopt...) throw an error shaped like Node's own
// SystemError: `code` ('EADDRINUSE'), `errno` (negative, as Node and libuv report it), `syscall`,
// and `address`/`port` where a socket address applies. Data-path calls never throw: they return a
// count or -errno, and TypeScript turns the number into a code with errnoName() when it must.
#pragma once

#include <napi.h>

#include <string>

namespace epoxy {

// 'EADDRINUSE' for EADDRINUSE; 'E<number>' when the C library has no name for it.
const char* ErrnoName(int err);

// Throws a SystemError-like exception for `err` (a positive errno value). `address` is appended
// to the message and set as a property when non-empty; `port` likewise when >= 0.
void ThrowSystemError(Napi::Env env, int err, const char* syscall,
                      const std::string& address = std::string(), int port = -1);

// As ThrowSystemError, with `detail` (what exactly was wrong) appended to the message: for EINVAL
// raised by epoxy's own checks of something the kernel handed over (a stick table's memfd).
void ThrowSystemErrorDetail(Napi::Env env, int err, const char* syscall, const std::string& detail);

// Throws an error raised by epoxy itself rather than by the kernel; `code` is one of the stable
// ERR_EPOXY_* codes listed in docs/errors.md.
void ThrowCodedError(Napi::Env env, const char* code, const std::string& message);

// Installs the JS classes used to build errors so they are `instanceof` the classes src/errors.ts
// exports. Until it is called, plain Error objects with the same properties are thrown.
Napi::Value SetErrorClasses(const Napi::CallbackInfo& info);

// JS: errnoName(errno: number) -> string; accepts positive or negative values.
Napi::Value ErrnoNameJs(const Napi::CallbackInfo& info);

void InitErrors(Napi::Env env, Napi::Object exports);

}  // namespace epoxy
