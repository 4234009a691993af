/**
 * HAProxy's behaviour at the edges of a session (issue 11, items 3 to 5): the PROXY header's own
 * deadline (`timeout client-hs`), the pause between connection retries, and how a session ended
 * by a timer is told to the client. Real sockets on loopback; waits are on conditions, and every
 * timing bound is generous relative to the timeouts under test.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { EpoxyConfig } from '../../src/config/object.js';
import { start, type RunningProxy } from '../../src/runtime/start.js';
import { freePort, waitFor } from '../helpers/sockets.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function listenOn(server: Server, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

async function proxy(
  settings: Record<string, unknown>,
  timeout: Record<string, unknown>,
  acceptProxy = false,
): Promise<{ port: number; logs: string[]; running: RunningProxy }> {
  const port = await freePort();
  const logs: string[] = [];
  const config = {
    defaults: { mode: 'tcp', option: { tcplog: true }, timeout: { connect: '5s', client: '30s', server: '30s', ...timeout } },
    listen: { px: { bind: [acceptProxy ? { address: `127.0.0.1:${port}`, acceptProxy: true } : `127.0.0.1:${port}`], ...settings } },
  } as EpoxyConfig;
  const running = await start(config, { quiet: true, signals: false, sessionLog: (l) => logs.push(l) });
  cleanups.push(async () => {
    await running.kill();
  });
  return { port, logs, running };
}

function client(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => resolve(socket));
    socket.on('error', reject);
  });
}

/** How the proxy ended the connection, as the client saw it first: a FIN or an RST. */
function ending(socket: Socket): Promise<'FIN' | 'RST'> {
  return new Promise((resolve) => {
    socket.removeAllListeners('error');
    socket.resume();
    socket.once('end', () => resolve('FIN'));
    socket.once('error', () => resolve('RST'));
  });
}

describe('timeout client-hs: the PROXY header has its own deadline', () => {
  it('cuts a PROXY header trickled one byte per 100 ms at client-hs, far below timeout client', async () => {
    const { port, logs } = await proxy({ servers: [{ name: 's', address: '127.0.0.1:9' }] }, { client: '30s', clientHs: '1s' }, true);
    const socket = await client(port);
    const started = performance.now();
    const header = Buffer.from('PROXY TCP6 2001:db8:aaaa:bbbb:cccc:dddd:eeee:1 2001:db8:aaaa:bbbb:cccc:dddd:eeee:2 50000 443\r\n');
    let sent = 0;
    const trickle = setInterval(() => {
      if (sent < header.length && !socket.destroyed) socket.write(header.subarray(sent, ++sent));
    }, 100);
    cleanups.push(() => clearInterval(trickle));
    const how = await ending(socket);
    const elapsed = performance.now() - started;
    clearInterval(trickle);
    // The whole header would take ~9.5 s; each byte is a valid prefix, so only the deadline cuts it.
    expect(sent).toBeLessThan(header.length);
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(8000);
    expect(how).toBe('FIN'); // HAProxy 2.6: FIN, and this log line (no tcplog line)
    await waitFor(() => logs.length === 1, 'log line');
    expect(logs[0]).toMatch(/^127\.0\.0\.1:\d+ \[[^\]]+\] px\/1: Timeout while waiting for PROXY protocol header$/);
  });

  it('without client-hs, timeout client bounds the header', async () => {
    const { port, logs } = await proxy({ servers: [{ name: 's', address: '127.0.0.1:9' }] }, { client: '300ms' }, true);
    const socket = await client(port);
    socket.write('PROXY ');
    expect(await ending(socket)).toBe('FIN');
    await waitFor(() => logs.length === 1, 'log line');
    expect(logs[0]).toMatch(/px\/1: Timeout while waiting for PROXY protocol header$/);
  });

  it('refuses bytes that can never start a header at once, with HAProxy reset and wording', async () => {
    const { port, logs } = await proxy({ servers: [{ name: 's', address: '127.0.0.1:9' }] }, { client: '30s', clientHs: '20s' }, true);
    const cases: Array<[string, string]> = [
      ['GET / HTTP/1.1\r\n', 'Received something which does not look like a PROXY protocol header'],
      ['\r\n\r\n\0\r\nQUIT\n\x31', 'Received something which does not look like a PROXY protocol header'],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 65536', 'Received an invalid PROXY protocol header'],
      ['PROXY TCP4 300', 'Received an invalid PROXY protocol header'],
    ];
    for (const [bytes, message] of cases) {
      const socket = await client(port);
      const started = performance.now();
      socket.write(Buffer.from(bytes, 'latin1'));
      expect(await ending(socket)).toBe('RST');
      expect(performance.now() - started).toBeLessThan(10_000); // far below client-hs (20 s)
      await waitFor(() => logs.some((l) => l.endsWith(message)), message);
      logs.length = 0;
    }
  });
});

describe('retries pause between attempts to a refusing server', () => {
  it('a server that starts listening after the first refusal still gets the client (retries 3)', async () => {
    const serverPort = await freePort(); // nothing listens yet: connect() is refused
    const { port, logs, running } = await proxy({ retries: 3, servers: [{ name: 's', address: `127.0.0.1:${serverPort}` }] }, {});
    const backend = running.runtime.backends.get('px')!;
    const connectedAt = performance.now();
    const socket = await client(port);
    let acceptedAt = 0;
    const late = createServer((s) => {
      acceptedAt = performance.now();
      s.on('error', () => {});
      s.end('served');
    });
    // Start the server once epoxy has been refused: on a refusal HAProxy waits ~1 s before the
    // next attempt; without that pause all four attempts fail within a millisecond.
    const answer = new Promise<string>((resolve) => {
      let data = '';
      socket.on('data', (c) => (data += c.toString()));
      socket.on('end', () => resolve(data));
      socket.on('close', () => resolve(data));
    });
    await waitFor(() => backend.counters.get('connectErrors') >= 1, 'a first refusal', 5000);
    await listenOn(late, serverPort);
    expect(await answer).toBe('served');
    socket.end();
    expect(acceptedAt - connectedAt).toBeGreaterThanOrEqual(500);
    await waitFor(() => logs.length === 1, 'log line');
    expect(logs[0]).toMatch(/ px\/s .* -- /);
  });

  it('the pause is min(1 s, timeout connect); the last refusal is logged SC', async () => {
    const serverPort = await freePort();
    const { port, logs } = await proxy({ retries: 3, servers: [{ name: 's', address: `127.0.0.1:${serverPort}` }] }, { connect: '300ms' });
    const socket = await client(port);
    expect(await ending(socket)).toBe('FIN');
    await waitFor(() => logs.length === 1, 'log line');
    const [tw, tc, tt] = / (\d+)\/(-?\d+)\/(\d+) /.exec(logs[0]!)!.slice(1).map(Number) as [number, number, number];
    expect([tw, tc]).toEqual([0, -1]);
    // Three pauses of 300 ms (HAProxy 2.6: Tt 908 ms for the same case); 1 s pauses would be 3 s.
    expect(tt).toBeGreaterThanOrEqual(850);
    expect(tt).toBeLessThan(2500);
    expect(logs[0]).toMatch(/ SC .*\/3 0\/0$/);
  });
});
