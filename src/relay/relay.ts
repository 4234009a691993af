/**
 * Helpers around the native relay (native/relay.h, docs/relay.md) for code off the hot path:
 * reason names, decoding `ended` records into objects, idle time. The relay itself is used
 * directly through `native.Relay`: it knows nothing of configuration, sessions or timeouts, and
 * nothing here runs per message.
 */
import { native, relayConstants, type NativeRelay } from '../native.js';

const { END_CLOSED, END_RESET_A, END_RESET_B, END_REMOVED, RECORD_INTS } = relayConstants;

/** Why a relayed pair ended. */
export type RelayEndName =
  /** FIN both ways, each forwarded once its direction was flushed. */
  | 'closed'
  /** recv/send/shutdown failed on A (the errno says why); B was set to reset when closed. */
  | 'reset-a'
  /** recv/send/shutdown failed on B; A was set to reset when closed. */
  | 'reset-b'
  /** remove(id) stopped it. */
  | 'removed';

/** A decoded record of `relay.ended`, with the pair's final counters. */
export interface RelayEndRecord {
  id: number;
  reason: RelayEndName;
  /** Positive errno of a reset, 0 otherwise. */
  errno: number;
  /** errno's name ('ECONNRESET'), '' when errno is 0. */
  code: string;
  bytesAToB: number;
  bytesBToA: number;
  /** nowTick() of the pair's last transfer. */
  lastActivity: number;
}

/** The name of a `reason` from an `ended` record. Throws on a value the relay never writes. */
export function relayEndName(reason: number): RelayEndName {
  switch (reason) {
    case END_CLOSED:
      return 'closed';
    case END_RESET_A:
      return 'reset-a';
    case END_RESET_B:
      return 'reset-b';
    case END_REMOVED:
      return 'removed';
    default:
      throw new RangeError(`not a relay end reason: ${reason}`);
  }
}

/**
 * Decodes the first `count` records of `relay.ended`, with each pair's counters: call it inside
 * onEnd(count), while the ids' slots are not yet reused. Allocates one object per ended pair.
 */
export function readRelayEnds(relay: NativeRelay, count: number): RelayEndRecord[] {
  const { ended, bytes, lastActivity } = relay;
  const out: RelayEndRecord[] = [];
  for (let i = 0; i < count; i++) {
    const id = ended[RECORD_INTS * i]!;
    const errno = ended[RECORD_INTS * i + 2]!;
    out.push({
      id,
      reason: relayEndName(ended[RECORD_INTS * i + 1]!),
      errno,
      code: errno === 0 ? '' : native.errnoName(errno),
      bytesAToB: bytes[2 * id]!,
      bytesBToA: bytes[2 * id + 1]!,
      lastActivity: lastActivity[id]!,
    });
  }
  return out;
}

/**
 * Milliseconds since the pair's last transfer (or since add()), on the relay's clock. The tick
 * wraps every 49.7 days; the signed 32-bit difference is right across a wrap. A relay thread may
 * stamp a transfer a little after `now` was read: that is 0, not 49 days.
 */
export function relayIdleMs(relay: NativeRelay, id: number, now: number = native.nowTick()): number {
  const since = (now - relay.lastActivity[id]!) | 0;
  return since > 0 ? since : 0;
}
