/**
 * Protection with stick tables over real sockets, in one process: a source opening connections
 * fast is refused above the configured rate while another source is unaffected, concurrent
 * connections per source are capped, and a client flagged in the table (gpc0 set on the runtime
 * API) is refused by `src_get_gpc0`.
 */
import { connect as netConnect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/parser.js';
import { runCommand } from '../../src/control/commands.js';
import { start, type RunningProxy } from '../../src/runtime/start.js';
import type { Cleanup } from '../helpers/master.js';
import { answeredFrom, heldSessionFrom, holdingServer } from '../helpers/servers.js';
import { freePort, waitForAsync } from '../helpers/sockets.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function proxy(port: number, server: number, rules: string): Promise<RunningProxy> {
  const text = `
defaults
  mode tcp
  timeout connect 2s
  timeout client 30s
  timeout server 30s
frontend fe
  bind 127.0.0.1:${port}
  stick-table type ip size 1k expire 60s store conn_cur,conn_cnt,conn_rate(60s),gpc0
${rules}
  default_backend be
backend be
  server s1 127.0.0.1:${server}
`;
  const running = await start(parseConfig([{ name: 'limits.cfg', text }]), { quiet: true, signals: false });
  cleanups.push(() => running.kill());
  return running;
}

const denied = async (running: RunningProxy): Promise<number> => {
  const row = (await runCommand('show stat', 'admin', running.control)).text.split('\n').find((l) => l.startsWith('fe,FRONTEND,'));
  // dcon: denied connections (HAProxy's show stat field 81, counting from 0 at pxname).
  const header = (await runCommand('show stat', 'admin', running.control)).text.split('\n')[0]!.replace(/^# /, '').split(',');
  return Number(row!.split(',')[header.indexOf('dcon')]);
};

describe('limits with stick tables', () => {
  it('refuses a source above 20 connections per minute; another source is unaffected', async () => {
    const server = await holdingServer(cleanups, 's1');
    const port = await freePort();
    const running = await proxy(port, server.port, '  tcp-request connection track-sc0 src\n  tcp-request connection reject if { sc_conn_rate(0) gt 20 }');
    let served = 0;
    for (let i = 0; i < 50; i++) if (await answeredFrom(port, '127.0.0.1')) served++;
    // The rate counts the connection being decided: the 21st sees 21. A period boundary crossed
    // during the run adds at most the previous period's share of the elapsed fraction (1/60 per
    // second of run here), so a slow machine may let one or two more through, never fewer.
    expect(served).toBeGreaterThanOrEqual(20);
    expect(served).toBeLessThanOrEqual(23);
    expect(await denied(running)).toBe(50 - served);
    for (let i = 0; i < 10; i++) expect(await answeredFrom(port, '127.0.0.2')).toBe(true);
    const show = async (): Promise<string> => (await runCommand('show table fe', 'admin', running.control)).text;
    // The last session's end reaches epoxy after the client saw its answer.
    await waitForAsync(async () => !(await show()).includes('conn_cur=1'), 'every session to end');
    const table = await show();
    expect(table).toMatch(/key=127\.0\.0\.1 use=0 exp=\d+ gpc0=0 conn_cnt=50 conn_rate\(60000\)=(4\d|50) conn_cur=0(\n|$)/m);
    expect(table).toMatch(/key=127\.0\.0\.2 use=0 exp=\d+ gpc0=0 conn_cnt=10 conn_rate\(60000\)=\d+ conn_cur=0(\n|$)/m);
  }, 30_000);

  it('caps concurrent connections per source', async () => {
    const server = await holdingServer(cleanups, 's1');
    const port = await freePort();
    const running = await proxy(port, server.port, '  tcp-request connection track-sc1 src\n  tcp-request connection reject if { sc1_conn_cur gt 3 }');
    const held = [];
    for (let i = 0; i < 3; i++) held.push(await heldSessionFrom(cleanups, port, '127.0.0.1'));
    expect(await answeredFrom(port, '127.0.0.1')).toBe(false);
    expect(await answeredFrom(port, '127.0.0.2')).toBe(true);
    held[0]!.socket.destroy();
    await waitForAsync(async () => (await runCommand('show table fe', 'admin', running.control)).text.includes('key=127.0.0.1 use=2'), 'the first session to end');
    expect(await answeredFrom(port, '127.0.0.1')).toBe(true);
  }, 30_000);

  it('refuses a client flagged on the runtime API, by src_get_gpc0', async () => {
    const server = await holdingServer(cleanups, 's1');
    const port = await freePort();
    const running = await proxy(port, server.port, '  tcp-request connection reject if { src_get_gpc0 gt 0 }\n  tcp-request connection track-sc0 src');
    expect(await answeredFrom(port, '127.0.0.3')).toBe(true);
    expect((await runCommand('set table fe key 127.0.0.3 data.gpc0 1', 'admin', running.control)).text).toBe('');
    expect(await answeredFrom(port, '127.0.0.3')).toBe(false);
    expect(await answeredFrom(port, '127.0.0.4')).toBe(true);
  }, 30_000);
});
