/**
 * The bytes content inspection reads from a client before its rules decide (`tcp-request
 * content`, `tcp-request inspect-delay`). The bytes are consumed from the socket (a peek would
 * leave the fd readable and spin a level-triggered poller until the rest came) and sent to the
 * server first, unchanged, before the relay takes over. Buffers are pooled: a connection costs no
 * allocation once the pool is warm.
 */
import type { InspectedContent } from '../session/session-types.js';
import { inspectClientHello, type ClientHelloFacts } from './client-hello.js';

/**
 * How many bytes are inspected at most: HAProxy's default buffer (tune.bufsize 16384) less its
 * reserve (tune.maxrewrite 1024), where its rules stop waiting and decide on what is there.
 */
export const INSPECT_BUFFER_SIZE = 16384 - 1024;
/** Buffers kept for reuse; beyond, a burst's extra buffers are left to the GC. */
const POOL_LIMIT = 256;
const pool: Uint8Array[] = [];

export class InspectBuffer implements InspectedContent {
  length = 0;
  final = false;
  /** The client closed (or failed): no byte will come whatever rules still wait (a backend's too). */
  closed = false;
  private factsLength = -1;
  private facts: ClientHelloFacts | null = null;

  constructor(readonly bytes: Uint8Array = pool.pop() ?? new Uint8Array(INSPECT_BUFFER_SIZE)) {}

  get full(): boolean {
    return this.length === this.bytes.length;
  }

  /** The TLS facts, inspected again only when bytes arrived since the last call. */
  hello(): ClientHelloFacts {
    if (this.factsLength !== this.length || this.facts === null) {
      this.facts = inspectClientHello(this.bytes, this.length);
      this.factsLength = this.length;
    }
    return this.facts;
  }

  /** Gives the buffer back to the pool: its bytes must not be used after. */
  release(): void {
    if (this.bytes.length === INSPECT_BUFFER_SIZE && pool.length < POOL_LIMIT) pool.push(this.bytes);
  }
}
