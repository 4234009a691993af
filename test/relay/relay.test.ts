import { afterEach, describe, expect, it } from 'vitest';
import { native, relayConstants, type NativeRelay } from '../../src/native.js';
import { readRelayEnds, relayEndName, relayIdleMs, type RelayEndRecord } from '../../src/relay/relay.js';
import { closeAll, listenLoopback, tcpSocket, waitFor } from '../helpers/sockets.js';

const fds: number[] = [];
const relays: NativeRelay[] = [];
afterEach(() => {
  for (const r of relays.splice(0)) r.close();
  closeAll(fds.splice(0));
});

async function tcpPair(listener: { fd: number; address: { bytes: Uint8Array } }): Promise<[number, number]> {
  const client = tcpSocket();
  fds.push(client);
  native.connect(client, listener.address.bytes);
  const out = new Int32Array(2);
  await waitFor(() => native.accept(listener.fd, out, null) > 0, 'accept');
  fds.push(out[0]!);
  return [client, out[0]!];
}

describe('relay helpers', () => {
  it('names every end reason and refuses others', () => {
    expect(relayEndName(relayConstants.END_CLOSED)).toBe('closed');
    expect(relayEndName(relayConstants.END_RESET_A)).toBe('reset-a');
    expect(relayEndName(relayConstants.END_RESET_B)).toBe('reset-b');
    expect(relayEndName(relayConstants.END_REMOVED)).toBe('removed');
    expect(() => relayEndName(0)).toThrow(RangeError);
  });

  it('decodes ended records with their counters inside onEnd, and measures idle time', async () => {
    const listener = listenLoopback();
    fds.push(listener.fd);
    const records: RelayEndRecord[] = [];
    const relay: NativeRelay = new native.Relay({ onEnd: (count) => records.push(...readRelayEnds(relay, count)) });
    relays.push(relay);
    const [a, ra] = await tcpPair(listener);
    const [rb, b] = await tcpPair(listener);
    const [c, rc] = await tcpPair(listener);
    const [rd] = await tcpPair(listener);
    const first = relay.add(ra, rb);
    const second = relay.add(rc, rd);
    const beforeSend = native.nowTick();
    native.send(a, new Uint8Array(10));
    await waitFor(() => native.recv(b, new Uint8Array(64)) === 10, 'relayed bytes');
    // Stamped after beforeSend, so idle now is at most what the same clock says elapsed since.
    expect(relayIdleMs(relay, first)).toBeLessThanOrEqual((native.nowTick() - beforeSend) >>> 0);
    expect(relayIdleMs(relay, first, relay.lastActivity[first]! + 25)).toBe(25);
    // across the 32-bit wrap
    expect(relayIdleMs(relay, first, (relay.lastActivity[first]! + 2 ** 32 + 7) % 2 ** 32)).toBe(7);

    native.setsockopt(c, 'SO_LINGER', { enabled: true, seconds: 0 });
    native.close(c);
    fds.splice(fds.indexOf(c), 1);
    relay.remove(first);
    await waitFor(() => records.length === 2, 'two ends');
    const byId = new Map(records.map((r) => [r.id, r]));
    expect(byId.get(first)).toMatchObject({ reason: 'removed', errno: 0, code: '', bytesAToB: 10, bytesBToA: 0 });
    expect(byId.get(second)).toMatchObject({ reason: 'reset-a', errno: 104, code: 'ECONNRESET', bytesAToB: 0 });
    expect(typeof byId.get(second)!.lastActivity).toBe('number');
  });
});
