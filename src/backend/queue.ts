/**
 * Sessions waiting for a server slot (HAProxy's queue.c), as HAProxy 2.6 keeps them: each server
 * has its own queue, for sessions that must go to that server, and the backend has one, for
 * sessions any server may take. When a slot frees on a server, the older of its queue's head and
 * the backend queue's head goes first.
 *
 * The links live on the waiting objects themselves (intrusive), so queueing allocates nothing
 * and a waiter that gives up (`timeout queue`, a closed client) leaves from the middle in O(1):
 * under overload the queues are long, and every departure from them would otherwise be a scan.
 */

/** What a queue needs on each object it holds. A fresh waiter has all four null/0. */
export interface Waiter<T extends Waiter<T>> {
  previousWaiter: T | null;
  nextWaiter: T | null;
  /** The queue it waits in now, or null. */
  waitingIn: WaitQueue<T> | null;
  /** Order of arrival across one backend's queues: lower came first. */
  ticket: number;
}

/** A FIFO of waiters with O(1) push, shift and removal of any member. */
export class WaitQueue<T extends Waiter<T>> {
  private head: T | null = null;
  private tail: T | null = null;
  private count = 0;

  /** `owner`: whatever holds this queue among others (BackendQueues), so it can tell its own. */
  constructor(readonly owner: object | null = null) {}

  get length(): number {
    return this.count;
  }

  /** The longest-waiting member, or null. */
  first(): T | null {
    return this.head;
  }

  push(waiter: T): void {
    waiter.waitingIn = this;
    waiter.previousWaiter = this.tail;
    waiter.nextWaiter = null;
    if (this.tail === null) this.head = waiter;
    else this.tail.nextWaiter = waiter;
    this.tail = waiter;
    this.count++;
  }

  shift(): T | null {
    const waiter = this.head;
    if (waiter !== null) this.remove(waiter);
    return waiter;
  }

  /** Takes `waiter` out wherever it stands; false when it is not in this queue. */
  remove(waiter: T): boolean {
    if (waiter.waitingIn !== this) return false;
    const { previousWaiter: previous, nextWaiter: next } = waiter;
    if (previous === null) this.head = next;
    else previous.nextWaiter = next;
    if (next === null) this.tail = previous;
    else next.previousWaiter = previous;
    waiter.previousWaiter = null;
    waiter.nextWaiter = null;
    waiter.waitingIn = null;
    this.count--;
    return true;
  }

  /** Unlinks every member, so none of them still believes it waits here. */
  clear(): void {
    let waiter = this.head;
    while (waiter !== null) {
      const next = waiter.nextWaiter;
      waiter.previousWaiter = null;
      waiter.nextWaiter = null;
      waiter.waitingIn = null;
      waiter = next;
    }
    this.head = null;
    this.tail = null;
    this.count = 0;
  }

  /** Members in order, for dumps and tests (not for the session path: it allocates). */
  toArray(): T[] {
    const members: T[] = [];
    for (let waiter = this.head; waiter !== null; waiter = waiter.nextWaiter) members.push(waiter);
    return members;
  }
}

/** One backend's queues: the backend's own, and one per server that has had a waiter. */
export class BackendQueues<T extends Waiter<T>, S extends object> {
  /** Sessions that no particular server waits for (HAProxy's "unassigned"). */
  private readonly shared = new WaitQueue<T>(this);
  private readonly servers = new Map<S, WaitQueue<T>>();
  private total = 0;
  private nextTicket = 0;

  /** Waiters in every queue of the backend (HAProxy's totpend). */
  get length(): number {
    return this.total;
  }

  /** Waiters in the backend's own queue (SIGHUP's "unass"). */
  get unassigned(): number {
    return this.shared.length;
  }

  /** Waiters in `server`'s queue: what its `maxqueue` limits. */
  waitingFor(server: S): number {
    return this.servers.get(server)?.length ?? 0;
  }

  /** Queues `waiter` behind `server`, or in the backend's queue when `server` is null. */
  push(waiter: T, server: S | null): void {
    let queue = this.shared;
    if (server !== null) {
      let own = this.servers.get(server);
      if (own === undefined) {
        own = new WaitQueue<T>(this);
        this.servers.set(server, own);
      }
      queue = own;
    }
    waiter.ticket = this.nextTicket++;
    queue.push(waiter);
    this.total++;
  }

  /** Takes `waiter` out of whichever of these queues holds it; false when none does. */
  remove(waiter: T): boolean {
    const queue = waiter.waitingIn;
    if (queue === null || queue.owner !== this) return false;
    queue.remove(waiter);
    this.total--;
    return true;
  }

  /** The head of the backend's queue, or null. */
  firstShared(): T | null {
    return this.shared.first();
  }

  /** The head of `server`'s queue, or null. */
  firstFor(server: S): T | null {
    return this.servers.get(server)?.first() ?? null;
  }

  /**
   * Who should take a slot that freed on `server`: the older of its queue's head and the backend
   * queue's head (HAProxy's pendconn_process_next_strm()), or null when both are empty.
   */
  next(server: S | null): T | null {
    const own = server === null ? null : this.firstFor(server);
    const shared = this.shared.first();
    if (own === null) return shared;
    if (shared === null) return own;
    return own.ticket < shared.ticket ? own : shared;
  }

  /** Empties every queue, unlinking the waiters. */
  clear(): void {
    this.shared.clear();
    for (const queue of this.servers.values()) queue.clear();
    this.total = 0;
  }
}
