/*
 * common.h: what the harness's C tools (loadgen.c, responder.c) share: failing with a message,
 * option parsing, the monotonic clock, checked syscall wrappers, and the std-fd guard. Header
 * only (static functions), so each tool still builds from its one .c file:
 *
 *   cc -O2 -Wall -Wextra -Werror -std=gnu11 -o loadgen loadgen.c
 *
 * The including file defines TOOL_NAME (the prefix of every message) and `usage_text` (printed
 * after a usage error) first. bench/harness/build-tool.mjs hashes this file along with the tool,
 * so a change here rebuilds both. bench/experiments/relay-common.h includes it too (the relays).
 */
#ifndef EPOXY_BENCH_COMMON_H
#define EPOXY_BENCH_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef TOOL_NAME
#error "define TOOL_NAME before including common.h"
#endif

#define NS_PER_US 1000ull
#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

/* ------------------------------------------------------------------------------------------ */
/* Failing: exit 1 on a runtime failure, 2 on a usage error (the message names the option). */

static void vsay(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static void vsay(const char *fmt, va_list ap) {
  fputs(TOOL_NAME ": ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsay(fmt, ap);
  va_end(ap);
  exit(1);
}

static void die_errno(const char *what) __attribute__((noreturn));
static void die_errno(const char *what) { die("%s: %s", what, strerror(errno)); }

static void usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsay(fmt, ap);
  va_end(ap);
  fputs(usage_text, stderr);
  exit(2);
}

/* SIGINT and SIGTERM blocked and delivered through a non-blocking signalfd instead, so the
 * tool's epoll loop sees them and can end cleanly (exit 0). Returns the signalfd. */
static inline int signals_as_fd(void) {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0) die_errno("sigprocmask");
  int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sfd < 0) die_errno("signalfd");
  return sfd;
}

static inline uint64_t now_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) die_errno("clock_gettime");
  return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------------------------------ */
/* Options: --name value or --name=value; numbers checked against their range. */

#define OPTION_NAME_MAX 64

/*
 * argv[*i] as an option: its name ("--port", NUL-ended) into name[OPTION_NAME_MAX], and its value:
 * the text after '=', else the next argument (*i moves past it), or NULL for a flag (`is_flag`
 * true of the name), which takes no value.
 */
static inline const char *take_option(int argc, char **argv, int *i, char *name, bool (*is_flag)(const char *name)) {
  const char *arg = argv[*i];
  const char *value = NULL;
  if (strncmp(arg, "--", 2) != 0) usage_error("unexpected argument '%s'", arg);
  const char *eq = strchr(arg, '=');
  size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
  if (len >= OPTION_NAME_MAX) usage_error("unknown option %.40s...", arg);
  memcpy(name, arg, len);
  name[len] = '\0';
  if (eq) value = eq + 1;
  if (is_flag(name)) {
    if (value) usage_error("%s takes no value", name);
  } else if (!value) {
    if (*i + 1 >= argc) usage_error("%s needs a value", name);
    value = argv[++*i];
  }
  return value;
}

static inline double parse_number(const char *name, const char *text, double min, double max) {
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || v != v)
    usage_error("%s needs a number, not '%s'", name, text);
  if (v < min || v > max) usage_error("%s must be between %g and %g, not '%s'", name, min, max, text);
  return v;
}

static inline long parse_integer(const char *name, const char *text, long min, long max) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0') usage_error("%s needs an integer, not '%s'", name, text);
  if (v < min || v > max) usage_error("%s must be between %ld and %ld, not '%s'", name, min, max, text);
  return v;
}

/* ------------------------------------------------------------------------------------------ */
/* Syscall wrappers: each checks its result; data-path ones return -errno instead of dying. */

static int epfd = -1;

static inline void ep_ctl(int op, int fd, uint32_t events, uint64_t data) {
  struct epoll_event ev = {.events = events, .data.u64 = data};
  if (epoll_ctl(epfd, op, fd, &ev) != 0) die_errno("epoll_ctl");
}

static inline void close_fd(int fd) {
  /* Linux frees the fd even when close() fails (EINTR included): never retry it. */
  if (close(fd) != 0 && errno != EINTR) die_errno("close");
}

/* Bytes read, 0 at EOF, -EAGAIN when nothing is there, -errno. */
static inline ssize_t recv_some(int fd, char *buf, size_t len) {
  for (;;) {
    ssize_t n = recv(fd, buf, len, 0);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return -EAGAIN;
    return -errno;
  }
}

/* A caller may start us with fd 0, 1 or 2 closed (`<&-`). The next fd opened would take its place:
 * an epoll set or a socket could become stdin, and a line meant for stdout or a diagnostic could
 * go into a connection. /dev/null fills each gap (so a closed stdin counts as at its end, like
 * </dev/null). open() returns the lowest free fd, and every lower one is open by then: it lands on
 * `fd`. */
static inline void fill_std_fds(void) {
  for (int fd = 0; fd <= 2; fd++) {
    if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    if (open("/dev/null", (fd == 0 ? O_RDONLY : O_WRONLY) | O_NOCTTY) < 0) die_errno("open(/dev/null)");
  }
}

#endif
