/**
 * Health checks (HAProxy's check.c): every server with `check` is checked every `inter` (a
 * connect, or the protocol check of src/check/protocol-check.ts), and its operational state
 * follows the results with HAProxy's counter: a server starts
 * UP "but will fall down at first failure" (health = rise), climbs to rise + fall - 1 on
 * successes, needs `fall` failures in a row from there to go DOWN and `rise` successes in a row
 * to come back. `fastinter` paces checks while the state is changing, `downinter` while down.
 *
 * The checker is control plane: it runs where the configuration is owned (the master, or the
 * single process), with Node's own sockets and timers, once per server whatever the number of
 * workers, and reports each change through `changed` for whoever applies it (the workers).
 * The transition lines are HAProxy 2.6's, word for word (test/check/haproxy-checks.test.ts).
 *
 * Each checked server also has a Reconnect (src/reconnect/reconnect.ts) that records every check
 * as a connection attempt, for stats(): how many checks ran, how many connected, and how long
 * they stayed connected. It only records: when checks run stays HAProxy's rule above.
 */
import { serverUp, upCounts } from '../backend/server-types.js';
import type { ProxyLog } from '../proxy/proxy-types.js';
import { passed, runCheck, type CheckResult } from './protocol-check.js';
import type { BackendRuntime, ServerCheck, ServerRuntime } from '../session/session-types.js';
import type { HealthState } from '../backend/server-types.js';
import { Reconnect, type ReconnectStats } from '../reconnect/reconnect.js';

export type { CheckResult } from './protocol-check.js';

export interface HealthCheckerOptions {
  log: ProxyLog;
  /** A server's state changed (its `health` is already set): apply it wherever it serves. */
  changed?: (backend: BackendRuntime, server: ServerRuntime) => void;
  /** Sessions open on the server now, for the DOWN line (default: its `cur`). */
  sessionsOf?: (backend: BackendRuntime, server: ServerRuntime) => number;
  /** States to start from, by 'backend/server' (a reload carries them over). */
  initial?: ReadonlyMap<string, HealthState>;
  /** The check itself (tests may count or script it). */
  probe?: (check: ServerCheck, signal: AbortSignal) => Promise<CheckResult>;
}

interface Checked {
  readonly backend: BackendRuntime;
  readonly server: ServerRuntime;
  readonly check: ServerCheck;
  /** HAProxy's health counter: 0..rise-1 down, rise..rise+fall-1 up. */
  health: number;
  /** `observe layer4`: failed connections in a row seen in the traffic. */
  consecutiveErrors: number;
  timer: NodeJS.Timeout | null;
  running: boolean;
  /** `disable health`: no check runs and no result counts until `enable health`. */
  paused: boolean;
  /** Records the checks as connection attempts, for stats(). */
  readonly connections: Reconnect;
  /** For show stat (HAProxy's chkfail, chkdown, lastchg, downtime, check_*): see ServerCheckState. */
  failedChecks: number;
  downTransitions: number;
  lastChange: number;
  downtimeMs: number;
  lastResult: CheckResult | null;
}

/** A backend's availability as its servers' checks make it (show stat's BACKEND chkdown, lastchg, downtime). */
interface BackendAvailability {
  up: boolean;
  downTransitions: number;
  lastChange: number;
  downtimeMs: number;
}

/**
 * What show stat reports of a checked server: HAProxy's health counter with its bounds (the
 * "UP 1/3" of a server failing), failed checks, UP-to-DOWN transitions, when the state last
 * changed and how long it has been down in all (Date.now() values and ms), and the last result.
 */
export interface ServerCheckState {
  readonly health: number;
  readonly rise: number;
  readonly fall: number;
  readonly failedChecks: number;
  readonly downTransitions: number;
  readonly lastChange: number;
  readonly downtimeMs: number;
  readonly lastResult: CheckResult | null;
}

/** The same for a backend: it is down while none of its servers is. */
export interface BackendCheckState {
  readonly up: boolean;
  readonly downTransitions: number;
  readonly lastChange: number;
  readonly downtimeMs: number;
}

/**
 * What a server's checks have done since its checker started (a reload starts a new checker,
 * hence new counts). Times are Date.now() values; `lastError` is why the last check failed, null
 * if it passed.
 */
export type ServerCheckStats = Pick<ReconnectStats, 'creationTime' | 'attempts' | 'successes' | 'totalConnectedMs' | 'lastConnected' | 'lastDisconnected' | 'lastError'> & {
  /** A check is under way (it is not in `attempts` until it ends). */
  checking: boolean;
};

/** "Layer7 wrong status, code: 503, info: "Service Unavailable"": a result as HAProxy words it. */
function describeResult(result: CheckResult): string {
  return `${result.reason}${result.code !== null ? `, code: ${result.code}` : ''}${result.info !== null ? `, info: "${result.info}"` : ''}`;
}

/**
 * When a check's connection was established, or null if it never was. A probe that does not
 * say (a scripted one) is taken as connected at its end unless it failed at layer 4.
 */
function connectedAt(result: CheckResult, started: number, finished: number): number | null {
  if (result.connectedMs !== undefined) return Math.min(finished, started + result.connectedMs);
  return result.status === 'L4CON' || result.status === 'L4TOUT' ? null : finished;
}

function backendUp(backend: BackendRuntime): boolean {
  return backend.servers.some((s) => serverUp(s));
}

/** 'be/s1', the key of a server's state across reloads and processes. */
export function serverKey(backend: string, server: string): string {
  return `${backend}/${server}`;
}

export class HealthChecker {
  private readonly checked: Checked[] = [];
  private readonly availability = new Map<BackendRuntime, BackendAvailability>();
  private stopped = false;
  private readonly abort = new AbortController();

  constructor(
    backends: Iterable<BackendRuntime>,
    private readonly options: HealthCheckerOptions,
  ) {
    for (const backend of backends) {
      for (const server of backend.servers) {
        if (server.check === null) continue;
        const check = server.check;
        const carried = options.initial?.get(serverKey(backend.name, server.name));
        if (carried !== undefined) server.health = carried;
        // A server carried over down needs `rise` successes; one starting up falls at the
        // first failure, as HAProxy starts them.
        const health = server.health === 'down' ? 0 : carried === 'up' ? check.rise + check.fall - 1 : check.rise;
        const now = Date.now();
        // Never run(): its backoff and probes stay unused, the checks' pacing is HAProxy's.
        const connections = new Reconnect(now, { name: serverKey(backend.name, server.name), probeIntervalMs: 0 });
        connections.enable(now);
        this.checked.push({ backend, server, check, health, consecutiveErrors: 0, timer: null, running: false, paused: false, connections, failedChecks: 0, downTransitions: 0, lastChange: now, downtimeMs: 0, lastResult: null });
        if (!this.availability.has(backend)) this.availability.set(backend, { up: backendUp(backend), downTransitions: 0, lastChange: now, downtimeMs: 0 });
      }
    }
  }

  /** Each checked server's state for show stat, by 'backend/server'; down periods still running count up to now. */
  checkStates(now = Date.now()): Map<string, ServerCheckState> {
    return new Map(
      this.checked.map((c) => {
        const downtimeMs = c.downtimeMs + (c.server.health === 'down' ? now - c.lastChange : 0);
        const { health, failedChecks, downTransitions, lastChange, lastResult } = c;
        return [serverKey(c.backend.name, c.server.name), { health, rise: c.check.rise, fall: c.check.fall, failedChecks, downTransitions, lastChange, downtimeMs, lastResult }];
      }),
    );
  }

  /** Each backend with checked servers, by name: whether any server is up, and its history. */
  backendStates(now = Date.now()): Map<string, BackendCheckState> {
    return new Map(
      [...this.availability].map(([backend, a]) => [backend.name, { up: a.up, downTransitions: a.downTransitions, lastChange: a.lastChange, downtimeMs: a.downtimeMs + (a.up ? 0 : now - a.lastChange) }]),
    );
  }

  /** `clear counters all`: failed checks and transitions start again from zero (times are not counters). */
  clearCounters(): void {
    for (const c of this.checked) {
      c.failedChecks = 0;
      c.downTransitions = 0;
    }
    for (const a of this.availability.values()) a.downTransitions = 0;
  }

  /**
   * `observe layer4`: a connection of the traffic to a server succeeded or failed. After
   * `error-limit` failures in a row, `on-error` applies (HAProxy's health analysis): fastinter
   * only brings the next check closer; fail-check counts as a failed check; sudden-death leaves
   * the server one failure from DOWN, then counts one; mark-down marks it DOWN. Each also
   * brings the next check to `fastinter`.
   */
  observe(backend: string, server: string, ok: boolean): void {
    const c = this.find(backend, server);
    const observe = c?.server.observe;
    if (c === undefined || !observe || this.stopped || c.paused) return;
    if (ok) {
      c.consecutiveErrors = 0;
      return;
    }
    if (++c.consecutiveErrors < observe.errorLimit) return;
    const errors = c.consecutiveErrors;
    c.consecutiveErrors = 0;
    const { rise } = c.check;
    if (observe.onError !== 'fastinter') {
      if (observe.onError === 'sudden-death' && c.health > rise) c.health = rise + 1;
      if (observe.onError === 'mark-down') c.health = rise;
      const result: CheckResult = {
        status: 'L4CON',
        reason: 'Health analyze',
        code: null,
        info: `Detected ${errors} consecutive errors, last one was: L4 unsuccessful connection`,
        durationMs: -1,
      };
      this.apply(c, result);
    }
    if (c.timer !== null && !c.running) {
      clearTimeout(c.timer);
      c.timer = null;
      this.schedule(c, c.check.fastinter);
    }
  }

  /** The operational state of every checked server, by 'backend/server'. */
  states(): Map<string, HealthState> {
    return new Map(this.checked.map((c) => [serverKey(c.backend.name, c.server.name), c.server.health]));
  }

  /** What each checked server's checks have done, by 'backend/server'. */
  stats(): Map<string, ServerCheckStats> {
    const now = Date.now();
    return new Map(
      this.checked.map((c) => {
        const { creationTime, attempts, successes, totalConnectedMs, lastConnected, lastDisconnected, lastError, state } = c.connections.stats(now);
        const stats: ServerCheckStats = { creationTime, attempts, successes, totalConnectedMs, lastConnected, lastDisconnected, lastError, checking: state === 'CONNECTING' };
        return [serverKey(c.backend.name, c.server.name), stats];
      }),
    );
  }

  get size(): number {
    return this.checked.length;
  }

  /** Schedules the first checks, spread over each server's `inter` so they do not all start at once. */
  start(): void {
    const n = this.checked.length;
    this.checked.forEach((c, i) => this.schedule(c, Math.floor((c.check.inter * i) / Math.max(1, n))));
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
    for (const c of this.checked) {
      if (c.timer !== null) clearTimeout(c.timer);
      c.timer = null;
    }
  }

  private schedule(c: Checked, delay: number): void {
    if (this.stopped) return;
    c.timer = setTimeout(() => {
      c.timer = null;
      void this.run(c);
    }, delay);
    // The checks never keep a process alive on their own: the proxy's loop (or the master's
    // workers) does, and stop() is called when that ends.
    c.timer.unref();
  }

  /**
   * `disable health`: the server's checks stop, and what one under way finds is not counted (the
   * caller marks the server up: HAProxy then treats it as unchecked).
   */
  pause(backend: string, server: string): boolean {
    const c = this.find(backend, server);
    if (c === undefined) return false;
    c.paused = true;
    if (c.timer !== null) clearTimeout(c.timer);
    c.timer = null;
    return true;
  }

  /** `enable health`: checks start again, from a counter that has the server fully up. */
  resume(backend: string, server: string): boolean {
    const c = this.find(backend, server);
    if (c === undefined || !c.paused) return c !== undefined;
    c.paused = false;
    c.health = c.server.health === 'up' ? c.check.rise + c.check.fall - 1 : 0;
    if (!c.running) this.schedule(c, 0);
    return true;
  }

  private find(backend: string, server: string): Checked | undefined {
    return this.checked.find((x) => x.backend.name === backend && x.server.name === server);
  }

  private async run(c: Checked): Promise<void> {
    if (this.stopped || c.running || c.paused) return;
    if (c.server.unresolved || c.check.address === null) {
      // No address (DNS has not given one, or took it away): nothing to check until it has one,
      // as HAProxy pauses the checks of a server in maintenance.
      this.schedule(c, c.check.inter);
      return;
    }
    c.running = true;
    const started = Date.now();
    c.connections.connecting(started);
    const result = await (this.options.probe ?? runCheck)(c.check, this.abort.signal);
    c.running = false;
    // A check cut short by stop() says nothing about the server: not recorded either. One that
    // finished after `disable health` does not count.
    if (this.stopped || c.paused) return;
    this.record(c, result, started);
    this.apply(c, result);
    const { rise, fall } = c.check;
    const steady = c.server.health === 'up' ? c.health === rise + fall - 1 : c.health === 0;
    const interval = !steady ? c.check.fastinter : c.server.health === 'up' ? c.check.inter : c.check.downinter;
    // spread-checks: up to ±N% so that servers checked together drift apart.
    const spread = c.check.spread > 0 ? 1 + ((Math.random() * 2 - 1) * c.check.spread) / 100 : 1;
    this.schedule(c, Math.round(interval * spread));
  }

  /**
   * A check is one connection: refused or timed out before connecting, a failed attempt; once
   * connected, a success for the counts even if layer 6/7 then fails, ended when the check ended.
   */
  private record(c: Checked, result: CheckResult, started: number): void {
    const finished = Date.now();
    const at = connectedAt(result, started, finished);
    if (at === null) {
      c.connections.connectFailed(finished, describeResult(result));
      return;
    }
    c.connections.connected(at);
    const ok = passed(result);
    // A passed check is the server answering: proof of life, as traffic would be.
    if (ok) c.connections.activity(finished);
    c.connections.disconnected(finished, ok ? null : describeResult(result));
  }

  private apply(c: Checked, result: CheckResult): void {
    const { rise, fall } = c.check;
    const ok = passed(result);
    c.lastResult = result;
    if (!ok) c.failedChecks++;
    if (ok) {
      if (c.health < rise + fall - 1) c.health++;
      if (c.server.health === 'down' && c.health >= rise) {
        c.health = rise + fall - 1;
        this.transition(c, 'up', result);
      }
    } else if (c.server.health === 'up') {
      if (c.health > rise) c.health--;
      else {
        c.health = 0;
        this.transition(c, 'down', result);
      }
    } else {
      c.health = 0;
    }
  }

  private transition(c: Checked, health: HealthState, result: CheckResult): void {
    const { backend, server } = c;
    const sessions = this.options.sessionsOf?.(backend, server) ?? server.cur;
    const now = Date.now();
    if (health === 'down') c.downTransitions++;
    else c.downtimeMs += now - c.lastChange;
    c.lastChange = now;
    server.health = health;
    const availability = this.availability.get(backend);
    if (availability !== undefined && availability.up !== backendUp(backend)) {
      availability.up = !availability.up;
      if (availability.up) availability.downtimeMs += now - availability.lastChange;
      else availability.downTransitions++;
      availability.lastChange = now;
    }
    const { active, backups } = upCounts(backend.servers);
    const who = `${server.backup ? 'Backup ' : ''}Server ${backend.name}/${server.name}`;
    const why = describeResult(result);
    // A health analysis (observe) has no check, hence no duration, in HAProxy's line.
    const duration = result.durationMs >= 0 ? `, check duration: ${result.durationMs}ms` : '';
    if (health === 'down') {
      // HAProxy says so when the backups are all that is left.
      const onBackup = active === 0 && backups > 0 ? ' Running on backup.' : '';
      this.options.log.warning(
        `${who} is DOWN, reason: ${why}${duration}. ${active} active and ${backups} backup servers left.${onBackup} ${sessions} sessions active, 0 requeued, 0 remaining in queue.`,
      );
      if (active + backups === 0) this.options.log.alert(`backend '${backend.name}' has no server available!`);
    } else {
      this.options.log.warning(
        `${who} is UP, reason: ${why}${duration}. ${active} active and ${backups} backup servers online. 0 sessions requeued, 0 total in queue.`,
      );
    }
    this.options.changed?.(backend, server);
  }
}
