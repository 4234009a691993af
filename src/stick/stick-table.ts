/**
 * A stick table at run time: the shared-memory table of native/stick_table.h under HAProxy's
 * data types. One table serves every worker: the master creates the memory (a memfd) and hands
 * the fd to each worker, which maps it; every update is made under the table's process-shared
 * lock, so conn_cur, rates and server_id are the same whichever worker a client reaches.
 *
 * What each event does follows HAProxy 2.6 (stream_track_stkctr(), session_count_new(),
 * stream_store_counters()): tracking an entry counts a connection (conn_cnt, conn_rate,
 * conn_cur); a tracked connection that becomes a session counts sess_cnt and sess_rate; the end
 * of the session gives conn_cur back and adds the bytes it carried.
 */
import { native, type NativeStickTable } from '../native.js';
import type { StickKeyType, StickStore, StickTableConfig } from '../config/model.js';
import { STICK_DATA_TYPES, stickDataKind } from '../config/stick.js';
import type { Sample } from '../sample/sample-types.js';
import { encodeKey, keyText, parseKeyText } from './stick-key.js';

const KIND_CODE = { counter: 0, gauge: 1, rate: 2 } as const;

/** An entry as `show table` lists it. */
export interface StickEntry {
  /** Its slot in the table: stable while it lives (`show table` prints it where HAProxy prints an address). */
  readonly slot: number;
  readonly key: string;
  readonly use: number;
  /** ms until it expires; null: the table has no expiry. */
  readonly exp: number | null;
  /** Stored data in HAProxy's order: `conn_rate(10000)` style names with their values. */
  readonly data: ReadonlyArray<{ readonly name: string; readonly period: number | null; readonly value: number }>;
}

/** What makes two table definitions the same memory: kept across a reload only when equal. */
export function tableSignature(config: StickTableConfig, store: readonly StickStore[]): string {
  const data = store.map((s) => `${s.name}${s.period === null ? '' : `(${s.period})`}`).sort();
  return [config.type, config.keyLength, config.size, config.expire ?? 0, config.nopurge ? 1 : 0, ...data].join(' ');
}

/** The stored data types in HAProxy's order (the order `show table` prints). */
function orderedStore(store: readonly StickStore[]): StickStore[] {
  const rank = new Map(STICK_DATA_TYPES.map((d, i) => [d.name, i]));
  return [...store].sort((a, b) => rank.get(a.name)! - rank.get(b.name)!);
}

export class StickTable {
  /** Data types in field order. */
  readonly fields: readonly StickStore[];
  /** Field index of each stored data type. */
  private readonly fieldOf: ReadonlyMap<string, number>;
  /** Scratch buffers, reused by every operation (the table is used from one thread). */
  private readonly key: Uint8Array;
  private readonly values: Float64Array;
  private readonly deltas: Float64Array;
  private readonly zero: Float64Array;
  private closed = false;

  readonly type: StickKeyType;
  /** ms an untouched entry lives; null: forever. */
  readonly expire: number | null;
  /** The flags that create an entry: CREATE, and NO_EVICT for a `nopurge` table. */
  private readonly create: number;

  private constructor(
    readonly name: string,
    config: StickTableConfig,
    /** The memfd: kept open so that workers spawned later (and reloads) can be given it. */
    readonly fd: number,
    private readonly handle: NativeStickTable,
    store: readonly StickStore[],
  ) {
    this.type = config.type;
    this.expire = config.expire;
    this.create = native.stickTable.CREATE | (config.nopurge ? native.stickTable.NO_EVICT : 0);
    this.fields = orderedStore(store);
    this.fieldOf = new Map(this.fields.map((s, i) => [s.name, i]));
    this.key = new Uint8Array(handle.keyLength);
    this.values = new Float64Array(Math.max(1, this.fields.length));
    this.deltas = new Float64Array(Math.max(1, this.fields.length));
    this.zero = new Float64Array(Math.max(1, this.fields.length));
  }

  /** Creates the table's shared memory. */
  static create(name: string, config: StickTableConfig, store: readonly StickStore[]): StickTable {
    const fields = orderedStore(store);
    const layout = new Int32Array(fields.length * 2);
    fields.forEach((s, i) => {
      layout[2 * i] = KIND_CODE[stickDataKind(s.name)!];
      layout[2 * i + 1] = s.period ?? 0;
    });
    const fd = native.stickTableCreate(config.keyLength, config.size, config.expire ?? 0, layout);
    try {
      return new StickTable(name, config, fd, new native.StickTable(fd), store);
    } catch (error) {
      native.close(fd);
      throw error;
    }
  }

  /** Maps a table another process created (a worker given the master's fd), which owns `fd` from now on. */
  static adopt(fd: number, name: string, config: StickTableConfig, store: readonly StickStore[]): StickTable {
    const handle = new native.StickTable(fd);
    if (handle.keyLength !== config.keyLength || handle.size !== config.size || handle.fieldCount !== store.length) {
      handle.close();
      throw new Error(`stick table '${name}': the shared memory does not match the configuration`);
    }
    return new StickTable(name, config, fd, handle, store);
  }

  has(data: string): boolean {
    return this.fieldOf.has(data);
  }

  get used(): number {
    return this.handle.used;
  }

  get size(): number {
    return this.handle.size;
  }

  private keyOf(sample: Sample): boolean {
    return encodeKey(sample, this.type, this.key);
  }

  private delta(data: string, value: number): void {
    const i = this.fieldOf.get(data);
    if (i !== undefined) this.deltas[i] = value;
  }

  /**
   * Starts tracking the entry of `sample` for a connection: creates it if needed, holds it
   * (it neither expires nor is evicted while tracked) and counts the connection. Returns the
   * slot to give to the other calls, or -1 when there is no key or no room.
   */
  track(sample: Sample): number {
    if (!this.keyOf(sample)) return -1;
    const slot = this.handle.get(this.key, this.create | native.stickTable.REF);
    if (slot < 0) return -1;
    this.deltas.fill(0);
    this.delta('conn_cnt', 1);
    this.delta('conn_rate', 1);
    this.delta('conn_cur', 1);
    this.handle.update(slot, this.deltas);
    return slot;
  }

  /** The tracked connection is a session now (past the connection rules). */
  countSession(slot: number): void {
    this.deltas.fill(0);
    this.delta('sess_cnt', 1);
    this.delta('sess_rate', 1);
    this.handle.update(slot, this.deltas);
  }

  /** The tracked session ended, having carried these bytes: conn_cur given back, the entry let go. */
  untrack(slot: number, bytesIn: number, bytesOut: number): void {
    this.deltas.fill(0);
    this.delta('conn_cur', -1);
    this.delta('bytes_in_cnt', bytesIn);
    this.delta('bytes_in_rate', bytesIn);
    this.delta('bytes_out_cnt', bytesOut);
    this.delta('bytes_out_rate', bytesOut);
    this.handle.update(slot, this.deltas);
    this.handle.release(slot);
  }

  /** `sc-inc-gpc0` / `sc-inc-gpc1` (and their rates); returns the counter's new value, or null if not stored. */
  incrementGpc(slot: number, which: 0 | 1): number | null {
    const name = which === 0 ? 'gpc0' : 'gpc1';
    this.deltas.fill(0);
    this.delta(name, 1);
    this.delta(`${name}_rate`, 1);
    this.handle.update(slot, this.deltas, this.values);
    const i = this.fieldOf.get(name);
    return i === undefined ? null : this.values[i]!;
  }

  /** `sc_clr_gpc0`/`sc_clr_gpc1`: the counter's value before it is set to 0; null if not stored. */
  clearGpc(slot: number, which: 0 | 1): number | null {
    const i = this.fieldOf.get(which === 0 ? 'gpc0' : 'gpc1');
    if (i === undefined) return null;
    this.handle.update(slot, this.zero, this.values);
    const before = this.values[i]!;
    this.handle.set(slot, i, 0);
    return before;
  }

  /** `src_inc_gpc0`/`src_inc_gpc1`: creates `sample`'s entry if needed; the new value, null if not stored or no key. */
  incrementGpcOf(sample: Sample, which: 0 | 1): number | null {
    const name = which === 0 ? 'gpc0' : 'gpc1';
    const i = this.fieldOf.get(name);
    if (i === undefined || !this.keyOf(sample)) return null;
    this.deltas.fill(0);
    this.delta(name, 1);
    this.delta(`${name}_rate`, 1);
    return this.handle.updateKey(this.key, this.create, this.deltas, this.values) === 0 ? this.values[i]! : null;
  }

  /** `src_clr_gpc0`/`src_clr_gpc1`: the value before, 0 without an entry; null if not stored or no key. */
  clearGpcOf(sample: Sample, which: 0 | 1): number | null {
    const i = this.fieldOf.get(which === 0 ? 'gpc0' : 'gpc1');
    if (i === undefined || !this.keyOf(sample)) return null;
    if (this.handle.get(this.key, 0, this.values) < 0) return 0;
    const before = this.values[i]!;
    this.handle.setKey(this.key, i, 0);
    return before;
  }

  /** `sc-set-gpt0`. */
  setGpt0(slot: number, value: number): void {
    const i = this.fieldOf.get('gpt0');
    if (i !== undefined) this.handle.set(slot, i, value);
  }

  /** A stored datum of a tracked entry, now (a rate over its period); null when not stored. */
  read(slot: number, data: string): number | null {
    const i = this.fieldOf.get(data);
    if (i === undefined) return null;
    this.handle.update(slot, this.zero, this.values);
    return this.values[i]!;
  }

  /**
   * A stored datum of `sample`'s entry without tracking it (`src_conn_rate`...): 0 when there
   * is no entry, as HAProxy answers; null when the table does not store it or there is no key.
   */
  lookup(sample: Sample, data: string): number | null {
    const i = this.fieldOf.get(data);
    if (i === undefined || !this.keyOf(sample)) return null;
    const slot = this.handle.get(this.key, 0, this.values);
    return slot < 0 ? 0 : this.values[i]!;
  }

  /** `stick match`: the server id stored for `sample`, or 0 (none). Refreshes the entry, as HAProxy does. */
  serverIdOf(sample: Sample): number {
    const i = this.fieldOf.get('server_id');
    if (i === undefined || !this.keyOf(sample)) return 0;
    const slot = this.handle.get(this.key, 0, this.values);
    return slot < 0 ? 0 : this.values[i]!;
  }

  /** `stick store-request`: remembers the server `sample` went to. */
  storeServer(sample: Sample, serverId: number): void {
    const i = this.fieldOf.get('server_id');
    if (i === undefined || !this.keyOf(sample)) return;
    // Created first with the table's own flags (a `nopurge` table must not evict for it).
    this.deltas.fill(0);
    if (this.handle.updateKey(this.key, this.create, this.deltas) === 0) this.handle.setKey(this.key, i, serverId);
  }

  /** Every live entry (the runtime API's `show table`), optionally only `key`'s. */
  entries(key?: string): StickEntry[] | null {
    let wanted: string | null = null;
    if (key !== undefined) {
      if (!parseKeyText(key, this.type, this.key)) return null;
      wanted = keyText(this.key, this.type);
    }
    const list: StickEntry[] = [];
    // In key order, as HAProxy's tree lists them.
    const rows = this.handle.entries().sort((a, b) => Buffer.compare(a.key, b.key));
    for (const entry of rows) {
      const text = keyText(entry.key, this.type);
      if (wanted !== null && text !== wanted) continue;
      list.push({
        slot: entry.slot,
        key: text,
        use: entry.refs,
        exp: entry.expiresInMs < 0 ? null : entry.expiresInMs,
        data: this.fields.map((s, i) => ({ name: s.name, period: s.period, value: entry.values[i]! })),
      });
    }
    return list;
  }

  /**
   * `set table <t> key <k> data.<type> <v>...`: creates the entry if needed and sets each
   * datum (a rate counts <v> events in its current period). Returns why not, or null.
   */
  setEntry(key: string, values: ReadonlyArray<{ readonly name: string; readonly value: number }>): string | null {
    if (!parseKeyText(key, this.type, this.key)) return 'Invalid key\n';
    this.deltas.fill(0);
    const created = this.handle.updateKey(this.key, this.create, this.deltas);
    if (created < 0) return 'Unable to allocate a new entry\n';
    for (const { name, value } of values) {
      const i = this.fieldOf.get(name)!;
      if (stickDataKind(name) === 'rate') {
        this.deltas.fill(0);
        this.deltas[i] = value;
        this.handle.updateKey(this.key, this.create, this.deltas);
      } else {
        this.handle.setKey(this.key, i, value);
      }
    }
    return null;
  }

  /** `clear table`: removes every entry not in use, or only `key`'s. Null: `key` is not one of this table's type. */
  clear(key?: string): number | null {
    if (key === undefined) return this.handle.clear();
    if (!parseKeyText(key, this.type, this.key)) return null;
    return this.handle.clear(this.key);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle.close();
    native.close(this.fd);
  }
}
