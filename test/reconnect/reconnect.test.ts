/**
 * The reconnect state machine on an explicit clock: every test owns `now` and moves it, so each
 * deadline is checked to the millisecond, one before it (nothing to do) and at it (the action).
 */
import { describe, expect, it } from 'vitest';
import { Reconnect } from '../../src/reconnect/reconnect.js';

/** A machine whose clock the test moves; `at(t)` is "the clock now reads t". */
function machine(options: ConstructorParameters<typeof Reconnect>[1] = {}, start = 10_000) {
  let now = start;
  const fsm = new Reconnect(now, { name: 'peer', probeIntervalMs: 0, ...options });
  return {
    fsm,
    get now() {
      return now;
    },
    at(t: number) {
      now = t;
      return now;
    },
    advance(ms: number) {
      now += ms;
      return now;
    },
  };
}

/** Fails an attempt at once and returns how long the machine then waits before the next one. */
function failOnce(m: ReturnType<typeof machine>): number {
  expect(m.fsm.run(m.now)).toBe('connect');
  m.fsm.connecting(m.now);
  m.fsm.connectFailed(m.now, 'Connection refused');
  expect(m.fsm.state).toBe('BACKOFF');
  const wait = m.fsm.timeout(m.now)!;
  // One ms before the wait is over there is nothing to do; at its end, connect.
  if (wait > 0) expect(m.fsm.run(m.now + wait - 1)).toBe('none');
  m.advance(wait);
  return wait;
}

describe('Reconnect: enabling and disabling', () => {
  it('starts disabled (VOID: nothing to do, nothing to wait for); enable() makes the first attempt due at once', () => {
    const m = machine();
    expect(m.fsm.state).toBe('VOID');
    expect(m.fsm.isEnabled).toBe(false);
    expect(m.fsm.run(m.advance(100_000))).toBe('none');
    expect(m.fsm.timeout(m.now)).toBeNull();
    expect(m.fsm.wakeAt(m.now)).toBeNull();
    m.fsm.enable(m.now);
    expect(m.fsm.state).toBe('BACKOFF');
    expect(m.fsm.timeout(m.now)).toBe(0);
    expect(m.fsm.wakeAt(m.now)).toBe(m.now);
    expect(m.fsm.run(m.now)).toBe('connect');
    // It keeps saying so until the owner reports that it acted.
    expect(m.fsm.run(m.advance(5))).toBe('connect');
  });

  it('disable() from a connection returns to VOID and ends its connected time there', () => {
    const m = machine();
    m.fsm.enable(m.now);
    m.fsm.connected(m.now);
    m.advance(700);
    m.fsm.disable(m.now);
    expect(m.fsm.state).toBe('VOID');
    m.advance(10_000);
    expect(m.fsm.stats(m.now)).toMatchObject({ isConnected: false, totalConnectedMs: 700, attempts: 1, successes: 1 });
    expect(m.fsm.run(m.now)).toBe('none');
  });
});

describe('Reconnect: backoff', () => {
  it('doubles from min after each failure and stays at max', () => {
    const m = machine({ minBackoffMs: 1000, maxBackoffMs: 8000 });
    m.fsm.enable(m.now);
    const waits = Array.from({ length: 7 }, () => failOnce(m));
    expect(waits).toEqual([1000, 2000, 4000, 8000, 8000, 8000, 8000]);
    expect(m.fsm.stats(m.now)).toMatchObject({ attempts: 7, successes: 0, backoffMs: 8000, lastError: 'Connection refused', lastConnected: null });
  });

  it('caps at a max that is not a power-of-two multiple of min', () => {
    const m = machine({ minBackoffMs: 300, maxBackoffMs: 1000 });
    m.fsm.enable(m.now);
    expect([failOnce(m), failOnce(m), failOnce(m), failOnce(m)]).toEqual([300, 600, 1000, 1000]);
  });

  it('a connection alive for at least the backoff resets it to min; one that dies at once keeps doubling', () => {
    const m = machine({ minBackoffMs: 1000, maxBackoffMs: 16_000 });
    m.fsm.enable(m.now);
    expect([failOnce(m), failOnce(m), failOnce(m)]).toEqual([1000, 2000, 4000]);

    // Connects, but drops without a sign of life (a TLS handshake that fails, say): a failure.
    m.fsm.connecting(m.now);
    m.fsm.connected(m.now);
    m.fsm.disconnected(m.advance(50), null);
    expect(m.fsm.timeout(m.now)).toBe(8000);

    // Connects and shows life for the whole current backoff (8 s): the peer is fine, retry soon.
    m.advance(8000);
    m.fsm.connecting(m.now);
    m.fsm.connected(m.now);
    m.fsm.activity(m.advance(4000));
    m.fsm.activity(m.advance(4000));
    m.fsm.disconnected(m.advance(10), 'connection reset by peer');
    expect(m.fsm.timeout(m.now)).toBe(1000);
    expect(m.fsm.stats(m.now)).toMatchObject({ attempts: 5, successes: 2, totalConnectedMs: 50 + 8010, lastError: 'connection reset by peer' });
  });

  it('activity just short of the backoff is not enough to reset it', () => {
    const m = machine({ minBackoffMs: 1000, maxBackoffMs: 16_000 });
    m.fsm.enable(m.now);
    failOnce(m);
    failOnce(m); // backoff now 2000
    m.fsm.connected(m.now);
    m.fsm.activity(m.advance(1999));
    m.fsm.disconnected(m.advance(1), null);
    expect(m.fsm.timeout(m.now)).toBe(4000);
  });

  it('setBackoff() lowering the max cuts a wait under way', () => {
    const m = machine({ minBackoffMs: 1000, maxBackoffMs: 60_000 });
    m.fsm.enable(m.now);
    for (let i = 0; i < 5; i++) failOnce(m);
    m.fsm.connectFailed(m.now, null);
    expect(m.fsm.timeout(m.now)).toBe(32_000);
    m.fsm.setBackoff(1000, 5000);
    expect(m.fsm.timeout(m.now)).toBe(5000);
  });

  it('refuses a zero min backoff (it could never double) and raises a max below min', () => {
    expect(() => new Reconnect(0, { minBackoffMs: 0 })).toThrow(RangeError);
    const m = machine({ minBackoffMs: 3000, maxBackoffMs: 1000 });
    m.fsm.enable(m.now);
    expect([failOnce(m), failOnce(m)]).toEqual([3000, 3000]);
  });
});

describe('Reconnect: attempts that hang', () => {
  it('CONNECTING is abandoned after the min connect timeout, or after the backoff when that is longer', () => {
    const m = machine({ minBackoffMs: 1000, maxBackoffMs: 8000, minConnectTimeoutMs: 1500 });
    m.fsm.enable(m.now);
    m.fsm.connecting(m.now);
    expect(m.fsm.run(m.now + 1499)).toBe('none');
    expect(m.fsm.run(m.now + 1500)).toBe('disconnect');
    m.fsm.connectFailed(m.advance(1500), 'timed out');
    expect(m.fsm.timeout(m.now)).toBe(1000);
    m.advance(1000);
    expect([failOnce(m), failOnce(m), failOnce(m)]).toEqual([2000, 4000, 8000]);
    m.fsm.connecting(m.now);
    expect(m.fsm.timeout(m.now)).toBe(8000);
  });
});

describe('Reconnect: max tries', () => {
  it('enable() and every retry spend a try; with none left a failure stops the machine', () => {
    const m = machine({ maxTries: 3 });
    m.fsm.enable(m.now); // 2 left
    failOnce(m); // 1 left
    failOnce(m); // 0 left
    expect(m.fsm.run(m.now)).toBe('connect');
    m.fsm.connectFailed(m.now, 'no route to host');
    expect(m.fsm.state).toBe('VOID');
    expect(m.fsm.run(m.advance(60_000))).toBe('none');
    expect(m.fsm.stats(m.now)).toMatchObject({ attempts: 3, successes: 0, lastError: 'no route to host' });
    // Spent: enable() does nothing until more tries are given.
    m.fsm.enable(m.now);
    expect(m.fsm.state).toBe('VOID');
    m.fsm.setMaxTries(1);
    m.fsm.enable(m.now);
    expect(m.fsm.run(m.now)).toBe('connect');
  });

  it('zero tries: enable() never starts', () => {
    const m = machine({ maxTries: 0 });
    m.fsm.enable(m.now);
    expect(m.fsm.state).toBe('VOID');
  });

  it('refuses a fractional or negative count', () => {
    expect(() => new Reconnect(0, { maxTries: 1.5 })).toThrow(RangeError);
    expect(() => new Reconnect(0, { maxTries: -1 })).toThrow(RangeError);
  });
});

describe('Reconnect: probes', () => {
  it('a silent ACTIVE connection is probed after the interval (IDLE), and dropped after another', () => {
    const m = machine({ probeIntervalMs: 5000 });
    m.fsm.enable(m.now);
    m.fsm.connecting(m.now);
    m.fsm.connected(m.now);
    const connectedAt = m.now;
    expect(m.fsm.wakeAt(m.now)).toBe(connectedAt + 5000);
    expect(m.fsm.run(connectedAt + 4999)).toBe('none');
    expect(m.fsm.run(m.at(connectedAt + 5000))).toBe('probe');
    expect(m.fsm.state).toBe('IDLE');
    expect(m.fsm.timeout(m.now)).toBe(5000);
    expect(m.fsm.run(connectedAt + 9999)).toBe('none');
    expect(m.fsm.run(m.at(connectedAt + 10_000))).toBe('disconnect');
    // run() said so; it is the owner's report that moves the state.
    expect(m.fsm.state).toBe('IDLE');
    m.fsm.disconnected(m.now, 'no response to inactivity probe');
    expect(m.fsm.state).toBe('BACKOFF');
    expect(m.fsm.stats(m.now)).toMatchObject({ totalConnectedMs: 10_000, lastDisconnected: connectedAt + 10_000 });
  });

  it('activity pushes the probe back; an answer to the probe makes the connection ACTIVE again', () => {
    const m = machine({ probeIntervalMs: 5000 });
    m.fsm.enable(m.now);
    m.fsm.connected(m.now);
    m.fsm.activity(m.advance(3000));
    expect(m.fsm.wakeAt(m.now)).toBe(m.now + 5000);
    expect(m.fsm.run(m.advance(4999))).toBe('none');
    expect(m.fsm.run(m.advance(1))).toBe('probe');
    m.fsm.received(m.advance(20));
    expect(m.fsm.state).toBe('ACTIVE');
    expect(m.fsm.wakeAt(m.now)).toBe(m.now + 5000);
    expect(m.fsm.stats(m.now).seqno).toBe(1); // still the same connection
  });

  it('interval 0 never probes', () => {
    const m = machine({ probeIntervalMs: 0 });
    m.fsm.enable(m.now);
    m.fsm.connected(m.now);
    expect(m.fsm.timeout(m.now)).toBeNull();
    expect(m.fsm.run(m.advance(3_600_000))).toBe('none');
    expect(m.fsm.state).toBe('ACTIVE');
  });

  it('once the owner reports reads, a deadline passed during a stall waits for a read before probing', () => {
    const m = machine({ probeIntervalMs: 5000 });
    m.fsm.enable(m.now);
    m.fsm.connected(m.now);
    m.fsm.receiveAttempted(m.now);
    // The owner's loop stalls for 7 s: the deadline (5 s) passed with no read since.
    m.advance(7000);
    expect(m.fsm.wakeAt(m.now)).toBe(m.now + 1);
    expect(m.fsm.run(m.now)).toBe('none');
    // It reads; the peer had answered meanwhile: no probe.
    m.fsm.received(m.advance(1));
    expect(m.fsm.run(m.now)).toBe('none');
    // A read that finds nothing, past the deadline: now the silence is the peer's.
    m.fsm.receiveAttempted(m.advance(5000));
    expect(m.fsm.run(m.now)).toBe('probe');
  });
});

describe('Reconnect: forced reconnection', () => {
  it('RECONNECT asks for a disconnect at once, then backs off as after any drop', () => {
    const m = machine({ minBackoffMs: 1000 });
    m.fsm.enable(m.now);
    m.fsm.connected(m.now);
    m.fsm.activity(m.advance(2000));
    m.fsm.forceReconnect(m.now);
    expect(m.fsm.state).toBe('RECONNECT');
    expect(m.fsm.timeout(m.now)).toBe(0);
    expect(m.fsm.run(m.now)).toBe('disconnect');
    m.fsm.disconnected(m.now, null);
    expect(m.fsm.state).toBe('BACKOFF');
    expect(m.fsm.stats(m.now)).toMatchObject({ totalConnectedMs: 2000, successes: 1 });
  });

  it('is ignored with nothing to drop (disabled or waiting)', () => {
    const m = machine();
    m.fsm.forceReconnect(m.now);
    expect(m.fsm.state).toBe('VOID');
    m.fsm.enable(m.now);
    m.fsm.forceReconnect(m.now);
    expect(m.fsm.state).toBe('BACKOFF');
  });
});

describe('Reconnect: passive mode', () => {
  it('listens with no deadline; an accepted peer counts as an attempt and a success; when it leaves, listening resumes at once', () => {
    const m = machine({ passive: true, minBackoffMs: 1000 });
    m.fsm.enable(m.now);
    expect(m.fsm.run(m.now)).toBe('connect');
    m.fsm.listening(m.now);
    expect(m.fsm.state).toBe('LISTENING');
    expect(m.fsm.timeout(m.now)).toBeNull();
    expect(m.fsm.run(m.advance(3_600_000))).toBe('none');
    m.fsm.connected(m.advance(1)); // a peer was accepted
    expect(m.fsm.state).toBe('ACTIVE');
    m.fsm.disconnected(m.advance(10), 'closed by peer'); // short-lived, yet no backoff: listening costs nothing
    expect(m.fsm.state).toBe('BACKOFF');
    expect(m.fsm.timeout(m.now)).toBe(0);
    expect(m.fsm.stats(m.now)).toMatchObject({ attempts: 1, successes: 1, totalConnectedMs: 10 });
  });

  it('a listen error backs off like a failed attempt; listenError() outside LISTENING changes nothing', () => {
    const m = machine({ passive: true, minBackoffMs: 1000 });
    m.fsm.enable(m.now);
    m.fsm.listening(m.now);
    m.fsm.listenError(m.now, 'EMFILE');
    expect(m.fsm.state).toBe('BACKOFF');
    expect(m.fsm.timeout(m.now)).toBe(1000);
    m.advance(1000);
    m.fsm.listening(m.now);
    m.fsm.connected(m.now);
    m.fsm.listenError(m.now, 'EMFILE');
    expect(m.fsm.state).toBe('ACTIVE');
  });

  it('switching modes abandons what the old mode was doing and retries at once', () => {
    const m = machine({ minBackoffMs: 1000 });
    m.fsm.enable(m.now);
    m.fsm.connecting(m.now);
    m.fsm.setPassive(true, m.advance(10));
    expect(m.fsm.isPassive).toBe(true);
    expect(m.fsm.state).toBe('BACKOFF');
    expect(m.fsm.run(m.now)).toBe('connect');
    m.fsm.listening(m.now);
    m.fsm.setPassive(false, m.now);
    expect(m.fsm.state).toBe('BACKOFF');
    expect(m.fsm.run(m.now)).toBe('connect');
    // An abandoned outgoing attempt is an attempt; listening is not.
    expect(m.fsm.stats(m.now)).toMatchObject({ attempts: 1, successes: 0 });
  });
});

describe('Reconnect: statistics', () => {
  it('counts attempts, successes, connected time (the current connection included), seqno and times', () => {
    const m = machine({ minBackoffMs: 1000 }, 1_000_000);
    const created = m.now;
    m.fsm.enable(m.advance(5));
    m.fsm.connecting(m.now);
    // An attempt under way is not counted until it ends.
    expect(m.fsm.stats(m.now)).toMatchObject({ attempts: 0, state: 'CONNECTING' });
    m.fsm.connected(m.advance(20));
    const firstConnected = m.now;
    m.advance(300);
    expect(m.fsm.stats(m.now)).toMatchObject({
      name: 'peer',
      state: 'ACTIVE',
      stateElapsedMs: 300,
      isConnected: true,
      creationTime: created,
      lastConnected: firstConnected,
      lastDisconnected: null,
      attempts: 1,
      successes: 1,
      totalConnectedMs: 300,
      seqno: 1,
    });
    m.fsm.disconnected(m.now, 'EOF');
    const firstDisconnected = m.now;
    m.fsm.connectFailed(m.advance(1000), 'refused');
    m.fsm.connected(m.advance(2000)); // no connecting() reported: still an attempt
    m.advance(50);
    expect(m.fsm.stats(m.now)).toMatchObject({
      state: 'ACTIVE',
      lastConnected: firstConnected + 300 + 3000,
      lastDisconnected: firstDisconnected,
      attempts: 3,
      successes: 2,
      totalConnectedMs: 350,
      seqno: 3,
      lastError: 'refused',
    });
  });

  it('ignores disconnections with nothing connected or attempted (no counts, no error recorded)', () => {
    const m = machine();
    m.fsm.disconnected(m.now, 'stray');
    m.fsm.enable(m.now);
    m.fsm.disconnected(m.now, 'stray');
    expect(m.fsm.stats(m.now)).toMatchObject({ state: 'BACKOFF', attempts: 0, seqno: 0, lastError: null });
  });

  it('accepts Error objects as reasons', () => {
    const m = machine();
    m.fsm.enable(m.now);
    m.fsm.connectFailed(m.now, new Error('connect ECONNREFUSED 127.0.0.1:1'));
    expect(m.fsm.stats(m.now).lastError).toBe('connect ECONNREFUSED 127.0.0.1:1');
  });
});
