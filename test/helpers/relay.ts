/**
 * A native relay that records every end it reports, for the tests of the relay itself.
 */
import { native, relayConstants, type NativeRelay, type NativeRelayOptions } from '../../src/native.js';

const { RECORD_INTS } = relayConstants;

export interface EndRecord {
  id: number;
  reason: number;
  errno: number;
  /** bytes[aToB], bytes[bToA] read inside onEnd, before the slot can be reused. */
  bytes: [number, number];
}

export interface RecordingRelay {
  relay: NativeRelay;
  ends: EndRecord[];
  /** Number of onEnd calls. */
  calls: () => number;
}

/**
 * A relay whose onEnd appends each record to `ends` (then calls `options.onEnd`, if any). It is
 * pushed to `track`, so the caller's cleanup closes it.
 */
export function recordingRelay(track: NativeRelay[], options: Partial<NativeRelayOptions> = {}): RecordingRelay {
  const ends: EndRecord[] = [];
  let calls = 0;
  const relay: NativeRelay = new native.Relay({
    ...options,
    onEnd(count) {
      calls++;
      for (let i = 0; i < count; i++) {
        const id = relay.ended[RECORD_INTS * i]!;
        ends.push({
          id,
          reason: relay.ended[RECORD_INTS * i + 1]!,
          errno: relay.ended[RECORD_INTS * i + 2]!,
          bytes: [relay.bytes[2 * id]!, relay.bytes[2 * id + 1]!],
        });
      }
      options.onEnd?.(count);
    },
  });
  track.push(relay);
  return { relay, ends, calls: () => calls };
}
