/**
 * parseProxyHeader / buildProxyHeader: the TypeScript face of the PROXY protocol, as the session
 * layer uses it for accept-proxy (peek, parse, consume) and send-proxy / send-proxy-v2.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SocketAddress } from '../../src/address.js';
import { native } from '../../src/native.js';
import {
  PROXY_MAX_HEADER,
  buildProxyHeader,
  parseProxyHeader,
  type ProxyHeader,
  type ProxyParseResult,
} from '../../src/proxy-protocol/proxy-protocol.js';
import { AF_INET6, listenLoopback, tcpSocket, waitFor } from '../helpers/sockets.js';

const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);
const concat = (...parts: Uint8Array[]): Uint8Array => {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return all;
};
const SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

function complete(result: ProxyParseResult): ProxyHeader {
  if (result.status !== 'complete') throw new Error(`expected a complete header, got ${JSON.stringify(result)}`);
  return result;
}

describe('parseProxyHeader', () => {
  it('v1 TCP4: addresses as SocketAddress, the length to consume', () => {
    const h = complete(parseProxyHeader(ascii('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET /')));
    expect(h).toMatchObject({ status: 'complete', length: 47, version: 1, command: 'proxy' });
    expect(h.source?.toString()).toBe('192.168.0.1:56324');
    expect(h.source?.family).toBe('ipv4');
    expect(h.destination?.port).toBe(443);
    expect([h.alpn, h.authority, h.uniqueId]).toEqual([null, null, null]);
  });

  it('v1 TCP6 and UNKNOWN', () => {
    const h = complete(parseProxyHeader(ascii('PROXY TCP6 ::ffff:10.1.2.3 2001:db8::7 1 2\r\n')));
    expect(h.source?.toString()).toBe('[::ffff:10.1.2.3]:1');
    expect(h.destination?.toString()).toBe('[2001:db8::7]:2');
    const u = complete(parseProxyHeader(ascii('PROXY UNKNOWN\r\n')));
    expect(u).toMatchObject({ version: 1, command: 'proxy', source: null, destination: null, length: 15 });
  });

  it('v2 LOCAL: no addresses, command local', () => {
    const local = Uint8Array.from([...SIG, 0x20, 0x00, 0, 0]);
    expect(complete(parseProxyHeader(local))).toMatchObject({ version: 2, command: 'local', source: null, destination: null, length: 16 });
  });

  it('v2 TLVs: ALPN and unique-id copied, authority decoded as UTF-8', () => {
    const tlvs = [0x01, 0, 2, ...ascii('h2'), 0x02, 0, 12, ...ascii('exämple.org'), 0x05, 0, 3, 7, 8, 9];
    const body = [127, 0, 0, 1, 127, 0, 0, 2, 0x04, 0xd2, 0x00, 0x50, ...tlvs];
    const bytes = Uint8Array.from([...SIG, 0x21, 0x11, 0, body.length, ...body]);
    const h = complete(parseProxyHeader(bytes));
    expect(h.source?.toString()).toBe('127.0.0.1:1234');
    expect(h.destination?.toString()).toBe('127.0.0.2:80');
    expect(h.alpn).toEqual(ascii('h2'));
    expect(h.authority).toBe('exämple.org');
    expect(h.uniqueId).toEqual(Uint8Array.from([7, 8, 9]));
    bytes.fill(0, 28); // copies, not views of the caller's buffer
    expect(h.alpn).toEqual(ascii('h2'));
  });

  it("'incomplete' for every strict prefix, honouring an explicit length", () => {
    const line = ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n');
    for (let k = 0; k < line.length; k++) expect(parseProxyHeader(line.subarray(0, k))).toEqual({ status: 'incomplete' });
    for (let k = 0; k < line.length; k++) expect(parseProxyHeader(line, k).status).toBe('incomplete');
    expect(parseProxyHeader(line).status).toBe('complete');
  });

  it("'invalid' with a stable reason, its code and a message", () => {
    expect(parseProxyHeader(ascii('GET / HTTP/1.1\r\n'))).toEqual({
      status: 'invalid',
      reason: 'PP_BAD_SIGNATURE',
      code: -1,
      message: expect.stringContaining('not a PROXY protocol header'),
    });
    expect(parseProxyHeader(ascii(`PROXY UNKNOWN ${'x'.repeat(100)}`))).toMatchObject({ reason: 'PP_V1_TOO_LONG' });
    expect(parseProxyHeader(Uint8Array.from([...SIG, 0x21, 0x11, 0x06, 0x01]))).toMatchObject({ reason: 'PP_V2_TOO_LONG' });
    expect(parseProxyHeader(Uint8Array.from([...SIG, 0x21, 0x11, 0, 4, 1, 2, 3, 4]))).toMatchObject({
      reason: 'PP_V2_TRUNCATED_ADDRESS',
    });
  });

  it('a peek buffer of PROXY_MAX_HEADER bytes always suffices', () => {
    expect(PROXY_MAX_HEADER).toBe(1536);
  });
});

describe('buildProxyHeader', () => {
  const cases: [string, string][] = [
    ['10.0.0.1:40000', '10.0.0.2:443'],
    ['[2001:db8::1]:40000', '[2001:db8::2]:443'],
    ['unix@/run/a.sock', 'abns@b'],
  ];

  it('round-trips through parseProxyHeader, v1 and v2', () => {
    for (const version of [1, 2] as const) {
      for (const [s, d] of cases) {
        const source = SocketAddress.parse(s);
        const destination = SocketAddress.parse(d);
        const header = buildProxyHeader(version, source, destination);
        const h = complete(parseProxyHeader(concat(header, ascii('payload'))));
        expect(h.length).toBe(header.length);
        expect(h.version).toBe(version);
        if (version === 1 && source.family === 'unix') {
          expect(new TextDecoder().decode(header)).toBe('PROXY UNKNOWN\r\n');
          expect(h.source).toBeNull();
        } else {
          expect(h.source?.toString()).toBe(source.toString());
          expect(h.destination?.toString()).toBe(destination.toString());
        }
      }
    }
  });

  it('null addresses: v1 UNKNOWN, v2 LOCAL', () => {
    expect(new TextDecoder().decode(buildProxyHeader(1, null, null))).toBe('PROXY UNKNOWN\r\n');
    expect(complete(parseProxyHeader(buildProxyHeader(2, null, null))).command).toBe('local');
  });

  it('returns a fresh array each time', () => {
    const a = buildProxyHeader(2, SocketAddress.parse('1.1.1.1:1'), SocketAddress.parse('2.2.2.2:2'));
    const b = buildProxyHeader(2, SocketAddress.parse('3.3.3.3:3'), SocketAddress.parse('4.4.4.4:4'));
    expect(a[16]).toBe(1);
    expect(b[16]).toBe(3);
  });
});

describe('accept-proxy on a real connection: peek, parse, consume', () => {
  const open: number[] = [];
  afterEach(() => {
    for (const fd of open.splice(0)) native.close(fd);
  });

  it('a send-proxy-v2 client over IPv6 loopback, header split in two writes', async () => {
    const listener = listenLoopback(AF_INET6);
    open.push(listener.fd);
    const client = tcpSocket(AF_INET6);
    open.push(client);
    native.connect(client, listener.address.bytes);
    const accepted = new Int32Array(2);
    await waitFor(() => native.accept(listener.fd, accepted, null) > 0, 'accept');
    const server = accepted[0]!;
    open.push(server);

    const claimed = SocketAddress.parse('[2001:db8::42]:50000');
    const header = buildProxyHeader(2, claimed, listener.address);
    await waitFor(() => native.send(client, header.subarray(0, 10)) === 10, 'first write');

    const peek = new Uint8Array(PROXY_MAX_HEADER);
    let result: ProxyParseResult = { status: 'incomplete' };
    let n = 0;
    await waitFor(() => (n = native.recvPeek(server, peek)) === 10, 'first piece');
    result = parseProxyHeader(peek, n);
    expect(result.status).toBe('incomplete');

    expect(native.send(client, concat(header.subarray(10), ascii('PING')))).toBe(header.length - 10 + 4);
    await waitFor(() => (n = native.recvPeek(server, peek)) === header.length + 4, 'the rest');
    const h = complete(parseProxyHeader(peek, n));
    expect(h.source?.toString()).toBe('[2001:db8::42]:50000');
    expect(h.destination?.toString()).toBe(listener.address.toString());

    expect(native.recv(server, new Uint8Array(h.length))).toBe(h.length);
    const data = new Uint8Array(8);
    expect(native.recv(server, data)).toBe(4);
    expect(new TextDecoder().decode(data.subarray(0, 4))).toBe('PING');
  });
});
