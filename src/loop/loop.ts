/**
 * The loop (HAProxy's run_poll_loop), one per process, living inside Node's event loop.
 *
 * Each turn: wake expired timers → run a bounded batch of runnable tasks → process queued
 * signals → stop if no jobs remain → poll the fds without waiting and dispatch their events →
 * decide how to sleep. Sleeping is left to Node: the poller is watched from Node's loop and calls
 * back when an fd is ready, one Node timer stands for the earliest task expiry, and a turn with
 * work still pending (runnable tasks, queued signals, busy-polling) asks for the next turn with
 * setImmediate, which lets Node run its own callbacks in between: we never block and never spin.
 */
import { FdTable } from '../fd/fdtab.js';
import type { Poller, PollerFactory } from '../poller/poller-types.js';
import { selectPoller } from '../poller/registry.js';
import { SignalQueue } from '../signal/signal-queue.js';
import { Scheduler } from '../task/scheduler.js';
import type { Task } from '../task/task-types.js';
import { TASK_WOKEN_SIGNAL } from '../task/task-types.js';
import { systemClock, tickIsLt, tickIsSet, tickRemain, type Clock } from '../task/ticks.js';
import { Activity } from './activity.js';

export interface LoopOptions {
  /** Use this poller rather than the preferred one. */
  poller?: PollerFactory;
  /** Pollers configuration disabled (`noepoll`/-de, `nopoll`/-dp). */
  disabledPollers?: string[];
  /**
   * Never sleep: every turn polls and schedules the next one at once (HAProxy's `busy-polling`).
   * Trades a core's worth of CPU for the wake-up latency of the kernel's wait.
   */
  busyPolling?: boolean;
  /**
   * Tasks run per turn at most, so a long run queue never starves fd events (HAProxy's
   * tune.runqueue-depth, whose default is 200).
   */
  runBudget?: number;
  clock?: Clock;
  /** Where exceptions from handlers go (counted in activity.handlerErrors). Default: stderr. */
  onError?: (error: unknown, where: string) => void;
}

const DEFAULT_RUN_BUDGET = 200;

export class Loop {
  readonly fdtab = new FdTable();
  readonly scheduler: Scheduler;
  readonly signals: SignalQueue<Task>;
  readonly activity = new Activity();
  readonly poller: Poller;
  /** Everything that keeps the process alive: listeners, sessions, pending work. */
  jobs = 0;
  /** Jobs that must not prevent a stop (e.g. a master's CLI listener). */
  unstoppableJobs = 0;

  private readonly clock: Clock;
  private readonly runBudget: number;
  private readonly busyPolling: boolean;
  private readonly onError: (error: unknown, where: string) => void;
  private running = false;
  private inTurn = false;
  /** An fd became ready while a turn was running: run another turn right after. */
  private rerun = false;
  private immediate: NodeJS.Immediate | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Tick the armed Node timer stands for (0 when none is armed). */
  private timerTick = 0;
  private finished: (() => void) | null = null;
  /** See `now`: how many turns or pinNow() calls are open, and the tick they read. */
  private pinDepth = 0;
  private pinnedTick = 0;

  constructor(options: LoopOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.runBudget = options.runBudget ?? DEFAULT_RUN_BUDGET;
    this.busyPolling = options.busyPolling ?? false;
    this.onError = options.onError ?? ((error, where) => console.error(`epoxy: error in ${where}:`, error));
    this.scheduler = new Scheduler({ onError: (error) => this.reportError(error, 'task handler') });
    this.signals = new SignalQueue<Task>({
      wakeTask: (task) => this.scheduler.taskWakeup(task, TASK_WOKEN_SIGNAL),
      onQueued: () => this.requestTurn(),
    });
    const factory = options.poller ?? selectPoller({ disabled: options.disabledPollers ?? [] });
    this.poller = factory.create();
    this.poller.init(this.fdtab);
  }

  /**
   * The current tick. Inside a turn (and between pinNow() and unpinNow()) it is the tick read
   * when the turn began or last polled, as HAProxy's now_ms is read once per loop iteration:
   * each read of the clock returns a fresh double, a heap allocation, and a new connection
   * reads it half a dozen times (issue 16's heap profile: ~130 B per connection).
   */
  get now(): number {
    return this.pinDepth > 0 ? this.pinnedTick : this.clock.now();
  }

  /**
   * Reads the clock once for work done outside a turn (an addon callback ending many sessions):
   * `now` returns that tick until the matching unpinNow().
   */
  pinNow(): void {
    if (this.pinDepth++ === 0) this.pinnedTick = this.clock.now();
  }

  unpinNow(): void {
    if (this.pinDepth > 0) this.pinDepth--;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /**
   * Runs turns until no job remains. Resolves then; the poller stays initialised, so the loop can
   * be run again after new jobs are added.
   */
  run(): Promise<void> {
    if (this.running) throw new Error('the loop is already running');
    this.running = true;
    const done = new Promise<void>((resolve) => (this.finished = resolve));
    this.poller.watch(() => {
      if (this.inTurn) this.rerun = true;
      else this.turn('io');
    });
    this.turn('start');
    return done;
  }

  /** Wakes a task from outside a turn (an I/O callback of Node's, a timer of Node's…). */
  taskWakeup(task: Task, reason: number): void {
    this.scheduler.taskWakeup(task, reason);
    this.requestTurn();
  }

  /**
   * After work done outside a turn (an addon callback): schedules a turn only if that work left
   * something only a turn does: the stop check, interest changes for the poller, runnable tasks
   * or signals, or a timer due before the one armed. Most relay ends leave none of these, and a
   * turn costs a poll syscall and a setImmediate hop.
   */
  requestTurnIfNeeded(): void {
    if (!this.running || this.inTurn || this.immediate) return;
    if (
      this.jobs - this.unstoppableJobs <= 0 ||
      this.fdtab.pendingUpdates > 0 ||
      this.busyPolling ||
      this.scheduler.hasRunnable() ||
      this.signals.pending > 0
    ) {
      this.requestTurn();
      return;
    }
    const next = this.scheduler.nextExpiry();
    if (tickIsSet(next) && (this.timer === null || tickIsLt(next, this.timerTick))) this.requestTurn();
  }

  /** Schedules a turn soon unless one is already coming. */
  requestTurn(): void {
    if (!this.running || this.inTurn || this.immediate) return;
    this.immediate = setImmediate(() => {
      this.immediate = null;
      this.turn('immediate');
    });
  }

  private reportError(error: unknown, where: string): void {
    this.activity.add('handlerErrors');
    this.onError(error, where);
  }

  private turn(trigger: 'start' | 'io' | 'timer' | 'immediate'): void {
    if (!this.running) return;
    this.inTurn = true;
    this.pinDepth++;
    try {
      do {
        this.rerun = false;
        this.oneTurn(trigger);
        trigger = 'io';
      } while (this.rerun && this.running);
    } finally {
      this.pinDepth--;
      this.inTurn = false;
    }
    if (this.running) this.scheduleNext();
  }

  private oneTurn(trigger: 'start' | 'io' | 'timer' | 'immediate'): void {
    const activity = this.activity;
    activity.add('loops');
    if (trigger === 'timer') activity.add('pollExp');

    const now = this.clock.now();
    this.pinnedTick = now;
    activity.add('timersExpired', this.scheduler.wakeExpired(now));
    activity.add('tasksRun', this.scheduler.runTasks(this.runBudget));
    const depth = this.scheduler.counters.maxRunQueue;
    if (depth > activity.get('maxRunQueue')) activity.set('maxRunQueue', depth);

    try {
      activity.add('signalsProcessed', this.signals.process());
    } catch (error) {
      this.reportError(error, 'signal handler');
    }

    if (this.jobs - this.unstoppableJobs <= 0) {
      this.finish();
      return;
    }

    const deadBefore = this.poller.activity.pollDead;
    const dropBefore = this.poller.activity.pollDrop;
    let events = 0;
    // Tasks may have run for a while: what the I/O callbacks stamp (accepts, connects) is now.
    this.pinnedTick = this.clock.now();
    try {
      events = this.poller.poll();
    } catch (error) {
      this.reportError(error, 'I/O callback');
    }
    if (events > 0) activity.add('pollIo');
    activity.add('pollDead', this.poller.activity.pollDead - deadBefore);
    activity.add('pollDrop', this.poller.activity.pollDrop - dropBefore);
  }

  private scheduleNext(): void {
    // I/O callbacks of the poll just done may have ended the last job or changed interest; both
    // are acted upon at the top of a turn (the stop check, the poller's update pass), so one more
    // turn comes at once rather than after the next event or timer.
    if (this.jobs - this.unstoppableJobs <= 0 || this.fdtab.pendingUpdates > 0) {
      this.requestTurn();
      return;
    }
    if (this.busyPolling || this.scheduler.hasRunnable() || this.signals.pending > 0) {
      if (this.scheduler.hasRunnable()) this.activity.add('wakeTasks');
      else if (this.signals.pending > 0) this.activity.add('wakeSignal');
      this.requestTurn();
      return;
    }
    const next = this.scheduler.nextExpiry();
    if (!tickIsSet(next)) {
      this.disarmTimer();
      return;
    }
    // Armed for that date or an earlier one: keep it. Fired early, it makes a turn that wakes
    // nothing and arms for what is due then. Moving a Node timer later means a new Timeout
    // object, and under load the earliest date moves at every connection (its connect timeout,
    // then its idle timeout): one allocation per connection for a turn that costs less.
    if (this.timer && !tickIsLt(next, this.timerTick)) return;
    this.disarmTimer();
    this.timerTick = next;
    // Node timers have millisecond resolution and may fire up to a ms early relative to our
    // clock; the turn then wakes nothing and re-arms for the remainder, which is harmless.
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerTick = 0;
      this.turn('timer');
    }, tickRemain(this.clock.now(), next));
  }

  private disarmTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerTick = 0;
  }

  private finish(): void {
    this.running = false;
    this.disarmTimer();
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = null;
    this.poller.unwatch();
    const finished = this.finished;
    this.finished = null;
    finished?.();
  }

  /** Releases the poller and the signal handlers. The loop cannot run afterwards. */
  close(): void {
    if (this.running) this.finish();
    this.signals.close();
    this.poller.term();
  }
}
