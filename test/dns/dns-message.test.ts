import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeResponse, DnsType, encodeQuery, invalidName, normalizeName } from '../../src/dns/dns-message.js';

/** A response built by hand, byte by byte, as a nameserver would send it. */
function response(parts: { id?: number; flags?: number; question?: Buffer; answers?: Buffer[]; additional?: Buffer[] }): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(parts.id ?? 0x1234, 0);
  header.writeUInt16BE(parts.flags ?? 0x8180, 2);
  header.writeUInt16BE(parts.question ? 1 : 0, 4);
  header.writeUInt16BE(parts.answers?.length ?? 0, 6);
  header.writeUInt16BE(0, 8);
  header.writeUInt16BE(parts.additional?.length ?? 0, 10);
  return Buffer.concat([header, parts.question ?? Buffer.alloc(0), ...(parts.answers ?? []), ...(parts.additional ?? [])]);
}

function name(text: string): Buffer {
  return Buffer.concat([...text.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
}

function question(text: string, type: number): Buffer {
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(1, 2);
  return Buffer.concat([name(text), tail]);
}

function record(owner: Buffer, type: number, data: Buffer, ttl = 30): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(1, 2);
  fixed.writeUInt32BE(ttl, 4);
  fixed.writeUInt16BE(data.length, 8);
  return Buffer.concat([owner, fixed, data]);
}

/** A pointer to offset 12: the question's name, where every response's first name is. */
const TO_QUESTION = Buffer.from([0xc0, 12]);

describe('DNS queries', () => {
  it('asks one question with recursion desired and an EDNS0 OPT record announcing the payload size', () => {
    const out = Buffer.alloc(512);
    const length = encodeQuery(out, 0xbeef, 'App.Test.', DnsType.AAAA, 1232);
    const q = out.subarray(0, length);
    expect(q.readUInt16BE(0)).toBe(0xbeef);
    expect(q.readUInt16BE(2)).toBe(0x0100); // RD only
    expect([q.readUInt16BE(4), q.readUInt16BE(6), q.readUInt16BE(8), q.readUInt16BE(10)]).toEqual([1, 0, 0, 1]);
    expect(q.subarray(12, 12 + 10)).toEqual(name('app.test'));
    expect(q.readUInt16BE(22)).toBe(28);
    expect(q.readUInt16BE(24)).toBe(1);
    // OPT: root name, type 41, class = payload size, ttl 0, no data.
    expect([...q.subarray(26)]).toEqual([0, 0, 41, 1232 >> 8, 1232 & 0xff, 0, 0, 0, 0, 0, 0]);
  });

  it('refuses names DNS cannot carry', () => {
    expect(invalidName('app.test')).toBeNull();
    expect(invalidName('a..b')).toBe('empty label');
    expect(invalidName(`${'x'.repeat(64)}.test`)).toMatch(/longer than 63/);
    expect(invalidName(Array.from({ length: 60 }, () => 'abcd').join('.'))).toMatch(/longer than 255/);
    expect(invalidName('bad name.test')).toMatch(/character/);
    expect(normalizeName('A.B.')).toBe('a.b');
  });
});

describe('DNS responses', () => {
  it('reads A, AAAA, CNAME and SRV answers, compressed names included, and the additional section', () => {
    const msg = response({
      question: question('_web._tcp.app.test', DnsType.SRV),
      answers: [
        record(TO_QUESTION, DnsType.SRV, Buffer.concat([Buffer.from([0, 1, 0, 10, 0x1f, 0x90]), name('a1.app.test')])),
        record(TO_QUESTION, DnsType.CNAME, name('other.test')),
      ],
      additional: [record(name('a1.app.test'), DnsType.A, Buffer.from([127, 0, 0, 2])), record(name('a1.app.test'), DnsType.AAAA, Buffer.from('20010db8000000000000000000000001', 'hex'))],
    });
    const decoded = decodeResponse(msg);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    const r = decoded.response;
    expect(r.id).toBe(0x1234);
    expect(r.rcode).toBe(0);
    expect(r.question).toEqual({ name: '_web._tcp.app.test', type: DnsType.SRV });
    expect(r.answers).toEqual([
      { name: '_web._tcp.app.test', type: DnsType.SRV, ttl: 30, priority: 1, weight: 10, port: 8080, target: 'a1.app.test' },
      { name: '_web._tcp.app.test', type: DnsType.CNAME, ttl: 30, target: 'other.test' },
    ]);
    expect(r.additional).toEqual([
      { name: 'a1.app.test', type: DnsType.A, ttl: 30, address: '127.0.0.2' },
      { name: 'a1.app.test', type: DnsType.AAAA, ttl: 30, address: '2001:db8::1' },
    ]);
  });

  it('gives the rcode and the truncation flag', () => {
    const nx = decodeResponse(response({ flags: 0x8183, question: question('gone.test', DnsType.A) }));
    expect(nx.ok && nx.response.rcode).toBe(3);
    const tc = decodeResponse(response({ flags: 0x8380, question: question('big.test', DnsType.A) }));
    expect(tc.ok && tc.response.truncated).toBe(true);
  });

  it('refuses what does not add up: a query, pointer loops, forward pointers, overruns, bad lengths', () => {
    expect(decodeResponse(Buffer.alloc(5))).toEqual({ ok: false, reason: 'shorter than a header' });
    expect(decodeResponse(response({ flags: 0x0100, question: question('a.test', 1) }))).toMatchObject({ ok: false, reason: 'a query, not a response' });
    // A name that points at itself.
    const loop = response({ answers: [] });
    loop.writeUInt16BE(1, 4);
    const self = Buffer.concat([loop, Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
    expect(decodeResponse(self)).toMatchObject({ ok: false, reason: 'name pointer does not point backwards' });
    // An answer whose data length runs past the datagram.
    const overrun = response({ question: question('a.test', 1), answers: [record(TO_QUESTION, DnsType.A, Buffer.from([1, 2, 3, 4]))] });
    expect(decodeResponse(overrun.subarray(0, overrun.length - 2))).toMatchObject({ ok: false, reason: 'record data runs past the end' });
    // An A record of 5 bytes.
    expect(decodeResponse(response({ question: question('a.test', 1), answers: [record(TO_QUESTION, DnsType.A, Buffer.from([1, 2, 3, 4, 5]))] }))).toMatchObject({
      ok: false,
      reason: 'A record of a length other than 4',
    });
  });

  it('never throws on random or mangled datagrams (bounded fuzz)', () => {
    const good = response({
      question: question('_web._tcp.app.test', DnsType.SRV),
      answers: [record(TO_QUESTION, DnsType.SRV, Buffer.concat([Buffer.from([0, 1, 0, 10, 0x1f, 0x90]), name('a1.app.test')]))],
      additional: [record(name('a1.app.test'), DnsType.A, Buffer.from([127, 0, 0, 2]))],
    });
    for (let i = 0; i < 5000; i++) {
      const mangled = Buffer.from(good);
      for (let j = 0; j < 1 + (i % 6); j++) mangled[Math.floor(Math.random() * mangled.length)] = Math.floor(Math.random() * 256);
      const cut = i % 3 === 0 ? mangled.subarray(0, Math.floor(Math.random() * mangled.length)) : mangled;
      expect(() => decodeResponse(cut)).not.toThrow();
      expect(() => decodeResponse(randomBytes(i % 600))).not.toThrow();
    }
  });
});
