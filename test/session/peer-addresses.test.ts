/** The fd-indexed table of accepted clients' addresses (src/session/peer-addresses.ts). */
import { describe, expect, it } from 'vitest';
import { SocketAddress } from '../../src/address.js';
import { constants } from '../../src/native.js';
import { PeerAddresses } from '../../src/session/peer-addresses.js';

const { ADDR_SLOT_SIZE } = constants;

/** An accept batch's address area holding `addresses` in slots 0, 1, ... */
function batch(...addresses: SocketAddress[]): Uint8Array {
  const area = new Uint8Array(addresses.length * ADDR_SLOT_SIZE);
  addresses.forEach((a, i) => area.set(a.bytes, i * ADDR_SLOT_SIZE));
  return area;
}

describe('PeerAddresses', () => {
  it('gives back each fd its own inet or inet6 address, a copy that outlives the batch', () => {
    const table = new PeerAddresses<object>();
    const v4 = SocketAddress.from('ipv4', '192.0.2.7', 40000);
    const v6 = SocketAddress.from('ipv6', '2001:db8::9', 40001);
    const area = batch(v4, v6);
    const [a, b] = [{}, {}];
    expect(table.keep(5, a, area, 0, v4.bytes.length)).toBe(true);
    expect(table.keep(900, b, area, ADDR_SLOT_SIZE, v6.bytes.length)).toBe(true); // grows past 64
    area.fill(0); // the next accept batch overwrites the area
    expect(table.address(5, a).toString()).toBe('192.0.2.7:40000');
    expect(table.address(900, b).toString()).toBe('[2001:db8::9]:40001');
  });

  it('refuses what is not inet (the caller decodes it at once)', () => {
    const table = new PeerAddresses<object>();
    const v4 = SocketAddress.from('ipv4', '192.0.2.7', 1);
    const area = batch(v4);
    expect(table.keep(3, {}, area, 0, 2)).toBe(false); // an unnamed unix peer: family only
    expect(table.keep(3, {}, area, 0, 28)).toBe(false); // inet6's length with inet's family
    area[0] = 0xff;
    expect(table.keep(3, {}, area, 0, 16)).toBe(false);
  });

  it('answers 0.0.0.0:0, never another connection, once an fd went to a new owner or was released', () => {
    const table = new PeerAddresses<object>();
    const first = SocketAddress.from('ipv4', '192.0.2.1', 1000);
    const second = SocketAddress.from('ipv4', '198.51.100.2', 2000);
    const [old, reused] = [{}, {}];
    table.keep(7, old, batch(first), 0, 16);
    table.keep(7, reused, batch(second), 0, 16); // fd 7 closed and accepted again
    expect(table.address(7, old).toString()).toBe('0.0.0.0:0');
    expect(table.address(7, reused).toString()).toBe('198.51.100.2:2000');
    table.release(7, old); // a stale release changes nothing
    expect(table.address(7, reused).toString()).toBe('198.51.100.2:2000');
    table.release(7, reused);
    expect(table.address(7, reused).toString()).toBe('0.0.0.0:0');
    expect(table.address(12345, reused).toString()).toBe('0.0.0.0:0');
  });
});
