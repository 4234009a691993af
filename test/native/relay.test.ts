/**
 * The native relay on real loopback sockets. Topology of every pair:
 *
 *   a (test) <-> ra ==relay== rb <-> b (test)
 *
 * `a` and `b` are the test's peers; `ra`/`rb` are the fds handed to relay.add(ra, rb), so
 * "A" in the relay's vocabulary is the ra side (the peer being `a`).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { SocketAddress } from '../../src/address.js';
import { EpoxyError, ErrorCodes } from '../../src/errors.js';
import { constants, native, relayConstants, type NativeRelay, type NativeRelayOptions } from '../../src/native.js';
import { runFixture } from '../helpers/child.js';
import { expectEof, pump, sendAll, sha256, type Flow } from '../helpers/flows.js';
import { recordingRelay, type RecordingRelay } from '../helpers/relay.js';
import { AF_UNIX, SOCK_NONBLOCK, SOCK_STREAM, closeAll, fdCount, listenLoopback, tcpSocket, waitFor } from '../helpers/sockets.js';

const { END_CLOSED, END_RESET_A, END_RESET_B, END_REMOVED, RECORD_INTS } = relayConstants;
const { SHUT_WR } = constants;
const EAGAIN = -11;

const fds = new Set<number>();
const relays: NativeRelay[] = [];
afterEach(() => {
  for (const r of relays.splice(0)) r.close();
  closeAll(fds);
  fds.clear();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let sharedListener: { fd: number; address: SocketAddress } | undefined;

/** A connected loopback TCP pair [client, server], both non-blocking. */
async function tcpPair(): Promise<[number, number]> {
  sharedListener ??= listenLoopback(constants.AF_INET, 1024);
  const client = tcpSocket();
  fds.add(client);
  expect([0, -115]).toContain(native.connect(client, sharedListener.address.bytes)); // 0 or EINPROGRESS
  const out = new Int32Array(2);
  await waitFor(() => native.accept(sharedListener!.fd, out, null) > 0, 'accept');
  fds.add(out[0]!);
  return [client, out[0]!];
}

interface Relayed {
  a: number;
  ra: number;
  rb: number;
  b: number;
  id: number;
}

async function relayedPair(relay: NativeRelay): Promise<Relayed> {
  const [a, ra] = await tcpPair();
  const [rb, b] = await tcpPair();
  const id = relay.add(ra, rb);
  expect(id).toBeGreaterThanOrEqual(0);
  return { a, ra, rb, b, id };
}

/** Closes a test-owned fd now (and forgets it). */
function closeFd(fd: number): void {
  expect(native.close(fd)).toBe(0);
  fds.delete(fd);
}

function expectCode(call: () => unknown, code: string): void {
  let caught: unknown;
  try {
    call();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(EpoxyError);
  expect((caught as EpoxyError).code).toBe(code);
}

// Every behaviour holds in both modes: the relay in Node's loop (uv_poll per fd) and on its own
// thread (own epoll set, edge-triggered). The few tests of one mode's mechanics say so.
for (const thread of [false, true]) {
  const makeRelay = (options: Partial<NativeRelayOptions> = {}): RecordingRelay => recordingRelay(relays, { thread, ...options });
  const mode = thread ? 'thread' : 'loop';
  describe(`relay in ${mode} mode`, () => {
    describe('Relay: data', () => {
      it('moves 1 MiB each way at once, byte-exact, and counts it; FIN both ways ends it normally', async () => {
        const { relay, ends } = makeRelay();
        const { a, b, id } = await relayedPair(relay);
        const up = randomBytes(1 << 20);
        const down = randomBytes(1 << 20);
        const [atB, atA] = await pump([
          { from: a, to: b, data: up },
          { from: b, to: a, data: down },
        ]);
        expect(sha256(atB!)).toBe(sha256(up));
        expect(sha256(atA!)).toBe(sha256(down));
        expect(relay.bytes[2 * id]).toBe(1 << 20);
        expect(relay.bytes[2 * id + 1]).toBe(1 << 20);
        expect(relay.buffered).toBe(0);
        expect(ends).toEqual([]);

        native.shutdown(a, SHUT_WR);
        native.shutdown(b, SHUT_WR);
        await expectEof(a);
        await expectEof(b);
        await waitFor(() => ends.length === 1, 'end');
        expect(ends[0]).toEqual({ id, reason: END_CLOSED, errno: 0, bytes: [1 << 20, 1 << 20] });
        expect(relay.size).toBe(0);
      });

      it('works with a 1-byte buffer (every message split, every send path taken)', async () => {
        const { relay } = makeRelay({ bufferSize: 1 });
        const { a, b, id } = await relayedPair(relay);
        const up = randomBytes(4096);
        const down = randomBytes(4096);
        const [atB, atA] = await pump([
          { from: a, to: b, data: up },
          { from: b, to: a, data: down },
        ]);
        expect(atB!.equals(up)).toBe(true);
        expect(atA!.equals(down)).toBe(true);
        expect([relay.bytes[2 * id], relay.bytes[2 * id + 1]]).toEqual([4096, 4096]);
      });

      it('relays unix stream sockets too', async () => {
        const { relay, ends } = makeRelay();
        const listener = native.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK);
        fds.add(listener);
        native.bind(listener, SocketAddress.parse(`abns@epoxy-relay-${process.pid}`).bytes);
        native.listen(listener, 8);
        const unixPair = async (): Promise<[number, number]> => {
          const c = native.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK);
          fds.add(c);
          native.connect(c, native.getsockname(listener));
          const out = new Int32Array(2);
          await waitFor(() => native.accept(listener, out, null) > 0, 'unix accept');
          fds.add(out[0]!);
          return [c, out[0]!];
        };
        const [a, ra] = await unixPair();
        const [rb, b] = await unixPair();
        const id = relay.add(ra, rb);
        const up = randomBytes(300_000);
        const down = randomBytes(200_000);
        const [atB, atA] = await pump([
          { from: a, to: b, data: up },
          { from: b, to: a, data: down },
        ]);
        expect(atB!.equals(up) && atA!.equals(down)).toBe(true);
        native.shutdown(a, SHUT_WR);
        native.shutdown(b, SHUT_WR);
        await waitFor(() => ends.length === 1, 'end');
        expect(ends[0]).toEqual({ id, reason: END_CLOSED, errno: 0, bytes: [300_000, 200_000] });
      });
    });

    describe('Relay: half-close and resets', () => {
      it('forwards a FIN from A while B to A keeps flowing, then ends normally when B closes', async () => {
        const { relay, ends } = makeRelay();
        const { a, b, id } = await relayedPair(relay);
        const request = randomBytes(100_000);
        const [atB] = await pump([{ from: a, to: b, data: request }]);
        expect(atB!.equals(request)).toBe(true);
        expect(relay.fins[id]).toBe(0);
        native.shutdown(a, SHUT_WR); // A: "that was the whole request"
        await expectEof(b);
        expect(ends).toEqual([]);
        expect(relay.fins[id]).toBe(1); // A's FIN is published for fin timeouts
        // B answers long after A's FIN
        const response = randomBytes(500_000);
        const [atA] = await pump([{ from: b, to: a, data: response }]);
        expect(atA!.equals(response)).toBe(true);
        expect(relay.size).toBe(1);
        closeFd(b); // a full close: FIN from B
        await expectEof(a);
        await waitFor(() => ends.length === 1, 'end');
        expect(ends[0]).toEqual({ id, reason: END_CLOSED, errno: 0, bytes: [100_000, 500_000] });
      });

      it('half-close the other way: B shuts first, A keeps sending', async () => {
        const { relay, ends } = makeRelay();
        const { a, b, id } = await relayedPair(relay);
        native.shutdown(b, SHUT_WR);
        await expectEof(a);
        const data = randomBytes(200_000);
        const [atB] = await pump([{ from: a, to: b, data }]);
        expect(atB!.equals(data)).toBe(true);
        native.shutdown(a, SHUT_WR);
        await expectEof(b);
        await waitFor(() => ends.length === 1, 'end');
        expect(ends[0]).toEqual({ id, reason: END_CLOSED, errno: 0, bytes: [200_000, 0] });
      });

      it('an RST from A ends the pair (reset A, ECONNRESET) and B sees a reset once JS closes rb', async () => {
        const { relay, ends } = makeRelay();
        const { a, ra, rb, b, id } = await relayedPair(relay);
        await pump([{ from: b, to: a, data: randomBytes(1000) }]);
        native.setsockopt(a, 'SO_LINGER', { enabled: true, seconds: 0 });
        closeFd(a); // RST
        await waitFor(() => ends.length === 1, 'end');
        expect(ends[0]).toEqual({ id, reason: END_RESET_A, errno: 104, bytes: [0, 1000] });
        expect(native.errnoName(104)).toBe('ECONNRESET');
        // The relay armed B for an abortive close; closing it is JS's job.
        expect(native.getsockopt(rb, 'SO_LINGER')).toEqual({ enabled: true, seconds: 0 });
        closeFd(ra);
        closeFd(rb);
        const buf = new Uint8Array(16);
        let n = EAGAIN;
        await waitFor(() => (n = native.recv(b, buf)) !== EAGAIN, 'reset at b');
        expect(native.errnoName(n)).toBe('ECONNRESET');
      });

      it('an RST from B ends the pair as reset B, after a half-close', async () => {
        const { relay, ends } = makeRelay();
        const { a, ra, rb, b, id } = await relayedPair(relay);
        native.shutdown(a, SHUT_WR);
        await expectEof(b);
        native.setsockopt(b, 'SO_LINGER', { enabled: true, seconds: 0 });
        closeFd(b);
        await waitFor(() => ends.length === 1, 'end');
        expect(ends[0]).toMatchObject({ id, reason: END_RESET_B, errno: 104 });
        expect(native.getsockopt(ra, 'SO_LINGER')).toEqual({ enabled: true, seconds: 0 });
        closeFd(rb);
        closeFd(ra);
        const buf = new Uint8Array(16);
        let n = EAGAIN;
        await waitFor(() => (n = native.recv(a, buf)) !== EAGAIN, 'reset at a');
        expect(native.errnoName(n)).toBe('ECONNRESET');
      });

      it('a send to a peer that has gone reports that side with its errno (EPIPE/ECONNRESET)', async () => {
        const { relay, ends } = makeRelay();
        const { a, b, id } = await relayedPair(relay);
        // B closes fully (FIN); the relay forwards the FIN to A but A keeps sending: B's kernel
        // answers the forwarded data with an RST, and the relay's next send to B fails.
        closeFd(b);
        await expectEof(a);
        const chunk = randomBytes(1000);
        await waitFor(() => {
          native.send(a, chunk);
          return ends.length === 1;
        }, 'send error on B');
        expect(ends[0]!.id).toBe(id);
        expect(ends[0]!.reason).toBe(END_RESET_B);
        expect(['EPIPE', 'ECONNRESET']).toContain(native.errnoName(ends[0]!.errno));
      });
    });

    describe('Relay: backpressure', () => {
      it('a reader that does not read stalls the writer; the relay holds at most bufferSize; all arrives in order', async () => {
        const bufferSize = 16384;
        // Plain copy mode: a stall inside a pipe is bounded by the pipe's size instead
        // (test/relay/splice.test.ts), one in a bulk read by bulkSize (below).
        const { relay } = makeRelay({ bufferSize, splice: 'off', bulkSize: 0 });
        const { a, ra, rb, b, id } = await relayedPair(relay);
        // Small kernel buffers (which also turns off autotuning) so the stall comes early.
        for (const fd of [a, ra, rb, b]) {
          native.setsockopt(fd, 'SO_SNDBUF', 32768);
          native.setsockopt(fd, 'SO_RCVBUF', 32768);
        }
        const total = 16 << 20;
        const data = randomBytes(total);
        let sent = 0;
        // Write until the relay holds bytes b would not take (b reads nothing): the stall, as a
        // condition rather than as "nothing moved for a while", which a busy machine can fake.
        await waitFor(() => {
          for (;;) {
            const n = native.send(a, data, sent, Math.min(65536, total - sent));
            if (n <= 0) {
              expect(n).toBe(EAGAIN);
              break;
            }
            sent += n;
          }
          return (relay.holding(id) & 1) !== 0;
        }, 'the relay to hold bytes for b');
        expect(sent).toBeLessThan(total); // it really stalls
        const last = relay.bytes[2 * id]!;
        // What the relay holds is bounded by its buffer; the rest sits in kernel buffers.
        expect(relay.buffered).toBeGreaterThan(0);
        expect(relay.buffered).toBeLessThanOrEqual(bufferSize);
        expect(sent - last - relay.buffered).toBeLessThan(4 << 20); // a's send queue + ra's receive queue

        // The reader reads: everything arrives in order, and the writer gets going again.
        const buf = Buffer.alloc(1 << 20);
        const received: Buffer[] = [];
        let got = 0;
        const deadline = Date.now() + 20_000;
        while (got < total) {
          if (Date.now() > deadline) throw new Error(`stuck at ${got} of ${total} (sent ${sent})`);
          while (sent < total) {
            const n = native.send(a, data, sent, Math.min(65536, total - sent));
            if (n <= 0) break;
            sent += n;
          }
          const n = native.recv(b, buf);
          if (n === EAGAIN) {
            await new Promise((resolve) => setImmediate(resolve));
            continue;
          }
          expect(n).toBeGreaterThan(0);
          received.push(Buffer.from(buf.subarray(0, n)));
          got += n;
        }
        const all = Buffer.concat(received);
        expect(all.length).toBe(total);
        expect(sha256(all)).toBe(sha256(data));
        expect(relay.bytes[2 * id]).toBe(total);
        expect(relay.buffered).toBe(0);
      });

      it('stalls each direction independently: a blocked A to B does not stop B to A', async () => {
        const { relay } = makeRelay();
        const { a, ra, rb, b } = await relayedPair(relay);
        for (const fd of [a, ra, rb, b]) {
          native.setsockopt(fd, 'SO_SNDBUF', 32768);
          native.setsockopt(fd, 'SO_RCVBUF', 32768);
        }
        const big = randomBytes(4 << 20);
        let sent = 0;
        // A to B stalls on b, which reads nothing: wait until the relay holds bytes for it.
        await waitFor(() => {
          const n = native.send(a, big, sent, Math.min(65536, big.length - sent));
          if (n > 0) sent += n;
          return relay.buffered > 0;
        }, 'A to B to stall');
        const answer = randomBytes(100_000);
        const [atA] = await pump([{ from: b, to: a, data: answer }]);
        expect(atA!.equals(answer)).toBe(true);
      });
    });

    describe('Relay: holding()', () => {
      it('says which way bytes wait: bit 0 while B does not take A\'s, bit 1 while A does not take B\'s', async () => {
        const { relay } = makeRelay();
        const { a, ra, rb, b, id } = await relayedPair(relay);
        for (const fd of [a, ra, rb, b]) native.setsockopt(fd, 'SO_RCVBUF', 32768);
        expect(relay.holding(id)).toBe(0);
        const chunk = randomBytes(65536);
        // A sends while b reads nothing, until the relay holds bytes for B.
        await waitFor(() => {
          native.send(a, chunk);
          return relay.holding(id) === 1;
        }, 'A to B held', 10_000);
        // b drains: nothing is held any more once A has nothing left to send.
        const sink = new Uint8Array(1 << 20);
        await waitFor(() => {
          while (native.recv(b, sink) > 0);
          return relay.holding(id) === 0 && native.recv(b, sink) === EAGAIN;
        }, 'A to B drained', 10_000);
        await waitFor(() => {
          native.send(b, chunk);
          return relay.holding(id) === 2;
        }, 'B to A held', 10_000);
        expect(relay.holding(9999)).toBe(0); // not a live pair
      });
    });

    describe('Relay: remove, capacity, activity', () => {
      it('remove() stops relaying now, reports END_REMOVED, and the slot is reused after delivery', async () => {
        const { relay, ends, calls } = makeRelay();
        const { a, ra, rb, b, id } = await relayedPair(relay);
        await pump([{ from: a, to: b, data: randomBytes(10) }]);
        expect(relay.remove(id)).toBe(0);
        expect(relay.remove(id)).toBe(-2); // ENOENT: no longer live
        expect(relay.remove(12345)).toBe(-2);
        expect(relay.remove(-1)).toBe(-2);
        expect(relay.size).toBe(0);
        // nothing flows any more, in either direction
        native.send(a, new Uint8Array([1, 2, 3]));
        native.send(b, new Uint8Array([4]));
        await sleep(30);
        expect(native.recv(b, new Uint8Array(8))).toBe(EAGAIN);
        expect(native.recv(a, new Uint8Array(8))).toBe(EAGAIN);
        await waitFor(() => ends.length === 1, 'removed record');
        expect(ends[0]).toEqual({ id, reason: END_REMOVED, errno: 0, bytes: [10, 0] });
        expect(calls()).toBe(1);
        // the fds are still ours and usable: relay them again, same slot, fresh counters
        const again = relay.add(ra, rb);
        expect(again).toBe(id);
        expect(relay.bytes[2 * again]).toBe(0);
        const [atB] = await pump([{ from: a, to: b, data: Buffer.from('after') }]);
        expect(atB!.toString()).toBe('\x01\x02\x03after');
      });

      it('calls onEnd once per loop turn for many ends, and allows add() and remove() inside onEnd', async () => {
        const pairs: Relayed[] = [];
        let reentered = false;
        const { relay, ends, calls } = makeRelay({
          capacity: 4,
          onEnd(count) {
            if (reentered) return;
            reentered = true;
            // ids of the pairs reported in this call are not reused by an add() made now
            const reported = new Set(ends.slice(-count).map((e) => e.id));
            const { ra, rb } = pairs[pairs.length - 1]!;
            relay.remove(pairs[pairs.length - 1]!.id);
            const id = relay.add(ra, rb);
            expect(reported.has(id)).toBe(false);
          },
        });
        for (let i = 0; i < 9; i++) pairs.push(await relayedPair(relay));
        expect(relay.capacity).toBe(16); // 4 -> 8 -> 16
        for (const p of pairs.slice(0, 8)) {
          native.shutdown(p.a, SHUT_WR);
          native.shutdown(p.b, SHUT_WR);
        }
        await waitFor(() => ends.length === 9, 'nine ends (eight closed, one removed)');
        expect(calls()).toBeLessThanOrEqual(3);
        expect(ends.filter((e) => e.reason === END_CLOSED).length).toBe(8);
        expect(ends.filter((e) => e.reason === END_REMOVED).length).toBe(1);
        expect(relay.size).toBe(1);
      });

      it('relays 500 pairs at once; the shared arrays grow and stay coherent', async () => {
        const { relay, ends, calls } = makeRelay({ capacity: 8 });
        const pairs: Relayed[] = [];
        for (let i = 0; i < 500; i++) pairs.push(await relayedPair(relay));
        expect(relay.size).toBe(500);
        expect(relay.capacity).toBe(512);
        expect(relay.bytes.length).toBe(1024);
        expect(relay.lastActivity.length).toBe(512);
        expect(relay.ended.length).toBe(512 * RECORD_INTS);
        const flows: Flow[] = [];
        pairs.forEach((p, i) => {
          flows.push({ from: p.a, to: p.b, data: Buffer.from(`ping ${i} `.repeat(1 + (i % 50))) });
          flows.push({ from: p.b, to: p.a, data: Buffer.from(`pong ${i} `.repeat(1 + (i % 30))) });
        });
        const received = await pump(flows);
        received.forEach((got, i) => expect(got.equals(flows[i]!.data)).toBe(true));
        pairs.forEach((p, i) => {
          expect(relay.bytes[2 * p.id]).toBe(flows[2 * i]!.data.length);
          expect(relay.bytes[2 * p.id + 1]).toBe(flows[2 * i + 1]!.data.length);
        });
        for (const p of pairs) {
          native.shutdown(p.a, SHUT_WR);
          native.shutdown(p.b, SHUT_WR);
        }
        await waitFor(() => ends.length === 500, '500 ends');
        expect(ends.every((e) => e.reason === END_CLOSED)).toBe(true);
        expect(new Set(ends.map((e) => e.id)).size).toBe(500);
        expect(calls()).toBeLessThan(50); // coalesced, not one call per pair
      });

      it('remove() while bytes flow: each pair reported once, a removed pair forwards nothing more, the others stay byte-exact', async () => {
        // In thread mode remove() runs while the relay thread may be in the middle of the very
        // pair: what b received must be exactly what the relay counted when remove() returned.
        const { relay, ends } = makeRelay({ splice: 'off' });
        const pairs: Relayed[] = [];
        for (let i = 0; i < 60; i++) pairs.push(await relayedPair(relay));
        const chunk = randomBytes(32 << 10);
        const sentTo = new Map<number, number>();
        for (const p of pairs) sentTo.set(p.id, sendAll(p.a, chunk, 0));
        const removedAt = new Map<number, number>();
        pairs.forEach((p, i) => {
          if (i % 2 === 0) {
            expect(relay.remove(p.id)).toBe(0);
            removedAt.set(p.id, relay.bytes[2 * p.id]!);
          }
        });
        // more bytes for everyone: the removed pairs must not forward any of them
        for (const p of pairs) sentTo.set(p.id, sentTo.get(p.id)! + sendAll(p.a, chunk, 0));
        const received = new Map<number, number>(pairs.map((p) => [p.id, 0]));
        const buf = new Uint8Array(64 << 10);
        const drain = () => {
          for (const p of pairs) {
            for (;;) {
              const n = native.recv(p.b, buf);
              if (n <= 0) break;
              received.set(p.id, received.get(p.id)! + n);
            }
          }
        };
        const kept = pairs.filter((p) => !removedAt.has(p.id));
        const removed = pairs.filter((p) => removedAt.has(p.id));
        await waitFor(() => {
          drain();
          return kept.every((p) => received.get(p.id) === sentTo.get(p.id)) && removed.every((p) => received.get(p.id) === removedAt.get(p.id));
        }, 'every kept pair delivered in full, every removed pair up to its count at remove()');
        for (const p of removed) expect(relay.bytes[2 * p.id]).toBe(removedAt.get(p.id));
        for (const p of kept) {
          native.shutdown(p.a, SHUT_WR);
          native.shutdown(p.b, SHUT_WR);
        }
        await waitFor(() => ends.length === pairs.length, 'one record per pair');
        drain();
        for (const p of removed) expect(received.get(p.id)).toBe(removedAt.get(p.id)); // nothing after remove()
        expect(new Set(ends.map((e) => e.id)).size).toBe(pairs.length);
        for (const e of ends) expect(e.reason).toBe(removedAt.has(e.id) ? END_REMOVED : END_CLOSED);
        expect(relay.size).toBe(0);
      });

      it('lastActivity is the loop tick of the last transfer, on the clock of nowTick()', async () => {
        // Every bound below is read from the same clock around the event, so a slow machine can
        // make the test wait longer but never fail it: "stamped between t0 and t1" for each stamp,
        // and "at least the sleep apart" between stamps.
        const ticksSince = (from: number, to: number): number => (to - from) >>> 0;
        const stampedBetween = (stamp: number, t0: number, t1: number): boolean => ticksSince(t0, stamp) <= ticksSince(t0, t1);
        const { relay } = makeRelay();
        const t0 = native.nowTick();
        const { a, b, id } = await relayedPair(relay);
        const added = relay.lastActivity[id]!;
        expect(stampedBetween(added, t0, native.nowTick())).toBe(true);
        await sleep(60);
        const beforeFirst = native.nowTick();
        await pump([{ from: a, to: b, data: Buffer.from('x') }]);
        const first = relay.lastActivity[id]!;
        expect(stampedBetween(first, beforeFirst, native.nowTick())).toBe(true);
        expect(ticksSince(added, first)).toBeGreaterThanOrEqual(50);
        await sleep(60);
        expect(relay.lastActivity[id]).toBe(first); // idle: untouched
        const beforeSecond = native.nowTick();
        await pump([{ from: b, to: a, data: Buffer.from('y') }]);
        expect(stampedBetween(relay.lastActivity[id]!, beforeSecond, native.nowTick())).toBe(true);
        expect(ticksSince(first, relay.lastActivity[id]!)).toBeGreaterThanOrEqual(50);
      });
    });

    describe('Relay: arguments, close, lifecycle', () => {
      it('refuses bad arguments with ERR_EPOXY_INVALID_ARG, and reports kernel refusals as -errno', async () => {
        const { INVALID_ARG } = ErrorCodes;
        expectCode(() => new native.Relay(undefined as unknown as NativeRelayOptions), INVALID_ARG);
        expectCode(() => new native.Relay({} as NativeRelayOptions), INVALID_ARG);
        for (const bufferSize of [0, -1, 1.5, 1e300, NaN, '16' as unknown as number]) {
          expectCode(() => new native.Relay({ bufferSize, onEnd() {} }), INVALID_ARG);
        }
        expectCode(() => new native.Relay({ capacity: 0, onEnd() {} }), INVALID_ARG);
        const { relay } = makeRelay();
        const { ra, rb, a } = await relayedPair(relay);
        expectCode(() => relay.add(-1, 5), INVALID_ARG);
        expectCode(() => relay.add(a, a), INVALID_ARG);
        expectCode(() => relay.add(ra, a), INVALID_ARG); // ra is already relayed
        expectCode(() => relay.add(a, rb), INVALID_ARG);
        expectCode(() => relay.add('3' as unknown as number, 4), INVALID_ARG);
        // kernel and libuv refusals are data-path results
        const [x, y] = await tcpPair();
        closeFd(y);
        expect(native.errnoName(relay.add(x, y))).toBe('EBADF');
        const file = openSync('/etc/hostname', 'r');
        try {
          expect(native.errnoName(relay.add(x, file))).toBe('EPERM');
        } finally {
          closeSync(file);
        }
        if (!thread) {
          // another relay on the same loop already watches ra (Node's loop refuses a second
          // watcher; a threaded relay has an epoll set of its own and cannot tell)
          const { relay: other } = makeRelay();
          expect(native.errnoName(other.add(ra, x))).toBe('EEXIST');
          expect(relay.size).toBe(1);
          expect(other.size).toBe(0);
        }
      });

      it('close() is idempotent, stops every pair silently, and later calls are ERR_EPOXY_HANDLE_CLOSED', async () => {
        const { relay, ends, calls } = makeRelay();
        const { a, b, id } = await relayedPair(relay);
        await pump([{ from: a, to: b, data: Buffer.from('before') }]);
        native.shutdown(a, SHUT_WR); // an end already pending delivery is dropped too
        relay.close();
        relay.close();
        expect(relay.closed).toBe(true);
        expect(relay.size).toBe(0);
        expect(relay.bytes[2 * id]).toBe(6); // the arrays keep their last values
        native.send(b, Buffer.from('after'));
        await sleep(30);
        expect(native.recv(a, new Uint8Array(8))).toBe(EAGAIN); // no longer relayed
        expect(calls()).toBe(0);
        expect(ends).toEqual([]);
        for (const call of [() => relay.add(100, 101), () => relay.remove(id), () => relay.ref(), () => relay.unref()]) {
          expectCode(call, ErrorCodes.HANDLE_CLOSED);
        }
      });

      it('borrows fds: 100 relayed pairs opened and closed leave /proc/self/fd unchanged', async () => {
        await tcpPair(); // the shared listener exists before counting
        const before = fdCount();
        for (let round = 0; round < 4; round++) {
          const { relay, ends } = makeRelay();
          const pairs: Relayed[] = [];
          for (let i = 0; i < 25; i++) pairs.push(await relayedPair(relay));
          // exactly the test's sockets: the relay opens none, but for a thread's epoll set and eventfd
          expect(fdCount()).toBe(before + 100 + (thread ? 2 : 0));
          await pump(pairs.map((p) => ({ from: p.a, to: p.b, data: Buffer.from('x') })));
          pairs.forEach((p, i) => {
            if (i % 2 === 0) relay.remove(p.id);
            else {
              native.shutdown(p.a, SHUT_WR);
              native.shutdown(p.b, SHUT_WR);
            }
          });
          await waitFor(() => ends.length === 25, 'all ends');
          for (const p of pairs) {
            for (const fd of [p.a, p.ra, p.rb, p.b]) closeFd(fd);
          }
          relay.close();
          expect(fdCount()).toBe(before);
        }
      });

      it('is not collected while it relays, and is collected when idle and unreferenced', async () => {
        const result = await runFixture('relay-lifecycle.mjs', ['gc', mode], { nodeArgs: ['--expose-gc'] });
        expect(result.stderr).toBe('');
        expect(JSON.parse(result.stdout)).toEqual({ relayed: 'through a dropped relay', ended: 1, collected: true });
      });

      it('does not keep the process alive once unref()ed', async () => {
        const result = await runFixture('relay-lifecycle.mjs', ['unref', mode]);
        expect(result.stderr).toBe('');
        expect(result.code).toBe(0);
        expect(JSON.parse(result.stdout)).toEqual({ exited: true, size: 1, closed: false });
      });

      it('survives worker threads that exit with live, blocked pairs (env cleanup, addon unloading)', async () => {
        const result = await runFixture('relay-lifecycle.mjs', ['cleanup', mode]);
        expect(result.signal).toBe(null);
        expect(result.stderr).toBe('');
        expect(result.code).toBe(0);
        const { before, during, after, buffered } = JSON.parse(result.stdout) as Record<string, number>;
        expect(during).toBeGreaterThanOrEqual(before! + 40);
        expect(buffered).toBeGreaterThan(0);
        expect(after).toBe(before);
      });

      it('setLoopIdleMetrics(false) stops the loop idle accounting that costs an extra epoll_wait; true restores it', async () => {
        const result = await runFixture('relay-lifecycle.mjs', ['loop-metrics']);
        expect(result.stderr).toBe('');
        expect(JSON.parse(result.stdout)).toEqual({ off: true, on: true, counted: true, stopped: true, restored: true });
        expectCode(() => native.setLoopIdleMetrics(1 as unknown as boolean), ErrorCodes.INVALID_ARG);
      });

      it("routes an exception thrown by onEnd to 'uncaughtException' and keeps relaying", async () => {
        const result = await runFixture('relay-lifecycle.mjs', ['throwing-callback', mode]);
        expect(result.stderr).toBe('');
        expect(JSON.parse(result.stdout)).toEqual({ caught: 'boom from onEnd', next: 'still relaying' });
      });
    });

    describe('Relay: handles parked by fd number', () => {
      it('reuses the stopped handle of an fd number for the next pair that gets it, with no mix-up', async () => {
        const { relay, ends } = makeRelay();
        for (let round = 0; round < 5; round++) {
          const { a, ra, rb, b, id } = await relayedPair(relay);
          const [atB, atA] = await pump([
            { from: a, to: b, data: randomBytes(50_000) },
            { from: b, to: a, data: randomBytes(70_000) },
          ]);
          expect([atB!.length, atA!.length]).toEqual([50_000, 70_000]);
          native.shutdown(a, SHUT_WR);
          native.shutdown(b, SHUT_WR);
          await waitFor(() => ends.length === round + 1, 'end');
          expect(ends[round]).toMatchObject({ id, reason: END_CLOSED, bytes: [50_000, 70_000] });
          // Closing frees the fd numbers: the next round's sockets get the same ones back, so the
          // relay restarts its parked handles instead of making new ones.
          for (const fd of [a, ra, rb, b]) closeFd(fd);
        }
        expect(relay.size).toBe(0);
      });

      it('a parked fd number taken by a net.Socket of the same loop is left alone when the relay closes', async () => {
        const { createServer, connect } = await import('node:net');
        const { relay, ends } = makeRelay();
        const { a, ra, rb, b } = await relayedPair(relay);
        native.shutdown(a, SHUT_WR);
        native.shutdown(b, SHUT_WR);
        await waitFor(() => ends.length === 1, 'end');
        const parked = [ra, rb];
        closeFd(ra);
        closeFd(rb);
        // Node's own sockets now get the lowest free fd numbers: the relay's parked ones.
        const server = createServer((socket) => socket.pipe(socket));
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        const client = connect((server.address() as { port: number }).port, '127.0.0.1');
        await new Promise<void>((resolve) => client.once('connect', () => resolve()));
        const nodeFds = [(client as unknown as { _handle: { fd: number } })._handle.fd, (server as unknown as { _handle: { fd: number } })._handle.fd];
        expect(nodeFds.some((fd) => parked.includes(fd))).toBe(true);
        let received = '';
        client.on('data', (chunk) => (received += chunk.toString()));
        const roundTrip = async (text: string): Promise<void> => {
          const want = received + text;
          client.write(text);
          await waitFor(() => received === want, `echo of '${text}'`);
        };
        await roundTrip('before'); // Node's interest in both sockets is registered by now
        relay.close(); // closes the parked handles: libuv must not drop Node's registration of that fd
        await roundTrip('after');
        const echoed = received;
        expect(echoed).toBe('beforeafter');
        client.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      });
    });

    describe('Relay: lastFinByClose', () => {
      it('leaves the FIN that ends the pair to the caller\'s close(), which sends it', async () => {
        const { relay, ends } = makeRelay({ lastFinByClose: true });
        const { a, ra, rb, b, id } = await relayedPair(relay);
        await pump([{ from: a, to: b, data: randomBytes(10_000) }]);
        native.shutdown(b, SHUT_WR); // the first FIN is forwarded as ever
        await expectEof(a);
        native.shutdown(a, SHUT_WR); // the last one ends the pair...
        await waitFor(() => ends.length === 1, 'end');
        expect(ends[0]).toEqual({ id, reason: END_CLOSED, errno: 0, bytes: [10_000, 0] });
        const buf = new Uint8Array(16);
        expect(native.recv(b, buf)).toBe(EAGAIN); // ...without a shutdown of rb
        closeFd(rb); // the caller's close sends it: a FIN, not a reset
        await expectEof(b);
        closeFd(ra);
      });

      it('must be a boolean', () => {
        expectCode(() => new native.Relay({ lastFinByClose: 1 as unknown as boolean, onEnd: () => {} }), 'ERR_EPOXY_INVALID_ARG');
        expectCode(() => new native.Relay({ thread: 'yes' as unknown as boolean, onEnd: () => {} }), 'ERR_EPOXY_INVALID_ARG');
      });
    });

    describe('Relay: bulk copy', () => {
      it('moves bulk data in bulkSize reads, byte-exact both ways, with plain copies for small messages', async () => {
        const { relay, ends } = makeRelay({ splice: 'off', bulkSize: 256 << 10 });
        const { a, b, id } = await relayedPair(relay);
        const up = randomBytes(24 << 20);
        const down = randomBytes(9 << 20);
        const [atB, atA] = await pump([
          { from: a, to: b, data: up },
          { from: b, to: a, data: down },
        ]);
        expect(sha256(atB!)).toBe(sha256(up));
        expect(sha256(atA!)).toBe(sha256(down));
        expect([relay.bytes[2 * id], relay.bytes[2 * id + 1]]).toEqual([24 << 20, 9 << 20]);
        expect(relay.bytesSpliced).toBe(0);
        const [small] = await pump([{ from: a, to: b, data: Buffer.from('ping') }]);
        expect(small!.toString()).toBe('ping');
        native.shutdown(a, SHUT_WR);
        native.shutdown(b, SHUT_WR);
        await waitFor(() => ends.length === 1, 'end');
        expect(ends[0]!.reason).toBe(END_CLOSED);
      });

      it('a stalled bulk read holds at most bulkSize, and everything arrives once the reader reads', async () => {
        const bulkSize = 128 << 10;
        const { relay } = makeRelay({ splice: 'off', bulkSize });
        const { a, ra, rb, b, id } = await relayedPair(relay);
        for (const fd of [rb, b]) {
          native.setsockopt(fd, 'SO_SNDBUF', 32768);
          native.setsockopt(fd, 'SO_RCVBUF', 32768);
        }
        void ra;
        const total = 8 << 20;
        const data = randomBytes(total);
        let sent = 0;
        let maxBuffered = 0;
        // Write until the relay holds bytes it cannot send (b does not read), watching the bound.
        await waitFor(() => {
          for (;;) {
            const n = native.send(a, data, sent, Math.min(65536, total - sent));
            if (n <= 0) break;
            sent += n;
          }
          maxBuffered = Math.max(maxBuffered, relay.buffered);
          return relay.buffered > 16384 || sent === total;
        }, 'a bulk read held');
        expect(relay.buffered).toBeGreaterThan(16384); // more than a plain block: a bulk block
        expect(maxBuffered).toBeLessThanOrEqual(bulkSize);
        const buf = Buffer.alloc(1 << 20);
        const chunks: Buffer[] = [];
        let got = 0;
        await waitFor(() => {
          for (;;) {
            const n = native.send(a, data, sent, Math.min(65536, total - sent));
            if (n <= 0) break;
            sent += n;
          }
          for (;;) {
            const n = native.recv(b, buf);
            if (n <= 0) break;
            chunks.push(Buffer.from(buf.subarray(0, n)));
            got += n;
          }
          expect(relay.buffered).toBeLessThanOrEqual(bulkSize);
          return got === total;
        }, 'all of it', 30_000);
        expect(sha256(Buffer.concat(chunks))).toBe(sha256(data));
        expect(relay.bytes[2 * id]).toBe(total);
      });

      it('bulkSize must be an integer from 0 to 64 MiB', () => {
        expectCode(() => new native.Relay({ bulkSize: -1, onEnd: () => {} }), 'ERR_EPOXY_INVALID_ARG');
        expectCode(() => new native.Relay({ bulkSize: 1.5, onEnd: () => {} }), 'ERR_EPOXY_INVALID_ARG');
      });
    });
  });
}
