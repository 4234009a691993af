#include "sockaddr.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/un.h>

#include "args.h"
#include "errors.h"

namespace epoxy {

bool SockaddrFromBytes(const uint8_t* data, size_t length, sockaddr_storage* out, socklen_t* len) {
  if (length < sizeof(sa_family_t) || length > sizeof(sockaddr_storage)) return false;
  sa_family_t family;
  memcpy(&family, data, sizeof family);
  switch (family) {
    case AF_INET:
      if (length != sizeof(sockaddr_in)) return false;
      break;
    case AF_INET6:
      if (length != sizeof(sockaddr_in6)) return false;
      break;
    case AF_UNIX:
      // An unnamed unix socket's address is only the family; a named one carries the path.
      if (length > sizeof(sockaddr_un)) return false;
      break;
    default:
      return false;
  }
  memset(out, 0, sizeof *out);
  memcpy(out, data, length);
  *len = static_cast<socklen_t>(length);
  return true;
}

void SockaddrDescribe(const sockaddr_storage* addr, socklen_t len, std::string* host, int* port) {
  char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  switch (addr->ss_family) {
    case AF_INET: {
      const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
      inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
      *host = text;
      *port = ntohs(in->sin_port);
      return;
    }
    case AF_INET6: {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
      inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
      *host = text;
      if (in6->sin6_scope_id != 0) {
        char ifname[IF_NAMESIZE];
        // A scope that no longer names an interface is still printed, as its index.
        if (if_indextoname(in6->sin6_scope_id, ifname) != nullptr) {
          *host += "%";
          *host += ifname;
        } else {
          *host += "%" + std::to_string(in6->sin6_scope_id);
        }
      }
      *port = ntohs(in6->sin6_port);
      return;
    }
    case AF_UNIX: {
      const auto* un = reinterpret_cast<const sockaddr_un*>(addr);
      size_t path_len = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
      *port = -1;
      if (path_len == 0) {
        host->clear();  // unnamed (the peer of a connect() without bind())
      } else if (un->sun_path[0] == '\0') {
        // Abstract namespace: the name is exactly path_len-1 bytes after the NUL, no terminator.
        *host = "@" + std::string(un->sun_path + 1, path_len - 1);
      } else {
        *host = std::string(un->sun_path, strnlen(un->sun_path, path_len));
      }
      return;
    }
    default:
      *host = "family:" + std::to_string(addr->ss_family);
      *port = -1;
  }
}

std::string SockaddrToString(const sockaddr_storage* addr, socklen_t len) {
  std::string host;
  int port;
  SockaddrDescribe(addr, len, &host, &port);
  switch (addr->ss_family) {
    case AF_INET:
      return host + ":" + std::to_string(port);
    case AF_INET6:
      return "[" + host + "]:" + std::to_string(port);
    case AF_UNIX:
      return "unix@" + host;
    default:
      return host;
  }
}

Napi::Uint8Array SockaddrToJs(Napi::Env env, const sockaddr_storage* addr, socklen_t len) {
  Napi::Uint8Array bytes = Napi::Uint8Array::New(env, len);
  memcpy(bytes.Data(), addr, len);
  return bytes;
}

// JS: addrPack(family: 'ipv4'|'ipv6'|'unix', host: string, port: number) -> Uint8Array
// IPv6 hosts may carry a zone (fe80::1%eth0). Unix names starting with '@' are abstract.
static Napi::Value AddrPack(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "addrPack(family, host, port) expects strings");
    return env.Undefined();
  }
  std::string family = info[0].As<Napi::String>().Utf8Value();
  std::string host = info[1].As<Napi::String>().Utf8Value();
  int32_t port = 0;
  if (family != "unix") {
    if (!ArgInt(info, 2, "port", &port)) return env.Undefined();
    if (port < 0 || port > 65535) {
      ThrowCodedError(env, "ERR_EPOXY_INVALID_ADDRESS", "port out of range: " + std::to_string(port));
      return env.Undefined();
    }
  }
  sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len = 0;
  if (family == "ipv4") {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &in->sin_addr) != 1) {
      ThrowCodedError(env, "ERR_EPOXY_INVALID_ADDRESS", "invalid IPv4 address: " + host);
      return env.Undefined();
    }
    len = sizeof *in;
  } else if (family == "ipv6") {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    std::string addr_part = host;
    size_t percent = host.find('%');
    if (percent != std::string::npos) {
      addr_part = host.substr(0, percent);
      std::string zone = host.substr(percent + 1);
      unsigned index = if_nametoindex(zone.c_str());
      if (index == 0) {
        char* end = nullptr;
        unsigned long numeric = strtoul(zone.c_str(), &end, 10);
        if (zone.empty() || *end != '\0' || numeric == 0 || numeric > 0xffffffffUL) {
          ThrowCodedError(env, "ERR_EPOXY_INVALID_ADDRESS", "unknown IPv6 zone: " + zone);
          return env.Undefined();
        }
        index = static_cast<unsigned>(numeric);
      }
      in6->sin6_scope_id = index;
    }
    if (inet_pton(AF_INET6, addr_part.c_str(), &in6->sin6_addr) != 1) {
      ThrowCodedError(env, "ERR_EPOXY_INVALID_ADDRESS", "invalid IPv6 address: " + host);
      return env.Undefined();
    }
    len = sizeof *in6;
  } else if (family == "unix") {
    auto* un = reinterpret_cast<sockaddr_un*>(&ss);
    un->sun_family = AF_UNIX;
    bool abstract = !host.empty() && host[0] == '@';
    // A path needs room for its terminating NUL; an abstract name has none but its leading NUL.
    if (host.empty() || host.size() + (abstract ? 0 : 1) > sizeof un->sun_path) {
      ThrowCodedError(env, "ERR_EPOXY_INVALID_ADDRESS",
                      "unix socket path empty or longer than " +
                          std::to_string(sizeof un->sun_path - 1) + " bytes: " + host);
      return env.Undefined();
    }
    if (abstract) {
      un->sun_path[0] = '\0';
      memcpy(un->sun_path + 1, host.data() + 1, host.size() - 1);
      len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + host.size());
    } else {
      memcpy(un->sun_path, host.data(), host.size());
      len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + host.size() + 1);
    }
  } else {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ADDRESS", "unknown address family: " + family);
    return env.Undefined();
  }
  return SockaddrToJs(env, &ss, len);
}

// JS: addrUnpack(bytes: Uint8Array) -> { family, address, port }
static Napi::Value AddrUnpack(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes bytes;
  if (!ArgBytes(info, 0, "address", &bytes)) return env.Undefined();
  sockaddr_storage ss;
  socklen_t len;
  if (!SockaddrFromBytes(bytes.data, bytes.length, &ss, &len)) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ADDRESS", "not a socket address of a known family");
    return env.Undefined();
  }
  std::string host;
  int port;
  SockaddrDescribe(&ss, len, &host, &port);
  Napi::Object out = Napi::Object::New(env);
  out.Set("family", ss.ss_family == AF_INET ? "ipv4" : ss.ss_family == AF_INET6 ? "ipv6" : "unix");
  out.Set("address", host);
  out.Set("port", port < 0 ? 0 : port);
  return out;
}

void InitSockaddr(Napi::Env env, Napi::Object exports) {
  exports.Set("addrPack", Napi::Function::New(env, AddrPack, "addrPack"));
  exports.Set("addrUnpack", Napi::Function::New(env, AddrUnpack, "addrUnpack"));
}

}  // namespace epoxy
