/**
 * Servers from DNS with real traffic: a scripted nameserver on loopback, servers on 127.0.0.2-4
 * that answer their own address, and epoxy (single process, then a master with two workers)
 * routing by what the answers say: a `server-template` of 4 fills 2 slots from 2 A records, a
 * third record takes traffic within `hold valid`, a removed record's server takes no new
 * session, SRV records set ports; with workers, one resolution for all and both route alike.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { start, type RunningProxy } from '../../src/runtime/start.js';
import { startDnsResponder, type DnsResponder } from '../helpers/dns-responder.js';
import { answerOf } from '../helpers/load.js';
import { cli, configText, startMaster, tempDir, writeFile, type Cleanup } from '../helpers/master.js';
import { freePort, waitFor, waitForAsync } from '../helpers/sockets.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A server on `host:port` that answers a session with its own 'host:port'. */
async function namedAt(host: string, port: number): Promise<void> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', () => socket.end(`${host}:${port}`));
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
}

async function responder(): Promise<DnsResponder> {
  const dns = await startDnsResponder();
  cleanups.push(() => dns.close());
  return dns;
}

async function answers(port: number, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await answerOf(port));
  return out;
}

function resolversSection(dnsPort: number, timeoutResolve = 100): string[] {
  return ['resolvers dns', `    nameserver ns1 127.0.0.1:${dnsPort}`, `    timeout resolve ${timeoutResolve}ms`, '    timeout retry 200ms', '    hold valid 10s', '    hold obsolete 0s'];
}

async function serve(text: string): Promise<RunningProxy> {
  const running = await start(parseConfig([{ name: 'dns.cfg', text }], { env: {} }));
  cleanups.push(() => running.stop());
  return running;
}

describe('servers from DNS, single process', () => {
  it('a template of 4 fills 2 slots, a third record takes traffic within hold valid, a removed one takes no new session', async () => {
    const dns = await responder();
    const backendPort = await freePort();
    for (const host of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) await namedAt(host, backendPort);
    dns.set('app.test', { a: ['127.0.0.2', '127.0.0.3'] });
    const port = await freePort();
    const running = await serve(
      configText(
        [],
        [
          ...resolversSection(dns.port),
          'listen app',
          `    bind 127.0.0.1:${port}`,
          `    server-template srv 4 app.test:${backendPort} resolvers dns init-addr none resolve-prefer ipv4`,
        ],
      ),
    );
    const servers = running.runtime.backends.get('app')!.servers;
    expect(servers.map((s) => s.name)).toEqual(['srv1', 'srv2', 'srv3', 'srv4']);
    await waitFor(() => servers.filter((s) => !s.unresolved).length === 2, 'two slots filled');
    const first = await answers(port, 12);
    expect(new Set(first)).toEqual(new Set([`127.0.0.2:${backendPort}`, `127.0.0.3:${backendPort}`]));

    const added = Date.now();
    dns.set('app.test', { a: ['127.0.0.2', '127.0.0.3', '127.0.0.4'] });
    await waitForAsync(async () => (await answers(port, 3)).includes(`127.0.0.4:${backendPort}`), 'the third record to take traffic');
    // `timeout resolve` (100 ms) paces the questions, so the record is in use long before
    // `hold valid` (10 s, HAProxy's default) has passed.
    expect(Date.now() - added).toBeLessThan(10_000);

    dns.set('app.test', { a: ['127.0.0.2', '127.0.0.4'] });
    await waitFor(() => servers.find((s) => s.address?.address === '127.0.0.3')?.unresolved === true, 'the removed record to be in maintenance');
    const after = await answers(port, 15);
    expect(after).not.toContain(`127.0.0.3:${backendPort}`);
    expect(new Set(after)).toEqual(new Set([`127.0.0.2:${backendPort}`, `127.0.0.4:${backendPort}`]));
  }, 30_000);

  it('SRV records set each slot’s port (and weight)', async () => {
    const dns = await responder();
    const [p1, p2] = [await freePort(), await freePort()];
    await namedAt('127.0.0.2', p1);
    await namedAt('127.0.0.3', p2);
    dns.set('a1.app.test', { a: ['127.0.0.2'] });
    dns.set('a2.app.test', { a: ['127.0.0.3'] });
    dns.set('_app._tcp.app.test', {
      srv: [
        { priority: 0, weight: 100, port: p1, target: 'a1.app.test' },
        { priority: 0, weight: 100, port: p2, target: 'a2.app.test' },
      ],
      additional: true,
    });
    const port = await freePort();
    const running = await serve(
      configText([], [...resolversSection(dns.port), 'listen app', `    bind 127.0.0.1:${port}`, '    server-template web 3 _app._tcp.app.test resolvers dns init-addr none resolve-prefer ipv4']),
    );
    const servers = running.runtime.backends.get('app')!.servers;
    await waitFor(() => servers.filter((s) => !s.unresolved).length === 2, 'two SRV slots filled');
    expect(new Set(await answers(port, 10))).toEqual(new Set([`127.0.0.2:${p1}`, `127.0.0.3:${p2}`]));
  }, 30_000);
});

describe('servers from DNS under a master', () => {
  it('the master resolves once for every worker, and both workers route to the same addresses', async () => {
    const dns = await responder();
    const backendPort = await freePort();
    for (const host of ['127.0.0.2', '127.0.0.3']) await namedAt(host, backendPort);
    dns.set('app.test', { a: ['127.0.0.2'] });
    const port = await freePort();
    const dir = tempDir(cleanups);
    const sock = join(dir, 'master.sock');
    const file = writeFile(
      dir,
      'epoxy.cfg',
      configText(
        ['nbthread 2'],
        [...resolversSection(dns.port, 200), 'listen app', `    bind 127.0.0.1:${port}`, `    server-template srv 2 app.test:${backendPort} resolvers dns init-addr none resolve-prefer ipv4`],
      ),
    );
    await startMaster(cleanups, ['-W', '-S', sock, '-f', file]);
    const health = async (): Promise<string[]> => (await cli(sock, '@1 show health; @2 show health')).split('\n').filter((l) => l.startsWith('app/'));
    await waitForAsync(async () => (await health()).filter((l) => l === `app/srv1 ready up (not checked) 127.0.0.2:${backendPort}`).length === 2, 'both workers to have srv1');
    expect(await answers(port, 10)).toEqual(Array(10).fill(`127.0.0.2:${backendPort}`));

    // Counted at the nameserver: one resolver asks every `timeout resolve` (200 ms, HAProxy's pace);
    // one per worker would ask twice as often.
    dns.clearQueries();
    const started = Date.now();
    await waitFor(() => Date.now() - started >= 2000, 'a 2 s window');
    const asked = dns.countQueries('app.test', 'A');
    expect(asked).toBeGreaterThan(0);
    expect(asked, `queries in ${Date.now() - started} ms`).toBeLessThan(((Date.now() - started) / 200) * 1.5 + 3);

    dns.set('app.test', { a: ['127.0.0.2', '127.0.0.3'] });
    await waitForAsync(async () => (await health()).filter((l) => l === `app/srv2 ready up (not checked) 127.0.0.3:${backendPort}`).length === 2, 'both workers to have srv2');
    const both = await answers(port, 20);
    expect(new Set(both)).toEqual(new Set([`127.0.0.2:${backendPort}`, `127.0.0.3:${backendPort}`]));

    // A reload keeps the addresses: the new workers route to both at once.
    expect(await cli(sock, 'reload')).toBe('Success=1\n');
    expect((await health()).filter((l) => l.includes('unresolved'))).toEqual([]);
  }, 60_000);
});
