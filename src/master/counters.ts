/**
 * Per-proxy counters across processes: each worker sends a snapshot of its frontends', backends'
 * and servers' counters; the master combines the live workers' latest snapshots with what the
 * workers that are gone counted before they left, so totals neither drop at a reload nor at a
 * respawn. How each counter combines (summed or the largest, kept after its worker left or not)
 * is src/stats/fields.ts's table.
 */
import { COUNTER_FIELDS, COUNTER_INDEX, COUNTER_SPECS, RATE_WINDOWS, type Counters } from '../stats/fields.js';
import type { BackendRuntime, FrontendRuntime, ServerRuntime } from '../session/session-types.js';
import type { SessionEngine } from '../session/session.js';
import type { Runtime } from '../runtime/build.js';

/** Counters by '<kind>/<name>': 'frontend/fe', 'backend/be', 'server/be/s1'; values in COUNTER_FIELDS order. */
export type CountersSnapshot = Record<string, number[]>;

/** What is measured at snapshot time rather than counted: open sessions' bytes, queues, rates. */
export interface LiveSources {
  readonly engine: SessionEngine;
  /** The loop's tick now (rates and last-session times are kept in ticks). */
  readonly now: number;
}

const CURRENT = COUNTER_INDEX.current;
const QUEUED = COUNTER_INDEX.currentQueued;
const LAST_SESSION = COUNTER_INDEX.lastSession;
const BYTES_IN = COUNTER_INDEX.bytesIn;
const BYTES_OUT = COUNTER_INDEX.bytesOut;

function row(counters: Counters, live: LiveSources | undefined, wallNow: number): number[] {
  const values = Array.from(counters.values);
  if (live === undefined) return values;
  RATE_WINDOWS.forEach(({ rate }, window) => (values[rate] = counters.rate(window, live.now)));
  values[LAST_SESSION] = counters.lastSessionTick < 0 ? 0 : wallNow - ((live.now - counters.lastSessionTick) >>> 0);
  return values;
}

/**
 * This process's counters. With `live`, the gauges measured now are filled in (servers' open
 * sessions from their `cur`, queue lengths, rates, last-session times) and the bytes the relay
 * has moved for sessions still open are added to their frontend, backend and server.
 */
export function snapshotCounters(runtime: Runtime, live?: LiveSources): CountersSnapshot {
  const out: CountersSnapshot = {};
  const wallNow = Date.now();
  const frontendKey = new Map<FrontendRuntime, string>();
  const backendKey = new Map<BackendRuntime, string>();
  const serverKey = new Map<ServerRuntime, string>();
  for (const [name, frontend] of runtime.frontends) {
    frontendKey.set(frontend, `frontend/${name}`);
    out[`frontend/${name}`] = row(frontend.counters, live, wallNow);
  }
  for (const [name, backend] of runtime.backends) {
    const values = row(backend.counters, live, wallNow);
    if (live !== undefined) values[QUEUED] = live.engine.queuedUnassigned(backend);
    backendKey.set(backend, `backend/${name}`);
    out[`backend/${name}`] = values;
    for (const server of backend.servers) {
      const serverValues = row(server.counters, live, wallNow);
      serverValues[CURRENT] = server.cur;
      if (live !== undefined) serverValues[QUEUED] = live.engine.queuedFor(backend, server);
      serverKey.set(server, `server/${name}/${server.name}`);
      out[`server/${name}/${server.name}`] = serverValues;
    }
  }
  live?.engine.relayedBytes((frontend, backend, server, bytesIn, bytesOut) => {
    for (const key of [frontendKey.get(frontend), backendKey.get(backend), serverKey.get(server)]) {
      const values = key === undefined ? undefined : out[key];
      if (values === undefined) continue;
      values[BYTES_IN]! += bytesIn;
      values[BYTES_OUT]! += bytesOut;
    }
  });
  return out;
}

function combine(target: Map<string, number[]>, snapshot: CountersSnapshot, retiring: boolean): void {
  for (const [key, values] of Object.entries(snapshot)) {
    let sum = target.get(key);
    if (sum === undefined) {
      sum = new Array<number>(COUNTER_FIELDS.length).fill(0);
      target.set(key, sum);
    }
    for (let i = 0; i < COUNTER_FIELDS.length; i++) {
      const spec = COUNTER_SPECS[i]!;
      if (retiring && !spec.retained) continue;
      const value = values[i] ?? 0;
      sum[i] = spec.aggregate === 'max' ? Math.max(sum[i]!, value) : sum[i]! + value;
    }
  }
}

/** The master's running totals. */
export class CounterTotals {
  /** What workers that are gone counted, their gauges of the moment excluded. */
  private readonly retired = new Map<string, number[]>();

  /** A worker left: its last snapshot becomes part of the totals for good. */
  retire(snapshot: CountersSnapshot | null): void {
    if (snapshot !== null) combine(this.retired, snapshot, true);
  }

  /** `clear counters [all]`: what gone workers counted is reset as the live workers reset theirs. */
  clear(all: boolean): void {
    for (const values of this.retired.values()) {
      COUNTER_SPECS.forEach((spec, i) => {
        if (spec.clearedBy === 'max' || (all && spec.clearedBy === 'all')) values[i] = 0;
      });
    }
  }

  /** Retired totals plus the live workers' snapshots, in a stable order (frontends, backends, servers). */
  total(live: Iterable<CountersSnapshot | null>): Map<string, number[]> {
    const sum = new Map<string, number[]>();
    for (const [key, values] of this.retired) sum.set(key, [...values]);
    for (const snapshot of live) if (snapshot !== null) combine(sum, snapshot, false);
    const order = (key: string): number => (key.startsWith('frontend/') ? 0 : key.startsWith('backend/') ? 1 : 2);
    return new Map([...sum].sort((a, b) => order(a[0]) - order(b[0]) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
  }
}

/** 'show counters' as CSV: '# kind,name,<fields>' then one line per proxy or server. */
export function countersCsv(totals: Map<string, number[]>): string {
  const lines = [`# kind,name,${COUNTER_FIELDS.join(',')}`];
  for (const [key, values] of totals) {
    const slash = key.indexOf('/');
    lines.push(`${key.slice(0, slash)},${key.slice(slash + 1)},${values.join(',')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** 'show counters json': [{ kind, name, sessions, current, ... }]. */
export function countersJson(totals: Map<string, number[]>): string {
  const rows = [...totals].map(([key, values]) => {
    const slash = key.indexOf('/');
    const row: Record<string, string | number> = { kind: key.slice(0, slash), name: key.slice(slash + 1) };
    COUNTER_FIELDS.forEach((field, i) => (row[field] = values[i] ?? 0));
    return row;
  });
  return `${JSON.stringify(rows, null, 2)}\n`;
}
