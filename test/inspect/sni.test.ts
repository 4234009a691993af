/**
 * Content inspection end to end, over real sockets: TLS passthrough routed by SNI (Node's TLS and
 * OpenSSL's s_client as clients, TLS servers behind, the handshake completing through epoxy),
 * a ClientHello split over several TCP segments, inspect-delay expiry falling through to the
 * default backend, SSH/TLS/HTTP told apart on one port, and refusals counted.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/parser.js';
import { start, type RunningProxy } from '../../src/runtime/start.js';
import { freePort, waitFor } from '../helpers/sockets.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let dir = '';
let key = '';
let cert = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'epoxy-sni-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=test.example', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  key = readFileSync(join(dir, 'key.pem'), 'utf8');
  cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function listen(server: Server): Promise<number> {
  server.on('connection', (socket: Socket) => socket.on('error', () => {}));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

/** A TLS server that says its name once the handshake is done, and the SNI it was sent. */
function tlsServer(name: string): Server {
  return createTlsServer({ key, cert }, (socket) => {
    socket.on('error', () => {});
    socket.end(`${name} sni=${(socket as unknown as { servername?: string | false }).servername || '-'}`);
  });
}

/** A plain server that records every byte it receives; `greeting` is sent first (SSH speaks first). */
function recorder(greeting = ''): { server: Server; received: Buffer[]; connections: number } {
  const state = { server: null as unknown as Server, received: [] as Buffer[], connections: 0 };
  state.server = createServer((socket) => {
    state.connections++;
    const chunks: Buffer[] = [];
    state.received.push(Buffer.alloc(0));
    const index = state.received.length - 1;
    socket.on('error', () => {});
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      state.received[index] = Buffer.concat(chunks);
    });
    if (greeting !== '') socket.write(greeting);
  });
  return state;
}

async function proxy(text: (ports: Record<string, number>) => string, ports: Record<string, number>): Promise<{ running: RunningProxy; port: number; logs: string[] }> {
  const port = await freePort();
  const logs: string[] = [];
  const config = parseConfig([{ name: 'sni.cfg', text: text({ ...ports, proxy: port }) }]);
  const running = await start(config, { quiet: true, signals: false, sessionLog: (l) => logs.push(l) });
  cleanups.push(async () => {
    await running.kill();
  });
  return { running, port, logs };
}

const DEFAULTS = `
defaults
  mode tcp
  option tcplog
  timeout connect 2s
  timeout client 30s
  timeout server 30s
`;

const sniConfig = (delay: string) => (p: Record<string, number>): string => `${DEFAULTS}
frontend tls
  bind 127.0.0.1:${p.proxy}
  tcp-request inspect-delay ${delay}
  tcp-request content accept if { req_ssl_hello_type 1 }
  use_backend a if { req.ssl_sni -i a.example }
  use_backend b if { req.ssl_sni -m dom b.example }
  use_backend b if { req.ssl_alpn acme-tls/1 }
  default_backend d
backend a
  server a 127.0.0.1:${p.a}
backend b
  server b 127.0.0.1:${p.b}
backend d
  server d 127.0.0.1:${p.d}
`;

function tlsAnswer(port: number, servername?: string, ALPNProtocols?: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ port, host: '127.0.0.1', servername, ALPNProtocols, rejectUnauthorized: false });
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

/** The bytes a TLS client sends first, captured from Node's TLS client. */
async function captureClientHello(servername: string): Promise<Buffer> {
  let hello: Buffer = Buffer.alloc(0);
  const capture = createServer((socket) => {
    socket.on('data', (c: Buffer) => {
      hello = Buffer.concat([hello, c]);
      if (hello.length >= 5 && hello.length >= 5 + hello.readUInt16BE(3)) socket.destroy();
    });
  });
  const port = await listen(capture);
  const client = tlsConnect({ port, host: '127.0.0.1', servername, rejectUnauthorized: false });
  client.on('error', () => {});
  await waitFor(() => hello.length >= 5 && hello.length >= 5 + hello.readUInt16BE(3), 'a whole ClientHello');
  client.destroy();
  return hello;
}

function rawClient(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port, host: '127.0.0.1' }, () => resolve(socket));
    socket.setNoDelay(true);
    socket.on('error', reject);
  });
}

describe('TLS passthrough routed by SNI', () => {
  it('routes a.example, b.example and no SNI to their backends, the handshake completing end to end', async () => {
    const ports = { a: await listen(tlsServer('backend-a')), b: await listen(tlsServer('backend-b')), d: await listen(tlsServer('backend-d')) };
    const { port, running } = await proxy(sniConfig('5s'), ports);
    expect(await tlsAnswer(port, 'a.example')).toBe('backend-a sni=a.example');
    expect(await tlsAnswer(port, 'A.EXAMPLE')).toBe('backend-a sni=A.EXAMPLE');
    expect(await tlsAnswer(port, 'b.example')).toBe('backend-b sni=b.example');
    expect(await tlsAnswer(port, 'www.b.example')).toBe('backend-b sni=www.b.example');
    expect(await tlsAnswer(port, 'c.example')).toBe('backend-d sni=c.example');
    expect(await tlsAnswer(port)).toBe('backend-d sni=-');
    // Any protocol of the ALPN list may match, as in HAProxy.
    expect(await tlsAnswer(port, 'c.example', ['http/1.1', 'acme-tls/1'])).toBe('backend-b sni=c.example');
    expect(running.runtime.frontends.get('tls')!.counters.get('deniedRequests')).toBe(0);
  });

  it('without a content rule, use_backend sees no SNI (nothing waits for it), as HAProxy 2.6', async () => {
    const ports = { a: await listen(tlsServer('backend-a')), b: await listen(tlsServer('backend-b')), d: await listen(tlsServer('backend-d')) };
    const { port } = await proxy((p) => sniConfig('5s')(p).replace('  tcp-request content accept if { req_ssl_hello_type 1 }\n', ''), ports);
    expect(await tlsAnswer(port, 'a.example')).toBe('backend-d sni=a.example');
  });

  it('routes OpenSSL s_client by -servername', async () => {
    const ports = { a: await listen(tlsServer('backend-a')), b: await listen(tlsServer('backend-b')), d: await listen(tlsServer('backend-d')) };
    const { port } = await proxy(sniConfig('5s'), ports);
    for (const [name, expected] of [['a.example', 'backend-a'], ['b.example', 'backend-b']] as const) {
      const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', name, '-quiet'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      try {
        await waitFor(() => out.includes(expected), `s_client -servername ${name} to read ${expected} (${out})`);
        expect(out).toContain(`${expected} sni=${name}`);
      } finally {
        child.kill();
        await exited;
      }
    }
  });

  it('routes a ClientHello sent in several TCP segments, and the server receives exactly the bytes sent', async () => {
    const hello = await captureClientHello('a.example');
    const a = recorder();
    const d = recorder();
    const ports = { a: await listen(a.server), b: await listen(recorder().server), d: await listen(d.server) };
    const { port, running } = await proxy(sniConfig('5s'), ports);
    const socket = await rawClient(port);
    cleanups.push(() => void socket.destroy());
    const cuts = [0, 3, 9, 60, hello.length];
    const engine = running.engine;
    for (let i = 0; i + 1 < cuts.length; i++) {
      socket.write(hello.subarray(cuts[i], cuts[i + 1]));
      if (i + 2 < cuts.length) {
        // The segment has reached epoxy (its session reads it) and no server was chosen yet.
        await waitFor(() => engine.describeSessions().some((s) => s.phase === 'inspect'), 'the session to be inspecting');
        await new Promise((resolve) => setTimeout(resolve, 30));
        expect(a.connections + d.connections).toBe(0);
      }
    }
    socket.write('after the hello');
    await waitFor(() => a.received[0]?.length === hello.length + 'after the hello'.length, 'backend a to receive the hello and what followed');
    expect(Buffer.compare(a.received[0]!, Buffer.concat([hello, Buffer.from('after the hello')]))).toBe(0);
    expect(d.connections).toBe(0);
  });

  it('sends a send-proxy header, then the inspected bytes, in one piece', async () => {
    const hello = await captureClientHello('b.example');
    const b = recorder();
    const ports = { a: await listen(recorder().server), b: await listen(b.server), d: await listen(recorder().server) };
    const { port } = await proxy((p) => sniConfig('5s')(p).replace(`server b 127.0.0.1:${p.b}`, `server b 127.0.0.1:${p.b} send-proxy`), ports);
    const socket = await rawClient(port);
    cleanups.push(() => void socket.destroy());
    socket.write(hello);
    await waitFor(() => (b.received[0]?.length ?? 0) > hello.length, 'backend b to receive a header and the hello');
    const received = b.received[0]!;
    const header = received.subarray(0, received.indexOf('\r\n') + 2).toString();
    expect(header).toMatch(new RegExp(`^PROXY TCP4 127\\.0\\.0\\.1 127\\.0\\.0\\.1 \\d+ ${port}\r\n$`));
    expect(Buffer.compare(received.subarray(header.length), hello)).toBe(0);
  });

  it('falls through to the default backend when inspect-delay expires without a hello', async () => {
    const d = recorder('SSH-2.0-default\r\n');
    const ports = { a: await listen(recorder().server), b: await listen(recorder().server), d: await listen(d.server) };
    const { port } = await proxy(sniConfig('300ms'), ports);
    const started = Date.now();
    const socket = await rawClient(port);
    cleanups.push(() => void socket.destroy());
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString()));
    await waitFor(() => text.includes('SSH-2.0-default'), 'the default backend to answer');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('a partial hello at expiry does not match its SNI rule: default backend, with the bytes', async () => {
    const hello = await captureClientHello('a.example');
    const d = recorder();
    const a = recorder();
    const ports = { a: await listen(a.server), b: await listen(recorder().server), d: await listen(d.server) };
    const { port } = await proxy(sniConfig('300ms'), ports);
    const socket = await rawClient(port);
    cleanups.push(() => void socket.destroy());
    socket.write(hello.subarray(0, 40));
    await waitFor(() => d.received[0]?.length === 40, 'the default backend to get the 40 bytes');
    expect(a.connections).toBe(0);
  });
});

describe('protocol sniffing on one port', () => {
  const muxConfig = (p: Record<string, number>): string => `${DEFAULTS}
frontend mux
  bind 127.0.0.1:${p.proxy}
  tcp-request inspect-delay 400ms
  tcp-request content reject if { req.payload(0,4) -m str QUIT }
  tcp-request content accept if { req.ssl_hello_type 1 }
  tcp-request content accept if { req.payload(0,3) -m bin 474554 } or { req.payload(0,4) -m str POST }
  use_backend tls if { req.ssl_hello_type 1 }
  use_backend http if { req.payload(0,3) -m bin 474554 } or { req.payload(0,4) -m beg POST }
  default_backend ssh
backend tls
  server tls 127.0.0.1:${p.tls}
backend http
  server http 127.0.0.1:${p.http}
backend ssh
  server ssh 127.0.0.1:${p.ssh}
`;

  it('sends SSH (the server speaks first), TLS and HTTP to their own backends, and counts a refusal', async () => {
    const http = createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => socket.end('HTTP/1.0 200 OK\r\n\r\nhttp backend'));
    });
    const ports = { tls: await listen(tlsServer('tls backend')), http: await listen(http), ssh: await listen(recorder('SSH-2.0-sniffed\r\n').server) };
    const { port, running, logs } = await proxy(muxConfig, ports);

    // HTTP decides at once, without waiting for inspect-delay.
    const started = Date.now();
    const httpSocket = await rawClient(port);
    let httpText = '';
    httpSocket.on('data', (c: Buffer) => (httpText += c.toString()));
    httpSocket.write('GET / HTTP/1.0\r\n\r\n');
    await waitFor(() => httpText.includes('http backend'), 'the HTTP backend');
    expect(Date.now() - started).toBeLessThan(400);
    httpSocket.destroy();

    expect(await tlsAnswer(port, 'any.example')).toBe('tls backend sni=any.example');

    const ssh = await rawClient(port);
    let sshText = '';
    ssh.on('data', (c: Buffer) => (sshText += c.toString()));
    await waitFor(() => sshText.includes('SSH-2.0-sniffed'), 'the SSH backend to greet');
    ssh.destroy();

    const refused = await rawClient(port);
    const closed = new Promise<void>((resolve) => refused.on('close', () => resolve()));
    refused.on('error', () => {});
    refused.resume();
    refused.write('QUIT');
    await closed;
    const fe = running.runtime.frontends.get('mux')!;
    await waitFor(() => fe.counters.get('deniedRequests') === 1, 'the refusal to be counted (dreq)');
    expect(fe.counters.get('denied')).toBe(0);
    await waitFor(() => logs.some((l) => / mux mux\/<NOSRV> -1\/-1\/\d+ 0 PR /.test(l)), `a PR log line (${logs.join('\n')})`);
  });

  it('forwards a full inspection buffer whole, even to a server socket with a small send buffer', async () => {
    const config = (p: Record<string, number>): string => `global
  tune.sndbuf.server 4096
${DEFAULTS}
frontend big
  bind 127.0.0.1:${p.proxy}
  tcp-request inspect-delay 5s
  tcp-request content accept if WAIT_END
  default_backend sink
backend sink
  server sink 127.0.0.1:${p.sink}
`;
    // The server reads nothing until the whole buffer has been sent to it, so the send buffer fills.
    const sink = recorder();
    sink.server.on('connection', (socket: Socket) => {
      socket.pause();
      setTimeout(() => socket.resume(), 200);
    });
    const { port } = await proxy(config, { sink: await listen(sink.server) });
    const payload = Buffer.alloc(40_000, 'x');
    for (let i = 0; i < payload.length; i++) payload[i] = i & 0xff;
    const socket = await rawClient(port);
    cleanups.push(() => void socket.destroy());
    socket.write(payload);
    await waitFor(() => sink.received[0]?.length === payload.length, `the server to receive all ${payload.length} bytes (has ${sink.received[0]?.length})`);
    expect(Buffer.compare(sink.received[0]!, payload)).toBe(0);
  });

  it('refuses what is not a TLS hello on a TLS-only port, closing that connection only', async () => {
    const config = (p: Record<string, number>): string => `${DEFAULTS}
frontend strict
  bind 127.0.0.1:${p.proxy}
  tcp-request inspect-delay 2s
  tcp-request content reject unless { req.ssl_hello_type 1 }
  default_backend tls
backend tls
  server tls 127.0.0.1:${p.tls}
`;
    const ports = { tls: await listen(tlsServer('tls backend')) };
    const { port, running } = await proxy(config, ports);
    const garbage = await rawClient(port);
    garbage.on('error', () => {});
    garbage.resume();
    const closed = new Promise<void>((resolve) => garbage.on('close', () => resolve()));
    garbage.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00]));
    await closed;
    expect(running.runtime.frontends.get('strict')!.counters.get('deniedRequests')).toBe(1);
    expect(await tlsAnswer(port, 'still.example')).toBe('tls backend sni=still.example');
  });
});
