/**
 * The signal queue (HAProxy's signal.c): the OS-level handler only records that a signal arrived
 * and asks the loop for a turn; the handlers run from the loop, in order of first arrival, once
 * per turn however many times the signal was delivered (the count is passed along).
 *
 * Node already runs `process.on(signal)` listeners from its loop rather than inside the kernel's
 * handler (libuv writes the signal number to a pipe); our listener still does nothing but queue,
 * so every handler runs at one defined point of our loop's turn, between tasks and polling.
 */
import { SIG_F_ONE_SHOT, SIG_F_TYPE_FCT, SIG_F_TYPE_TASK, type SignalHandlerRecord } from './signal-types.js';

/** Signals that cannot be caught: registering them is a programming error. */
const UNCATCHABLE = new Set<NodeJS.Signals>(['SIGKILL', 'SIGSTOP']);

export interface SignalQueueOptions<T> {
  /** Wakes a task handler with the SIGNAL reason. */
  wakeTask: (task: T) => void;
  /** Called when a signal is queued and no turn is pending, so the loop schedules one. */
  onQueued?: () => void;
  /** The process whose signals are watched (tests can pass an EventEmitter stand-in). */
  source?: Pick<NodeJS.Process, 'on' | 'removeListener'>;
}

export class SignalQueue<T = unknown> {
  /** Signals in order of first arrival since the last processing. */
  private readonly queue: NodeJS.Signals[] = [];
  /** Deliveries per queued signal since the last processing. */
  private readonly counts = new Map<NodeJS.Signals, number>();
  private readonly handlers = new Map<NodeJS.Signals, SignalHandlerRecord<T>[]>();
  private readonly listeners = new Map<NodeJS.Signals, () => void>();
  private readonly source: Pick<NodeJS.Process, 'on' | 'removeListener'>;
  /** Total deliveries, and deliveries merged into an already queued entry. */
  readonly stats = { received: 0, coalesced: 0, processed: 0 };

  constructor(private readonly options: SignalQueueOptions<T>) {
    this.source = options.source ?? process;
  }

  /** Number of distinct signals waiting to be processed. */
  get pending(): number {
    return this.queue.length;
  }

  /** Registers a function; returns the record to pass to unregister(). */
  registerFunction(
    signal: NodeJS.Signals,
    fn: (record: SignalHandlerRecord<T>, count: number) => void,
    oneShot = false,
  ): SignalHandlerRecord<T> {
    return this.add({ signal, flags: SIG_F_TYPE_FCT | (oneShot ? SIG_F_ONE_SHOT : 0), fn });
  }

  /** Registers a task, woken with the SIGNAL reason when the signal is processed. */
  registerTask(signal: NodeJS.Signals, task: T, oneShot = false): SignalHandlerRecord<T> {
    return this.add({ signal, flags: SIG_F_TYPE_TASK | (oneShot ? SIG_F_ONE_SHOT : 0), task });
  }

  private add(record: SignalHandlerRecord<T>): SignalHandlerRecord<T> {
    if (UNCATCHABLE.has(record.signal)) throw new RangeError(`${record.signal} cannot be caught`);
    let list = this.handlers.get(record.signal);
    if (!list) {
      list = [];
      this.handlers.set(record.signal, list);
      const listener = (): void => this.deliver(record.signal);
      this.listeners.set(record.signal, listener);
      this.source.on(record.signal, listener);
    }
    list.push(record);
    return record;
  }

  /** Removes a handler; the last one for a signal gives the signal back to its default action. */
  unregister(record: SignalHandlerRecord<T>): void {
    const list = this.handlers.get(record.signal);
    if (!list) return;
    const index = list.indexOf(record);
    if (index >= 0) list.splice(index, 1);
    if (list.length === 0) this.release(record.signal);
  }

  private release(signal: NodeJS.Signals): void {
    const listener = this.listeners.get(signal);
    if (listener) this.source.removeListener(signal, listener);
    this.listeners.delete(signal);
    this.handlers.delete(signal);
  }

  /** What the OS-level listener does: count, queue once, ask for a turn. Nothing else. */
  deliver(signal: NodeJS.Signals): void {
    this.stats.received++;
    const count = this.counts.get(signal) ?? 0;
    this.counts.set(signal, count + 1);
    if (count > 0) {
      this.stats.coalesced++;
      return;
    }
    this.queue.push(signal);
    if (this.queue.length === 1) this.options.onQueued?.();
  }

  /**
   * Runs the handlers of every queued signal, forwards, so a signal queued by a handler during
   * this pass (e.g. a handler that raises another signal) is handled in the same pass, as
   * HAProxy's scan does. Returns the number of signals processed.
   */
  process(): number {
    let processed = 0;
    for (let i = 0; i < this.queue.length; i++) {
      const signal = this.queue[i]!;
      const count = this.counts.get(signal) ?? 0;
      this.counts.delete(signal);
      if (count === 0) continue;
      processed++;
      // A copy: handlers may unregister themselves (or others) while we iterate.
      for (const record of [...(this.handlers.get(signal) ?? [])]) {
        if (record.flags & SIG_F_ONE_SHOT) this.unregister(record);
        if (record.flags & SIG_F_TYPE_FCT) record.fn?.(record, count);
        else if (record.flags & SIG_F_TYPE_TASK && record.task !== undefined) this.options.wakeTask(record.task);
      }
    }
    this.queue.length = 0;
    this.stats.processed += processed;
    return processed;
  }

  /** Unregisters everything, giving every signal back to its default action. */
  close(): void {
    for (const signal of [...this.handlers.keys()]) this.release(signal);
    this.queue.length = 0;
    this.counts.clear();
  }
}
