/**
 * The epoll poller (preference 300): one epoll set from the addon, watched from Node's loop.
 * Interest changes from the fd table become epoll_ctl calls just before each poll; readiness
 * drained by the addon's watcher is dispatched without a second epoll_wait.
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
import { constants, native, type NativePoller } from '../native.js';
import type { Poller, PollerActivity, PollerFactory } from './poller-types.js';

const { EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLPRI, EPOLLHUP, EPOLLERR, EPOLLEXCLUSIVE } = constants;
// epoll_ctl results are -errno.
const { ENOENT, EEXIST } = constants.errno;

/** epoll event bits -> FD_EV_* bits. */
export function epollToFdEvents(e: number): number {
  return (
    (e & EPOLLIN ? FD_EV_READY_R : 0) |
    (e & EPOLLOUT ? FD_EV_READY_W : 0) |
    (e & EPOLLRDHUP ? FD_EV_SHUT_R : 0) |
    (e & EPOLLHUP ? FD_EV_SHUT_RW : 0) |
    (e & EPOLLERR ? FD_EV_ERR_RW : 0) |
    (e & EPOLLPRI ? FD_EV_PRI : 0)
  );
}

function wantedToEpoll(wanted: number): number {
  // RDHUP with IN: a peer's FIN is reported even when the owner drains the data in the same turn.
  return (wanted & FD_WANT_RECV ? EPOLLIN | EPOLLRDHUP : 0) | (wanted & FD_WANT_SEND ? EPOLLOUT : 0);
}

export class EpollPoller implements Poller {
  readonly name = 'epoll';
  readonly pref = 300;
  readonly activity: PollerActivity = { pollDead: 0, pollDrop: 0, ctlCalls: 0 };
  private set: NativePoller | null = null;
  private fdtab: FdTable | null = null;
  /** Events already drained by the watcher callback and not yet dispatched. */
  private drained = 0;

  constructor(private readonly capacity = 256) {}

  test(): boolean {
    try {
      new native.Poller(1).close();
      return true;
    } catch {
      return false;
    }
  }

  init(fdtab: FdTable): void {
    const set = new native.Poller(this.capacity);
    this.set = set;
    this.fdtab = fdtab;
    fdtab.resetPolled();
    fdtab.onRemove = (fd) => {
      this.activity.ctlCalls++;
      // ENOENT/EBADF: already gone from the set (closed); nothing else can fail here.
      set.remove(fd);
    };
  }

  term(): void {
    if (this.fdtab) this.fdtab.onRemove = null;
    this.set?.close();
    this.set = null;
    this.drained = 0;
  }

  watch(onWake: () => void): void {
    this.requireSet().start((count) => {
      this.drained = count;
      onWake();
    });
  }

  unwatch(): void {
    this.set?.stop();
  }

  setKeepAlive(keepAlive: boolean): void {
    if (keepAlive) this.requireSet().ref();
    else this.requireSet().unref();
  }

  private requireSet(): NativePoller {
    if (!this.set) throw new Error('epoll poller used before init()');
    return this.set;
  }

  private applyUpdates(fdtab: FdTable): void {
    fdtab.drainUpdates(this.applyUpdate);
  }

  /** One fd's change, for drainUpdates: created once, not a closure per turn. */
  private readonly applyUpdate = (fd: number, wanted: number, polled: number): void => {
    const set = this.set!;
    const fdtab = this.fdtab!;
    if (wanted !== 0 && fdtab.entry(fd) === undefined) {
      this.activity.pollDrop++;
      return;
    }
    let rc: number;
    this.activity.ctlCalls++;
    if (wanted === 0) {
      rc = set.remove(fd);
      // ENOENT/EBADF: the fd was closed (which removed it from the set) before we got here.
      fdtab.setPolled(fd, 0);
      return;
    }
    if (fdtab.isExclusive(fd)) {
      // EPOLLEXCLUSIVE is only accepted by ADD, with IN/OUT (no RDHUP, which a listening
      // socket never reports anyway), and MOD refuses it: a change is DEL then ADD.
      if (polled !== 0) set.remove(fd);
      rc = set.add(fd, (wanted & FD_WANT_RECV ? EPOLLIN : 0) | (wanted & FD_WANT_SEND ? EPOLLOUT : 0) | EPOLLEXCLUSIVE);
    } else if (polled === 0) {
      rc = set.add(fd, wantedToEpoll(wanted));
      // EEXIST: the number was reused by a new fd while the old registration survived in a
      // dup()ed description; MOD brings it to what we want.
      if (rc === -EEXIST) rc = set.modify(fd, wantedToEpoll(wanted));
    } else {
      rc = set.modify(fd, wantedToEpoll(wanted));
      // ENOENT: closed and reopened under the same number since we registered it.
      if (rc === -ENOENT) rc = set.add(fd, wantedToEpoll(wanted));
    }
    if (rc < 0) throw systemErrorFromErrno(rc, 'epoll_ctl', native.errnoName, native.strerror);
    fdtab.setPolled(fd, wanted);
  };

  poll(): number {
    const set = this.requireSet();
    const fdtab = this.fdtab!;
    this.applyUpdates(fdtab);
    let count = this.drained;
    this.drained = 0;
    if (count === 0) count = set.wait(0);
    if (count < 0) throw systemErrorFromErrno(count, 'epoll_wait', native.errnoName, native.strerror);
    const events = set.events;
    for (let i = 0; i < count; i++) {
      const fd = events[2 * i]!;
      const entry = fdtab.entry(fd);
      if (entry === undefined) {
        this.activity.pollDead++;
        continue;
      }
      entry.iocb(fd, epollToFdEvents(events[2 * i + 1]!));
    }
    return count;
  }
}

export const epollPollerFactory: PollerFactory = {
  name: 'epoll',
  pref: 300,
  create: () => new EpollPoller(),
};
