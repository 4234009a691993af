import { describe, expect, it } from 'vitest';
import { SocketAddress, parseAddress } from '../src/address.js';
import { EpoxyError, ErrorCodes } from '../src/errors.js';
import { native } from '../src/native.js';

describe('parseAddress (HAProxy address forms)', () => {
  const cases: Array<[string, string, string, number]> = [
    ['127.0.0.1:8080', 'ipv4', '127.0.0.1', 8080],
    ['[::1]:443', 'ipv6', '::1', 443],
    ['[2001:db8::1]', 'ipv6', '2001:db8::1', 0],
    ['::1:80', 'ipv6', '::1', 80],
    [':8080', 'ipv4', '0.0.0.0', 8080],
    ['*:8080', 'ipv4', '0.0.0.0', 8080],
    ['ipv6@:8080', 'ipv6', '::', 8080],
    ['ipv6@*:8080', 'ipv6', '::', 8080],
    ['ipv4@10.0.0.1:1', 'ipv4', '10.0.0.1', 1],
    ['ipv6@192.0.2.7:80', 'ipv6', '::ffff:192.0.2.7', 80],
    ['192.0.2.1', 'ipv4', '192.0.2.1', 0],
    ['[2001:DB8:0:0::0001]:65535', 'ipv6', '2001:db8::1', 65535],
    ['unix@/run/epoxy.sock', 'unix', '/run/epoxy.sock', 0],
    ['/run/epoxy.sock', 'unix', '/run/epoxy.sock', 0],
    ['abns@epoxy', 'unix', '@epoxy', 0],
    ['[fe80::1%lo]:80', 'ipv6', 'fe80::1%lo', 80],
  ];
  for (const [text, family, address, port] of cases) {
    it(`parses ${text}`, () => {
      const parsed = parseAddress(text);
      expect(parsed.family).toBe(family);
      expect(parsed.address).toBe(address);
      expect(parsed.port).toBe(port);
    });
  }

  const bad = ['127.0.0.1:99999', '127.0.0.1:http', '300.1.1.1:80', '[::1', '[::1]x', 'ipv4@[::1]:80', 'ipv4@::1:80',
    'ipv4@/path', 'unix@' + 'x'.repeat(200), 'host.example:80', '[fe80::1%nosuchif0]:80'];
  for (const text of bad) {
    it(`rejects ${text.length > 40 ? text.slice(0, 40) + '…' : text} with ERR_EPOXY_INVALID_ADDRESS naming it`, () => {
      let caught: unknown;
      try {
        parseAddress(text);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(EpoxyError);
      expect((caught as EpoxyError).code).toBe(ErrorCodes.INVALID_ADDRESS);
      expect((caught as EpoxyError).message).toContain(text.slice(0, 20));
    });
  }
});

describe('SocketAddress formatting', () => {
  it('formats the way HAProxy prints addresses', () => {
    expect(parseAddress('127.0.0.1:80').toString()).toBe('127.0.0.1:80');
    expect(parseAddress('[::1]:80').toString()).toBe('[::1]:80');
    expect(parseAddress('unix@/tmp/x').toString()).toBe('unix@/tmp/x');
  });

  it('round-trips through the raw sockaddr bytes', () => {
    for (const text of ['198.51.100.9:1234', '[2001:db8::9]:4321', 'unix@/tmp/y', 'abns@z']) {
      const a = parseAddress(text);
      const b = SocketAddress.fromBytes(a.bytes);
      expect(b.toString()).toBe(a.toString());
      expect(Array.from(b.bytes)).toEqual(Array.from(a.bytes));
    }
  });

  it('packs exactly sockaddr_in / sockaddr_in6 sized byte strings in network order', () => {
    const v4 = parseAddress('192.0.2.1:258');
    expect(v4.bytes.length).toBe(16);
    expect(Array.from(v4.bytes.subarray(2, 8))).toEqual([1, 2, 192, 0, 2, 1]);
    expect(parseAddress('[::1]:1').bytes.length).toBe(28);
  });

  it('withPort changes only the port', () => {
    expect(parseAddress('[::1]:80').withPort(81).toString()).toBe('[::1]:81');
  });

  it('addrUnpack rejects bytes of no known family or a wrong length', () => {
    expect(() => native.addrUnpack(new Uint8Array([0xff, 0xff, 0, 0]))).toThrow(
      expect.objectContaining({ code: ErrorCodes.INVALID_ADDRESS }),
    );
    expect(() => native.addrUnpack(parseAddress('1.2.3.4:5').bytes.subarray(0, 8))).toThrow(
      expect.objectContaining({ code: ErrorCodes.INVALID_ADDRESS }),
    );
  });
});
