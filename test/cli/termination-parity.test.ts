/**
 * Termination states and how the client is told, checked against HAProxy 2.6 side by side: the
 * same configuration runs under haproxy and under epoxy, the same client does the same thing, and
 * both must log the same two-letter state and close the client the same way (FIN, not RST).
 * Skipped, with the reason printed, when haproxy is not installed (.ci/run installs it).
 *
 * - sC: the server never answers the SYN (a listener whose accept queue is full drops it) and
 *   `timeout connect` strikes: the server side failed, during the connect.
 * - sD: the server stops reading while the client keeps sending: the relay holds bytes for the
 *   server, the client is blocked by our window, and when the inactivity timeouts strike the
 *   side that stalled is the server.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { native } from '../../src/native.js';
import { ROOT } from '../helpers/child.js';
import { freePort, listenLoopback, waitFor } from '../helpers/sockets.js';

const haproxyMissing = spawnSync('sh', ['-c', 'command -v haproxy']).status !== 0;
if (haproxyMissing) console.log('skipping the HAProxy termination-state comparison: haproxy is not installed (apt-get install haproxy)');

const dir = mkdtempSync(join(tmpdir(), 'epoxy-termination-'));
const cleanups: Array<() => void | Promise<void>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  rmSync(dir, { recursive: true, force: true });
});

interface Running {
  port: number;
  output: () => string;
}

const PROXIES = [
  { name: 'haproxy', command: 'haproxy', args: (file: string) => ['-db', '-f', file] },
  { name: 'epoxy', command: process.execPath, args: (file: string) => [`${ROOT}bin/epoxy`, '-f', file] },
] as const;

/** Runs `proxy` on `body` (sections after global/defaults) and waits until it accepts. */
async function run(proxy: (typeof PROXIES)[number], defaults: string[], server: string): Promise<Running> {
  const port = await freePort();
  const file = join(dir, `${proxy.name}-${port}.cfg`);
  writeFileSync(
    file,
    [
      'global',
      '    maxconn 100',
      '    log stdout format raw local0',
      'defaults',
      '    mode tcp',
      '    log global',
      '    option tcplog',
      ...defaults.map((line) => `    ${line}`),
      'listen px',
      `    bind 127.0.0.1:${port}`,
      `    ${server}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(proxy.command, proxy.args(file), { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  cleanups.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  });
  // Up when a connection is accepted; the probe sends nothing and leaves before any timeout.
  await waitFor(() => child.exitCode !== null || listening(port), `${proxy.name} to listen (${output})`);
  if (child.exitCode !== null) throw new Error(`${proxy.name} exited: ${output}`);
  return { port, output: () => output };
}

function listening(port: number): boolean {
  const fd = native.socket(native.constants.AF_INET, native.constants.SOCK_STREAM);
  try {
    // Blocking connect on loopback: completes or is refused at once.
    return native.connect(fd, new Uint8Array(Buffer.from([2, 0, port >> 8, port & 255, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]))) === 0;
  } finally {
    native.close(fd);
  }
}

/** How the proxy ended the client's connection: 'FIN' (EOF) or the error code (ECONNRESET). */
function ending(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    socket.on('data', () => {});
    socket.on('end', () => resolve('FIN'));
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? String(error)));
  });
}

/** The termination state in the tcplog line of the client that used `clientPort`. */
async function loggedState(running: Running, name: string, clientPort: number): Promise<string> {
  const pattern = new RegExp(`^127\\.0\\.0\\.1:${clientPort} \\[[^\\]]+\\] px px/s \\S+ \\d+ (\\S\\S) `, 'm');
  await waitFor(() => pattern.test(running.output()), `${name}'s session log line (${running.output()})`);
  return pattern.exec(running.output())![1]!;
}

describe.skipIf(haproxyMissing)('termination states, HAProxy 2.6 and epoxy side by side', () => {
  it('a connect timeout is sC, and the client gets a FIN', async () => {
    // A listener with a zero backlog, filled by one connection nobody accepts: the kernel drops
    // further SYNs, so a connect to it neither completes nor fails until `timeout connect`.
    const { fd: blackhole, address } = listenLoopback(native.constants.AF_INET, 0);
    cleanups.push(() => void native.close(blackhole));
    const filler = netConnect(address.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => filler.once('connect', resolve).once('error', reject));
    cleanups.push(() => void filler.destroy());

    const observed: Record<string, { state: string; client: string }> = {};
    for (const proxy of PROXIES) {
      const running = await run(proxy, ['retries 0', 'timeout connect 200ms', 'timeout client 10s', 'timeout server 10s'], `server s 127.0.0.1:${address.port}`);
      const client = netConnect(running.port, '127.0.0.1');
      const ended = ending(client);
      await new Promise<void>((resolve) => client.once('connect', resolve));
      const clientPort = client.localPort!;
      client.write('hello');
      observed[proxy.name] = { client: await ended, state: await loggedState(running, proxy.name, clientPort) };
    }
    expect(observed.haproxy).toEqual({ state: 'sC', client: 'FIN' });
    expect(observed.epoxy).toEqual(observed.haproxy);
  });

  it('a server that stops reading is sD when both inactivity timeouts strike, and the client gets a FIN', async () => {
    // The server accepts and never reads.
    const held: Socket[] = [];
    const server: Server = createServer((socket) => {
      socket.pause();
      held.push(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => {
      for (const s of held) s.destroy();
      server.close(() => resolve());
    }));
    const serverPort = (server.address() as { port: number }).port;

    const observed: Record<string, { state: string; client: string }> = {};
    for (const proxy of PROXIES) {
      const running = await run(proxy, ['timeout connect 2s', 'timeout client 500ms', 'timeout server 500ms'], `server s 127.0.0.1:${serverPort}`);
      const client = netConnect(running.port, '127.0.0.1');
      const ended = ending(client);
      await new Promise<void>((resolve) => client.once('connect', resolve));
      const clientPort = client.localPort!;
      // Keep sending until the socket stops taking data (every buffer on the way is full),
      // then stop: from here on neither side moves.
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      let full = false;
      client.on('drain', () => (full = false));
      for (let sent = 0; sent < 256 * 1024 * 1024 && !full; sent += chunk.length) {
        if (!client.write(chunk)) {
          full = true;
          // Give the kernel a turn to take what it can; stop for good if it takes nothing more.
          await Promise.race([new Promise((resolve) => client.once('drain', resolve)), ended, new Promise((resolve) => setTimeout(resolve, 100))]);
        }
      }
      observed[proxy.name] = { client: await ended, state: await loggedState(running, proxy.name, clientPort) };
      client.destroy();
    }
    expect(observed.haproxy).toEqual({ state: 'sD', client: 'FIN' });
    expect(observed.epoxy).toEqual(observed.haproxy);
  });
});
