#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "args.h"
#include "errors.h"
#include "loop.h"

namespace epoxy {

namespace {

// 16 KiB per direction: HAProxy's default tune.bufsize, and the size of the kernel's default
// initial send buffer (tcp_wmem[1]), so one recv fills what one send can usually take.
constexpr int32_t kDefaultBufferSize = 16384;
constexpr int32_t kMaxBufferSize = 64 << 20;
// Slots of a new relay; the tables then double. 64 pairs cost 64 * 36 bytes of shared arrays.
constexpr int32_t kDefaultCapacity = 64;
// 4 Mi pairs (8 Mi fds) is far beyond any RLIMIT_NOFILE this is run with.
constexpr int32_t kMaxCapacity = 1 << 22;
// Full-buffer reads forwarded per wake-up of one fd before yielding to the rest of the loop
// (libuv's streams stop after 32 reads of 64 KiB); the fd stays readable and wakes the next turn.
constexpr int kMaxReadsPerWake = 16;
// Idle blocks kept for reuse: a burst of blocked sends reuses them instead of malloc/free each
// time; beyond this many, a drained block goes back to the allocator.
constexpr size_t kPoolMax = 64;
// Bulk reads (see bulk_size_): 256 KiB per recv/send pair took the relay from 0.6 to 0.45 ms of
// CPU per MiB on loopback against 16 KiB (bench: 1 MiB and 100 MiB bodies), while its output
// stays ordinary copied skbs, cheap for the receiver (spliced pages cost wrk ~25% more there).
constexpr int32_t kDefaultBulkSize = 256 << 10;
// Idle bulk blocks kept: a bulk block is held only while a bulk send is blocked.
constexpr size_t kBulkPoolMax = 8;
// Idle pipes kept for the next bulk read. An empty pipe costs 2 fds and no memory to speak of
// (spliced pages are released as they are consumed). HAProxy keeps its free pipes the same way.
constexpr size_t kPipePoolMax = 64;
// Bytes asked of one splice into a pipe: anything above the pipe's capacity, which is what
// really bounds it (the kernel stops when the pipe is full). 1 GiB is HAProxy's cap as well.
constexpr size_t kSpliceAsk = size_t{1} << 30;
// The capacity of a new pipe unless F_SETPIPE_SZ says otherwise: 16 pages (pipe(7)).
constexpr uint32_t kDefaultPipeCapacity = 65536;
constexpr unsigned int kSpliceFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
// Ints per `ended` record: [id, reason, errno].
constexpr size_t kRecordInts = 3;
// Thread mode: events taken per epoll_wait, and the epoll data of the wake eventfd (a pair's is
// fd << 32 | id << 1 | side, and no fd is 2^32 - 1).
constexpr int kThreadEvents = 256;
constexpr uint64_t kWakeToken = ~uint64_t{0};
// Every pair fd is watched for both directions at once and never modified: with EPOLLET the
// kernel reports each new arrival, each freed send space (after a send that filled the buffer),
// the FIN (EPOLLRDHUP) and an error once, so nothing is re-armed per message and a side at EOF
// does not keep waking the thread (the level-triggered loop mode must stop its handle instead).
constexpr uint32_t kPairEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;

// The JS-visible arrays are read by JS while the relay thread writes them: each element is
// stored whole (a relaxed atomic store is a plain aligned mov on the targets we build for).
inline void StoreShared(double* at, double value) { __atomic_store(at, &value, __ATOMIC_RELAXED); }
inline void StoreShared(uint32_t* at, uint32_t value) { __atomic_store_n(at, value, __ATOMIC_RELAXED); }
inline void StoreShared(uint8_t* at, uint8_t value) { __atomic_store_n(at, value, __ATOMIC_RELAXED); }

bool ReadIntOption(Napi::Env env, Napi::Object options, const char* name, int32_t fallback,
                   int32_t min, int32_t max, int32_t* out) {
  Napi::Value value = options.Get(name);
  if (env.IsExceptionPending()) return false;
  if (value.IsUndefined()) {
    *out = fallback;
    return true;
  }
  // Range first: converting an out-of-range double to an integer is undefined behaviour.
  const double number = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : -1.0;
  if (!value.IsNumber() || !(number >= min && number <= max) || number != floor(number)) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG",
                    std::string("relay ") + name + " must be an integer between " + std::to_string(min) +
                        " and " + std::to_string(max));
    return false;
  }
  *out = static_cast<int32_t>(number);
  return true;
}

// An optional boolean option: false when absent.
bool ReadBoolOption(Napi::Env env, Napi::Object options, const char* name, bool* out) {
  Napi::Value value = options.Get(name);
  if (env.IsExceptionPending()) return false;
  if (!value.IsUndefined() && !value.IsBoolean()) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", std::string("relay ") + name + " must be a boolean");
    return false;
  }
  *out = value.IsBoolean() && value.As<Napi::Boolean>().Value();
  return true;
}

// The error that made libuv report POLLERR (libuv itself only says UV_EBADF then). POLLERR on a
// socket means sk_err is set, which SO_ERROR returns and clears; EIO if it is somehow gone.
int PendingError(int fd) {
  int err = 0;
  socklen_t length = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &length) < 0) return errno;
  return err != 0 ? err : EIO;
}

void CloseFd(int fd) {
  if (close(fd) < 0) {
    // Linux releases the descriptor even when close fails (EINTR, EIO): there is nothing to
    // retry, and a pipe has no data anyone could still lose.
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// RelayPoll and RelayLoop: the handles libuv holds

void RelayPoll::Close() {
  // uv_close stops the watcher and takes the fd out of libuv's epoll set now (and drops any of
  // its events still pending in this loop turn), so JS may close the fd as soon as it hears of
  // the end; only the close callback comes later.
  uv_close(reinterpret_cast<uv_handle_t*>(&handle), OnClosed);
}

void RelayPoll::OnClosed(uv_handle_t* handle) {
  RelayPoll* self = static_cast<RelayPoll*>(handle->data);
  RelayLoop* core = self->core;
  delete self;
  core->HandleClosed();
}

void RelayLoop::Close() {
  owner = nullptr;
  if (closing) return;
  closing = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&check), OnOwnHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&idle), OnOwnHandleClosed);
  if (has_async) uv_close(reinterpret_cast<uv_handle_t*>(&async), OnOwnHandleClosed);
}

void RelayLoop::HandleClosed() {
  --open_handles;
  if (owner != nullptr || !closing || open_handles > 0) return;
  if (cleanup != nullptr) napi_remove_async_cleanup_hook(cleanup);
  delete this;
}

void RelayLoop::OnOwnHandleClosed(uv_handle_t* handle) {
  static_cast<RelayLoop*>(handle->data)->HandleClosed();
}

void RelayLoop::OnEnvTeardown(napi_async_cleanup_hook_handle /*hook*/, void* arg) {
  RelayLoop* self = static_cast<RelayLoop*>(arg);
  // Closing the Relay closes every handle; a RelayLoop already closing just has callbacks
  // pending, and Node keeps running the loop until the last one removes this hook.
  if (self->owner != nullptr) {
    self->owner->Release();
  } else {
    self->Close();
  }
}

// ---------------------------------------------------------------------------------------------
// Relay: setup

Napi::Function Relay::Define(Napi::Env env) {
  return DefineClass(env, "Relay",
                     {
                         InstanceMethod<&Relay::Add>("add"),
                         InstanceMethod<&Relay::Remove>("remove"),
                         InstanceMethod<&Relay::Holding>("holding"),
                         InstanceMethod<&Relay::RefJs>("ref"),
                         InstanceMethod<&Relay::UnrefJs>("unref"),
                         InstanceMethod<&Relay::Close>("close"),
                         InstanceAccessor<&Relay::GetClosed>("closed"),
                         InstanceAccessor<&Relay::GetCapacity>("capacity"),
                         InstanceAccessor<&Relay::GetSize>("size"),
                         InstanceAccessor<&Relay::GetBufferSize>("bufferSize"),
                         InstanceAccessor<&Relay::GetBuffered>("buffered"),
                         InstanceAccessor<&Relay::GetSplice>("splice"),
                         InstanceAccessor<&Relay::GetThread>("thread"),
                         InstanceAccessor<&Relay::GetPipeSize>("pipeSize"),
                         InstanceAccessor<&Relay::GetMaxPipes>("maxPipes"),
                         InstanceAccessor<&Relay::GetPipes>("pipes"),
                         InstanceAccessor<&Relay::GetIdlePipes>("idlePipes"),
                         InstanceAccessor<&Relay::GetSpliceFallbacks>("spliceFallbacks"),
                         InstanceAccessor<&Relay::GetBytesSpliced>("bytesSpliced"),
                     });
}

// JS: new Relay({ bufferSize = 16384, capacity = 64, splice = 'auto', pipeSize = 0, maxPipes = 0,
// lastFinByClose = false, thread = false, onEnd(count) }).
Relay::Relay(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Relay>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  // A failed constructor is deleted at once by node-addon-api; the destructor's Release() then
  // undoes whatever was set up.
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "new Relay(options) expects an options object");
    return;
  }
  Napi::Object options = info[0].As<Napi::Object>();
  Napi::Value on_end = options.Get("onEnd");
  if (env.IsExceptionPending()) return;
  if (!on_end.IsFunction()) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "relay onEnd must be a function");
    return;
  }
  int32_t buffer_size, capacity;
  if (!ReadIntOption(env, options, "bufferSize", kDefaultBufferSize, 1, kMaxBufferSize, &buffer_size)) return;
  if (!ReadIntOption(env, options, "capacity", kDefaultCapacity, 1, kMaxCapacity, &capacity)) return;
  if (!ReadBoolOption(env, options, "lastFinByClose", &last_fin_by_close_)) return;
  if (!ReadBoolOption(env, options, "thread", &threaded_)) return;
  int32_t bulk_size;
  if (!ReadIntOption(env, options, "bulkSize", kDefaultBulkSize, 0, kMaxBufferSize, &bulk_size)) return;
  int32_t pipe_size, max_pipes;
  // Up to INT32_MAX like tune.pipesize: the kernel decides what it grants (pipe-max-size for an
  // unprivileged process), and a size it refuses leaves new pipes at its default.
  if (!ReadIntOption(env, options, "pipeSize", 0, 0, INT32_MAX, &pipe_size)) return;
  if (!ReadIntOption(env, options, "maxPipes", 0, 0, INT32_MAX, &max_pipes)) return;
  Napi::Value splice = options.Get("splice");
  if (env.IsExceptionPending()) return;
  if (!splice.IsUndefined()) {
    const std::string mode = splice.IsString() ? splice.As<Napi::String>().Utf8Value() : std::string();
    if (mode != "auto" && mode != "off") {
      ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "relay splice must be 'auto' or 'off'");
      return;
    }
    splice_ = mode == "auto";
  }
  pipe_size_ = pipe_size;
  max_pipes_ = static_cast<uint32_t>(max_pipes);

  buffer_size_ = static_cast<uint32_t>(buffer_size);
  // A bulk size no larger than the buffer would change nothing: off.
  bulk_size_ = bulk_size > buffer_size ? static_cast<uint32_t>(bulk_size) : 0;
  bulk_pool_.reserve(kBulkPoolMax);
  {
    // A splice in that brings less than this means the source's queue was empty at that instant
    // (the copy path's rule for a short recv), unless the pipe itself is smaller.
    const uint32_t capacity_hint = pipe_size_ > 0 ? static_cast<uint32_t>(pipe_size_) : kDefaultPipeCapacity;
    splice_short_ = buffer_size_ < capacity_hint ? buffer_size_ : capacity_hint;
  }
  pipe_pool_.reserve(kPipePoolMax);
  scratch_ = static_cast<uint8_t*>(malloc(buffer_size_));
  if (scratch_ == nullptr) {
    ThrowSystemError(env, ENOMEM, "malloc");
    return;
  }
  pool_.reserve(kPoolMax);

  uv_loop_t* loop = LoopOrThrow(env);
  if (loop == nullptr) return;
  RelayLoop* core = new RelayLoop;
  core->loop = loop;
  // uv_check_init and uv_idle_init cannot fail (they only link the handle into the loop).
  uv_check_init(loop, &core->check);
  uv_idle_init(loop, &core->idle);
  core->check.data = core;
  core->idle.data = core;
  core->open_handles = 2;
  if (napi_add_async_cleanup_hook(env, RelayLoop::OnEnvTeardown, core, &core->cleanup) != napi_ok) {
    core->cleanup = nullptr;
    core->Close();  // frees itself from the close callbacks
    ThrowCodedError(env, "ERR_EPOXY_NO_LOOP", "cannot register the relay's cleanup hook");
    return;
  }
  core->owner = this;
  core_ = core;

  if (!Grow(env, info.This().As<Napi::Object>(), static_cast<size_t>(capacity))) return;
  on_end_ = Napi::Persistent(on_end.As<Napi::Function>());
  async_context_ = new Napi::AsyncContext(env, "epoxy.Relay");
  if (threaded_) {
    const int rc = StartThread();
    if (rc < 0) ThrowSystemError(env, -rc, "relay thread");
  }
}

Relay::~Relay() {
  // Reached from the finalizer when a relay is garbage-collected without close() (never while
  // it has live pairs or undelivered records: it holds a reference then), and after a failed
  // constructor.
  Release();
}

// Gives the relay `capacity` slots (more than it has): new shared arrays holding the old
// contents replace the JS-visible ones, so JS must read relay.bytes/lastActivity/ended afresh
// after add(). Only add() and the constructor call this, never the data path, and never with the
// lock held: allocating the arrays may run a garbage collection (milliseconds), which must not
// stop the relay thread. The lock is taken only to copy and switch.
bool Relay::Grow(Napi::Env env, Napi::Object self, size_t capacity) {
  Napi::Float64Array bytes = Napi::Float64Array::New(env, capacity * 2);
  if (env.IsExceptionPending()) return false;
  Napi::Uint32Array last = Napi::Uint32Array::New(env, capacity);
  if (env.IsExceptionPending()) return false;
  Napi::Int32Array ended = Napi::Int32Array::New(env, capacity * kRecordInts);
  if (env.IsExceptionPending()) return false;
  Napi::Uint8Array fins = Napi::Uint8Array::New(env, capacity);
  if (env.IsExceptionPending()) return false;
  {
    Guard guard(this);
    const size_t old = slots_.size();  // only JS's thread changes it
    if (old > 0) {
      memcpy(fins.Data(), fins_, old);
      memcpy(bytes.Data(), bytes_, old * 2 * sizeof(double));
      memcpy(last.Data(), last_activity_, old * sizeof(uint32_t));
      memcpy(ended.Data(), ended_, ended_ids_.size() * kRecordInts * sizeof(int32_t));
    }
    slots_.resize(capacity);
    free_.reserve(capacity);
    ended_ids_.reserve(capacity);  // every slot ends at most once per delivery: never reallocates
    if (threaded_) {
      // A direction is queued once, but entries of a pair that ended may outlive it by a wake-up.
      resume_.reserve(capacity * 4);
      resume_work_.reserve(capacity * 4);
    }
    for (size_t id = capacity; id > old; --id) free_.push_back(static_cast<int32_t>(id - 1));
    bytes_ = bytes.Data();
    last_activity_ = last.Data();
    ended_ = ended.Data();
    fins_ = fins.Data();
  }
  fins_ref_ = Napi::Persistent(fins);
  self.Set("fins", fins);
  bytes_ref_ = Napi::Persistent(bytes);
  last_activity_ref_ = Napi::Persistent(last);
  ended_ref_ = Napi::Persistent(ended);
  self.Set("bytes", bytes);
  self.Set("lastActivity", last);
  self.Set("ended", ended);
  return !env.IsExceptionPending();
}

void Relay::Release() {
  if (closed_) return;
  closed_ = true;
  StopThread();  // from here on this thread is the only one
  if (core_ != nullptr) {
    for (Slot& slot : slots_) {
      for (int side = 0; side < 2; ++side) {
        if (slot.poll[side] != nullptr) slot.poll[side]->Close();
        slot.poll[side] = nullptr;
      }
    }
    for (RelayPoll*& poll : idle_polls_) {
      if (poll == nullptr) continue;
      // A parked handle's fd number may belong to someone else by now (a net.Socket in this
      // very loop): closing the handle as it is would make libuv delete that fd from its epoll
      // set. With the watcher's fd at -1, libuv's close skips every fd operation (uv__io_stop
      // returns early for -1, and its EPOLL_CTL_DEL of -1 fails harmlessly). The handle is
      // stopped, so libuv holds no other reference to its fd.
      poll->handle.io_watcher.fd = -1;
      poll->Close();
      poll = nullptr;
    }
    core_->Close();
    core_ = nullptr;
  }
  for (Slot& slot : slots_) {
    for (Direction& dir : slot.dir) {
      free(dir.block);
      dir.block = nullptr;
      if (dir.pipe.r >= 0) {
        CloseFd(dir.pipe.r);
        CloseFd(dir.pipe.w);
        dir.pipe = Pipe();
        dir.piped = 0;
      }
    }
  }
  for (uint8_t* block : pool_) free(block);
  pool_.clear();
  for (uint8_t* block : bulk_pool_) free(block);
  bulk_pool_.clear();
  free(bulk_scratch_);
  bulk_scratch_ = nullptr;
  for (const Pipe& pipe : pipe_pool_) {
    CloseFd(pipe.r);
    CloseFd(pipe.w);
  }
  pipe_pool_.clear();
  pipes_used_ = 0;
  free(scratch_);
  scratch_ = nullptr;
  buffered_ = 0;
  live_ = 0;
  ended_ids_.clear();
  fd_slot_.clear();
  idle_polls_.clear();
  delivery_scheduled_ = false;
  resume_.clear();
  if (epfd_ >= 0) CloseFd(epfd_);  // takes every watched fd out of it; the fds stay open
  if (wake_fd_ >= 0) CloseFd(wake_fd_);
  epfd_ = wake_fd_ = -1;
  on_end_.Reset();
  delete async_context_;
  async_context_ = nullptr;
  if (held_) {
    held_ = false;
    Napi::ObjectWrap<Relay>::Unref();
  }
}

// While a pair is live or a record undelivered, JS may hold no reference to the relay at all
// (a session layer that only keeps ids): the relay keeps itself from being collected then.
void Relay::UpdateHold() {
  const bool want = !closed_ && (live_ > 0 || !ended_ids_.empty());
  if (want == held_) return;
  held_ = want;
  if (want) {
    Napi::ObjectWrap<Relay>::Ref();
  } else {
    Napi::ObjectWrap<Relay>::Unref();
  }
}

bool Relay::CheckOpen(Napi::Env env) {
  if (!closed_) return true;
  ThrowCodedError(env, "ERR_EPOXY_HANDLE_CLOSED", "relay is closed");
  return false;
}

// JS: add(fdA, fdB, nonBlocking = false) -> pair id | -errno. The fds are borrowed: the relay
// never closes them. They are made non-blocking unless the caller says they already are (the
// session layer creates every socket with SOCK_NONBLOCK, and the FIONBIO ioctl is a syscall per
// fd). -EBADF for a closed fd, -EPERM for one epoll cannot watch, -EEXIST for one Node's loop
// already watches (a net.Socket's, another relay's).
Napi::Value Relay::Add(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  int32_t fds[2];
  if (!ArgInt(info, 0, "fdA", &fds[0]) || !ArgInt(info, 1, "fdB", &fds[1])) return env.Undefined();
  if (fds[0] < 0 || fds[1] < 0 || fds[0] == fds[1]) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "relay add() needs two different non-negative fds");
    return env.Undefined();
  }
  const bool non_blocking = info.Length() > 2 && info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
  // Nothing that may allocate on the JS heap (and so collect garbage) runs under the lock: the
  // conflict is found under it and thrown after, and Grow takes it itself. Only this thread
  // changes free_ and slots_.size().
  int32_t relayed_fd = -1, relayed_by = -1;
  {
    Guard guard(this);
    for (int32_t fd : fds) {
      if (static_cast<size_t>(fd) < fd_slot_.size() && fd_slot_[fd] >= 0) {
        relayed_fd = fd;
        relayed_by = fd_slot_[fd];
        break;
      }
    }
  }
  if (relayed_fd >= 0) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG",
                    "fd " + std::to_string(relayed_fd) + " is already relayed (pair " + std::to_string(relayed_by) + ")");
    return env.Undefined();
  }
  if (free_.empty()) {
    if (slots_.size() >= static_cast<size_t>(kMaxCapacity)) return Napi::Number::New(env, -ENOSPC);
    size_t capacity = slots_.size() * 2;
    if (capacity > static_cast<size_t>(kMaxCapacity)) capacity = kMaxCapacity;
    if (!Grow(env, Value(), capacity)) return env.Undefined();
  }
  Guard guard(this);
  const int32_t id = free_.back();
  Slot& slot = slots_[id];

  if (threaded_) {
    // The relay thread cannot look at the slot before the guard is released, so it is filled in
    // first and the fds watched last; a refusal (EBADF, EPERM for a file epoll cannot watch)
    // unwinds it.
    if (!non_blocking) {
      for (int32_t fd : fds) {
        int one = 1;
        if (ioctl(fd, FIONBIO, &one) < 0) return Napi::Number::New(env, -errno);
      }
    }
    slot = Slot();
    slot.fd[0] = fds[0];
    slot.fd[1] = fds[1];
    slot.state = kLive;
    int rc = Watch(id, 0);
    if (rc == 0) {
      rc = Watch(id, 1);
      if (rc < 0) Unwatch(fds[0]);
    }
    if (rc < 0) {
      slot = Slot();
      return Napi::Number::New(env, rc);
    }
  } else {
    RelayPoll* polls[2] = {nullptr, nullptr};
    int rc = 0;
    for (int side = 0; side < 2 && rc == 0; ++side) rc = StartPoll(id, side, fds[side], non_blocking, &polls[side]);
    if (rc < 0) {
      for (int side = 0; side < 2; ++side) {
        if (polls[side] != nullptr) ParkPoll(polls[side], fds[side]);
      }
      return Napi::Number::New(env, rc);  // libuv's UV_E* are -errno on Unix
    }
    slot = Slot();
    for (int side = 0; side < 2; ++side) {
      slot.fd[side] = fds[side];
      slot.poll[side] = polls[side];
      slot.mask[side] = UV_READABLE;
    }
    slot.state = kLive;
  }

  free_.pop_back();
  StoreShared(&bytes_[2 * id], 0);
  StoreShared(&bytes_[2 * id + 1], 0);
  StoreShared(&fins_[id], 0);
  StoreShared(&last_activity_[id], static_cast<uint32_t>(uv_now(core_->loop)));
  const size_t top = static_cast<size_t>(fds[0] > fds[1] ? fds[0] : fds[1]);
  if (fd_slot_.size() <= top) fd_slot_.resize(top + 1, -1);
  fd_slot_[fds[0]] = id;
  fd_slot_[fds[1]] = id;
  ++live_;
  UpdateHold();
  UpdateLoopRef();
  return Napi::Number::New(env, id);
}

// Watches `fd` for side `side` of pair `id` with the handle parked for this fd number if there
// is one, a new one otherwise. 0 or -errno; *out is the handle (started) on success.
int Relay::StartPoll(int32_t id, int side, int fd, bool non_blocking, RelayPoll** out) {
  RelayPoll* poll = nullptr;
  if (static_cast<size_t>(fd) < idle_polls_.size() && idle_polls_[fd] != nullptr) {
    poll = idle_polls_[fd];
    idle_polls_[fd] = nullptr;
    // uv_poll_init is skipped, and with it its check that the fd is open and its FIONBIO.
    // The ioctl covers both; a caller that knows its fds are non-blocking skips it, and then a
    // closed fd is found by libuv's epoll_ctl ADD instead, which libuv treats as fatal: only
    // the session layer, whose fds are fresh sockets, passes nonBlocking.
    if (!non_blocking) {
      int one = 1;
      if (ioctl(fd, FIONBIO, &one) < 0) {
        const int err = errno;
        ParkPoll(poll, fd);
        return -err;
      }
    }
  } else {
    poll = new RelayPoll;
    const int rc = uv_poll_init(core_->loop, &poll->handle, fd);
    if (rc < 0) {
      delete poll;  // never initialised, so libuv holds no pointer to it
      return rc;
    }
    poll->handle.data = poll;
    poll->core = core_;
    ++core_->open_handles;
  }
  poll->slot = id;
  poll->side = static_cast<uint8_t>(side);
  if (unref_) {
    uv_unref(reinterpret_cast<uv_handle_t*>(&poll->handle));
  } else {
    uv_ref(reinterpret_cast<uv_handle_t*>(&poll->handle));
  }
  // Starting only queues the interest: libuv adds the fd to its epoll set before it next waits
  // (one EPOLL_CTL_ADD). Quirk: uv_poll_start begins with its own uv__poll_stop, whose
  // uv__platform_invalidate_fd issues an EPOLL_CTL_DEL unconditionally, even for a handle that
  // is stopped already. For a parked handle that DEL fails with ENOENT (the old fd was deleted
  // when the handle was parked, and its number now names a new socket that is in no epoll set):
  // one wasted syscall per side of every new pair (issue 16; bench/relay-syscalls.mjs
  // --per-connection under strace shows 2 epoll_ctl errors per connection). libuv's public API
  // has no start without it; skipping it would mean writing libuv's private bookkeeping (the
  // handle's UV_HANDLE_ACTIVE flag, loop->watcher_queue, loop->watchers[fd]) ourselves, which
  // is not worth one syscall per fd against a libuv upgrade silently breaking it. A relay with
  // its own epoll set (issue 16, part 2) would not have the problem.
  const int rc = uv_poll_start(&poll->handle, UV_READABLE, OnPoll);
  if (rc < 0) {
    poll->Close();
    return rc;
  }
  *out = poll;
  return 0;
}

// Stops a pair's handle and keeps it for the next pair that gets the same fd number. Stopping
// takes the fd out of libuv's epoll set at once (and drops its events still pending in this
// loop turn), so the caller may close the fd right away; a stopped handle is inactive and keeps
// no loop alive. A handle already parked for that number (cannot happen while fd numbers are
// unique among live pairs, but costs nothing to handle) is closed instead.
void Relay::ParkPoll(RelayPoll* poll, int fd) {
  // A handle stopped already (its side at EOF with nothing to send to it) has its fd out of
  // libuv's epoll set: stopping it again would cost a failing EPOLL_CTL_DEL.
  //
  // Quirk: the stop of an active handle is an EPOLL_CTL_DEL (uv__platform_invalidate_fd), and at
  // a pair's end the caller closes the fd right after, which would take it out of the epoll set
  // anyway (once no other descriptor refers to the socket). It is still needed: libuv must
  // forget the watcher (loop->watchers[fd]) before the fd number can be reused by anyone in this
  // loop (a net.Socket, a dgram socket of the DNS resolver, another pair), the relay cannot know
  // the caller will close rather than keep the fd (remove() hands a live socket back), and a
  // descriptor duplicated into a child between fork and exec would keep the socket, and its
  // events, in our epoll set. libuv has no stop without the DEL (see StartPoll).
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(&poll->handle))) uv_poll_stop(&poll->handle);
  poll->slot = -1;
  if (static_cast<size_t>(fd) >= idle_polls_.size()) idle_polls_.resize(static_cast<size_t>(fd) + 1, nullptr);
  if (idle_polls_[fd] != nullptr) {
    poll->Close();
    return;
  }
  idle_polls_[fd] = poll;
}

// JS: remove(id) -> 0 | -ENOENT. Stops relaying the pair now, dropping whatever the relay held
// for it; its record (reason removed) is delivered to onEnd like any other end.
Napi::Value Relay::Remove(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  int32_t id;
  if (!ArgInt(info, 0, "id", &id)) return env.Undefined();
  Guard guard(this);
  if (id < 0 || static_cast<size_t>(id) >= slots_.size() || slots_[id].state != kLive) {
    return Napi::Number::New(env, -ENOENT);
  }
  End(id, kRelayEndRemoved, 0);
  UpdateHold();
  UpdateLoopRef();
  return Napi::Number::New(env, 0);
}

// JS: holding(id): bit 0 while bytes from A wait for B, bit 1 while bytes from B wait for A; 0
// for a pair not live. Lets the session layer tell which side a stalled pair waits for.
Napi::Value Relay::Holding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  int32_t id;
  if (!ArgInt(info, 0, "id", &id)) return env.Undefined();
  Guard guard(this);
  if (id < 0 || static_cast<size_t>(id) >= slots_.size() || slots_[id].state != kLive) {
    return Napi::Number::New(env, 0);
  }
  const Slot& slot = slots_[id];
  int bits = (slot.dir[0].Holding() ? 1 : 0) | (slot.dir[1].Holding() ? 2 : 0);
  return Napi::Number::New(env, bits);
}

// JS: ref()/unref(): whether live pairs keep the process alive (default: they do, like sockets).
Napi::Value Relay::RefJs(const Napi::CallbackInfo& info) {
  if (CheckOpen(info.Env())) SetRef(true);
  return info.Env().Undefined();
}

Napi::Value Relay::UnrefJs(const Napi::CallbackInfo& info) {
  if (CheckOpen(info.Env())) SetRef(false);
  return info.Env().Undefined();
}

// Live pairs' handles and the delivery handles follow; parked handles are stopped (inactive, so
// they keep no loop alive either way) and take the setting when StartPoll restarts them.
void Relay::SetRef(bool ref) {
  unref_ = !ref;
  if (threaded_) {
    Guard guard(this);
    UpdateLoopRef();
    return;
  }
  auto apply = [ref](uv_handle_t* handle) {
    if (ref) {
      uv_ref(handle);
    } else {
      uv_unref(handle);
    }
  };
  for (Slot& slot : slots_) {
    for (RelayPoll* poll : slot.poll) {
      if (poll != nullptr) apply(reinterpret_cast<uv_handle_t*>(&poll->handle));
    }
  }
  apply(reinterpret_cast<uv_handle_t*>(&core_->check));
  apply(reinterpret_cast<uv_handle_t*>(&core_->idle));
}

// JS: close(). Idempotent. Stops every pair without reporting it (no onEnd call ever follows
// close(), and records not yet delivered are dropped: the caller owns the fds and knows its
// pairs); the shared arrays keep their last values. Every other method then throws
// ERR_EPOXY_HANDLE_CLOSED.
Napi::Value Relay::Close(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

Napi::Value Relay::GetClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), closed_);
}

Napi::Value Relay::GetCapacity(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(slots_.size()));
}

Napi::Value Relay::GetSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), Locked([this] { return static_cast<double>(static_cast<double>(live_)); }));
}

Napi::Value Relay::GetBufferSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), buffer_size_);
}

Napi::Value Relay::GetBuffered(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), Locked([this] { return static_cast<double>(static_cast<double>(buffered_)); }));
}

Napi::Value Relay::GetSplice(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), splice_ ? "auto" : "off");
}

Napi::Value Relay::GetThread(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), threaded_);
}

Napi::Value Relay::GetPipeSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), pipe_size_);
}

Napi::Value Relay::GetMaxPipes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), max_pipes_);
}

Napi::Value Relay::GetPipes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), Locked([this] { return static_cast<double>(pipes_used_); }));
}

Napi::Value Relay::GetIdlePipes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), Locked([this] { return static_cast<double>(static_cast<double>(pipe_pool_.size())); }));
}

Napi::Value Relay::GetSpliceFallbacks(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), Locked([this] { return static_cast<double>(splice_fallbacks_); }));
}

Napi::Value Relay::GetBytesSpliced(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), Locked([this] { return static_cast<double>(bytes_spliced_); }));
}

// ---------------------------------------------------------------------------------------------
// The data path. No JS runs here and nothing is allocated, except a block (from the pool first)
// when a send blocks, and a pipe (from the pool first) when a direction turns to splice(2).
// Every function below may end the pair: callers check the slot is still
// live before touching it again.

void Relay::OnPoll(uv_poll_t* handle, int status, int events) {
  RelayPoll* poll = static_cast<RelayPoll*>(handle->data);
  Relay* self = poll->core->owner;
  if (self == nullptr || poll->slot < 0) return;
  self->HandleEvent(poll->slot, poll->side, status, events);
}

void Relay::HandleEvent(int32_t id, int side, int status, int events) {
  Slot& slot = slots_[id];
  if (slot.state != kLive) return;
  if (status < 0) {
    // POLLERR (a reset, typically): libuv has already stopped this handle.
    slot.mask[side] = 0;
    Fail(id, side, PendingError(slot.fd[side]));
    return;
  }
  // Writable first: flushing what waits for this side may re-enable reading the other one.
  if ((events & UV_WRITABLE) != 0) {
    Flush(id, 1 - side);
    if (slot.state != kLive) return;
  }
  if ((events & UV_READABLE) != 0 && !slot.dir[side].eof && !slot.dir[side].Holding()) {
    Pump(id, side);
    if (slot.state != kLive) return;
  }
  AfterIo(id);
}

// After a live pair's I/O: ends it once both FINs went through, otherwise brings its interest
// up to date.
void Relay::AfterIo(int32_t id) {
  Slot& slot = slots_[id];
  if (slot.dir[0].shut && slot.dir[1].shut) {
    End(id, kRelayEndClosed, 0);
    return;
  }
  UpdateInterest(id);
}

// Reads direction d's source and forwards to its destination until the source has nothing more
// at that instant, the destination blocks, or kMaxReadsPerWake reads went through.
//
// Two modes per direction, chosen afresh on every wake ("auto", like HAProxy's splice-auto):
// - copy: recv into the shared scratch buffer, send at once. A wake starts here (unless the last
//   one ran out of budget while splicing), so a keep-alive message costs one recv and one send
//   and needs no pipe.
// - splice: socket -> pipe -> socket with splice(2), the bytes never copied to user space. Taken
//   when a recv fills the whole scratch buffer (the source had more than a buffer's worth: bulk)
//   and left, returning the pipe to the pool, when the source is drained and the pipe empty, so
//   an idle pair holds no pipe (2 fds). A pipe stays with a direction across wakes only while it
//   holds bytes its destination would not take yet; those count in `buffered` and stop the
//   source exactly as a blocked block does.
void Relay::Pump(int32_t id, int d) {
  Slot& slot = slots_[id];
  Direction& dir = slot.dir[d];
  const int src = d;
  // A pipe was refused during this wake (maxPipes reached, EMFILE...): do not ask again until
  // the next one, each refusal costing a pipe2() that fails.
  bool refused = false;
  if (dir.streaming && dir.pipe.r < 0 && CanSplice(slot)) {
    // The last wake ended on its budget while splicing: more was waiting, go straight to splice.
    if (!TakePipe(dir)) {
      refused = true;
      ++splice_fallbacks_;
    }
  }
  dir.streaming = false;
  uint8_t* buf = scratch_;
  uint32_t ask = buffer_size_;
  for (int i = 0; i < kMaxReadsPerWake; ++i) {
    ssize_t n;
    if (dir.pipe.r >= 0) {
      // Splice mode; the pipe is empty here (the source is not read while it holds bytes).
      do {
        n = splice(slot.fd[src], nullptr, dir.pipe.w, nullptr, kSpliceAsk, kSpliceFlags);
      } while (n < 0 && errno == EINTR);
      if (n < 0) {
        const int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK) {
          GivePipe(dir);
          return;
        }
        if (err == EINVAL || err == ENOSYS) {
          // This source cannot splice (a socket family without splice_read on an older kernel):
          // nothing was moved, so copy mode takes over for the rest of the pair's life.
          slot.no_splice = true;
          GivePipe(dir);
          continue;
        }
        Fail(id, src, err);
        return;
      }
      if (n == 0) {
        GivePipe(dir);
        dir.eof = true;
        StoreShared(&fins_[id], static_cast<uint8_t>(fins_[id] | (1u << d)));
        ForwardEof(id, d);
        return;
      }
      dir.piped = static_cast<uint32_t>(n);
      buffered_ += dir.piped;
      if (!SpliceOut(id, d)) return;  // the destination blocked (the pipe keeps the rest) or failed
      if (static_cast<uint32_t>(n) < splice_short_ && !dir.fin_pending) {
        // The source's queue was empty at that instant (as for a short recv below); new data
        // makes it readable again, and that wake starts in copy mode.
        GivePipe(dir);
        return;
      }
      continue;
    }
    do {
      n = recv(slot.fd[src], buf, ask, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      Fail(id, src, errno);
      return;
    }
    if (n == 0) {
      dir.eof = true;
      // Published for the session layer's client-fin/server-fin timeouts (HAProxy's: a
      // half-closed side gets its own, usually shorter, inactivity timeout).
      StoreShared(&fins_[id], static_cast<uint8_t>(fins_[id] | (1u << d)));
      ForwardEof(id, d);
      return;
    }
    if (!Forward(id, d, buf, static_cast<uint32_t>(n), buf != scratch_)) return;
    // Less than asked: the receive queue was empty at that instant, and new data makes the fd
    // readable again. Reading on to EAGAIN would cost one more recv per message. (Unless a FIN
    // was seen waiting: then the next recv returns it.)
    if (static_cast<uint32_t>(n) < ask && !dir.fin_pending) return;
    // A full buffer: bulk data. Splice the rest if a pipe can be had; otherwise copy on, in
    // bulk-sized reads when there are any.
    if (!refused && CanSplice(slot) && !TakePipe(dir)) {
      refused = true;
      ++splice_fallbacks_;
    }
    if (dir.pipe.r < 0 && buf == scratch_ && bulk_size_ > 0) {
      if (bulk_scratch_ == nullptr) bulk_scratch_ = static_cast<uint8_t*>(malloc(bulk_size_));
      if (bulk_scratch_ != nullptr) {  // no memory for it: copy on in buffer-sized reads
        buf = bulk_scratch_;
        ask = bulk_size_;
      }
    }
  }
  if (dir.pipe.r >= 0) {
    // Out of budget in splice mode: the fd is most likely still readable. The empty pipe goes
    // back to the pool (no pair holds one between wakes without bytes in it).
    dir.streaming = true;
    GivePipe(dir);
  }
  // Out of budget. Level-triggered, the fd wakes the next loop turn by itself; edge-triggered
  // (thread mode) nothing will report it again, so it is queued to be read after this wake-up.
  if (threaded_ && !slot.resume[d]) {
    slot.resume[d] = true;
    resume_.push_back(static_cast<uint64_t>(id) << 1 | static_cast<uint64_t>(d));
  }
}

// Splices what direction d's pipe holds to its destination; true when the pipe is empty. As for
// a partial send, a partial splice is not retried at once: the rest waits, counted in
// `buffered`, the source is no longer read and the destination is watched for writable.
//
// SIGPIPE: unlike send(), splice() has no MSG_NOSIGNAL, and splicing to a socket whose peer has
// gone raises SIGPIPE. Node ignores SIGPIPE at startup (as HAProxy does), so the relay sees
// EPIPE like send() returns it; an embedder that restores SIGPIPE's default must not use splice.
bool Relay::SpliceOut(int32_t id, int d) {
  Slot& slot = slots_[id];
  Direction& dir = slot.dir[d];
  const int dst = 1 - d;
  ssize_t n;
  do {
    n = splice(dir.pipe.r, nullptr, slot.fd[dst], nullptr, dir.piped, kSpliceFlags);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    // EINVAL here would mean a destination without splice_write; every socket has one, and
    // send() would refuse anything else (ENOTSOCK), so it is an error of the destination too.
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      Fail(id, dst, errno);
      return false;
    }
    n = 0;
  }
  if (n > 0) {
    Account(id, d, static_cast<uint32_t>(n));
    dir.piped -= static_cast<uint32_t>(n);
    buffered_ -= static_cast<uint64_t>(n);
    bytes_spliced_ += static_cast<double>(n);
  }
  return dir.piped == 0;
}

// A pipe for direction `dir`, from the pool or new; false when none can be had: maxPipes pipes
// are held already, or pipe2() failed (EMFILE, ENFILE, ENOMEM). The direction then copies.
bool Relay::TakePipe(Direction& dir) {
  if (max_pipes_ != 0 && pipes_used_ >= max_pipes_) return false;
  if (!pipe_pool_.empty()) {
    dir.pipe = pipe_pool_.back();
    pipe_pool_.pop_back();
  } else {
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) return false;
    if (pipe_size_ > 0 && fcntl(fds[1], F_SETPIPE_SZ, pipe_size_) < 0) {
      // EPERM above /proc/sys/fs/pipe-max-size without CAP_SYS_RESOURCE, EBUSY/ENOMEM: the pipe
      // keeps the kernel's default size, which only means more splices per MiB.
    }
    dir.pipe.r = fds[0];
    dir.pipe.w = fds[1];
  }
  dir.piped = 0;
  ++pipes_used_;
  return true;
}

// Returns direction `dir`'s pipe: to the pool when it is empty and the pool has room, otherwise
// closed (bytes still in it are dropped: only a pair's end gives back a pipe that holds any).
void Relay::GivePipe(Direction& dir) {
  if (dir.pipe.r < 0) return;
  if (dir.piped == 0 && pipe_pool_.size() < kPipePoolMax) {
    pipe_pool_.push_back(dir.pipe);  // reserved at construction: no allocation
  } else {
    CloseFd(dir.pipe.r);
    CloseFd(dir.pipe.w);
  }
  dir.pipe = Pipe();
  dir.piped = 0;
  --pipes_used_;
}

// One send of freshly read bytes; true when all went. A partial send means the destination's
// buffer is full (a second send would almost surely fail with EAGAIN): the rest waits in a block,
// the source is no longer read, and the destination is watched for writable.
bool Relay::Forward(int32_t id, int d, const uint8_t* data, uint32_t length, bool bulk) {
  Slot& slot = slots_[id];
  const int dst = 1 - d;
  ssize_t n;
  do {
    n = send(slot.fd[dst], data, length, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      Fail(id, dst, errno);
      return false;
    }
    n = 0;
  }
  if (n > 0) Account(id, d, static_cast<uint32_t>(n));
  const uint32_t sent = static_cast<uint32_t>(n);
  if (sent == length) return true;
  // The rest of a bulk read may not fit an ordinary block.
  const bool bulk_block = bulk && length - sent > buffer_size_;
  uint8_t* block = TakeBlock(bulk_block);
  if (block == nullptr) {
    // The bytes cannot be kept: the pair cannot go on without losing data, so it ends as an
    // error of the side that would not take them.
    Fail(id, dst, ENOMEM);
    return false;
  }
  Direction& dir = slot.dir[d];
  memcpy(block, data + sent, length - sent);
  dir.block = block;
  dir.bulk_block = bulk_block;
  dir.offset = 0;
  dir.length = length - sent;
  buffered_ += dir.length;
  return false;
}

// Direction d's destination is writable: sends what waits; once drained, reads the source again
// at once (it was stopped because data kept coming, so more is most likely there).
void Relay::Flush(int32_t id, int d) {
  Slot& slot = slots_[id];
  Direction& dir = slot.dir[d];
  if (dir.piped > 0) {
    // The pipe keeps its direction in splice mode: Pump goes on splicing with it.
    if (SpliceOut(id, d)) Pump(id, d);
    return;
  }
  if (dir.block == nullptr) return;
  const int dst = 1 - d;
  ssize_t n;
  do {
    n = send(slot.fd[dst], dir.block + dir.offset, dir.length - dir.offset, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    Fail(id, dst, errno);
    return;
  }
  Account(id, d, static_cast<uint32_t>(n));
  dir.offset += static_cast<uint32_t>(n);
  buffered_ -= static_cast<uint64_t>(n);
  if (dir.offset < dir.length) return;
  GiveBlock(dir.block, dir.bulk_block);
  dir.block = nullptr;
  dir.offset = dir.length = 0;
  if (dir.eof) {
    ForwardEof(id, d);
  } else {
    Pump(id, d);
  }
}

// Direction d's source sent FIN: once nothing waits for its destination, forward it.
void Relay::ForwardEof(int32_t id, int d) {
  Slot& slot = slots_[id];
  Direction& dir = slot.dir[d];
  if (dir.shut || dir.Holding()) return;
  const int dst = 1 - d;
  if (last_fin_by_close_ && slot.dir[dst].shut) {
    // The other direction is finished, so this FIN ends the pair, and the caller closes both fds
    // at once: the close sends this FIN (nothing is left unread on either fd), which saves a
    // syscall per connection. HAProxy too closes rather than shuts when both sides are done.
    dir.shut = true;
    return;
  }
  if (shutdown(slot.fd[dst], SHUT_WR) < 0) {
    // ENOTCONN: the destination was reset meanwhile.
    Fail(id, dst, errno);
    return;
  }
  dir.shut = true;
}

// Brings each side's libuv interest in line with the pair's state. In steady state nothing
// changes, and libuv issues no epoll_ctl; a change costs one (or two: libuv's uv_poll_start
// deletes and re-adds the fd). The common change is a side at EOF with nothing to send to it:
// its handle is stopped (one EPOLL_CTL_DEL) because a socket at EOF stays readable, and a
// level-triggered epoll would wake the loop for it on every turn until the pair ends.
void Relay::UpdateInterest(int32_t id) {
  if (threaded_) return;  // edge-triggered, every event watched from add() to the end
  Slot& slot = slots_[id];
  for (int side = 0; side < 2; ++side) {
    int want = 0;
    if (!slot.dir[side].eof && !slot.dir[side].Holding()) want |= UV_READABLE;
    if (slot.dir[1 - side].Holding()) want |= UV_WRITABLE;
    if (want == slot.mask[side]) continue;
    const int rc = want == 0 ? uv_poll_stop(&slot.poll[side]->handle)
                             : uv_poll_start(&slot.poll[side]->handle, want, OnPoll);
    if (rc < 0) {
      Fail(id, side, -rc);
      return;
    }
    slot.mask[side] = want;
  }
}

// An error on `side`: the other fd gets SO_LINGER {1, 0}, so that closing it sends an RST and
// the abort travels on to that peer, as a reset would have through a plain connection.
void Relay::Fail(int32_t id, int side, int err) {
  Slot& slot = slots_[id];
  const struct linger abort = {1, 0};
  if (setsockopt(slot.fd[1 - side], SOL_SOCKET, SO_LINGER, &abort, sizeof abort) < 0) {
    // EBADF/ENOTSOCK: the other fd is unusable as well, and its close has no RST to send
    // anyway. The end is reported with the error that caused it either way.
  }
  End(id, side == 0 ? kRelayEndResetA : kRelayEndResetB, err);
}

void Relay::End(int32_t id, int32_t reason, int32_t err) {
  Slot& slot = slots_[id];
  if (threaded_ && reason == kRelayEndRemoved) {
    // remove() hands live sockets back to the caller, who may watch them elsewhere. A pair that
    // ended by itself keeps its fds in the set: the caller is about to close them (which takes
    // them out), and an edge-triggered fd reports nothing more of itself until something new
    // happens to it, which the thread then ignores (ThreadMain).
    Unwatch(slot.fd[0]);
    Unwatch(slot.fd[1]);
  }
  slot.resume[0] = slot.resume[1] = false;  // queued entries are skipped as not live
  for (int side = 0; side < 2; ++side) {
    if (slot.poll[side] != nullptr) ParkPoll(slot.poll[side], slot.fd[side]);
    slot.poll[side] = nullptr;
    slot.mask[side] = 0;
    if (fd_slot_[slot.fd[side]] == id) fd_slot_[slot.fd[side]] = -1;
  }
  for (Direction& dir : slot.dir) {
    // A pipe still holding bytes is closed (its bytes are dropped with the pair), an empty one
    // pooled.
    buffered_ -= dir.piped;
    GivePipe(dir);
    dir.streaming = false;
    if (dir.block == nullptr) continue;
    buffered_ -= dir.length - dir.offset;
    GiveBlock(dir.block, dir.bulk_block);
    dir.block = nullptr;
  }
  slot.state = kEnded;
  --live_;
  const size_t n = ended_ids_.size();
  ended_[kRecordInts * n] = id;
  ended_[kRecordInts * n + 1] = reason;
  ended_[kRecordInts * n + 2] = err;
  ended_ids_.push_back(id);
  ScheduleDelivery();
  if (!threaded_) UpdateHold();  // otherwise from JS's thread: remove(), or the delivery
}

void Relay::Account(int32_t id, int d, uint32_t n) {
  StoreShared(&bytes_[2 * id + d], bytes_[2 * id + d] + n);
  StoreShared(&last_activity_[id], Now());
}

// The tick of the current wake-up. In the loop, libuv's loop time, read once per loop turn
// (vDSO, no syscall): what nowTick() returns. On the relay thread, the same monotonic clock read
// once per wake-up (see ThreadMain): it can be a little ahead of the loop's cached time, and JS
// treats a stamp after its `now` as no idle time at all.
uint32_t Relay::Now() const {
  return threaded_ ? now_ : static_cast<uint32_t>(uv_now(core_->loop));
}

uint8_t* Relay::TakeBlock(bool bulk) {
  std::vector<uint8_t*>& pool = bulk ? bulk_pool_ : pool_;
  if (!pool.empty()) {
    uint8_t* block = pool.back();
    pool.pop_back();
    return block;
  }
  return static_cast<uint8_t*>(malloc(bulk ? bulk_size_ : buffer_size_));  // null if it failed
}

void Relay::GiveBlock(uint8_t* block, bool bulk) {
  std::vector<uint8_t*>& pool = bulk ? bulk_pool_ : pool_;
  if (pool.size() < (bulk ? kBulkPoolMax : kPoolMax)) {
    pool.push_back(block);  // reserved at construction: no allocation
  } else {
    free(block);
  }
}

// ---------------------------------------------------------------------------------------------
// onEnd delivery: records written by End() reach JS once per loop turn, from the check phase
// (right after the poll phase that ended them). The idle handle only keeps libuv from sleeping
// while records wait, for ends that happen outside the poll phase (remove() from a timer or from
// a setImmediate callback, after this turn's check phase).

void Relay::ScheduleDelivery() {
  if (core_ == nullptr) return;
  if (threaded_) {
    // Inside a wake-up of the thread, the ends of the whole wake-up are announced once, at its
    // end: a send per end would wake Node's thread in the middle of the batch, and on a core the
    // two threads share, switch to it and back for every end. Otherwise (remove(), from JS) now.
    // libuv coalesces the sends until the callback runs (no eventfd write while one is pending).
    if (in_thread_wake_) {
      ends_to_announce_ = true;
    } else {
      uv_async_send(&core_->async);
    }
    return;
  }
  if (delivery_scheduled_) return;
  delivery_scheduled_ = true;
  // Neither can fail on a handle that is not closing, and core_ is not closing while we exist.
  uv_check_start(&core_->check, OnCheck);
  uv_idle_start(&core_->idle, OnIdle);
}

void Relay::OnCheck(uv_check_t* handle) {
  RelayLoop* core = static_cast<RelayLoop*>(handle->data);
  if (core->owner != nullptr) core->owner->Deliver();
}

void Relay::OnIdle(uv_idle_t* handle) {
  RelayLoop* core = static_cast<RelayLoop*>(handle->data);
  if (core->owner != nullptr) core->owner->Deliver();
}

void Relay::OnAsync(uv_async_t* handle) {
  RelayLoop* core = static_cast<RelayLoop*>(handle->data);
  if (core->owner != nullptr) core->owner->Deliver();
}

void Relay::Deliver() {
  if (closed_ || delivering_) return;
  size_t n;
  {
    Guard guard(this);
    if (!threaded_) {
      delivery_scheduled_ = false;
      uv_check_stop(&core_->check);
      uv_idle_stop(&core_->idle);
    }
    n = ended_ids_.size();
    if (n == 0) return;
  }
  // Without the guard: onEnd may call add() and remove(). Meanwhile the relay thread only
  // appends records after the first n, which it announces with another async send.
  Napi::Env env(env_);
  Napi::HandleScope scope(env);
  delivering_ = true;
  CallIntoJs(env, *async_context_, Value(), on_end_.Value(), static_cast<double>(n));
  delivering_ = false;
  if (closed_) return;  // onEnd (or an uncaughtException handler) closed the relay
  Guard guard(this);
  // The delivered slots are reusable from now on; JS read their counters in onEnd.
  for (size_t i = 0; i < n; ++i) {
    const int32_t id = ended_ids_[i];
    slots_[id].state = kFree;
    free_.push_back(id);
  }
  // Records of pairs that ended during the call (remove() from onEnd) wait for the next turn.
  const size_t rest = ended_ids_.size() - n;
  if (rest > 0) {
    memmove(ended_, ended_ + kRecordInts * n, rest * kRecordInts * sizeof(int32_t));
    memmove(ended_ids_.data(), ended_ids_.data() + n, rest * sizeof(int32_t));
  }
  ended_ids_.resize(rest);
  if (rest > 0) ScheduleDelivery();
  UpdateHold();
  UpdateLoopRef();
}

// ---------------------------------------------------------------------------------------------
// Thread mode: the data path above on a thread of its own, around its own epoll set.
//
// Why: in Node's loop every wake-up of the relay is a turn of libuv and of Node (timers, check
// and idle phases, the per-turn bookkeeping that allocates; issue 16 measured ~113 B of JS heap
// per keep-alive request from it), and each pair costs uv_poll's DEL-before-ADD epoll_ctls. Here a
// wake-up is one epoll_wait, the recv/send it calls for, and one uncontended lock; a pair costs
// its two EPOLL_CTL_ADDs and nothing after; and JS is woken only to hear of ended pairs, in
// batches. JS's own work (accepting, connecting, its timers and garbage collection) no longer
// delays bytes of pairs already relayed.

int Relay::StartThread() {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) return -errno;
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return -errno;
  struct epoll_event wake = {};
  wake.events = EPOLLIN;
  wake.data.u64 = kWakeToken;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, wake_fd_, &wake) < 0) return -errno;
  const int rc = uv_async_init(core_->loop, &core_->async, OnAsync);
  if (rc < 0) return rc;
  core_->async.data = core_;
  core_->has_async = true;
  ++core_->open_handles;
  uv_unref(reinterpret_cast<uv_handle_t*>(&core_->async));  // until a pair is added
  // The thread starts with every signal blocked (it inherits the mask): signals are Node's, and
  // its handlers run on its own thread.
  sigset_t all, old;
  sigfillset(&all);
  int err = pthread_sigmask(SIG_SETMASK, &all, &old);
  if (err != 0) return -err;
  err = pthread_create(&thread_, nullptr, ThreadEntry, this);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);  // restores what was just read: cannot fail
  if (err != 0) return -err;
  thread_started_ = true;
  return 0;
}

// Joins the relay thread; the caller then owns every member again. Only from JS's thread.
void Relay::StopThread() {
  if (!thread_started_) return;
  {
    Guard guard(this);
    stop_ = true;
  }
  const uint64_t one = 1;
  if (write(wake_fd_, &one, sizeof one) < 0) {
    // EAGAIN only if the counter were at its maximum, which would mean it is readable already:
    // the thread is woken either way.
  }
  pthread_join(thread_, nullptr);  // a joinable thread of ours, joined once: cannot fail
  thread_started_ = false;
}

void* Relay::ThreadEntry(void* arg) {
  pthread_setname_np(pthread_self(), "epoxy-relay");  // shown by top -H and perf; best effort
  // SCHED_BATCH: a woken relay thread does not preempt a running thread of its core, it waits
  // for that thread to sleep (or for the tick). With the relay and Node's thread on one core (a
  // pinned proxy, a busy machine), each new pair would otherwise switch to the relay thread in
  // the middle of Node's accept batch and back: measured, 55,000-74,000 context switches per 5 s
  // of one-request connections against 3,300-22,000 with it, and 1.06x HAProxy's CPU per
  // connection against 1.16x (BENCHMARKS.md). An idle core runs it at once either way. Best
  // effort: any thread may choose SCHED_BATCH, and if it is refused the relay works the same.
  struct sched_param param = {};
  param.sched_priority = 0;
  pthread_setschedparam(pthread_self(), SCHED_BATCH, &param);
  static_cast<Relay*>(arg)->ThreadMain();
  return nullptr;
}

void Relay::ThreadMain() {
  struct epoll_event events[kThreadEvents];
  bool more = false;  // directions wait on resume_: look for new events without sleeping
  for (;;) {
    const int n = epoll_wait(epfd_, events, kThreadEvents, more ? 0 : -1);
    if (n < 0 && errno != EINTR) {
      // Only EBADF/EFAULT/EINVAL, i.e. a bug: stop relaying rather than spin. JS sees pairs
      // that no longer move and ends them by its timeouts; the errno is kept for a debugger.
      Guard guard(this);
      thread_errno_ = errno;
      return;
    }
    Guard guard(this);
    if (stop_) return;
    in_thread_wake_ = true;
    // uv_hrtime() is CLOCK_MONOTONIC, the clock of libuv's loop time (uv_now) as well.
    now_ = static_cast<uint32_t>(uv_hrtime() / 1000000);
    for (int i = 0; i < n; ++i) {
      const uint64_t data = events[i].data.u64;
      if (data == kWakeToken) continue;  // only written to stop the thread: stop_ said so
      const int32_t id = static_cast<int32_t>(static_cast<uint32_t>(data) >> 1);
      const int side = static_cast<int>(data & 1);
      const int32_t fd = static_cast<int32_t>(data >> 32);
      if (static_cast<size_t>(id) >= slots_.size()) continue;
      const Slot& slot = slots_[id];
      // An fd of a pair that ended by itself stays in the set until its owner closes it (End):
      // what it reports then is no one's business. Nor is an event that epoll_wait returned
      // while JS, holding the lock, removed its pair or added a new one in its slot.
      if (slot.state != kLive || slot.fd[side] != fd) continue;
      HandleEpollEvent(id, side, events[i].events);
    }
    Resume();
    more = !resume_.empty();
    in_thread_wake_ = false;
    if (ends_to_announce_) {
      ends_to_announce_ = false;
      uv_async_send(&core_->async);
    }
  }
}

void Relay::HandleEpollEvent(int32_t id, int side, uint32_t events) {
  Slot& slot = slots_[id];
  if ((events & EPOLLERR) != 0) {
    // A reset, typically; as in the loop mode (libuv stops the handle and reports UV_EBADF on
    // POLLERR), the pair ends with the socket's own error.
    Fail(id, side, PendingError(slot.fd[side]));
    return;
  }
  // EPOLLHUP: both halves of the socket are shut; what is left to read, then EOF, is readable.
  if ((events & (EPOLLRDHUP | EPOLLHUP)) != 0) slot.dir[side].fin_pending = true;
  if ((events & (EPOLLOUT | EPOLLHUP)) != 0) {
    Flush(id, 1 - side);
    if (slot.state != kLive) return;
  }
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) != 0 && !slot.dir[side].eof && !slot.dir[side].Holding()) {
    Pump(id, side);
    if (slot.state != kLive) return;
  }
  AfterIo(id);
}

// Reads on the directions that ran out of budget during the last wake-up (Pump queued them).
void Relay::Resume() {
  if (resume_.empty()) return;
  resume_work_.swap(resume_);  // both reserved (Grow): Pump's push_back below never allocates
  for (const uint64_t entry : resume_work_) {
    const int32_t id = static_cast<int32_t>(entry >> 1);
    const int d = static_cast<int>(entry & 1);
    Slot& slot = slots_[id];
    // Not live, or not queued any more: the pair ended, or its slot was reused by then.
    if (slot.state != kLive || !slot.resume[d]) continue;
    slot.resume[d] = false;
    if (slot.dir[d].eof || slot.dir[d].Holding()) continue;
    Pump(id, d);
    if (slot.state == kLive) AfterIo(id);
  }
  resume_work_.clear();
}

// Watches side `side` of live pair `id` in the thread's set. 0 or -errno.
int Relay::Watch(int32_t id, int side) {
  const int fd = slots_[id].fd[side];
  struct epoll_event event = {};
  event.events = kPairEvents;
  event.data.u64 = static_cast<uint64_t>(static_cast<uint32_t>(fd)) << 32 | static_cast<uint64_t>(id) << 1 |
                   static_cast<uint64_t>(side);
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &event) == 0) return 0;
  if (errno != EEXIST) return -errno;
  // Still in the set from an earlier pair that ended by itself and was not closed (End leaves
  // such fds in): MOD gives it this pair's data and, like ADD, reports at once what is ready.
  if (epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &event) == 0) return 0;
  return -errno;
}

void Relay::Unwatch(int fd) {
  if (epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr) < 0) {
    // ENOENT/EBADF: not in the set (any more); there is nothing of ours to take out.
  }
}

// Thread mode: the async handle keeps Node's loop alive while pairs are live or records wait,
// the way the loop mode's uv_poll handles do, unless the user said unref(). JS's thread only.
void Relay::UpdateLoopRef() {
  if (!threaded_ || core_ == nullptr || !core_->has_async) return;
  uv_handle_t* handle = reinterpret_cast<uv_handle_t*>(&core_->async);
  if (!unref_ && (live_ > 0 || !ended_ids_.empty())) {
    uv_ref(handle);
  } else {
    uv_unref(handle);
  }
}

// ---------------------------------------------------------------------------------------------

namespace {

// JS: nowTick() -> the loop's time in ms, truncated to 32 bits: the clock of `lastActivity`.
// (uv_now(), read once per loop turn; performance.now() counts from process start instead.)
Napi::Value NowTick(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uv_loop_t* loop = LoopOrThrow(env);
  if (loop == nullptr) return env.Undefined();
  return Napi::Number::New(env, static_cast<uint32_t>(uv_now(loop)));
}

// libuv versions whose private uv__loop_internal_fields_t starts with `unsigned int flags`
// holding UV_METRICS_IDLE_TIME: from 1.39 (which introduced it) to 1.52, checked in libuv's
// src/uv-common.h of each release. A libuv outside this range is left alone.
constexpr unsigned int kIdleMetricsFirstVersion = (1 << 16) | (39 << 8);
constexpr unsigned int kIdleMetricsLastVersion = (1 << 16) | (52 << 8) | 0xff;

// JS: setLoopIdleMetrics(enabled) -> whether the loop now does what was asked.
//
// Node configures its loops with UV_METRICS_IDLE_TIME (for performance.eventLoopUtilization()),
// and libuv then polls twice whenever it is about to sleep: epoll_wait(timeout 0) first, to tell
// events that were already waiting from ones it waited for, then the real epoll_wait. A relay
// woken from idle pays two epoll_waits per message instead of one (8 syscalls per forwarded
// request/response instead of 6; docs/relay.md). libuv can turn the option on but not off, so
// `false` clears the bit in libuv's private loop fields; eventLoopUtilization() then stops
// counting idle time (it reports the loop as fully busy). `true` uses the public
// uv_loop_configure().
Napi::Value SetLoopIdleMetrics(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBoolean()) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "setLoopIdleMetrics(enabled) expects a boolean");
    return env.Undefined();
  }
  const bool enabled = info[0].As<Napi::Boolean>().Value();
  uv_loop_t* loop = LoopOrThrow(env);
  if (loop == nullptr) return env.Undefined();
  if (enabled) return Napi::Boolean::New(env, uv_loop_configure(loop, UV_METRICS_IDLE_TIME) == 0);
  const unsigned int version = uv_version();
  if (version < kIdleMetricsFirstVersion || version > kIdleMetricsLastVersion || loop->internal_fields == nullptr) {
    return Napi::Boolean::New(env, false);
  }
  unsigned int* flags = static_cast<unsigned int*>(loop->internal_fields);
  *flags &= ~static_cast<unsigned int>(UV_METRICS_IDLE_TIME);
  return Napi::Boolean::New(env, true);
}

Napi::Object RelayConstants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  c.Set("END_CLOSED", static_cast<double>(kRelayEndClosed));
  c.Set("END_RESET_A", static_cast<double>(kRelayEndResetA));
  c.Set("END_RESET_B", static_cast<double>(kRelayEndResetB));
  c.Set("END_REMOVED", static_cast<double>(kRelayEndRemoved));
  c.Set("RECORD_INTS", static_cast<double>(kRecordInts));
  c.Set("DEFAULT_BUFFER_SIZE", static_cast<double>(kDefaultBufferSize));
  c.Set("DEFAULT_BULK_SIZE", static_cast<double>(kDefaultBulkSize));
  return c;
}

}  // namespace

void InitRelay(Napi::Env env, Napi::Object exports) {
  exports.Set("Relay", Relay::Define(env));
  exports.Set("relayConstants", RelayConstants(env));
  exports.Set("nowTick", Napi::Function::New(env, NowTick, "nowTick"));
  exports.Set("setLoopIdleMetrics", Napi::Function::New(env, SetLoopIdleMetrics, "setLoopIdleMetrics"));
}

}  // namespace epoxy
