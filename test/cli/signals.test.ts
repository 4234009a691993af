/**
 * The signals HAProxy 2.6 survives do not end epoxy: SIGHUP, SIGUSR2 and SIGQUIT, sent to a real
 * `epoxy -f` while a session relays bytes. The session survives and keeps relaying both ways.
 *
 * HAProxy 2.6 (haproxy -db, no master-worker), observed:
 *   SIGHUP  -> [WARNING] SIGHUP received, dumping servers states.
 *              [WARNING] SIGHUP: Server be/s1 is UP. Conn: 0 act, 0 pend, 0 tot.
 *              [WARNING] SIGHUP: Proxy be has 1 active servers and 1 backup servers available. Conn: act(FE+BE): 0+0, 0 pend (0 unass), tot(FE+BE): 0+0.
 *   SIGQUIT -> "Dumping pools usage. Use SIGQUIT to flush them." and one line per memory pool
 *   SIGUSR2 -> nothing; the process goes on
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/child.js';
import { freePort, waitFor } from '../helpers/sockets.js';

const BIN = `${ROOT}bin/epoxy`;
const dir = mkdtempSync(join(tmpdir(), 'epoxy-signals-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('epoxy -f and the signals HAProxy survives', () => {
  it('SIGHUP dumps server states, SIGQUIT memory and activity, SIGUSR2 is ignored; the session lives on', async () => {
    const upstream = createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamPort = (upstream.address() as { port: number }).port;
    const port = await freePort();
    const file = join(dir, 'epoxy.cfg');
    writeFileSync(
      file,
      [
        'defaults',
        '    mode tcp',
        '    timeout connect 2s',
        '    timeout client 30s',
        '    timeout server 30s',
        'frontend fe',
        `    bind 127.0.0.1:${port}`,
        '    default_backend be',
        'backend be',
        `    server s1 127.0.0.1:${upstreamPort}`,
        `    server s2 127.0.0.1:${upstreamPort} backup`,
        `    server s3 127.0.0.1:${upstreamPort} disabled`,
        '',
      ].join('\n'),
    );
    const child = spawn(process.execPath, [BIN, '-f', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout.resume();
    let exit: number | null | 'running' = 'running';
    child.on('exit', (code) => (exit = code));
    let client: Socket | null = null;
    try {
      await waitFor(() => stderr.includes('listening on') || exit !== 'running', `epoxy to listen (stderr: ${stderr})`);
      let received = '';
      client = await new Promise<Socket>((resolve, reject) => {
        const socket = netConnect(port, '127.0.0.1', () => resolve(socket));
        socket.on('error', reject);
      });
      client.on('data', (c: Buffer) => (received += c.toString()));
      const roundTrip = async (text: string): Promise<void> => {
        const before = received.length;
        client!.write(text);
        await waitFor(() => received.length >= before + text.length, `'${text}' echoed through epoxy`);
        expect(received.slice(before)).toBe(text);
      };
      await roundTrip('before');

      child.kill('SIGHUP');
      await waitFor(() => stderr.includes('Proxy be has'), `the SIGHUP dump (stderr: ${stderr})`);
      expect(stderr).toContain('SIGHUP received, dumping servers states.');
      expect(stderr).toContain('SIGHUP: Server be/s1 is UP. Conn: 1 act, 0 pend, 1 tot.');
      expect(stderr).toContain('SIGHUP: Server be/s2 is UP. Conn: 0 act, 0 pend, 0 tot.');
      expect(stderr).toContain('SIGHUP: Server be/s3 is DOWN. Conn: 0 act, 0 pend, 0 tot.');
      expect(stderr).toContain('SIGHUP: Proxy fe has no servers. Conn: act(FE+BE): 1+0, 0 pend (0 unass), tot(FE+BE): 1+0.');
      expect(stderr).toContain(
        'SIGHUP: Proxy be has 1 active servers and 1 backup servers available. Conn: act(FE+BE): 0+1, 0 pend (0 unass), tot(FE+BE): 0+1.',
      );
      await roundTrip('after HUP');

      child.kill('SIGUSR2');
      await roundTrip('after USR2');

      child.kill('SIGQUIT');
      await waitFor(() => stderr.includes('SIGQUIT: Activity:'), `the SIGQUIT dump (stderr: ${stderr})`);
      expect(stderr).toMatch(/SIGQUIT: Memory: rss [\d.]+ MiB, heap [\d.]+ MiB used of [\d.]+ MiB/);
      expect(stderr).toContain('SIGQUIT: Sessions: 1 current.');
      expect(stderr).toMatch(/SIGQUIT: Activity: loops=\d+ /);
      await roundTrip('after QUIT');

      expect(exit).toBe('running');
      // And the other direction still closes cleanly: the client's FIN reaches the echo server,
      // whose FIN comes back.
      const ended = new Promise<void>((resolve) => client!.on('end', () => resolve()));
      client.end();
      await ended;
    } finally {
      client?.destroy();
      if (exit === 'running') {
        const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
        child.kill('SIGTERM');
        await exited;
      }
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
  });
});
