/**
 * Protocol checks against scripted servers speaking just enough of each protocol: each passes on
 * a good reply and fails with HAProxy's status on a bad one or a timeout; and the two patterns
 * they exist for: sessions follow Redis's `role:master` and Patroni's primary (HTTP 200 vs 503).
 */
import { createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { answerOf } from '../helpers/load.js';
import { SocketAddress } from '../../src/address.js';
import { parseConfig } from '../../src/config/index.js';
import { compileProgram, runCheck, type CheckProgram } from '../../src/check/protocol-check.js';
import { start } from '../../src/runtime/start.js';
import type { ServerCheck } from '../../src/session/session-types.js';
import { freePort, refusedPort, waitFor, waitForAsync } from '../helpers/sockets.js';
import { native } from '../../src/native.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A server whose answer to what it received is scripted; null: say nothing (and keep the connection). */
async function scripted(reply: (data: Buffer, socket: Socket) => string | Buffer | null): Promise<{ port: number; seen: Buffer[] }> {
  const seen: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.on('data', (data) => {
      seen.push(data);
      const answer = reply(data, socket);
      if (answer !== null) socket.end(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as { port: number }).port, seen };
}

/** The program of a backend's configuration lines. */
function programOf(lines: string[]): CheckProgram {
  const text = ['defaults', '    mode tcp', '    timeout connect 1s', '    timeout client 1s', '    timeout server 1s', 'backend be', ...lines.map((l) => `    ${l}`), '    server s 127.0.0.1:1 check', ''].join('\n');
  const proxy = parseConfig([{ name: 't.cfg', text }], { env: {} }).proxies[0]!;
  return compileProgram(proxy.options, proxy.tcpCheckRules, proxy.httpCheck);
}

function check(port: number, program: CheckProgram, timeout = 1000): ServerCheck {
  return { address: SocketAddress.from('ipv4', '127.0.0.1', port), fixedAddress: false, port: null, inter: 1000, fastinter: 1000, downinter: 1000, rise: 1, fall: 1, timeout, connectTimeout: 1000, program, sendProxy: 0, source: null, spread: 0 };
}

describe('each protocol check against a scripted server', () => {
  it("pgsql-check: a StartupMessage for the user; 'R' passes, 'E' fails with its severity, silence times out", async () => {
    const program = programOf(['option pgsql-check user epoxy']);
    const ok = await scripted(() => Buffer.from('520000000800000000', 'hex'));
    expect(await runCheck(check(ok.port, program))).toMatchObject({ status: 'L7OK', code: 0, info: 'PostgreSQL server is ok' });
    expect(ok.seen[0]!.toString('hex')).toBe(Buffer.concat([Buffer.from('0000001400030000', 'hex'), Buffer.from('user\0epoxy\0\0')]).toString('hex'));
    const error = await scripted(() => Buffer.concat([Buffer.from('450000002a', 'hex'), Buffer.from('SFATAL\0C28000\0Mrole "epoxy" does not exist\0\0')]));
    expect(await runCheck(check(error.port, program))).toMatchObject({ status: 'L7RSP', code: null, info: 'FATAL' });
    const silent = await scripted(() => null);
    expect(await runCheck(check(silent.port, program, 200))).toMatchObject({ status: 'L7TOUT' });
  });

  it('smtpchk: banner, HELO <domain>, QUIT; the last reply is the result; a non-2xx reply fails with its code and text', async () => {
    const conversation = (helo: string) => async (): Promise<{ port: number; seen: Buffer[] }> => {
      const seen: Buffer[] = [];
      const server = createServer((socket) => {
        socket.on('error', () => socket.destroy());
        socket.write('220 mail ESMTP\r\n');
        socket.on('data', (data) => {
          seen.push(data);
          if (data.toString().startsWith('QUIT')) socket.end('221 bye\r\n');
          else socket.write(helo);
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
      return { port: (server.address() as { port: number }).port, seen };
    };
    const good = await conversation('250 mail hello\r\n')();
    expect(await runCheck(check(good.port, programOf(['option smtpchk EHLO epoxy.example'])))).toMatchObject({ status: 'L7OK', code: 221, info: 'bye' });
    expect(good.seen.map(String)).toEqual(['EHLO epoxy.example\r\n', 'QUIT\r\n']);
    const refused = await conversation('550 not you\r\n')();
    expect(await runCheck(check(refused.port, programOf(['option smtpchk'])))).toMatchObject({ status: 'L7STS', code: 550, info: 'not you' });
    expect(refused.seen.map(String)).toEqual(['HELO localhost\r\n']);
    const banner = await (async () => {
      const server = createServer((socket) => socket.end('554 go away\r\n'));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
      return (server.address() as { port: number }).port;
    })();
    expect(await runCheck(check(banner, programOf(['option smtpchk'])))).toMatchObject({ status: 'L7STS', code: 554, info: 'go away' });
  });

  it('mysql-check: the greeting alone without a user; with one, a login (and QUIT) whose OK passes and ERR fails with its number and text', async () => {
    const packet = (seq: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([body.length & 0xff, body.length >> 8, 0, seq]), body]);
    const greeting = packet(0, Buffer.concat([Buffer.from([0x0a]), Buffer.from('8.0.36\0'), Buffer.alloc(40)]));
    const server = async (answer: Buffer): Promise<{ port: number; seen: Buffer[] }> => {
      const seen: Buffer[] = [];
      const s = createServer((socket) => {
        socket.on('error', () => socket.destroy());
        socket.write(greeting);
        socket.on('data', (data) => {
          seen.push(data);
          socket.end(answer);
        });
      });
      await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
      cleanups.push(() => new Promise<void>((resolve) => s.close(() => resolve())));
      return { port: (s.address() as { port: number }).port, seen };
    };
    const ok = await server(packet(2, Buffer.from([0, 0, 0, 2, 0, 0, 0])));
    expect(await runCheck(check(ok.port, programOf(['option mysql-check user epoxy'])))).toMatchObject({ status: 'L7OK', code: 0, info: null });
    // Client Authentication (sequence 1, protocol 4.1, user, no password), then COM_QUIT.
    expect(ok.seen[0]!.toString('hex')).toBe(`27000001008200000080000121${'00'.repeat(23)}${Buffer.from('epoxy').toString('hex')}00000100000001`);
    const denied = await server(packet(2, Buffer.concat([Buffer.from([0xff, 0x15, 0x04]), Buffer.from('#28000Access denied for user')])));
    expect(await runCheck(check(denied.port, programOf(['option mysql-check user epoxy post-41'])))).toMatchObject({ status: 'L7STS', code: 1045, info: '#28000Access denied for user' });
    const quiet = await server(Buffer.alloc(0));
    expect(await runCheck(check(quiet.port, programOf(['option mysql-check'])))).toMatchObject({ status: 'L7OK', code: 0 });
    expect(quiet.seen).toEqual([]);
  });

  it('ldap-check: an anonymous bind; result 0 passes, another code fails L7STS, a non-LDAP answer L7RSP', async () => {
    const program = programOf(['option ldap-check']);
    const ok = await scripted(() => Buffer.from('300c02010161070a010004000400', 'hex'));
    expect(await runCheck(check(ok.port, program))).toMatchObject({ status: 'L7OK', code: 0, info: null });
    expect(ok.seen[0]!.toString('hex')).toBe('300c020101600702010304008000');
    const denied = await scripted(() => Buffer.from('300c02010161070a013104000400', 'hex'));
    expect(await runCheck(check(denied.port, program))).toMatchObject({ status: 'L7STS', code: 49, info: 'See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9' });
    const other = await scripted(() => Buffer.from('300c02010761070a010004000400', 'hex'));
    expect(await runCheck(check(other.port, program))).toMatchObject({ status: 'L7RSP', info: 'Not LDAPv3 protocol' });
  });

  it('ssl-hello-chk: an SSLv3 ClientHello; a handshake or alert record passes (layer 6), anything else fails', async () => {
    const program = programOf(['option ssl-hello-chk']);
    const alert = await scripted(() => Buffer.from('150300000202', 'hex'));
    expect(await runCheck(check(alert.port, program))).toMatchObject({ status: 'L6OK', reason: 'Layer6 check passed', code: null });
    const hello = alert.seen[0]!;
    // record: handshake, SSL 3.0, its length; ClientHello for SSL 3.0
    expect(hello.subarray(0, 3).toString('hex')).toBe('160300');
    expect(hello.readUInt16BE(3)).toBe(hello.length - 5);
    expect(hello[5]).toBe(0x01);
    const http = await scripted(() => 'HTTP/1.0 400 Bad Request\r\n\r\n');
    expect(await runCheck(check(http.port, program))).toMatchObject({ status: 'L6RSP', reason: 'Layer6 invalid response' });
  });

  it('redis-check: PING answered +PONG passes; an error fails L7STS with its text; silence is L7TOUT', async () => {
    const program = programOf(['option redis-check']);
    const good = await scripted(() => '+PONG\r\n');
    expect(await runCheck(check(good.port, program))).toMatchObject({ status: 'L7OK', code: 0, info: 'Redis server is ok' });
    expect(good.seen.map(String)).toEqual(['*1\r\n$4\r\nPING\r\n']);
    const bad = await scripted(() => '-LOADING Redis is loading the dataset in memory\r\n');
    expect(await runCheck(check(bad.port, program))).toMatchObject({ status: 'L7STS', code: 0, info: '-LOADING Redis is loading the dataset in memory' });
    const silent = await scripted(() => null);
    expect(await runCheck(check(silent.port, program, 200))).toMatchObject({ status: 'L7TOUT', reason: 'Layer7 timeout', info: null });
  });

  it('httpchk: any 2xx/3xx by default, the request of the option and http-check send, status lists, rstatus, body strings, negation', async () => {
    const answer = (code: number, body = ''): string => `HTTP/1.1 ${code} X\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const ok = await scripted(() => answer(302));
    expect(await runCheck(check(ok.port, programOf(['option httpchk'])))).toMatchObject({ status: 'L7OK', code: 302 });
    expect(ok.seen.map(String)).toEqual(['OPTIONS / HTTP/1.0\r\n\r\n']);
    const custom = await scripted(() => answer(200));
    await runCheck(check(custom.port, programOf(['option httpchk GET /health', 'http-check send meth HEAD uri /ready ver HTTP/1.1 hdr Host db.example'])));
    expect(custom.seen.map(String)).toEqual(['HEAD /ready HTTP/1.1\r\nHost: db.example\r\n\r\n']);
    const notFound = await scripted(() => answer(404));
    expect(await runCheck(check(notFound.port, programOf(['option httpchk /x'])))).toMatchObject({ status: 'L7STS', reason: 'Layer7 wrong status', code: 404, info: 'X' });
    expect(await runCheck(check(notFound.port, programOf(['option httpchk', 'http-check expect status 200-299,404'])))).toMatchObject({ status: 'L7OK', code: 404 });
    expect(await runCheck(check(notFound.port, programOf(['option httpchk', 'http-check expect ! status 404'])))).toMatchObject({ status: 'L7STS', code: 404 });
    expect(await runCheck(check(notFound.port, programOf(['option httpchk', 'http-check expect rstatus ^4'])))).toMatchObject({ status: 'L7OK' });
    const body = await scripted(() => answer(200, '{"role":"leader"}'));
    expect(await runCheck(check(body.port, programOf(['option httpchk', 'http-check expect string leader'])))).toMatchObject({ status: 'L7OK', code: 200 });
    expect(await runCheck(check(body.port, programOf(['option httpchk', 'http-check expect string replica'])))).toMatchObject({ status: 'L7RSP', code: 200 });
    const garbage = await scripted(() => 'SSH-2.0-OpenSSH\r\n');
    expect(await runCheck(check(garbage.port, programOf(['option httpchk'])))).toMatchObject({ status: 'L7RSP', reason: 'Layer7 invalid response' });
  });

  it('tcp-check: send, send-binary, expect string/binary/rstring/rbinary and negation, with the failing step named', async () => {
    const smtp = await scripted((data) => (data.toString().startsWith('HELO') ? '250 hello\r\n' : null));
    const program = programOf(['option tcp-check', 'tcp-check send HELO\\ epoxy\\r\\n', 'tcp-check expect rstring ^250 ']);
    expect(await runCheck(check(smtp.port, program))).toMatchObject({ status: 'L7OK', code: 0, info: '(tcp-check)' });
    const binary = await scripted((data) => (data.equals(Buffer.from([0xde, 0xad])) ? Buffer.from([0x01, 0xbe, 0xef]) : null));
    expect(await runCheck(check(binary.port, programOf(['option tcp-check', 'tcp-check send-binary dead', 'tcp-check expect binary beef'])))).toMatchObject({ status: 'L7OK' });
    expect(await runCheck(check(binary.port, programOf(['option tcp-check', 'tcp-check send-binary dead', 'tcp-check expect rbinary ^01BE'])))).toMatchObject({ status: 'L7OK' });
    expect(await runCheck(check(binary.port, programOf(['option tcp-check', 'tcp-check send-binary dead', 'tcp-check expect binary cafe'])))).toMatchObject({
      status: 'L7RSP',
      code: null,
      info: "TCPCHK did not match content 'cafe' at step 2",
    });
    expect(await runCheck(check(binary.port, programOf(['option tcp-check', 'tcp-check send-binary dead', 'tcp-check expect ! binary beef'])))).toMatchObject({ status: 'L7RSP' });
    const silent = await scripted(() => null);
    expect(await runCheck(check(silent.port, programOf(['option tcp-check', 'tcp-check send PING\\r\\n', 'tcp-check expect string +PONG']), 200))).toMatchObject({
      status: 'L7TOUT',
      info: "at step 2 of tcp-check (expect string '+PONG')",
    });
    const held = refusedPort();
    cleanups.push(() => void native.close(held.fd));
    const closed = held.port;
    expect(await runCheck(check(closed, programOf(['option tcp-check', 'tcp-check expect string x'])))).toMatchObject({
      status: 'L4CON',
      info: 'Connection refused at initial connection step of tcp-check',
    });
  });

  it('tcp-check connect port <n> send-proxy: the check goes to that port and starts with a PROXY line', async () => {
    const target = await scripted((data) => (data.toString().includes('PING') ? '+PONG\r\n' : null));
    const program = programOf(['option tcp-check', `tcp-check connect port ${target.port} send-proxy`, 'tcp-check send PING\\r\\n', 'tcp-check expect string +PONG']);
    const unused = await freePort();
    expect(await runCheck(check(unused, program))).toMatchObject({ status: 'L7OK' });
    expect(Buffer.concat(target.seen).toString()).toMatch(/^PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 \d+ \d+\r\nPING\r\n$/);
  });
});

async function proxy(lines: string[]): Promise<number> {
  const port = await freePort();
  const text = ['defaults', '    mode tcp', '    timeout connect 1s', '    timeout client 5s', '    timeout server 5s', 'listen db', `    bind 127.0.0.1:${port}`, ...lines.map((l) => `    ${l}`), ''].join('\n');
  const running = await start(parseConfig([{ name: 'db.cfg', text }], { env: {} }));
  cleanups.push(() => running.kill());
  return port;
}

async function sessions(port: number, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await answerOf(port));
  return out;
}

describe('sessions follow the check', () => {
  it('Redis: only the server answering role:master gets sessions, and they follow the role when it moves', async () => {
    let master = 'r2';
    const redis = await Promise.all(
      ['r1', 'r2', 'r3'].map((name) =>
        scripted((data) => (data.toString().startsWith('INFO') ? `# Replication\r\nrole:${master === name ? 'master' : 'slave'}\r\n` : name)),
      ),
    );
    const port = await proxy([
      'option tcp-check',
      'tcp-check send INFO\\ replication\\r\\n',
      'tcp-check expect string role:master',
      ...redis.map((r, i) => `server r${i + 1} 127.0.0.1:${r.port} check inter 100 rise 1 fall 1`),
    ]);
    // At start every server is UP until its first check: wait for the two replicas to be DOWN.
    await waitForAsync(async () => (await sessions(port, 6)).every((s) => s === 'r2'), 'sessions only to r2');
    master = 'r3';
    await waitForAsync(async () => (await sessions(port, 6)).every((s) => s === 'r3'), 'sessions to follow the role to r3');
  });

  it('Patroni: the server answering 200 on /primary gets the sessions, the 503 ones none', async () => {
    let primary = 'p1';
    const http = (name: string) => (data: Buffer): string =>
      data.toString().startsWith('GET /primary') ? `HTTP/1.1 ${primary === name ? '200 OK' : '503 Service Unavailable'}\r\nContent-Length: 0\r\n\r\n` : name;
    const nodes = await Promise.all(['p1', 'p2', 'p3'].map((name) => scripted(http(name))));
    const port = await proxy(['option httpchk GET /primary', 'http-check expect status 200', ...nodes.map((n, i) => `server p${i + 1} 127.0.0.1:${n.port} check inter 100 rise 1 fall 1`)]);
    await waitForAsync(async () => (await sessions(port, 6)).every((s) => s === 'p1'), 'sessions only to p1');
    primary = 'p2';
    await waitForAsync(async () => (await sessions(port, 6)).every((s) => s === 'p2'), 'sessions to follow the primary to p2');
  });
});

describe('how checks connect', () => {
  /** A server recording the first bytes of every connection and its peer address. */
  async function recorder(): Promise<{ port: number; first: Array<{ peer: string; data: Buffer }> }> {
    const first: Array<{ peer: string; data: Buffer }> = [];
    const server = createServer((socket) => {
      socket.on('error', () => socket.destroy());
      socket.once('data', (data) => first.push({ peer: socket.remoteAddress!, data }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    return { port: (server.address() as { port: number }).port, first };
  }

  it("a server's send-proxy-v2 applies to its checks (no port/addr); check-send-proxy and the backend's source too", async () => {
    const v2 = await recorder();
    const v1 = await recorder();
    await proxy([
      'source 127.0.0.2',
      `server a 127.0.0.1:${v2.port} check inter 100 send-proxy-v2`,
      `server b 127.0.0.1:${v1.port} check inter 100 check-send-proxy`,
    ]);
    await waitFor(() => v2.first.length > 0 && v1.first.length > 0, 'a check on each server');
    // PROXY v2 signature, then the check's own addresses (127.0.0.2 -> 127.0.0.1).
    expect(v2.first[0]!.data.subarray(0, 12).toString('hex')).toBe('0d0a0d0a000d0a515549540a');
    expect(v2.first[0]!.peer).toBe('127.0.0.2');
    expect(v1.first[0]!.data.toString()).toMatch(new RegExp(`^PROXY TCP4 127\\.0\\.0\\.2 127\\.0\\.0\\.1 \\d+ ${v1.port}\\r\\n$`));
    expect(v1.first[0]!.peer).toBe('127.0.0.2');
  });
});
