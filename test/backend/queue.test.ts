import { describe, expect, it } from 'vitest';
import { BackendQueues, WaitQueue, type Waiter } from '../../src/backend/queue.js';

class Entry implements Waiter<Entry> {
  previousWaiter: Entry | null = null;
  nextWaiter: Entry | null = null;
  waitingIn: WaitQueue<Entry> | null = null;
  ticket = 0;
  constructor(readonly name: string) {}
}

const entries = (...names: string[]): Entry[] => names.map((name) => new Entry(name));
const names = (queue: WaitQueue<Entry>): string => queue.toArray().map((e) => e.name).join('');

describe('WaitQueue', () => {
  it('is first in, first out', () => {
    const queue = new WaitQueue<Entry>();
    for (const entry of entries('a', 'b', 'c')) queue.push(entry);
    expect(queue.length).toBe(3);
    expect(queue.first()?.name).toBe('a');
    expect([queue.shift()?.name, queue.shift()?.name, queue.shift()?.name, queue.shift()]).toEqual(['a', 'b', 'c', null]);
    expect(queue.length).toBe(0);
  });

  it('removes from the middle, the head and the tail, keeping the others in order', () => {
    const queue = new WaitQueue<Entry>();
    const [a, b, c, d, e] = entries('a', 'b', 'c', 'd', 'e');
    for (const entry of [a!, b!, c!, d!, e!]) queue.push(entry);
    expect(queue.remove(c!)).toBe(true);
    expect(names(queue)).toBe('abde');
    expect(queue.remove(a!)).toBe(true);
    expect(queue.remove(e!)).toBe(true);
    expect(names(queue)).toBe('bd');
    expect(queue.length).toBe(2);
    // a removed entry is unlinked: removing it again is refused, and it may be queued again
    expect(queue.remove(c!)).toBe(false);
    expect([c!.waitingIn, c!.previousWaiter, c!.nextWaiter]).toEqual([null, null, null]);
    queue.push(c!);
    expect(names(queue)).toBe('bdc');
    expect([queue.shift()?.name, queue.shift()?.name, queue.shift()?.name]).toEqual(['b', 'd', 'c']);
  });

  it('refuses to remove an entry that waits in another queue', () => {
    const one = new WaitQueue<Entry>();
    const other = new WaitQueue<Entry>();
    const [a] = entries('a');
    other.push(a!);
    expect(one.remove(a!)).toBe(false);
    expect(other.length).toBe(1);
    expect(one.length).toBe(0);
  });

  it('clear() unlinks every member', () => {
    const queue = new WaitQueue<Entry>();
    const all = entries('a', 'b', 'c');
    for (const entry of all) queue.push(entry);
    queue.clear();
    expect(queue.length).toBe(0);
    expect(queue.first()).toBeNull();
    expect(all.every((e) => e.waitingIn === null && e.previousWaiter === null && e.nextWaiter === null)).toBe(true);
  });
});

describe('BackendQueues', () => {
  const s1 = { name: 's1' };
  const s2 = { name: 's2' };

  it('counts waiters per server, in the backend queue and in all', () => {
    const queues = new BackendQueues<Entry, object>();
    const [a, b, c, d] = entries('a', 'b', 'c', 'd');
    queues.push(a!, s1);
    queues.push(b!, s2);
    queues.push(c!, null);
    queues.push(d!, s1);
    expect([queues.waitingFor(s1), queues.waitingFor(s2), queues.unassigned, queues.length]).toEqual([2, 1, 1, 4]);
    expect(queues.remove(a!)).toBe(true);
    expect(queues.remove(c!)).toBe(true);
    expect([queues.waitingFor(s1), queues.waitingFor(s2), queues.unassigned, queues.length]).toEqual([1, 1, 0, 2]);
    // one server's waiters never count against another's limit
    expect(queues.waitingFor({ name: 'idle' })).toBe(0);
  });

  it("a freed slot goes to the older of the server queue's head and the backend queue's head", () => {
    const queues = new BackendQueues<Entry, object>();
    const [a, b, c, d] = entries('a', 'b', 'c', 'd');
    queues.push(a!, null);
    queues.push(b!, s1);
    queues.push(c!, s2);
    queues.push(d!, s1);
    expect(queues.next(s1)?.name).toBe('a');
    expect(queues.next(null)?.name).toBe('a');
    queues.remove(a!);
    expect(queues.next(s1)?.name).toBe('b');
    expect(queues.next(s2)?.name).toBe('c');
    expect(queues.next(null)).toBeNull();
    queues.remove(b!);
    expect(queues.next(s1)?.name).toBe('d');
    expect(queues.firstFor(s1)?.name).toBe('d');
    expect(queues.firstShared()).toBeNull();
  });

  it("refuses to remove a waiter it does not hold (another backend's, or none)", () => {
    const mine = new BackendQueues<Entry, object>();
    const theirs = new BackendQueues<Entry, object>();
    const [a, b] = entries('a', 'b');
    theirs.push(a!, s1);
    expect(mine.remove(a!)).toBe(false);
    expect(mine.remove(b!)).toBe(false);
    expect([mine.length, theirs.length, theirs.waitingFor(s1)]).toEqual([0, 1, 1]);
  });

  it('clear() empties every queue and unlinks the waiters', () => {
    const queues = new BackendQueues<Entry, object>();
    const all = entries('a', 'b', 'c');
    queues.push(all[0]!, s1);
    queues.push(all[1]!, null);
    queues.push(all[2]!, s2);
    queues.clear();
    expect([queues.length, queues.unassigned, queues.waitingFor(s1), queues.waitingFor(s2)]).toEqual([0, 0, 0, 0]);
    expect(all.every((e) => e.waitingIn === null)).toBe(true);
    expect(queues.next(s1)).toBeNull();
  });

  it('keeps order and counts over many arrivals and departures', () => {
    const queues = new BackendQueues<Entry, object>();
    const all = Array.from({ length: 1000 }, (_, i) => new Entry(String(i)));
    all.forEach((e, i) => queues.push(e, i % 3 === 0 ? null : i % 3 === 1 ? s1 : s2));
    // every other waiter gives up (a timeout), from anywhere in the queues
    for (let i = 0; i < all.length; i += 2) queues.remove(all[i]!);
    expect(queues.length).toBe(500);
    const served: number[] = [];
    for (let next = queues.next(s1); next !== null; next = queues.next(s1)) {
      queues.remove(next);
      served.push(Number(next.name));
    }
    // s1's waiters and the backend's, merged by arrival; s2's untouched
    expect(served).toEqual(all.map((_, i) => i).filter((i) => i % 2 === 1 && i % 3 !== 2));
    expect(queues.length).toBe(queues.waitingFor(s2));
  });
});
