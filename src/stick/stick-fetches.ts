/**
 * The stick-table sample fetches (HAProxy 2.6 section 7.3.3): `sc_<data>(<ctr>[,<table>])` and
 * `sc<n>_<data>([<table>])` on the entry a session's stick counter tracks, `src_<data>([<table>])`
 * on the client address's entry, `table_avl`/`table_cnt`. As in HAProxy, a counter not tracked
 * or a datum the table does not store gives no sample (the ACL does not match), and a client
 * without an entry reads 0 from the `src_*` ones.
 */
import type { SampleContext, FetchDef, ResolvedArg, ArgSpec } from '../sample/fetches.js';
import { addressSample, boolSample, intSample, type Sample } from '../sample/sample-types.js';
import type { TrackedCounter } from '../session/session-types.js';
import type { StickTable } from './stick-table.js';

/** What a fetch reads: a stored datum (kbytes_* divide bytes by 1024), or an action on gpc0/gpc1. */
type Reading = { readonly data: string; readonly shift?: number } | { readonly act: 'inc' | 'clr'; readonly which: 0 | 1 };

/** Fetch suffixes and what they read. */
const READINGS: ReadonlyArray<readonly [string, Reading, string]> = [
  ['conn_cnt', { data: 'conn_cnt' }, 'connections counted'],
  ['conn_cur', { data: 'conn_cur' }, 'connections open now'],
  ['conn_rate', { data: 'conn_rate' }, 'connection rate over the stored period'],
  ['sess_cnt', { data: 'sess_cnt' }, 'sessions counted'],
  ['sess_rate', { data: 'sess_rate' }, 'session rate over the stored period'],
  ['bytes_in_rate', { data: 'bytes_in_rate' }, 'client-to-server byte rate'],
  ['bytes_out_rate', { data: 'bytes_out_rate' }, 'server-to-client byte rate'],
  ['kbytes_in', { data: 'bytes_in_cnt', shift: 10 }, 'client-to-server kilobytes'],
  ['kbytes_out', { data: 'bytes_out_cnt', shift: 10 }, 'server-to-client kilobytes'],
  ['get_gpc0', { data: 'gpc0' }, 'gpc0'],
  ['get_gpc1', { data: 'gpc1' }, 'gpc1'],
  ['gpc0_rate', { data: 'gpc0_rate' }, "gpc0's increment rate"],
  ['gpc1_rate', { data: 'gpc1_rate' }, "gpc1's increment rate"],
  ['get_gpt0', { data: 'gpt0' }, 'gpt0'],
  ['http_req_cnt', { data: 'http_req_cnt' }, 'HTTP requests (0 in TCP mode)'],
  ['http_req_rate', { data: 'http_req_rate' }, 'HTTP request rate (0 in TCP mode)'],
  ['http_err_cnt', { data: 'http_err_cnt' }, 'HTTP errors (0 in TCP mode)'],
  ['http_err_rate', { data: 'http_err_rate' }, 'HTTP error rate (0 in TCP mode)'],
  ['inc_gpc0', { act: 'inc', which: 0 }, 'increments gpc0 and gives its new value'],
  ['inc_gpc1', { act: 'inc', which: 1 }, 'increments gpc1 and gives its new value'],
  ['clr_gpc0', { act: 'clr', which: 0 }, 'clears gpc0 and gives its value before'],
  ['clr_gpc1', { act: 'clr', which: 1 }, 'clears gpc1 and gives its value before'],
];

const int = (n: number | null): Sample | null => (n === null ? null : intSample(n));

function shifted(n: number | null, reading: { readonly shift?: number }): number | null {
  return n === null ? null : reading.shift === undefined ? n : Math.floor(n / 2 ** reading.shift);
}

/** The session's counter `ctr`, or null. */
function trackedOf(ctx: SampleContext, ctr: number): TrackedCounter | null {
  return ctx.tracked?.[ctr] ?? null;
}

/** A reading on a tracked counter; `table` (named in the fetch) looks the tracked key up there instead. */
function onTracked(counter: TrackedCounter | null, table: StickTable | null, reading: Reading): Sample | null {
  if (counter === null) return null;
  if (table !== null && table !== counter.table) return onKey(table, counter.key, reading);
  if ('act' in reading) return int(reading.act === 'inc' ? counter.table.incrementGpc(counter.slot, reading.which) : counter.table.clearGpc(counter.slot, reading.which));
  return int(shifted(counter.table.read(counter.slot, reading.data), reading));
}

/** A reading on the entry of `key` in `table` (0 when there is none). */
function onKey(table: StickTable, key: Sample, reading: Reading): Sample | null {
  if ('act' in reading) return int(reading.act === 'inc' ? table.incrementGpcOf(key, reading.which) : table.clearGpcOf(key, reading.which));
  return int(shifted(table.lookup(key, reading.data), reading));
}

const TABLE: ArgSpec = { kind: 'table', optional: true };
const asTable = (arg: ResolvedArg | undefined): StickTable | null => (arg === null || arg === undefined ? null : (arg as StickTable));

function definitions(): FetchDef[] {
  const defs: FetchDef[] = [];
  for (const [suffix, reading, what] of READINGS) {
    defs.push({
      name: `sc_${suffix}`,
      args: [{ kind: 'int', min: 0 }, TABLE],
      out: 'int',
      summary: `${what}, of the entry stick counter <ctr> tracks (in <table> if named)`,
      validate: (args) => (args[0]?.kind === 'int' && args[0].value > 2 ? `invalid stick counter '${args[0].value}' (0 to 2)` : null),
      eval: (ctx, [ctr, table]) => onTracked(trackedOf(ctx, ctr as number), asTable(table), reading),
    });
    for (const n of [0, 1, 2]) {
      defs.push({
        name: `sc${n}_${suffix}`,
        args: [TABLE],
        out: 'int',
        summary: `sc_${suffix}(${n}[,<table>])`,
        eval: (ctx, [table]) => onTracked(trackedOf(ctx, n), asTable(table), reading),
      });
    }
    defs.push({
      name: `src_${suffix}`,
      args: [TABLE],
      out: 'int',
      summary: `${what}, of the client address's entry in <table> (default: the proxy's); 0 without an entry`,
      eval: (ctx, [table]) => {
        const key = addressSample(ctx.src);
        const t = asTable(table);
        return key === null || t === null ? null : onKey(t, key, reading);
      },
    });
  }
  defs.push({
    name: 'sc_tracked',
    args: [{ kind: 'int', min: 0 }, TABLE],
    out: 'bool',
    summary: 'whether stick counter <ctr> is tracked',
    eval: (ctx, [ctr]) => boolSample(trackedOf(ctx, ctr as number) !== null),
  });
  for (const n of [0, 1, 2]) {
    defs.push({ name: `sc${n}_tracked`, args: [TABLE], out: 'bool', summary: `sc_tracked(${n})`, eval: (ctx) => boolSample(trackedOf(ctx, n) !== null) });
  }
  defs.push({
    name: 'table_avl',
    args: [TABLE],
    out: 'int',
    summary: 'free entries in the table',
    eval: (_, [table]) => {
      const t = asTable(table);
      return t === null ? null : intSample(Math.max(0, t.size - t.used));
    },
  });
  defs.push({
    name: 'table_cnt',
    args: [TABLE],
    out: 'int',
    summary: 'entries in the table',
    eval: (_, [table]) => {
      const t = asTable(table);
      return t === null ? null : intSample(t.used);
    },
  });
  return defs;
}

export const STICK_FETCHES: readonly FetchDef[] = definitions();
