/** The loop on real timers, real sockets and real signals. */
import { afterEach, describe, expect, it } from 'vitest';
import { FD_EV_READY_R } from '../../src/fd/fd-types.js';
import { Loop, type LoopOptions } from '../../src/loop/loop.js';
import { native } from '../../src/native.js';
import {
  TASK_WOKEN_IO,
  TASK_WOKEN_SIGNAL,
  TASK_WOKEN_TIMER,
  type Task,
} from '../../src/task/task-types.js';
import { tickAdd } from '../../src/task/ticks.js';
import { closeAll, listenLoopback, tcpSocket, waitFor } from '../helpers/sockets.js';

const loops: Loop[] = [];
const fds: number[] = [];
afterEach(() => {
  for (const loop of loops.splice(0)) loop.close();
  closeAll(fds.splice(0));
});

function makeLoop(options: LoopOptions = {}): Loop {
  const loop = new Loop({ onError: (error) => { throw error; }, ...options });
  loops.push(loop);
  return loop;
}

async function connectedPair(): Promise<[number, number]> {
  const { fd: listener, address } = listenLoopback();
  const client = tcpSocket();
  fds.push(client);
  native.connect(client, address.bytes);
  const out = new Int32Array(2);
  await waitFor(() => native.accept(listener, out, null) > 0, 'accept');
  native.close(listener);
  fds.push(out[0]!);
  return [client, out[0]!];
}

describe('Loop: timers', () => {
  it('fires timers in expiry order and ends when the last job is gone', async () => {
    const loop = makeLoop();
    const fired: number[] = [];
    loop.jobs = 1;
    for (const delay of [30, 5, 20, 10, 25, 15]) {
      const task = loop.scheduler.taskNew((t, ctx: number, reasons) => {
        expect(reasons & TASK_WOKEN_TIMER).toBe(TASK_WOKEN_TIMER);
        fired.push(ctx);
        if (fired.length === 6) loop.jobs = 0;
        return null;
      }, delay);
      task.expire = tickAdd(loop.now, delay);
      loop.scheduler.taskQueue(task);
    }
    await loop.run();
    expect(fired).toEqual([5, 10, 15, 20, 25, 30]);
    const activity = loop.activity.toObject();
    expect(activity.timersExpired).toBe(6);
    expect(activity.pollExp).toBeGreaterThan(0);
    expect(activity.loops).toBeGreaterThan(1);
  });

  it('lazy requeue: a timer pushed later is not woken at its old date but at its new one', async () => {
    const loop = makeLoop();
    loop.jobs = 1;
    let wokenAt = 0;
    let newExpiry = 0;
    const task = loop.scheduler.taskNew((t) => {
      wokenAt = loop.now;
      loop.jobs = 0;
      return null;
    }, null);
    task.expire = tickAdd(loop.now, 5);
    loop.scheduler.taskQueue(task);
    const opsBefore = loop.scheduler.counters.waitQueueOps;
    newExpiry = tickAdd(loop.now, 40);
    task.expire = newExpiry;
    loop.scheduler.taskQueue(task); // later: stays where it is
    expect(loop.scheduler.counters.waitQueueOps).toBe(opsBefore);
    await loop.run();
    expect(loop.scheduler.counters.lazyRequeues).toBe(1);
    expect((wokenAt - newExpiry) | 0).toBeGreaterThanOrEqual(0);
  });
});

describe('Loop: now', () => {
  it('reads the clock once per turn (and per pinNow), fresh outside both', async () => {
    let tick = 1000;
    let reads = 0;
    const clock = { now: () => (reads++, tick) };
    const loop = makeLoop({ clock });
    loop.jobs = 1;
    const seen: number[] = [];
    const task = loop.scheduler.taskNew(() => {
      const readsBefore = reads;
      seen.push(loop.now);
      tick += 7; // time passes inside the turn: the turn keeps its tick, and reads nothing more
      seen.push(loop.now);
      expect(reads).toBe(readsBefore);
      loop.jobs = 0;
      return null;
    }, null);
    loop.taskWakeup(task, 0);
    await loop.run();
    expect(seen).toEqual([1000, 1000]);

    // Outside a turn each read is the clock's; between pinNow and unpinNow one read serves all.
    expect(loop.now).toBe(1007);
    tick = 2000;
    loop.pinNow();
    const pinnedReads = reads;
    tick = 2005;
    expect([loop.now, loop.now]).toEqual([2000, 2000]);
    loop.pinNow(); // nested: still the outer tick
    expect(loop.now).toBe(2000);
    loop.unpinNow();
    loop.unpinNow();
    expect(reads).toBe(pinnedReads);
    expect(loop.now).toBe(2005);
  });
});

describe('Loop: wake reasons', () => {
  it('a task woken by I/O sees IO, one woken by a signal sees SIGNAL', async () => {
    const loop = makeLoop();
    const [client, server] = await connectedPair();
    const seen: number[] = [];
    loop.jobs = 1;
    const task: Task = loop.scheduler.taskNew((t, _ctx, reasons) => {
      seen.push(reasons);
      if (seen.length === 2) loop.jobs = 0;
      return t;
    }, null);
    loop.fdtab.insert(server, task, (fd, ev) => {
      expect(ev & FD_EV_READY_R).toBe(FD_EV_READY_R);
      native.recv(fd, new Uint8Array(16));
      loop.fdtab.stopRecv(fd);
      loop.taskWakeup(task, TASK_WOKEN_IO);
      // then a signal, delivered for real
      process.kill(process.pid, 'SIGUSR2');
    });
    loop.fdtab.wantRecv(server);
    loop.signals.registerTask('SIGUSR2', task);
    const done = loop.run();
    native.send(client, new Uint8Array([1]));
    await done;
    expect(seen).toEqual([TASK_WOKEN_IO, TASK_WOKEN_SIGNAL]);
    expect(loop.activity.get('pollIo')).toBeGreaterThan(0);
    expect(loop.activity.get('signalsProcessed')).toBe(1);
  });

  it('runs function signal handlers from the loop and can stop it', async () => {
    const loop = makeLoop();
    loop.jobs = 1;
    let called = 0;
    loop.signals.registerFunction('SIGUSR1', () => {
      called++;
      loop.jobs = 0;
    });
    const done = loop.run();
    process.kill(process.pid, 'SIGUSR1');
    await done;
    expect(called).toBe(1);
    expect(loop.isRunning).toBe(false);
  });
});

describe('Loop: fairness', () => {
  it('a run queue that never empties does not starve fd events, nor Node’s own timers', async () => {
    const loop = makeLoop({ runBudget: 50 });
    const [client, server] = await connectedPair();
    loop.jobs = 1;
    let spins = 0;
    const spinner = loop.scheduler.taskNew((t) => {
      spins++;
      loop.scheduler.taskWakeup(t, TASK_WOKEN_IO); // always runnable again
      return t;
    }, null);
    loop.scheduler.taskWakeup(spinner, TASK_WOKEN_IO);
    let nodeTicks = 0;
    const interval = setInterval(() => nodeTicks++, 1);
    let spinsAtEvent = -1;
    loop.fdtab.insert(server, {}, (fd) => {
      native.recv(fd, new Uint8Array(16));
      spinsAtEvent = spins;
      loop.fdtab.stopRecv(fd);
    });
    loop.fdtab.wantRecv(server);
    const done = loop.run();
    try {
      await waitFor(() => nodeTicks >= 3, 'Node timers while tasks spin');
      native.send(client, new Uint8Array([1]));
      await waitFor(() => spinsAtEvent >= 0, 'the fd event');
    } finally {
      clearInterval(interval);
      loop.jobs = 0;
      loop.requestTurn();
    }
    await done;
    expect(spinsAtEvent).toBeGreaterThan(50); // tasks ran in several turns before the event…
    expect(spins).toBeGreaterThan(spinsAtEvent); // …and kept running after it
    const a = loop.activity.toObject();
    expect(a.wakeTasks).toBeGreaterThan(1);
    expect(a.tasksRun).toBe(spins);
  });
});

describe('Loop: pollers and modes', () => {
  it('runs on the poll(2) poller when epoll is disabled (-de)', async () => {
    const loop = makeLoop({ disabledPollers: ['epoll'] });
    expect(loop.poller.name).toBe('poll');
    const [client, server] = await connectedPair();
    loop.jobs = 1;
    loop.fdtab.insert(server, {}, (fd) => {
      native.recv(fd, new Uint8Array(16));
      loop.jobs = 0;
    });
    loop.fdtab.wantRecv(server);
    const done = loop.run();
    native.send(client, new Uint8Array([7]));
    await done;
    expect(loop.activity.get('pollIo')).toBe(1);
  });

  it('busy-polling keeps turning while idle, without blocking Node', async () => {
    const loop = makeLoop({ busyPolling: true });
    loop.jobs = 1;
    let nodeTicks = 0;
    const interval = setInterval(() => nodeTicks++, 1);
    const done = loop.run();
    await waitFor(() => nodeTicks >= 5, 'Node timers');
    clearInterval(interval);
    expect(loop.activity.get('loops')).toBeGreaterThan(5);
    loop.jobs = 0;
    loop.requestTurn();
    await done;
  });

  it('without busy-polling an idle loop sleeps: no turns while nothing happens', async () => {
    const loop = makeLoop();
    loop.jobs = 1;
    const done = loop.run();
    const turns = loop.activity.get('loops');
    let nodeTicks = 0;
    const interval = setInterval(() => nodeTicks++, 1);
    await waitFor(() => nodeTicks >= 10, 'ten Node ticks');
    clearInterval(interval);
    expect(loop.activity.get('loops')).toBe(turns);
    loop.jobs = 0;
    loop.requestTurn();
    await done;
  });

  it('ends at once when started without jobs; unstoppable jobs do not keep it running', async () => {
    const loop = makeLoop();
    await loop.run();
    loop.jobs = 1;
    loop.unstoppableJobs = 1;
    await loop.run();
    expect(loop.activity.get('loops')).toBe(2);
  });
});
