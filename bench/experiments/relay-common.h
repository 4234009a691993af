/*
 * relay-common.h: what the experiment relays (sockmap-relay.c, uring-relay.c) share on top of
 * bench/tools/common.h (die, die_errno, close_fd, ...): the command line (--listen PORT
 * --backend PORT plus the relay's own options), the stop flag set by SIGINT/SIGTERM, the
 * listening socket and the backend connection. Header only (static functions), so each relay
 * still builds from its one .c file.
 *
 * The including file defines TOOL_NAME (the prefix of every message) and `usage_text` (the
 * whole usage line, printed alone on a usage error) first, as for common.h.
 */
#ifndef EPOXY_BENCH_RELAY_COMMON_H
#define EPOXY_BENCH_RELAY_COMMON_H

#include "../tools/common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

/* Set by SIGINT/SIGTERM: the relay's loop ends, it prints its counters and exits 0. */
static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

/* SIGINT/SIGTERM set `stop`; no SA_RESTART, so a blocked epoll_wait / io_uring_enter returns
 * EINTR and the loop sees it. SIGPIPE ignored (sends use MSG_NOSIGNAL anyway). */
static void relay_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0) die_errno("sigaction");
  sa.sa_handler = SIG_IGN;
  if (sigaction(SIGPIPE, &sa, NULL) < 0) die_errno("sigaction SIGPIPE");
}

static void usage(void) __attribute__((noreturn));
static void usage(void) {
  fputs(usage_text, stderr);
  exit(2);
}

static int port_arg(const char *s) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < 1 || v > 65535) usage();
  return (int)v;
}

/*
 * The command line: --listen PORT and --backend PORT (both required); any other argument
 * argv[*i] goes to `option`, which takes it (and its value: *i moves past it) and returns true,
 * or returns false: a usage error.
 */
static void relay_args(int argc, char **argv, bool (*option)(int argc, char **argv, int *i), int *listen_port,
                       int *backend_port) {
  *listen_port = *backend_port = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--listen") && i + 1 < argc) *listen_port = port_arg(argv[++i]);
    else if (!strcmp(argv[i], "--backend") && i + 1 < argc) *backend_port = port_arg(argv[++i]);
    else if (!option(argc, argv, &i)) usage();
  }
  if (!*listen_port || !*backend_port) usage();
}

static void set_nodelay(int fd) {
  int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) die_errno("setsockopt TCP_NODELAY");
}

/* A socket listening on 127.0.0.1:port (SO_REUSEADDR, backlog 4096); `type_flags` adds to
 * SOCK_STREAM | SOCK_CLOEXEC (SOCK_NONBLOCK, or 0). */
static int relay_listen(int port, int type_flags) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | type_flags, 0);
  if (fd < 0) die_errno("socket (listen)");
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) die_errno("setsockopt SO_REUSEADDR");
  struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&la, sizeof(la)) < 0) die_errno("bind");
  if (listen(fd, 4096) < 0) die_errno("listen");
  return fd;
}

/*
 * For client cfd: a blocking socket connected to 127.0.0.1:backend_port, TCP_NODELAY set on both.
 * Blocking connect: loopback completes the handshake within the call (these relays measure the
 * per-request path, not connection setup), and a sockhash wants established sockets. If the
 * connect fails: says so, closes both sockets and returns -1 (the client is dropped).
 */
static int relay_connect(int cfd, int backend_port) {
  int bfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (bfd < 0) die_errno("socket (backend)");
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)backend_port)};
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(bfd, (struct sockaddr *)&to, sizeof(to)) < 0) {
    fprintf(stderr, TOOL_NAME ": connect to 127.0.0.1:%d: %s (client dropped)\n", backend_port, strerror(errno));
    close_fd(bfd);
    close_fd(cfd);
    return -1;
  }
  set_nodelay(cfd);
  set_nodelay(bfd);
  return bfd;
}

#endif
