import { openSync, closeSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { EpoxyError, ErrorCodes } from '../../src/errors.js';
import { constants, native, type NativePoller } from '../../src/native.js';
import { runFixture } from '../helpers/child.js';
import { closeAll, fdCount, listenLoopback, tcpSocket, waitFor, connectedPair } from '../helpers/sockets.js';

const { EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLPRI, EPOLLET, EPOLLONESHOT, EPOLLEXCLUSIVE, EPOLLHUP, EPOLLERR } = constants;

const fds: number[] = [];
const pollers: NativePoller[] = [];
afterEach(() => {
  for (const p of pollers.splice(0)) p.close();
  closeAll(fds.splice(0));
});

function poller(capacity?: number): NativePoller {
  const p = new native.Poller(capacity);
  pollers.push(p);
  return p;
}

/** [fd, events] pairs of the last drain. */
function drained(p: NativePoller, n: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) out.push([p.events[2 * i]!, p.events[2 * i + 1]!]);
  return out;
}

/** A connected loopback pair [client, server], closed after the test. */
const pair = (): Promise<[number, number]> => connectedPair(fds);

describe('Poller: epoll_ctl and wait', () => {
  it('is an epoll fd with a shared events array sized by capacity', () => {
    const p = poller(32);
    expect(p.fd).toBeGreaterThanOrEqual(0);
    expect(p.capacity).toBe(32);
    expect(p.events).toBeInstanceOf(Int32Array);
    expect(p.events.length).toBe(64);
    expect(p.wait(0)).toBe(0);
  });

  it('reports readiness as [fd, events] in the shared array', async () => {
    const p = poller();
    const [client, server] = await pair();
    expect(p.add(server, EPOLLIN | EPOLLRDHUP)).toBe(0);
    expect(p.add(client, EPOLLOUT)).toBe(0);
    expect(drained(p, p.wait(0))).toEqual([[client, EPOLLOUT]]);
    native.send(client, new Uint8Array([1]));
    await waitFor(() => p.wait(0) === 2, 'two ready fds');
    const ready = new Map(drained(p, 2));
    expect(ready.get(server)).toBe(EPOLLIN);
    // modify replaces the mask; remove stops reporting
    expect(p.modify(client, EPOLLIN)).toBe(0);
    expect(drained(p, p.wait(0))).toEqual([[server, EPOLLIN]]);
    expect(p.remove(server)).toBe(0);
    expect(p.wait(0)).toBe(0);
    // a peer's FIN shows up as RDHUP
    expect(p.add(server, EPOLLIN | EPOLLRDHUP)).toBe(0);
    native.shutdown(client, constants.SHUT_WR);
    await waitFor(() => p.wait(0) === 1 && (p.events[1]! & EPOLLRDHUP) !== 0, 'RDHUP');
  });

  it('accepts every mask: PRI, ERR/HUP reported unasked, edge-triggered, one-shot, exclusive', async () => {
    const p = poller();
    const [client, server] = await pair();
    expect(p.add(server, EPOLLIN | EPOLLPRI | EPOLLET)).toBe(0);
    native.send(client, new Uint8Array([1]));
    await waitFor(() => p.wait(0) === 1, 'edge');
    // edge-triggered: no new edge until more data arrives, although the byte is still unread
    expect(p.wait(0)).toBe(0);
    native.send(client, new Uint8Array([2]));
    await waitFor(() => p.wait(0) === 1, 'second edge');

    expect(p.modify(server, EPOLLIN | EPOLLONESHOT)).toBe(0);
    expect(p.wait(0)).toBe(1);
    expect(p.wait(0)).toBe(0); // disarmed after one report
    expect(p.modify(server, EPOLLIN | EPOLLONESHOT)).toBe(0); // re-arm
    expect(p.wait(0)).toBe(1);

    const { fd: listener } = listenLoopback();
    fds.push(listener);
    expect(p.add(listener, EPOLLIN | EPOLLEXCLUSIVE)).toBe(0);
    // EPOLLEXCLUSIVE is only allowed with ADD (the kernel's rule)
    expect(native.errnoName(p.modify(listener, EPOLLIN | EPOLLEXCLUSIVE))).toBe('EINVAL');

    // ERR and HUP are always reported: a reset connection shows them without being asked
    const other = await pair();
    native.setsockopt(other[0], 'SO_LINGER', { enabled: true, seconds: 0 });
    expect(p.add(other[1], EPOLLOUT)).toBe(0);
    native.close(other[0]); // RST
    fds.splice(fds.indexOf(other[0]), 1);
    await waitFor(() => {
      const n = p.wait(0);
      return drained(p, n).some(([fd, ev]) => fd === other[1] && (ev & (EPOLLHUP | EPOLLERR)) !== 0);
    }, 'HUP/ERR after RST');
  });

  it('returns -errno: EEXIST, ENOENT, EBADF, EPERM (regular file), EINVAL (self)', () => {
    const p = poller();
    const fd = tcpSocket();
    fds.push(fd);
    expect(p.add(fd, EPOLLIN)).toBe(0);
    expect(native.errnoName(p.add(fd, EPOLLIN))).toBe('EEXIST');
    const unknown = tcpSocket();
    fds.push(unknown);
    expect(native.errnoName(p.modify(unknown, EPOLLIN))).toBe('ENOENT');
    expect(native.errnoName(p.remove(unknown))).toBe('ENOENT');
    expect(native.errnoName(p.add(-1, EPOLLIN))).toBe('EBADF');
    const file = openSync('/etc/hostname', 'r');
    try {
      expect(native.errnoName(p.add(file, EPOLLIN))).toBe('EPERM');
    } finally {
      closeSync(file);
    }
    expect(native.errnoName(p.add(p.fd, EPOLLIN))).toBe('EINVAL');
  });

  it('returns no more events than its capacity per wait', async () => {
    const p = poller(4);
    for (let i = 0; i < 10; i++) {
      const s = tcpSocket();
      fds.push(s);
      p.add(s, EPOLLOUT); // an unconnected TCP socket reports OUT|HUP at once
    }
    expect(p.wait(0)).toBe(4);
  });

  it('rejects capacities out of range', () => {
    expect(() => new native.Poller(0)).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARG }));
  });
});

describe('Poller: close and use after close', () => {
  it('close is idempotent; every later call is ERR_EPOXY_HANDLE_CLOSED, never a crash', () => {
    const p = new native.Poller();
    const before = fdCount();
    p.close();
    p.close();
    expect(fdCount()).toBe(before - 1);
    expect(p.closed).toBe(true);
    expect(p.fd).toBe(-1);
    for (const call of [() => p.add(0, EPOLLIN), () => p.modify(0, EPOLLIN), () => p.remove(0), () => p.wait(0),
      () => p.start(() => {}), () => p.stop(), () => p.ref(), () => p.unref()]) {
      let caught: unknown;
      try {
        call();
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(EpoxyError);
      expect((caught as EpoxyError).code).toBe(ErrorCodes.HANDLE_CLOSED);
    }
  });

  it('is closed by its finalizer when garbage-collected without close()', async () => {
    const result = await runFixture('poller-lifecycle.mjs', ['finalizer'], { nodeArgs: ['--expose-gc'] });
    expect(result.stderr).toBe('');
    const { before, during, after } = JSON.parse(result.stdout) as { before: number; during: number; after: number };
    expect(during).toBe(before + 200);
    expect(after).toBe(before);
  });

  it('is closed by the environment cleanup hook when its worker thread exits (and unloading is safe)', async () => {
    const result = await runFixture('poller-lifecycle.mjs', ['cleanup']);
    expect(result.signal).toBe(null);
    expect(result.stderr).toBe('');
    const { before, during, after } = JSON.parse(result.stdout) as { before: number; during: number; after: number };
    expect(during).toBeGreaterThanOrEqual(before + 20);
    expect(after).toBe(before);
  });

  it('does not keep the process alive once unref()ed', async () => {
    const result = await runFixture('poller-lifecycle.mjs', ['unref']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ exited: true, closed: false });
  });

  it("routes an exception thrown by the callback to 'uncaughtException'", async () => {
    const result = await runFixture('poller-lifecycle.mjs', ['throwing-callback']);
    expect(JSON.parse(result.stdout)).toEqual({ caught: 'boom from callback' });
  });
});

describe('Poller: driven by Node’s loop', () => {
  it('delivers events for 1,000 sockets while a setInterval keeps firing, and stays quiet when idle', async () => {
    const p = poller(256);
    const { fd: listener, address } = listenLoopback(constants.AF_INET, 1024);
    fds.push(listener);
    const clients: number[] = [];
    const servers: number[] = [];
    const out = new Int32Array(128);
    while (servers.length < 500) {
      if (clients.length < 500) {
        const c = tcpSocket();
        fds.push(c);
        clients.push(c);
        native.connect(c, address.bytes);
      }
      const n = native.accept(listener, out, null);
      for (let i = 0; i < n; i++) {
        fds.push(out[2 * i]!);
        servers.push(out[2 * i]!);
      }
      if (n <= 0 && clients.length === 500) await new Promise((r) => setImmediate(r));
    }
    // 1,000 sockets in the set: both ends of 500 connections
    for (const fd of [...clients, ...servers]) expect(p.add(fd, EPOLLIN)).toBe(0);

    let ticks = 0;
    const interval = setInterval(() => ticks++, 1);
    const received = new Set<number>();
    let callbacks = 0;
    const buf = new Uint8Array(16);
    p.start((count) => {
      callbacks++;
      expect(count).toBeGreaterThan(0);
      for (let i = 0; i < count; i++) {
        const fd = p.events[2 * i]!;
        while (native.recv(fd, buf) > 0) received.add(fd);
      }
    });
    try {
      // Five rounds, each needing both its events and a timer tick: the poller shares the loop.
      for (let round = 0; round < 5; round++) {
        const ticksAtStart = ticks;
        const batch = round % 2 === 0 ? clients : servers;
        for (const fd of batch) native.send(fd, new Uint8Array([round]));
        const peers = round % 2 === 0 ? servers : clients;
        received.clear();
        await waitFor(() => received.size === peers.length && ticks > ticksAtStart, `round ${round}`);
      }
      // Idle: nothing ready, so no callback while the timer ticks on (no spinning).
      const quietFrom = callbacks;
      const ticksNow = ticks;
      await waitFor(() => ticks >= ticksNow + 20, 'twenty idle ticks');
      expect(callbacks).toBe(quietFrom);
      expect(p.wait(0)).toBe(0);
    } finally {
      clearInterval(interval);
      p.stop();
    }
  });

  it('stop() suspends callbacks and start() resumes them', async () => {
    const p = poller();
    const [client, server] = await pair();
    p.add(server, EPOLLIN);
    let calls = 0;
    p.start(() => calls++);
    p.stop();
    native.send(client, new Uint8Array([1]));
    await waitFor(() => p.wait(0) === 1, 'ready while stopped');
    expect(calls).toBe(0);
    p.start(() => calls++);
    await waitFor(() => calls > 0, 'callback after restart');
    p.stop();
  });
});
