/**
 * Layer-4 health checks: HAProxy's counter (a server starts UP and falls at the first failure,
 * then needs `fall` failures in a row once it has been fully up, and `rise` successes to come
 * back), the pacing (`inter`, `fastinter`, `downinter`), and on real sockets: a server that
 * stops listening is DOWN and skipped, a backup takes over, and the server is UP again once it
 * listens.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SocketAddress } from '../../src/address.js';
import { HealthChecker, type CheckResult } from '../../src/check/health-check.js';
import { runCheck as connectCheck } from '../../src/check/protocol-check.js';
import { parseConfig } from '../../src/config/index.js';
import type { BackendRuntime, ServerCheck, ServerRuntime } from '../../src/session/session-types.js';
import { start, type RunningProxy } from '../../src/runtime/start.js';
import { answerOf, echoOnce } from '../helpers/load.js';
import { freePort, refusedPort, waitFor } from '../helpers/sockets.js';
import { native } from '../../src/native.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function check(overrides: Partial<ServerCheck> = {}): ServerCheck {
  return {
    address: SocketAddress.from('ipv4', '127.0.0.1', 1),
    fixedAddress: false,
    port: null,
    inter: 1000,
    fastinter: 100,
    downinter: 5000,
    rise: 2,
    fall: 3,
    timeout: 1000,
    connectTimeout: 1000,
    program: { kind: 'connect' },
    sendProxy: 0,
    source: null,
    spread: 0,
    ...overrides,
  };
}

function backendWith(servers: Array<{ name: string; backup?: boolean; check?: ServerCheck | null }>): BackendRuntime {
  return {
    name: 'be',
    servers: servers.map((s, i) => ({ name: s.name, id: i + 1, address: null, weight: 1, maxconn: 0, maxqueue: 0, backup: s.backup ?? false, admin: 'ready', health: 'up', cur: 0, check: s.check === undefined ? check() : s.check }) as unknown as ServerRuntime),
  } as unknown as BackendRuntime;
}

const OK: CheckResult = { status: 'L4OK', reason: 'Layer4 check passed', code: null, info: null, durationMs: 0 };
const REFUSED: CheckResult = { status: 'L4CON', reason: 'Layer4 connection problem', code: null, info: 'Connection refused', durationMs: 0 };

describe('HealthChecker (scripted results, fake time)', () => {
  it("follows HAProxy's counter and pacing: down at the first failure from the start, rise to come up, fall once fully up", async () => {
    vi.useFakeTimers();
    const backend = backendWith([{ name: 's1' }]);
    const server = backend.servers[0]!;
    const script = [REFUSED, OK, OK, OK, OK, REFUSED, REFUSED, REFUSED];
    const calls: number[] = [];
    const lines: string[] = [];
    const start = Date.now();
    const checker = new HealthChecker([backend], {
      log: { alert: (m) => lines.push(`ALERT ${m}`), warning: (m) => lines.push(m), notice: () => {} },
      probe: async () => {
        calls.push(Date.now() - start);
        return script.shift() ?? OK;
      },
    });
    checker.start();
    await vi.advanceTimersByTimeAsync(20_000);
    checker.stop();
    // first check at once (one server: no spread); down at the first failure; then downinter
    // (5 s) while fully down, fastinter (100 ms) while rising; inter (1 s) once fully up;
    // fastinter while falling; DOWN after 3 (fall) failures; downinter again.
    expect(calls.slice(0, 9)).toEqual([0, 5000, 5100, 6100, 7100, 8100, 8200, 8300, 13300]);
    expect(lines).toEqual([
      'Server be/s1 is DOWN, reason: Layer4 connection problem, info: "Connection refused", check duration: 0ms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.',
      "ALERT backend 'be' has no server available!",
      'Server be/s1 is UP, reason: Layer4 check passed, check duration: 0ms. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.',
      'Server be/s1 is DOWN, reason: Layer4 connection problem, info: "Connection refused", check duration: 0ms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.',
      "ALERT backend 'be' has no server available!",
      // the script ran out: successes from 13.3 s bring it back after rise (2)
      'Server be/s1 is UP, reason: Layer4 check passed, check duration: 0ms. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.',
    ]);
    expect(server.health).toBe('up');
    expect(calls[9]).toBe(13400);
  });

  it('spreads first checks over inter, carries states over, and counts backups apart', async () => {
    vi.useFakeTimers();
    const backend = backendWith([{ name: 'a' }, { name: 'b' }, { name: 'c', backup: true }, { name: 'd', check: null }]);
    const calls: string[] = [];
    const lines: string[] = [];
    const checker = new HealthChecker([backend], {
      log: { alert: () => {}, warning: (m) => lines.push(m), notice: () => {} },
      initial: new Map([['be/b', 'down']]),
      probe: async (c) => {
        calls.push(String(Date.now()));
        return c === backend.servers[2]!.check ? REFUSED : OK;
      },
    });
    expect(checker.size).toBe(3);
    expect(backend.servers[1]!.health).toBe('down');
    checker.start();
    await vi.advanceTimersByTimeAsync(999);
    // First checks spread over inter: a at 0, b at 333, c at 666; a and b again after fastinter
    // (a climbing to fully up, b rising from the carried-over DOWN).
    expect(calls).toEqual(['0', '100', '333', '433', '666'].map((t) => String(Number(calls[0]) + Number(t))));
    checker.stop();
    expect(lines).toEqual([
      'Server be/b is UP, reason: Layer4 check passed, check duration: 0ms. 3 active and 1 backup servers online. 0 sessions requeued, 0 total in queue.',
      'Backup Server be/c is DOWN, reason: Layer4 connection problem, info: "Connection refused", check duration: 0ms. 3 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.',
    ]);
    expect(checker.states()).toEqual(new Map([['be/a', 'up'], ['be/b', 'up'], ['be/c', 'down']]));
  });
});

describe('connectCheck() on loopback', () => {
  it('L4OK on a listening port, L4CON "Connection refused" on a closed one, L4TOUT when nothing answers in time', async () => {
    const server = createServer((s) => s.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as { port: number }).port;
    const ok = await connectCheck(check({ address: SocketAddress.from('ipv4', '127.0.0.1', port) }));
    expect(ok).toMatchObject({ status: 'L4OK', reason: 'Layer4 check passed', info: null });
    // When it connected, for the checker's statistics: within the check, and absent when refused.
    expect(ok.connectedMs).toBeGreaterThanOrEqual(0);
    expect(ok.connectedMs).toBeLessThanOrEqual(ok.durationMs);
    const held = refusedPort();
    cleanups.push(() => void native.close(held.fd));
    const closed = held.port;
    const refused = await connectCheck(check({ address: SocketAddress.from('ipv4', '127.0.0.1', closed) }));
    expect(refused).toMatchObject({ status: 'L4CON', reason: 'Layer4 connection problem', info: 'Connection refused' });
    expect(refused).not.toHaveProperty('connectedMs');
    // 192.0.2.1 (TEST-NET-1) is routed nowhere here: the SYN goes unanswered until the timeout.
    const timedOut = await connectCheck(check({ address: SocketAddress.from('ipv4', '192.0.2.1', 9), timeout: 200, connectTimeout: 200 }));
    expect(timedOut.status === 'L4TOUT' || timedOut.status === 'L4CON').toBe(true);
    if (timedOut.status === 'L4TOUT') expect(timedOut).toMatchObject({ reason: 'Layer4 timeout', info: null });
  });
});

/** A TCP server that answers `name` to every connection and counts them. */
async function namedServer(name: string, port = 0): Promise<{ port: number; accepted: () => number; close: () => Promise<void> }> {
  let accepted = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.on('data', () => socket.end(name));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  cleanups.push(() => (server.listening ? close() : undefined));
  return { port: (server.address() as { port: number }).port, accepted: () => accepted, close };
}

describe('health checks in a running proxy (real servers on loopback)', () => {
  async function run(servers: string[]): Promise<{ proxy: RunningProxy; port: number; lines: string[] }> {
    const port = await freePort();
    const text = [
      'defaults',
      '    mode tcp',
      '    timeout connect 1s',
      '    timeout client 5s',
      '    timeout server 5s',
      '    option redispatch',
      'listen app',
      `    bind 127.0.0.1:${port}`,
      ...servers.map((s) => `    ${s}`),
      '',
    ].join('\n');
    const lines: string[] = [];
    const proxy = await start(parseConfig([{ name: 'checks.cfg', text }], { env: {} }), {
      log: { alert: (m) => lines.push(`ALERT ${m}`), warning: (m) => lines.push(m), notice: () => {} },
    });
    cleanups.push(() => proxy.kill());
    return { proxy, port, lines };
  }

  it('a server that stops listening is DOWN within fall × inter and gets no new session; listening again, it is UP after rise × inter', async () => {
    const a = await namedServer('a');
    const b = await namedServer('b');
    const { port, lines } = await run([`server a 127.0.0.1:${a.port} check inter 100 rise 2 fall 2`, `server b 127.0.0.1:${b.port} check inter 100`]);
    expect(new Set(await Promise.all([1, 2, 3, 4].map(() => answerOf(port))))).toEqual(new Set(['a', 'b']));
    await a.close();
    await waitFor(() => lines.some((l) => l.startsWith('Server app/a is DOWN')), `a DOWN (${lines.join('\n')})`);
    expect(lines.find((l) => l.startsWith('Server app/a is DOWN'))).toMatch(
      /^Server app\/a is DOWN, reason: Layer4 connection problem, info: "Connection refused", check duration: \d+ms\. 1 active and 0 backup servers left\. 0 sessions active, 0 requeued, 0 remaining in queue\.$/,
    );
    const bBefore = b.accepted();
    const answers = [];
    for (let i = 0; i < 10; i++) answers.push(await answerOf(port));
    expect(answers).toEqual(Array(10).fill('b'));
    expect(b.accepted() - bBefore).toBeGreaterThanOrEqual(10);
    const again = await namedServer('a', a.port);
    await waitFor(() => lines.some((l) => l.startsWith('Server app/a is UP')), `a UP (${lines.join('\n')})`);
    expect(lines.find((l) => l.startsWith('Server app/a is UP'))).toMatch(
      /^Server app\/a is UP, reason: Layer4 check passed, check duration: \d+ms\. 2 active and 0 backup servers online\. 0 sessions requeued, 0 total in queue\.$/,
    );
    const after = [];
    for (let i = 0; i < 4; i++) after.push(await answerOf(port));
    expect(after).toContain('a');
    expect(again.accepted()).toBeGreaterThan(0);
  });

  it('a backup takes over when every active server is down, and hands back when one is up', async () => {
    const a = await namedServer('a');
    const backup = await namedServer('backup');
    const { port, lines } = await run([`server a 127.0.0.1:${a.port} check inter 100 rise 1 fall 1`, `server z 127.0.0.1:${backup.port} check inter 100 backup`]);
    expect(await answerOf(port)).toBe('a');
    await a.close();
    await waitFor(() => lines.some((l) => l.startsWith('Server app/a is DOWN')), 'a DOWN');
    expect(lines.find((l) => l.startsWith('Server app/a is DOWN'))).toContain('0 active and 1 backup servers left.');
    expect(await answerOf(port)).toBe('backup');
    expect(await answerOf(port)).toBe('backup');
    await namedServer('a', a.port);
    await waitFor(() => lines.some((l) => l.startsWith('Server app/a is UP')), 'a UP');
    expect(await answerOf(port)).toBe('a');
  });

  it('every server down: the alert, then sessions fail fast as with no server', async () => {
    const a = await namedServer('a');
    const { port, lines } = await run([`server a 127.0.0.1:${a.port} check inter 100 fall 1`]);
    await a.close();
    await waitFor(() => lines.includes("ALERT backend 'app' has no server available!"), 'the no-server alert');
    await expect(echoOnce(port, Buffer.from('x'))).rejects.toThrow();
  });
});

describe('observe layer4 (health analysis of the traffic)', () => {
  function observed(onError: 'fastinter' | 'fail-check' | 'sudden-death' | 'mark-down'): { backend: BackendRuntime; checker: HealthChecker; lines: string[]; calls: number[] } {
    const backend = backendWith([{ name: 's1', check: check({ inter: 10_000, fastinter: 100, rise: 2, fall: 3 }) }]);
    (backend.servers[0] as { observe?: unknown }).observe = { errorLimit: 3, onError };
    const lines: string[] = [];
    const calls: number[] = [];
    const start = Date.now();
    const checker = new HealthChecker([backend], {
      log: { alert: () => {}, warning: (m) => lines.push(m), notice: () => {} },
      initial: new Map([['be/s1', 'up']]), // fully up: health = rise + fall - 1
      probe: async () => {
        calls.push(Date.now() - start);
        return OK;
      },
    });
    return { backend, checker, lines, calls };
  }

  it('mark-down: error-limit failures in a row mark a fully up server DOWN at once, with HAProxy line; a success in between resets the count', async () => {
    vi.useFakeTimers();
    const { backend, checker, lines } = observed('mark-down');
    checker.start();
    await vi.advanceTimersByTimeAsync(1);
    checker.observe('be', 's1', false);
    checker.observe('be', 's1', false);
    checker.observe('be', 's1', true);
    checker.observe('be', 's1', false);
    checker.observe('be', 's1', false);
    expect(backend.servers[0]!.health).toBe('up');
    checker.observe('be', 's1', false);
    expect(backend.servers[0]!.health).toBe('down');
    expect(lines).toEqual([
      'Server be/s1 is DOWN, reason: Health analyze, info: "Detected 3 consecutive errors, last one was: L4 unsuccessful connection". 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.',
    ]);
    checker.stop();
  });

  it('fail-check counts as one failed check; sudden-death leaves one failure before DOWN; fastinter only brings the next check forward', async () => {
    vi.useFakeTimers();
    const failCheck = observed('fail-check');
    failCheck.checker.start();
    await vi.advanceTimersByTimeAsync(1);
    for (let i = 0; i < 6; i++) failCheck.checker.observe('be', 's1', false); // two analyses: health 4 -> 2
    expect(failCheck.backend.servers[0]!.health).toBe('up');
    for (let i = 0; i < 3; i++) failCheck.checker.observe('be', 's1', false); // a third: DOWN (fall 3)
    expect(failCheck.backend.servers[0]!.health).toBe('down');
    failCheck.checker.stop();

    const sudden = observed('sudden-death');
    sudden.checker.start();
    await vi.advanceTimersByTimeAsync(1);
    for (let i = 0; i < 3; i++) sudden.checker.observe('be', 's1', false);
    expect(sudden.backend.servers[0]!.health).toBe('up');
    for (let i = 0; i < 3; i++) sudden.checker.observe('be', 's1', false);
    expect(sudden.backend.servers[0]!.health).toBe('down');
    sudden.checker.stop();

    const fast = observed('fastinter');
    fast.checker.start();
    await vi.advanceTimersByTimeAsync(1); // first check at 0; the next would be at 10 s
    for (let i = 0; i < 3; i++) fast.checker.observe('be', 's1', false);
    await vi.advanceTimersByTimeAsync(200);
    expect(fast.calls).toEqual([0, 101]);
    expect(fast.backend.servers[0]!.health).toBe('up');
    fast.checker.stop();
  });
});

describe('HealthChecker.stats(): every check recorded as a connection attempt', () => {
  it('scripted: refused is an attempt; passed and layer-7 failures are connections, timed from their connect to their end', async () => {
    vi.useFakeTimers();
    const backend = backendWith([{ name: 's1', check: check({ inter: 1000, fastinter: 1000, downinter: 1000 }) }]);
    const WRONG: CheckResult = { status: 'L7STS', reason: 'Layer7 wrong status', code: 503, info: 'Service Unavailable', durationMs: 40, connectedMs: 10 };
    const SLOW_OK: CheckResult = { ...OK, durationMs: 40, connectedMs: 15 };
    const script = [REFUSED, SLOW_OK, WRONG];
    const checker = new HealthChecker([backend], {
      log: { alert: () => {}, warning: () => {}, notice: () => {} },
      probe: async () => {
        // Each check takes 40 ms of (fake) time, as its durationMs says.
        await new Promise((resolve) => setTimeout(resolve, 40));
        return script.shift() ?? OK;
      },
    });
    const created = Date.now();
    checker.start();
    await vi.advanceTimersByTimeAsync(20);
    // The first check is under way: not counted before it ends.
    expect(checker.stats().get('be/s1')).toMatchObject({ attempts: 0, successes: 0, checking: true, creationTime: created });
    await vi.advanceTimersByTimeAsync(20);
    expect(checker.stats().get('be/s1')).toMatchObject({ attempts: 1, successes: 0, checking: false, lastConnected: null, lastError: 'Layer4 connection problem, info: "Connection refused"' });
    // The next check starts an interval (1 s) after the first ended: 1040 to 1080, connected at 1055.
    await vi.advanceTimersByTimeAsync(1040);
    expect(checker.stats().get('be/s1')).toMatchObject({ attempts: 2, successes: 1, totalConnectedMs: 25, lastConnected: created + 1055, lastDisconnected: created + 1080, lastError: null });
    // The third: 2080 to 2120, connected at 2090.
    await vi.advanceTimersByTimeAsync(1040);
    checker.stop();
    expect(checker.stats()).toEqual(
      new Map([
        [
          'be/s1',
          {
            creationTime: created,
            attempts: 3,
            successes: 2,
            totalConnectedMs: 25 + 30,
            lastConnected: created + 2090,
            lastDisconnected: created + 2120,
            lastError: 'Layer7 wrong status, code: 503, info: "Service Unavailable"',
            checking: false,
          },
        ],
      ]),
    );
  });

  it('a check cut short by stop() is not counted', async () => {
    vi.useFakeTimers();
    const backend = backendWith([{ name: 's1' }]);
    const checker = new HealthChecker([backend], {
      log: { alert: () => {}, warning: () => {}, notice: () => {} },
      probe: (_check, signal) => new Promise((resolve) => signal.addEventListener('abort', () => resolve(REFUSED))),
    });
    checker.start();
    await vi.advanceTimersByTimeAsync(1);
    expect(checker.stats().get('be/s1')).toMatchObject({ attempts: 0, checking: true });
    checker.stop();
    await vi.advanceTimersByTimeAsync(1);
    expect(checker.stats().get('be/s1')).toMatchObject({ attempts: 0, successes: 0, lastError: null });
  });
});

describe('HealthChecker.stats() with real checks on loopback', () => {
  const quiet = { alert: () => {}, warning: () => {}, notice: () => {} };

  /**
   * Runs real checks of `program` against 127.0.0.1:`port` until at least `n` have ended, stops
   * them with none under way, and returns the server's stats and how many checks ran.
   */
  async function checkUntil(port: number, n: number, program: ServerCheck['program'] = { kind: 'connect' }) {
    const backend = backendWith([{ name: 's1', check: check({ address: SocketAddress.from('ipv4', '127.0.0.1', port), inter: 30, fastinter: 10, downinter: 10, program }) }]);
    let ran = 0;
    const checker = new HealthChecker([backend], {
      log: quiet,
      probe: (c, signal) => {
        ran++;
        return connectCheck(c, signal);
      },
    });
    cleanups.push(() => checker.stop());
    checker.start();
    // Stopped in the same turn as the condition is seen to hold: no check can start in between.
    await waitFor(() => {
      const stats = checker.stats().get('be/s1')!;
      return stats.attempts >= n && !stats.checking;
    }, `${n} checks`);
    checker.stop();
    return { stats: checker.stats().get('be/s1')!, ran };
  }

  it('against a refusing port: every check an attempt, none a success, never connected', async () => {
    const held = refusedPort();
    cleanups.push(() => void native.close(held.fd));
    const { stats, ran } = await checkUntil(held.port, 4);
    expect(stats.attempts).toBe(ran);
    expect(stats.attempts).toBeGreaterThanOrEqual(4);
    expect(stats).toMatchObject({ successes: 0, totalConnectedMs: 0, lastConnected: null, lastDisconnected: null, lastError: 'Layer4 connection problem, info: "Connection refused"' });
  });

  it('against a listening port: every attempt a success', async () => {
    const server = await namedServer('a');
    const { stats, ran } = await checkUntil(server.port, 4);
    expect(stats.attempts).toBe(ran);
    expect(stats.attempts).toBeGreaterThanOrEqual(4);
    expect(stats.successes).toBe(stats.attempts);
    expect(stats.lastError).toBeNull();
    expect(stats.lastConnected).not.toBeNull();
    expect(stats.lastDisconnected!).toBeGreaterThanOrEqual(stats.lastConnected!);
    // Four real checks were found UP by this server.
    expect(server.accepted()).toBeGreaterThanOrEqual(stats.attempts);
  });

  it('a server that connects and then fails at layer 7: connected every time, the failure recorded', async () => {
    const sockets = new Set<Socket>();
    const redis = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => socket.destroy());
      socket.on('close', () => sockets.delete(socket));
      socket.on('data', () => socket.end('-ERR nope\r\n'));
    });
    await new Promise<void>((resolve) => redis.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          redis.close(() => resolve());
        }),
    );
    const { stats, ran } = await checkUntil((redis.address() as { port: number }).port, 3, { kind: 'redis' });
    expect(stats.attempts).toBe(ran);
    expect(stats.successes).toBe(stats.attempts);
    expect(stats.lastError).toBe('Layer7 wrong status, code: 0, info: "-ERR nope"');
  });
});
