/**
 * The task scheduler (HAProxy's task.c), one per loop: a wait queue of timers and a run queue of
 * tasks to run now.
 *
 * Wait queue: a min-heap ordered by each task's `waitQueueKey`, the date at which it sits (see
 * WaitQueue below for its layout). Ticks wrap at 2^32, so keys are ordered by their signed 32-bit
 * difference; that order is consistent as long as all queued keys lie within 2^31 ms (24.8 days)
 * of each other, which holds because delays are capped at TICK_MAX_DELAY and reached keys leave
 * on every turn. Equal keys come out in the order they were positioned (a sequence number breaks
 * ties), so timers armed for the same millisecond fire in arming order.
 *
 * Lazy requeue: most timers are timeouts that get pushed later on every I/O event and almost never
 * fire. Pushing one later therefore does not touch the heap; the task keeps its earlier key and,
 * when the walk reaches that key, is reinserted at its real date instead of being woken. Clearing
 * an expiry is lazy in the same way (the entry is dropped when reached). Only moving a timer
 * earlier repositions it at once, since firing late is not acceptable. The cost: nextExpiry() can
 * report a stale, earlier key, which wakes the loop for nothing once.
 *
 * Run queue: an intrusive doubly linked FIFO, so a killed task leaves it in O(1) and
 * hasRunnable() never counts dead entries.
 */
import { EpoxyError, ErrorCodes } from '../errors.js';
import {
  TASK_FREED,
  TASK_IN_WAIT_QUEUE,
  TASK_KILLED,
  TASK_QUEUED,
  TASK_RUNNING,
  TASK_SLEEPING,
  TASK_WOKEN_OTHER,
  TASK_WOKEN_TIMER,
  type SchedulerCounters,
  type SchedulerOptions,
  type Task,
  type TaskHandler,
} from './task-types.js';
import { TICK_ETERNITY, tickIsLt } from './ticks.js';

/** Not in the wait queue. */
const NO_INDEX = -1;

/**
 * The scheduler's own view of a task: the public fields plus the queue links. One class, every
 * field set in the constructor, so all tasks share one V8 shape on the hot paths.
 */
class TaskRecord<C> implements Task<C> {
  state = TASK_SLEEPING;
  pendingReasons = 0;
  expire = TICK_ETERNITY;
  waitQueueKey = TICK_ETERNITY;
  /** Slot in the wait queue's heap, NO_INDEX when not in it. */
  waitQueueIndex = NO_INDEX;
  runPrev: TaskRecord<unknown> | null = null;
  runNext: TaskRecord<unknown> | null = null;

  constructor(
    public handler: TaskHandler<C>,
    public context: C,
    readonly owner: Scheduler,
  ) {}
}

type AnyTaskRecord = TaskRecord<unknown>;

/**
 * Children per heap node: a 4-ary heap is half as deep as a binary one, and a node's four child
 * keys share one cache line. parentOf() divides by it with a shift, so change both together.
 */
const ARITY = 4;
const parentOf = (index: number): number => (index - 1) >> 2;
const INITIAL_CAPACITY = 1024;

/**
 * The wait queue: a 4-ary min-heap. Keys and tie-breaking sequence numbers live in typed arrays
 * parallel to the task slots, so sifting compares numbers without touching task objects (with
 * 100,000 timers those are scattered in memory and each visit is a cache miss); the only object
 * written per level is the moved task's slot index, which removal in O(log n) needs.
 */
class WaitQueue {
  /** Task in each heap slot; `length` is the heap's size. */
  readonly slots: AnyTaskRecord[] = [];
  /** Each slot's key, stored as int32: two keys' signed difference is the same as for their uint32 values. */
  private keys = new Int32Array(INITIAL_CAPACITY);
  /** Each slot's sequence number: among equal keys, the lower one was positioned first. */
  private seqs = new Float64Array(INITIAL_CAPACITY);
  private nextSeq = 0;

  get size(): number {
    return this.slots.length;
  }

  insert(record: AnyTaskRecord, key: number): void {
    const index = this.slots.length;
    if (index === this.keys.length) this.grow();
    this.slots.push(record);
    record.waitQueueKey = key;
    this.siftUp(record, key | 0, this.nextSeq++, index);
  }

  /** Moves a queued task to an earlier key, after the tasks already at that key (a fresh sequence number). */
  moveEarlier(record: AnyTaskRecord, key: number): void {
    record.waitQueueKey = key;
    this.siftUp(record, key | 0, this.nextSeq++, record.waitQueueIndex);
  }

  remove(record: AnyTaskRecord): void {
    const index = record.waitQueueIndex;
    const lastIndex = this.slots.length - 1;
    const last = this.slots.pop()!;
    record.waitQueueIndex = NO_INDEX;
    if (index === lastIndex) return;
    // `last` fills the hole; it may belong above it (the hole was in another branch) or below.
    const key = this.keys[lastIndex]!;
    const seq = this.seqs[lastIndex]!;
    if (index > 0 && this.precedesSlot(key, seq, parentOf(index))) this.siftUp(last, key, seq, index);
    else this.siftDown(last, key, seq, index);
  }

  /** The task at the top, or undefined if the queue is empty. */
  peek(): AnyTaskRecord | undefined {
    return this.slots[0];
  }

  /** Whether (key, seq) comes before the entry in slot `index`. */
  private precedesSlot(key: number, seq: number, index: number): boolean {
    const diff = (key - this.keys[index]!) | 0;
    return diff < 0 || (diff === 0 && seq < this.seqs[index]!);
  }

  /** Fills the hole at `index` with (record, key, seq), moving later parents down as it climbs. */
  private siftUp(record: AnyTaskRecord, key: number, seq: number, index: number): void {
    const { slots, keys, seqs } = this;
    while (index > 0) {
      const parentIndex = parentOf(index);
      if (!this.precedesSlot(key, seq, parentIndex)) break;
      const parent = slots[parentIndex]!;
      slots[index] = parent;
      keys[index] = keys[parentIndex]!;
      seqs[index] = seqs[parentIndex]!;
      parent.waitQueueIndex = index;
      index = parentIndex;
    }
    slots[index] = record;
    keys[index] = key;
    seqs[index] = seq;
    record.waitQueueIndex = index;
  }

  /** Fills the hole at `index` with (record, key, seq), moving the earliest child up as it sinks. */
  private siftDown(record: AnyTaskRecord, key: number, seq: number, index: number): void {
    const { slots, keys, seqs } = this;
    const size = slots.length;
    for (;;) {
      const firstChild = ARITY * index + 1;
      if (firstChild >= size) break;
      const endChild = Math.min(firstChild + ARITY, size);
      let best = firstChild;
      let bestKey = keys[firstChild]!;
      let bestSeq = seqs[firstChild]!;
      for (let child = firstChild + 1; child < endChild; child++) {
        const diff = (keys[child]! - bestKey) | 0;
        if (diff < 0 || (diff === 0 && seqs[child]! < bestSeq)) {
          best = child;
          bestKey = keys[child]!;
          bestSeq = seqs[child]!;
        }
      }
      const diff = (bestKey - key) | 0;
      if (!(diff < 0 || (diff === 0 && bestSeq < seq))) break;
      const moved = slots[best]!;
      slots[index] = moved;
      keys[index] = bestKey;
      seqs[index] = bestSeq;
      moved.waitQueueIndex = index;
      index = best;
    }
    slots[index] = record;
    keys[index] = key;
    seqs[index] = seq;
    record.waitQueueIndex = index;
  }

  private grow(): void {
    const keys = new Int32Array(this.keys.length * 2);
    keys.set(this.keys);
    this.keys = keys;
    const seqs = new Float64Array(this.seqs.length * 2);
    seqs.set(this.seqs);
    this.seqs = seqs;
  }
}

export class Scheduler {
  readonly counters: SchedulerCounters = {
    tasksRun: 0,
    timersExpired: 0,
    maxRunQueue: 0,
    handlerErrors: 0,
    wakeups: 0,
    lazyRequeues: 0,
    lazyDrops: 0,
    waitQueueOps: 0,
  };

  private readonly waitQueue = new WaitQueue();
  private runHead: AnyTaskRecord | null = null;
  private runTail: AnyTaskRecord | null = null;
  private runLength = 0;
  private inRunTasks = false;
  private readonly onError: (error: unknown, task: Task) => void;

  constructor(options: SchedulerOptions = {}) {
    this.onError = options.onError ?? ((error) => console.error('epoxy: task handler threw:', error));
  }

  /** Tasks positioned in the wait queue, including stale (lazily moved or cleared) entries. */
  get waitQueueLength(): number {
    return this.waitQueue.size;
  }

  get runQueueLength(): number {
    return this.runLength;
  }

  /** A sleeping task with no expiry. Wake it (typically with TASK_WOKEN_INIT) or queue it. */
  taskNew<C>(handler: TaskHandler<C>, context: C): Task<C> {
    return new TaskRecord(handler, context, this);
  }

  /**
   * Makes a freed task a new, sleeping one for `context` (its handler stays), as taskNew() would,
   * so that an owner reusing its objects reuses their tasks too. False, and nothing changed, for a
   * task not freed yet (alive, or killed while its handler still runs).
   */
  taskRenew<C>(task: Task<C>, context: C): boolean {
    const record = this.own(task) as TaskRecord<C>;
    if (!(record.state & TASK_FREED)) return false;
    record.state = TASK_SLEEPING;
    record.pendingReasons = 0;
    record.expire = TICK_ETERNITY;
    record.waitQueueKey = TICK_ETERNITY;
    record.waitQueueIndex = NO_INDEX;
    record.runPrev = null;
    record.runNext = null;
    record.context = context;
    return true;
  }

  /**
   * Positions the task in the wait queue according to its `expire`: inserted if absent, moved at
   * once if the date is earlier than its current key, left in place if it is later or cleared
   * (see the lazy requeue above). Ignored for a killed or freed task.
   */
  taskQueue(task: Task): void {
    this.queue(this.own(task));
  }

  /**
   * Adds `reason` to the task's pending reasons and puts it at the tail of the run queue unless it
   * is there already. A running task is queued again when its handler returns. Reason 0 counts as
   * TASK_WOKEN_OTHER, so a woken task always sees a reason. Ignored for a killed or freed task:
   * late wakeups (an fd event racing a kill) are expected, not errors.
   */
  taskWakeup(task: Task, reason: number): void {
    this.wake(this.own(task), reason);
  }

  /**
   * Kills the task: it never runs again and leaves both queues now. Safe from any handler,
   * including its own, which then finishes its run and is freed whatever it returns.
   */
  taskKill(task: Task): void {
    const record = this.own(task);
    if (record.state & TASK_FREED) return;
    record.state |= TASK_KILLED;
    if (record.state & TASK_RUNNING) {
      // Its handler is still on the stack: leave the wait queue now, be freed when it returns.
      if (record.waitQueueIndex !== NO_INDEX) this.waitQueueRemove(record);
      record.pendingReasons = 0;
      return;
    }
    this.free(record);
  }

  /**
   * Removes from the wait queue every task whose key is at or before `now`: one whose expiry was
   * cleared is dropped, one whose expiry moved since it was positioned is reinserted at it, the
   * others are woken with TASK_WOKEN_TIMER. Returns the number woken.
   */
  wakeExpired(now: number): number {
    let woken = 0;
    for (;;) {
      const first = this.waitQueue.peek();
      if (first === undefined || tickIsLt(now, first.waitQueueKey)) break;
      this.waitQueueRemove(first);
      const expire = first.expire;
      if (expire === TICK_ETERNITY) {
        this.counters.lazyDrops++;
      } else if (expire !== first.waitQueueKey) {
        // Reinserted even when the new expiry has passed too (a late turn): the walk then meets
        // it again at its real date, so timers are woken in expiry order, not stale-key order.
        this.waitQueueInsert(first, expire);
        this.counters.lazyRequeues++;
      } else {
        this.wake(first, TASK_WOKEN_TIMER);
        woken++;
      }
    }
    this.counters.timersExpired += woken;
    return woken;
  }

  /**
   * Runs up to `budget` tasks from the head of the run queue; the budget keeps a long queue from
   * starving fd events. Each handler gets the reasons gathered so far. A task it returns is kept
   * (requeued in the wait queue if its expire is set, and run again later if woken meanwhile);
   * null, a kill or an exception frees it. Returns the number of handlers called.
   */
  runTasks(budget: number): number {
    if (this.inRunTasks) {
      throw new EpoxyError('runTasks called from inside a task handler', ErrorCodes.INVALID_ARG);
    }
    this.inRunTasks = true;
    let run = 0;
    try {
      while (run < budget) {
        const record = this.runHead;
        if (record === null) break;
        this.runQueueRemove(record);
        const reasons = record.pendingReasons;
        record.pendingReasons = 0;
        record.state |= TASK_RUNNING;
        run++;
        this.counters.tasksRun++;
        let result: Task<unknown> | null;
        try {
          result = record.handler(record, record.context, reasons);
        } catch (error) {
          record.state &= ~TASK_RUNNING;
          this.free(record);
          this.counters.handlerErrors++;
          this.onError(error, record);
          continue;
        }
        record.state &= ~TASK_RUNNING;
        if (result === null || record.state & TASK_KILLED) {
          this.free(record);
        } else if (result !== record) {
          this.free(record);
          this.counters.handlerErrors++;
          const message = 'a task handler must return its own task or null';
          this.onError(new EpoxyError(message, ErrorCodes.INVALID_ARG), record);
        } else {
          if (record.expire !== TICK_ETERNITY) this.queue(record);
          // Woken while it ran: its new reasons were kept for one more run.
          if (record.pendingReasons !== 0) this.runQueueAppend(record);
        }
      }
    } finally {
      this.inRunTasks = false;
    }
    return run;
  }

  /** The earliest key in the wait queue, TICK_ETERNITY if empty. May be a stale, earlier key. */
  nextExpiry(): number {
    return this.waitQueue.peek()?.waitQueueKey ?? TICK_ETERNITY;
  }

  hasRunnable(): boolean {
    return this.runHead !== null;
  }

  /** taskQueue without the ownership check. */
  private queue(record: AnyTaskRecord): void {
    if (record.state & (TASK_KILLED | TASK_FREED)) return;
    const expire = record.expire;
    if (expire === TICK_ETERNITY) return;
    if (record.waitQueueIndex === NO_INDEX) {
      this.waitQueueInsert(record, expire);
    } else if (tickIsLt(expire, record.waitQueueKey)) {
      this.waitQueue.moveEarlier(record, expire);
      this.counters.waitQueueOps++;
    }
  }

  /** taskWakeup without the ownership check. */
  private wake(record: AnyTaskRecord, reason: number): void {
    if (record.state & (TASK_KILLED | TASK_FREED)) return;
    record.pendingReasons |= reason === 0 ? TASK_WOKEN_OTHER : reason;
    this.counters.wakeups++;
    if (record.state & (TASK_QUEUED | TASK_RUNNING)) return;
    this.runQueueAppend(record);
  }

  /** The record behind a task, refusing another scheduler's task: its wait-queue slot is not ours. */
  private own(task: Task): AnyTaskRecord {
    if (!(task instanceof TaskRecord) || task.owner !== this) {
      throw new EpoxyError('task does not belong to this scheduler', ErrorCodes.INVALID_ARG);
    }
    return task as AnyTaskRecord;
  }

  private free(record: AnyTaskRecord): void {
    if (record.waitQueueIndex !== NO_INDEX) this.waitQueueRemove(record);
    if (record.state & TASK_QUEUED) this.runQueueRemove(record);
    record.pendingReasons = 0;
    record.state = (record.state & TASK_KILLED) | TASK_FREED;
  }

  private runQueueAppend(record: AnyTaskRecord): void {
    record.state |= TASK_QUEUED;
    record.runPrev = this.runTail;
    record.runNext = null;
    if (this.runTail === null) this.runHead = record;
    else this.runTail.runNext = record;
    this.runTail = record;
    if (++this.runLength > this.counters.maxRunQueue) this.counters.maxRunQueue = this.runLength;
  }

  private runQueueRemove(record: AnyTaskRecord): void {
    const { runPrev, runNext } = record;
    if (runPrev === null) this.runHead = runNext;
    else runPrev.runNext = runNext;
    if (runNext === null) this.runTail = runPrev;
    else runNext.runPrev = runPrev;
    record.runPrev = record.runNext = null;
    record.state &= ~TASK_QUEUED;
    this.runLength--;
  }

  private waitQueueInsert(record: AnyTaskRecord, key: number): void {
    this.waitQueue.insert(record, key);
    record.state |= TASK_IN_WAIT_QUEUE;
    this.counters.waitQueueOps++;
  }

  private waitQueueRemove(record: AnyTaskRecord): void {
    this.waitQueue.remove(record);
    record.state &= ~TASK_IN_WAIT_QUEUE;
    this.counters.waitQueueOps++;
  }
}
