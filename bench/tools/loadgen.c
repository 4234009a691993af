/*
 * loadgen: the benchmark harness's own HTTP/1.1 load client, for what wrk cannot do (a fixed
 * request rate, thousands of held idle connections, TCP Fast Open). One file (and common.h, shared
 * with responder.c), Linux, libc only.
 *
 *   cc -O2 -Wall -Wextra -Werror -std=gnu11 -o loadgen loadgen.c
 *
 *   loadgen rate  --port P --rate R --duration S [--connections 50] [--warmup 1] [--per-second] [--host H] [--path /]
 *   loadgen idle  --port P --connections N [--hold 0] [--request] [--host H] [--path /]
 *   loadgen close --port P --duration S [--connections 20] [--fastopen] [--host H] [--path /]
 *
 * Every mode prints one JSON object as the last line of stdout (with "cpuUs", this process's
 * user+system CPU in microseconds); diagnostics go to stderr. Exit 0 on success, 2 on a usage
 * error (the message names the option), 1 on a runtime failure. bench/harness/loadgen.mjs builds
 * and runs it.
 *
 * Design
 * - One thread, one epoll set, level-triggered, no allocation after start-up: connections live
 *   in one array sized by --connections, responses are parsed by a byte-level state machine that
 *   keeps ~40 bytes per connection (so `idle` can hold 20,000 connections in a few MB) and never
 *   buffers a body (only its length is counted), and latencies go to a fixed log-linear
 *   histogram.
 * - rate: open loop. Request i is due at t0 + i/R, a global schedule computed from i, not from
 *   when the previous request went out. Due requests are dealt to free connections in FIFO order
 *   of their becoming free (round-robin when all keep up). When no connection is free, due
 *   requests wait; the queue is just the gap between two counters (due, sent), so it costs no
 *   memory, and a waiting request's latency still runs from its SCHEDULED time. Measuring from
 *   the actual send time instead would hide exactly the stalls a fixed-rate test exists to show
 *   (coordinated omission: a server that stops for 1 s would be charged for one slow request
 *   instead of R of them). Pacing uses an absolute CLOCK_MONOTONIC timerfd re-armed only when the
 *   next due time changes, with the timer slack lowered to 1 us, so the client sleeps between
 *   requests instead of spinning. Requests scheduled in the first --warmup seconds are sent but
 *   not counted. After the schedule ends, answers still outstanding get DRAIN_NS; what is left
 *   then counts as errors. --per-second adds a histogram per second of the measured schedule
 *   (by scheduled time) and, in the JSON, "t0ns" (CLOCK_MONOTONIC of the measured schedule's
 *   start, so a caller can place an event of its own, a reload, in one of those seconds) and
 *   "seconds" [{n, p50us, p99us, p999us, maxus}], allocated before the run like everything else.
 * - idle: non-blocking connects, at most IDLE_MAX_INFLIGHT under way at once, optionally one
 *   request each; then the JSON line, then the connections are held (watched for a peer close)
 *   until --hold seconds, stdin EOF or SIGINT/SIGTERM (through a signalfd, so the loop sees it).
 * - close: closed loop, a new connection per request with `Connection: close`; with --fastopen
 *   the socket gets TCP_FASTOPEN_CONNECT before connect(), so connect() returns at once and the
 *   first write carries the request in the SYN when a cookie is cached; TCP_INFO's
 *   TCPI_OPT_SYN_DATA then tells whether the server accepted the data in the SYN.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* How long answers outstanding when the schedule (rate) or the duration (close) ends may take. */
#define DRAIN_NS (5 * NS_PER_S)
/* How long the initial connections of `rate` may take before the schedule starts anyway. */
#define CONNECT_PHASE_NS (10 * NS_PER_S)
/* A connection of `idle` not established (and answered) this long after its connect() fails. */
#define IDLE_CONNECT_TIMEOUT_NS (10 * NS_PER_S)
/* Connects under way at once in `idle`: a proxy listening with a backlog of a few hundred (HAProxy
 * uses maxconn, often 1000 or less) drops SYNs beyond it, and a dropped SYN costs a 1 s retry. */
#define IDLE_MAX_INFLIGHT 500
/* Wait before reconnecting after a failed connect, so a dead server does not make us spin. */
#define RECONNECT_BACKOFF_NS (50 * NS_PER_MS)
/* fds beyond the connections: epoll, timerfd, signalfd, stdio, and slack for libc. */
#define SPARE_FDS 64
/* Response headers above this are an error (nginx sends ~200 bytes). */
#define MAX_HEADER_BYTES 65536
/* Diagnostics of failed requests printed to stderr at most (the rest are only counted). */
#define MAX_LOGGED_ERRORS 5
#define MAX_EVENTS 512

/* epoll data of the non-connection fds (connections use their array index). */
#define EV_TIMER UINT64_C(0xffffffffffffff01)
#define EV_SIGNAL UINT64_C(0xffffffffffffff02)
#define EV_STDIN UINT64_C(0xffffffffffffff03)

static const char usage_text[] =
    "usage: loadgen rate  --port P --rate R --duration S [--connections 50] [--warmup 1] [--per-second]\n"
    "       loadgen idle  --port P --connections N [--hold 0] [--request]\n"
    "       loadgen close --port P --duration S [--connections 20] [--fastopen]\n"
    "common options: --host 127.0.0.1 (IPv4 or IPv6 literal), --path /\n";

#define TOOL_NAME "loadgen"
#include "common.h"

/* ------------------------------------------------------------------------------------------ */
/* Failing */

static unsigned logged_errors;

/* A failed request, said on stderr the first few times only: a broken server fails thousands. */
static void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_error(const char *fmt, ...) {
  if (logged_errors >= MAX_LOGGED_ERRORS) return;
  va_list ap;
  va_start(ap, fmt);
  fputs("loadgen: ", stderr);
  vfprintf(stderr, fmt, ap);
  if (++logged_errors == MAX_LOGGED_ERRORS) fputs(" (further errors only counted)", stderr);
  fputc('\n', stderr);
  va_end(ap);
}

static uint64_t cpu_us(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) die_errno("getrusage");
  return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
         (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* ------------------------------------------------------------------------------------------ */
/* Options */

enum mode { MODE_RATE, MODE_IDLE, MODE_CLOSE };

struct options {
  enum mode mode;
  const char *mode_name;
  const char *host;
  const char *path;
  long port;
  double rate;
  double duration;
  double warmup;
  double hold;
  long connections;
  bool request;
  bool fastopen;
  bool per_second;
};

static bool is_flag(const char *name) {
  return strcmp(name, "--request") == 0 || strcmp(name, "--fastopen") == 0 || strcmp(name, "--per-second") == 0;
}

static void parse_options(int argc, char **argv, struct options *o) {
  if (argc < 2) usage_error("missing mode (rate, idle or close)");
  o->mode_name = argv[1];
  if (strcmp(argv[1], "rate") == 0) o->mode = MODE_RATE;
  else if (strcmp(argv[1], "idle") == 0) o->mode = MODE_IDLE;
  else if (strcmp(argv[1], "close") == 0) o->mode = MODE_CLOSE;
  else usage_error("unknown mode '%s' (rate, idle or close)", argv[1]);

  o->host = "127.0.0.1";
  o->path = "/";
  o->port = -1;
  o->rate = -1;
  o->duration = -1;
  o->warmup = 1;
  o->hold = 0;
  o->connections = o->mode == MODE_RATE ? 50 : o->mode == MODE_CLOSE ? 20 : -1;

  for (int i = 2; i < argc; i++) {
    char name[OPTION_NAME_MAX];
    const char *value = take_option(argc, argv, &i, name, is_flag);
    bool ok_here = true;
    if (strcmp(name, "--host") == 0) o->host = value;
    else if (strcmp(name, "--port") == 0) o->port = parse_integer(name, value, 1, 65535);
    else if (strcmp(name, "--path") == 0) o->path = value;
    else if (strcmp(name, "--rate") == 0) {
      ok_here = o->mode == MODE_RATE;
      o->rate = parse_number(name, value, 0.001, 1e7);
    } else if (strcmp(name, "--duration") == 0) {
      ok_here = o->mode != MODE_IDLE;
      o->duration = parse_number(name, value, 0.001, 86400);
    } else if (strcmp(name, "--warmup") == 0) {
      ok_here = o->mode == MODE_RATE;
      o->warmup = parse_number(name, value, 0, 86400);
    } else if (strcmp(name, "--connections") == 0) {
      o->connections = parse_integer(name, value, 1, 1000000);
    } else if (strcmp(name, "--hold") == 0) {
      ok_here = o->mode == MODE_IDLE;
      o->hold = parse_number(name, value, 0, 86400 * 365.0);
    } else if (strcmp(name, "--request") == 0) {
      ok_here = o->mode == MODE_IDLE;
      o->request = true;
    } else if (strcmp(name, "--fastopen") == 0) {
      ok_here = o->mode == MODE_CLOSE;
      o->fastopen = true;
    } else if (strcmp(name, "--per-second") == 0) {
      ok_here = o->mode == MODE_RATE;
      o->per_second = true;
    } else usage_error("unknown option %s", name);
    if (!ok_here) usage_error("%s is not an option of mode %s", name, o->mode_name);
  }

  if (o->port < 0) usage_error("missing --port");
  if (o->mode == MODE_RATE && o->rate < 0) usage_error("missing --rate");
  if (o->mode != MODE_IDLE && o->duration < 0) usage_error("missing --duration");
  if (o->mode == MODE_IDLE && o->connections < 0) usage_error("missing --connections");
  if (o->path[0] != '/' || strlen(o->path) > 2048 || strpbrk(o->path, " \t\r\n") != NULL)
    usage_error("--path must start with '/', have no whitespace and be at most 2048 bytes");
}

/* ------------------------------------------------------------------------------------------ */
/* Target and request */

static struct sockaddr_storage target;
static socklen_t target_len;
static char request[2200];
static size_t request_len;

static void resolve_target(const struct options *o) {
  char host[INET6_ADDRSTRLEN + 2];
  const char *h = o->host;
  size_t len = strlen(h);
  /* Accept "[::1]" as well as "::1", as URLs and HAProxy write IPv6 addresses. */
  if (len >= 2 && h[0] == '[' && h[len - 1] == ']' && len - 2 < sizeof host) {
    memcpy(host, h + 1, len - 2);
    host[len - 2] = '\0';
    h = host;
  }
  memset(&target, 0, sizeof target);
  struct sockaddr_in *sin = (struct sockaddr_in *)&target;
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&target;
  if (inet_pton(AF_INET, h, &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)o->port);
    target_len = sizeof *sin;
  } else if (inet_pton(AF_INET6, h, &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)o->port);
    target_len = sizeof *sin6;
  } else {
    usage_error("--host must be an IPv4 or IPv6 literal, not '%s'", o->host);
  }
}

static void build_request(const struct options *o, bool close_style) {
  int n = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: bench\r\n%s\r\n", o->path,
                   close_style ? "Connection: close\r\n" : "");
  if (n < 0 || (size_t)n >= sizeof request) die("request does not fit its buffer");
  request_len = (size_t)n;
}

/* ------------------------------------------------------------------------------------------ */
/* Syscall wrappers: each checks its result; data-path ones return -errno instead of dying. */

/*
 * A non-blocking socket with connect() started: 0 connected already (loopback, or a deferred
 * TFO connect), 1 under way, or -errno. *fd_out is -1 after a failure (nothing leaks).
 */
static int start_connect(int *fd_out, bool fastopen) {
  *fd_out = -1;
  int fd = socket(target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if (errno == EMFILE || errno == ENFILE) die("socket: %s (raise the open-files limit)", strerror(errno));
    die_errno("socket");
  }
  int one = 1;
  /* Requests are single small writes: do not let Nagle hold a partial one back. */
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) die_errno("setsockopt(TCP_NODELAY)");
  if (fastopen && setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof one) != 0)
    die("setsockopt(TCP_FASTOPEN_CONNECT): %s (kernel without client TFO?)", strerror(errno));
  int rc;
  do rc = connect(fd, (struct sockaddr *)&target, target_len);
  while (rc != 0 && errno == EINTR);
  if (rc == 0) {
    *fd_out = fd;
    return 0;
  }
  if (errno == EINPROGRESS) {
    *fd_out = fd;
    return 1;
  }
  int err = errno;
  close_fd(fd);
  return -err;
}

/* 0 when the non-blocking connect succeeded, else the positive errno. */
static int connect_result(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) die_errno("getsockopt(SO_ERROR)");
  return err;
}

/* Bytes written (maybe fewer than asked), 0 when the socket is full or still connecting, -errno. */
static ssize_t send_some(int fd, const char *buf, size_t len) {
  for (;;) {
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    /* EINPROGRESS: a TFO connect without a cookie yet sent a plain SYN; write on EPOLLOUT. */
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINPROGRESS) return 0;
    return -errno;
  }
}

/* Sends what is left of the request from *written on (every mode's connections write it the same
 * way): -errno on failure, else the epoll events to watch next, EPOLLOUT among them while part of
 * the request still waits for room. */
static int send_request(int fd, uint32_t *written) {
  ssize_t n = send_some(fd, request + *written, request_len - *written);
  if (n < 0) return (int)n;
  *written += (uint32_t)n;
  return *written == request_len ? EPOLLIN | EPOLLRDHUP : EPOLLIN | EPOLLOUT | EPOLLRDHUP;
}

/* Responses are parsed as they arrive and their bodies dropped: one buffer serves every read. */
static char scratch[65536];

/* ------------------------------------------------------------------------------------------ */
/* HTTP/1.1 response parser: byte-level state machine, resumable at any split, no buffering. */

enum hp_state {
  HP_STATUS,     /* in "HTTP/1.x NNN reason\r\n"; pos counts its bytes */
  HP_LINE_START, /* at the start of a header line or of the blank line */
  HP_NAME,       /* in a header name; word[] holds it lowercased, pos its length */
  HP_VALUE,      /* in a header value */
  HP_BLANK_LF,   /* after the blank line's \r */
  HP_BODY,       /* counting down `remaining` body bytes */
  HP_BODY_EOF,   /* no Content-Length: the body ends when the server closes */
  HP_DONE,       /* a whole response was read */
};

enum hp_header {
  HH_OTHER,          /* a header we do not need */
  HH_CONTENT_LENGTH, /* Content-Length */
  HH_TRANSFER,       /* Transfer-Encoding: chunked (any coding) is refused */
  HH_CONNECTION,     /* Connection: close means the server closes after this response */
};

enum hp_result { HP_NEED = 0, HP_COMPLETE = 1, HP_ERROR = -1 };

struct http_parser {
  uint8_t state;         /* enum hp_state */
  uint8_t header;        /* enum hp_header of the header being read */
  uint8_t pos;           /* status-line position (saturates at 255), or word[] length */
  bool has_length;       /* a Content-Length header was seen */
  bool digits;           /* the current Content-Length value has digits */
  bool digits_ended;     /* a space followed those digits: another digit is an error */
  bool transfer_encoded; /* a Transfer-Encoding header was seen */
  bool close;            /* Connection: close */
  uint16_t status;       /* the status code */
  uint32_t header_bytes; /* bytes of status line and headers so far */
  uint64_t value;        /* the Content-Length being read */
  uint64_t remaining;    /* body bytes still to come (HP_BODY) */
  char word[20];         /* lowercased header name, then Connection's value; truncated, NUL-ended */
  const char *error;     /* why the response is invalid (static text) */
};

static void hp_reset(struct http_parser *p) { memset(p, 0, sizeof *p); }

static int hp_fail(struct http_parser *p, const char *why) {
  p->error = why;
  return HP_ERROR;
}

static bool hp_name_is(const struct http_parser *p, const char *name) {
  size_t len = strlen(name);
  return p->pos == len && memcmp(p->word, name, len) == 0;
}

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

/* The end of one header line. */
static int hp_end_header(struct http_parser *p) {
  switch (p->header) {
  case HH_CONTENT_LENGTH:
    if (!p->digits) return hp_fail(p, "empty Content-Length");
    if (p->has_length && p->value != p->remaining) return hp_fail(p, "conflicting Content-Length headers");
    p->has_length = true;
    p->remaining = p->value;
    break;
  case HH_TRANSFER:
    p->transfer_encoded = true;
    break;
  case HH_CONNECTION:
    p->word[p->pos < sizeof p->word ? p->pos : sizeof p->word - 1] = '\0';
    if (strstr(p->word, "close") != NULL) p->close = true;
    break;
  default:
    break;
  }
  p->state = HP_LINE_START;
  return HP_NEED;
}

/* The blank line after the headers: what follows decides how the body is delimited. */
static int hp_end_headers(struct http_parser *p) {
  if (p->status >= 100 && p->status < 200) {
    /* An interim response (100 Continue, 103 Early Hints): the real one follows. */
    uint32_t bytes = p->header_bytes;
    hp_reset(p);
    p->header_bytes = bytes;
    return HP_NEED;
  }
  if (p->transfer_encoded) return hp_fail(p, "Transfer-Encoding (chunked) responses are not supported");
  if (p->status == 204 || p->status == 304 || (p->has_length && p->remaining == 0)) {
    p->state = HP_DONE;
    return HP_COMPLETE;
  }
  p->state = p->has_length ? HP_BODY : HP_BODY_EOF;
  return HP_NEED;
}

/*
 * Feeds n bytes. HP_COMPLETE with *used the bytes that belonged to the response (any rest is
 * unexpected: requests are never pipelined), HP_NEED when everything was consumed, HP_ERROR.
 */
static int hp_feed(struct http_parser *p, const char *buf, size_t n, size_t *used) {
  size_t i = 0;
  *used = n;
  while (i < n) {
    if (p->state == HP_BODY) {
      size_t take = n - i < p->remaining ? n - i : (size_t)p->remaining;
      p->remaining -= take;
      i += take;
      if (p->remaining == 0) {
        p->state = HP_DONE;
        *used = i;
        return HP_COMPLETE;
      }
      continue;
    }
    if (p->state == HP_BODY_EOF) return HP_NEED;
    if (p->state == HP_DONE) {
      *used = i;
      return HP_COMPLETE;
    }
    char c = buf[i++];
    if (++p->header_bytes > MAX_HEADER_BYTES) return hp_fail(p, "response headers larger than 64 KiB");
    switch (p->state) {
    case HP_STATUS:
      if (c == '\n') {
        if (p->pos < 12) return hp_fail(p, "truncated status line");
        p->state = HP_LINE_START;
        break;
      }
      if (p->pos < 7) {
        if (c != "HTTP/1."[p->pos]) return hp_fail(p, "not an HTTP/1.x response");
      } else if (p->pos == 7) {
        if (c < '0' || c > '9') return hp_fail(p, "not an HTTP/1.x response");
      } else if (p->pos == 8) {
        if (c != ' ') return hp_fail(p, "malformed status line");
      } else if (p->pos <= 11) {
        if (c < '0' || c > '9') return hp_fail(p, "malformed status code");
        p->status = (uint16_t)(p->status * 10 + (c - '0'));
      } else if (p->pos == 12) {
        if (c != ' ' && c != '\r') return hp_fail(p, "malformed status line");
      }
      if (p->pos < 255) p->pos++;
      break;
    case HP_LINE_START:
      if (c == '\r') {
        p->state = HP_BLANK_LF;
        break;
      }
      if (c == '\n') {
        int r = hp_end_headers(p);
        if (r == HP_COMPLETE) *used = i;
        if (r != HP_NEED) return r;
        break;
      }
      if (c == ' ' || c == '\t') return hp_fail(p, "folded header line");
      p->state = HP_NAME;
      p->pos = 0;
      __attribute__((fallthrough)); /* c is the name's first byte */
    case HP_NAME:
      if (c == ':') {
        p->header = hp_name_is(p, "content-length")      ? HH_CONTENT_LENGTH
                    : hp_name_is(p, "transfer-encoding") ? HH_TRANSFER
                    : hp_name_is(p, "connection")        ? HH_CONNECTION
                                                         : HH_OTHER;
        p->state = HP_VALUE;
        p->pos = 0;
        p->value = 0;
        p->digits = false;
        p->digits_ended = false;
        break;
      }
      if (c == '\n' || c == '\r') return hp_fail(p, "header line without a colon");
      if (p->pos < sizeof p->word) p->word[p->pos] = lower(c);
      if (p->pos < 255) p->pos++;
      break;
    case HP_VALUE:
      if (c == '\n') {
        int r = hp_end_header(p);
        if (r != HP_NEED) return r;
        break;
      }
      if (c == '\r') break;
      if (p->header == HH_CONTENT_LENGTH) {
        if (c == ' ' || c == '\t') {
          if (p->digits) p->digits_ended = true;
        } else if (c >= '0' && c <= '9' && !p->digits_ended) {
          if (p->value > (UINT64_MAX - 9) / 10) return hp_fail(p, "Content-Length too large");
          p->value = p->value * 10 + (uint64_t)(c - '0');
          p->digits = true;
        } else {
          return hp_fail(p, "malformed Content-Length");
        }
      } else if (p->header == HH_CONNECTION) {
        if (p->pos < sizeof p->word - 1) p->word[p->pos++] = lower(c);
      }
      break;
    case HP_BLANK_LF: {
      if (c != '\n') return hp_fail(p, "malformed end of headers");
      int r = hp_end_headers(p);
      if (r == HP_COMPLETE) *used = i;
      if (r != HP_NEED) return r;
      break;
    }
    default:
      return hp_fail(p, "parser in an impossible state");
    }
  }
  if (p->state == HP_DONE) return HP_COMPLETE;
  return HP_NEED;
}

/* The server closed: complete if the body was delimited by the close, else an error. */
static int hp_eof(struct http_parser *p) {
  if (p->state == HP_BODY_EOF) {
    p->state = HP_DONE;
    return HP_COMPLETE;
  }
  return hp_fail(p, "connection closed before the response was complete");
}


/* ------------------------------------------------------------------------------------------ */
/* Latency histogram: 1 us buckets below 1024 us, then 128 per power of two (relative width
 * 1/128 < 1%) up to 2^26 us (67 s); fixed size, so recording is an index and an increment. */

#define H_LINEAR 1024u
#define H_LINEAR_BITS 10u
#define H_SUB_BITS 7u
#define H_SUB (1u << H_SUB_BITS)
#define H_TOP_BITS 26u
#define H_BUCKETS (H_LINEAR + (H_TOP_BITS - H_LINEAR_BITS) * H_SUB)

struct histogram {
  uint64_t counts[H_BUCKETS];
  uint64_t n;
  uint64_t sum_ns;
  uint64_t min_ns;
  uint64_t max_ns;
};

static void h_record(struct histogram *h, uint64_t ns) {
  uint64_t us = ns / NS_PER_US;
  unsigned idx;
  if (us < H_LINEAR) {
    idx = (unsigned)us;
  } else {
    unsigned e = 63u - (unsigned)__builtin_clzll(us);
    if (e >= H_TOP_BITS) idx = H_BUCKETS - 1;
    else idx = H_LINEAR + (e - H_LINEAR_BITS) * H_SUB + (unsigned)((us >> (e - H_SUB_BITS)) & (H_SUB - 1));
  }
  h->counts[idx]++;
  if (h->n == 0 || ns < h->min_ns) h->min_ns = ns;
  if (ns > h->max_ns) h->max_ns = ns;
  h->n++;
  h->sum_ns += ns;
}

/* The value at quantile q in us: the middle of its bucket, kept within [min, max]. */
static double h_quantile(const struct histogram *h, double q) {
  if (h->n == 0) return 0;
  uint64_t rank = (uint64_t)(q * (double)h->n);
  if ((double)rank < q * (double)h->n) rank++;
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  unsigned idx = 0;
  for (; idx < H_BUCKETS; idx++) {
    seen += h->counts[idx];
    if (seen >= rank) break;
  }
  double lo, width;
  if (idx < H_LINEAR) {
    lo = idx;
    width = 1;
  } else {
    unsigned k = idx - H_LINEAR, e = H_LINEAR_BITS + k / H_SUB;
    width = (double)(1ull << (e - H_SUB_BITS));
    lo = (double)(1ull << e) + (k % H_SUB) * width;
  }
  double v = lo + width / 2, min = (double)h->min_ns / 1e3, max = (double)h->max_ns / 1e3;
  return v < min ? min : v > max ? max : v;
}

static double h_mean_us(const struct histogram *h) {
  return h->n ? (double)h->sum_ns / (double)h->n / 1e3 : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* rate: open-loop fixed rate on keep-alive connections */

enum rstate {
  R_DOWN,       /* no socket; reconnect at retry_at */
  R_CONNECTING, /* connect() under way */
  R_FREE,       /* connected, no request, in the free ring */
  R_SENDING,    /* request partly written */
  R_WAITING,    /* request written, response not complete */
};

struct rconn {
  int fd;
  uint8_t state;      /* enum rstate */
  bool measured;      /* the current request counts (scheduled after the warm-up) */
  uint32_t gen;       /* socket generation: an event read before a reconnect names the old one */
  uint32_t events;    /* events registered in epoll */
  uint32_t written;   /* bytes of the request sent */
  uint64_t sched_ns;  /* when the current request was due */
  uint64_t retry_at;  /* R_DOWN: when to reconnect */
  struct http_parser hp;
};

struct rate_run {
  const struct options *o;
  struct rconn *conns;
  uint32_t nconns;
  uint32_t *ring; /* free connections, FIFO */
  uint32_t ring_head, ring_count;
  uint32_t down;     /* connections in R_DOWN */
  uint32_t inflight; /* connections in R_SENDING or R_WAITING */
  double period_ns;
  uint64_t t0;
  uint64_t warm_ns;
  uint64_t total;     /* requests in the schedule, warm-up included */
  uint64_t next_due;  /* requests due so far */
  uint64_t next_sent; /* requests handed to a connection so far */
  uint64_t sent, completed, errors;
  int last_errno;
  struct histogram hist;
  struct histogram *seconds; /* --per-second: one per second of the measured schedule */
  uint32_t nseconds;
};

static uint64_t sched_offset(const struct rate_run *r, uint64_t i) { return (uint64_t)((double)i * r->period_ns); }

/* epoll data of a rate connection: its index, and its generation in the high half. */
static uint64_t r_tag(const struct rconn *c, uint32_t idx) { return (uint64_t)c->gen << 32 | idx; }

static void r_set_events(struct rconn *c, uint32_t idx, uint32_t events) {
  if (c->events == events) return;
  ep_ctl(EPOLL_CTL_MOD, c->fd, events, r_tag(c, idx));
  c->events = events;
}

static void r_push_free(struct rate_run *r, uint32_t idx) {
  r->ring[(r->ring_head + r->ring_count) % r->nconns] = idx;
  r->ring_count++;
  r->conns[idx].state = R_FREE;
}

static uint32_t r_pop_free(struct rate_run *r) {
  uint32_t idx = r->ring[r->ring_head];
  r->ring_head = (r->ring_head + 1) % r->nconns;
  r->ring_count--;
  return idx;
}

static void r_remove_free(struct rate_run *r, uint32_t idx) {
  /* Rare (a free connection closed by the server): a linear search of the ring is fine. */
  for (uint32_t k = 0; k < r->ring_count; k++) {
    uint32_t at = (r->ring_head + k) % r->nconns;
    if (r->ring[at] != idx) continue;
    for (uint32_t m = k; m + 1 < r->ring_count; m++)
      r->ring[(r->ring_head + m) % r->nconns] = r->ring[(r->ring_head + m + 1) % r->nconns];
    r->ring_count--;
    return;
  }
}

static void r_connected(struct rate_run *r, uint32_t idx) {
  struct rconn *c = &r->conns[idx];
  r_set_events(c, idx, EPOLLIN | EPOLLRDHUP);
  r_push_free(r, idx);
}

static void r_open(struct rate_run *r, uint32_t idx, uint64_t now) {
  struct rconn *c = &r->conns[idx];
  int rc = start_connect(&c->fd, false);
  if (rc < 0) {
    r->last_errno = -rc;
    log_error("connect: %s", strerror(-rc));
    c->state = R_DOWN;
    c->retry_at = now + RECONNECT_BACKOFF_NS;
    r->down++;
    return;
  }
  c->gen++;
  c->events = rc == 0 ? EPOLLIN | EPOLLRDHUP : EPOLLOUT;
  ep_ctl(EPOLL_CTL_ADD, c->fd, c->events, r_tag(c, idx));
  c->state = R_CONNECTING;
  if (rc == 0) r_connected(r, idx);
}

/*
 * Ends a connection, counting the request on it (if any, and measured) as an error when
 * request_failed; reconnects at once after an established connection, after a back-off when the
 * connect itself failed.
 */
static void r_drop(struct rate_run *r, uint32_t idx, bool request_failed, uint64_t now) {
  struct rconn *c = &r->conns[idx];
  if (c->state == R_SENDING || c->state == R_WAITING) {
    r->inflight--;
    if (request_failed && c->measured) r->errors++;
  } else if (c->state == R_FREE) {
    r_remove_free(r, idx);
  }
  bool was_connecting = c->state == R_CONNECTING;
  close_fd(c->fd); /* also removes it from the epoll set */
  c->fd = -1;
  if (was_connecting) {
    c->state = R_DOWN;
    c->retry_at = now + RECONNECT_BACKOFF_NS;
    r->down++;
  } else {
    r_open(r, idx, now);
  }
}

static void r_write(struct rate_run *r, uint32_t idx, uint64_t now) {
  struct rconn *c = &r->conns[idx];
  int events = send_request(c->fd, &c->written);
  if (events < 0) {
    log_error("send: %s", strerror(-events));
    r_drop(r, idx, true, now);
    return;
  }
  c->state = events & EPOLLOUT ? R_SENDING : R_WAITING;
  r_set_events(c, idx, (uint32_t)events);
}

static void r_dispatch(struct rate_run *r, uint32_t idx, uint64_t i, uint64_t now) {
  struct rconn *c = &r->conns[idx];
  uint64_t off = sched_offset(r, i);
  c->sched_ns = r->t0 + off;
  c->measured = off >= r->warm_ns;
  if (c->measured) r->sent++;
  c->written = 0;
  hp_reset(&c->hp);
  c->state = R_SENDING;
  r->inflight++;
  r_write(r, idx, now);
}

static void r_complete(struct rate_run *r, uint32_t idx, uint64_t now) {
  struct rconn *c = &r->conns[idx];
  bool ok = c->hp.status >= 200 && c->hp.status < 300;
  if (c->measured) {
    if (ok) {
      r->completed++;
      h_record(&r->hist, now - c->sched_ns);
      if (r->seconds) {
        uint64_t second = (c->sched_ns - r->t0 - r->warm_ns) / NS_PER_S;
        if (second < r->nseconds) h_record(&r->seconds[second], now - c->sched_ns);
      }
    } else {
      r->errors++;
    }
  }
  if (!ok) log_error("status %u", c->hp.status);
  r->inflight--;
  c->state = R_FREE; /* not yet in the ring: r_drop must not look for it there */
  if (c->hp.close) {
    close_fd(c->fd);
    c->fd = -1;
    r_open(r, idx, now);
  } else {
    r_set_events(c, idx, EPOLLIN | EPOLLRDHUP);
    r_push_free(r, idx);
  }
}

static void r_readable(struct rate_run *r, uint32_t idx, uint64_t now) {
  struct rconn *c = &r->conns[idx];
  ssize_t n = recv_some(c->fd, scratch, sizeof scratch);
  if (n == -EAGAIN) return;
  bool busy = c->state == R_SENDING || c->state == R_WAITING;
  if (n < 0) {
    if (busy) log_error("recv: %s", strerror((int)-n));
    r_drop(r, idx, true, now);
    return;
  }
  if (!busy) {
    /* A free connection: the server closed it (keep-alive timeout), or sent what nobody asked. */
    if (n > 0) log_error("unsolicited data on an idle connection");
    r_drop(r, idx, false, now);
    return;
  }
  int res;
  size_t used = 0;
  if (n == 0) res = hp_eof(&c->hp);
  else res = hp_feed(&c->hp, scratch, (size_t)n, &used);
  if (res == HP_ERROR) {
    log_error("bad response: %s", c->hp.error);
    r_drop(r, idx, true, now);
  } else if (res == HP_COMPLETE) {
    if (n > 0 && used < (size_t)n) {
      /* Bytes after the response: the stream is out of step, so count it failed and reconnect. */
      log_error("bad response: data after its end");
      r_drop(r, idx, true, now);
      return;
    }
    r_complete(r, idx, now);
  } else if (n == 0) {
    r_drop(r, idx, true, now);
  }
}

static void r_event(struct rate_run *r, uint64_t tag, uint32_t events, uint64_t now) {
  uint32_t idx = (uint32_t)tag;
  struct rconn *c = &r->conns[idx];
  /* The connection was closed (and maybe reopened) by an earlier event of the same batch. */
  if (c->fd < 0 || c->gen != (uint32_t)(tag >> 32)) return;
  if (c->state == R_CONNECTING) {
    int err = connect_result(c->fd);
    if (err) {
      r->last_errno = err;
      log_error("connect: %s", strerror(err));
      r_drop(r, idx, false, now);
    } else {
      r_connected(r, idx);
    }
    return;
  }
  if (c->state == R_SENDING && (events & EPOLLOUT)) {
    r_write(r, idx, now);
    if (c->state != R_WAITING && c->state != R_SENDING) return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) r_readable(r, idx, now);
}

static void run_rate(const struct options *o) {
  struct rate_run *r = calloc(1, sizeof *r);
  if (!r) die("out of memory");
  r->o = o;
  r->nconns = (uint32_t)o->connections;
  r->conns = calloc(r->nconns, sizeof *r->conns);
  r->ring = calloc(r->nconns, sizeof *r->ring);
  if (!r->conns || !r->ring) die("out of memory for %u connections", r->nconns);
  r->period_ns = 1e9 / o->rate;
  r->warm_ns = (uint64_t)(o->warmup * 1e9);
  if (o->per_second) {
    r->nseconds = (uint32_t)(o->duration + 0.999999);
    r->seconds = calloc(r->nseconds, sizeof *r->seconds);
    if (!r->seconds) die("out of memory for %u per-second histograms", r->nseconds);
  }
  uint64_t span = r->warm_ns + (uint64_t)(o->duration * 1e9);
  /* Requests i with sched_offset(i) < span, found from an estimate then corrected. */
  r->total = (uint64_t)((double)span / r->period_ns);
  while (r->total > 0 && sched_offset(r, r->total - 1) >= span) r->total--;
  while (sched_offset(r, r->total) < span) r->total++;

  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (tfd < 0) die_errno("timerfd_create");
  ep_ctl(EPOLL_CTL_ADD, tfd, EPOLLIN, EV_TIMER);

  struct epoll_event events[MAX_EVENTS];
  uint64_t start = now_ns();
  for (uint32_t i = 0; i < r->nconns; i++) {
    r->conns[i].fd = -1;
    r_open(r, i, start);
  }
  /* Start the schedule with the connections up, so connect latency is not charged to requests. */
  while (r->ring_count + r->down < r->nconns) {
    uint64_t now = now_ns();
    if (now - start > CONNECT_PHASE_NS) break;
    int n = epoll_wait(epfd, events, MAX_EVENTS, (int)((CONNECT_PHASE_NS - (now - start)) / NS_PER_MS) + 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die_errno("epoll_wait");
    }
    now = now_ns();
    for (int k = 0; k < n; k++) {
      if (events[k].data.u64 == EV_TIMER) continue;
      uint32_t idx = (uint32_t)events[k].data.u64;
      if (r->conns[idx].state == R_CONNECTING) r_event(r, events[k].data.u64, events[k].events, now);
    }
  }
  if (r->ring_count == 0) {
    die("cannot connect to %s port %ld: %s", o->host, o->port,
        r->last_errno ? strerror(r->last_errno) : "timed out");
  }

  r->t0 = now_ns();
  uint64_t armed = 0, drain_deadline = 0;
  for (;;) {
    uint64_t now = now_ns();
    if (r->down > 0) {
      for (uint32_t i = 0; i < r->nconns; i++) {
        struct rconn *c = &r->conns[i];
        if (c->state != R_DOWN || c->retry_at > now) continue;
        r->down--;
        r_open(r, i, now);
      }
    }
    while (r->next_due < r->total && r->t0 + sched_offset(r, r->next_due) <= now) r->next_due++;
    while (r->next_sent < r->next_due && r->ring_count > 0) {
      uint32_t idx = r_pop_free(r);
      r_dispatch(r, idx, r->next_sent++, now);
    }
    if (r->next_sent == r->total && r->inflight == 0) break;
    int timeout_ms = -1;
    if (r->down > 0) {
      /* After the dispatch: a failed send there may have taken a connection down too. */
      uint64_t earliest = UINT64_MAX;
      for (uint32_t i = 0; i < r->nconns; i++)
        if (r->conns[i].state == R_DOWN && r->conns[i].retry_at < earliest) earliest = r->conns[i].retry_at;
      timeout_ms = earliest <= now ? 0 : (int)((earliest - now + NS_PER_MS - 1) / NS_PER_MS);
    }
    if (r->next_due == r->total) {
      if (drain_deadline == 0) drain_deadline = now + DRAIN_NS;
      if (now >= drain_deadline) break;
      int left = (int)((drain_deadline - now + NS_PER_MS - 1) / NS_PER_MS);
      if (timeout_ms < 0 || left < timeout_ms) timeout_ms = left;
    }
    /* The timer is needed only when a request could go out at its due time: one is pending and a
     * connection is free. Otherwise a connection becoming free is what wakes us. */
    if (r->next_due < r->total && r->ring_count > 0) {
      uint64_t due = r->t0 + sched_offset(r, r->next_due);
      if (due != armed) {
        struct itimerspec its = {.it_value = {.tv_sec = (time_t)(due / NS_PER_S), .tv_nsec = (long)(due % NS_PER_S)}};
        if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) != 0) die_errno("timerfd_settime");
        armed = due;
      }
    }
    int n = epoll_wait(epfd, events, MAX_EVENTS, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      die_errno("epoll_wait");
    }
    now = now_ns();
    for (int k = 0; k < n; k++) {
      if (events[k].data.u64 == EV_TIMER) {
        uint64_t expirations;
        if (read(tfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN && errno != EINTR)
          die_errno("read(timerfd)");
        armed = 0;
        continue;
      }
      r_event(r, events[k].data.u64, events[k].events, now);
    }
  }

  /* Measured requests still queued or unanswered when the drain time ran out. */
  for (uint64_t i = r->next_sent; i < r->total; i++)
    if (sched_offset(r, i) >= r->warm_ns) r->errors++;
  for (uint32_t i = 0; i < r->nconns; i++) {
    struct rconn *c = &r->conns[i];
    if ((c->state == R_SENDING || c->state == R_WAITING) && c->measured) r->errors++;
    if (c->fd >= 0) close_fd(c->fd);
  }
  close_fd(tfd);

  const struct histogram *h = &r->hist;
  printf("{\"mode\":\"rate\",\"rate\":%g,\"duration\":%g,\"connections\":%ld,\"sent\":%" PRIu64
         ",\"completed\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"achievedRate\":%.1f,\"p50us\":%.1f,"
         "\"p90us\":%.1f,\"p99us\":%.1f,\"p999us\":%.1f,\"maxus\":%.1f,\"meanus\":%.1f,\"cpuUs\":%" PRIu64,
         o->rate, o->duration, o->connections, r->sent, r->completed, r->errors,
         (double)r->completed / o->duration, h_quantile(h, 0.50), h_quantile(h, 0.90), h_quantile(h, 0.99),
         h_quantile(h, 0.999), (double)h->max_ns / 1e3, h_mean_us(h), cpu_us());
  if (r->seconds) {
    printf(",\"t0ns\":%" PRIu64 ",\"seconds\":[", r->t0 + r->warm_ns);
    for (uint32_t i = 0; i < r->nseconds; i++) {
      const struct histogram *sh = &r->seconds[i];
      printf("%s{\"n\":%" PRIu64 ",\"p50us\":%.1f,\"p99us\":%.1f,\"p999us\":%.1f,\"maxus\":%.1f}", i ? "," : "", sh->n,
             h_quantile(sh, 0.50), h_quantile(sh, 0.99), h_quantile(sh, 0.999), (double)sh->max_ns / 1e3);
    }
    printf("]");
  }
  printf("}\n");
  free(r->seconds);
  free(r->conns);
  free(r->ring);
  free(r);
}

/* ------------------------------------------------------------------------------------------ */
/* close: closed loop, one new connection per request */

enum xstate {
  X_IDLE,       /* no socket: start one (or retry at retry_at) */
  X_CONNECTING, /* connect() under way */
  X_SENDING,    /* request partly written (or a TFO connect waiting to write) */
  X_WAITING,    /* response not complete */
  X_DRAIN,      /* response complete, waiting for the server's close */
};

struct xconn {
  int fd;
  uint8_t state;     /* enum xstate */
  uint32_t events;   /* events registered in epoll */
  uint32_t written;  /* bytes of the request sent */
  uint64_t start_ns; /* when connect() was called */
  uint64_t retry_at; /* X_IDLE: not before this */
  struct http_parser hp;
};

struct close_run {
  const struct options *o;
  struct xconn *conns;
  uint32_t nconns;
  uint32_t active; /* slots with a socket */
  uint64_t completed, errors, tfo_used;
  uint64_t last_done;
  int last_errno;
  struct histogram hist;
};

static void x_set_events(struct xconn *c, uint32_t idx, uint32_t events) {
  if (c->events == events) return;
  ep_ctl(EPOLL_CTL_MOD, c->fd, events, idx);
  c->events = events;
}

static void x_end(struct close_run *x, uint32_t idx, bool failed, uint64_t now) {
  struct xconn *c = &x->conns[idx];
  if (failed) x->errors++;
  close_fd(c->fd);
  c->fd = -1;
  c->state = X_IDLE;
  /* A failed connect is retried after a back-off: a refusing server must not make us spin. */
  c->retry_at = failed ? now + RECONNECT_BACKOFF_NS : 0;
  x->active--;
}

static void x_write(struct close_run *x, uint32_t idx, uint64_t now) {
  struct xconn *c = &x->conns[idx];
  int events = send_request(c->fd, &c->written);
  if (events < 0) {
    x->last_errno = -events;
    log_error("send: %s", strerror(-events));
    x_end(x, idx, true, now);
    return;
  }
  c->state = events & EPOLLOUT ? X_SENDING : X_WAITING;
  x_set_events(c, idx, (uint32_t)events);
}

static void x_start(struct close_run *x, uint32_t idx, uint64_t now) {
  struct xconn *c = &x->conns[idx];
  c->start_ns = now;
  c->written = 0;
  hp_reset(&c->hp);
  int rc = start_connect(&c->fd, x->o->fastopen);
  if (rc < 0) {
    x->last_errno = -rc;
    log_error("connect: %s", strerror(-rc));
    x->errors++;
    c->retry_at = now + RECONNECT_BACKOFF_NS;
    return;
  }
  x->active++;
  c->events = EPOLLOUT;
  ep_ctl(EPOLL_CTL_ADD, c->fd, c->events, idx);
  if (rc == 0) {
    /* Connected, or (TFO) connect deferred to the first write, which sends SYN + request. */
    c->state = X_SENDING;
    x_write(x, idx, now);
  } else {
    c->state = X_CONNECTING;
  }
}

static void x_complete(struct close_run *x, uint32_t idx, uint64_t now) {
  struct xconn *c = &x->conns[idx];
  bool ok = c->hp.status >= 200 && c->hp.status < 300;
  if (ok) {
    x->completed++;
    h_record(&x->hist, now - c->start_ns);
  } else {
    x->errors++;
    log_error("status %u", c->hp.status);
  }
  x->last_done = now;
  if (x->o->fastopen) {
    struct tcp_info info;
    socklen_t len = sizeof info;
    memset(&info, 0, sizeof info);
    if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) die_errno("getsockopt(TCP_INFO)");
    if (info.tcpi_options & TCPI_OPT_SYN_DATA) x->tfo_used++;
  }
  if (c->hp.close) {
    /* Let the server close first: the TIME_WAIT then stays on its side, not on our ports. */
    c->state = X_DRAIN;
    x_set_events(c, idx, EPOLLIN | EPOLLRDHUP);
  } else {
    x_end(x, idx, false, now);
  }
}

static void x_event(struct close_run *x, uint32_t idx, uint32_t events, uint64_t now) {
  struct xconn *c = &x->conns[idx];
  if (c->state == X_CONNECTING) {
    int err = connect_result(c->fd);
    if (err) {
      x->last_errno = err;
      log_error("connect: %s", strerror(err));
      x_end(x, idx, true, now);
      return;
    }
    c->state = X_SENDING;
  }
  if (c->state == X_SENDING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
    x_write(x, idx, now);
    if (c->state == X_IDLE) return;
  }
  if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
  ssize_t n = recv_some(c->fd, scratch, sizeof scratch);
  if (n == -EAGAIN) return;
  if (c->state == X_DRAIN) {
    /* EOF (or a reset, or stray bytes) after a complete response: the exchange is over. */
    x_end(x, idx, false, now);
    return;
  }
  if (n < 0) {
    x->last_errno = (int)-n;
    log_error("recv: %s", strerror((int)-n));
    x_end(x, idx, true, now);
    return;
  }
  size_t used;
  int res = n == 0 ? hp_eof(&c->hp) : hp_feed(&c->hp, scratch, (size_t)n, &used);
  if (res == HP_ERROR) {
    log_error("bad response: %s", c->hp.error);
    x_end(x, idx, true, now);
  } else if (res == HP_COMPLETE) {
    x_complete(x, idx, now);
    if (n == 0 && c->state == X_DRAIN) x_end(x, idx, false, now);
  }
}

static void run_close(const struct options *o) {
  struct close_run *x = calloc(1, sizeof *x);
  if (!x) die("out of memory");
  x->o = o;
  x->nconns = (uint32_t)o->connections;
  x->conns = calloc(x->nconns, sizeof *x->conns);
  if (!x->conns) die("out of memory for %u connections", x->nconns);
  for (uint32_t i = 0; i < x->nconns; i++) x->conns[i].fd = -1;

  struct epoll_event events[MAX_EVENTS];
  uint64_t start = now_ns(), end = start + (uint64_t)(o->duration * 1e9), drain_deadline = end + DRAIN_NS;
  x->last_done = start;
  for (;;) {
    uint64_t now = now_ns();
    bool running = now < end;
    int timeout_ms = -1;
    if (running) {
      uint64_t earliest = end;
      for (uint32_t i = 0; i < x->nconns; i++) {
        struct xconn *c = &x->conns[i];
        if (c->state != X_IDLE) continue;
        if (c->retry_at <= now) x_start(x, i, now);
        if (c->state == X_IDLE && c->retry_at < earliest) earliest = c->retry_at;
      }
      timeout_ms = (int)((earliest - now + NS_PER_MS - 1) / NS_PER_MS);
    } else {
      if (x->active == 0 || now >= drain_deadline) break;
      timeout_ms = (int)((drain_deadline - now + NS_PER_MS - 1) / NS_PER_MS);
    }
    int n = epoll_wait(epfd, events, MAX_EVENTS, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      die_errno("epoll_wait");
    }
    now = now_ns();
    for (int k = 0; k < n; k++) {
      uint32_t idx = (uint32_t)events[k].data.u64;
      if (x->conns[idx].state != X_IDLE) x_event(x, idx, events[k].events, now);
    }
  }
  for (uint32_t i = 0; i < x->nconns; i++) {
    struct xconn *c = &x->conns[i];
    if (c->fd < 0) continue;
    if (c->state != X_DRAIN) x->errors++;
    close_fd(c->fd);
  }
  if (x->completed == 0 && x->errors > 0 && x->last_errno)
    die("no request succeeded; last error: %s", strerror(x->last_errno));

  uint64_t elapsed = (x->last_done > end ? x->last_done : end) - start;
  const struct histogram *h = &x->hist;
  printf("{\"mode\":\"close\",\"duration\":%g,\"connections\":%ld,\"completed\":%" PRIu64 ",\"errors\":%" PRIu64
         ",\"rps\":%.1f,\"tfoUsed\":%" PRIu64 ",\"p50us\":%.1f,\"p99us\":%.1f,\"cpuUs\":%" PRIu64 "}\n",
         o->duration, o->connections, x->completed, x->errors, (double)x->completed * 1e9 / (double)elapsed,
         x->tfo_used, h_quantile(h, 0.50), h_quantile(h, 0.99), cpu_us());
  free(x->conns);
  free(x);
}

/* ------------------------------------------------------------------------------------------ */
/* idle: open N connections, optionally one request each, then hold them */

enum istate {
  I_WAITING_TURN, /* not started: over the in-flight limit */
  I_CONNECTING,   /* connect() under way */
  I_SENDING,      /* request partly written */
  I_WAITING,      /* response not complete */
  I_HELD,         /* established (and answered): held open */
  I_FAILED,       /* failed or timed out; closed */
  I_CLOSED,       /* held, then closed by the peer */
};

struct iconn {
  int fd;
  uint8_t state;    /* enum istate */
  uint32_t written; /* bytes of the request sent */
  uint64_t start_ns;
  struct http_parser hp;
};

struct idle_run {
  const struct options *o;
  struct iconn *conns;
  uint32_t n;
  uint32_t next;     /* connections started so far */
  uint32_t inflight; /* started, not yet held or failed */
  uint32_t lowest;   /* no connection below this index is in flight */
  uint32_t established, failed, closed_by_peer;
  int last_errno;
};

static void i_fail(struct idle_run *s, uint32_t idx, const char *why, int err) {
  struct iconn *c = &s->conns[idx];
  if (err) s->last_errno = err;
  log_error("connection %u: %s%s%s", idx, why, err ? ": " : "", err ? strerror(err) : "");
  if (c->fd >= 0) close_fd(c->fd);
  c->fd = -1;
  c->state = I_FAILED;
  s->failed++;
  s->inflight--;
}

static void i_held(struct idle_run *s, uint32_t idx) {
  struct iconn *c = &s->conns[idx];
  c->state = I_HELD;
  s->established++;
  s->inflight--;
  ep_ctl(EPOLL_CTL_MOD, c->fd, EPOLLIN | EPOLLRDHUP, idx);
}

static void i_write(struct idle_run *s, uint32_t idx) {
  struct iconn *c = &s->conns[idx];
  int events = send_request(c->fd, &c->written);
  if (events < 0) {
    i_fail(s, idx, "send", -events);
    return;
  }
  c->state = events & EPOLLOUT ? I_SENDING : I_WAITING;
  ep_ctl(EPOLL_CTL_MOD, c->fd, (uint32_t)events, idx);
}

static void i_connected(struct idle_run *s, uint32_t idx) {
  if (s->o->request) i_write(s, idx);
  else i_held(s, idx);
}

static void i_start(struct idle_run *s, uint32_t idx, uint64_t now) {
  struct iconn *c = &s->conns[idx];
  c->start_ns = now;
  s->inflight++;
  int rc = start_connect(&c->fd, false);
  if (rc < 0) {
    i_fail(s, idx, "connect", -rc);
    return;
  }
  c->state = I_CONNECTING;
  ep_ctl(EPOLL_CTL_ADD, c->fd, EPOLLOUT, idx);
  if (rc == 0) i_connected(s, idx);
}

static void i_event(struct idle_run *s, uint32_t idx, uint32_t events) {
  struct iconn *c = &s->conns[idx];
  switch (c->state) {
  case I_CONNECTING: {
    int err = connect_result(c->fd);
    if (err) i_fail(s, idx, "connect", err);
    else i_connected(s, idx);
    return;
  }
  case I_SENDING:
    if (events & EPOLLOUT) i_write(s, idx);
    if (c->state != I_WAITING && c->state != I_SENDING) return;
    break;
  case I_WAITING:
    break;
  case I_HELD: {
    ssize_t n = recv_some(c->fd, scratch, sizeof scratch);
    if (n == -EAGAIN || n > 0) return; /* stray bytes from the server are dropped */
    close_fd(c->fd);
    c->fd = -1;
    c->state = I_CLOSED;
    s->closed_by_peer++;
    return;
  }
  default:
    return;
  }
  if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
  ssize_t n = recv_some(c->fd, scratch, sizeof scratch);
  if (n == -EAGAIN) return;
  if (n < 0) {
    i_fail(s, idx, "recv", (int)-n);
    return;
  }
  size_t used = 0;
  int res = n == 0 ? hp_eof(&c->hp) : hp_feed(&c->hp, scratch, (size_t)n, &used);
  if (res == HP_ERROR) {
    i_fail(s, idx, c->hp.error, 0);
  } else if (res == HP_COMPLETE) {
    if (c->hp.status < 200 || c->hp.status >= 300) i_fail(s, idx, "response status not 2xx", 0);
    else if (n == 0 || c->hp.close) i_fail(s, idx, "the server closes the connection after its response", 0);
    else if (used < (size_t)n) i_fail(s, idx, "data after the response", 0);
    else i_held(s, idx);
  } else if (n == 0) {
    i_fail(s, idx, "closed before the response", 0);
  }
}

static void raise_nofile(long wanted) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) die_errno("getrlimit(RLIMIT_NOFILE)");
  if (rl.rlim_cur != rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) die_errno("setrlimit(RLIMIT_NOFILE)");
  }
  if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)wanted > rl.rlim_cur)
    die("--connections %ld needs %ld open files but the hard limit (RLIMIT_NOFILE) is %llu: raise it (ulimit -Hn) or open fewer",
        wanted - SPARE_FDS, wanted, (unsigned long long)rl.rlim_max);
}

static void run_idle(const struct options *o) {
  raise_nofile(o->connections + SPARE_FDS);

  /* SIGINT/SIGTERM through a signalfd: the loop closes everything and exits 0 when one comes. */
  int sfd = signals_as_fd();
  ep_ctl(EPOLL_CTL_ADD, sfd, EPOLLIN, EV_SIGNAL);

  struct idle_run *s = calloc(1, sizeof *s);
  if (!s) die("out of memory");
  s->o = o;
  s->n = (uint32_t)o->connections;
  s->conns = calloc(s->n, sizeof *s->conns);
  if (!s->conns) die("out of memory for %u connections", s->n);
  for (uint32_t i = 0; i < s->n; i++) s->conns[i].fd = -1;

  struct epoll_event events[MAX_EVENTS];
  bool stop = false;
  uint64_t start = now_ns();
  while (!stop && (s->next < s->n || s->inflight > 0)) {
    uint64_t now = now_ns();
    while (s->next < s->n && s->inflight < IDLE_MAX_INFLIGHT) i_start(s, s->next++, now);
    /* Time out connections stuck in flight (a SYN dropped again and again). */
    while (s->lowest < s->next && s->conns[s->lowest].state >= I_HELD) s->lowest++;
    uint64_t oldest = UINT64_MAX;
    for (uint32_t i = s->lowest; i < s->next; i++) {
      struct iconn *c = &s->conns[i];
      if (c->state >= I_HELD) continue;
      if (now - c->start_ns >= IDLE_CONNECT_TIMEOUT_NS) i_fail(s, i, "timed out", 0);
      else if (c->start_ns < oldest) oldest = c->start_ns;
    }
    if (s->next == s->n && s->inflight == 0) break;
    int timeout_ms = -1;
    if (oldest != UINT64_MAX) timeout_ms = (int)((oldest + IDLE_CONNECT_TIMEOUT_NS - now + NS_PER_MS - 1) / NS_PER_MS);
    int n = epoll_wait(epfd, events, MAX_EVENTS, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      die_errno("epoll_wait");
    }
    for (int k = 0; k < n; k++) {
      if (events[k].data.u64 == EV_SIGNAL) {
        stop = true;
        continue;
      }
      i_event(s, (uint32_t)events[k].data.u64, events[k].events);
    }
  }
  if (stop) {
    for (uint32_t i = 0; i < s->n; i++)
      if (s->conns[i].fd >= 0) close_fd(s->conns[i].fd);
    die("interrupted while connecting (%u of %u established)", s->established, s->n);
  }
  uint64_t established_at = now_ns();
  printf("{\"mode\":\"idle\",\"established\":%u,\"failed\":%u,\"ms\":%.1f,\"cpuUs\":%" PRIu64 "}\n", s->established,
         s->failed, (double)(established_at - start) / 1e6, cpu_us());
  if (fflush(stdout) != 0) die_errno("write(stdout)");

  /* Hold: until --hold seconds, or (0) stdin EOF; a signal ends either. */
  bool watch_stdin = o->hold == 0;
  /* Only a terminal's end (^D) takes a read to see. Anything else is watched for its end alone
   * (EPOLLHUP, EPOLLRDHUP, EPOLLERR) and never read: a stdin that is always readable (/dev/random,
   * `yes |`, a chatty socket) would otherwise keep this loop reading at 100% CPU for the whole
   * hold, and a pipe's or socket's close is reported whether or not data is left unread. */
  bool stdin_tty = watch_stdin && isatty(STDIN_FILENO);
  if (watch_stdin) {
    struct epoll_event ev = {.events = stdin_tty ? EPOLLIN | EPOLLRDHUP : EPOLLRDHUP, .data.u64 = EV_STDIN};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, STDIN_FILENO, &ev) != 0) {
      /* EPERM: a regular file or a device like /dev/null, which epoll cannot watch. One read
       * tells: at its end already (/dev/null) the hold is over; otherwise (/dev/zero, a file with
       * content) reading on would block or spin, so only a signal ends the hold. */
      if (errno != EPERM) die_errno("epoll_ctl(stdin)");
      watch_stdin = false;
      ssize_t n;
      do n = read(STDIN_FILENO, scratch, sizeof scratch);
      while (n < 0 && errno == EINTR);
      if (n < 0) die_errno("read(stdin)");
      if (n == 0) stop = true;
      else fputs("loadgen: stdin is not a pipe, socket or terminal: holding until SIGINT or SIGTERM\n", stderr);
    }
  }
  uint64_t hold_end = o->hold > 0 ? established_at + (uint64_t)(o->hold * 1e9) : UINT64_MAX;
  while (!stop) {
    int timeout_ms = -1;
    if (hold_end != UINT64_MAX) {
      uint64_t now = now_ns();
      if (now >= hold_end) break;
      timeout_ms = (int)((hold_end - now + NS_PER_MS - 1) / NS_PER_MS);
    }
    int n = epoll_wait(epfd, events, MAX_EVENTS, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      die_errno("epoll_wait");
    }
    for (int k = 0; k < n; k++) {
      uint64_t d = events[k].data.u64;
      if (d == EV_SIGNAL) {
        stop = true;
      } else if (d == EV_STDIN) {
        if (!stdin_tty) {
          stop = true; /* hung up, shut down or failed */
          continue;
        }
        ssize_t got = read(STDIN_FILENO, scratch, sizeof scratch); /* a typed line is dropped */
        if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) stop = true; /* EOF or gone */
      } else {
        i_event(s, (uint32_t)d, events[k].events);
      }
    }
  }
  /* Count the peer closes that came before the stop but were not in the last batch of events:
   * without stdin and the signalfd in the set, only connection events are left to report. */
  if (watch_stdin && epoll_ctl(epfd, EPOLL_CTL_DEL, STDIN_FILENO, NULL) != 0) die_errno("epoll_ctl(stdin)");
  if (epoll_ctl(epfd, EPOLL_CTL_DEL, sfd, NULL) != 0) die_errno("epoll_ctl(signalfd)");
  for (unsigned round = 0; round < 1000; round++) {
    int n = epoll_wait(epfd, events, MAX_EVENTS, 0);
    if (n < 0 && errno != EINTR) die_errno("epoll_wait");
    if (n == 0) break;
    for (int k = 0; k < n; k++) i_event(s, (uint32_t)events[k].data.u64, events[k].events);
  }
  for (uint32_t i = 0; i < s->n; i++)
    if (s->conns[i].fd >= 0) close_fd(s->conns[i].fd);
  close_fd(sfd);
  fprintf(stderr, "closedByPeer %u\n", s->closed_by_peer);
  free(s->conns);
  free(s);
}

/* ------------------------------------------------------------------------------------------ */

int main(int argc, char **argv) {
  fill_std_fds();
  struct options o;
  memset(&o, 0, sizeof o);
  parse_options(argc, argv, &o);
  resolve_target(&o);
  build_request(&o, o.mode == MODE_CLOSE);

  /* Sends use MSG_NOSIGNAL; this also covers a closed stdout pipe. */
  if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) die_errno("signal(SIGPIPE)");
  /* Timer wake-ups within 1 us of the schedule instead of the default 50 us slack. */
  if (prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0) != 0) die_errno("prctl(PR_SET_TIMERSLACK)");
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die_errno("epoll_create1");

  switch (o.mode) {
  case MODE_RATE:
    run_rate(&o);
    break;
  case MODE_IDLE:
    run_idle(&o);
    break;
  case MODE_CLOSE:
    run_close(&o);
    break;
  }
  close_fd(epfd);
  if (fflush(stdout) != 0) die_errno("write(stdout)");
  return 0;
}
