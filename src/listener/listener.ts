/**
 * Listener objects and the state changes that involve only the poller (HAProxy's listener.c):
 * enabling a listening socket (LISTEN -> READY), disabling it, and the FULL / LIMITED holds.
 * Socket work — bind, unbind, pause, resume — is in tcp-bind.ts.
 *
 * Who drives what:
 * - the proxy manager (later): createListeners(), bindListener(), enableListener(), pause/resume
 *   on reload and on `disable frontend`;
 * - the session layer (later): counts listener.nbconn, calls listenerFull() when it reaches
 *   maxconn and resumeListener() when a connection ends below it; limitListener() when a
 *   process-wide limit is hit, and resumeListener() on every limited listener once it clears.
 */
import type { SocketAddress } from '../address.js';
import {
  DEFAULT_MAXCONN,
  ERR_ABORT,
  ERR_ALERT,
  ERR_FATAL,
  ERR_RETRYABLE,
  ERR_WARN,
  ListenerState,
  type BindConf,
  type Listener,
  type ParsedBind,
} from './listener-types.js';

export interface ListenerDefaults {
  /** The frontend's maxconn, used when the bind line sets none. */
  maxconn?: number;
  /** The frontend's backlog, used when the bind line sets none. */
  backlog?: number;
  /** An fd handed over by a parent to adopt instead of creating a socket. */
  fd?: number;
}

/** A listener in ASSIGNED state for one address of a bind line. */
export function createListener(bind: BindConf, addr: SocketAddress, defaults: ListenerDefaults = {}): Listener {
  const fd = defaults.fd ?? -1;
  return {
    bind,
    addr,
    state: ListenerState.ASSIGNED,
    fd,
    inherited: fd >= 0,
    boundAddr: null,
    maxconn: bind.maxconn || defaults.maxconn || DEFAULT_MAXCONN,
    backlog: bind.backlog || defaults.backlog || 0,
    nbconn: 0,
    unixFile: null,
    ctx: null,
  };
}

/** One listener per address of a parsed bind line. */
export function createListeners(parsed: ParsedBind, defaults: Omit<ListenerDefaults, 'fd'> = {}): Listener[] {
  return parsed.addresses.map((addr) => createListener(parsed.bind, addr, defaults));
}

/** listen()'s backlog and TFO's queue length: the configured backlog, else maxconn. */
export function listenerBacklog(listener: Listener): number {
  return listener.backlog || listener.maxconn;
}

const STATE_NAMES = ['NEW', 'ASSIGNED', 'PAUSED', 'LISTEN', 'READY', 'FULL', 'LIMITED'] as const;

/** 'READY' for ListenerState.READY. */
export function listenerStateName(state: ListenerState): string {
  return STATE_NAMES[state] ?? `state ${state}`;
}

/** 'RETRYABLE|ALERT' for ERR_RETRYABLE | ERR_ALERT, 'NONE' for 0: for logs and test messages. */
export function errFlagsToString(err: number): string {
  const names: string[] = [];
  if (err & ERR_RETRYABLE) names.push('RETRYABLE');
  if (err & ERR_FATAL) names.push('FATAL');
  if (err & ERR_ABORT) names.push('ABORT');
  if (err & ERR_WARN) names.push('WARN');
  if (err & ERR_ALERT) names.push('ALERT');
  return names.length === 0 ? 'NONE' : names.join('|');
}

/**
 * LISTEN -> READY (polled) or FULL (already at maxconn). Other states are left alone. Returns
 * whether the listener is now READY.
 */
export function enableListener(listener: Listener): boolean {
  if (listener.state === ListenerState.LISTEN) {
    if (listener.nbconn >= listener.maxconn) {
      listener.state = ListenerState.FULL;
    } else {
      listener.ctx?.poll?.wantRecv(listener.fd);
      listener.state = ListenerState.READY;
    }
  }
  return listener.state === ListenerState.READY;
}

/** READY / FULL / LIMITED -> LISTEN: no longer polled, the kernel still queues connections. */
export function disableListener(listener: Listener): void {
  if (listener.state < ListenerState.READY) return;
  listener.ctx?.poll?.stopRecv(listener.fd);
  listener.state = ListenerState.LISTEN;
}

/**
 * READY -> FULL: maxconn connections are open, stop polling until one ends (the session layer
 * then calls resumeListener()). Connections keep queueing in the kernel's backlog meanwhile.
 */
export function listenerFull(listener: Listener): void {
  if (listener.state !== ListenerState.READY) return;
  listener.ctx?.poll?.stopRecv(listener.fd);
  listener.state = ListenerState.FULL;
}

/**
 * READY -> LIMITED: a process-wide limit (global maxconn, a rate limit) is reached; whoever
 * enforces it keeps the list of limited listeners and resumes them when it clears.
 */
export function limitListener(listener: Listener): void {
  if (listener.state !== ListenerState.READY) return;
  listener.ctx?.poll?.stopRecv(listener.fd);
  listener.state = ListenerState.LIMITED;
}
