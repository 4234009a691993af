// The poll(2) poller's native half: a one-shot pollOnce() and a PollWatcher thread.
//
// poll(2) has no fd of its own that libuv could watch, unlike an epoll set. So the set is polled
// twice: Node's loop calls pollOnce(timeout 0), which never blocks, to collect and dispatch
// readiness; and a PollWatcher thread blocks in poll(2) on a copy of the same set ("armed") and
// wakes Node's loop through a uv_async_t when anything in it is ready. The thread notifies once
// per arm and then waits to be armed again, so a level-triggered fd JS has not consumed yet
// cannot make it spin.
#pragma once

#include <napi.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

namespace epoxy {

class PollWatcher;

// The libuv side of a started PollWatcher (its uv_async_t), kept apart for the reason poller.h
// gives for Watcher: libuv calls the close callback on a later loop turn, so the handle must
// outlive the PollWatcher, and an async cleanup hook holds environment teardown (and the addon's
// unloading) until that callback has run.
struct PollNotifier {
  uv_async_t handle;
  PollWatcher* owner = nullptr;                      // null once the PollWatcher is gone
  napi_async_cleanup_hook_handle cleanup = nullptr;  // removed by the close callback
  bool closing = false;

  // Starts uv_close (once); the close callback removes the hook and frees the PollNotifier.
  void Close();
  static void OnClosed(uv_handle_t* handle);
  static void OnEnvTeardown(napi_async_cleanup_hook_handle hook, void* arg);
};

class PollWatcher : public Napi::ObjectWrap<PollWatcher> {
 public:
  // The name of the poll(2) thread (/proc/self/task/*/comm; at most 15 characters).
  static constexpr const char* kThreadName = "epoxy-poll";

  static Napi::Function Define(Napi::Env env);
  explicit PollWatcher(const Napi::CallbackInfo& info);
  ~PollWatcher() override;

 private:
  // JS methods. arm() is on the data path: it returns 0 or -errno.
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Arm(const Napi::CallbackInfo& info);
  Napi::Value Disarm(const Napi::CallbackInfo& info);
  Napi::Value RefJs(const Napi::CallbackInfo& info);
  Napi::Value UnrefJs(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);

  bool CheckOpen(Napi::Env env);
  // Creates the thread with every signal blocked. Throws and returns false on failure.
  bool StartThread(Napi::Env env);
  // Joins the thread and frees everything; idempotent.
  void Release();

  // --- called with mutex_ held ---
  // Interrupts the thread's poll(2) through the wake pipe (at most one byte per poll).
  void WakeLocked();
  // Records `result` for the loop and wakes it; the thread then waits to be armed again.
  void NotifyLocked(int result);

  // --- the thread ---
  static void ThreadMain(void* arg);
  void Run();
  void DrainWakePipe();

  static void OnAsync(uv_async_t* handle);
  static void OnEnvCleanup(void* arg);
  friend struct PollNotifier;

  // Set by the constructor, closed by Release() after the thread is joined; both threads use
  // them without the lock.
  int wake_read_ = -1;   // the thread polls it along with the armed set
  int wake_write_ = -1;  // arm()/disarm()/close() write one byte to interrupt poll(2)

  // Shared between the thread and the loop: guarded by mutex_, waited on through cond_.
  uv_mutex_t mutex_;
  uv_cond_t cond_;
  pollfd* armed_set_ = nullptr;  // the set arm() copied in
  size_t armed_count_ = 0;
  size_t armed_capacity_ = 0;
  uint64_t generation_ = 0;  // bumped by arm()/disarm(): a poll on an older set is stale
  bool armed_ = false;       // a set waits to be polled; cleared by a notification or disarm()
  bool quit_ = false;        // close(): the thread must return
  bool in_poll_ = false;     // the thread is in (or about to enter) poll(2)
  bool woken_ = false;       // a wake byte was written during the current poll(2)
  bool pending_ = false;     // a notification waits for the async callback
  int result_ = 0;           // what the pending notification reports: ready count or -errno

  // The thread's own copy of the set: [wake pipe, armed set...]. Only the thread touches it
  // while it runs; Release() frees it after the join.
  pollfd* work_ = nullptr;
  size_t work_capacity_ = 0;

  // Loop thread only.
  uv_thread_t thread_;
  bool thread_running_ = false;   // thread_ was created and not yet joined
  bool sync_ready_ = false;       // mutex_ and cond_ are initialised
  bool closed_ = false;           // close() (or the finalizer, or teardown) ran
  bool started_ = false;          // start() took a reference on the JS object
  bool unref_ = false;            // user asked for the watcher not to keep the loop alive
  bool cleanup_hook_ = false;     // env cleanup hook registered
  PollNotifier* notifier_ = nullptr;  // created by the first start(); outlives us while closing
  napi_env env_ = nullptr;
  Napi::FunctionReference callback_;
  Napi::AsyncContext* async_context_ = nullptr;
};

void InitPollSet(Napi::Env env, Napi::Object exports);

}  // namespace epoxy
