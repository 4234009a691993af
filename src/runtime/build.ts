/**
 * Turns a checked configuration into the run-time objects: proxies with their listeners (for
 * startProxies), frontends and backends (for the session engine), servers with their balancers.
 * Host names of servers are resolved here, once, at startup (HAProxy's default without a
 * `resolvers` section).
 */
import { lookup } from 'node:dns/promises';
import { SocketAddress } from '../address.js';
import { createBalancer } from '../backend/balance.js';
import type { BalanceAlgorithm } from '../backend/server-types.js';
import { hasBackend, hasFrontend, isSrvRecordName, servesHttp, type Config, type ConnectSource, type ProxyConfig, type ServerConfig, type Where } from '../config/model.js';
import { normalizeName } from '../dns/dns-message.js';
import type { ServerDns } from '../dns/resolvers.js';
import { EpoxyError, ErrorCodes } from '../errors.js';
import { createListener } from '../listener/listener.js';
import type { Listener } from '../listener/listener-types.js';
import { ProxyState, type Proxy } from '../proxy/proxy-types.js';
import {
  Counters,
  type BackendRuntime,
  type FrontendLogging,
  type FrontendRuntime,
  type ServerCheck,
  type ServerRuntime,
  type ServerSocketOptions,
  type SourceRuntime,
  type RuleAction,
  type TcpRequestRule,
  type TcpContentRule,
  type Timeouts,
} from '../session/session-types.js';
import { compileCondition, compileContentCondition } from './condition.js';
import { compileLogFormat, DEFAULT_LINE, TCPLOG } from '../log/log-format.js';
import { compileProgram } from '../check/protocol-check.js';
import { proxyIds } from '../stats/stats.js';
import { compileExpression, type SampleScope } from '../sample/expression.js';
import type { StickRuleRuntime, UseServerRule } from '../session/session-types.js';
import type { StickStore, StickTableConfig, TcpRequestRule as ConfigTcpRequestRule } from '../config/model.js';
import { effectiveStore } from '../config/stick.js';
import { compileStickKey } from '../stick/stick-key.js';
import { StickTable } from '../stick/stick-table.js';

/** HAProxy's `retries` default. */
const DEFAULT_RETRIES = 3;

export interface Runtime {
  proxies: Proxy[];
  frontends: Map<string, FrontendRuntime>;
  backends: Map<string, BackendRuntime>;
  /** Which frontend each proxy's listeners feed. */
  frontendOf: Map<Proxy, FrontendRuntime>;
  /** The `bind` line each listener comes from. */
  bindLines: Map<Listener, Where>;
  /** Stick tables by the name of the proxy declaring them. */
  tables: Map<string, StickTable>;
}

function timeouts(config: ProxyConfig): Timeouts {
  const t = config.timeouts;
  return {
    connect: t.connect ?? 0,
    client: t.client ?? 0,
    server: t.server ?? 0,
    tunnel: t.tunnel ?? 0,
    clientFin: t.clientFin ?? 0,
    clientHs: t.clientHs ?? t.client ?? 0,
    serverFin: t.serverFin ?? 0,
    queue: t.queue ?? 0,
  };
}

/**
 * A server's check settings. A server without an address of its own (0.0.0.0, transparent mode)
 * and no `addr`/`port` has nothing to check: its checks would have no destination, so, as HAProxy
 * does for a server without a port, they are not run (the server stays up).
 */
function checkSettings(server: ServerConfig, proxy: ProxyConfig, address: SocketAddress | null, spread: number): ServerCheck | null {
  let target = address;
  if (server.checkAddr !== null) target = SocketAddress.from(server.checkAddr.includes(':') ? 'ipv6' : 'ipv4', server.checkAddr, target?.port ?? 0);
  if (target !== null && server.checkPort !== null) target = target.withPort(server.checkPort);
  // A server following DNS is checked at whatever address DNS gives it, once it has one.
  const followsDns = server.resolvers !== null && server.address.kind === 'hostname';
  if (!followsDns && (target === null || target.port === 0 || target.address === '0.0.0.0' || target.address === '::')) return null;
  const t = proxy.timeouts;
  return {
    address: target,
    fixedAddress: server.checkAddr !== null,
    port: server.checkPort,
    inter: server.inter,
    fastinter: server.fastinter ?? server.inter,
    downinter: server.downinter ?? server.inter,
    rise: server.rise,
    fall: server.fall,
    timeout: t.check ?? server.inter,
    connectTimeout: t.check !== null ? (t.connect ?? server.inter) : server.inter,
    program: compileProgram(proxy.options, proxy.tcpCheckRules, proxy.httpCheck),
    // HAProxy: checks speak PROXY when asked (check-send-proxy), or when the traffic does and
    // the checks go to the server itself (no `port`/`addr`).
    sendProxy: server.checkSendProxy || (server.sendProxy !== null && server.checkPort === null && server.checkAddr === null) ? (server.sendProxy === 'v2' ? 2 : 1) : 0,
    source: checkSource(server.source ?? proxy.source),
    spread,
  };
}

/** The address checks bind: a `source` address of our own (transparent `usesrc` is for traffic only). */
function checkSource(source: ConnectSource | null): SocketAddress | null {
  if (source === null) return null;
  const address = source.address;
  if (address.address === '0.0.0.0' || address.address === '::') return null;
  return address.withPort(0);
}

/** How a server's address follows DNS: with `resolvers` and a host name only. */
function serverDns(server: ServerConfig): ServerDns | null {
  const address = server.address;
  if (server.resolvers === null || address.kind !== 'hostname') return null;
  return {
    resolvers: server.resolvers,
    fqdn: normalizeName(address.host),
    srv: isSrvRecordName(address),
    port: address.port,
    prefer: server.resolvePrefer,
    nets: server.resolveNet,
    allowDupIp: server.resolveOpts.allowDupIp,
    ignoreWeight: server.resolveOpts.ignoreWeight,
  };
}

function balanceOf(config: ProxyConfig): BalanceAlgorithm {
  const balance = config.balance ?? { kind: 'roundrobin' as const };
  if (balance.kind === 'source') return { kind: 'source', hashType: config.hashType?.method ?? 'map-based' };
  return balance;
}

/**
 * The run-time form of a `source` line. One object per configured line, so the servers that
 * inherit a backend's (or the defaults') `source` share its port rotation.
 */
function sourceRuntime(source: ConnectSource | null, cache: Map<ConnectSource, SourceRuntime>): SourceRuntime | null {
  if (!source) return null;
  let runtime = cache.get(source);
  if (!runtime) {
    const usesrc = source.usesrc;
    runtime = {
      address: source.address,
      portRange: source.portRange,
      usesrc: usesrc === null ? null : usesrc.kind === 'address' ? usesrc.address : usesrc.kind,
      interface: source.interface,
      nextPort: 0,
    };
    cache.set(source, runtime);
  }
  return runtime;
}

/** A server at 0.0.0.0 / :: connects to the client's original destination (transparent mode). */
function isAnyAddress(address: SocketAddress): boolean {
  return (address.family === 'ipv4' && address.address === '0.0.0.0') || (address.family === 'ipv6' && address.address === '::');
}

/** With a server at 0.0.0.0:port / [::]:port, the port to connect to (0: the original one). */
function targetPort(server: ServerConfig): number {
  return server.address.kind === 'address' && isAnyAddress(server.address.address) ? server.address.address.port : 0;
}

/** Where each server connects once its host name is resolved; null: the original destination. */
export interface ResolvedServers {
  readonly addresses: Map<ServerConfig, SocketAddress | null>;
  /** Servers that start without an address (`init-addr none`, or a template slot left over). */
  readonly unresolved: Set<ServerConfig>;
  /** One message per server whose name did not resolve, as HAProxy 2.6 words it. */
  readonly failures: string[];
}

/**
 * Gives every server its address at startup, the lookups in parallel. A host name follows its
 * `init-addr` methods in order (HAProxy's default `last,libc`): `last` would read a server-state
 * file (epoxy keeps none, so it gives nothing), `libc` asks the system resolver, a fixed address
 * is taken as is, `none` starts the server without one (in maintenance until its resolvers find
 * one). The slots of a `server-template` that libc resolves take its addresses one each, in
 * order, as its resolvers would, rather than all the first. `epoxy -c` runs it too, so that a
 * check catches what the run would refuse. HAProxy 2.6, observed: "[f.cfg:8] : 'server x/a' :
 * could not resolve address 'no-such-host.invalid'." then "Failed to initialize server(s) addr.".
 */
export async function resolveServers(config: Config): Promise<ResolvedServers> {
  const addresses = new Map<ServerConfig, SocketAddress | null>();
  const unresolved = new Set<ServerConfig>();
  // One lookup per name and family, shared by the servers (template slots) asking it.
  const lookups = new Map<string, Promise<{ address: string; family: number }[] | null>>();
  const lookupAll = (host: string, family: 'ipv4' | 'ipv6' | null): Promise<{ address: string; family: number }[] | null> => {
    const key = `${host}\0${family}`;
    let found = lookups.get(key);
    if (found === undefined) {
      found = lookup(host, { all: true, family: family === 'ipv6' ? 6 : family === 'ipv4' ? 4 : 0 }).then(
        (all) => (all.length > 0 ? all : null),
        () => null,
      );
      lookups.set(key, found);
    }
    return found;
  };
  // One promise per server, in configuration order, each settling to its failure or null: the
  // lookups run in parallel, the messages come out in the order of the lines.
  const settled: Promise<string | null>[] = [];
  for (const proxy of config.proxies) {
    if (!hasBackend(proxy) || proxy.disabled) continue;
    for (const server of proxy.servers) {
      const address = server.address;
      if (address.kind === 'address') {
        addresses.set(server, isAnyAddress(address.address) ? null : address.address);
        continue;
      }
      settled.push(
        (async () => {
          for (const method of server.initAddr) {
            if (method.kind === 'none') {
              addresses.set(server, null);
              unresolved.add(server);
              return null;
            }
            if (method.kind === 'ip') {
              addresses.set(server, method.address.withPort(address.port));
              return null;
            }
            if (method.kind !== 'libc' || isSrvRecordName(address)) continue;
            const found = await lookupAll(address.host, address.family);
            if (found === null) continue;
            const slot = server.template === null ? 0 : server.template.slot - 1;
            const pick = found[slot];
            if (pick === undefined) {
              addresses.set(server, null);
              unresolved.add(server);
              return null;
            }
            addresses.set(server, SocketAddress.from(pick.family === 6 ? 'ipv6' : 'ipv4', pick.address, address.port));
            return null;
          }
          return `[${server.where.file}:${server.where.line}] : 'server ${proxy.name}/${server.name}' : could not resolve address '${address.host}'.`;
        })(),
      );
    }
  }
  const failures = (await Promise.all(settled)).filter((failure): failure is string => failure !== null);
  return { addresses, unresolved, failures };
}

/** The CONFIG error for failed resolutions: one line per server, then HAProxy's conclusion. */
export function resolutionError(failures: readonly string[]): EpoxyError {
  return new EpoxyError([...failures, 'Failed to initialize server(s) addr.'].join('\n'), ErrorCodes.CONFIG);
}

export interface BuildOptions {
  /** The global maxconn in force (derived from the fd limit when the config sets none). */
  maxconn?: number;
  /**
   * Where each stick table's memory comes from: a master hands its workers the tables it
   * created (and keeps equal ones across reloads); default: a new table.
   */
  stickTables?: StickTableSource;
}

/** Gives the table of the proxy `name`, as configured (with `store` completed by effectiveStore()). */
export type StickTableSource = (name: string, config: StickTableConfig, store: readonly StickStore[]) => StickTable;

/** Creates (or obtains from `source`) the table of every proxy that declares one. */
const createStickTable: StickTableSource = (name, table, store) => StickTable.create(name, table, store);

export function buildStickTables(config: Config, source: StickTableSource = createStickTable): Map<string, StickTable> {
  const tables = new Map<string, StickTable>();
  try {
    for (const proxy of config.proxies) {
      if (proxy.stickTable === null || proxy.disabled) continue;
      tables.set(proxy.name, source(proxy.name, proxy.stickTable, effectiveStore(config.proxies, proxy)));
    }
  } catch (error) {
    if (source === createStickTable) for (const table of tables.values()) table.close();
    throw error;
  }
  return tables;
}

function tableFor(tables: ReadonlyMap<string, StickTable>, holder: ProxyConfig, name: string | null): StickTable {
  const table = tables.get(name ?? holder.name);
  // The configuration check refused rules naming a missing table; a disabled proxy's is gone.
  if (table === undefined) throw new EpoxyError(`proxy '${holder.name}': unable to find table '${name ?? holder.name}'`, ErrorCodes.CONFIG);
  return table;
}

/** A rule's action at run time: stick tables resolved, keys compiled. */
function ruleAction(rule: ConfigTcpRequestRule, holder: ProxyConfig, tables: ReadonlyMap<string, StickTable>, scope: SampleScope): RuleAction {
  switch (rule.action) {
    case 'accept':
    case 'reject':
      return { action: rule.action };
    case 'track-sc':
      return { action: 'track-sc', counter: rule.counter, table: tableFor(tables, holder, rule.table), key: compileStickKey(rule.key.expr, rule.key.where, scope) };
    case 'set-var':
      return { action: 'set-var', name: rule.name, conditions: rule.conditions, expr: compileExpression(rule.expr, rule.where, scope) };
    case 'unset-var':
      return { action: 'unset-var', name: rule.name };
    default:
      return { action: rule.action, counter: rule.counter, value: rule.value };
  }
}

export async function buildRuntime(config: Config, options: BuildOptions = {}): Promise<Runtime> {
  const tables = buildStickTables(config, options.stickTables);
  try {
    return await buildProxies(config, options, tables);
  } catch (error) {
    // Anything refused must not leave the tables' memory mapped; tables from a source are the
    // source's to close (a master shares them between generations).
    if (options.stickTables === undefined) for (const table of tables.values()) table.close();
    throw error;
  }
}

async function buildProxies(config: Config, options: BuildOptions, tables: Map<string, StickTable>): Promise<Runtime> {
  const resolved = await resolveServers(config);
  if (resolved.failures.length > 0) throw resolutionError(resolved.failures);
  const backends = new Map<string, BackendRuntime>();
  const frontends = new Map<string, FrontendRuntime>();
  const frontendOf = new Map<Proxy, FrontendRuntime>();
  const bindLines = new Map<Listener, Where>();
  const proxies: Proxy[] = [];
  const sources = new Map<ConnectSource, SourceRuntime>();
  const tune = config.global.tune;
  // HAProxy sets TCP_NODELAY on every client and server socket: a relay must not add Nagle's
  // wait to what it forwards. `tune.epoxy.nodelay off` is for measuring what that buys.
  const noDelay = tune.nodelay ?? true;
  const ids = proxyIds(config);
  // What names in sample expressions mean (be_conn(app), srv_is_up(app/s1)): resolved once here.
  const scopeOf = (proxy: string): SampleScope => ({ proxy, backend: (name) => backends.get(name), frontend: (name) => frontends.get(name), table: (name) => tables.get(name) });
  const useServerRules = new Map<ProxyConfig, UseServerRule[]>();
  // Conditions are compiled once every proxy exists (be_conn(<backend>), fe_conn(<frontend>) name any).
  const compileLater: Array<() => void> = [];

  for (const proxy of config.proxies) {
    // A listen section serving the stats page has no servers to balance: src/stats serves it.
    if (!hasBackend(proxy) || proxy.disabled || servesHttp(proxy)) continue;
    const socketOptions: ServerSocketOptions = {
      noDelay,
      rcvbuf: tune.rcvbufServer ?? 0,
      sndbuf: tune.sndbufServer ?? 0,
      notSentLowat: tune.notsentLowatServer ?? 0,
      smartConnect: proxy.options.tcpSmartConnect,
    };
    const servers: ServerRuntime[] = [];
    for (const [index, server] of proxy.servers.entries()) {
      servers.push({
        name: server.name,
        id: server.id ?? index + 1,
        address: resolved.addresses.get(server) ?? null,
        weight: server.weight,
        maxconn: server.maxconn,
        maxqueue: server.maxqueue,
        backup: server.backup,
        admin: server.disabled ? 'maint' : 'ready',
        health: 'up',
        unresolved: resolved.unresolved.has(server),
        dns: serverDns(server),
        check: server.check ? checkSettings(server, proxy, resolved.addresses.get(server) ?? null, config.global.spreadChecks) : null,
        nominalWeight: server.weight,
        onMarkedDown: server.onMarkedDown,
        onMarkedUp: server.onMarkedUp,
        slowstart: server.slowstart,
        observe: server.check && server.observe ? { errorLimit: server.errorLimit, onError: server.onError } : null,
        cur: 0,
        sendProxy: server.sendProxy === 'v1' ? 1 : server.sendProxy === 'v2' ? 2 : 0,
        source: sourceRuntime(server.source ?? proxy.source, sources),
        targetPort: targetPort(server),
        portOffset: server.address.kind === 'address' ? server.address.portOffset : null,
        counters: new Counters(),
        socketOptions,
        fastOpen: server.tfo,
      });
    }
    const useServer: UseServerRule[] = [];
    useServerRules.set(proxy, useServer);
    const stickRules: StickRuleRuntime[] = [];
    const backendContentRules: TcpContentRule[] = [];
    backends.set(proxy.name, {
      name: proxy.name,
      id: ids.get(proxy.name),
      useServer,
      servers,
      balancer: createBalancer(balanceOf(proxy), servers, { allBackups: proxy.options.allbackups }),
      timeouts: timeouts(proxy),
      retries: proxy.retries ?? DEFAULT_RETRIES,
      redispatch: proxy.options.redispatch,
      serverKeepAlive: proxy.options.tcpka || proxy.options.srvtcpka,
      serverNoLinger: proxy.options.nolinger,
      stickRules,
      contentRules: backendContentRules,
      inspectDelay: proxy.inspectDelay ?? 0,
      counters: new Counters(),
    });
    compileLater.push(() => {
      const scope = scopeOf(proxy.name);
      for (const rule of proxy.tcpRequestContent) {
        backendContentRules.push({ ...ruleAction(rule, proxy, tables, scope), condition: rule.condition ? compileContentCondition(rule.condition, scope) : null });
      }
      for (const rule of proxy.stickRules) {
        stickRules.push({
          kind: rule.kind,
          table: tableFor(tables, proxy, rule.table),
          key: compileStickKey(rule.key.expr, rule.key.where, scopeOf(proxy.name)),
          condition: rule.condition ? compileCondition(rule.condition, scopeOf(proxy.name)) : null,
        });
      }
    });
  }

  for (const [proxy, useServer] of useServerRules) {
    const backend = backends.get(proxy.name)!;
    for (const rule of proxy.useServer) {
      const server = backend.servers.find((s) => s.name === rule.server);
      if (server === undefined) throw new EpoxyError(`proxy '${proxy.name}': unknown server '${rule.server}' in a 'use-server' rule`, ErrorCodes.CONFIG);
      compileLater.push(() => useServer.push({ server, condition: compileCondition(rule.condition, scopeOf(proxy.name)) }));
    }
  }

  for (const proxy of config.proxies) {
    // A section serving HTTP (the Prometheus exporter, the stats page) has no TCP sessions: src/stats serves it.
    if (!hasFrontend(proxy) || proxy.disabled || servesHttp(proxy)) continue;
    const scope = scopeOf(proxy.name);
    // Conditions are compiled once every frontend exists (fe_conn(<frontend>) may name a later one).
    const rules: TcpRequestRule[] = [];
    const contentRules: TcpContentRule[] = [];
    const useBackend: FrontendRuntime['useBackend'] = [];
    for (const rule of proxy.useBackend) {
      if (!backends.has(rule.backend)) throw new EpoxyError(`proxy '${proxy.name}': unknown backend '${rule.backend}'`, ErrorCodes.CONFIG);
    }
    compileLater.push(() => {
      for (const rule of proxy.tcpRequestConnection) rules.push({ ...ruleAction(rule, proxy, tables, scope), condition: rule.condition ? compileCondition(rule.condition, scope) : null });
      for (const rule of proxy.tcpRequestContent) contentRules.push({ ...ruleAction(rule, proxy, tables, scope), condition: rule.condition ? compileContentCondition(rule.condition, scope) : null });
      for (const rule of proxy.useBackend) {
        useBackend.push({ backend: backends.get(rule.backend)!, condition: rule.condition ? compileCondition(rule.condition, scope) : () => true });
      }
    });
    // A listen section is its own default backend.
    const defaultName = proxy.kind === 'listen' ? proxy.name : proxy.defaultBackend;
    const frontend: FrontendRuntime = {
      name: proxy.name,
      id: ids.get(proxy.name),
      maxconn: proxy.maxconn ?? 0,
      timeouts: timeouts(proxy),
      rules,
      contentRules,
      inspectDelay: proxy.inspectDelay ?? 0,
      useBackend,
      defaultBackend: defaultName ? (backends.get(defaultName) ?? null) : null,
      ownBackend: proxy.kind === 'listen' ? (backends.get(proxy.name) ?? null) : null,
      clientKeepAlive: proxy.options.tcpka || proxy.options.clitcpka,
      clientNoLinger: proxy.options.nolinger,
      dontLogNull: proxy.options.dontlognull,
      logging: frontendLogging(proxy),
      counters: new Counters(),
    };
    frontends.set(proxy.name, frontend);
    const listeners = proxy.binds.flatMap((line) =>
      line.addresses.map((address) =>
        createListener(
          {
            ...line.bind,
            noReusePort: line.bind.noReusePort || config.global.noReusePort,
            ...(tune.rcvbufClient !== null && { rcvbuf: tune.rcvbufClient }),
            ...(tune.sndbufClient !== null && { sndbuf: tune.sndbufClient }),
            ...(tune.notsentLowatClient !== null && { notSentLowat: tune.notsentLowatClient }),
            noDelay,
            smartAccept: proxy.options.tcpSmartAccept,
          },
          address,
          { maxconn: proxy.maxconn ?? options.maxconn ?? config.global.maxconn ?? undefined, backlog: proxy.backlog ?? undefined },
        ),
      ),
    );
    // One listener per address of each line, in order: the n-th comes from the line holding it.
    let next = 0;
    for (const line of proxy.binds) for (let i = 0; i < line.addresses.length; i++) bindLines.set(listeners[next++]!, line.where);
    const runtimeProxy: Proxy = { name: proxy.name, type: proxy.kind, state: ProxyState.NEW, listeners };
    proxies.push(runtimeProxy);
    frontendOf.set(runtimeProxy, frontend);
  }
  for (const compile of compileLater) compile();
  return { proxies, frontends, backends, frontendOf, bindLines, tables };
}

/**
 * A frontend's session lines: `log-format`, else `option tcplog`, else HAProxy's default line at
 * accept (which `option logasap` does not change: it is already written at the start).
 */
function frontendLogging(proxy: ProxyConfig): FrontendLogging {
  const custom = proxy.logFormat !== null ? compileLogFormat(proxy.logFormat.text) : null;
  const format = custom ?? (proxy.options.tcplog ? TCPLOG : null);
  if (format === null) return { format: DEFAULT_LINE, when: 'accept', asap: false, start: false };
  return { format, when: 'end', asap: proxy.options.logasap, start: proxy.options.logStart };
}
