/**
 * DNS messages (RFC 1035, RFC 2782 for SRV, RFC 6891 for EDNS0): the queries the resolvers send
 * and the answers they read. Only what resolving servers needs: one question, A / AAAA / SRV
 * answers, CNAME chains, and the additional section (where SRV answers carry their targets'
 * addresses).
 *
 * An answer comes from the network: every length and offset in it is checked against the
 * datagram before it is used, compression pointers may only point backwards (so a chain of them
 * cannot loop), and anything that does not add up makes the whole message invalid rather than
 * partly read. Decoding never throws; it returns the reason instead.
 */
import { isIP } from 'node:net';

/** Record types epoxy asks for or reads. */
export const DnsType = {
  A: 1,
  CNAME: 5,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
} as const;
export type QueryType = typeof DnsType.A | typeof DnsType.AAAA | typeof DnsType.SRV;

/** Response codes that change what the resolvers do (RFC 1035 4.1.1). */
export const DnsRcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
} as const;

const CLASS_IN = 1;
const HEADER_BYTES = 12;
// Header flag bits (RFC 1035 4.1.1).
const FLAG_QR = 0x8000; // a response
const FLAG_TC = 0x0200; // truncated: the rest did not fit the datagram
const FLAG_RD = 0x0100; // recursion desired: the nameserver resolves for us
const OPCODE_MASK = 0x7800;
const RCODE_MASK = 0x000f;
/** RFC 1035 2.3.4: a name is at most 255 bytes on the wire, a label at most 63. */
const MAX_NAME_BYTES = 255;
const MAX_LABEL_BYTES = 63;

/** A name as epoxy writes and compares them: lower case, no trailing dot. */
export function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/**
 * Why `name` cannot be asked for, or null when it can: empty labels, a label over 63 bytes, a
 * name over 255 bytes on the wire, or a byte outside printable ASCII.
 */
export function invalidName(name: string): string | null {
  const n = normalizeName(name);
  if (n.length === 0) return 'empty name';
  if (n.length + 2 > MAX_NAME_BYTES) return 'name longer than 255 bytes';
  for (const label of n.split('.')) {
    if (label.length === 0) return 'empty label';
    if (label.length > MAX_LABEL_BYTES) return `label '${label.slice(0, 20)}...' longer than 63 bytes`;
    if (!/^[\x21-\x7e]+$/.test(label)) return `label '${label}' has a character DNS cannot carry here`;
  }
  return null;
}

/**
 * Writes a query for `name` (checked with invalidName() beforehand) into `out`, which must hold
 * 512 bytes; returns the length. An EDNS0 OPT record announces `payloadSize`: how big an answer
 * may be before the nameserver truncates it.
 */
export function encodeQuery(out: Buffer, id: number, name: string, type: QueryType, payloadSize: number): number {
  out.writeUInt16BE(id & 0xffff, 0);
  out.writeUInt16BE(FLAG_RD, 2);
  out.writeUInt16BE(1, 4); // one question
  out.writeUInt16BE(0, 6);
  out.writeUInt16BE(0, 8);
  out.writeUInt16BE(1, 10); // the OPT record
  let at = HEADER_BYTES;
  for (const label of normalizeName(name).split('.')) {
    out[at++] = label.length;
    at += out.write(label, at, 'latin1');
  }
  out[at++] = 0;
  out.writeUInt16BE(type, at);
  out.writeUInt16BE(CLASS_IN, at + 2);
  at += 4;
  // OPT pseudo-record (RFC 6891 6.1.2): root name, type 41, the class field is the UDP payload
  // size, the TTL field holds the extended rcode/version/flags (all 0), no options.
  out[at++] = 0;
  out.writeUInt16BE(DnsType.OPT, at);
  out.writeUInt16BE(payloadSize, at + 2);
  out.writeUInt32BE(0, at + 4);
  out.writeUInt16BE(0, at + 8);
  return at + 10;
}

export type DnsRecord =
  | { readonly name: string; readonly type: typeof DnsType.A | typeof DnsType.AAAA; readonly ttl: number; readonly address: string }
  | { readonly name: string; readonly type: typeof DnsType.CNAME; readonly ttl: number; readonly target: string }
  | {
      readonly name: string;
      readonly type: typeof DnsType.SRV;
      readonly ttl: number;
      readonly priority: number;
      readonly weight: number;
      readonly port: number;
      readonly target: string;
    };

export interface DnsResponse {
  readonly id: number;
  readonly rcode: number;
  /** The answer did not fit (TC): what is here is incomplete. */
  readonly truncated: boolean;
  readonly question: { readonly name: string; readonly type: number } | null;
  /** The answer section's records of the kinds above (others are skipped). */
  readonly answers: DnsRecord[];
  /** The additional section's A / AAAA records (SRV targets' addresses). */
  readonly additional: DnsRecord[];
}

export type Decoded = { readonly ok: true; readonly response: DnsResponse } | { readonly ok: false; readonly reason: string };

class Malformed extends Error {}

/** Reads a possibly compressed name at `start`; returns it and the offset just past it in place. */
function readName(msg: Buffer, start: number): [string, number] {
  const labels: string[] = [];
  let at = start;
  let end = -1; // where the name ends in place, once a pointer was followed
  let wireBytes = 0;
  // Each pointer must go strictly backwards from the one before: a loop is impossible, and the
  // walk is bounded by the message's length.
  let limit = start;
  for (;;) {
    if (at >= msg.length) throw new Malformed('name runs past the end');
    const len = msg[at]!;
    if (len === 0) {
      if (end < 0) end = at + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (at + 1 >= msg.length) throw new Malformed('name pointer runs past the end');
      const target = ((len & 0x3f) << 8) | msg[at + 1]!;
      if (target >= limit) throw new Malformed('name pointer does not point backwards');
      if (end < 0) end = at + 2;
      limit = target;
      at = target;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new Malformed('unknown label type');
    if (at + 1 + len > msg.length) throw new Malformed('label runs past the end');
    wireBytes += len + 1;
    if (wireBytes + 1 > MAX_NAME_BYTES) throw new Malformed('name longer than 255 bytes');
    labels.push(msg.toString('latin1', at + 1, at + 1 + len));
    at += 1 + len;
  }
  return [labels.join('.').toLowerCase(), end];
}

function readRecord(msg: Buffer, at: number): [DnsRecord | null, number] {
  const [name, afterName] = readName(msg, at);
  if (afterName + 10 > msg.length) throw new Malformed('record header runs past the end');
  const type = msg.readUInt16BE(afterName);
  const klass = msg.readUInt16BE(afterName + 2);
  const ttl = msg.readUInt32BE(afterName + 4);
  const length = msg.readUInt16BE(afterName + 8);
  const data = afterName + 10;
  const next = data + length;
  if (next > msg.length) throw new Malformed('record data runs past the end');
  if (klass !== CLASS_IN && type !== DnsType.OPT) return [null, next];
  switch (type) {
    case DnsType.A:
      if (length !== 4) throw new Malformed('A record of a length other than 4');
      return [{ name, type, ttl, address: `${msg[data]}.${msg[data + 1]}.${msg[data + 2]}.${msg[data + 3]}` }, next];
    case DnsType.AAAA: {
      if (length !== 16) throw new Malformed('AAAA record of a length other than 16');
      const groups: string[] = [];
      for (let i = 0; i < 16; i += 2) groups.push(msg.readUInt16BE(data + i).toString(16));
      return [{ name, type, ttl, address: compressIpv6(groups) }, next];
    }
    case DnsType.CNAME: {
      const [target, end] = readName(msg, data);
      if (end !== next) throw new Malformed('CNAME data of the wrong length');
      return [{ name, type, ttl, target }, next];
    }
    case DnsType.SRV: {
      if (length < 7) throw new Malformed('SRV record too short');
      const [target, end] = readName(msg, data + 6);
      if (end !== next) throw new Malformed('SRV data of the wrong length');
      return [{ name, type, ttl, priority: msg.readUInt16BE(data), weight: msg.readUInt16BE(data + 2), port: msg.readUInt16BE(data + 4), target }, next];
    }
    default:
      return [null, next];
  }
}

/** The canonical text of an IPv6 address (RFC 5952: the longest run of zero groups as '::'). */
function compressIpv6(groups: string[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const text = bestStart < 0 ? groups.join(':') : `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
  return isIP(text) === 6 ? text : groups.join(':');
}

/** Reads a datagram as a response; anything malformed gives its reason and nothing else. */
export function decodeResponse(msg: Buffer): Decoded {
  try {
    if (msg.length < HEADER_BYTES) throw new Malformed('shorter than a header');
    const id = msg.readUInt16BE(0);
    const flags = msg.readUInt16BE(2);
    if ((flags & FLAG_QR) === 0) throw new Malformed('a query, not a response');
    if ((flags & OPCODE_MASK) !== 0) throw new Malformed('not a standard query response');
    const qdcount = msg.readUInt16BE(4);
    const ancount = msg.readUInt16BE(6);
    const nscount = msg.readUInt16BE(8);
    const arcount = msg.readUInt16BE(10);
    if (qdcount > 1) throw new Malformed('more than one question');
    let at = HEADER_BYTES;
    let question: DnsResponse['question'] = null;
    if (qdcount === 1) {
      const [name, end] = readName(msg, at);
      if (end + 4 > msg.length) throw new Malformed('question runs past the end');
      question = { name, type: msg.readUInt16BE(end) };
      at = end + 4;
    }
    const answers: DnsRecord[] = [];
    const additional: DnsRecord[] = [];
    const truncated = (flags & FLAG_TC) !== 0;
    // A truncated message may end anywhere: the records that fit are read, the rest ignored.
    const sections: [number, DnsRecord[] | null][] = [
      [ancount, answers],
      [nscount, null],
      [arcount, additional],
    ];
    for (const [count, into] of sections) {
      for (let i = 0; i < count; i++) {
        if (truncated && at >= msg.length) break;
        const [record, next] = readRecord(msg, at);
        at = next;
        if (record === null || into === null) continue;
        if (into === additional && record.type !== DnsType.A && record.type !== DnsType.AAAA) continue;
        into.push(record);
      }
    }
    return { ok: true, response: { id, rcode: flags & RCODE_MASK, truncated, question, answers, additional } };
  } catch (error) {
    if (error instanceof Malformed) return { ok: false, reason: error.message };
    return { ok: false, reason: `unreadable (${(error as Error).message})` };
  }
}
