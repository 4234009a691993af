/**
 * Server selection (HAProxy's backend.c + lb_*.c), as pure functions over the server list so
 * every algorithm is tested without sockets.
 *
 * Which servers compete: the active (non-backup) usable ones; when none is usable, the backups —
 * all of them with `option allbackups`, else only the first usable backup (HAProxy's rule, so a
 * backup farm normally behaves as a single standby). A server without a free slot (maxconn) is
 * skipped when another has one; when all are full the caller queues the session.
 */
import type { SocketAddress } from '../address.js';
import { constants } from '../native.js';
import { serverHasSlot, serverUsable, type BalanceAlgorithm, type Server } from './server-types.js';

export interface BalancerOptions {
  allBackups?: boolean;
  /** Random source for `random`, injectable for tests. Returns [0, 1). */
  random?: () => number;
}

/** What balancing may ask of a client: its address, for `balance source`. */
export interface BalancedClient {
  readonly src: SocketAddress;
}

export interface Balancer {
  /**
   * Picks a server for a client. Only `balance source` reads the client's address (`src`), a
   * getter that decodes it on first use: other algorithms never make it.
   * Returns null when no server is usable; a server without a free slot only when every
   * candidate is full (the caller then queues on it or on the backend).
   */
  pick(client?: BalancedClient): Server | null;
  /** Call after changing weights or states at run time (roundrobin adapts; static-rr does not). */
  update(): void;
}

/** The servers that currently compete (a new array: for tests and reports, not for picks). */
export function candidates(servers: readonly Server[], allBackups: boolean): Server[] {
  const pool = new Pool(servers, allBackups);
  pool.refresh();
  return pool.list.slice();
}

/**
 * The competing servers of one backend as a table, rebuilt only when something that decides
 * membership changes, so a pick allocates nothing (issue 16: `filter` and its closures cost
 * ~420 B per connection).
 *
 * Why a check per pick rather than a version counter bumped by every mutation: server state is
 * written in many places (health checks, DNS answers, the runtime API's set weight/state/maxconn,
 * a master's messages to its workers, checks' slow start), not all of them through ServerEvents,
 * and a missed bump would silently keep a dead server in rotation. Comparing each server's
 * usable weight (its weight when serverUsable, else -1) with the one the table was built from
 * costs a few field reads per server and never goes stale. `cur` and `maxconn` (free slots)
 * change with every connection and are read at pick time, as before.
 */
class Pool {
  /** The competing servers, in configuration order (actives, or the backups that stand in). */
  readonly list: Server[] = [];
  /** Parallel to `list`: each one's index in `servers` (for per-server state kept in typed arrays). */
  readonly index: number[] = [];
  /** Per server: the usable weight the table was built from (NaN: never seen). */
  private seen: Float64Array;
  constructor(
    readonly servers: readonly Server[],
    private readonly allBackups: boolean,
  ) {
    this.seen = new Float64Array(servers.length).fill(NaN);
  }

  /** Rebuilds the table if a server's usability or weight changed; true when it did. */
  refresh(): boolean {
    const servers = this.servers;
    if (this.seen.length !== servers.length) this.seen = new Float64Array(servers.length).fill(NaN);
    let changed = false;
    for (let i = 0; i < servers.length; i++) {
      const s = servers[i]!;
      const weight = serverUsable(s) ? s.weight : -1;
      if (weight !== this.seen[i]) {
        this.seen[i] = weight;
        changed = true;
      }
    }
    if (changed) this.rebuild();
    return changed;
  }

  /** Forgets what the table was built from: the next refresh() rebuilds it. */
  invalidate(): void {
    this.seen.fill(NaN);
  }

  private rebuild(): void {
    const { list, index, servers } = this;
    list.length = 0;
    index.length = 0;
    for (let i = 0; i < servers.length; i++) {
      const s = servers[i]!;
      if (!s.backup && serverUsable(s)) {
        list.push(s);
        index.push(i);
      }
    }
    if (list.length > 0) return;
    for (let i = 0; i < servers.length; i++) {
      const s = servers[i]!;
      if (s.backup && serverUsable(s)) {
        list.push(s);
        index.push(i);
        if (!this.allBackups) return;
      }
    }
  }
}

/** Whether any server of `list` has a free slot: if so, those without one sit the pick out. */
function anyHasSlot(list: readonly Server[]): boolean {
  for (let i = 0; i < list.length; i++) if (serverHasSlot(list[i]!)) return true;
  return false;
}

/** FNV-1a over the bytes: stable across runs and processes (a master and its workers agree). */
export function hashBytes(bytes: Uint8Array): number {
  return hashRange(bytes, 0, bytes.length);
}

/** hashBytes over bytes[start, end), without a subarray view. */
function hashRange(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
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

/** hashBytes(sourceAddressBytes(sockaddr)), with no view allocated per connection. */
function hashSourceAddress(sockaddr: Uint8Array): number {
  const family = sockaddr[0]! | (sockaddr[1]! << 8);
  if (family === constants.AF_INET && sockaddr.length >= 8) return hashRange(sockaddr, 4, 8);
  if (family === constants.AF_INET6 && sockaddr.length >= 24) return hashRange(sockaddr, 8, 24);
  return hashRange(sockaddr, 0, sockaddr.length);
}

/** A counter for round-robin tie-breaking that stays a small integer (no heap number, ever). */
function nextTurn(turn: number): number {
  return turn >= 0x3fffffff ? 0 : turn + 1;
}

/**
 * Smooth weighted round robin: every pick adds each candidate's weight to its credit, takes the
 * one with the most credit and charges it the total. Over a cycle each server is picked in
 * proportion to its weight, and picks of a heavy server are spread out rather than bunched
 * (5,1,1 gives a a b a c a a, not a a a a a b c), which is what HAProxy's roundrobin aims for.
 */
class SmoothRoundRobin implements Balancer {
  private readonly pool: Pool;
  /** Per server (index in `servers`): its credit; 0 for servers out of the rotation. */
  private credit: Float64Array;
  constructor(servers: readonly Server[], allBackups: boolean) {
    this.pool = new Pool(servers, allBackups);
    this.credit = new Float64Array(servers.length);
  }

  update(): void {
    this.pool.invalidate();
    this.refresh();
  }

  private refresh(): void {
    if (!this.pool.refresh()) return;
    // Credits of servers that left the rotation are dropped; newcomers start at 0.
    const { servers, index } = this.pool;
    if (this.credit.length !== servers.length) {
      const credit = new Float64Array(servers.length);
      credit.set(this.credit.subarray(0, Math.min(credit.length, this.credit.length)));
      this.credit = credit;
    }
    const credit = this.credit;
    for (let i = 0, k = 0; i < servers.length; i++) {
      if (k < index.length && index[k] === i) k++;
      else credit[i] = 0;
    }
  }

  pick(): Server | null {
    this.refresh();
    const { list, index } = this.pool;
    if (list.length === 0) return null;
    const slotOnly = anyHasSlot(list);
    const credit = this.credit;
    let total = 0;
    let best = -1;
    let bestCredit = -Infinity;
    for (let k = 0; k < list.length; k++) {
      const server = list[k]!;
      if (slotOnly && !serverHasSlot(server)) continue;
      const i = index[k]!;
      const c = credit[i]! + server.weight;
      credit[i] = c;
      total += server.weight;
      if (c > bestCredit) {
        bestCredit = c;
        best = k;
      }
    }
    credit[index[best]!] = bestCredit - total;
    return list[best]!;
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

  /** Allocates nothing: the map is fixed, and usability and slots are read per entry. */
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
  private readonly pool: Pool;
  constructor(servers: readonly Server[], allBackups: boolean) {
    this.pool = new Pool(servers, allBackups);
  }

  update(): void {
    this.pool.invalidate();
    this.pool.refresh();
  }

  pick(): Server | null {
    this.pool.refresh();
    const list = this.pool.list;
    if (list.length === 0) return null;
    const slotOnly = anyHasSlot(list);
    // Two passes instead of collecting the tied servers: the lowest load and how many share it,
    // then the turn-th of those.
    let bestLoad = Infinity;
    let tied = 0;
    for (let k = 0; k < list.length; k++) {
      const server = list[k]!;
      if (slotOnly && !serverHasSlot(server)) continue;
      const load = (server.cur + 1) / server.weight;
      if (load < bestLoad) {
        bestLoad = load;
        tied = 1;
      } else if (load === bestLoad) {
        tied++;
      }
    }
    let nth = this.turn % tied;
    this.turn = nextTurn(this.turn);
    for (let k = 0; k < list.length; k++) {
      const server = list[k]!;
      if (slotOnly && !serverHasSlot(server)) continue;
      if ((server.cur + 1) / server.weight === bestLoad && nth-- === 0) return server;
    }
    return null; // unreachable: the first pass counted `tied` servers at bestLoad
  }
}

/** first: the lowest id with a free slot, so servers fill up one after the other. */
class First implements Balancer {
  private readonly pool: Pool;
  /** The pool sorted by id, rebuilt with it. */
  private byId: Server[] = [];
  constructor(servers: readonly Server[], allBackups: boolean) {
    this.pool = new Pool(servers, allBackups);
  }

  update(): void {
    this.pool.invalidate();
    this.refresh();
  }

  private refresh(): void {
    if (this.pool.refresh()) this.byId = [...this.pool.list].sort((a, b) => a.id - b.id);
  }

  pick(): Server | null {
    this.refresh();
    const byId = this.byId;
    for (let k = 0; k < byId.length; k++) if (serverHasSlot(byId[k]!)) return byId[k]!;
    return byId[0] ?? null;
  }
}

/**
 * source, map-based: hash modulo the total weight over a weighted map. Cheap and even, but any
 * change of the server set moves most clients.
 */
class SourceMap implements Balancer {
  private map: Server[] = [];
  private readonly pool: Pool;
  constructor(servers: readonly Server[], allBackups: boolean) {
    this.pool = new Pool(servers, allBackups);
    this.refresh();
  }

  update(): void {
    this.pool.invalidate();
    this.refresh();
  }

  private refresh(): void {
    if (this.pool.refresh()) this.map = this.pool.list.flatMap((s) => Array<Server>(s.weight).fill(s));
  }

  pick(client?: BalancedClient): Server | null {
    this.refresh();
    if (this.map.length === 0) return null;
    const hash = client ? hashSourceAddress(client.src.bytes) : 0;
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
  private readonly pool: Pool;
  constructor(servers: readonly Server[], allBackups: boolean) {
    this.pool = new Pool(servers, allBackups);
    this.refresh();
  }

  update(): void {
    this.pool.invalidate();
    this.refresh();
  }

  private refresh(): void {
    if (!this.pool.refresh()) return;
    const ring: Array<{ point: number; server: Server }> = [];
    const encoder = new TextEncoder();
    for (const server of this.pool.list) {
      for (let i = 0; i < server.weight * SourceConsistent.POINTS_PER_WEIGHT; i++) {
        ring.push({ point: hashBytes(encoder.encode(`${server.id}:${server.name}:${i}`)), server });
      }
    }
    ring.sort((a, b) => a.point - b.point);
    this.ring = ring;
  }

  pick(client?: BalancedClient): Server | null {
    this.refresh();
    const ring = this.ring;
    if (ring.length === 0) return null;
    const hash = client ? hashSourceAddress(client.src.bytes) : 0;
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
  private readonly pool: Pool;
  constructor(
    servers: readonly Server[],
    allBackups: boolean,
    private readonly draws: number,
    /** null: the xorshift below (Math.random returns a fresh heap number, 16 B per draw). */
    private readonly random: (() => number) | null,
  ) {
    this.pool = new Pool(servers, allBackups);
  }

  update(): void {
    this.pool.invalidate();
    this.pool.refresh();
  }

  /** xorshift32 state, seeded once from Math.random; a typed array holds it unboxed. */
  private readonly state = Uint32Array.of((Math.random() * 0xffffffff) >>> 0 || 1);

  /** [0, 1), as Math.random but with no allocation (a small method: inlined into draw). */
  private xorshift(): number {
    let x = this.state[0]!;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state[0] = x;
    return (x >>> 0) / 4294967296;
  }

  private draw(list: readonly Server[], slotOnly: boolean, total: number): Server {
    let r = (this.random === null ? this.xorshift() : this.random()) * total;
    let last: Server | null = null;
    for (let k = 0; k < list.length; k++) {
      const server = list[k]!;
      if (slotOnly && !serverHasSlot(server)) continue;
      last = server;
      r -= server.weight;
      if (r < 0) return server;
    }
    return last!;
  }

  pick(): Server | null {
    this.pool.refresh();
    const list = this.pool.list;
    if (list.length === 0) return null;
    const slotOnly = anyHasSlot(list);
    let total = 0;
    for (let k = 0; k < list.length; k++) {
      const server = list[k]!;
      if (!slotOnly || serverHasSlot(server)) total += server.weight;
    }
    let best = this.draw(list, slotOnly, total);
    for (let i = 1; i < this.draws; i++) {
      const other = this.draw(list, slotOnly, total);
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
      return new RandomChoices(servers, allBackups, Math.max(1, algorithm.draws), options.random ?? null);
  }
}
