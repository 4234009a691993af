/** The `epoxy` command run for real: check mode, a proxy on loopback, signals, refusals. */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/child.js';
import { waitFor, freePort } from '../helpers/sockets.js';

const BIN = `${ROOT}bin/epoxy`;
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function epoxy(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function configFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'epoxy-cli-'));
  dirs.push(dir);
  const file = join(dir, 'test.cfg');
  writeFileSync(file, text);
  return file;
}

describe('epoxy -c', () => {
  it('accepts the example configuration', () => {
    const r = epoxy(['-c', '-f', 'examples/epoxy.cfg']);
    expect(r.stdout).toContain('Configuration file is valid');
    expect(r.status).toBe(0);
  });

  it('rejects a bad configuration with file:line and the keyword, exit 1', () => {
    const file = configFile('global\n    maxconn 100\n\nbackend be\n    balanse roundrobin\n    server a 127.0.0.1:1\n');
    const r = epoxy(['-c', '-f', file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/\[ALERT\].*test\.cfg:5\].*'balanse'.*'balance'/);
  });
});

describe('epoxy flags', () => {
  it('-v and -vv print the version (and the capabilities)', () => {
    expect(epoxy(['-v']).stdout).toMatch(/^epoxy version \d+\.\d+\.\d+/);
    const vv = epoxy(['-vv']);
    expect(vv.stdout).toContain('Available pollers: epoll');
    expect(vv.stdout).toContain('TCP_DEFER_ACCEPT');
  });

  it('refuses old-style reload flags and a missing -f clearly', () => {
    const d = epoxy(['-st', '1', '-f', 'examples/epoxy.cfg']);
    expect(d.status).toBe(1);
    expect(d.stderr).toContain("'-st' (hard-termination of old processes) is not used by epoxy");
    const none = epoxy([]);
    expect(none.status).toBe(1);
    expect(none.stderr).toContain('No configuration file specified');
  });
});

describe('epoxy -f', () => {
  it('proxies TCP as configured, logs each session, and stops cleanly on SIGTERM', async () => {
    const upstream = createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamPort = (upstream.address() as { port: number }).port;
    const port = await freePort();
    const file = configFile(
      [
        'global',
        '    log stdout format raw local0',
        'defaults',
        '    mode tcp',
        '    log global',
        '    option tcplog',
        '    timeout connect 2s',
        '    timeout client 10s',
        '    timeout server 10s',
        'listen echo',
        `    bind 127.0.0.1:${port}`,
        `    server up 127.0.0.1:${upstreamPort}`,
        '',
      ].join('\n'),
    );
    const child = spawn(process.execPath, [BIN, '-f', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(() => stderr.includes('listening on'), `epoxy to listen (stderr: ${stderr})`);
      expect(stderr).toContain('Proxy echo started.');
      const echoed = await new Promise<string>((resolve, reject) => {
        const socket = netConnect(port, '127.0.0.1', () => socket.end('through epoxy'));
        let data = '';
        socket.on('data', (c) => (data += c.toString()));
        socket.on('end', () => resolve(data));
        socket.on('error', reject);
      });
      expect(echoed).toBe('through epoxy');
      await waitFor(() => / echo echo\/up /.test(stdout), 'the session log line');
      // HAProxy 2.6's tcplog for the same exchange: `127.0.0.1:38882 [04/Dec/2026:04:29:00.513] px
      // px/s 1/0/7 3 -- 1/1/0/0/0 0/0` (the accept date in local time; the process and frontend
      // counts still include the logged session).
      expect(stdout).toMatch(/^127\.0\.0\.1:\d+ \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2}\.\d{3}\] echo echo\/up \d+\/\d+\/\d+ 13 -- 1\/1\/0\/0\/0 0\/0$/m);
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
  });

  it('exits 1 with an ALERT naming the bind line (file:line) and the address when a port is taken', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as { port: number }).port;
    try {
      const file = configFile(`defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nlisten x\n    bind 127.0.0.1:${port} noreuseport\n    server a 127.0.0.1:1\n`);
      const r = epoxy(['-f', file]);
      expect(r.status).toBe(1);
      // HAProxy 2.6.12, observed: "[ALERT]    (13910) : Binding [/tmp/hasig/h.cfg:9] for proxy web: cannot bind
      // socket (Address already in use) for [127.0.0.1:18480]", then "[ALERT]    (13910) : [haproxy.main()] Some
      // protocols failed to start their listeners! Exiting."
      const alerts = r.stderr
        .split('\n')
        .filter((line) => /^\[ALERT\]    \(\d+\) : /.test(line))
        .map((line) => line.replace(/^\[ALERT\]    \(\d+\) : /, ''));
      expect(alerts).toEqual([
        `Binding [${file}:7] for proxy x: cannot bind socket (Address already in use) for [127.0.0.1:${port}]`,
        'Some protocols failed to start their listeners! Exiting.',
      ]);
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  });
});
