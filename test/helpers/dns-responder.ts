/**
 * A scriptable DNS server over UDP on 127.0.0.1 (random port), for tests of run-time resolution.
 *
 * It is written independently of epoxy's own DNS code (src/dns/), so that a test using it checks
 * epoxy's encoder and parser against a second implementation, and it speaks enough real DNS for
 * HAProxy and node:dns to use it (see dns-responder.test.ts).
 *
 * Behaviour, per question name (case-insensitive, trailing dot ignored):
 * - set(name, records): answers A / AAAA / SRV / CNAME from `records`; NOERROR with no answer
 *   when the name is known but has no record of the asked type.
 * - nxdomain(name), or any name never set: NXDOMAIN (rcode 3).
 * - refuse(name): REFUSED (rcode 5).   servfail(name): SERVFAIL (rcode 2).
 * - silence(name): never answers (the query is still recorded).
 * - delete(name): forgets the name, so it answers NXDOMAIN again.
 * Replies echo the id, the RD bit and the question, set QR, AA and RA, and carry an OPT record
 * when the query had one. A reply that does not fit the client's size (512 bytes, or the
 * payload size of its OPT record) loses its additional records first, then is truncated (TC).
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';

export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

export interface DnsRecords {
  a?: string[];
  aaaa?: string[];
  srv?: SrvRecord[];
  /** An alias: answered with a CNAME, followed by the target's records of the asked type (if known). */
  cname?: string;
  /** TTL of every record of this name, in seconds (default 1). */
  ttl?: number;
  /** For SRV answers: put the A and AAAA records of the targets (when set) in the additional section. */
  additional?: boolean;
}

export type DnsTypeName = 'A' | 'NS' | 'CNAME' | 'SOA' | 'PTR' | 'MX' | 'TXT' | 'AAAA' | 'SRV' | 'OPT' | 'ANY' | `TYPE${number}`;

export interface DnsQuery {
  /** Question name, lower case, without the trailing dot. */
  name: string;
  type: DnsTypeName;
  typeCode: number;
  id: number;
  /** Recursion desired was set. */
  rd: boolean;
  /** UDP payload size of the query's OPT record, or null when it had none. */
  edns: number | null;
  /** Source address and port of the query. */
  from: { address: string; port: number };
  /** Date.now() at reception. */
  at: number;
  /** What was done: the rcode sent, or 'silenced' / 'malformed' when nothing was. */
  outcome: 'NOERROR' | 'NXDOMAIN' | 'REFUSED' | 'SERVFAIL' | 'NOTIMP' | 'FORMERR' | 'silenced' | 'malformed';
  /** Number of answer records sent. */
  answers: number;
}

export interface DnsResponder {
  readonly address: string;
  readonly port: number;
  /** Every query received, oldest first. */
  readonly queries: DnsQuery[];
  set(name: string, records: DnsRecords): void;
  delete(name: string): void;
  nxdomain(name: string): void;
  refuse(name: string): void;
  servfail(name: string): void;
  silence(name: string): void;
  /** Queries received, optionally only for this name and/or type. */
  countQueries(name?: string, type?: DnsTypeName): number;
  /** Empties `queries`. */
  clearQueries(): void;
  close(): Promise<void>;
}

const TYPES = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, ANY: 255 } as const;
const TYPE_NAMES = new Map<number, DnsTypeName>(Object.entries(TYPES).map(([n, c]) => [c, n as DnsTypeName]));
const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
const CLASS_IN = 1;
/** UDP payload size announced in our own OPT record. */
const OUR_PAYLOAD = 4096;

type Entry =
  | { kind: 'records'; records: DnsRecords }
  | { kind: 'nxdomain' | 'refuse' | 'servfail' | 'silence' };

/** A name in canonical form: lower case, no trailing dot. */
function canonical(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function typeName(code: number): DnsTypeName {
  return TYPE_NAMES.get(code) ?? `TYPE${code}`;
}

class Malformed extends Error {}

/** Reads a possibly compressed name at `offset`; returns it and the offset just past it. */
function readName(msg: Buffer, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let pos = offset;
  let next = -1;
  for (let jumps = 0; ; ) {
    if (pos >= msg.length) throw new Malformed('name runs past the message');
    const len = msg[pos]!;
    if (len === 0) {
      if (next < 0) next = pos + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= msg.length) throw new Malformed('truncated pointer');
      if (next < 0) next = pos + 2;
      pos = ((len & 0x3f) << 8) | msg[pos + 1]!;
      if (++jumps > 64) throw new Malformed('pointer loop');
      continue;
    }
    if ((len & 0xc0) !== 0) throw new Malformed('bad label type');
    if (pos + 1 + len > msg.length) throw new Malformed('label runs past the message');
    labels.push(msg.toString('latin1', pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  return { name: labels.join('.').toLowerCase(), next };
}

/** Encodes a name without compression. */
function encodeName(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const label of canonical(name).split('.')) {
    if (label === '') continue;
    const bytes = Buffer.from(label, 'latin1');
    if (bytes.length > 63) throw new Error(`DNS label too long: ${label}`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

function ipv4Bytes(address: string): Buffer {
  if (!isIPv4(address)) throw new Error(`not an IPv4 address: ${address}`);
  return Buffer.from(address.split('.').map(Number));
}

function ipv6Bytes(address: string): Buffer {
  if (!isIPv6(address)) throw new Error(`not an IPv6 address: ${address}`);
  let text = address.replace(/%.*$/, '');
  // A trailing dotted IPv4 part becomes two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = ipv4Bytes(v4[1]!);
    text = text.slice(0, -v4[1]!.length) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...new Array<string>(zeros).fill('0'), ...tailGroups];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

interface Rr {
  name: string;
  type: number;
  ttl: number;
  rdata: Buffer;
}

function encodeRr(rr: Rr): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(rr.type, 0);
  fixed.writeUInt16BE(CLASS_IN, 2);
  fixed.writeUInt32BE(rr.ttl >>> 0, 4);
  fixed.writeUInt16BE(rr.rdata.length, 8);
  return Buffer.concat([encodeName(rr.name), fixed, rr.rdata]);
}

function optRr(payload: number): Buffer {
  const opt = Buffer.alloc(11);
  opt[0] = 0; // root name
  opt.writeUInt16BE(TYPES.OPT, 1);
  opt.writeUInt16BE(payload, 3); // class = UDP payload size
  opt.writeUInt32BE(0, 5); // extended rcode 0, version 0, flags 0
  opt.writeUInt16BE(0, 9); // no options
  return opt;
}

export async function startDnsResponder(options: { port?: number } = {}): Promise<DnsResponder> {
  const zone = new Map<string, Entry>();
  const queries: DnsQuery[] = [];
  const socket: Socket = createSocket('udp4');

  function addressRrs(name: string, type: number, depth = 0): Rr[] {
    const entry = zone.get(name);
    if (entry?.kind !== 'records' || depth > 8) return [];
    const r = entry.records;
    const ttl = r.ttl ?? 1;
    if (r.cname !== undefined) {
      const target = canonical(r.cname);
      return [{ name, type: TYPES.CNAME, ttl, rdata: encodeName(target) }, ...addressRrs(target, type, depth + 1)];
    }
    if (type === TYPES.A) return (r.a ?? []).map((a) => ({ name, type, ttl, rdata: ipv4Bytes(a) }));
    if (type === TYPES.AAAA) return (r.aaaa ?? []).map((a) => ({ name, type, ttl, rdata: ipv6Bytes(a) }));
    if (type === TYPES.SRV) {
      return (r.srv ?? []).map((s) => {
        const fixed = Buffer.alloc(6);
        fixed.writeUInt16BE(s.priority, 0);
        fixed.writeUInt16BE(s.weight, 2);
        fixed.writeUInt16BE(s.port, 4);
        return { name, type, ttl, rdata: Buffer.concat([fixed, encodeName(s.target)]) };
      });
    }
    return [];
  }

  function build(
    id: number,
    flags: number,
    question: Buffer,
    answers: Rr[],
    additional: Rr[],
    edns: number | null,
  ): Buffer {
    const limit = edns === null ? 512 : Math.max(512, edns);
    const opt = edns === null ? [] : [optRr(OUR_PAYLOAD)];
    const assemble = (an: Rr[], ar: Rr[], tc: boolean): Buffer => {
      const header = Buffer.alloc(12);
      header.writeUInt16BE(id, 0);
      header.writeUInt16BE(flags | (tc ? 0x0200 : 0), 2);
      header.writeUInt16BE(1, 4);
      header.writeUInt16BE(an.length, 6);
      header.writeUInt16BE(0, 8);
      header.writeUInt16BE(ar.length + opt.length, 10);
      return Buffer.concat([header, question, ...an.map(encodeRr), ...ar.map(encodeRr), ...opt]);
    };
    let msg = assemble(answers, additional, false);
    if (msg.length > limit) msg = assemble(answers, [], false);
    if (msg.length > limit) msg = assemble([], [], true);
    return msg;
  }

  function handle(msg: Buffer, from: { address: string; port: number }): Buffer | null {
    const at = Date.now();
    if (msg.length < 12) return null;
    const id = msg.readUInt16BE(0);
    const inFlags = msg.readUInt16BE(2);
    const qr = (inFlags & 0x8000) !== 0;
    const opcode = (inFlags >> 11) & 0xf;
    const rd = (inFlags & 0x0100) !== 0;
    if (qr) return null; // a response: ignore
    const qdcount = msg.readUInt16BE(4);
    const ancount = msg.readUInt16BE(6);
    const nscount = msg.readUInt16BE(8);
    const arcount = msg.readUInt16BE(10);

    const record = (q: Omit<DnsQuery, 'id' | 'rd' | 'from' | 'at'>): void => {
      queries.push({ ...q, id, rd, from, at });
    };
    const bare = (rcode: number): Buffer => {
      const header = Buffer.alloc(12);
      header.writeUInt16BE(id, 0);
      header.writeUInt16BE(0x8000 | (opcode << 11) | (rd ? 0x0100 : 0) | 0x0080 | rcode, 2);
      return header;
    };

    let name: string;
    let qtype: number;
    let question: Buffer;
    let edns: number | null = null;
    try {
      if (qdcount !== 1) throw new Malformed('qdcount');
      const q = readName(msg, 12);
      if (q.next + 4 > msg.length) throw new Malformed('truncated question');
      name = q.name;
      qtype = msg.readUInt16BE(q.next);
      const qclass = msg.readUInt16BE(q.next + 2);
      question = Buffer.concat([encodeName(name), msg.subarray(q.next, q.next + 4)]);
      if (qclass !== CLASS_IN && qclass !== 255) throw new Malformed('class');
      // Skip answer and authority records, then look for OPT among the additional ones.
      let pos = q.next + 4;
      for (let i = 0; i < ancount + nscount + arcount; i++) {
        const rr = readName(msg, pos);
        if (rr.next + 10 > msg.length) throw new Malformed('truncated record');
        const type = msg.readUInt16BE(rr.next);
        const rdlength = msg.readUInt16BE(rr.next + 8);
        if (i >= ancount + nscount && type === TYPES.OPT) edns = msg.readUInt16BE(rr.next + 2);
        pos = rr.next + 10 + rdlength;
        if (pos > msg.length) throw new Malformed('truncated rdata');
      }
    } catch (error) {
      if (!(error instanceof Malformed)) throw error;
      record({ name: '', type: 'TYPE0', typeCode: 0, edns: null, outcome: 'FORMERR', answers: 0 });
      return bare(RCODE.FORMERR);
    }

    const base = { name, type: typeName(qtype), typeCode: qtype, edns };
    if (opcode !== 0) {
      record({ ...base, outcome: 'NOTIMP', answers: 0 });
      return build(id, 0x8000 | (opcode << 11) | (rd ? 0x0100 : 0) | 0x0080 | RCODE.NOTIMP, question, [], [], edns);
    }
    const entry = zone.get(name);
    const flags = (rcode: number): number => 0x8000 | 0x0400 | (rd ? 0x0100 : 0) | 0x0080 | rcode;
    if (entry !== undefined && entry.kind === 'silence') {
      record({ ...base, outcome: 'silenced', answers: 0 });
      return null;
    }
    if (entry === undefined || entry.kind === 'nxdomain') {
      record({ ...base, outcome: 'NXDOMAIN', answers: 0 });
      return build(id, flags(RCODE.NXDOMAIN), question, [], [], edns);
    }
    if (entry.kind === 'refuse' || entry.kind === 'servfail') {
      const outcome = entry.kind === 'refuse' ? 'REFUSED' : 'SERVFAIL';
      record({ ...base, outcome, answers: 0 });
      return build(id, flags(RCODE[outcome]), question, [], [], edns);
    }
    if (entry.kind !== 'records') return null; // unreachable: every other kind is handled above
    const answers = addressRrs(name, qtype);
    const additional: Rr[] = [];
    if (qtype === TYPES.SRV && entry.records.additional) {
      for (const srv of entry.records.srv ?? []) {
        const target = canonical(srv.target);
        additional.push(...addressRrs(target, TYPES.A), ...addressRrs(target, TYPES.AAAA));
      }
    }
    record({ ...base, outcome: 'NOERROR', answers: answers.length });
    return build(id, flags(RCODE.NOERROR), question, answers, additional, edns);
  }

  socket.on('message', (msg, rinfo) => {
    const reply = handle(msg, { address: rinfo.address, port: rinfo.port });
    if (reply) socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(options.port ?? 0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const { address, port } = socket.address();

  const put = (name: string, entry: Entry): void => {
    zone.set(canonical(name), entry);
  };
  return {
    address,
    port,
    queries,
    set: (name, records) => {
      for (const a of records.a ?? []) ipv4Bytes(a); // reject bad addresses now, not at query time
      for (const a of records.aaaa ?? []) ipv6Bytes(a);
      put(name, { kind: 'records', records: { ...records } });
    },
    delete: (name) => {
      zone.delete(canonical(name));
    },
    nxdomain: (name) => put(name, { kind: 'nxdomain' }),
    refuse: (name) => put(name, { kind: 'refuse' }),
    servfail: (name) => put(name, { kind: 'servfail' }),
    silence: (name) => put(name, { kind: 'silence' }),
    countQueries: (name, type) =>
      queries.filter((q) => (name === undefined || q.name === canonical(name)) && (type === undefined || q.type === type)).length,
    clearQueries: () => {
      queries.length = 0;
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
