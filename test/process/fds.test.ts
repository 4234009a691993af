/**
 * src/process/fds.ts: planning a spawn() that hands fds to a child at 3, 4, 5…, and reading them
 * back in the child. The end-to-end test hands real listening sockets to a real child, which
 * accepts connections on them.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { native } from '../../src/native.js';
import {
  FIRST_INHERITED_FD,
  INHERITED_FDS_ENV,
  inheritedFds,
  planInheritedFds,
} from '../../src/process/fds.js';
import { ROOT } from '../helpers/child.js';
import { AF_INET, AF_INET6, listenLoopback, tcpSocket } from '../helpers/sockets.js';

const open: number[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const fd of open.splice(0)) native.close(fd);
});

beforeAll(() => {
  // test/global-setup.ts compiles dist/ before the suite; this covers running the file alone
  // with a config that lacks it.
  if (!existsSync(`${ROOT}dist/index.js`)) {
    execFileSync(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, '-p', `${ROOT}tsconfig.build.json`], {
      cwd: ROOT,
    });
  }
});

describe('planInheritedFds()', () => {
  it('puts the fds after stdin/stdout/stderr and numbers them from 3', () => {
    const plan = planInheritedFds([17, 9, 40]);
    expect(plan.stdio).toEqual(['inherit', 'inherit', 'inherit', 17, 9, 40]);
    expect(plan.childFds).toEqual([3, 4, 5]);
    expect(plan.env).toEqual({ [INHERITED_FDS_ENV]: '3' });
    expect(FIRST_INHERITED_FD).toBe(3);
    expect(INHERITED_FDS_ENV).toBe('EPOXY_INHERITED_FDS');
  });

  it('takes stdin/stdout/stderr as an array or as one value for all three', () => {
    expect(planInheritedFds([8], ['ignore', 'pipe', 'inherit']).stdio).toEqual(['ignore', 'pipe', 'inherit', 8]);
    expect(planInheritedFds([8], 'pipe').stdio).toEqual(['pipe', 'pipe', 'pipe', 8]);
    // Anything past the first three entries would shift the handed fds: it is dropped.
    expect(planInheritedFds([8], ['ignore', 'ignore', 'ignore', 'ipc']).stdio).toEqual(['ignore', 'ignore', 'ignore', 8]);
    // A short array is padded, so the first handed fd still lands at 3, not at stdout.
    expect(planInheritedFds([8], ['pipe']).stdio).toEqual(['pipe', 'ignore', 'ignore', 8]);
  });

  it('plans nothing extra for no fds', () => {
    const plan = planInheritedFds([], 'ignore');
    expect(plan).toEqual({ stdio: ['ignore', 'ignore', 'ignore'], env: { [INHERITED_FDS_ENV]: '0' }, childFds: [] });
  });
});

describe('inheritedFds()', () => {
  it('reads back what the plan promised', () => {
    const plan = planInheritedFds([11, 12]);
    expect(inheritedFds(plan.env)).toEqual(plan.childFds);
    expect(inheritedFds({ [INHERITED_FDS_ENV]: '4' })).toEqual([3, 4, 5, 6]);
  });

  it('gives none for a missing, empty or malformed count', () => {
    expect(inheritedFds({})).toEqual([]);
    for (const bad of ['', '0', 'abc', '-1', '1.5', 'NaN']) {
      expect({ bad, fds: inheritedFds({ [INHERITED_FDS_ENV]: bad }) }).toEqual({ bad, fds: [] });
    }
  });

  it('reads process.env by default', () => {
    const saved = process.env[INHERITED_FDS_ENV];
    try {
      process.env[INHERITED_FDS_ENV] = '2';
      expect(inheritedFds()).toEqual([3, 4]);
      delete process.env[INHERITED_FDS_ENV];
      expect(inheritedFds()).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env[INHERITED_FDS_ENV];
      else process.env[INHERITED_FDS_ENV] = saved;
    }
  });
});

/** What /proc/self/fd/N links to: 'socket:[inode]' for a socket. */
function fdTarget(fd: number): string {
  return readlinkSync(`/proc/self/fd/${fd}`);
}

interface ChildReport {
  pid: number;
  count: string;
  inherited: Array<{
    fd: number;
    acceptconn: boolean;
    domain: number;
    sockname: string;
    cloexec: boolean;
    nonblocking: boolean;
  }>;
  open: Array<{ fd: number; target: string }>;
}

/** Resolves with the first line the stream prints; rejects if the child exits before. */
function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const end = text.indexOf('\n');
      if (end >= 0) resolve(text.slice(0, end));
    });
    child.on('error', reject);
    child.on('close', (code, signal) => reject(new Error(`child exited (${code ?? signal}) before reporting:\n${text}\n${stderr}`)));
  });
}

/** Connects with node:net and reads until the server closes. */
function request(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host, port });
    let reply = '';
    socket.on('data', (chunk: Buffer) => (reply += chunk.toString()));
    socket.on('end', () => {
      socket.destroy();
      resolve(reply);
    });
    socket.on('error', reject);
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

describe('handing listening sockets to a spawned child', () => {
  it('the child finds them at 3 and 4, listening where the parent bound them, and accepts on them', async () => {
    const v4 = listenLoopback(AF_INET);
    open.push(v4.fd);
    const v6 = listenLoopback(AF_INET6);
    open.push(v6.fd);
    // A socket the parent keeps: created close-on-exec, it must not reach the child.
    const kept = tcpSocket(AF_INET);
    open.push(kept);
    const keptListener = listenLoopback(AF_INET);
    open.push(keptListener.fd);

    const plan = planInheritedFds([v4.fd, v6.fd], ['ignore', 'pipe', 'pipe']);
    expect(plan.childFds).toEqual([3, 4]);
    const child = spawn(process.execPath, [`${ROOT}test/fixtures/inherit-child.mjs`], {
      cwd: ROOT,
      stdio: plan.stdio,
      env: { ...process.env, ...plan.env },
    });
    children.push(child);
    const report = JSON.parse(await firstLine(child)) as ChildReport;

    expect(report.count).toBe('2');
    // O_NONBLOCK belongs to the open file description both processes share, so the child sees
    // the parent's non-blocking mode. FD_CLOEXEC arrives cleared (see the sh test below), but
    // Node sets it again on every fd it finds at startup (strace shows fcntl(n, F_SETFD,
    // FD_CLOEXEC) for 0, 1, 2, 3...), so what a Node child reports is Node's doing, not ours.
    expect(report.inherited).toEqual([
      { fd: 3, acceptconn: true, domain: AF_INET, sockname: v4.address.toString(), cloexec: expect.any(Boolean), nonblocking: true },
      { fd: 4, acceptconn: true, domain: AF_INET6, sockname: v6.address.toString(), cloexec: expect.any(Boolean), nonblocking: true },
    ]);
    // The very same sockets (same inode), not look-alikes.
    const childTargets = new Map(report.open.map((entry) => [entry.fd, entry.target]));
    expect(childTargets.get(3)).toBe(fdTarget(v4.fd));
    expect(childTargets.get(4)).toBe(fdTarget(v6.fd));
    // The sockets not handed over are nowhere in the child.
    const targets = new Set(childTargets.values());
    expect(targets.has(fdTarget(kept))).toBe(false);
    expect(targets.has(fdTarget(keptListener.fd))).toBe(false);
    // Nor is any other socket of the parent's, under any number.
    const parentSockets = new Set(
      open.filter((fd) => fd !== v4.fd && fd !== v6.fd).map(fdTarget),
    );
    expect([...targets].filter((target) => parentSockets.has(target))).toEqual([]);

    // The child, not the parent (which never calls accept), answers on both.
    const replies = await Promise.all([request('127.0.0.1', v4.address.port), request('::1', v6.address.port)]);
    expect(replies).toEqual([`fd 3 pid ${report.pid}\n`, `fd 4 pid ${report.pid}\n`]);
    expect(await exited(child)).toBe(0);

    // The parent's copies still listen after the child is gone.
    expect(native.getsockopt(v4.fd, 'SO_ACCEPTCONN')).toBe(true);
    expect(native.getsockopt(v6.fd, 'SO_ACCEPTCONN')).toBe(true);
  });

  it('any program gets them, at the planned numbers and without FD_CLOEXEC', () => {
    const listener = listenLoopback(AF_INET);
    open.push(listener.fd);
    const other = listenLoopback(AF_INET6);
    open.push(other.fd);
    const plan = planInheritedFds([other.fd, listener.fd], ['ignore', 'pipe', 'pipe']);
    // /proc/self/fdinfo/N shows the open flags, with O_CLOEXEC (02000000) when FD_CLOEXEC is set.
    const output = execFileSync(
      'sh',
      ['-c', 'echo "$EPOXY_INHERITED_FDS"; for n in 3 4; do readlink /proc/self/fd/$n; grep ^flags /proc/self/fdinfo/$n; done'],
      { stdio: plan.stdio, env: { ...process.env, ...plan.env }, encoding: 'utf8' },
    );
    const [count, target3, flags3, target4, flags4] = output.trim().split('\n');
    expect(count).toBe('2');
    expect(target3).toBe(fdTarget(other.fd));
    expect(target4).toBe(fdTarget(listener.fd));
    for (const flags of [flags3, flags4]) {
      const value = parseInt(/^flags:\s*([0-7]+)$/.exec(flags ?? '')?.[1] ?? 'x', 8);
      expect(value & 0o2000000).toBe(0); // O_CLOEXEC
      expect(value & 0o4000).toBe(0o4000); // O_NONBLOCK
    }
    // The parent's own copies stay close-on-exec.
    expect(native.getCloexec(listener.fd)).toBe(true);
    expect(native.getCloexec(other.fd)).toBe(true);
  });

  it('a child spawned without a plan finds no inherited fds and none of the sockets', async () => {
    const listener = listenLoopback(AF_INET);
    open.push(listener.fd);
    const child = spawn(process.execPath, [`${ROOT}test/fixtures/inherit-child.mjs`], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, [INHERITED_FDS_ENV]: undefined },
    });
    children.push(child);
    const report = JSON.parse(await firstLine(child)) as ChildReport;
    expect(report.inherited).toEqual([]);
    expect(report.open.map((entry) => entry.target)).not.toContain(fdTarget(listener.fd));
    // With nothing to accept on, the child's poller is closed at once and it exits.
    expect(await exited(child)).toBe(0);
  });
});
