/**
 * start() as a library: a bind failure a program can act on (errno, address, the `bind` line),
 * and no process-wide side effect it did not ask for (signal listeners, stderr).
 */
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../src/config/diagnostics.js';
import { parseConfig } from '../../src/config/index.js';
import { EpoxySystemError, ErrorCodes } from '../../src/errors.js';
import type { ProxyLog } from '../../src/proxy/proxy-types.js';
import { BindError } from '../../src/runtime/bind-error.js';
import { start } from '../../src/runtime/start.js';
import { HANDLED_SIGNALS } from '../../src/signal/signal-types.js';
import { freePort } from '../helpers/sockets.js';

const holders: Server[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const holder of holders.splice(0)) await new Promise<void>((resolve) => holder.close(() => resolve()));
});

/** A port some other socket listens on (Node sets no SO_REUSEPORT: our bind must fail). */
async function takenPort(): Promise<number> {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  holders.push(holder);
  return (holder.address() as { port: number }).port;
}

function config(lines: string[]) {
  return parseConfig([{ name: 'lib.cfg', text: lines.join('\n') + '\n' }], { env: {} });
}

const DEFAULTS = ['defaults', '    mode tcp', '    timeout connect 1s', '    timeout client 1s', '    timeout server 1s'];

function recordingLog(): ProxyLog & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    alert: (m) => lines.push(`ALERT ${m}`),
    warning: (m) => lines.push(`WARNING ${m}`),
    notice: (m) => lines.push(`NOTICE ${m}`),
  };
}

describe('start() with a port in use', () => {
  it('rejects with the errno, the address and the file:line of the bind line', async () => {
    const taken = await takenPort();
    const free = await freePort();
    const log = recordingLog();
    const cfg = config([
      ...DEFAULTS, // lines 1-5
      'frontend fe', // 6
      `    bind 127.0.0.1:${free}`, // 7
      `    bind 127.0.0.1:${taken}`, // 8
      '    default_backend be', // 9
      'backend be', // 10
      '    server a 127.0.0.1:1', // 11
    ]);
    const error = await start(cfg, { log }).then(
      () => expect.unreachable('start() should have failed'),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BindError);
    expect(error).toBeInstanceOf(ConfigError);
    const bind = error as BindError;
    expect(bind.code).toBe(ErrorCodes.CONFIG);
    expect(bind).toMatchObject({
      errnoCode: 'EADDRINUSE',
      errno: -98,
      syscall: 'bind',
      address: '127.0.0.1',
      port: taken,
      proxy: 'fe',
      file: 'lib.cfg',
      line: 8,
      keyword: 'bind',
    });
    expect(bind.cause).toBeInstanceOf(EpoxySystemError);
    expect((bind.cause as EpoxySystemError).code).toBe('EADDRINUSE');
    expect(bind.message).toBe(`Binding [lib.cfg:8] for frontend fe: cannot bind socket (Address already in use) for [127.0.0.1:${taken}]`);
    expect(bind.errors).toHaveLength(1);
    // The alert is the message, as HAProxy 2.6 words it.
    expect(log.lines).toContain(`ALERT ${bind.message}`);
    // Nothing is left listening: the free port's listener was closed with the failure.
    const probe = createServer();
    await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(free, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  });

  it('lists every failing listener, and names the object path for a typed object', async () => {
    const taken = await takenPort();
    const error = (await start({
      defaults: { mode: 'tcp', timeout: { connect: '1s', client: '1s', server: '1s' } },
      listen: { web: { bind: [`127.0.0.1:${taken}`, `127.0.0.1:${taken}`], servers: [{ name: 'a', address: '127.0.0.1:1' }] } },
    }).catch((e: unknown) => e)) as BindError;
    expect(error).toBeInstanceOf(BindError);
    expect(error.errors.map((e) => [e.proxy, e.errnoCode, e.port])).toEqual([
      ['web', 'EADDRINUSE', taken],
      ['web', 'EADDRINUSE', taken],
    ]);
    expect(error.file).toBe('<object>');
    expect(error.path).toMatch(/^listen\.web\.bind/);
    expect(error.message).toContain(`] for proxy web: cannot bind socket (Address already in use) for [127.0.0.1:${taken}]`);
  });
});

describe('start() as a library', () => {
  it('installs no signal listener and writes nothing to stderr or stdout, unless asked', async () => {
    const signals = [...HANDLED_SIGNALS, 'SIGPIPE'] as const;
    const before = signals.map((s) => process.listenerCount(s));
    const stderr = vi.spyOn(process.stderr, 'write');
    const stdout = vi.spyOn(process.stdout, 'write');
    const port = await freePort();
    const running = await start(config([...DEFAULTS, 'listen web', `    bind 127.0.0.1:${port}`, '    server a 127.0.0.1:1']));
    expect(signals.map((s) => process.listenerCount(s))).toEqual(before);
    await running.stop();
    // A failure is silent too: it is in the rejection.
    const taken = await takenPort();
    await expect(start(config([...DEFAULTS, 'listen web', `    bind 127.0.0.1:${taken}`, '    server a 127.0.0.1:1']))).rejects.toThrow(BindError);
    expect(stderr).not.toHaveBeenCalled();
    expect(stdout).not.toHaveBeenCalled();

    // signals: true installs them for the run, and gives them back after.
    const opted = await start(config([...DEFAULTS, 'listen web', `    bind 127.0.0.1:${port}`, '    server a 127.0.0.1:1']), { signals: true });
    expect(signals.map((s) => process.listenerCount(s))).toEqual(signals.map((s, i) => before[i]! + (s === 'SIGPIPE' ? 0 : 1)));
    await opted.stop();
    expect(signals.map((s) => process.listenerCount(s))).toEqual(before);
    expect(stderr).not.toHaveBeenCalled();
  });

  it("log: 'stderr' prints HAProxy-style lines there", async () => {
    const written: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const port = await freePort();
    const running = await start(config([...DEFAULTS, 'listen web', `    bind 127.0.0.1:${port}`, '    server a 127.0.0.1:1']), { log: 'stderr' });
    await running.stop();
    vi.restoreAllMocks();
    expect(written.join('')).toMatch(/^\[NOTICE\]   \(\d+\) : Proxy web started\.$/m);
  });
});
