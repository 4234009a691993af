/** Types and states of proxies (HAProxy's proxy-t.h), for what start/pause/stop need today. */
import type { Listener } from '../listener/listener-types.js';

/** A proxy's state. Numeric order matters: "at least READY" comparisons are used. */
export const ProxyState = {
  NEW: 0, // configured, listeners not bound yet
  READY: 1, // every listener bound (and, once enabled, accepting)
  PAUSED: 2, // listeners paused (SIGTTOU): connections refused until resumed
  STOPPED: 3, // listeners closed (soft or hard stop): nothing new is accepted, ever
} as const;
export type ProxyState = (typeof ProxyState)[keyof typeof ProxyState];

/** What a proxy section is; a `listen` section is both ends in one. */
export type ProxyType = 'frontend' | 'backend' | 'listen';

export interface Proxy {
  readonly name: string;
  readonly type: ProxyType;
  state: ProxyState;
  /** Listeners of its `bind` lines (none for a backend). */
  readonly listeners: Listener[];
}

/** Where startup and lifecycle messages go; HAProxy's Alert(), Warning() and send_log(NOTICE). */
export interface ProxyLog {
  alert(message: string): void;
  warning(message: string): void;
  notice(message: string): void;
}

/** The job counter of the loop the listeners count in (Loop satisfies it). */
export interface JobCounter {
  jobs: number;
}
