/**
 * Signals sent to a running `epoxy -f` with a session relaying bytes: none that HAProxy survives
 * may end the process or the session. SIGHUP logs the servers' states and SIGQUIT memory and
 * activity figures, as HAProxy 2.6 does without master-worker; SIGUSR2 is ignored.
 *
 * HAProxy 2.6.12 observed here (`haproxy -db -f cfg`, then `kill -HUP <pid>`), with one session
 * open to web/a and web/b `disabled`:
 *
 *   [WARNING]  (12951) : SIGHUP received, dumping servers states.
 *   [WARNING]  (12951) : SIGHUP: Server web/a is UP. Conn: 1 act, 0 pend, 1 tot.
 *   [WARNING]  (12951) : SIGHUP: Server web/b is DOWN. Conn: 0 act, 0 pend, 0 tot.
 *   [WARNING]  (12951) : SIGHUP: Proxy web has 1 active servers and 0 backup servers available. Conn: act(FE+BE): 1+1, 0 pend (0 unass), tot(FE+BE): 1+1.
 *   [WARNING]  (12864) : SIGHUP: Proxy fe has no servers. Conn: act(FE+BE): 0+0, 0 pend (0 unass), tot(FE+BE): 0+0.
 *   [WARNING]  (12864) : SIGHUP: Server be/c is UP. Conn: 0 act, 0 pend, 0 tot.
 *   [WARNING]  (12864) : SIGHUP: Proxy be has 1 active servers and 0 backup servers available. Conn: act(FE+BE): 0+0, 0 pend (0 unass), tot(FE+BE): 0+0.
 *
 * `kill -QUIT` prints its memory pools on stderr ("Dumping pools usage. Use SIGQUIT to flush
 * them.", a line per pool, "Total: 19 pools, 51656 bytes allocated, ..."). Signals HAProxy
 * survived, one fresh process each: HUP, QUIT, USR2, PIPE, ALRM, CHLD, URG, WINCH, TTIN, TTOU
 * (TSTP stops it; ILL, TRAP, ABRT, BUS, FPE, SEGV, STKFLT, XCPU, XFSZ, VTALRM, PROF, IO, PWR, SYS
 * end it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/child.js';
import { freePort, waitFor } from '../helpers/sockets.js';

const BIN = `${ROOT}bin/epoxy`;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Running {
  child: ChildProcess;
  port: number;
  stderr: () => string;
  exited: Promise<number | null>;
  alive: () => boolean;
}

async function echoServer(): Promise<Server> {
  const server = createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return server;
}

async function runEpoxy(): Promise<Running> {
  const upstream = await echoServer();
  const upstreamPort = (upstream.address() as { port: number }).port;
  const port = await freePort();
  const fePort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'epoxy-signals-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'signals.cfg');
  writeFileSync(
    file,
    [
      'defaults',
      '    mode tcp',
      '    timeout connect 2s',
      '    timeout client 30s',
      '    timeout server 30s',
      'listen web',
      `    bind 127.0.0.1:${port}`,
      `    server a 127.0.0.1:${upstreamPort}`,
      `    server b 127.0.0.1:${upstreamPort} disabled`,
      'frontend fe',
      `    bind 127.0.0.1:${fePort}`,
      '    default_backend be',
      'backend be',
      `    server c 127.0.0.1:${upstreamPort}`,
      '',
    ].join('\n'),
  );
  const child = spawn(process.execPath, [BIN, '-f', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout!.resume();
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      exitCode = code;
      resolve(code);
    }),
  );
  cleanups.push(async () => {
    if (exitCode === undefined) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  await waitFor(() => stderr.includes('listening on') || exitCode !== undefined, `epoxy to listen (stderr: ${stderr})`);
  expect(exitCode, stderr).toBeUndefined();
  return { child, port, stderr: () => stderr, exited, alive: () => exitCode === undefined };
}

/** A client connection through epoxy to the echo server, with what came back so far. */
async function openSession(port: number): Promise<{ socket: Socket; received: () => string }> {
  const socket = netConnect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (c: Buffer) => (received += c.toString()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  cleanups.push(() => void socket.destroy());
  return { socket, received: () => received };
}

/** Sends `text` and waits until it has come back: both directions of the session work. */
async function roundTrip(session: { socket: Socket; received: () => string }, text: string): Promise<void> {
  session.socket.write(text);
  await waitFor(() => session.received().endsWith(text), `'${text}' echoed through the session (got '${session.received()}')`);
}

/** Waits for the n-th occurrence of `needle` in the child's stderr. */
async function waitForCount(running: Running, needle: string, n: number): Promise<void> {
  const count = (): number => running.stderr().split(needle).length - 1;
  await waitFor(() => count() >= n || !running.alive(), `${n}× '${needle}' (stderr: ${running.stderr()})`);
  expect(running.alive(), running.stderr()).toBe(true);
}

describe('signals to a running epoxy', () => {
  it('SIGHUP dumps the servers states, SIGUSR2 is ignored, SIGQUIT dumps memory and activity: the session relays throughout', async () => {
    const running = await runEpoxy();
    const session = await openSession(running.port);
    await roundTrip(session, 'before;');

    running.child.kill('SIGHUP');
    await waitForCount(running, 'SIGHUP: Proxy be ', 1);
    const lines = running.stderr().split('\n');
    const dump = lines.filter((l) => l.includes('SIGHUP')).map((l) => l.replace(/^\[WARNING\]  \(\d+\) : /, ''));
    expect(dump).toEqual([
      'SIGHUP received, dumping servers states.',
      'SIGHUP: Server web/a is UP. Conn: 1 act, 0 pend, 1 tot.',
      'SIGHUP: Server web/b is DOWN. Conn: 0 act, 0 pend, 0 tot.',
      'SIGHUP: Proxy web has 1 active servers and 0 backup servers available. Conn: act(FE+BE): 1+1, 0 pend (0 unass), tot(FE+BE): 1+1.',
      'SIGHUP: Proxy fe has no servers. Conn: act(FE+BE): 0+0, 0 pend (0 unass), tot(FE+BE): 0+0.',
      'SIGHUP: Server be/c is UP. Conn: 0 act, 0 pend, 0 tot.',
      'SIGHUP: Proxy be has 1 active servers and 0 backup servers available. Conn: act(FE+BE): 0+0, 0 pend (0 unass), tot(FE+BE): 0+0.',
    ]);
    // Tagged as HAProxy tags them.
    expect(lines.find((l) => l.includes('SIGHUP received'))).toMatch(/^\[WARNING\]  \(\d+\) : SIGHUP received/);
    await roundTrip(session, 'after HUP;');

    // USR2 goes first: by the time QUIT's dump is printed, USR2 was delivered too.
    running.child.kill('SIGUSR2');
    running.child.kill('SIGQUIT');
    await waitForCount(running, 'SIGQUIT: Sessions:', 1);
    const quit = running.stderr();
    expect(quit).toMatch(/\[NOTICE\]   \(\d+\) : SIGQUIT received, dumping memory and activity\./);
    expect(quit).toMatch(/SIGQUIT: Memory: rss [1-9]\d* bytes, heap [1-9]\d* used of [1-9]\d* bytes, external \d+ bytes \(array buffers \d+ bytes\)\./);
    expect(quit).toMatch(/SIGQUIT: Activity: loops [1-9]\d*, wakeTasks \d+, .*signalsProcessed [1-9]\d*, handlerErrors 0\./);
    expect(quit).toMatch(/SIGQUIT: Relay: 1 pairs, \d+ bytes buffered, \d+ pipes in use, \d+ idle\./);
    expect(quit).toContain('SIGQUIT: Sessions: 1 current, 1 total.');
    await roundTrip(session, 'after USR2 and QUIT;');
    expect(running.alive()).toBe(true);

    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
  });

  it('survives every other signal HAProxy survives (PIPE, ALRM, CHLD, URG, WINCH, TTOU then TTIN)', async () => {
    const running = await runEpoxy();
    const session = await openSession(running.port);
    await roundTrip(session, 'before;');
    for (const signal of ['SIGPIPE', 'SIGALRM', 'SIGCHLD', 'SIGURG', 'SIGWINCH'] as const) running.child.kill(signal);
    // A marker after them: its dump means they were all delivered.
    running.child.kill('SIGHUP');
    await waitForCount(running, 'SIGHUP received', 1);
    running.child.kill('SIGTTOU');
    await waitForCount(running, 'Proxy web paused.', 1);
    running.child.kill('SIGTTIN');
    await waitForCount(running, 'Proxy web resumed.', 1);
    await roundTrip(session, 'after;');
    // Resumed listeners accept again.
    const second = await openSession(running.port);
    await roundTrip(second, 'new session;');
    expect(running.alive()).toBe(true);
    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
  });
});
