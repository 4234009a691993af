/**
 * Session lines end to end: epoxy started on a configuration whose `log` lines name a UDP syslog
 * server held by the test (rfc5424, as the acceptance asks), real clients and servers on
 * loopback. Each tcplog line is taken apart field by field. Waits are on conditions only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { EpoxyConfig } from '../../src/config/object.js';
import { native } from '../../src/native.js';
import { start, type RunningProxy } from '../../src/runtime/start.js';
import { freePort, refusedPort, waitFor } from '../helpers/sockets.js';
import { udpReceiver, unixReceiver, type Cleanup } from '../helpers/syslog.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function listen(server: Server): Promise<number> {
  // A session ended by a timer resets its server connection, as HAProxy does: not a test error.
  server.on('connection', (socket: Socket) => socket.on('error', () => {}));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

const echo = (): Server => createServer((s) => s.pipe(s));
const silent = (): Server => createServer((s) => s.resume());

function client(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port, host: '127.0.0.1' }, () => resolve(socket));
    socket.on('error', reject);
  });
}

/** Resolves when epoxy has closed the connection. */
function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    socket.resume();
    socket.once('close', () => resolve());
    socket.once('error', () => resolve());
  });
}

async function run(config: EpoxyConfig): Promise<RunningProxy> {
  const running = await start(config, { quiet: true, signals: false });
  cleanups.push(async () => {
    await running.kill();
  });
  return running;
}

const TIMEOUTS = { connect: '2s', client: '30s', server: '30s' };

/** One frontend `fe` → backend `be` with server `s1` at `serverPort`, logging rfc5424 to `logPort`. */
async function proxy(
  logPort: number,
  serverPort: number,
  settings: { timeout?: Record<string, unknown>; option?: Record<string, unknown>; retries?: number; logFormat?: string } = {},
): Promise<{ running: RunningProxy; port: number }> {
  const port = await freePort();
  const running = await run({
    global: { log: [{ target: `127.0.0.1:${logPort}`, format: 'rfc5424', facility: 'local0' }] },
    // `tcplog: false` leaves the option out (HAProxy has no `no option tcplog`).
    defaults: { mode: 'tcp', log: ['global'], timeout: { ...TIMEOUTS, ...settings.timeout }, option: Object.fromEntries(Object.entries({ tcplog: true, ...settings.option }).filter(([, on]) => on !== false)) },
    frontends: { fe: { bind: [`127.0.0.1:${port}`], defaultBackend: 'be', ...(settings.logFormat !== undefined && { logFormat: settings.logFormat }) } },
    backends: { be: { ...(settings.retries !== undefined && { retries: settings.retries }), servers: [{ name: 's1', address: `127.0.0.1:${serverPort}` }] } },
  } as EpoxyConfig);
  return { running, port };
}

/** An rfc5424 datagram taken apart: the envelope, then the tcplog fields. */
interface TcpLogLine {
  priority: number;
  timestamp: string;
  tag: string;
  pid: number;
  clientIp: string;
  clientPort: number;
  acceptDate: string;
  frontend: string;
  backend: string;
  server: string;
  tw: string;
  tc: string;
  tt: string;
  bytes: string;
  termination: string;
  counts: number[];
  queues: number[];
}

// `<134>1 2026-12-04T09:16:37.208872+00:00 - haproxy 2016 - - 127.0.0.1:42676 [04/Dec/2026:09:16:37.198] fe_tcplog be/s1 1/0/9 5 -- 1/1/0/0/0 0/0\n`
// (HAProxy 2.6 with `log 127.0.0.1:5514 format rfc5424 local0` and `option tcplog`).
const TCPLOG_LINE =
  /^<(\d+)>1 (\S+) - (\S+) (\d+) - - ([\d.]+):(\d+) \[(\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d\.\d{3})\] (\S+) ([^/\s]+)\/(\S+) (\+?-?\d+)\/(-?\d+)\/(\+?\d+) (\+?\d+) (\S\S) (\d+)\/(\d+)\/(\d+)\/(\d+)\/(\d+) (\d+)\/(\d+)\n$/;

function parse(datagram: string): TcpLogLine {
  const m = TCPLOG_LINE.exec(datagram);
  if (m === null) throw new Error(`not an rfc5424 tcplog line: ${JSON.stringify(datagram)}`);
  return {
    priority: Number(m[1]),
    timestamp: m[2]!,
    tag: m[3]!,
    pid: Number(m[4]),
    clientIp: m[5]!,
    clientPort: Number(m[6]),
    acceptDate: m[7]!,
    frontend: m[8]!,
    backend: m[9]!,
    server: m[10]!,
    tw: m[11]!,
    tc: m[12]!,
    tt: m[13]!,
    bytes: m[14]!,
    termination: m[15]!,
    counts: m.slice(16, 21).map(Number),
    queues: m.slice(21, 23).map(Number),
  };
}

describe('tcplog lines over UDP syslog (rfc5424)', () => {
  it('a normal session: every field', async () => {
    const syslog = await udpReceiver(cleanups);
    const { port } = await proxy(syslog.port, await listen(echo()));
    const socket = await client(port);
    const clientPort = socket.localPort!;
    const before = Date.now();
    socket.end('hello');
    await closed(socket);
    await waitFor(() => syslog.lines.length === 1, 'the session line');
    const line = parse(syslog.lines[0]!);
    expect(line.priority).toBe(16 * 8 + 6); // local0.info
    expect(Math.abs(Date.parse(line.timestamp) - before)).toBeLessThan(5000);
    expect([line.tag, line.pid]).toEqual(['epoxy', process.pid]);
    expect([line.clientIp, line.clientPort]).toEqual(['127.0.0.1', clientPort]);
    expect([line.frontend, line.backend, line.server]).toEqual(['fe', 'be', 's1']);
    expect(line.tw).toBe('0');
    expect(Number(line.tc)).toBeGreaterThanOrEqual(0);
    expect(Number(line.tt)).toBeGreaterThanOrEqual(Number(line.tc));
    expect(line.bytes).toBe('5'); // the echo, server to client
    expect(line.termination).toBe('--');
    // The process and frontend counts include the session being logged, the others no longer.
    expect(line.counts).toEqual([1, 1, 0, 0, 0]);
    expect(line.queues).toEqual([0, 0]);
  });

  it('a refused connect: SC, Tc -1, the retries counted', async () => {
    const syslog = await udpReceiver(cleanups);
    const refused = refusedPort();
    cleanups.push(() => void native.close(refused.fd));
    // HAProxy: `127.0.0.1:42390 [04/Dec/2026:09:17:33.721] fe_refused be_refused/s1 1/-1/3004 0 SC 1/1/0/0/3 0/0`
    const { port } = await proxy(syslog.port, refused.port, { retries: 1, timeout: { connect: '100ms' } });
    const socket = await client(port);
    await closed(socket);
    await waitFor(() => syslog.lines.length === 1, 'the session line');
    const line = parse(syslog.lines[0]!);
    expect([line.backend, line.server, line.tc, line.bytes, line.termination]).toEqual(['be', 's1', '-1', '0', 'SC']);
    expect(line.counts).toEqual([1, 1, 0, 0, 1]);
  });

  it('a client timeout: cD', async () => {
    const syslog = await udpReceiver(cleanups);
    // HAProxy: `127.0.0.1:59608 [04/Dec/2026:09:17:15.534] fe_silent be/s1 1/0/503 0 cD 2/1/0/0/0 0/0`
    const { port } = await proxy(syslog.port, await listen(silent()), { timeout: { client: '200ms' } });
    const socket = await client(port);
    await closed(socket);
    await waitFor(() => syslog.lines.length === 1, 'the session line');
    const line = parse(syslog.lines[0]!);
    expect([line.server, line.bytes, line.termination]).toEqual(['s1', '0', 'cD']);
    expect(Number(line.tt)).toBeGreaterThanOrEqual(200);
  });

  it('a server timeout: sD', async () => {
    const syslog = await udpReceiver(cleanups);
    // HAProxy: `127.0.0.1:46966 [04/Dec/2026:09:17:16.534] fe_srvto be_silent/s1 1/0/1002 0 sD 2/1/0/0/0 0/0`
    const { port } = await proxy(syslog.port, await listen(silent()), { timeout: { server: '200ms' } });
    const socket = await client(port);
    socket.write('anyone?');
    await closed(socket);
    await waitFor(() => syslog.lines.length === 1, 'the session line');
    const line = parse(syslog.lines[0]!);
    expect([line.server, line.bytes, line.termination]).toEqual(['s1', '0', 'sD']);
    expect(Number(line.tt)).toBeGreaterThanOrEqual(200);
  });

  it("option logasap: one line once connected, '+' before Tt and the bytes, none at the end", async () => {
    const syslog = await udpReceiver(cleanups);
    const { running, port } = await proxy(syslog.port, await listen(echo()), { option: { logasap: true } });
    const socket = await client(port);
    await waitFor(() => syslog.lines.length === 1, 'the logasap line');
    const line = parse(syslog.lines[0]!);
    // HAProxy: `127.0.0.1:54386 [04/Dec/2026:09:17:34.251] fe_asap be/s1 1/0/+0 +0 -- 2/1/1/1/0 0/0`:
    // the session is still counted everywhere.
    expect([line.tt.startsWith('+'), line.bytes, line.termination]).toEqual([true, '+0', '--']);
    expect(line.counts).toEqual([1, 1, 1, 1, 0]);
    socket.end('bye');
    await closed(socket);
    await waitFor(() => running.runtime.frontends.get('fe')!.counters.get('current') === 0, 'the session to end');
    expect(syslog.lines).toHaveLength(1);
  });

  it('option epoxy-log-start: the logasap line at the start and the full line at the end', async () => {
    const syslog = await udpReceiver(cleanups);
    const { port } = await proxy(syslog.port, await listen(echo()), { option: { 'epoxy-log-start': true } });
    const socket = await client(port);
    await waitFor(() => syslog.lines.length === 1, 'the start line');
    socket.end('hello');
    await closed(socket);
    await waitFor(() => syslog.lines.length === 2, 'the end line');
    const [first, last] = syslog.lines.map(parse);
    expect([first!.bytes, first!.termination, first!.tt.startsWith('+')]).toEqual(['+0', '--', true]);
    expect([last!.bytes, last!.termination, last!.tt.startsWith('+')]).toEqual(['5', '--', false]);
    expect(first!.clientPort).toBe(last!.clientPort);
  });

  it('option dontlognull: a connection that carried nothing is not logged', async () => {
    const syslog = await udpReceiver(cleanups);
    const { running, port } = await proxy(syslog.port, await listen(echo()), { option: { dontlognull: true } });
    const frontend = running.runtime.frontends.get('fe')!;
    const empty = await client(port);
    empty.end();
    await closed(empty);
    await waitFor(() => frontend.counters.get('current') === 0 && frontend.counters.get('sessions') === 1, 'the empty session to end');
    const full = await client(port);
    full.end('data');
    await closed(full);
    await waitFor(() => syslog.lines.length === 1, 'the line of the session with data');
    expect(parse(syslog.lines[0]!).bytes).toBe('4');
  });

  it('log-format: the variables of a custom line', async () => {
    const syslog = await udpReceiver(cleanups);
    const serverPort = await listen(echo());
    const { port } = await proxy(syslog.port, serverPort, { logFormat: '%ci %fi:%fp %si:%sp %bi %B %U %{+Q}f %ts' });
    const socket = await client(port);
    socket.end('12345');
    await closed(socket);
    await waitFor(() => syslog.lines.length === 1, 'the session line');
    expect(syslog.lines[0]).toMatch(new RegExp(`- - 127\\.0\\.0\\.1 127\\.0\\.0\\.1:${port} 127\\.0\\.0\\.1:${serverPort} 127\\.0\\.0\\.1 5 5 "fe" --\\n$`));
  });

  it("without option tcplog, HAProxy's default line when the connection is accepted", async () => {
    const syslog = await udpReceiver(cleanups);
    const { port } = await proxy(syslog.port, await listen(silent()), { option: { tcplog: false } });
    const socket = await client(port);
    // HAProxy: `Connect from 127.0.0.1:38578 to 127.0.0.1:6002 (fe_default/TCP)`, at accept.
    await waitFor(() => syslog.lines.length === 1, 'the accept line');
    expect(syslog.lines[0]).toMatch(new RegExp(`- - Connect from 127\\.0\\.0\\.1:${socket.localPort} to 127\\.0\\.0\\.1:${port} \\(fe/TCP\\)\\n$`));
    socket.destroy();
  });
});

describe('log targets', () => {
  it("each frontend logs to its own targets; 'log global' to the global ones; none without log lines", async () => {
    const globalSyslog = await udpReceiver(cleanups);
    const ownSyslog = await udpReceiver(cleanups, 'udp6');
    const serverPort = await listen(echo());
    const [a, b, c] = [await freePort(), await freePort(), await freePort()];
    await run({
      global: { log: [{ target: `127.0.0.1:${globalSyslog.port}`, format: 'raw', facility: 'local0' }] },
      defaults: { mode: 'tcp', timeout: TIMEOUTS, option: { tcplog: true } },
      frontends: {
        own: { bind: [`127.0.0.1:${a}`], defaultBackend: 'be', log: [{ target: `udp6@[::1]:${ownSyslog.port}`, format: 'raw', facility: 'local1' }] },
        shared: { bind: [`127.0.0.1:${b}`], defaultBackend: 'be', log: ['global'] },
        quiet: { bind: [`127.0.0.1:${c}`], defaultBackend: 'be' },
      },
      backends: { be: { servers: [{ name: 's1', address: `127.0.0.1:${serverPort}` }] } },
    } as EpoxyConfig);
    for (const port of [c, a, b]) {
      const socket = await client(port);
      socket.end('x');
      await closed(socket);
    }
    await waitFor(() => globalSyslog.lines.length === 1 && ownSyslog.lines.length === 1, 'one line on each server');
    expect(ownSyslog.lines[0]).toMatch(/^127\.0\.0\.1:\d+ \[[^\]]+\] own be\/s1 /);
    expect(globalSyslog.lines[0]).toMatch(/^127\.0\.0\.1:\d+ \[[^\]]+\] shared be\/s1 /);
  });

  it('a unix datagram socket (as /dev/log) receives the lines, with len truncation', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epoxy-log-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const receiver = unixReceiver(cleanups, join(dir, 'log.sock'));
    const frontPort = await freePort();
    await run({
      global: { log: [{ target: `unix@${join(dir, 'log.sock')}`, len: 80, format: 'rfc3164', facility: 'daemon' }] },
      defaults: { mode: 'tcp', log: ['global'], timeout: TIMEOUTS, option: { tcplog: true } },
      listen: { px: { bind: [`127.0.0.1:${frontPort}`], servers: [{ name: 's1', address: `127.0.0.1:${await listen(echo())}` }] } },
    } as EpoxyConfig);
    const socket = await client(frontPort);
    socket.end('x');
    await closed(socket);
    await waitFor(() => {
      receiver.drain();
      return receiver.lines.length === 1;
    }, 'the line on the unix socket');
    const line = receiver.lines[0]!;
    // `len 80`: 80 bytes, then the newline (HAProxy's datagrams are len + 1 bytes long).
    expect(Buffer.byteLength(line)).toBe(81);
    expect(line).toMatch(new RegExp(`^<30>\\w{3} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d localhost epoxy\\[${process.pid}\\]: 127\\.0\\.0\\.1:\\d+ \\[`));
    expect(line.endsWith('\n')).toBe(true);
  });

  it('a log server that is down costs the traffic nothing: lines are dropped and counted', async () => {
    const dead = await udpReceiver(cleanups);
    const deadPort = dead.port;
    await cleanups.pop()!(); // closed: nothing listens on that port any more
    const { running, port } = await proxy(deadPort, await listen(echo()));
    const sessions = 50;
    for (let i = 0; i < sessions; i++) {
      const socket = await client(port);
      const reply = new Promise<string>((resolve) => {
        let data = '';
        socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
        socket.on('close', () => resolve(data));
      });
      socket.end(`ping ${i}`);
      expect(await reply).toBe(`ping ${i}`);
    }
    await waitFor(() => running.runtime.frontends.get('fe')!.counters.get('current') === 0, 'every session to end');
    // The first datagram leaves before the kernel learns nobody listens (ICMP port unreachable);
    // the sends after that fail with ECONNREFUSED and are counted, never thrown.
    expect(running.logCounters.sent + running.logCounters.dropped).toBe(sessions);
    expect(running.logCounters.dropped).toBeGreaterThan(0);
  });

  it("the process's alerts and warnings reach the global targets at their level", async () => {
    const syslog = await udpReceiver(cleanups);
    const refused = refusedPort();
    cleanups.push(() => void native.close(refused.fd));
    const frontPort = await freePort();
    await run({
      global: { log: [{ target: `127.0.0.1:${syslog.port}`, facility: 'local0', level: 'warning' }] },
      defaults: { mode: 'tcp', timeout: TIMEOUTS },
      listen: { px: { bind: [`127.0.0.1:${frontPort}`], servers: [{ name: 's1', address: `127.0.0.1:${refused.port}`, check: true, inter: 100, fall: 1 }] } },
    } as EpoxyConfig);
    // HAProxy sends the same event to syslog: `Server be_chk/s1 is DOWN, reason: Layer4 connection problem, ...`
    await waitFor(() => syslog.lines.some((l) => l.includes('Server px/s1 is DOWN')), 'the DOWN line');
    const down = syslog.lines.find((l) => l.includes('Server px/s1 is DOWN'))!;
    expect(down).toMatch(new RegExp(`^<132>\\w{3} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d epoxy\\[${process.pid}\\]: Server px/s1 is DOWN`));
    // Notices stay on stderr, as HAProxy 2.6 keeps its startup notices out of syslog.
    expect(syslog.lines.some((l) => l.includes('started'))).toBe(false);
  });
});
