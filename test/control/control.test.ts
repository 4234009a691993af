/**
 * The runtime API over real sockets, in a single process: every command at the levels it is
 * allowed and refused at, its effect on traffic (maint sends no new session, drain keeps the
 * existing ones, `shutdown session` cuts exactly that one), the text protocol (';', prompt,
 * quit) and JSON-RPC on the same socket, the typed client and `epoxy ctl`.
 */
import { spawn } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlClient, ControlError } from '../../src/control/client.js';
import { parseConfig } from '../../src/config/index.js';
import { start, type RunningProxy } from '../../src/runtime/start.js';
import { BIN, configText, tempDir, type Cleanup } from '../helpers/master.js';
import { holdingServer, heldSession } from '../helpers/servers.js';
import { freePort, waitFor, waitForAsync } from '../helpers/sockets.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(extraGlobal: string[] = []): Promise<{ running: RunningProxy; port: number; admin: ControlClient; operator: ControlClient; user: ControlClient; dir: string }> {
  const a = (await holdingServer(cleanups, 'a')).port;
  const b = (await holdingServer(cleanups, 'b')).port;
  const port = await freePort();
  const dir = tempDir(cleanups, 'epoxy-control-');
  const text = configText(
    [`stats socket ${join(dir, 'admin.sock')} level admin`, `stats socket ${join(dir, 'op.sock')}`, `stats socket ${join(dir, 'user.sock')} level user`, ...extraGlobal],
    ['frontend fe', `    bind 127.0.0.1:${port} accept-proxy`, '    default_backend be', 'backend be', `    server a 127.0.0.1:${a}`, `    server b 127.0.0.1:${b}`],
  );
  const running = await start(parseConfig([{ name: 'control.cfg', text }], { env: {} }));
  cleanups.push(() => running.stop());
  return {
    running,
    port,
    admin: new ControlClient(join(dir, 'admin.sock')),
    operator: new ControlClient(join(dir, 'op.sock')),
    user: new ControlClient(join(dir, 'user.sock')),
    dir,
  };
}

/** A PROXY v1 header from a made-up client, then '?': the way into the `accept-proxy` frontend. */
function viaProxy(port: number, payload = 'PROXY TCP4 192.0.2.1 192.0.2.2 40000 80\r\n?'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1', () => socket.write(payload));
    let text = '';
    socket.on('data', (c: Buffer) => {
      text += c.toString();
      socket.end();
    });
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
}

function sessionVia(port: number): ReturnType<typeof heldSession> {
  return heldSession(cleanups, port, 'PROXY TCP4 192.0.2.1 192.0.2.2 40000 80\r\n?');
}

/** Runs node with `args` without blocking this process (the proxy under test runs in it). */
function run(args: string[]): Promise<{ status: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.on('close', (status) => resolve({ status, stdout }));
  });
}

const ADMIN_ONLY = [
  'shutdown session 0x1',
  'shutdown sessions server be/a',
  'disable server be/a',
  'enable server be/a',
  'disable health be/a',
  'enable health be/a',
  'disable frontend fe',
  'enable frontend fe',
  'set server be/a state ready',
  'set maxconn server be/a 10',
  'set maxconn frontend fe 10',
  'set maxconn global 10',
];

describe('runtime API levels', () => {
  it('user and operator are refused every admin command, as HAProxy refuses them; help lists only what a level may run', async () => {
    const { user, operator, admin } = await setup();
    for (const command of ADMIN_ONLY) {
      // HAProxy 2.6, observed on a `level user` and a default (operator) socket: "Permission denied".
      expect(await user.text(command), command).toBe('Permission denied\n\n');
      expect(await operator.text(command), command).toBe('Permission denied\n\n');
    }
    expect(await user.text('show sess')).toBe('Permission denied\n\n');
    expect(await user.text('show errors')).toBe('Permission denied\n\n');
    expect(await operator.text('show errors')).toMatch(/^Total events captured on \[.*\] : 0\n\n$/);
    expect(await user.text('show servers state')).toMatch(/^1\n# be_id be_name srv_id srv_name srv_addr /);
    expect(await user.text('show activity')).toBe('Permission denied\n\n');
    expect(await user.text('show stat')).toMatch(/^# pxname,svname,qcur,qmax,scur,smax,/);
    expect(await user.text('show info')).toMatch(/^Name: epoxy\n/m);
    expect(await user.text('clear counters')).toBe('Permission denied\n\n');
    expect(await operator.text('clear counters')).toBe('\n');
    expect(await operator.text('clear counters all')).toBe('Permission denied\n\n');
    expect(await admin.text('clear counters all')).toBe('\n');
    const activity = await operator.text('show activity');
    expect(activity).toMatch(new RegExp(`^pid: ${process.pid}\nloops: \\d+\n`));
    expect(activity).toMatch(/\nsessions: \d+\n/);
    // the process-wide JS heap and GC counters follow (src/loop/heap-activity.ts)
    expect(activity).toMatch(/\nheapAllocatedBytes: \d+\nheapUsedBytes: \d+\ngcScavenges: \d+\ngcMarkCompacts: \d+\n/);
    const userHelp = await user.text('help');
    expect(userHelp).toContain('show servers state');
    expect(userHelp).not.toContain('set server');
    expect(await admin.text('help')).toContain('set server <bk>/<srv> [opts]');
    await expect(user.call('disable server', ['be/a'])).rejects.toMatchObject({ rpcCode: -32000, message: 'Permission denied' });
  });
});

describe('runtime API commands', () => {
  it('set server state maint / drain / ready: maint takes no new session, drain keeps the open ones, ready takes traffic again', async () => {
    const { port, admin, running } = await setup();
    const before = await Promise.all([viaProxy(port), viaProxy(port), viaProxy(port), viaProxy(port)]);
    expect(new Set(before)).toEqual(new Set(['a', 'b']));

    const open = await sessionVia(port);
    expect(await admin.text(`set server be/${open.server} state drain`)).toBe('\n');
    const other = open.server === 'a' ? 'b' : 'a';
    for (let i = 0; i < 6; i++) expect(await viaProxy(port)).toBe(other);
    // Drain keeps the session it had: it still answers.
    open.socket.write('?');
    expect(await new Promise<string>((resolve) => open.socket.once('data', (c: Buffer) => resolve(c.toString())))).toBe(open.server);

    expect(await admin.text(`set server be/${open.server} state maint`)).toBe('\n');
    const server = running.runtime.backends.get('be')!.servers.find((s) => s.name === open.server)!;
    expect(server.admin).toBe('maint');
    for (let i = 0; i < 6; i++) expect(await viaProxy(port)).toBe(other);
    expect(await admin.text(`set server be/${open.server} state ready`)).toBe('\n');
    const after = new Set<string>();
    for (let i = 0; i < 6; i++) after.add(await viaProxy(port));
    expect(after).toEqual(new Set(['a', 'b']));
    // HAProxy's answers to what is wrong, word for word (observed).
    expect(await admin.text('set server be/a state foo')).toBe("'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n");
    expect(await admin.text('set server be/nope state maint')).toBe('No such server.\n\n');
    expect(await admin.text('set server nope/a state maint')).toBe('No such backend.\n\n');
    expect(await admin.text('set server be state maint')).toBe("Require 'backend/server'.\n\n");
  });

  it('disable/enable server, weight (absolute and relative), addr, maxconn', async () => {
    const { port, admin, running } = await setup();
    const servers = running.runtime.backends.get('be')!.servers;
    expect(await admin.text('disable server be/a')).toBe('\n');
    for (let i = 0; i < 4; i++) expect(await viaProxy(port)).toBe('b');
    expect(await admin.text('enable server be/a')).toBe('\n');
    expect(servers[0]!.admin).toBe('ready');

    expect(await admin.text('set server be/a weight 0')).toBe('\n');
    for (let i = 0; i < 4; i++) expect(await viaProxy(port)).toBe('b');
    expect(await admin.text('set server be/a weight 500')).toBe('Absolute weight can only be between 0 and 256 inclusive.\n\n');
    expect(await admin.text('set server be/a weight 50%')).toBe('\n');
    expect(servers[0]!.weight).toBe(0); // 50% of its configured weight 1, rounded down
    expect(await admin.text('set server be/a weight 1')).toBe('\n');

    // addr: the server moves to b's port; traffic to "a" now reaches b.
    const bPort = servers[1]!.address!.port;
    const aPort = servers[0]!.address!.port;
    // HAProxy 2.6's answer, observed: "no need to change the addr, port changed from '18081' to '18085' by 'stats socket command'".
    expect(await admin.text(`set server be/a addr 127.0.0.1 port ${bPort}`)).toBe(`no need to change the addr, port changed from '${aPort}' to '${bPort}' by 'stats socket command'\n\n`);
    expect(new Set([await viaProxy(port), await viaProxy(port), await viaProxy(port), await viaProxy(port)])).toEqual(new Set(['b']));
    expect(await admin.text('set server be/a addr nonsense')).toBe("Invalid addr 'nonsense' by 'stats socket command'\n\n");

    expect(await admin.text('set maxconn server be/b 7')).toBe('\n');
    expect(servers[1]!.maxconn).toBe(7);
    expect(await admin.text('set maxconn frontend fe 9')).toBe('\n');
    expect(running.runtime.frontends.get('fe')!.maxconn).toBe(9);
    expect(await admin.text('set maxconn frontend nope 9')).toBe('No such frontend.\n\n');
    expect(await admin.text('set maxconn global 5')).toBe('\n');
    expect(running.engine.maxconn).toBe(5);
    expect(await admin.text(`set maxconn global ${running.limits.maxconn + 1}`)).toBe('Value out of range.\n\n');
  });

  it('show sess lists the open sessions; shutdown session cuts exactly that one; shutdown sessions server cuts a server’s', async () => {
    const { port, admin, operator } = await setup();
    const one = await sessionVia(port);
    const two = await sessionVia(port);
    const listed = (await operator.text('show sess')).trim().split('\n');
    expect(listed).toHaveLength(2);
    for (const line of listed) expect(line).toMatch(/^0x[0-9a-f]{16}: proto=tcpv4 src=192\.0\.2\.1:40000 fe=fe be=be srv=[ab] age=\d+s phase=established$/);
    const { data } = await operator.call<{ sessions: { id: string; server: string }[] }>('show sess');
    expect(data!.sessions.map((s) => s.server).sort()).toEqual([one.server, two.server].sort());
    const target = data!.sessions.find((s) => s.server === one.server)!;
    expect(await admin.text(`shutdown session ${target.id}`)).toBe('\n');
    await one.closed;
    // The other one is untouched.
    two.socket.write('?');
    expect(await new Promise<string>((resolve) => two.socket.once('data', (c: Buffer) => resolve(c.toString())))).toBe(two.server);
    expect(await admin.text(`shutdown session ${target.id}`)).toBe("No such session (use 'show sess').\n\n");

    expect(await admin.text(`shutdown sessions server be/${two.server}`)).toBe('\n');
    await two.closed;
    expect((await operator.text('show sess')).trim()).toBe('');
  });

  it('show errors keeps the bytes of rejected PROXY headers', async () => {
    const { port, operator } = await setup();
    // The connection is reset (HAProxy's answer to a bad header): only its capture matters here.
    await viaProxy(port, 'GET / HTTP/1.0\r\n\r\n').catch(() => '');
    await waitForAsync(async () => (await operator.text('show errors')).includes(': 1\n'), 'the error to be captured');
    const text = await operator.text('show errors');
    expect(text).toContain('frontend fe: invalid PROXY header from 127.0.0.1:');
    expect(text).toContain('47 45 54 20 2f 20 48 54 54 50 2f 31 2e 30 0d 0a  GET / HTTP/1.0..');
  });

  it('disable health stops the checks and counts the server up; enable health resumes them', async () => {
    const a = (await holdingServer(cleanups, 'a')).port;
    const port = await freePort();
    const dir = tempDir(cleanups, 'epoxy-control-');
    const text = configText(
      [`stats socket ${join(dir, 'admin.sock')} level admin`],
      ['listen app', `    bind 127.0.0.1:${port}`, `    server a 127.0.0.1:${a} check inter 100 rise 1 fall 1`, `    server gone 127.0.0.1:1 check inter 100 rise 1 fall 1`],
    );
    const running = await start(parseConfig([{ name: 'health.cfg', text }], { env: {} }));
    cleanups.push(() => running.stop());
    const admin = new ControlClient(join(dir, 'admin.sock'));
    const gone = running.runtime.backends.get('app')!.servers[1]!;
    await waitFor(() => gone.health === 'down', 'the dead server to be found down');
    expect(await admin.text('disable health app/gone')).toBe('\n');
    expect(gone.health).toBe('up');
    const attempts = (): number => running.checker!.stats().get('app/gone')!.attempts;
    const frozen = attempts();
    const started = Date.now();
    await waitFor(() => Date.now() - started > 400, '4 check intervals');
    expect(attempts()).toBeLessThanOrEqual(frozen + 1); // at most the one under way when it was disabled
    expect(gone.health).toBe('up');
    expect(await admin.text('enable health app/gone')).toBe('\n');
    await waitFor(() => gone.health === 'down', 'checks to find it down again');
  });

  it('disable frontend stops accepting; enable frontend accepts again', async () => {
    const { port, admin } = await setup();
    expect(await viaProxy(port)).toMatch(/^[ab]$/);
    expect(await admin.text('disable frontend fe')).toBe('\n');
    await expect(viaProxy(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(await admin.text('enable frontend fe')).toBe('\n');
    expect(await viaProxy(port)).toMatch(/^[ab]$/);
    expect(await admin.text('disable frontend nope')).toBe('No such frontend.\n\n');
  });
});

describe('runtime API protocol', () => {
  it("several commands split by ';', an unknown command, prompt mode with quit", async () => {
    const { admin, dir } = await setup();
    const two = await admin.text('disable server be/a; enable server be/a');
    expect(two).toBe('\n\n');
    expect(await admin.text('frobnicate')).toMatch(/^Unknown command, but maybe one of the following ones is a better match:\n/);
    const answer = await new Promise<string>((resolve) => {
      const socket = netConnect(join(dir, 'admin.sock'));
      let text = '';
      socket.on('data', (c: Buffer) => {
        text += c.toString();
        if (text.endsWith('> ') && !text.includes('No such')) socket.write('disable server be/zz\n');
        else if (text.endsWith('> ')) socket.write('quit\n');
      });
      socket.on('close', () => resolve(text));
      socket.on('connect', () => socket.write('prompt\n'));
    });
    expect(answer).toBe('> No such server.\n\n> ');
  });

  it('JSON-RPC on the same socket: results with data, errors with codes; the typed client', async () => {
    const { admin } = await setup();
    const state = await admin.call<{ rows: string[] }>('show servers state', ['be']);
    expect(state.data!.rows).toHaveLength(2);
    expect(state.text).toContain('# be_id be_name');
    await expect(admin.call('set server', ['be/nope', 'state', 'maint'])).rejects.toMatchObject({ rpcCode: -32001, message: 'No such server.' });
    await expect(admin.call('frobnicate')).rejects.toBeInstanceOf(ControlError);
    await expect(admin.call('frobnicate')).rejects.toMatchObject({ rpcCode: -32601 });
    // A batch, and a malformed line, answered on one connection.
    const raw = await new Promise<string>((resolve) => {
      const socket = netConnect(admin.address);
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString()));
      socket.on('close', () => resolve(text));
      socket.on('connect', () =>
        socket.end('[{"jsonrpc":"2.0","id":1,"method":"set server","params":["be/a","state","drain"]},{"jsonrpc":"2.0","id":2,"method":"show servers state","params":["nope"]}]\n{not json\n'),
      );
    });
    const [batch, malformed] = raw.trim().split('\n').map((l) => JSON.parse(l));
    expect(batch).toEqual([
      { jsonrpc: '2.0', id: 1, result: { text: '' } },
      { jsonrpc: '2.0', id: 2, error: { code: -32001, message: "Can't find backend." } },
    ]);
    expect(malformed).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
  });

  it('epoxy ctl runs a command, as text or as JSON-RPC', async () => {
    const { dir } = await setup();
    const sock = join(dir, 'admin.sock');
    const text = await run([BIN, 'ctl', sock, 'show', 'servers', 'state', 'be']);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/^1\n# be_id be_name/);
    const json = await run([BIN, 'ctl', '--json', sock, 'set', 'server', 'be/nope', 'state', 'maint']);
    expect(json.status).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({ error: { code: -32001, message: 'No such server.' } });
  });
});
