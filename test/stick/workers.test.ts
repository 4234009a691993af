/**
 * One stick table for every worker, with a real master and two workers: a per-source cap on
 * concurrent connections holds across workers (each worker alone would let more through), a
 * client sticks to its server whichever worker takes it, and a reload keeps the table (entries,
 * counts, the server a client sticks to).
 *
 * `maxconn 2` in the frontend is per worker: with three sessions held, neither worker can hold
 * them all, so both serve some; the fourth goes to the worker with a free slot, which sees the
 * conn_cur of both.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/control/client.js';
import { cli, configText, startMaster, tempDir, writeFile, type Cleanup } from '../helpers/master.js';
import { answeredFrom, heldSessionFrom, holdingServer } from '../helpers/servers.js';
import { freePort, waitForAsync } from '../helpers/sockets.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('stick tables under a master with two workers', () => {
  it('caps conn_cur across workers, sticks across workers and keeps the table over a reload', async () => {
    const s1 = await holdingServer(cleanups, 's1');
    const s2 = await holdingServer(cleanups, 's2');
    const port = await freePort();
    const dir = tempDir(cleanups);
    const master = join(dir, 'master.sock');
    const stats = join(dir, 'stats.sock');
    const file = writeFile(
      dir,
      'epoxy.cfg',
      configText(
        ['nbthread 2', `stats socket ${stats} level admin`],
        [
          'frontend fe',
          `    bind 127.0.0.1:${port}`,
          '    maxconn 2',
          '    stick-table type ip size 1k expire 60s store conn_cur,conn_cnt',
          '    tcp-request connection track-sc0 src',
          '    tcp-request connection reject if { sc0_conn_cur gt 3 }',
          '    default_backend be',
          'backend be',
          '    balance roundrobin',
          '    stick-table type ip size 1k expire 30m',
          '    stick on src',
          `    server s1 127.0.0.1:${s1.port}`,
          `    server s2 127.0.0.1:${s2.port}`,
        ],
      ),
    );
    await startMaster(cleanups, ['-W', '-S', master, '-f', file]);
    const admin = new ControlClient(stats);

    // The client is stuck to s2 by hand: every worker must read that from the one table.
    expect(await admin.text('set table be key 127.0.0.1 data.server_id 2')).toBe('\n');
    const held = [];
    for (let i = 0; i < 3; i++) held.push(await heldSessionFrom(cleanups, port, '127.0.0.1'));
    expect(held.map((h) => h.server)).toEqual(['s2', 's2', 's2']);
    const { data } = await admin.call<{ sessions: { id: string }[] }>('show sess');
    const workers = new Set(data!.sessions.map((s) => s.id.slice(2, 10)));
    expect(workers.size).toBe(2);

    // The fourth goes to the worker holding one session; it sees the three of both and refuses.
    expect(await answeredFrom(port, '127.0.0.1')).toBe(false);
    expect(await answeredFrom(port, '127.0.0.2')).toBe(true);
    const fe = await admin.text('show table fe');
    expect(fe).toMatch(/key=127\.0\.0\.1 use=3 exp=\d+ conn_cnt=4 conn_cur=3\n/);

    // Sessions end in both workers: conn_cur back to 0 in the shared entry.
    for (const h of held) h.socket.destroy();
    await waitForAsync(async () => /key=127\.0\.0\.1 use=0 exp=\d+ conn_cnt=4 conn_cur=0\n/.test(await admin.text('show table fe')), 'every worker to give its sessions back');

    // A reload with the same tables keeps them: counts go on, the client still goes to s2.
    expect(await cli(master, 'reload')).toBe('Success=1\n');
    for (let i = 0; i < 3; i++) {
      const again = await heldSessionFrom(cleanups, port, '127.0.0.1');
      expect(again.server).toBe('s2');
      again.socket.destroy();
    }
    await waitForAsync(async () => /key=127\.0\.0\.1 use=0 exp=\d+ conn_cnt=7 conn_cur=0\n/.test(await admin.text('show table fe')), 'the counts to go on after the reload');
    expect(await admin.text('show table be')).toMatch(/key=127\.0\.0\.1 use=0 exp=\d+ server_id=2 server_key=s2\n/);
  }, 60_000);
});
