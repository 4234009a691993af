/*
 * responder: the benchmark harness's native HTTP/1.1 backend, for when nginx is absent (or with
 * `npm run bench -- --backend native`): a fixed small response, and files sent with sendfile.
 * One file (and common.h, shared with loadgen.c), Linux, libc only.
 *
 *   cc -O2 -Wall -Wextra -Werror -std=gnu11 -o responder responder.c
 *
 *   responder --port P [--body-bytes 128] [--root DIR] [--backlog 4096]
 *
 * Listens on 127.0.0.1:P (0: a port the kernel picks) and prints `listening <port>` on stdout
 * once it does. Answers
 * - GET or HEAD of any path not under /bulk/: 200, text/plain, a body of --body-bytes bytes
 *   ('x'... ending in '\n', as the harness's nginx configuration);
 * - GET or HEAD /bulk/<name> (query ignored): with --root, the regular file DIR/bulk/<name> sent
 *   with sendfile(2), Content-Length from fstat; 404 without --root or when there is no such file;
 *   400 when a segment of the path is "..";
 * - other methods: 405; a bad request line or header line: 400; a request header block larger
 *   than IN_MAX (8 KiB): 431; a request with a body (Content-Length > 0, Transfer-Encoding): 400
 *   (requests are expected to have none). 400 and 431 close the connection.
 * Connections are keep-alive, except after a request with `Connection: close` (HTTP/1.1) or an
 * HTTP/1.0 request without `Connection: keep-alive`. Pipelined requests are answered in order.
 * SIGTERM or SIGINT: exit 0. Diagnostics go to stderr; exit 2 on a usage error (the message names
 * the option), 1 on a runtime failure. bench/harness/build-tool.mjs builds it, run.mjs and
 * sweep.mjs start it.
 *
 * Design
 * - One thread, one level-triggered epoll set, no allocation per request: a connection is a small
 *   struct (taken from a free list, malloc'd only when the list is empty), reads land in one shared
 *   buffer, and only bytes left over after the complete requests in it (a partial or pipelined
 *   request) move to an IN_MAX buffer of the connection's own, from a free list as well, given
 *   back once empty. So a held idle connection costs ~300 bytes, as in nginx, not 8 KiB.
 * - Responses other than files are built once at start-up, per status and Connection header;
 *   sending one is one send(). A file's header goes out with MSG_MORE, then sendfile() from the
 *   file's offset until EAGAIN, resumed on EPOLLOUT; at most WRITE_BUDGET bytes per connection and
 *   turn, so one fast reader of a 100 MiB file cannot starve the others. While a response is
 *   unsent the connection is not read (the client's next requests wait in the kernel).
 * - Closing after a response: close() at once when nothing more from the client is buffered;
 *   otherwise (an error answered, requests pipelined after a `Connection: close`) shutdown(SHUT_WR)
 *   and read and drop what comes until the client closes or LINGER_NS passes, so the response is
 *   not destroyed by the RST a close() with unread data sends (nginx's lingering close).
 * - accept4() until EAGAIN. Out of fds (EMFILE, ENFILE) or memory for a socket: stop accepting
 *   (the listener leaves the epoll interest) until a connection closes or ACCEPT_PAUSE_NS passes,
 *   so pending connections wait in the backlog instead of the loop spinning on them.
 * - A reset or closed peer just closes its connection; SIGPIPE is ignored (sendfile() has no
 *   MSG_NOSIGNAL).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_text[] = "usage: responder --port P [--body-bytes 128] [--root DIR] [--backlog 4096]\n";

#define TOOL_NAME "responder"
#include "common.h"

/* A request's header block (request line to blank line) must fit in this: else 431. */
#define IN_MAX 8192
/* A file response's header (status line to blank line). */
#define HDR_MAX 192
/* Bytes one connection may send in one turn of the loop before the others get theirs. */
#define WRITE_BUDGET (2u << 20)
/* How long a closing connection waits for the client's close while dropping what it sends. */
#define LINGER_NS (5 * NS_PER_S)
/* How long accepting stays paused after EMFILE when no connection closes meanwhile. */
#define ACCEPT_PAUSE_NS (100 * NS_PER_MS)
#define MAX_EVENTS 512

/* ------------------------------------------------------------------------------------------ */
/* Options */

struct options {
  long port;
  long body_bytes;
  long backlog;
  const char *root;
};

static bool no_flags(const char *name) {
  (void)name;
  return false;
}

static void parse_options(int argc, char **argv, struct options *o) {
  o->port = -1;
  o->body_bytes = 128;
  o->backlog = 4096;
  o->root = NULL;
  for (int i = 1; i < argc; i++) {
    char name[OPTION_NAME_MAX];
    const char *value = take_option(argc, argv, &i, name, no_flags);
    if (strcmp(name, "--port") == 0) o->port = parse_integer(name, value, 0, 65535);
    else if (strcmp(name, "--body-bytes") == 0) o->body_bytes = parse_integer(name, value, 0, 1L << 30);
    else if (strcmp(name, "--backlog") == 0) o->backlog = parse_integer(name, value, 1, 1L << 20);
    else if (strcmp(name, "--root") == 0) {
      if (value[0] == '\0') usage_error("--root needs a directory");
      o->root = value;
    } else usage_error("unknown option %s", name);
  }
  if (o->port < 0) usage_error("missing --port");
}

/* ------------------------------------------------------------------------------------------ */
/* Responses built at start-up: one per status and Connection header. */

enum canned_kind { RS_OK, RS_NOT_FOUND, RS_BAD_REQUEST, RS_METHOD, RS_TOO_LARGE, RS_UNAVAILABLE, RS_ERROR, RS_KINDS };

struct canned {
  char *bytes;
  uint32_t len;      /* header and body */
  uint32_t head_len; /* header only: the answer to HEAD */
};

/* [kind][0: keep-alive, 1: close] */
static struct canned canned[RS_KINDS][2];

static void build_canned(enum canned_kind kind, const char *status, const char *extra, const char *body, size_t body_len) {
  for (int close_it = 0; close_it <= 1; close_it++) {
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %s\r\nServer: epoxy-bench-responder\r\nContent-Type: text/plain\r\n%sContent-Length: %zu\r\n"
                     "Connection: %s\r\n\r\n",
                     status, extra, body_len, close_it ? "close" : "keep-alive");
    if (n < 0 || (size_t)n >= sizeof head) die("response header does not fit its buffer");
    struct canned *c = &canned[kind][close_it];
    c->bytes = malloc((size_t)n + body_len);
    if (!c->bytes) die("out of memory for a %zu-byte response", (size_t)n + body_len);
    memcpy(c->bytes, head, (size_t)n);
    memcpy(c->bytes + n, body, body_len);
    c->head_len = (uint32_t)n;
    c->len = (uint32_t)((size_t)n + body_len);
  }
}

static void build_responses(long body_bytes) {
  char *body = malloc((size_t)body_bytes + 1);
  if (!body) die("out of memory for a %ld-byte body", body_bytes);
  memset(body, 'x', (size_t)body_bytes);
  if (body_bytes > 0) body[body_bytes - 1] = '\n';
  build_canned(RS_OK, "200 OK", "", body, (size_t)body_bytes);
  free(body);
#define CANNED_TEXT(kind, status, extra, text) build_canned(kind, status, extra, text, sizeof text - 1)
  CANNED_TEXT(RS_NOT_FOUND, "404 Not Found", "", "not found\n");
  CANNED_TEXT(RS_BAD_REQUEST, "400 Bad Request", "", "bad request\n");
  CANNED_TEXT(RS_METHOD, "405 Method Not Allowed", "Allow: GET, HEAD\r\n", "method not allowed\n");
  CANNED_TEXT(RS_TOO_LARGE, "431 Request Header Fields Too Large", "", "request header too large\n");
  CANNED_TEXT(RS_UNAVAILABLE, "503 Service Unavailable", "", "out of file descriptors\n");
  CANNED_TEXT(RS_ERROR, "500 Internal Server Error", "", "cannot open the file\n");
#undef CANNED_TEXT
}

/* ------------------------------------------------------------------------------------------ */
/* Request parsing: one header block at a time, from the start each time more bytes come (it is at
 * most IN_MAX bytes, and almost always arrives whole). */

struct request {
  size_t len;         /* bytes of the header block, leading empty lines included */
  bool get, head;     /* the method */
  bool http10;        /* HTTP/1.0 (else HTTP/1.1 or a later 1.x) */
  bool conn_close;    /* a Connection: close token */
  bool conn_keep;     /* a Connection: keep-alive token */
  bool has_body;      /* Content-Length > 0 or Transfer-Encoding */
  const char *target; /* the request target, as sent (starts with '/') */
  size_t target_len;
};

enum { PR_NEED = 0, PR_BAD = -1 };

static bool is_tchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

/* Whether p[0..len) is `word` (lowercase), ignoring case. */
static bool eq_nocase(const char *p, size_t len, const char *word) {
  if (strlen(word) != len) return false;
  for (size_t i = 0; i < len; i++)
    if (lower(p[i]) != word[i]) return false;
  return true;
}

/* The line starting at p[from]: its length without the line end (CRLF or LF), and in *next the
 * offset after it. False while its '\n' has not come yet. */
static bool next_line(const char *p, size_t n, size_t from, size_t *len, size_t *next) {
  const char *nl = memchr(p + from, '\n', n - from);
  if (!nl) return false;
  size_t end = (size_t)(nl - p);
  *next = end + 1;
  if (end > from && p[end - 1] == '\r') end--;
  *len = end - from;
  return true;
}

/* The comma-separated tokens of a Connection header value. */
static void connection_tokens(struct request *rq, const char *v, size_t len) {
  size_t i = 0;
  while (i < len) {
    while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
    size_t start = i;
    while (i < len && v[i] != ',') i++;
    size_t end = i;
    while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t')) end--;
    if (eq_nocase(v + start, end - start, "close")) rq->conn_close = true;
    else if (eq_nocase(v + start, end - start, "keep-alive")) rq->conn_keep = true;
  }
}

/* One header line (not empty): PR_BAD when it is not `name: value`. */
static int parse_header(struct request *rq, const char *line, size_t len) {
  size_t i = 0;
  while (i < len && is_tchar((unsigned char)line[i])) i++;
  /* No name, a name with other bytes (a space before the colon, an obsolete folded line), or no colon. */
  if (i == 0 || i >= len || line[i] != ':') return PR_BAD;
  const char *name = line;
  size_t name_len = i++;
  while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
  const char *value = line + i;
  size_t value_len = len - i;
  while (value_len > 0 && (value[value_len - 1] == ' ' || value[value_len - 1] == '\t')) value_len--;
  if (eq_nocase(name, name_len, "connection")) {
    connection_tokens(rq, value, value_len);
  } else if (eq_nocase(name, name_len, "content-length")) {
    if (value_len == 0) return PR_BAD;
    for (size_t k = 0; k < value_len; k++) {
      if (value[k] < '0' || value[k] > '9') return PR_BAD;
      if (value[k] != '0') rq->has_body = true;
    }
  } else if (eq_nocase(name, name_len, "transfer-encoding")) {
    rq->has_body = true;
  }
  return 0;
}

/*
 * The request at the start of p[0..n): its header block's length (> 0) with *rq filled in,
 * PR_NEED while it is incomplete, PR_BAD as soon as a complete line of it is malformed.
 */
static ssize_t parse_request(const char *p, size_t n, struct request *rq) {
  memset(rq, 0, sizeof *rq);
  size_t at = 0;
  /* Empty lines before a request line are ignored (RFC 9112, 2.2). */
  while (at < n && (p[at] == '\r' || p[at] == '\n')) {
    if (p[at] == '\n') at++;
    else if (at + 1 >= n) return PR_NEED;
    else if (p[at + 1] == '\n') at += 2;
    else return PR_BAD;
  }
  size_t len, next;
  if (!next_line(p, n, at, &len, &next)) return PR_NEED;

  /* method SP target SP HTTP/1.x */
  const char *line = p + at;
  size_t i = 0;
  while (i < len && is_tchar((unsigned char)line[i])) i++;
  if (i == 0 || i >= len || line[i] != ' ') return PR_BAD;
  rq->get = i == 3 && memcmp(line, "GET", 3) == 0;
  rq->head = i == 4 && memcmp(line, "HEAD", 4) == 0;
  size_t t0 = ++i;
  while (i < len && line[i] > ' ' && line[i] < 0x7f) i++;
  if (i == t0 || i >= len || line[i] != ' ' || line[t0] != '/') return PR_BAD;
  rq->target = line + t0;
  rq->target_len = i - t0;
  i++;
  if (len - i != 8 || memcmp(line + i, "HTTP/1.", 7) != 0 || line[i + 7] < '0' || line[i + 7] > '9') return PR_BAD;
  rq->http10 = line[i + 7] == '0';
  at = next;

  for (;;) {
    if (!next_line(p, n, at, &len, &next)) return PR_NEED;
    if (len == 0) {
      rq->len = next;
      return (ssize_t)next;
    }
    if (parse_header(rq, p + at, len) == PR_BAD) return PR_BAD;
    at = next;
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Connections */

enum cstate {
  C_READING,   /* waiting for (the rest of) a request: EPOLLIN */
  C_WRITING,   /* a response partly sent: EPOLLOUT */
  C_LINGERING, /* the last response sent and our side shut down: dropping input until EOF */
};

/* Received bytes not handled yet (a partial request, or requests pipelined behind an unsent
 * response). */
struct inbuf {
  uint32_t len;
  struct inbuf *next_free;
  char data[IN_MAX];
};

struct conn {
  int fd;
  uint8_t state;         /* enum cstate */
  bool close_after;      /* close once the current response is out */
  bool linger_after;     /* ... after a lingering close, whatever else is buffered */
  uint32_t events;       /* the epoll interest now */
  const char *out;       /* the response bytes being sent (canned, or hdr) */
  uint32_t out_len, out_off;
  int file_fd;           /* -1, or the file whose bytes follow `out` */
  off_t file_off, file_end;
  struct inbuf *in;      /* bytes received and not yet handled, or NULL */
  struct conn *prev;     /* the linger list (C_LINGERING) */
  struct conn *next;     /* the linger list, or the free list */
  uint64_t linger_deadline;
  char hdr[HDR_MAX];     /* a file response's header */
};

/* epoll data: a connection's address, or one of these. */
static char listen_tag, signal_tag;

static int listen_fd = -1;
static int root_fd = -1;
static struct conn *free_conns;
static struct inbuf *free_inbufs;
static struct conn *linger_head, *linger_tail;
static bool accept_paused;
static uint64_t accept_resume_at;
static bool said_accept_paused;

/* Where reads land when the connection has no bytes left over: one buffer serves every read. */
static char scratch[IN_MAX];

static uint64_t tag(const void *p) { return (uint64_t)(uintptr_t)p; }

static void set_events(struct conn *c, uint32_t events) {
  if (c->events == events) return;
  ep_ctl(EPOLL_CTL_MOD, c->fd, events, tag(c));
  c->events = events;
}

static void resume_accept(void) {
  ep_ctl(EPOLL_CTL_MOD, listen_fd, EPOLLIN, tag(&listen_tag));
  accept_paused = false;
}

static void pause_accept(int err) {
  if (!said_accept_paused) {
    fprintf(stderr, "responder: accept4: %s: not accepting until a connection closes (said once)\n", strerror(err));
    said_accept_paused = true;
  }
  ep_ctl(EPOLL_CTL_MOD, listen_fd, 0, tag(&listen_tag));
  accept_paused = true;
  accept_resume_at = now_ns() + ACCEPT_PAUSE_NS;
}

static void release_inbuf(struct conn *c) {
  if (!c->in) return;
  c->in->next_free = free_inbufs;
  free_inbufs = c->in;
  c->in = NULL;
}

static struct inbuf *take_inbuf(void) {
  struct inbuf *b = free_inbufs;
  if (b) free_inbufs = b->next_free;
  else if (!(b = malloc(sizeof *b))) die("out of memory for a connection's input buffer");
  b->len = 0;
  return b;
}

static void linger_unlink(struct conn *c) {
  if (c->prev) c->prev->next = c->next;
  else linger_head = c->next;
  if (c->next) c->next->prev = c->prev;
  else linger_tail = c->prev;
  c->prev = c->next = NULL;
}

static void conn_close(struct conn *c) {
  if (c->state == C_LINGERING) linger_unlink(c);
  if (c->file_fd >= 0) close_fd(c->file_fd);
  close_fd(c->fd); /* also takes it out of the epoll set */
  release_inbuf(c);
  c->fd = -1;
  c->next = free_conns;
  free_conns = c;
  if (accept_paused) resume_accept(); /* an fd is free again */
}

static void conn_open(int fd) {
  struct conn *c = free_conns;
  if (c) free_conns = c->next;
  else if (!(c = malloc(sizeof *c))) die("out of memory for a connection");
  c->fd = fd;
  c->state = C_READING;
  c->close_after = c->linger_after = false;
  c->events = EPOLLIN;
  c->out = NULL;
  c->out_len = c->out_off = 0;
  c->file_fd = -1;
  c->file_off = c->file_end = 0;
  c->in = NULL;
  c->prev = c->next = NULL;
  ep_ctl(EPOLL_CTL_ADD, fd, EPOLLIN, tag(c));
}

/* The response to send: a canned one. `linger` when the client may have sent more we will not read. */
static void respond_canned(struct conn *c, enum canned_kind kind, bool head, bool close_it, bool linger) {
  const struct canned *r = &canned[kind][close_it ? 1 : 0];
  c->out = r->bytes;
  c->out_len = head ? r->head_len : r->len;
  c->out_off = 0;
  c->close_after = close_it;
  c->linger_after = linger;
}

/* /bulk/<name>: the file under --root, or why not. */
static void respond_file(struct conn *c, const struct request *rq, bool close_it) {
  /* The path without its query, "bulk/..." relative to --root. */
  size_t plen = rq->target_len;
  const char *q = memchr(rq->target, '?', plen);
  if (q) plen = (size_t)(q - rq->target);
  /* A ".." segment would climb out of the directory. */
  for (size_t i = 0; i < plen; i++) {
    if (rq->target[i] != '/') continue;
    size_t s = i + 1, e = s;
    while (e < plen && rq->target[e] != '/') e++;
    if (e - s == 2 && rq->target[s] == '.' && rq->target[s + 1] == '.') {
      respond_canned(c, RS_BAD_REQUEST, rq->head, true, true);
      return;
    }
  }
  if (root_fd < 0) {
    respond_canned(c, RS_NOT_FOUND, rq->head, close_it, false);
    return;
  }
  char path[IN_MAX + 1];
  memcpy(path, rq->target + 1, plen - 1); /* no leading '/': relative to root_fd */
  path[plen - 1] = '\0';
  /* O_NONBLOCK: a FIFO under the root must not block the loop (it is refused below anyway). */
  int fd = openat(root_fd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == EMFILE || err == ENFILE || err == ENOMEM) respond_canned(c, RS_UNAVAILABLE, rq->head, true, true);
    else if (err == ENOENT || err == ENOTDIR || err == EACCES || err == ELOOP || err == ENAMETOOLONG || err == ENXIO ||
             err == EISDIR)
      respond_canned(c, RS_NOT_FOUND, rq->head, close_it, false);
    else {
      fprintf(stderr, "responder: open %s: %s\n", path, strerror(err));
      respond_canned(c, RS_ERROR, rq->head, true, true);
    }
    return;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) die_errno("fstat");
  if (!S_ISREG(st.st_mode)) {
    close_fd(fd);
    respond_canned(c, RS_NOT_FOUND, rq->head, close_it, false);
    return;
  }
  int n = snprintf(c->hdr, sizeof c->hdr,
                   "HTTP/1.1 200 OK\r\nServer: epoxy-bench-responder\r\nContent-Type: application/octet-stream\r\n"
                   "Content-Length: %jd\r\nConnection: %s\r\n\r\n",
                   (intmax_t)st.st_size, close_it ? "close" : "keep-alive");
  if (n < 0 || (size_t)n >= sizeof c->hdr) die("file response header does not fit its buffer");
  c->out = c->hdr;
  c->out_len = (uint32_t)n;
  c->out_off = 0;
  c->close_after = close_it;
  c->linger_after = false;
  if (rq->head || st.st_size == 0) {
    close_fd(fd);
    return;
  }
  c->file_fd = fd;
  c->file_off = 0;
  c->file_end = st.st_size;
}

static void respond(struct conn *c, const struct request *rq) {
  bool close_it = rq->conn_close || (rq->http10 && !rq->conn_keep);
  if (rq->has_body) respond_canned(c, RS_BAD_REQUEST, rq->head, true, true); /* its body would read as requests */
  else if (!rq->get && !rq->head) respond_canned(c, RS_METHOD, false, close_it, false);
  else if (rq->target_len >= 6 && memcmp(rq->target, "/bulk/", 6) == 0) respond_file(c, rq, close_it);
  else respond_canned(c, RS_OK, rq->head, close_it, false);
}

enum { OUT_DONE, OUT_PENDING, OUT_FAILED };

/* Sends what is left of the response: OUT_DONE, OUT_PENDING (the socket is full, or this turn's
 * budget is spent: EPOLLOUT), or OUT_FAILED (the peer is gone: close). */
static int write_out(struct conn *c) {
  size_t budget = WRITE_BUDGET;
  while (c->out_off < c->out_len) {
    /* MSG_MORE: the header waits for the file's first bytes (one segment, as tcp_nopush). */
    int flags = MSG_NOSIGNAL | (c->file_fd >= 0 ? MSG_MORE : 0);
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, flags);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return OUT_PENDING;
      return OUT_FAILED; /* EPIPE, ECONNRESET, ...: the client is gone */
    }
    c->out_off += (uint32_t)n;
    budget = (size_t)n < budget ? budget - (size_t)n : 0;
  }
  while (c->file_fd >= 0 && c->file_off < c->file_end) {
    if (budget == 0) return OUT_PENDING; /* still writable: EPOLLOUT brings us back next turn */
    off_t left = c->file_end - c->file_off;
    size_t count = (size_t)left < budget ? (size_t)left : budget;
    ssize_t n = sendfile(c->fd, c->file_fd, &c->file_off, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return OUT_PENDING;
      return OUT_FAILED;
    }
    if (n == 0) {
      /* The file shrank under us: the promised Content-Length cannot be kept. */
      fprintf(stderr, "responder: a file ended %jd bytes early\n", (intmax_t)(c->file_end - c->file_off));
      return OUT_FAILED;
    }
    budget -= (size_t)n;
  }
  if (c->file_fd >= 0) {
    close_fd(c->file_fd);
    c->file_fd = -1;
  }
  return OUT_DONE;
}

/* The last response is out: close, or shut down our side and drop what the client still sends. */
static void end_connection(struct conn *c, bool unread) {
  if (!c->linger_after && !unread) {
    conn_close(c);
    return;
  }
  release_inbuf(c);
  if (shutdown(c->fd, SHUT_WR) != 0) {
    if (errno != ENOTCONN) die_errno("shutdown");
    conn_close(c); /* reset meanwhile */
    return;
  }
  c->state = C_LINGERING;
  c->linger_deadline = now_ns() + LINGER_NS;
  c->prev = linger_tail;
  c->next = NULL;
  if (linger_tail) linger_tail->next = c;
  else linger_head = c;
  linger_tail = c;
  set_events(c, EPOLLIN);
}

/*
 * Answers the complete requests in base[0..have) in order, until one's response cannot go out at
 * once; keeps what is left (a partial request, or requests behind the unsent response) in the
 * connection's own buffer. `base` is `scratch` or c->in->data.
 */
static void handle_input(struct conn *c, char *base, size_t have) {
  size_t used = 0;
  c->state = C_READING;
  for (;;) {
    struct request rq;
    ssize_t r = parse_request(base + used, have - used, &rq);
    if (r == PR_NEED) {
      if (have - used < IN_MAX) break;
      respond_canned(c, RS_TOO_LARGE, false, true, true);
      used = have;
    } else if (r == PR_BAD) {
      respond_canned(c, RS_BAD_REQUEST, false, true, true);
      used = have;
    } else {
      used += (size_t)r;
      respond(c, &rq);
    }
    int w = write_out(c);
    if (w == OUT_FAILED) {
      conn_close(c);
      return;
    }
    if (w == OUT_PENDING) {
      c->state = C_WRITING;
      break;
    }
    if (c->close_after) {
      end_connection(c, used < have);
      return;
    }
  }
  size_t rest = have - used;
  if (c->in) {
    if (rest == 0) release_inbuf(c);
    else if (used > 0) memmove(c->in->data, base + used, rest);
    if (c->in) c->in->len = (uint32_t)rest;
  } else if (rest > 0) {
    c->in = take_inbuf();
    memcpy(c->in->data, base + used, rest);
    c->in->len = (uint32_t)rest;
  }
  set_events(c, c->state == C_WRITING ? EPOLLOUT : EPOLLIN);
}

static void on_readable(struct conn *c) {
  char *base = c->in ? c->in->data : scratch;
  size_t have = c->in ? c->in->len : 0;
  /* A full buffer was answered (431) or is waiting behind an unsent response, never read into. */
  if (have >= IN_MAX) die("internal error: reading into a full buffer");
  ssize_t n = recv_some(c->fd, base + have, IN_MAX - have);
  if (n == -EAGAIN) return;
  if (n <= 0) {
    conn_close(c); /* closed (a partial request is dropped) or reset */
    return;
  }
  handle_input(c, base, have + (size_t)n);
}

static void on_writable(struct conn *c) {
  int w = write_out(c);
  if (w == OUT_PENDING) return;
  if (w == OUT_FAILED) {
    conn_close(c);
    return;
  }
  if (c->close_after) {
    end_connection(c, c->in != NULL);
    return;
  }
  if (c->in) handle_input(c, c->in->data, c->in->len);
  else {
    c->state = C_READING;
    set_events(c, EPOLLIN);
  }
}

static void on_lingering(struct conn *c) {
  /* A few reads a turn: a client that keeps sending cannot hold the loop (level-triggered, the
   * rest comes next turn). */
  for (int k = 0; k < 16; k++) {
    ssize_t n = recv_some(c->fd, scratch, sizeof scratch);
    if (n == -EAGAIN || n > 0) {
      if (n == -EAGAIN) return;
      continue;
    }
    conn_close(c); /* the client closed (or reset): done */
    return;
  }
}

static void on_conn_event(struct conn *c) {
  switch (c->state) {
  case C_READING:
    on_readable(c); /* EPOLLIN, or EPOLLERR/EPOLLHUP: the recv fails and closes */
    break;
  case C_WRITING:
    on_writable(c); /* EPOLLOUT, or EPOLLERR/EPOLLHUP: the send fails and closes */
    break;
  case C_LINGERING:
    on_lingering(c);
    break;
  default:
    die("internal error: connection in state %d", c->state);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Accepting */

static void on_accept(void) {
  for (;;) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        pause_accept(err);
        return;
      }
      /* One connection failed, not the listener: it died in the queue (ECONNABORTED), a firewall
       * refused it (EPERM), or a network error Linux passes on from the new socket (accept(2)). */
      if (err == ECONNABORTED || err == EPERM || err == EPROTO || err == ENOPROTOOPT || err == ENETDOWN ||
          err == ENETUNREACH || err == EHOSTDOWN || err == EHOSTUNREACH || err == EOPNOTSUPP || err == ENONET)
        continue;
      die_errno("accept4");
    }
    int one = 1;
    /* Responses are single writes, and nginx has tcp_nodelay on for keep-alive too. */
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
      if (errno != ECONNRESET && errno != EINVAL) die_errno("setsockopt(TCP_NODELAY)");
      close_fd(fd); /* reset before we got to it */
      continue;
    }
    conn_open(fd);
  }
}

static void listen_on(const struct options *o) {
  listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd < 0) die_errno("socket");
  int one = 1;
  /* A restart may bind the port while the last run's connections are in TIME_WAIT. */
  if (setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) die_errno("setsockopt(SO_REUSEADDR)");
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listen_fd, (struct sockaddr *)&sin, sizeof sin) != 0) die("bind 127.0.0.1:%ld: %s", o->port, strerror(errno));
  if (listen(listen_fd, (int)o->backlog) != 0) die_errno("listen");
  socklen_t len = sizeof sin;
  if (getsockname(listen_fd, (struct sockaddr *)&sin, &len) != 0) die_errno("getsockname");
  ep_ctl(EPOLL_CTL_ADD, listen_fd, EPOLLIN, tag(&listen_tag));
  if (printf("listening %u\n", (unsigned)ntohs(sin.sin_port)) < 0 || fflush(stdout) != 0) die_errno("write(stdout)");
}

/* The soft open-files limit up to the hard one: every connection is an fd (nginx would need
 * worker_rlimit_nofile for this; the harness raises the soft limit it hands down anyway). */
static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) die_errno("getrlimit(RLIMIT_NOFILE)");
  if (rl.rlim_cur == rl.rlim_max) return;
  rl.rlim_cur = rl.rlim_max;
  /* An unlimited hard limit is above what the kernel allows (fs.nr_open): keep the soft one. */
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && errno != EPERM) die_errno("setrlimit(RLIMIT_NOFILE)");
}

/* ------------------------------------------------------------------------------------------ */

int main(int argc, char **argv) {
  fill_std_fds();
  struct options o;
  parse_options(argc, argv, &o);
  build_responses(o.body_bytes);
  raise_nofile();

  /* sendfile() to a closed connection would raise SIGPIPE; send() uses MSG_NOSIGNAL. */
  if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) die_errno("signal(SIGPIPE)");
  if (o.root) {
    root_fd = open(o.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) die("--root %s: %s", o.root, strerror(errno));
  }
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die_errno("epoll_create1");

  /* SIGINT/SIGTERM through a signalfd: the loop sees them and exits 0. */
  int sfd = signals_as_fd();
  ep_ctl(EPOLL_CTL_ADD, sfd, EPOLLIN, tag(&signal_tag));

  listen_on(&o);

  struct epoll_event events[MAX_EVENTS];
  for (;;) {
    int timeout_ms = -1;
    if (linger_head || accept_paused) {
      uint64_t now = now_ns(), wake = UINT64_MAX;
      if (linger_head) wake = linger_head->linger_deadline;
      if (accept_paused && accept_resume_at < wake) wake = accept_resume_at;
      timeout_ms = wake <= now ? 0 : (int)((wake - now + NS_PER_MS - 1) / NS_PER_MS);
    }
    int n = epoll_wait(epfd, events, MAX_EVENTS, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      die_errno("epoll_wait");
    }
    for (int k = 0; k < n; k++) {
      void *p = (void *)(uintptr_t)events[k].data.u64;
      if (p == &listen_tag) {
        on_accept();
      } else if (p == &signal_tag) {
        struct signalfd_siginfo si;
        ssize_t got = read(sfd, &si, sizeof si);
        if (got == (ssize_t)sizeof si) {
          if (fflush(stdout) != 0) die_errno("write(stdout)");
          return 0;
        }
        if (got >= 0 || (errno != EAGAIN && errno != EINTR)) die_errno("read(signalfd)");
      } else {
        on_conn_event(p);
      }
    }
    if (linger_head || accept_paused) {
      uint64_t now = now_ns();
      /* Every linger lasts LINGER_NS: the list is in deadline order. */
      while (linger_head && linger_head->linger_deadline <= now) conn_close(linger_head);
      if (accept_paused && accept_resume_at <= now) resume_accept();
    }
  }
}
