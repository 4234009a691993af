/**
 * Sample expressions routing real connections through an in-process proxy: an ACL with a
 * converter on the client's first bytes, a map file, nbsrv and be_conn switching to a spare
 * backend, and use-server overriding balancing (skipping a server in maintenance).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/parser.js';
import { start } from '../../src/runtime/start.js';
import { firstAnswerOf, heldSession, holdingServer } from '../helpers/servers.js';
import { freePort, waitFor, waitForAsync } from '../helpers/sockets.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const dir = mkdtempSync(join(tmpdir(), 'epoxy-routing-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DEFAULTS = `
defaults
  mode tcp
  timeout connect 2s
  timeout client 30s
  timeout server 30s
`;

/** Starts the proxy of `text(port)`; resolves with its port once listening. */
async function proxy(text: (port: number) => string): Promise<number> {
  const port = await freePort();
  const config = parseConfig([{ name: 'routing.cfg', text: text(port) }], { env: {} });
  const running = await start(config, { quiet: true, signals: false, sessionLog: () => {} });
  cleanups.push(() => running.kill());
  return port;
}

/** The first answer to `message` sent through `port`. */
function answerTo(port: number, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1', () => socket.write(message));
    socket.once('data', (c: Buffer) => {
      resolve(c.toString());
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

describe('routing with sample expressions', () => {
  it('routes on the first bytes through a converter, and on the source through a map file', async () => {
    const web = await holdingServer(cleanups, 'web');
    const other = await holdingServer(cleanups, 'other');
    const local = await holdingServer(cleanups, 'local');
    const map = join(dir, 'nets.map');
    writeFileSync(map, '# networks\n127.0.0.0/8 loopback\n10.0.0.0/8 lan\n');
    const port = await proxy(
      (p) => `${DEFAULTS}
frontend f
  bind 127.0.0.1:${p}
  tcp-request inspect-delay 5s
  tcp-request content accept if { req.len ge 3 }
  use_backend web if { req.payload(0,3),lower -m str get }
  use_backend local if { src,ipmask(8),map_ip(${map},none) -m str loopback } { req.payload(0,1) -m str L }
  default_backend other
backend web
  server w 127.0.0.1:${web.port}
backend local
  server l 127.0.0.1:${local.port}
backend other
  server o 127.0.0.1:${other.port}
`,
    );
    expect(await answerTo(port, 'GeT / HTTP/1.0\r\n')).toBe('web');
    expect(await answerTo(port, 'get /')).toBe('web');
    expect(await answerTo(port, 'PUT /')).toBe('other');
    expect(await answerTo(port, 'LLL')).toBe('local');
  });

  it('switches to a spare backend when nbsrv(main) is 0, or when be_conn(busy) reaches 1', async () => {
    const main = await holdingServer(cleanups, 'main');
    const spare = await holdingServer(cleanups, 'spare');
    const busy = await holdingServer(cleanups, 'busy');
    const port = await proxy(
      (p) => `${DEFAULTS}
frontend f
  bind 127.0.0.1:${p}
  use_backend spare if { nbsrv(main) lt 1 }
  use_backend spare if { be_conn(busy) ge 1 }
  default_backend busy
backend main
  server m 127.0.0.1:${main.port} disabled
backend busy
  server b 127.0.0.1:${busy.port}
backend spare
  server s 127.0.0.1:${spare.port}
`,
    );
    // main has no usable server: every session goes to spare, never to busy.
    expect(await firstAnswerOf(port)).toBe('spare');
    const port2 = await proxy(
      (p) => `${DEFAULTS}
frontend f
  bind 127.0.0.1:${p}
  use_backend spare if { be_conn(busy) ge 1 }
  default_backend busy
backend busy
  server b 127.0.0.1:${busy.port}
backend spare
  server s 127.0.0.1:${spare.port}
`,
    );
    const held = await heldSession(cleanups, port2);
    expect(held.server).toBe('busy');
    await waitFor(() => busy.sessions() === 1, 'the session held on busy');
    expect(await firstAnswerOf(port2)).toBe('spare');
    held.socket.destroy();
    await held.closed;
    await waitFor(() => busy.sessions() === 0, 'busy released');
    // be_conn counts the session until epoxy closes it: wait for the backend to be free again.
    await waitForAsync(async () => (await firstAnswerOf(port2)) === 'busy', 'busy taking sessions again');
  });

  it('use-server overrides balancing, skipping a rule whose server is in maintenance', async () => {
    const a = await holdingServer(cleanups, 'a');
    const b = await holdingServer(cleanups, 'b');
    const c = await holdingServer(cleanups, 'c');
    const port = await proxy(
      (p) => `${DEFAULTS}
listen l
  bind 127.0.0.1:${p}
  balance roundrobin
  use-server c if TRUE
  use-server b if { src 127.0.0.0/8 }
  server a 127.0.0.1:${a.port}
  server b 127.0.0.1:${b.port}
  server c 127.0.0.1:${c.port} disabled
`,
    );
    const answers: string[] = [];
    for (let i = 0; i < 4; i++) answers.push(await firstAnswerOf(port));
    expect(answers).toEqual(['b', 'b', 'b', 'b']);
  });
});
