/**
 * show stat / show info from a running proxy in this process: after a scripted traffic run the
 * rows give exact counts, the header is HAProxy 2.6's byte for byte, and the typed and JSON
 * forms carry HAProxy's field positions and tags.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { start, type RunningProxy } from '../../src/runtime/start.js';
import { clearProcessCounters, processStats } from '../../src/stats/process-stats.js';
import { parseShowStatArgs, SHOW_STAT_HEADER, showInfo, showInfoJson, showStatCsv, showStatJson, showStatTyped } from '../../src/stats/stats.js';
import { haproxyAvailable } from '../helpers/haproxy.js';
import { freePort, refusedPort, waitFor } from '../helpers/sockets.js';
import { parseCsv, rowOf } from './csv.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function echoServer(): Promise<number> {
  const server: Server = createServer((s) => s.pipe(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

/** Sends `bytes` bytes, reads them back, closes: one session of known size each way. */
function echoSession(port: number, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1', () => socket.write(Buffer.alloc(bytes, 0x61)));
    let got = 0;
    socket.on('data', (c) => {
      got += c.length;
      if (got >= bytes) socket.end();
    });
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}

/** Opens a session and keeps it open, after `bytes` came back. */
function openSession(port: number, bytes: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1', () => socket.write(Buffer.alloc(bytes, 0x62)));
    let got = 0;
    socket.on('data', (c) => {
      got += c.length;
      if (got >= bytes) resolve(socket);
    });
    socket.on('error', reject);
  });
}

async function startText(text: string): Promise<RunningProxy> {
  const running = await start(parseConfig([{ name: 'stats.cfg', text }], { env: {} }), { quiet: true, signals: false, sessionLog: () => {} });
  cleanups.push(() => running.kill());
  return running;
}

describe('show stat in a single process', () => {
  it('counts a scripted run exactly: stot, bin, bout, scur, smax, status, weight, chkfail, downtime per row', async () => {
    const echo = await echoServer();
    const refused = refusedPort();
    cleanups.push(() => void import('../../src/native.js').then(({ native }) => native.close(refused.fd)));
    const port = await freePort();
    const running = await startText(
      [
        'global',
        '  maxconn 200',
        'defaults',
        '  mode tcp',
        '  timeout connect 1s',
        '  timeout client 5s',
        '  timeout server 5s',
        'frontend fe',
        `  bind 127.0.0.1:${port}`,
        '  default_backend be',
        'backend be',
        `  server s1 127.0.0.1:${echo} weight 3`,
        `  server s2 127.0.0.1:${refused.port} check inter 100 downinter 60s fall 2 rise 2`,
        '',
      ].join('\n'),
    );
    // s2 refuses every check: a server starts one failure from DOWN, and once DOWN is checked
    // again only after `downinter`, so it has failed exactly one check; only s1 takes traffic.
    await waitFor(() => running.runtime.backends.get('be')!.servers[1]!.health === 'down', 's2 down');
    for (const size of [100, 2000, 30_000]) await echoSession(port, size);
    const open = await openSession(port, 500);
    cleanups.push(() => void open.destroy());
    await waitFor(() => running.runtime.frontends.get('fe')!.counters.get('current') === 1, 'one open session');

    const rows = parseCsv(showStatCsv(processStats(running)));
    const fe = rowOf(rows, 'fe', 'FRONTEND');
    // The open session's 500 bytes each way are counted while it lasts (live relay counts).
    expect(fe).toMatchObject({ stot: '4', bin: '32600', bout: '32600', scur: '1', smax: '1', status: 'OPEN', slim: '200', conn_tot: '4', mode: 'tcp', type: '0' });
    const s1 = rowOf(rows, 'be', 's1');
    expect(s1).toMatchObject({ stot: '4', bin: '32600', bout: '32600', scur: '1', smax: '1', status: 'no check', weight: '3', chkfail: '', downtime: '', lbtot: '4', addr: `127.0.0.1:${echo}` });
    const s2 = rowOf(rows, 'be', 's2');
    expect(s2).toMatchObject({ stot: '0', bin: '0', scur: '0', status: 'DOWN', weight: '1', chkdown: '1', check_status: 'L4CON', check_desc: 'Layer4 connection problem', lastsess: '-1', check_rise: '2', check_fall: '2' });
    expect(s2).toMatchObject({ chkfail: '1', downtime: '0' });
    const be = rowOf(rows, 'be', 'BACKEND');
    expect(be).toMatchObject({ stot: '4', bin: '32600', bout: '32600', scur: '1', smax: '1', status: 'UP', weight: '3', act: '1', bck: '0', lbtot: '4', algo: 'roundrobin', slim: '20', chkdown: '0' });
    // HAProxy's order: the frontend, then each server, then the backend.
    expect(rows.map((r) => `${r.pxname}/${r.svname}`)).toEqual(['fe/FRONTEND', 'be/s1', 'be/s2', 'be/BACKEND']);
    expect(rows.map((r) => r.iid)).toEqual(['1', '2', '2', '2']);

    open.end();
    await waitFor(() => running.runtime.frontends.get('fe')!.counters.get('current') === 0, 'closed');
    const after = parseCsv(showStatCsv(processStats(running)));
    expect(rowOf(after, 'fe', 'FRONTEND')).toMatchObject({ stot: '4', bin: '32600', bout: '32600', scur: '0', smax: '1' });

    // clear counters: peaks only; clear counters all: every counter, as a restart.
    clearProcessCounters(running, false);
    expect(rowOf(parseCsv(showStatCsv(processStats(running))), 'fe', 'FRONTEND')).toMatchObject({ stot: '4', smax: '0' });
    clearProcessCounters(running, true);
    expect(rowOf(parseCsv(showStatCsv(processStats(running))), 'be', 's2')).toMatchObject({ stot: '0', chkfail: '0', chkdown: '0' });
    expect(rowOf(parseCsv(showStatCsv(processStats(running))), 'fe', 'FRONTEND')).toMatchObject({ stot: '0', bin: '0', conn_tot: '0' });
  });

  it('filters rows by proxy and type, and writes the typed and JSON forms with positions and tags', async () => {
    const echo = await echoServer();
    const port = await freePort();
    const running = await startText(
      ['defaults', '  mode tcp', '  timeout connect 1s', '  timeout client 5s', '  timeout server 5s', 'listen li', `  bind 127.0.0.1:${port}`, '  maxconn 30', `  server s1 127.0.0.1:${echo}`, ''].join('\n'),
    );
    await echoSession(port, 10);
    const snapshot = processStats(running, { statsSocket: true });
    const servers = parseShowStatArgs(['li', '4', '-1'])!;
    expect(parseCsv(showStatCsv(snapshot, servers.filter)).map((r) => r.svname)).toEqual(['s1']);
    expect(parseCsv(showStatCsv(snapshot, parseShowStatArgs(['-1', '2', '-1'])!.filter)).map((r) => r.svname)).toEqual(['BACKEND']);
    expect(parseShowStatArgs(['typed', 'json'])!.format).toBe('json');
    expect(parseShowStatArgs(['nonsense'])).toBeNull();
    const typed = showStatTyped(snapshot).split('\n');
    // A stats socket takes id 1, as in HAProxy; the listen section's backend slim is maxconn / 10.
    expect(typed).toContain('F.2.0.0.pxname.1:KNS:str:li');
    expect(typed).toContain('F.2.0.7.stot.1:MCP:u64:1');
    expect(typed).toContain('S.2.1.8.bin.1:MCP:u64:10');
    expect(typed).toContain('B.2.0.6.slim.1:CLP:u32:3');
    const json = JSON.parse(showStatJson(snapshot)) as Array<Array<Record<string, unknown>>>;
    expect(json[1]!.find((f) => (f.field as { name: string }).name === 'stot')).toEqual({
      objType: 'Server', proxyId: 2, id: 1, field: { pos: 7, name: 'stot' }, processNum: 1,
      tags: { origin: 'Metric', nature: 'Counter', scope: 'Process' }, value: { type: 'u64', value: 1 },
    }); // prettier-ignore
    const info = showInfo(snapshot);
    expect(info).toMatch(/^Name: epoxy\nVersion: .+\nNbthread: 1\nNbproc: 1\nProcess_num: 1\nPid: \d+\nUptime: 0d 0h00m\d\ds\nUptime_sec: \d+\n/);
    expect(info).toContain('CumConns: 1\n');
    expect((JSON.parse(showInfoJson(snapshot)) as Array<{ field: { name: string } }>)[0]).toEqual({
      field: { pos: 0, name: 'Name' }, processNum: 1, tags: { origin: 'Product', nature: 'Output', scope: 'Service' }, value: { type: 'str', value: 'epoxy' },
    }); // prettier-ignore
  });

  it.skipIf(!haproxyAvailable)("has HAProxy 2.6's header line, byte for byte", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epoxy-stat-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const sock = join(dir, 'h.sock');
    const port = await freePort();
    writeFileSync(join(dir, 'h.cfg'), ['global', `  stats socket ${sock} level admin`, 'defaults', '  mode tcp', '  timeout connect 1s', '  timeout client 5s', '  timeout server 5s', 'listen li', `  bind 127.0.0.1:${port}`, '  server s1 127.0.0.1:1', ''].join('\n'));
    const child = spawn('haproxy', ['-db', '-f', join(dir, 'h.cfg')], { stdio: 'ignore' });
    cleanups.push(() => void child.kill('SIGKILL'));
    const ask = (command: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = netConnect(sock, () => socket.end(`${command}\n`));
        let text = '';
        socket.on('data', (c) => (text += c.toString()));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
    let answer = '';
    for (let i = 0; i < 50 && answer === ''; i++) {
      answer = await ask('show stat').catch(() => new Promise<string>((resolve) => setTimeout(() => resolve(''), 100)));
    }
    expect(answer.split('\n')[0]! + '\n').toBe(SHOW_STAT_HEADER);
  });
});
