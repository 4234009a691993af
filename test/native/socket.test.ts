/**
 * Every socket syscall the addon exposes, once succeeding and once failing, on real sockets.
 * Setup calls throw EpoxySystemError; data-path calls return -errno (checked by name).
 */
import { openSync, closeSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SocketAddress } from '../../src/address.js';
import { EpoxySystemError } from '../../src/errors.js';
import { constants, native } from '../../src/native.js';
import { AF_INET, AF_INET6, AF_UNIX, SOCK_NONBLOCK, SOCK_STREAM, listenLoopback, tcpSocket, waitFor } from '../helpers/sockets.js';

const { SOCK_DGRAM, SHUT_WR, ADDR_SLOT_SIZE } = constants;

const open: number[] = [];
function track(fd: number): number {
  open.push(fd);
  return fd;
}
afterEach(() => {
  for (const fd of open.splice(0)) native.close(fd);
});

function errnoOf(rc: number): string {
  expect(rc).toBeLessThan(0);
  return native.errnoName(rc);
}

function thrown(fn: () => unknown): EpoxySystemError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(EpoxySystemError);
    return error as EpoxySystemError;
  }
  throw new Error('expected a throw');
}

function devNull(): number {
  return openSync('/dev/null', 'r');
}

/** Connects a non-blocking client to `address` and accepts it: [client, server]. */
async function connectedPair(address: SocketAddress, listener: number, family = AF_INET): Promise<[number, number]> {
  const client = track(tcpSocket(family));
  const rc = native.connect(client, address.bytes);
  expect(rc === 0 || native.errnoName(rc) === 'EINPROGRESS').toBe(true);
  const out = new Int32Array(2);
  let n = -11;
  await waitFor(() => (n = native.accept(listener, out, null)) > 0, 'accept');
  const server = track(out[0]!);
  await waitFor(() => native.getsockopt(client, 'SO_ERROR') === 0 && isConnected(client), 'connect');
  return [client, server];
}

function isConnected(fd: number): boolean {
  try {
    native.getpeername(fd);
    return true;
  } catch {
    return false;
  }
}

describe('socket()', () => {
  it('creates non-blocking close-on-exec sockets of every family', () => {
    for (const family of [AF_INET, AF_INET6, AF_UNIX]) {
      const fd = track(native.socket(family, SOCK_STREAM | SOCK_NONBLOCK));
      expect(fd).toBeGreaterThanOrEqual(0);
      expect(native.getCloexec(fd)).toBe(true);
      expect(native.isNonBlocking(fd)).toBe(true);
      expect(native.getsockopt(fd, 'SO_DOMAIN')).toBe(family);
    }
  });

  it('throws EAFNOSUPPORT for an unknown family and EINVAL for an unknown type', () => {
    expect(thrown(() => native.socket(4000, SOCK_STREAM)).code).toBe('EAFNOSUPPORT');
    const error = thrown(() => native.socket(AF_INET, 4000));
    expect(error.code).toBe('EINVAL');
    expect(error.syscall).toBe('socket');
  });
});

describe('bind() and listen()', () => {
  it('binds to an ephemeral port and listens', () => {
    const { fd, address } = listenLoopback();
    track(fd);
    expect(address.port).toBeGreaterThan(0);
    expect(native.getsockopt(fd, 'SO_ACCEPTCONN')).toBe(true);
  });

  it('bind fails with EADDRINUSE, EINVAL (already bound), EBADF and ENOTSOCK', () => {
    const { fd, address } = listenLoopback();
    track(fd);
    const other = track(tcpSocket());
    const inUse = thrown(() => native.bind(other, address.bytes));
    expect(inUse.code).toBe('EADDRINUSE');
    expect(inUse.message).toContain(address.toString());
    expect(thrown(() => native.bind(fd, SocketAddress.parse('127.0.0.1:0').bytes)).code).toBe('EINVAL');
    expect(thrown(() => native.bind(-1, address.bytes)).code).toBe('EBADF');
    const file = devNull();
    try {
      expect(thrown(() => native.bind(file, address.bytes)).code).toBe('ENOTSOCK');
    } finally {
      closeSync(file);
    }
  });

  it('listen fails with EOPNOTSUPP on a datagram socket, EBADF and ENOTSOCK', () => {
    const udp = track(native.socket(AF_INET, SOCK_DGRAM));
    const error = thrown(() => native.listen(udp, 10));
    expect(error.code).toBe('EOPNOTSUPP');
    expect(error.syscall).toBe('listen');
    expect(thrown(() => native.listen(-1, 10)).code).toBe('EBADF');
    const file = devNull();
    try {
      expect(thrown(() => native.listen(file, 10)).code).toBe('ENOTSOCK');
    } finally {
      closeSync(file);
    }
  });
});

describe('accept()', () => {
  it('accepts in batches with each peer address', async () => {
    const { fd: listener, address } = listenLoopback();
    track(listener);
    const clients: number[] = [];
    for (let i = 0; i < 10; i++) {
      const client = track(tcpSocket());
      native.connect(client, address.bytes);
      clients.push(client);
    }
    const expected = new Set(clients.map((c) => SocketAddress.fromBytes(native.getsockname(c)).toString()));
    const out = new Int32Array(8); // 4 per call: forces several batches
    const addrs = new Uint8Array(4 * ADDR_SLOT_SIZE);
    const seen = new Set<string>();
    let batches = 0;
    await waitFor(() => {
      const n = native.accept(listener, out, addrs);
      if (n > 0) {
        batches++;
        expect(n).toBeLessThanOrEqual(4);
        for (let i = 0; i < n; i++) {
          const fd = track(out[2 * i]!);
          expect(native.getCloexec(fd)).toBe(true);
          expect(native.isNonBlocking(fd)).toBe(true);
          const len = out[2 * i + 1]!;
          const peer = SocketAddress.fromBytes(addrs.slice(i * ADDR_SLOT_SIZE, i * ADDR_SLOT_SIZE + len));
          expect(peer.toString()).toBe(SocketAddress.fromBytes(native.getpeername(fd)).toString());
          seen.add(peer.toString());
        }
      } else {
        expect(native.errnoName(n)).toBe('EAGAIN');
      }
      return seen.size === clients.length;
    }, 'all clients accepted');
    expect(seen).toEqual(expected);
    expect(batches).toBeGreaterThanOrEqual(3);
  });

  it('returns -EAGAIN with nothing pending, -EINVAL on a non-listening socket, -EBADF, -ENOTSOCK', () => {
    const { fd } = listenLoopback();
    track(fd);
    const out = new Int32Array(2);
    expect(errnoOf(native.accept(fd, out, null))).toBe('EAGAIN');
    const idle = track(tcpSocket());
    expect(errnoOf(native.accept(idle, out, null))).toBe('EINVAL');
    expect(errnoOf(native.accept(-1, out, null))).toBe('EBADF');
    const file = devNull();
    try {
      expect(errnoOf(native.accept(file, out, null))).toBe('ENOTSOCK');
    } finally {
      closeSync(file);
    }
  });
});

describe('connect()', () => {
  it('connects a non-blocking socket (EINPROGRESS, then SO_ERROR 0)', async () => {
    const { fd, address } = listenLoopback();
    track(fd);
    const [client, server] = await connectedPair(address, fd);
    expect(SocketAddress.fromBytes(native.getpeername(client)).toString()).toBe(address.toString());
    expect(SocketAddress.fromBytes(native.getpeername(server)).toString()).toBe(
      SocketAddress.fromBytes(native.getsockname(client)).toString(),
    );
  });

  it('reports a refused connection through SO_ERROR', async () => {
    const { fd, address } = listenLoopback();
    native.close(fd); // the port is now closed
    const client = track(tcpSocket());
    const rc = native.connect(client, address.bytes);
    if (rc < 0 && native.errnoName(rc) === 'ECONNREFUSED') return; // loopback may refuse at once
    let err = 0;
    await waitFor(() => (err = native.getsockopt(client, 'SO_ERROR')) !== 0, 'refusal');
    expect(native.errnoName(err)).toBe('ECONNREFUSED');
  });

  it('returns -EBADF, -EAFNOSUPPORT (family mismatch) and -ENOENT (missing unix path)', () => {
    expect(errnoOf(native.connect(-1, SocketAddress.parse('127.0.0.1:9').bytes))).toBe('EBADF');
    const v4 = track(tcpSocket(AF_INET));
    expect(errnoOf(native.connect(v4, SocketAddress.parse('[::1]:9').bytes))).toBe('EAFNOSUPPORT');
    const unix = track(native.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK));
    expect(errnoOf(native.connect(unix, SocketAddress.parse('unix@/nonexistent/epoxy.sock').bytes))).toBe('ENOENT');
  });
});

describe('recv(), send(), shutdown(), close()', () => {
  it('moves bytes both ways and half-closes', async () => {
    const { fd, address } = listenLoopback();
    track(fd);
    const [client, server] = await connectedPair(address, fd);
    const message = new TextEncoder().encode('hello epoxy');
    expect(native.send(client, message)).toBe(message.length);
    const buf = new Uint8Array(64);
    let n = -11;
    await waitFor(() => (n = native.recv(server, buf)) > 0, 'data');
    expect(new TextDecoder().decode(buf.subarray(0, n))).toBe('hello epoxy');

    // offset/length select a window of the buffer
    expect(native.send(server, message, 6, 5)).toBe(5);
    await waitFor(() => (n = native.recv(client, buf, 10, 20)) > 0, 'reply');
    expect(new TextDecoder().decode(buf.subarray(10, 10 + n))).toBe('epoxy');

    // half-close: the server sees EOF, and can still send back
    expect(native.shutdown(client, SHUT_WR)).toBe(0);
    await waitFor(() => native.recv(server, buf) === 0, 'EOF');
    expect(native.send(server, message)).toBe(message.length);
    await waitFor(() => native.recv(client, buf) > 0, 'data after half-close');
  });

  it('recv returns -EAGAIN with nothing to read and -EBADF on a bad fd', async () => {
    const { fd, address } = listenLoopback();
    track(fd);
    const [client] = await connectedPair(address, fd);
    const buf = new Uint8Array(8);
    expect(errnoOf(native.recv(client, buf))).toBe('EAGAIN');
    expect(errnoOf(native.recv(-1, buf))).toBe('EBADF');
  });

  it('send returns -EPIPE (not SIGPIPE) once the write side is shut, and -EBADF', async () => {
    const { fd, address } = listenLoopback();
    track(fd);
    const [client] = await connectedPair(address, fd);
    native.shutdown(client, SHUT_WR);
    expect(errnoOf(native.send(client, new Uint8Array(4)))).toBe('EPIPE');
    expect(errnoOf(native.send(-1, new Uint8Array(4)))).toBe('EBADF');
  });

  it('shutdown returns -ENOTCONN on an unconnected socket and -EBADF on a bad fd', () => {
    const idle = track(tcpSocket());
    expect(errnoOf(native.shutdown(idle, SHUT_WR))).toBe('ENOTCONN');
    expect(errnoOf(native.shutdown(-1, SHUT_WR))).toBe('EBADF');
  });

  it('close returns 0, then -EBADF for the same fd', () => {
    const fd = tcpSocket();
    expect(native.close(fd)).toBe(0);
    expect(errnoOf(native.close(fd))).toBe('EBADF');
  });

  it('rejects a window outside the buffer as a programming error', () => {
    expect(() => native.recv(0, new Uint8Array(4), 2, 8)).toThrow(/outside the buffer/);
  });
});

describe('getsockname() and getpeername()', () => {
  it('report both ends in IPv6', async () => {
    const { fd, address } = listenLoopback(AF_INET6);
    track(fd);
    expect(address.family).toBe('ipv6');
    expect(address.address).toBe('::1');
    const [client, server] = await connectedPair(address, fd, AF_INET6);
    expect(SocketAddress.fromBytes(native.getpeername(server)).toString()).toBe(
      SocketAddress.fromBytes(native.getsockname(client)).toString(),
    );
  });

  it('getsockname throws EBADF; getpeername throws ENOTCONN on an unconnected socket', () => {
    expect(thrown(() => native.getsockname(-1)).code).toBe('EBADF');
    const idle = track(tcpSocket());
    const error = thrown(() => native.getpeername(idle));
    expect(error.code).toBe('ENOTCONN');
    expect(error.syscall).toBe('getpeername');
  });
});

describe('unix-domain sockets', () => {
  it('listen, connect and accept on a path and on an abstract name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epoxy-unix-'));
    try {
      for (const text of [`unix@${join(dir, 's.sock')}`, `abns@epoxy-test-${process.pid}`]) {
        const address = SocketAddress.parse(text);
        const listener = track(native.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK));
        native.bind(listener, address.bytes);
        native.listen(listener, 8);
        expect(SocketAddress.fromBytes(native.getsockname(listener)).toString()).toBe(address.toString());
        const client = track(native.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK));
        expect(native.connect(client, address.bytes)).toBe(0);
        const out = new Int32Array(2);
        const addrs = new Uint8Array(ADDR_SLOT_SIZE);
        expect(native.accept(listener, out, addrs)).toBe(1);
        track(out[0]!);
        // the client never bound: its address is the bare family, formatted as unnamed
        const peer = SocketAddress.fromBytes(addrs.slice(0, out[1]!));
        expect(peer.family).toBe('unix');
        expect(peer.address).toBe('');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
