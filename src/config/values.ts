/**
 * Values as HAProxy's configuration writes them: integers, times (section 2.5) and IP networks
 * (section 7.1.6). Each parser returns the value or a reason, never throws.
 */
import { isIPv6 } from 'node:net';
import type { IpPattern } from './model.js';

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const no = <T>(reason: string): Parsed<T> => ({ ok: false, reason });

/** A decimal integer, optionally signed, within [min, max]. */
export function parseInteger(text: string, min: number, max: number): Parsed<number> {
  if (!/^[+-]?\d+$/.test(text)) return no(`'${text}' is not an integer`);
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    return no(`'${text}' is out of range (${min} to ${max})`);
  }
  return ok(value);
}

/** Largest time HAProxy stores: 2^31-1 ms (~24.8 days). */
export const MAX_TIME_MS = 2 ** 31 - 1;

/** Why parseTime refused a value. */
export type TimeError =
  | { kind: 'char'; char: string } // unexpected character (HAProxy reports the first one)
  | { kind: 'over' } // above 2147483647 ms
  | { kind: 'under' }; // a non-zero value that rounds to 0 ms

/**
 * HAProxy's time format (parse_time_err): digits, then an optional unit — us, ms, s, m, h or
 * d — milliseconds by default. Microseconds round up to the next millisecond. Unlike HAProxy
 * 2.6 (which only warns), anything after the unit is an error, as in later versions.
 */
export function parseTime(text: string): { ok: true; value: number } | { ok: false; error: TimeError } {
  const match = /^(\d+)(.*)$/s.exec(text);
  if (!match) return { ok: false, error: { kind: 'char', char: text[0] ?? '' } };
  const digits = match[1]!;
  const rest = match[2]!;
  let multiply = 1;
  let divide = 1;
  let unitLength = 0;
  if (rest.startsWith('us')) {
    divide = 1000;
    unitLength = 2;
  } else if (rest.startsWith('ms')) {
    unitLength = 2;
  } else if (rest.startsWith('s')) {
    multiply = 1000;
    unitLength = 1;
  } else if (rest.startsWith('m')) {
    multiply = 60_000;
    unitLength = 1;
  } else if (rest.startsWith('h')) {
    multiply = 3_600_000;
    unitLength = 1;
  } else if (rest.startsWith('d')) {
    multiply = 86_400_000;
    unitLength = 1;
  } else if (rest.length > 0) {
    return { ok: false, error: { kind: 'char', char: rest[0]! } };
  }
  if (rest.length > unitLength) return { ok: false, error: { kind: 'char', char: rest[unitLength]! } };
  // Digits beyond 16 would lose precision; such a value overflows anyway.
  if (digits.replace(/^0+/, '').length > 15) return { ok: false, error: { kind: 'over' } };
  const value = Number(digits);
  const ms = Math.ceil((value * multiply) / divide);
  if (ms > MAX_TIME_MS) return { ok: false, error: { kind: 'over' } };
  if (ms === 0 && value !== 0) return { ok: false, error: { kind: 'under' } };
  return { ok: true, value: ms };
}

// ---------------------------------------------------------------------------------------------
// IP networks

/**
 * An IPv4 address in inet_aton's decimal forms, as HAProxy accepts them in ACL patterns:
 * `a.b.c.d`, `a.b.c` (c fills 16 bits), `a.b` (b fills 24 bits). Octal and hexadecimal parts
 * are refused: `010.1.1.1` would silently mean 8.1.1.1.
 */
export function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length < 2 || parts.length > 4) return null;
  const numbers: number[] = [];
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,9})$/.test(part)) return null;
    numbers.push(Number(part));
  }
  const last = numbers.pop()!;
  for (const n of numbers) if (n > 255) return null;
  const lastBits = 8 * (4 - numbers.length);
  if (last >= 2 ** lastBits) return null;
  const bytes = new Uint8Array(4);
  numbers.forEach((n, i) => (bytes[i] = n));
  for (let i = 3, v = last; i >= numbers.length; i--, v = Math.floor(v / 256)) bytes[i] = v % 256;
  return bytes;
}

/** A strict dotted quad (what inet_pton takes), for netmasks. */
function parseDottedQuad(text: string): Uint8Array | null {
  return text.split('.').length === 4 ? parseIpv4(text) : null;
}

/** The 16 bytes of an IPv6 address (validated by node:net, embedded IPv4 allowed). */
export function parseIpv6(text: string): Uint8Array | null {
  if (!isIPv6(text) || text.includes('%')) return null;
  let head = text;
  const tailBytes: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const quad = parseDottedQuad(v4[1]!);
    if (quad === null) return null;
    head = text.slice(0, -v4[1]!.length);
    // '::1.2.3.4' leaves '::', 'x::1.2.3.4' leaves 'x::', 'x:y:...:1.2.3.4' leaves a trailing ':'.
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
    tailBytes.push(...quad);
  }
  const groupsWanted = 8 - tailBytes.length / 2;
  const [left = '', right] = head.split('::');
  const leftGroups = left === '' ? [] : left.split(':');
  const rightGroups = right === undefined || right === '' ? [] : right.split(':');
  const missing = groupsWanted - leftGroups.length - rightGroups.length;
  if (right === undefined ? missing !== 0 : missing < 0) return null;
  const groups = [...leftGroups, ...new Array<string>(missing).fill('0'), ...rightGroups];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    bytes[i * 2] = v >> 8;
    bytes[i * 2 + 1] = v & 0xff;
  });
  bytes.set(tailBytes, 16 - tailBytes.length);
  return bytes;
}

/** RFC 5952 text of 16 bytes: lower case, the longest run of zero groups (≥ 2) as '::'. */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** Prefix length of a contiguous netmask, or -1. */
function maskLength(mask: Uint8Array): number {
  let length = 0;
  let ended = false;
  for (const byte of mask) {
    for (let bit = 7; bit >= 0; bit--) {
      const set = (byte >> bit) & 1;
      if (set && ended) return -1;
      if (set) length++;
      else ended = true;
    }
  }
  return length;
}

function clearHostBits(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let bit = prefix; bit < out.length * 8; bit++) out[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return out;
}

/**
 * An ACL's IP pattern: an address, optionally with `/bits` or (IPv4) a dotted netmask. Host
 * names are refused: epoxy does not resolve names while parsing.
 */
export function parseIpPattern(text: string): Parsed<IpPattern> {
  const invalid = no<IpPattern>(`'${text}' is not a valid IPv4 or IPv6 address`);
  const slash = text.lastIndexOf('/');
  const host = slash < 0 ? text : text.slice(0, slash);
  const maskText = slash < 0 ? null : text.slice(slash + 1);

  const v4 = parseIpv4(host);
  if (v4 !== null) {
    let prefix = 32;
    if (maskText !== null) {
      if (maskText.includes('.')) {
        const mask = parseDottedQuad(maskText);
        if (mask === null) return invalid;
        prefix = maskLength(mask);
        if (prefix < 0) return no(`'${text}': non-contiguous netmasks are not supported`);
      } else {
        const parsed = parseInteger(maskText, 0, 32);
        if (!parsed.ok || maskText.startsWith('+') || maskText.startsWith('-')) return invalid;
        prefix = parsed.value;
      }
    }
    const bytes = clearHostBits(v4, prefix);
    return ok({ family: 'ipv4', address: Array.from(bytes).join('.'), bytes, prefix, text });
  }

  const v6 = parseIpv6(host);
  if (v6 !== null) {
    let prefix = 128;
    if (maskText !== null) {
      const parsed = parseInteger(maskText, 0, 128);
      if (!parsed.ok || !/^\d+$/.test(maskText)) return invalid;
      prefix = parsed.value;
    }
    const bytes = clearHostBits(v6, prefix);
    return ok({ family: 'ipv6', address: formatIpv6(bytes), bytes, prefix, text });
  }

  if (/^[a-z0-9.-]+$/i.test(host) && /[a-z]/i.test(host)) {
    return no(`'${text}' is not a valid IPv4 or IPv6 address (host names are not resolved in ACL patterns: write an address)`);
  }
  return invalid;
}
