/**
 * A reconnect state machine, modelled on Open vSwitch's lib/reconnect.c: it decides when a
 * client should connect, give up an attempt, probe a silent peer or drop it, and keeps the
 * counts of what happened. It owns no socket and no timer: the owner reports what its
 * connection did (connecting, connected, connectFailed, disconnected, activity, received), asks
 * run() what to do, and calls run() again when timeout() says. Every method takes the current
 * time, so the same machine serves real sockets (Date.now()) and tests (a number they advance).
 *
 *   VOID ──enable()──▶ BACKOFF ──run(): connect──▶ CONNECTING ──connected()──▶ ACTIVE
 *    ▲                  ▲  ▲                          │                         │   ▲
 *    │                  │  └──── connectFailed(), ────┘           run(): probe  │   │ activity()
 *    │                  │        run(): disconnect (too long)                   ▼   │
 *    │                  └──── disconnected() (from ACTIVE or IDLE) ◀──────────── IDLE
 *    └── disable() from anywhere; a failure with no tries left
 *
 * run() keeps saying `connect` in BACKOFF until the owner reports connecting(): the machine only
 * moves on what the owner says it did, never on what it was told to do.
 *
 * Passive mode replaces CONNECTING with LISTENING until a peer connects; forceReconnect() goes
 * through RECONNECT, where run() says disconnect at once. docs/reconnect.md says more.
 */
import { CONNECTED_STATES, type ReconnectAction, type ReconnectOptions, type ReconnectState, type ReconnectStats } from './reconnect-types.js';

export type { ReconnectAction, ReconnectOptions, ReconnectState, ReconnectStats } from './reconnect-types.js';

const DEFAULT_MIN_BACKOFF_MS = 1000;
const DEFAULT_MAX_BACKOFF_MS = 8000;
const DEFAULT_PROBE_INTERVAL_MS = 5000;
const DEFAULT_MIN_CONNECT_TIMEOUT_MS = 1000;

function nonNegative(value: number, what: string): number {
  if (!(value >= 0)) throw new RangeError(`${what} must be a non-negative number of ms, not ${value}`);
  return value;
}

function describeError(error: Error | string | null): string | null {
  if (error === null) return null;
  return typeof error === 'string' ? error : error.message;
}

export class Reconnect {
  readonly name: string;
  private minBackoff = DEFAULT_MIN_BACKOFF_MS;
  private maxBackoff = DEFAULT_MAX_BACKOFF_MS;
  private probeInterval = DEFAULT_PROBE_INTERVAL_MS;
  private minConnectTimeout = DEFAULT_MIN_CONNECT_TIMEOUT_MS;
  private passive: boolean;
  /** Attempts left; each enable() and each retry after a failure spends one. */
  private triesLeft: number;

  private current: ReconnectState = 'VOID';
  private stateEntered: number;
  private backoff = 0;
  private lastActivity: number;
  /** null: the owner never reports read attempts, so the stall guard of deadline() is off. */
  private lastReceiveAttempt: number | null = null;
  private lastConnected: number | null = null;
  private lastDisconnected: number | null = null;
  private lastError: string | null = null;

  private readonly creationTime: number;
  private attempts = 0;
  private successes = 0;
  private connectedDuration = 0;
  private seqno = 0;

  constructor(now: number, options: ReconnectOptions = {}) {
    this.name = options.name ?? '';
    this.creationTime = now;
    this.stateEntered = now;
    // A fresh machine counts as having just seen its peer, so that the first probe interval
    // runs from the connection, not from some time before there was one.
    this.lastActivity = now;
    this.passive = options.passive ?? false;
    this.triesLeft = this.validTries(options.maxTries ?? Infinity);
    this.setBackoff(options.minBackoffMs ?? DEFAULT_MIN_BACKOFF_MS, options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS);
    this.setProbeInterval(options.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS);
    this.minConnectTimeout = nonNegative(options.minConnectTimeoutMs ?? DEFAULT_MIN_CONNECT_TIMEOUT_MS, 'minConnectTimeoutMs');
  }

  // -------------------------------------------------------------------------------------------
  // Configuration

  /**
   * The range the wait between attempts moves in. A wait under way longer than the new maximum
   * is cut down, so that lowering the maximum takes effect now rather than after the next failure.
   */
  setBackoff(minMs: number, maxMs: number): void {
    if (!(minMs >= 1)) throw new RangeError(`minBackoffMs must be at least 1 ms, not ${minMs}`);
    this.minBackoff = minMs;
    this.maxBackoff = Math.max(nonNegative(maxMs, 'maxBackoffMs'), minMs);
    if (this.current === 'BACKOFF' && this.backoff > this.maxBackoff) this.backoff = this.maxBackoff;
  }

  /** 0 turns probing off: a connection then lasts until the owner reports it ended. */
  setProbeInterval(ms: number): void {
    this.probeInterval = nonNegative(ms, 'probeIntervalMs');
  }

  /** Attempts left from now on (Infinity: no limit). */
  setMaxTries(tries: number): void {
    this.triesLeft = this.validTries(tries);
  }

  get maxTries(): number {
    return this.triesLeft;
  }

  get isPassive(): boolean {
    return this.passive;
  }

  /**
   * Switching mode abandons what the old mode was doing (an outgoing attempt, or listening) and
   * starts the new one at once: the owner asked for the switch, there is no failure to back off
   * from. An established connection is left alone, whichever side opened it.
   */
  setPassive(passive: boolean, now: number): void {
    if (this.passive === passive) return;
    this.passive = passive;
    const abandon = passive ? this.current === 'CONNECTING' || this.current === 'RECONNECT' : this.current === 'LISTENING' && this.mayRetry();
    if (abandon) {
      this.transition(now, 'BACKOFF');
      this.backoff = 0;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Events from the owner

  /** Starts trying: the first attempt is due at once (no backoff before a first try). */
  enable(now: number): void {
    if (this.current === 'VOID' && this.mayRetry()) {
      this.transition(now, 'BACKOFF');
      this.backoff = 0;
    }
  }

  /** Stops trying; the owner closes whatever it has open. run() says nothing until enable(). */
  disable(now: number): void {
    if (this.current !== 'VOID') this.transition(now, 'VOID');
  }

  /**
   * Drop the connection (or attempt) and start over, e.g. because the configuration of the peer
   * changed. Only meaningful with something to drop; waiting or listening states are left alone.
   */
  forceReconnect(now: number): void {
    if (this.current === 'CONNECTING' || this.current === 'ACTIVE' || this.current === 'IDLE') this.transition(now, 'RECONNECT');
  }

  /** An attempt is under way (passive: a peer is being accepted); run() will time it out. */
  connecting(now: number): void {
    if (this.current !== 'CONNECTING') this.transition(now, 'CONNECTING');
  }

  /** Passive mode: the owner listens. This lasts until a peer connects or listening fails. */
  listening(now: number): void {
    if (this.current !== 'LISTENING') this.transition(now, 'LISTENING');
  }

  /**
   * Passive mode: listening failed (accept() said something other than "try again"). Handled as a
   * failed attempt, so listening is retried after a backoff. An established connection is not
   * affected: the listener only matters again once it ends.
   */
  listenError(now: number, error: Error | string | null): void {
    if (this.current === 'LISTENING') this.disconnected(now, error);
  }

  /**
   * The connection is up. Passing through CONNECTING when the owner skipped connecting() (an
   * accept, a connect that succeeded at once) keeps every connection counted as an attempt.
   */
  connected(now: number): void {
    if (this.isConnected) return;
    this.connecting(now);
    this.transition(now, 'ACTIVE');
    this.lastConnected = now;
  }

  /** The attempt failed: counted as an attempt, then handled as a disconnection (backoff). */
  connectFailed(now: number, error: Error | string | null): void {
    this.connecting(now);
    this.disconnected(now, error);
  }

  /**
   * The connection ended, or the attempt failed or was abandoned. The next attempt waits for the
   * backoff, which doubles after every failure up to the maximum, so that a dead peer costs
   * little; but a connection that proved alive for at least as long as the current backoff
   * resets it to the minimum, since the peer was evidently fine and a quick retry is worth it.
   * A passive connection that ends goes back to listening at once: waiting for a peer costs
   * nothing. With no tries left, the machine stops (VOID).
   */
  disconnected(now: number, error: Error | string | null): void {
    if (this.current === 'BACKOFF' || this.current === 'VOID') return;
    this.lastError = describeError(error);
    const wasConnected = this.isConnected;
    if (wasConnected) this.lastDisconnected = now;
    if (!this.mayRetry()) {
      this.transition(now, 'VOID');
      return;
    }
    const lastedLongEnough = this.lastConnected !== null && this.lastActivity - this.lastConnected >= this.backoff;
    if (wasConnected && (lastedLongEnough || this.passive)) {
      this.backoff = this.passive ? 0 : this.minBackoff;
    } else if (this.backoff < this.minBackoff) {
      this.backoff = this.minBackoff;
    } else {
      this.backoff = Math.min(this.backoff * 2, this.maxBackoff);
    }
    this.transition(now, 'BACKOFF');
  }

  /**
   * The peer showed life (it answered, it acknowledged what was sent): the probe timer starts
   * over, and a probed peer is active again.
   */
  activity(now: number): void {
    if (this.current === 'IDLE') this.transition(now, 'ACTIVE');
    this.lastActivity = Math.max(this.lastActivity, now);
  }

  /** Data arrived from the peer: proof of life, and proof that the owner reads. */
  received(now: number): void {
    this.receiveAttempted(now);
    this.activity(now);
  }

  /**
   * The owner tried to read, whatever came. Once the owner reports these, a probe interval only
   * expires after a read attempt made past it: if the owner's loop stalled, the silence is its
   * own and not the peer's, and the peer gets a read before being probed or dropped.
   */
  receiveAttempted(now: number): void {
    this.lastReceiveAttempt = this.lastReceiveAttempt === null ? now : Math.max(this.lastReceiveAttempt, now);
  }

  // -------------------------------------------------------------------------------------------
  // What to do, and when

  /**
   * What the owner should do now. Only the ACTIVE -> IDLE step happens here (the probe goes out
   * as run() says so); every other change waits for the owner to report that it acted, since
   * only the owner knows whether closing or connecting worked.
   */
  run(now: number): ReconnectAction {
    const deadline = this.deadline(now);
    if (deadline === null || now < deadline) return 'none';
    switch (this.current) {
      case 'VOID':
      case 'LISTENING':
        return 'none';
      case 'BACKOFF':
        return 'connect';
      case 'CONNECTING': // the attempt took too long
      case 'IDLE': // the probe went unanswered
      case 'RECONNECT':
        return 'disconnect';
      case 'ACTIVE':
        this.transition(now, 'IDLE');
        return 'probe';
    }
  }

  /** When run() should next be called (absolute, in the caller's clock), or null if only an event can change anything. */
  wakeAt(now: number): number | null {
    return this.deadline(now);
  }

  /** How long until run() should next be called (0: now), or null if only an event can change anything. */
  timeout(now: number): number | null {
    const deadline = this.deadline(now);
    return deadline === null ? null : Math.max(0, deadline - now);
  }

  private deadline(now: number): number | null {
    switch (this.current) {
      case 'VOID':
      case 'LISTENING':
        return null;
      case 'BACKOFF':
        return this.stateEntered + this.backoff;
      case 'CONNECTING':
        return this.stateEntered + Math.max(this.minConnectTimeout, this.backoff);
      case 'ACTIVE':
        if (this.probeInterval === 0) return null;
        // Silence counts from the last sign of life, or from the connection if none since.
        return this.guardedExpiry(Math.max(this.lastActivity, this.stateEntered) + this.probeInterval, now);
      case 'IDLE':
        if (this.probeInterval === 0) return null;
        return this.guardedExpiry(this.stateEntered + this.probeInterval, now);
      case 'RECONNECT':
        return this.stateEntered;
    }
  }

  /**
   * A probe deadline that has passed without a read attempt since is put just ahead of `now`:
   * the owner should read first (which may show the peer alive) and call run() right after.
   */
  private guardedExpiry(expiry: number, now: number): number {
    if (now < expiry || this.lastReceiveAttempt === null || this.lastReceiveAttempt >= expiry) return expiry;
    return now + 1;
  }

  // -------------------------------------------------------------------------------------------
  // Reports

  get state(): ReconnectState {
    return this.current;
  }

  get isConnected(): boolean {
    return CONNECTED_STATES.has(this.current);
  }

  get isEnabled(): boolean {
    return this.current !== 'VOID';
  }

  stats(now: number): ReconnectStats {
    return {
      name: this.name,
      state: this.current,
      stateElapsedMs: now - this.stateEntered,
      isConnected: this.isConnected,
      creationTime: this.creationTime,
      lastActivity: this.lastActivity,
      lastConnected: this.lastConnected,
      lastDisconnected: this.lastDisconnected,
      backoffMs: this.backoff,
      seqno: this.seqno,
      attempts: this.attempts,
      successes: this.successes,
      totalConnectedMs: this.connectedDuration + (this.isConnected && this.lastConnected !== null ? now - this.lastConnected : 0),
      lastError: this.lastError,
    };
  }

  // -------------------------------------------------------------------------------------------

  /**
   * Every change of state goes through here so that the counters cannot drift from the states:
   * an attempt is counted when CONNECTING is left (whichever way), a success when it is left for
   * ACTIVE, connected time when a connected state is left for a disconnected one.
   */
  private transition(now: number, next: ReconnectState): void {
    if (this.current === 'CONNECTING') {
      this.attempts++;
      if (next === 'ACTIVE') this.successes++;
    }
    const wasConnected = this.isConnected;
    if (wasConnected !== CONNECTED_STATES.has(next)) {
      if (wasConnected && this.lastConnected !== null) this.connectedDuration += now - this.lastConnected;
      this.seqno++;
    }
    this.current = next;
    this.stateEntered = now;
  }

  /** Spends a try if there is one left; Infinity is never spent. */
  private mayRetry(): boolean {
    if (this.triesLeft <= 0) return false;
    this.triesLeft--;
    return true;
  }

  private validTries(tries: number): number {
    if (!(tries >= 0) || (Number.isFinite(tries) && !Number.isInteger(tries))) throw new RangeError(`maxTries must be a whole number or Infinity, not ${tries}`);
    return tries;
  }
}
