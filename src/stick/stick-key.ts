/**
 * Stick-table keys: the sample a `track-sc`/`stick` rule names, cast to the table's key type
 * and written into the fixed-length bytes the shared table compares (HAProxy's
 * stktable_fetch_key() and its casts: an IPv4 address into an ipv6 table is v4-mapped, an
 * address into a string table is its text, an integer into an ip table is that IPv4 address).
 */
import type { StickKeyType, Where } from '../config/model.js';
import type { Parsed } from '../config/values.js';
import { compileExpression, evaluateExpression, firstSample, parseExpression, type SampleExpr, type SampleScope } from '../sample/expression.js';
import { NOT_YET } from '../sample/fetches.js';
import { binSample, castSample, intSample, ipText, parseIpSample, strSample, type Sample } from '../sample/sample-types.js';
import type { ConnectionFacts } from '../session/session-types.js';

/** A key's fetch at run time: the sample, null (no key: nothing tracked), or WAIT (a content key not in yet). */
export const WAIT = 'wait';
export type KeyFetch = (facts: ConnectionFacts) => Sample | null | typeof WAIT;

/**
 * Parses a key expression (any sample expression: `src`, `req.ssl_sni,lower`, `src,ipmask(24)`)
 * for a rule; the reason in HAProxy's words when it cannot be one.
 */
export function parseStickKey(text: string, beforeContent: boolean, readFile: ((path: string) => string) | undefined): Parsed<SampleExpr> {
  const parsed = parseExpression(text, { label: 'sample fetch expression', ...(readFile !== undefined && { readFile }) });
  if (!parsed.ok) return parsed;
  if (beforeContent && parsed.value.fetch.content === true) {
    return { ok: false, reason: `fetch method '${parsed.value.written}' extracts information from 'request buffer', none of which is available here` };
  }
  return parsed;
}

/** Compiles a parsed key for the proxy named by `scope`. */
export function compileStickKey(expr: SampleExpr, where: Where, scope: SampleScope): KeyFetch {
  const compiled = compileExpression(expr, where, scope);
  return (facts) => {
    const output = evaluateExpression(compiled, facts);
    return output === NOT_YET ? WAIT : firstSample(output);
  };
}

/**
 * Writes `sample` cast to `type` into `out` (the table's key length, zero-filled first).
 * Returns false when the cast does not exist (an IPv6 address into an `ip` table): no key.
 */
export function encodeKey(sample: Sample, type: StickKeyType, out: Uint8Array): boolean {
  out.fill(0);
  switch (type) {
    case 'ip': {
      const ip = castSample(sample, 'ip');
      if (ip === null || ip.type !== 'ip') return false;
      if (ip.family === 'ipv4') out.set(ip.bytes.subarray(0, 4));
      else if (isV4Mapped(ip.bytes)) out.set(ip.bytes.subarray(12, 16));
      else return false;
      return true;
    }
    case 'ipv6': {
      const ip = castSample(sample, 'ip');
      if (ip === null || ip.type !== 'ip') return false;
      if (ip.family === 'ipv6') out.set(ip.bytes.subarray(0, 16));
      else {
        out[10] = 0xff;
        out[11] = 0xff;
        out.set(ip.bytes.subarray(0, 4), 12);
      }
      return true;
    }
    case 'integer': {
      const n = castSample(sample, 'int');
      if (n === null || n.type !== 'int') return false;
      new DataView(out.buffer, out.byteOffset).setUint32(0, n.value >>> 0);
      return true;
    }
    case 'string':
    case 'binary': {
      const cast = castSample(sample, type === 'string' ? 'str' : 'bin');
      if (cast === null || (cast.type !== 'str' && cast.type !== 'bin')) return false;
      // Longer keys are truncated to the table's length, as HAProxy stores them.
      const bytes = Buffer.from(cast.value, cast.type === 'str' ? 'utf8' : 'latin1');
      out.set(bytes.subarray(0, out.length));
      return true;
    }
  }
}

function isV4Mapped(bytes: Uint8Array): boolean {
  return bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
}

/** A key's text as `show table` prints it (`key=127.0.0.1`). */
export function keyText(key: Uint8Array, type: StickKeyType): string {
  switch (type) {
    case 'ip':
      return Array.from(key.subarray(0, 4)).join('.');
    case 'ipv6':
      return ipText('ipv6', key.subarray(0, 16));
    case 'integer':
      return String(new DataView(key.buffer, key.byteOffset).getUint32(0));
    case 'string': {
      const end = key.indexOf(0);
      return Buffer.from(key.subarray(0, end < 0 ? key.length : end)).toString('utf8');
    }
    case 'binary':
      return Buffer.from(key).toString('hex').toUpperCase();
  }
}

/** Parses a key written on the runtime API (`show table t key 10.0.0.1`) into table bytes; false if it is not one. */
export function parseKeyText(text: string, type: StickKeyType, out: Uint8Array): boolean {
  switch (type) {
    case 'ip':
    case 'ipv6': {
      const ip = parseIpSample(text);
      return ip !== null && encodeKey(ip, type, out);
    }
    case 'integer':
      return /^\d+$/.test(text) && Number(text) <= 0xffffffff && encodeKey(intSample(Number(text)), 'integer', out);
    case 'string':
      return encodeKey(strSample(text), 'string', out);
    case 'binary': {
      if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return false;
      return encodeKey(binSample(Buffer.from(text, 'hex').toString('latin1')), 'binary', out);
    }
  }
}
