/**
 * Creating, binding and listening sockets for listeners — HAProxy's tcp_bind_listener() (with
 * sock_inet_bind_receiver() of 2.6) for TCP over IPv4/IPv6, and uxst_bind_listener() for unix
 * stream sockets — plus unbind, pause and resume.
 *
 * bindListener() never throws for a kernel error: like HAProxy it reports ERR_* bits and a
 * message, so the caller (start_proxies' equivalent) decides to retry, go on or abort.
 *
 * Messages: '<what> (<strerror>) [<addr>:<port>]' as HAProxy 2.6 prints them — the strerror part
 * only when an errno is involved, several findings joined by ', ' before the address, the IPv6
 * address without brackets of its own ('cannot bind socket (Address already in use)
 * [::1:8080]'), a unix socket as its path, an inherited unix fd as 'fd <n>'.
 */
import { chmodSync, chownSync, linkSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { SocketAddress } from '../address.js';
import { EpoxySystemError } from '../errors.js';
import { constants, native, type SocketOptionName, type SocketOptionValues } from '../native.js';
import { listenerBacklog, listenerStateName } from './listener.js';
import {
  ERR_ABORT,
  ERR_ALERT,
  ERR_FATAL,
  ERR_NONE,
  ERR_RETRYABLE,
  ERR_WARN,
  ListenerState,
  type BindContext,
  type BindResult,
  type Listener,
  type ListenerChange,
  type ListenerSyscalls,
} from './listener-types.js';

const { AF_INET, AF_INET6, AF_UNIX, SOCK_STREAM, SHUT_RD, SHUT_WR } = constants;

/** sizeof(sun_path) minus the terminating NUL. */
const UNIX_PATH_MAX = 107;

/** Accept handler used when the context gives none (the fd is then registered but inert). */
const ignoreEvents = (): void => {};

// ---------------------------------------------------------------------------------------------
// Messages

/** The errno code of an error thrown by the addon or by node:fs, if it carries one. */
function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * strerror() of a failed call. The addon's messages read '<syscall> <CODE>: <strerror>[
 * <address>[:<port>]]', so the text is cut out of them (the addon has no strerror() of its own
 * to call). node:fs errors carry libuv's wording ('EACCES: permission denied, chown ...'),
 * capitalised here to match. Anything else falls back to the code.
 */
export function errnoText(error: unknown): string {
  if (error instanceof EpoxySystemError) return error.description ?? error.code;
  const match = error instanceof Error ? /^[A-Z0-9]+: ([^,]+)/.exec(error.message) : null;
  if (match?.[1] !== undefined) return match[1].charAt(0).toUpperCase() + match[1].slice(1);
  return errorCode(error) ?? String(error);
}

/** Collects ERR_* bits and messages of one bind attempt. */
class Outcome {
  err = ERR_NONE;
  private readonly messages: string[] = [];
  /** The error of the first step that failed (not of a mere warning), for callers that throw. */
  private failure: unknown = undefined;

  constructor(private readonly where: string) {}

  add(flags: number, what: string, error?: unknown): this {
    this.err |= flags;
    this.messages.push(error === undefined ? what : `${what} (${errnoText(error)})`);
    if (flags & (ERR_RETRYABLE | ERR_FATAL | ERR_ABORT) && this.failure === undefined && error !== undefined) this.failure = error;
    return this;
  }

  result(): BindResult {
    if (this.messages.length === 0) return { err: this.err, msg: '' };
    const reasons = this.messages.join(', ');
    const result: BindResult = { err: this.err, msg: `${reasons} [${this.where}]`, reasons, target: this.where };
    if (this.failure !== undefined) result.error = this.failure;
    return result;
  }
}

/**
 * The checks every listening fd goes through first, TCP or unix: below maxsock, and
 * non-blocking. Records the failure in `out` and returns false; the caller abandons the fd.
 *
 * A deliberate difference from HAProxy, whose fcntl(F_SETFL, O_NONBLOCK) overwrites every other
 * status flag (the doubt seed 001's author raised): for an inherited fd that clears what the
 * parent set (O_ASYNC, O_APPEND...), and status flags live in the open file description the
 * parent still shares. setNonBlocking() does F_GETFL and adds O_NONBLOCK to what is there.
 */
function prepareFd(fd: number, ctx: BindContext, sys: ListenerSyscalls, out: Outcome, what: string): boolean {
  if (fd >= ctx.maxsock) {
    out.add(ERR_FATAL | ERR_ABORT | ERR_ALERT, "not enough free sockets (raise '-n' parameter)");
    return false;
  }
  try {
    sys.setNonBlocking(fd, true);
  } catch (error) {
    out.add(ERR_FATAL | ERR_ALERT, `cannot make ${what} non-blocking`, error);
    return false;
  }
  return true;
}

/** '127.0.0.1:80', '::1:80' (HAProxy's addr_to_str + port), '/run/x.sock', '@name', 'fd 5'. */
function describe(listener: Listener): string {
  if (listener.addr.family === 'unix') return listener.inherited ? `fd ${listener.fd}` : listener.addr.address;
  return `${listener.addr.address}:${listener.addr.port}`;
}

/**
 * ERR_* bits for a failed socket(). HAProxy marks every failure RETRYABLE; we look at the errno,
 * because its retry loop only helps when an old process releasing resources can fix it:
 * - ENFILE, ENOBUFS, ENOMEM: system-wide fds or kernel memory, which an exiting old process gives
 *   back: RETRYABLE.
 * - EMFILE: our own fd table is full; retrying frees none of our fds, and every other listener
 *   would fail alike — the same situation as the maxsock check: FATAL and ABORT.
 * - anything else (EAFNOSUPPORT and EPROTONOSUPPORT when the family is compiled out, EACCES,
 *   EINVAL, and the namespace's ENOENT/EPERM from socketInNetns' open()/setns()) never clears by
 *   waiting: FATAL. No ABORT: listeners of another family or namespace may still start.
 */
export function socketFailureFlags(error: unknown): number {
  switch (errorCode(error)) {
    case 'ENFILE':
    case 'ENOBUFS':
    case 'ENOMEM':
      return ERR_RETRYABLE | ERR_ALERT;
    case 'EMFILE':
      return ERR_FATAL | ERR_ABORT | ERR_ALERT;
    default:
      return ERR_FATAL | ERR_ALERT;
  }
}

// ---------------------------------------------------------------------------------------------
// Small syscall helpers

/** setsockopt() returning the error instead of throwing it (null when it worked). */
function trySet<K extends SocketOptionName>(sys: ListenerSyscalls, fd: number, name: K, value: SocketOptionValues[K]): unknown {
  try {
    sys.setsockopt(fd, name, value);
    return null;
  } catch (error) {
    return error ?? new Error('setsockopt failed');
  }
}

/** SO_ACCEPTCONN, false when it cannot be read (HAProxy treats a failed read as "not ready"). */
function isListening(sys: ListenerSyscalls, fd: number): boolean {
  try {
    return sys.getsockopt(fd, 'SO_ACCEPTCONN');
  } catch {
    return false;
  }
}

function boundAddress(sys: ListenerSyscalls, fd: number): SocketAddress | null {
  try {
    return SocketAddress.fromBytes(sys.getsockname(fd));
  } catch {
    return null;
  }
}

/** unlink() that ignores a missing file; throws anything else. */
function unlinkIfExists(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Best effort on an error path: the original failure is what gets reported.
  }
}

/** The listener is listening: record it and register the fd (HAProxy's fd_insert). */
function installed(listener: Listener, fd: number, ctx: BindContext, sys: ListenerSyscalls): void {
  listener.fd = fd;
  listener.boundAddr = boundAddress(sys, fd);
  listener.state = ListenerState.LISTEN;
  listener.ctx = ctx;
  ctx.poll?.insert(fd, listener, ctx.accept ?? ignoreEvents);
  if (ctx.shared) ctx.poll?.setExclusive?.(fd);
}

// ---------------------------------------------------------------------------------------------
// Binding

/**
 * Creates, configures, binds and listens the listener's socket: ASSIGNED -> LISTEN (not polled
 * yet: enableListener() does that). A listener in another state is left alone (ERR_NONE).
 *
 * When listener.fd is already >= 0 the socket was handed over by a parent: it is neither
 * created nor bound, and listen() is skipped if it already listens; its per-socket options are
 * still applied. On failure, a socket we created is closed; an inherited one is left open and
 * stays in listener.fd for the caller to decide about.
 */
export function bindListener(listener: Listener, ctx: BindContext): BindResult {
  if (listener.state !== ListenerState.ASSIGNED) return { err: ERR_NONE, msg: '' };
  listener.inherited = listener.fd >= 0;
  return listener.addr.family === 'unix' ? bindUnixListener(listener, ctx) : bindTcpListener(listener, ctx);
}

function bindTcpListener(listener: Listener, ctx: BindContext): BindResult {
  const sys = ctx.sys ?? native;
  const { bind } = listener;
  const out = new Outcome(describe(listener));
  const ext = listener.inherited;
  const v6 = listener.addr.family === 'ipv6';
  let fd = listener.fd;

  if (!ext) {
    try {
      const domain = v6 ? AF_INET6 : AF_INET;
      // Protocol 0 is TCP for SOCK_STREAM in both inet families (HAProxy passes IPPROTO_TCP).
      fd = bind.namespacePath === null ? sys.socket(domain, SOCK_STREAM) : sys.socketInNetns(bind.namespacePath, domain, SOCK_STREAM);
    } catch (error) {
      return out.add(socketFailureFlags(error), 'cannot create listening socket', error).result();
    }
  }
  // Every failure below goes through here: close what we created, never what we were given.
  const abandon = (): BindResult => {
    if (!ext) sys.close(fd);
    return out.result();
  };

  if (!prepareFd(fd, ctx, sys, out, 'socket')) return abandon();

  if (!ext) {
    const error = trySet(sys, fd, 'SO_REUSEADDR', true);
    // Not fatal (the bind may still succeed), but worth an alert.
    if (error) out.add(ERR_ALERT, 'cannot do so_reuseaddr', error);
  }

  if (bind.noLinger) {
    trySet(sys, fd, 'SO_LINGER', { enabled: true, seconds: 0 });
  } else if (ext) {
    // An inherited socket may carry the old configuration's nolinger (HAProxy 2.6 resets it too).
    try {
      const linger = sys.getsockopt(fd, 'SO_LINGER');
      if (linger.enabled || linger.seconds !== 0) sys.setsockopt(fd, 'SO_LINGER', { enabled: false, seconds: 0 });
    } catch {
      // Ignored, as HAProxy does.
    }
  }

  // Lets several sockets (an old and a new process during a reload) listen on the same port.
  // Failure is ignored, as in HAProxy: the bind then fails on its own if it matters.
  if (!ext && !bind.noReusePort) trySet(sys, fd, 'SO_REUSEPORT', true);

  if (!ext && bind.transparent) {
    // IP_TRANSPARENT needs CAP_NET_ADMIN or CAP_NET_RAW; IP_FREEBIND needs nothing and at least
    // allows binding a foreign address. HAProxy is silent when only the fallback works, but a
    // `transparent` listener without IP_TRANSPARENT never receives TPROXY-diverted connections,
    // which is the point of the keyword: we raise the ALERT either way (the listener still
    // binds), so an unprivileged run says why interception will not happen.
    const refusal = trySet(sys, fd, v6 ? 'IPV6_TRANSPARENT' : 'IP_TRANSPARENT', true);
    if (refusal !== null) {
      const fallback = trySet(sys, fd, 'IP_FREEBIND', true) === null;
      out.add(
        ERR_ALERT,
        fallback ? 'cannot make listening socket transparent, using IP_FREEBIND only' : 'cannot make listening socket transparent',
        refusal,
      );
    }
  }

  if (!ext && bind.freebind) {
    const error = trySet(sys, fd, 'IP_FREEBIND', true);
    if (error) out.add(ERR_ALERT, 'cannot enable IP_FREEBIND', error);
  }

  if (!ext && bind.interface !== null) {
    // Needs CAP_NET_RAW before Linux 5.7 (and to change an existing binding after it).
    const error = trySet(sys, fd, 'SO_BINDTODEVICE', bind.interface);
    if (error) out.add(ERR_WARN, 'cannot bind listener to device', error);
  }

  if (bind.mss > 0) {
    const error = trySet(sys, fd, 'TCP_MAXSEG', bind.mss);
    if (error) out.add(ERR_WARN, 'cannot set MSS', error);
  } else if (ext) {
    // A negative mss applies to accepted connections (adjustAcceptedMss). Clear an MSS an old
    // configuration left on an inherited socket: 0 means "no user MSS" to the kernel. (HAProxy
    // writes back the default it read from a fresh socket, which on Linux is 536 and would then
    // clamp every connection.)
    const error = trySet(sys, fd, 'TCP_MAXSEG', 0);
    if (error) out.add(ERR_WARN, 'cannot reset MSS', error);
  }

  if (bind.tcpUserTimeout > 0) {
    const error = trySet(sys, fd, 'TCP_USER_TIMEOUT', bind.tcpUserTimeout);
    if (error) out.add(ERR_WARN, 'cannot set TCP User Timeout', error);
  } else if (ext) {
    trySet(sys, fd, 'TCP_USER_TIMEOUT', 0);
  }

  if (bind.deferAccept) {
    // Defer accept by up to one second: the kernel rounds it to its SYN-ACK retransmissions.
    const error = trySet(sys, fd, 'TCP_DEFER_ACCEPT', 1);
    if (error) out.add(ERR_WARN, 'cannot enable DEFER_ACCEPT', error);
  } else if (ext) {
    trySet(sys, fd, 'TCP_DEFER_ACCEPT', 0);
  }

  if (bind.tfo) {
    // TFO needs a queue length: the listen backlog's.
    const error = trySet(sys, fd, 'TCP_FASTOPEN', listenerBacklog(listener));
    if (error) out.add(ERR_WARN, 'cannot enable TCP_FASTOPEN', error);
  } else if (ext) {
    // Only when it is on: setting 0 would still create an (empty) fast open queue.
    let qlen = 0;
    try {
      qlen = sys.getsockopt(fd, 'TCP_FASTOPEN');
    } catch {
      qlen = 0;
    }
    if (qlen !== 0) {
      const error = trySet(sys, fd, 'TCP_FASTOPEN', 0);
      if (error) out.add(ERR_WARN, 'cannot disable TCP_FASTOPEN', error);
    }
  }

  applyAcceptedSocketOptions(listener, fd, sys, out);

  // Only before bind() (the kernel refuses a change afterwards); v6only wins over v4v6, and
  // neither leaves the system default (net.ipv6.bindv6only). Failures ignored, as in HAProxy.
  if (v6 && !ext) {
    if (bind.v6only) trySet(sys, fd, 'IPV6_V6ONLY', true);
    else if (bind.v4v6) trySet(sys, fd, 'IPV6_V6ONLY', false);
  }

  if (!ext) {
    try {
      sys.bind(fd, listener.addr.bytes);
    } catch (error) {
      // The usual cause is a port still held by the old process: worth retrying.
      out.add(ERR_RETRYABLE | ERR_ALERT, 'cannot bind socket', error);
      return abandon();
    }
  }

  // A parent may have called listen() already; listen() again would reset its backlog.
  if (!(ext && isListening(sys, fd))) {
    try {
      sys.listen(fd, listenerBacklog(listener));
    } catch (error) {
      out.add(ERR_RETRYABLE | ERR_ALERT, 'cannot listen to socket', error);
      return abandon();
    }
  }

  // HAProxy 2.6 sets TCP_QUICKACK after listen(): 0 for tcp-smart-accept, else 1. 1 is the
  // state of a fresh socket, so only an inherited one (which may carry an old 0) needs it.
  if (bind.smartAccept) {
    const error = trySet(sys, fd, 'TCP_QUICKACK', false);
    if (error) out.add(ERR_WARN, 'cannot disable TCP_QUICKACK', error);
  } else if (ext) {
    trySet(sys, fd, 'TCP_QUICKACK', true);
  }

  installed(listener, fd, ctx, sys);
  return out.result();
}

/**
 * The options every accepted socket inherits from the listening one (tune.rcvbuf/sndbuf.client,
 * TCP_NODELAY, TCP_NOTSENT_LOWAT). HAProxy sets them on each accepted socket instead, which
 * costs one to three setsockopt() per connection; here they cost nothing per connection. The
 * buffer sizes are also in place before listen(), which is when the kernel sizes the window
 * scale it offers in the SYN-ACK: set after accept() (HAProxy), a large SO_RCVBUF cannot use
 * a window scale that was not negotiated.
 */
function applyAcceptedSocketOptions(listener: Listener, fd: number, sys: ListenerSyscalls, out: Outcome): void {
  const { bind } = listener;
  const ext = listener.inherited;
  if (bind.rcvbuf !== undefined && bind.rcvbuf > 0) {
    const error = trySet(sys, fd, 'SO_RCVBUF', bind.rcvbuf);
    if (error) out.add(ERR_WARN, 'cannot set SO_RCVBUF', error);
  }
  if (bind.sndbuf !== undefined && bind.sndbuf > 0) {
    const error = trySet(sys, fd, 'SO_SNDBUF', bind.sndbuf);
    if (error) out.add(ERR_WARN, 'cannot set SO_SNDBUF', error);
  }
  if (bind.noDelay === true) {
    const error = trySet(sys, fd, 'TCP_NODELAY', true);
    if (error) out.add(ERR_WARN, 'cannot enable TCP_NODELAY', error);
  } else if (ext) {
    // An inherited socket may carry the old configuration's TCP_NODELAY.
    trySet(sys, fd, 'TCP_NODELAY', false);
  }
  if (bind.notSentLowat !== undefined && bind.notSentLowat > 0) {
    const error = trySet(sys, fd, 'TCP_NOTSENT_LOWAT', bind.notSentLowat);
    if (error) out.add(ERR_WARN, 'cannot set TCP_NOTSENT_LOWAT', error);
  }
}

function bindUnixListener(listener: Listener, ctx: BindContext): BindResult {
  const sys = ctx.sys ?? native;
  const { unix, namespacePath } = listener.bind;
  const out = new Outcome(describe(listener));
  const ext = listener.inherited;
  const path = listener.addr.address;
  // Abstract sockets have no file: nothing to rename, own or chmod.
  const named = !ext && !path.startsWith('@');
  const pid = ctx.pid ?? process.pid;
  const tempName = `${path}.${pid}.tmp`;
  const backName = `${path}.${pid}.bak`;
  let fd = listener.fd;

  // The socket is bound and listening at a temporary name, then renamed over the final path:
  // rename() replaces a previous socket (an old process's) atomically, so the path never goes
  // missing during a reload. The old one is kept as a hard link until then, to put it back if
  // the rename fails.
  if (named) {
    if (Buffer.byteLength(tempName) > UNIX_PATH_MAX) {
      return out.add(ERR_FATAL | ERR_ALERT, `name too long for UNIX socket (its temporary name must fit in ${UNIX_PATH_MAX} bytes)`).result();
    }
    try {
      unlinkIfExists(tempName);
      unlinkIfExists(backName);
    } catch (error) {
      return out.add(ERR_FATAL | ERR_ALERT, 'error when trying to unlink previous UNIX socket', error).result();
    }
    try {
      linkSync(path, backName);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') {
        return out.add(ERR_FATAL | ERR_ALERT, 'error when trying to preserve previous UNIX socket', error).result();
      }
    }
  }
  const dropBackup = (): void => {
    if (named) unlinkQuietly(backName);
  };

  if (!ext) {
    try {
      fd = namespacePath === null ? sys.socket(AF_UNIX, SOCK_STREAM) : sys.socketInNetns(namespacePath, AF_UNIX, SOCK_STREAM);
    } catch (error) {
      out.add(socketFailureFlags(error), 'cannot create UNIX socket', error);
      dropBackup();
      return out.result();
    }
  }
  const abandon = (): BindResult => {
    if (named) unlinkQuietly(tempName);
    if (!ext) sys.close(fd);
    dropBackup();
    return out.result();
  };

  if (!prepareFd(fd, ctx, sys, out, 'UNIX socket')) return abandon();

  if (!ext) {
    try {
      sys.bind(fd, named ? SocketAddress.from('unix', tempName).bytes : listener.addr.bytes);
    } catch (error) {
      // An abstract name still held by the old process may be released: retry. Other errors
      // (a missing directory, no permission) will not go away.
      const flags = errorCode(error) === 'EADDRINUSE' ? ERR_RETRYABLE | ERR_ALERT : ERR_FATAL | ERR_ALERT;
      out.add(flags, 'cannot bind UNIX socket', error);
      return abandon();
    }
  }

  if (named && (unix.uid !== null || unix.gid !== null)) {
    try {
      chownSync(tempName, unix.uid ?? -1, unix.gid ?? -1);
    } catch (error) {
      out.add(ERR_FATAL | ERR_ALERT, 'cannot change UNIX socket ownership', error);
      return abandon();
    }
  }
  if (named && unix.mode !== null) {
    try {
      chmodSync(tempName, unix.mode);
    } catch (error) {
      out.add(ERR_FATAL | ERR_ALERT, 'cannot change UNIX socket permissions', error);
      return abandon();
    }
  }

  // Listening before the rename: whoever finds the final path finds a listening socket.
  if (!(ext && isListening(sys, fd))) {
    try {
      sys.listen(fd, listenerBacklog(listener));
    } catch (error) {
      out.add(ERR_FATAL | ERR_ALERT, 'cannot listen to UNIX socket', error);
      return abandon();
    }
  }

  if (named) {
    try {
      renameSync(tempName, path);
    } catch (error) {
      out.add(ERR_FATAL | ERR_ALERT, 'cannot switch final and temporary UNIX sockets', error);
      try {
        renameSync(backName, path);
      } catch (restoreError) {
        // No backup: there was no previous socket, so nothing of ours may stay at the path.
        if (errorCode(restoreError) === 'ENOENT') unlinkQuietly(path);
      }
      return abandon();
    }
    dropBackup();
    try {
      const stat = statSync(path);
      listener.unixFile = { path, dev: stat.dev, ino: stat.ino };
    } catch {
      listener.unixFile = null;
    }
  }

  installed(listener, fd, ctx, sys);
  return out.result();
}

// ---------------------------------------------------------------------------------------------
// Unbind, pause, resume

/**
 * Closes the listener's socket (inherited or not) and forgets it: back to ASSIGNED, ready to be
 * bound again. Removes the unix socket file we created, but only while the path still is that
 * file: a newer process may have renamed its own socket over it, and that one must stay.
 */
export function unbindListener(listener: Listener): void {
  if (listener.state <= ListenerState.ASSIGNED) return;
  const sys = listener.ctx?.sys ?? native;
  if (listener.fd >= 0) {
    listener.ctx?.poll?.remove(listener.fd);
    sys.close(listener.fd);
  }
  const file = listener.unixFile;
  if (file !== null) {
    try {
      const stat = statSync(file.path);
      if (stat.dev === file.dev && stat.ino === file.ino) unlinkSync(file.path);
    } catch {
      // Already gone, or not ours to remove.
    }
  }
  listener.fd = -1;
  listener.inherited = false;
  listener.boundAddr = null;
  listener.unixFile = null;
  listener.state = ListenerState.ASSIGNED;
}

/**
 * Stops accepting, keeping the socket bound, so that another process can take the port over
 * and this one can resume if that fails (HAProxy's SIGTTOU during a reload).
 *
 * TCP: shutdown(SHUT_WR), listen(), shutdown(SHUT_RD) — HAProxy's sequence, valid everywhere it
 * runs; on Linux the SHUT_RD does it: the socket leaves the LISTEN state (connections waiting in
 * its backlog are reset, new ones are refused) while it keeps its address, and a later listen()
 * resumes it. (HAProxy 2.4+ does connect(AF_UNSPEC) instead, which the addon cannot express.)
 * An inherited socket is shared with the parent and its other children: it is left listening
 * and only stops being polled (HAProxy 2.6 does the same).
 * Named unix socket: nothing to do in the kernel (the new process renames its socket over the
 * path); only polling stops. Abstract unix socket: it cannot be paused and its name would block
 * the new process, so it is unbound (the listener goes back to ASSIGNED; resume rebinds it).
 *
 * States below PAUSED are left alone; the result is ok for them.
 */
export function pauseListener(listener: Listener): ListenerChange {
  if (listener.state <= ListenerState.PAUSED) return { ok: true, msg: '' };
  const sys = listener.ctx?.sys ?? native;
  const { fd } = listener;

  if (listener.addr.family === 'unix') {
    if (listener.addr.address.startsWith('@')) {
      unbindListener(listener);
      return { ok: true, msg: '' };
    }
  } else if (!listener.inherited) {
    const steps: Array<[string, () => number | void]> = [
      ['shutdown(SHUT_WR)', () => sys.shutdown(fd, SHUT_WR)],
      ['listen', () => sys.listen(fd, listenerBacklog(listener))],
      ['shutdown(SHUT_RD)', () => sys.shutdown(fd, SHUT_RD)],
    ];
    for (const [what, step] of steps) {
      let failure: string | null = null;
      try {
        const rc = step();
        if (typeof rc === 'number' && rc < 0) failure = native.errnoName(rc);
      } catch (error) {
        failure = errnoText(error);
      }
      if (failure !== null) return { ok: false, msg: `cannot pause listener: ${what} failed (${failure}) [${describe(listener)}]` };
    }
  }

  listener.ctx?.poll?.stopRecv(fd);
  listener.state = ListenerState.PAUSED;
  return { ok: true, msg: '' };
}

/**
 * Accepts again: PAUSED (listen() again), FULL, LIMITED or LISTEN -> READY, or FULL when maxconn
 * is still reached. An ASSIGNED listener (never bound, or an abstract one a pause unbound) is
 * bound first, with `ctx` or the context it was bound with.
 */
export function resumeListener(listener: Listener, ctx?: BindContext): ListenerChange {
  if (listener.state === ListenerState.ASSIGNED) {
    const context = ctx ?? listener.ctx;
    if (context === null) return { ok: false, msg: `cannot resume an unbound listener without a context [${describe(listener)}]` };
    const result = bindListener(listener, context);
    // (TypeScript narrowed the state to ASSIGNED above; bindListener() changed it.)
    if ((listener.state as ListenerState) !== ListenerState.LISTEN) return { ok: false, msg: result.msg };
  }
  if (listener.state < ListenerState.PAUSED) {
    return { ok: false, msg: `cannot resume a listener in state ${listenerStateName(listener.state)} [${describe(listener)}]` };
  }
  const sys = listener.ctx?.sys ?? native;

  if (listener.state === ListenerState.PAUSED && listener.addr.family !== 'unix' && !listener.inherited) {
    // A port the kernel chose (configured port 0) is released when the socket leaves LISTEN;
    // take the same one again. An explicit port stays bound: bind() then says EINVAL.
    if (listener.addr.port === 0 && listener.boundAddr !== null) {
      try {
        sys.bind(listener.fd, listener.boundAddr.bytes);
      } catch (error) {
        if (errorCode(error) !== 'EINVAL') return { ok: false, msg: `cannot resume listener (${errnoText(error)}) [${describe(listener)}]` };
      }
    }
    try {
      sys.listen(listener.fd, listenerBacklog(listener));
    } catch (error) {
      return { ok: false, msg: `cannot resume listener (${errnoText(error)}) [${describe(listener)}]` };
    }
  }

  if (listener.state === ListenerState.READY) return { ok: true, msg: '' };
  if (listener.nbconn >= listener.maxconn) {
    listener.ctx?.poll?.stopRecv(listener.fd);
    listener.state = ListenerState.FULL;
  } else {
    listener.ctx?.poll?.wantRecv(listener.fd);
    listener.state = ListenerState.READY;
  }
  return { ok: true, msg: '' };
}

/**
 * For a negative `mss`: reduces an accepted connection's MSS by that much, as HAProxy does on
 * each accepted socket (the MSS is only known once the handshake is done). Returns whether it
 * was applied. For the session layer, right after accept().
 */
export function adjustAcceptedMss(listener: Listener, fd: number, sys: ListenerSyscalls = listener.ctx?.sys ?? native): boolean {
  if (listener.bind.mss >= 0 || listener.addr.family === 'unix') return false;
  try {
    const mss = sys.getsockopt(fd, 'TCP_MAXSEG');
    sys.setsockopt(fd, 'TCP_MAXSEG', mss + listener.bind.mss);
    return true;
  } catch {
    return false;
  }
}
