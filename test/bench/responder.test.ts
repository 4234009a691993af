/**
 * bench/tools/responder.c, the harness's native backend, built through bench/harness/build-tool.mjs
 * and driven over real loopback sockets: what a client sees (status, headers, bodies, when the
 * server closes), and that the process survives what clients do to it. Waits are on conditions,
 * each bounded by waitFor's deadline.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { buildTool } from '../../bench/harness/build-tool.mjs';
import { sha256 } from '../helpers/flows.js';
import { waitFor } from '../helpers/sockets.js';

// Built once for the file; only a missing compiler skips, a compile error fails.
const built = await buildTool('responder').then(
  (bin) => ({ bin, reason: '' }),
  (error: Error & { code?: string }) => {
    if (error.code === 'ENOCOMPILER') return { bin: '', reason: error.message };
    throw error;
  },
);
const bin = built.bin;

const MiB = 1024 * 1024;
const root = mkdtempSync(join(tmpdir(), 'epoxy-responder-test-'));
mkdirSync(join(root, 'bulk'));
// Larger than what the kernel can queue for a reader that does not read (the sender's socket
// buffer at its largest, tcp_wmem's maximum, and the reader's initial one), so that sendfile must
// stop with bytes left and resume.
const sysctl = (name: string, field: number, fallback: number) => {
  try {
    return Number(readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim().split(/\s+/)[field]) || fallback;
  } catch {
    return fallback;
  }
};
const big = randomBytes(3 * MiB + sysctl('tcp_wmem', 2, 4 * MiB) + sysctl('tcp_rmem', 1, 128 * 1024));
writeFileSync(join(root, 'bulk', 'big'), big);
writeFileSync(join(root, 'bulk', 'small.txt'), 'hello\n');
mkdirSync(join(root, 'bulk', 'dir'));
writeFileSync(join(root, 'secret'), 'outside bulk/\n');
afterAll(() => rmSync(root, { recursive: true, force: true }));


const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

interface Server {
  port: number;
  pid: number;
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the responder (through `sh -c` when a shell prefix is given) and waits for `listening <port>`. */
async function startResponder(args: string[] = [], { shellPrefix = '' } = {}): Promise<Server> {
  const child = shellPrefix
    ? spawn('/bin/sh', ['-c', `${shellPrefix} exec "$0" "$@"`, bin, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(bin, ['--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => { stdout += d; });
  child.stderr!.on('data', (d) => { stderr += d; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })));
  cleanups.push(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  await waitFor(() => /^listening \d+\n/.test(stdout) || child.exitCode !== null, 'the responder to listen');
  const m = /^listening (\d+)\n/.exec(stdout);
  if (!m) throw new Error(`the responder exited (${child.exitCode}) without listening: ${stderr}`);
  return { port: Number(m[1]), pid: child.pid!, child, stderr: () => stderr, exited };
}

interface Response {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** A raw client connection that collects what the server sends and parses responses from it. */
class Client {
  readonly socket: net.Socket;
  private buf = Buffer.alloc(0);
  ended = false; // the server's FIN (or a reset) came
  error: Error | null = null;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => { this.buf = Buffer.concat([this.buf, d]); });
    socket.on('end', () => { this.ended = true; });
    socket.on('error', (e) => { this.error = e; this.ended = true; });
    socket.on('close', () => { this.ended = true; });
  }

  static async connect(port: number, { paused = false } = {}): Promise<Client> {
    const socket = net.connect({ host: '127.0.0.1', port });
    const c = new Client(socket);
    if (paused) socket.pause();
    cleanups.push(() => socket.destroy());
    let connected = false;
    socket.once('connect', () => { connected = true; });
    await waitFor(() => connected || c.ended, 'the connection');
    if (!connected) throw c.error ?? new Error('connection closed');
    return c;
  }

  send(text: string | Buffer): void {
    this.socket.write(text);
  }

  /** The bytes received and not yet parsed. */
  get pending(): number {
    return this.buf.length;
  }

  /** The next whole response (HEAD: headers only, whatever Content-Length says). */
  async response({ head = false } = {}): Promise<Response> {
    let parsed: Response | null = null;
    const tryParse = () => {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return false;
      const lines = this.buf.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(lines[0]!)?.[1]);
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = head ? 0 : Number(headers['content-length']);
      if (this.buf.length < end + 4 + length) return false;
      parsed = { status, headers, body: this.buf.subarray(end + 4, end + 4 + length) };
      this.buf = this.buf.subarray(end + 4 + length);
      return true;
    };
    await waitFor(() => tryParse() || this.ended, 'a response');
    if (!parsed && !tryParse()) throw new Error(`no complete response before the end (${this.buf.length} bytes: ${this.buf.toString('latin1').slice(0, 200)})`);
    return parsed!;
  }

  async closedByServer(): Promise<void> {
    await waitFor(() => this.ended, 'the server to close the connection');
  }
}

const get = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: bench\r\n${extra}\r\n`;

/** The responder's open fds. */
const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

/** tx_queue and rx_queue of the IPv4 socket 127.0.0.1:local <-> 127.0.0.1:remote (/proc/net/tcp). */
function queues(local: number, remote: number): { tx: number; rx: number } | null {
  const hex = (p: number) => `0100007F:${p.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === hex(local) && f[2] === hex(remote)) {
      const [tx, rx] = f[4]!.split(':').map((h) => parseInt(h, 16));
      return { tx: tx!, rx: rx! };
    }
  }
  return null;
}

/** Whether process `pid` has the file `path` open. */
function holdsFile(pid: number, path: string): boolean {
  return readdirSync(`/proc/${pid}/fd`).some((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`) === path;
    } catch {
      return false; // closed meanwhile
    }
  });
}

/** The state letter of /proc/<pid>/stat (R running, S sleeping, ...). */
function procState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2)[0]!;
}

describe.skipIf(!bin)(bin ? 'responder' : `responder (skipped: ${built.reason})`, () => {
  it('answers GET / with the fixed body, and --body-bytes sets its size', async () => {
    const s = await startResponder();
    const c = await Client.connect(s.port);
    c.send(get('/'));
    const r = await c.response();
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/plain');
    expect(r.headers['content-length']).toBe('128');
    expect(r.headers.connection).toBe('keep-alive');
    expect(r.body.toString()).toBe(`${'x'.repeat(127)}\n`);

    const s5 = await startResponder(['--body-bytes', '5']);
    const c5 = await Client.connect(s5.port);
    c5.send(get('/any/path?q=1'));
    const r5 = await c5.response();
    expect(r5.status).toBe(200);
    expect(r5.body.toString()).toBe('xxxx\n');
  });

  it('keeps the connection alive across requests', async () => {
    const s = await startResponder();
    const c = await Client.connect(s.port);
    for (let i = 0; i < 5; i++) {
      c.send(get(`/${i}`));
      const r = await c.response();
      expect(r.status).toBe(200);
      expect(r.body.length).toBe(128);
    }
    // HTTP/1.0 asking for keep-alive gets it too.
    c.send('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n');
    expect((await c.response()).headers.connection).toBe('keep-alive');
    c.send(get('/'));
    expect((await c.response()).status).toBe(200);
    expect(c.ended).toBe(false);
    expect(c.pending).toBe(0);
  });

  it('answers pipelined requests in order', async () => {
    const s = await startResponder(['--root', root]);
    const c = await Client.connect(s.port);
    c.send(get('/') + get('/bulk/absent') + 'HEAD /bulk/small.txt HTTP/1.1\r\n\r\n' + get('/bulk/small.txt'));
    const a = await c.response();
    const b = await c.response();
    const h = await c.response({ head: true });
    const d = await c.response();
    expect([a.status, b.status, h.status, d.status]).toEqual([200, 404, 200, 200]);
    expect(a.body.length).toBe(128);
    expect(h.headers['content-length']).toBe('6');
    expect(d.body.toString()).toBe('hello\n');
    // HEAD sent no body: nothing is left over after the four responses.
    expect(c.pending).toBe(0);
    expect(c.ended).toBe(false);
  });

  it('closes after a response to Connection: close, or to HTTP/1.0 without keep-alive', async () => {
    const s = await startResponder();
    for (const request of [get('/', 'connection: CLOSE\r\n'), get('/', 'Connection: foo, Close\r\n'), 'GET / HTTP/1.0\r\n\r\n']) {
      const c = await Client.connect(s.port);
      c.send(request);
      const r = await c.response();
      expect(r.status).toBe(200);
      expect(r.headers.connection).toBe('close');
      expect(r.body.length).toBe(128);
      await c.closedByServer();
      expect(c.error).toBeNull(); // a FIN, not a reset
    }
  });

  it('answers a request pipelined after Connection: close, then closes without a reset', async () => {
    const s = await startResponder();
    const c = await Client.connect(s.port);
    c.send(get('/', 'Connection: close\r\n') + get('/never-answered'));
    const r = await c.response();
    expect(r.headers.connection).toBe('close');
    await c.closedByServer();
    expect(c.error).toBeNull();
    expect(c.pending).toBe(0);
  });

  it('sends a /bulk/ file byte-exact to a reader that pauses (sendfile resumes after EAGAIN)', async () => {
    const s = await startResponder(['--root', root]);
    const c = await Client.connect(s.port, { paused: true });
    const local = c.socket.localPort!;
    c.send(get('/bulk/big'));
    // Not reading: the client's window closes and the server's socket fills. The responder then
    // sleeps in epoll_wait with the file still open: sendfile hit EAGAIN with bytes left (once
    // the file is sent whole, it is closed).
    const file = join(root, 'bulk', 'big');
    await waitFor(() => (queues(s.port, local)?.tx ?? 0) > 0 && holdsFile(s.pid, file) && procState(s.pid) === 'S',
      'the transfer to stall on the paused reader');
    const stalled = queues(s.port, local)!;
    const atClient = queues(local, s.port)!;
    expect(stalled.tx + atClient.rx).toBeLessThan(big.length);
    c.socket.resume();
    const r = await c.response();
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/octet-stream');
    expect(r.headers['content-length']).toBe(String(big.length));
    expect(r.body.length).toBe(big.length);
    expect(sha256(r.body)).toBe(sha256(big));
    // The connection stays usable after a file.
    c.send(get('/bulk/small.txt'));
    expect((await c.response()).body.toString()).toBe('hello\n');
  });

  it('404s a missing file, a directory, or /bulk/ without --root; 400s a ".." segment', async () => {
    const s = await startResponder(['--root', root]);
    const c = await Client.connect(s.port);
    for (const path of ['/bulk/absent', '/bulk/dir', '/bulk/', '/bulk/small.txt/x']) {
      c.send(get(path));
      const r = await c.response();
      expect(r.status, path).toBe(404);
      expect(r.headers.connection).toBe('keep-alive');
    }
    c.send(get('/bulk/small.txt?v=1'));
    expect((await c.response()).body.toString()).toBe('hello\n');

    for (const path of ['/bulk/../secret', '/bulk/dir/../../secret', '/bulk/..']) {
      const bad = await Client.connect(s.port);
      bad.send(get(path));
      const r = await bad.response();
      expect(r.status, path).toBe(400);
      expect(r.body.toString()).not.toContain('outside');
      await bad.closedByServer();
    }

    const noRoot = await startResponder();
    const n = await Client.connect(noRoot.port);
    n.send(get('/bulk/small.txt'));
    expect((await n.response()).status).toBe(404);
  });

  it('answers 405 to other methods and 400 to a request with a body', async () => {
    const s = await startResponder();
    const c = await Client.connect(s.port);
    c.send('DELETE / HTTP/1.1\r\n\r\n');
    const r = await c.response();
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('GET, HEAD');
    c.send('POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc');
    expect((await c.response()).status).toBe(400);
    await c.closedByServer();
  });

  it.each([
    ['garbage', 'garbage\r\n\r\n'],
    ['binary', '\x00\x01\x02\xff\r\n\r\n'],
    ['HTTP/0.9', 'GET /\r\n'],
    ['a version other than 1.x', 'GET / HTTP/2.0\r\n\r\n'],
    ['a target not starting with /', 'GET http://x/ HTTP/1.1\r\n\r\n'],
    ['a header line without a colon', 'GET / HTTP/1.1\r\nno colon here\r\n\r\n'],
    ['a folded header line', 'GET / HTTP/1.1\r\nA: b\r\n  c\r\n\r\n'],
  ])('answers 400 and closes on %s', async (_what, request) => {
    const s = await startResponder();
    const c = await Client.connect(s.port);
    c.send(Buffer.from(request, 'latin1'));
    const r = await c.response();
    expect(r.status).toBe(400);
    expect(r.headers.connection).toBe('close');
    await c.closedByServer();
    expect(c.error).toBeNull();
  });

  it('answers 431 to a request header block over 8 KiB, and closes', async () => {
    const s = await startResponder();
    const c = await Client.connect(s.port);
    c.send(get('/', `X-Big: ${'a'.repeat(9000)}\r\n`));
    const r = await c.response();
    expect(r.status).toBe(431);
    expect(r.headers.connection).toBe('close');
    await c.closedByServer();
    expect(c.error).toBeNull();
    // Just under the limit is fine, even when it comes in pieces.
    const ok = await Client.connect(s.port);
    const request = get('/', `X-Big: ${'a'.repeat(8000)}\r\n`);
    ok.send(request.slice(0, 100));
    // The server has read the first piece (its receive queue is empty) before the rest is sent.
    await waitFor(() => queues(s.port, ok.socket.localPort!)?.rx === 0 && queues(ok.socket.localPort!, s.port)?.tx === 0,
      'the server to read the first piece');
    ok.send(request.slice(100));
    expect((await ok.response()).status).toBe(200);
  });

  it('survives clients that reset or close mid-request and mid-transfer', async () => {
    const s = await startResponder(['--root', root]);
    // The listener, epoll, signalfd, --root and stdio, before any connection.
    const base = fds(s.pid);
    const partial = await Client.connect(s.port);
    partial.send('GET / HTTP/1.1\r\nHo');
    await waitFor(() => fds(s.pid) === base + 1, 'the server to accept');
    partial.socket.resetAndDestroy();
    const closer = await Client.connect(s.port);
    closer.send('GET /');
    closer.socket.end();
    // A reader that stops reading a file, then resets: the server holds the file and the socket.
    const reader = await Client.connect(s.port, { paused: true });
    reader.send(get('/bulk/big'));
    await waitFor(() => holdsFile(s.pid, join(root, 'bulk', 'big')) && (queues(s.port, reader.socket.localPort!)?.tx ?? 0) > 0,
      'the transfer to stall');
    reader.socket.resetAndDestroy();
    await waitFor(() => fds(s.pid) === base, 'the server to close everything (no fd left behind)');
    const c = await Client.connect(s.port);
    c.send(get('/bulk/small.txt'));
    expect((await c.response()).body.toString()).toBe('hello\n');
    expect(s.child.exitCode).toBeNull();
    expect(s.stderr()).toBe('');
  });

  it('stops accepting while out of fds, without spinning, and resumes when connections close', async () => {
    // 24 fds: stdio, the listener, epoll, the signalfd (and any fd below 24 we passed on without
    // meaning to) leave the rest for connections.
    const limit = 24;
    const s = await startResponder([], { shellPrefix: `ulimit -n ${limit} &&` });
    const room = limit - readdirSync(`/proc/${s.pid}/fd`).filter((fd) => Number(fd) < limit).length;
    expect(room).toBeGreaterThan(10);
    const clients: Client[] = [];
    for (let i = 0; i < 30; i++) {
      const c = await Client.connect(s.port); // the kernel completes the handshake from the backlog
      c.send(get('/'));
      clients.push(c);
    }
    await waitFor(() => /Too many open files/.test(s.stderr()), 'the responder to run out of fds');
    const answered = () => clients.filter((c) => c.pending > 0).length;
    await waitFor(() => answered() === room, `${room} answers`);
    // Connections are waiting in the backlog: a loop retrying accept4 would be running (R) at every
    // sample; a paused one sleeps (S) but for its retries every 100 ms, which a busy CI machine may
    // stretch: half the samples is the line, far from both.
    let sleeping = 0;
    for (let i = 0; i < 200; i++) {
      if (procState(s.pid) === 'S') sleeping++;
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(sleeping).toBeGreaterThanOrEqual(100);
    // Closing answered connections frees fds: the waiting ones are accepted and answered.
    expect(30 - room).toBeLessThanOrEqual(12);
    for (const c of clients.filter((x) => x.pending > 0).slice(0, 12)) c.socket.destroy();
    await waitFor(() => answered() === 30, 'every connection to be answered');
    for (const c of clients) if (!c.socket.destroyed) expect((await c.response()).status).toBe(200);
    expect(s.child.exitCode).toBeNull();
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('exits 0 on %s, with connections open', async (signal) => {
    const s = await startResponder();
    const c = await Client.connect(s.port);
    c.send(get('/'));
    await c.response();
    s.child.kill(signal);
    expect(await s.exited).toEqual({ code: 0, signal: null });
    await c.closedByServer();
  });

  describe('usage', () => {
    it.each([
      [[], '--port'],
      [['--port', '70000'], '--port'],
      [['--port', '0', '--body-bytes', 'many'], '--body-bytes'],
      [['--port', '0', '--backlog', '0'], '--backlog'],
      [['--port', '0', '--bogus', '1'], '--bogus'],
      [['--port'], '--port'],
      [['stray'], 'stray'],
    ])('%j exits 2 naming %s', (args, named) => {
      const r = spawnSync(bin, args, { encoding: 'utf8' });
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.split('\n')[0]).toContain(named);
    });

    it('exits 1 when --root is not a directory', () => {
      const r = spawnSync(bin, ['--port', '0', '--root', join(root, 'secret')], { encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/--root .*secret: Not a directory/);
    });
  });
});
