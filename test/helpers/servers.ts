/**
 * Backend servers for tests that follow sessions: each answers its name to every message and
 * keeps the session open until the client ends it, so that a test can hold sessions, list them
 * and cut them. (helpers/load.ts's servers end a session after one answer instead.)
 */
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import type { Cleanup } from './master.js';

/** Listens on 127.0.0.1; resolves with the port and the number of sessions it holds now. */
export async function holdingServer(cleanups: Cleanup[], name: string): Promise<{ port: number; sessions: () => number }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', () => socket.write(name));
    socket.on('end', () => socket.end());
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as { port: number }).port, sessions: () => sockets.size };
}

/** A session through `port` held open: it sent `hello` and got its server's first answer. */
export async function heldSession(cleanups: Cleanup[], port: number, hello = '?'): Promise<{ socket: Socket; server: string; closed: Promise<void> }> {
  const socket = netConnect(port, '127.0.0.1');
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('error', () => {});
  const server = await new Promise<string>((resolve) => {
    socket.once('data', (c: Buffer) => resolve(c.toString()));
    socket.on('connect', () => socket.write(hello));
  });
  cleanups.push(() => void socket.destroy());
  return { socket, server, closed };
}

/** Who answers a new session's '?' through `port`: a holding server's name (its first bytes). */
export function firstAnswerOf(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1', () => socket.write('?'));
    socket.once('data', (c: Buffer) => {
      resolve(c.toString());
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

/** heldSession() from a chosen local address (127.0.0.2... are loopback too): per-source limits. */
export async function heldSessionFrom(cleanups: Cleanup[], port: number, from: string, hello = '?'): Promise<{ socket: Socket; server: string; closed: Promise<void> }> {
  const socket = netConnect({ port, host: '127.0.0.1', localAddress: from });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('error', () => {});
  const server = await new Promise<string>((resolve, reject) => {
    socket.once('data', (c: Buffer) => resolve(c.toString()));
    socket.once('close', () => reject(new Error(`session from ${from} closed before an answer`)));
    socket.on('connect', () => socket.write(hello));
  });
  cleanups.push(() => void socket.destroy());
  return { socket, server, closed };
}

/** One connection from `from` through `port`: whether a server answered it (true) or the proxy closed it first. */
export function answeredFrom(port: number, from: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ port, host: '127.0.0.1', localAddress: from }, () => socket.write('?'));
    let got = false;
    socket.on('data', () => {
      got = true;
      socket.destroy();
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve(got));
  });
}
