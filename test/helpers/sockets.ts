/** Small helpers shared by tests: real sockets on loopback, fd accounting, condition waits. */
import { readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { SocketAddress } from '../../src/address.js';
import { constants, native } from '../../src/native.js';

export const { AF_INET, AF_INET6, AF_UNIX, SOCK_STREAM, SOCK_NONBLOCK } = constants;

/** Number of open fds of this process. */
export function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** A non-blocking TCP socket of the given family. */
export function tcpSocket(family: number = AF_INET): number {
  return native.socket(family, SOCK_STREAM | SOCK_NONBLOCK);
}

/** A listening TCP socket on loopback with a kernel-chosen port. */
export function listenLoopback(family: number = AF_INET, backlog = 128): { fd: number; address: SocketAddress } {
  const fd = tcpSocket(family);
  try {
    native.bind(fd, SocketAddress.parse(family === AF_INET6 ? '[::1]:0' : '127.0.0.1:0').bytes);
    native.listen(fd, backlog);
    return { fd, address: SocketAddress.fromBytes(native.getsockname(fd)) };
  } catch (error) {
    native.close(fd);
    throw error;
  }
}

/**
 * Waits until `condition` holds, checking on each turn of the event loop (setImmediate), up to a
 * generous deadline that only exists so a broken test fails instead of hanging.
 */
export async function waitFor(condition: () => boolean, what: string, deadlineMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > deadlineMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * A connected loopback TCP pair [client, server] (the listener is closed again). Both fds are
 * pushed to `track` so the caller's cleanup closes them.
 */
export async function connectedPair(track: number[]): Promise<[number, number]> {
  const { fd: listener, address } = listenLoopback();
  const client = tcpSocket();
  track.push(client);
  native.connect(client, address.bytes);
  const out = new Int32Array(2);
  await waitFor(() => native.accept(listener, out, null) > 0, 'accept');
  track.push(out[0]!);
  native.close(listener);
  return [client, out[0]!];
}

/** Every port freePort() handed out in this process: none is handed out twice. */
const portsGiven = new Set<number>();

/**
 * A loopback port that was free a moment ago, for configurations that must name their port
 * (the HAProxy format refuses port 0). Another process could take it in between; on a test
 * machine that is rare enough to accept.
 *
 * Never the same port twice in one process: once its probe is closed a port is free again, and
 * the kernel's random pick returns it about once in 5,000 calls of three (measured). Two
 * listeners of one proxy given the same port would not fail to bind, since epoxy's listeners
 * set SO_REUSEPORT: the kernel would spread connections over both, and a test would see another
 * frontend answer (a stick-table test did, once in several CI runs).
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    if (portsGiven.has(port)) continue;
    portsGiven.add(port);
    return port;
  }
}

/** Closes every fd given, ignoring ones already closed. */
export function closeAll(fds: Iterable<number>): void {
  for (const fd of fds) native.close(fd);
}

/**
 * A loopback port that refuses connections for as long as the returned fd is open: a TCP socket
 * bound there and never listening holds the port, so no other test can take it meanwhile (a
 * port merely free a moment ago may be taken by any `listen(0)` of a test running in parallel).
 * Close the fd to release it.
 */
export function refusedPort(): { port: number; fd: number } {
  const fd = tcpSocket();
  native.bind(fd, SocketAddress.from('ipv4', '127.0.0.1', 0).bytes);
  return { port: SocketAddress.fromBytes(native.getsockname(fd)).port, fd };
}

/**
 * waitFor() for a condition that needs I/O to evaluate (a CLI answer, a round trip): checked
 * every 20 ms up to the deadline.
 */
export async function waitForAsync(condition: () => Promise<boolean>, what: string, deadlineMs = 15_000): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > deadlineMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
