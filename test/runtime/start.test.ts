/** start() with a typed object, as `import { start } from 'epoxy'` users call it. */
import { createServer, connect as netConnect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { configFromObject } from '../../src/config/object.js';
import { ConfigError } from '../../src/config/diagnostics.js';
import { parseConfig } from '../../src/config/index.js';
import { native } from '../../src/native.js';
import { start } from '../../src/runtime/start.js';
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
        defaults: { mode: 'tcp', timeout: { connect: '2s', client: '10s', server: '10s' } },
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

  it('refuses an invalid object with the same checks as a file', () => {
    expect(() => configFromObject({ frontends: { fe: { bind: ['127.0.0.1:1'], defaultBackend: 'missing' } } })).toThrow(ConfigError);
  });
});

describe('the file-descriptor warning of start()', () => {
  /**
   * The warnings of starting (then stopping) a proxy under `ulimit-n 200`: the limit is this test
   * file's own process's (forked pool), put back afterwards.
   */
  async function fdWarnings(global: string, defaults: string): Promise<string[]> {
    const saved = native.getNofileLimit();
    const warnings: string[] = [];
    const port = await freePort();
    const text = `global\n    ulimit-n 200\n${global}defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 10s\n` +
      `    timeout server 10s\n${defaults}listen px\n    bind 127.0.0.1:${port}\n    server s 127.0.0.1:1\n`;
    try {
      const running = await start(parseConfig([{ name: 't.cfg', text }], { env: {} }), {
        signals: false,
        log: { alert: () => {}, notice: () => {}, warning: (m) => warnings.push(m) },
      });
      await running.stop();
    } finally {
      native.setNofileLimit(saved.soft, saved.hard);
    }
    return warnings.filter((w) => w.includes('file descriptors'));
  }

  it('counts two fds per connection when splicing is off', async () => {
    // 64 * 2 + 64 = 192 fit in 200; the pipes (64 / 4 = 16, 32 fds) would not, but none are made.
    expect(await fdWarnings('    maxconn 64\n', '')).toEqual([]);
    expect(await fdWarnings('    maxconn 64\n    nosplice\n', '    option splice-auto\n')).toEqual([]);
    expect(await fdWarnings('    maxconn 100\n', '')).toEqual([
      "maxconn 100 needs about 264 file descriptors but the limit is 200; raise 'ulimit-n' or lower 'maxconn'.",
    ]);
  });

  it('adds two fds per splice pipe (up to maxpipes) when splicing is on', async () => {
    expect(await fdWarnings('    maxconn 64\n', '    option splice-auto\n')).toEqual([
      "maxconn 64 with splicing (up to 16 pipes of 2 fds each) needs about 224 file descriptors but the limit is 200; raise 'ulimit-n' or lower 'maxconn' or 'maxpipes'.",
    ]);
    // An explicit maxpipes replaces maxconn / 4: 192 + 2 * 4 = 200 fits, 192 + 2 * 5 does not.
    expect(await fdWarnings('    maxconn 64\n    maxpipes 4\n', '    option splice-response\n')).toEqual([]);
    expect(await fdWarnings('    maxconn 64\n    maxpipes 5\n', '    option splice-request\n')).toEqual([
      "maxconn 64 with splicing (up to 5 pipes of 2 fds each) needs about 202 file descriptors but the limit is 200; raise 'ulimit-n' or lower 'maxconn' or 'maxpipes'.",
    ]);
  });
});
