/**
 * The poll(2) poller (preference 200), HAProxy's portable fallback (`noepoll`, `-de`). The set is
 * an Int32Array of [fd, events, revents] triplets kept in step with the fd table: interest changes
 * patch it in place (an fd -> slot index makes each one O(1)), so no syscall is spent on them.
 *
 * poll(2) gives Node's loop no fd to sleep on, so the addon's PollWatcher thread blocks in poll(2)
 * on a copy of the set and wakes the loop once when something is ready; poll() then collects with
 * a non-blocking pollOnce(), dispatches, and arms the watcher again with the current set.
 */
import {
  FD_EV_ERR_RW,
  FD_EV_PRI,
  FD_EV_READY_R,
  FD_EV_READY_W,
  FD_EV_SHUT_R,
  FD_EV_SHUT_RW,
  FD_WANT_RECV,
  FD_WANT_SEND,
} from '../fd/fd-types.js';
import type { FdTable } from '../fd/fdtab.js';
import { systemErrorFromErrno } from '../errors.js';
import { native, pollConstants, type NativePollWatcher } from '../native.js';
import type { Poller, PollerActivity, PollerFactory } from './poller-types.js';

const { POLLIN, POLLOUT, POLLRDHUP, POLLPRI, POLLHUP, POLLERR, POLLNVAL } = pollConstants;

/** Slots the set starts with; it doubles when full. */
const INITIAL_SLOTS = 64;

/**
 * poll(2) revents -> FD_EV_* bits. POLLNVAL (the fd is not open) counts as an error, so the owner
 * closes it instead of having it polled again and again.
 */
export function pollToFdEvents(e: number): number {
  return (
    (e & POLLIN ? FD_EV_READY_R : 0) |
    (e & POLLOUT ? FD_EV_READY_W : 0) |
    (e & POLLRDHUP ? FD_EV_SHUT_R : 0) |
    (e & POLLHUP ? FD_EV_SHUT_RW : 0) |
    (e & (POLLERR | POLLNVAL) ? FD_EV_ERR_RW : 0) |
    (e & POLLPRI ? FD_EV_PRI : 0)
  );
}

function wantedToPoll(wanted: number): number {
  // RDHUP with IN, as epoll does: a peer's FIN is reported even when the owner drains the data.
  return (wanted & FD_WANT_RECV ? POLLIN | POLLRDHUP : 0) | (wanted & FD_WANT_SEND ? POLLOUT : 0);
}

export class PollPoller implements Poller {
  readonly name = 'poll';
  readonly pref = 200;
  readonly activity: PollerActivity = { pollDead: 0, pollDrop: 0, ctlCalls: 0 };
  private watcher: NativePollWatcher | null = null;
  private fdtab: FdTable | null = null;
  /** [fd, events, revents] per slot; slots 0..count-1 are in use, without holes. */
  private set = new Int32Array(INITIAL_SLOTS * 3);
  private count = 0;
  /** Inside the dispatch walk, when slot removals must wait. */
  private dispatching = false;
  private readonly removedDuringDispatch: number[] = [];
  /** fd -> its slot, -1 when the fd is not in the set. */
  private slotOf = new Int32Array(INITIAL_SLOTS).fill(-1);
  /** watch() was called and unwatch() was not. */
  private watching = false;
  /** What setKeepAlive() asked for; the watcher only holds the loop while watching too. */
  private keepAlive = true;

  test(): boolean {
    try {
      new native.PollWatcher().close();
      const probe = new Int32Array([-1, POLLIN, 0]); // a negative fd is skipped: returns 0
      return native.pollOnce(probe, 1, 0) === 0;
    } catch {
      return false;
    }
  }

  init(fdtab: FdTable): void {
    this.watcher = new native.PollWatcher();
    this.fdtab = fdtab;
    fdtab.resetPolled();
    fdtab.onRemove = (fd) => {
      // During the dispatch walk slots must stay put (removing one moves the last into the
      // hole): removals made by callbacks wait until the walk ends. The watcher thread keeps its
      // copy until re-armed, which poll() does; a report meanwhile finds no owner (pollDead).
      if (this.dispatching) {
        this.removedDuringDispatch.push(fd);
        return;
      }
      const slot = this.slot(fd);
      if (slot >= 0) this.removeSlot(fd, slot);
    };
  }

  term(): void {
    if (this.fdtab) this.fdtab.onRemove = null;
    this.watcher?.close();
    this.watcher = null;
    this.watching = false;
    this.slotOf.fill(-1);
    this.count = 0;
  }

  watch(onWake: () => void): void {
    const watcher = this.requireWatcher();
    // The result (ready count or -errno) is not needed: poll() asks the kernel again, and meets
    // the same error if the thread's poll(2) failed.
    watcher.start(() => onWake());
    this.watching = true;
    this.applyRef(watcher);
    this.applyUpdates(this.fdtab!);
    this.arm(watcher);
  }

  unwatch(): void {
    if (!this.watcher) return;
    this.watcher.disarm();
    this.watching = false;
    this.applyRef(this.watcher);
  }

  setKeepAlive(keepAlive: boolean): void {
    this.keepAlive = keepAlive;
    this.applyRef(this.requireWatcher());
  }

  private applyRef(watcher: NativePollWatcher): void {
    // A started watcher's uv_async_t would hold the loop even when disarmed; an unwatched poller
    // must not, as an epoll poller does not once stopped.
    if (this.keepAlive && this.watching) watcher.ref();
    else watcher.unref();
  }

  private requireWatcher(): NativePollWatcher {
    if (!this.watcher) throw new Error('poll poller used before init()');
    return this.watcher;
  }

  private arm(watcher: NativePollWatcher): void {
    const rc = watcher.arm(this.set, this.count);
    if (rc < 0) throw systemErrorFromErrno(rc, 'poll watcher arm', native.errnoName, native.strerror);
  }

  /** Slot of `fd`, -1 if none. */
  private slot(fd: number): number {
    return fd < this.slotOf.length ? this.slotOf[fd]! : -1;
  }

  private addSlot(fd: number, events: number): void {
    if (fd >= this.slotOf.length) {
      let length = this.slotOf.length;
      while (length <= fd) length *= 2;
      const slotOf = new Int32Array(length).fill(-1);
      slotOf.set(this.slotOf);
      this.slotOf = slotOf;
    }
    if ((this.count + 1) * 3 > this.set.length) {
      const set = new Int32Array(this.set.length * 2);
      set.set(this.set);
      this.set = set;
    }
    const slot = this.count++;
    this.set[3 * slot] = fd;
    this.set[3 * slot + 1] = events;
    this.set[3 * slot + 2] = 0;
    this.slotOf[fd] = slot;
  }

  private removeSlot(fd: number, slot: number): void {
    // The last slot moves into the hole, keeping the set dense for poll(2).
    const last = --this.count;
    if (slot !== last) {
      const moved = this.set[3 * last]!;
      this.set.copyWithin(3 * slot, 3 * last, 3 * last + 3);
      this.slotOf[moved] = slot;
    }
    this.slotOf[fd] = -1;
  }

  private applyUpdates(fdtab: FdTable): void {
    fdtab.drainUpdates((fd, wanted) => {
      if (wanted !== 0 && fdtab.entry(fd) === undefined) {
        this.activity.pollDrop++;
        return;
      }
      const slot = this.slot(fd);
      if (wanted === 0) {
        if (slot >= 0) this.removeSlot(fd, slot);
      } else if (slot >= 0) {
        this.set[3 * slot + 1] = wantedToPoll(wanted);
      } else {
        this.addSlot(fd, wantedToPoll(wanted));
      }
      // Nothing to tell the kernel: the set goes to it whole with every poll(2).
      fdtab.setPolled(fd, wanted);
    });
  }

  poll(): number {
    const watcher = this.requireWatcher();
    const fdtab = this.fdtab!;
    this.applyUpdates(fdtab);
    const ready = native.pollOnce(this.set, this.count, 0);
    if (ready < 0) throw systemErrorFromErrno(ready, 'poll', native.errnoName, native.strerror);
    // Callbacks only queue interest changes (fdtab's update list) and defer removals, so slots
    // stay put during the walk; an fd a callback removes is still here, and counted as dead.
    const set = this.set;
    this.dispatching = true;
    try {
      this.dispatch(set, ready, fdtab);
    } finally {
      this.dispatching = false;
      for (const fd of this.removedDuringDispatch) {
        const slot = this.slot(fd);
        if (slot >= 0 && fdtab.entry(fd) === undefined) this.removeSlot(fd, slot);
      }
      this.removedDuringDispatch.length = 0;
    }
    if (this.watching) {
      // The callbacks' interest changes go into the armed copy now rather than one wake later.
      this.applyUpdates(fdtab);
      this.arm(watcher);
    }
    return ready;
  }

  private dispatch(set: Int32Array, ready: number, fdtab: FdTable): void {
    for (let slot = 0, found = 0; found < ready && slot < this.count; slot++) {
      const revents = set[3 * slot + 2]!;
      if (revents === 0) continue;
      found++;
      const fd = set[3 * slot]!;
      const entry = fdtab.entry(fd);
      if (entry === undefined) {
        this.activity.pollDead++;
        continue;
      }
      entry.iocb(fd, pollToFdEvents(revents));
    }
  }
}

export const pollPollerFactory: PollerFactory = {
  name: 'poll',
  pref: 200,
  create: () => new PollPoller(),
};
