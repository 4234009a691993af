/**
 * Stick-table keys: the sample a `track-sc`/`stick` rule names, cast to the table's key type
 * and written into the fixed-length bytes the shared table compares (HAProxy's
 * stktable_fetch_key() and its casts: an IPv4 address into an ipv6 table is v4-mapped, an
 * address into a string table is its text, an integer into an ip table is that IPv4 address).
 */
import type { SocketAddress } from '../address.js';
import type { StickKeyType } from '../config/model.js';
import type { ConnectionFacts } from '../session/session-types.js';
import { NEED_MORE } from '../inspect/client-hello.js';
import { formatIpv6, parseIpv4, parseIpv6 } from '../config/values.js';

/** A key's sample before it is cast to the table's type. */
export type KeySample = { type: 'ip4'; bytes: Uint8Array } | { type: 'ip6'; bytes: Uint8Array } | { type: 'int'; value: number } | { type: 'str'; text: string };

/** Reads the sample of a key expression from a connection; null: no sample (nothing tracked). */
export type KeyFetch = (facts: ConnectionFacts) => KeySample | null;

const CONTENT_KEYS = new Set(['req.ssl_sni', 'req_ssl_sni']);
const CONNECTION_KEYS = new Set(['src', 'dst', 'src_port', 'dst_port']);

/** Why `text` cannot be a key expression (HAProxy's words where it has them), or null. */
export function checkStickKey(text: string, beforeContent: boolean): string | null {
  const [fetch, ...converters] = text.split(',');
  const name = fetch!.replace(/\(\)$/, '');
  for (const converter of converters) {
    if (converter !== 'lower' && converter !== 'upper') return `converter '${converter}' is not supported in stick-table keys yet`;
  }
  if (CONNECTION_KEYS.has(name)) return null;
  if (CONTENT_KEYS.has(name)) {
    return beforeContent ? `fetch method '${name}' extracts information from 'request buffer', none of which is available here` : null;
  }
  return `fetch method '${name}' is not supported in stick-table keys yet (epoxy tracks src, dst, src_port, dst_port and req.ssl_sni)`;
}

function addressSample(address: SocketAddress): KeySample | null {
  const raw = address.bytes;
  if (address.family === 'ipv4') return { type: 'ip4', bytes: raw.subarray(4, 8) };
  if (address.family === 'ipv6') {
    const bytes = raw.subarray(8, 24);
    const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
    return mapped ? { type: 'ip4', bytes: bytes.subarray(12, 16) } : { type: 'ip6', bytes };
  }
  return null;
}

/** Compiles a key expression already accepted by checkStickKey(). */
export function compileStickKey(text: string): KeyFetch {
  const [fetch, ...converters] = text.split(',');
  const name = fetch!.replace(/\(\)$/, '');
  const base: KeyFetch =
    name === 'src' ? (facts) => addressSample(facts.src)
    : name === 'dst' ? (facts) => addressSample(facts.dst)
    : name === 'src_port' ? (facts) => ({ type: 'int', value: facts.src.port })
    : name === 'dst_port' ? (facts) => ({ type: 'int', value: facts.dst.port })
    : (facts) => {
        const sni = facts.content?.hello().sni;
        return typeof sni === 'string' && sni !== NEED_MORE ? { type: 'str', text: sni } : null;
      }; // prettier-ignore
  if (converters.length === 0) return base;
  return (facts) => {
    const sample = base(facts);
    if (sample === null || sample.type !== 'str') return sample;
    let text = sample.text;
    for (const converter of converters) text = converter === 'lower' ? text.toLowerCase() : text.toUpperCase();
    return { type: 'str', text };
  };
}

function ipText(sample: KeySample & { type: 'ip4' | 'ip6' }): string {
  return sample.type === 'ip4' ? Array.from(sample.bytes).join('.') : formatIpv6(sample.bytes);
}

/**
 * Writes `sample` cast to `type` into `out` (the table's key length, zero-filled first).
 * Returns false when the cast does not exist (an IPv6 address into an `ip` table): no key.
 */
export function encodeKey(sample: KeySample, type: StickKeyType, out: Uint8Array): boolean {
  out.fill(0);
  switch (type) {
    case 'ip':
      if (sample.type === 'ip4') out.set(sample.bytes);
      else if (sample.type === 'int') new DataView(out.buffer, out.byteOffset).setUint32(0, sample.value >>> 0);
      else if (sample.type === 'str') {
        const bytes = sample.text.split('.').length === 4 ? parseIpv4(sample.text) : null;
        if (bytes === null) return false;
        out.set(bytes);
      } else return false;
      return true;
    case 'ipv6':
      if (sample.type === 'ip6') out.set(sample.bytes);
      else if (sample.type === 'ip4') {
        out[10] = 0xff;
        out[11] = 0xff;
        out.set(sample.bytes, 12);
      } else return false;
      return true;
    case 'integer': {
      let value: number;
      if (sample.type === 'int') value = sample.value;
      else if (sample.type === 'ip4') value = new DataView(sample.bytes.buffer, sample.bytes.byteOffset).getUint32(0);
      else if (sample.type === 'str' && /^-?\d+$/.test(sample.text)) value = Number(sample.text);
      else return false;
      new DataView(out.buffer, out.byteOffset).setUint32(0, value >>> 0);
      return true;
    }
    case 'string':
    case 'binary': {
      const text = sample.type === 'str' ? sample.text : sample.type === 'int' ? String(sample.value) : ipText(sample);
      // Longer keys are truncated to the table's length, as HAProxy stores them.
      const bytes = Buffer.from(text, type === 'string' ? 'utf8' : 'latin1');
      out.set(bytes.subarray(0, out.length));
      return true;
    }
  }
}

/** A key's text as `show table` prints it (`key=127.0.0.1`). */
export function keyText(key: Uint8Array, type: StickKeyType): string {
  switch (type) {
    case 'ip':
      return Array.from(key.subarray(0, 4)).join('.');
    case 'ipv6':
      return ipText({ type: 'ip6', bytes: key.subarray(0, 16) });
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
      return encodeKey({ type: 'str', text }, 'ip', out);
    case 'ipv6': {
      const v4 = /^\d+\.\d+\.\d+\.\d+$/.test(text);
      if (v4) {
        const four = new Uint8Array(4);
        return encodeKey({ type: 'str', text }, 'ip', four) && encodeKey({ type: 'ip4', bytes: four }, 'ipv6', out);
      }
      const bytes = parseIpv6(text);
      if (bytes === null) return false;
      return encodeKey({ type: 'ip6', bytes }, 'ipv6', out);
    }
    case 'integer':
      return /^\d+$/.test(text) && Number(text) <= 0xffffffff && encodeKey({ type: 'int', value: Number(text) }, 'integer', out);
    case 'string':
      return encodeKey({ type: 'str', text }, 'string', out);
    case 'binary': {
      if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return false;
      out.fill(0);
      out.set(Buffer.from(text, 'hex').subarray(0, out.length));
      return true;
    }
  }
}

/** Whether the key expression reads the client's buffered bytes (it may have to wait for them). */
export function stickKeyReadsContent(text: string): boolean {
  return CONTENT_KEYS.has(text.split(',')[0]!.replace(/\(\)$/, ''));
}
