#include "socket.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "args.h"
#include "errors.h"
#include "sockaddr.h"

namespace epoxy {

namespace {

// <linux/netfilter_ipv4.h> pulls <linux/in.h>, which clashes with glibc's <netinet/in.h>; the
// option numbers are fixed kernel ABI, so they are spelled here instead.
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

bool ArgSockaddr(const Napi::CallbackInfo& info, size_t i, sockaddr_storage* ss, socklen_t* len) {
  Bytes bytes;
  if (!ArgBytes(info, i, "address", &bytes)) return false;
  if (!SockaddrFromBytes(bytes.data, bytes.length, ss, len)) {
    ThrowCodedError(info.Env(), "ERR_EPOXY_INVALID_ADDRESS",
                    "address bytes are not a socket address of a known family");
    return false;
  }
  return true;
}

void ThrowAt(Napi::Env env, int err, const char* syscall, const sockaddr_storage* ss, socklen_t len) {
  std::string host;
  int port;
  SockaddrDescribe(ss, len, &host, &port);
  ThrowSystemError(env, err, syscall, host, port);
}

// JS: socket(domain, type, protocol = 0) -> fd. SOCK_CLOEXEC is always added: an fd reaches a
// child process only when it is handed over on purpose (see src/process/fds.ts).
Napi::Value Socket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t domain, type, protocol;
  if (!ArgInt(info, 0, "domain", &domain) || !ArgInt(info, 1, "type", &type) ||
      !ArgIntOr(info, 2, "protocol", 0, &protocol)) {
    return env.Undefined();
  }
  int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
  if (fd < 0) {
    ThrowSystemError(env, errno, "socket");
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

// JS: socketInNetns(nsPath, domain, type, protocol = 0) -> fd
// Creates the socket inside another network namespace (HAProxy's `namespace` bind keyword): a
// socket stays in the namespace it was created in, so switching this thread there for the one
// socket() call and straight back is enough. Only the calling thread moves, never libuv's pool.
Napi::Value SocketInNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "socketInNetns(nsPath, ...) expects a path");
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int32_t domain, type, protocol;
  if (!ArgInt(info, 1, "domain", &domain) || !ArgInt(info, 2, "type", &type) ||
      !ArgIntOr(info, 3, "protocol", 0, &protocol)) {
    return env.Undefined();
  }
  int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    ThrowSystemError(env, errno, "open", path);
    return env.Undefined();
  }
  int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) {
    int err = errno;
    close(target);
    ThrowSystemError(env, err, "open", "/proc/thread-self/ns/net");
    return env.Undefined();
  }
  if (setns(target, CLONE_NEWNET) < 0) {
    int err = errno;
    close(target);
    close(home);
    ThrowSystemError(env, err, "setns", path);
    return env.Undefined();
  }
  int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
  int socket_errno = errno;
  // Returning to our own namespace cannot fail for a namespace we were just in with the same
  // privileges; if it ever did, every later socket would silently land in the wrong namespace,
  // so that is the one case where stopping the process is the safe answer.
  if (setns(home, CLONE_NEWNET) < 0) {
    Napi::Error::Fatal("socketInNetns", "could not return to the original network namespace");
  }
  close(target);
  close(home);
  if (fd < 0) {
    ThrowSystemError(env, socket_errno, "socket", path);
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

// JS: bind(fd, address)
Napi::Value Bind(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  sockaddr_storage ss;
  socklen_t len;
  if (!ArgInt(info, 0, "fd", &fd) || !ArgSockaddr(info, 1, &ss, &len)) return env.Undefined();
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
    ThrowAt(env, errno, "bind", &ss, len);
  }
  return env.Undefined();
}

// JS: listen(fd, backlog)
Napi::Value Listen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd, backlog;
  if (!ArgInt(info, 0, "fd", &fd) || !ArgInt(info, 1, "backlog", &backlog)) return env.Undefined();
  if (listen(fd, backlog) < 0) {
    int err = errno;
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
      ThrowAt(env, err, "listen", &ss, len);
    } else {
      ThrowSystemError(env, err, "listen");
    }
  }
  return env.Undefined();
}

// JS: accept(fd, out: Int32Array, addrs: Uint8Array | null, flags) -> count | -errno
// Accepts up to out.length/2 connections in one call. out[2i] = fd, out[2i+1] = peer address
// length; the peer address bytes go to addrs[i*ADDR_SLOT_SIZE ...]. A failure after at least one
// success returns the count: the error recurs on the next call and is reported then, so no
// accepted fd is ever lost behind an error return.
Napi::Value Accept(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd, flags;
  int32_t* out;
  size_t out_len;
  if (!ArgInt(info, 0, "fd", &fd) || !ArgInt32Array(info, 1, "out", &out, &out_len)) {
    return env.Undefined();
  }
  Bytes addrs;
  bool want_addrs = info.Length() > 2 && !info[2].IsNull() && !info[2].IsUndefined();
  if (want_addrs && !ArgBytes(info, 2, "addrs", &addrs)) return env.Undefined();
  if (!ArgIntOr(info, 3, "flags", SOCK_NONBLOCK, &flags)) return env.Undefined();
  size_t max = out_len / 2;
  if (want_addrs && addrs.length / kAddrSlotSize < max) max = addrs.length / kAddrSlotSize;
  size_t count = 0;
  while (count < max) {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int conn = accept4(fd, reinterpret_cast<sockaddr*>(&ss), &len, flags | SOCK_CLOEXEC);
    if (conn < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (count == 0) return Napi::Number::New(env, -err);
      break;
    }
    if (len > kAddrSlotSize) len = kAddrSlotSize;  // cannot happen for inet/inet6/unix
    out[2 * count] = conn;
    out[2 * count + 1] = static_cast<int32_t>(len);
    if (want_addrs) memcpy(addrs.data + count * kAddrSlotSize, &ss, len);
    ++count;
  }
  return Napi::Number::New(env, static_cast<double>(count));
}

// JS: connect(fd, address) -> 0 | -errno (-EINPROGRESS for a non-blocking socket in progress)
Napi::Value Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  sockaddr_storage ss;
  socklen_t len;
  if (!ArgInt(info, 0, "fd", &fd) || !ArgSockaddr(info, 1, &ss, &len)) return env.Undefined();
  int rc;
  // EINTR on a connect() that was already sent must not be retried (it would give EALREADY):
  // the connection continues in the background and completes like EINPROGRESS.
  rc = connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  if (rc < 0) {
    int err = errno;
    return Napi::Number::New(env, err == EINTR ? -EINPROGRESS : -err);
  }
  return Napi::Number::New(env, 0);
}

// JS: shutdown(fd, how) -> 0 | -errno
Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd, how;
  if (!ArgInt(info, 0, "fd", &fd) || !ArgInt(info, 1, "how", &how)) return env.Undefined();
  return Napi::Number::New(env, shutdown(fd, how) < 0 ? -errno : 0);
}

// JS: close(fd) -> 0 | -errno
// Linux releases the descriptor even when close() reports EINTR, so it is never retried: a retry
// could close an fd that another part of the process has just been given.
Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return env.Undefined();
  if (close(fd) < 0) {
    int err = errno;
    return Napi::Number::New(env, err == EINTR ? 0 : -err);
  }
  return Napi::Number::New(env, 0);
}

// recv() into buffer[offset, offset + length) with `flags`: bytes | 0 at EOF | -errno.
Napi::Value RecvWith(const Napi::CallbackInfo& info, int flags, const char* name) {
  Napi::Env env = info.Env();
  int32_t fd, offset, length;
  Bytes buf;
  if (!ArgInt(info, 0, "fd", &fd) || !ArgBytes(info, 1, "buffer", &buf) ||
      !ArgIntOr(info, 2, "offset", 0, &offset) ||
      !ArgIntOr(info, 3, "length", static_cast<int32_t>(buf.length) - offset, &length)) {
    return env.Undefined();
  }
  if (offset < 0 || length < 0 || static_cast<size_t>(offset) + static_cast<size_t>(length) > buf.length) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", std::string(name) + ": offset/length outside the buffer");
    return env.Undefined();
  }
  ssize_t n;
  do {
    n = recv(fd, buf.data + offset, static_cast<size_t>(length), flags);
  } while (n < 0 && errno == EINTR);
  return Napi::Number::New(env, n < 0 ? -errno : static_cast<double>(n));
}

// JS: recv(fd, buffer, offset = 0, length = rest) -> bytes | 0 at EOF | -errno
Napi::Value Recv(const Napi::CallbackInfo& info) { return RecvWith(info, 0, "recv"); }

// JS: recvPeek(fd, buffer, offset = 0, length = rest) -> bytes | 0 at EOF | -errno
// recv(MSG_PEEK): the bytes stay queued, so a receiver can look for a whole header, wait for
// more without buffering, and then consume exactly the header with a plain recv.
Napi::Value RecvPeek(const Napi::CallbackInfo& info) { return RecvWith(info, MSG_PEEK, "recvPeek"); }

// JS: send(fd, buffer, offset = 0, length = rest) -> bytes | -errno
// MSG_NOSIGNAL: a peer that went away must give EPIPE here, never a process-wide SIGPIPE.
Napi::Value Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd, offset, length;
  Bytes buf;
  if (!ArgInt(info, 0, "fd", &fd) || !ArgBytes(info, 1, "buffer", &buf) ||
      !ArgIntOr(info, 2, "offset", 0, &offset) ||
      !ArgIntOr(info, 3, "length", static_cast<int32_t>(buf.length) - offset, &length)) {
    return env.Undefined();
  }
  if (offset < 0 || length < 0 || static_cast<size_t>(offset) + static_cast<size_t>(length) > buf.length) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "send: offset/length outside the buffer");
    return env.Undefined();
  }
  ssize_t n;
  do {
    n = send(fd, buf.data + offset, static_cast<size_t>(length), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return Napi::Number::New(env, n < 0 ? -errno : static_cast<double>(n));
}

Napi::Value NameQuery(const Napi::CallbackInfo& info, bool peer) {
  Napi::Env env = info.Env();
  int32_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return env.Undefined();
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int rc = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                : getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (rc < 0) {
    ThrowSystemError(env, errno, peer ? "getpeername" : "getsockname");
    return env.Undefined();
  }
  return SockaddrToJs(env, &ss, len);
}

// JS: getsockname(fd) -> Uint8Array
Napi::Value GetSockName(const Napi::CallbackInfo& info) { return NameQuery(info, false); }

// JS: getpeername(fd) -> Uint8Array
Napi::Value GetPeerName(const Napi::CallbackInfo& info) { return NameQuery(info, true); }

// JS: getOriginalDst(fd) -> Uint8Array
// The destination a connection had before NAT REDIRECT/DNAT rewrote it, from conntrack. IPv4 and
// IPv6 use different option levels; the family of the socket's own address picks one. ENOENT
// means conntrack has no NAT entry for this connection (it was not redirected).
Napi::Value GetOriginalDst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return env.Undefined();
  sockaddr_storage local;
  socklen_t local_len = sizeof local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) < 0) {
    ThrowSystemError(env, errno, "getsockname");
    return env.Undefined();
  }
  sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len = sizeof ss;
  int rc;
  if (local.ss_family == AF_INET6) {
    len = sizeof(sockaddr_in6);
    rc = getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len);
  } else if (local.ss_family == AF_INET) {
    len = sizeof(sockaddr_in);
    rc = getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len);
  } else {
    ThrowSystemError(env, EAFNOSUPPORT, "getsockopt(SO_ORIGINAL_DST)");
    return env.Undefined();
  }
  if (rc < 0) {
    ThrowSystemError(env, errno, "getsockopt(SO_ORIGINAL_DST)");
    return env.Undefined();
  }
  return SockaddrToJs(env, &ss, len);
}

}  // namespace

void InitSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("socket", Napi::Function::New(env, Socket, "socket"));
  exports.Set("socketInNetns", Napi::Function::New(env, SocketInNetns, "socketInNetns"));
  exports.Set("bind", Napi::Function::New(env, Bind, "bind"));
  exports.Set("listen", Napi::Function::New(env, Listen, "listen"));
  exports.Set("accept", Napi::Function::New(env, Accept, "accept"));
  exports.Set("connect", Napi::Function::New(env, Connect, "connect"));
  exports.Set("shutdown", Napi::Function::New(env, Shutdown, "shutdown"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("recv", Napi::Function::New(env, Recv, "recv"));
  exports.Set("recvPeek", Napi::Function::New(env, RecvPeek, "recvPeek"));
  exports.Set("send", Napi::Function::New(env, Send, "send"));
  exports.Set("getsockname", Napi::Function::New(env, GetSockName, "getsockname"));
  exports.Set("getpeername", Napi::Function::New(env, GetPeerName, "getpeername"));
  exports.Set("getOriginalDst", Napi::Function::New(env, GetOriginalDst, "getOriginalDst"));
}

}  // namespace epoxy
