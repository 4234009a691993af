/**
 * The limits of a real `epoxy -f` with no `maxconn`, as an operator meets them: thousands of idle
 * clients must not lock out the next one (listeners used to stop at 2,000 each), and a low fd
 * limit must neither spin a core nor stop service for good (accept4 used to fail with EMFILE
 * ~9,000 times a second at 100% CPU).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { native } from '../../src/native.js';
import { ROOT } from '../helpers/child.js';
import { freePort, waitFor } from '../helpers/sockets.js';

const BIN = `${ROOT}bin/epoxy`;
const dir = mkdtempSync(join(tmpdir(), 'epoxy-limits-'));
const cleanups: Array<() => void | Promise<void>> = [];
const saved = native.getNofileLimit();
beforeAll(() => {
  // This process holds both ends of every test connection: give it all the fds it may have.
  native.setNofileLimit(saved.hard, saved.hard);
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => {
  native.setNofileLimit(saved.soft, saved.hard);
  rmSync(dir, { recursive: true, force: true });
});

/** An echo server that keeps every connection until the test ends. */
async function echoServer(): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
  cleanups.push(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  }));
  return (server.address() as { port: number }).port;
}

/** Runs `epoxy -f` (through `sh -c` when a ulimit is given) and waits until it listens. */
async function epoxy(port: number, upstream: number, ulimit?: number): Promise<{ child: ChildProcess; output: () => string }> {
  const file = join(dir, `${port}.cfg`);
  writeFileSync(
    file,
    ['defaults', '    mode tcp', '    timeout connect 2s', '    timeout client 60s', '    timeout server 60s',
      'listen px', `    bind 127.0.0.1:${port}`, `    server s 127.0.0.1:${upstream}`, ''].join('\n'),
  );
  const child = ulimit === undefined
    ? spawn(process.execPath, [BIN, '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('sh', ['-c', `ulimit -n ${ulimit} && exec "$0" "$@"`, process.execPath, BIN, '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  cleanups.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  });
  await waitFor(() => output.includes('listening on') || child.exitCode !== null, `epoxy to listen (${output})`);
  if (child.exitCode !== null) throw new Error(`epoxy exited ${child.exitCode}: ${output}`);
  return { child, output: () => output };
}

/** A client that says `text` and counts as answered once the echo came back. */
function client(port: number, text: string): { socket: Socket; answered: () => boolean } {
  let got = '';
  const socket = netConnect(port, '127.0.0.1', () => socket.write(text));
  socket.on('data', (c: Buffer) => (got += c.toString()));
  socket.on('error', () => {});
  cleanups.push(() => void socket.destroy());
  return { socket, answered: () => got === text };
}

/** CPU seconds (user + system) the process has used, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

describe('epoxy -f without maxconn', () => {
  it('serves 3,000 idle connections at once, and the next client too', async () => {
    const upstream = await echoServer();
    const port = await freePort();
    const { output } = await epoxy(port, upstream);
    const idle: Array<ReturnType<typeof client>> = [];
    for (let i = 0; i < 3000; i++) {
      idle.push(client(port, `idle ${i}`));
      // Keep the handshakes in flight below the listen backlog.
      if (i % 200 === 199) await waitFor(() => idle.every((c) => c.answered()), `the first ${i + 1} idle clients answered`, 30_000);
    }
    await waitFor(() => idle.every((c) => c.answered()), 'all 3,000 idle clients answered', 30_000);
    const next = client(port, 'the next one');
    await waitFor(() => next.answered(), 'a client after 3,000 idle ones answered');
    expect(output()).toMatch(/maxconn set to \d+ from the file-descriptor limit/);
  }, 60_000);

  it("under 'ulimit -n 256', 600 held clients cost no CPU, and service resumes once they leave", async () => {
    const upstream = await echoServer();
    const port = await freePort();
    const { child, output } = await epoxy(port, upstream, 256);
    const held = Array.from({ length: 600 }, (_, i) => client(port, `held ${i}`));
    // As many as maxconn (about (256 - Node's fds - margin) / 2) are served; the others wait in
    // the kernel's queues.
    await waitFor(() => held.filter((c) => c.answered()).length >= 50, 'held clients served', 30_000);
    // Held for 2 s of epoxy's life: it must be paused, not spinning (the old code used ~100%).
    const before = cpuSeconds(child.pid!);
    const since = performance.now();
    await waitFor(() => performance.now() - since >= 2000, 'a 2 s measurement window', 5000);
    const used = cpuSeconds(child.pid!) - before;
    const window = (performance.now() - since) / 1000;
    expect(used / window).toBeLessThan(0.05);
    expect(output()).not.toContain('reached process FD limit'); // maxconn stopped it first
    const maxconn = Number(/maxconn set to (\d+)/.exec(output())?.[1]);
    expect(maxconn).toBeLessThan(128);
    expect(held.filter((c) => c.answered()).length).toBeLessThanOrEqual(maxconn);
    for (const c of held) c.socket.destroy();
    const after = client(port, 'after the crowd');
    await waitFor(() => after.answered(), 'a client served once the crowd left', 30_000);
  }, 60_000);
});
