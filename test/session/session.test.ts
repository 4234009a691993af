/**
 * The session layer end to end on loopback: real clients (node:net), real servers (node:net),
 * epoxy's listener, loop, session engine and native relay in between.
 */
import { createServer, connect as netConnect, type Server as NetServer, type Socket } from 'node:net';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SocketAddress, parseAddress } from '../../src/address.js';
import { createBalancer } from '../../src/backend/balance.js';
import type { BalanceAlgorithm } from '../../src/backend/server-types.js';
import { parseBindOptions } from '../../src/listener/bind-parser.js';
import { createListener, disableListener, enableListener } from '../../src/listener/listener.js';
import { ERR_NONE, type Listener } from '../../src/listener/listener-types.js';
import { bindListener, unbindListener } from '../../src/listener/tcp-bind.js';
import { Loop } from '../../src/loop/loop.js';
import { native, type NativeRelay } from '../../src/native.js';
import { buildProxyHeader, parseProxyHeader } from '../../src/proxy-protocol/proxy-protocol.js';
import { SessionEngine, type Termination } from '../../src/session/session.js';
import { logDate } from '../../src/log/log-format.js';
import {
  Counters,
  type BackendRuntime,
  type FrontendRuntime,
  type ServerRuntime,
  type Timeouts,
} from '../../src/session/session-types.js';
import { waitFor } from '../helpers/sockets.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const NO_TIMEOUTS: Timeouts = { connect: 2000, client: 0, server: 0, tunnel: 0, clientFin: 0, clientHs: 0, serverFin: 0, queue: 0 };

/** A TCP server on loopback: echoes, or answers with its name first, or holds connections open. */
async function upstream(name: string, mode: 'echo' | 'hello' | 'header' = 'echo'): Promise<{ port: number; server: NetServer; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((socket) => {
    if (mode === 'hello') socket.write(`hello from ${name}\n`);
    socket.on('data', (chunk) => {
      if (mode === 'header') {
        const header = parseProxyHeader(new Uint8Array(chunk));
        seen.push(header.status === 'complete' ? `${header.version} ${header.source?.toString()} ${header.destination?.toString()}` : header.status);
        socket.end(`${name}\n`);
        return;
      }
      socket.write(chunk);
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as { port: number }).port, server, seen };
}

function serverRuntime(name: string, port: number, options: Partial<ServerRuntime> = {}): ServerRuntime {
  return {
    name,
    id: options.id ?? 1,
    address: parseAddress(`127.0.0.1:${port}`),
    weight: 1,
    maxconn: 0,
    maxqueue: 0,
    backup: false,
    admin: 'ready',
    health: 'up',
    unresolved: false,
    check: null,
    cur: 0,
    sendProxy: 0,
    source: null,
    counters: new Counters(),
    ...options,
  };
}

function backendRuntime(servers: ServerRuntime[], options: Partial<BackendRuntime> & { balance?: BalanceAlgorithm } = {}): BackendRuntime {
  return {
    name: 'be',
    servers,
    balancer: createBalancer(options.balance ?? { kind: 'roundrobin' }, servers),
    timeouts: NO_TIMEOUTS,
    retries: 3,
    redispatch: false,
    counters: new Counters(),
    ...options,
  };
}

function frontendRuntime(backend: BackendRuntime, options: Partial<FrontendRuntime> = {}): FrontendRuntime {
  return {
    name: 'fe',
    maxconn: 0,
    timeouts: NO_TIMEOUTS,
    rules: [],
    useBackend: [],
    defaultBackend: backend,
    counters: new Counters(),
    ...options,
  };
}

const NAMES: Record<number, Termination> = {};

interface Proxy {
  port: number;
  engine: SessionEngine;
  loop: Loop;
  relay: NativeRelay;
  logs: string[];
  warnings: string[];
  listener: Listener;
}

/** Starts epoxy's side: a listener (bind words), a loop, a relay and the engine. */
async function proxy(frontend: FrontendRuntime, bindWords: string[] = [], address = '127.0.0.1:0'): Promise<Proxy> {
  const loop = new Loop();
  const logs: string[] = [];
  const warnings: string[] = [];
  let engine: SessionEngine | null = null;
  const relay: NativeRelay = new native.Relay({
    onEnd: (count) => engine!.relayEnded(relay.ended, count, (reason) => (reason === native.relayConstants.END_CLOSED ? '--' : reason === native.relayConstants.END_RESET_A ? 'CD' : reason === native.relayConstants.END_RESET_B ? 'SD' : 'PD')),
  });
  engine = new SessionEngine(loop, { add: (a, b) => relay.add(a, b), remove: (id) => relay.remove(id), holding: (id) => relay.holding(id), get lastActivity() { return relay.lastActivity; }, get bytes() { return relay.bytes; }, get fins() { return relay.fins; }, nowTick: () => native.nowTick() }, { log: (line) => logs.push(line), warning: (line) => warnings.push(line) });
  const listener = createListener(parseBindOptions(bindWords, address), SocketAddress.parse(address));
  const result = bindListener(listener, { maxsock: 1 << 20, poll: loop.fdtab, accept: engine.acceptHandler(frontend) });
  expect(result.err).toBe(ERR_NONE);
  enableListener(listener);
  loop.jobs++;
  const done = loop.run();
  cleanups.push(async () => {
    engine!.killAll();
    unbindListener(listener);
    loop.jobs = 0;
    loop.requestTurn();
    await done;
    loop.close();
    relay.close();
  });
  void NAMES;
  return { port: listener.boundAddr!.port, engine, loop, relay, logs, warnings, listener };
}

/** Connects, sends `payload` (optional), half-closes, and collects everything until EOF. */
function exchange(port: number, payload: Uint8Array | string | null, endAfterSend = true): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1', () => {
      if (payload !== null) socket.write(payload);
      if (endAfterSend) socket.end();
    });
    let data = '';
    socket.on('data', (chunk) => (data += chunk.toString()));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
}

function openClient(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

describe('SessionEngine', () => {
  it('relays a client to a server and back, counts bytes and logs the session', async () => {
    const up = await upstream('a');
    const be = backendRuntime([serverRuntime('a', up.port)]);
    const fe = frontendRuntime(be);
    const p = await proxy(fe);
    const payload = 'x'.repeat(100_000);
    expect(await exchange(p.port, payload)).toBe(payload);
    await waitFor(() => fe.counters.get('current') === 0, 'session closed');
    expect(fe.counters.get('sessions')).toBe(1);
    expect(fe.counters.get('bytesIn')).toBe(100_000);
    expect(fe.counters.get('bytesOut')).toBe(100_000);
    expect(be.servers[0]!.cur).toBe(0);
    expect(p.loop.jobs).toBe(1); // only the listener is left
    expect(p.logs).toHaveLength(1);
    expect(p.logs[0]).toMatch(/^127\.0\.0\.1:\d+ \[.+\] fe be\/a 0\/\d+\/\d+ 100000 -- /);
  });

  it('relays clients of a unix socket listener, whose peers have no address', async () => {
    const up = await upstream('a');
    const be = backendRuntime([serverRuntime('a', up.port)]);
    const fe = frontendRuntime(be);
    const dir = mkdtempSync(join(tmpdir(), 'epoxy-unix-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'fe.sock');
    const p = await proxy(fe, [], `unix@${path}`);
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = netConnect(path, () => socket.end('over unix'));
      let data = '';
      socket.on('data', (chunk) => (data += chunk.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    expect(reply).toBe('over unix');
    await waitFor(() => fe.counters.get('current') === 0, 'session closed');
    expect(fe.counters.get('bytesIn')).toBe(9);
    expect(p.logs[0]).toMatch(/ fe be\/a /);
  });

  it('balances across servers round-robin', async () => {
    const a = await upstream('a', 'hello');
    const b = await upstream('b', 'hello');
    const be = backendRuntime([serverRuntime('a', a.port, { id: 1 }), serverRuntime('b', b.port, { id: 2 })]);
    const p = await proxy(frontendRuntime(be));
    const answers: string[] = [];
    for (let i = 0; i < 4; i++) answers.push((await exchange(p.port, null)).trim());
    expect(answers).toEqual(['hello from a', 'hello from b', 'hello from a', 'hello from b']);
  });

  it('retries a refused server and redispatches to another on the last retry', async () => {
    const good = await upstream('good', 'hello');
    // a port with nothing listening: connections are refused
    const closed = await upstream('gone');
    const closedPort = closed.port;
    await new Promise<void>((resolve) => closed.server.close(() => resolve()));
    const dead = serverRuntime('dead', closedPort, { id: 1 });
    const be = backendRuntime([dead, serverRuntime('good', good.port, { id: 2, weight: 1 })], {
      balance: { kind: 'first' },
      retries: 2,
      redispatch: true,
    });
    const p = await proxy(frontendRuntime(be));
    expect((await exchange(p.port, null)).trim()).toBe('hello from good');
    expect(be.counters.get('connectErrors')).toBeGreaterThanOrEqual(2);
    expect(be.counters.get('redispatches')).toBe(1);
    expect(dead.cur).toBe(0);
  });

  it('queues beyond a server maxconn and serves the queue in order as slots free', async () => {
    const up = await upstream('a');
    const server = serverRuntime('a', up.port, { maxconn: 1 });
    const be = backendRuntime([server]);
    const p = await proxy(frontendRuntime(be));
    const first = await openClient(p.port);
    await waitFor(() => server.cur === 1, 'first connected');
    const second = exchange(p.port, 'second');
    await waitFor(() => be.counters.get('queued') === 1, 'second queued');
    expect(server.cur).toBe(1);
    first.end();
    expect(await second).toBe('second');
    // the queued session connected as soon as the slot freed, not after a timeout
    expect(p.logs[1]).toMatch(/ fe be\/a \d+\/\d\/\d+ 6 -- /);
    expect(server.cur).toBeLessThanOrEqual(1);
  });

  it("maxqueue bounds the sessions waiting for that server, not the backend's whole queue", async () => {
    const upA = await upstream('a', 'hello');
    const upB = await upstream('b', 'hello');
    const a = serverRuntime('a', upA.port, { id: 1, maxconn: 1, maxqueue: 1 });
    const b = serverRuntime('b', upB.port, { id: 2, maxconn: 1, maxqueue: 1 });
    const be = backendRuntime([a, b]);
    const p = await proxy(frontendRuntime(be));
    const sQ = (): string[] => p.logs.filter((line) => / sQ /.test(line));
    const holders = [await openClient(p.port), await openClient(p.port)];
    await waitFor(() => a.cur === 1 && b.cur === 1, 'one session on each server');
    // Both servers full: round robin names each in turn, and each session waits in that server's
    // queue. Counted against the backend's total, the second would find "the" queue full.
    const waiting = [exchange(p.port, null), exchange(p.port, null)];
    await waitFor(() => be.counters.get('queued') === 2 || sQ().length > 0, 'both sessions queued, or one refused');
    expect(sQ()).toEqual([]);
    expect([p.engine.queuedFor(be, a), p.engine.queuedFor(be, b), p.engine.queuedUnassigned(be)]).toEqual([1, 1, 0]);
    // One more finds both server queues at their maxqueue: refused at once, not queued.
    expect(await exchange(p.port, null)).toBe('');
    expect(sQ()).toHaveLength(1);
    expect(sQ()[0]).toMatch(/ fe be\/<NOSRV> /);
    expect(be.counters.get('queued')).toBe(2);
    expect(be.counters.get('queueTimeouts')).toBe(0);
    // Each freed slot goes to the session waiting for that server.
    for (const holder of holders) holder.end();
    expect((await Promise.all(waiting)).sort()).toEqual(['hello from a\n', 'hello from b\n']);
    expect(p.engine.queued(be)).toBe(0);
  });

  it('frontend maxconn: beyond it connections wait in the kernel backlog, then are served', async () => {
    const up = await upstream('a');
    const fe = frontendRuntime(backendRuntime([serverRuntime('a', up.port)]), { maxconn: 1 });
    const p = await proxy(fe);
    const first = await openClient(p.port);
    await waitFor(() => fe.counters.get('current') === 1, 'first session');
    // The listener is no longer polled: a new connection completes its handshake in the
    // kernel's backlog and nothing accepts it until a session ends.
    expect(p.listener.state).toBe(5 /* FULL */);
    const second = await openClient(p.port);
    let reply = '';
    second.on('data', (c) => (reply += c.toString()));
    const ended = new Promise<void>((resolve) => second.on('end', () => resolve()));
    second.end('waited');
    expect(fe.counters.get('sessions')).toBe(1);
    first.end();
    await ended;
    expect(reply).toBe('waited');
    expect(fe.counters.get('sessions')).toBe(2);
  });

  it('rejects by tcp-request connection rules, counted as denied', async () => {
    const up = await upstream('a');
    const be = backendRuntime([serverRuntime('a', up.port)]);
    const fe = frontendRuntime(be, { rules: [{ action: 'reject', condition: (f) => f.src.address === '127.0.0.1' }] });
    const p = await proxy(fe);
    // HAProxy 2.6 resets such a connection and logs nothing for it.
    await expect(exchange(p.port, 'nope')).rejects.toThrow(/ECONNRESET|EPIPE/);
    await waitFor(() => fe.counters.get('denied') === 1, 'denied');
    expect(be.counters.get('sessions')).toBe(0);
    expect(p.logs).toEqual([]);
  });

  it('picks the backend with use_backend conditions before default_backend', async () => {
    const a = await upstream('a', 'hello');
    const b = await upstream('b', 'hello');
    const beA = backendRuntime([serverRuntime('a', a.port)], { name: 'beA' });
    const beB = backendRuntime([serverRuntime('b', b.port)], { name: 'beB' });
    const fe = frontendRuntime(beA, { useBackend: [{ backend: beB, condition: (f) => f.dst.address === '127.0.0.1' }] });
    const p = await proxy(fe);
    expect((await exchange(p.port, null)).trim()).toBe('hello from b');
  });

  it('accept-proxy takes the client address from the PROXY header; send-proxy-v2 passes it on', async () => {
    const up = await upstream('a', 'header');
    const be = backendRuntime([serverRuntime('a', up.port, { sendProxy: 2 })]);
    const fe = frontendRuntime(be);
    const p = await proxy(fe, ['accept-proxy']);
    const header = buildProxyHeader(1, parseAddress('192.0.2.10:4242'), parseAddress('198.51.100.1:443'));
    const answer = await exchange(p.port, Buffer.concat([Buffer.from(header), Buffer.from('payload')]), false);
    expect(answer.trim()).toBe('a');
    expect(up.seen).toEqual(['2 192.0.2.10:4242 198.51.100.1:443']);
    await waitFor(() => p.logs.length === 1, 'log');
    expect(p.logs[0]).toMatch(/^192\.0\.2\.10:4242 /);
  });

  it('accept-proxy reads a v2 header; send-proxy (v1) passes the client on in text form', async () => {
    const up = await upstream('a', 'header');
    const be = backendRuntime([serverRuntime('a', up.port, { sendProxy: 1 })]);
    const p = await proxy(frontendRuntime(be), ['accept-proxy']);
    const header = buildProxyHeader(2, parseAddress('[2001:db8::7]:5555'), parseAddress('[2001:db8::1]:443'));
    const answer = await exchange(p.port, Buffer.concat([Buffer.from(header), Buffer.from('payload')]), false);
    expect(answer.trim()).toBe('a');
    expect(up.seen).toEqual(['1 [2001:db8::7]:5555 [2001:db8::1]:443']);
  });

  it('a malformed PROXY header closes that connection only, and is counted', async () => {
    const up = await upstream('a');
    const fe = frontendRuntime(backendRuntime([serverRuntime('a', up.port)]));
    const p = await proxy(fe, ['accept-proxy']);
    // Reset, as HAProxy 2.6 resets a refused PROXY header.
    await expect(exchange(p.port, 'PROXY TCP4 not an address\r\n')).rejects.toThrow(/ECONNRESET/);
    await waitFor(() => fe.counters.get('proxyHeaderErrors') === 1, 'counted');
    // the next, well-formed connection still works
    const header = buildProxyHeader(2, parseAddress('192.0.2.1:1'), parseAddress('192.0.2.2:2'));
    expect(await exchange(p.port, Buffer.concat([Buffer.from(header), Buffer.from('ok')]))).toBe('ok');
  });

  it('closes an idle session after timeout client, even with traffic before it', async () => {
    const up = await upstream('a');
    const be = backendRuntime([serverRuntime('a', up.port)]);
    const fe = frontendRuntime(be, { timeouts: { ...NO_TIMEOUTS, client: 150 } });
    const p = await proxy(fe);
    const client = await openClient(p.port);
    let closed = false;
    client.on('close', () => (closed = true));
    client.on('data', () => {});
    client.write('ping');
    await waitFor(() => closed, 'idle timeout closes the session');
    expect(fe.counters.get('clientTimeouts')).toBe(1);
    expect(p.logs[0]).toMatch(/ cD /);
  });
});

describe('SessionEngine: source binding', () => {
  it('source addr:low-high moves on to the next port when one is in use (EADDRINUSE), without a failed attempt', async () => {
    // The server reports the peer port of every connection it accepts.
    const peers: number[] = [];
    const server = createServer((socket) => {
      peers.push(socket.remotePort!);
      socket.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    // Hold the range's first port with a listening socket: binding it fails with EADDRINUSE
    // even with SO_REUSEADDR.
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => holder.close(() => resolve())));
    // The range starts at the held port; the rest of it is ephemeral ports that other tests'
    // connections may hold at any moment, so it is wide enough that some are always free.
    const low = (holder.address() as { port: number }).port;
    const high = Math.min(low + 15, 65535);
    const source = { address: parseAddress('127.0.0.1:0'), portRange: { low, high }, usesrc: null, interface: null, nextPort: 0 };
    const port = (server.address() as { port: number }).port;
    // No retries: the first attempt must succeed by itself.
    const be = backendRuntime([serverRuntime('a', port, { source })], { retries: 0 });
    const p = await proxy(frontendRuntime(be));
    expect(await exchange(p.port, null)).toBe('ok');
    expect(peers).toHaveLength(1);
    expect(peers[0]).toBeGreaterThan(low);
    expect(peers[0]).toBeLessThanOrEqual(high);
    expect(be.counters.get('connectErrors')).toBe(0);
  });
});

describe('logDate', () => {
  it("writes HAProxy's log date: dd/Mon/yyyy:hh:mm:ss.mmm in local time", () => {
    const ms = new Date(2026, 11, 4, 0, 22, 43, 554).getTime();
    expect(logDate(ms)).toBe('04/Dec/2026:00:22:43.554');
    expect(logDate(new Date(2027, 0, 9, 7, 5, 3, 7).getTime())).toBe('09/Jan/2027:07:05:03.007');
  });
});

describe('SessionEngine: accept() out of fds', () => {
  it('pauses the listener with one warning instead of spinning on EMFILE, and serves again by itself', async () => {
    const up = await upstream('a');
    const p = await proxy(frontendRuntime(backendRuntime([serverRuntime('a', up.port)])));
    const saved = native.getNofileLimit();
    const clients: Socket[] = [];
    const answers: string[] = [];
    // The clients share this process's fd limit: connect them first, into the kernel's backlog
    // of a listener that is not polled, then leave the process no fd to spare and poll again.
    disableListener(p.listener);
    const turns = p.loop.activity.get('loops');
    p.loop.requestTurn();
    await waitFor(() => p.loop.activity.get('loops') > turns, 'a turn of the loop to stop polling the listener');
    for (let i = 0; i < 8; i++) {
      const socket = netConnect(p.port, '127.0.0.1', () => socket.write(`hello ${i}`));
      socket.on('data', (chunk: Buffer) => answers.push(chunk.toString()));
      socket.on('error', (error) => answers.push(`error ${error.message}`));
      clients.push(socket);
    }
    await Promise.all(clients.map((c) => new Promise((resolve) => (c.connecting ? c.once('connect', resolve) : resolve(null)))));
    // RLIMIT_NOFILE bounds fd numbers: below the lowest free one, every new fd is refused.
    const used = new Set(readdirSync('/proc/self/fd').map(Number));
    let open = 0;
    while (used.has(open)) open++;
    try {
      native.setNofileLimit(open, saved.hard);
      enableListener(p.listener);
      p.loop.requestTurn(); // interest changes are applied by a turn of the loop
      await waitFor(() => p.warnings.length > 0, 'the EMFILE warning');
      expect(p.warnings).toEqual([`Proxy fe reached process FD limit (maxsock=${open}). Please check 'ulimit-n' and restart.`]);
      // Paused, not spinning: over the next 300 ms of the loop's clock (three retry periods) the
      // loop turns a handful of times, where a level-triggered listener failing accept4 turns
      // thousands of times.
      const loops = p.loop.activity.get('loops');
      const since = p.loop.now;
      await waitFor(() => ((p.loop.now - since) >>> 0) >= 300, '300 ms of the loop');
      expect(p.loop.activity.get('loops') - loops).toBeLessThan(100);
      expect(p.warnings).toHaveLength(1); // once per episode
    } finally {
      native.setNofileLimit(saved.soft, saved.hard);
    }
    // With fds again, the retry takes the waiting connections: every client is answered.
    await waitFor(() => answers.length === 8, `every client answered (${answers.length})`);
    expect(answers.sort()).toEqual([...Array(8).keys()].map((i) => `hello ${i}`).sort());
    for (const socket of clients) socket.destroy();
  });
});
