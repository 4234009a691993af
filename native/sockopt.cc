#include "sockopt.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "args.h"
#include "errors.h"

namespace epoxy {

namespace {

// Older libcs do not name every option the kernel we target has; the values are the kernel ABI.
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif
#ifndef TCP_FASTOPEN_CONNECT
#define TCP_FASTOPEN_CONNECT 30
#endif
#ifndef TCP_NOTSENT_LOWAT
#define TCP_NOTSENT_LOWAT 25
#endif

constexpr SockoptEntry kSockopts[] = {
    {"SO_REUSEADDR", SOL_SOCKET, SO_REUSEADDR, SockoptKind::kBool, false},
    {"SO_REUSEPORT", SOL_SOCKET, SO_REUSEPORT, SockoptKind::kBool, false},
    {"SO_LINGER", SOL_SOCKET, SO_LINGER, SockoptKind::kLinger, false},
    {"SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE, SockoptKind::kBool, false},
    {"SO_RCVBUF", SOL_SOCKET, SO_RCVBUF, SockoptKind::kInt, false},
    {"SO_SNDBUF", SOL_SOCKET, SO_SNDBUF, SockoptKind::kInt, false},
    {"SO_MARK", SOL_SOCKET, SO_MARK, SockoptKind::kUint, false},
    {"SO_BINDTODEVICE", SOL_SOCKET, SO_BINDTODEVICE, SockoptKind::kString, false},
    {"SO_PRIORITY", SOL_SOCKET, SO_PRIORITY, SockoptKind::kInt, false},
    {"SO_ERROR", SOL_SOCKET, SO_ERROR, SockoptKind::kInt, true},
    {"SO_ACCEPTCONN", SOL_SOCKET, SO_ACCEPTCONN, SockoptKind::kBool, true},
    {"SO_TYPE", SOL_SOCKET, SO_TYPE, SockoptKind::kInt, true},
    {"SO_DOMAIN", SOL_SOCKET, SO_DOMAIN, SockoptKind::kInt, true},
    {"IP_TRANSPARENT", IPPROTO_IP, IP_TRANSPARENT, SockoptKind::kBool, false},
    {"IPV6_TRANSPARENT", IPPROTO_IPV6, IPV6_TRANSPARENT, SockoptKind::kBool, false},
    {"IP_FREEBIND", IPPROTO_IP, IP_FREEBIND, SockoptKind::kBool, false},
    {"IP_BIND_ADDRESS_NO_PORT", IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, SockoptKind::kBool, false},
    {"IP_TOS", IPPROTO_IP, IP_TOS, SockoptKind::kInt, false},
    {"IPV6_V6ONLY", IPPROTO_IPV6, IPV6_V6ONLY, SockoptKind::kBool, false},
    {"TCP_NODELAY", IPPROTO_TCP, TCP_NODELAY, SockoptKind::kBool, false},
    {"TCP_CORK", IPPROTO_TCP, TCP_CORK, SockoptKind::kBool, false},
    {"TCP_MAXSEG", IPPROTO_TCP, TCP_MAXSEG, SockoptKind::kInt, false},
    {"TCP_DEFER_ACCEPT", IPPROTO_TCP, TCP_DEFER_ACCEPT, SockoptKind::kInt, false},
    {"TCP_FASTOPEN", IPPROTO_TCP, TCP_FASTOPEN, SockoptKind::kInt, false},
    {"TCP_FASTOPEN_CONNECT", IPPROTO_TCP, TCP_FASTOPEN_CONNECT, SockoptKind::kBool, false},
    {"TCP_QUICKACK", IPPROTO_TCP, TCP_QUICKACK, SockoptKind::kBool, false},
    {"TCP_KEEPIDLE", IPPROTO_TCP, TCP_KEEPIDLE, SockoptKind::kInt, false},
    {"TCP_KEEPINTVL", IPPROTO_TCP, TCP_KEEPINTVL, SockoptKind::kInt, false},
    {"TCP_KEEPCNT", IPPROTO_TCP, TCP_KEEPCNT, SockoptKind::kInt, false},
    {"TCP_USER_TIMEOUT", IPPROTO_TCP, TCP_USER_TIMEOUT, SockoptKind::kInt, false},
    {"TCP_CONGESTION", IPPROTO_TCP, TCP_CONGESTION, SockoptKind::kString, false},
    {"TCP_NOTSENT_LOWAT", IPPROTO_TCP, TCP_NOTSENT_LOWAT, SockoptKind::kInt, false},
};

// The longest device name (IFNAMSIZ) and congestion algorithm name (TCP_CA_NAME_MAX) are 16.
constexpr size_t kSockoptStringMax = 16;

const SockoptEntry* ArgSockopt(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsString()) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "socket option name must be a string");
    return nullptr;
  }
  std::string name = info[i].As<Napi::String>().Utf8Value();
  const SockoptEntry* entry = FindSockopt(name.c_str());
  if (entry == nullptr) {
    ThrowCodedError(env, "ERR_EPOXY_UNKNOWN_SOCKOPT", "unknown socket option: " + name);
  }
  return entry;
}

std::string OptSyscall(const char* call, const SockoptEntry* entry) {
  return std::string(call) + "(" + entry->name + ")";
}

// JS: setsockopt(fd, name, value)
Napi::Value SetSockopt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return env.Undefined();
  const SockoptEntry* entry = ArgSockopt(info, 1);
  if (entry == nullptr) return env.Undefined();
  if (entry->readonly) {
    ThrowCodedError(env, "ERR_EPOXY_READONLY_SOCKOPT",
                    std::string(entry->name) + " can be read but not set");
    return env.Undefined();
  }
  Napi::Value value = info.Length() > 2 ? info[2] : env.Undefined();
  int rc;
  switch (entry->kind) {
    case SockoptKind::kBool: {
      if (!value.IsBoolean() && !value.IsNumber()) {
        ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", std::string(entry->name) + " takes a boolean");
        return env.Undefined();
      }
      int on = value.IsBoolean() ? (value.As<Napi::Boolean>().Value() ? 1 : 0)
                                 : (value.As<Napi::Number>().Int32Value() != 0 ? 1 : 0);
      rc = setsockopt(fd, entry->level, entry->optname, &on, sizeof on);
      break;
    }
    case SockoptKind::kInt:
    case SockoptKind::kUint: {
      // Int32Value() would wrap 2^32+4096 to 4096 and turn NaN into 0: a silent wrong setting.
      double d = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : NAN;
      double lo = entry->kind == SockoptKind::kUint ? 0 : INT32_MIN;
      double hi = entry->kind == SockoptKind::kUint ? UINT32_MAX : INT32_MAX;
      if (!(d >= lo && d <= hi) || d != static_cast<double>(static_cast<int64_t>(d))) {
        ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG",
                        std::string(entry->name) + " takes an integer between " +
                            std::to_string(static_cast<int64_t>(lo)) + " and " +
                            std::to_string(static_cast<int64_t>(hi)));
        return env.Undefined();
      }
      int n = static_cast<int>(static_cast<uint32_t>(static_cast<int64_t>(d)));
      rc = setsockopt(fd, entry->level, entry->optname, &n, sizeof n);
      break;
    }
    case SockoptKind::kLinger: {
      if (!value.IsObject()) {
        ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG",
                        std::string(entry->name) + " takes { enabled: boolean, seconds: number }");
        return env.Undefined();
      }
      Napi::Object object = value.As<Napi::Object>();
      Napi::Value enabled = object.Get("enabled");
      Napi::Value seconds = object.Get("seconds");
      if (!enabled.IsBoolean() || !seconds.IsNumber() || seconds.As<Napi::Number>().DoubleValue() < 0 ||
          seconds.As<Napi::Number>().DoubleValue() > INT32_MAX) {
        ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG",
                        std::string(entry->name) +
                            " takes { enabled: boolean, seconds: number >= 0 }, both given");
        return env.Undefined();
      }
      linger l;
      l.l_onoff = enabled.As<Napi::Boolean>().Value() ? 1 : 0;
      l.l_linger = seconds.As<Napi::Number>().Int32Value();
      rc = setsockopt(fd, entry->level, entry->optname, &l, sizeof l);
      break;
    }
    case SockoptKind::kString: {
      if (!value.IsString()) {
        ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", std::string(entry->name) + " takes a string");
        return env.Undefined();
      }
      std::string text = value.As<Napi::String>().Utf8Value();
      if (text.size() >= kSockoptStringMax) {
        ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG",
                        std::string(entry->name) + " value longer than 15 bytes: " + text);
        return env.Undefined();
      }
      // SO_BINDTODEVICE with an empty name removes the binding; the kernel wants length 0 then.
      rc = setsockopt(fd, entry->level, entry->optname, text.c_str(),
                      static_cast<socklen_t>(text.size()));
      break;
    }
    default:
      rc = -1;
      errno = EINVAL;
  }
  if (rc < 0) ThrowSystemError(env, errno, OptSyscall("setsockopt", entry).c_str());
  return env.Undefined();
}

// JS: getsockopt(fd, name) -> boolean | number | string | { enabled, seconds }
Napi::Value GetSockopt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return env.Undefined();
  const SockoptEntry* entry = ArgSockopt(info, 1);
  if (entry == nullptr) return env.Undefined();
  switch (entry->kind) {
    case SockoptKind::kBool:
    case SockoptKind::kInt:
    case SockoptKind::kUint: {
      int n = 0;
      socklen_t len = sizeof n;
      if (getsockopt(fd, entry->level, entry->optname, &n, &len) < 0) break;
      if (entry->kind == SockoptKind::kBool) return Napi::Boolean::New(env, n != 0);
      if (entry->kind == SockoptKind::kUint) return Napi::Number::New(env, static_cast<uint32_t>(n));
      return Napi::Number::New(env, n);
    }
    case SockoptKind::kLinger: {
      linger l;
      memset(&l, 0, sizeof l);
      socklen_t len = sizeof l;
      if (getsockopt(fd, entry->level, entry->optname, &l, &len) < 0) break;
      Napi::Object out = Napi::Object::New(env);
      out.Set("enabled", l.l_onoff != 0);
      out.Set("seconds", l.l_linger);
      return out;
    }
    case SockoptKind::kString: {
      char text[kSockoptStringMax + 1];
      memset(text, 0, sizeof text);
      socklen_t len = kSockoptStringMax;
      if (getsockopt(fd, entry->level, entry->optname, text, &len) < 0) break;
      return Napi::String::New(env, text, strnlen(text, len));
    }
  }
  ThrowSystemError(env, errno, OptSyscall("getsockopt", entry).c_str());
  return env.Undefined();
}

}  // namespace

const SockoptEntry* FindSockopt(const char* name) {
  for (const SockoptEntry& entry : kSockopts) {
    if (strcmp(entry.name, name) == 0) return &entry;
  }
  return nullptr;
}

void InitSockopt(Napi::Env env, Napi::Object exports) {
  exports.Set("setsockopt", Napi::Function::New(env, SetSockopt, "setsockopt"));
  exports.Set("getsockopt", Napi::Function::New(env, GetSockopt, "getsockopt"));
  // The table itself, so tests and docs enumerate exactly what the addon knows.
  Napi::Array table = Napi::Array::New(env, sizeof kSockopts / sizeof kSockopts[0]);
  uint32_t i = 0;
  for (const SockoptEntry& entry : kSockopts) {
    Napi::Object row = Napi::Object::New(env);
    row.Set("name", entry.name);
    row.Set("level", entry.level);
    row.Set("optname", entry.optname);
    const char* kind = entry.kind == SockoptKind::kBool     ? "boolean"
                       : entry.kind == SockoptKind::kInt    ? "number"
                       : entry.kind == SockoptKind::kUint   ? "number"
                       : entry.kind == SockoptKind::kLinger ? "linger"
                                                            : "string";
    row.Set("kind", kind);
    row.Set("readonly", entry.readonly);
    table.Set(i++, row);
  }
  exports.Set("sockopts", table);
}

}  // namespace epoxy
