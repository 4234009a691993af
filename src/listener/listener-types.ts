/**
 * Types and flags of listeners (HAProxy's listener-t.h and errors.h): the states a listening
 * socket goes through, the ERR_* bits every bind step reports, the options of one `bind` line
 * (BindConf) and the listener made for each address:port it names.
 */
import type { SocketAddress } from '../address.js';
import type { FdIoCallback } from '../fd/fd-types.js';
import type { NativeAddon } from '../native.js';

/*
 * Result bits of bindListener() and friends, exactly HAProxy's model. A result is an OR of them;
 * ERR_WARN/ERR_ALERT only say that `msg` holds something to print at that level, the other
 * three say what the failure means for the caller (start_proxies() and its retry loop).
 */
export const ERR_NONE = 0x00; // everything went fine, no message
export const ERR_RETRYABLE = 0x01; // failed, but a retry may succeed (port held by an old process)
export const ERR_FATAL = 0x02; // failed, and retrying will not help
export const ERR_ABORT = 0x04; // pointless to start any other listener (every one would fail)
export const ERR_WARN = 0x08; // msg holds a warning
export const ERR_ALERT = 0x10; // msg holds an alert
export const ERR_CODE = ERR_RETRYABLE | ERR_FATAL | ERR_ABORT; // mask: the bits meaning failure

/**
 * Listener states, in HAProxy 2.6's order: comparisons mean something. Below PAUSED there is no
 * bound socket; PAUSED is bound but not listening; from LISTEN up the kernel accepts connections.
 */
export const ListenerState = {
  /**
   * Allocated, not attached to a protocol yet. Kept (HAProxy has it) so that `state <
   * ASSIGNED` can mean "not usable"; createListener() hands out ASSIGNED listeners directly.
   */
  NEW: 0,
  ASSIGNED: 1, // configured (address and protocol known), no socket
  PAUSED: 2, // socket bound but the kernel no longer accepts on it (pauseListener)
  LISTEN: 3, // bound and listening, not yet polled (connections wait in the backlog)
  READY: 4, // accepting: the fd is enabled in the poller
  FULL: 5, // maxconn reached: not polled until a connection of its own ends (session layer)
  LIMITED: 6, // a global limit (process maxconn, rate) holds it: not polled until lifted
} as const;
export type ListenerState = (typeof ListenerState)[keyof typeof ListenerState];

/**
 * The per-listener fallback for listeners made directly through this module with no maxconn at
 * all. start() never relies on it: it gives every listener its frontend's maxconn or the global
 * one, derived from the fd limit when the configuration sets none (src/runtime/limits.ts), as
 * HAProxy does.
 */
export const DEFAULT_MAXCONN = 2000;

/** Ownership and mode given to a unix socket's file (ignored for other families). */
export interface UnixSocketPerms {
  /** Permission bits (`mode 600` is 0o600); null leaves what bind() made (0777 & ~umask). */
  mode: number | null;
  /** Owner uid (`uid`, or `user` resolved); null keeps ours. */
  uid: number | null;
  /** Group gid (`gid`, or `group` resolved); null keeps ours. */
  gid: number | null;
}

/**
 * Every option of one `bind` line. Unset numbers are 0 and unset names null, as in HAProxy's
 * bind_conf, so "0 = use the frontend's value" reads the same.
 */
export interface BindConf {
  /** The address word as written ('0.0.0.0:8000-8002', ':80,:443', '/run/x.sock'). */
  addressText: string;
  /** `name`: reported in stats and logs. */
  name: string | null;
  /** `id`: fixed listener id (> 0); only allowed when the line defines a single socket. */
  id: number | null;
  /** `backlog`: listen() queue length; 0 = the frontend's, else maxconn. */
  backlog: number;
  /** `maxconn`: concurrent connections per socket; 0 = the frontend's. */
  maxconn: number;
  /** `transparent`: bind even to non-local addresses (IP_TRANSPARENT, else IP_FREEBIND). */
  transparent: boolean;
  /** `freebind` (epoxy extension): IP_FREEBIND only, for addresses not configured yet. */
  freebind: boolean;
  /** `defer-accept`: wake us only once data arrived (TCP_DEFER_ACCEPT). */
  deferAccept: boolean;
  /** `tfo`: TCP Fast Open with a queue of the backlog's length. */
  tfo: boolean;
  /** `v4v6`: an IPv6 wildcard also takes IPv4 (IPV6_V6ONLY 0). */
  v4v6: boolean;
  /** `v6only`: IPv6 only (IPV6_V6ONLY 1); wins over v4v6. */
  v6only: boolean;
  /** `nolinger` (HAProxy: `option nolinger`): SO_LINGER on with 0 s, close sends RST. */
  noLinger: boolean;
  /** `noreuseport` (HAProxy: global `noreuseport`): do not set SO_REUSEPORT. */
  noReusePort: boolean;
  /** `accept-proxy`: connections start with a PROXY protocol header (recorded only for now). */
  acceptProxy: boolean;
  /** `interface`: SO_BINDTODEVICE to this interface name. */
  interface: string | null;
  /** `mss`: > 0 sets TCP_MAXSEG on the listener; < 0 reduces each accepted connection's MSS. */
  mss: number;
  /** `tcp-ut`: TCP_USER_TIMEOUT in milliseconds; 0 = unset. */
  tcpUserTimeout: number;
  /** `namespace`: network namespace name; null = ours. */
  namespace: string | null;
  /** Path of that namespace (/var/run/netns/<name>), what socketInNetns() opens. */
  namespacePath: string | null;
  /** `mode`, `uid`/`user`, `gid`/`group`. */
  unix: UnixSocketPerms;
  /*
   * Options of the accepted sockets, set once on the listening TCP socket: Linux copies the
   * listener's socket into each connection it accepts, and these live in that copy (checked by
   * test/listener/sockopt-inherit.test.ts). Not bind keywords: runtime/build.ts fills them from
   * the global section and the frontend. Absent means "leave the kernel's default", no syscall.
   */
  /** `tune.rcvbuf.client`: SO_RCVBUF in bytes. */
  rcvbuf?: number;
  /** `tune.sndbuf.client`: SO_SNDBUF in bytes. */
  sndbuf?: number;
  /** TCP_NODELAY (HAProxy sets it on every client socket; `tune.epoxy.nodelay off` clears it). */
  noDelay?: boolean;
  /** `option tcp-smart-accept`: TCP_QUICKACK 0, so the first reply carries the ACK of the request. */
  smartAccept?: boolean;
  /** `tune.epoxy.notsent-lowat.client`: TCP_NOTSENT_LOWAT in bytes. */
  notSentLowat?: number;
}

/** A parsed `bind` line: its options, and one address per socket to create. */
export interface ParsedBind {
  bind: BindConf;
  /** One per address and port (a range 8000-8002 gives three), in the order written. */
  addresses: SocketAddress[];
}

/**
 * The part of an fd table a listener needs (src/fd/fdtab.ts's FdTable has it): HAProxy's
 * fd_insert / fd_delete / fd_want_recv / fd_stop_recv.
 */
export interface ListenerPoll {
  insert(fd: number, owner: object, iocb: FdIoCallback): void;
  /** Wake one of the processes sharing this socket, not all (see FdTable.setExclusive). */
  setExclusive?(fd: number): void;
  remove(fd: number): void;
  wantRecv(fd: number): void;
  stopRecv(fd: number): void;
}

/** The addon calls binding makes: the addon itself, or a wrapper (tests refuse some). */
export type ListenerSyscalls = Pick<
  NativeAddon,
  | 'socket'
  | 'socketInNetns'
  | 'bind'
  | 'listen'
  | 'setsockopt'
  | 'getsockopt'
  | 'getsockname'
  | 'close'
  | 'shutdown'
  | 'setNonBlocking'
>;

/** What binding needs from the process (HAProxy's globals). */
export interface BindContext {
  /** fds at or above this number are refused (HAProxy's global.maxsock, `-n`). */
  maxsock: number;
  /** The fd table the listening fd is registered in; none when absent. */
  poll?: ListenerPoll;
  /** Called by the loop when the listening fd is readable (the accept handler). */
  accept?: FdIoCallback;
  /** Defaults to the addon. */
  sys?: ListenerSyscalls;
  /**
   * The listening sockets are shared with other processes polling them (a master's workers):
   * register them so that a new connection wakes one process only.
   */
  shared?: boolean;
  /** Used in unix sockets' temporary names (<path>.<pid>.tmp); defaults to process.pid. */
  pid?: number;
}

/** Outcome of a bind step: ERR_* bits, and a message when WARN or ALERT is set. */
export interface BindResult {
  err: number;
  /** '<what> (<strerror>) [<addr>:<port>]', several joined by ', ' before the address; '' if none. */
  msg: string;
  /** `msg` without its address: '<what> (<strerror>)', several joined by ', '. */
  reasons?: string;
  /** The address part of `msg`, without brackets: '127.0.0.1:8080', '::1:80', a path, 'fd <n>'. */
  target?: string;
  /** What the kernel (or node:fs) threw at the step that failed (an EpoxySystemError, usually). */
  error?: unknown;
}

/** Outcome of pause/resume: whether it worked, and why not. */
export interface ListenerChange {
  ok: boolean;
  /** '' on success. */
  msg: string;
}

/** The file a unix listener created, remembered so unbind only removes it while it is ours. */
export interface UnixSocketFile {
  path: string;
  dev: number;
  ino: number;
}

/** One listening socket: one address:port of a bind line. */
export interface Listener {
  /** The bind line it comes from (shared by its siblings). */
  readonly bind: BindConf;
  /** The address to listen on, as configured (port 0 only in tests: the kernel picks one). */
  readonly addr: SocketAddress;
  state: ListenerState;
  /** The listening fd; -1 when none. Set >= 0 before binding to adopt a parent's socket. */
  fd: number;
  /** The fd was handed over by a parent: never created, bound nor closed on failure by us. */
  inherited: boolean;
  /** Where the socket is bound, read back after bind() (the kernel's port when addr has 0). */
  boundAddr: SocketAddress | null;
  /** Effective limit of concurrent connections (bind's, else the frontend's, else default). */
  maxconn: number;
  /** Configured backlog (bind's, else the frontend's); 0 = use maxconn. */
  backlog: number;
  /** Connections currently open from this listener (kept by the session layer). */
  nbconn: number;
  /** The unix socket file we created, or null. */
  unixFile: UnixSocketFile | null;
  /** The context it was bound with, reused by pause/resume/unbind. */
  ctx: BindContext | null;
}
