/**
 * Master-worker mode with real processes and sockets: reloads under load, a worker killed under
 * load, a refused reload, counters summed over workers and carried over reloads, and stops.
 *
 * HAProxy 2.6.12 observed here for comparison (`haproxy -W -S sock -f cfg -db`):
 *
 *   [NOTICE]   (5295) : New worker (5298) forked
 *   [NOTICE]   (5295) : Loading success.
 *   [NOTICE]   (5295) : Reloading HAProxy
 *   [WARNING]  (5295) : Former worker (5298) exited with code 0 (Exit)
 *   [ALERT]    (5295) : Current worker (5320) exited with code 137 (Killed)
 *   [ALERT]    (5295) : exit-on-failure: killing every processes with SIGTERM
 *   [WARNING]  (5295) : All workers exited. Exiting... (137)
 *
 * and its `show proc` (epoxy adds a <generation> column):
 *
 *   #<PID>          <type>          <reloads>       <uptime>        <version>
 *   5295            master          0 [failed: 0]   0d00h00m01s     2.6.12-1+deb12u4
 *   # workers
 *   5298            worker          0               0d00h00m01s     2.6.12-1+deb12u4
 *   # programs
 *
 * HAProxy's master exits when its worker is killed; epoxy's respawns it (the demand).
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, waitFor, waitForAsync } from '../helpers/sockets.js';
import { COUNTER_FIELDS } from '../../src/stats/fields.js';
import { ConnectionLoad, LongTransfer, echoOnce } from '../helpers/load.js';
import {
  cli,
  configText,
  echoServer,
  parseShowProc,
  processAlive,
  startMaster,
  tempDir,
  workerPids,
  writeFile,
  type Cleanup,
} from '../helpers/master.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(global: string[], extra: string[] = []): Promise<{ dir: string; file: string; port: number; upstream: number; sock: string; body: (port: number) => string[] }> {
  const upstream = await echoServer(cleanups);
  const port = await freePort();
  const dir = tempDir(cleanups);
  const body = (p: number): string[] => ['listen echo', `    bind 127.0.0.1:${p}`, `    server s1 127.0.0.1:${upstream}`, ...extra];
  const file = writeFile(dir, 'epoxy.cfg', configText(global, body(port)));
  return { dir, file, port, upstream, sock: join(dir, 'master.sock'), body };
}

describe('master-worker', () => {
  it('runs nbthread workers under one master, each serving on the shared sockets', async () => {
    const { file, port, sock } = await setup(['nbthread 2']);
    const master = await startMaster(cleanups, ['-W', '-S', sock, '-f', file]);
    const rows = parseShowProc(await cli(sock, 'show proc'));
    expect(rows.map((r) => r.type)).toEqual(['master', 'worker', 'worker']);
    expect(rows.every((r) => r.generation === 1)).toBe(true);
    expect(rows[0]!.pid).toBe(master.pid);
    expect(rows.slice(1).map((r) => r.pid).sort()).toEqual(workerPids(master.pid).sort());
    // Workers never bind: the listening socket is the master's, the same one in every worker.
    const inode = (pid: number): string[] => socketInodesListening(pid, port);
    const masterSockets = inode(master.pid);
    expect(masterSockets).toHaveLength(1);
    for (const row of rows.slice(1)) expect(inode(row.pid)).toEqual(masterSockets);
    // Each worker polls it with EPOLLEXCLUSIVE: a new connection wakes one of them, not both.
    for (const row of rows.slice(1)) expect(epollEvents(row.pid, masterSockets[0]!)).toEqual([expect.stringMatching(/^1[0-9a-f]{7}$/)]);
    await echoOnce(port, Buffer.from('hello\n'));
  });

  it('20 reloads under continuous new connections and four long transfers: nothing refused or reset, every byte back', async () => {
    const { file, port, sock } = await setup(['nbthread 2']);
    const master = await startMaster(cleanups, ['-W', '-S', sock, '-f', file]);
    const load = new ConnectionLoad(port, 4);
    const transfers = [1, 2, 3, 4].map((seed) => new LongTransfer(port, seed));
    await Promise.all(transfers.map((t) => t.connected));
    for (let i = 0; i < 20; i++) {
      // Every other reload by signal, the rest on the CLI, which answers once the new generation serves.
      if (i % 2 === 0) {
        expect(await cli(sock, 'reload')).toBe('Success=1\n');
      } else {
        master.child.kill(i % 4 === 1 ? 'SIGUSR2' : 'SIGHUP');
        await master.waitForLog('Loading success.', i + 2);
      }
    }
    const before = load.ok;
    await waitFor(() => load.ok > before + 20, 'connections served by the last generation', 20_000);
    await load.stop();
    const results = await Promise.all(transfers.map((t) => t.finish()));
    expect(load.failures).toEqual([]);
    expect(load.ok).toBeGreaterThan(100);
    for (const result of results) {
      expect(result.error).toBeNull();
      expect(result.sentBytes).toBeGreaterThan(0);
      expect(result.receivedBytes).toBe(result.sentBytes);
      expect(result.received).toBe(result.sent);
    }
    // The transfers were the last sessions of the old generations: they go once those end.
    await waitFor(() => countOld(master.stderr()) >= 40, 'the 40 former workers to exit', 30_000);
    const rows = parseShowProc(await cli(sock, 'show proc'));
    expect(rows.filter((r) => r.old)).toEqual([]);
    expect(rows[0]!.reloads).toBe('20 [failed: 0]');
    expect(rows.filter((r) => r.type === 'worker').map((r) => r.generation)).toEqual([21, 21]);
    expect(master.alive()).toBe(true);
  }, 120_000);

  it('kill -9 of a worker under load: the other worker serves at once, the master stays and replaces it', async () => {
    const { file, port, sock } = await setup(['nbthread 2']);
    const master = await startMaster(cleanups, ['-W', '-S', sock, '-f', file]);
    const load = new ConnectionLoad(port, 4);
    await waitFor(() => load.ok > 20, 'load through both workers');
    const [victim, survivor] = workerPids(master.pid);
    process.kill(victim!, 'SIGKILL');
    const killedAt = Date.now();
    const okAtKill = load.ok;
    // Service never stopped: the surviving worker polls the same socket.
    await waitFor(() => load.ok > okAtKill + 10, 'connections served after the kill');
    expect(Date.now() - killedAt, 'served again within one second').toBeLessThan(1000);
    await master.waitForLog(`Current worker (${victim}) exited with code 137 (Killed)`);
    await master.waitForLog('Respawning worker 1 of generation 1.');
    await waitFor(() => workerPids(master.pid).length === 2 && !workerPids(master.pid).includes(victim!), 'the replacement worker');
    await load.stop();
    expect(master.alive()).toBe(true);
    expect(workerPids(master.pid)).toContain(survivor);
    // Only connections the dead worker had accepted were cut with it (at most one per loop).
    expect(load.failures.length).toBeLessThanOrEqual(4);
  });

  it('with a single worker, a connection made right after its kill waits in the queue and the replacement serves it', async () => {
    const { file, port, sock } = await setup(['nbthread 1']);
    const master = await startMaster(cleanups, ['-W', '-S', sock, '-f', file]);
    const [victim] = workerPids(master.pid);
    process.kill(victim!, 'SIGKILL');
    // No worker polls the socket now; the kernel queues the connection until one does.
    await echoOnce(port, Buffer.from('after the kill\n'));
    await master.waitForLog(`Current worker (${victim}) exited with code 137 (Killed)`);
    const workers = workerPids(master.pid);
    expect(workers).toHaveLength(1);
    expect(workers[0]).not.toBe(victim);
    expect(master.alive()).toBe(true);
  });

  it('a crash loop is backed off: the delay doubles while workers die young', async () => {
    const { file, sock } = await setup(['nbthread 1']);
    const master = await startMaster(cleanups, ['-W', '-S', sock, '-f', file]);
    for (let n = 1; n <= 3; n++) {
      const [pid] = workerPids(master.pid);
      process.kill(pid!, 'SIGKILL');
      await master.waitForLog(`Current worker (${pid}) exited with code 137 (Killed)`);
      await waitFor(() => workerPids(master.pid).some((p) => p !== pid), 'the replacement worker', 15_000);
      await master.waitForLog('Loading success.', 1);
    }
    expect(master.stderr()).toContain('Respawning worker 1 of generation 1.');
    expect(master.stderr()).toContain('Respawning worker 1 of generation 1 in 100 ms (2 deaths in a row).');
    expect(master.stderr()).toContain('Respawning worker 1 of generation 1 in 200 ms (3 deaths in a row).');
  });

  it('a reload with an invalid configuration keeps the running workers and reports file:line', async () => {
    const { file, port, sock, body } = await setup(['nbthread 1']);
    const master = await startMaster(cleanups, ['-W', '-S', sock, '-f', file]);
    const [worker] = workerPids(master.pid);
    writeFile(join(file, '..'), 'epoxy.cfg', configText(['nbthread 1', 'maxconn banana'], body(port)));
    const answer = await cli(sock, 'reload');
    expect(answer).toMatch(/^Success=0\n--\n/);
    expect(answer).toContain(`[${file}:3]`);
    expect(answer).toContain("'maxconn'");
    expect(answer).toContain('Reload failed');
    expect(master.stderr()).toContain(`[${file}:3]`);
    expect(workerPids(master.pid)).toEqual([worker]);
    const rows = parseShowProc(await cli(sock, 'show proc'));
    expect(rows[0]!.reloads).toBe('0 [failed: 1]');
    await echoOnce(port, Buffer.from('still served\n'));
  });

  it('a reload binds new addresses, keeps unchanged ones and closes removed ones', async () => {
    const { file, port, sock, upstream } = await setup(['nbthread 1']);
    const master = await startMaster(cleanups, ['-W', '-S', sock, '-f', file]);
    const inodeBefore = socketInodesListening(master.pid, port);
    const added = await freePort();
    writeFile(
      join(file, '..'),
      'epoxy.cfg',
      configText(['nbthread 1'], ['listen other', `    bind 127.0.0.1:${added}`, `    server s1 127.0.0.1:${upstream}`, 'listen echo', `    bind 127.0.0.1:${port}`, `    server s1 127.0.0.1:${upstream}`]),
    );
    expect(await cli(sock, 'reload')).toBe('Success=1\n');
    expect(socketInodesListening(master.pid, port)).toEqual(inodeBefore);
    await echoOnce(added, Buffer.from('new address\n'));
    writeFile(join(file, '..'), 'epoxy.cfg', configText(['nbthread 1'], ['listen other', `    bind 127.0.0.1:${added}`, `    server s1 127.0.0.1:${upstream}`]));
    expect(await cli(sock, 'reload')).toBe('Success=1\n');
    await waitFor(() => countOld(master.stderr()) >= 2, 'former workers to exit');
    await expect(echoOnce(port, Buffer.from('removed\n'))).rejects.toThrow(/ECONNREFUSED/);
  });

  it('a reload may change nbthread: the new generation has the new number of workers', async () => {
    const { file, port, sock, body } = await setup(['nbthread 1']);
    await startMaster(cleanups, ['-W', '-S', sock, '-f', file]);
    writeFile(join(file, '..'), 'epoxy.cfg', configText(['nbthread 3'], body(port)));
    expect(await cli(sock, 'reload')).toBe('Success=1\n');
    await waitForAsync(async () => parseShowProc(await cli(sock, 'show proc')).filter((r) => r.type === 'worker' && !r.old).length === 3, 'three current workers');
    const rows = parseShowProc(await cli(sock, 'show proc'));
    expect(rows.filter((r) => !r.old && r.type === 'worker').map((r) => r.generation)).toEqual([2, 2, 2]);
    await echoOnce(port, Buffer.from('three workers\n'));
  });

  it('show counters sums every worker and carries totals over reloads', async () => {
    const { file, port, sock } = await setup(['nbthread 2']);
    await startMaster(cleanups, ['-W', '-S', sock, '-f', file]);
    const payload = Buffer.from('0123456789'); // 10 bytes each way
    for (let i = 0; i < 20; i++) await echoOnce(port, payload);
    const totals = async (): Promise<Record<string, number>> => {
      const rows = JSON.parse(await cli(sock, 'show counters json')) as Array<Record<string, number | string>>;
      const fe = rows.find((r) => r.kind === 'frontend' && r.name === 'echo')!;
      return { sessions: fe.sessions as number, bytesIn: fe.bytesIn as number, bytesOut: fe.bytesOut as number, current: fe.current as number };
    };
    await waitForAsync(async () => (await totals()).bytesIn === 200, 'the 20 sessions counted');
    expect(await totals()).toEqual({ sessions: 20, bytesIn: 200, bytesOut: 200, current: 0 });
    // Two workers each counted a part: their own answers add up to the total.
    const own = async (slot: number): Promise<number> => Number((await cli(sock, `@${slot} show counters`)).split('\n').find((l) => l.startsWith('frontend,echo,'))!.split(',')[2]);
    expect((await own(1)) + (await own(2))).toBe(20);
    expect(await cli(sock, 'reload')).toBe('Success=1\n');
    for (let i = 0; i < 5; i++) await echoOnce(port, payload);
    await waitForAsync(async () => (await totals()).bytesIn === 250, 'the 5 sessions after the reload counted');
    expect(await totals()).toEqual({ sessions: 25, bytesIn: 250, bytesOut: 250, current: 0 });
    const csv = await cli(sock, 'show counters');
    expect(csv.split('\n')[0]).toBe(`# kind,name,${COUNTER_FIELDS.join(',')}`);
    // connections, sessions, current
    expect(csv).toContain('frontend,echo,25,25,0,');
    expect(csv).toContain('server,echo/s1,0,25,0,');
  });

  it('SIGUSR1 stops softly: an open session finishes, then workers and master exit', async () => {
    const { file, port, sock } = await setup(['nbthread 2']);
    const master = await startMaster(cleanups, ['-W', '-S', sock, '-f', file]);
    const workers = workerPids(master.pid);
    const transfer = new LongTransfer(port, 7);
    await transfer.connected;
    await waitFor(() => transfer.receivedBytes > 0, 'bytes echoed');
    master.child.kill('SIGUSR1');
    await master.waitForLog('Stopping every worker softly');
    // Listening stopped, the session still relays.
    const received = transfer.receivedBytes;
    await waitFor(() => transfer.receivedBytes > received + 64 * 1024, 'the session to go on relaying');
    expect(master.alive()).toBe(true);
    const result = await transfer.finish();
    expect(result.received).toBe(result.sent);
    expect(await master.exited).toBe(0);
    expect(master.stderr()).toContain('All workers exited. Exiting... (0)');
    await waitFor(() => workers.every((w) => !processAlive(w)), 'workers gone');
  });

  it('SIGTERM stops at once; SIGKILL of the master takes its workers with it', async () => {
    const a = await setup(['nbthread 2']);
    const first = await startMaster(cleanups, ['-W', '-f', a.file]);
    const firstWorkers = workerPids(first.pid);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    await waitFor(() => firstWorkers.every((w) => !processAlive(w)), 'workers gone after SIGTERM');

    const b = await setup(['nbthread 2']);
    const second = await startMaster(cleanups, ['-W', '-f', b.file]);
    const secondWorkers = workerPids(second.pid);
    expect(secondWorkers).toHaveLength(2);
    second.child.kill('SIGKILL');
    await second.exited;
    await waitFor(() => secondWorkers.every((w) => !processAlive(w)), 'workers gone after the master was killed');
  });
});

/** The epoll event masks (hex, as /proc prints them) under which `pid` registered the socket `inode`. */
function epollEvents(pid: number, inode: string): string[] {
  const fds = readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`;
    } catch {
      return false;
    }
  });
  const masks: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    for (const m of text.matchAll(/^tfd:\s+(\d+) events:\s+([0-9a-f]+) /gm)) if (fds.includes(m[1]!)) masks.push(m[2]!);
  }
  return masks;
}

function countOld(stderr: string): number {
  return (stderr.match(/Former worker \(\d+\) exited/g) ?? []).length;
}

/** Inodes of the sockets `pid` holds that listen on 127.0.0.1:`port` (/proc/net/tcp and /proc/<pid>/fd). */
function socketInodesListening(pid: number, port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const listening = new Set<string>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === `0100007F:${hexPort}` && f[3] === '0A') listening.add(f[9]!);
  }
  const held: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m && listening.has(m[1]!)) held.push(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  return [...new Set(held)];
}
