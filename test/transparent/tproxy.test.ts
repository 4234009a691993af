/**
 * Issue 6 acceptance: epoxy as a transparent proxy on a real routed topology (three network
 * namespaces, see test/helpers/topology.ts), run as the `epoxy` command inside the gateway.
 *
 * - TPROXY interception: the client connects to the server's own address; the gateway's
 *   nftables `tproxy` rule hands the connection to epoxy's transparent listener, and a server at
 *   0.0.0.0 connects to the original destination (IPv4 and IPv6).
 * - `source 0.0.0.0 usesrc clientip` / `usesrc client`: the server sees the client's address
 *   (and port) as the peer, its replies routed back to epoxy by the `socket transparent` mark.
 * - NAT REDIRECT interception: a non-transparent listener finds the original destination with
 *   SO_ORIGINAL_DST.
 * - Unprivileged: a transparent bind reports the ALERT, a `usesrc` source fails connections
 *   (reported once), and nothing crashes.
 *
 * Skipped, with the reason printed, without root, ip or nft, or a kernel without tproxy.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/child.js';
import { waitFor } from '../helpers/sockets.js';
import { ADDRESSES, createTopology, topologyUnavailableReason, type NsProcess, type Topology } from '../helpers/topology.js';
import { NOBODY, unprivilegedUnavailableReason } from '../helpers/unprivileged.js';

const BIN = `${ROOT}bin/epoxy`;
const reason = topologyUnavailableReason();
if (reason) console.log(`skipping transparent-proxy namespace tests: ${reason}`);
const nobodyReason = unprivilegedUnavailableReason();
if (nobodyReason) console.log(`skipping the unprivileged transparent-proxy test: ${nobodyReason}`);

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function configFile(lines: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'epoxy-tproxy-'));
  dirs.push(dir);
  chmodSync(dir, 0o755); // readable by the unprivileged run too
  const file = join(dir, 'epoxy.cfg');
  writeFileSync(file, [...lines, ''].join('\n'), { mode: 0o644 });
  return file;
}

const HEADER = [
  'global',
  '    log stdout format raw local0',
  'defaults',
  '    mode tcp',
  '    log global',
  '    option tcplog',
  '    timeout connect 2s',
  '    timeout client 10s',
  '    timeout server 10s',
];

/** Starts `epoxy -f <file>` in the gateway and waits until every proxy in `proxies` started. */
async function startEpoxy(topology: Topology, file: string, proxies: string[]): Promise<NsProcess> {
  const proc = topology.spawn(topology.gateway, process.execPath, [BIN, '-f', file]);
  await waitFor(
    () => proxies.every((p) => proc.stderr.includes(`Proxy ${p} started.`)) || proc.child.exitCode !== null,
    `epoxy to start in the gateway (stderr: ${proc.stderr})`,
  );
  if (proc.child.exitCode !== null) throw new Error(`epoxy exited ${proc.child.exitCode}: ${proc.stderr}`);
  return proc;
}

/** Waits for epoxy's session log line of a client at `client` through `frontend`/`server`. */
async function sessionLogged(epoxy: NsProcess, client: string, route: string): Promise<string> {
  const pattern = new RegExp(`^${client.replace(/[.:]/g, (c) => `\\${c}`)}:\\d+ \\[[^\\]]+\\] ${route} `, 'm');
  await waitFor(() => pattern.test(epoxy.stdout), `epoxy's log of the session (${route}) (stdout: ${epoxy.stdout})`);
  return pattern.exec(epoxy.stdout)![0];
}

const FAMILIES = [
  { family: 'IPv4', client: ADDRESSES.client.ipv4, server: ADDRESSES.server.ipv4, gateway: ADDRESSES.gatewayServerSide.ipv4 },
  { family: 'IPv6', client: ADDRESSES.client.ipv6, server: ADDRESSES.server.ipv6, gateway: ADDRESSES.gatewayServerSide.ipv6 },
] as const;

describe.skipIf(reason !== null)('TPROXY interception in a three-namespace topology', () => {
  let topology: Topology;
  let epoxy: NsProcess;
  // intercepted port → epoxy's transparent listener
  const PLAIN = { dport: 7000, listenPort: 7001 };
  const CLIENTIP = { dport: 7100, listenPort: 7101 };
  const CLIENT = { dport: 7200, listenPort: 7201 };
  const FOREIGN = { dport: 7300, listenPort: 7301 };
  const RANGED = { dport: 7400, listenPort: 7401 };
  const FOREIGN_SOURCE = { dport: 7500, listenPort: 7501 };
  const ALL = [PLAIN, CLIENTIP, CLIENT, FOREIGN, RANGED, FOREIGN_SOURCE];

  beforeAll(async () => {
    topology = createTopology();
    for (const rule of ALL) topology.enableTproxy(rule);
    for (const { dport } of ALL) await topology.startServer(dport, `server:${dport}`);
    const section = (name: string, listenPort: number, server: string): string[] => [
      `listen ${name}`,
      `    bind 0.0.0.0:${listenPort} transparent`,
      `    bind [::]:${listenPort} transparent v6only`,
      `    ${server}`,
    ];
    const file = configFile([
      ...HEADER,
      ...section('intercept', PLAIN.listenPort, `server origin 0.0.0.0:${PLAIN.dport}`),
      ...section('spoof_ip', CLIENTIP.listenPort, `server origin 0.0.0.0:${CLIENTIP.dport} source 0.0.0.0 usesrc clientip`),
      ...section('spoof_client', CLIENT.listenPort, `server origin 0.0.0.0:${CLIENT.dport}`),
      `    source 0.0.0.0 usesrc client`,
      // a foreign address of the client-side network: the server's replies to it are routed
      // through the gateway, where the transparent socket takes them
      ...section('spoof_addr', FOREIGN.listenPort, `server origin 0.0.0.0:${FOREIGN.dport} source 0.0.0.0 usesrc 192.0.2.200`),
      // the gateway's own address, ports from a range in rotation
      ...section('ranged', RANGED.listenPort, `server origin 0.0.0.0:${RANGED.dport} source ${ADDRESSES.gatewayServerSide.ipv4}:20000-20001`),
      // a foreign source without usesrc: bind() says EADDRNOTAVAIL, and HAProxy then retries
      // the bind with IP_TRANSPARENT
      ...section('foreign_source', FOREIGN_SOURCE.listenPort, `server origin 0.0.0.0:${FOREIGN_SOURCE.dport} source 192.0.2.201`),
    ]);
    epoxy = await startEpoxy(topology, file, ['intercept', 'spoof_ip', 'spoof_client', 'spoof_addr', 'ranged', 'foreign_source']);
  }, 30_000);

  afterAll(async () => {
    await topology?.destroy();
  });

  for (const f of FAMILIES) {
    it(`a client connecting to the server's address is answered through epoxy (${f.family})`, async () => {
      const result = await topology.runClient(f.server, PLAIN.dport);
      expect(result, JSON.stringify(result)).toMatchObject({ ok: true });
      // the server answered, and saw the gateway (epoxy's own address) as the peer
      expect(result.data).toMatch(new RegExp(`^server:${PLAIN.dport} peer=${f.gateway} `));
      expect(result.data).toContain(`local=${f.server}:${PLAIN.dport}`);
      // and the session went through epoxy
      const line = await sessionLogged(epoxy, f.client, 'intercept intercept/origin');
      expect(line).toContain(' intercept intercept/origin ');
    });

    it(`usesrc clientip: the server sees the client's address as the peer (${f.family})`, async () => {
      const result = await topology.runClient(f.server, CLIENTIP.dport);
      expect(result, JSON.stringify(result)).toMatchObject({ ok: true });
      expect(result.data).toMatch(new RegExp(`^server:${CLIENTIP.dport} peer=${f.client} port=\\d+ `));
      await sessionLogged(epoxy, f.client, 'spoof_ip spoof_ip/origin');
    });

    it(`usesrc client (backend source): the server sees the client's address and port (${f.family})`, async () => {
      const result = await topology.runClient(f.server, CLIENT.dport);
      expect(result, JSON.stringify(result)).toMatchObject({ ok: true });
      const clientPort = result.local.slice(result.local.lastIndexOf(':') + 1);
      expect(result.data).toMatch(new RegExp(`^server:${CLIENT.dport} peer=${f.client} port=${clientPort} `));
      await sessionLogged(epoxy, f.client, 'spoof_client spoof_client/origin');
    });
  }

  it('usesrc <address>: the server sees that foreign address as the peer (IPv4)', async () => {
    const result = await topology.runClient(ADDRESSES.server.ipv4, FOREIGN.dport);
    expect(result, JSON.stringify(result)).toMatchObject({ ok: true });
    expect(result.data).toMatch(new RegExp(`^server:${FOREIGN.dport} peer=192\\.0\\.2\\.200 `));
  });

  it('source <foreign address> without usesrc: the bind is retried with IP_TRANSPARENT (IPv4)', async () => {
    const result = await topology.runClient(ADDRESSES.server.ipv4, FOREIGN_SOURCE.dport);
    expect(result, JSON.stringify(result)).toMatchObject({ ok: true });
    expect(result.data).toMatch(new RegExp(`^server:${FOREIGN_SOURCE.dport} peer=192\\.0\\.2\\.201 `));
  });

  it('source <addr>:<low>-<high>: connections bind ports of the range in turn (IPv4)', async () => {
    const ports: string[] = [];
    for (let i = 0; i < 3; i++) {
      const result = await topology.runClient(ADDRESSES.server.ipv4, RANGED.dport);
      expect(result, JSON.stringify(result)).toMatchObject({ ok: true });
      const match = new RegExp(`^server:${RANGED.dport} peer=${ADDRESSES.gatewayServerSide.ipv4} port=(\\d+) `).exec(result.data);
      expect(match, result.data).not.toBeNull();
      ports.push(match![1]!);
    }
    expect(ports).toEqual(['20000', '20001', '20000']);
  });

  it('did not alert about anything while running as root', () => {
    expect(epoxy.stderr).not.toContain('ALERT');
    expect(epoxy.child.exitCode).toBeNull();
  });
});

describe.skipIf(reason !== null)('NAT REDIRECT interception in a three-namespace topology', () => {
  let topology: Topology;
  let epoxy: NsProcess;
  const RULE = { dport: 7000, listenPort: 7301 };

  beforeAll(async () => {
    topology = createTopology();
    topology.enableRedirect(RULE);
    await topology.startServer(RULE.dport, 'origin');
    const file = configFile([
      ...HEADER,
      'listen redirected',
      `    bind 0.0.0.0:${RULE.listenPort}`,
      `    bind [::]:${RULE.listenPort} v6only`,
      "    server origin 0.0.0.0", // no port: the original destination's (HAProxy's usual REDIRECT setup)
    ]);
    epoxy = await startEpoxy(topology, file, ['redirected']);
  }, 30_000);

  afterAll(async () => {
    await topology?.destroy();
  });

  for (const f of FAMILIES) {
    it(`a server at 0.0.0.0 reaches the original destination (SO_ORIGINAL_DST) (${f.family})`, async () => {
      const result = await topology.runClient(f.server, RULE.dport);
      expect(result, JSON.stringify(result)).toMatchObject({ ok: true });
      expect(result.data).toMatch(new RegExp(`^origin peer=${f.gateway} `));
      expect(result.data).toContain(`local=${f.server}:${RULE.dport}`);
      await sessionLogged(epoxy, f.client, 'redirected redirected/origin');
    });
  }
});

describe.skipIf(nobodyReason !== null)('transparent proxying without privileges', () => {
  let upstream: Server;
  let accepted = 0;

  beforeAll(async () => {
    upstream = createServer((socket) => {
      accepted++;
      socket.end('should not be reached\n');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  });

  it('reports the ALERT for a transparent bind, fails usesrc connections once-reported, and does not crash', async () => {
    const free = createServer();
    await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
    const port = (free.address() as { port: number }).port;
    await new Promise<void>((resolve) => free.close(() => resolve()));
    const upstreamPort = (upstream.address() as { port: number }).port;
    const file = configFile([
      ...HEADER,
      '    retries 1',
      'listen unprivileged',
      `    bind 127.0.0.1:${port} transparent`,
      `    server s 127.0.0.1:${upstreamPort} source 0.0.0.0 usesrc clientip`,
    ]);
    const child = spawn(process.execPath, [BIN, '-f', file], {
      cwd: '/',
      uid: NOBODY,
      gid: NOBODY,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(() => stderr.includes('Proxy unprivileged started.') || child.exitCode !== null, `epoxy to start (stderr: ${stderr})`);
      expect(stderr).toMatch(/\[ALERT\].*cannot make listening socket transparent/);
      expect(child.exitCode).toBeNull();
      for (let i = 0; i < 2; i++) {
        // each connection: every attempt to bind the client's address fails (EPERM), so the
        // session ends as a connection failure and the client sees the connection closed
        const data = await new Promise<string>((resolve, reject) => {
          const socket = netConnect(port, '127.0.0.1');
          let got = '';
          socket.on('data', (c) => (got += c.toString()));
          socket.on('close', () => resolve(got));
          socket.on('error', () => resolve(got));
          socket.setTimeout(5000, () => reject(new Error('no close from epoxy')));
        });
        expect(data).toBe('');
      }
      await waitFor(() => (stdout.match(/ unprivileged unprivileged\/s .* SC /g) ?? []).length === 2, `two session logs (stdout: ${stdout})`);
      const alerts = stderr.match(/\[ALERT\].*server 's'.*EPERM.*/g) ?? [];
      expect(alerts, stderr).toHaveLength(1);
      expect(accepted).toBe(0);
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  }, 30_000);
});

describe.skipIf(reason !== null)('transparent proxying by master-worker workers running as nobody', () => {
  let topology: Topology;
  let epoxy: NsProcess;
  let jail: string;
  const RULE = { dport: 7600, listenPort: 7601 };

  beforeAll(async () => {
    topology = createTopology();
    topology.enableTproxy(RULE);
    await topology.startServer(RULE.dport, `server:${RULE.dport}`);
    jail = mkdtempSync(join(tmpdir(), 'epoxy-jail-'));
    dirs.push(jail);
    const file = configFile([
      'global',
      '    log stdout format raw local0',
      '    nbthread 2',
      '    user nobody',
      `    chroot ${jail}`,
      ...HEADER.slice(2),
      'listen spoof_ip',
      `    bind 0.0.0.0:${RULE.listenPort} transparent`,
      `    bind [::]:${RULE.listenPort} transparent v6only`,
      `    server origin 0.0.0.0:${RULE.dport} source 0.0.0.0 usesrc clientip`,
    ]);
    epoxy = topology.spawn(topology.gateway, process.execPath, [BIN, '-W', '-f', file]);
    await waitFor(() => epoxy.stderr.includes('Loading success.') || epoxy.child.exitCode !== null, `the master to serve (stderr: ${epoxy.stderr})`, 30_000);
    if (epoxy.child.exitCode !== null) throw new Error(`epoxy exited ${epoxy.child.exitCode}: ${epoxy.stderr}`);
  }, 40_000);

  afterAll(async () => {
    await topology?.destroy();
  });

  it('workers keep CAP_NET_ADMIN and CAP_NET_RAW only, as nobody in the chroot, and usesrc clientip still works', async () => {
    const { readFileSync, readdirSync, readlinkSync } = await import('node:fs');
    const pid = epoxy.child.pid!;
    const workers = readdirSync(`/proc/${pid}/task`).flatMap((tid) => readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean));
    expect(workers).toHaveLength(2);
    for (const worker of workers) {
      const status = readFileSync(`/proc/${worker}/status`, 'utf8');
      expect(status).toMatch(/^Uid:\t65534\t65534\t65534\t65534$/m);
      // CAP_NET_ADMIN (12) and CAP_NET_RAW (13): 0x3000; nothing else.
      expect(status).toMatch(/^CapEff:\t0000000000003000$/m);
      expect(status).toMatch(/^CapPrm:\t0000000000003000$/m);
      expect(readlinkSync(`/proc/${worker}/root`)).toBe(jail);
    }
    for (const f of FAMILIES) {
      const result = await topology.runClient(f.server, RULE.dport);
      expect(result, JSON.stringify(result)).toMatchObject({ ok: true });
      expect(result.data).toMatch(new RegExp(`^server:${RULE.dport} peer=${f.client} port=\\d+ `));
      await sessionLogged(epoxy, f.client, 'spoof_ip spoof_ip/origin');
    }
  });
});
