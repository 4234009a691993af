/**
 * HAProxy 2.6 and epoxy on the same configuration, each logging one session in every syslog
 * format to UDP listeners of this test: the datagrams must be the same bytes once what differs by
 * nature is masked (pid, dates, client ports, timers). Skipped where haproxy is not installed.
 */
import { connect as netConnect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { haproxyAvailable, sideBySide } from '../helpers/haproxy.js';
import { echoServer, type Cleanup } from '../helpers/master.js';
import { freePort, waitFor } from '../helpers/sockets.js';
import { udpReceiver, type Receiver } from '../helpers/syslog.js';

if (!haproxyAvailable) console.log('skipping the HAProxy log comparison: haproxy is not installed');

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const FORMATS = ['rfc3164', 'rfc5424', 'raw', 'short', 'priority', 'timed', 'iso', 'local'] as const;

/** One session: sends `hello`, reads the echo, closes. */
function session(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port, host: '127.0.0.1' }, () => socket.end('hello'));
    socket.on('error', reject);
    socket.resume();
    socket.on('close', () => resolve());
  });
}

/** What varies between two runs of the same session, whoever proxies it. */
function masked(datagram: string): string {
  return datagram
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d/g, '<iso>')
    .replace(/\w{3} [ \d]\d \d\d:\d\d:\d\d /g, '<date> ')
    .replace(/\[\d+\]:/g, '[<pid>]:')
    .replace(/ t \d+ - - /g, ' t <pid> - - ')
    .replace(/127\.0\.0\.1:\d+ \[\d\d\/\w{3}\/\d{4}:[\d:.]+\]/g, '127.0.0.1:<port> [<accept>]')
    .replace(/ \d+\/\d+\/\d+ 5 -- /g, ' <Tw>/<Tc>/<Tt> 5 -- ')
    .replace(/from 127\.0\.0\.1:\d+ to 127\.0\.0\.1:\d+/g, 'from 127.0.0.1:<port> to 127.0.0.1:<port>')
    // Ports in lines cut by `len`, where the patterns above no longer match whole.
    .replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:<port>');
}

describe.skipIf(!haproxyAvailable)('log lines side by side with HAProxy 2.6', () => {
  it('every syslog format, the tcplog line and the default line: the same bytes', async () => {
    const backend = await echoServer(cleanups);
    // One receiver per format plus one for `len 80`, and a second frontend port, for each proxy.
    const sides: Array<{ receivers: Array<Receiver & { port: number }>; plainPort: number }> = [];
    for (let side = 0; side < 2; side++) {
      const receivers: Array<Receiver & { port: number }> = [];
      for (let i = 0; i <= FORMATS.length; i++) receivers.push(await udpReceiver(cleanups));
      sides.push({ receivers, plainPort: await freePort() });
    }
    let calls = 0;
    // sideBySide() writes HAProxy's configuration first, then epoxy's.
    const { haproxyPort, epoxyPort } = await sideBySide(cleanups, (front) => {
      const { receivers, plainPort } = sides[calls++]!;
      return [
        'global',
        '    log-tag t',
        ...FORMATS.map((format, i) => `    log 127.0.0.1:${receivers[i]!.port} format ${format} local${i}`),
        `    log 127.0.0.1:${receivers[FORMATS.length]!.port} len 80 format rfc5424 daemon`,
        'defaults',
        '    mode tcp',
        '    log global',
        '    timeout connect 2s',
        '    timeout client 10s',
        '    timeout server 10s',
        'listen tcplog',
        `    bind 127.0.0.1:${front}`,
        '    option tcplog',
        `    server s1 127.0.0.1:${backend}`,
        'listen plain',
        `    bind 127.0.0.1:${plainPort}`,
        `    server s1 127.0.0.1:${backend}`,
      ];
    });
    const [haproxy, epoxy] = [
      { ...sides[0]!, port: haproxyPort },
      { ...sides[1]!, port: epoxyPort },
    ];
    for (const side of [haproxy, epoxy]) {
      await session(side.port);
      await session(side.plainPort);
    }
    // Session lines only: epoxy also sends its own warnings there.
    const sessionLines = (side: typeof haproxy): string[][] => side.receivers.map((r) => r.lines.filter((l) => l.includes('127.0.0.1')).map(masked));
    await waitFor(() => [haproxy, epoxy].every((side) => sessionLines(side).every((lines) => lines.length >= 2)), 'two session lines per format from each', 15_000);
    expect(sessionLines(epoxy)).toEqual(sessionLines(haproxy));
    // `len 80`: 80 bytes and the newline, from both.
    for (const side of [haproxy, epoxy]) expect(side.receivers[FORMATS.length]!.lines.filter((l) => l.includes('127.0.0.1')).map((l) => Buffer.byteLength(l))).toEqual([81, 81]);
  });
});
