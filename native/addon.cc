// Entry point of the epoxy addon: registers every subsystem's functions and the constants
// TypeScript needs, and owns the per-environment instance data.
#include <errno.h>
#include <napi.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "errors.h"
#include "instance.h"
#include "poller.h"
#include "pollset.h"
#include "process.h"
#include "client_hello_napi.h"
#include "proxy_protocol_napi.h"
#include "relay.h"
#include "sockaddr.h"
#include "socket.h"
#include "sockopt.h"
#include "stick_table_napi.h"

namespace epoxy {

namespace {

// How this binary was built, so a test run can prove it is exercising the build it meant to
// (the sanitizer run checks `sanitizers` before trusting a green result).
Napi::Object BuildInfo(Napi::Env env) {
  Napi::Object info = Napi::Object::New(env);
  Napi::Array sanitizers = Napi::Array::New(env);
  uint32_t n = 0;
#if defined(__SANITIZE_ADDRESS__)
  sanitizers.Set(n++, "address");
#endif
#if defined(EPOXY_UBSAN)
  sanitizers.Set(n++, "undefined");
#endif
  (void)n;
  info.Set("sanitizers", sanitizers);
#if defined(NDEBUG)
  info.Set("debug", false);
#else
  info.Set("debug", true);
#endif
  return info;
}

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
#define EPOXY_CONSTANT(name) c.Set(#name, static_cast<double>(name))
  EPOXY_CONSTANT(AF_INET);
  EPOXY_CONSTANT(AF_INET6);
  EPOXY_CONSTANT(AF_UNIX);
  EPOXY_CONSTANT(SOCK_STREAM);
  EPOXY_CONSTANT(SOCK_DGRAM);
  EPOXY_CONSTANT(SOCK_NONBLOCK);
  EPOXY_CONSTANT(SHUT_RD);
  EPOXY_CONSTANT(SHUT_WR);
  EPOXY_CONSTANT(SHUT_RDWR);
  EPOXY_CONSTANT(EPOLLIN);
  EPOXY_CONSTANT(EPOLLOUT);
  EPOXY_CONSTANT(EPOLLRDHUP);
  EPOXY_CONSTANT(EPOLLPRI);
  EPOXY_CONSTANT(EPOLLERR);
  EPOXY_CONSTANT(EPOLLHUP);
  EPOXY_CONSTANT(EPOLLET);
  EPOXY_CONSTANT(EPOLLONESHOT);
  EPOXY_CONSTANT(EPOLLEXCLUSIVE);
  EPOXY_CONSTANT(SIGHUP);
  EPOXY_CONSTANT(SIGINT);
  EPOXY_CONSTANT(SIGTERM);
  EPOXY_CONSTANT(SIGKILL);
  EPOXY_CONSTANT(SIGQUIT);
  EPOXY_CONSTANT(SIGUSR1);
  EPOXY_CONSTANT(SIGUSR2);
  EPOXY_CONSTANT(SIGTTOU);
  EPOXY_CONSTANT(SIGTTIN);
#undef EPOXY_CONSTANT
  c.Set("ADDR_SLOT_SIZE", static_cast<double>(kAddrSlotSize));
  // errno values as <errno.h> defines them (positive): data-path calls return their negation,
  // system errors carry it negated in `errno`. TypeScript compares against these, never against
  // numbers written by hand (a sign or an architecture away from wrong).
  Napi::Object e = Napi::Object::New(env);
#define EPOXY_ERRNO(name) e.Set(#name, static_cast<double>(name))
  EPOXY_ERRNO(EPERM);
  EPOXY_ERRNO(ENOENT);
  EPOXY_ERRNO(EEXIST);
  EPOXY_ERRNO(EINTR);
  EPOXY_ERRNO(EBADF);
  EPOXY_ERRNO(EAGAIN);
  EPOXY_ERRNO(ENOMEM);
  EPOXY_ERRNO(EACCES);
  EPOXY_ERRNO(EINVAL);
  EPOXY_ERRNO(ENFILE);
  EPOXY_ERRNO(EMFILE);
  EPOXY_ERRNO(EPIPE);
  EPOXY_ERRNO(ENOSPC);
  EPOXY_ERRNO(EAFNOSUPPORT);
  EPOXY_ERRNO(EADDRINUSE);
  EPOXY_ERRNO(EADDRNOTAVAIL);
  EPOXY_ERRNO(ENETUNREACH);
  EPOXY_ERRNO(ECONNABORTED);
  EPOXY_ERRNO(ECONNRESET);
  EPOXY_ERRNO(ENOBUFS);
  EPOXY_ERRNO(ETIMEDOUT);
  EPOXY_ERRNO(ECONNREFUSED);
  EPOXY_ERRNO(EHOSTUNREACH);
  EPOXY_ERRNO(EINPROGRESS);
  EPOXY_ERRNO(EDEADLK);
#undef EPOXY_ERRNO
  c.Set("errno", e);
  // EPOLLET is bit 31: as a signed int32 it is negative, which is how it appears in the shared
  // Int32Array of events; JS code masks with it either way.
  return c;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new InstanceData());
  InitErrors(env, exports);
  InitSockaddr(env, exports);
  InitSocket(env, exports);
  InitSockopt(env, exports);
  InitProcess(env, exports);
  InitPoller(env, exports);
  InitPollSet(env, exports);
  InitProxyProtocol(env, exports);
  InitClientHello(env, exports);
  InitRelay(env, exports);
  InitStickTable(env, exports);
  exports.Set("constants", Constants(env));
  exports.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  exports.Set("build", BuildInfo(env));
  return exports;
}

}  // namespace epoxy

// NODE_API_MODULE pastes the name into an identifier, so it needs an unqualified function.
static Napi::Object InitEpoxy(Napi::Env env, Napi::Object exports) { return epoxy::Init(env, exports); }

NODE_API_MODULE(epoxy, InitEpoxy)
