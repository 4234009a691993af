// sockmap-relay: a minimal TCP relay, for one measurement only (bench/experiments/README.md).
//
//   sockmap-relay --listen PORT --backend PORT [--mode sockmap|copy]
//
// Listens on 127.0.0.1:PORT; for every client it connects (blocking) a socket to
// 127.0.0.1:BACKEND and relays bytes both ways until either side closes, then closes both.
//
//   --mode copy     level-triggered epoll, recv/send with a 16 KiB buffer per direction (the
//                   baseline for this code).
//   --mode sockmap  both sockets go into a BPF_MAP_TYPE_SOCKHASH whose BPF_SK_SKB_VERDICT
//                   program redirects every skb to the peer socket's egress
//                   (bpf_sk_redirect_hash, flags 0). User space only watches for EOF/errors
//                   (EPOLLRDHUP; no EPOLLIN, so the per-message data_ready wake-ups are filtered
//                   out by epoll before they wake this process).
//
// The BPF program is hand-written with the raw bpf(2) syscall (no libbpf). It finds the peer
// through a second map, a BPF_MAP_TYPE_HASH from a socket's key to its peer's key, where a
// socket's key is what the program can compute from its __sk_buff:
//     key = skb->remote_port | skb->local_port
// skb->local_port is the local port in host order, skb->remote_port is the remote port as the
// __be16 of the socket shifted left by 16 on little-endian (the kernel's ctx rewrite does that),
// so user space computes the same value from getsockname()/getpeername().
//
// SIGINT/SIGTERM: prints counters to stderr and exits 0.
//
// What it shares with uring-relay.c (command line, signals, sockets) is in relay-common.h.
#define _GNU_SOURCE
#include <linux/bpf.h>
#include <stddef.h>
#include <sys/syscall.h>

static const char usage_text[] = "usage: sockmap-relay --listen PORT --backend PORT [--mode sockmap|copy]\n";

#define TOOL_NAME "sockmap-relay"
#include "relay-common.h"

#define BUF_SIZE 16384
#define MAX_PAIRS 65536

// ---------------------------------------------------------------------------------------------
// BPF: instruction macros (our own, as in the kernel's include/linux/filter.h) and bpf(2).

#define INSN(CODE, DST, SRC, OFF, IMM) \
  ((struct bpf_insn){.code = (CODE), .dst_reg = (DST), .src_reg = (SRC), .off = (OFF), .imm = (IMM)})
#define MOV64_REG(DST, SRC) INSN(BPF_ALU64 | BPF_MOV | BPF_X, DST, SRC, 0, 0)
#define MOV64_IMM(DST, IMM) INSN(BPF_ALU64 | BPF_MOV | BPF_K, DST, 0, 0, IMM)
#define ADD64_IMM(DST, IMM) INSN(BPF_ALU64 | BPF_ADD | BPF_K, DST, 0, 0, IMM)
#define OR32_REG(DST, SRC) INSN(BPF_ALU | BPF_OR | BPF_X, DST, SRC, 0, 0)
#define LDX_W(DST, SRC, OFF) INSN(BPF_LDX | BPF_MEM | BPF_W, DST, SRC, OFF, 0)
#define STX_W(DST, SRC, OFF) INSN(BPF_STX | BPF_MEM | BPF_W, DST, SRC, OFF, 0)
#define JEQ_IMM(DST, IMM, OFF) INSN(BPF_JMP | BPF_JEQ | BPF_K, DST, 0, OFF, IMM)
#define CALL(FN) INSN(BPF_JMP | BPF_CALL, 0, 0, 0, FN)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
// Two instructions: a 64-bit immediate load of a map fd (src_reg BPF_PSEUDO_MAP_FD).
#define LD_MAP_FD(DST, FD) \
  INSN(BPF_LD | BPF_DW | BPF_IMM, DST, BPF_PSEUDO_MAP_FD, 0, FD), INSN(0, 0, 0, 0, 0)

enum { R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 };
enum { SK_DROP_ = 0, SK_PASS_ = 1 };

static long sys_bpf(int cmd, union bpf_attr *attr) {
  return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static int map_create(enum bpf_map_type type, uint32_t key_size, uint32_t value_size, uint32_t max, const char *name) {
  union bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.map_type = type;
  a.key_size = key_size;
  a.value_size = value_size;
  a.max_entries = max;
  strncpy(a.map_name, name, sizeof(a.map_name) - 1);
  int fd = (int)sys_bpf(BPF_MAP_CREATE, &a);
  if (fd < 0) die("BPF_MAP_CREATE %s: %s", name, strerror(errno));
  return fd;
}

static int map_update(int map, const void *key, const void *value, uint64_t flags) {
  union bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.map_fd = (uint32_t)map;
  a.key = (uint64_t)(uintptr_t)key;
  a.value = (uint64_t)(uintptr_t)value;
  a.flags = flags;
  return (int)sys_bpf(BPF_MAP_UPDATE_ELEM, &a);
}

static int map_delete(int map, const void *key) {
  union bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.map_fd = (uint32_t)map;
  a.key = (uint64_t)(uintptr_t)key;
  return (int)sys_bpf(BPF_MAP_DELETE_ELEM, &a);
}

static char verifier_log[1 << 16];

/*
 * The verdict program:
 *   key  = skb->remote_port | skb->local_port        (this socket)
 *   peer = peers[key]; if none: SK_PASS (the socket receives it itself)
 *   return bpf_sk_redirect_hash(skb, socks, &peer, 0) (the peer socket's egress)
 */
static int load_verdict(int peers, int socks) {
  struct bpf_insn prog[] = {
      MOV64_REG(R6, R1),
      LDX_W(R2, R6, offsetof(struct __sk_buff, remote_port)),
      LDX_W(R3, R6, offsetof(struct __sk_buff, local_port)),
      OR32_REG(R2, R3),
      STX_W(R10, R2, -4),
      LD_MAP_FD(R1, peers),
      MOV64_REG(R2, R10),
      ADD64_IMM(R2, -4),
      CALL(BPF_FUNC_map_lookup_elem),
      JEQ_IMM(R0, 0, 10), // -> pass (LD_MAP_FD is 2 insns)
      LDX_W(R1, R0, 0),
      STX_W(R10, R1, -8),
      MOV64_REG(R1, R6),
      LD_MAP_FD(R2, socks),
      MOV64_REG(R3, R10),
      ADD64_IMM(R3, -8),
      MOV64_IMM(R4, 0),
      CALL(BPF_FUNC_sk_redirect_hash),
      EXIT(),
      // pass:
      MOV64_IMM(R0, SK_PASS_),
      EXIT(),
  };
  union bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.prog_type = BPF_PROG_TYPE_SK_SKB;
  a.insns = (uint64_t)(uintptr_t)prog;
  a.insn_cnt = sizeof(prog) / sizeof(prog[0]);
  a.license = (uint64_t)(uintptr_t) "Dual MIT/GPL";
  a.log_buf = (uint64_t)(uintptr_t)verifier_log;
  a.log_size = sizeof(verifier_log);
  a.log_level = 1;
  strncpy(a.prog_name, "relay_verdict", sizeof(a.prog_name) - 1);
  int fd = (int)sys_bpf(BPF_PROG_LOAD, &a);
  if (fd < 0) die("BPF_PROG_LOAD: %s\nverifier log:\n%s", strerror(errno), verifier_log);
  return fd;
}

static void prog_attach(int prog, int map, enum bpf_attach_type type) {
  union bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.target_fd = (uint32_t)map;
  a.attach_bpf_fd = (uint32_t)prog;
  a.attach_type = type;
  if (sys_bpf(BPF_PROG_ATTACH, &a) < 0) die_errno("BPF_PROG_ATTACH (BPF_SK_SKB_VERDICT) to the sockhash");
}

// ---------------------------------------------------------------------------------------------
// Relay state.

struct side {
  int fd;
  uint32_t key;          // sockmap mode: this socket's key (see the top of the file)
  struct side *peer;
  struct pair *pair;
  size_t len, off;       // copy mode: bytes read from this side not yet written to the peer
  char buf[BUF_SIZE];
};

struct pair {
  struct side a, b; // a: client, b: backend
};

static const char *mode = "sockmap";
static int mode_sockmap;
static int peers_map = -1, socks_map = -1; // the epoll set is common.h's epfd
static unsigned long long n_pairs, n_closed, n_drained_bytes, n_fallback_bytes, n_wakeups,
    n_not_established;
static struct side dead; // epoll events of sides already closed in the current batch

static void set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) die_errno("fcntl F_GETFL");
  if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) die_errno("fcntl F_SETFL O_NONBLOCK");
}

/* remote_port as __sk_buff shows it (__be16 << 16 on little-endian) | local_port (host order). */
/* Returns -1 if the socket is no longer connected (reset by its peer already). */
static int sock_key(int fd, uint32_t *key) {
  struct sockaddr_in l, r;
  socklen_t ll = sizeof(l), rl = sizeof(r);
  if (getsockname(fd, (struct sockaddr *)&l, &ll) < 0) die_errno("getsockname");
  if (getpeername(fd, (struct sockaddr *)&r, &rl) < 0) {
    if (errno == ENOTCONN) return -1;
    die_errno("getpeername");
  }
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  *key = ((uint32_t)r.sin_port << 16) | ntohs(l.sin_port);
#else
  *key = (uint32_t)r.sin_port | ntohs(l.sin_port);
#endif
  return 0;
}

/* Side s in the epoll set; its events carry s. */
static void side_ctl(int op, struct side *s, uint32_t events) {
  ep_ctl(op, s->fd, events, (uint64_t)(uintptr_t)s);
}

static struct side *event_side(const struct epoll_event *ev) {
  return (struct side *)(uintptr_t)ev->data.u64;
}

static void close_pair(struct pair *p) {
  struct side *ss[2] = {&p->a, &p->b};
  for (int i = 0; i < 2; i++) {
    struct side *s = ss[i];
    if (mode_sockmap) {
      // close() also removes the socket from the sockhash; delete explicitly to check it.
      if (map_delete(socks_map, &s->key) < 0 && errno != ENOENT) die_errno("BPF_MAP_DELETE_ELEM socks");
      if (map_delete(peers_map, &s->key) < 0 && errno != ENOENT) die_errno("BPF_MAP_DELETE_ELEM peers");
    }
    if (epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL) < 0) die_errno("epoll_ctl DEL");
    close_fd(s->fd);
  }
  n_closed++;
  free(p);
}

/* Blocking send of everything (sockmap mode's rare fallback path only). */
static int send_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) { // the socket is non-blocking; this path is rare
        usleep(100);
        continue;
      }
      return -1;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

/*
 * sockmap mode: data that reached the receive queue before the socket entered the map (the
 * client's first request, typically) or that the program passed (no peer entry): read it
 * here and forward it with send(). Returns -1 on EOF/error (close the pair), 0 otherwise.
 */
static int drain(struct side *s, unsigned long long *counter) {
  for (;;) {
    ssize_t n = recv(s->fd, s->buf, sizeof(s->buf), MSG_DONTWAIT);
    if (n == 0) return -1;
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return 0;
      if (errno == ECONNRESET || errno == EPIPE) return -1;
      die_errno("recv (sockmap drain)");
    }
    *counter += (unsigned long long)n;
    if (send_all(s->peer->fd, s->buf, (size_t)n) < 0) {
      if (errno == ECONNRESET || errno == EPIPE) return -1;
      die_errno("send (sockmap drain)");
    }
  }
}

static void new_client(int cfd, int backend_port) {
  struct pair *p = calloc(1, sizeof(*p));
  if (!p) die("out of memory");
  // Blocking connect: loopback, and a sockhash wants established sockets.
  int bfd = relay_connect(cfd, backend_port);
  if (bfd < 0) {
    free(p);
    return;
  }
  set_nonblock(cfd);
  set_nonblock(bfd);
  p->a.fd = cfd;
  p->b.fd = bfd;
  p->a.peer = &p->b;
  p->b.peer = &p->a;
  p->a.pair = p->b.pair = p;
  n_pairs++;

  if (!mode_sockmap) {
    side_ctl(EPOLL_CTL_ADD, &p->a, EPOLLIN);
    side_ctl(EPOLL_CTL_ADD, &p->b, EPOLLIN);
    return;
  }

  // EPOLLRDHUP only: FIN, errors (EPOLLERR/EPOLLHUP are always reported). Not EPOLLIN: the
  // psock calls data_ready for every redirected skb, and epoll drops those wake-ups (their
  // key, EPOLLIN|EPOLLRDNORM, is not in our mask) without waking us.
  side_ctl(EPOLL_CTL_ADD, &p->a, EPOLLRDHUP);
  side_ctl(EPOLL_CTL_ADD, &p->b, EPOLLRDHUP);
  if (sock_key(cfd, &p->a.key) < 0 || sock_key(bfd, &p->b.key) < 0) {
    n_not_established++;
    close_pair(p);
    return;
  }
  if (p->a.key == p->b.key) die("client and backend sockets have the same key");
  // Peers first, then sockets: once a socket is in the sockhash its verdict runs, and it
  // needs its peer entry.
  if (map_update(peers_map, &p->a.key, &p->b.key, BPF_ANY) < 0) die_errno("BPF_MAP_UPDATE_ELEM peers");
  if (map_update(peers_map, &p->b.key, &p->a.key, BPF_ANY) < 0) die_errno("BPF_MAP_UPDATE_ELEM peers");
  struct side *order[2] = {&p->b, &p->a};
  for (int i = 0; i < 2; i++) {
    uint32_t fd32 = (uint32_t)order[i]->fd;
    if (map_update(socks_map, &order[i]->key, &fd32, BPF_NOEXIST) == 0) continue;
    // EOPNOTSUPP: a sockhash only takes ESTABLISHED (or LISTEN) TCP sockets, and the peer
    // already closed this one (wrk's connect-and-close probe leaves it in CLOSE_WAIT).
    if (errno != EOPNOTSUPP) die_errno(i ? "BPF_MAP_UPDATE_ELEM socks (client)" : "BPF_MAP_UPDATE_ELEM socks (backend)");
    n_not_established++;
    close_pair(p);
    return;
  }
  // Whatever arrived before the sockets were in the map sits in their receive queues.
  if (drain(&p->a, &n_drained_bytes) < 0 || drain(&p->b, &n_drained_bytes) < 0) close_pair(p);
}

/* copy mode: move bytes from s to its peer. Returns -1 when the pair must close. */
static int copy_flush(struct side *s) {
  struct side *d = s->peer;
  while (s->off < s->len) {
    ssize_t n = send(d->fd, s->buf + s->off, s->len - s->off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        // Stop reading s until d drains; wait for d to be writable.
        side_ctl(EPOLL_CTL_MOD, s, 0);
        side_ctl(EPOLL_CTL_MOD, d, EPOLLOUT | (d->peer->len > d->peer->off ? 0 : EPOLLIN));
        return 0;
      }
      if (errno == ECONNRESET || errno == EPIPE) return -1;
      die_errno("send");
    }
    s->off += (size_t)n;
  }
  s->off = s->len = 0;
  return 0;
}

static int copy_readable(struct side *s) {
  if (s->off < s->len) return 0; // still flushing the previous read
  ssize_t n = recv(s->fd, s->buf, sizeof(s->buf), 0);
  if (n == 0) return -1;
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return 0;
    if (errno == ECONNRESET) return -1;
    die_errno("recv");
  }
  s->len = (size_t)n;
  s->off = 0;
  return copy_flush(s);
}

/* copy mode: d became writable: flush what its peer had pending, then restore interest. */
static int copy_writable(struct side *d) {
  struct side *s = d->peer;
  if (copy_flush(s) < 0) return -1;
  if (s->off < s->len) return 0; // still blocked
  side_ctl(EPOLL_CTL_MOD, s, EPOLLIN | (s->peer->off < s->peer->len ? EPOLLOUT : 0));
  side_ctl(EPOLL_CTL_MOD, d, EPOLLIN);
  return 0;
}

/* The options besides --listen and --backend (relay_args): --mode sockmap|copy. */
static bool mode_option(int argc, char **argv, int *i) {
  if (strcmp(argv[*i], "--mode") != 0 || *i + 1 >= argc) return false;
  mode = argv[++*i];
  return true;
}

int main(int argc, char **argv) {
  int listen_port, backend_port;
  relay_args(argc, argv, mode_option, &listen_port, &backend_port);
  if (!strcmp(mode, "sockmap")) mode_sockmap = 1;
  else if (strcmp(mode, "copy")) usage();

  relay_signals();

  if (mode_sockmap) {
    peers_map = map_create(BPF_MAP_TYPE_HASH, 4, 4, 2 * MAX_PAIRS, "relay_peers");
    socks_map = map_create(BPF_MAP_TYPE_SOCKHASH, 4, 4, 2 * MAX_PAIRS, "relay_socks");
    int prog = load_verdict(peers_map, socks_map);
    prog_attach(prog, socks_map, BPF_SK_SKB_VERDICT);
  }

  int lfd = relay_listen(listen_port, SOCK_NONBLOCK);

  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die_errno("epoll_create1");
  struct epoll_event lev = {.events = EPOLLIN, .data.u64 = 0}; // no side: the listener
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) < 0) die_errno("epoll_ctl ADD listen");

  fprintf(stderr, "sockmap-relay: mode %s, 127.0.0.1:%d -> 127.0.0.1:%d\n", mode, listen_port, backend_port);

  struct epoll_event evs[256];
  while (!stop) {
    int n = epoll_wait(epfd, evs, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die_errno("epoll_wait");
    }
    n_wakeups++;
    for (int i = 0; i < n; i++) {
      struct side *s = event_side(&evs[i]);
      uint32_t e = evs[i].events;
      if (!s) {
        for (;;) {
          int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
          if (cfd < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) break;
            die_errno("accept4");
          }
          new_client(cfd, backend_port);
        }
        continue;
      }
      if (s == &dead) continue; // its pair closed earlier in this batch
      int close_it = 0;
      if (mode_sockmap) {
        // FIN/RST/error. Drain first: bytes the program passed (no peer) or that raced the
        // map insertion; then EOF shows as recv() == 0.
        if (drain(s, &n_fallback_bytes) < 0) close_it = 1;
        else if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) close_it = 1;
      } else {
        if (e & EPOLLOUT) close_it = copy_writable(s) < 0;
        if (!close_it && (e & (EPOLLIN | EPOLLHUP | EPOLLERR))) close_it = copy_readable(s) < 0;
      }
      if (close_it) {
        struct pair *p = s->pair;
        // The other side may have an event later in this batch: point it at `dead`.
        for (int j = i + 1; j < n; j++) {
          struct side *o = event_side(&evs[j]);
          if (o == &p->a || o == &p->b) evs[j].data.u64 = (uint64_t)(uintptr_t)&dead;
        }
        close_pair(p);
      }
    }
  }
  fprintf(stderr,
          "sockmap-relay: pairs %llu, closed %llu, epoll wake-ups %llu, bytes drained at setup %llu, "
          "bytes passed to user space %llu, pairs closed before entering the map %llu\n",
          n_pairs, n_closed, n_wakeups, n_drained_bytes, n_fallback_bytes, n_not_established);
  return 0;
}
