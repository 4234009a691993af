/**
 * Health checks under a master: one check per interval per server whatever the number of
 * workers (counted at the server), every worker routing by the same states, and states that
 * survive a reload and a respawn.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { answerOf } from '../helpers/load.js';
import { cli, configText, parseShowProc, startMaster, tempDir, writeFile, type Cleanup } from '../helpers/master.js';
import { freePort, refusedPort, waitFor, waitForAsync } from '../helpers/sockets.js';
import { native } from '../../src/native.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A server that answers its name to a session (bytes received) and counts connections that send nothing (checks). */
async function namedServer(name: string, port = 0): Promise<{ port: number; silent: () => number; close: () => Promise<void> }> {
  let silent = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    let spoke = false;
    socket.on('data', () => {
      spoke = true;
      socket.end(name);
    });
    socket.on('close', () => {
      sockets.delete(socket);
      if (!spoke) silent++;
    });
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  cleanups.push(() => (server.listening ? close() : undefined));
  return { port: (server.address() as { port: number }).port, silent: () => silent, close };
}

async function answers(port: number, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await answerOf(port));
  return out;
}

describe('health checks with several workers', () => {
  it('one check per interval per server, and every worker routes by the states the master found', async () => {
    const a = await namedServer('a');
    const b = await namedServer('b');
    const port = await freePort();
    const dir = tempDir(cleanups);
    const sock = join(dir, 'master.sock');
    const file = writeFile(
      dir,
      'epoxy.cfg',
      configText(['nbthread 2'], ['listen app', `    bind 127.0.0.1:${port}`, `    server a 127.0.0.1:${a.port} check inter 100 rise 1 fall 1`, `    server b 127.0.0.1:${b.port} check inter 100`]),
    );
    const master = await startMaster(cleanups, ['-W', '-S', sock, '-f', file]);
    // Counted at the server over a window: one checker makes ~10 checks a second; a checker per
    // worker would make twice as many.
    const before = a.silent();
    const started = Date.now();
    await waitFor(() => Date.now() - started >= 2000, 'a 2 s window');
    const checks = a.silent() - before;
    const expected = (Date.now() - started) / 100;
    expect(checks, `checks in ${Date.now() - started} ms`).toBeGreaterThan(0);
    // One checker: at most one check per 100 ms (plus rounding at the window's edges); a checker
    // per worker would make about twice as many.
    expect(checks, `checks in ${Date.now() - started} ms`).toBeLessThan(expected * 1.5 + 3);

    await a.close();
    await master.waitForLog('Server app/a is DOWN, reason: Layer4 connection problem');
    // The state travels to the workers over their channels: wait until both route by it.
    const bothDown = async (): Promise<boolean> =>
      (await cli(sock, '@1 show health; @2 show health')).split('\n').filter((l) => l === 'app/a ready down').length === 2;
    await waitForAsync(bothDown, 'both workers to have a down');
    // Both workers have it: 20 sessions, whichever worker takes each, all go to b.
    expect(await answers(port, 20)).toEqual(Array(20).fill('b'));

    // A reload keeps the state: no session to a, and no second DOWN line for it.
    expect(await cli(sock, 'reload')).toBe('Success=1\n');
    expect(await answers(port, 10)).toEqual(Array(10).fill('b'));
    // A respawned worker starts from the master's states too.
    // A worker of the current generation (the old one may still be on its way out).
    const current = parseShowProc(await cli(sock, 'show proc')).filter((r) => r.type === 'worker' && !r.old);
    process.kill(current[0]!.pid, 'SIGKILL');
    await master.waitForLog(/Respawning worker \d of generation 2\./);
    await waitForAsync(async () => parseShowProc(await cli(sock, 'show proc')).filter((r) => r.type === 'worker' && !r.old && r.pid !== current[0]!.pid).length === 2, 'the replacement');
    // Every worker, the replacement included, routes with a DOWN.
    await waitForAsync(bothDown, 'both workers, the replacement included, to have a down');
    expect(await answers(port, 10)).toEqual(Array(10).fill('b'));
    expect(master.stderr().match(/Server app\/a is DOWN/g)).toHaveLength(1);

    // a listens again: UP, announced once, and both workers use it.
    await namedServer('a', a.port);
    await master.waitForLog('Server app/a is UP, reason: Layer4 check passed');
    await waitForAsync(async () => (await cli(sock, '@1 show health; @2 show health')).split('\n').filter((l) => l === 'app/a ready up').length === 2, 'both workers to have a up');
    const after = await answers(port, 20);
    expect(after).toContain('a');
    expect(after).toContain('b');
    // Several phases (a window, a reload, a respawn), each waiting on processes: room for a
    // loaded CI machine.
  }, 90_000);
});

describe('state changes in workers', () => {
  it('on-marked-down shutdown-sessions closes the sessions a worker holds on a server the master marked DOWN', async () => {
    const a = await namedServer('a');
    const b = await namedServer('b');
    // Checks go to a port of their own, closed below while the sessions' port stays open.
    const checkPort = await namedServer('check');
    const port = await freePort();
    const dir = tempDir(cleanups);
    const file = writeFile(
      dir,
      'epoxy.cfg',
      configText(['nbthread 2'], [
        'listen app',
        `    bind 127.0.0.1:${port}`,
        `    server a 127.0.0.1:${a.port} check port ${checkPort.port} inter 100 rise 1 fall 1 on-marked-down shutdown-sessions`,
        `    server b 127.0.0.1:${b.port}`,
        '    balance first',
      ]),
    );
    const sock = join(dir, 'master.sock');
    const master = await startMaster(cleanups, ['-W', '-S', sock, '-f', file]);
    // `balance first`: sessions go to a while it is up; this one stays open (a keeps it: the
    // named server answers and closes only after data, so send nothing).
    const socket = netConnect(port, '127.0.0.1');
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    cleanups.push(() => void socket.destroy());
    await checkPort.close();
    await master.waitForLog('Server app/a is DOWN');
    await waitFor(() => closed, 'the worker to close the session on a');
    // The other worker gets the state over its own channel: once it has it, new sessions go to b.
    await waitForAsync(async () => (await cli(sock, '@1 show health; @2 show health')).split('\n').filter((l) => l === 'app/a ready down').length === 2, 'both workers to have a down');
    expect(await answerOf(port)).toBe('b');
  });
});

describe('observe layer4 with several workers', () => {
  it("the workers' failed connections reach the master, whose health analysis marks the server DOWN for all", async () => {
    const checkPort = await namedServer('check');
    const refused = refusedPort();
    cleanups.push(() => void native.close(refused.fd));
    const refusing = refused.port;
    const b = await namedServer('b');
    const port = await freePort();
    const dir = tempDir(cleanups);
    const file = writeFile(
      dir,
      'epoxy.cfg',
      configText(['nbthread 2'], [
        'listen app',
        `    bind 127.0.0.1:${port}`,
        '    retries 0',
        '    balance first',
        `    server a 127.0.0.1:${refusing} check port ${checkPort.port} inter 10s observe layer4 error-limit 3 on-error mark-down`,
        `    server b 127.0.0.1:${b.port}`,
      ]),
    );
    const sock = join(dir, 'master.sock');
    const master = await startMaster(cleanups, ['-W', '-S', sock, '-f', file]);
    const attempt = (): Promise<void> =>
      new Promise((resolve) => {
        const socket = netConnect(port, '127.0.0.1', () => socket.write('x'));
        // Never wait on one attempt for long: the next one is what the test needs.
        socket.setTimeout(2000, () => socket.destroy());
        socket.on('close', () => resolve());
        socket.on('error', () => resolve());
      });
    // `balance first` sends every session to a while it is up: each one fails, in whichever worker.
    await waitForAsync(async () => {
      await attempt();
      return master.stderr().includes('Server app/a is DOWN, reason: Health analyze, info: "Detected 3 consecutive errors');
    }, 'the master to mark a DOWN');
    await waitForAsync(async () => (await cli(sock, '@1 show health; @2 show health')).split('\n').filter((l) => l === 'app/a ready down').length === 2, 'both workers to have a down');
    expect(await answers(port, 6)).toEqual(Array(6).fill('b'));
  });
});
