import { describe, it, expect } from 'vitest';
import { Scheduler } from '../../src/task/scheduler.js';
import {
  TASK_FREED,
  TASK_IN_WAIT_QUEUE,
  TASK_KILLED,
  TASK_QUEUED,
  TASK_WOKEN_INIT,
  TASK_WOKEN_IO,
  TASK_WOKEN_MSG,
  TASK_WOKEN_OTHER,
  TASK_WOKEN_SIGNAL,
  TASK_WOKEN_TIMER,
  type Task,
  type TaskHandler,
} from '../../src/task/task-types.js';
import { ManualClock, TICK_ETERNITY, tickAdd, tickIsLe, tickIsLt } from '../../src/task/ticks.js';

/** Deterministic PRNG (mulberry32) so a failure can be replayed. */
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

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

interface Run {
  id: number;
  reasons: number;
  now: number;
}

/** A scheduler, a manual clock, and tasks that log every run. */
function harness(startTick: number) {
  const clock = new ManualClock(startTick);
  const errors: { error: unknown; task: Task }[] = [];
  const scheduler = new Scheduler({ onError: (error, task) => errors.push({ error, task }) });
  const runs: Run[] = [];

  /** A task that logs its run and then does what `then` says (default: stay alive, timer cleared). */
  function task(id: number, then?: TaskHandler<number>): Task<number> {
    return scheduler.taskNew<number>((self, context, reasons) => {
      runs.push({ id: context, reasons, now: clock.now() });
      if (then) return then(self, context, reasons);
      self.expire = TICK_ETERNITY;
      return self;
    }, id);
  }

  function arm(t: Task<number>, ms: number): void {
    t.expire = tickAdd(clock.now(), ms);
    scheduler.taskQueue(t);
  }

  /** One loop turn at the current clock: wake expired timers, run everything runnable. */
  function turn(): number {
    const woken = scheduler.wakeExpired(clock.now());
    while (scheduler.hasRunnable()) scheduler.runTasks(1000);
    return woken;
  }

  /** Advances the clock one millisecond at a time for `ms`, one turn per millisecond. */
  function tick(ms: number): void {
    for (let i = 0; i < ms; i++) {
      clock.advance(1);
      turn();
    }
  }

  return { clock, scheduler, runs, errors, task, arm, turn, tick };
}

describe('timers fire in expiry order', () => {
  it.each([
    ['far from the wrap', 1_000],
    ['across the 2^32 wrap', 0xffffffff - 2_500],
  ])('%s', (_label, start) => {
    const h = harness(start);
    const random = prng(7);
    const delays = shuffle(
      Array.from({ length: 2_000 }, (_, i) => 1 + (i % 5_000) + Math.floor(random() * 3_000)),
      random,
    );
    const expiryOf = new Map<number, number>();
    delays.forEach((delay, id) => {
      const t = h.task(id);
      h.arm(t, delay);
      expiryOf.set(id, t.expire);
    });

    h.tick(9_000);

    expect(h.runs).toHaveLength(delays.length);
    for (const run of h.runs) {
      expect(run.reasons).toBe(TASK_WOKEN_TIMER);
      // Exactly on time: driven 1 ms at a time, each timer runs in the turn of its expiry.
      expect(run.now).toBe(expiryOf.get(run.id));
    }
    for (let i = 1; i < h.runs.length; i++) {
      expect(tickIsLe(expiryOf.get(h.runs[i - 1]!.id)!, expiryOf.get(h.runs[i]!.id)!)).toBe(true);
    }
    expect(h.scheduler.counters.timersExpired).toBe(delays.length);
    expect(h.scheduler.waitQueueLength).toBe(0);
  });

  it('timers armed for the same millisecond fire in arming order', () => {
    const h = harness(100);
    const ids = shuffle(Array.from({ length: 50 }, (_, i) => i), prng(3));
    for (const id of ids) h.arm(h.task(id), 10);
    h.tick(10);
    expect(h.runs.map((r) => r.id)).toEqual(ids);
  });

  it('a timer moved earlier onto a busy millisecond fires after the timers already there', () => {
    const h = harness(100);
    const late = h.task(3);
    h.arm(late, 50);
    h.arm(h.task(1), 10);
    h.arm(h.task(2), 10);
    h.arm(late, 10);
    h.tick(50);
    expect(h.runs.map((r) => [r.id, r.now])).toEqual([
      [1, 110],
      [2, 110],
      [3, 110],
    ]);
  });

  it('does not fire a timer one millisecond early, even when the clock jumps', () => {
    const h = harness(0xfffffff0);
    h.arm(h.task(1), 40); // lands after the wrap
    h.clock.advance(39);
    expect(h.turn()).toBe(0);
    h.clock.advance(500); // a late turn fires it, late but once
    expect(h.turn()).toBe(1);
    expect(h.runs).toEqual([{ id: 1, reasons: TASK_WOKEN_TIMER, now: h.clock.now() }]);
  });

  it('nextExpiry reports the earliest key, across the wrap, and ETERNITY when empty', () => {
    const h = harness(0xffffff00);
    expect(h.scheduler.nextExpiry()).toBe(TICK_ETERNITY);
    h.arm(h.task(1), 0x200); // after the wrap: 0x100
    h.arm(h.task(2), 0xf0); // before it: 0xFFFFFFF0
    expect(h.scheduler.nextExpiry()).toBe(0xfffffff0);
  });
});

describe('lazy requeue', () => {
  it('leaves a timer pushed later at its old place, then requeues it there instead of waking it', () => {
    const h = harness(1_000);
    const t = h.task(1);
    h.arm(t, 100); // 1100
    const other = h.task(2);
    h.arm(other, 300); // 1300
    const opsAfterArming = h.scheduler.counters.waitQueueOps;

    h.arm(t, 500); // pushed later, to 1500
    expect(t.expire).toBe(1_500);
    expect(t.waitQueueKey).toBe(1_100);
    expect(h.scheduler.counters.waitQueueOps).toBe(opsAfterArming); // no heap operation
    expect(h.scheduler.nextExpiry()).toBe(1_100);

    h.tick(100); // 1100: the walk reaches the stale key
    expect(h.runs).toEqual([]);
    expect(h.scheduler.counters.lazyRequeues).toBe(1);
    expect(t.waitQueueKey).toBe(1_500);
    expect(t.state & TASK_IN_WAIT_QUEUE).toBe(TASK_IN_WAIT_QUEUE);
    expect(h.scheduler.nextExpiry()).toBe(1_300);

    h.tick(399); // 1499
    expect(h.runs.map((r) => [r.id, r.now])).toEqual([[2, 1_300]]);
    h.tick(1); // 1500
    expect(h.runs.map((r) => [r.id, r.now])).toEqual([
      [2, 1_300],
      [1, 1_500],
    ]);
    expect(h.scheduler.counters.timersExpired).toBe(2);
  });

  it('moves a timer brought earlier at once', () => {
    const h = harness(1_000);
    const t = h.task(1);
    h.arm(t, 500); // 1500
    h.arm(h.task(2), 300); // 1300
    const opsBefore = h.scheduler.counters.waitQueueOps;

    h.arm(t, 200); // 1200
    expect(h.scheduler.counters.waitQueueOps).toBe(opsBefore + 1);
    expect(t.waitQueueKey).toBe(1_200);
    expect(h.scheduler.nextExpiry()).toBe(1_200);

    h.tick(199);
    expect(h.runs).toEqual([]);
    h.tick(1);
    expect(h.runs).toEqual([{ id: 1, reasons: TASK_WOKEN_TIMER, now: 1_200 }]);
    h.tick(400); // and not a second time at its old key
    expect(h.runs.map((r) => r.id)).toEqual([1, 2]);
  });

  it('a timer pushed later many times costs one requeue per key reached, not one heap move per push', () => {
    const h = harness(0);
    const t = h.task(1);
    h.arm(t, 10);
    const opsAfterArming = h.scheduler.counters.waitQueueOps;
    for (let i = 0; i < 1_000; i++) h.arm(t, 11 + i);
    expect(h.scheduler.counters.waitQueueOps).toBe(opsAfterArming);
    h.tick(10); // reaches the stale key: one removal, one insertion at 1010
    expect(h.scheduler.counters.waitQueueOps).toBe(opsAfterArming + 2);
    expect(h.runs).toEqual([]);
    h.tick(1_000);
    expect(h.runs).toEqual([{ id: 1, reasons: TASK_WOKEN_TIMER, now: 1_010 }]);
  });

  it('a cleared expiry never fires and is dropped when its old key is reached', () => {
    const h = harness(50);
    const t = h.task(1);
    h.arm(t, 100);
    t.expire = TICK_ETERNITY;
    h.scheduler.taskQueue(t);
    h.tick(100);
    expect(h.scheduler.counters.lazyDrops).toBe(1);
    expect(h.scheduler.waitQueueLength).toBe(0);
    expect(t.state & TASK_IN_WAIT_QUEUE).toBe(0);
    h.tick(10_000);
    expect(h.runs).toEqual([]);
    expect(h.scheduler.nextExpiry()).toBe(TICK_ETERNITY);
  });
});

describe('wakeups', () => {
  it('a woken task sees every reason OR-ed, and is queued once', () => {
    const h = harness(0);
    const t = h.task(1);
    h.scheduler.taskWakeup(t, TASK_WOKEN_IO);
    h.scheduler.taskWakeup(t, TASK_WOKEN_SIGNAL);
    h.scheduler.taskWakeup(t, TASK_WOKEN_IO);
    expect(h.scheduler.runQueueLength).toBe(1);
    expect(t.pendingReasons).toBe(TASK_WOKEN_IO | TASK_WOKEN_SIGNAL);
    expect(h.scheduler.runTasks(10)).toBe(1);
    expect(h.runs).toEqual([{ id: 1, reasons: TASK_WOKEN_IO | TASK_WOKEN_SIGNAL, now: 0 }]);
    expect(t.pendingReasons).toBe(0);

    h.scheduler.taskWakeup(t, TASK_WOKEN_MSG); // the next run sees only what came after
    h.scheduler.runTasks(10);
    expect(h.runs[1]?.reasons).toBe(TASK_WOKEN_MSG);
  });

  it('a wakeup without a reason counts as OTHER', () => {
    const h = harness(0);
    h.scheduler.taskWakeup(h.task(1), 0);
    h.scheduler.runTasks(1);
    expect(h.runs[0]?.reasons).toBe(TASK_WOKEN_OTHER);
  });

  it('a task woken while it runs runs again after it returns, with the new reasons', () => {
    const h = harness(0);
    let runsLeft = 2;
    const queuedWhileRunning: number[] = [];
    const t = h.task(1, (self) => {
      if (--runsLeft > 0) h.scheduler.taskWakeup(self, TASK_WOKEN_MSG);
      queuedWhileRunning.push(self.state & TASK_QUEUED);
      return self;
    });
    h.scheduler.taskWakeup(t, TASK_WOKEN_INIT);
    expect(h.scheduler.runTasks(1)).toBe(1);
    expect(h.scheduler.hasRunnable()).toBe(true);
    expect(h.scheduler.runTasks(10)).toBe(1);
    expect(h.runs.map((r) => r.reasons)).toEqual([TASK_WOKEN_INIT, TASK_WOKEN_MSG]);
    expect(queuedWhileRunning).toEqual([0, 0]); // the wakeup took effect after the handler returned
    expect(h.scheduler.hasRunnable()).toBe(false);
  });

  it('an I/O wakeup leaves the timer armed; the task keeps it by returning itself', () => {
    const h = harness(0);
    const t = h.task(1, (self) => self); // keeps its expire
    h.arm(t, 100);
    const opsAfterArming = h.scheduler.counters.waitQueueOps;
    h.clock.advance(30);
    h.scheduler.taskWakeup(t, TASK_WOKEN_IO);
    h.turn();
    expect(h.scheduler.counters.waitQueueOps).toBe(opsAfterArming); // same expiry: untouched
    h.tick(70);
    expect(h.runs).toEqual([
      { id: 1, reasons: TASK_WOKEN_IO, now: 30 },
      { id: 1, reasons: TASK_WOKEN_TIMER, now: 100 },
    ]);
  });

  it('a periodic task re-arms itself from its handler', () => {
    const h = harness(0xffffffe2); // 30 ms before the wrap: the third run lands on tick 0
    const t = h.task(1, (self) => {
      self.expire = tickAdd(h.clock.now(), 10);
      return self;
    });
    h.arm(t, 10);
    h.tick(45);
    // 0 means "no timer", so the date that lands on it fires at 1, and the period restarts there.
    expect(h.runs.map((r) => r.now)).toEqual([0xffffffec, 0xfffffff6, 1, 11]);
  });
});

describe('freeing and killing', () => {
  it('a handler returning null frees the task from every queue', () => {
    const h = harness(0);
    const t = h.task(1, () => null);
    h.arm(t, 100);
    h.scheduler.taskWakeup(t, TASK_WOKEN_IO);
    h.turn();
    expect(t.state & TASK_FREED).toBe(TASK_FREED);
    expect(h.scheduler.waitQueueLength).toBe(0);
    // Late wakeups and requeues are ignored.
    h.scheduler.taskWakeup(t, TASK_WOKEN_IO);
    h.scheduler.taskQueue(t);
    expect(h.scheduler.hasRunnable()).toBe(false);
    h.tick(200);
    expect(h.runs).toEqual([{ id: 1, reasons: TASK_WOKEN_IO, now: 0 }]);
  });

  it('a task killed by another handler does not run, from the run queue or the wait queue', () => {
    const h = harness(0);
    const queued = h.task(2);
    const sleeping = h.task(3);
    const killer = h.task(1, (self) => {
      h.scheduler.taskKill(queued);
      h.scheduler.taskKill(sleeping);
      return self;
    });
    h.arm(queued, 50);
    h.arm(sleeping, 60);
    h.scheduler.taskWakeup(killer, TASK_WOKEN_INIT);
    h.scheduler.taskWakeup(queued, TASK_WOKEN_INIT);
    expect(h.scheduler.runTasks(10)).toBe(1);
    expect(h.scheduler.hasRunnable()).toBe(false);
    expect(h.scheduler.waitQueueLength).toBe(0);
    expect(queued.state).toBe(TASK_KILLED | TASK_FREED);
    expect(sleeping.state).toBe(TASK_KILLED | TASK_FREED);
    h.scheduler.taskWakeup(queued, TASK_WOKEN_IO);
    h.tick(100);
    expect(h.runs.map((r) => r.id)).toEqual([1]);
  });

  it('taskRenew: a freed task serves a new context like a new task; one not freed yet is refused', () => {
    const h = harness(0);
    let renewedInside: boolean | null = null;
    const t = h.task(1, (self) => {
      h.scheduler.taskKill(self);
      renewedInside = h.scheduler.taskRenew(self, 2); // its handler still runs: not yet
      return null;
    });
    expect(h.scheduler.taskRenew(t, 2)).toBe(false); // alive
    h.arm(t, 5);
    h.tick(5);
    expect(renewedInside).toBe(false);
    expect(t.state).toBe(TASK_KILLED | TASK_FREED);
    expect(h.scheduler.taskRenew(t, 2)).toBe(true);
    expect([t.state, t.expire, t.context]).toEqual([0, TICK_ETERNITY, 2]);
    t.expire = tickAdd(h.clock.now(), 3);
    h.scheduler.taskQueue(t);
    h.tick(2);
    expect(h.runs).toHaveLength(1); // not before its new date
    h.tick(1);
    expect(h.runs.map((r) => r.id)).toEqual([1, 2]);
  });

  it('a task killed by its own handler finishes its run and is freed, even if it returns itself', () => {
    const h = harness(0);
    let waitQueueAfterKill = -1;
    const t = h.task(1, (self) => {
      h.scheduler.taskKill(self);
      waitQueueAfterKill = h.scheduler.waitQueueLength; // its timer is gone at once, not on return
      h.scheduler.taskWakeup(self, TASK_WOKEN_MSG); // ignored: killed
      self.expire = tickAdd(h.clock.now(), 10);
      return self;
    });
    h.arm(t, 5);
    h.scheduler.taskWakeup(t, TASK_WOKEN_INIT);
    h.turn();
    expect(waitQueueAfterKill).toBe(0);
    expect(t.state).toBe(TASK_KILLED | TASK_FREED);
    expect(h.scheduler.waitQueueLength).toBe(0);
    h.tick(50);
    expect(h.runs).toHaveLength(1);
  });
});

describe('runTasks', () => {
  it('runs a long run queue in FIFO batches bounded by the budget', () => {
    const h = harness(0);
    for (let id = 0; id < 1_000; id++) h.scheduler.taskWakeup(h.task(id, () => null), TASK_WOKEN_INIT);
    expect(h.scheduler.counters.maxRunQueue).toBe(1_000);
    const batches: number[] = [];
    while (h.scheduler.hasRunnable()) {
      batches.push(h.scheduler.runTasks(300));
      expect(h.scheduler.runQueueLength).toBe(1_000 - h.runs.length);
    }
    expect(batches).toEqual([300, 300, 300, 100]);
    expect(h.runs.map((r) => r.id)).toEqual(Array.from({ length: 1_000 }, (_, i) => i));
    expect(h.scheduler.runTasks(300)).toBe(0);
    expect(h.scheduler.counters.tasksRun).toBe(1_000);
  });

  it('a budget of 0 runs nothing', () => {
    const h = harness(0);
    h.scheduler.taskWakeup(h.task(1), TASK_WOKEN_INIT);
    expect(h.scheduler.runTasks(0)).toBe(0);
    expect(h.scheduler.hasRunnable()).toBe(true);
  });

  it('a handler that throws is counted and reported, freed, and does not stop the next tasks', () => {
    const h = harness(0);
    const boom = new Error('boom');
    const bad = h.task(2, () => {
      throw boom;
    });
    h.arm(bad, 100);
    for (const t of [h.task(1), bad, h.task(3)]) h.scheduler.taskWakeup(t, TASK_WOKEN_IO);
    expect(h.scheduler.runTasks(10)).toBe(3);
    expect(h.runs.map((r) => r.id)).toEqual([1, 2, 3]);
    expect(h.scheduler.counters.handlerErrors).toBe(1);
    expect(h.errors).toEqual([{ error: boom, task: bad }]);
    expect(bad.state & TASK_FREED).toBe(TASK_FREED);
    expect(h.scheduler.waitQueueLength).toBe(0);
    h.tick(200);
    expect(h.runs).toHaveLength(3);
  });

  it('reports a handler returning another task as an error', () => {
    const h = harness(0);
    const other = h.task(2);
    const t = h.task(1, () => other);
    h.scheduler.taskWakeup(t, TASK_WOKEN_INIT);
    h.scheduler.runTasks(1);
    expect(h.scheduler.counters.handlerErrors).toBe(1);
    expect(h.errors[0]?.error).toMatchObject({ code: 'ERR_EPOXY_INVALID_ARG' });
    expect(t.state & TASK_FREED).toBe(TASK_FREED);
    expect(other.state & TASK_FREED).toBe(0);
  });

  it('refuses to be re-entered from a handler', () => {
    const h = harness(0);
    const t = h.task(1, () => {
      h.scheduler.runTasks(1);
      return null;
    });
    h.scheduler.taskWakeup(t, TASK_WOKEN_INIT);
    h.scheduler.taskWakeup(h.task(2), TASK_WOKEN_INIT);
    expect(h.scheduler.runTasks(10)).toBe(2);
    expect(h.errors[0]?.error).toMatchObject({ code: 'ERR_EPOXY_INVALID_ARG' });
    expect(h.runs.map((r) => r.id)).toEqual([1, 2]);
  });
});

describe('ownership', () => {
  it('refuses a task created by another scheduler', () => {
    const a = new Scheduler();
    const b = new Scheduler();
    const t = a.taskNew(() => null, undefined);
    const invalidArg = expect.objectContaining({ code: 'ERR_EPOXY_INVALID_ARG' });
    expect(() => b.taskWakeup(t, TASK_WOKEN_IO)).toThrow(invalidArg);
    expect(() => b.taskQueue(t)).toThrow(invalidArg);
    expect(() => b.taskKill(t)).toThrow(invalidArg);
    expect(t.state).toBe(0); // untouched: still usable with its own scheduler
  });
});

describe('wait queue under random operations', () => {
  it('fires exactly the live armed timers, each once, on time, in order (checked against a model)', () => {
    const h = harness(0xffffffff - 20_000); // the run crosses the wrap
    const random = prng(1234);
    const tasks = Array.from({ length: 300 }, (_, id) => h.task(id));
    const killed = new Set<number>();
    const fired: Run[] = [];

    for (let step = 0; step < 20_000; step++) {
      const id = Math.floor(random() * tasks.length);
      const t = tasks[id]!;
      const op = random();
      if (op < 0.45) {
        h.arm(t, 1 + Math.floor(random() * 2_000)); // earlier or later than before
      } else if (op < 0.5) {
        t.expire = TICK_ETERNITY;
        h.scheduler.taskQueue(t);
      } else if (op < 0.505) {
        h.scheduler.taskKill(t);
        killed.add(id);
      }

      // The model: the tasks due at `next`, from their expire alone. Turns are 1-3 ms apart, so
      // matching the model at every turn means no timer fires early, late, twice or never.
      const next = h.clock.advance(1 + Math.floor(random() * 3));
      const expiryOf = new Map<number, number>();
      tasks.forEach((x, i) => {
        const due = !killed.has(i) && x.expire !== TICK_ETERNITY && tickIsLe(x.expire, next);
        if (due) expiryOf.set(i, x.expire);
      });
      const before = h.runs.length;
      h.turn();
      const ran = h.runs.slice(before);
      expect(ran.map((r) => r.id).sort((a, b) => a - b)).toEqual([...expiryOf.keys()].sort((a, b) => a - b));
      for (let i = 1; i < ran.length; i++) {
        expect(tickIsLe(expiryOf.get(ran[i - 1]!.id)!, expiryOf.get(ran[i]!.id)!)).toBe(true);
      }
      fired.push(...ran);
    }
    expect(fired.length).toBeGreaterThan(1_000);
    expect(h.scheduler.counters.lazyRequeues).toBeGreaterThan(0);
    expect(h.scheduler.counters.lazyDrops).toBeGreaterThan(0);
    // Everything still queued is a live task; nothing killed lingers.
    for (const id of killed) expect(tasks[id]!.state & TASK_IN_WAIT_QUEUE).toBe(0);
  });
});

describe('100,000 timers', () => {
  it('are drained in expiry order, with pushed-later and cleared ones handled lazily', () => {
    const count = 100_000;
    const h = harness(0xffffffff - 500_000);
    const random = prng(99);
    const order: number[] = [];
    const tasks: Task<number>[] = [];
    for (let id = 0; id < count; id++) {
      const t = h.scheduler.taskNew<number>((self, context) => {
        order.push(context);
        return null;
      }, id);
      t.expire = tickAdd(h.clock.now(), 1 + Math.floor(random() * 1_000_000));
      h.scheduler.taskQueue(t);
      tasks.push(t);
    }
    let cleared = 0;
    let pushed = 0;
    for (const t of tasks) {
      const r = random();
      if (r < 0.1) {
        t.expire = tickAdd(t.expire, 1 + Math.floor(random() * 100_000));
        h.scheduler.taskQueue(t);
        pushed++;
      } else if (r < 0.2) {
        t.expire = TICK_ETERNITY;
        h.scheduler.taskQueue(t);
        cleared++;
      }
    }
    const expiries = tasks.map((t) => t.expire);
    expect(h.scheduler.waitQueueLength).toBe(count);

    // A few big steps so that each wakeExpired drains many timers at once.
    let woken = 0;
    for (let step = 0; step < 12; step++) {
      woken += h.scheduler.wakeExpired(h.clock.advance(100_000));
      while (h.scheduler.hasRunnable()) h.scheduler.runTasks(10_000);
    }

    expect(woken).toBe(count - cleared);
    expect(order).toHaveLength(count - cleared);
    expect(h.scheduler.counters.lazyDrops).toBe(cleared);
    expect(h.scheduler.counters.lazyRequeues).toBe(pushed);
    expect(h.scheduler.waitQueueLength).toBe(0);
    for (let i = 1; i < order.length; i++) {
      if (!tickIsLe(expiries[order[i - 1]!]!, expiries[order[i]!]!)) {
        // Even within one call draining 100 s of timers, a pushed-later timer whose new expiry
        // has also passed runs at its real date's place, not at its stale key's.
        expect.unreachable(`timer ${order[i]} ran after the later timer ${order[i - 1]}`);
      }
    }
    expect(tickIsLt(expiries[order[0]!]!, expiries[order[order.length - 1]!]!)).toBe(true);
  });
});
