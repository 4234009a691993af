/**
 * The ClientHello inspector (native/client_hello.h through src/inspect/client-hello.ts): hand-made
 * hellos, every prefix of them, mangled and oversized ones, SSLv2-format hellos, and the real
 * ones OpenSSL sends (the fuzz seeds).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspectClientHello, NEED_MORE, type ClientHelloFacts } from '../../src/inspect/client-hello.js';

const u16 = (n: number): number[] => [n >> 8, n & 0xff];
const u24 = (n: number): number[] => [n >> 16, (n >> 8) & 0xff, n & 0xff];
const ascii = (s: string): number[] => [...Buffer.from(s, 'latin1')];

function extension(type: number, body: number[]): number[] {
  return [...u16(type), ...u16(body.length), ...body];
}

interface HelloOptions {
  sni?: string[];
  alpn?: string[];
  groups?: boolean;
  recordVersion?: [number, number];
  handshakeType?: number;
  /** Extra bytes added to the record length only (a hello spanning records). */
  recordSlack?: number;
}

/** A ClientHello record as a TLS 1.2/1.3 client writes it, with the chosen extensions. */
function clientHello(options: HelloOptions = {}): Uint8Array {
  const extensions: number[] = [];
  if (options.sni) {
    const list = options.sni.flatMap((name) => [0, ...u16(name.length), ...ascii(name)]);
    extensions.push(...extension(0, [...u16(list.length), ...list]));
  }
  if (options.groups) extensions.push(...extension(10, [...u16(4), 0x00, 0x1d, 0x00, 0x17]));
  if (options.alpn) {
    const list = options.alpn.flatMap((p) => [p.length, ...ascii(p)]);
    extensions.push(...extension(16, [...u16(list.length), ...list]));
  }
  extensions.push(...extension(43, [2, 3, 4])); // supported_versions: TLS 1.3
  const body = [3, 3, ...new Array<number>(32).fill(7), 0, ...u16(2), 0x13, 0x01, 1, 0, ...u16(extensions.length), ...extensions];
  const handshake = [options.handshakeType ?? 1, ...u24(body.length), ...body];
  const [major, minor] = options.recordVersion ?? [3, 1];
  return Uint8Array.from([0x16, major, minor, ...u16(handshake.length + (options.recordSlack ?? 0)), ...handshake]);
}

/** An SSLv2-format CLIENT-HELLO (2-byte header) announcing `version`. */
function sslv2Hello(version: [number, number]): Uint8Array {
  const body = [1, ...version, ...u16(6), ...u16(0), ...u16(16), 0, 0, 0x35, 0, 0, 0x2f, ...new Array<number>(16).fill(9)];
  return Uint8Array.from([0x80 | (body.length >> 8), body.length & 0xff, ...body]);
}

const inspect = (bytes: Uint8Array, length = bytes.length): ClientHelloFacts => inspectClientHello(bytes, length);
const ALL_MORE: ClientHelloFacts = { helloType: NEED_MORE, version: NEED_MORE, sni: NEED_MORE, alpn: NEED_MORE, ecExt: NEED_MORE };
const ALL_ABSENT: ClientHelloFacts = { helloType: null, version: null, sni: null, alpn: null, ecExt: null };

describe('ClientHello inspector', () => {
  it('reads every fact of a whole hello', () => {
    const hello = clientHello({ sni: ['a.example'], alpn: ['h2', 'http/1.1'], groups: true });
    expect(inspect(hello)).toEqual({ helloType: 1, version: 0x30001, sni: 'a.example', alpn: ['h2', 'http/1.1'], ecExt: true });
  });

  it('waits on every strict prefix and never answers "absent" before the hello is in', () => {
    const hello = clientHello({ sni: ['b.example'], alpn: ['http/1.1'], groups: true });
    expect(inspect(hello, 0)).toEqual(ALL_MORE);
    for (let n = 1; n < hello.length; n++) {
      const facts = inspect(hello, n);
      expect(facts.sni, `prefix ${n}`).toBe(NEED_MORE);
      expect(facts.alpn, `prefix ${n}`).toBe(NEED_MORE);
      expect(facts.ecExt, `prefix ${n}`).toBe(NEED_MORE);
      expect(facts.helloType, `prefix ${n}`).toBe(NEED_MORE);
    }
  });

  it('answers the same with bytes after the hello (the next record, application data)', () => {
    const hello = clientHello({ sni: ['a.example'] });
    const more = new Uint8Array(hello.length + 100);
    more.set(hello);
    more.fill(0x17, hello.length);
    expect(inspect(more)).toEqual(inspect(hello));
  });

  it('tells a hello without SNI, ALPN or supported groups: absent, and ec_ext false', () => {
    expect(inspect(clientHello())).toEqual({ helloType: 1, version: 0x30001, sni: null, alpn: null, ecExt: false });
  });

  it('takes the first host_name of the server_name list', () => {
    expect(inspect(clientHello({ sni: ['first.example', 'second.example'] })).sni).toBe('first.example');
  });

  it('says "not TLS" for HTTP and SSH bytes as soon as they rule a hello out', () => {
    expect(inspect(Buffer.from('GET / HTTP/1.1\r\n'))).toEqual(ALL_ABSENT);
    expect(inspect(Buffer.from('SSH-2.0-OpenSSH_9.2\r\n'))).toEqual(ALL_ABSENT);
    // A lone 'G' could still start an SSLv2 record: the version fetch waits for its header.
    expect(inspect(Buffer.from('G')).version).toBe(NEED_MORE);
    expect(inspect(Buffer.from('G')).sni).toBeNull();
  });

  it('reads a ServerHello-type message as hello type 2 and nothing else', () => {
    const facts = inspect(clientHello({ sni: ['a.example'], handshakeType: 2 }));
    expect(facts.helloType).toBe(2);
    expect(facts.sni).toBeNull();
  });

  it('refuses records announcing SSL 2 in an SSLv3 header, and oversized records', () => {
    const old = clientHello({ sni: ['a.example'], recordVersion: [2, 0] });
    expect(inspect(old)).toEqual(ALL_ABSENT);
    const oversized = Uint8Array.from([0x17, 3, 3, 0xff, 0xff, ...new Array<number>(10).fill(0)]);
    expect(inspect(oversized).version).toBeNull();
  });

  it('reads the version of SSLv2-format hellos, which carry no SNI', () => {
    const hello = sslv2Hello([3, 1]);
    expect(inspect(hello)).toEqual({ helloType: null, version: 0x30001, sni: null, alpn: null, ecExt: null });
    expect(inspect(hello, hello.length - 1).version).toBe(NEED_MORE);
    expect(inspect(sslv2Hello([2, 0])).version).toBe(0x20000);
  });

  it('does not inspect a hello longer than its record (split over records)', () => {
    const hello = clientHello({ sni: ['a.example'] });
    const truncatedRecord = hello.slice();
    truncatedRecord[4] = truncatedRecord[4]! - 10; // the record now ends inside the hello
    expect(inspect(truncatedRecord).sni).toBeNull();
  });

  it('refuses a server_name list longer than its extension, keeping what came before', () => {
    const hello = clientHello({ groups: true, sni: ['a.example'] });
    const sniAt = hello.findIndex((_, i) => hello[i] === 0 && hello[i + 1] === 0 && hello[i + 2] === 0 && hello[i + 3] === 14);
    expect(sniAt).toBeGreaterThan(0);
    const mangled = hello.slice();
    mangled[sniAt + 5] = 0xff; // list length
    const facts = inspect(mangled);
    expect(facts.sni).toBeNull();
    expect(facts.alpn).toBeNull();
    expect(facts.helloType).toBe(1);
  });

  it('never throws and keeps spans inside the bytes for random mutations', () => {
    const base = clientHello({ sni: ['mutate.example'], alpn: ['h2'], groups: true });
    let seed = 12345;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let round = 0; round < 3000; round++) {
      const bytes = base.slice(0, 1 + (random() * base.length) / 256 + (round % base.length));
      for (let k = 0; k < 1 + (round % 4); k++) bytes[random() % bytes.length] = random();
      const facts = inspect(bytes);
      if (typeof facts.sni === 'string' && facts.sni !== NEED_MORE) expect(facts.sni.length).toBeLessThanOrEqual(bytes.length);
      if (Array.isArray(facts.alpn)) expect(facts.alpn.join('').length).toBeLessThanOrEqual(bytes.length);
    }
  });

  it("reads the hellos OpenSSL's s_client sends (the fuzz seeds)", () => {
    const dir = join(__dirname, '../fuzz/corpus/client_hello');
    const seeds = Object.fromEntries(readdirSync(dir).map((name) => [name, inspect(readFileSync(join(dir, name)))]));
    expect(seeds['tls13-sni-alpn']).toMatchObject({ helloType: 1, sni: 'a.example', alpn: ['h2', 'http/1.1'], ecExt: true });
    expect(seeds['tls12-no-sni']).toMatchObject({ helloType: 1, sni: null, ecExt: true });
    expect(seeds['sslv2-hello']).toMatchObject({ version: 0x30001, sni: null });
    expect(seeds['http-get']).toEqual(ALL_ABSENT);
  });
});
