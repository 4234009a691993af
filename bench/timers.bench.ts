/**
 * Wait-queue costs with 100,000 timers. Run: npx vitest bench --run bench/timers.bench.ts
 *
 * One op of the first four benches handles all 100,000 timers; divide by 1e5 for a per-timer
 * figure. The steady-state bench does one re-arm and one expiry per op. The clock starts near
 * the 2^32 wrap so the wrap-aware comparisons are exercised on both sides of it.
 */
import { bench, describe } from 'vitest';
import { Scheduler } from '../src/task/scheduler.js';
import type { Task } from '../src/task/task-types.js';
import { ManualClock, tickAdd } from '../src/task/ticks.js';

const TIMERS = 100_000;
const START = 0xffffffff - 50_000;

/** Deterministic PRNG (mulberry32), so every run benches the same shuffled delays. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const random = prng(2024);
/** Delays up to 1000 s in random order: the worst case for insertion order. */
const shuffledDelays = Array.from({ length: TIMERS }, () => 1 + Math.floor(random() * 1_000_000));
const freeOnRun = (): null => null;

function fill(scheduler: Scheduler, now: number, delayOf: (i: number) => number): Task[] {
  const tasks: Task[] = new Array(TIMERS);
  for (let i = 0; i < TIMERS; i++) {
    const task = scheduler.taskNew(freeOnRun, i);
    task.expire = tickAdd(now, delayOf(i));
    scheduler.taskQueue(task);
    tasks[i] = task;
  }
  return tasks;
}

describe('wait queue, 100k timers', () => {
  // These two allocate their 100k tasks too (and the garbage collector then reclaims them), as
  // arming a fresh session's timers would.
  bench('taskNew + insert 100k, shuffled expiries', () => {
    fill(new Scheduler(), START, (i) => shuffledDelays[i]!);
  });

  bench('taskNew + insert 100k, ascending expiries (like a fixed timeout)', () => {
    fill(new Scheduler(), START, (i) => 1 + i);
  });

  // Each op pushes all 100k timers 1 ms later: the lazy path, no heap work at all.
  const lazyScheduler = new Scheduler();
  const lazyTasks = fill(lazyScheduler, START, (i) => shuffledDelays[i]!);
  bench('re-arm 100k later (lazy, left in place)', () => {
    for (const task of lazyTasks) {
      task.expire = tickAdd(task.expire, 1);
      lazyScheduler.taskQueue(task);
    }
  });

  // The contrast: each op brings all 100k timers 0-60 s earlier, which moves them up the heap.
  // They start 2^30 ms (12 days) out, which leaves room for thousands of ops before `now`.
  const eagerScheduler = new Scheduler();
  const eagerTasks = fill(eagerScheduler, START, (i) => 2 ** 30 + shuffledDelays[i]!);
  const earlierBy = Array.from({ length: TIMERS }, () => Math.floor(random() * 60_000));
  bench('re-arm 100k earlier by 0-60 s (repositioned)', () => {
    for (let i = 0; i < TIMERS; i++) {
      const task = eagerTasks[i]!;
      task.expire = (task.expire - earlierBy[i]!) >>> 0;
      eagerScheduler.taskQueue(task);
    }
  });

  // tinybench has no per-iteration setup, so the op puts back what it drained: every timer is
  // re-armed in ascending order, where an insertion stops at the bottom of the heap at once. The
  // drained tasks stay in the run queue (waking a queued task only adds a reason), so nothing is
  // allocated and the op is mostly the drain.
  const drainClock = new ManualClock(START);
  const drainScheduler = new Scheduler();
  const drainTasks = fill(drainScheduler, START, (i) => 1 + i);
  bench('wakeExpired draining 100k (+ ascending re-insert)', () => {
    const now = drainClock.advance(TIMERS);
    const woken = drainScheduler.wakeExpired(now);
    if (woken !== TIMERS) throw new Error(`drained ${woken} timers instead of ${TIMERS}`);
    for (let i = 0; i < TIMERS; i++) {
      const task = drainTasks[i]!;
      task.expire = tickAdd(now, 1 + i);
      drainScheduler.taskQueue(task);
    }
  });
});

describe('steady state, 100k pending', () => {
  // Every op: the clock moves 1 ms, which expires exactly one timer; its task runs and re-arms
  // 100 s ahead (a periodic check); and one other timer is pushed later (a timeout refreshed by
  // I/O), lazily. Those pushed timers are requeued when their stale key comes up, which is part
  // of the measured cost.
  const clock = new ManualClock(START);
  const scheduler = new Scheduler();
  const rearmAhead = (task: Task): Task => {
    task.expire = tickAdd(clock.now(), TIMERS);
    return task;
  };
  const tasks: Task[] = [];
  for (let i = 0; i < TIMERS; i++) {
    const task = scheduler.taskNew(rearmAhead, i);
    task.expire = tickAdd(START, 1 + i); // one timer per millisecond
    scheduler.taskQueue(task);
    tasks.push(task);
  }
  let refreshed = 0;

  bench('1 expiry + 1 lazy re-arm per op', () => {
    const now = clock.advance(1);
    scheduler.wakeExpired(now);
    scheduler.runTasks(200);
    const task = tasks[refreshed]!;
    refreshed = (refreshed + 7919) % TIMERS; // a prime stride: touches every timer, out of order
    task.expire = tickAdd(now, TIMERS + 1 + (refreshed % 1000));
    scheduler.taskQueue(task);
  });
});
