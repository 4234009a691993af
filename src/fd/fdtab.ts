/**
 * The fd table: owner and callback per fd, the wanted interest, and the update list that carries
 * interest changes to the poller. As in HAProxy (and libuv), changing interest only marks the fd
 * and queues it once; the poller applies all changes in one pass just before it polls, so a
 * connection that toggles interest several times in a turn costs one epoll_ctl at most.
 */
import { FD_WANT_RECV, FD_WANT_SEND, type FdEntry, type FdIoCallback } from './fd-types.js';

export class FdTable {
  /** fd -> entry; undefined for fds epoxy does not own. */
  private readonly entries: Array<FdEntry | undefined> = [];
  /** fd -> FD_WANT_* bits the owner asked for. */
  private wanted: Uint8Array;
  /** fd -> FD_WANT_* bits the poller has registered (maintained by the poller). */
  private polled: Uint8Array;
  /** fd -> 1 while the fd sits on the update list (so it is queued once). */
  private queued: Uint8Array;
  /** fd -> 1 for a socket shared with other processes that should wake one of them (EPOLLEXCLUSIVE). */
  private exclusive: Uint8Array;
  /** fds whose interest changed since the poller last applied updates. */
  private updates: number[] = [];
  /** The other list of drainUpdates(), empty between drains. */
  private spareUpdates: number[] = [];
  /** Number of fds with an owner. */
  private owned = 0;

  constructor(initialSize = 1024) {
    this.wanted = new Uint8Array(initialSize);
    this.polled = new Uint8Array(initialSize);
    this.queued = new Uint8Array(initialSize);
    this.exclusive = new Uint8Array(initialSize);
  }

  get size(): number {
    return this.owned;
  }

  private grow(fd: number): void {
    if (fd < this.wanted.length) return;
    let length = this.wanted.length;
    while (length <= fd) length *= 2;
    const resize = (old: Uint8Array): Uint8Array => {
      const next = new Uint8Array(length);
      next.set(old);
      return next;
    };
    this.wanted = resize(this.wanted);
    this.polled = resize(this.polled);
    this.queued = resize(this.queued);
    this.exclusive = resize(this.exclusive);
  }

  /** Takes ownership of `fd`: events for it go to `iocb`. No interest yet. */
  insert(fd: number, owner: object, iocb: FdIoCallback): void {
    if (fd < 0) throw new RangeError(`invalid fd ${fd}`);
    this.grow(fd);
    if (this.entries[fd] === undefined) this.owned++;
    this.entries[fd] = { owner, iocb };
    this.wanted[fd] = 0;
    this.exclusive[fd] = 0;
  }

  /**
   * Marks `fd` (inserted, not yet polled) as a socket other processes poll too: a listening
   * socket every worker shares. Readiness then wakes one poller rather than all of them
   * (EPOLLEXCLUSIVE; pollers without such a flag ignore it): with two workers, every new
   * connection otherwise wakes both, and one of them finds nothing to accept.
   */
  setExclusive(fd: number): void {
    if (this.entries[fd] !== undefined) this.exclusive[fd] = 1;
  }

  isExclusive(fd: number): boolean {
    return fd < this.exclusive.length && this.exclusive[fd] === 1;
  }

  /**
   * Set by the poller in init(): drops `fd`'s kernel registration at once (HAProxy's
   * poller->clo). Removal cannot wait for the update pass like other interest changes: the
   * caller usually closes the fd right away and the number can be handed to a new socket before
   * the next poll, which would then look registered already and never be (a connect() that is
   * never reported); and an fd handed to another watcher (the relay) must stop being reported
   * here before that watcher sees it.
   */
  onRemove: ((fd: number) => void) | null = null;

  /** Forgets `fd` and its registration, before the caller closes it or hands it elsewhere. */
  remove(fd: number): void {
    if (this.entries[fd] === undefined) return;
    this.entries[fd] = undefined;
    this.owned--;
    this.wanted[fd] = 0;
    this.exclusive[fd] = 0;
    if (this.polled[fd] !== 0) {
      this.onRemove?.(fd);
      this.polled[fd] = 0;
    }
    // If the fd sits on the update list, the pass finds wanted == polled and skips it.
  }

  entry(fd: number): FdEntry | undefined {
    return this.entries[fd];
  }

  wantRecv(fd: number): void {
    this.setWanted(fd, this.wanted[fd]! | FD_WANT_RECV);
  }
  stopRecv(fd: number): void {
    this.setWanted(fd, this.wanted[fd]! & ~FD_WANT_RECV);
  }
  wantSend(fd: number): void {
    this.setWanted(fd, this.wanted[fd]! | FD_WANT_SEND);
  }
  stopSend(fd: number): void {
    this.setWanted(fd, this.wanted[fd]! & ~FD_WANT_SEND);
  }
  stopBoth(fd: number): void {
    this.setWanted(fd, 0);
  }

  wantedOf(fd: number): number {
    return fd < this.wanted.length ? this.wanted[fd]! : 0;
  }
  polledOf(fd: number): number {
    return fd < this.polled.length ? this.polled[fd]! : 0;
  }
  /** Recorded by the poller once the kernel has the new interest. */
  setPolled(fd: number, bits: number): void {
    this.grow(fd);
    this.polled[fd] = bits;
  }

  private setWanted(fd: number, bits: number): void {
    this.grow(fd);
    this.wanted[fd] = bits;
    if (this.wanted[fd] !== this.polled[fd] && this.queued[fd] === 0) {
      this.queued[fd] = 1;
      this.updates.push(fd);
    }
  }

  /**
   * Called by a poller's init(): a new kernel object knows nothing yet, so every polled bit is
   * forgotten and every fd with interest is queued to be registered again (after term()/init(),
   * or when switching pollers).
   */
  resetPolled(): void {
    this.polled.fill(0);
    for (let fd = 0; fd < this.wanted.length; fd++) {
      if (this.wanted[fd] !== 0 && this.queued[fd] === 0) {
        this.queued[fd] = 1;
        this.updates.push(fd);
      }
    }
  }

  /** Number of fds waiting for the poller to apply their interest. */
  get pendingUpdates(): number {
    return this.updates.length;
  }

  /**
   * Hands every queued fd to `apply` once and empties the list. The poller compares wanted with
   * polled there; an fd whose interest went back to what is polled costs nothing.
   */
  drainUpdates(apply: (fd: number, wanted: number, polled: number) => void): void {
    const list = this.updates;
    // Two arrays take turns, so a drain allocates nothing: what `apply` queues goes to the other.
    this.updates = this.spareUpdates;
    for (let i = 0; i < list.length; i++) {
      const fd = list[i]!;
      this.queued[fd] = 0;
      const wanted = this.wanted[fd]!;
      if (wanted !== this.polled[fd]) apply(fd, wanted, this.polled[fd]!);
    }
    list.length = 0; // keeps its capacity
    this.spareUpdates = list;
  }
}
