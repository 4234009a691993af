/** Syslog receivers for logging tests: a UDP socket and a unix datagram socket that keep every datagram. */
import { createSocket } from 'node:dgram';
import { SocketAddress } from '../../src/address.js';
import { constants, native } from '../../src/native.js';

export type Cleanup = () => Promise<void> | void;

export interface Receiver {
  /** Every datagram received so far, as text (each ends with HAProxy's '\n'). */
  readonly lines: string[];
}

/** A UDP syslog server on 127.0.0.1 (or ::1) with a kernel-chosen port. */
export async function udpReceiver(cleanups: Cleanup[], family: 'udp4' | 'udp6' = 'udp4'): Promise<Receiver & { port: number }> {
  const socket = createSocket(family);
  const lines: string[] = [];
  socket.on('message', (message) => lines.push(message.toString('utf8')));
  await new Promise<void>((resolve) => socket.bind(0, family === 'udp6' ? '::1' : '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { lines, port: socket.address().port };
}

/**
 * A unix datagram socket bound at `path` (Node has no API for one: the addon's socket calls).
 * `drain()` reads what has arrived; tests call it inside their waits.
 */
export function unixReceiver(cleanups: Cleanup[], path: string): Receiver & { drain(): void } {
  const fd = native.socket(constants.AF_UNIX, constants.SOCK_DGRAM | constants.SOCK_NONBLOCK);
  native.bind(fd, SocketAddress.from('unix', path, 0).bytes);
  cleanups.push(() => void native.close(fd));
  const lines: string[] = [];
  const buffer = new Uint8Array(65536);
  return {
    lines,
    drain() {
      for (let n = native.recv(fd, buffer); n >= 0; n = native.recv(fd, buffer)) lines.push(Buffer.from(buffer.subarray(0, n)).toString('utf8'));
    },
  };
}
