/**
 * Run-time resolution of servers against a scripted nameserver on loopback: template slots
 * filled from A records and emptied when a record goes, SRV records giving targets, ports and
 * weights (from the additional section, or by asking the target), the A/AAAA fallback, `hold`
 * keeping an address through errors for its period and not longer, and bad datagrams counted
 * and ignored.
 */
import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { SocketAddress } from '../../src/address.js';
import { createBalancer } from '../../src/backend/balance.js';
import { defaultResolverHolds, type ResolversConfig } from '../../src/config/model.js';
import { ServerResolvers, srvWeight, type ServerDns } from '../../src/dns/resolvers.js';
import { Counters, type BackendRuntime, type ServerRuntime } from '../../src/session/session-types.js';
import { startDnsResponder, type DnsResponder } from '../helpers/dns-responder.js';
import { waitFor } from '../helpers/sockets.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const WHERE = { file: 't.cfg', line: 1, column: 1 };

function section(port: number, overrides: Partial<ResolversConfig> = {}): ResolversConfig {
  return {
    name: 'dns',
    nameservers: [{ name: 'ns1', address: SocketAddress.from('ipv4', '127.0.0.1', port), where: WHERE }],
    hold: { ...defaultResolverHolds(), valid: 200 },
    resolveRetries: 3,
    timeoutResolve: 50,
    timeoutRetry: 200,
    acceptedPayloadSize: 512,
    where: WHERE,
    ...overrides,
  };
}

function dnsOf(fqdn: string, port: number, overrides: Partial<ServerDns> = {}): ServerDns {
  return { resolvers: 'dns', fqdn, srv: fqdn.startsWith('_') && port === 0, port, prefer: 'ipv4', nets: [], allowDupIp: false, ignoreWeight: false, ...overrides };
}

function slots(prefix: string, n: number, dns: ServerDns): ServerRuntime[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `${prefix}${i + 1}`,
    id: i + 1,
    address: null,
    weight: 1,
    maxconn: 0,
    maxqueue: 0,
    backup: false,
    admin: 'ready' as const,
    health: 'up' as const,
    unresolved: true,
    cur: 0,
    check: null,
    dns,
    sendProxy: 0 as const,
    source: null,
    counters: new Counters(),
  }));
}

function backendOf(servers: ServerRuntime[]): BackendRuntime {
  return {
    name: 'be',
    servers,
    balancer: createBalancer({ kind: 'roundrobin' }, servers),
    timeouts: { connect: 0, client: 0, server: 0, tunnel: 0, clientFin: 0, clientHs: 0, serverFin: 0, queue: 0 },
    retries: 3,
    redispatch: false,
    counters: new Counters(),
  };
}

interface Logged {
  level: string;
  line: string;
}

async function resolve(config: ResolversConfig, backend: BackendRuntime): Promise<{ resolvers: ServerResolvers; logged: Logged[]; changes: string[] }> {
  const logged: Logged[] = [];
  const changes: string[] = [];
  const resolvers = new ServerResolvers([config], [backend], {
    log: {
      alert: (line) => logged.push({ level: 'alert', line }),
      warning: (line) => logged.push({ level: 'warning', line }),
      notice: (line) => logged.push({ level: 'notice', line }),
    },
    changed: (_, server) => changes.push(server.name),
  });
  resolvers.start();
  cleanups.push(() => resolvers.stop());
  return { resolvers, logged, changes };
}

async function responder(): Promise<DnsResponder> {
  const dns = await startDnsResponder();
  cleanups.push(() => dns.close());
  return dns;
}

/** Each slot's address ('-' while it has none), in slot order. */
function addresses(backend: BackendRuntime): string[] {
  return backend.servers.map((s) => (s.unresolved || s.address === null ? '-' : s.address.toString()));
}

describe('ServerResolvers', () => {
  it('fills template slots from A records, one address each; a new record fills a free slot; a removed one empties its slot', async () => {
    const dns = await responder();
    dns.set('app.test', { a: ['127.0.0.2', '127.0.0.3'] });
    const backend = backendOf(slots('srv', 4, dnsOf('app.test', 8080)));
    const { logged } = await resolve(section(dns.port), backend);
    await waitFor(() => addresses(backend).filter((a) => a !== '-').length === 2, 'two slots filled');
    expect(addresses(backend)).toEqual(['127.0.0.2:8080', '127.0.0.3:8080', '-', '-']);
    // HAProxy 2.6's lines (observed): the first change of an answer is credited to the nameserver.
    expect(logged.map((l) => l.line)).toEqual(
      expect.arrayContaining([
        'be/srv1 changed its IP from (none) to 127.0.0.2 by dns/ns1.',
        "Server be/srv1 ('app.test') is UP/READY (resolves again).",
        'Server be/srv1 administratively READY thanks to valid DNS answer.',
        'be/srv2 changed its IP from (none) to 127.0.0.3 by DNS cache.',
      ]),
    );

    dns.set('app.test', { a: ['127.0.0.2', '127.0.0.3', '127.0.0.4'] });
    await waitFor(() => addresses(backend)[2] !== '-', 'the third slot filled');
    expect(addresses(backend)).toEqual(['127.0.0.2:8080', '127.0.0.3:8080', '127.0.0.4:8080', '-']);

    dns.set('app.test', { a: ['127.0.0.2', '127.0.0.4'] });
    await waitFor(() => backend.servers[1]!.unresolved, 'the second slot emptied');
    expect(addresses(backend)).toEqual(['127.0.0.2:8080', '-', '127.0.0.4:8080', '-']);
    expect(logged.map((l) => l.line)).toContain('Server be/srv2 is going DOWN for maintenance (No IP for server ). 2 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.');
    // The balancer never picks an unresolved slot.
    backend.balancer.update();
    for (let i = 0; i < 20; i++) expect(['srv1', 'srv3']).toContain(backend.balancer.pick({ src: SocketAddress.from('ipv4', '192.0.2.1', 1000) })!.name);
  });

  it('SRV records give each slot its target, port and weight, from the additional section or by asking the target', async () => {
    const dns = await responder();
    dns.set('a1.app.test', { a: ['127.0.0.5'] });
    dns.set('a2.app.test', { a: ['127.0.0.6'] });
    dns.set('_web._tcp.app.test', {
      srv: [
        { priority: 0, weight: 10, port: 8081, target: 'a1.app.test' },
        { priority: 0, weight: 2560, port: 8082, target: 'a2.app.test' },
      ],
      additional: true,
    });
    const backend = backendOf(slots('srv', 3, dnsOf('_web._tcp.app.test', 0)));
    await resolve(section(dns.port), backend);
    await waitFor(() => addresses(backend).filter((a) => a !== '-').length === 2, 'two SRV slots filled');
    expect(addresses(backend)).toEqual(['127.0.0.5:8081', '127.0.0.6:8082', '-']);
    expect(backend.servers.map((s) => s.weight).slice(0, 2)).toEqual([srvWeight(10), srvWeight(2560)]);
    expect(dns.countQueries('a1.app.test')).toBe(0); // the additional section sufficed

    const plain = backendOf(slots('srv', 2, dnsOf('_db._tcp.app.test', 0)));
    dns.set('_db._tcp.app.test', { srv: [{ priority: 0, weight: 1, port: 5432, target: 'a2.app.test' }], additional: false });
    await resolve(section(dns.port, { name: 'dns' }), plain);
    await waitFor(() => !plain.servers[0]!.unresolved, 'the target asked for itself');
    expect(addresses(plain)).toEqual(['127.0.0.6:5432', '-']);
    expect(dns.countQueries('a2.app.test', 'A')).toBeGreaterThan(0);
  });

  it('asks the other family once when the preferred one has no record', async () => {
    const dns = await responder();
    dns.set('v4only.test', { a: ['127.0.0.7'] });
    const backend = backendOf(slots('s', 1, dnsOf('v4only.test', 9000, { prefer: 'ipv6' })));
    await resolve(section(dns.port), backend);
    await waitFor(() => !backend.servers[0]!.unresolved, 'resolved through A');
    expect(addresses(backend)).toEqual(['127.0.0.7:9000']);
    const types = dns.queries.filter((q) => q.name === 'v4only.test').map((q) => q.type);
    expect(types.slice(0, 2)).toEqual(['AAAA', 'A']);
  });

  it('keeps an address through NXDOMAIN for `hold nx`, then puts the server in maintenance; it comes back when the name resolves', async () => {
    const dns = await responder();
    dns.set('flaky.test', { a: ['127.0.0.8'] });
    const backend = backendOf(slots('s', 1, dnsOf('flaky.test', 7000)));
    const started = Date.now();
    const { logged } = await resolve(section(dns.port, { hold: { ...defaultResolverHolds(), valid: 100, nx: 600 } }), backend);
    await waitFor(() => !backend.servers[0]!.unresolved, 'resolved');
    dns.nxdomain('flaky.test');
    const nxSince = Date.now();
    await waitFor(() => backend.servers[0]!.unresolved, 'in maintenance after hold nx', 5000);
    // Not before `hold nx` since the last valid answer (which came at or after nxSince - valid).
    expect(Date.now() - nxSince).toBeGreaterThanOrEqual(600 - 150);
    expect(logged.some((l) => /Server be\/s1 is going DOWN for maintenance \(DNS NX status\)/.test(l.line))).toBe(true);
    dns.set('flaky.test', { a: ['127.0.0.8'] });
    await waitFor(() => !backend.servers[0]!.unresolved, 'back');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('counts datagrams that are not DNS and answers to nothing asked, and goes on resolving', async () => {
    const dns = await responder();
    dns.set('ok.test', { a: ['127.0.0.9'] });
    // A nameserver that answers garbage, listed first.
    const junk = createSocket('udp4');
    junk.on('message', (msg, from) => {
      junk.send(Buffer.from('not dns at all'), from.port, from.address);
      const wrongId = Buffer.from(msg);
      wrongId[2] = 0x81; // a response...
      wrongId.writeUInt16BE((msg.readUInt16BE(0) + 1) & 0xffff, 0); // ...to another id
      junk.send(wrongId, from.port, from.address);
    });
    await new Promise<void>((resolve) => junk.bind(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => junk.close(() => resolve())));
    const config = section(dns.port);
    const nameservers = [{ name: 'junk', address: SocketAddress.from('ipv4', '127.0.0.1', junk.address().port), where: WHERE }, ...config.nameservers];
    const backend = backendOf(slots('s', 1, dnsOf('ok.test', 80)));
    const { resolvers } = await resolve({ ...config, nameservers }, backend);
    await waitFor(() => !backend.servers[0]!.unresolved, 'resolved by the good nameserver');
    await waitFor(() => (resolvers.counters()[0]!.counters.outdated ?? 0) > 0, 'the wrong id counted');
    const junkCounters = resolvers.counters().find((c) => c.nameserver === 'junk')!.counters;
    expect(junkCounters.invalid).toBeGreaterThan(0);
    expect(junkCounters.valid).toBe(0);
    expect(resolvers.counters().find((c) => c.nameserver === 'ns1')!.counters.valid).toBeGreaterThan(0);
  });
});
