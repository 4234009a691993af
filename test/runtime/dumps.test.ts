/**
 * SIGHUP's server-state dump on the cases HAProxy words differently: a disabled proxy, servers
 * all down, servers of weight 0, a backend without servers, a frontend, a backup server.
 */
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import type { ProxyLog } from '../../src/proxy/proxy-types.js';
import { start } from '../../src/runtime/start.js';
import { freePort, waitFor } from '../helpers/sockets.js';

describe('the SIGHUP dump', () => {
  it('words each case as HAProxy 2.6 does', async () => {
    const port = await freePort();
    const text = [
      'defaults',
      '    mode tcp',
      '    timeout connect 5s',
      '    timeout client 30s',
      '    timeout server 30s',
      'listen off',
      '    disabled',
      `    bind 127.0.0.1:${port}`,
      '    server a 127.0.0.1:18481',
      'backend allDown',
      '    server a 127.0.0.1:18481 disabled',
      '    server b 127.0.0.1:18481 backup disabled',
      'backend zero',
      '    server a 127.0.0.1:18481 weight 0',
      '    server b 127.0.0.1:18482 weight 0 backup',
      'backend empty',
      'backend withBackup',
      '    server a 127.0.0.1:18481',
      '    server b 127.0.0.1:18482 backup',
      'frontend on',
      `    bind 127.0.0.1:${port}`,
      '    default_backend zero',
      '',
    ].join('\n');
    const lines: string[] = [];
    const log: ProxyLog = { alert: () => {}, notice: () => {}, warning: (m) => lines.push(m) };
    const running = await start(parseConfig([{ name: 'dump.cfg', text }], { env: {} }), { signals: true, log });
    try {
      process.kill(process.pid, 'SIGHUP');
      await waitFor(() => lines.some((l) => l.startsWith('SIGHUP: Proxy on ')), 'the dump');
    } finally {
      await running.stop();
    }
    // HAProxy 2.6.12 on the same sections (its internal <HTTPCLIENT> proxy left out), observed.
    // withBackup is ours: "has 1 active servers and 1 backup servers available" was observed on
    // a listen section with one active and one backup server.
    const conn = 'Conn: act(FE+BE): 0+0, 0 pend (0 unass), tot(FE+BE): 0+0.';
    expect(lines.filter((l) => l.startsWith('SIGHUP'))).toEqual([
      'SIGHUP received, dumping servers states.',
      'SIGHUP: Server off/a is UP. Conn: 0 act, 0 pend, 0 tot.',
      `SIGHUP: Proxy off has 1 active servers and 0 backup servers available. ${conn}`,
      'SIGHUP: Server allDown/a is DOWN. Conn: 0 act, 0 pend, 0 tot.',
      'SIGHUP: Server allDown/b is DOWN. Conn: 0 act, 0 pend, 0 tot.',
      `SIGHUP: Proxy allDown has no server available ! ${conn}`,
      'SIGHUP: Server zero/a is UP. Conn: 0 act, 0 pend, 0 tot.',
      'SIGHUP: Server zero/b is UP. Conn: 0 act, 0 pend, 0 tot.',
      `SIGHUP: Proxy zero has no server available ! ${conn}`,
      `SIGHUP: Proxy empty has no servers. ${conn}`,
      'SIGHUP: Server withBackup/a is UP. Conn: 0 act, 0 pend, 0 tot.',
      'SIGHUP: Server withBackup/b is UP. Conn: 0 act, 0 pend, 0 tot.',
      `SIGHUP: Proxy withBackup has 1 active servers and 1 backup servers available. ${conn}`,
      `SIGHUP: Proxy on has no servers. ${conn}`,
    ]);
  });

  it('counts a session waiting for a server slot as pending and unassigned, as HAProxy does', async () => {
    const held: Socket[] = [];
    const upstream = createServer((socket) => void held.push(socket));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const port = await freePort();
    const text = [
      'defaults',
      '    mode tcp',
      '    timeout connect 5s',
      '    timeout client 30s',
      '    timeout server 30s',
      '    timeout queue 20s',
      'listen web',
      `    bind 127.0.0.1:${port}`,
      `    server a 127.0.0.1:${(upstream.address() as { port: number }).port} maxconn 1`,
      '',
    ].join('\n');
    const lines: string[] = [];
    const log: ProxyLog = { alert: () => {}, notice: () => {}, warning: (m) => lines.push(m) };
    const running = await start(parseConfig([{ name: 'queue.cfg', text }], { env: {} }), { signals: true, log });
    const clients: Socket[] = [];
    try {
      for (let i = 0; i < 2; i++) clients.push(netConnect(port, '127.0.0.1').on('error', () => {}));
      const backend = running.runtime.backends.get('web')!;
      await waitFor(() => running.engine.current === 2 && backend.counters.get('queued') === 1, 'one session connected, one queued');
      process.kill(process.pid, 'SIGHUP');
      await waitFor(() => lines.some((l) => l.startsWith('SIGHUP: Proxy web ')), 'the dump');
    } finally {
      for (const client of clients) client.destroy();
      await running.kill();
      for (const socket of held) socket.destroy();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
    // HAProxy 2.6.12, same configuration, one client connected and one waiting, observed.
    expect(lines.filter((l) => l.startsWith('SIGHUP: '))).toEqual([
      'SIGHUP: Server web/a is UP. Conn: 1 act, 0 pend, 1 tot.',
      'SIGHUP: Proxy web has 1 active servers and 0 backup servers available. Conn: act(FE+BE): 2+2, 1 pend (1 unass), tot(FE+BE): 2+2.',
    ]);
  });
});
