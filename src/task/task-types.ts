/** Types, states and wake reasons of tasks (HAProxy's task-t.h). The behaviour is in scheduler.ts. */

/*
 * Task states, bits of `Task.state`. A task can be in both queues at once: a session waiting for
 * data keeps its timeout armed in the wait queue while an I/O event puts it on the run queue.
 */
export const TASK_SLEEPING = 0x00; // neither running nor runnable; may still have a timer armed
export const TASK_RUNNING = 0x01; // its handler is executing right now
export const TASK_QUEUED = 0x02; // in the run queue: runs in a coming runTasks batch
export const TASK_IN_WAIT_QUEUE = 0x04; // has a position in the wait queue (possibly earlier than `expire`)
export const TASK_KILLED = 0x08; // killed: never runs again, freed as soon as its handler is not running
export const TASK_FREED = 0x10; // released by the scheduler: in no queue; wakeups and requeues are ignored

/*
 * Wake reasons, bits of `Task.pendingReasons` and of the `reasons` a handler receives. They do not
 * overlap the state bits, so passing one where the other is expected shows in a debugger.
 */
export const TASK_WOKEN_INIT = 0x0100; // first run after creation
export const TASK_WOKEN_TIMER = 0x0200; // its expiry date was reached
export const TASK_WOKEN_IO = 0x0400; // an fd it watches became ready
export const TASK_WOKEN_SIGNAL = 0x0800; // a signal it is registered for was delivered
export const TASK_WOKEN_MSG = 0x1000; // another task or component sent it a message
export const TASK_WOKEN_RES = 0x2000; // a resource it waited for became available (buffer, connection slot)
export const TASK_WOKEN_OTHER = 0x4000; // any other reason; also used when a wakeup gives none
export const TASK_WOKEN_ANY = 0x7f00; // mask of every wake reason

/**
 * A task's work. Returns the task to keep it (its `expire` is then requeued if set), or null to
 * have the scheduler free it. `reasons` is every wake reason accumulated since the last run.
 */
export type TaskHandler<C = unknown> = (task: Task<C>, context: C, reasons: number) => Task<C> | null;

/** A unit of work with an optional timer. Created by Scheduler.taskNew, never directly. */
export interface Task<C = unknown> {
  /*
   * Declared as a method so that a Task<Session> can be passed where a Task<unknown> is expected
   * (the signal queue, the loop): method parameters are compared bivariantly.
   */
  handler(task: Task<C>, context: C, reasons: number): Task<C> | null;
  context: C;
  /**
   * When the task wants to run again with TASK_WOKEN_TIMER, as a tick (TICK_ETERNITY: never). Set
   * it, then call Scheduler.taskQueue, or return the task from its handler, which does the same.
   */
  expire: number;
  /** TASK_* state bits; written by the scheduler only. */
  readonly state: number;
  /** TASK_WOKEN_* reasons gathered since the last run; cleared when the handler is called. */
  readonly pendingReasons: number;
  /**
   * The date at which the task sits in the wait queue. It can be earlier than `expire`: pushing
   * an expiry later does not move the task until the queue walk reaches the old date.
   */
  readonly waitQueueKey: number;
}

/** Scheduler statistics; plain numbers, cumulative since the scheduler was created. */
export interface SchedulerCounters {
  /** Handler calls. */
  tasksRun: number;
  /** Tasks woken with TASK_WOKEN_TIMER by wakeExpired. */
  timersExpired: number;
  /** Deepest run queue seen. */
  maxRunQueue: number;
  /** Exceptions thrown by handlers (the task is freed, the error reported to onError). */
  handlerErrors: number;
  /** Wakeups accepted (a wakeup merged into an already queued one counts too). */
  wakeups: number;
  /** Wait-queue entries reached whose expiry had been pushed later: requeued instead of woken. */
  lazyRequeues: number;
  /** Wait-queue entries reached whose expiry had been cleared: dropped. */
  lazyDrops: number;
  /** Wait-queue (heap) insertions, moves and removals: the work lazy requeueing avoids. */
  waitQueueOps: number;
}

export interface SchedulerOptions {
  /**
   * Receives an exception thrown by a handler, after the task has been freed. Default: printed
   * on stderr. An exception thrown by onError itself propagates out of runTasks.
   */
  onError?: (error: unknown, task: Task) => void;
}
