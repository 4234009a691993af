/**
 * The shared-memory stick table (native/stick_table.h): one table of keyed counters, gauges and
 * rates that every worker process maps. Time-dependent behaviour (rates decaying, entries
 * expiring) is awaited as a condition, never as a fixed sleep.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EpoxyError, EpoxySystemError, ErrorCodes } from '../../src/errors.js';
import { constants, native, stickTableConstants, type NativeStickTable } from '../../src/native.js';
import { ROOT } from '../helpers/child.js';
import { fdCount } from '../helpers/sockets.js';

const { CREATE, REF, COUNTER, GAUGE, RATE, MAX_KEY, MAX_FIELDS, MAX_SIZE } = stickTableConstants;
const { ENOENT, ENOSPC, EINVAL } = constants.errno;

const fds: number[] = [];
const tables: NativeStickTable[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const t of tables.splice(0)) t.close();
  for (const fd of fds.splice(0)) native.close(fd);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A new table's fd, closed after the test. */
function create(keyLength: number, size: number, expireMs: number, fields: number[]): number {
  const fd = native.stickTableCreate(keyLength, size, expireMs, new Int32Array(fields));
  fds.push(fd);
  return fd;
}

/** A new table, mapped; both closed after the test. */
function table(size = 16, expireMs = 60_000, fields: number[] = [COUNTER, 0, GAUGE, 0, RATE, 3_600_000]): NativeStickTable {
  const t = new native.StickTable(create(8, size, expireMs, fields));
  tables.push(t);
  return t;
}

/** `text` as a key of `length` bytes, zero-padded as the TypeScript side pads them. */
function key(text: string, length = 8): Uint8Array {
  const k = new Uint8Array(length);
  k.set(new TextEncoder().encode(text));
  return k;
}

const keyText = (k: Uint8Array): string => new TextDecoder().decode(k).replace(/\0+$/, '');
const keysOf = (t: NativeStickTable): string[] => t.entries().map((e) => keyText(e.key)).sort();

function thrown(call: () => unknown): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  return undefined;
}

function expectCode(call: () => unknown, code: string): void {
  const error = thrown(call);
  expect(error).toBeInstanceOf(Error);
  expect((error as EpoxyError).code).toBe(code);
}

/** Polls `condition` every few ms (the table's clock moves in ms) until it holds. */
async function until(condition: () => boolean, what: string, deadlineMs = 5_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > deadlineMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Runs test/fixtures/stick-table-child.mjs with the table as its fd 3. */
function child(fd: number, mode: 'ref' | 'key' | 'hold', name: string, count: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    // The environment is inherited: EPOXY_ADDON (and the sanitizer run's LD_PRELOAD) make the
    // child load the very build this process tests.
    const proc = spawn(process.execPath, [`${ROOT}test/fixtures/stick-table-child.mjs`, mode, name, String(count)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit', fd],
    });
    let out = '';
    proc.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    proc.on('error', reject);
    proc.on('close', (code) => resolve({ code, out }));
  });
}

describe('stickTableCreate and opening', () => {
  it('makes a close-on-exec memfd that maps back with its parameters', () => {
    const fd = create(16, 100, 5000, [COUNTER, 0, RATE, 10_000]);
    expect(native.getCloexec(fd)).toBe(true);
    const t = new native.StickTable(fd);
    tables.push(t);
    expect([t.keyLength, t.size, t.expireMs, t.fieldCount, t.used, t.closed]).toEqual([16, 100, 5000, 2, 0, false]);
  });

  it('refuses out-of-range parameters with ERR_EPOXY_INVALID_ARG', () => {
    const bad: Array<[number, number, number, number[]]> = [
      [0, 10, 0, []],
      [MAX_KEY + 1, 10, 0, []],
      [4, 0, 0, []],
      [4, MAX_SIZE + 1, 0, []],
      [4, 10, -1, []],
      [4, 10, 0, [COUNTER]], // not pairs
      [4, 10, 0, [3, 0]], // unknown kind
      [4, 10, 0, [RATE, 0]], // a rate needs a period
      [4, 10, 0, Array.from({ length: MAX_FIELDS + 1 }, () => [COUNTER, 0]).flat()],
      [MAX_KEY, MAX_SIZE, 0, []], // 16M entries of 1 KiB: far above the 4 GiB ceiling
    ];
    for (const [k, s, e, f] of bad) {
      expectCode(() => native.stickTableCreate(k, s, e, new Int32Array(f)), ErrorCodes.INVALID_ARG);
    }
    expectCode(() => native.stickTableCreate(4, 10, 0, [] as unknown as Int32Array), ErrorCodes.INVALID_ARG);
  });

  it('throws EBADF for a bad fd and EINVAL for an fd that is not a table of its size, leaking nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'epoxy-stick-'));
    dirs.push(dir);
    const good = create(8, 4, 0, [COUNTER, 0]);
    const image = readFileSync(`/proc/self/fd/${good}`);
    const files = {
      small: Buffer.alloc(100),
      zeros: Buffer.alloc(image.length), // right size, no magic
      longer: Buffer.concat([image, Buffer.alloc(8)]), // a real header, but not the fd's size
      copy: image,
    };
    const opened: Record<string, number> = {};
    for (const [name, bytes] of Object.entries(files)) {
      writeFileSync(join(dir, name), bytes);
      opened[name] = openSync(join(dir, name), 'r+');
    }
    const before = fdCount();
    try {
      const badFd = thrown(() => new native.StickTable(-1));
      expect(badFd).toBeInstanceOf(EpoxySystemError);
      expect((badFd as EpoxySystemError).code).toBe('EBADF');
      for (const name of ['small', 'zeros', 'longer']) {
        const error = thrown(() => new native.StickTable(opened[name]!));
        expect(error, name).toBeInstanceOf(EpoxySystemError);
        expect((error as EpoxySystemError).code, name).toBe('EINVAL');
      }
      expect(fdCount()).toBe(before);
      // The same bytes at the right size are a table (file-backed: still valid to map).
      const copy = new native.StickTable(opened.copy!);
      expect(copy.size).toBe(4);
      copy.close();
    } finally {
      for (const fd of Object.values(opened)) closeSync(fd);
    }
  });

  it('keeps working after the fd is closed; close() twice is fine, then every call throws ERR_EPOXY_HANDLE_CLOSED', () => {
    const fd = native.stickTableCreate(8, 4, 0, new Int32Array([COUNTER, 0]));
    const t = new native.StickTable(fd);
    expect(native.close(fd)).toBe(0);
    expect(t.updateKey(key('a'), CREATE, new Float64Array([3]))).toBe(0);
    const values = new Float64Array(1);
    expect(t.get(key('a'), 0, values)).toBeGreaterThanOrEqual(0);
    expect(values[0]).toBe(3);
    t.close();
    t.close();
    expect(t.closed).toBe(true);
    expectCode(() => t.get(key('a'), 0), ErrorCodes.HANDLE_CLOSED);
    expectCode(() => t.release(0), ErrorCodes.HANDLE_CLOSED);
    expectCode(() => t.used, ErrorCodes.HANDLE_CLOSED);
  });

  it('refuses arguments of the wrong shape by throwing', () => {
    const t = table();
    expectCode(() => t.get(new Uint8Array(7), 0), ErrorCodes.INVALID_ARG); // shorter than keyLength
    expectCode(() => t.get(key('a'), 0, new Float64Array(2)), ErrorCodes.INVALID_ARG); // < fieldCount
    expectCode(() => t.get(key('a'), 0, new Int32Array(3) as unknown as Float64Array), ErrorCodes.INVALID_ARG);
    expectCode(() => t.update(0, new Float64Array(1)), ErrorCodes.INVALID_ARG);
    expectCode(() => t.set(0, 0, 'x' as unknown as number), ErrorCodes.INVALID_ARG);
  });
});

describe('entries and fields', () => {
  it('get finds only what exists, creates with CREATE, and references with REF', () => {
    const t = table();
    expect(t.get(key('a'), 0)).toBe(-ENOENT);
    expect(t.used).toBe(0);
    const slot = t.get(key('a'), CREATE);
    expect(slot).toBeGreaterThanOrEqual(0);
    expect(t.get(key('a'), 0)).toBe(slot);
    expect(t.used).toBe(1);
    // update/set need a referenced slot
    expect(t.update(slot, new Float64Array([1, 0, 0]))).toBe(-EINVAL);
    expect(t.get(key('a'), REF)).toBe(slot);
    expect(t.entries()[0]!.refs).toBe(1);
    expect(t.release(slot)).toBe(0);
    expect(t.release(slot)).toBe(-EINVAL); // nothing left to release
    expect(t.update(99, new Float64Array(3))).toBe(-EINVAL);
    expect(t.update(-1, new Float64Array(3))).toBe(-EINVAL);
  });

  it('adds to counters and gauges, which stop at 0, and sets them; values come out under the same lock', () => {
    const t = table();
    const values = new Float64Array(3);
    const slot = t.get(key('a'), CREATE | REF, values);
    expect([...values]).toEqual([0, 0, 0]);
    expect(t.update(slot, new Float64Array([5, 2, 0]), values)).toBe(0);
    expect([...values]).toEqual([5, 2, 0]);
    expect(t.update(slot, new Float64Array([-7, -3, 0]), values)).toBe(0);
    expect([...values]).toEqual([0, 0, 0]);
    expect(t.set(slot, 0, 2 ** 40)).toBe(0);
    expect(t.set(slot, 1, 12)).toBe(0);
    expect(t.set(slot, 0, -1)).toBe(-EINVAL); // counters are unsigned
    expect(t.set(slot, 2, 1)).toBe(-EINVAL); // rates are counted, not set
    expect(t.set(slot, 3, 1)).toBe(-EINVAL); // no such field
    expect(t.set(slot, 1, Number.NaN)).toBe(-EINVAL);
    // A refused delta changes nothing, not even the fields before it.
    expect(t.update(slot, new Float64Array([1, 0, -1]), values)).toBe(-EINVAL);
    expect(t.get(key('a'), 0, values)).toBe(slot);
    expect([...values]).toEqual([2 ** 40, 12, 0]);
    t.release(slot);
  });

  it('updateKey and setKey work by key in one call, creating with CREATE and keeping no reference', () => {
    const t = table();
    const values = new Float64Array(3);
    expect(t.updateKey(key('b'), 0, new Float64Array([1, 0, 0]))).toBe(-ENOENT);
    expect(t.updateKey(key('b'), CREATE, new Float64Array([1, 1, 1]), values)).toBe(0);
    expect(t.updateKey(key('b'), CREATE, new Float64Array([1, 0, 1]), values)).toBe(0);
    expect([...values]).toEqual([2, 1, 2]);
    expect(t.updateKey(key('b'), CREATE | REF, new Float64Array(3))).toBe(-EINVAL);
    expect(t.setKey(key('c'), 1, 7)).toBe(0);
    expect(t.setKey(key('d'), 2, 7)).toBe(-EINVAL);
    expect(keysOf(t)).toEqual(['b', 'c']); // the refused setKey created nothing
    expect(t.entries().every((e) => e.refs === 0)).toBe(true);
    t.get(key('c'), 0, values);
    expect(values[1]).toBe(7);
  });

  it('a rate over a long period equals the event count', () => {
    const t = table(4, 60_000, [RATE, 3_600_000]);
    const values = new Float64Array(1);
    for (let i = 0; i < 7; i++) t.updateKey(key('r'), CREATE, new Float64Array([1]));
    t.updateKey(key('r'), CREATE, new Float64Array([10]), values);
    expect(values[0]).toBe(17);
  });

  it('a rate over a short period decays to 0 after two idle periods, never rising meanwhile', async () => {
    const t = table(4, 60_000, [RATE, 20]);
    const values = new Float64Array(1);
    t.updateKey(key('r'), CREATE, new Float64Array([50]), values);
    // Still in its first period unless this machine stalled for 20 ms right here.
    expect(values[0]).toBeLessThanOrEqual(50);
    let last = values[0]!;
    await until(() => {
      t.get(key('r'), 0, values);
      expect(values[0]).toBeLessThanOrEqual(last);
      last = values[0]!;
      return values[0] === 0;
    }, 'the rate to decay');
  });
});

describe('expiry and eviction', () => {
  it('an unreferenced entry expires; a referenced one stays until released', async () => {
    const t = table(8, 30);
    t.get(key('idle'), CREATE);
    const held = t.get(key('held'), CREATE | REF);
    // entries() purges what has expired and touches nothing (get() would keep touching).
    await until(() => !keysOf(t).includes('idle'), 'the idle entry to expire');
    expect(t.get(key('idle'), 0)).toBe(-ENOENT);
    const row = t.entries().find((e) => keyText(e.key) === 'held')!;
    // Its clock runs (to 0) while it is held; it just does not go.
    expect(row.refs).toBe(1);
    expect(row.expiresInMs).toBeGreaterThanOrEqual(0);
    expect(row.expiresInMs).toBeLessThanOrEqual(30);
    expect(t.release(held)).toBe(0);
    await until(() => !keysOf(t).includes('held'), 'the released entry to expire');
    expect(t.used).toBe(0);
  });

  it('a full table evicts the least recently touched unreferenced entry, and refuses with -ENOSPC when all are referenced', () => {
    const t = table(3);
    for (const k of ['a', 'b', 'c']) expect(t.get(key(k), CREATE)).toBeGreaterThanOrEqual(0);
    t.get(key('a'), 0); // touched: now b is the oldest
    expect(t.get(key('d'), CREATE)).toBeGreaterThanOrEqual(0);
    expect(keysOf(t)).toEqual(['a', 'c', 'd']);
    const slots = ['a', 'c', 'd'].map((k) => t.get(key(k), REF));
    expect(t.get(key('e'), CREATE)).toBe(-ENOSPC);
    expect(t.updateKey(key('e'), CREATE, new Float64Array(3))).toBe(-ENOSPC);
    expect(t.used).toBe(3);
    t.release(slots[1]!); // c
    expect(t.get(key('e'), CREATE)).toBeGreaterThanOrEqual(0);
    expect(keysOf(t)).toEqual(['a', 'd', 'e']);
  });

  it('clear() removes every unreferenced entry, or one key, and spares referenced ones', () => {
    const t = table();
    for (const k of ['a', 'b', 'c', 'd']) t.get(key(k), CREATE);
    const held = t.get(key('b'), REF);
    expect(t.clear(key('a'))).toBe(1);
    expect(t.clear(key('a'))).toBe(0);
    expect(t.clear(key('b'))).toBe(0); // referenced
    expect(keysOf(t)).toEqual(['b', 'c', 'd']);
    expect(t.clear()).toBe(2);
    expect(keysOf(t)).toEqual(['b']);
    t.release(held);
    expect(t.clear()).toBe(1);
    expect(t.used).toBe(0);
  });

  it('entries() reports key, slot, refs, time to expiry and values', () => {
    const t = table(16, 60_000);
    t.updateKey(key('x'), CREATE, new Float64Array([4, 2, 1]));
    const slot = t.get(key('y'), CREATE | REF);
    const rows = t.entries().sort((p, q) => keyText(p.key).localeCompare(keyText(q.key)));
    expect(rows).toHaveLength(2);
    expect(rows[0]!.key).toEqual(key('x'));
    expect(rows[0]!.values).toEqual([4, 2, 1]);
    expect(rows[0]!.refs).toBe(0);
    expect(rows[0]!.expiresInMs).toBeGreaterThan(0);
    expect(rows[0]!.expiresInMs).toBeLessThanOrEqual(60_000);
    expect(rows[1]).toMatchObject({ slot, refs: 1, values: [0, 0, 0] });
    expect(rows[1]!.expiresInMs).toBeGreaterThan(0);
    t.release(slot);
  });
});

describe('one table for every process', () => {
  it('a child process mapping the fd updates the entries the parent reads', async () => {
    const fd = create(8, 16, 60_000, [COUNTER, 0]);
    const t = new native.StickTable(fd);
    tables.push(t);
    const result = await child(fd, 'ref', 'client', 500);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.out).failures).toEqual([]);
    const values = new Float64Array(1);
    expect(t.get(key('client'), 0, values)).toBeGreaterThanOrEqual(0);
    expect(values[0]).toBe(500);
    expect(t.entries()[0]!.refs).toBe(0); // the child released its reference
  });

  it('two children incrementing one key 10000 times each reach exactly 20000', async () => {
    const fd = create(8, 16, 60_000, [COUNTER, 0]);
    const t = new native.StickTable(fd);
    tables.push(t);
    const results = await Promise.all([child(fd, 'key', 'shared', 10_000), child(fd, 'ref', 'shared', 10_000)]);
    for (const r of results) {
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out).failures).toEqual([]);
    }
    const values = new Float64Array(1);
    t.get(key('shared'), 0, values);
    expect(values[0]).toBe(20_000);
  });

  it('a process that dies holding the lock leaves a table the next locker repairs and keeps using', async () => {
    const fd = create(8, 4, 60_000, [COUNTER, 0]);
    const t = new native.StickTable(fd);
    tables.push(t);
    t.updateKey(key('a'), CREATE, new Float64Array([5]));
    const held = t.get(key('b'), CREATE | REF);
    t.updateKey(key('c'), CREATE, new Float64Array([1]));
    const result = await child(fd, 'hold', 'a', 0);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.out)).toEqual({ held: 0, again: -constants.errno.EDEADLK });
    expect(t.repairs).toBe(0); // nobody has taken the lock since
    const values = new Float64Array(1);
    expect(t.get(key('a'), 0, values)).toBeGreaterThanOrEqual(0);
    expect(t.repairs).toBe(1);
    expect(values[0]).toBe(5);
    expect(t.used).toBe(3);
    expect(t.entries().find((e) => keyText(e.key) === 'b')!.refs).toBe(1);
    // Links rebuilt: the free slot, eviction of an unreferenced entry, and -ENOSPC still work.
    expect(t.get(key('d'), CREATE)).toBeGreaterThanOrEqual(0);
    expect(t.get(key('e'), CREATE)).toBeGreaterThanOrEqual(0);
    expect(keysOf(t)).toEqual(['a', 'b', 'd', 'e']); // c, untouched since the repair, went first
    for (const k of ['a', 'd', 'e']) expect(t.get(key(k), REF)).toBeGreaterThanOrEqual(0);
    expect(t.get(key('f'), CREATE)).toBe(-ENOSPC);
    expect(t.release(held)).toBe(0);
    expect(t.get(key('f'), CREATE)).toBeGreaterThanOrEqual(0);
    expect(keysOf(t)).not.toContain('b');
    expect(t.repairs).toBe(1);
  });
});
