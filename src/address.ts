/**
 * Socket addresses in both directions: HAProxy-style text ('127.0.0.1:80', '[::1]:80', ':80',
 * '*:80', 'ipv4@host:port', 'ipv6@…', 'unix@/path', '/path', 'abns@name') to the raw sockaddr
 * bytes the addon takes, and raw bytes (from accept(), getsockname()…) back to text.
 *
 * Port ranges and host-name resolution are the callers' business (listeners, servers): this
 * module parses exactly one numeric address.
 */
import { EpoxyError, ErrorCodes } from './errors.js';
import { endianness } from 'node:os';

import { native, type AddressFamily } from './native.js';

// sa_family_t is host-endian; every sockaddr this module reads starts with it.
const LITTLE_ENDIAN = endianness() === 'LE';
const AF_INET = native.constants.AF_INET;
const AF_INET6 = native.constants.AF_INET6;

export class SocketAddress {
  /** The `struct sockaddr` bytes, exactly socklen_t long. */
  readonly bytes: Uint8Array;
  // Decoded on first use: a session's addresses are often never printed (no log, no ACL on
  // them), and formatting one costs an addon call and inet_ntop's sprintf per connection.
  private decodedFamily: AddressFamily | null;
  private decodedAddress: string | null;
  private decodedPort: number;

  private constructor(bytes: Uint8Array, family: AddressFamily | null, address: string | null, port: number) {
    this.bytes = bytes;
    this.decodedFamily = family;
    this.decodedAddress = address;
    this.decodedPort = port;
  }

  get family(): AddressFamily {
    if (this.decodedFamily === null) {
      const b = this.bytes;
      const raw = b.length < 2 ? -1 : LITTLE_ENDIAN ? b[0]! | (b[1]! << 8) : (b[0]! << 8) | b[1]!;
      if (raw === AF_INET && b.length === 16) this.decodedFamily = 'ipv4';
      else if (raw === AF_INET6 && b.length === 28) this.decodedFamily = 'ipv6';
      else this.decode();
    }
    return this.decodedFamily!;
  }

  /** Numeric host, unix path, or '@name' for an abstract unix socket. */
  get address(): string {
    if (this.decodedAddress === null) this.decode();
    return this.decodedAddress!;
  }

  /** 0 for unix sockets and for an inet address written without a port. */
  get port(): number {
    if (this.decodedPort < 0) {
      const family = this.family;
      // sin_port and sin6_port: network byte order right after the family.
      this.decodedPort = family === 'unix' ? 0 : (this.bytes[2]! << 8) | this.bytes[3]!;
    }
    return this.decodedPort;
  }

  /** Throws, as before decoding became lazy, for bytes that are no sockaddr the addon knows. */
  private decode(): void {
    const { family, address, port } = native.addrUnpack(this.bytes);
    this.decodedFamily = family;
    this.decodedAddress = address;
    this.decodedPort = port;
  }

  /** Raw sockaddr bytes, decoded when first looked at. Throws at once if they are malformed. */
  static fromBytes(bytes: Uint8Array): SocketAddress {
    const address = new SocketAddress(bytes, null, null, -1);
    void address.family; // inet checked here in JS; anything else through the addon
    return address;
  }

  static from(family: AddressFamily, address: string, port = 0): SocketAddress {
    const bytes = native.addrPack(family, address, port);
    // Round-trip through the kernel's formatting so `address` is canonical ('::0001' -> '::1').
    const { address: canonical } = native.addrUnpack(bytes);
    return new SocketAddress(bytes, family, canonical, port);
  }

  /** Parses one HAProxy-style address. Throws ERR_EPOXY_INVALID_ADDRESS naming the input. */
  static parse(text: string): SocketAddress {
    return parseAddress(text);
  }

  /** 127.0.0.1:80, [::1]:80, unix@/path — the form HAProxy prints in its messages. */
  toString(): string {
    switch (this.family) {
      case 'ipv4':
        return `${this.address}:${this.port}`;
      case 'ipv6':
        return `[${this.address}]:${this.port}`;
      case 'unix':
        return `unix@${this.address}`;
    }
  }

  withPort(port: number): SocketAddress {
    return SocketAddress.from(this.family, this.address, port);
  }
}

function invalid(text: string, why: string): EpoxyError {
  return new EpoxyError(`invalid address '${text}': ${why}`, ErrorCodes.INVALID_ADDRESS);
}

function parsePort(text: string, portText: string): number {
  if (!/^\d{1,5}$/.test(portText)) throw invalid(text, `bad port '${portText}'`);
  const port = Number(portText);
  if (port > 65535) throw invalid(text, `port ${port} out of range`);
  return port;
}

function pack(text: string, family: AddressFamily, host: string, port: number): SocketAddress {
  try {
    return SocketAddress.from(family, host, port);
  } catch (error) {
    throw invalid(text, (error as Error).message);
  }
}

/** See SocketAddress.parse. */
export function parseAddress(text: string): SocketAddress {
  let rest = text.trim();
  let forced: AddressFamily | undefined;
  const prefix = /^(ipv4|ipv6|unix|abns)@/.exec(rest);
  if (prefix) {
    rest = rest.slice(prefix[0].length);
    if (prefix[1] === 'unix') return pack(text, 'unix', rest, 0);
    if (prefix[1] === 'abns') return pack(text, 'unix', `@${rest}`, 0);
    forced = prefix[1] as AddressFamily;
  }
  if (rest.startsWith('/')) {
    if (forced) throw invalid(text, 'a path is not an IP address');
    return pack(text, 'unix', rest, 0);
  }

  let host: string;
  let port = 0;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw invalid(text, "missing ']'");
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after.length > 0) {
      if (!after.startsWith(':')) throw invalid(text, "expected ':' after ']'");
      port = parsePort(text, after.slice(1));
    }
    if (forced === 'ipv4') throw invalid(text, 'bracketed IPv6 address under ipv4@');
    return pack(text, 'ipv6', host, port);
  }

  const colons = rest.split(':').length - 1;
  if (colons === 0) {
    host = rest;
  } else {
    // As in HAProxy, the last colon separates the port, even in an unbracketed IPv6 address
    // ('::1:80' is ::1 port 80); write '[::1]' to mean the address alone.
    const last = rest.lastIndexOf(':');
    host = rest.slice(0, last);
    port = parsePort(text, rest.slice(last + 1));
  }
  const wildcard = host === '' || host === '*';
  const family: AddressFamily = forced ?? (host.includes(':') ? 'ipv6' : 'ipv4');
  if (wildcard) host = family === 'ipv6' ? '::' : '0.0.0.0';
  if (family === 'ipv4' && host.includes(':')) throw invalid(text, 'IPv6 address under ipv4@');
  if (family === 'ipv6' && !host.includes(':')) {
    // ipv6@1.2.3.4 means the v4-mapped address, as HAProxy does.
    host = `::ffff:${host}`;
  }
  return pack(text, family, host, port);
}
