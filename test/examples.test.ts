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

describe('examples/health-checks/', () => {
  /**
   * Runs an example with every 127.0.0.1 port it names moved to a free one (the file as written
   * uses fixed ports), scripted servers behind it, and returns the proxy's port.
   */
  async function runExample(file: string, servers: Record<number, (data: string) => string | null>): Promise<{ port: number; stop: () => Promise<void> }> {
    const { readFileSync, writeFileSync, mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { createServer } = await import('node:net');
    const { freePort } = await import('./helpers/sockets.js');
    const text = readFileSync(`${ROOT}${file}`, 'utf8');
    const ports = new Map<number, number>();
    for (const m of text.matchAll(/(?:127\.0\.0\.1:|port )(\d+)/g)) if (!ports.has(Number(m[1]))) ports.set(Number(m[1]), await freePort());
    const rewritten = text.replace(/(127\.0\.0\.1:|port )(\d+)/g, (_, prefix: string, port: string) => `${prefix}${ports.get(Number(port))}`);
    const dir = mkdtempSync(join(tmpdir(), 'epoxy-example-'));
    writeFileSync(join(dir, 'example.cfg'), rewritten);
    const listening: import('node:net').Server[] = [];
    for (const [port, reply] of Object.entries(servers)) {
      const server = createServer((socket) => {
        socket.on('error', () => socket.destroy());
        socket.on('data', (data) => {
          const answer = reply(data.toString());
          if (answer !== null) socket.write(answer);
          // Redis replies ('+PONG', '# Replication') leave the conversation open; the rest end it.
          if (answer === null || !/^[+#]/.test(answer)) socket.end();
        });
      });
      await new Promise<void>((resolve) => server.listen(ports.get(Number(port)), '127.0.0.1', resolve));
      listening.push(server);
    }
    const child = spawn(process.execPath, [`${ROOT}bin/epoxy`, '-f', join(dir, 'example.cfg')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    await waitFor(() => stderr.includes('listening on') || child.exitCode !== null, `the example to start (${stderr})`);
    const bind = Number(/bind 127\.0\.0\.1:(\d+)/.exec(text)![1]);
    return {
      port: ports.get(bind)!,
      stop: async () => {
        child.kill('SIGKILL');
        for (const server of listening) server.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }

  function answerOf(port: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('who'));
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
  }

  async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
    const started = Date.now();
    while (!(await condition())) {
      if (Date.now() - started > 20_000) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  const all = async (port: number, name: string): Promise<boolean> => {
    for (let i = 0; i < 5; i++) if ((await answerOf(port)) !== name) return false;
    return true;
  };

  it('patroni.cfg sends sessions to the node whose Patroni answers 200 on /primary, and follows a failover', async () => {
    let primary = 'pg2';
    const api = (name: string) => (data: string): string => `HTTP/1.1 ${data.startsWith('GET /primary') && primary === name ? '200 OK' : '503 Service Unavailable'}\r\nContent-Length: 0\r\n\r\n`;
    const db = (name: string) => (): string => name;
    const example = await runExample('examples/health-checks/patroni.cfg', {
      8001: api('pg1'), 8002: api('pg2'), 8003: api('pg3'), 5431: db('pg1'), 5432: db('pg2'), 5433: db('pg3'),
    }); // prettier-ignore
    try {
      await until(() => all(example.port, 'pg2'), 'sessions only to pg2');
      primary = 'pg3';
      await until(() => all(example.port, 'pg3'), 'sessions to follow the failover to pg3');
    } finally {
      await example.stop();
    }
  }, 60_000);

  it('redis.cfg sends sessions to the server answering role:master, and follows a promotion', async () => {
    let master = 'redis1';
    const redis = (name: string) => (data: string): string | null => {
      if (data.startsWith('PING')) return '+PONG\r\n';
      if (data.startsWith('info')) return `# Replication\r\nrole:${master === name ? 'master' : 'slave'}\r\n`;
      if (data.startsWith('QUIT')) return '+OK\r\n';
      return name;
    };
    const example = await runExample('examples/health-checks/redis.cfg', { 6371: redis('redis1'), 6372: redis('redis2'), 6373: redis('redis3') });
    try {
      await until(() => all(example.port, 'redis1'), 'sessions only to redis1');
      master = 'redis2';
      await until(() => all(example.port, 'redis2'), 'sessions to follow the promotion to redis2');
    } finally {
      await example.stop();
    }
  }, 60_000);
});

describe('examples/sni-routing.cfg', () => {
  it('routes TLS by SNI with the handshake completing through it, and tells SSH, TLS and HTTP apart on one port', async () => {
    const { readFileSync, mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { execFileSync } = await import('node:child_process');
    const net = await import('node:net');
    const tls = await import('node:tls');
    const { freePort } = await import('./helpers/sockets.js');
    const { parseConfig } = await import('../src/config/index.js');
    const { start } = await import('../src/runtime/start.js');
    const dir = mkdtempSync(join(tmpdir(), 'epoxy-sni-example-'));
    const servers: import('node:net').Server[] = [];
    let running: Awaited<ReturnType<typeof start>> | null = null;
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=example', '-keyout', join(dir, 'k'), '-out', join(dir, 'c')], { stdio: 'ignore' });
      const key = readFileSync(join(dir, 'k'));
      const cert = readFileSync(join(dir, 'c'));
      // The file as written uses fixed ports: each 127.0.0.1 port moves to a free one.
      const text = readFileSync(`${ROOT}examples/sni-routing.cfg`, 'utf8');
      const ports = new Map<number, number>();
      for (const m of text.matchAll(/127\.0\.0\.1:(\d+)/g)) if (!ports.has(Number(m[1]))) ports.set(Number(m[1]), await freePort());
      const rewritten = text.replace(/127\.0\.0\.1:(\d+)/g, (_, port: string) => `127.0.0.1:${ports.get(Number(port))}`);
      const serve = async (port: number, server: import('node:net').Server): Promise<void> => {
        server.on('connection', (s: import('node:net').Socket) => s.on('error', () => {}));
        await new Promise<void>((resolve) => server.listen(ports.get(port), '127.0.0.1', resolve));
        servers.push(server);
      };
      for (const [port, name] of [[9001, 'site a'], [9002, 'site b'], [9003, 'fallback']] as const) {
        await serve(port, tls.createServer({ key, cert }, (s) => s.end(name)));
      }
      await serve(9080, net.createServer((s) => s.once('data', () => s.end('HTTP/1.0 200 OK\r\n\r\nweb'))));
      await serve(9022, net.createServer((s) => s.write('SSH-2.0-example\r\n')));
      running = await start(parseConfig([{ name: 'sni-routing.cfg', text: rewritten }], { env: {} }), { quiet: true, signals: false, sessionLog: () => {} });

      const tlsAnswer = (port: number, servername?: string): Promise<string> =>
        new Promise((resolve, reject) => {
          const socket = tls.connect({ port: ports.get(port)!, host: '127.0.0.1', servername, rejectUnauthorized: false });
          let answer = '';
          socket.on('data', (c: Buffer) => (answer += c.toString()));
          socket.on('end', () => resolve(answer));
          socket.on('error', reject);
        });
      expect(await tlsAnswer(8443, 'a.example')).toBe('site a');
      expect(await tlsAnswer(8443, 'www.b.example')).toBe('site b');
      expect(await tlsAnswer(8443, 'other.example')).toBe('fallback');
      expect(await tlsAnswer(8443)).toBe('fallback');
      expect(await tlsAnswer(8022, 'any.example')).toBe('site a');

      const plain = (send: string | null): Promise<string> =>
        new Promise((resolve, reject) => {
          const socket = net.connect(ports.get(8022)!, '127.0.0.1', () => {
            if (send !== null) socket.write(send);
          });
          let answer = '';
          socket.on('data', (c: Buffer) => {
            answer += c.toString();
            if (answer.includes('SSH-2.0-example')) socket.destroy();
          });
          socket.on('close', () => resolve(answer));
          socket.on('error', reject);
        });
      expect(await plain('GET / HTTP/1.0\r\n\r\n')).toContain('web');
      expect(await plain(null)).toBe('SSH-2.0-example\r\n');
    } finally {
      await running?.kill();
      for (const server of servers) server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('examples/rate-limit.cfg', () => {
  it('limits a client by rate, bans and unbans one on the runtime API, and keeps clients on their server, with two workers', async () => {
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { freePort } = await import('./helpers/sockets.js');
    const { startMaster, tempDir, writeFile } = await import('./helpers/master.js');
    const { answeredFrom, heldSessionFrom, holdingServer } = await import('./helpers/servers.js');
    const { ControlClient } = await import('../src/control/client.js');
    const cleanups: Array<() => Promise<void> | void> = [];
    try {
      const dir = tempDir(cleanups);
      // The file as written uses fixed ports and a socket in /tmp: each moves somewhere free.
      let text = readFileSync(`${ROOT}examples/rate-limit.cfg`, 'utf8');
      const ports = new Map<number, number>();
      for (const m of text.matchAll(/127\.0\.0\.1:(\d+)/g)) if (!ports.has(Number(m[1]))) ports.set(Number(m[1]), await freePort());
      text = text.replace(/127\.0\.0\.1:(\d+)/g, (_, port: string) => `127.0.0.1:${ports.get(Number(port))}`);
      const socket = join(dir, 'stats.sock');
      text = text.replaceAll('/tmp/epoxy-rate-limit.sock', socket);
      const app1 = await holdingServer(cleanups, 'app1');
      const app2 = await holdingServer(cleanups, 'app2');
      text = text.replace(`127.0.0.1:${ports.get(9501)}`, `127.0.0.1:${app1.port}`).replace(`127.0.0.1:${ports.get(9502)}`, `127.0.0.1:${app2.port}`);
      await startMaster(cleanups, ['-W', '-f', writeFile(dir, 'rate-limit.cfg', text)]);
      const port = ports.get(8500)!;
      const admin = new ControlClient(socket);

      // 25 connections in a row from one client: 20 within the rate (a few more if a 10 s period
      // ends meanwhile, as HAProxy's rates go), the rest refused; another client is unaffected.
      let served = 0;
      for (let i = 0; i < 25; i++) if (await answeredFrom(port, '127.0.0.1')) served++;
      expect(served).toBeGreaterThanOrEqual(20);
      expect(served).toBeLessThan(25);
      expect(await answeredFrom(port, '127.0.0.2')).toBe(true);

      // Banned, then unbanned, on the runtime API.
      expect(await admin.text('set table edge key 127.0.0.3 data.gpc0 1')).toBe('\n');
      expect(await answeredFrom(port, '127.0.0.3')).toBe(false);
      expect(await admin.text('clear table edge key 127.0.0.3')).toBe('\n');
      expect(await answeredFrom(port, '127.0.0.3')).toBe(true);

      // A client keeps its server, whichever worker takes its connections.
      const first = await heldSessionFrom(cleanups, port, '127.0.0.4');
      for (let i = 0; i < 4; i++) expect((await heldSessionFrom(cleanups, port, '127.0.0.4')).server).toBe(first.server);
    } finally {
      for (const cleanup of cleanups.reverse()) await cleanup();
    }
  }, 60_000);
});
