/**
 * bindListener() and friends on real sockets: every option read back from the bound socket,
 * every failure with its ERR_* bits and message, inherited fds, unix sockets, namespaces,
 * pause/resume, and no fd left behind. Kernel refusals that cannot be provoked here (IP_FREEBIND
 * is never refused, listen() on a fresh bound socket never fails) go through a wrapper of the
 * addon that refuses one call and passes everything else to the kernel.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SocketAddress } from '../../src/address.js';
import { EpoxySystemError } from '../../src/errors.js';
import { FD_WANT_RECV } from '../../src/fd/fd-types.js';
import { FdTable } from '../../src/fd/fdtab.js';
import {
  DEFAULT_MAXCONN,
  ERR_ABORT,
  ERR_ALERT,
  ERR_CODE,
  ERR_FATAL,
  ERR_NONE,
  ERR_RETRYABLE,
  ERR_WARN,
  ListenerState,
  adjustAcceptedMss,
  bindListener,
  createListener,
  createListeners,
  disableListener,
  enableListener,
  errFlagsToString,
  limitListener,
  listenerBacklog,
  listenerFull,
  parseBindLine,
  parseBindOptions,
  pauseListener,
  resumeListener,
  socketFailureFlags,
  unbindListener,
  type BindContext,
  type BindResult,
  type Listener,
  type ListenerDefaults,
  type ListenerSyscalls,
} from '../../src/listener/index.js';
import { constants, native } from '../../src/native.js';
import { runFixture } from '../helpers/child.js';
import { createNetns, netnsUnavailableReason, type Netns } from '../helpers/netns.js';
import { AF_INET, AF_INET6, AF_UNIX, SOCK_NONBLOCK, SOCK_STREAM, fdCount, listenLoopback, tcpSocket, waitFor } from '../helpers/sockets.js';
import { lastJsonLine, runFixtureAsNobody, unprivilegedUnavailableReason } from '../helpers/unprivileged.js';

const { EINPROGRESS, EALREADY, EISCONN, EAGAIN } = osConstants.errno;
const isRoot = process.getuid?.() === 0;
const CTX: BindContext = { maxsock: 1 << 20 };

const notRootReason = isRoot ? null : 'needs root (IP_TRANSPARENT, chown to another user)';
if (notRootReason) console.log(`skipping privileged listener tests: ${notRootReason}`);
const ssReason = (() => {
  try {
    execFileSync('ss', ['-V'], { stdio: 'ignore' });
    return null;
  } catch {
    return "needs the 'ss' command (iproute2) to read a listen backlog";
  }
})();
if (ssReason) console.log(`skipping backlog read-back: ${ssReason}`);

// ---------------------------------------------------------------------------------------------
// Helpers

const listeners: Listener[] = [];
const extraFds: number[] = [];
const dirs: string[] = [];

/** A listener for `address` (port 0 lets the kernel pick) with the options `words`. */
function listener(address: string, words: string[] = [], defaults?: ListenerDefaults): Listener {
  const l = createListener(parseBindOptions(words, address), SocketAddress.parse(address), defaults);
  listeners.push(l);
  return l;
}

/** A listener bound without any message. */
function bound(address: string, words: string[] = [], ctx: BindContext = CTX): Listener {
  const l = listener(address, words);
  expect(bindListener(l, ctx)).toEqual({ err: ERR_NONE, msg: '' });
  expect(l.state).toBe(ListenerState.LISTEN);
  return l;
}

function expectErr(result: BindResult, flags: number): void {
  expect(errFlagsToString(result.err), result.msg).toBe(errFlagsToString(flags));
}

/** Where the listener really listens (the kernel's port for port 0). */
function where(l: Listener): SocketAddress {
  if (l.boundAddr === null) throw new Error('listener not bound');
  return l.boundAddr;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'epoxy-listener-'));
  dirs.push(dir);
  return dir;
}

/**
 * Connects a fresh non-blocking client (in namespace `nsPath` if given) to `address` and closes
 * it: 'connected' or the errno name, waiting turn by turn for a connect under way.
 */
async function connectTo(address: SocketAddress, nsPath?: string): Promise<string> {
  const family = address.family === 'ipv4' ? AF_INET : address.family === 'ipv6' ? AF_INET6 : AF_UNIX;
  const type = SOCK_STREAM | SOCK_NONBLOCK;
  const fd = nsPath === undefined ? native.socket(family, type) : native.socketInNetns(nsPath, family, type);
  try {
    let rc = native.connect(fd, address.bytes);
    let outcome = '';
    await waitFor(() => {
      if (rc === 0 || rc === -EISCONN) outcome = 'connected';
      else if (rc !== -EINPROGRESS && rc !== -EALREADY) outcome = native.errnoName(rc);
      else rc = native.connect(fd, address.bytes);
      return outcome !== '';
    }, `connect to ${address}`);
    return outcome;
  } finally {
    native.close(fd);
  }
}

/** Accepts one connection on `fd` (waiting for it), closes it and returns the peer address. */
async function acceptOne(fd: number): Promise<SocketAddress> {
  const out = new Int32Array(2);
  const addrs = new Uint8Array(constants.ADDR_SLOT_SIZE);
  let n = 0;
  await waitFor(() => (n = native.accept(fd, out, addrs)) !== -EAGAIN, `a connection on fd ${fd}`);
  expect(n).toBe(1);
  native.close(out[0]!);
  return SocketAddress.fromBytes(addrs.slice(0, out[1]!));
}

/** Nothing waits to be accepted on `fd`. */
function nothingToAccept(fd: number): boolean {
  const out = new Int32Array(2);
  const n = native.accept(fd, out, null);
  if (n > 0) native.close(out[0]!);
  return n === -EAGAIN || n === -osConstants.errno.EINVAL;
}

/** listen()'s backlog of the listening socket at `address`, as `ss` reports it (Send-Q). */
function backlogOf(address: SocketAddress): number | null {
  const out = execFileSync('ss', ['-Hltn', `sport = :${address.port}`], { encoding: 'utf8' });
  const local = address.family === 'ipv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
  for (const line of out.trim().split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols[3] === local) return Number(cols[2]);
  }
  return null;
}

/** An EpoxySystemError shaped like the addon's. */
function systemError(syscall: string, code: string, text: string): EpoxySystemError {
  const error = new EpoxySystemError(`${syscall} ${code}: ${text}`);
  error.code = code;
  error.errno = -(osConstants.errno as Record<string, number>)[code]!;
  error.syscall = syscall;
  error.description = text;
  return error;
}

/** The addon, with some calls replaced. */
function sysWith(overrides: Partial<ListenerSyscalls>): ListenerSyscalls {
  return {
    socket: native.socket,
    socketInNetns: native.socketInNetns,
    bind: native.bind,
    listen: native.listen,
    setsockopt: native.setsockopt,
    getsockopt: native.getsockopt,
    getsockname: native.getsockname,
    close: native.close,
    shutdown: native.shutdown,
    setNonBlocking: native.setNonBlocking,
    ...overrides,
  };
}

/** The addon, refusing setsockopt of the options named with EPERM. */
function refusingOptions(...names: string[]): ListenerSyscalls {
  return sysWith({
    setsockopt: ((fd: number, name: string, value: never) => {
      if (names.includes(name)) throw systemError(`setsockopt(${name})`, 'EPERM', 'Operation not permitted');
      native.setsockopt(fd, name as never, value);
    }) as ListenerSyscalls['setsockopt'],
  });
}

/** Whether `fd` is an open descriptor. */
function isOpen(fd: number): boolean {
  try {
    native.getsockopt(fd, 'SO_TYPE');
    return true;
  } catch (error) {
    if ((error as EpoxySystemError).code === 'EBADF') return false;
    throw error;
  }
}

let fdsAtStart = 0;
beforeAll(() => {
  fdsAtStart = fdCount();
});
afterEach(() => {
  for (const l of listeners.splice(0)) unbindListener(l);
  for (const fd of extraFds.splice(0)) native.close(fd);
});
afterAll(async () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  await waitFor(() => fdCount() === fdsAtStart, `the fd count to return to ${fdsAtStart} (now ${fdCount()})`);
});

// ---------------------------------------------------------------------------------------------

describe('bindListener: a fresh TCP socket', () => {
  it('binds, listens and accepts; LISTEN, not polled yet', async () => {
    const fdtab = new FdTable();
    const l = bound('127.0.0.1:0', [], { ...CTX, poll: fdtab });
    expect(l.fd).toBeGreaterThanOrEqual(0);
    expect(l.inherited).toBe(false);
    expect(native.getsockopt(l.fd, 'SO_ACCEPTCONN')).toBe(true);
    expect(native.isNonBlocking(l.fd)).toBe(true);
    expect(native.getCloexec(l.fd)).toBe(true);
    expect(native.getsockopt(l.fd, 'SO_REUSEADDR')).toBe(true);
    expect(where(l).port).toBeGreaterThan(0);
    // Registered in the fd table with the listener as owner, but no interest yet.
    expect(fdtab.entry(l.fd)?.owner).toBe(l);
    expect(fdtab.wantedOf(l.fd) & FD_WANT_RECV).toBe(0);
    expect(await connectTo(where(l))).toBe('connected');
    expect((await acceptOne(l.fd)).address).toBe('127.0.0.1');
  });

  it('leaves a listener that is not ASSIGNED alone', () => {
    const l = bound('127.0.0.1:0');
    const fd = l.fd;
    expect(bindListener(l, CTX)).toEqual({ err: ERR_NONE, msg: '' });
    expect(l.fd).toBe(fd);
  });

  it('reports a port in use as RETRYABLE|ALERT with strerror and the address, and closes its socket', () => {
    const { fd: occupant, address } = listenLoopback();
    extraFds.push(occupant);
    const l = listener(address.toString());
    const before = fdCount();
    const result = bindListener(l, CTX);
    expectErr(result, ERR_RETRYABLE | ERR_ALERT);
    expect(result.msg).toBe(`cannot bind socket (Address already in use) [127.0.0.1:${address.port}]`);
    expect(l.state).toBe(ListenerState.ASSIGNED);
    expect(l.fd).toBe(-1);
    expect(fdCount()).toBe(before);
  });

  it('prints an IPv6 address as HAProxy does, without brackets of its own', () => {
    const { fd: occupant, address } = listenLoopback(AF_INET6);
    extraFds.push(occupant);
    const result = bindListener(listener(address.toString()), CTX);
    expectErr(result, ERR_RETRYABLE | ERR_ALERT);
    expect(result.msg).toBe(`cannot bind socket (Address already in use) [::1:${address.port}]`);
  });

  it('shares a port with another listener through SO_REUSEPORT, unless noreuseport', () => {
    const first = bound('127.0.0.1:0');
    expect(native.getsockopt(first.fd, 'SO_REUSEPORT')).toBe(true);
    const again = bound(where(first).toString());
    expect(where(again).port).toBe(where(first).port);
    const refused = listener(where(first).toString(), ['noreuseport']);
    expectErr(bindListener(refused, CTX), ERR_RETRYABLE | ERR_ALERT);
  });

  it('refuses an fd at or above maxsock: FATAL|ABORT|ALERT, the socket closed', () => {
    const l = listener('127.0.0.1:0');
    const before = fdCount();
    const result = bindListener(l, { maxsock: 3 });
    expectErr(result, ERR_FATAL | ERR_ABORT | ERR_ALERT);
    expect(result.msg).toBe("not enough free sockets (raise '-n' parameter) [127.0.0.1:0]");
    expect(l.fd).toBe(-1);
    expect(l.state).toBe(ListenerState.ASSIGNED);
    expect(fdCount()).toBe(before);
  });

  it('reports a socket() failure with ERR_* bits chosen by errno', () => {
    const failing = (code: string, text: string): BindResult =>
      bindListener(listener('127.0.0.1:0'), {
        ...CTX,
        sys: sysWith({
          socket: () => {
            throw systemError('socket', code, text);
          },
        }),
      });
    const enobufs = failing('ENOBUFS', 'No buffer space available');
    expectErr(enobufs, ERR_RETRYABLE | ERR_ALERT);
    expect(enobufs.msg).toBe('cannot create listening socket (No buffer space available) [127.0.0.1:0]');
    expectErr(failing('ENFILE', 'Too many open files in system'), ERR_RETRYABLE | ERR_ALERT);
    expectErr(failing('EMFILE', 'Too many open files'), ERR_FATAL | ERR_ABORT | ERR_ALERT);
    expectErr(failing('EAFNOSUPPORT', 'Address family not supported by protocol'), ERR_FATAL | ERR_ALERT);
    expect(socketFailureFlags(systemError('socket', 'EPROTONOSUPPORT', 'Protocol not supported'))).toBe(ERR_FATAL | ERR_ALERT);
  });

  it('reports a real EMFILE from socket() as FATAL|ABORT|ALERT (child with RLIMIT_NOFILE lowered)', async () => {
    const result = lastJsonLine<BindResult & { fd: number; state: number }>(await runFixture('listener-emfile.mjs'));
    expectErr(result, ERR_FATAL | ERR_ABORT | ERR_ALERT);
    expect(result.msg).toBe('cannot create listening socket (Too many open files) [127.0.0.1:0]');
    expect(result.fd).toBe(-1);
    expect(result.state).toBe(ListenerState.ASSIGNED);
  });

  it('fails FATAL|ALERT when the socket cannot be made non-blocking, and closes it', () => {
    const before = fdCount();
    const sys = sysWith({
      setNonBlocking: () => {
        throw systemError('fcntl', 'EBADF', 'Bad file descriptor');
      },
    });
    const result = bindListener(listener('127.0.0.1:0'), { ...CTX, sys });
    expectErr(result, ERR_FATAL | ERR_ALERT);
    expect(result.msg).toBe('cannot make socket non-blocking (Bad file descriptor) [127.0.0.1:0]');
    expect(fdCount()).toBe(before);
  });

  it('alerts, without failing, when SO_REUSEADDR is refused', () => {
    const l = listener('127.0.0.1:0');
    const result = bindListener(l, { ...CTX, sys: refusingOptions('SO_REUSEADDR') });
    expectErr(result, ERR_ALERT);
    expect(result.msg).toBe('cannot do so_reuseaddr (Operation not permitted) [127.0.0.1:0]');
    expect(l.state).toBe(ListenerState.LISTEN);
  });

  it('fails RETRYABLE|ALERT when listen() fails, and closes the socket', () => {
    const before = fdCount();
    const sys = sysWith({
      listen: () => {
        throw systemError('listen', 'EADDRINUSE', 'Address already in use');
      },
    });
    const l = listener('127.0.0.1:0');
    const result = bindListener(l, { ...CTX, sys });
    expectErr(result, ERR_RETRYABLE | ERR_ALERT);
    expect(result.msg).toBe('cannot listen to socket (Address already in use) [127.0.0.1:0]');
    expect(l.fd).toBe(-1);
    expect(fdCount()).toBe(before);
  });

  it('warns for options the kernel refuses and still listens, all findings in one message', () => {
    const l = listener('127.0.0.1:0', ['interface', 'nosuchif0', 'mss', '10']);
    const result = bindListener(l, CTX);
    expectErr(result, ERR_WARN);
    // No such interface (ENODEV); an MSS below the kernel's minimum of 88 (EINVAL).
    expect(result.msg).toBe('cannot bind listener to device (No such device), cannot set MSS (Invalid argument) [127.0.0.1:0]');
    expect(l.state).toBe(ListenerState.LISTEN);
  });

  it('warns when DEFER_ACCEPT, TCP_FASTOPEN or TCP_USER_TIMEOUT is refused', () => {
    const l = listener('127.0.0.1:0', ['defer-accept', 'tfo', 'tcp-ut', '1s']);
    const result = bindListener(l, { ...CTX, sys: refusingOptions('TCP_DEFER_ACCEPT', 'TCP_FASTOPEN', 'TCP_USER_TIMEOUT') });
    expectErr(result, ERR_WARN);
    expect(result.msg).toBe(
      'cannot set TCP User Timeout (Operation not permitted), cannot enable DEFER_ACCEPT (Operation not permitted), ' +
        'cannot enable TCP_FASTOPEN (Operation not permitted) [127.0.0.1:0]',
    );
  });
});

describe('bind options, read back from the socket', () => {
  it('SO_REUSEPORT is on by default and off with noreuseport', () => {
    expect(native.getsockopt(bound('127.0.0.1:0').fd, 'SO_REUSEPORT')).toBe(true);
    expect(native.getsockopt(bound('127.0.0.1:0', ['noreuseport']).fd, 'SO_REUSEPORT')).toBe(false);
  });

  it('nolinger: SO_LINGER on with 0 seconds', () => {
    expect(native.getsockopt(bound('127.0.0.1:0').fd, 'SO_LINGER')).toEqual({ enabled: false, seconds: 0 });
    expect(native.getsockopt(bound('127.0.0.1:0', ['nolinger']).fd, 'SO_LINGER')).toEqual({ enabled: true, seconds: 0 });
  });

  it.skipIf(notRootReason !== null)('transparent: IP_TRANSPARENT (IPv4), IPV6_TRANSPARENT (IPv6)', () => {
    const v4 = bound('127.0.0.1:0', ['transparent']);
    expect(native.getsockopt(v4.fd, 'IP_TRANSPARENT')).toBe(true);
    expect(native.getsockopt(v4.fd, 'IP_FREEBIND')).toBe(false);
    const v6 = bound('[::1]:0', ['transparent']);
    expect(native.getsockopt(v6.fd, 'IPV6_TRANSPARENT')).toBe(true);
  });

  it('transparent falls back to IP_FREEBIND when IP_TRANSPARENT is refused, with the ALERT', () => {
    for (const address of ['127.0.0.1:0', '[::1]:0']) {
      const l = listener(address, ['transparent']);
      const result = bindListener(l, { ...CTX, sys: refusingOptions('IP_TRANSPARENT', 'IPV6_TRANSPARENT') });
      expectErr(result, ERR_ALERT);
      expect(result.msg).toMatch(/^cannot make listening socket transparent, using IP_FREEBIND only \(.+\) \[/);
      expect(native.getsockopt(l.fd, 'IP_FREEBIND')).toBe(true);
      expect(l.state).toBe(ListenerState.LISTEN);
      unbindListener(l);
    }
  });

  it('transparent refused both ways: ALERT "cannot make listening socket transparent", still bound', () => {
    const l = listener('127.0.0.1:0', ['transparent']);
    const result = bindListener(l, { ...CTX, sys: refusingOptions('IP_TRANSPARENT', 'IP_FREEBIND') });
    expectErr(result, ERR_ALERT);
    expect(result.msg).toMatch(/^cannot make listening socket transparent \(.+\) \[127\.0\.0\.1:0\]$/);
    expect(l.state).toBe(ListenerState.LISTEN);
  });

  it('transparent binds an address this host does not have', () => {
    // 192.0.2.0/24 is TEST-NET-1; .77 is not configured here (eth0 may hold another of them).
    const l = bound('192.0.2.77:0', ['transparent']);
    expect(where(l).address).toBe('192.0.2.77');
    const plain = listener('192.0.2.77:0');
    const result = bindListener(plain, CTX);
    expectErr(result, ERR_RETRYABLE | ERR_ALERT);
    expect(result.msg).toBe('cannot bind socket (Cannot assign requested address) [192.0.2.77:0]');
  });

  it('freebind: IP_FREEBIND', () => {
    expect(native.getsockopt(bound('127.0.0.1:0').fd, 'IP_FREEBIND')).toBe(false);
    expect(native.getsockopt(bound('127.0.0.1:0', ['freebind']).fd, 'IP_FREEBIND')).toBe(true);
  });

  it('interface: SO_BINDTODEVICE', async () => {
    const l = bound('127.0.0.1:0', ['interface', 'lo']);
    expect(native.getsockopt(l.fd, 'SO_BINDTODEVICE')).toBe('lo');
    expect(await connectTo(where(l))).toBe('connected');
    await acceptOne(l.fd);
  });

  it('mss > 0: TCP_MAXSEG on the listener; mss < 0 leaves the listener alone', () => {
    expect(native.getsockopt(bound('127.0.0.1:0', ['mss', '1400']).fd, 'TCP_MAXSEG')).toBe(1400);
    // 536 is what the kernel reports for a listener without a user MSS.
    expect(native.getsockopt(bound('127.0.0.1:0', ['mss', '-40']).fd, 'TCP_MAXSEG')).toBe(536);
  });

  it('mss < 0 reduces each accepted connection: adjustAcceptedMss', async () => {
    const l = bound('127.0.0.1:0', ['mss', '-40']);
    const client = tcpSocket();
    extraFds.push(client);
    native.connect(client, where(l).bytes);
    const out = new Int32Array(2);
    await waitFor(() => native.accept(l.fd, out, null) === 1, 'the connection');
    const accepted = out[0]!;
    extraFds.push(accepted);
    const writes: Array<[string, unknown]> = [];
    const recording = sysWith({
      setsockopt: ((fd: number, name: string, value: never) => {
        writes.push([name, value]);
        native.setsockopt(fd, name as never, value);
      }) as ListenerSyscalls['setsockopt'],
    });
    const mss = native.getsockopt(accepted, 'TCP_MAXSEG');
    expect(adjustAcceptedMss(l, accepted, recording)).toBe(true);
    expect(writes).toEqual([['TCP_MAXSEG', mss - 40]]);
    expect(adjustAcceptedMss(bound('127.0.0.1:0', ['mss', '1400']), accepted, recording)).toBe(false);
  });

  it('defer-accept: TCP_DEFER_ACCEPT of at least one second', () => {
    expect(native.getsockopt(bound('127.0.0.1:0').fd, 'TCP_DEFER_ACCEPT')).toBe(0);
    expect(native.getsockopt(bound('127.0.0.1:0', ['defer-accept']).fd, 'TCP_DEFER_ACCEPT')).toBeGreaterThanOrEqual(1);
  });

  it('tfo: TCP_FASTOPEN with the backlog as queue length, else maxconn', () => {
    expect(native.getsockopt(bound('127.0.0.1:0').fd, 'TCP_FASTOPEN')).toBe(0);
    expect(native.getsockopt(bound('127.0.0.1:0', ['tfo', 'backlog', '64']).fd, 'TCP_FASTOPEN')).toBe(64);
    expect(native.getsockopt(bound('127.0.0.1:0', ['tfo', 'maxconn', '77']).fd, 'TCP_FASTOPEN')).toBe(77);
  });

  it('v6only and v4v6: IPV6_V6ONLY 1 and 0; v6only wins', () => {
    expect(native.getsockopt(bound('[::]:0', ['v6only']).fd, 'IPV6_V6ONLY')).toBe(true);
    expect(native.getsockopt(bound('[::]:0', ['v4v6']).fd, 'IPV6_V6ONLY')).toBe(false);
    expect(native.getsockopt(bound('[::]:0', ['v4v6', 'v6only']).fd, 'IPV6_V6ONLY')).toBe(true);
  });

  it('tcp-ut: TCP_USER_TIMEOUT in milliseconds', () => {
    expect(native.getsockopt(bound('127.0.0.1:0').fd, 'TCP_USER_TIMEOUT')).toBe(0);
    expect(native.getsockopt(bound('127.0.0.1:0', ['tcp-ut', '2500']).fd, 'TCP_USER_TIMEOUT')).toBe(2500);
    expect(native.getsockopt(bound('127.0.0.1:0', ['tcp-ut', '1m']).fd, 'TCP_USER_TIMEOUT')).toBe(60_000);
  });

  it.skipIf(ssReason !== null)('backlog: listen() gets the backlog, else maxconn, else the frontend\'s values', () => {
    expect(backlogOf(where(bound('127.0.0.1:0', ['backlog', '37'])))).toBe(37);
    expect(backlogOf(where(bound('127.0.0.1:0', ['maxconn', '41'])))).toBe(41);
    const l = listener('127.0.0.1:0', [], { maxconn: 300, backlog: 43 });
    expect(listenerBacklog(l)).toBe(43);
    expect(bindListener(l, CTX).err).toBe(ERR_NONE);
    expect(backlogOf(where(l))).toBe(43);
    expect(listenerBacklog(listener('127.0.0.1:0'))).toBe(DEFAULT_MAXCONN);
  });

  it('IPv6 with v4v6 accepts an IPv4 connection as a v4-mapped peer; v6only refuses it', async () => {
    const both = bound('[::]:0', ['v4v6']);
    const v4 = SocketAddress.from('ipv4', '127.0.0.1', where(both).port);
    expect(await connectTo(v4)).toBe('connected');
    const peer = await acceptOne(both.fd);
    expect(peer.family).toBe('ipv6');
    expect(peer.address).toBe('::ffff:127.0.0.1');

    const only = bound('[::]:0', ['v6only']);
    expect(await connectTo(SocketAddress.from('ipv4', '127.0.0.1', where(only).port))).toBe('ECONNREFUSED');
    expect(await connectTo(SocketAddress.from('ipv6', '::1', where(only).port))).toBe('connected');
    await acceptOne(only.fd);
  });

  it('createListeners: one listener per address of a bind line, sharing its options', () => {
    const parsed = parseBindLine(['127.0.0.1:18001-18003', 'maxconn', '9']);
    const made = createListeners(parsed, { maxconn: 100 });
    expect(made.map((l) => l.addr.port)).toEqual([18001, 18002, 18003]);
    expect(made.every((l) => l.bind === parsed.bind && l.maxconn === 9 && l.state === ListenerState.ASSIGNED)).toBe(true);
  });
});

describe('bindListener: an fd inherited from a parent', () => {
  it.skipIf(ssReason !== null)('that already listens: neither bound nor listened again, options applied', async () => {
    const fd = tcpSocket();
    native.bind(fd, SocketAddress.parse('127.0.0.1:0').bytes);
    native.listen(fd, 7);
    const address = SocketAddress.fromBytes(native.getsockname(fd));
    const l = listener(address.toString(), ['backlog', '1024', 'nolinger', 'defer-accept'], { fd });
    expect(l.inherited).toBe(true);
    // A second bind() of a bound socket fails (EINVAL), so success shows bind was skipped;
    // listen() again would have set the backlog to 1024.
    expect(bindListener(l, CTX)).toEqual({ err: ERR_NONE, msg: '' });
    expect(l.fd).toBe(fd);
    expect(l.state).toBe(ListenerState.LISTEN);
    expect(backlogOf(address)).toBe(7);
    // Per-socket options are applied; the socket-creation ones are the parent's business.
    expect(native.getsockopt(fd, 'SO_LINGER')).toEqual({ enabled: true, seconds: 0 });
    expect(native.getsockopt(fd, 'TCP_DEFER_ACCEPT')).toBeGreaterThanOrEqual(1);
    expect(native.getsockopt(fd, 'SO_REUSEADDR')).toBe(false);
    expect(native.getsockopt(fd, 'SO_REUSEPORT')).toBe(false);
    expect(native.isNonBlocking(fd)).toBe(true);
    expect(await connectTo(address)).toBe('connected');
    await acceptOne(fd);
  });

  it.skipIf(ssReason !== null)('that is bound but not listening: listen() with our backlog, no bind()', async () => {
    const fd = native.socket(AF_INET, SOCK_STREAM); // blocking, as a parent may leave it
    native.bind(fd, SocketAddress.parse('127.0.0.1:0').bytes);
    const address = SocketAddress.fromBytes(native.getsockname(fd));
    const l = listener(address.toString(), ['backlog', '33'], { fd });
    expect(bindListener(l, CTX)).toEqual({ err: ERR_NONE, msg: '' });
    expect(native.getsockopt(fd, 'SO_ACCEPTCONN')).toBe(true);
    expect(native.isNonBlocking(fd)).toBe(true);
    expect(backlogOf(address)).toBe(33);
    expect(await connectTo(address)).toBe('connected');
    await acceptOne(fd);
  });

  it('clears options an old configuration left on it', () => {
    const fd = tcpSocket();
    native.setsockopt(fd, 'SO_LINGER', { enabled: true, seconds: 0 });
    native.setsockopt(fd, 'TCP_MAXSEG', 1000);
    native.setsockopt(fd, 'TCP_USER_TIMEOUT', 100);
    native.setsockopt(fd, 'TCP_DEFER_ACCEPT', 5);
    native.setsockopt(fd, 'TCP_FASTOPEN', 10);
    native.bind(fd, SocketAddress.parse('127.0.0.1:0').bytes);
    native.listen(fd, 8);
    const l = listener(SocketAddress.fromBytes(native.getsockname(fd)).toString(), [], { fd });
    expect(bindListener(l, CTX)).toEqual({ err: ERR_NONE, msg: '' });
    expect(native.getsockopt(fd, 'SO_LINGER')).toEqual({ enabled: false, seconds: 0 });
    expect(native.getsockopt(fd, 'TCP_MAXSEG')).toBe(536);
    expect(native.getsockopt(fd, 'TCP_USER_TIMEOUT')).toBe(0);
    expect(native.getsockopt(fd, 'TCP_DEFER_ACCEPT')).toBe(0);
    expect(native.getsockopt(fd, 'TCP_FASTOPEN')).toBe(0);
  });

  it('is left open on failure', () => {
    const fd = tcpSocket();
    const l = listener('127.0.0.1:0', [], { fd });
    const result = bindListener(l, { maxsock: 3 });
    expectErr(result, ERR_FATAL | ERR_ABORT | ERR_ALERT);
    expect(l.fd).toBe(fd);
    expect(l.state).toBe(ListenerState.ASSIGNED);
    expect(isOpen(fd)).toBe(true);
    extraFds.push(fd);
  });

  it('is closed by unbindListener like any other', () => {
    const fd = tcpSocket();
    native.bind(fd, SocketAddress.parse('127.0.0.1:0').bytes);
    const l = listener('127.0.0.1:0', [], { fd });
    expect(bindListener(l, CTX).err).toBe(ERR_NONE);
    unbindListener(l);
    expect(isOpen(fd)).toBe(false);
    expect(l.fd).toBe(-1);
    expect(l.inherited).toBe(false);
  });
});

describe('unix sockets', () => {
  it.skipIf(notRootReason !== null)('get mode, uid and gid, and replace an existing socket at the path', async () => {
    const dir = tempDir();
    const path = join(dir, 'epoxy.sock');
    // An "old process" listening at the path.
    const old = native.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK);
    extraFds.push(old);
    native.bind(old, SocketAddress.parse(path).bytes);
    native.listen(old, 4);
    const oldInode = statSync(path).ino;

    const l = listener(path, ['mode', '640', 'uid', '65534', 'gid', '65534']);
    expect(bindListener(l, CTX)).toEqual({ err: ERR_NONE, msg: '' });
    const stat = statSync(path);
    expect(stat.isSocket()).toBe(true);
    expect(stat.ino).not.toBe(oldInode);
    expect(stat.mode & 0o777).toBe(0o640);
    expect([stat.uid, stat.gid]).toEqual([65534, 65534]);
    // Neither the temporary nor the backup name is left behind.
    expect(readdirSync(dir)).toEqual(['epoxy.sock']);
    // New connections reach the new socket, none the old one.
    expect(await connectTo(SocketAddress.parse(path))).toBe('connected');
    await acceptOne(l.fd);
    expect(nothingToAccept(old)).toBe(true);
  });

  it('binds at a path where nothing was, and removes it on unbind', async () => {
    const path = join(tempDir(), 'fresh.sock');
    const l = bound(path);
    expect(l.unixFile?.path).toBe(path);
    expect(native.getsockopt(l.fd, 'SO_ACCEPTCONN')).toBe(true);
    expect(await connectTo(SocketAddress.parse(path))).toBe('connected');
    await acceptOne(l.fd);
    unbindListener(l);
    expect(existsSync(path)).toBe(false);
    expect(l.state).toBe(ListenerState.ASSIGNED);
  });

  it('unbind leaves a path that a newer listener took over', () => {
    const path = join(tempDir(), 'shared.sock');
    const older = bound(path, [], { ...CTX, pid: 1001 });
    const newer = bound(path, [], { ...CTX, pid: 1002 });
    unbindListener(older);
    expect(statSync(path).ino).toBe(newer.unixFile?.ino);
    unbindListener(newer);
    expect(existsSync(path)).toBe(false);
  });

  it('replaces a stale temporary name from a crashed attempt', () => {
    const dir = tempDir();
    const path = join(dir, 'stale.sock');
    writeFileSync(`${path}.4242.tmp`, 'left over');
    bound(path, [], { ...CTX, pid: 4242 });
    expect(readdirSync(dir)).toEqual(['stale.sock']);
  });

  it('fails FATAL|ALERT when the directory does not exist, leaving nothing behind', () => {
    const dir = tempDir();
    const path = join(dir, 'missing', 'x.sock');
    const before = fdCount();
    const result = bindListener(listener(path), CTX);
    expectErr(result, ERR_FATAL | ERR_ALERT);
    expect(result.msg).toBe(`cannot bind UNIX socket (No such file or directory) [${path}]`);
    expect(fdCount()).toBe(before);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses a path whose temporary name would not fit in sun_path', () => {
    // 105 bytes fit in sun_path (107), but not with '.<pid>.tmp' appended.
    const dir = tempDir();
    const path = join(dir, 'x'.repeat(105 - dir.length - 1));
    const result = bindListener(listener(path), CTX);
    expectErr(result, ERR_FATAL | ERR_ALERT);
    expect(result.msg).toMatch(/^name too long for UNIX socket/);
  });

  it('keeps the previous socket in place when the final rename fails', async () => {
    const dir = tempDir();
    const path = join(dir, 'x.sock');
    const old = native.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK);
    extraFds.push(old);
    native.bind(old, SocketAddress.parse(path).bytes);
    native.listen(old, 4);
    const oldInode = statSync(path).ino;
    // A listen() after which the temporary socket file is gone: the rename has nothing to move.
    const sys = sysWith({
      listen: (fd: number, backlog: number) => {
        native.listen(fd, backlog);
        rmSync(`${path}.77.tmp`);
      },
    });
    const before = fdCount();
    const result = bindListener(listener(path), { ...CTX, sys, pid: 77 });
    expectErr(result, ERR_FATAL | ERR_ALERT);
    expect(result.msg).toBe(`cannot switch final and temporary UNIX sockets (No such file or directory) [${path}]`);
    expect(fdCount()).toBe(before);
    // The old socket is still at the path (restored from its backup link), nothing else remains.
    expect(statSync(path).ino).toBe(oldInode);
    expect(readdirSync(dir)).toEqual(['x.sock']);
    expect(await connectTo(SocketAddress.parse(path))).toBe('connected');
    await acceptOne(old);
  });

  it('leaves nothing at the path when the final rename fails and there was no previous socket', () => {
    const dir = tempDir();
    const path = join(dir, 'y.sock');
    const sys = sysWith({
      listen: (fd: number, backlog: number) => {
        native.listen(fd, backlog);
        rmSync(`${path}.78.tmp`);
      },
    });
    expectErr(bindListener(listener(path), { ...CTX, sys, pid: 78 }), ERR_FATAL | ERR_ALERT);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('abstract sockets: no file; pause unbinds them, resume binds them again', async () => {
    const name = `abns@epoxy-listener-${process.pid}`;
    const l = bound(name);
    expect(l.unixFile).toBeNull();
    const address = SocketAddress.parse(name);
    expect(await connectTo(address)).toBe('connected');
    await acceptOne(l.fd);
    expect(pauseListener(l)).toEqual({ ok: true, msg: '' });
    expect(l.state).toBe(ListenerState.ASSIGNED);
    expect(l.fd).toBe(-1);
    expect(await connectTo(address)).toBe('ECONNREFUSED');
    expect(resumeListener(l)).toEqual({ ok: true, msg: '' });
    expect(l.state).toBe(ListenerState.READY);
    expect(await connectTo(address)).toBe('connected');
    await acceptOne(l.fd);
  });

  it('named unix sockets: pause only stops polling', async () => {
    const fdtab = new FdTable();
    const path = join(tempDir(), 'p.sock');
    const l = bound(path, [], { ...CTX, poll: fdtab });
    expect(enableListener(l)).toBe(true);
    expect(pauseListener(l).ok).toBe(true);
    expect(l.state).toBe(ListenerState.PAUSED);
    expect(fdtab.wantedOf(l.fd) & FD_WANT_RECV).toBe(0);
    expect(native.getsockopt(l.fd, 'SO_ACCEPTCONN')).toBe(true);
    expect(resumeListener(l).ok).toBe(true);
    expect(fdtab.wantedOf(l.fd) & FD_WANT_RECV).toBe(FD_WANT_RECV);
    expect(await connectTo(SocketAddress.parse(path))).toBe('connected');
    await acceptOne(l.fd);
  });
});

describe('pause and resume (TCP)', () => {
  async function pauseResume(address: string): Promise<void> {
    const fdtab = new FdTable();
    const l = bound(address, [], { ...CTX, poll: fdtab });
    const at = where(l);
    expect(enableListener(l)).toBe(true);
    expect(fdtab.wantedOf(l.fd) & FD_WANT_RECV).toBe(FD_WANT_RECV);
    expect(await connectTo(at)).toBe('connected');
    await acceptOne(l.fd);

    expect(pauseListener(l)).toEqual({ ok: true, msg: '' });
    expect(l.state).toBe(ListenerState.PAUSED);
    expect(fdtab.wantedOf(l.fd) & FD_WANT_RECV).toBe(0);
    expect(native.getsockopt(l.fd, 'SO_ACCEPTCONN')).toBe(false);
    expect(await connectTo(at)).toBe('ECONNREFUSED');
    expect(nothingToAccept(l.fd)).toBe(true);
    // Pausing twice is harmless.
    expect(pauseListener(l).ok).toBe(true);

    expect(resumeListener(l)).toEqual({ ok: true, msg: '' });
    expect(l.state).toBe(ListenerState.READY);
    expect(fdtab.wantedOf(l.fd) & FD_WANT_RECV).toBe(FD_WANT_RECV);
    expect(SocketAddress.fromBytes(native.getsockname(l.fd)).port).toBe(at.port);
    expect(await connectTo(at)).toBe('connected');
    await acceptOne(l.fd);
  }

  it('refuses connections while paused and accepts again after resume (explicit port)', async () => {
    // A port known free a moment ago; the listener binds it explicitly.
    const probe = listenLoopback();
    native.close(probe.fd);
    await pauseResume(probe.address.toString());
  });

  it('keeps a kernel-chosen port across a pause (port 0)', async () => {
    await pauseResume('127.0.0.1:0');
  });

  it('works for IPv6', async () => {
    await pauseResume('[::1]:0');
  });

  it('leaves an inherited socket listening and only stops polling it', async () => {
    const fdtab = new FdTable();
    const fd = tcpSocket();
    native.bind(fd, SocketAddress.parse('127.0.0.1:0').bytes);
    native.listen(fd, 8);
    const l = listener(SocketAddress.fromBytes(native.getsockname(fd)).toString(), [], { fd });
    expect(bindListener(l, { ...CTX, poll: fdtab }).err).toBe(ERR_NONE);
    enableListener(l);
    expect(pauseListener(l).ok).toBe(true);
    expect(l.state).toBe(ListenerState.PAUSED);
    expect(fdtab.wantedOf(fd) & FD_WANT_RECV).toBe(0);
    expect(native.getsockopt(fd, 'SO_ACCEPTCONN')).toBe(true);
    expect(resumeListener(l).ok).toBe(true);
    expect(fdtab.wantedOf(fd) & FD_WANT_RECV).toBe(FD_WANT_RECV);
  });

  it('reports a failed pause without changing state', () => {
    const l = bound('127.0.0.1:0', [], { ...CTX, sys: sysWith({ shutdown: () => -osConstants.errno.ENOTCONN }) });
    enableListener(l);
    const change = pauseListener(l);
    expect(change.ok).toBe(false);
    expect(change.msg).toBe(`cannot pause listener: shutdown(SHUT_WR) failed (ENOTCONN) [127.0.0.1:0]`);
    expect(l.state).toBe(ListenerState.READY);
  });

  it('resume binds a listener that was never bound', () => {
    const l = listener('127.0.0.1:0');
    expect(resumeListener(l, CTX).ok).toBe(true);
    expect(l.state).toBe(ListenerState.READY);
    const unbound = listener('127.0.0.1:0');
    expect(resumeListener(unbound).ok).toBe(false);
  });

  it('resume reports a failed bind', () => {
    const { fd: occupant, address } = listenLoopback();
    extraFds.push(occupant);
    const change = resumeListener(listener(address.toString()), CTX);
    expect(change).toEqual({ ok: false, msg: `cannot bind socket (Address already in use) [127.0.0.1:${address.port}]` });
  });
});

describe('READY, FULL, LIMITED: polling only', () => {
  it('follows HAProxy\'s transitions, driven from outside (session layer)', () => {
    const fdtab = new FdTable();
    const l = bound('127.0.0.1:0', ['maxconn', '2'], { ...CTX, poll: fdtab });
    const polled = (): boolean => (fdtab.wantedOf(l.fd) & FD_WANT_RECV) !== 0;

    expect(enableListener(l)).toBe(true);
    expect([l.state, polled()]).toEqual([ListenerState.READY, true]);

    l.nbconn = 2;
    listenerFull(l);
    expect([l.state, polled()]).toEqual([ListenerState.FULL, false]);
    // Still at maxconn: resuming keeps it FULL.
    expect(resumeListener(l).ok).toBe(true);
    expect([l.state, polled()]).toEqual([ListenerState.FULL, false]);
    l.nbconn = 1;
    expect(resumeListener(l).ok).toBe(true);
    expect([l.state, polled()]).toEqual([ListenerState.READY, true]);

    limitListener(l);
    expect([l.state, polled()]).toEqual([ListenerState.LIMITED, false]);
    expect(resumeListener(l).ok).toBe(true);
    expect([l.state, polled()]).toEqual([ListenerState.READY, true]);

    disableListener(l);
    expect([l.state, polled()]).toEqual([ListenerState.LISTEN, false]);
    // FULL and LIMITED only come from READY.
    listenerFull(l);
    limitListener(l);
    expect(l.state).toBe(ListenerState.LISTEN);

    l.nbconn = 2;
    expect(enableListener(l)).toBe(false);
    expect([l.state, polled()]).toEqual([ListenerState.FULL, false]);

    unbindListener(l);
    expect(l.state).toBe(ListenerState.ASSIGNED);
    expect(fdtab.size).toBe(0);
  });

  it('ERR_CODE is the failure mask', () => {
    expect(ERR_CODE).toBe(ERR_RETRYABLE | ERR_FATAL | ERR_ABORT);
    expect(ERR_WARN & ERR_CODE).toBe(0);
    expect(ERR_ALERT & ERR_CODE).toBe(0);
    expect(errFlagsToString(ERR_NONE)).toBe('NONE');
  });
});

describe('network namespaces', () => {
  const reason = netnsUnavailableReason();
  if (reason) console.log(`skipping listener namespace tests: ${reason}`);
  let ns: Netns | undefined;
  afterAll(() => ns?.destroy());

  it.skipIf(reason !== null)('binds in the namespace: its own stack, reachable only from inside', async () => {
    ns = createNetns();
    // Our stack holds the port (without SO_REUSEPORT): the namespace's loopback is another one.
    const { fd: occupant, address } = listenLoopback();
    extraFds.push(occupant);
    const l = listener(address.toString(), ['namespace', ns.name]);
    expect(bindListener(l, CTX)).toEqual({ err: ERR_NONE, msg: '' });
    expect(await connectTo(address, ns.path)).toBe('connected');
    await acceptOne(l.fd);
    // Connections from our stack reach the occupant, not the listener.
    expect(await connectTo(address)).toBe('connected');
    await acceptOne(occupant);
    expect(nothingToAccept(l.fd)).toBe(true);
  });

  it('reports a namespace that does not exist as FATAL|ALERT', () => {
    const result = bindListener(listener('127.0.0.1:0', ['namespace', `epoxy-missing-${process.pid}`]), CTX);
    expectErr(result, ERR_FATAL | ERR_ALERT);
    expect(result.msg).toBe('cannot create listening socket (No such file or directory) [127.0.0.1:0]');
  });
});

describe('as an unprivileged user', () => {
  const reason = unprivilegedUnavailableReason() ?? netnsUnavailableReason();
  if (reason) console.log(`skipping unprivileged listener tests: ${reason}`);

  it.skipIf(reason !== null)('the kernel\'s refusals become HAProxy\'s ERR_* results', async () => {
    const ns = createNetns();
    try {
      interface Attempt extends BindResult {
        state: number;
        transparent?: boolean;
        freebind?: boolean;
      }
      const result = lastJsonLine<Record<string, Attempt | null> & { ids: { uid: number }; chownLeftovers: string[] }>(
        await runFixtureAsNobody('listener-unprivileged.mjs', [ns.path]),
      );
      expect(result.ids.uid).toBe(65534);
      // IP_TRANSPARENT is refused (EPERM) but IP_FREEBIND is not: the fallback binds, and the
      // ALERT says interception will not happen.
      expect(result.transparent).toMatchObject({
        err: ERR_ALERT,
        msg: 'cannot make listening socket transparent, using IP_FREEBIND only (Operation not permitted) [127.0.0.1:0]',
        transparent: false,
        freebind: true,
        state: ListenerState.LISTEN,
      });
      expect(result.transparentRefused).toMatchObject({
        err: ERR_ALERT,
        msg: 'cannot make listening socket transparent (Operation not permitted) [127.0.0.1:0]',
        state: ListenerState.LISTEN,
      });
      expect(result.privilegedPort).toMatchObject({
        err: ERR_RETRYABLE | ERR_ALERT,
        msg: 'cannot bind socket (Permission denied) [127.0.0.1:1023]',
      });
      expect(result.namespace).toMatchObject({
        err: ERR_FATAL | ERR_ALERT,
        msg: 'cannot create listening socket (Operation not permitted) [127.0.0.1:0]',
      });
      expect(result.chown?.err).toBe(ERR_FATAL | ERR_ALERT);
      expect(result.chown?.msg).toMatch(/^cannot change UNIX socket ownership \(Operation not permitted\) \[.*x\.sock\]$/);
      expect(result.chownLeftovers).toEqual([]);
    } finally {
      ns.destroy();
    }
  });
});
