/**
 * Servers' addresses from DNS at run time (HAProxy's `resolvers` sections, resolvers.c): each
 * name a server or a `server-template` uses is asked of every nameserver of its section, over
 * UDP, again once its answer is `hold valid` old; answers change the servers' addresses,
 * ports (SRV) and weights (SRV) without a reload, and a name that stops resolving for longer
 * than its `hold` puts its servers in maintenance until it resolves again.
 *
 * Like the health checker this is control plane: it runs where the configuration is owned (the
 * master, or the single process) with Node's own sockets and timers, never on the relay's path,
 * and reports each server it changed through `changed` for whoever applies it. Nothing here
 * blocks: a nameserver that never answers costs a timer.
 *
 * One resolution per name and query type, shared by every server asking for it (the slots of
 * a template share one). A round sends the query to every nameserver of the section; the first
 * valid answer wins, and when all answered with errors (or `timeout retry` passed) the round
 * failed: the next one switches between A and AAAA once (not after a timeout), then asks the
 * preferred type again, `resolve_retries` rounds in all.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { isIP } from 'node:net';

import { SocketAddress } from '../address.js';
import type { IpPattern, ResolversConfig } from '../config/model.js';
import type { ProxyLog } from '../proxy/proxy-types.js';
import { ipMatches } from '../runtime/condition.js';
import { upCounts } from '../backend/server-types.js';
import type { BackendRuntime, ServerRuntime } from '../session/session-types.js';
import { decodeResponse, DnsRcode, DnsType, encodeQuery, normalizeName, type DnsRecord, type DnsResponse, type QueryType } from './dns-message.js';

/** How a server's address follows DNS (built from its `resolvers`, `resolve-*` keywords). */
export interface ServerDns {
  /** The resolvers section's name. */
  readonly resolvers: string;
  /** The name asked (lower case, no trailing dot). */
  readonly fqdn: string;
  /** An `_service._proto.name` without a port: SRV records give targets, ports and weights. */
  readonly srv: boolean;
  /** The port connected to for A/AAAA answers (the configured one). */
  readonly port: number;
  readonly prefer: 'ipv4' | 'ipv6';
  readonly nets: readonly IpPattern[];
  /** `resolve-opts allow-dup-ip`: servers of one backend sharing the name may share an address. */
  readonly allowDupIp: boolean;
  /** `resolve-opts ignore-weight`: SRV weights leave the server's weight alone. */
  readonly ignoreWeight: boolean;
}

/** Why a resolution ended without a valid answer (the `hold` it is judged by). */
export type ResolutionError = 'nx' | 'refused' | 'timeout' | 'other';

/** A nameserver's counters, named as HAProxy's `show resolvers` names them. */
export interface NameserverCounters {
  sent: number;
  snd_error: number;
  valid: number;
  update: number;
  cname: number;
  any_err: number;
  nx: number;
  timeout: number;
  refused: number;
  other: number;
  invalid: number;
  truncated: number;
  outdated: number;
}

/** What a server's resolution gave it, carried to workers and across reloads by 'backend/server'. */
export interface ResolvedAddress {
  /** Address text, or null while the server has none. */
  readonly address: string | null;
  readonly port: number;
  readonly weight: number;
  /** For an SRV slot: the record's target and port ('target:port'), or null. */
  readonly srvItem: string | null;
}

export interface ResolversOptions {
  log: ProxyLog;
  /** A server's address, port, weight or `unresolved` changed: apply it wherever it serves. */
  changed?: (backend: BackendRuntime, server: ServerRuntime) => void;
  /** Addresses to start from, by 'backend/server' (a reload carries them over). */
  initial?: ReadonlyMap<string, ResolvedAddress>;
}

interface Requester {
  readonly backend: BackendRuntime;
  readonly server: ServerRuntime;
  readonly dns: ServerDns;
  /** SRV slots: the record this server holds ('target:port'), or null (a free slot). */
  srvItem: string | null;
  /** SRV slots whose record came without an address: the resolution of its target. */
  targetResolution: Resolution | null;
  /** SRV slots: the port of the record held (the target's resolution gives only the address). */
  srvPort: number;
  /** SRV slots: the target of the record held, or null. */
  srvTarget: string | null;
}

/** An answer's record as kept between answers, for `hold obsolete`. */
interface Item {
  readonly key: string;
  lastSeen: number;
  /** A/AAAA: the address. SRV: the target's address from the additional section, if any. */
  address: string | null;
  /** SRV only. */
  target: string;
  port: number;
  weight: number;
  priority: number;
}

interface Resolution {
  readonly section: Section;
  readonly name: string;
  /** The type asked first: SRV, or A/AAAA as `resolve-prefer` says. */
  readonly preferred: QueryType;
  /** The type of the round in flight. */
  type: QueryType;
  readonly requesters: Requester[];
  /** Servers whose SRV record's target this resolution looks up (a target's resolution only). */
  readonly srvTarget: boolean;
  items: Map<string, Item>;
  /** Tries left in the current resolution (`resolve_retries` at its start). */
  triesLeft: number;
  /** The current try has asked the other family already. */
  switched: boolean;
  /** The resolution's query id (every try and the family switch reuse it), or -1 between resolutions. */
  id: number;
  /** Nameservers yet to answer the query in flight. */
  readonly awaiting: Set<Nameserver>;
  lastError: ResolutionError;
  /** When the last valid answer came (0: never). */
  lastValid: number;
  /** When the current (or last) resolution started. */
  lastResolution: number;
  timer: NodeJS.Timeout | null;
}

interface Nameserver {
  readonly name: string;
  readonly address: SocketAddress;
  readonly socket: Socket;
  readonly counters: NameserverCounters;
}

interface Section {
  readonly config: ResolversConfig;
  readonly nameservers: Nameserver[];
  /** Rounds in flight, by query id. */
  readonly pending: Map<number, Resolution>;
}

/** 'be/s1', the key of a server across reloads and processes. */
function keyOf(backend: BackendRuntime, server: ServerRuntime): string {
  return `${backend.name}/${server.name}`;
}

function emptyCounters(): NameserverCounters {
  return { sent: 0, snd_error: 0, valid: 0, update: 0, cname: 0, any_err: 0, nx: 0, timeout: 0, refused: 0, other: 0, invalid: 0, truncated: 0, outdated: 0 };
}

/**
 * HAProxy's weight for an SRV record's (0..65535, RFC 2782): scaled into 0..256 rounding up, so
 * that only a zero weight takes no traffic (HAProxy 2.6, observed: 0→0, 10→1, 257→2, 65535→256).
 */
export function srvWeight(weight: number): number {
  return Math.ceil(weight / 256);
}

export class ServerResolvers {
  private readonly sections = new Map<string, Section>();
  private readonly resolutions = new Map<string, Resolution>();
  private readonly requesters: Requester[] = [];
  private readonly query = Buffer.alloc(512);
  private stopped = false;

  constructor(
    configs: readonly ResolversConfig[],
    backends: Iterable<BackendRuntime>,
    private readonly options: ResolversOptions,
  ) {
    // Walked twice: an iterator (a Map's values()) would be empty the second time.
    const list = [...backends];
    const used = new Set<string>();
    for (const backend of list) for (const server of backend.servers) if (server.dns) used.add(server.dns.resolvers);
    for (const config of configs) {
      // A section no server uses opens no socket.
      if (!used.has(config.name)) continue;
      this.sections.set(config.name, { config, nameservers: [], pending: new Map() });
    }
    for (const backend of list) {
      for (const server of backend.servers) {
        const dns = server.dns;
        if (!dns) continue;
        const section = this.sections.get(dns.resolvers);
        if (section === undefined) continue; // the configuration check refuses this
        const requester: Requester = { backend, server, dns, srvItem: null, targetResolution: null, srvPort: 0, srvTarget: null };
        const carried = options.initial?.get(keyOf(backend, server));
        if (carried !== undefined) this.carryOver(requester, carried);
        this.requesters.push(requester);
        const preferred: QueryType = dns.srv ? DnsType.SRV : dns.prefer === 'ipv4' ? DnsType.A : DnsType.AAAA;
        this.resolutionOf(section, dns.fqdn, preferred, false).requesters.push(requester);
      }
    }
  }

  /** How many servers follow DNS. */
  get size(): number {
    return this.requesters.length;
  }

  /** Opens the nameservers' sockets and starts every resolution. */
  start(): void {
    for (const section of this.sections.values()) {
      for (const ns of section.config.nameservers) {
        const socket = createSocket({ type: ns.address.family === 'ipv6' ? 'udp6' : 'udp4' });
        const nameserver: Nameserver = { name: ns.name, address: ns.address, socket, counters: emptyCounters() };
        socket.on('message', (msg) => this.received(section, nameserver, msg));
        // A send that failed (ICMP unreachable arrives as ECONNREFUSED on a connected socket):
        // counted, and the round waits for the other nameservers or its timeout.
        socket.on('error', () => nameserver.counters.snd_error++);
        socket.unref();
        section.nameservers.push(nameserver);
      }
    }
    for (const resolution of this.resolutions.values()) this.run(resolution);
  }

  stop(): void {
    this.stopped = true;
    for (const resolution of this.resolutions.values()) if (resolution.timer !== null) clearTimeout(resolution.timer);
    for (const section of this.sections.values()) for (const ns of section.nameservers) ns.socket.close();
  }

  /** Every DNS-following server's address now, by 'backend/server' (for workers and reloads). */
  addresses(): Map<string, ResolvedAddress> {
    return new Map(this.requesters.map((r) => [keyOf(r.backend, r.server), resolvedAddressOf(r.server, r.srvItem)]));
  }

  /** Each section's nameservers and their counters, in order. */
  counters(): { section: string; nameserver: string; counters: Readonly<NameserverCounters> }[] {
    const out: { section: string; nameserver: string; counters: Readonly<NameserverCounters> }[] = [];
    for (const [name, section] of this.sections) for (const ns of section.nameservers) out.push({ section: name, nameserver: ns.name, counters: ns.counters });
    return out;
  }

  private carryOver(requester: Requester, carried: ResolvedAddress): void {
    requester.srvItem = carried.srvItem;
    // 'target:port': the target is what the slot's lines name.
    requester.srvTarget = carried.srvItem === null ? null : carried.srvItem.slice(0, carried.srvItem.lastIndexOf(':'));
    applyResolvedAddress(requester.server, carried);
  }

  private resolutionOf(section: Section, name: string, preferred: QueryType, srvTarget: boolean): Resolution {
    const key = `${section.config.name}\0${name}\0${preferred}\0${srvTarget}`;
    let resolution = this.resolutions.get(key);
    if (resolution === undefined) {
      resolution = {
        section,
        name,
        preferred,
        type: preferred,
        requesters: [],
        srvTarget,
        items: new Map(),
        triesLeft: 0,
        switched: false,
        id: -1,
        awaiting: new Set(),
        lastError: 'timeout',
        lastValid: 0,
        lastResolution: 0,
        timer: null,
      };
      this.resolutions.set(key, resolution);
    }
    return resolution;
  }

  /**
   * Starts a resolution (HAProxy 2.6, observed): up to `resolve_retries` tries under one query
   * id. A try asks the preferred type; an A/AAAA question answered with an error or nothing
   * asks the other family at once. A try that failed that way waits `timeout retry` before the
   * next; one that timed out has waited already and asks again at once.
   */
  private run(resolution: Resolution): void {
    if (this.stopped) return;
    const section = resolution.section;
    resolution.lastResolution = Date.now();
    resolution.triesLeft = section.config.resolveRetries;
    let id: number;
    do id = randomInt(0, 0x10000);
    while (section.pending.has(id));
    resolution.id = id;
    section.pending.set(id, resolution);
    this.startTry(resolution);
  }

  private startTry(resolution: Resolution): void {
    resolution.triesLeft--;
    resolution.switched = false;
    this.send(resolution, resolution.preferred);
  }

  private send(resolution: Resolution, type: QueryType): void {
    const section = resolution.section;
    resolution.type = type;
    for (const ns of section.nameservers) resolution.awaiting.add(ns);
    const length = encodeQuery(this.query, resolution.id, resolution.name, type, section.config.acceptedPayloadSize);
    const datagram = Buffer.from(this.query.subarray(0, length));
    for (const ns of section.nameservers) {
      ns.counters.sent++;
      ns.socket.send(datagram, ns.address.port, ns.address.address, (error) => {
        if (error) ns.counters.snd_error++;
      });
    }
    this.arm(resolution, section.config.timeoutRetry, () => {
      for (const ns of resolution.awaiting) ns.counters.timeout++;
      // Errors from some nameservers and silence from the others: the errors say more.
      if (resolution.awaiting.size === section.nameservers.length) resolution.lastError = 'timeout';
      resolution.awaiting.clear();
      if (resolution.triesLeft > 0) this.startTry(resolution);
      else this.resolutionFailed(resolution);
    });
  }

  private arm(resolution: Resolution, delay: number, then: () => void): void {
    if (resolution.timer !== null) clearTimeout(resolution.timer);
    resolution.timer = setTimeout(() => {
      resolution.timer = null;
      if (!this.stopped) then();
    }, delay);
    // Resolutions never keep a process alive: the proxy's loop (or the master's workers) does.
    resolution.timer.unref();
  }

  private received(section: Section, ns: Nameserver, msg: Buffer): void {
    const decoded = decodeResponse(msg);
    if (!decoded.ok) {
      ns.counters.invalid++;
      return;
    }
    const response = decoded.response;
    const resolution = section.pending.get(response.id);
    if (resolution === undefined || response.question === null || response.question.name !== resolution.name || response.question.type !== resolution.type) {
      // An answer to a round already over (or to nothing we asked).
      ns.counters.outdated++;
      return;
    }
    if (!resolution.awaiting.delete(ns)) {
      // A second answer from the same nameserver (a late one to an earlier try).
      ns.counters.outdated++;
      return;
    }
    const error = this.judge(ns, resolution, response);
    if (error === null) {
      section.pending.delete(resolution.id);
      resolution.id = -1;
      resolution.awaiting.clear();
      this.valid(resolution, response, `${section.config.name}/${ns.name}`);
      return;
    }
    resolution.lastError = error;
    if (resolution.awaiting.size === 0) this.answeredWithErrors(resolution);
  }

  /** Counts the answer and says what was wrong with it, or null when it can be used. */
  private judge(ns: Nameserver, resolution: Resolution, response: DnsResponse): ResolutionError | null {
    const c = ns.counters;
    if (response.truncated) c.truncated++;
    if (response.rcode === DnsRcode.NXDOMAIN) {
      c.nx++;
      c.any_err++;
      return 'nx';
    }
    if (response.rcode === DnsRcode.REFUSED) {
      c.refused++;
      c.any_err++;
      return 'refused';
    }
    if (response.rcode !== DnsRcode.NOERROR || recordsOf(resolution, response).length === 0) {
      // Another error, or no record of the type asked (NOERROR with nothing: "no data").
      c.other++;
      c.any_err++;
      return 'other';
    }
    if (response.answers.some((r) => r.type === DnsType.CNAME)) c.cname++;
    c.valid++;
    return null;
  }

  /** Every nameserver answered the query in flight, none usefully. */
  private answeredWithErrors(resolution: Resolution): void {
    if (resolution.preferred !== DnsType.SRV && !resolution.switched) {
      // Nothing (or an error) for one family: the other may have what the name has.
      resolution.switched = true;
      this.send(resolution, resolution.type === DnsType.A ? DnsType.AAAA : DnsType.A);
      return;
    }
    if (resolution.triesLeft > 0) this.arm(resolution, resolution.section.config.timeoutRetry, () => this.startTry(resolution));
    else this.resolutionFailed(resolution);
  }

  private resolutionFailed(resolution: Resolution): void {
    resolution.section.pending.delete(resolution.id);
    resolution.id = -1;
    this.failed(resolution, resolution.lastError);
    this.scheduleNext(resolution);
  }

  /** A name is asked again `timeout resolve` after its last resolution ended, whatever its outcome. */
  private scheduleNext(resolution: Resolution): void {
    this.arm(resolution, resolution.section.config.timeoutResolve, () => this.run(resolution));
  }

  /** A resolution ended without an answer: after its `hold`, its servers lose their addresses. */
  private failed(resolution: Resolution, error: ResolutionError): void {
    const hold = resolution.section.config.hold[error];
    if (resolution.lastValid !== 0 && Date.now() - resolution.lastValid <= hold) return;
    resolution.items.clear();
    const reason = error === 'nx' ? 'DNS NX status' : error === 'refused' ? 'DNS refused status' : error === 'timeout' ? 'DNS timeout status' : 'unspecified DNS error';
    for (const requester of this.requestersOf(resolution)) this.unresolve(requester, reason);
  }

  private requestersOf(resolution: Resolution): Requester[] {
    return resolution.srvTarget ? this.requesters.filter((r) => r.targetResolution === resolution) : resolution.requesters;
  }

  /**
   * A usable answer from `answeredBy` ('resolvers/nameserver'). HAProxy 2.6 credits the first
   * address it changes to the nameserver and the others of the same answer to "DNS cache".
   */
  private valid(resolution: Resolution, response: DnsResponse, answeredBy: string): void {
    const now = Date.now();
    resolution.lastValid = now;
    const obsolete = resolution.section.config.hold.obsolete;
    for (const record of recordsOf(resolution, response)) {
      const key = record.type === DnsType.SRV ? `${record.target}:${record.port}` : record.address;
      let item = resolution.items.get(key);
      if (item === undefined) {
        item = { key, lastSeen: now, address: null, target: '', port: 0, weight: 0, priority: 0 };
        resolution.items.set(key, item);
      }
      item.lastSeen = now;
      if (record.type === DnsType.SRV) {
        item.target = record.target;
        item.port = record.port;
        item.weight = record.weight;
        item.priority = record.priority;
        item.address = additionalAddress(response, record.target, resolution.requesters[0]?.dns.prefer ?? 'ipv6');
      } else {
        item.address = record.address;
      }
    }
    // Records an answer no longer gives are kept `hold obsolete`, then dropped.
    for (const [key, item] of resolution.items) if (now - item.lastSeen > obsolete) resolution.items.delete(key);
    let credited = false;
    const source = (): string => {
      if (credited) return 'DNS cache';
      credited = true;
      return answeredBy;
    };
    if (resolution.preferred === DnsType.SRV) this.applySrv(resolution);
    else this.applyAddresses(resolution, source);
    this.scheduleNext(resolution);
  }

  /**
   * A/AAAA answers to their servers. A server keeps its address while it is still the best the
   * answer offers; otherwise it takes the best one: its preferred family, then a `resolve-net`
   * network, and (without allow-dup-ip) not one a server of its backend sharing the name has.
   * A server the answer leaves nothing for loses its address.
   */
  private applyAddresses(resolution: Resolution, source: () => string): void {
    const items = [...resolution.items.values()];
    for (const requester of this.requestersOf(resolution)) {
      const { server, dns } = requester;
      const port = resolution.srvTarget ? requester.srvPort : dns.port;
      const current = server.unresolved ? null : (server.address?.address ?? null);
      let best: Item | null = null;
      let bestScore = -1;
      for (const item of items) {
        const address = item.address!;
        if (address !== current && !dns.allowDupIp && this.addressTaken(requester, address)) continue;
        const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
        const socketAddress = SocketAddress.from(family, address, port);
        let score = 0;
        if (family === dns.prefer) score += 8;
        if (dns.nets.some((net) => ipMatches(net, socketAddress))) score += 4;
        if (address === current) score += 2;
        if (score > bestScore) {
          best = item;
          bestScore = score;
        }
      }
      if (best === null) {
        this.unresolve(requester, 'No IP for server ');
        continue;
      }
      const address = best.address!;
      if (address === current && server.address?.port === port) continue;
      this.setAddress(requester, address, port, source(), { fqdnChanged: false, adminReady: true });
    }
  }

  /** Whether another server of the backend asking the same name holds `address` now. */
  private addressTaken(requester: Requester, address: string): boolean {
    for (const other of this.requesters) {
      if (other === requester || other.backend !== requester.backend || other.dns.fqdn !== requester.dns.fqdn) continue;
      if (!other.server.unresolved && other.server.address?.address === address) return true;
    }
    return false;
  }

  /**
   * SRV answers to their slots: a slot keeps its record while the answer has it (its weight
   * follows the record's), records no slot holds go to free slots in order, and a slot whose
   * record is gone is free again and takes nothing. A record's target address comes from the
   * additional section, else from a resolution of the target of its own.
   */
  private applySrv(resolution: Resolution): void {
    const items = resolution.items;
    const slots = resolution.requesters;
    const held = new Set<string>();
    for (const slot of slots) {
      if (slot.srvItem === null) continue;
      const item = items.get(slot.srvItem);
      if (item === undefined) {
        this.releaseSlot(slot);
        this.unresolve(slot, 'entry removed from SRV record');
        continue;
      }
      held.add(item.key);
      this.fillSlot(slot, item, false);
    }
    // Lower priority values first (RFC 2782), then the answer's order.
    const free = [...items.values()].filter((item) => !held.has(item.key)).sort((a, b) => a.priority - b.priority);
    for (const slot of slots) {
      if (slot.srvItem !== null) continue;
      const item = free.shift();
      if (item === undefined) break;
      slot.srvItem = item.key;
      slot.srvTarget = item.target;
      this.fillSlot(slot, item, true);
    }
  }

  /** Gives `slot` what its SRV record says; `assigned`: the record is new to the slot. */
  private fillSlot(slot: Requester, item: Item, assigned: boolean): void {
    const { server, dns } = slot;
    slot.srvPort = item.port;
    const weight = dns.ignoreWeight ? server.weight : srvWeight(item.weight);
    const weightChanged = server.weight !== weight;
    server.weight = weight;
    (server as { nominalWeight?: number }).nominalWeight = weight;
    if (item.address !== null) {
      if (slot.targetResolution !== null) this.dropTargetResolution(slot);
      if (server.unresolved || server.address?.address !== item.address || server.address.port !== item.port) {
        this.setAddress(slot, item.address, item.port, 'DNS additional record', { fqdnChanged: assigned, adminReady: false });
        return;
      }
    } else {
      if (assigned) this.options.log.warning(`${slot.backend.name}/${server.name} changed its FQDN from (null) to ${item.target} by 'SRV record'`);
      // No address in the additional section: the target is asked for as a name of its own.
      const preferred: QueryType = dns.prefer === 'ipv4' ? DnsType.A : DnsType.AAAA;
      const target = this.resolutionOf(this.sections.get(dns.resolvers)!, normalizeName(item.target), preferred, true);
      if (slot.targetResolution !== target) {
        if (slot.targetResolution !== null) this.dropTargetResolution(slot);
        slot.targetResolution = target;
        if (target.timer === null && target.id < 0) this.run(target);
        else if (target.items.size > 0) this.applyAddresses(target, () => 'DNS cache');
      }
      if (!server.unresolved && server.address !== null && server.address.port !== item.port) {
        server.address = server.address.withPort(item.port);
        followAddress(server);
        this.options.changed?.(slot.backend, server);
        return;
      }
    }
    if (weightChanged) this.options.changed?.(slot.backend, server);
  }

  private releaseSlot(slot: Requester): void {
    slot.srvItem = null;
    slot.srvTarget = null;
    if (slot.targetResolution !== null) this.dropTargetResolution(slot);
  }

  /** Stops asking for an SRV target no slot holds any more. */
  private dropTargetResolution(slot: Requester): void {
    const target = slot.targetResolution!;
    slot.targetResolution = null;
    if (this.requesters.some((r) => r.targetResolution === target)) return;
    if (target.timer !== null) clearTimeout(target.timer);
    target.timer = null;
    if (target.id >= 0) target.section.pending.delete(target.id);
    target.id = -1;
    for (const [key, resolution] of this.resolutions) if (resolution === target) this.resolutions.delete(key);
  }

  /**
   * Sets a server's address, with HAProxy 2.6's lines: the change ("(none)" when it had none),
   * for an SRV slot the target it now follows, and, when it comes out of resolution maintenance,
   * that it is up again (and, except for an SRV additional record, administratively ready).
   */
  private setAddress(requester: Requester, address: string, port: number, how: string, lines: { fqdnChanged: boolean; adminReady: boolean }): void {
    const { server, backend } = requester;
    const who = `${backend.name}/${server.name}`;
    const wasUnresolved = server.unresolved || server.address === null;
    const previous = wasUnresolved ? '(none)' : server.address!.address;
    server.address = SocketAddress.from(isIP(address) === 6 ? 'ipv6' : 'ipv4', address, port);
    server.unresolved = false;
    followAddress(server);
    const log = this.options.log;
    if (previous !== address) log.warning(`${who} changed its IP from ${previous} to ${address} by ${how}.`);
    if (lines.fqdnChanged) log.warning(`${who} changed its FQDN from (null) to ${requester.srvTarget} by 'SRV record'`);
    if (wasUnresolved) {
      log.warning(`Server ${who} ('${requester.srvTarget ?? requester.dns.fqdn}') is UP/READY (resolves again).`);
      if (lines.adminReady) log.warning(`Server ${who} administratively READY thanks to valid DNS answer.`);
    }
    this.options.changed?.(backend, server);
  }

  /** Resolution maintenance: the server takes nothing until DNS gives it an address again. */
  private unresolve(requester: Requester, reason: string): void {
    const { server, backend } = requester;
    if (server.unresolved) return;
    server.unresolved = true;
    const { active, backups } = upCounts(backend.servers);
    this.options.log.warning(
      `Server ${backend.name}/${server.name} is going DOWN for maintenance (${reason}). ${active} active and ${backups} backup servers left. ${server.cur} sessions active, 0 requeued, 0 remaining in queue.`,
    );
    if (active + backups === 0) this.options.log.alert(`backend '${backend.name}' has no server available!`);
    this.options.changed?.(backend, server);
  }
}

/** The records of an answer that answer the question (following a CNAME chain in it). */
function recordsOf(resolution: Resolution, response: DnsResponse): (DnsRecord & { type: QueryType })[] {
  const wanted = resolution.type;
  const names = new Set([resolution.name]);
  // A CNAME chain inside the answer: its targets' records answer too (bounded by the answer).
  for (let changed = true; changed; ) {
    changed = false;
    for (const record of response.answers) {
      if (record.type === DnsType.CNAME && names.has(record.name) && !names.has(record.target)) {
        names.add(record.target);
        changed = true;
      }
    }
  }
  return response.answers.filter((r): r is DnsRecord & { type: QueryType } => r.type === wanted && names.has(r.name));
}

/** An SRV target's address from the additional section: the preferred family first. */
function additionalAddress(response: DnsResponse, target: string, prefer: 'ipv4' | 'ipv6'): string | null {
  const name = normalizeName(target);
  let other: string | null = null;
  for (const record of response.additional) {
    if ((record.type !== DnsType.A && record.type !== DnsType.AAAA) || record.name !== name) continue;
    if ((record.type === DnsType.A) === (prefer === 'ipv4')) return record.address;
    other ??= record.address;
  }
  return other;
}

/** What `server` has now, as sent to workers (`srvItem` matters to the resolvers only). */
export function resolvedAddressOf(server: ServerRuntime, srvItem: string | null = null): ResolvedAddress {
  return {
    address: server.unresolved || server.address === null ? null : server.address.address,
    port: server.address?.port ?? 0,
    weight: server.weight,
    srvItem,
  };
}

/** A server's checks go where its traffic goes, unless `addr` fixed theirs (`port` still applies). */
export function followAddress(server: ServerRuntime): void {
  const check = server.check;
  if (check === null || server.address === null || check.fixedAddress) return;
  check.address = server.address.withPort(check.port ?? server.address.port);
}

/** Applies a resolved address (a worker receiving its master's, or a reload's carry-over). */
export function applyResolvedAddress(server: ServerRuntime, resolved: ResolvedAddress): void {
  if (resolved.address === null) {
    server.unresolved = true;
    return;
  }
  server.address = SocketAddress.from(isIP(resolved.address) === 6 ? 'ipv6' : 'ipv4', resolved.address, resolved.port);
  server.weight = resolved.weight;
  (server as { nominalWeight?: number }).nominalWeight = resolved.weight;
  server.unresolved = false;
  followAddress(server);
}
