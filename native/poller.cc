#include "poller.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "errors.h"
#include "loop.h"
#include "instance.h"

namespace epoxy {

namespace {
// Default events per drain. libuv uses 1024 for its own loop; we pick 256 because each turn of
// our loop dispatches to JS, and a smaller batch bounds the latency one turn can add to timers.
constexpr int kDefaultCapacity = 256;
constexpr int kMaxCapacity = 65536;
}  // namespace

Napi::Function Poller::Define(Napi::Env env) {
  return DefineClass(env, "Poller",
                     {
                         InstanceMethod<&Poller::Add>("add"),
                         InstanceMethod<&Poller::Modify>("modify"),
                         InstanceMethod<&Poller::Remove>("remove"),
                         InstanceMethod<&Poller::Wait>("wait"),
                         InstanceMethod<&Poller::Start>("start"),
                         InstanceMethod<&Poller::Stop>("stop"),
                         InstanceMethod<&Poller::RefJs>("ref"),
                         InstanceMethod<&Poller::UnrefJs>("unref"),
                         InstanceMethod<&Poller::Close>("close"),
                         InstanceAccessor<&Poller::GetFd>("fd"),
                         InstanceAccessor<&Poller::GetClosed>("closed"),
                         InstanceAccessor<&Poller::GetCapacity>("capacity"),
                     });
}

// JS: new Poller(capacity = 256). `poller.events` is an Int32Array of capacity*2 entries.
Poller::Poller(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Poller>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  int32_t capacity;
  if (!ArgIntOr(info, 0, "capacity", kDefaultCapacity, &capacity)) return;
  if (capacity < 1 || capacity > kMaxCapacity) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG",
                    "poller capacity must be between 1 and " + std::to_string(kMaxCapacity));
    return;
  }
  scratch_ = static_cast<epoll_event*>(calloc(static_cast<size_t>(capacity), sizeof(epoll_event)));
  if (scratch_ == nullptr) {
    ThrowSystemError(env, ENOMEM, "calloc");
    return;
  }
  Napi::Int32Array events = Napi::Int32Array::New(env, static_cast<size_t>(capacity) * 2);
  shared_ = events.Data();
  events_ = Napi::Persistent(events);
  info.This().As<Napi::Object>().Set("events", events);

  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) {
    ThrowSystemError(env, errno, "epoll_create1");
    return;
  }
  capacity_ = capacity;
  if (napi_add_env_cleanup_hook(env, OnEnvCleanup, this) == napi_ok) cleanup_hook_ = true;
}

Poller::~Poller() {
  // Reached from the finalizer when a poller is garbage-collected without close().
  Release();
  free(scratch_);
}

void Poller::OnEnvCleanup(void* arg) {
  Poller* self = static_cast<Poller*>(arg);
  // The hook has already been taken off Node's list when it runs.
  self->cleanup_hook_ = false;
  self->Release();
}

void Watcher::Close() {
  owner = nullptr;
  if (closing) return;
  closing = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&handle), OnClosed);
}

void Watcher::OnClosed(uv_handle_t* handle) {
  Watcher* self = reinterpret_cast<Watcher*>(reinterpret_cast<char*>(handle) - offsetof(Watcher, handle));
  if (self->cleanup != nullptr) napi_remove_async_cleanup_hook(self->cleanup);
  delete self;
}

void Watcher::OnEnvTeardown(napi_async_cleanup_hook_handle /*hook*/, void* arg) {
  Watcher* self = static_cast<Watcher*>(arg);
  // Closing the Poller closes us too; a Watcher already closing just has its callback pending,
  // and Node keeps running the loop until that callback removes this hook.
  if (self->owner != nullptr) {
    self->owner->Release();
  } else {
    self->Close();
  }
}

void Poller::StopWatching() {
  if (watcher_ == nullptr) return;
  // The uv_poll_t is closed (not just stopped) before the epoll fd it watches is closed.
  watcher_->Close();
  watcher_ = nullptr;
  if (watching_) {
    watching_ = false;
    // Start() took a reference so a watched poller is never collected; give it back.
    Napi::ObjectWrap<Poller>::Unref();
  }
}

void Poller::Release() {
  if (epfd_ < 0) return;
  StopWatching();
  close(epfd_);
  epfd_ = -1;
  callback_.Reset();
  delete async_context_;
  async_context_ = nullptr;
  if (cleanup_hook_) {
    napi_remove_env_cleanup_hook(env_, OnEnvCleanup, this);
    cleanup_hook_ = false;
  }
}

bool Poller::CheckOpen(Napi::Env env) {
  if (epfd_ >= 0) return true;
  ThrowCodedError(env, "ERR_EPOXY_HANDLE_CLOSED", "poller is closed");
  return false;
}

Napi::Value Poller::Control(const Napi::CallbackInfo& info, int op) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  int32_t fd, mask = 0;
  if (!ArgInt(info, 0, "fd", &fd)) return env.Undefined();
  if (op != EPOLL_CTL_DEL && !ArgInt(info, 1, "events", &mask)) return env.Undefined();
  epoll_event event;
  memset(&event, 0, sizeof event);
  event.events = static_cast<uint32_t>(mask);
  event.data.fd = fd;
  int rc = epoll_ctl(epfd_, op, fd, &event);
  return Napi::Number::New(env, rc < 0 ? -errno : 0);
}

// JS: add(fd, events) / modify(fd, events) / remove(fd) -> 0 | -errno
Napi::Value Poller::Add(const Napi::CallbackInfo& info) { return Control(info, EPOLL_CTL_ADD); }
Napi::Value Poller::Modify(const Napi::CallbackInfo& info) { return Control(info, EPOLL_CTL_MOD); }
Napi::Value Poller::Remove(const Napi::CallbackInfo& info) { return Control(info, EPOLL_CTL_DEL); }

int Poller::Drain(int timeout_ms) {
  int n;
  do {
    n = epoll_wait(epfd_, scratch_, capacity_, timeout_ms);
    // A signal interrupting a zero-timeout wait loses nothing; for a blocking wait the caller
    // recomputes its own deadline, so EINTR is returned to it rather than retried with a stale one.
  } while (n < 0 && errno == EINTR && timeout_ms == 0);
  if (n < 0) return -errno;
  for (int i = 0; i < n; ++i) {
    shared_[2 * i] = scratch_[i].data.fd;
    shared_[2 * i + 1] = static_cast<int32_t>(scratch_[i].events);
  }
  return n;
}

// JS: wait(timeoutMs = 0) -> count | -errno. A positive timeout blocks the calling thread; the
// loop only ever passes 0 and leaves sleeping to libuv (see start()).
Napi::Value Poller::Wait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  int32_t timeout;
  if (!ArgIntOr(info, 0, "timeout", 0, &timeout)) return env.Undefined();
  return Napi::Number::New(env, Drain(timeout));
}

void Poller::OnReadable(uv_poll_t* handle, int status, int /*events*/) {
  Poller* self = static_cast<Watcher*>(handle->data)->owner;
  if (self == nullptr || self->epfd_ < 0 || self->callback_.IsEmpty()) return;
  Napi::Env env(self->env_);
  Napi::HandleScope scope(env);
  int n = status < 0 ? status : self->Drain(0);
  // Nothing ready (another drain got there first through wait()): no call into JS.
  if (n == 0) return;
  CallIntoJs(env, *self->async_context_, self->Value(), self->callback_.Value(), n);
}

// JS: start(callback: (count) => void). Watches the set from Node's loop until stop()/close().
Napi::Value Poller::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "start(callback) expects a function");
    return env.Undefined();
  }
  if (watcher_ == nullptr) {
    uv_loop_t* loop = LoopOrThrow(env);
    if (loop == nullptr) return env.Undefined();
    Watcher* watcher = new Watcher;
    int rc = uv_poll_init(loop, &watcher->handle, epfd_);
    if (rc < 0) {
      delete watcher;  // never initialised, so libuv holds no pointer to it
      ThrowSystemError(env, -rc, "uv_poll_init");
      return env.Undefined();
    }
    watcher->owner = this;
    watcher->handle.data = watcher;
    if (napi_add_async_cleanup_hook(env, Watcher::OnEnvTeardown, watcher, &watcher->cleanup) != napi_ok) {
      watcher->cleanup = nullptr;
      watcher->Close();
      ThrowCodedError(env, "ERR_EPOXY_NO_LOOP", "cannot register the poller's cleanup hook");
      return env.Undefined();
    }
    watcher_ = watcher;
    if (unref_) uv_unref(reinterpret_cast<uv_handle_t*>(&watcher_->handle));
  }
  if (async_context_ == nullptr) async_context_ = new Napi::AsyncContext(env, "epoxy.Poller");
  callback_ = Napi::Persistent(info[0].As<Napi::Function>());
  if (!watching_) {
    int rc = uv_poll_start(&watcher_->handle, UV_READABLE, OnReadable);
    if (rc < 0) {
      ThrowSystemError(env, -rc, "uv_poll_start");
      return env.Undefined();
    }
    watching_ = true;
    Napi::ObjectWrap<Poller>::Ref();
  }
  return env.Undefined();
}

// JS: stop(). The set keeps its fds; only the watching stops.
Napi::Value Poller::Stop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  if (watching_) {
    uv_poll_stop(&watcher_->handle);
    watching_ = false;
    Napi::ObjectWrap<Poller>::Unref();
  }
  return env.Undefined();
}

// JS: ref()/unref(): whether a watching poller keeps the process alive (as net.Server does).
Napi::Value Poller::RefJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  unref_ = false;
  if (watcher_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(&watcher_->handle));
  return env.Undefined();
}

Napi::Value Poller::UnrefJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  unref_ = true;
  if (watcher_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(&watcher_->handle));
  return env.Undefined();
}

// JS: close(). Idempotent, like Node's handles; every other method then throws
// ERR_EPOXY_HANDLE_CLOSED.
Napi::Value Poller::Close(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

Napi::Value Poller::GetFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), epfd_);
}

Napi::Value Poller::GetClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), epfd_ < 0);
}

Napi::Value Poller::GetCapacity(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), capacity_);
}

void InitPoller(Napi::Env env, Napi::Object exports) {
  Napi::Function poller = Poller::Define(env);
  GetInstanceData(env)->poller_class = Napi::Persistent(poller);
  exports.Set("Poller", poller);
}

}  // namespace epoxy
