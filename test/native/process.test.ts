/**
 * native/process.cc: parent-death signal, RLIMIT_NOFILE, FD_CLOEXEC and O_NONBLOCK, each once
 * succeeding and once refused, and where possible with its effect observed (a signal delivered,
 * EMFILE under a lowered limit, an fd leaking into a child, a connect that blocks).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EpoxyError, EpoxySystemError } from '../../src/errors.js';
import { native } from '../../src/native.js';
import { runFixture } from '../helpers/child.js';
import { AF_INET, listenLoopback, tcpSocket } from '../helpers/sockets.js';
import { lastJsonLine, runFixtureAsNobody, unprivilegedUnavailableReason } from '../helpers/unprivileged.js';

const open: number[] = [];
function track(fd: number): number {
  open.push(fd);
  return fd;
}
afterEach(() => {
  for (const fd of open.splice(0)) native.close(fd);
});

function systemError(fn: () => unknown): EpoxySystemError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(EpoxySystemError);
    return error as EpoxySystemError;
  }
  throw new Error('expected a throw');
}

/** A closed fd number (nothing else in this synchronous test can reuse it in between). */
function closedFd(): number {
  const fd = tcpSocket();
  expect(native.close(fd)).toBe(0);
  return fd;
}

/** The open flags the kernel reports for an fd, O_CLOEXEC included when FD_CLOEXEC is set. */
function fdinfoFlags(fd: number): number {
  const match = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  if (!match?.[1]) throw new Error(`no flags in /proc/self/fdinfo/${fd}`);
  return parseInt(match[1], 8);
}
const O_NONBLOCK = 0o4000;
const O_APPEND = 0o2000;
const O_CLOEXEC = 0o2000000;

describe('parent-death signal', () => {
  it('is set, read back and cleared (in a child, so this process keeps none)', async () => {
    const result = await runFixture('pdeathsig-child.mjs', ['roundtrip']);
    expect(result.code, result.stderr).toBe(0);
    expect(lastJsonLine(result)).toEqual({ before: 0, afterSet: 15, afterClear: 0, SIGTERM: 15 });
  });

  it('is delivered when the parent exits', async () => {
    // test -> middle -> armed: middle exits as soon as armed has set SIGTERM; armed prints what
    // it received on the stdout it shares with middle, which closes only once armed is gone too.
    const result = await runFixture('pdeathsig-child.mjs', ['middle']);
    expect(result.code, result.stderr).toBe(0);
    const report = lastJsonLine<{ signal: string | null; parentBefore: number; parentAfter: number }>(result);
    expect(report.signal).toBe('SIGTERM');
    // No assertion on parentAfter: the signal fires when the parent *thread* that forked (Node's
    // main thread) exits, and the kernel may send it while the rest of the dying parent's
    // threads still stand, the child then re-parented to one of those: getppid() can still
    // name the old parent inside the handler (seen here in about half the runs).
  });

  it('refuses an invalid signal with EINVAL and keeps the current one', () => {
    const before = native.getParentDeathSignal();
    const error = systemError(() => native.setParentDeathSignal(9999));
    expect([error.code, error.errno, error.syscall]).toEqual(['EINVAL', -22, 'prctl(PR_SET_PDEATHSIG)']);
    expect(native.getParentDeathSignal()).toBe(before);
  });

  it('refuses a signal that is not a number as an epoxy argument error', () => {
    let caught: unknown;
    try {
      // @ts-expect-error -- a signal name is not accepted, only its number
      native.setParentDeathSignal('SIGTERM');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(EpoxyError);
    expect((caught as EpoxyError).code).toBe('ERR_EPOXY_INVALID_ARG');
  });
});

describe('RLIMIT_NOFILE', () => {
  /** The "Max open files" row of /proc/self/limits, -1 for unlimited. */
  function procLimits(): { soft: number; hard: number } {
    const row = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    const value = (text: string | undefined): number => (text === 'unlimited' ? -1 : Number(text));
    return { soft: value(row?.[1]), hard: value(row?.[2]) };
  }
  const asNumber = (limit: number): number => (limit === -1 ? Infinity : limit);

  it('getNofileLimit() reports soft <= hard, as the kernel shows them', () => {
    const limit = native.getNofileLimit();
    expect(asNumber(limit.soft)).toBeGreaterThan(0);
    expect(asNumber(limit.soft)).toBeLessThanOrEqual(asNumber(limit.hard));
    expect(limit).toEqual(procLimits());
  });

  it('a lowered soft limit takes effect (EMFILE) and can be raised back', () => {
    const original = native.getNofileLimit();
    const highest = Math.max(...readdirSync('/proc/self/fd').map(Number));
    const soft = highest + 4;
    const created: number[] = [];
    let refused: EpoxySystemError | undefined;
    try {
      native.setNofileLimit(soft);
      expect(native.getNofileLimit()).toEqual({ soft, hard: original.hard });
      for (let i = 0; i < 1000 && refused === undefined; i++) {
        try {
          created.push(tcpSocket());
        } catch (error) {
          refused = error as EpoxySystemError;
        }
      }
    } finally {
      native.setNofileLimit(original.soft, original.hard);
      for (const fd of created) native.close(fd);
    }
    expect(native.getNofileLimit()).toEqual(original);
    expect(refused).toBeInstanceOf(EpoxySystemError);
    expect([refused?.code, refused?.errno, refused?.syscall]).toEqual(['EMFILE', -24, 'socket']);
    // Every fd handed out stayed below the limit.
    expect(created.every((fd) => fd < soft)).toBe(true);
    // Raised back: a socket can be made again.
    track(tcpSocket());
  });

  it('refuses a soft limit above the hard one with EINVAL and keeps both', () => {
    const original = native.getNofileLimit();
    if (original.hard === -1) return; // nothing is above unlimited
    const error = systemError(() => native.setNofileLimit(original.hard + 1, original.hard));
    expect([error.code, error.errno, error.syscall]).toEqual(['EINVAL', -22, 'setrlimit(RLIMIT_NOFILE)']);
    expect(native.getNofileLimit()).toEqual(original);
  });

  it('refuses a limit that is not a number as an epoxy argument error', () => {
    let caught: unknown;
    try {
      // @ts-expect-error -- limits are numbers
      native.setNofileLimit('1024');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(EpoxyError);
    expect((caught as EpoxyError).code).toBe('ERR_EPOXY_INVALID_ARG');
    const before = native.getNofileLimit();
    // @ts-expect-error -- the hard limit too; it is refused, not silently ignored
    expect(() => native.setNofileLimit(before.soft, 'x')).toThrow(expect.objectContaining({ code: 'ERR_EPOXY_INVALID_ARG' }));
    expect(native.getNofileLimit()).toEqual(before);
  });

  const nobodySkip = unprivilegedUnavailableReason();
  if (nobodySkip !== null) console.log(`skipping the unprivileged RLIMIT_NOFILE test: ${nobodySkip}`);
  it.skipIf(nobodySkip !== null)('refuses raising the hard limit to a process without CAP_SYS_RESOURCE (EPERM)', async () => {
    const result = await runFixtureAsNobody('unprivileged-child.mjs', ['nofile']);
    expect(result.code, result.stderr).toBe(0);
    type Attempt = { code: string; errno?: number; syscall?: string };
    const report = lastJsonLine<{
      uid: number;
      before: { soft: number; hard: number };
      raiseHard: Attempt;
      softAboveHard: Attempt;
      lowerHard: Attempt;
      afterLower: { soft: number; hard: number };
      raiseBack: Attempt;
      after: { soft: number; hard: number };
    }>(result);
    expect(report.uid).toBe(65534);
    if (report.before.hard === -1) return console.log('hard RLIMIT_NOFILE is unlimited: nothing to raise');
    expect(report.raiseHard).toMatchObject({ code: 'EPERM', errno: -1, syscall: 'setrlimit(RLIMIT_NOFILE)' });
    expect(report.softAboveHard).toMatchObject({ code: 'EINVAL', errno: -22 });
    // Lowering is free, and one-way: the old hard limit cannot be had back.
    expect(report.lowerHard.code).toBe('ok');
    expect(report.afterLower).toEqual({ soft: 64, hard: report.before.hard - 1 });
    expect(report.raiseBack.code).toBe('EPERM');
    expect(report.after).toEqual(report.afterLower);
  });
});

describe('close-on-exec', () => {
  /** What a fresh child process finds at fd number `fd` ('' when nothing). */
  function inChild(fd: number): string {
    return execFileSync('sh', ['-c', `readlink /proc/self/fd/${fd} || true`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  }
  const target = (fd: number): string => execFileSync('readlink', [`/proc/${process.pid}/fd/${fd}`], { encoding: 'utf8' }).trim();

  it('sockets start close-on-exec; clearing it lets the fd into a child, setting it keeps it out', () => {
    const fd = track(tcpSocket());
    const socketTarget = target(fd);
    expect(socketTarget).toMatch(/^socket:\[\d+\]$/);
    expect(native.getCloexec(fd)).toBe(true);
    expect(fdinfoFlags(fd) & O_CLOEXEC).toBe(O_CLOEXEC);
    expect(inChild(fd)).toBe('');

    native.setCloexec(fd, false);
    expect(native.getCloexec(fd)).toBe(false);
    expect(fdinfoFlags(fd) & O_CLOEXEC).toBe(0);
    try {
      expect(inChild(fd)).toBe(socketTarget);
    } finally {
      native.setCloexec(fd, true);
    }
    expect(native.getCloexec(fd)).toBe(true);
    expect(inChild(fd)).toBe('');
    // Setting what is already set is a no-op, not an error.
    native.setCloexec(fd, true);
    expect(native.getCloexec(fd)).toBe(true);
  });

  it('fails with EBADF on a closed fd', () => {
    const fd = closedFd();
    const get = systemError(() => native.getCloexec(fd));
    expect([get.code, get.errno, get.syscall]).toEqual(['EBADF', -9, 'fcntl(F_GETFD)']);
    const set = systemError(() => native.setCloexec(fd, true));
    expect([set.code, set.errno, set.syscall]).toEqual(['EBADF', -9, 'fcntl(F_GETFD)']);
  });
});

describe('non-blocking mode', () => {
  it('round-trips, and decides whether connect() waits for the handshake', () => {
    const { address, fd: listener } = listenLoopback(AF_INET);
    track(listener);
    const fd = track(tcpSocket());
    expect(native.isNonBlocking(fd)).toBe(true);
    expect(fdinfoFlags(fd) & O_NONBLOCK).toBe(O_NONBLOCK);
    native.setNonBlocking(fd, false);
    expect(native.isNonBlocking(fd)).toBe(false);
    expect(fdinfoFlags(fd) & O_NONBLOCK).toBe(0);
    // Blocking: connect() returns once connected (loopback completes the handshake at once).
    expect(native.connect(fd, address.bytes)).toBe(0);

    const other = track(tcpSocket());
    native.setNonBlocking(other, false);
    native.setNonBlocking(other, true);
    expect(native.isNonBlocking(other)).toBe(true);
    // Non-blocking: connect() returns before the handshake is done.
    expect(native.errnoName(native.connect(other, address.bytes))).toBe('EINPROGRESS');
  });

  it('changes O_NONBLOCK only, keeping the other status flags (O_APPEND)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'epoxy-flags-'));
    const fd = openSync(join(dir, 'log'), 'a');
    try {
      expect(fdinfoFlags(fd) & O_APPEND).toBe(O_APPEND);
      expect(native.isNonBlocking(fd)).toBe(false);
      native.setNonBlocking(fd, true);
      expect(native.isNonBlocking(fd)).toBe(true);
      expect(fdinfoFlags(fd) & (O_APPEND | O_NONBLOCK)).toBe(O_APPEND | O_NONBLOCK);
      native.setNonBlocking(fd, false);
      expect(fdinfoFlags(fd) & (O_APPEND | O_NONBLOCK)).toBe(O_APPEND);
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails with EBADF on a closed fd', () => {
    const fd = closedFd();
    const get = systemError(() => native.isNonBlocking(fd));
    expect([get.code, get.errno, get.syscall]).toEqual(['EBADF', -9, 'fcntl(F_GETFL)']);
    const set = systemError(() => native.setNonBlocking(fd, false));
    expect([set.code, set.errno, set.syscall]).toEqual(['EBADF', -9, 'fcntl(F_GETFL)']);
  });
});

