/**
 * `show table`, `clear table` and `set table` (HAProxy's management.txt 9.3), on the shared
 * stick tables: a master maps every table itself, so it answers for all its workers at once
 * (scope 'master'), from the same memory the workers update.
 *
 * Layout and answers are HAProxy 2.6's, observed on its stats socket
 * (docs/observed/haproxy-stick-tables.md): `# table: <name>, type: <type>, size:<n>,
 * used:<n>` then one `0x<id>: key=<k> use=<n> exp=<ms> <data>=<v>...` line per entry and a
 * blank line; `show table` alone lists the headers, the last declared table first; a user-level
 * connection sees the header and "# contents not dumped due to insufficient privileges".
 */
import type { ControlLevel } from '../config/model.js';
import type { BackendRuntime } from '../session/session-types.js';
import type { StickEntry, StickTable } from '../stick/stick-table.js';

/** A filter of `show table`/`clear table`: `key <k>` or `data.<type> <op> <value>`. */
type TableFilter = { kind: 'key'; key: string } | { kind: 'data'; name: string; op: 'eq' | 'ne' | 'le' | 'ge' | 'lt' | 'gt'; value: number };

const OPERATORS = new Set(['eq', 'ne', 'le', 'ge', 'lt', 'gt']);

/** The filters after the table's name, or HAProxy's complaint. */
function parseFilters(args: readonly string[], table: StickTable): TableFilter[] | string {
  const filters: TableFilter[] = [];
  for (let i = 0; i < args.length; ) {
    const word = args[i]!;
    if (word === 'key') {
      const key = args[i + 1];
      if (key === undefined || key === '') return 'Key value expected\n';
      filters.push({ kind: 'key', key });
      i += 2;
      continue;
    }
    if (word.startsWith('data.')) {
      const name = word.slice(5);
      if (!table.has(name)) return `Filter entry #${filters.length + 1}: Unknown data type\n`;
      const op = args[i + 1] ?? '';
      const value = args[i + 2] ?? '';
      if (!OPERATORS.has(op)) return `Filter entry #${filters.length + 1}: Require and operator among "eq", "ne", "le", "ge", "lt", "gt"\n`;
      if (!/^\d+$/.test(value)) return `Filter entry #${filters.length + 1}: Require a valid integer value to compare against\n`;
      filters.push({ kind: 'data', name, op: op as 'eq', value: Number(value) });
      i += 3;
      continue;
    }
    return 'Required arguments: <table> "data.<store_data_type>" <operator> <value> or <table> key <key>\n';
  }
  return filters;
}

function passes(entry: StickEntry, filters: readonly TableFilter[]): boolean {
  for (const filter of filters) {
    if (filter.kind === 'key') continue; // applied when listing
    const datum = entry.data.find((d) => d.name === filter.name);
    if (datum === undefined) return false;
    const v = datum.value;
    const n = filter.value;
    const ok = filter.op === 'eq' ? v === n : filter.op === 'ne' ? v !== n : filter.op === 'le' ? v <= n : filter.op === 'ge' ? v >= n : filter.op === 'lt' ? v < n : v > n;
    if (!ok) return false;
  }
  return true;
}

/** The context the table commands need: the tables, and the backends (server names for server_key). */
export interface TableContext {
  readonly tables: ReadonlyMap<string, StickTable>;
  readonly backends: ReadonlyMap<string, BackendRuntime>;
}

function header(name: string, table: StickTable): string {
  return `# table: ${name}, type: ${table.type}, size:${table.size}, used:${table.used}\n`;
}

/**
 * HAProxy stores the server's name next to its id (`server_key`, 2.6); epoxy derives it from
 * the id and the servers of the backend owning the table, which is where `stick` rules store.
 */
function serverName(ctx: TableContext, tableName: string, id: number): string | null {
  const backend = ctx.backends.get(tableName);
  return backend?.servers.find((s) => s.id === id)?.name ?? null;
}

function entryLine(ctx: TableContext, tableName: string, entry: StickEntry): string {
  let line = `0x${(entry.slot + 1).toString(16).padStart(12, '0')}: key=${entry.key} use=${entry.use} exp=${entry.exp ?? 0}`;
  for (const datum of entry.data) {
    line += ` ${datum.name}${datum.period === null ? '' : `(${datum.period})`}=${datum.value}`;
    if (datum.name === 'server_id') {
      const name = serverName(ctx, tableName, datum.value);
      if (name !== null) line += ` server_key=${name}`;
    }
  }
  return `${line}\n`;
}

export interface TableAnswer {
  readonly text: string;
  readonly failed?: boolean;
  readonly data?: unknown;
}

/** `show table [<table> [key <k> | data.<type> <op> <v>]...]`. */
export function showTable(args: readonly string[], ctx: TableContext, level: ControlLevel): TableAnswer {
  if (args.length === 0) {
    // HAProxy lists its tables from the last declared.
    const names = [...ctx.tables.keys()].reverse();
    return {
      text: names.map((name) => header(name, ctx.tables.get(name)!)).join(''),
      data: names.map((name) => ({ table: name, type: ctx.tables.get(name)!.type, size: ctx.tables.get(name)!.size, used: ctx.tables.get(name)!.used })),
    };
  }
  const name = args[0]!;
  const table = ctx.tables.get(name);
  if (table === undefined) return { text: 'No such table\n', failed: true };
  const filters = parseFilters(args.slice(1), table);
  if (typeof filters === 'string') return { text: filters, failed: true };
  if (level === 'user') return { text: `${header(name, table)}# contents not dumped due to insufficient privileges\n` };
  const key = filters.find((f) => f.kind === 'key');
  const entries = table.entries(key?.kind === 'key' ? key.key : undefined);
  if (entries === null) return { text: 'Invalid key\n', failed: true };
  const shown = entries.filter((e) => passes(e, filters));
  return {
    text: `${header(name, table)}${shown.map((e) => entryLine(ctx, name, e)).join('')}`,
    data: { table: name, type: table.type, size: table.size, used: table.used, entries: shown },
  };
}

/** `clear table <table> [key <k> | data.<type> <op> <v>]...`: removes the matching entries not in use. */
export function clearTable(args: readonly string[], ctx: TableContext): TableAnswer {
  const name = args[0];
  if (name === undefined) return { text: 'Required arguments: <table> "data.<store_data_type>" <operator> <value> or <table> key <key>\n', failed: true };
  const table = ctx.tables.get(name);
  if (table === undefined) return { text: 'No such table\n', failed: true };
  const filters = parseFilters(args.slice(1), table);
  if (typeof filters === 'string') return { text: filters, failed: true };
  let removed = 0;
  if (filters.length === 0) {
    removed = table.clear() ?? 0;
  } else {
    const key = filters.find((f) => f.kind === 'key');
    const entries = table.entries(key?.kind === 'key' ? key.key : undefined);
    if (entries === null) return { text: 'Invalid key\n', failed: true };
    for (const entry of entries) if (entry.use === 0 && passes(entry, filters)) removed += table.clear(entry.key) ?? 0;
  }
  // HAProxy answers nothing, whether entries went or were in use.
  return { text: '', data: { removed } };
}

/** `set table <table> key <k> [data.<type> <value>]*`: creates the entry if needed and sets the data. */
export function setTable(args: readonly string[], ctx: TableContext): TableAnswer {
  const name = args[0];
  const table = name === undefined ? undefined : ctx.tables.get(name);
  if (table === undefined) return { text: 'No such table\n', failed: true };
  if (args[1] !== 'key' || args[2] === undefined || args[2] === '') return { text: 'Key value expected\n', failed: true };
  const values: Array<{ name: string; value: number }> = [];
  for (let i = 3; i < args.length; i += 2) {
    const word = args[i]!;
    if (!word.startsWith('data.') || !table.has(word.slice(5))) return { text: 'Unknown data type\n', failed: true };
    const value = args[i + 1] ?? '';
    if (!/^\d+$/.test(value)) return { text: 'Require a valid integer value to store\n', failed: true };
    values.push({ name: word.slice(5), value: Number(value) });
  }
  const result = table.setEntry(args[2], values);
  if (result !== null) return { text: result, failed: true };
  return { text: '' };
}
