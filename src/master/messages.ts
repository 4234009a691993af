/**
 * What the master and its workers say to each other over the IPC channel Node's spawn() sets up
 * (one JSON message per line on a socketpair): status, counters and commands. The manifest a
 * worker starts from travels in its environment, since it is needed before anything else.
 */
import type { AdminState, HealthState } from '../backend/server-types.js';
import type { ResolvedAddress } from '../dns/resolvers.js';
import type { CountersSnapshot } from './counters.js';

/** Environment variable holding a worker's manifest (JSON); its presence makes `epoxy` a worker. */
export const WORKER_ENV = 'EPOXY_WORKER';

/** What a worker is told when it is spawned. */
export interface WorkerManifest {
  /** The master's pid: a worker whose parent is another process exits at once. */
  masterPid: number;
  /** Generation (1 at startup, +1 per successful reload) and slot (1..nbthread) of this worker. */
  generation: number;
  slot: number;
  /** Listening fd numbers in this process, by listener identity (src/runtime/bind-all.ts). */
  listeners: Record<string, number>;
  /** Stick tables' shared-memory fds in this process, by the name of the proxy declaring each. */
  tables?: Record<string, number>;
  /** Servers' states from the master's health checks, by 'backend/server'. */
  servers: Record<string, HealthState>;
  /** Addresses of the servers that follow DNS, from the master's resolvers, by 'backend/server'. */
  addresses?: Record<string, ResolvedAddress>;
  /**
   * Every server's administrative state, weight and maxconn as the master's copy has them (the
   * runtime API may have changed them since the configuration was read), by 'backend/server'.
   */
  settings?: Record<string, ServerSettings>;
}

/** What the runtime API changes on a server and a new worker must start from. */
export interface ServerSettings {
  admin: AdminState;
  weight: number;
  maxconn: number;
}

export type MasterMessage =
  /** Soft stop: stop accepting, let sessions finish, then exit (an old generation). */
  | { type: 'stop' }
  /** Send a fresh counters message. */
  | { type: 'counters' }
  /** `clear counters` (peaks) or `clear counters all` (every counter). */
  | { type: 'clear'; all: boolean }
  /** A master CLI command forwarded with `@<n>`; answered by a 'reply' with the same id. */
  | { type: 'command'; id: number; line: string }
  /** Health checks changed servers' states (by 'backend/server'): apply them. */
  | { type: 'servers'; states: Record<string, HealthState> }
  /** DNS answers changed servers' addresses (by 'backend/server'): apply them. */
  | { type: 'addresses'; addresses: Record<string, ResolvedAddress> };

export type WorkerMessage =
  /** Every listener is polled: the worker serves. */
  | { type: 'ready'; pid: number }
  /** The worker could not start (its alerts went to stderr too). */
  | { type: 'failed'; message: string }
  | { type: 'counters'; counters: CountersSnapshot; final: boolean }
  /** The answer to a 'command': its text, and for runtime-API commands whether it failed and its data. */
  | { type: 'reply'; id: number; text: string; failed?: boolean; data?: unknown }
  /** `observe layer4`: a connection to a server failed, or succeeded after failures. */
  | { type: 'observe'; backend: string; server: string; ok: boolean };
