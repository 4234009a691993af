/** start() with a typed object, as `import { start } from 'epoxy'` users call it. */
import { createServer, connect as netConnect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { configFromObject } from '../../src/config/object.js';
import { ConfigError } from '../../src/config/diagnostics.js';
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
