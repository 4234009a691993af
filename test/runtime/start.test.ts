/** start() with a typed object, as `import { start } from 'epoxy'` users call it. */
import { createServer, connect as netConnect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { configFromObject } from '../../src/config/object.js';
import { ConfigError } from '../../src/config/diagnostics.js';
import { parseConfig } from '../../src/config/index.js';
import { EpoxyError, ErrorCodes } from '../../src/errors.js';
import { native } from '../../src/native.js';
import { start, type RunningProxy } from '../../src/runtime/start.js';
import { freePort } from '../helpers/sockets.js';

function roundTrip(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1', () => socket.end(text));
    let data = '';
    socket.on('data', (c) => (data += c.toString()));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
}

describe('start(object)', () => {
  it('runs frontends and backends from a typed object, with ACL routing, then stops softly', async () => {
    // resume(): a socket nobody reads never sees the peer's FIN and would stay open.
    const answer = (name: string) => createServer((s) => s.resume().end(name));
    const a = answer('a');
    const b = answer('b');
    for (const s of [a, b]) await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const port = await freePort();
    const lines: string[] = [];
    const running = await start(
      {
        defaults: { mode: 'tcp', option: { tcplog: true }, timeout: { connect: '2s', client: '10s', server: '10s' } },
        frontends: {
          fe: {
            bind: [`127.0.0.1:${port}`],
            acl: { local: { criterion: 'src', values: ['127.0.0.0/8'] } },
            useBackend: [{ backend: 'second', if: 'local' }],
            defaultBackend: 'first',
          },
        },
        backends: {
          first: { servers: [{ name: 'a', address: `127.0.0.1:${(a.address() as { port: number }).port}` }] },
          second: { servers: [{ name: 'b', address: `127.0.0.1:${(b.address() as { port: number }).port}` }] },
        },
      },
      { quiet: true, signals: false, sessionLog: (line) => lines.push(line) },
    );
    try {
      expect(running.addresses.get('fe')).toEqual([`127.0.0.1:${port}`]);
      expect(await roundTrip(port, 'hi')).toBe('b');
      expect(running.runtime.backends.get('second')!.counters.get('sessions')).toBe(1);
    } finally {
      await running.stop();
      expect(running.loop.isRunning).toBe(false);
      for (const s of [a, b]) await new Promise<void>((resolve) => s.close(() => resolve()));
    }
    expect(lines.some((l) => l.includes(' fe second/b '))).toBe(true);
  });

  it('refuses nbthread above 1: workers are processes, started by the epoxy command', async () => {
    await expect(start(parseConfig([{ name: 't.cfg', text: 'global\n    nbthread 2\nlisten x\n    bind 127.0.0.1:1\n    server s 127.0.0.1:1\n' }], { env: {} }))).rejects.toMatchObject({
      code: ErrorCodes.CONFIG,
      message: expect.stringContaining("'nbthread 2' runs that many worker processes under a master"),
    });
  });

  it('refuses an invalid object with the same checks as a file', () => {
    expect(() => configFromObject({ frontends: { fe: { bind: ['127.0.0.1:1'], defaultBackend: 'missing' } } })).toThrow(ConfigError);
  });
});

describe('start() and the file-descriptor limit (maxconn sized as HAProxy sizes it)', () => {
  /**
   * Starts (then stops) a proxy under `ulimit-n <limit>` with the given global lines; the limit
   * is this test file's own process's (forked pool), put back afterwards.
   */
  async function startUnder(limit: number, global: string, defaults = ''): Promise<RunningProxy['limits'] & { listenerMaxconn: number }> {
    const saved = native.getNofileLimit();
    const port = await freePort();
    const text = `global\n    ulimit-n ${limit}\n${global}defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 10s\n` +
      `    timeout server 10s\n${defaults}listen px\n    bind 127.0.0.1:${port}\n    server s 127.0.0.1:1\n`;
    try {
      const running = await start(parseConfig([{ name: 't.cfg', text }], { env: {} }));
      const listenerMaxconn = running.runtime.proxies[0]!.listeners[0]!.maxconn;
      await running.stop();
      return { ...running.limits, listenerMaxconn };
    } finally {
      native.setNofileLimit(saved.soft, saved.hard);
    }
  }

  async function refusal(limit: number, global: string, defaults = ''): Promise<EpoxyError> {
    const error = await startUnder(limit, global, defaults).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(EpoxyError);
    return error as EpoxyError;
  }

  it('without maxconn, derives it from the limit: two fds a connection after the reserve, and listeners take it', async () => {
    const plan = await startUnder(400, '');
    expect(plan.derived).toBe(true);
    expect(plan.maxsock).toBe(400);
    expect(plan.maxconn).toBe(Math.floor((400 - plan.reserved) / 2));
    expect(plan.maxconn).toBeGreaterThan(0);
    // Not HAProxy 1.x's or epoxy's old per-listener 2000: the global maxconn.
    expect(plan.listenerMaxconn).toBe(plan.maxconn);
  });

  it('with splicing, keeps half an fd per connection for the pipes (maxpipes = maxconn / 4)', async () => {
    const plan = await startUnder(400, '', '    option splice-auto\n');
    expect(plan.maxconn).toBe(Math.floor((400 - plan.reserved) / 2.5));
    expect(plan.maxPipes).toBe(Math.floor(plan.maxconn / 4));
  });

  it("refuses a maxconn the limit cannot cover, naming both numbers in HAProxy's words", async () => {
    // HAProxy 2.6 with maxconn 50000 under a hard limit of 20000, observed:
    // "[haproxy.main()] Cannot raise FD limit to 100017, limit is 20000." and no start.
    const error = await refusal(200, '    maxconn 100\n');
    expect(error.code).toBe('ERR_EPOXY_FD_LIMIT');
    const match = /^\[epoxy\.main\(\)\] Cannot raise FD limit to (\d+), limit is 200\.$/.exec(error.message);
    expect(match, error.message).not.toBeNull();
    const needed = Number(match![1]);
    // Splicing adds two fds per pipe, a pipe per four connections: 2 * 25 more.
    const spliced = await refusal(200, '    maxconn 100\n', '    option splice-auto\n');
    expect(Number(/limit to (\d+)/.exec(spliced.message)![1])).toBe(needed + 50);
  });

  it('accepts a maxconn the limit covers, as configured', async () => {
    const plan = await startUnder(400, '    maxconn 50\n');
    expect(plan).toMatchObject({ derived: false, maxconn: 50, listenerMaxconn: 50 });
  });
});

