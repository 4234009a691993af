/**
 * epoxy's health-check lines next to HAProxy 2.6's, from one configuration: servers that refuse
 * connections go DOWN (a backup among them), the last one raises the "no server available" alert,
 * and one that starts listening comes UP. Only pids and check durations differ. Skipped without
 * haproxy.
 */
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { haproxyAvailable, sideBySide as startSideBySide } from '../helpers/haproxy.js';
import type { Cleanup } from '../helpers/master.js';
import { freePort, refusedPort, waitFor, waitForAsync } from '../helpers/sockets.js';
import { native } from '../../src/native.js';

const available = haproxyAvailable;

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The check lines of a log, pids and durations replaced, in a stable order. */
function checkLines(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => / is (UP|DOWN), reason:|has no server available/.test(l))
    .map((l) => l.replace(/\(\d+\)/, '(<pid>)').replace(/check duration: \d+ms/, 'check duration: <n>ms'));
}

describe.skipIf(!available)('health-check lines next to HAProxy 2.6', () => {
  it('DOWN, Backup DOWN, the no-server alert and UP read the same', async () => {
    const ports = { s1: await freePort(), s2: await freePort(), b1: await freePort() };
    const body = (front: number): string[] => [
      'backend be',
      `    server s1 127.0.0.1:${ports.s1} check inter 200 rise 1 fall 1`,
      `    server s2 127.0.0.1:${ports.s2} check inter 200 rise 1 fall 1`,
      `    server b1 127.0.0.1:${ports.b1} check inter 200 backup`,
      'frontend fe',
      `    bind 127.0.0.1:${front}`,
      '    default_backend be',
    ];
    const { haproxy, epoxy } = await startSideBySide(cleanups, body);

    // Nothing listens: all three go down, then the alert.
    const down = (text: string): boolean => checkLines(text).some((l) => l.includes('has no server available'));
    await waitFor(() => down(haproxy.stderr()) && down(epoxy.stderr()), `both to report every server down (haproxy: ${haproxy.stderr()}; epoxy: ${epoxy.stderr()})`, 15_000);
    // s1 comes to life: UP in both.
    const s1 = createServer((s) => s.destroy());
    await new Promise<void>((resolve) => s1.listen(ports.s1, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => s1.close(() => resolve())));
    const up = (text: string): boolean => checkLines(text).some((l) => l.includes('be/s1 is UP'));
    await waitFor(() => up(haproxy.stderr()) && up(epoxy.stderr()), 'both to report s1 UP', 15_000);

    const theirs = checkLines(haproxy.stderr());
    const ours = checkLines(epoxy.stderr());
    // The DOWN lines come in check order, which each spreads its own way, and their counts follow
    // that order: compare them as sets with the counts set apart, then the counts' wording.
    const counts = (l: string): string => l.replace(/\d+ active and \d+ backup servers left\.( Running on backup\.)?/, '<counts>');
    expect(new Set(ours.slice(0, 3).map(counts))).toEqual(new Set(theirs.slice(0, 3).map(counts)));
    for (const lines of [ours, theirs]) {
      for (const line of lines.slice(0, 3)) {
        const [, active, backups] = /(\d+) active and (\d+) backup servers left\./.exec(line)!;
        expect(line.includes('Running on backup.'), line).toBe(active === '0' && backups !== '0');
      }
    }
    expect(ours.slice(3)).toEqual(theirs.slice(3));
    expect(theirs.slice(3)).toEqual([
      "[ALERT]    (<pid>) : backend 'be' has no server available!",
      '[WARNING]  (<pid>) : Server be/s1 is UP, reason: Layer4 check passed, check duration: <n>ms. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.',
    ]);
  });
});

/** Scripted servers speaking just enough of each protocol. */
async function scripted(cleanups: Cleanup[], reply: (data: string) => string | null): Promise<number> {
  const server = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.on('data', (data) => {
      const answer = reply(data.toString('latin1'));
      // Answers are byte strings (latin1): some protocols send bytes above 0x7f.
      if (answer !== null) socket.end(Buffer.from(answer, 'latin1'));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

describe.skipIf(!available)('protocol-check lines next to HAProxy 2.6', () => {
  it('httpchk, redis-check and tcp-check failures, and a layer-7 timeout, read the same', async () => {
    const http = (code: number, text: string) => (): string => `HTTP/1.1 ${code} ${text}\r\nContent-Length: 0\r\n\r\n`;
    const p2 = await scripted(cleanups, http(503, 'Service Unavailable'));
    const r1 = await scripted(cleanups, () => '-ERR nope\r\n');
    const r3 = await scripted(cleanups, () => '# Replication\r\nrole:slave\r\n');
    const h1 = await scripted(cleanups, () => null); // accepts, never answers
    const body = (front: number): string[] => [
      'backend patroni',
      '    option httpchk GET /primary',
      '    http-check expect status 200',
      `    server p2 127.0.0.1:${p2} check inter 200 rise 1 fall 1`,
      'backend redis',
      '    option redis-check',
      `    server r1 127.0.0.1:${r1} check inter 200 rise 1 fall 1`,
      'backend replication',
      '    option tcp-check',
      '    tcp-check send INFO\\ replication\\r\\n',
      '    tcp-check expect string role:master',
      `    server r3 127.0.0.1:${r3} check inter 200 rise 1 fall 1`,
      'backend silent',
      '    timeout check 300',
      '    option httpchk',
      `    server h1 127.0.0.1:${h1} check inter 200 rise 1 fall 1`,
      'frontend fe',
      `    bind 127.0.0.1:${front}`,
      '    default_backend patroni',
    ];
    const { haproxy, epoxy } = await startSideBySide(cleanups, body);
    const downs = (text: string): string[] => checkLines(text).filter((l) => l.includes(' is DOWN'));
    await waitFor(() => downs(haproxy.stderr()).length >= 4 && downs(epoxy.stderr()).length >= 4, `four DOWN lines each (haproxy: ${haproxy.stderr()}; epoxy: ${epoxy.stderr()})`, 15_000);
    // The durations differ; the timeout's is `timeout check`, give or take the scheduler.
    const sorted = (text: string): string[] => downs(text).sort();
    expect(sorted(epoxy.stderr())).toEqual(sorted(haproxy.stderr()));
    expect(sorted(haproxy.stderr())).toEqual([
      '[WARNING]  (<pid>) : Server patroni/p2 is DOWN, reason: Layer7 wrong status, code: 503, info: "Service Unavailable", check duration: <n>ms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.',
      '[WARNING]  (<pid>) : Server redis/r1 is DOWN, reason: Layer7 wrong status, code: 0, info: "-ERR nope", check duration: <n>ms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.',
      '[WARNING]  (<pid>) : Server replication/r3 is DOWN, reason: Layer7 invalid response, info: "TCPCHK did not match content \'role:master\' at step 2", check duration: <n>ms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.',
      '[WARNING]  (<pid>) : Server silent/h1 is DOWN, reason: Layer7 timeout, check duration: <n>ms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.',
    ]);
  });
});

describe.skipIf(!available)('mysql-check, pgsql-check, ldap-check, ssl-hello-chk and smtpchk lines next to HAProxy 2.6', () => {
  it('their failures read the same', async () => {
    const pg = await scripted(cleanups, () => `E\x00\x00\x00\x20SFATAL\x00C28000\x00Mno such role\x00\x00`);
    const ldap = await scripted(cleanups, () => Buffer.from('300c02010161070a013104000400', 'hex').toString('latin1'));
    const ssl = await scripted(cleanups, () => 'HTTP/1.0 400 Bad Request\r\n\r\n');
    // smtpchk whose banner refuses (HAProxy and epoxy agree there; see docs/health-checks.md for
    // a refused HELO, where HAProxy waits for its timeout and epoxy fails at once).
    const smtp = createServer((socket) => socket.end('554 go away\r\n'));
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => smtp.close(() => resolve())));
    const smtpPort = (smtp.address() as { port: number }).port;
    const mysqlPacket = (seq: number, body: string): string => `${String.fromCharCode(body.length & 0xff, body.length >> 8, 0, seq)}${body}`;
    const mysql = await scripted(cleanups, () => `${mysqlPacket(0, `\x0a8.0.36\x00${'\x00'.repeat(40)}`)}${mysqlPacket(2, '\xff\x15\x04#28000Access denied for user')}`);
    const body = (front: number): string[] => [
      'backend my',
      '    option mysql-check user epoxy',
      `    server y1 127.0.0.1:${mysql} check inter 200 rise 1 fall 1`,
      'backend pg',
      '    option pgsql-check user epoxy',
      `    server g1 127.0.0.1:${pg} check inter 200 rise 1 fall 1`,
      'backend ldap',
      '    option ldap-check',
      `    server l1 127.0.0.1:${ldap} check inter 200 rise 1 fall 1`,
      'backend tls',
      '    option ssl-hello-chk',
      `    server t1 127.0.0.1:${ssl} check inter 200 rise 1 fall 1`,
      'backend mail',
      '    option smtpchk HELO epoxy.example',
      `    server m1 127.0.0.1:${smtpPort} check inter 200 rise 1 fall 1`,
      'frontend fe',
      `    bind 127.0.0.1:${front}`,
      '    default_backend pg',
    ];
    const { haproxy, epoxy } = await startSideBySide(cleanups, body);
    const downs = (text: string): string[] => checkLines(text).filter((l) => l.includes(' is DOWN')).sort();
    await waitFor(() => downs(haproxy.stderr()).length >= 5 && downs(epoxy.stderr()).length >= 5, `five DOWN lines each (haproxy: ${haproxy.stderr()}; epoxy: ${epoxy.stderr()})`, 15_000);
    expect(downs(epoxy.stderr())).toEqual(downs(haproxy.stderr()));
    expect(downs(haproxy.stderr()).map((l) => /reason: (.*), check duration/.exec(l)![1])).toEqual([
      'Layer7 wrong status, code: 49, info: "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9"',
      'Layer7 wrong status, code: 554, info: "go away"',
      'Layer7 wrong status, code: 1045, info: "#28000Access denied for user"',
      'Layer7 invalid response, info: "FATAL"',
      'Layer6 invalid response',
    ]);
  });
});

describe.skipIf(!available)('observe layer4 next to HAProxy 2.6', () => {
  it('error-limit failed connections in a row: the Health analyze line, for mark-down, fail-check and sudden-death alike', async () => {
    const checksOk = await scripted(cleanups, () => null);
    const held = [refusedPort(), refusedPort(), refusedPort()];
    cleanups.push(() => held.forEach((h) => native.close(h.fd)));
    const refusing = held.map((h) => h.port);
    const body = (front: number): string[] => [
      'backend be',
      '    retries 0',
      `    server s1 127.0.0.1:${refusing[0]} check port ${checksOk} inter 10s observe layer4 error-limit 2 on-error mark-down`,
      `    server s2 127.0.0.1:${refusing[1]} check port ${checksOk} inter 10s observe layer4 error-limit 2 on-error fail-check`,
      `    server s3 127.0.0.1:${refusing[2]} check port ${checksOk} inter 10s observe layer4 error-limit 2 on-error sudden-death`,
      'frontend fe',
      `    bind 127.0.0.1:${front}`,
      '    default_backend be',
    ];
    const { haproxy, epoxy, haproxyPort, epoxyPort } = await startSideBySide(cleanups, body);
    const { connect } = await import('node:net');
    const attempt = (port: number): Promise<void> =>
      new Promise((resolve) => {
        const socket = connect(port, '127.0.0.1', () => socket.write('x'));
        socket.setTimeout(2000, () => socket.destroy());
        socket.on('close', () => resolve());
        socket.on('error', () => resolve());
      });
    const downs = (text: string): string[] => checkLines(text).filter((l) => l.includes(' is DOWN')).sort();
    // Six failed sessions each (two per server, round robin), repeated until both reported.
    await waitForAsync(async () => {
      for (let i = 0; i < 6; i++) await Promise.all([attempt(haproxyPort), attempt(epoxyPort)]);
      return downs(haproxy.stderr()).length >= 3 && downs(epoxy.stderr()).length >= 3;
    }, `three DOWN lines each (haproxy: ${haproxy.stderr()}; epoxy: ${epoxy.stderr()})`);
    const shape = (l: string): string => l.replace(/\d+ active and \d+ backup servers left\./, '<counts>').replace(/\d+ sessions active/, '<n> sessions active');
    expect(downs(epoxy.stderr()).map(shape)).toEqual(downs(haproxy.stderr()).map(shape));
    expect(downs(haproxy.stderr())[0]).toMatch(/Server be\/s1 is DOWN, reason: Health analyze, info: "Detected 2 consecutive errors, last one was: L4 unsuccessful connection"\. \d active/);
  });
});

