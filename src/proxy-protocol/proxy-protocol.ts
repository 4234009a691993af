/**
 * PROXY protocol headers (HAProxy's doc/proxy-protocol.txt), v1 and v2 auto-detected, over the
 * addon's strict parser and builders (native/proxy_protocol.h).
 *
 * `accept-proxy`: the session layer peeks (native.recvPeek) or buffers the first bytes of a
 * connection and calls parseProxyHeader() on them each time more arrive: 'incomplete' until a
 * whole header is in (at most MAX_HEADER bytes), then 'complete' with the length to consume, or
 * 'invalid' with the reason, on which it closes that connection (and counts it: the counters are
 * the session layer's). `send-proxy` / `send-proxy-v2`: buildProxyHeader() gives the bytes to send
 * first on the server connection.
 */
import { SocketAddress } from '../address.js';
import { EpoxyError, ErrorCodes } from '../errors.js';
import { native, proxyProtocolConstants, type NativeProxyErrors } from '../native.js';

/** Why a header was refused; see native/proxy_protocol.h PpError. */
export type ProxyErrorReason = keyof NativeProxyErrors;
export type ProxyVersion = 1 | 2;
/** 'local': made by the proxy itself (a health check), use the connection's own endpoints. */
export type ProxyCommand = 'local' | 'proxy';

export interface ProxyHeader {
  status: 'complete';
  /** Bytes of header to consume before the payload. */
  length: number;
  version: ProxyVersion;
  command: ProxyCommand;
  /**
   * The client's address and the address it connected to, as carried. Both null when the
   * header carries none usable (LOCAL, v1 UNKNOWN, v2 UNSPEC or DGRAM): the connection's own
   * endpoints apply.
   */
  source: SocketAddress | null;
  destination: SocketAddress | null;
  /** v2 PP2_TYPE_ALPN value (a copy), when present. */
  alpn: Uint8Array | null;
  /** v2 PP2_TYPE_AUTHORITY (the SNI host name), when present. */
  authority: string | null;
  /** v2 PP2_TYPE_UNIQUE_ID value (a copy, at most 128 bytes), when present. */
  uniqueId: Uint8Array | null;
}

export interface ProxyHeaderIncomplete {
  status: 'incomplete';
}

export interface ProxyHeaderInvalid {
  status: 'invalid';
  reason: ProxyErrorReason;
  /** The parser's negative code for `reason`. */
  code: number;
  /** A sentence for logs. */
  message: string;
}

export type ProxyParseResult = ProxyHeader | ProxyHeaderIncomplete | ProxyHeaderInvalid;

const { OUT_SLOTS, ADDRESS_SIZE, BUILD_MAX } = proxyProtocolConstants;

/** The largest header parseProxyHeader() can complete: a peek buffer this size always suffices. */
export const PROXY_MAX_HEADER = proxyProtocolConstants.MAX_HEADER;

// Scratch shared by every call: parsing is synchronous and every result is copied out of it.
const out = new Int32Array(OUT_SLOTS);
const sourceScratch = new Uint8Array(ADDRESS_SIZE);
const destinationScratch = new Uint8Array(ADDRESS_SIZE);
const buildScratch = new Uint8Array(BUILD_MAX);
const utf8 = new TextDecoder('utf-8');

// Slots of `out` after the five fixed ones (native/proxy_protocol_napi.cc ParseSlot).
const SLOT_ALPN = 5;
const SLOT_AUTHORITY = 7;
const SLOT_UNIQUE_ID = 9;

const INCOMPLETE: ProxyHeaderIncomplete = Object.freeze({ status: 'incomplete' });

function span(bytes: Uint8Array, slot: number): Uint8Array | null {
  const offset = out[slot]!;
  return offset < 0 ? null : bytes.slice(offset, offset + out[slot + 1]!);
}

function address(scratch: Uint8Array, length: number): SocketAddress | null {
  return length === 0 ? null : SocketAddress.fromBytes(scratch.slice(0, length));
}

/**
 * Looks for a PROXY header at the start of bytes[0, length). Never throws for what the bytes
 * contain; bytes after the header (the payload) are left alone.
 */
export function parseProxyHeader(bytes: Uint8Array, length: number = bytes.length): ProxyParseResult {
  const rc = native.proxyParse(bytes, length, out, sourceScratch, destinationScratch);
  if (rc === 0) return INCOMPLETE;
  if (rc < 0) {
    return {
      status: 'invalid',
      reason: native.proxyErrorName(rc) as ProxyErrorReason,
      code: rc,
      message: native.proxyErrorDescription(rc),
    };
  }
  const authority = span(bytes, SLOT_AUTHORITY);
  return {
    status: 'complete',
    length: rc,
    version: out[1] as ProxyVersion,
    command: out[2] === 0 ? 'local' : 'proxy',
    source: address(sourceScratch, out[3]!),
    destination: address(destinationScratch, out[4]!),
    alpn: span(bytes, SLOT_ALPN),
    authority: authority === null ? null : utf8.decode(authority),
    uniqueId: span(bytes, SLOT_UNIQUE_ID),
  };
}

/**
 * The header to send first on a server connection for a client connected from `source` to
 * `destination` (send-proxy: v1, send-proxy-v2: v2). v1: TCP4 / TCP6, else "PROXY UNKNOWN";
 * v2: TCP over IPv4 / IPv6 / UNIX stream, else PROXY with no address. Mixed IPv4/IPv6 are sent as
 * IPv6 with the IPv4 side v4-mapped. Null addresses (nothing to tell, e.g. a health check) give
 * v1 UNKNOWN and v2 LOCAL.
 */
export function buildProxyHeader(
  version: ProxyVersion,
  source: SocketAddress | null,
  destination: SocketAddress | null,
): Uint8Array {
  const n = native.proxyBuild(version, source?.bytes ?? null, destination?.bytes ?? null, buildScratch);
  if (n < 0) {
    // SocketAddress bytes always fit their family and BUILD_MAX fits every header.
    throw new EpoxyError(`cannot build a PROXY v${version} header: ${native.errnoName(n)}`, ErrorCodes.INVALID_ADDRESS);
  }
  return buildScratch.slice(0, n);
}
