/**
 * The PROXY protocol parser and builders of the addon (native/proxy_protocol.h) through their
 * bindings: the spec's examples, incremental feeding, one minimal input per refusal reason, the
 * size limits, TLVs, build -> parse round trips, and a header read from a real socket.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SocketAddress } from '../../src/address.js';
import { native, proxyProtocolConstants, type NativeProxyErrors } from '../../src/native.js';
import { AF_INET, listenLoopback, tcpSocket, waitFor } from '../helpers/sockets.js';

const { OUT_SLOTS, ADDRESS_SIZE, V1_MAX_LINE, V2_MAX_HEADER, MAX_HEADER, BUILD_MAX, errors } = proxyProtocolConstants;

const enc = new TextEncoder();
const ascii = (text: string): Uint8Array => enc.encode(text);
const concat = (...parts: Uint8Array[]): Uint8Array => {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return all;
};
const SIG = Uint8Array.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** A v2 header written by hand: signature, version|command, family|transport, length, body. */
function v2(verCmd: number, fam: number, body: Uint8Array = new Uint8Array(0), length = body.length): Uint8Array {
  return concat(SIG, Uint8Array.from([verCmd, fam, length >> 8, length & 0xff]), body);
}
function tlv(type: number, value: Uint8Array, length = value.length): Uint8Array {
  return concat(Uint8Array.from([type, length >> 8, length & 0xff]), value);
}
const be16 = (n: number): Uint8Array => Uint8Array.from([n >> 8, n & 0xff]);
const filled = (n: number, byte = 0x61): Uint8Array => new Uint8Array(n).fill(byte);
/** IPv4 TCP address block: 192.168.0.1:56324 -> 192.168.0.11:443 (the spec's example). */
const INET_BLOCK = concat(Uint8Array.from([192, 168, 0, 1, 192, 168, 0, 11]), be16(56324), be16(443));
/** IPv6 TCP address block: 2001:db8::1 port 1000 -> ::1 port 2000. */
const INET6_BLOCK = (() => {
  const src = new Uint8Array(16);
  src.set([0x20, 0x01, 0x0d, 0xb8]);
  src[15] = 1;
  const dst = new Uint8Array(16);
  dst[15] = 1;
  return concat(src, dst, be16(1000), be16(2000));
})();
function unixBlock(src: string, dst: string): Uint8Array {
  const block = new Uint8Array(216);
  block.set(ascii(src), 0);
  block.set(ascii(dst), 108);
  return block;
}

/** CRC32C written independently of the addon, to make headers it must accept. */
function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0x82f63b78 & -(crc & 1));
  }
  return (crc ^ 0xffffffff) >>> 0;
}
/** Fills the 4 bytes at `at` (zeroed) with the header's CRC32C. */
function withCrc(header: Uint8Array, at: number): Uint8Array {
  const crc = crc32c(header);
  new DataView(header.buffer, header.byteOffset).setUint32(at, crc);
  return header;
}

interface Parsed {
  rc: number;
  out: Int32Array;
  source: Uint8Array | null;
  destination: Uint8Array | null;
}
function parse(bytes: Uint8Array, length?: number): Parsed {
  const out = new Int32Array(OUT_SLOTS);
  const src = new Uint8Array(ADDRESS_SIZE);
  const dst = new Uint8Array(ADDRESS_SIZE);
  const rc = native.proxyParse(bytes, length, out, src, dst);
  expect(out[0]).toBe(rc);
  return {
    rc,
    out,
    source: out[3]! > 0 ? src.slice(0, out[3]) : null,
    destination: out[4]! > 0 ? dst.slice(0, out[4]) : null,
  };
}
const text = (address: Uint8Array | null): string | null => (address ? SocketAddress.fromBytes(address).toString() : null);
const reason = (bytes: Uint8Array): string => {
  const { rc } = parse(bytes);
  expect(rc).toBeLessThan(0);
  return native.proxyErrorName(rc);
};

/** Every strict prefix is "need more", the whole header its length (the tail is left alone). */
function expectIncremental(header: Uint8Array, payload: Uint8Array = ascii('GET / HTTP/1.1\r\n')): void {
  const stream = concat(header, payload);
  for (let k = 0; k < header.length; k++) {
    const rc = parse(stream, k).rc;
    if (rc !== 0) throw new Error(`prefix of ${k}/${header.length} bytes gave ${rc} (${native.proxyErrorName(rc)})`);
  }
  expect(parse(stream, header.length).rc).toBe(header.length);
  expect(parse(stream).rc).toBe(header.length);
}

describe('proxyParse: v1 (spec 2.1)', () => {
  it("parses the spec's TCP4 example and leaves the request after it", () => {
    const line = 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n';
    const p = parse(ascii(`${line}GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n`));
    expect(p.rc).toBe(line.length);
    expect([p.out[1], p.out[2]]).toEqual([1, 1]);
    expect(text(p.source)).toBe('192.168.0.1:56324');
    expect(text(p.destination)).toBe('192.168.0.11:443');
    expect(p.source!.length).toBe(16);
  });

  it('parses TCP6, compressed and full, upper and lower case, and the v4-mapped form', () => {
    let p = parse(ascii('PROXY TCP6 2001:db8::1 ::1 1000 2000\r\n'));
    expect(text(p.source)).toBe('[2001:db8::1]:1000');
    expect(text(p.destination)).toBe('[::1]:2000');
    expect(p.source!.length).toBe(28);
    p = parse(ascii('PROXY TCP6 2001:0DB8:0000:0000:0000:0000:0000:0001 ::ffff:10.0.0.1 0 65535\r\n'));
    expect(text(p.source)).toBe('[2001:db8::1]:0');
    expect(text(p.destination)).toBe('[::ffff:10.0.0.1]:65535');
  });

  it('accepts the longest lines the spec requires: TCP4 56, TCP6 104, UNKNOWN 107 bytes', () => {
    const full6 = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
    const lines = [
      'PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n',
      `PROXY TCP6 ${full6} ${full6} 65535 65535\r\n`,
      `PROXY UNKNOWN ${full6} ${full6} 65535 65535\r\n`,
    ];
    expect(lines.map((l) => l.length)).toEqual([56, 104, V1_MAX_LINE]);
    for (const line of lines) expect(parse(ascii(line)).rc).toBe(line.length);
  });

  it('UNKNOWN: short form, and anything before the CRLF ignored; no addresses', () => {
    for (const line of ['PROXY UNKNOWN\r\n', 'PROXY UNKNOWN whatever the sender put here\r\n']) {
      const p = parse(ascii(line));
      expect(p.rc).toBe(line.length);
      expect([p.out[1], p.out[2], p.out[3], p.out[4]]).toEqual([1, 1, 0, 0]);
    }
  });

  it('answers "need more" for every prefix of a valid line, byte by byte', () => {
    expectIncremental(ascii('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n'));
    expectIncremental(ascii('PROXY TCP6 2001:db8::1 ::ffff:1.2.3.4 1000 2000\r\n'));
    expectIncremental(ascii('PROXY UNKNOWN\r\n'));
    expectIncremental(ascii('PROXY UNKNOWN 1 2 3\r\n'));
  });

  it('fails early, before the CRLF, once the bytes cannot become a valid line', () => {
    expect(reason(ascii('PROXX'))).toBe('PP_BAD_SIGNATURE');
    expect(reason(ascii('PROXY UDP'))).toBe('PP_BAD_FAMILY');
    expect(reason(ascii('PROXY TCP4 1.2.3.4x'))).toBe('PP_BAD_ADDRESS');
    expect(reason(ascii('PROXY TCP4 1.2.3.4 5.6.7.8 01'))).toBe('PP_BAD_PORT');
    expect(reason(ascii('PROXY TCP4  '))).toBe('PP_V1_SYNTAX');
    expect(reason(ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 '))).toBe('PP_V1_SYNTAX');
  });

  it('refuses a port or an IPv4 address as soon as its digits so far rule it out', () => {
    // A port prefix above 65535 only grows; so does an IPv4 part above 255 or of 4 digits.
    expect(reason(ascii('PROXY TCP4 1.2.3.4 5.6.7.8 65536'))).toBe('PP_BAD_PORT');
    expect(reason(ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1 99999'))).toBe('PP_BAD_PORT');
    expect(reason(ascii('PROXY TCP4 999'))).toBe('PP_BAD_ADDRESS');
    expect(reason(ascii('PROXY TCP4 1.2.3.4 1.2560'))).toBe('PP_BAD_ADDRESS');
    expect(reason(ascii('PROXY TCP4 1..'))).toBe('PP_BAD_ADDRESS');
    expect(reason(ascii('PROXY TCP4 1.2.3.4.'))).toBe('PP_BAD_ADDRESS');
    expect(reason(ascii('PROXY TCP4 01'))).toBe('PP_BAD_ADDRESS');
    // ... while their valid beginnings still ask for more.
    for (const prefix of ['PROXY TCP4 255.', 'PROXY TCP4 1.2.3.4 5.6.7.8 6553', 'PROXY TCP4 1.2.3.4 5.6.7.8 65535', 'PROXY TCP4 0.0.0.0']) {
      expect(parse(ascii(prefix)).rc).toBe(0);
    }
  });
});

describe('proxyParse: v2 (spec 2.2)', () => {
  it('TCP over IPv4 (0x11)', () => {
    const header = v2(0x21, 0x11, INET_BLOCK);
    const p = parse(concat(header, ascii('payload')));
    expect(p.rc).toBe(28);
    expect([p.out[1], p.out[2]]).toEqual([2, 1]);
    expect(text(p.source)).toBe('192.168.0.1:56324');
    expect(text(p.destination)).toBe('192.168.0.11:443');
    expectIncremental(header);
  });

  it('TCP over IPv6 (0x21)', () => {
    const header = v2(0x21, 0x21, INET6_BLOCK);
    const p = parse(header);
    expect(p.rc).toBe(52);
    expect(text(p.source)).toBe('[2001:db8::1]:1000');
    expect(text(p.destination)).toBe('[::1]:2000');
    expectIncremental(header);
  });

  it('UNIX stream (0x31): paths, an abstract name, an unnamed socket', () => {
    let p = parse(v2(0x21, 0x31, unixBlock('/run/client.sock', '/run/haproxy.sock')));
    expect(p.rc).toBe(16 + 216);
    expect(text(p.source)).toBe('unix@/run/client.sock');
    expect(text(p.destination)).toBe('unix@/run/haproxy.sock');
    expect(p.source!.length).toBe(2 + '/run/client.sock'.length + 1);

    const block = new Uint8Array(216);
    block.set(ascii('\0abstract'), 0); // source: abstract, zero padded; destination: all zeros
    p = parse(v2(0x21, 0x31, block));
    expect(text(p.source)).toBe('unix@@abstract');
    expect(p.destination!.length).toBe(2);
    expect(SocketAddress.fromBytes(p.destination!).address).toBe('');

    const full = unixBlock('x'.repeat(108), 'y'); // a 108-byte path has no NUL
    full.fill(0x78, 0, 108);
    p = parse(v2(0x21, 0x31, full));
    expect(p.source!.length).toBe(110);
    expectIncremental(v2(0x21, 0x31, unixBlock('/a', '/b')));
  });

  it('LOCAL: accepted with its length skipped and its family ignored; no addresses', () => {
    for (const header of [v2(0x20, 0x00), v2(0x20, 0x11, INET_BLOCK), v2(0x20, 0xff, filled(5))]) {
      const p = parse(concat(header, ascii('x')));
      expect(p.rc).toBe(header.length);
      expect([p.out[1], p.out[2], p.out[3], p.out[4]]).toEqual([2, 0, 0, 0]);
      expectIncremental(header);
    }
  });

  it('PROXY with UNSPEC (0x00) or a half-unspecified family: accepted, no addresses', () => {
    for (const fam of [0x00, 0x01, 0x02, 0x10, 0x20, 0x30]) {
      const header = v2(0x21, fam, fam === 0 ? new Uint8Array(0) : filled(7));
      const p = parse(header);
      expect(p.rc).toBe(header.length);
      expect([p.out[2], p.out[3], p.out[4]]).toEqual([1, 0, 0]);
    }
  });

  it('DGRAM (0x12, 0x22, 0x32): falls back to UNSPEC (no addresses) but checks lengths and TLVs', () => {
    expect(parse(v2(0x21, 0x12, INET_BLOCK)).out.slice(1, 5)).toEqual(Int32Array.from([2, 1, 0, 0]));
    expect(parse(v2(0x21, 0x22, INET6_BLOCK)).rc).toBe(52);
    expect(parse(v2(0x21, 0x32, unixBlock('/a', '/b'))).rc).toBe(232);
    expect(reason(v2(0x21, 0x12, INET_BLOCK.slice(0, 11)))).toBe('PP_V2_TRUNCATED_ADDRESS');
    expect(reason(v2(0x21, 0x12, concat(INET_BLOCK, Uint8Array.from([1, 0]))))).toBe('PP_V2_TLV_OVERFLOW');
  });

  it('accepts a header of exactly V2_MAX_HEADER bytes and refuses one byte more on the 16th byte', () => {
    expect(V2_MAX_HEADER).toBe(1536);
    expect(MAX_HEADER).toBe(V2_MAX_HEADER);
    const padding = V2_MAX_HEADER - 16 - 12 - 3; // one NOOP TLV filling the rest
    const header = v2(0x21, 0x11, concat(INET_BLOCK, tlv(0x04, filled(padding))));
    expect(header.length).toBe(V2_MAX_HEADER);
    expect(parse(header).rc).toBe(V2_MAX_HEADER);
    const tooLong = v2(0x21, 0x11, new Uint8Array(0), V2_MAX_HEADER - 16 + 1);
    expect(tooLong.length).toBe(16);
    expect(reason(tooLong)).toBe('PP_V2_TOO_LONG');
    expect(reason(v2(0x21, 0x11, new Uint8Array(0), 0xffff))).toBe('PP_V2_TOO_LONG');
  });

  it('keeps the ALPN, authority and unique-id spans, the first of each', () => {
    const tlvs = concat(
      tlv(0x04, filled(3)), // NOOP
      tlv(0x01, ascii('h2')),
      tlv(0x02, ascii('example.com')),
      tlv(0x05, filled(128, 0x55)),
      tlv(0x01, ascii('http/1.1')), // a second ALPN: ignored
      tlv(0x20, concat(Uint8Array.from([0x01, 0, 0, 0, 0]), tlv(0x21, ascii('TLSv1.3')))), // SSL
      tlv(0xe0, filled(2)), // custom range
    );
    const header = v2(0x21, 0x11, concat(INET_BLOCK, tlvs));
    const p = parse(header);
    expect(p.rc).toBe(header.length);
    const at = (slot: number): string => new TextDecoder().decode(header.subarray(p.out[slot]!, p.out[slot]! + p.out[slot + 1]!));
    expect(at(5)).toBe('h2');
    expect(at(7)).toBe('example.com');
    expect(p.out[10]).toBe(128);
    expect(header[p.out[9]!]).toBe(0x55);
    expectIncremental(header);
  });

  it('reports absent TLVs as offset -1, and leaves the TLV slots alone when out has only 5', () => {
    const p = parse(v2(0x21, 0x11, INET_BLOCK));
    expect(Array.from(p.out.slice(5))).toEqual([-1, 0, -1, 0, -1, 0]);
    const short = Int32Array.from([9, 9, 9, 9, 9]);
    expect(native.proxyParse(v2(0x21, 0x11, INET_BLOCK), undefined, short, new Uint8Array(ADDRESS_SIZE), new Uint8Array(ADDRESS_SIZE))).toBe(28);
    expect(Array.from(short)).toEqual([28, 2, 1, 16, 16]);
  });

  it('verifies a CRC32C TLV against the whole header', () => {
    expect(crc32c(ascii('123456789'))).toBe(0xe3069283); // RFC 3720 B.4 check value
    const good = withCrc(v2(0x21, 0x11, concat(INET_BLOCK, tlv(0x03, new Uint8Array(4)), tlv(0x02, ascii('a')))), 16 + 12 + 3);
    expect(parse(good).rc).toBe(good.length);
    expectIncremental(good);
    const bad = good.slice();
    bad[bad.length - 1]! ^= 1; // the authority byte, covered by the checksum
    expect(reason(bad)).toBe('PP_V2_BAD_CHECKSUM');
    const unspec = withCrc(v2(0x21, 0x00, tlv(0x03, new Uint8Array(4))), 19);
    expect(parse(unspec).rc).toBe(23);
  });
});

describe('proxyParse: one minimal input per refusal reason', () => {
  const cases: [keyof NativeProxyErrors, Uint8Array][] = [
    ['PP_BAD_SIGNATURE', ascii('GET / HTTP/1.1\r\n')],
    ['PP_BAD_SIGNATURE', ascii('PROXY\r\n')],
    ['PP_BAD_SIGNATURE', Uint8Array.from([0x0d, 0x0a, 0x0d, 0x0a, 0x01])],
    ['PP_BAD_SIGNATURE', Uint8Array.from([0x16, 0x03, 0x01])], // a TLS ClientHello
    ['PP_V1_SYNTAX', ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n')], // bare LF
    ['PP_V1_SYNTAX', ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX')], // bare CR
    ['PP_V1_SYNTAX', ascii('PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n')], // two spaces
    ['PP_V1_SYNTAX', ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n')], // a field missing
    ['PP_V1_SYNTAX', ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n')], // a field too many
    ['PP_V1_SYNTAX', ascii('PROXY TCP4\r\n')],
    ['PP_V1_SYNTAX', ascii('PROXY \r\n')],
    ['PP_V1_SYNTAX', concat(ascii('PROXY UNKNOWN '), Uint8Array.from([0xc3, 0xa9]))], // not US-ASCII
    ['PP_V1_SYNTAX', concat(ascii('PROXY TCP4 1.2.3.4'), Uint8Array.from([0]))],
    ['PP_V1_TOO_LONG', ascii(`PROXY UNKNOWN ${'x'.repeat(V1_MAX_LINE - 14)}`)], // 107 bytes, no CR
    ['PP_V1_TOO_LONG', ascii(`PROXY UNKNOWN ${'x'.repeat(V1_MAX_LINE - 15)}\r\n`)], // LF is byte 108
    ['PP_BAD_ADDRESS', ascii('PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n')],
    ['PP_BAD_ADDRESS', ascii('PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n')], // leading zero
    ['PP_BAD_ADDRESS', ascii('PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n')],
    ['PP_BAD_ADDRESS', ascii('PROXY TCP4 ::1 ::1 1 2\r\n')], // family mismatch
    ['PP_BAD_ADDRESS', ascii('PROXY TCP6 1.2.3.4 ::1 1 2\r\n')],
    ['PP_BAD_ADDRESS', ascii('PROXY TCP6 1::2::3 ::1 1 2\r\n')],
    ['PP_BAD_ADDRESS', ascii('PROXY TCP6 ::1%eth0 ::1 1 2\r\n')],
    ['PP_BAD_PORT', ascii('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n')],
    ['PP_BAD_PORT', ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1 080\r\n')],
    ['PP_BAD_PORT', ascii('PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n')],
    ['PP_BAD_FAMILY', ascii('PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n')],
    ['PP_BAD_FAMILY', ascii('PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n')],
    ['PP_BAD_FAMILY', ascii('PROXY UNKNOWNX\r\n')],
    ['PP_BAD_FAMILY', v2(0x21, 0x41).subarray(0, 14)], // family 4
    ['PP_BAD_FAMILY', v2(0x21, 0x13).subarray(0, 14)], // transport 3
    ['PP_V2_BAD_VERSION', v2(0x11, 0x11).subarray(0, 13)],
    ['PP_V2_BAD_VERSION', v2(0x31, 0x11).subarray(0, 13)],
    ['PP_V2_BAD_COMMAND', v2(0x22, 0x11).subarray(0, 13)],
    ['PP_V2_BAD_COMMAND', v2(0x2f, 0x11).subarray(0, 13)],
    ['PP_V2_TOO_LONG', v2(0x21, 0x11, new Uint8Array(0), V2_MAX_HEADER - 15)],
    ['PP_V2_TRUNCATED_ADDRESS', v2(0x21, 0x11, new Uint8Array(0), 11)],
    ['PP_V2_TRUNCATED_ADDRESS', v2(0x21, 0x21, new Uint8Array(0), 35)],
    ['PP_V2_TRUNCATED_ADDRESS', v2(0x21, 0x31, new Uint8Array(0), 215)],
    ['PP_V2_TLV_OVERFLOW', v2(0x21, 0x11, concat(INET_BLOCK, Uint8Array.from([0x04, 0x00])))], // half a TLV header
    ['PP_V2_TLV_OVERFLOW', v2(0x21, 0x11, concat(INET_BLOCK, tlv(0x04, filled(2), 3)))], // value past the end
    ['PP_V2_TLV_OVERFLOW', v2(0x21, 0x00, tlv(0x01, filled(1), 2))],
    ['PP_V2_TLV_OVERFLOW', v2(0x21, 0x11, concat(INET_BLOCK, tlv(0x20, concat(filled(5, 0), tlv(0x22, filled(4), 5)))))], // SSL sub-TLV
    ['PP_V2_BAD_TLV', v2(0x21, 0x11, concat(INET_BLOCK, tlv(0x03, filled(3))))], // CRC32C not 4 bytes
    ['PP_V2_BAD_TLV', v2(0x21, 0x11, concat(INET_BLOCK, tlv(0x03, filled(4)), tlv(0x03, filled(4))))], // two CRC32C
    ['PP_V2_BAD_TLV', v2(0x21, 0x11, concat(INET_BLOCK, tlv(0x05, filled(129))))], // unique-id above 128
    ['PP_V2_BAD_TLV', v2(0x21, 0x11, concat(INET_BLOCK, tlv(0x02, filled(256))))], // authority above 255
    ['PP_V2_BAD_TLV', v2(0x21, 0x11, concat(INET_BLOCK, tlv(0x20, filled(4))))], // SSL shorter than 5
    ['PP_V2_BAD_CHECKSUM', v2(0x21, 0x11, concat(INET_BLOCK, tlv(0x03, filled(4))))],
  ];

  it.each(cases.map(([name, bytes], i) => [i, name, bytes] as const))('#%i %s', (_i, name, bytes) => {
    const { rc, out } = parse(bytes);
    expect(native.proxyErrorName(rc)).toBe(name);
    expect(rc).toBe(errors[name]);
    expect(Array.from(out.slice(1))).toEqual([0, 0, 0, 0, -1, 0, -1, 0, -1, 0]);
  });

  it('covers every reason the addon has', () => {
    expect(new Set(cases.map(([name]) => name))).toEqual(new Set(Object.keys(errors)));
  });

  it('names and describes every code; other numbers are unknown', () => {
    for (const [name, code] of Object.entries(errors)) {
      expect(native.proxyErrorName(code)).toBe(name);
      expect(native.proxyErrorDescription(code)).toMatch(/PROXY/);
    }
    expect(Object.values(errors).sort((a, b) => b - a)).toEqual(Array.from({ length: 13 }, (_, i) => -1 - i));
    for (const code of [0, 1, -14, -1000]) expect(native.proxyErrorName(code)).toBe('PP_UNKNOWN_ERROR');
  });

  it('treats an empty buffer and a partial signature as "need more"', () => {
    expect(parse(new Uint8Array(0)).rc).toBe(0);
    expect(parse(ascii('PROX')).rc).toBe(0);
    expect(parse(SIG.subarray(0, 7)).rc).toBe(0);
    expect(parse(v2(0x21, 0x11, INET_BLOCK), 27).rc).toBe(0);
  });
});

describe('proxyBuild', () => {
  const v4a = SocketAddress.parse('192.168.0.1:56324');
  const v4b = SocketAddress.parse('192.168.0.11:443');
  const v6a = SocketAddress.parse('[2001:db8::1]:1000');
  const v6b = SocketAddress.parse('[::1]:2000');
  const ua = SocketAddress.parse('unix@/run/client.sock');
  const ub = SocketAddress.parse('abns@haproxy');

  function build(version: 1 | 2, a: SocketAddress | null, b: SocketAddress | null): Uint8Array {
    const out = new Uint8Array(BUILD_MAX);
    const n = native.proxyBuild(version, a?.bytes ?? null, b?.bytes ?? null, out);
    expect(n).toBeGreaterThan(0);
    return out.slice(0, n);
  }

  it('writes the spec\'s v1 line and the v2 header byte for byte', () => {
    expect(new TextDecoder().decode(build(1, v4a, v4b))).toBe('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n');
    expect(new TextDecoder().decode(build(1, v6a, v6b))).toBe('PROXY TCP6 2001:db8::1 ::1 1000 2000\r\n');
    expect(build(2, v4a, v4b)).toEqual(v2(0x21, 0x11, INET_BLOCK));
    expect(build(2, v6a, v6b)).toEqual(v2(0x21, 0x21, INET6_BLOCK));
    expect(build(2, ua, SocketAddress.parse('/run/haproxy.sock'))).toEqual(v2(0x21, 0x31, unixBlock('/run/client.sock', '/run/haproxy.sock')));
  });

  it('round-trips v1 and v2 over IPv4, IPv6 and (v2) unix', () => {
    const pairs: [1 | 2, SocketAddress, SocketAddress][] = [
      [1, v4a, v4b],
      [1, v6a, v6b],
      [2, v4a, v4b],
      [2, v6a, v6b],
      [2, ua, ub],
      [2, SocketAddress.parse('[fe80::1]:0'), SocketAddress.parse('[::]:65535')],
      [1, SocketAddress.parse('0.0.0.0:0'), SocketAddress.parse('255.255.255.255:65535')],
    ];
    for (const [version, a, b] of pairs) {
      const header = build(version, a, b);
      const p = parse(concat(header, ascii('data')));
      expect(p.rc).toBe(header.length);
      expect([p.out[1], p.out[2]]).toEqual([version, 1]);
      expect(p.source).toEqual(a.bytes);
      expect(p.destination).toEqual(b.bytes);
      expectIncremental(header);
    }
  });

  it('sends mixed IPv4/IPv6 as IPv6 with the IPv4 side v4-mapped', () => {
    for (const version of [1, 2] as const) {
      const p = parse(build(version, v4a, v6b));
      expect(text(p.source)).toBe('[::ffff:192.168.0.1]:56324');
      expect(text(p.destination)).toBe('[::1]:2000');
    }
  });

  it('without addresses: v1 UNKNOWN, v2 LOCAL; unix or mixed families: v1 UNKNOWN, v2 PROXY UNSPEC', () => {
    expect(new TextDecoder().decode(build(1, null, null))).toBe('PROXY UNKNOWN\r\n');
    expect(build(2, null, v4b)).toEqual(v2(0x20, 0x00));
    expect(new TextDecoder().decode(build(1, ua, ub))).toBe('PROXY UNKNOWN\r\n');
    expect(new TextDecoder().decode(build(1, v4a, ub))).toBe('PROXY UNKNOWN\r\n');
    expect(build(2, ua, v4b)).toEqual(v2(0x21, 0x00));
  });

  it('returns -ENOSPC for a short buffer and -EINVAL for bytes that are no address', () => {
    expect(native.errnoName(native.proxyBuild(2, v4a.bytes, v4b.bytes, new Uint8Array(27)))).toBe('ENOSPC');
    expect(native.proxyBuild(2, v4a.bytes, v4b.bytes, new Uint8Array(28))).toBe(28);
    expect(native.errnoName(native.proxyBuild(1, v4a.bytes.subarray(0, 8), v4b.bytes, new Uint8Array(BUILD_MAX)))).toBe('EINVAL');
    expect(native.errnoName(native.proxyBuild(2, new Uint8Array(16), v4b.bytes, new Uint8Array(BUILD_MAX)))).toBe('EINVAL');
  });

  it('throws ERR_EPOXY_INVALID_ARG only for arguments of the wrong shape', () => {
    const out = new Int32Array(OUT_SLOTS);
    const a = new Uint8Array(ADDRESS_SIZE);
    const code = (fn: () => unknown): unknown => {
      try {
        fn();
      } catch (error) {
        return (error as { code?: string }).code;
      }
      return 'no throw';
    };
    expect(code(() => native.proxyParse(ascii('PROXY'), 6, out, a, a))).toBe('ERR_EPOXY_INVALID_ARG');
    expect(code(() => native.proxyParse(ascii('PROXY'), -1, out, a, a))).toBe('ERR_EPOXY_INVALID_ARG');
    expect(code(() => native.proxyParse(ascii('PROXY'), undefined, new Int32Array(4), a, a))).toBe('ERR_EPOXY_INVALID_ARG');
    expect(code(() => native.proxyParse(ascii('PROXY'), undefined, out, new Uint8Array(ADDRESS_SIZE - 1), a))).toBe('ERR_EPOXY_INVALID_ARG');
    expect(code(() => native.proxyBuild(3 as 2, null, null, new Uint8Array(BUILD_MAX)))).toBe('ERR_EPOXY_INVALID_ARG');
    expect(code(() => native.proxyParse(ascii('PROXY'), undefined, out, a, a))).toBe('no throw');
  });
});

describe('a header read from a real socket', () => {
  const open: number[] = [];
  afterEach(() => {
    for (const fd of open.splice(0)) native.close(fd);
  });

  async function pair(): Promise<[number, number]> {
    const listener = listenLoopback(AF_INET);
    open.push(listener.fd);
    const client = tcpSocket();
    open.push(client);
    native.connect(client, listener.address.bytes);
    const accepted = new Int32Array(2);
    await waitFor(() => native.accept(listener.fd, accepted, null) > 0, 'accept');
    open.push(accepted[0]!);
    return [client, accepted[0]!];
  }

  it('recv() a v2 header and its payload into one buffer, parse, and find the payload after it', async () => {
    const [client, server] = await pair();
    const clientAddr = SocketAddress.fromBytes(native.getsockname(client));
    const serverAddr = SocketAddress.fromBytes(native.getsockname(server));
    const header = new Uint8Array(BUILD_MAX);
    const n = native.proxyBuild(2, clientAddr.bytes, serverAddr.bytes, header);
    const payload = ascii('hello through the proxy');
    await waitFor(() => native.send(client, concat(header.subarray(0, n), payload)) > 0, 'send');

    const buffer = new Uint8Array(MAX_HEADER);
    let got = 0;
    let rc = 0;
    await waitFor(() => {
      const r = native.recv(server, buffer, got);
      if (r > 0) got += r;
      rc = parse(buffer, got).rc;
      return rc !== 0;
    }, 'a complete header');
    expect(rc).toBe(28);
    const p = parse(buffer, got);
    expect(text(p.source)).toBe(clientAddr.toString());
    expect(text(p.destination)).toBe(serverAddr.toString());
    await waitFor(() => {
      const r = native.recv(server, buffer, got);
      if (r > 0) got += r;
      return got >= rc + payload.length;
    }, 'the payload');
    expect(new TextDecoder().decode(buffer.subarray(rc, got))).toBe('hello through the proxy');
  });

  it('recvPeek() leaves the bytes queued: peek the header in pieces, then consume exactly it', async () => {
    const [client, server] = await pair();
    const line = ascii('PROXY TCP6 2001:db8::1 ::1 1000 2000\r\n');
    const peek = new Uint8Array(MAX_HEADER);
    expect(native.errnoName(native.recvPeek(server, peek))).toBe('EAGAIN');

    expect(native.send(client, line.subarray(0, 20))).toBe(20);
    let peeked = 0;
    await waitFor(() => (peeked = native.recvPeek(server, peek)) === 20, 'the first piece');
    expect(parse(peek, peeked).rc).toBe(0);
    expect(native.recvPeek(server, peek)).toBe(20); // still there

    expect(native.send(client, concat(line.subarray(20), ascii('DATA')))).toBe(line.length - 20 + 4);
    await waitFor(() => (peeked = native.recvPeek(server, peek)) === line.length + 4, 'the rest');
    const p = parse(peek, peeked);
    expect(p.rc).toBe(line.length);
    expect(text(p.source)).toBe('[2001:db8::1]:1000');

    const sink = new Uint8Array(p.rc);
    expect(native.recv(server, sink)).toBe(p.rc);
    const rest = new Uint8Array(16);
    expect(native.recv(server, rest)).toBe(4);
    expect(new TextDecoder().decode(rest.subarray(0, 4))).toBe('DATA');

    native.shutdown(client, 1);
    await waitFor(() => native.recvPeek(server, peek) === 0, 'EOF');
    expect(native.errnoName(native.recvPeek(-1, peek))).toBe('EBADF');
  });
});
