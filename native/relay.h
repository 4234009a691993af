// Relay: moves bytes between pairs of connected stream sockets entirely in native code.
//
// Each fd of a pair has its own uv_poll_t in Node's libuv loop, so libuv's one epoll_wait calls
// the relay directly and a forwarded message costs one recv and one send: no private epoll set,
// no JS call. Interest is kept stable in steady state (UV_READABLE only), so libuv issues no
// epoll_ctl per message; UV_WRITABLE is added only while a send is blocked. The relay borrows
// both fds (never closes them), owns only its buffers and pipes, and reports how each pair ended
// once. Bulk transfers move through a pipe with splice(2) instead of the scratch buffer (adaptive,
// per direction: see Relay::Pump). docs/relay.md describes the design and the measured costs.
//
// With `thread: true` the same data path runs on a thread of its own instead, around its own
// edge-triggered epoll set (see Relay::ThreadMain): Node's loop then wakes only to hear of ended
// pairs, which the thread hands over in batches through a uv_async_t.
#pragma once

#include <napi.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <uv.h>

#include <vector>

namespace epoxy {

class Relay;
struct RelayLoop;

// Why a pair ended, the second field of each `ended` record. Never 0, so a zeroed record is
// recognisably not one.
enum RelayEnd : int32_t {
  kRelayEndClosed = 1,  // both directions finished normally: FIN each way, each forwarded
  kRelayEndResetA = 2,  // recv/send error on A (ECONNRESET, EPIPE...): B gets SO_LINGER {1,0}
  kRelayEndResetB = 3,  // recv/send error on B: A gets SO_LINGER {1,0}
  kRelayEndRemoved = 4,  // remove(id) stopped it
};

// The uv_poll_t of one fd of one pair. Allocated at add() and freed by its close callback, which
// libuv runs on a later loop turn: a slot can then be reused at once, and a relay that is gone
// leaves its handles to finish closing on their own.
struct RelayPoll {
  uv_poll_t handle;
  RelayLoop* core = nullptr;
  int32_t slot = -1;
  uint8_t side = 0;  // 0: A, 1: B

  void Close();
  static void OnClosed(uv_handle_t* handle);
};

// Everything libuv holds a pointer to, kept apart from the Relay because it must outlive it
// (the same discipline as Poller's Watcher): the check and idle handles that deliver `onEnd`, and
// the count of RelayPoll handles still open. Its async cleanup hook holds the environment's
// teardown (and so the addon's unloading) until the last close callback has run.
struct RelayLoop {
  uv_loop_t* loop = nullptr;
  uv_check_t check;  // delivers ended records after the poll phase of the same loop turn
  uv_idle_t idle;    // keeps the loop from sleeping while records wait (e.g. after remove())
  uv_async_t async;  // thread mode only: the relay thread's "records wait" (and remove()'s)
  bool has_async = false;  // `async` was initialised (thread mode)
  Relay* owner = nullptr;                            // null once the Relay is gone
  napi_async_cleanup_hook_handle cleanup = nullptr;  // removed when the last handle has closed
  size_t open_handles = 0;  // initialised handles whose close callback has not run yet
  bool closing = false;     // check and idle are closing: no handle of ours will be added

  // Closes check and idle (once); the RelayLoop frees itself once every handle has closed.
  void Close();
  void HandleClosed();
  static void OnOwnHandleClosed(uv_handle_t* handle);
  static void OnEnvTeardown(napi_async_cleanup_hook_handle hook, void* arg);
};

class Relay : public Napi::ObjectWrap<Relay> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Relay(const Napi::CallbackInfo& info);
  ~Relay() override;

 private:
  // A pipe for splice(2): bytes go source socket -> w, then r -> destination socket.
  struct Pipe {
    int r = -1;  // read end (pipe to destination); -1 when no pipe
    int w = -1;  // write end (source to pipe)
  };

  // One direction of a pair: bytes read from its source not yet accepted by its destination.
  // At most one of `block` and `pipe` holds bytes: the source is not read while either does.
  struct Direction {
    uint8_t* block = nullptr;  // from the pool, only while a send is blocked; null otherwise
    bool bulk_block = false;   // `block` is a bulk block (bulk_size_ bytes, bulk_pool_)
    uint32_t offset = 0;       // next byte of `block` to send
    uint32_t length = 0;       // bytes in `block`
    Pipe pipe;                 // held in splice mode (inside Pump) or while it holds bytes
    uint32_t piped = 0;        // bytes in `pipe` not yet spliced to the destination
    bool streaming = false;    // Pump ran out of budget while splicing: start the next in splice mode
    bool eof = false;          // the source sent FIN (recv or splice returned 0)
    bool shut = false;         // the FIN was forwarded: shutdown(destination, SHUT_WR) done
    // Thread mode: epoll reported the source's FIN (EPOLLRDHUP) before it was read. A short read
    // then does not mean "drained": the FIN waits behind it and no further edge will announce it.
    bool fin_pending = false;

    // Bytes wait for the destination: the source is not read until they are gone.
    bool Holding() const { return block != nullptr || piped > 0; }
  };

  enum SlotState : uint8_t {
    kFree = 0,   // on the free list
    kLive = 1,   // relaying
    kEnded = 2,  // ended, its record not yet delivered to onEnd: not reusable yet
  };

  struct Slot {
    int32_t fd[2] = {-1, -1};
    // Thread mode: direction d read its budget's worth and may have more; it is on `resume_`
    // (an edge-triggered fd does not report again what is already waiting).
    bool resume[2] = {false, false};
    RelayPoll* poll[2] = {nullptr, nullptr};
    int mask[2] = {0, 0};  // events started on poll[side] (UV_READABLE | UV_WRITABLE)
    Direction dir[2];      // dir[0]: A to B, dir[1]: B to A
    SlotState state = kFree;
    bool no_splice = false;  // splice(2) said EINVAL/ENOSYS for this pair: copy mode for good
  };

  // JS methods.
  Napi::Value Add(const Napi::CallbackInfo& info);
  Napi::Value Remove(const Napi::CallbackInfo& info);
  Napi::Value Holding(const Napi::CallbackInfo& info);
  Napi::Value RefJs(const Napi::CallbackInfo& info);
  Napi::Value UnrefJs(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);
  Napi::Value GetCapacity(const Napi::CallbackInfo& info);
  Napi::Value GetSize(const Napi::CallbackInfo& info);
  Napi::Value GetBufferSize(const Napi::CallbackInfo& info);
  Napi::Value GetBuffered(const Napi::CallbackInfo& info);
  Napi::Value GetSplice(const Napi::CallbackInfo& info);
  Napi::Value GetThread(const Napi::CallbackInfo& info);
  Napi::Value GetPipeSize(const Napi::CallbackInfo& info);
  Napi::Value GetMaxPipes(const Napi::CallbackInfo& info);
  Napi::Value GetPipes(const Napi::CallbackInfo& info);
  Napi::Value GetIdlePipes(const Napi::CallbackInfo& info);
  Napi::Value GetSpliceFallbacks(const Napi::CallbackInfo& info);
  Napi::Value GetBytesSpliced(const Napi::CallbackInfo& info);

  bool CheckOpen(Napi::Env env);
  void SetRef(bool ref);
  bool Grow(Napi::Env env, Napi::Object self, size_t capacity);
  void Release();
  void UpdateHold();

  // The data path.
  static void OnPoll(uv_poll_t* handle, int status, int events);
  void HandleEvent(int32_t id, int side, int status, int events);
  void AfterIo(int32_t id);
  void Pump(int32_t id, int d);
  void Flush(int32_t id, int d);
  bool Forward(int32_t id, int d, const uint8_t* data, uint32_t length, bool bulk);
  bool SpliceOut(int32_t id, int d);
  bool CanSplice(const Slot& slot) const { return splice_ && !slot.no_splice; }
  bool TakePipe(Direction& dir);
  void GivePipe(Direction& dir);
  void ForwardEof(int32_t id, int d);
  void UpdateInterest(int32_t id);
  void Fail(int32_t id, int side, int err);
  int StartPoll(int32_t id, int side, int fd, bool non_blocking, RelayPoll** out);
  void ParkPoll(RelayPoll* poll, int fd);
  void End(int32_t id, int32_t reason, int32_t err);
  void Account(int32_t id, int d, uint32_t n);
  uint8_t* TakeBlock(bool bulk);
  void GiveBlock(uint8_t* block, bool bulk);

  // onEnd delivery.
  void ScheduleDelivery();
  void Deliver();
  static void OnCheck(uv_check_t* handle);
  static void OnIdle(uv_idle_t* handle);
  static void OnAsync(uv_async_t* handle);
  friend struct RelayLoop;

  // Thread mode.
  int StartThread();
  void StopThread();
  static void* ThreadEntry(void* arg);
  void ThreadMain();
  int Watch(int32_t id, int side);
  void Unwatch(int fd);
  void HandleEpollEvent(int32_t id, int side, uint32_t events);
  void Resume();
  void UpdateLoopRef();
  void Lock() {
    if (threaded_) pthread_mutex_lock(&mu_);  // cannot fail: a default mutex, never destroyed while used
  }
  void Unlock() {
    if (threaded_) pthread_mutex_unlock(&mu_);
  }
  // Holds the relay's lock for a scope; a no-op in loop mode, where only the loop's thread exists.
  struct Guard {
    explicit Guard(Relay* relay) : relay(relay) { relay->Lock(); }
    ~Guard() { relay->Unlock(); }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    Relay* relay;
  };
  uint32_t Now() const;
  // Reads a value under the lock; the JS value is made after it is released (a number above
  // 2^31 is a heap object, and no allocation on the JS heap happens under the lock: Grow).
  template <typename Read>
  double Locked(Read read) {
    Guard guard(this);
    return read();
  }

  napi_env env_ = nullptr;
  RelayLoop* core_ = nullptr;  // null once closed; frees itself after its handles close
  bool closed_ = false;
  bool unref_ = false;         // user asked for the relay not to keep the loop alive
  // The caller closes both fds as soon as it hears of a pair's end (the session layer does):
  // the last FIN then need not be forwarded with its own shutdown(), close() sends it.
  bool last_fin_by_close_ = false;
  bool held_ = false;          // ObjectWrap reference taken: live pairs or undelivered records
  bool delivery_scheduled_ = false;  // check and idle started
  bool delivering_ = false;    // inside the onEnd call

  uint32_t buffer_size_ = 0;
  uint8_t* scratch_ = nullptr;       // recv target of every pair; sent from at once
  std::vector<uint8_t*> pool_;       // idle blocks of buffer_size_ bytes, at most kPoolMax
  // Bulk copy: once a recv fills the whole buffer, the rest of that wake reads bulk_size_ bytes
  // at a time into bulk_scratch_ (made on first use), so a bulk transfer costs a recv and a send
  // per bulk_size_ bytes instead of per buffer_size_. 0: off. A blocked send of such a read
  // keeps its rest in a bulk block (bulk_pool_, at most kBulkPoolMax idle).
  uint32_t bulk_size_ = 0;
  uint8_t* bulk_scratch_ = nullptr;
  std::vector<uint8_t*> bulk_pool_;
  uint64_t buffered_ = 0;            // bytes held in blocks and pipes, not yet sent

  bool splice_ = true;               // splice: 'auto' (true) or 'off'
  int32_t pipe_size_ = 0;            // F_SETPIPE_SZ for new pipes; 0: the kernel's default
  uint32_t max_pipes_ = 0;           // most pipes held by directions at once; 0: no cap
  uint32_t splice_short_ = 0;        // a splice in below this many bytes drained the source
  uint32_t pipes_used_ = 0;          // pipes held by directions
  std::vector<Pipe> pipe_pool_;      // idle, empty pipes, at most kPipePoolMax
  double splice_fallbacks_ = 0;      // bulk reads that wanted a pipe and got none
  double bytes_spliced_ = 0;         // bytes that reached a destination through a pipe

  std::vector<Slot> slots_;
  std::vector<int32_t> free_;        // free slot ids (a stack: the last freed is reused first)
  std::vector<int32_t> fd_slot_;     // fd -> slot id relaying it, -1 when none
  // fd -> a stopped handle kept from the last pair that had this fd number. Sessions reuse fd
  // numbers all the time (the kernel hands out the lowest free one), and restarting a stopped
  // uv_poll_t costs 2 epoll_ctl where a new one costs 5 syscalls (uv_poll_init's FIONBIO ioctl
  // and ADD+DEL probe, uv_poll_start's DEL, the ADD) plus its close at the end.
  std::vector<RelayPoll*> idle_polls_;
  std::vector<int32_t> ended_ids_;   // slot ids of the records in `ended`, in order
  size_t live_ = 0;                  // pairs in kLive

  // The JS-visible arrays, replaced by larger ones when the relay grows.
  double* bytes_ = nullptr;          // [aToB, bToA] per slot
  uint32_t* last_activity_ = nullptr;  // uv_now() >>> 0 of the last transfer, per slot
  int32_t* ended_ = nullptr;         // [id, reason, errno] records
  uint8_t* fins_ = nullptr;          // per slot: bit 0 = A sent its FIN, bit 1 = B sent its FIN
  Napi::Reference<Napi::Float64Array> bytes_ref_;
  Napi::Reference<Napi::Uint32Array> last_activity_ref_;
  Napi::Reference<Napi::Int32Array> ended_ref_;
  Napi::Reference<Napi::Uint8Array> fins_ref_;

  Napi::FunctionReference on_end_;
  Napi::AsyncContext* async_context_ = nullptr;

  // Thread mode: the data path, and every member above it touches, belong to whoever holds mu_
  // (the relay thread while it handles a wake-up, JS while in add/remove/holding/a getter). JS
  // reads the shared arrays without it: each element is written whole (relaxed atomic stores).
  bool threaded_ = false;
  bool thread_started_ = false;
  bool stop_ = false;                // under mu_: the thread returns at its next wake-up
  int epfd_ = -1;                    // the relay thread's epoll set (edge-triggered)
  int wake_fd_ = -1;                 // eventfd in epfd_: wakes the thread to stop
  int thread_errno_ = 0;             // the thread ended on this epoll_wait error (never expected)
  uint32_t now_ = 0;                 // thread mode: the tick of the current wake-up (Now())
  bool in_thread_wake_ = false;      // the thread is handling a wake-up (under mu_)
  bool ends_to_announce_ = false;    // pairs ended during it: one async send at its end
  pthread_t thread_{};
  pthread_mutex_t mu_ = PTHREAD_MUTEX_INITIALIZER;
  std::vector<uint64_t> resume_;     // (id << 1 | direction) with budget left over, thread mode
  std::vector<uint64_t> resume_work_;
};

void InitRelay(Napi::Env env, Napi::Object exports);

}  // namespace epoxy
