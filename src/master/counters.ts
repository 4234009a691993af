/**
 * Per-proxy counters across processes: each worker sends a snapshot of its frontends', backends'
 * and servers' counters; the master sums the live workers' latest snapshots with what the workers
 * that are gone counted before they left, so totals neither drop at a reload nor at a respawn.
 * Gauges ('current') are only summed over live workers: a process that is gone holds nothing.
 */
import { COUNTER_FIELDS, type CounterField } from '../session/session-types.js';
import type { Runtime } from '../runtime/build.js';

/** Counters by '<kind>/<name>': 'frontend/fe', 'backend/be', 'server/be/s1'; values in COUNTER_FIELDS order. */
export type CountersSnapshot = Record<string, number[]>;

const GAUGES = new Set<CounterField>(['current']);
const GAUGE_INDEXES = COUNTER_FIELDS.map((field, i) => (GAUGES.has(field) ? i : -1)).filter((i) => i >= 0);

export function snapshotCounters(runtime: Runtime): CountersSnapshot {
  const out: CountersSnapshot = {};
  for (const [name, frontend] of runtime.frontends) out[`frontend/${name}`] = Array.from(frontend.counters.values);
  for (const [name, backend] of runtime.backends) {
    out[`backend/${name}`] = Array.from(backend.counters.values);
    for (const server of backend.servers) out[`server/${name}/${server.name}`] = Array.from(server.counters.values);
  }
  return out;
}

function addInto(target: Map<string, number[]>, snapshot: CountersSnapshot, skipGauges: boolean): void {
  for (const [key, values] of Object.entries(snapshot)) {
    let sum = target.get(key);
    if (sum === undefined) {
      sum = new Array<number>(COUNTER_FIELDS.length).fill(0);
      target.set(key, sum);
    }
    for (let i = 0; i < COUNTER_FIELDS.length; i++) {
      if (skipGauges && GAUGE_INDEXES.includes(i)) continue;
      sum[i]! += values[i] ?? 0;
    }
  }
}

/** The master's running totals. */
export class CounterTotals {
  /** What workers that are gone counted, gauges excluded. */
  private readonly retired = new Map<string, number[]>();

  /** A worker left: its last snapshot becomes part of the totals for good. */
  retire(snapshot: CountersSnapshot | null): void {
    if (snapshot !== null) addInto(this.retired, snapshot, true);
  }

  /** Retired totals plus the live workers' snapshots, in a stable order (frontends, backends, servers). */
  total(live: Iterable<CountersSnapshot | null>): Map<string, number[]> {
    const sum = new Map<string, number[]>();
    for (const [key, values] of this.retired) sum.set(key, [...values]);
    for (const snapshot of live) if (snapshot !== null) addInto(sum, snapshot, false);
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
