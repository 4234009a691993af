/**
 * Per-process activity counters (HAProxy's `show activity`). They live in one Float64Array so a
 * master can sum its workers' arrays field by field, and the control socket can print them
 * without the loop doing anything but increments.
 */

/** Counter names, in array order. Each gets a one-line meaning in ACTIVITY_HELP. */
export const ACTIVITY_FIELDS = [
  'loops',
  'wakeTasks',
  'wakeSignal',
  'pollIo',
  'pollExp',
  'pollDrop',
  'pollDead',
  'tasksRun',
  'timersExpired',
  'maxRunQueue',
  'signalsProcessed',
  'handlerErrors',
] as const;

export type ActivityField = (typeof ACTIVITY_FIELDS)[number];

export const ACTIVITY_HELP: Record<ActivityField, string> = {
  loops: 'turns of the loop',
  wakeTasks: 'turns that did not sleep because tasks were runnable',
  wakeSignal: 'turns that did not sleep because signals were queued',
  pollIo: 'polls that returned at least one event',
  pollExp: 'turns started by the expiry of the next timer',
  pollDrop: 'interest updates dropped because the fd had no owner any more',
  pollDead: 'events reported for an fd without an owner',
  tasksRun: 'task handler calls',
  timersExpired: 'tasks woken because their timer expired',
  maxRunQueue: 'largest run-queue depth seen (a maximum, not a sum, when aggregated)',
  signalsProcessed: 'signals handled (coalesced deliveries count once)',
  handlerErrors: 'exceptions thrown by task, signal or I/O handlers (caught and reported)',
};

const INDEX = Object.fromEntries(ACTIVITY_FIELDS.map((name, i) => [name, i])) as Record<ActivityField, number>;

export class Activity {
  readonly counters = new Float64Array(ACTIVITY_FIELDS.length);

  add(field: ActivityField, n = 1): void {
    this.counters[INDEX[field]]! += n;
  }

  set(field: ActivityField, value: number): void {
    this.counters[INDEX[field]] = value;
  }

  get(field: ActivityField): number {
    return this.counters[INDEX[field]]!;
  }

  toObject(): Record<ActivityField, number> {
    return Object.fromEntries(ACTIVITY_FIELDS.map((name, i) => [name, this.counters[i]!])) as Record<ActivityField, number>;
  }

  /** Folds another process's counters into these: sums, except maxima. */
  aggregate(other: Float64Array): void {
    ACTIVITY_FIELDS.forEach((name, i) => {
      const value = other[i] ?? 0;
      if (name === 'maxRunQueue') this.counters[i] = Math.max(this.counters[i]!, value);
      else this.counters[i]! += value;
    });
  }
}
