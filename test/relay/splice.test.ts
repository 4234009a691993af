/**
 * The relay's splice(2) mode (docs/relay.md, "Bulk transfers: splice(2)") on real loopback
 * sockets. Topology of every pair:
 *
 *   a (test) <-> ra ==relay== rb <-> b (test)
 *
 * Stalls are made deterministic by preloading: `a` fills its own send queue and ra's receive
 * queue before the pair is added, so the relay's first wake sees far more than a buffer's worth
 * (it turns to splice at once) and `b`, which does not read, makes the destination block while
 * the pipe holds bytes. `relay.pipes === 1` between wakes then means exactly that.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { EpoxyError } from '../../src/errors.js';
import { constants, native, relayConstants, type NativeRelay, type NativeRelayOptions } from '../../src/native.js';
import { expectEof, pump, sendAll, sha256 } from '../helpers/flows.js';
import { recordingRelay, type RecordingRelay } from '../helpers/relay.js';
import { closeAll, connectedPair, fdCount, waitFor } from '../helpers/sockets.js';

const { END_CLOSED, END_RESET_B, END_REMOVED, RECORD_INTS } = relayConstants;
const { SHUT_WR } = constants;
const EAGAIN = -11;

const fds: number[] = [];
const relays: NativeRelay[] = [];
afterEach(() => {
  for (const r of relays.splice(0)) r.close();
  closeAll(fds.splice(0));
});

const makeRelay = (options: Partial<NativeRelayOptions> = {}): RecordingRelay => recordingRelay(relays, options);

interface Relayed {
  a: number;
  ra: number;
  rb: number;
  b: number;
}

async function sockets(): Promise<Relayed> {
  const [a, ra] = await connectedPair(fds);
  const [rb, b] = await connectedPair(fds);
  return { a, ra, rb, b };
}

function add(relay: NativeRelay, s: Relayed): number {
  const id = relay.add(s.ra, s.rb);
  expect(id).toBeGreaterThanOrEqual(0);
  return id;
}

function closeFd(fd: number): void {
  expect(native.close(fd)).toBe(0);
  fds.splice(fds.indexOf(fd), 1);
}

/** Sends from `fd` until the kernel takes no more; returns the new offset into `data`. */
/**
 * A pair whose A-to-B direction is stalled with bytes in its pipe: `a` preloads what the kernel
 * takes, b's buffers are small and b does not read. Returns the data and how much `a` sent.
 */
async function stalledInPipe(relay: NativeRelay, total = 8 << 20): Promise<Relayed & { id: number; data: Buffer; sent: number }> {
  const s = await sockets();
  for (const fd of [s.rb, s.b]) {
    native.setsockopt(fd, 'SO_SNDBUF', 32768);
    native.setsockopt(fd, 'SO_RCVBUF', 32768);
  }
  const data = randomBytes(total);
  const sent = sendAll(s.a, data, 0);
  expect(sent).toBeGreaterThanOrEqual(Math.min(total, 256 * 1024));
  const before = relay.pipes;
  const id = add(relay, s);
  await waitFor(() => relay.pipes === before + 1 && relay.buffered > 0, 'a stall with bytes in the pipe');
  return { ...s, id, data, sent };
}

/** Reads everything `from` sends until `total` bytes arrived, feeding `a` meanwhile. */
async function drain(s: Relayed, data: Buffer, sent: number): Promise<Buffer> {
  const [got] = await pump([{ from: s.a, to: s.b, data, sent }]);
  return got!;
}

/** Sends `size` random bytes each way at once; both arrive byte-exact and are counted. */
async function moveEachWay(relay: NativeRelay, s: Relayed, id: number, size: number): Promise<void> {
  const up = randomBytes(size);
  const down = randomBytes(size);
  const [atB, atA] = await pump([
    { from: s.a, to: s.b, data: up },
    { from: s.b, to: s.a, data: down },
  ]);
  expect(sha256(atB!)).toBe(sha256(up));
  expect(sha256(atA!)).toBe(sha256(down));
  expect(relay.bytes[2 * id]).toBe(size);
  expect(relay.bytes[2 * id + 1]).toBe(size);
}

describe('Relay splice: bulk data', () => {
  it("moves 8 MiB each way byte-exact through pipes with splice 'auto', and gives the pipes back", async () => {
    const { relay, ends } = makeRelay();
    expect(relay.splice).toBe('auto');
    const s = await sockets();
    const id = add(relay, s);
    await moveEachWay(relay, s, id, 8 << 20);
    // Most of it went through pipes, never copied to user space.
    expect(relay.bytesSpliced).toBeGreaterThan(8 << 20);
    expect(relay.bytesSpliced).toBeLessThanOrEqual(16 << 20);
    expect(relay.buffered).toBe(0);
    expect(relay.spliceFallbacks).toBe(0);
    // Drained: no direction holds a pipe; the empty ones wait in the pool.
    expect(relay.pipes).toBe(0);
    expect(relay.idlePipes).toBeGreaterThanOrEqual(1);
    expect(relay.idlePipes).toBeLessThanOrEqual(2);

    native.shutdown(s.a, SHUT_WR);
    native.shutdown(s.b, SHUT_WR);
    await expectEof(s.a);
    await expectEof(s.b);
    await waitFor(() => ends.length === 1, 'end');
    expect(ends[0]).toEqual({ id, reason: END_CLOSED, errno: 0, bytes: [8 << 20, 8 << 20] });
  });

  it("copies everything with splice 'off': same bytes, no pipe ever", async () => {
    const { relay } = makeRelay({ splice: 'off' });
    expect(relay.splice).toBe('off');
    const s = await sockets();
    const id = add(relay, s);
    await moveEachWay(relay, s, id, 8 << 20);
    expect(relay.bytesSpliced).toBe(0);
    expect(relay.idlePipes).toBe(0);
    expect(relay.spliceFallbacks).toBe(0);
  });

  it('never takes a pipe for small ping-pong messages', async () => {
    const { relay } = makeRelay();
    const s = await sockets();
    const id = add(relay, s);
    const request = randomBytes(100);
    const response = randomBytes(200);
    const buf = new Uint8Array(4096);
    for (let i = 0; i < 200; i++) {
      expect(native.send(s.a, request)).toBe(100);
      let n = 0;
      await waitFor(() => (n += Math.max(0, native.recv(s.b, buf, n))) === 100, 'request');
      expect(native.send(s.b, response)).toBe(200);
      n = 0;
      await waitFor(() => (n += Math.max(0, native.recv(s.a, buf, n))) === 200, 'response');
    }
    expect(relay.bytes[2 * id]).toBe(20_000);
    expect(relay.bytes[2 * id + 1]).toBe(40_000);
    expect(relay.bytesSpliced).toBe(0);
    expect(relay.pipes).toBe(0);
    expect(relay.idlePipes).toBe(0);
    expect(relay.spliceFallbacks).toBe(0);
  });

  it('a bulk burst then keep-alive traffic: the pair gives its pipe back and holds none while idle', async () => {
    const { relay } = makeRelay();
    const s = await sockets();
    add(relay, s);
    const bulk = randomBytes(2 << 20);
    const [got] = await pump([{ from: s.a, to: s.b, data: bulk }]);
    expect(sha256(got!)).toBe(sha256(bulk));
    expect(relay.bytesSpliced).toBeGreaterThan(0);
    expect(relay.pipes).toBe(0);
    const spliced = relay.bytesSpliced;
    const small = randomBytes(300);
    const [echo] = await pump([{ from: s.b, to: s.a, data: small }]);
    expect(echo).toEqual(small);
    expect(relay.bytesSpliced).toBe(spliced);
    expect(relay.pipes).toBe(0);
  });
});

describe('Relay splice: backpressure and ends with bytes in the pipe', () => {
  it('a stalled reader bounds what the relay holds (pipe + buffer) and resumes losslessly', async () => {
    const bufferSize = 16384;
    const pipeSize = 65536;
    const { relay } = makeRelay({ bufferSize, pipeSize });
    expect(relay.pipeSize).toBe(pipeSize);
    const s = await stalledInPipe(relay);
    // The source is no longer read while the pipe holds bytes: what the relay holds is bounded,
    // the rest waits in kernel buffers and a's sends block.
    expect(relay.buffered).toBeGreaterThan(0);
    expect(relay.buffered).toBeLessThanOrEqual(pipeSize + bufferSize);
    const sent = sendAll(s.a, s.data, s.sent);
    expect(sent).toBeLessThan(s.data.length);
    const got = await drain(s, s.data, sent);
    expect(got.length).toBe(s.data.length);
    expect(sha256(got)).toBe(sha256(s.data));
    expect(relay.bytes[2 * s.id]).toBe(s.data.length);
    expect(relay.buffered).toBe(0);
    expect(relay.pipes).toBe(0);
  });

  it('a FIN behind bytes in the pipe is forwarded after them; then the pair ends normally', async () => {
    const { relay, ends } = makeRelay();
    const s = await stalledInPipe(relay, 2 << 20);
    // a sends the rest, then FIN; b reads everything, then EOF.
    const [got] = await pump([{ from: s.a, to: s.b, data: s.data, sent: s.sent }]);
    expect(sha256(got!)).toBe(sha256(s.data));
    // (the pump above sent everything before it read the last byte)
    native.shutdown(s.a, SHUT_WR);
    await expectEof(s.b);
    expect(relay.fins[s.id]! & 1).toBe(1);
    native.shutdown(s.b, SHUT_WR);
    await expectEof(s.a);
    await waitFor(() => ends.length === 1, 'end');
    expect(ends[0]).toEqual({ id: s.id, reason: END_CLOSED, errno: 0, bytes: [2 << 20, 0] });
    expect(relay.pipes).toBe(0);
  });

  it('a FIN queued behind stalled bytes is forwarded after the last of them', async () => {
    const { relay, ends } = makeRelay();
    const total = 512 * 1024;
    const s = await stalledInPipe(relay, total);
    // All of it is in a's queue, ra's queue or the pipe; the FIN joins ra's queue behind it while
    // the relay is not reading ra.
    expect(s.sent).toBe(total);
    expect(native.shutdown(s.a, SHUT_WR)).toBe(0);
    const received: Buffer[] = [];
    const buf = Buffer.alloc(1 << 20);
    await waitFor(() => {
      for (;;) {
        const n = native.recv(s.b, buf);
        if (n === EAGAIN) return false;
        if (n === 0) return true;
        expect(n).toBeGreaterThan(0);
        received.push(Buffer.from(buf.subarray(0, n)));
      }
    }, 'EOF after all the data');
    expect(sha256(Buffer.concat(received))).toBe(sha256(s.data));
    expect(relay.fins[s.id]).toBe(1);
    expect(ends).toEqual([]);
    expect(relay.pipes).toBe(0);
  });

  it('an RST from the destination while the pipe holds bytes ends the pair as a reset and frees the pipe', async () => {
    const base = fdCount();
    const { relay, ends } = makeRelay();
    const s = await stalledInPipe(relay, 4 << 20);
    native.setsockopt(s.b, 'SO_LINGER', { enabled: true, seconds: 0 });
    closeFd(s.b);
    await waitFor(() => ends.length === 1, 'reset');
    expect(ends[0]!.reason).toBe(END_RESET_B);
    expect(['ECONNRESET', 'EPIPE']).toContain(native.errnoName(ends[0]!.errno));
    expect(relay.pipes).toBe(0);
    expect(relay.buffered).toBe(0);
    // The pipe that held bytes was closed, not pooled.
    expect(relay.idlePipes).toBe(0);
    for (const fd of [s.a, s.ra, s.rb]) closeFd(fd);
    expect(fdCount()).toBe(base);
  });

  it('remove() and close() while a pipe holds bytes leave no fd behind', async () => {
    const base = fdCount();
    const { relay, ends } = makeRelay();
    const first = await stalledInPipe(relay, 4 << 20);
    const second = await stalledInPipe(relay, 4 << 20);
    expect(relay.pipes).toBe(2);
    expect(relay.remove(first.id)).toBe(0);
    await waitFor(() => ends.length === 1, 'removed');
    expect(ends[0]!.reason).toBe(END_REMOVED);
    expect(relay.pipes).toBe(1);
    expect(relay.idlePipes).toBe(0);
    for (const fd of [first.a, first.ra, first.rb, first.b]) closeFd(fd);
    // The other pair's sockets and its pipe (2 fds) remain.
    expect(fdCount()).toBe(base + 4 + 2);
    relay.close();
    for (const fd of [second.a, second.ra, second.rb, second.b]) closeFd(fd);
    expect(fdCount()).toBe(base);
  });

  it('maxPipes 1: a second bulk pair copies while the first holds the pipe; both arrive intact', async () => {
    const { relay } = makeRelay({ maxPipes: 1 });
    expect(relay.maxPipes).toBe(1);
    const first = await stalledInPipe(relay, 4 << 20);
    expect(relay.pipes).toBe(1);
    // The first pair's destination is not read, but the kernel may still take a little more of
    // its pipe now and then (loopback collapses queued segments to make room), so it can splice
    // on while the second pair runs: count what it moved rather than assume it moves nothing.
    const spliced = relay.bytesSpliced;
    const firstForwarded = relay.bytes[2 * first.id]!;
    const s = await sockets();
    const id = add(relay, s);
    const bulk = randomBytes(4 << 20);
    const [got] = await pump([{ from: s.a, to: s.b, data: bulk }]);
    expect(sha256(got!)).toBe(sha256(bulk));
    expect(relay.bytes[2 * id]).toBe(4 << 20);
    // The second pair wanted a pipe and got none: all of it was copied. Whatever was spliced
    // meanwhile is the first pair's (it holds the pipe; all it forwards goes through it).
    expect(relay.spliceFallbacks).toBeGreaterThan(0);
    expect(relay.bytesSpliced - spliced).toBeLessThanOrEqual(relay.bytes[2 * first.id]! - firstForwarded);
    expect(relay.pipes).toBe(1);
    const rest = await drain(first, first.data, first.sent);
    expect(sha256(rest)).toBe(sha256(first.data));
    expect(relay.pipes).toBe(0);
  });
});

describe('Relay splice: options', () => {
  it('refuses a bad splice mode, pipeSize or maxPipes', () => {
    for (const options of [{ splice: 'on' }, { splice: true }, { pipeSize: -1 }, { pipeSize: 1.5 }, { maxPipes: -1 }]) {
      let caught: unknown;
      try {
        new native.Relay({ onEnd: () => undefined, ...(options as Partial<NativeRelayOptions>) });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(EpoxyError);
      expect((caught as EpoxyError).code).toBe('ERR_EPOXY_INVALID_ARG');
    }
  });

  it('defaults: auto, kernel pipe size, no cap', () => {
    const { relay } = makeRelay();
    expect([relay.splice, relay.pipeSize, relay.maxPipes, relay.pipes, relay.idlePipes]).toEqual(['auto', 0, 0, 0, 0]);
    expect([relay.spliceFallbacks, relay.bytesSpliced]).toEqual([0, 0]);
  });
});
