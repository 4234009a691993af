/**
 * The one boundary between TypeScript and the C++ addon. It loads the addon with node-gyp-build
 * (a prebuild when one matches, else build/Release) and declares its complete interface; no
 * other module imports the `.node` file.
 *
 * Conventions of the addon (see native/*.h):
 * - Setup calls (socket, bind, listen, setsockopt, getsockname...) throw EpoxySystemError.
 * - Data-path calls (accept, connect, shutdown, close, recv, send, Poller add/modify/remove/wait)
 *   never throw on a kernel error: they return a count, 0, or -errno. `errnoName(-n)` gives the
 *   code. Only a wrong argument type (a bug in TypeScript) throws ERR_EPOXY_INVALID_ARG.
 * - Socket addresses cross as raw `struct sockaddr` bytes (see src/address.ts).
 *
 * EPOXY_ADDON=/path/to/epoxy.node loads another build of the same sources (the cmake-js and
 * sanitizer builds are tested this way).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { EpoxyError, EpoxySystemError, ErrorCodes } from './errors.js';

/** Value of SO_LINGER. */
export interface Linger {
  enabled: boolean;
  seconds: number;
}

/** Options that can be set and read back, with the type of their value. */
export interface SocketOptionValues {
  SO_REUSEADDR: boolean;
  SO_REUSEPORT: boolean;
  SO_LINGER: Linger;
  SO_KEEPALIVE: boolean;
  /** The kernel doubles the value set (bookkeeping overhead) and clamps it to rmem_max. */
  SO_RCVBUF: number;
  /** The kernel doubles the value set and clamps it to wmem_max. */
  SO_SNDBUF: number;
  /** Needs CAP_NET_ADMIN. */
  SO_MARK: number;
  /** Interface name; '' unbinds. Needs CAP_NET_RAW on kernels before 5.7. */
  SO_BINDTODEVICE: string;
  SO_PRIORITY: number;
  /** Needs CAP_NET_ADMIN or CAP_NET_RAW. */
  IP_TRANSPARENT: boolean;
  /** Needs CAP_NET_ADMIN or CAP_NET_RAW. */
  IPV6_TRANSPARENT: boolean;
  IP_FREEBIND: boolean;
  IP_BIND_ADDRESS_NO_PORT: boolean;
  IP_TOS: number;
  IPV6_V6ONLY: boolean;
  TCP_NODELAY: boolean;
  TCP_CORK: boolean;
  TCP_MAXSEG: number;
  /** Seconds; reads back rounded up to the kernel's SYN-ACK retransmission steps. */
  TCP_DEFER_ACCEPT: number;
  /** Queue length of pending TFO requests on a listener. */
  TCP_FASTOPEN: number;
  TCP_FASTOPEN_CONNECT: boolean;
  TCP_QUICKACK: boolean;
  TCP_KEEPIDLE: number;
  TCP_KEEPINTVL: number;
  TCP_KEEPCNT: number;
  /** Milliseconds. */
  TCP_USER_TIMEOUT: number;
  /** Algorithm name ('cubic', 'reno', ...). */
  TCP_CONGESTION: string;
  TCP_NOTSENT_LOWAT: number;
}

/** Options that can only be read. */
export interface ReadonlySocketOptionValues {
  /** Pending socket error as a positive errno (0 for none); reading clears it. */
  SO_ERROR: number;
  /** Whether the socket is listening. */
  SO_ACCEPTCONN: boolean;
  /** SOCK_STREAM, SOCK_DGRAM... */
  SO_TYPE: number;
  /** AF_INET, AF_INET6, AF_UNIX. */
  SO_DOMAIN: number;
}

export type SocketOptionName = keyof SocketOptionValues;
export type ReadonlySocketOptionName = keyof ReadonlySocketOptionValues;
export type AnySocketOptionValues = SocketOptionValues & ReadonlySocketOptionValues;
export type AnySocketOptionName = keyof AnySocketOptionValues;

/** A row of the addon's option table. */
export interface SocketOptionInfo {
  name: AnySocketOptionName;
  level: number;
  optname: number;
  kind: 'boolean' | 'number' | 'linger' | 'string';
  readonly: boolean;
}

export type AddressFamily = 'ipv4' | 'ipv6' | 'unix';

export interface UnpackedAddress {
  family: AddressFamily;
  /** Dotted/colon form, an IPv6 zone as %ifname, a unix path, '@name' for abstract, '' unnamed. */
  address: string;
  /** 0 for unix sockets. */
  port: number;
}

/**
 * A raw epoll set watched from Node's loop. `events` holds [fd, events] pairs written by the
 * last wait() or by the drain that precedes each start() callback.
 */
export interface NativePoller {
  readonly events: Int32Array;
  readonly fd: number;
  readonly closed: boolean;
  readonly capacity: number;
  /** epoll_ctl ADD: 0 or -errno. */
  add(fd: number, events: number): number;
  /** epoll_ctl MOD: 0 or -errno. */
  modify(fd: number, events: number): number;
  /** epoll_ctl DEL: 0 or -errno. */
  remove(fd: number): number;
  /** epoll_wait into `events`: count or -errno. A timeout above 0 blocks the thread. */
  wait(timeoutMs?: number): number;
  /** Calls `onReady(count)` from Node's loop whenever the set has events (already drained). */
  start(onReady: (count: number) => void): void;
  stop(): void;
  /** Whether a started poller keeps the process alive (default: it does). */
  ref(): void;
  unref(): void;
  /** Idempotent; any other call afterwards throws ERR_EPOXY_HANDLE_CLOSED. */
  close(): void;
}

/** poll(2)'s event bits, for the [fd, events, revents] triplets of pollOnce() and PollWatcher. */
export interface NativePollConstants {
  POLLIN: number;
  POLLPRI: number;
  POLLOUT: number;
  POLLERR: number;
  POLLHUP: number;
  POLLNVAL: number;
  /** Linux: the peer shut its write side. */
  POLLRDHUP: number;
}

/**
 * A thread blocked in poll(2) on a copy of an armed set, so that Node's loop can sleep on a set
 * that has no fd of its own: when anything in the set is ready, `onReady(result)` is called from
 * Node's loop, once; the thread then waits for the next arm(). `result` is the number of ready
 * fds the thread saw, or -errno if its poll(2) failed. The loop collects the events itself, with
 * pollOnce(timeout 0).
 */
export interface NativePollWatcher {
  readonly closed: boolean;
  /** Starts the thread (first call) and sets the callback (every call). */
  start(onReady: (result: number) => void): void;
  /**
   * Copies `count` [fd, events, revents] triplets (revents ignored) as the set to watch, and
   * restarts a poll(2) under way on it. Withdraws a notification not yet delivered. 0 or -ENOMEM.
   */
  arm(fds: Int32Array, count: number): number;
  /** No notification (not even one already on its way) until the next arm(). */
  disarm(): void;
  /** Whether a started watcher keeps the process alive (default: it does). */
  ref(): void;
  unref(): void;
  /** Idempotent, joins the thread; any other call afterwards throws ERR_EPOXY_HANDLE_CLOSED. */
  close(): void;
}

/** Reasons pp_parse refuses a header (native/proxy_protocol.h PpError), name -> negative code. */
export interface NativeProxyErrors {
  PP_BAD_SIGNATURE: number;
  PP_V1_SYNTAX: number;
  PP_V1_TOO_LONG: number;
  PP_BAD_ADDRESS: number;
  PP_BAD_PORT: number;
  PP_BAD_FAMILY: number;
  PP_V2_BAD_VERSION: number;
  PP_V2_BAD_COMMAND: number;
  PP_V2_TOO_LONG: number;
  PP_V2_TRUNCATED_ADDRESS: number;
  PP_V2_TLV_OVERFLOW: number;
  PP_V2_BAD_TLV: number;
  PP_V2_BAD_CHECKSUM: number;
}

/** Sizes of the PROXY protocol parser and builders (native/proxy_protocol.h). */
export interface NativeProxyProtocolConstants {
  /** Longest v1 line accepted, CRLF included (107). */
  V1_MAX_LINE: number;
  /** Longest v2 header accepted, fixed part included (1536). */
  V2_MAX_HEADER: number;
  /** Largest value proxyParse() returns: a peek buffer of this size always holds a whole header. */
  MAX_HEADER: number;
  /** Largest header proxyBuild() writes. */
  BUILD_MAX: number;
  /** Length of proxyParse()'s `out` that also receives the TLV spans. */
  OUT_SLOTS: number;
  /** Minimum size of proxyParse()'s `source` and `destination` buffers (sizeof sockaddr_un). */
  ADDRESS_SIZE: number;
  readonly errors: NativeProxyErrors;
}

/** Why a relayed pair ended: the `reason` of a record in `NativeRelay.ended` (never 0). */
export interface NativeRelayConstants {
  /** Both directions finished normally: a FIN each way, each forwarded (shutdown(SHUT_WR)) once flushed. */
  END_CLOSED: number;
  /** recv/send/shutdown failed on A (errno says why: ECONNRESET, EPIPE...); B got SO_LINGER {1, 0}. */
  END_RESET_A: number;
  /** recv/send/shutdown failed on B; A got SO_LINGER {1, 0}, so closing it sends an RST. */
  END_RESET_B: number;
  /** remove(id) stopped the pair. */
  END_REMOVED: number;
  /** Int32s per record of `ended`: [id, reason, errno]. */
  RECORD_INTS: number;
  /** Bytes per direction when `bufferSize` is not given (16384). */
  DEFAULT_BUFFER_SIZE: number;
  /** The bulkSize option's default: what a blocked bulk read may hold for its direction. */
  DEFAULT_BULK_SIZE: number;
}

export interface NativeRelayOptions {
  /** Most bytes held per blocked direction (default 16384; 1 to 64 MiB). */
  bufferSize?: number;
  /** Initial slots (default 64); the relay doubles them when add() finds none free. */
  capacity?: number;
  /**
   * The caller closes both fds as soon as it hears of a pair's end (default false). The FIN that
   * ends a pair (the other direction being finished already) is then left to that close() rather
   * than forwarded with a shutdown() of its own: one syscall less per connection. Without it,
   * each peer sees its FIN before the end is reported.
   */
  lastFinByClose?: boolean;
  /**
   * Relay on a thread of the relay's own (default false: in Node's loop, one uv_poll per fd).
   * The thread waits on its own edge-triggered epoll set, so Node's loop wakes only to deliver
   * ended pairs, in batches; the shared arrays are written from that thread (JS reads whole
   * elements). Its `lastActivity` stamps may be a few ms ahead of nowTick(): read a negative
   * difference as no idle time.
   */
  thread?: boolean;
  /**
   * 'auto' (default): a direction whose recv fills the whole buffer (bulk) moves on with splice(2)
   * through a pipe, and returns the pipe once its source is drained; small messages always copy.
   * 'off': always recv/send through the buffer (HAProxy's `nosplice`).
   */
  splice?: 'auto' | 'off';
  /**
   * Bulk copy (default 262144; 0: off): once a recv fills the whole buffer, the rest of that
   * wake-up reads this many bytes at a time, so a bulk transfer costs a recv and a send per
   * bulkSize bytes. A blocked send of such a read keeps up to bulkSize bytes for its direction.
   * Splicing, when on, takes precedence.
   */
  bulkSize?: number;
  /** F_SETPIPE_SZ for new pipes, in bytes (`tune.pipesize`); 0 (default): the kernel's default (64 KiB). */
  pipeSize?: number;
  /**
   * Most pipes held at once (HAProxy's `maxpipes`; each is 2 fds); 0 (default): no cap. A bulk read
   * that finds none available copies instead, counted in `spliceFallbacks`.
   */
  maxPipes?: number;
  /**
   * Called from Node's loop, at most once per loop turn, when pairs have ended: `count` records
   * [id, reason, errno] are at the start of `ended`. The ids' slots (and their counters) are
   * reused only after this call returns. A throw goes to 'uncaughtException'.
   */
  onEnd: (count: number) => void;
}

/**
 * Moves bytes between pairs of connected stream sockets in native code, from Node's loop, with
 * no JS call per message (docs/relay.md). The fds are borrowed: the relay never closes them.
 *
 * `bytes`, `lastActivity` and `ended` are indexed by pair id and are REPLACED by larger arrays
 * when add() grows the relay: read them from the relay each time, never keep them across add().
 */
export interface NativeRelay {
  /** [aToB, bToA] bytes forwarded (accepted by the destination's send), per pair id. */
  readonly bytes: Float64Array;
  /** nowTick() of the pair's last transfer (or of add()), per pair id; compare with `(now - t) >>> 0`. */
  readonly lastActivity: Uint32Array;
  /** [id, reason, errno] records, valid during onEnd(count). */
  readonly ended: Int32Array;
  /** Per pair id: bit 0 set once A sent its FIN, bit 1 once B did (half-closed sides). */
  readonly fins: Uint8Array;
  readonly closed: boolean;
  /** Slots (pair ids 0..capacity-1). */
  readonly capacity: number;
  /** Pairs being relayed. */
  readonly size: number;
  readonly bufferSize: number;
  /**
   * Bytes the relay holds because a destination would not take them yet (all pairs), in blocks and
   * in pipes. Per direction at most max(bufferSize, bulkSize, a pipe's capacity).
   */
  readonly buffered: number;
  /** The splice option: 'auto' or 'off'. */
  readonly splice: 'auto' | 'off';
  /** Whether the relay runs on a thread of its own (the `thread` option). */
  readonly thread: boolean;
  /** The pipeSize option (0: the kernel's default). */
  readonly pipeSize: number;
  /** The maxPipes option (0: no cap). */
  readonly maxPipes: number;
  /** Pipes held by directions now: splicing, or holding bytes a destination would not take yet. */
  readonly pipes: number;
  /** Empty pipes pooled for reuse (at most 64; 2 fds each). */
  readonly idlePipes: number;
  /** Bulk reads that wanted a pipe and got none (maxPipes reached, EMFILE/ENFILE), so copied. */
  readonly spliceFallbacks: number;
  /** Bytes that reached a destination through a pipe (all pairs, since the relay was made); the rest was copied. */
  readonly bytesSpliced: number;
  /**
   * Starts relaying: the pair id, or -errno (EBADF, EPERM for an fd epoll cannot watch, EEXIST for
   * an fd Node's loop already watches). Throws ERR_EPOXY_INVALID_ARG for a negative fd, twice the
   * same fd, or an fd this relay already relays. Makes both fds non-blocking, unless
   * `nonBlocking` says they already are (a syscall per fd saved; a closed fd passed with it is
   * fatal to the process, as libuv aborts on it: only for fds the caller just created).
   */
  add(fdA: number, fdB: number, nonBlocking?: boolean): number;
  /** Stops relaying a live pair now (its end, END_REMOVED, still reaches onEnd): 0 or -ENOENT. */
  remove(id: number): number;
  /** Bit 0 while bytes from A wait for B to take them, bit 1 while bytes from B wait for A; 0 for a pair not live. */
  holding(id: number): number;
  /** Whether live pairs keep the process alive (default: they do). */
  ref(): void;
  unref(): void;
  /**
   * Idempotent. Stops every pair WITHOUT reporting it (no onEnd ever follows close(); records not
   * yet delivered are dropped); the arrays keep their last values. Any other call afterwards
   * throws ERR_EPOXY_HANDLE_CLOSED.
   */
  close(): void;
}

export interface NativeConstants {
  AF_INET: number;
  AF_INET6: number;
  AF_UNIX: number;
  SOCK_STREAM: number;
  SOCK_DGRAM: number;
  SOCK_NONBLOCK: number;
  SHUT_RD: number;
  SHUT_WR: number;
  SHUT_RDWR: number;
  EPOLLIN: number;
  EPOLLOUT: number;
  EPOLLRDHUP: number;
  EPOLLPRI: number;
  EPOLLERR: number;
  EPOLLHUP: number;
  EPOLLET: number;
  EPOLLONESHOT: number;
  EPOLLEXCLUSIVE: number;
  SIGHUP: number;
  SIGINT: number;
  SIGTERM: number;
  SIGKILL: number;
  SIGQUIT: number;
  SIGUSR1: number;
  SIGUSR2: number;
  SIGTTOU: number;
  SIGTTIN: number;
  /** Bytes per peer address in accept()'s `addrs` buffer. */
  ADDR_SLOT_SIZE: number;
  /**
   * errno values from <errno.h>, positive. Data-path calls return them negated (-EAGAIN);
   * EpoxySystemError.errno is negative too. Compare with these, never with literal numbers.
   */
  errno: ErrnoConstants;
}

export interface ErrnoConstants {
  EPERM: number;
  ENOENT: number;
  EEXIST: number;
  EINTR: number;
  EBADF: number;
  EAGAIN: number;
  ENOMEM: number;
  EACCES: number;
  EINVAL: number;
  ENFILE: number;
  EMFILE: number;
  EPIPE: number;
  /** A full stick table whose every entry is referenced. */
  ENOSPC: number;
  EAFNOSUPPORT: number;
  EADDRINUSE: number;
  EADDRNOTAVAIL: number;
  ENETUNREACH: number;
  ECONNABORTED: number;
  ECONNRESET: number;
  ENOBUFS: number;
  ETIMEDOUT: number;
  ECONNREFUSED: number;
  EHOSTUNREACH: number;
  EINPROGRESS: number;
  /** A stick table's lock taken again by its holder (only a test hook can do that). */
  EDEADLK: number;
}

/** Constants of the shared-memory stick table (native/stick_table.h). */
export interface NativeStickTableConstants {
  /** get()/updateKey() flag: create the entry when it is absent (or expired). */
  readonly CREATE: number;
  /** get() flag: take a reference; the entry neither expires nor is evicted until release(). */
  readonly REF: number;
  /**
   * get()/updateKey() flag with CREATE: in a full table, only expired entries make room, never a
   * live one (HAProxy's `nopurge`); -ENOSPC otherwise.
   */
  readonly NO_EVICT: number;
  /** Field kind: unsigned 64-bit counter (add saturating at 0 and 2^64 - 1, set >= 0). */
  readonly COUNTER: number;
  /** Field kind: signed 64-bit gauge (a negative delta stops at 0; set takes any integer). */
  readonly GAUGE: number;
  /** Field kind: HAProxy freq_ctr event rate over the field's period (ms); cannot be set. */
  readonly RATE: number;
  /** Fields per table, at most. */
  readonly MAX_FIELDS: number;
  /** Key bytes, at most. */
  readonly MAX_KEY: number;
  /** Entries per table, at most. */
  readonly MAX_SIZE: number;
}

/** One row of NativeStickTable.entries(). */
export interface NativeStickTableEntry {
  /** A copy of the key bytes. */
  key: Uint8Array;
  /** The slot the entry lives in (what get() returns for it). */
  slot: number;
  /** References held (by live connections of any process). */
  refs: number;
  /**
   * ms until the entry expires, counting down to 0 while it is referenced (it stays until
   * released); -1 in a table with expireMs 0.
   */
  expiresInMs: number;
  /** Every field's value, as get() reports them. */
  values: number[];
}

/**
 * A mapping of a stick table made by stickTableCreate(): the same table in every process that
 * maps the fd (native/stick_table.h). Keys are exactly keyLength bytes (longer views: the first
 * keyLength bytes are used; shorter ones throw), compared bytewise. Every call holds the table's
 * process-shared lock for its whole work, and every get/update/set/release touches the entry
 * (it then expires expireMs later, unless referenced). Data-path calls return >= 0 or -errno and
 * never throw but for arguments of the wrong type (ERR_EPOXY_INVALID_ARG). After close(), every
 * member but `closed` throws ERR_EPOXY_HANDLE_CLOSED.
 */
export interface NativeStickTable {
  readonly keyLength: number;
  readonly size: number;
  /** 0: entries never expire (they are only evicted when the table is full). */
  readonly expireMs: number;
  readonly fieldCount: number;
  /**
   * Entries in the table, expired ones included until purged: lazily, by the lookup that meets
   * one, by a creation in a full table, and by entries() and clear().
   */
  readonly used: number;
  /**
   * Times a process took the lock over from one that died holding it and rebuilt the table's
   * links (native/stick_table.cc, StickTable::Lock): worth a warning in `show table`.
   */
  readonly repairs: number;
  readonly closed: boolean;
  /**
   * Finds the entry for key[0..keyLength): with CREATE makes it when absent; with REF takes a
   * reference (release() gives it back). Fills `values` (fieldCount long at least) with every
   * field's current value under the same lock. Returns the slot (>= 0), or -ENOENT (absent or
   * expired, no CREATE), or -ENOSPC (full, every entry referenced).
   */
  get(key: Uint8Array, flags: number, values?: Float64Array): number;
  /**
   * Under one lock: adds deltas[i] to field i for every i with deltas[i] !== 0 (rates count
   * deltas[i] events), touches the entry, fills `values` if given. `slot` must be held (REF).
   * Deltas are truncated to integers. 0, or -EINVAL for a slot that is not live and referenced,
   * a non-finite delta or a negative one for a rate (then nothing changes).
   */
  update(slot: number, deltas: Float64Array, values?: Float64Array): number;
  /** Sets a counter (value >= 0) or gauge of a held slot. 0, or -EINVAL (bad slot, field or value, or a rate). */
  set(slot: number, field: number, value: number): number;
  /**
   * get() then update() by key, under one lock, keeping no reference (sc-inc-gpc0, stick store on
   * untracked keys): flags may hold CREATE only (REF gives -EINVAL). 0, -ENOENT, -ENOSPC or -EINVAL.
   */
  updateKey(key: Uint8Array, flags: number, deltas: Float64Array, values?: Float64Array): number;
  /** Sets one counter or gauge by key, creating the entry when absent. 0, -ENOSPC or -EINVAL. */
  setKey(key: Uint8Array, field: number, value: number): number;
  /** Gives back a reference taken with REF and touches the entry. 0, or -EINVAL if `slot` holds none. */
  release(slot: number): number;
  /** Removes unreferenced entries: every one, or only `key`'s. Returns how many. */
  clear(key?: Uint8Array): number;
  /** Every live entry, expired ones purged first (for `show table`: allocates, control path). */
  entries(): NativeStickTableEntry[];
  /** munmap; idempotent (the finalizer and an environment cleanup hook do it too). */
  close(): void;
  /**
   * Tests only: takes the table's lock and never releases it (0 or -errno; -EDEADLK if this
   * process holds it already), for a child that then exits holding it.
   */
  _holdLockForTest(): number;
}

export interface NativeAddon {
  readonly napiVersion: number;
  /** How this binary was built: sanitizers compiled in ('address', 'undefined'), debug or not. */
  readonly build: { sanitizers: string[]; debug: boolean };
  readonly constants: NativeConstants;
  readonly sockopts: readonly SocketOptionInfo[];
  Poller: new (capacity?: number) => NativePoller;
  readonly pollConstants: NativePollConstants;
  PollWatcher: new () => NativePollWatcher;
  Relay: new (options: NativeRelayOptions) => NativeRelay;
  readonly relayConstants: NativeRelayConstants;
  /** The loop's time in ms (uv_now, once per loop turn) as a uint32: the clock of Relay.lastActivity. */
  nowTick(): number;
  /**
   * Whether this thread's loop measures idle time (Node turns it on, for
   * performance.eventLoopUtilization()). While on, libuv polls twice each time it is about to
   * sleep, which costs a relay woken from idle 2 extra epoll_waits per request/response
   * (docs/relay.md). `false` turns it off through libuv's private loop fields (libuv 1.39 to 1.52
   * only; false is returned, and nothing changed, on any other) and eventLoopUtilization() then
   * reports the loop as always busy. Returns whether the loop now does what was asked.
   */
  setLoopIdleMetrics(enabled: boolean): boolean;
  /**
   * poll(2) on `count` [fd, events, revents] triplets of `fds`, writing revents back: the ready
   * count or -errno (data path, never throws for the kernel; ERR_EPOXY_INVALID_ARG if count is
   * negative or above fds.length / 3). A negative fd is skipped; a closed one reports POLLNVAL.
   * A timeout other than 0 (default) blocks the thread, -1 without limit: for tests and tools.
   */
  pollOnce(fds: Int32Array, count: number, timeoutMs?: number): number;

  // errors
  setErrorClasses(system: new (message: string) => Error, epoxy: new (message: string) => Error): void;
  /** 'EADDRINUSE' for 98 or -98. */
  errnoName(errno: number): string;
  /** 'Address already in use' for 98 or -98. */
  strerror(errno: number): string;

  // addresses
  addrPack(family: AddressFamily, host: string, port?: number): Uint8Array;
  addrUnpack(address: Uint8Array): UnpackedAddress;

  // sockets: setup (throw)
  /** SOCK_CLOEXEC is always added. */
  socket(domain: number, type: number, protocol?: number): number;
  /** socket() inside the network namespace at nsPath (/var/run/netns/NAME). */
  socketInNetns(nsPath: string, domain: number, type: number, protocol?: number): number;
  bind(fd: number, address: Uint8Array): void;
  listen(fd: number, backlog: number): void;
  getsockname(fd: number): Uint8Array;
  getpeername(fd: number): Uint8Array;
  /** Destination before NAT REDIRECT/DNAT (SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST). */
  getOriginalDst(fd: number): Uint8Array;
  setsockopt<K extends SocketOptionName>(fd: number, name: K, value: SocketOptionValues[K]): void;
  getsockopt<K extends AnySocketOptionName>(fd: number, name: K): AnySocketOptionValues[K];

  // sockets: data path (count | 0 | -errno, never throw)
  /**
   * Accepts up to out.length/2 connections: out[2i] = fd, out[2i+1] = peer address length, peer
   * bytes at addrs[i*ADDR_SLOT_SIZE]. Returns the count or -errno (-EAGAIN when none waits).
   * flags default to SOCK_NONBLOCK; SOCK_CLOEXEC is always added.
   */
  accept(fd: number, out: Int32Array, addrs: Uint8Array | null, flags?: number): number;
  /** 0, or -errno (-EINPROGRESS for a non-blocking connect under way). */
  connect(fd: number, address: Uint8Array): number;
  shutdown(fd: number, how: number): number;
  close(fd: number): number;
  recv(fd: number, buffer: Uint8Array, offset?: number, length?: number): number;
  /** Sends with MSG_NOSIGNAL: a gone peer gives -EPIPE, never SIGPIPE. */
  send(fd: number, buffer: Uint8Array, offset?: number, length?: number): number;

  // PROXY protocol (data path: never throw for what the bytes contain)
  readonly proxyProtocol: NativeProxyProtocolConstants;
  /**
   * Parses a PROXY v1 or v2 header at the start of buffer[0, length): the header length when
   * complete, 0 when the bytes are a valid beginning (call again with more), or a negative
   * reason (proxyErrorName). out: [status, version, command (0 LOCAL, 1 PROXY), sourceLength,
   * destinationLength] and, when OUT_SLOTS long, [alpnOffset, alpnLength, authorityOffset,
   * authorityLength, uniqueIdOffset, uniqueIdLength] (offset -1: absent). The addresses carried
   * are written as sockaddr bytes to source/destination (ADDRESS_SIZE bytes each at least);
   * length 0 means none (LOCAL, UNKNOWN, UNSPEC): the connection's own endpoints apply.
   */
  proxyParse(
    buffer: Uint8Array,
    length: number | undefined,
    out: Int32Array,
    source: Uint8Array,
    destination: Uint8Array,
  ): number;
  /** 'PP_BAD_SIGNATURE' for -1...; 'PP_UNKNOWN_ERROR' for a number that is not a reason. */
  proxyErrorName(code: number): string;
  /** A sentence for logs ('malformed PROXY v1 line'). */
  proxyErrorDescription(code: number): string;
  /**
   * Writes a v1 line or a v2 header for the client's source and destination: bytes written,
   * -EINVAL for address bytes of no known family, -ENOSPC when out is too small. Null addresses
   * give v1 UNKNOWN / v2 LOCAL; mixed IPv4/IPv6 are sent as IPv6 (v4-mapped).
   */
  proxyBuild(version: 1 | 2, source: Uint8Array | null, destination: Uint8Array | null, out: Uint8Array): number;
  /**
   * Reads the TLS facts of the first bytes a client sent (native/client_hello.h) into `out`
   * (OUT_SLOTS long): [helloTypeState, helloType, versionState, version, sniState, sniOffset,
   * sniLength, alpnState, alpnOffset, alpnLength (the ALPN protocol list: length-prefixed names),
   * ecExtState, ecExt]. States: 0 absent, 1 need more bytes, 2 found; offsets index `buffer`.
   */
  clientHelloInspect(buffer: Uint8Array, length: number, out: Int32Array): void;
  readonly clientHello: { readonly OUT_SLOTS: number; readonly MAX_RECORD: number };

  // stick tables (native/stick_table.h): setup throws, operations return -errno
  /**
   * Makes a stick table in a new sealed memfd (MFD_CLOEXEC) and returns its fd, which the caller
   * owns (and hands to workers through spawn's stdio). `fields` holds [kind, periodMs] pairs
   * (periodMs > 0 for RATE, ignored otherwise). keyLength 1..MAX_KEY, size 1..MAX_SIZE, expireMs
   * 0 (never) to 2^31 - 1, at most MAX_FIELDS fields and 4 GiB in all, else ERR_EPOXY_INVALID_ARG;
   * EpoxySystemError when the kernel refuses (memfd_create, ftruncate, mmap...).
   */
  stickTableCreate(keyLength: number, size: number, expireMs: number, fields: Int32Array): number;
  /**
   * Maps the table of `fd` (which stays the caller's: the mapping outlives its closing). Throws
   * EpoxySystemError: EBADF for a bad fd, EINVAL for an fd that is not a stick table of this
   * layout (bad magic or version, header inconsistent with its parameters or the fd's size).
   */
  StickTable: new (fd: number) => NativeStickTable;
  readonly stickTable: NativeStickTableConstants;
  /** recv(MSG_PEEK): bytes copied (left queued), 0 at EOF, or -errno. */
  recvPeek(fd: number, buffer: Uint8Array, offset?: number, length?: number): number;

  // process
  setParentDeathSignal(signal: number): void;
  getParentDeathSignal(): number;
  /** -1 stands for RLIM_INFINITY. */
  getNofileLimit(): { soft: number; hard: number };
  setNofileLimit(soft: number, hard?: number): void;
  setCloexec(fd: number, on: boolean): void;
  getCloexec(fd: number): boolean;
  setNonBlocking(fd: number, on: boolean): void;
  isNonBlocking(fd: number): boolean;
  /**
   * chroot (then chdir /), setgroups, setgid, setuid, in that order, each only when given;
   * `keepCapabilities` (CAP_* numbers) stay permitted and effective across setuid, all others
   * are dropped. Throws EpoxySystemError naming the failed call. Clears the parent-death signal.
   */
  dropPrivileges(options: { chroot?: string; uid?: number; gid?: number; groups?: number[]; keepCapabilities?: number[] }): void;
  /** stdin, stdout and stderr onto /dev/null (a daemon once it is ready). */
  detachStdio(): void;
}

function loadAddon(): NativeAddon {
  const require = createRequire(import.meta.url);
  // src/ (under vitest) and dist/ (compiled) are both one level below the package root.
  const root = fileURLToPath(new URL('..', import.meta.url));
  const override = process.env.EPOXY_ADDON;
  try {
    if (override) return require(override) as NativeAddon;
    const load = require('node-gyp-build') as (dir: string) => unknown;
    return load(root) as NativeAddon;
  } catch (cause) {
    const error = new EpoxyError(
      `cannot load the epoxy addon from ${override ?? root}: ${(cause as Error).message}` +
        ' (run `npm install` to build it)',
      ErrorCodes.ADDON_LOAD,
    );
    error.cause = cause;
    throw error;
  }
}

export const native: NativeAddon = loadAddon();
native.setErrorClasses(EpoxySystemError, EpoxyError);

export const constants: NativeConstants = native.constants;

export const pollConstants: NativePollConstants = native.pollConstants;

export const relayConstants: NativeRelayConstants = native.relayConstants;

export const stickTableConstants: NativeStickTableConstants = native.stickTable;

export const proxyProtocolConstants: NativeProxyProtocolConstants = native.proxyProtocol;
