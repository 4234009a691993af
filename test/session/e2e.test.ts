/**
 * The TCP proxy end to end, as its issue's acceptance lists: real clients and real servers on
 * loopback, epoxy started from a typed configuration in between. Waits are on conditions; every
 * timeout under test is short and the waits for it are bounded well above it.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { EpoxyConfig } from '../../src/config/object.js';
import { native } from '../../src/native.js';
import { start, type RunningProxy } from '../../src/runtime/start.js';
import { waitFor, freePort } from '../helpers/sockets.js';

const cleanups: Array<() => Promise<void> | void> = [];
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

const TIMEOUTS = { connect: '2s', client: '30s', server: '30s' };

async function proxyTo(
  servers: Array<{ name: string; port: number; extra?: Record<string, unknown> }>,
  settings: Record<string, unknown> = {},
): Promise<{ running: RunningProxy; port: number; logs: string[] }> {
  const port = await freePort();
  const logs: string[] = [];
  const config = {
    defaults: { mode: 'tcp', timeout: TIMEOUTS, option: { tcplog: true } },
    listen: {
      px: {
        bind: [`127.0.0.1:${port}`],
        servers: servers.map((s) => ({ name: s.name, address: `127.0.0.1:${s.port}`, ...s.extra })),
        ...settings,
      },
    },
  } as EpoxyConfig;
  const running = await start(config, { quiet: true, signals: false, sessionLog: (l) => logs.push(l) });
  cleanups.push(async () => {
    await running.kill();
  });
  return { running, port, logs };
}

function client(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => resolve(socket));
    socket.on('error', reject);
  });
}

/** Resolves when epoxy has closed the connection (FIN or RST seen by the client). */
function closedByProxy(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    socket.resume(); // 'end' is only emitted once what came before it has been read
    socket.once('end', () => resolve());
    socket.once('close', () => resolve());
    socket.once('error', () => resolve());
  });
}

const echo = (): Server => createServer({ allowHalfOpen: false }, (s) => s.pipe(s));

describe('TCP proxy end to end', () => {
  it('carries 100 MiB of random bytes each way, byte-exact (sha256)', async () => {
    const { port } = await proxyTo([{ name: 'echo', port: await listen(echo()) }]);
    const socket = await client(port);
    const MiB = 1024 * 1024;
    const sent = createHash('sha256');
    const received = createHash('sha256');
    let receivedBytes = 0;
    socket.on('data', (chunk: Buffer) => {
      received.update(chunk);
      receivedBytes += chunk.length;
    });
    const ended = new Promise<void>((resolve) => socket.on('end', () => resolve()));
    for (let i = 0; i < 100; i++) {
      const chunk = randomBytes(MiB);
      sent.update(chunk);
      if (!socket.write(chunk)) await new Promise((resolve) => socket.once('drain', resolve));
    }
    socket.end();
    await ended;
    expect(receivedBytes).toBe(100 * MiB);
    expect(received.digest('hex')).toBe(sent.digest('hex'));
  });

  it('holds 1,000 concurrent sessions', async () => {
    const { running, port } = await proxyTo([{ name: 'echo', port: await listen(echo()) }]);
    const sockets = await Promise.all(Array.from({ length: 1000 }, () => client(port)));
    const frontend = running.runtime.frontends.get('px')!;
    await waitFor(() => frontend.counters.get('current') === 1000, '1,000 open sessions', 20_000);
    const replies = await Promise.all(
      sockets.map(
        (s, i) =>
          new Promise<string>((resolve) => {
            let data = '';
            s.on('data', (c) => (data += c.toString()));
            s.on('end', () => resolve(data));
            s.end(`session ${i}`);
          }),
      ),
    );
    replies.forEach((reply, i) => expect(reply).toBe(`session ${i}`));
    await waitFor(() => frontend.counters.get('current') === 0, 'all closed', 20_000);
    expect(frontend.counters.get('sessions')).toBe(1000);
  });

  it('half-close: the client shuts first and still receives; the server shuts first and still receives', async () => {
    // Server that answers after the client's FIN, then closes.
    const late = createServer({ allowHalfOpen: true }, (s) => {
      let got = '';
      s.on('data', (c) => (got += c.toString()));
      s.on('end', () => s.end(`after your FIN I got: ${got}`));
    });
    // Server that closes its side at once, then keeps reading until the client is done.
    const early = createServer({ allowHalfOpen: true }, (s) => {
      s.end('bye first');
      let got = '';
      s.on('data', (c) => (got += c.toString()));
      s.on('end', () => (earlyGot = got));
    });
    let earlyGot = '';
    const a = await proxyTo([{ name: 'late', port: await listen(late) }]);
    const s1 = await client(a.port);
    let reply1 = '';
    s1.on('data', (c) => (reply1 += c.toString()));
    const end1 = new Promise<void>((resolve) => s1.on('end', () => resolve()));
    s1.end('ping');
    await end1;
    expect(reply1).toBe('after your FIN I got: ping');

    const b = await proxyTo([{ name: 'early', port: await listen(early) }]);
    const s2 = await client(b.port);
    let reply2 = '';
    s2.on('data', (c) => (reply2 += c.toString()));
    await new Promise<void>((resolve) => s2.on('end', () => resolve()));
    expect(reply2).toBe('bye first');
    s2.end('still talking after your FIN');
    await waitFor(() => earlyGot === 'still talking after your FIN', 'the server to read after its own FIN');
  });

  it('propagates a server reset to the client', async () => {
    const resetting = createServer((s) => s.once('data', () => s.resetAndDestroy()));
    const { port, logs } = await proxyTo([{ name: 'rst', port: await listen(resetting) }]);
    const socket = await client(port);
    const error = new Promise<NodeJS.ErrnoException>((resolve) => socket.on('error', resolve));
    socket.write('trigger');
    expect((await error).code).toBe('ECONNRESET');
    await waitFor(() => logs.length === 1, 'log');
    expect(logs[0]).toMatch(/ SD /);
  });

  it('a slow reader keeps the proxy’s memory bounded', async () => {
    let upstreamSocket: Socket | null = null;
    const stalled = createServer((s) => {
      s.pause(); // reads nothing until told
      upstreamSocket = s;
    });
    const { running, port } = await proxyTo([{ name: 'slow', port: await listen(stalled) }]);
    const socket = await client(port);
    const chunk = Buffer.alloc(1024 * 1024, 7);
    // More than the kernels' buffers on the way can take while the server reads nothing (the
    // proxy's send buffer autotunes to tcp_wmem's 4 MiB at most; a reader that reads nothing
    // keeps a small receive window): Node keeps the rest in the client. Stopping at the client's
    // first backpressure instead was not enough: with 4 MiB written, the proxy could forward all.
    const total = 16 * chunk.length;
    for (let i = 0; i < 16; i++) socket.write(chunk);
    await waitFor(() => upstreamSocket !== null, 'upstream connection');
    // Whatever the kernels' socket buffers hold, epoxy itself holds at most one buffer per
    // direction: a bulk block when the send that blocked was of a bulk read (docs/relay.md).
    const { DEFAULT_BUFFER_SIZE, DEFAULT_BULK_SIZE } = native.relayConstants;
    const bound = Math.max(DEFAULT_BUFFER_SIZE, DEFAULT_BULK_SIZE);
    const relay = running.relay;
    const holdsClientBytes = (): boolean => {
      for (let id = 0; id < relay.capacity; id++) if ((relay.holding(id) & 1) !== 0) return true;
      return false;
    };
    await waitFor(holdsClientBytes, 'the relay to hold client bytes the stalled server does not take');
    const forwarded = relay.bytes[0]!;
    expect(relay.buffered).toBeLessThanOrEqual(bound);
    expect(forwarded).toBeLessThan(total);
    upstreamSocket!.resume();
    let drained = 0;
    upstreamSocket!.on('data', (c: Buffer) => (drained += c.length));
    socket.end();
    await waitFor(() => drained === total, 'everything delivered once the reader reads', 20_000);
    expect(running.relay.buffered).toBe(0);
  });

  it('port mapping: a server written with a +N/-N offset connects to the client’s port shifted', async () => {
    const upstreamPort = await listen(createServer((s) => s.resume().end('mapped')));
    const port = await freePort();
    const offset = upstreamPort - port;
    const running = await start(
      {
        defaults: { mode: 'tcp', timeout: TIMEOUTS, option: { tcplog: true } },
        listen: { px: { bind: [`127.0.0.1:${port}`], servers: [{ name: 'm', address: `127.0.0.1:${offset >= 0 ? '+' : '-'}${Math.abs(offset)}` }] } },
      } as EpoxyConfig,
      { quiet: true, signals: false, sessionLog: () => {} },
    );
    cleanups.push(async () => {
      await running.kill();
    });
    const socket = await client(port);
    let data = '';
    socket.on('data', (c) => (data += c.toString()));
    await closedByProxy(socket);
    expect(data).toBe('mapped');
  });

  it('option dontlognull: a connection that carried no data is not logged', async () => {
    const { running, port, logs } = await proxyTo([{ name: 'echo', port: await listen(echo()) }], { option: { dontlognull: true } });
    const empty = await client(port);
    empty.end();
    await closedByProxy(empty);
    const full = await client(port);
    full.end('data');
    await closedByProxy(full);
    const frontend = running.runtime.frontends.get('px')!;
    await waitFor(() => frontend.counters.get('sessions') === 2 && frontend.counters.get('current') === 0, 'both sessions over');
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/ px px\/echo .* 4 -- /);
  });

  it('option nolinger: epoxy closes with an RST instead of a FIN', async () => {
    // nolinger in a listen section applies to the server side too: that side sees the RST as well.
    const silent = createServer((s) => s.on('error', () => {}).resume());
    const { port } = await proxyTo([{ name: 'silent', port: await listen(silent) }], {
      option: { nolinger: true },
      timeout: { ...TIMEOUTS, client: 100 },
    });
    const socket = await client(port);
    const outcome = new Promise<string>((resolve) => {
      socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      socket.on('end', () => resolve('FIN'));
    });
    socket.resume();
    expect(await outcome).toBe('ECONNRESET');
  });

  it('option tcpka: SO_KEEPALIVE on both sides (ss shows the keepalive timer)', async () => {
    const hasSs = spawnSync('sh', ['-c', 'command -v ss']).status === 0;
    if (!hasSs) {
      console.log('skipping the keepalive check: ss (iproute2) is not installed');
      return;
    }
    const upstream = createServer((s) => s.resume());
    const upstreamPort = await listen(upstream);
    const { port } = await proxyTo([{ name: 'up', port: upstreamPort }], { option: { tcpka: true } });
    const socket = await client(port);
    socket.resume();
    const timers = (filter: string): string =>
      spawnSync('ss', ['-tnoH', 'state', 'established', filter], { encoding: 'utf8' }).stdout;
    // epoxy's client-side socket has local port `port`; its server-side socket has peer port `upstreamPort`
    await waitFor(() => timers(`( sport = :${port} )`).includes('keepalive'), 'client side keepalive');
    await waitFor(() => timers(`( dport = :${upstreamPort} )`).includes('keepalive'), 'server side keepalive');
    socket.destroy();
  });

  it('timeout server closes an established session whose server stays silent', async () => {
    const silent = createServer((s) => s.resume());
    const { running, port, logs } = await proxyTo([{ name: 'silent', port: await listen(silent) }], {
      timeout: { ...TIMEOUTS, server: 200 },
    });
    const socket = await client(port);
    const closed = closedByProxy(socket);
    socket.write('anyone?');
    await closed;
    expect(running.runtime.backends.get('px')!.counters.get('serverTimeouts')).toBe(1);
    expect(logs[0]).toMatch(/ sD /);
  });

  it('timeout tunnel replaces client and server timeouts once connected', async () => {
    const silent = createServer((s) => s.resume());
    const { port, logs } = await proxyTo([{ name: 'silent', port: await listen(silent) }], {
      timeout: { ...TIMEOUTS, tunnel: 150 },
    });
    const socket = await client(port);
    await closedByProxy(socket);
    await waitFor(() => logs.length === 1, 'log');
    expect(logs[0]).toMatch(/ [cs]D /);
  });

  it('timeout client-fin / server-fin: a half-closed session gets the shorter timeout', async () => {
    // The client sends its FIN; the server never answers nor closes.
    const muted: Socket[] = [];
    const mute = createServer({ allowHalfOpen: true }, (s) => muted.push(s.resume()));
    const a = await proxyTo([{ name: 'mute', port: await listen(mute) }], { timeout: { ...TIMEOUTS, clientFin: 150 } });
    cleanups.push(() => muted.forEach((s) => s.destroy())); // it never closes its side by itself
    const c1 = await client(a.port);
    const closed1 = closedByProxy(c1);
    c1.end('half');
    await closed1;
    await waitFor(() => a.logs.length === 1, 'log');
    expect(a.logs[0]).toMatch(/ cD /);
    expect(a.running.runtime.frontends.get('px')!.counters.get('clientTimeouts')).toBe(1);

    // The server sends its FIN; the client never closes its side.
    const closing = createServer({ allowHalfOpen: true }, (s) => {
      s.resume();
      s.end('bye');
    });
    const b = await proxyTo([{ name: 'closing', port: await listen(closing) }], { timeout: { ...TIMEOUTS, serverFin: 150 } });
    const c2 = await client(b.port);
    c2.resume();
    await new Promise<void>((resolve) => c2.once('end', () => resolve())); // the server's FIN
    await waitFor(() => b.logs.length === 1, 'the server-fin timeout to close the session');
    expect(b.logs[0]).toMatch(/ sD /);
    expect(b.running.runtime.backends.get('px')!.counters.get('serverTimeouts')).toBe(1);
  });

  it('timeout connect: a server whose accept queue is full never answers; retries, then the session ends', async () => {
    // A listener that never accepts, with its queue already full: further SYNs are dropped, so
    // connect() neither succeeds nor fails until our timeout.
    const { SOCK_STREAM, SOCK_NONBLOCK, AF_INET } = native.constants;
    const full = native.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
    native.bind(full, native.addrPack('ipv4', '127.0.0.1', 0));
    native.listen(full, 0);
    const fullPort = native.addrUnpack(native.getsockname(full)).port;
    const fillers: number[] = [];
    cleanups.push(() => {
      for (const fd of [...fillers, full]) native.close(fd);
    });
    for (let i = 0; i < 3; i++) {
      const f = native.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
      native.connect(f, native.getsockname(full));
      fillers.push(f);
    }
    const { running, port, logs } = await proxyTo([{ name: 'full', port: fullPort }], {
      timeout: { ...TIMEOUTS, connect: 100 },
      retries: 1,
    });
    const socket = await client(port);
    await closedByProxy(socket);
    const backend = running.runtime.backends.get('px')!;
    expect(backend.counters.get('serverTimeouts')).toBe(2); // the first attempt and one retry
    expect(backend.counters.get('retries')).toBe(1);
    // HAProxy 2.6 logs a connect timeout sC (SC is a refusal or an error).
    expect(logs[0]).toMatch(/ sC /);
  });

  it('timeout queue: a session waiting for a full server gives up', async () => {
    const held = createServer((s) => s.resume());
    const { running, port, logs } = await proxyTo([{ name: 'one', port: await listen(held), extra: { maxconn: 1 } }], {
      timeout: { ...TIMEOUTS, queue: 150 },
    });
    const first = await client(port);
    const backend = running.runtime.backends.get('px')!;
    await waitFor(() => backend.servers[0]!.cur === 1, 'first session on the server');
    const second = await client(port);
    await closedByProxy(second);
    expect(backend.counters.get('queueTimeouts')).toBe(1);
    expect(logs.some((l) => / sQ /.test(l))).toBe(true);
    first.destroy();
  });
});
