/**
 * The poll(2) poller's native half: pollOnce() on real loopback sockets, and the PollWatcher
 * thread that lets Node's loop sleep on a poll(2) set without blocking or spinning.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EpoxyError, ErrorCodes } from '../../src/errors.js';
import { constants, native, pollConstants, type NativePollWatcher } from '../../src/native.js';
import { runFixture } from '../helpers/child.js';
import { POLL_THREAD_NAME, threadsNamed } from '../helpers/threads.mjs';
import { closeAll, fdCount, waitFor, connectedPair } from '../helpers/sockets.js';

const { POLLIN, POLLOUT, POLLRDHUP, POLLHUP, POLLNVAL, POLLERR } = pollConstants;

const fds: number[] = [];
const watchers: NativePollWatcher[] = [];
const intervals: NodeJS.Timeout[] = [];
afterEach(() => {
  for (const i of intervals.splice(0)) clearInterval(i);
  for (const w of watchers.splice(0)) w.close();
  closeAll(fds.splice(0));
});

const pollThreads = (): number => threadsNamed(POLL_THREAD_NAME);

function watcher(): NativePollWatcher {
  const w = new native.PollWatcher();
  watchers.push(w);
  return w;
}

/** A connected loopback pair [client, server], closed after the test. */
const pair = (): Promise<[number, number]> => connectedPair(fds);

/** A setInterval(1ms) tick counter: proof that Node's loop keeps turning. */
function ticker(): { readonly ticks: number } {
  const state = { ticks: 0 };
  intervals.push(setInterval(() => state.ticks++, 1));
  return state;
}

/** Waits for `n` more ticks of `t`. */
async function ticks(t: { readonly ticks: number }, n: number, what: string): Promise<void> {
  const target = t.ticks + n;
  await waitFor(() => t.ticks >= target, what);
}

function expectCode(call: () => unknown, code: string): void {
  let caught: unknown;
  try {
    call();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(EpoxyError);
  expect((caught as EpoxyError).code).toBe(code);
}

describe('pollOnce', () => {
  it('reports a socket readable once the peer has sent, and writable at once', async () => {
    const [client, server] = await pair();
    const set = new Int32Array([server, POLLIN, -1, client, POLLOUT, -1]);
    expect(native.pollOnce(set, 2, 0)).toBe(1);
    expect([set[2], set[5]]).toEqual([0, POLLOUT]);
    native.send(client, new Uint8Array([7]));
    await waitFor(() => native.pollOnce(set, 2, 0) === 2, 'readable');
    expect(set[2]).toBe(POLLIN);
    expect(set[5]).toBe(POLLOUT);
  });

  it('reports POLLRDHUP after a FIN, and POLLHUP once both directions are shut', async () => {
    const [client, server] = await pair();
    const set = new Int32Array([server, POLLIN | POLLRDHUP, 0]);
    expect(native.pollOnce(set, 1, 0)).toBe(0);
    native.shutdown(client, constants.SHUT_WR);
    await waitFor(() => native.pollOnce(set, 1, 0) === 1, 'FIN');
    expect(set[2]! & (POLLIN | POLLRDHUP)).toBe(POLLIN | POLLRDHUP);
    expect(set[2]! & POLLHUP).toBe(0);
    native.shutdown(server, constants.SHUT_WR);
    expect(native.pollOnce(set, 1, 0)).toBe(1);
    expect(set[2]! & POLLHUP).toBe(POLLHUP);
  });

  it('skips a negative fd and reports POLLNVAL for a number that is no open fd', () => {
    const set = new Int32Array([-1, POLLIN, 99, 999_999, POLLIN, 0]);
    expect(native.pollOnce(set, 2, 0)).toBe(1);
    expect(set[2]).toBe(0);
    expect(set[5]).toBe(POLLNVAL);
  });

  it('polls only the first `count` triplets and accepts an empty set', () => {
    const set = new Int32Array([999_999, POLLIN, 0, 999_998, POLLIN, 0]);
    expect(native.pollOnce(set, 1, 0)).toBe(1);
    expect(set[5]).toBe(0);
    expect(native.pollOnce(set, 0, 0)).toBe(0);
    expect(native.pollOnce(new Int32Array(0), 0)).toBe(0);
  });

  it('waits up to a positive timeout when nothing is ready', async () => {
    const [, server] = await pair();
    const set = new Int32Array([server, POLLIN, 0]);
    const start = process.hrtime.bigint();
    expect(native.pollOnce(set, 1, 30)).toBe(0);
    expect(Number(process.hrtime.bigint() - start) / 1e6).toBeGreaterThanOrEqual(25);
  });

  it('rejects a negative count, a count beyond the array and other arrays with ERR_EPOXY_INVALID_ARG', () => {
    const set = new Int32Array(6);
    expectCode(() => native.pollOnce(set, -1, 0), ErrorCodes.INVALID_ARG);
    expectCode(() => native.pollOnce(set, 3, 0), ErrorCodes.INVALID_ARG);
    expectCode(() => native.pollOnce(new Int32Array(5), 2, 0), ErrorCodes.INVALID_ARG);
    expectCode(() => native.pollOnce(new Uint32Array(6) as unknown as Int32Array, 1, 0), ErrorCodes.INVALID_ARG);
    expectCode(() => native.pollOnce([0, 1, 0] as unknown as Int32Array, 1, 0), ErrorCodes.INVALID_ARG);
    expectCode(() => native.pollOnce(set, '1' as unknown as number, 0), ErrorCodes.INVALID_ARG);
  });

  it('returns -EINVAL, without throwing, for a set larger than RLIMIT_NOFILE', () => {
    const limit = native.getNofileLimit();
    const soft = 256;
    if (fdCount() > soft - 16) return; // cannot lower the limit under what is open
    native.setNofileLimit(soft, limit.hard);
    try {
      const set = new Int32Array(3 * (soft + 1)).fill(-1);
      expect(native.errnoName(native.pollOnce(set, soft + 1, 0))).toBe('EINVAL');
      expect(native.pollOnce(set, soft, 0)).toBe(0);
    } finally {
      native.setNofileLimit(limit.soft, limit.hard);
    }
  });
});

describe('PollWatcher: notifications from Node’s loop', () => {
  it('calls back when an armed fd becomes readable, while a setInterval keeps ticking', async () => {
    const [client, server] = await pair();
    const t = ticker();
    const w = watcher();
    const results: number[] = [];
    w.start((result) => results.push(result));
    expect(w.arm(new Int32Array([server, POLLIN, 0]), 1)).toBe(0);
    // Armed on an fd that is not ready: the thread blocks in poll(2), the loop does not.
    await ticks(t, 20, 'ticks while armed and idle');
    expect(results).toEqual([]);
    const ticksAtSend = t.ticks;
    native.send(client, new Uint8Array([1]));
    await waitFor(() => results.length === 1 && t.ticks > ticksAtSend, 'callback and a tick');
    expect(results).toEqual([1]);
  });

  it('calls back once per arm: an fd left unread does not fire again until re-armed', async () => {
    const [client, server] = await pair();
    const t = ticker();
    const w = watcher();
    let calls = 0;
    w.start(() => calls++);
    const set = new Int32Array([server, POLLIN, 0]);
    w.arm(set, 1);
    native.send(client, new Uint8Array([1]));
    await waitFor(() => calls === 1, 'first callback');
    // The byte is never read: level-triggered, the fd stays ready. No spinning, no repeats.
    await ticks(t, 20, 'twenty ticks after the callback');
    expect(calls).toBe(1);
    w.arm(set, 1);
    await waitFor(() => calls === 2, 'callback after re-arming');
    await ticks(t, 20, 'twenty ticks after the second callback');
    expect(calls).toBe(2);
  });

  it('disarm() stops notifications until the next arm()', async () => {
    const [client, server] = await pair();
    const t = ticker();
    const w = watcher();
    let calls = 0;
    w.start(() => calls++);
    const set = new Int32Array([server, POLLIN, 0]);
    w.arm(set, 1);
    w.disarm();
    native.send(client, new Uint8Array([1]));
    await ticks(t, 20, 'twenty ticks while disarmed');
    expect(calls).toBe(0);
    w.arm(set, 1);
    await waitFor(() => calls === 1, 'callback after arming again');
  });

  it('arm() with a new set interrupts a poll(2) under way on the old one', async () => {
    const [clientA, serverA] = await pair();
    const [, serverB] = await pair();
    const [clientC, serverC] = await pair();
    const t = ticker();
    const w = watcher();
    const results: number[] = [];
    w.start((result) => results.push(result));
    w.arm(new Int32Array([serverA, POLLIN, 0]), 1);
    await ticks(t, 10, 'the thread settling into poll(2) on A');
    // B is writable already: only a thread that left its poll(2) on A can report it.
    w.arm(new Int32Array([serverB, POLLOUT, 0]), 1);
    await waitFor(() => results.length === 1, 'callback for the new set');
    expect(results).toEqual([1]);
    // And A is no longer watched: data on it goes unreported while C is armed.
    w.arm(new Int32Array([serverC, POLLIN, 0]), 1);
    native.send(clientA, new Uint8Array([1]));
    await ticks(t, 20, 'twenty ticks with data on A only');
    expect(results).toEqual([1]);
    native.send(clientC, new Uint8Array([1]));
    await waitFor(() => results.length === 2, 'callback for C');
  });

  it('watches a set armed before start(), and counts every ready fd', async () => {
    const [client, server] = await pair();
    const w = watcher();
    w.arm(new Int32Array([server, POLLOUT, 0, client, POLLOUT, 0]), 2);
    const results: number[] = [];
    w.start((result) => results.push(result));
    await waitFor(() => results.length === 1, 'callback');
    expect(results).toEqual([2]);
  });

  it('reports errors and hang-ups it was not asked about, as poll(2) does', async () => {
    const [client, server] = await pair();
    const w = watcher();
    let calls = 0;
    w.start(() => calls++);
    w.arm(new Int32Array([server, 0, 0]), 1);
    native.setsockopt(client, 'SO_LINGER', { enabled: true, seconds: 0 });
    native.close(client); // RST
    fds.splice(fds.indexOf(client), 1);
    await waitFor(() => calls === 1, 'callback on RST');
    const set = new Int32Array([server, 0, 0]);
    expect(native.pollOnce(set, 1, 0)).toBe(1);
    expect(set[2]! & (POLLHUP | POLLERR)).not.toBe(0);
  });
});

describe('PollWatcher: lifecycle', () => {
  it('close() is idempotent; every later call is ERR_EPOXY_HANDLE_CLOSED, never a crash', () => {
    const before = fdCount();
    const w = new native.PollWatcher();
    expect(fdCount()).toBe(before + 2); // the wake pipe
    w.start(() => {});
    w.arm(new Int32Array([-1, POLLIN, 0]), 1);
    expect(w.closed).toBe(false);
    w.close();
    w.close();
    expect(w.closed).toBe(true);
    expect(fdCount()).toBe(before);
    const set = new Int32Array(3);
    for (const call of [() => w.start(() => {}), () => w.arm(set, 1), () => w.disarm(), () => w.ref(),
      () => w.unref()]) {
      expectCode(call, ErrorCodes.HANDLE_CLOSED);
    }
  });

  it('rejects a non-function callback and a set that does not fit with ERR_EPOXY_INVALID_ARG', () => {
    const w = watcher();
    expectCode(() => w.start(42 as unknown as () => void), ErrorCodes.INVALID_ARG);
    expectCode(() => w.arm(new Int32Array(3), 2), ErrorCodes.INVALID_ARG);
    expectCode(() => w.arm(new Int32Array(3), -1), ErrorCodes.INVALID_ARG);
    expectCode(() => w.arm(new Float64Array(3) as unknown as Int32Array, 1), ErrorCodes.INVALID_ARG);
  });

  it('runs one thread while started, and 1,000 open/close cycles leave fds and threads unchanged', async () => {
    const [, server] = await pair();
    const fdsBefore = fdCount();
    const threadsBefore = pollThreads();
    const probe = watcher();
    probe.start(() => {});
    await waitFor(() => pollThreads() === threadsBefore + 1, 'the started watcher thread to be named');
    probe.close();
    await waitFor(() => pollThreads() === threadsBefore, 'the joined thread to leave /proc/self/task');
    for (let i = 0; i < 1000; i++) {
      const w = new native.PollWatcher();
      // Alternately closed while blocked in poll(2), while waiting to be armed, and never started.
      if (i % 3 !== 2) w.start(() => {});
      if (i % 3 === 0) w.arm(new Int32Array([server, POLLIN, 0]), 1);
      w.close();
    }
    expect(fdCount()).toBe(fdsBefore);
    await waitFor(() => pollThreads() === threadsBefore, 'all 667 joined threads to leave /proc/self/task');
    await new Promise((resolve) => setImmediate(resolve)); // the uv_async_t close callbacks
    expect(fdCount()).toBe(fdsBefore);
  });

  it('does not keep the process alive once unref()ed, even while armed and polling', async () => {
    const result = await runFixture('pollset-lifecycle.mjs', ['unref']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ exited: true, closed: false });
  });

  it('is closed by its finalizer when garbage-collected without close()', async () => {
    const result = await runFixture('pollset-lifecycle.mjs', ['finalizer'], { nodeArgs: ['--expose-gc'] });
    expect(result.stderr).toBe('');
    const { before, during, after } = JSON.parse(result.stdout) as { before: number; during: number; after: number };
    expect(during).toBe(before + 400);
    expect(after).toBe(before);
  });

  it('is closed (thread joined) by the cleanup hooks when its worker thread exits, and unloading is safe', async () => {
    const result = await runFixture('pollset-lifecycle.mjs', ['cleanup']);
    expect(result.signal).toBe(null);
    expect(result.stderr).toBe('');
    type Counts = { fds: number; tasks: number };
    const { before, during, after } = JSON.parse(result.stdout) as { before: Counts; during: Counts; after: Counts };
    expect(during.fds).toBeGreaterThanOrEqual(before.fds + 40);
    expect(during.tasks).toBe(before.tasks + 20);
    expect(after).toEqual(before);
  });

  it("routes an exception thrown by the callback to 'uncaughtException'", async () => {
    const result = await runFixture('pollset-lifecycle.mjs', ['throwing-callback']);
    expect(JSON.parse(result.stdout)).toEqual({ caught: 'boom from poll watcher' });
  });
});
