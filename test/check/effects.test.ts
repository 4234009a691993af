/**
 * What a change of health state does to sessions and weights: `on-marked-down
 * shutdown-sessions` closes the server's sessions, `on-marked-up shutdown-backup-sessions`
 * closes the backups' when an active server is back, `slowstart` ramps a returning server's
 * share of new sessions. Checks here go to a separate port (`port`), so that a check can fail
 * while the server's sessions stay up.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { start } from '../../src/runtime/start.js';
import { freePort, waitFor } from '../helpers/sockets.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A server answering its name to anything and keeping the connection (so sessions stay open). */
async function server(name: string): Promise<number> {
  const sockets = new Set<Socket>();
  const s: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.on('data', () => socket.write(name));
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        s.close(() => resolve());
      }),
  );
  return (s.address() as { port: number }).port;
}

/** A port health checks succeed on while `up` is true (it listens), and fail on otherwise. */
async function checkPort(): Promise<{ port: number; down: () => Promise<void>; up: () => Promise<void> }> {
  const port = await freePort();
  let listener: Server | null = null;
  const up = async (): Promise<void> => {
    listener = createServer((s) => s.destroy());
    await new Promise<void>((resolve) => listener!.listen(port, '127.0.0.1', resolve));
  };
  const down = async (): Promise<void> => {
    const l = listener;
    listener = null;
    if (l) await new Promise<void>((resolve) => l.close(() => resolve()));
  };
  await up();
  cleanups.push(down);
  return { port, up, down };
}

/** A session: connects, says hello, keeps the connection; `name` is who answered, `closed` when the proxy closed it. */
async function session(port: number): Promise<{ name: () => string; closed: () => boolean }> {
  const socket = netConnect(port, '127.0.0.1');
  let text = '';
  let closed = false;
  socket.on('data', (c: Buffer) => (text += c.toString()));
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  socket.write('hello');
  cleanups.push(() => void socket.destroy());
  await waitFor(() => text !== '' || closed, 'an answer');
  return { name: () => text, closed: () => closed };
}

async function proxy(lines: string[]): Promise<{ port: number; log: string[] }> {
  const port = await freePort();
  const log: string[] = [];
  const text = ['defaults', '    mode tcp', '    timeout connect 1s', '    timeout client 30s', '    timeout server 30s', 'listen app', `    bind 127.0.0.1:${port}`, ...lines.map((l) => `    ${l}`), ''].join('\n');
  const running = await start(parseConfig([{ name: 'effects.cfg', text }], { env: {} }), { log: { alert: () => {}, warning: (m) => log.push(m), notice: () => {} } });
  cleanups.push(() => running.kill());
  return { port, log };
}

describe('effects of a state change', () => {
  it('on-marked-down shutdown-sessions closes the sessions of a server marked DOWN; without it they stay', async () => {
    const a = await server('a');
    const b = await server('b');
    const aCheck = await checkPort();
    const bCheck = await checkPort();
    const { port, log } = await proxy([
      `server a 127.0.0.1:${a} check port ${aCheck.port} inter 100 rise 1 fall 1 on-marked-down shutdown-sessions`,
      `server b 127.0.0.1:${b} check port ${bCheck.port} inter 100 rise 1 fall 1`,
    ]);
    const sessions = [await session(port), await session(port)];
    expect(sessions.map((s) => s.name()).sort()).toEqual(['a', 'b']);
    const onA = sessions.find((s) => s.name() === 'a')!;
    const onB = sessions.find((s) => s.name() === 'b')!;
    await aCheck.down();
    await bCheck.down();
    await waitFor(() => log.some((l) => l.startsWith('Server app/a is DOWN')) && log.some((l) => l.startsWith('Server app/b is DOWN')), 'both DOWN');
    await waitFor(() => onA.closed(), "a's session to be closed");
    expect(log.find((l) => l.startsWith('Server app/a is DOWN'))).toContain('1 sessions active');
    expect(onB.closed()).toBe(false);
  });

  it('on-marked-up shutdown-backup-sessions closes the backup sessions when an active server comes back', async () => {
    const a = await server('a');
    const z = await server('z');
    const aCheck = await checkPort();
    const { port, log } = await proxy([
      `server a 127.0.0.1:${a} check port ${aCheck.port} inter 100 rise 1 fall 1 on-marked-up shutdown-backup-sessions`,
      `server z 127.0.0.1:${z} backup`,
    ]);
    await aCheck.down();
    await waitFor(() => log.some((l) => l.startsWith('Server app/a is DOWN')), 'a DOWN');
    const onBackup = await session(port);
    expect(onBackup.name()).toBe('z');
    await aCheck.up();
    await waitFor(() => log.some((l) => l.startsWith('Server app/a is UP')), 'a UP');
    await waitFor(() => onBackup.closed(), 'the backup session to be closed');
    expect((await session(port)).name()).toBe('a');
  });

  it('slowstart ramps the share of new sessions of a server coming back', async () => {
    const a = await server('a');
    const b = await server('b');
    const aCheck = await checkPort();
    const { port, log } = await proxy([`server a 127.0.0.1:${a} weight 10 check port ${aCheck.port} inter 100 rise 1 fall 1 slowstart 4s`, `server b 127.0.0.1:${b} weight 10`]);
    await aCheck.down();
    await waitFor(() => log.some((l) => l.startsWith('Server app/a is DOWN')), 'a DOWN');
    await aCheck.up();
    await waitFor(() => log.some((l) => l.startsWith('Server app/a is UP')), 'a UP');
    const upAt = Date.now();
    const share = async (n: number): Promise<number> => {
      let onA = 0;
      for (let i = 0; i < n; i++) if ((await session(port)).name() === 'a') onA++;
      return onA / n;
    };
    const early = await share(20);
    const earlyDone = Date.now() - upAt;
    await waitFor(() => Date.now() - upAt > 4200, 'the end of the ramp');
    const late = await share(20);
    // Early, a's weight is a fraction of b's (at most 10 × elapsed / 4 s); at the end, equal.
    expect(earlyDone, 'the early sample was taken early in the ramp').toBeLessThan(1500);
    expect(early).toBeLessThan(0.35);
    expect(late).toBeGreaterThanOrEqual(0.4);
    expect(late).toBeGreaterThan(early);
  });
});
