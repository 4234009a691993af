/** The examples in examples/ are run for real, so they cannot rot. */
import { spawn } from 'node:child_process';
import { get } from 'node:http';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/child.js';
import { waitFor } from './helpers/sockets.js';

describe('examples/echo-server.mjs', () => {
  it('echoes over a real connection and stops cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [`${ROOT}examples/echo-server.mjs`, '127.0.0.1:0'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    const listening = new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const match = /listening on 127\.0\.0\.1:(\d+)/.exec(stdout);
        if (match?.[1]) resolve(match[1]);
      });
      child.on('exit', (code) => reject(new Error(`exited early with ${code}: ${stdout}`)));
    });
    const port = Number(await listening);
    const echoed = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.end('ping over epoll'));
      let data = '';
      socket.on('data', (chunk) => (data += chunk.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    expect(echoed).toBe('ping over epoll');
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stdout).toContain('echo server stopped');
  });
});

function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // A new connection per request, as curl makes: a TCP proxy balances connections, not requests.
    get(url, { agent: false }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

describe('npm start (examples/demo.mjs)', () => {
  it('serves http://127.0.0.1:8080/ through epoxy, alternating between the demo backends', async () => {
    const child = spawn(process.execPath, [`${ROOT}examples/demo.mjs`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(() => output.includes('listening on 127.0.0.1:8080'), `epoxy to listen: ${output}`);
      const answers = [];
      for (let i = 0; i < 4; i++) answers.push((await httpGet('http://127.0.0.1:8080/')).match(/app\d/)?.[0]);
      expect(answers).toEqual(['app1', 'app2', 'app1', 'app2']);
      await waitFor(() => (output.match(/ demo demo_servers\/app/g) ?? []).length === 4, 'four session log lines');
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});

describe('examples/epoxy.service', () => {
  it('its commands run as systemd would run them: check, start (READY=1), reload (SIGUSR2), stop (SIGTERM to the master)', async () => {
    const { readFileSync, mkdtempSync, rmSync, existsSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { spawnSync } = await import('node:child_process');
    const { native, constants } = await import('../src/native.js');
    const { SocketAddress } = await import('../src/address.js');
    const unit = readFileSync(`${ROOT}examples/epoxy.service`, 'utf8');
    expect(unit).toMatch(/^Type=notify$/m);
    expect(unit).toMatch(/^KillMode=mixed$/m);
    const dir = mkdtempSync(join(tmpdir(), 'epoxy-unit-'));
    const notifyFd = native.socket(constants.AF_UNIX, constants.SOCK_DGRAM);
    try {
      const vars: Record<string, string> = { CONFIG: `${ROOT}examples/epoxy.cfg`, PIDFILE: join(dir, 'epoxy.pid') };
      const command = (key: string, index = 0): string[] => {
        const line = unit.split('\n').filter((l) => l.startsWith(`${key}=`))[index]!;
        return line
          .slice(key.length + 1)
          .split(/\s+/)
          .map((w) => w.replace(/^\$(\w+)$/, (_, name: string) => vars[name] ?? `$${name}`))
          .map((w) => (w === '/run/epoxy-master.sock' ? join(dir, 'master.sock') : w));
      };
      const epoxyArgs = (argv: string[]): string[] => {
        expect(argv[0]).toBe('/usr/bin/epoxy');
        return [`${ROOT}bin/epoxy`, ...argv.slice(1)];
      };
      expect(spawnSync(process.execPath, epoxyArgs(command('ExecStartPre')), { encoding: 'utf8' }).status).toBe(0);

      const notifyPath = join(dir, 'notify');
      native.setNonBlocking(notifyFd, true);
      native.bind(notifyFd, SocketAddress.from('unix', notifyPath).bytes);
      const messages: string[] = [];
      const buffer = Buffer.alloc(1024);
      const drain = (): string[] => {
        for (let n = native.recv(notifyFd, buffer); n > 0; n = native.recv(notifyFd, buffer)) messages.push(buffer.subarray(0, n).toString());
        return messages;
      };
      const child = spawn(process.execPath, epoxyArgs(command('ExecStart')), { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NOTIFY_SOCKET: notifyPath } });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      try {
        await waitFor(() => drain().length >= 1 || child.exitCode !== null, `READY=1 (stderr: ${stderr})`, 20_000);
        const mainPid = Number(readFileSync(vars.PIDFILE!, 'utf8').trim());
        expect(mainPid).toBe(child.pid);
        expect(messages[0]).toBe(`READY=1\nMAINPID=${mainPid}`);
        vars.MAINPID = String(mainPid);
        expect(spawnSync(process.execPath, epoxyArgs(command('ExecReload', 0)), { encoding: 'utf8' }).status).toBe(0);
        const kill = command('ExecReload', 1);
        expect(kill.slice(0, 2)).toEqual(['/bin/kill', '-USR2']);
        process.kill(Number(kill[2]), 'SIGUSR2');
        await waitFor(() => drain().length >= 3, `RELOADING=1 and READY=1 (stderr: ${stderr})`, 20_000);
        expect(messages.slice(1)).toEqual(['RELOADING=1', 'READY=1']);
        child.kill('SIGTERM');
        expect(await exited).toBe(0);
        expect(existsSync(vars.PIDFILE!)).toBe(false);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    } finally {
      native.close(notifyFd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
