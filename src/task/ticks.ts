/**
 * Millisecond ticks (HAProxy's ticks.h): the loop's clock is a 32-bit unsigned counter of
 * milliseconds that wraps every 49.7 days, so a date is never compared with `<` but through the
 * signed 32-bit difference of two ticks. That is correct as long as the two dates are less than
 * 2^31 ms (24.8 days) apart, which is why a delay added to a tick is limited to TICK_MAX_DELAY.
 *
 * The value 0 is reserved for "no date" (TICK_ETERNITY), so a computed date that lands exactly on
 * 0 is moved to 1: one millisecond late once every 49.7 days, in exchange for a free "unset"
 * marker that needs no second field.
 */
import { performance } from 'node:perf_hooks';
import { EpoxyError, ErrorCodes } from '../errors.js';

/** The "not set" tick: a timer that never expires. */
export const TICK_ETERNITY = 0;

/** Longest delay tickAdd accepts: beyond 2^31 - 1 ms, signed comparison would see the past. */
export const TICK_MAX_DELAY = 0x7fff_ffff;

/** A source of the current tick (uint32 milliseconds). Tests inject their own to cross the wrap. */
export interface Clock {
  now(): number;
}

/** The current tick: monotonic milliseconds since process start, truncated to 32 bits. */
export function nowMs(): number {
  // ToUint32 truncates and reduces modulo 2^32 in one step, even past 2^32 ms of uptime.
  return performance.now() >>> 0;
}

/** The process's monotonic clock. */
export const systemClock: Clock = { now: nowMs };

/**
 * A monotonic clock that reads `startTick` now and advances in real time. Starting it a few
 * seconds before 0xFFFFFFFF makes a real process cross the wrap early (HAProxy starts its own
 * clock 20 s before the wrap for that reason), instead of after 49 days in production.
 */
export function createSystemClock(startTick: number): Clock {
  const origin = performance.now() - (startTick >>> 0);
  return { now: () => (performance.now() - origin) >>> 0 };
}

/** A clock that moves only when told to, for tests and simulations. */
export class ManualClock implements Clock {
  private tick: number;

  constructor(startTick = 0) {
    this.tick = startTick >>> 0;
  }

  now(): number {
    return this.tick;
  }

  set(tick: number): void {
    this.tick = tick >>> 0;
  }

  /** Moves forward by `ms` (wrapping past 0xFFFFFFFF like the real clock) and returns the new tick. */
  advance(ms: number): number {
    this.tick = (this.tick + ms) >>> 0;
    return this.tick;
  }
}

export function tickIsSet(t: number): boolean {
  return t !== TICK_ETERNITY;
}

/** The tick `ms` milliseconds after `now`. `ms` must be in [0, TICK_MAX_DELAY]. */
export function tickAdd(now: number, ms: number): number {
  if (!(ms >= 0 && ms <= TICK_MAX_DELAY)) {
    throw new EpoxyError(`tick delay ${ms} ms is outside [0, ${TICK_MAX_DELAY}]`, ErrorCodes.INVALID_ARG);
  }
  const t = (now + ms) >>> 0;
  return t === TICK_ETERNITY ? 1 : t;
}

/** Like tickAdd, but a delay of 0 means "no timeout configured" and gives TICK_ETERNITY. */
export function tickAddIfSet(now: number, ms: number): number {
  return ms === 0 ? TICK_ETERNITY : tickAdd(now, ms);
}

/** Whether the set tick `t` is at or before `now`. An unset tick never expires. */
export function tickIsExpired(t: number, now: number): boolean {
  return t !== TICK_ETERNITY && ((t - now) | 0) <= 0;
}

/** Whether `a` is strictly before `b` (both set and within 2^31 ms of each other). */
export function tickIsLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** Whether `a` is before or at `b` (both set and within 2^31 ms of each other). */
export function tickIsLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

/** The earlier of two ticks, ignoring an unset one (TICK_ETERNITY only if both are unset). */
export function tickFirst(a: number, b: number): number {
  if (a === TICK_ETERNITY) return b;
  if (b === TICK_ETERNITY) return a;
  return ((b - a) | 0) < 0 ? b : a;
}

/**
 * Milliseconds from `now` until `t`: 0 if `t` has expired, Infinity if `t` is not set (callers
 * that arm an OS timer check tickIsSet first; Infinity keeps "never" from reading as "now").
 */
export function tickRemain(now: number, t: number): number {
  if (t === TICK_ETERNITY) return Number.POSITIVE_INFINITY;
  const remain = (t - now) | 0;
  return remain > 0 ? remain : 0;
}
