/**
 * How start() sets the relay's bulk mode: bulk copies by default, splice(2) only when a proxy
 * asks with `option splice-auto|splice-request|splice-response` (as HAProxy, which splices only
 * then), never with `nosplice`. Checked on a running proxy moving a multi-MiB body.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, connect as netConnect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { start } from '../../src/runtime/start.js';
import { freePort } from '../helpers/sockets.js';

const body = randomBytes(8 << 20);
const digest = createHash('sha256').update(body).digest('hex');

async function relayMode(extraGlobal: string, extraDefaults: string): Promise<{ splice: string; spliced: number }> {
  const server = createServer((s) => s.resume().end(body));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = await freePort();
  const text = `global\n    maxconn 100\n${extraGlobal}defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n${extraDefaults}` +
    `listen px\n    bind 127.0.0.1:${port}\n    server s 127.0.0.1:${(server.address() as { port: number }).port}\n`;
  const running = await start(parseConfig([{ name: 't.cfg', text }], { env: {} }), { quiet: true, signals: false });
  try {
    const received = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const socket = netConnect(port, '127.0.0.1', () => socket.end());
      socket.on('data', (c) => chunks.push(c));
      socket.on('end', () => resolve(Buffer.concat(chunks)));
      socket.on('error', reject);
    });
    expect(createHash('sha256').update(received).digest('hex')).toBe(digest);
    return { splice: running.relay.splice, spliced: running.relay.bytesSpliced };
  } finally {
    await running.stop();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('the relay bulk mode chosen by start()', () => {
  it('copies in bulk reads by default', async () => {
    expect(await relayMode('', '')).toEqual({ splice: 'off', spliced: 0 });
  });

  for (const option of ['splice-auto', 'splice-request', 'splice-response']) {
    it(`splices with option ${option}`, async () => {
      const mode = await relayMode('', `    option ${option}\n`);
      expect(mode.splice).toBe('auto');
      expect(mode.spliced).toBeGreaterThan(0);
    });
  }

  it('never splices with nosplice, whatever the proxies ask', async () => {
    expect(await relayMode('    nosplice\n', '    option splice-auto\n')).toEqual({ splice: 'off', spliced: 0 });
  });
});
