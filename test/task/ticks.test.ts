import { describe, it, expect } from 'vitest';
import { waitFor } from '../helpers/sockets.js';
import {
  ManualClock,
  TICK_ETERNITY,
  TICK_MAX_DELAY,
  createSystemClock,
  nowMs,
  systemClock,
  tickAdd,
  tickAddIfSet,
  tickFirst,
  tickIsExpired,
  tickIsLe,
  tickIsLt,
  tickIsSet,
  tickRemain,
} from '../../src/task/ticks.js';

/** Deterministic PRNG (mulberry32) so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

describe('tick arithmetic across the 2^32 wrap', () => {
  const now = 0xffffff00;
  const later = tickAdd(now, 1000);

  it('adds past 0xFFFFFFFF by wrapping around', () => {
    expect(later).toBe(744); // 0xFFFFFF00 + 1000 - 2^32
  });

  it('orders a wrapped date after the date it was computed from', () => {
    expect(tickIsLt(now, later)).toBe(true);
    expect(tickIsLt(later, now)).toBe(false);
    expect(tickIsLe(now, later)).toBe(true);
    expect(tickIsLe(later, later)).toBe(true);
    expect(tickIsLt(later, later)).toBe(false);
  });

  it('expires a wrapped date only once the clock has wrapped past it', () => {
    expect(tickIsExpired(later, now)).toBe(false);
    expect(tickIsExpired(later, 0xffffffff)).toBe(false);
    expect(tickIsExpired(later, 743)).toBe(false);
    expect(tickIsExpired(later, 744)).toBe(true);
    expect(tickIsExpired(later, 745)).toBe(true);
  });

  it('computes the remaining time across the wrap', () => {
    expect(tickRemain(now, later)).toBe(1000);
    expect(tickRemain(0xffffffff, later)).toBe(745);
    expect(tickRemain(744, later)).toBe(0);
    expect(tickRemain(5000, later)).toBe(0);
  });

  it('picks the earlier of two dates on either side of the wrap', () => {
    expect(tickFirst(0xfffffff0, 5)).toBe(0xfffffff0);
    expect(tickFirst(5, 0xfffffff0)).toBe(0xfffffff0);
    expect(tickFirst(7, 5)).toBe(5);
  });

  it('agrees with unwrapped arithmetic for any two dates less than 2^31 ms apart', () => {
    const random = prng(42);
    for (let i = 0; i < 10_000; i++) {
      const base = Math.floor(random() * 2 ** 32);
      const a = Math.floor((random() - 0.5) * 2 ** 31);
      const b = Math.floor((random() - 0.5) * 2 ** 31);
      const ta = (base + a) >>> 0;
      const tb = (base + b) >>> 0;
      expect(tickIsLt(ta, tb)).toBe(a < b);
      expect(tickIsLe(ta, tb)).toBe(a <= b);
    }
  });
});

describe('TICK_ETERNITY (0) means "not set"', () => {
  it('is never produced by tickAdd: a date landing on 0 becomes 1', () => {
    expect(tickAdd(0xffffffff, 1)).toBe(1);
    expect(tickAdd(0xffffff00, 256)).toBe(1);
    expect(tickAdd(0, 0)).toBe(1);
    expect(tickAdd(0xfffffffe, 2)).toBe(1);
    // Only 0 is shifted: the dates after it keep their value.
    expect(tickAdd(0xfffffffe, 3)).toBe(1);
    expect(tickAdd(0xfffffffe, 4)).toBe(2);
  });

  it('never expires and is skipped by tickFirst', () => {
    expect(tickIsSet(TICK_ETERNITY)).toBe(false);
    expect(tickIsSet(1)).toBe(true);
    expect(tickIsExpired(TICK_ETERNITY, 0)).toBe(false);
    expect(tickIsExpired(TICK_ETERNITY, 0x80000000)).toBe(false);
    expect(tickFirst(TICK_ETERNITY, 0xfffffff0)).toBe(0xfffffff0);
    expect(tickFirst(0xfffffff0, TICK_ETERNITY)).toBe(0xfffffff0);
    expect(tickFirst(TICK_ETERNITY, TICK_ETERNITY)).toBe(TICK_ETERNITY);
  });

  it('leaves infinitely long to wait rather than none', () => {
    expect(tickRemain(123, TICK_ETERNITY)).toBe(Number.POSITIVE_INFINITY);
  });

  it('is what tickAddIfSet gives for an unconfigured (0 ms) timeout', () => {
    expect(tickAddIfSet(500, 0)).toBe(TICK_ETERNITY);
    expect(tickAddIfSet(500, 10)).toBe(510);
    expect(tickAddIfSet(0xffffffff, 1)).toBe(1);
  });
});

describe('tickAdd delay limits', () => {
  it('accepts the longest delay that still compares as the future', () => {
    const now = 0xfffffff0;
    const t = tickAdd(now, TICK_MAX_DELAY);
    expect(tickIsLt(now, t)).toBe(true);
    expect(tickRemain(now, t)).toBe(TICK_MAX_DELAY);
  });

  const outOfRange = [-1, TICK_MAX_DELAY + 1, Number.NaN, Number.POSITIVE_INFINITY];
  it.each(outOfRange)('rejects a delay of %s ms', (ms) => {
    expect(() => tickAdd(0, ms)).toThrow(expect.objectContaining({ code: 'ERR_EPOXY_INVALID_ARG' }));
  });
});

describe('clocks', () => {
  it('nowMs is a uint32 that does not go backwards', () => {
    const a = nowMs();
    const b = systemClock.now();
    expect(Number.isInteger(a)).toBe(true);
    expect(a).toBeGreaterThanOrEqual(0);
    expect(a).toBeLessThanOrEqual(0xffffffff);
    expect(tickIsLe(a, b)).toBe(true);
  });

  it('ManualClock wraps like the real clock', () => {
    const clock = new ManualClock(0xfffffffe);
    expect(clock.now()).toBe(0xfffffffe);
    expect(clock.advance(3)).toBe(1);
    expect(clock.now()).toBe(1);
    clock.set(0x1_0000_0005);
    expect(clock.now()).toBe(5);
  });

  it('createSystemClock starts at the given tick and crosses the wrap in real time', async () => {
    const start = 0xffffffff - 5; // wraps 6 ms from now
    const clock = createSystemClock(start);
    const first = clock.now();
    expect(tickIsLe(start, first)).toBe(true);
    expect(tickRemain(start, first)).toBeLessThan(60_000); // generous: a loaded CI machine stalls
    // 6 ms on, the deadline set across the wrap expires...
    await waitFor(() => tickIsExpired(tickAdd(start, 6), clock.now()), 'the clock to pass the wrap');
    const after = clock.now();
    expect(after).toBeLessThan(60_000); // ...and the 32-bit value is small again: it wrapped
    expect(tickIsLt(first, after)).toBe(true);
    expect(tickIsExpired(tickAdd(start, 6), after)).toBe(true);
  });
});
