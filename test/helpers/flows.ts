/**
 * Byte flows through relayed socket pairs, for the relay's tests: send on one non-blocking fd and
 * read on another until everything arrived, several flows at once.
 */
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import { native } from '../../src/native.js';
import { waitFor } from './sockets.js';

const EAGAIN = -11;

/** The hex SHA-256 of some bytes: what a byte-exact transfer is compared by. */
export const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** Sends from `offset` until the kernel takes no more (EAGAIN) or all is sent; the new offset. */
export function sendAll(fd: number, data: Uint8Array, offset: number): number {
  while (offset < data.length) {
    const n = native.send(fd, data, offset, Math.min(65536, data.length - offset));
    if (n <= 0) {
      expect(n).toBe(EAGAIN);
      break;
    }
    offset += n;
  }
  return offset;
}

export interface Flow {
  from: number;
  to: number;
  data: Uint8Array;
  /** Bytes of `data` already sent before the pump starts. */
  sent?: number;
}

/**
 * Sends each flow's data from `from` and reads it at `to`, all flows at once, one pass per loop
 * turn, until every byte has arrived; returns what each `to` received. Fails on an error or an
 * early EOF at `to`.
 */
export async function pump(flows: Flow[], deadlineMs = 30_000): Promise<Buffer[]> {
  const sent = flows.map((f) => f.sent ?? 0);
  const chunks: Buffer[][] = flows.map(() => []);
  const got = flows.map(() => 0);
  const buf = Buffer.alloc(256 * 1024);
  const start = Date.now();
  while (got.some((n, i) => n < flows[i]!.data.length)) {
    if (Date.now() - start > deadlineMs) throw new Error(`pump timed out: sent ${sent}, got ${got}`);
    flows.forEach((flow, i) => {
      sent[i] = sendAll(flow.from, flow.data, sent[i]!);
      for (;;) {
        const n = native.recv(flow.to, buf);
        if (n === EAGAIN) break;
        expect(n).toBeGreaterThan(0); // neither an error nor an early EOF
        chunks[i]!.push(Buffer.from(buf.subarray(0, n)));
        got[i]! += n;
      }
    });
    await new Promise((resolve) => setImmediate(resolve));
  }
  return chunks.map((c) => Buffer.concat(c));
}

/** Waits for EOF (recv 0) on fd, failing on data or an error. */
export async function expectEof(fd: number): Promise<void> {
  const buf = new Uint8Array(16);
  let n = EAGAIN;
  await waitFor(() => (n = native.recv(fd, buf)) !== EAGAIN, 'EOF');
  expect(n).toBe(0);
}
