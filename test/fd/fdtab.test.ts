import { describe, expect, it } from 'vitest';
import { FD_WANT_RECV, FD_WANT_SEND } from '../../src/fd/fd-types.js';
import { FdTable } from '../../src/fd/fdtab.js';

function drain(table: FdTable): Array<[number, number, number]> {
  const seen: Array<[number, number, number]> = [];
  table.drainUpdates((fd, wanted, polled) => {
    seen.push([fd, wanted, polled]);
    table.setPolled(fd, wanted);
  });
  return seen;
}

describe('FdTable', () => {
  it('queues an fd once however often its interest changes, and applies the final state', () => {
    const t = new FdTable(8);
    t.insert(5, {}, () => {});
    t.wantRecv(5);
    t.wantSend(5);
    t.stopSend(5);
    expect(t.pendingUpdates).toBe(1);
    expect(drain(t)).toEqual([[5, FD_WANT_RECV, 0]]);
    expect(t.pendingUpdates).toBe(0);
  });

  it('skips an fd whose interest came back to what is polled', () => {
    const t = new FdTable(8);
    t.insert(3, {}, () => {});
    t.wantRecv(3);
    drain(t);
    t.stopRecv(3);
    t.wantRecv(3);
    expect(drain(t)).toEqual([]);
  });

  it('grows past its initial size', () => {
    const t = new FdTable(4);
    t.insert(1000, {}, () => {});
    t.wantSend(1000);
    expect(t.wantedOf(1000)).toBe(FD_WANT_SEND);
    expect(drain(t)).toEqual([[1000, FD_WANT_SEND, 0]]);
    expect(t.size).toBe(1);
  });

  it('remove() drops the owner and the kernel registration at once, not at the next pass', () => {
    const t = new FdTable(8);
    const dropped: number[] = [];
    t.onRemove = (fd) => dropped.push(fd);
    t.insert(2, {}, () => {});
    t.wantRecv(2);
    drain(t);
    t.remove(2);
    expect(t.entry(2)).toBeUndefined();
    expect(t.size).toBe(0);
    expect(dropped).toEqual([2]);
    expect(drain(t)).toEqual([]);
    // The number reused by a new socket is registered afresh (the bug this prevents: it looked
    // registered already, so its connect() was never reported).
    t.insert(2, {}, () => {});
    t.wantSend(2);
    expect(drain(t)).toEqual([[2, FD_WANT_SEND, 0]]);
  });

  it('resetPolled() queues every fd with interest for a fresh poller', () => {
    const t = new FdTable(8);
    for (const fd of [1, 2, 3]) t.insert(fd, {}, () => {});
    t.wantRecv(1);
    t.wantSend(3);
    drain(t);
    t.resetPolled();
    expect(drain(t)).toEqual([
      [1, FD_WANT_RECV, 0],
      [3, FD_WANT_SEND, 0],
    ]);
  });
});
