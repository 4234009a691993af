#include "pollset.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>

#include "args.h"
#include "errors.h"
#include "loop.h"

namespace epoxy {

namespace {

// Smallest pollfd buffer ever allocated; buffers then double, so a set that grows to n fds costs
// log2(n / 64) reallocations in all and none once it has stopped growing.
constexpr size_t kMinPollFds = 64;

// Grows `*buffer` to hold at least `need` entries. False (buffer untouched) if memory is short.
bool Reserve(pollfd** buffer, size_t* capacity, size_t need) {
  if (need <= *capacity) return true;
  size_t next = *capacity < kMinPollFds ? kMinPollFds : *capacity;
  while (next < need) next *= 2;
  void* grown = realloc(*buffer, next * sizeof(pollfd));
  if (grown == nullptr) return false;
  *buffer = static_cast<pollfd*>(grown);
  *capacity = next;
  return true;
}

// Reads the (fds: Int32Array, count) arguments every set-taking call shares: `count` triplets
// [fd, events, revents]. Throws ERR_EPOXY_INVALID_ARG and returns false when they do not fit.
bool ArgTriplets(const Napi::CallbackInfo& info, size_t i, int32_t** data, size_t* count) {
  size_t length = 0;
  int32_t n;
  if (!ArgInt32Array(info, i, "fds", data, &length)) return false;
  if (!ArgInt(info, i + 1, "count", &n)) return false;
  if (n < 0 || static_cast<size_t>(n) * 3 > length) {
    ThrowCodedError(info.Env(), "ERR_EPOXY_INVALID_ARG",
                    "count must be between 0 and fds.length / 3 (" + std::to_string(length / 3) + ")");
    return false;
  }
  *count = static_cast<size_t>(n);
  return true;
}

void LoadTriplets(pollfd* out, const int32_t* triplets, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    out[i].fd = triplets[3 * i];
    out[i].events = static_cast<short>(triplets[3 * i + 1]);
    out[i].revents = 0;
  }
}

// On Linux close(2) releases the fd whatever it reports (even EINTR), and nothing
// is buffered on a pipe's ends, so there is nothing to do with an error here but ignore it.
void CloseFd(int* fd) {
  if (*fd < 0) return;
  int rc = close(*fd);
  (void)rc;
  *fd = -1;
}

// pollOnce's pollfd buffer, one per environment (the function's data), freed at its teardown.
struct PollBuffer {
  pollfd* fds = nullptr;
  size_t capacity = 0;

  static void Free(void* arg) {
    PollBuffer* self = static_cast<PollBuffer*>(arg);
    free(self->fds);
    delete self;
  }
};

// JS: pollOnce(fds: Int32Array, count, timeoutMs = 0) -> ready count | -errno.
// `fds` holds `count` triplets [fd, events, revents]; revents are written back on success. A
// timeout other than 0 blocks the calling thread: the loop passes 0, tests and tools may not.
Napi::Value PollOnce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t* triplets;
  size_t count;
  int32_t timeout;
  if (!ArgTriplets(info, 0, &triplets, &count)) return env.Undefined();
  if (!ArgIntOr(info, 2, "timeout", 0, &timeout)) return env.Undefined();
  PollBuffer* buffer = static_cast<PollBuffer*>(info.Data());
  if (!Reserve(&buffer->fds, &buffer->capacity, count)) return Napi::Number::New(env, -ENOMEM);
  LoadTriplets(buffer->fds, triplets, count);
  int n;
  do {
    n = poll(buffer->fds, static_cast<nfds_t>(count), timeout);
    // As Poller::Drain: a zero-timeout poll loses nothing by being retried; a blocking caller
    // gets EINTR back and recomputes its own deadline.
  } while (n < 0 && errno == EINTR && timeout == 0);
  if (n < 0) return Napi::Number::New(env, -errno);
  for (size_t i = 0; i < count; ++i) {
    // revents is a short; POLL* bits are all below 0x8000, read it unsigned anyway.
    triplets[3 * i + 2] = static_cast<uint16_t>(buffer->fds[i].revents);
  }
  return Napi::Number::New(env, n);
}

Napi::Object PollConstants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
#define EPOXY_CONSTANT(name) c.Set(#name, static_cast<double>(name))
  EPOXY_CONSTANT(POLLIN);
  EPOXY_CONSTANT(POLLPRI);
  EPOXY_CONSTANT(POLLOUT);
  EPOXY_CONSTANT(POLLERR);
  EPOXY_CONSTANT(POLLHUP);
  EPOXY_CONSTANT(POLLNVAL);
  EPOXY_CONSTANT(POLLRDHUP);  // Linux-specific, needs _GNU_SOURCE (native/defines.txt)
#undef EPOXY_CONSTANT
  return c;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// PollNotifier

void PollNotifier::Close() {
  owner = nullptr;
  if (closing) return;
  closing = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&handle), OnClosed);
}

void PollNotifier::OnClosed(uv_handle_t* handle) {
  PollNotifier* self = static_cast<PollNotifier*>(handle->data);
  if (self->cleanup != nullptr) napi_remove_async_cleanup_hook(self->cleanup);
  delete self;
}

void PollNotifier::OnEnvTeardown(napi_async_cleanup_hook_handle /*hook*/, void* arg) {
  PollNotifier* self = static_cast<PollNotifier*>(arg);
  // Closing the PollWatcher joins its thread and closes us; a notifier already closing just has
  // its callback pending, and Node keeps running the loop until that callback removes this hook.
  if (self->owner != nullptr) {
    self->owner->Release();
  } else {
    self->Close();
  }
}

// ---------------------------------------------------------------------------------------------
// PollWatcher
//
// Threading protocol. Two threads share the fields under mutex_:
//
//   loop thread                                 watcher thread
//   -----------                                 --------------
//   arm(set):  copy set, armed_ = true,         wait on cond_ until armed_ (or quit_)
//              ++generation_, wake              copy armed set, note generation_, in_poll_ = true
//   disarm():  armed_ = false, ++generation_,   unlock; poll(2) on [wake pipe, set...], no timeout
//              wake                             lock; in_poll_ = false; drain pipe if woken_
//   close():   quit_ = true, wake, join         generation_ moved on? the result is stale: loop
//   OnAsync:   take pending_/result_, call JS   nothing but the pipe? poll again
//                                               else armed_ = false, pending_ = true, async send
//
// "wake" signals cond_ and, if the thread is in poll(2), writes one byte to the wake pipe. It
// cannot be lost: in_poll_ is set under the lock before the thread unlocks to call poll(2), so a
// byte written any time after that is seen by poll(2) whether it has started yet or not; and the
// pipe is drained under the lock, so no byte is left over to end the next poll(2) early.
//
// Clearing armed_ on notification is what keeps the thread from spinning: a level-triggered fd
// stays ready until JS reads it, and until JS arms again (after polling and dispatching) the
// thread sleeps on cond_ instead of returning from poll(2) at once, over and over.

Napi::Function PollWatcher::Define(Napi::Env env) {
  return DefineClass(env, "PollWatcher",
                     {
                         InstanceMethod<&PollWatcher::Start>("start"),
                         InstanceMethod<&PollWatcher::Arm>("arm"),
                         InstanceMethod<&PollWatcher::Disarm>("disarm"),
                         InstanceMethod<&PollWatcher::RefJs>("ref"),
                         InstanceMethod<&PollWatcher::UnrefJs>("unref"),
                         InstanceMethod<&PollWatcher::Close>("close"),
                         InstanceAccessor<&PollWatcher::GetClosed>("closed"),
                     });
}

// JS: new PollWatcher(). The thread is created by the first start(), so a watcher that is only
// constructed (PollPoller.test()) costs a pipe and no thread.
PollWatcher::PollWatcher(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<PollWatcher>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  // A failed constructor is deleted at once by node-addon-api; the destructor's Release() then
  // undoes whatever was set up, guided by the flags and fds.
  int rc = uv_mutex_init(&mutex_);
  if (rc < 0) {
    ThrowSystemError(env, -rc, "uv_mutex_init");
    return;
  }
  rc = uv_cond_init(&cond_);
  if (rc < 0) {
    uv_mutex_destroy(&mutex_);
    ThrowSystemError(env, -rc, "uv_cond_init");
    return;
  }
  sync_ready_ = true;
  int pipefd[2];
  // Non-blocking both ways: a full pipe must not block a waker (a full pipe is readable, so the
  // wake is delivered anyway), and draining stops at EAGAIN.
  if (pipe2(pipefd, O_NONBLOCK | O_CLOEXEC) < 0) {
    ThrowSystemError(env, errno, "pipe2");
    return;
  }
  wake_read_ = pipefd[0];
  wake_write_ = pipefd[1];
  if (napi_add_env_cleanup_hook(env, OnEnvCleanup, this) == napi_ok) cleanup_hook_ = true;
}

PollWatcher::~PollWatcher() {
  // Reached from the finalizer when a watcher is garbage-collected without close() (it cannot be
  // started then: start() holds a reference), and after a failed constructor.
  Release();
}

void PollWatcher::OnEnvCleanup(void* arg) {
  PollWatcher* self = static_cast<PollWatcher*>(arg);
  // The hook has already been taken off Node's list when it runs.
  self->cleanup_hook_ = false;
  self->Release();
}

void PollWatcher::Release() {
  if (closed_) return;
  closed_ = true;
  if (thread_running_) {
    uv_mutex_lock(&mutex_);
    quit_ = true;
    WakeLocked();
    uv_mutex_unlock(&mutex_);
    // Joined before anything it uses (the notifier, the pipe, the buffers, the lock) goes.
    int rc = uv_thread_join(&thread_);
    if (rc != 0) {
      // Only possible if thread_ were not a joinable thread of ours: freeing what it may still
      // use would corrupt memory later, so stop here instead.
      napi_fatal_error("epoxy PollWatcher", NAPI_AUTO_LENGTH, "uv_thread_join failed", NAPI_AUTO_LENGTH);
    }
    thread_running_ = false;
  }
  if (notifier_ != nullptr) {
    notifier_->Close();
    notifier_ = nullptr;
  }
  if (started_) {
    started_ = false;
    // start() took a reference so a started watcher is never collected; give it back.
    Napi::ObjectWrap<PollWatcher>::Unref();
  }
  CloseFd(&wake_read_);
  CloseFd(&wake_write_);
  free(armed_set_);
  armed_set_ = nullptr;
  armed_capacity_ = armed_count_ = 0;
  free(work_);
  work_ = nullptr;
  work_capacity_ = 0;
  if (sync_ready_) {
    uv_cond_destroy(&cond_);
    uv_mutex_destroy(&mutex_);
    sync_ready_ = false;
  }
  callback_.Reset();
  delete async_context_;
  async_context_ = nullptr;
  if (cleanup_hook_) {
    napi_remove_env_cleanup_hook(env_, OnEnvCleanup, this);
    cleanup_hook_ = false;
  }
}

bool PollWatcher::CheckOpen(Napi::Env env) {
  if (!closed_) return true;
  ThrowCodedError(env, "ERR_EPOXY_HANDLE_CLOSED", "poll watcher is closed");
  return false;
}

void PollWatcher::WakeLocked() {
  uv_cond_signal(&cond_);  // the thread may be waiting to be armed rather than polling
  if (!in_poll_ || woken_) return;
  const char byte = 1;
  ssize_t rc;
  do {
    rc = write(wake_write_, &byte, 1);
  } while (rc < 0 && errno == EINTR);
  // EAGAIN: the pipe is full, hence readable, hence the wake is delivered all the same. Any
  // other error (EBADF, EPIPE) would mean the pipe was closed under a running thread: a bug that
  // would turn close() into a hang, so it stops the process instead.
  if (rc < 0 && errno != EAGAIN) {
    napi_fatal_error("epoxy PollWatcher", NAPI_AUTO_LENGTH, "cannot write the wake pipe", NAPI_AUTO_LENGTH);
  }
  woken_ = true;
}

void PollWatcher::NotifyLocked(int result) {
  armed_ = false;  // one notification per arm (see the protocol above)
  pending_ = true;
  result_ = result;
  // uv_async_send is the one libuv call that is safe from another thread; it returns 0 except
  // on a handle that is closing, and the thread is joined before the handle is closed.
  int rc = uv_async_send(&notifier_->handle);
  (void)rc;
}

void PollWatcher::DrainWakePipe() {
  char sink[64];
  for (;;) {
    ssize_t n = read(wake_read_, sink, sizeof sink);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    // EAGAIN: empty. 0 (end of file) cannot happen while the write end is open, which it is
    // until the thread has been joined.
    break;
  }
}

void PollWatcher::ThreadMain(void* arg) { static_cast<PollWatcher*>(arg)->Run(); }

void PollWatcher::Run() {
  // The name lets ps, top and our tests tell this thread from Node's own. It is diagnostic
  // only: if naming fails the thread keeps Node's name and works the same.
  if (pthread_setname_np(pthread_self(), kThreadName) != 0) {
    // nothing to undo
  }
  uv_mutex_lock(&mutex_);
  for (;;) {
    while (!quit_ && !armed_) uv_cond_wait(&cond_, &mutex_);
    if (quit_) break;
    const uint64_t generation = generation_;
    const size_t count = armed_count_;
    if (!Reserve(&work_, &work_capacity_, count + 1)) {
      NotifyLocked(-ENOMEM);
      continue;
    }
    work_[0].fd = wake_read_;
    work_[0].events = POLLIN;
    work_[0].revents = 0;
    if (count > 0) memcpy(work_ + 1, armed_set_, count * sizeof(pollfd));
    in_poll_ = true;
    uv_mutex_unlock(&mutex_);

    // No timeout: the thread has no timers of its own; every reason to stop waiting is either an
    // fd of the set or a byte in the wake pipe.
    int n = poll(work_, static_cast<nfds_t>(count + 1), -1);
    int err = n < 0 ? errno : 0;

    uv_mutex_lock(&mutex_);
    in_poll_ = false;
    if (woken_) {
      DrainWakePipe();
      woken_ = false;
    }
    if (quit_) break;
    // Signals are blocked in this thread, but a stop/continue under a debugger still ends poll(2)
    // with EINTR: poll again, on the newest set.
    if (n < 0 && err == EINTR) continue;
    // Re-armed (or disarmed) while polling: what this poll saw is about a set JS has replaced.
    if (generation != generation_) continue;
    if (n < 0) {
      // EINVAL (more fds than RLIMIT_NOFILE) or ENOMEM: the loop's own pollOnce() meets the same
      // error and reports it; the thread stops until armed again rather than fail in a loop.
      NotifyLocked(-err);
      continue;
    }
    const int ready = n - (work_[0].revents != 0 ? 1 : 0);
    if (ready > 0) NotifyLocked(ready);
    // else only the wake pipe (a wake that changed nothing): poll the same set again.
  }
  uv_mutex_unlock(&mutex_);
}

bool PollWatcher::StartThread(Napi::Env env) {
  // The thread is created with every signal blocked (it inherits the creator's mask): signals are
  // for the loop thread, where Node and libuv handle them; here they would only end poll(2) with
  // EINTR. Synchronous faults (SIGSEGV...) are delivered whatever the mask says.
  sigset_t all, old;
  sigfillset(&all);
  int rc = pthread_sigmask(SIG_SETMASK, &all, &old);
  if (rc != 0) {
    ThrowSystemError(env, rc, "pthread_sigmask");
    return false;
  }
  int created = uv_thread_create(&thread_, ThreadMain, this);
  rc = pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (created == 0) thread_running_ = true;
  if (created < 0) {
    ThrowSystemError(env, -created, "uv_thread_create");
    return false;
  }
  if (rc != 0) {
    // The loop thread keeps every signal blocked: tell the caller, the thread itself is fine.
    ThrowSystemError(env, rc, "pthread_sigmask");
    return false;
  }
  return true;
}

void PollWatcher::OnAsync(uv_async_t* handle) {
  PollNotifier* notifier = static_cast<PollNotifier*>(handle->data);
  PollWatcher* self = notifier->owner;
  if (self == nullptr || self->closed_ || self->callback_.IsEmpty()) return;
  uv_mutex_lock(&self->mutex_);
  const bool pending = self->pending_;
  const int result = self->result_;
  self->pending_ = false;
  uv_mutex_unlock(&self->mutex_);
  // uv_async_send coalesces, and arm()/disarm() withdraw a notification not yet delivered: it
  // described a set JS has since replaced.
  if (!pending) return;
  Napi::Env env(self->env_);
  Napi::HandleScope scope(env);
  CallIntoJs(env, *self->async_context_, self->Value(), self->callback_.Value(), result);
}

// JS: start(callback: (result) => void). `result` is the number of ready fds the thread saw, or
// -errno if its poll(2) failed. Calling start() again replaces the callback.
Napi::Value PollWatcher::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "start(callback) expects a function");
    return env.Undefined();
  }
  if (notifier_ == nullptr) {
    uv_loop_t* loop = LoopOrThrow(env);
    if (loop == nullptr) return env.Undefined();
    PollNotifier* notifier = new PollNotifier;
    int rc = uv_async_init(loop, &notifier->handle, OnAsync);
    if (rc < 0) {
      delete notifier;  // never initialised, so libuv holds no pointer to it
      ThrowSystemError(env, -rc, "uv_async_init");
      return env.Undefined();
    }
    notifier->owner = this;
    notifier->handle.data = notifier;
    if (napi_add_async_cleanup_hook(env, PollNotifier::OnEnvTeardown, notifier, &notifier->cleanup) !=
        napi_ok) {
      notifier->cleanup = nullptr;
      notifier->Close();
      ThrowCodedError(env, "ERR_EPOXY_NO_LOOP", "cannot register the poll watcher's cleanup hook");
      return env.Undefined();
    }
    notifier_ = notifier;
    if (unref_) uv_unref(reinterpret_cast<uv_handle_t*>(&notifier_->handle));
  }
  if (async_context_ == nullptr) async_context_ = new Napi::AsyncContext(env, "epoxy.PollWatcher");
  callback_ = Napi::Persistent(info[0].As<Napi::Function>());
  if (!started_) {
    started_ = true;
    Napi::ObjectWrap<PollWatcher>::Ref();
  }
  if (!thread_running_) StartThread(env);
  return env.Undefined();
}

// JS: arm(fds: Int32Array, count) -> 0 | -ENOMEM. Copies `count` [fd, events, revents] triplets
// (revents ignored): the thread polls that copy, so JS may change its array at once.
Napi::Value PollWatcher::Arm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  int32_t* triplets;
  size_t count;
  if (!ArgTriplets(info, 0, &triplets, &count)) return env.Undefined();
  uv_mutex_lock(&mutex_);
  // The buffer only grows, and only here; the thread never touches it unlocked.
  if (!Reserve(&armed_set_, &armed_capacity_, count)) {
    uv_mutex_unlock(&mutex_);
    return Napi::Number::New(env, -ENOMEM);
  }
  LoadTriplets(armed_set_, triplets, count);
  armed_count_ = count;
  armed_ = true;
  ++generation_;
  pending_ = false;
  WakeLocked();
  uv_mutex_unlock(&mutex_);
  return Napi::Number::New(env, 0);
}

// JS: disarm(). No notification from now on (not even one already on its way) until arm().
Napi::Value PollWatcher::Disarm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  uv_mutex_lock(&mutex_);
  armed_ = false;
  ++generation_;
  pending_ = false;
  // Woken, the thread leaves poll(2) and sleeps on cond_: it holds no stale set in the kernel.
  WakeLocked();
  uv_mutex_unlock(&mutex_);
  return env.Undefined();
}

// JS: ref()/unref(): whether a started watcher keeps the process alive (as net.Server does).
Napi::Value PollWatcher::RefJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  unref_ = false;
  if (notifier_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(&notifier_->handle));
  return env.Undefined();
}

Napi::Value PollWatcher::UnrefJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  unref_ = true;
  if (notifier_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(&notifier_->handle));
  return env.Undefined();
}

// JS: close(). Idempotent; joins the thread. Every other method then throws
// ERR_EPOXY_HANDLE_CLOSED.
Napi::Value PollWatcher::Close(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

Napi::Value PollWatcher::GetClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), closed_);
}

void InitPollSet(Napi::Env env, Napi::Object exports) {
  PollBuffer* buffer = new PollBuffer;
  if (napi_add_env_cleanup_hook(env, PollBuffer::Free, buffer) != napi_ok) {
    delete buffer;
    ThrowCodedError(env, "ERR_EPOXY_NO_LOOP", "cannot register pollOnce's cleanup hook");
    return;
  }
  exports.Set("pollOnce", Napi::Function::New(env, PollOnce, "pollOnce", buffer));
  exports.Set("pollConstants", PollConstants(env));
  exports.Set("PollWatcher", PollWatcher::Define(env));
}

}  // namespace epoxy
