// Poller: a raw epoll set owned by JavaScript and watched by Node's own loop.
//
// The epoll fd is registered with libuv through a uv_poll_t, so when any fd in the set becomes
// ready libuv wakes up, the addon drains ready events with epoll_wait(0) into a preallocated
// Int32Array shared with JS ([fd, events] pairs), and calls the JS callback once with the count.
// Node's loop is never blocked and nothing spins: epoll is level-triggered as seen by libuv, so an
// event left unconsumed simply wakes the next loop iteration.
#pragma once

#include <napi.h>
#include <sys/epoll.h>
#include <uv.h>

namespace epoxy {

class Poller;

// The libuv side of a started Poller, kept apart from the Poller because it must outlive it:
// libuv frees nothing and calls the close callback on a later loop turn, and that callback
// lives in this shared object. An async cleanup hook holds the environment's teardown (and so
// the addon's unloading, which happens when the last environment using it goes) until the
// close callback has run.
struct Watcher {
  uv_poll_t handle;
  Poller* owner = nullptr;                          // null once the Poller is gone
  napi_async_cleanup_hook_handle cleanup = nullptr;  // removed by the close callback
  bool closing = false;

  // Starts uv_close (once); the close callback removes the hook and frees the Watcher.
  void Close();
  static void OnClosed(uv_handle_t* handle);
  static void OnEnvTeardown(napi_async_cleanup_hook_handle hook, void* arg);
};

class Poller : public Napi::ObjectWrap<Poller> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Poller(const Napi::CallbackInfo& info);
  ~Poller() override;

 private:
  // JS methods. add/modify/remove/wait are on the data path: they return 0/count or -errno.
  Napi::Value Add(const Napi::CallbackInfo& info);
  Napi::Value Modify(const Napi::CallbackInfo& info);
  Napi::Value Remove(const Napi::CallbackInfo& info);
  Napi::Value Wait(const Napi::CallbackInfo& info);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value RefJs(const Napi::CallbackInfo& info);
  Napi::Value UnrefJs(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);
  Napi::Value GetCapacity(const Napi::CallbackInfo& info);

  bool CheckOpen(Napi::Env env);
  Napi::Value Control(const Napi::CallbackInfo& info, int op);
  // Fills the shared array from epoll_wait; returns count or -errno.
  int Drain(int timeout_ms);
  void StopWatching();
  void Release();

  static void OnReadable(uv_poll_t* handle, int status, int events);
  static void OnEnvCleanup(void* arg);
  friend struct Watcher;

  int epfd_ = -1;              // the epoll instance; -1 once closed
  int capacity_ = 0;           // events one drain can return
  epoll_event* scratch_ = nullptr;  // kernel-format events, allocated once
  int32_t* shared_ = nullptr;  // [fd, events] pairs inside the JS-visible ArrayBuffer
  Napi::Reference<Napi::Int32Array> events_;  // keeps the shared array (and shared_) alive
  Watcher* watcher_ = nullptr;  // created by the first start(); outlives us while closing
  bool watching_ = false;      // uv_poll_start is active
  bool unref_ = false;         // user asked for the watcher not to keep the loop alive
  bool cleanup_hook_ = false;  // env cleanup hook registered
  napi_env env_ = nullptr;
  Napi::FunctionReference callback_;
  Napi::AsyncContext* async_context_ = nullptr;
};

void InitPoller(Napi::Env env, Napi::Object exports);

}  // namespace epoxy
