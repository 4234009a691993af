/** Servers and backends at run time (HAProxy's server-t.h, backend-t.h), as balancing sees them. */
import type { SocketAddress } from '../address.js';

/** How a backend picks a server (HAProxy's `balance`). */
export type BalanceAlgorithm =
  | { kind: 'roundrobin' } // smooth weighted round robin; weights may change at run time
  | { kind: 'static-rr' } // weighted round robin over a map fixed at startup
  | { kind: 'leastconn' } // fewest connections relative to weight; round robin among equals
  | { kind: 'first' } // the first server (by id) with a free connection slot
  | { kind: 'source'; hashType: 'map-based' | 'consistent' } // hash of the client's address
  | { kind: 'random'; draws: number }; // power of `draws` random choices, least loaded wins

/**
 * A server's administrative state (HAProxy's SRV_ADMF_*): 'ready' takes traffic, 'drain' keeps
 * its sessions but takes no new ones from balancing, 'maint' takes nothing.
 */
export type AdminState = 'ready' | 'drain' | 'maint';

/** A server's operational state as health checks see it (HAProxy's SRV_ST_RUNNING / SRV_ST_STOPPED). */
export type HealthState = 'up' | 'down';

export interface Server {
  readonly name: string;
  /** Numeric id (`id` keyword, else its position from 1): `first` orders by it. */
  readonly id: number;
  /**
   * Where to connect; null means "the client's original destination" (transparent mode). A
   * server following DNS (`resolvers`) has it changed at run time.
   */
  address: SocketAddress | null;
  /** 0–256; 0 takes no new traffic from balancing. */
  weight: number;
  /** Concurrent connections allowed; 0 = unlimited (may change at run time). */
  maxconn: number;
  /** Sessions allowed to wait in this server's queue; 0 = unlimited (may change at run time). */
  maxqueue: number;
  readonly backup: boolean;
  /** Administrative state: `disabled` in the configuration is 'maint' (later: the runtime API). */
  admin: AdminState;
  /** Operational state: what health checks found ('up' for a server without `check`). */
  health: HealthState;
  /**
   * No address to use (HAProxy's resolution maintenance): a `server-template` slot no record
   * fills, a name that stopped resolving past its `hold`, `init-addr none` before the first
   * answer. It takes nothing, as in maintenance, until DNS gives it an address.
   */
  unresolved: boolean;
  /** Connections open now (the session layer maintains it). */
  cur: number;
}

/** Whether balancing may hand `server` a new connection at all. */
export function serverUsable(server: Server): boolean {
  return server.admin === 'ready' && !server.unresolved && server.health === 'up' && server.weight > 0;
}

/** Whether `server` counts as up in state reports: not in maintenance and not found down. */
export function serverUp(server: Server): boolean {
  return server.admin !== 'maint' && !server.unresolved && server.health === 'up';
}

/** Servers up now (serverUp), active and backup, as HAProxy's transition lines count them. */
export function upCounts(servers: readonly Server[]): { active: number; backups: number } {
  let active = 0;
  let backups = 0;
  for (const s of servers) if (serverUp(s)) s.backup ? backups++ : active++;
  return { active, backups };
}

/** Whether `server` has a free connection slot. */
export function serverHasSlot(server: Server): boolean {
  return server.maxconn === 0 || server.cur < server.maxconn;
}
