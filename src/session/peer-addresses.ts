/**
 * Accepted clients' addresses, kept as raw sockaddr bytes in one table indexed by fd and turned
 * into a SocketAddress only when something asks (a log line, an ACL on src, `balance source`, a
 * stick table keyed on src, `show sess`).
 *
 * Why: copying each address out of the accept batch (`slice`) and wrapping it cost ~270 B of JS
 * heap per connection, a quarter of the session layer's (issue 16's heap profile), for an address
 * most proxies never look at. A table indexed by fd needs no allocation per connection: an fd
 * number belongs to one open session at a time, and the table grows (doubling) only when a
 * higher fd number appears.
 */
import { endianness } from 'node:os';
import { SocketAddress } from '../address.js';
import { constants } from '../native.js';

const { ADDR_SLOT_SIZE } = constants;
const LITTLE_ENDIAN = endianness() === 'LE';

/** Lengths of the only sockaddrs stored here: sockaddr_in and sockaddr_in6. */
const SOCKADDR_IN = 16;
const SOCKADDR_IN6 = 28;

/** An address no longer known: read after its session ended and its fd went to another. */
const GONE = SocketAddress.from('ipv4', '0.0.0.0', 0);

export class PeerAddresses<Owner> {
  private bytes = new Uint8Array(0);
  private lengths = new Uint8Array(0);
  private owners: Array<Owner | null> = [];

  /**
   * Stores the `length` bytes at `offset` of `source` for `fd`, owned by `owner`, when they are
   * an inet or inet6 sockaddr (the ones a cheap check can vouch for); false otherwise, and the
   * caller decodes them at once (a unix peer, or bytes it must refuse).
   */
  keep(fd: number, owner: Owner, source: Uint8Array, offset: number, length: number): boolean {
    if (length !== SOCKADDR_IN && length !== SOCKADDR_IN6) return false;
    // sa_family is in host byte order.
    const family = LITTLE_ENDIAN ? source[offset]! | (source[offset + 1]! << 8) : (source[offset]! << 8) | source[offset + 1]!;
    if ((length === SOCKADDR_IN && family !== constants.AF_INET) || (length === SOCKADDR_IN6 && family !== constants.AF_INET6)) return false;
    if (fd >= this.lengths.length) this.grow(fd);
    const start = fd * ADDR_SLOT_SIZE;
    for (let i = 0; i < length; i++) this.bytes[start + i] = source[offset + i]!; // subarray() would allocate
    this.lengths[fd] = length;
    this.owners[fd] = owner;
    return true;
  }

  /** `fd`'s address as a SocketAddress of its own (a copy: the table's bytes are reused). */
  address(fd: number, owner: Owner): SocketAddress {
    if (fd >= this.lengths.length || this.owners[fd] !== owner) return GONE;
    const start = fd * ADDR_SLOT_SIZE;
    return SocketAddress.fromBytes(this.bytes.slice(start, start + this.lengths[fd]!));
  }

  /** Forgets `fd`'s owner (its session ended), so nothing holds on to a closed session. */
  release(fd: number, owner: Owner): void {
    if (fd < this.owners.length && this.owners[fd] === owner) this.owners[fd] = null;
  }

  private grow(fd: number): void {
    let size = Math.max(64, this.lengths.length);
    while (size <= fd) size *= 2;
    const bytes = new Uint8Array(size * ADDR_SLOT_SIZE);
    bytes.set(this.bytes);
    const lengths = new Uint8Array(size);
    lengths.set(this.lengths);
    this.bytes = bytes;
    this.lengths = lengths;
    while (this.owners.length < size) this.owners.push(null);
  }
}
