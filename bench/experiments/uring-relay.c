// uring-relay: a minimal TCP relay on io_uring, for one measurement only
// (bench/experiments/README.md, "io_uring"). Needs liburing (Debian: liburing-dev, 2.3).
//
//   uring-relay --listen PORT --backend PORT [--taskrun defer|coop|none] [--fixed]
//
// Listens on 127.0.0.1:PORT; for every client it connects (blocking, loopback) a socket to
// 127.0.0.1:BACKEND, TCP_NODELAY on both, and relays bytes both ways.
//
// Built for the fewest syscalls per request:
//   - one multishot accept on the listener;
//   - one multishot recv per socket (IORING_RECV_MULTISHOT), reading into buffers the kernel
//     picks from one provided-buffer ring (io_uring_register_buf_ring, IOSQE_BUFFER_SELECT);
//   - each received buffer is sent as it is (IORING_OP_SEND from the provided buffer) and goes
//     back into the ring when its send completes;
//   - the loop is one io_uring_submit_and_wait(1) per iteration: it submits every send queued
//     while the previous completions were handled and reaps what is ready.
// Ring flags (--taskrun): defer = SINGLE_ISSUER | DEFER_TASKRUN (default: completions are run
// only inside our io_uring_enter, no task-work interrupts), coop = COOP_TASKRUN, none = neither.
// --fixed: both sockets of a pair go into the registered file table (sparse, one slot per
// socket) and every op uses IOSQE_FIXED_FILE, which saves a file reference get/put per op.
//
// Order per direction: one send in flight per direction; buffers received meanwhile wait in a
// FIFO linked through buf_next[]; a partial send resubmits the rest of the same buffer.
// EOF: when one side sends FIN, what it sent before is still forwarded, then both sockets are
// shut down and closed (no half-close: enough for keep-alive HTTP; a real proxy would
// shutdown(SHUT_WR) the peer and keep the other direction open). Any error (ECONNRESET, EPIPE,
// ...) closes the pair at once. A pair is freed only when none of its ops is in flight.
// No buffers left (-ENOBUFS ends a multishot recv): the recv is re-armed when a buffer returns.
//
// SIGINT/SIGTERM: prints counters to stderr and exits 0.
//
// What it shares with sockmap-relay.c (command line, signals, sockets) is in relay-common.h.
#define _GNU_SOURCE
#include <liburing.h>
#include <sys/mman.h>

static const char usage_text[] =
    "usage: uring-relay --listen PORT --backend PORT [--taskrun defer|coop|none] [--fixed]\n";

#define TOOL_NAME "uring-relay"
#include "relay-common.h"

#define BUF_SIZE 16384  // as sockmap-relay's copy mode
#define NBUFS 1024      // power of two (ring size); 16 MiB of buffers
#define BGID 0          // the only buffer group
#define MAX_PAIRS 4096  // wrk -c50 needs 50; the fixed file table has 2 slots per pair
#define SQ_ENTRIES 512
#define CQ_ENTRIES 8192 // multishot ops can post many CQEs per submission

enum op { OP_ACCEPT = 1, OP_RECV, OP_SEND, OP_SHUTDOWN };

// One direction of a pair: bytes received on fd[d], sent on fd[1 - d].
struct dir {
  int head, tail;   // FIFO of received buffer ids not yet fully sent (-1: empty)
  unsigned off;     // bytes of the head buffer already sent
  bool sending;     // a send of the head buffer is in flight
  bool recv_armed;  // the multishot recv is in flight
  bool starved;     // the recv ended with -ENOBUFS, waiting on the starved list
  bool eof;         // FIN received: close the pair once this direction is drained
};

struct pair {
  int fd[2];       // [0] client, [1] backend: fds, or fixed-file slots with --fixed
  struct dir dir[2];
  int inflight;    // ops of this pair that will still post a CQE
  bool closing;    // shut down; freed when inflight reaches 0
  int next_free;
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;
static unsigned buf_len[NBUFS];
static int buf_next[NBUFS];
static struct pair pairs[MAX_PAIRS];
static int free_head = -1;
static int starved[2 * MAX_PAIRS]; // pair index * 2 + direction
static int n_starved;
static int listen_fd, backend_port;
static const char *taskrun = "defer";
static bool fixed;
static unsigned long long n_enter, n_cqe, n_pairs, n_closed, n_recv, n_send, n_partial, n_enobufs,
    n_rearm, n_connect_failed, n_sqe_full;

static void die_ret(const char *what, int ret) __attribute__((noreturn));
static void die_ret(const char *what, int ret) { // liburing returns -errno
  die("%s: %s", what, strerror(-ret));
}

static inline uint64_t udata(int pi, enum op op, int d) {
  return ((uint64_t)(unsigned)pi << 8) | ((uint64_t)op << 1) | (uint64_t)d;
}

/* An SQE; if the SQ is full, submit what is there first (rare: SQ_ENTRIES per loop). */
static struct io_uring_sqe *sqe_get(void) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
  if (sqe) return sqe;
  n_sqe_full++;
  int ret = io_uring_submit(&ring);
  n_enter++;
  if (ret < 0) die_ret("io_uring_submit", ret);
  sqe = io_uring_get_sqe(&ring);
  if (!sqe) die_ret("io_uring_get_sqe after submit", -EBUSY);
  return sqe;
}

static void sqe_fd(struct io_uring_sqe *sqe) {
  if (fixed) sqe->flags |= IOSQE_FIXED_FILE;
}

static void arm_accept(void) {
  struct io_uring_sqe *sqe = sqe_get();
  io_uring_prep_multishot_accept(sqe, listen_fd, NULL, NULL, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, udata(0, OP_ACCEPT, 0));
}

static void arm_recv(int pi, int d) {
  struct pair *p = &pairs[pi];
  struct io_uring_sqe *sqe = sqe_get();
  io_uring_prep_recv_multishot(sqe, p->fd[d], NULL, 0, 0);
  sqe_fd(sqe);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = BGID;
  io_uring_sqe_set_data64(sqe, udata(pi, OP_RECV, d));
  p->dir[d].recv_armed = true;
  p->inflight++;
}

static void send_head(int pi, int d) {
  struct pair *p = &pairs[pi];
  struct dir *dr = &p->dir[d];
  int bid = dr->head;
  struct io_uring_sqe *sqe = sqe_get();
  io_uring_prep_send(sqe, p->fd[1 - d], bufs + (size_t)bid * BUF_SIZE + dr->off, buf_len[bid] - dr->off, MSG_NOSIGNAL);
  sqe_fd(sqe);
  io_uring_sqe_set_data64(sqe, udata(pi, OP_SEND, d));
  dr->sending = true;
  p->inflight++;
  n_send++;
}

/* Give buffer bid back to the kernel; re-arm recvs that ran out of buffers. */
static void buf_return(int bid) {
  io_uring_buf_ring_add(br, bufs + (size_t)bid * BUF_SIZE, BUF_SIZE, (unsigned short)bid, io_uring_buf_ring_mask(NBUFS), 0);
  io_uring_buf_ring_advance(br, 1);
  while (n_starved > 0) {
    int k = starved[--n_starved];
    struct pair *p = &pairs[k / 2];
    p->dir[k % 2].starved = false;
    if (!p->closing) {
      n_rearm++;
      arm_recv(k / 2, k % 2);
    }
  }
}

static void release_fd(struct pair *p, int side) {
  if (!fixed) {
    close_fd(p->fd[side]);
    return;
  }
  int none = -1;
  int ret = io_uring_register_files_update(&ring, (unsigned)p->fd[side], &none, 1);
  if (ret < 0) die_ret("io_uring_register_files_update (release)", ret);
}

static void maybe_free(int pi) {
  struct pair *p = &pairs[pi];
  if (!p->closing || p->inflight > 0) return;
  release_fd(p, 0);
  release_fd(p, 1);
  p->next_free = free_head;
  free_head = pi;
  n_closed++;
}

/*
 * Close the pair: drop what is queued, shut both sockets down. The shutdown ends the multishot
 * recvs (they post res 0 without IORING_CQE_F_MORE) and fails sends waiting for buffer space.
 */
static void close_pair(int pi) {
  struct pair *p = &pairs[pi];
  if (p->closing) return;
  p->closing = true;
  for (int d = 0; d < 2; d++) {
    struct dir *dr = &p->dir[d];
    // The head buffer of an in-flight send returns when that send completes.
    int bid = dr->sending ? buf_next[dr->head] : dr->head;
    if (dr->sending) buf_next[dr->head] = -1;
    while (bid >= 0) {
      int next = buf_next[bid];
      buf_return(bid);
      bid = next;
    }
    dr->head = dr->sending ? dr->head : -1;
    dr->tail = dr->head;
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_shutdown(sqe, p->fd[d], SHUT_RDWR);
    sqe_fd(sqe);
    io_uring_sqe_set_data64(sqe, udata(pi, OP_SHUTDOWN, d));
    p->inflight++;
  }
}

/* Direction d is drained (nothing queued, no send in flight): after a FIN, close. */
static void check_eof(int pi, int d) {
  struct dir *dr = &pairs[pi].dir[d];
  if (dr->eof && dr->head < 0) close_pair(pi);
}

static int pair_alloc(void) {
  if (free_head < 0) return -1;
  int pi = free_head;
  free_head = pairs[pi].next_free;
  return pi;
}

static void on_accept(int cfd) {
  int pi = pair_alloc();
  if (pi < 0) {
    fprintf(stderr, TOOL_NAME ": more than %d pairs, client dropped\n", MAX_PAIRS);
    close_fd(cfd);
    return;
  }
  int bfd = relay_connect(cfd, backend_port);
  if (bfd < 0) {
    n_connect_failed++;
    pairs[pi].next_free = free_head;
    free_head = pi;
    return;
  }
  struct pair *p = &pairs[pi];
  memset(p, 0, sizeof(*p));
  p->fd[0] = cfd;
  p->fd[1] = bfd;
  if (fixed) {
    // Slots 2*pi and 2*pi+1; the table holds its own reference, so our fds can go.
    int fds[2] = {cfd, bfd};
    int ret = io_uring_register_files_update(&ring, (unsigned)(2 * pi), fds, 2);
    if (ret < 0) die_ret("io_uring_register_files_update", ret);
    close_fd(cfd);
    close_fd(bfd);
    p->fd[0] = 2 * pi;
    p->fd[1] = 2 * pi + 1;
  }
  for (int d = 0; d < 2; d++) p->dir[d].head = p->dir[d].tail = -1;
  n_pairs++;
  arm_recv(pi, 0);
  arm_recv(pi, 1);
}

static void on_recv(int pi, int d, const struct io_uring_cqe *cqe) {
  struct pair *p = &pairs[pi];
  struct dir *dr = &p->dir[d];
  bool more = cqe->flags & IORING_CQE_F_MORE;
  if (!more) {
    dr->recv_armed = false;
    p->inflight--;
  }
  if (cqe->res > 0) {
    n_recv++;
    int bid = (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    if (p->closing) {
      buf_return(bid);
    } else {
      buf_len[bid] = (unsigned)cqe->res;
      buf_next[bid] = -1;
      if (dr->tail >= 0) buf_next[dr->tail] = bid;
      else dr->head = bid;
      dr->tail = bid;
      if (!dr->sending) {
        dr->off = 0;
        send_head(pi, d);
      }
      // The multishot recv can end after data too (e.g. the CQ overflowed): re-arm.
      if (!more) arm_recv(pi, d);
    }
  } else if (cqe->res == -ENOBUFS && !p->closing) {
    n_enobufs++;
    if (!more && !dr->starved) { // re-armed by buf_return()
      dr->starved = true;
      starved[n_starved++] = pi * 2 + d;
    }
  } else if (cqe->res == 0 && !p->closing) {
    dr->eof = true;
    check_eof(pi, d);
  } else if (!p->closing) {
    close_pair(pi); // ECONNRESET, ...
  }
  maybe_free(pi);
}

static void on_send(int pi, int d, const struct io_uring_cqe *cqe) {
  struct pair *p = &pairs[pi];
  struct dir *dr = &p->dir[d];
  p->inflight--;
  dr->sending = false;
  int bid = dr->head;
  if (cqe->res < 0 || p->closing) {
    // Only the head buffer is left (close_pair() returned the rest).
    dr->head = buf_next[bid];
    if (dr->head < 0) dr->tail = -1;
    buf_return(bid);
    if (!p->closing) close_pair(pi); // EPIPE, ECONNRESET, ...
    maybe_free(pi);
    return;
  }
  dr->off += (unsigned)cqe->res;
  if (dr->off < buf_len[bid]) {
    n_partial++;
    send_head(pi, d);
    return;
  }
  dr->head = buf_next[bid];
  if (dr->head < 0) dr->tail = -1;
  buf_return(bid);
  if (dr->head >= 0) {
    dr->off = 0;
    send_head(pi, d);
  } else {
    check_eof(pi, d);
  }
}

static void on_cqe(const struct io_uring_cqe *cqe) {
  uint64_t u = io_uring_cqe_get_data64(cqe);
  int pi = (int)(u >> 8), d = (int)(u & 1);
  switch ((enum op)((u >> 1) & 0x7f)) {
  case OP_ACCEPT:
    if (cqe->res >= 0) on_accept(cqe->res);
    else if (cqe->res != -ECONNABORTED && cqe->res != -EINTR) die_ret("multishot accept", cqe->res);
    if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept();
    break;
  case OP_RECV:
    on_recv(pi, d, cqe);
    break;
  case OP_SEND:
    on_send(pi, d, cqe);
    break;
  case OP_SHUTDOWN: // ENOTCONN if the peer reset it first: closing anyway
    pairs[pi].inflight--;
    maybe_free(pi);
    break;
  default:
    die("CQE with unknown user_data %llx", (unsigned long long)u);
  }
}

/* The options besides --listen and --backend (relay_args): --taskrun defer|coop|none, --fixed. */
static bool uring_option(int argc, char **argv, int *i) {
  if (!strcmp(argv[*i], "--taskrun") && *i + 1 < argc) taskrun = argv[++*i];
  else if (!strcmp(argv[*i], "--fixed")) fixed = true;
  else return false;
  return true;
}

int main(int argc, char **argv) {
  int listen_port;
  relay_args(argc, argv, uring_option, &listen_port, &backend_port);
  struct io_uring_params params;
  memset(&params, 0, sizeof(params));
  params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
  params.cq_entries = CQ_ENTRIES;
  if (!strcmp(taskrun, "defer")) params.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  else if (!strcmp(taskrun, "coop")) params.flags |= IORING_SETUP_COOP_TASKRUN;
  else if (strcmp(taskrun, "none")) usage();

  relay_signals(); // no SA_RESTART: io_uring_enter returns -EINTR

  int ret = io_uring_queue_init_params(SQ_ENTRIES, &ring, &params);
  if (ret < 0) die_ret("io_uring_queue_init_params", ret);
  if (fixed && (ret = io_uring_register_files_sparse(&ring, 2 * MAX_PAIRS)) < 0) die_ret("io_uring_register_files_sparse", ret);

  // The provided-buffer ring: NBUFS entries, page-aligned as the kernel requires.
  size_t br_size = NBUFS * sizeof(struct io_uring_buf);
  br = mmap(NULL, br_size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (br == MAP_FAILED) die_errno("mmap (buffer ring)");
  struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)br, .ring_entries = NBUFS, .bgid = BGID};
  if ((ret = io_uring_register_buf_ring(&ring, &reg, 0)) < 0) die_ret("io_uring_register_buf_ring", ret);
  io_uring_buf_ring_init(br);
  bufs = mmap(NULL, (size_t)NBUFS * BUF_SIZE, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (bufs == MAP_FAILED) die_errno("mmap (buffers)");
  for (int i = 0; i < NBUFS; i++) io_uring_buf_ring_add(br, bufs + (size_t)i * BUF_SIZE, BUF_SIZE, (unsigned short)i, io_uring_buf_ring_mask(NBUFS), i);
  io_uring_buf_ring_advance(br, NBUFS);
  for (int i = MAX_PAIRS - 1; i >= 0; i--) {
    pairs[i].next_free = free_head;
    free_head = i;
  }

  listen_fd = relay_listen(listen_port, 0);
  arm_accept();

  fprintf(stderr, "uring-relay: taskrun %s%s, 127.0.0.1:%d -> 127.0.0.1:%d\n", taskrun, fixed ? ", fixed files" : "",
          listen_port, backend_port);

  while (!stop) {
    ret = io_uring_submit_and_wait(&ring, 1);
    n_enter++;
    if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) die_ret("io_uring_submit_and_wait", ret);
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      on_cqe(cqe);
      seen++;
    }
    io_uring_cq_advance(&ring, seen);
    n_cqe += seen;
  }
  fprintf(stderr,
          "uring-relay: pairs %llu, closed %llu, io_uring_enter %llu, completions %llu, recv completions %llu, "
          "sends %llu, partial sends %llu, ENOBUFS %llu, re-armed after ENOBUFS %llu, SQ full %llu, connect failed %llu\n",
          n_pairs, n_closed, n_enter, n_cqe, n_recv, n_send, n_partial, n_enobufs, n_rearm, n_sqe_full, n_connect_failed);
  return 0;
}
