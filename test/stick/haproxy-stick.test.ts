/**
 * Stick tables next to HAProxy 2.6, on one configuration and one sequence of connections: the
 * same connections refused by a rate limit, the same counts in `show table` (conn_cnt,
 * conn_rate, conn_cur, sess_cnt, gpc0 and its rate, gpt0, bytes), the same server remembered
 * by `stick on src`, and the same answers of show/clear table, byte for byte once the entry
 * addresses and the milliseconds left (`exp=`) are masked. Observations: docs/observed/haproxy-stick-tables.md.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { haproxyAvailable } from '../helpers/haproxy.js';
import { cli, configText, startMaster, tempDir, writeFile, type Cleanup } from '../helpers/master.js';
import { answeredFrom, heldSessionFrom, holdingServer } from '../helpers/servers.js';
import { freePort, waitForAsync } from '../helpers/sockets.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** What the two may differ in: where an entry lives in memory, the ms left to it. */
const masked = (text: string): string => text.replace(/^0x[0-9a-f]+:/gm, '0x?:').replace(/exp=\d+/g, 'exp=?');

describe.skipIf(!haproxyAvailable)('stick tables next to HAProxy 2.6', () => {
  it('counts, refuses, sticks and answers the runtime API as HAProxy does', async () => {
    const s1 = await holdingServer(cleanups, 's1');
    const s2 = await holdingServer(cleanups, 's2');
    const dir = tempDir(cleanups);
    const body = (port: number): string[] => [
      'frontend fe',
      `    bind 127.0.0.1:${port}`,
      '    stick-table type ip size 1k expire 60s store conn_cur,conn_cnt,conn_rate(60s),sess_cnt,sess_rate(60s),gpc0,gpc0_rate(60s),gpt0,bytes_in_cnt,bytes_out_cnt',
      '    tcp-request connection track-sc0 src',
      '    tcp-request connection sc-inc-gpc0(0) if { src 127.0.0.1 }',
      '    tcp-request connection sc-set-gpt0(0) 7 if { src 127.0.0.1 }',
      '    tcp-request connection reject if { sc_conn_rate(0) gt 3 }',
      '    default_backend be',
      'backend be',
      '    balance roundrobin',
      '    stick-table type ip size 1k expire 30m',
      '    stick on src',
      `    server s1 127.0.0.1:${s1.port}`,
      `    server s2 127.0.0.1:${s2.port}`,
    ];
    const ports = { haproxy: await freePort(), epoxy: await freePort() };
    const sockets = { haproxy: join(dir, 'haproxy.sock'), epoxy: join(dir, 'epoxy.sock') };
    const haproxyFile = writeFile(dir, 'haproxy.cfg', configText(['maxconn 100', `stats socket ${sockets.haproxy} level admin`], body(ports.haproxy)));
    const epoxyFile = writeFile(dir, 'epoxy.cfg', configText(['maxconn 100', `stats socket ${sockets.epoxy} level admin`], body(ports.epoxy)));
    const child = spawn('haproxy', ['-db', '-f', haproxyFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.resume();
    cleanups.push(() => void child.kill('SIGKILL'));
    await startMaster(cleanups, ['-f', epoxyFile], { ready: 'listening on' });
    await waitForAsync(async () => (await cli(sockets.haproxy, 'show table').catch(() => '')).includes('# table: fe'), 'HAProxy to serve its stats socket');

    const both = async (line: string): Promise<{ haproxy: string; epoxy: string }> => ({
      haproxy: masked(await cli(sockets.haproxy, line)),
      epoxy: masked(await cli(sockets.epoxy, line)),
    });
    const same = async (line: string): Promise<string> => {
      const answers = await both(line);
      expect(answers.epoxy, line).toBe(answers.haproxy);
      return answers.epoxy;
    };

    for (const target of ['haproxy', 'epoxy'] as const) {
      const port = ports[target];
      // Five connections from one client: the fourth and fifth are over the rate.
      const served: boolean[] = [];
      for (let i = 0; i < 5; i++) served.push(await answeredFrom(port, '127.0.0.2'));
      expect(served, target).toEqual([true, true, true, false, false]);
    }
    // Every session ended on both before comparing (the last FIN may still be on its way).
    await waitForAsync(async () => {
      const answers = await both('show table fe');
      return [answers.haproxy, answers.epoxy].every((t) => t.includes('conn_cur=0') && !t.includes('use=1'));
    }, 'both to let the entries go');
    await same('show table fe');
    await same('show table be');

    // A session held from another client, flagged by the counter actions.
    for (const target of ['haproxy', 'epoxy'] as const) {
      const held = await heldSessionFrom(cleanups, ports[target], '127.0.0.1');
      expect(held.server).toBe('s2');
    }
    const fe = await same('show table fe');
    expect(fe).toContain('key=127.0.0.1 use=1 exp=? gpt0=7 gpc0=1 gpc0_rate(60000)=1 conn_cnt=1 conn_rate(60000)=1 conn_cur=1 sess_cnt=1 sess_rate(60000)=1 bytes_in_cnt=0 bytes_out_cnt=0');
    await same('show table be');
    await same('show table');
    await same('show table fe key 127.0.0.1');
    await same('show table fe data.conn_cnt gt 2');
    await same('show table nope');
    await same('show table fe key');
    await same('show table fe data.foo gt 1');
    // clear table: what is in use stays. (HAProxy 2.6 also leaves the unused entries that come
    // before one in use in key order, a quirk epoxy does not copy: here the unused one comes after.)
    await same('clear table fe');
    await same('show table fe');
  }, 60_000);
});
