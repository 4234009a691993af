/**
 * A poller plug-in (HAProxy's `struct poller`): a readiness mechanism with a name and a
 * preference. The loop picks the usable one with the highest preference that configuration has
 * not disabled (`noepoll`, `-de`; `nopoll`, `-dp`).
 *
 * In epoxy a poller never blocks: Node's loop does the sleeping. A poller is *watched* — it calls
 * `onWake` from Node's loop when something may be ready — and the loop then asks it to `poll()`,
 * which applies pending interest changes, collects ready events without waiting and dispatches
 * them through the fd table.
 */
import type { FdTable } from '../fd/fdtab.js';

/** Counters a poller keeps for `show activity`. */
export interface PollerActivity {
  /** events for an fd with no owner (closed or handed away between report and dispatch) */
  pollDead: number;
  /** interest updates dropped because the fd had no owner any more */
  pollDrop: number;
  /** syscalls made to change interest (epoll_ctl; 0 for poll(2), which passes it each time) */
  ctlCalls: number;
}

export interface Poller {
  /** 'epoll', 'poll' */
  readonly name: string;
  /** Higher wins; HAProxy uses epoll 300, poll 200. */
  readonly pref: number;
  readonly activity: PollerActivity;
  /** Whether the mechanism works here (tried once before use). */
  test(): boolean;
  /** Creates the kernel objects. Throws EpoxySystemError on failure. */
  init(fdtab: FdTable): void;
  /** Releases the kernel objects; the poller can be init()ed again (after fork, say). */
  term(): void;
  /** Starts calling `onWake` from Node's loop whenever a watched fd may be ready. */
  watch(onWake: () => void): void;
  unwatch(): void;
  /** Keeps (or stops keeping) the process alive while watching. */
  setKeepAlive(keepAlive: boolean): void;
  /** Applies queued interest changes, collects ready events without blocking, dispatches them. */
  poll(): number;
}

export interface PollerFactory {
  readonly name: string;
  readonly pref: number;
  create(): Poller;
}
