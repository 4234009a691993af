/**
 * The one table of per-proxy and per-server counters: what each one counts, whether it is a
 * counter or a gauge, how a master combines the workers' values, and what `clear counters`
 * resets. Everything else (the data path's typed arrays, the master's totals, `show stat`, the
 * Prometheus exporter, docs/metrics.md) is derived from it, so a counter is added in one place.
 *
 * The data path stays cheap: a Counters object is one Float64Array indexed by the table's
 * order, incremented in place; nothing is allocated per session.
 */

export interface CounterSpec {
  /** The name code uses (`counters.add('sessions')`) and the key in `show counters`. */
  readonly name: string;
  /** Prometheus' type: a counter only grows (until cleared); a gauge goes both ways. */
  readonly kind: 'counter' | 'gauge';
  /** How a master combines its workers' values: their sum, or the largest. */
  readonly aggregate: 'sum' | 'max';
  /**
   * Whether a worker that is gone keeps contributing its last value: what it counted happened,
   * while what it held open (a gauge of now) went away with it.
   */
  readonly retained: boolean;
  /** What `clear counters` resets it with: 'max' (both forms), 'all' (`clear counters all` only), or never. */
  readonly clearedBy: 'max' | 'all' | null;
  /** Measured live when a snapshot is taken, not kept in the typed array between snapshots. */
  readonly live?: boolean;
  readonly help: string;
}

type Named<N extends string> = CounterSpec & { readonly name: N };
const counter = <N extends string>(name: N, help: string): Named<N> => ({ name, kind: 'counter', aggregate: 'sum', retained: true, clearedBy: 'all', help });
const gauge = <N extends string>(name: N, help: string, aggregate: 'sum' | 'max' = 'sum'): Named<N> => ({ name, kind: 'gauge', aggregate, retained: false, clearedBy: null, live: true, help });
// With several workers a peak is the highest one worker reached: the true peak of the whole lies
// between it and their sum, and only the former is never an overstatement.
const peak = <N extends string>(name: N, help: string): Named<N> => ({ name, kind: 'gauge', aggregate: 'max', retained: true, clearedBy: 'max', help });

export const COUNTERS = [
  counter('connections', 'connections accepted by a frontend, before its tcp-request rules and PROXY header'),
  counter('sessions', 'sessions: a frontend counts those past its rules and PROXY header, a backend those routed to it, a server those assigned to it (a redispatched session counts on both servers)'),
  gauge('current', 'sessions open now (a frontend counts connections still reading their PROXY header too)'),
  peak('maxCurrent', 'most sessions open at once'),
  counter('denied', 'connections refused by tcp-request connection rules'),
  counter('deniedRequests', 'sessions refused by tcp-request content rules'),
  counter('proxyHeaderErrors', 'connections closed for a malformed, truncated, oversized or late PROXY header'),
  counter('connectErrors', 'failed connection attempts to servers'),
  counter('retries', 'connection attempts retried'),
  counter('redispatches', 'retries moved to another server'),
  counter('queued', 'sessions that waited in a queue for a server slot'),
  gauge('currentQueued', 'sessions waiting in the queue now (a backend: its own queue; a server: the sessions waiting for it alone)'),
  peak('maxQueued', 'most sessions waiting in the queue at once'),
  counter('queueTimeouts', 'sessions that waited longer than timeout queue'),
  counter('noServer', 'sessions closed because no server was usable'),
  counter('clientTimeouts', 'sessions ended by timeout client, tunnel or client-hs'),
  counter('serverTimeouts', 'sessions ended by timeout server or connect'),
  counter('clientAborts', 'sessions the client ended by closing, resetting or timing out while connected to a server'),
  counter('serverAborts', 'sessions the server ended by resetting or timing out once connected'),
  counter('bytesIn', 'bytes received from clients (relayed to servers), open sessions included'),
  counter('bytesOut', 'bytes sent to clients (relayed from servers), open sessions included'),
  gauge('sessionRate', 'sessions over the last second'),
  peak('maxSessionRate', 'highest sessions-per-second rate seen'),
  gauge('connectionRate', 'connections accepted over the last second (frontends)'),
  peak('maxConnectionRate', 'highest connections-per-second rate seen (frontends)'),
  {
    name: 'lastSession' as const,
    kind: 'gauge',
    aggregate: 'max',
    retained: true,
    clearedBy: 'all',
    live: true,
    help: 'wall-clock time (ms since the epoch) a session last went to the backend or server; 0: never',
  },
] satisfies readonly CounterSpec[];

export type CounterField = (typeof COUNTERS)[number]['name'];
export const COUNTER_FIELDS: readonly CounterField[] = COUNTERS.map((c) => c.name);
export const COUNTER_INDEX = Object.fromEntries(COUNTER_FIELDS.map((f, i) => [f, i])) as Record<CounterField, number>;
export const COUNTER_SPECS: readonly CounterSpec[] = COUNTERS;

/** Which rate window of a Counters object an event belongs to. */
export const RATE_SESSIONS = 0;
export const RATE_CONNECTIONS = 1;
export const RATE_WINDOWS = [
  { rate: COUNTER_INDEX.sessionRate, max: COUNTER_INDEX.maxSessionRate },
  { rate: COUNTER_INDEX.connectionRate, max: COUNTER_INDEX.maxConnectionRate },
];
/** A rate is counted over one second, the previous second's count fading out as the current one fills. */
const RATE_PERIOD_MS = 1000;

export class Counters {
  readonly values = new Float64Array(COUNTER_FIELDS.length);
  /**
   * Per rate window: [start tick of the current period, events in it, events in the previous].
   * Ticks are the loop's ms clock (a uint32 that wraps, compared by difference).
   */
  private readonly windows = new Float64Array(3 * RATE_WINDOWS.length);
  /** The loop tick of the last session (lastSession is its wall-clock form, made at snapshot time); -1: none. */
  lastSessionTick = -1;

  add(field: CounterField, n = 1): void {
    this.values[COUNTER_INDEX[field]]! += n;
  }

  get(field: CounterField): number {
    return this.values[COUNTER_INDEX[field]]!;
  }

  /** Raises a peak to `value` when it is higher. */
  raise(field: CounterField, value: number): void {
    const i = COUNTER_INDEX[field];
    if (value > this.values[i]!) this.values[i] = value;
  }

  /** One event in a rate window (RATE_SESSIONS, RATE_CONNECTIONS) at loop tick `now`; raises its peak. */
  tick(window: number, now: number): void {
    const w = 3 * window;
    this.advance(w, now);
    this.windows[w + 1]!++;
    const rate = this.rateAt(w, now);
    const max = RATE_WINDOWS[window]!.max;
    if (rate > this.values[max]!) this.values[max] = rate;
  }

  /** Events per second in a rate window at loop tick `now`. */
  rate(window: number, now: number): number {
    const w = 3 * window;
    this.advance(w, now);
    return this.rateAt(w, now);
  }

  /** Resets what `clear counters` (all: `clear counters all`) resets, by the table. */
  clear(all: boolean): void {
    COUNTERS.forEach((spec: CounterSpec, i) => {
      if (spec.clearedBy === 'max' || (all && spec.clearedBy === 'all')) this.values[i] = 0;
    });
    if (all) {
      this.windows.fill(0);
      this.lastSessionTick = -1;
    }
  }

  toObject(): Record<CounterField, number> {
    return Object.fromEntries(COUNTER_FIELDS.map((f, i) => [f, this.values[i]!])) as Record<CounterField, number>;
  }

  private advance(w: number, now: number): void {
    const elapsed = (now - this.windows[w]!) >>> 0;
    if (elapsed < RATE_PERIOD_MS) return;
    // One period on: the current count becomes the previous; more: both are over.
    this.windows[w + 2] = elapsed < 2 * RATE_PERIOD_MS ? this.windows[w + 1]! : 0;
    this.windows[w + 1] = 0;
    this.windows[w] = (now - (elapsed % RATE_PERIOD_MS)) >>> 0;
  }

  /** The current period's events plus the share of the previous one's still inside the last second. */
  private rateAt(w: number, now: number): number {
    const elapsed = (now - this.windows[w]!) >>> 0;
    const previous = this.windows[w + 2]!;
    return Math.round(this.windows[w + 1]! + (previous * (RATE_PERIOD_MS - elapsed)) / RATE_PERIOD_MS);
  }
}

