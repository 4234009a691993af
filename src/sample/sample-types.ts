/**
 * Samples: the typed values fetches produce and converters transform (HAProxy's struct sample),
 * and HAProxy 2.6's casts between their types (sample.c's sample_casts table). Binary samples are
 * kept as latin1 strings (one char per byte), so that binary and text samples share the string
 * matching methods without copies.
 */
import { formatIpv6, parseIpv4, parseIpv6 } from '../config/values.js';
import type { SocketAddress } from '../address.js';

export type SampleType = 'bool' | 'int' | 'ip' | 'str' | 'bin';
export const SAMPLE_TYPES: readonly SampleType[] = ['bool', 'int', 'ip', 'str', 'bin'];

export type Sample =
  | { readonly type: 'bool'; readonly value: boolean }
  | { readonly type: 'int'; readonly value: number }
  /** 4 or 16 bytes; an IPv4-mapped IPv6 address of a socket is given as IPv4. */
  | { readonly type: 'ip'; readonly family: 'ipv4' | 'ipv6'; readonly bytes: Uint8Array }
  | { readonly type: 'str'; readonly value: string }
  /** Bytes as a latin1 string. */
  | { readonly type: 'bin'; readonly value: string };

export const boolSample = (value: boolean): Sample => ({ type: 'bool', value });
export const strSample = (value: string): Sample => ({ type: 'str', value });
export const binSample = (value: string): Sample => ({ type: 'bin', value });

/** HAProxy's integers are signed 64-bit; epoxy's stay within the exact range of a double. */
export function intSample(value: number): Sample {
  const n = Math.trunc(value);
  return { type: 'int', value: n > Number.MAX_SAFE_INTEGER ? Number.MAX_SAFE_INTEGER : n < Number.MIN_SAFE_INTEGER ? Number.MIN_SAFE_INTEGER : n };
}

/**
 * Which casts exist, as HAProxy's table: bool and int go everywhere but bin/ip (bool) and ip's
 * bool; ip goes to int (IPv4 only), str and bin; str goes everywhere (str→int reads leading
 * digits); bin goes to str only. A matching method or converter whose input the sample cannot be
 * cast to is refused when the configuration is read.
 */
const CASTS: Readonly<Record<SampleType, readonly SampleType[]>> = {
  bool: ['bool', 'int', 'str'],
  int: ['bool', 'int', 'ip', 'str', 'bin'],
  ip: ['int', 'ip', 'str', 'bin'],
  str: ['bool', 'int', 'ip', 'str', 'bin'],
  bin: ['str', 'bin'],
};

export function canCast(from: SampleType, to: SampleType): boolean {
  return CASTS[from].includes(to);
}

/** HAProxy's read_int64(): optional sign, then digits, stopping at the first other character. */
function leadingInteger(text: string): number {
  const match = /^[+-]?\d*/.exec(text)![0];
  const n = Number(match === '' || match === '+' || match === '-' ? 0 : match);
  return Number.isFinite(n) ? n : 0;
}

export function ipText(family: 'ipv4' | 'ipv6', bytes: Uint8Array): string {
  return family === 'ipv4' ? Array.from(bytes).join('.') : formatIpv6(bytes);
}

/** An address written as text, or null. */
export function parseIpSample(text: string): Sample | null {
  const v4 = parseIpv4(text);
  if (v4 !== null) return { type: 'ip', family: 'ipv4', bytes: v4 };
  const v6 = parseIpv6(text);
  return v6 === null ? null : { type: 'ip', family: 'ipv6', bytes: v6 };
}

/** A socket's address as a sample; IPv4-mapped IPv6 addresses as IPv4. Unix sockets: none. */
export function addressSample(address: SocketAddress): Sample | null {
  const raw = address.bytes;
  if (address.family === 'ipv4') return { type: 'ip', family: 'ipv4', bytes: raw.subarray(4, 8) };
  if (address.family !== 'ipv6') return null;
  const bytes = raw.subarray(8, 24);
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? { type: 'ip', family: 'ipv4', bytes: bytes.subarray(12, 16) } : { type: 'ip', family: 'ipv6', bytes };
}

/** `sample` as `to`, or null when there is no such cast (or it fails: a string that is no address). */
export function castSample(sample: Sample, to: SampleType): Sample | null {
  if (sample.type === to) return sample;
  switch (sample.type) {
    case 'bool':
      if (to === 'int') return intSample(sample.value ? 1 : 0);
      if (to === 'str') return strSample(sample.value ? '1' : '0');
      return null;
    case 'int':
      if (to === 'bool') return boolSample(sample.value !== 0);
      if (to === 'str') return strSample(String(sample.value));
      if (to === 'ip') {
        // c_int2ip: the low 32 bits, in network order.
        const n = sample.value >>> 0;
        return { type: 'ip', family: 'ipv4', bytes: Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff) };
      }
      if (to === 'bin') {
        // c_int2bin: 8 bytes, big-endian.
        const bytes = Buffer.alloc(8);
        bytes.writeBigInt64BE(BigInt(sample.value));
        return binSample(bytes.toString('latin1'));
      }
      return null;
    case 'ip':
      if (to === 'int') {
        if (sample.family !== 'ipv4') return null;
        const b = sample.bytes;
        return intSample(((b[0]! << 24) >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]!);
      }
      if (to === 'str') return strSample(ipText(sample.family, sample.bytes));
      if (to === 'bin') return binSample(Buffer.from(sample.bytes).toString('latin1'));
      return null;
    case 'str':
      if (to === 'int') return intSample(leadingInteger(sample.value));
      if (to === 'bool') return boolSample(leadingInteger(sample.value) !== 0);
      if (to === 'ip') return parseIpSample(sample.value);
      if (to === 'bin') return binSample(sample.value);
      return null;
    case 'bin':
      return to === 'str' ? strSample(sample.value) : null;
  }
}

/** The sample as text, for messages and dynamic names; null when it has no string form. */
export function sampleText(sample: Sample): string | null {
  const text = castSample(sample, 'str');
  return text !== null && text.type === 'str' ? text.value : null;
}
