/**
 * Stick tables end to end over real sockets, in one process: tracked connections counted in the
 * table (conn_cur while they live, conn_cnt, sess_cnt, gpc0, the bytes they carried once they
 * end), `stick on src` keeping a client on its server where balancing would move it, and the
 * runtime API's show/set/clear table in HAProxy's layout.
 */
import { connect as netConnect, createServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/parser.js';
import { runCommand } from '../../src/control/commands.js';
import { start, type RunningProxy } from '../../src/runtime/start.js';
import type { Cleanup } from '../helpers/master.js';
import { heldSessionFrom, holdingServer } from '../helpers/servers.js';
import { freePort, waitForAsync } from '../helpers/sockets.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The ClientHello Node's TLS sends for `servername` (captured by a plain server, never answered). */
async function clientHello(servername: string): Promise<Buffer> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const captured = new Promise<Buffer>((resolve) =>
    server.once('connection', (socket) =>
      socket.once('data', (c: Buffer) => {
        socket.destroy();
        resolve(c);
      }),
    ),
  );
  const tls = tlsConnect({ port, host: '127.0.0.1', servername, rejectUnauthorized: false });
  tls.on('error', () => {});
  const bytes = await captured;
  tls.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return bytes;
}

async function proxy(text: string): Promise<RunningProxy> {
  const running = await start(parseConfig([{ name: 'stick.cfg', text }]), { quiet: true, signals: false });
  cleanups.push(() => running.kill());
  return running;
}

const admin = async (running: RunningProxy, line: string): Promise<string> => (await runCommand(line, 'admin', running.control)).text;

/** `show table <t>`'s entry lines, with the address column dropped and exp= replaced by 'X'. */
async function entries(running: RunningProxy, table: string): Promise<string[]> {
  const text = await admin(running, `show table ${table}`);
  return text
    .split('\n')
    .filter((l) => l.startsWith('0x'))
    .map((l) => l.replace(/^0x[0-9a-f]+: /, '').replace(/exp=\d+/, 'exp=X'));
}

describe('stick tables in one process', () => {
  it('counts tracked connections, sticks a client to its server, and answers show/set/clear table', async () => {
    const s1 = await holdingServer(cleanups, 's1');
    const s2 = await holdingServer(cleanups, 's2');
    const port = await freePort();
    const running = await proxy(`
defaults
  mode tcp
  timeout connect 2s
  timeout client 30s
  timeout server 30s
frontend fe
  bind 127.0.0.1:${port}
  stick-table type ip size 1k expire 30s store conn_cur,conn_cnt,conn_rate(10s),sess_cnt,bytes_in_cnt,bytes_out_cnt,gpc0
  tcp-request connection track-sc0 src
  tcp-request connection sc-inc-gpc0(0)
  default_backend be
backend be
  balance roundrobin
  stick-table type ip size 1k expire 30m
  stick on src
  server s1 127.0.0.1:${s1.port}
  server s2 127.0.0.1:${s2.port}
`);

    // Two sessions from one client: the second goes where the first went, not round the robin.
    const a = await heldSessionFrom(cleanups, port, '127.0.0.1');
    const b = await heldSessionFrom(cleanups, port, '127.0.0.1');
    expect(b.server).toBe(a.server);
    expect(await entries(running, 'fe')).toEqual(['key=127.0.0.1 use=2 exp=X gpc0=2 conn_cnt=2 conn_rate(10000)=2 conn_cur=2 sess_cnt=2 bytes_in_cnt=0 bytes_out_cnt=0']);
    expect(await entries(running, 'be')).toEqual([`key=127.0.0.1 use=0 exp=X server_id=${a.server === 's1' ? 1 : 2} server_key=${a.server}`]);

    // Once they end: conn_cur back to 0, the entry let go, the bytes counted ('?' each way, twice).
    a.socket.destroy();
    b.socket.destroy();
    await waitForAsync(async () => (await entries(running, 'fe'))[0]!.includes('use=0'), 'the entry to be let go');
    expect(await entries(running, 'fe')).toEqual(['key=127.0.0.1 use=0 exp=X gpc0=2 conn_cnt=2 conn_rate(10000)=2 conn_cur=0 sess_cnt=2 bytes_in_cnt=2 bytes_out_cnt=4']);

    // An entry set by hand sends that client to that server.
    const other = a.server === 's1' ? 's2' : 's1';
    expect(await admin(running, `set table be key 127.0.0.3 data.server_id ${other === 's1' ? 1 : 2}`)).toBe('');
    for (let i = 0; i < 3; i++) {
      const c = await heldSessionFrom(cleanups, port, '127.0.0.3');
      expect(c.server).toBe(other);
      c.socket.destroy();
    }
    // The proxy hears of those ends a moment later (with the relay on its own thread, later still
    // on a loaded machine): until then the entry is held, and `clear table` below would keep it.
    await waitForAsync(async () => (await entries(running, 'fe')).some((l) => l.startsWith('key=127.0.0.3 use=0 ')), "127.0.0.3's sessions to end");

    // Headers of every table, the last declared first; filters; user level sees no contents.
    expect(await admin(running, 'show table')).toBe('# table: be, type: ip, size:1024, used:2\n# table: fe, type: ip, size:1024, used:2\n');
    const byKey = await admin(running, 'show table fe key 127.0.0.3');
    expect(byKey.split('\n').filter((l) => l.startsWith('0x'))).toHaveLength(1);
    const byData = await admin(running, 'show table fe data.conn_cnt gt 2');
    expect(byData.split('\n').filter((l) => l.startsWith('0x'))).toHaveLength(1);
    expect((await runCommand('show table fe', 'user', running.control)).text).toBe('# table: fe, type: ip, size:1024, used:2\n# contents not dumped due to insufficient privileges\n');
    expect(await admin(running, 'show table nope')).toBe('No such table\n');
    expect(await admin(running, 'show table fe key')).toBe('Key value expected\n');
    expect(await admin(running, 'show table fe data.foo gt 1')).toBe('Filter entry #1: Unknown data type\n');

    // clear table removes what no connection holds.
    const held = await heldSessionFrom(cleanups, port, '127.0.0.1');
    expect(await admin(running, 'clear table fe')).toBe('');
    expect((await entries(running, 'fe')).map((l) => l.split(' ')[0])).toEqual(['key=127.0.0.1']);
    held.socket.destroy();
    await waitForAsync(async () => (await entries(running, 'fe'))[0]?.includes('use=0') ?? false, 'the held entry to be let go');
    expect(await admin(running, 'clear table fe key 127.0.0.1')).toBe('');
    expect(await entries(running, 'fe')).toEqual([]);
  }, 30_000);

  it('tracks from content rules on the first bytes, waiting for a key that is not there yet', async () => {
    const s1 = await holdingServer(cleanups, 's1');
    const port = await freePort();
    const running = await proxy(`
defaults
  mode tcp
  timeout connect 2s
  timeout client 30s
  timeout server 30s
listen app
  bind 127.0.0.1:${port}
  stick-table type string len 16 size 10 store conn_cnt,conn_cur
  tcp-request inspect-delay 10s
  tcp-request content track-sc1 req.ssl_sni,lower
  tcp-request content accept if { req.ssl_hello_type 1 }
  server s1 127.0.0.1:${s1.port}
`);
    // A ClientHello in two parts: nothing is tracked until the SNI is in.
    const hello = await clientHello('A.Example');
    const client = netConnect(port, '127.0.0.1');
    client.on('error', () => {});
    cleanups.push(() => void client.destroy());
    await new Promise<void>((resolve) => client.on('connect', () => resolve()));
    client.write(hello.subarray(0, 20));
    const seen = await entries(running, 'app');
    client.write(hello.subarray(20));
    const answer = await new Promise<string>((resolve) => client.once('data', (c: Buffer) => resolve(c.toString())));
    expect(seen).toEqual([]);
    expect(answer).toBe('s1');
    expect(await entries(running, 'app')).toEqual(['key=a.example use=1 exp=X conn_cnt=1 conn_cur=1']);
    client.destroy();
    await waitForAsync(async () => (await entries(running, 'app'))[0] === 'key=a.example use=0 exp=X conn_cnt=1 conn_cur=0', 'the entry to be let go');

    // Plain bytes: no ClientHello, so no key; once the bytes are final the session goes on untracked.
    const plain = netConnect(port, '127.0.0.1');
    plain.on('error', () => {});
    plain.resume();
    plain.end('hello');
    await new Promise<void>((resolve) => plain.on('close', () => resolve()));
    expect(await entries(running, 'app')).toHaveLength(1);
  }, 30_000);

  it("shares a table between backends (HAProxy's pop/smtp example) and keeps a full nopurge table's entries", async () => {
    const pop1 = await holdingServer(cleanups, 'pop1');
    const pop2 = await holdingServer(cleanups, 'pop2');
    const smtp1 = await holdingServer(cleanups, 'smtp1');
    const smtp2 = await holdingServer(cleanups, 'smtp2');
    const [popPort, smtpPort, limitedPort] = [await freePort(), await freePort(), await freePort()];
    const running = await proxy(`
defaults
  mode tcp
  timeout connect 2s
  timeout client 30s
  timeout server 30s
listen pop
  bind 127.0.0.1:${popPort}
  balance roundrobin
  stick store-request src
  stick-table type ip size 200k expire 30m
  server s1 127.0.0.1:${pop1.port}
  server s2 127.0.0.1:${pop2.port}
listen smtp
  bind 127.0.0.1:${smtpPort}
  balance roundrobin
  stick match src table pop
  server s1 127.0.0.1:${smtp1.port}
  server s2 127.0.0.1:${smtp2.port}
listen limited
  bind 127.0.0.1:${limitedPort}
  stick-table type ip size 2 nopurge store conn_cnt
  tcp-request connection track-sc0 src
  server s1 127.0.0.1:${pop1.port}
`);
    // Two POP users land on s1 and s2; SMTP then sends each to the server of the same id.
    const a = await heldSessionFrom(cleanups, popPort, '127.0.0.1');
    const b = await heldSessionFrom(cleanups, popPort, '127.0.0.2');
    expect([a.server, b.server].sort()).toEqual(['pop1', 'pop2']);
    for (let i = 0; i < 3; i++) {
      expect((await heldSessionFrom(cleanups, smtpPort, '127.0.0.1')).server).toBe(a.server.replace('pop', 'smtp'));
      expect((await heldSessionFrom(cleanups, smtpPort, '127.0.0.2')).server).toBe(b.server.replace('pop', 'smtp'));
    }

    // A full nopurge table keeps who it has: a third client is served but not tracked.
    for (const from of ['127.0.0.1', '127.0.0.2', '127.0.0.3']) (await heldSessionFrom(cleanups, limitedPort, from)).socket.destroy();
    expect((await entries(running, 'limited')).map((l) => l.split(' ')[0])).toEqual(['key=127.0.0.1', 'key=127.0.0.2']);
  }, 30_000);
});
