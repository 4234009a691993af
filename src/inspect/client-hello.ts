/**
 * The layer-6 facts of a connection's first bytes (req.ssl_hello_type, req.ssl_ver, req.ssl_sni,
 * req.ssl_alpn, req.ssl_ec_ext), read by the addon's inspector (native/client_hello.h) over the
 * bytes content inspection buffered. Each fact is 'more' while the bytes so far are too few to
 * tell, null once they cannot give it, or its value.
 */
import { native } from '../native.js';

export const NEED_MORE = 'more';
export type Fact<T> = T | null | typeof NEED_MORE;

export interface ClientHelloFacts {
  helloType: Fact<number>;
  /** major << 16 | minor (TLS 1.0 is 3.1: 0x30001). */
  version: Fact<number>;
  sni: Fact<string>;
  /** The protocols the client offers, in its order. */
  alpn: Fact<string[]>;
  ecExt: Fact<boolean>;
}

const out = new Int32Array(native.clientHello.OUT_SLOTS);
const latin1 = new TextDecoder('latin1');

function state<T>(slot: number, value: () => T): Fact<T> {
  const s = out[slot];
  return s === 2 ? value() : s === 1 ? NEED_MORE : null;
}

/** The names of an ALPN protocol list the inspector checked (each a length byte and the name). */
function protocols(bytes: Uint8Array, offset: number, length: number): string[] {
  const names: string[] = [];
  for (let at = offset; at < offset + length; at += 1 + bytes[at]!) names.push(latin1.decode(bytes.subarray(at + 1, at + 1 + bytes[at]!)));
  return names;
}

/** Inspects bytes[0, length); the strings are decoded byte for byte, as HAProxy compares them. */
export function inspectClientHello(bytes: Uint8Array, length: number): ClientHelloFacts {
  native.clientHelloInspect(bytes, length, out);
  const text = (offset: number, len: number): string => latin1.decode(bytes.subarray(offset, offset + len));
  return {
    helloType: state(0, () => out[1]!),
    version: state(2, () => out[3]!),
    sni: state(4, () => text(out[5]!, out[6]!)),
    alpn: state(7, () => protocols(bytes, out[8]!, out[9]!)),
    ecExt: state(10, () => out[11] === 1),
  };
}
