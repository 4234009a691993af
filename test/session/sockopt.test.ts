/**
 * Socket options of the proxy's own sockets, read back with getsockopt() on real loopback
 * connections: the accepted client socket (options inherited from the listener) and the
 * outgoing server socket (set before connect()), for a configuration started from HAProxy
 * text. The proxy runs in this process, so its fds are found in /proc/self/fd by address.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SocketAddress } from '../../src/address.js';
import { parseConfig } from '../../src/config/index.js';
import { native, type AnySocketOptionName } from '../../src/native.js';
import { start } from '../../src/runtime/start.js';
import { buildProxyHeader } from '../../src/proxy-protocol/proxy-protocol.js';
import { freePort, waitFor } from '../helpers/sockets.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A server that answers each connection's first bytes with 'ok' and remembers its peers. */
async function upstream(): Promise<{ port: number; peers: Array<{ address: string; port: number }>; received: Buffer[] }> {
  const peers: Array<{ address: string; port: number }> = [];
  const received: Buffer[] = [];
  const server = createServer((socket) => {
    peers.push({ address: socket.remoteAddress!, port: socket.remotePort! });
    socket.once('data', (chunk) => {
      received.push(chunk);
      socket.write('ok');
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as { port: number }).port, peers, received };
}

/** The fd of this process whose socket is bound to `address:port` (and, if given, connected to `peerPort`). */
function socketFd(address: string, port: number, peerPort?: number): number {
  for (const name of readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    try {
      const local = SocketAddress.fromBytes(native.getsockname(fd));
      if (local.address !== address || local.port !== port) continue;
      if (peerPort !== undefined && SocketAddress.fromBytes(native.getpeername(fd)).port !== peerPort) continue;
      return fd;
    } catch {
      // not a socket, or not connected
    }
  }
  throw new Error(`no socket of ours at ${address}:${port}`);
}

function client(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port, host: '127.0.0.1' }, () => resolve(socket));
    socket.on('error', reject);
    cleanups.push(() => void socket.destroy());
  });
}

/** Starts epoxy on `text` (a global section's lines, then the proxies), returns its port. */
async function proxy(globalLines: string, serverPort: number, extra: { frontend?: string; backend?: string; server?: string } = {}): Promise<number> {
  const port = await freePort();
  const text = `global
${globalLines}
defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:${port}
${extra.frontend ?? ''}
    default_backend be
backend be
${extra.backend ?? ''}
    server s 127.0.0.1:${serverPort} ${extra.server ?? ''}
`;
  const running = await start(parseConfig([{ name: 't.cfg', text }], { env: {} }), { quiet: true, signals: false });
  cleanups.push(() => running.kill());
  return port;
}

/** Opens one proxied connection and returns the proxy's two fds for it, once relayed. */
async function proxiedConnection(port: number, up: Awaited<ReturnType<typeof upstream>>, first: string | Uint8Array = 'hi'): Promise<{ clientSide: number; serverSide: number }> {
  const c = await client(port);
  const answered = new Promise<void>((resolve) => c.once('data', () => resolve()));
  c.write(first);
  await answered;
  const peer = up.peers.at(-1)!;
  return { clientSide: socketFd('127.0.0.1', port, c.localPort), serverSide: socketFd(peer.address, peer.port) };
}

const read = (fd: number, names: AnySocketOptionName[]): unknown[] => names.map((n) => native.getsockopt(fd, n));

describe('socket options of the proxy’s sockets', () => {
  it('by default: TCP_NODELAY on both sides (as HAProxy), nothing else changed', async () => {
    const up = await upstream();
    const port = await proxy('', up.port);
    const { clientSide, serverSide } = await proxiedConnection(port, up);
    // (TCP_QUICKACK is not compared: a request/reply exchange itself puts a socket in the kernel's
    // pingpong mode, which reads back as 0.)
    expect(read(clientSide, ['TCP_NODELAY', 'TCP_NOTSENT_LOWAT'])).toEqual([true, 0]);
    expect(read(serverSide, ['TCP_NODELAY', 'TCP_NOTSENT_LOWAT', 'TCP_FASTOPEN_CONNECT'])).toEqual([true, 0, false]);
  });

  it('tune.epoxy.nodelay off leaves Nagle on both sides', async () => {
    const up = await upstream();
    const port = await proxy('    tune.epoxy.nodelay off', up.port);
    const { clientSide, serverSide } = await proxiedConnection(port, up);
    expect(native.getsockopt(clientSide, 'TCP_NODELAY')).toBe(false);
    expect(native.getsockopt(serverSide, 'TCP_NODELAY')).toBe(false);
  });

  it('tune.rcvbuf/sndbuf and tune.epoxy.notsent-lowat on each side (the kernel doubles buffer sizes)', async () => {
    const up = await upstream();
    const port = await proxy(
      `    tune.rcvbuf.client 16384
    tune.sndbuf.client 1048576
    tune.rcvbuf.server 1048576
    tune.sndbuf.server 16384
    tune.epoxy.notsent-lowat.client 16384
    tune.epoxy.notsent-lowat.server 32768`,
      up.port,
    );
    const { clientSide, serverSide } = await proxiedConnection(port, up);
    expect(read(clientSide, ['SO_RCVBUF', 'SO_SNDBUF', 'TCP_NOTSENT_LOWAT'])).toEqual([32768, 2097152, 16384]);
    expect(read(serverSide, ['SO_RCVBUF', 'SO_SNDBUF', 'TCP_NOTSENT_LOWAT'])).toEqual([2097152, 32768, 32768]);
  });

  it('option tcp-smart-accept: accepted sockets start without quick ACKs', async () => {
    const up = await upstream();
    const port = await proxy('', up.port, { frontend: '    option tcp-smart-accept' });
    const c = await client(port);
    // Before any data: the delayed-ACK machinery has not had a chance to leave pingpong mode.
    let fd = -1;
    await waitFor(() => {
      try {
        fd = socketFd('127.0.0.1', port, c.localPort);
        return true;
      } catch {
        return false;
      }
    }, 'the accepted socket');
    expect(native.getsockopt(fd, 'TCP_QUICKACK')).toBe(false);
  });

  it('option tcp-smart-connect: TCP_QUICKACK 0 only when bytes wait to go (send-proxy), as HAProxy 2.6', async () => {
    const up = await upstream();
    const plain = await proxy('', up.port, { backend: '    option tcp-smart-connect' });
    const without = await proxiedConnection(plain, up);
    expect(native.getsockopt(without.serverSide, 'TCP_QUICKACK')).toBe(true);
    const withHeader = await proxy('', up.port, { backend: '    option tcp-smart-connect', server: 'send-proxy' });
    const c = await client(withHeader);
    await waitFor(() => up.peers.length === 2, 'the second server connection');
    const peer = up.peers[1]!;
    expect(native.getsockopt(socketFd(peer.address, peer.port), 'TCP_QUICKACK')).toBe(false);
    c.destroy();
  });

  const tfoClient = (Number(readFileOr('/proc/sys/net/ipv4/tcp_fastopen', '0')) & 1) !== 0;
  it.skipIf(!tfoClient)('server tfo: TCP_FASTOPEN_CONNECT only on a connection with bytes to send at once', async () => {
    const up = await upstream();
    const plain = await proxy('', up.port, { server: 'tfo' });
    const without = await proxiedConnection(plain, up);
    expect(native.getsockopt(without.serverSide, 'TCP_FASTOPEN_CONNECT')).toBe(false);

    const withHeader = await proxy('', up.port, { server: 'tfo send-proxy-v2' });
    const c = await client(withHeader);
    await waitFor(() => up.peers.length === 2, 'the second server connection');
    const peer = up.peers[1]!;
    expect(native.getsockopt(socketFd(peer.address, peer.port), 'TCP_FASTOPEN_CONNECT')).toBe(true);
    // And the connection works: the header arrives, the reply comes back.
    const answered = new Promise<Buffer>((resolve) => c.once('data', resolve));
    c.write('x');
    expect((await answered).toString()).toBe('ok');
    expect(up.received[1]!.subarray(0, 12)).toEqual(Buffer.from(buildProxyHeader(2, SocketAddress.parse('127.0.0.1:1'), SocketAddress.parse('127.0.0.1:1')).subarray(0, 12)));
  });

  it('accept-proxy + send-proxy: header and early bytes go to the server in one piece', async () => {
    const up = await upstream();
    const p2 = await freePort();
    const text = `defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
listen px
    bind 127.0.0.1:${p2} accept-proxy
    server s 127.0.0.1:${up.port} send-proxy tfo
`;
    const running = await start(parseConfig([{ name: 't.cfg', text }], { env: {} }), { quiet: true, signals: false });
    cleanups.push(() => running.kill());
    const c = await client(p2);
    const answered = new Promise<Buffer>((resolve) => c.once('data', resolve));
    c.write(Buffer.concat([Buffer.from('PROXY TCP4 10.0.0.1 10.0.0.2 1000 2000\r\n'), Buffer.from('early')]));
    expect((await answered).toString()).toBe('ok');
    const got = up.received.at(-1)!.toString();
    expect(got).toBe('PROXY TCP4 10.0.0.1 10.0.0.2 1000 2000\r\nearly');
  });
});

function readFileOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}
