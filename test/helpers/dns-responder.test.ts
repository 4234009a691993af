/** The test DNS responder speaks real DNS: node:dns (c-ares) resolves through it. */
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startDnsResponder, type DnsResponder } from './dns-responder.js';

describe('dns-responder', () => {
  let dns: DnsResponder;
  let resolver: Resolver;

  beforeEach(async () => {
    dns = await startDnsResponder();
    resolver = new Resolver({ timeout: 300, tries: 1 });
    resolver.setServers([`127.0.0.1:${dns.port}`]);
  });
  afterEach(async () => {
    resolver.cancel();
    await dns.close();
  });

  it('answers A and AAAA with their TTL', async () => {
    dns.set('App.Test', { a: ['127.0.0.2', '127.0.0.3'], aaaa: ['::1', '2001:db8::1:2', '::ffff:127.0.0.9'], ttl: 7 });
    expect(await resolver.resolve4('app.test', { ttl: true })).toEqual([
      { address: '127.0.0.2', ttl: 7 },
      { address: '127.0.0.3', ttl: 7 },
    ]);
    expect(await resolver.resolve6('APP.test.')).toEqual(['::1', '2001:db8::1:2', '::ffff:127.0.0.9']);
    expect(dns.countQueries('app.test')).toBe(2);
    expect(dns.countQueries('app.test', 'AAAA')).toBe(1);
    expect(dns.queries[0]).toMatchObject({ name: 'app.test', type: 'A', typeCode: 1, rd: true, outcome: 'NOERROR', answers: 2 });
  });

  it('answers SRV, and follows a CNAME', async () => {
    dns.set('_web._tcp.app.test', {
      srv: [
        { priority: 0, weight: 10, port: 8081, target: 'a1.app.test' },
        { priority: 1, weight: 65535, port: 8082, target: 'a2.app.test' },
      ],
      additional: true,
    });
    dns.set('a1.app.test', { a: ['127.0.0.11'] });
    dns.set('alias.test', { cname: 'a1.app.test' });
    expect(await resolver.resolveSrv('_web._tcp.app.test')).toEqual([
      { priority: 0, weight: 10, port: 8081, name: 'a1.app.test' },
      { priority: 1, weight: 65535, port: 8082, name: 'a2.app.test' },
    ]);
    expect(await resolver.resolve4('alias.test')).toEqual(['127.0.0.11']);
  });

  it('NXDOMAIN for unknown and deleted names, NOERROR/no data for a missing type, REFUSED', async () => {
    await expect(resolver.resolve4('unknown.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    dns.set('v4only.test', { a: ['127.0.0.2'] });
    await expect(resolver.resolve6('v4only.test')).rejects.toMatchObject({ code: 'ENODATA' });
    dns.delete('v4only.test');
    await expect(resolver.resolve4('v4only.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    dns.nxdomain('gone.test');
    await expect(resolver.resolve4('gone.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    dns.refuse('x.test');
    await expect(resolver.resolve4('x.test')).rejects.toMatchObject({ code: 'EREFUSED' });
    dns.servfail('y.test');
    await expect(resolver.resolve4('y.test')).rejects.toMatchObject({ code: 'ESERVFAIL' });
    expect(dns.queries.map((q) => q.outcome)).toEqual(['NXDOMAIN', 'NOERROR', 'NXDOMAIN', 'NXDOMAIN', 'REFUSED', 'SERVFAIL']);
  });

  it('never answers a silenced name', async () => {
    dns.silence('slow.test');
    await expect(resolver.resolve4('slow.test')).rejects.toMatchObject({ code: 'ETIMEOUT' });
    expect(dns.countQueries('slow.test', 'A')).toBeGreaterThanOrEqual(1);
    expect(dns.queries.every((q) => q.outcome === 'silenced')).toBe(true);
  });

  it('parses a compressed EDNS0 query, echoes id and question, and replies with OPT', async () => {
    dns.set('app.test', { a: ['127.0.0.2'], ttl: 3 });
    // A hand-made query: id 0xbeef, RD, question "app.test" A IN, then an OPT record (payload
    // 1232) in the additional section, followed by a useless record whose name is a pointer to
    // the question name, to exercise compression in queries.
    const name = Buffer.from([3, ...Buffer.from('app'), 4, ...Buffer.from('test'), 0]);
    const header = Buffer.from([0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 2]);
    const question = Buffer.concat([name, Buffer.from([0, 1, 0, 1])]);
    const opt = Buffer.from([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    const pointed = Buffer.from([0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 0, 0, 1, 0]);
    const reply = await exchange(dns.port, Buffer.concat([header, question, opt, pointed]));
    expect(reply.readUInt16BE(0)).toBe(0xbeef);
    const flags = reply.readUInt16BE(2);
    expect(flags & 0x8000).toBeTruthy(); // QR
    expect(flags & 0x0400).toBeTruthy(); // AA
    expect(flags & 0x0100).toBeTruthy(); // RD echoed
    expect(flags & 0x0080).toBeTruthy(); // RA
    expect(flags & 0x000f).toBe(0);
    expect([reply.readUInt16BE(4), reply.readUInt16BE(6), reply.readUInt16BE(8), reply.readUInt16BE(10)]).toEqual([1, 1, 0, 1]);
    expect(reply.subarray(12, 12 + question.length)).toEqual(question);
    // The answer (name, type, class, ttl, rdlength, rdata), then the OPT record.
    let pos = 12 + question.length;
    expect(reply.subarray(pos, pos + name.length)).toEqual(name);
    pos += name.length;
    expect([reply.readUInt16BE(pos), reply.readUInt16BE(pos + 2), reply.readUInt32BE(pos + 4), reply.readUInt16BE(pos + 8)]).toEqual([1, 1, 3, 4]);
    expect([...reply.subarray(pos + 10, pos + 14)]).toEqual([127, 0, 0, 2]);
    pos += 14;
    expect(reply[pos]).toBe(0);
    expect(reply.readUInt16BE(pos + 1)).toBe(41);
    expect(reply.length).toBe(pos + 11);
    expect(dns.queries[0]).toMatchObject({ id: 0xbeef, edns: 1232, rd: true });
  });

  it('puts the A and AAAA records of SRV targets in the additional section when asked', async () => {
    dns.set('a1.app.test', { a: ['127.0.0.11'], aaaa: ['::1'] });
    dns.set('_web._tcp.app.test', { srv: [{ priority: 0, weight: 10, port: 8081, target: 'a1.app.test' }], additional: true });
    dns.set('_bare._tcp.app.test', { srv: [{ priority: 0, weight: 10, port: 8081, target: 'a1.app.test' }] });
    const query = (label: string): Buffer =>
      Buffer.concat([
        Buffer.from([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1]),
        Buffer.from(`${String.fromCharCode(label.length)}${label}\x04_tcp\x03app\x04test\x00\x00\x21\x00\x01`, 'latin1'),
        Buffer.from([0, 0, 41, 0x02, 0x00, 0, 0, 0, 0, 0, 0]),
      ]);
    const withAdditional = await exchange(dns.port, query('_web'));
    expect([withAdditional.readUInt16BE(6), withAdditional.readUInt16BE(10)]).toEqual([1, 3]); // SRV; A + AAAA + OPT
    const bare = await exchange(dns.port, query('_bare'));
    expect([bare.readUInt16BE(6), bare.readUInt16BE(10)]).toEqual([1, 1]); // SRV; OPT only
  });

  it('without EDNS, drops additional records, then truncates, to stay within 512 bytes', async () => {
    const srv = Array.from({ length: 6 }, (_, i) => ({ priority: 0, weight: 1, port: 8000 + i, target: `t${i}.app.test` }));
    dns.set('_few._tcp.app.test', { srv, additional: true });
    for (let i = 0; i < 6; i++) dns.set(`t${i}.app.test`, { aaaa: ['2001:db8::1', '2001:db8::2'] });
    expect(await resolver.resolveSrv('_few._tcp.app.test')).toHaveLength(6);
    dns.set('_many._tcp.app.test', { srv: [...srv, ...srv, ...srv, ...srv] });
    const query = Buffer.concat([
      Buffer.from([0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
      Buffer.from('\x05_many\x04_tcp\x03app\x04test\x00\x00\x21\x00\x01', 'latin1'),
    ]);
    const reply = await exchange(dns.port, query);
    expect(reply.readUInt16BE(2) & 0x0200).toBeTruthy(); // TC
    expect(reply.readUInt16BE(6)).toBe(0);
    expect(reply.readUInt16BE(10)).toBe(0); // no OPT: the query had none
  });
});

async function exchange(port: number, query: Buffer): Promise<Buffer> {
  const socket = createSocket('udp4');
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no reply')), 2000);
      socket.once('message', (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      socket.send(query, port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}
