/**
 * Server selection (HAProxy's backend.c + lb_*.c), as pure functions over the server list so
 * every algorithm is tested without sockets.
 *
 * Which servers compete: the active (non-backup) usable ones; when none is usable, the backups —
 * all of them with `option allbackups`, else only the first usable backup (HAProxy's rule, so a
 * backup farm normally behaves as a single standby). A server without a free slot (maxconn) is
 * skipped when another has one; when all are full the caller queues the session.
 */
import { constants } from '../native.js';
import { serverHasSlot, serverUsable, type BalanceAlgorithm, type Server } from './server-types.js';

export interface BalancerOptions {
  allBackups?: boolean;
  /** Random source for `random`, injectable for tests. Returns [0, 1). */
  random?: () => number;
}

export interface Balancer {
  /**
   * Picks a server for a client. `sourceKey` is the client address bytes (for `source`).
   * Returns null when no server is usable; a server without a free slot only when every
   * candidate is full (the caller then queues on it or on the backend).
   */
  pick(sourceKey?: Uint8Array): Server | null;
  /** Call after changing weights or states at run time (roundrobin adapts; static-rr does not). */
  update(): void;
}

/** The servers that currently compete. */
export function candidates(servers: readonly Server[], allBackups: boolean): Server[] {
  const active = servers.filter((s) => !s.backup && serverUsable(s));
  if (active.length > 0) return active;
  const backups = servers.filter((s) => s.backup && serverUsable(s));
  return allBackups ? backups : backups.slice(0, 1);
}

/** FNV-1a over the bytes: stable across runs and processes (a master and its workers agree). */
export function hashBytes(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193);
  }
  // final avalanche (murmur3 fmix32): FNV alone clusters on addresses that differ in the last byte
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The address part of a sockaddr (no port, no family header): what `balance source` hashes. */
export function sourceAddressBytes(sockaddr: Uint8Array): Uint8Array {
  const family = sockaddr[0]! | (sockaddr[1]! << 8);
  if (family === constants.AF_INET && sockaddr.length >= 8) return sockaddr.subarray(4, 8);
  if (family === constants.AF_INET6 && sockaddr.length >= 24) return sockaddr.subarray(8, 24);
  return sockaddr;
}

/**
 * Smooth weighted round robin: every pick adds each candidate's weight to its credit, takes the
 * one with the most credit and charges it the total. Over a cycle each server is picked in
 * proportion to its weight, and picks of a heavy server are spread out rather than bunched
 * (5,1,1 gives a a b a c a a, not a a a a a b c), which is what HAProxy's roundrobin aims for.
 */
class SmoothRoundRobin implements Balancer {
  private credit = new Map<Server, number>();
  constructor(
    private readonly servers: readonly Server[],
    private readonly allBackups: boolean,
  ) {}

  update(): void {
    // Credits of servers that left the rotation are dropped; newcomers start at 0.
    const alive = new Set(candidates(this.servers, this.allBackups));
    for (const server of this.credit.keys()) if (!alive.has(server)) this.credit.delete(server);
  }

  pick(): Server | null {
    const pool = candidates(this.servers, this.allBackups);
    if (pool.length === 0) return null;
    const withSlot = pool.filter(serverHasSlot);
    const competing = withSlot.length > 0 ? withSlot : pool;
    let total = 0;
    let best: Server | null = null;
    let bestCredit = -Infinity;
    for (const server of competing) {
      const credit = (this.credit.get(server) ?? 0) + server.weight;
      this.credit.set(server, credit);
      total += server.weight;
      if (credit > bestCredit) {
        bestCredit = credit;
        best = server;
      }
    }
    this.credit.set(best!, bestCredit - total);
    return best;
  }
}

/** static-rr: a map of server picks built once from the weights at startup (HAProxy's map). */
class StaticRoundRobin implements Balancer {
  private map: Server[] = [];
  private position = 0;
  constructor(
    private readonly servers: readonly Server[],
    private readonly allBackups: boolean,
  ) {
    this.build();
  }

  private build(): void {
    const smooth = new SmoothRoundRobin(this.servers, this.allBackups);
    const pool = candidates(this.servers, this.allBackups);
    const total = pool.reduce((sum, s) => sum + s.weight, 0);
    // Built from a simulation with every slot free, so the map only depends on the weights.
    const saved = pool.map((s) => s.cur);
    for (const s of pool) s.cur = 0;
    this.map = Array.from({ length: total }, () => smooth.pick()!).filter(Boolean);
    pool.forEach((s, i) => (s.cur = saved[i]!));
    this.position = 0;
  }

  /** Weights are static by definition; only the set of usable servers is re-read. */
  update(): void {
    const pool = new Set(candidates(this.servers, this.allBackups));
    if (this.map.some((s) => !pool.has(s)) || [...pool].some((s) => !this.map.includes(s))) this.build();
  }

  pick(): Server | null {
    if (this.map.length === 0) return null;
    let fallback: Server | null = null;
    for (let tries = 0; tries < this.map.length; tries++) {
      const server = this.map[this.position]!;
      this.position = (this.position + 1) % this.map.length;
      if (!serverUsable(server)) continue;
      if (serverHasSlot(server)) return server;
      fallback ??= server;
    }
    return fallback;
  }
}

/** leastconn: lowest cur/weight; ties broken round-robin so equal servers share new load. */
class LeastConn implements Balancer {
  private turn = 0;
  constructor(
    private readonly servers: readonly Server[],
    private readonly allBackups: boolean,
  ) {}

  update(): void {}

  pick(): Server | null {
    const pool = candidates(this.servers, this.allBackups);
    if (pool.length === 0) return null;
    const withSlot = pool.filter(serverHasSlot);
    const competing = withSlot.length > 0 ? withSlot : pool;
    let bestLoad = Infinity;
    let tied: Server[] = [];
    for (const server of competing) {
      const load = (server.cur + 1) / server.weight;
      if (load < bestLoad) {
        bestLoad = load;
        tied = [server];
      } else if (load === bestLoad) {
        tied.push(server);
      }
    }
    return tied[this.turn++ % tied.length]!;
  }
}

/** first: the lowest id with a free slot, so servers fill up one after the other. */
class First implements Balancer {
  constructor(
    private readonly servers: readonly Server[],
    private readonly allBackups: boolean,
  ) {}

  update(): void {}

  pick(): Server | null {
    const pool = [...candidates(this.servers, this.allBackups)].sort((a, b) => a.id - b.id);
    return pool.find(serverHasSlot) ?? pool[0] ?? null;
  }
}

/**
 * source, map-based: hash modulo the total weight over a weighted map. Cheap and even, but any
 * change of the server set moves most clients.
 */
class SourceMap implements Balancer {
  private map: Server[] = [];
  constructor(
    private readonly servers: readonly Server[],
    private readonly allBackups: boolean,
  ) {
    this.update();
  }

  update(): void {
    this.map = candidates(this.servers, this.allBackups).flatMap((s) => Array<Server>(s.weight).fill(s));
  }

  pick(sourceKey?: Uint8Array): Server | null {
    if (this.map.length === 0) return null;
    const hash = sourceKey ? hashBytes(sourceAddressBytes(sourceKey)) : 0;
    return this.map[hash % this.map.length]!;
  }
}

/**
 * source, consistent: a hash ring with points per server proportional to its weight; a server
 * leaving only moves the clients it had (HAProxy's chash uses weight × a constant points too).
 */
class SourceConsistent implements Balancer {
  /** Points per unit of weight: enough for an even spread with few servers. */
  private static readonly POINTS_PER_WEIGHT = 16;
  private ring: Array<{ point: number; server: Server }> = [];
  constructor(
    private readonly servers: readonly Server[],
    private readonly allBackups: boolean,
  ) {
    this.update();
  }

  update(): void {
    const ring: Array<{ point: number; server: Server }> = [];
    const encoder = new TextEncoder();
    for (const server of candidates(this.servers, this.allBackups)) {
      for (let i = 0; i < server.weight * SourceConsistent.POINTS_PER_WEIGHT; i++) {
        ring.push({ point: hashBytes(encoder.encode(`${server.id}:${server.name}:${i}`)), server });
      }
    }
    ring.sort((a, b) => a.point - b.point);
    this.ring = ring;
  }

  pick(sourceKey?: Uint8Array): Server | null {
    const ring = this.ring;
    if (ring.length === 0) return null;
    const hash = sourceKey ? hashBytes(sourceAddressBytes(sourceKey)) : 0;
    let lo = 0;
    let hi = ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ring[mid]!.point < hash) lo = mid + 1;
      else hi = mid;
    }
    return ring[lo % ring.length]!.server;
  }
}

/** random(N): draw N servers by weight, keep the least loaded (the "power of N choices"). */
class RandomChoices implements Balancer {
  constructor(
    private readonly servers: readonly Server[],
    private readonly allBackups: boolean,
    private readonly draws: number,
    private readonly random: () => number,
  ) {}

  update(): void {}

  private draw(pool: readonly Server[], total: number): Server {
    let r = this.random() * total;
    for (const server of pool) {
      r -= server.weight;
      if (r < 0) return server;
    }
    return pool[pool.length - 1]!;
  }

  pick(): Server | null {
    const pool = candidates(this.servers, this.allBackups);
    if (pool.length === 0) return null;
    const withSlot = pool.filter(serverHasSlot);
    const competing = withSlot.length > 0 ? withSlot : pool;
    const total = competing.reduce((sum, s) => sum + s.weight, 0);
    let best = this.draw(competing, total);
    for (let i = 1; i < this.draws; i++) {
      const other = this.draw(competing, total);
      if (other.cur / other.weight < best.cur / best.weight) best = other;
    }
    return best;
  }
}

export function createBalancer(algorithm: BalanceAlgorithm, servers: readonly Server[], options: BalancerOptions = {}): Balancer {
  const allBackups = options.allBackups ?? false;
  switch (algorithm.kind) {
    case 'roundrobin':
      return new SmoothRoundRobin(servers, allBackups);
    case 'static-rr':
      return new StaticRoundRobin(servers, allBackups);
    case 'leastconn':
      return new LeastConn(servers, allBackups);
    case 'first':
      return new First(servers, allBackups);
    case 'source':
      return algorithm.hashType === 'consistent' ? new SourceConsistent(servers, allBackups) : new SourceMap(servers, allBackups);
    case 'random':
      return new RandomChoices(servers, allBackups, Math.max(1, algorithm.draws), options.random ?? Math.random);
  }
}
