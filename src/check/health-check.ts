/**
 * Health checks (HAProxy's check.c, layer 4): every server with `check` is connected to every
 * `inter`, and its operational state follows the results with HAProxy's counter: a server starts
 * UP "but will fall down at first failure" (health = rise), climbs to rise + fall - 1 on
 * successes, needs `fall` failures in a row from there to go DOWN and `rise` successes in a row
 * to come back. `fastinter` paces checks while the state is changing, `downinter` while down.
 *
 * The checker is control plane: it runs where the configuration is owned (the master, or the
 * single process), with Node's own sockets and timers, once per server whatever the number of
 * workers, and reports each change through `changed` for whoever applies it (the workers).
 * The transition lines are HAProxy 2.6's, word for word (test/check/haproxy-checks.test.ts).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { serverUp } from '../backend/server-types.js';
import { native } from '../native.js';
import type { ProxyLog } from '../proxy/proxy-types.js';
import type { BackendRuntime, ServerCheck, ServerRuntime } from '../session/session-types.js';
import type { HealthState } from '../backend/server-types.js';

/** HAProxy's check status codes (the layer-4 ones a connect check gives). */
export type CheckStatus = 'L4OK' | 'L4TOUT' | 'L4CON';

export interface CheckResult {
  status: CheckStatus;
  /** "Layer4 check passed", "Layer4 timeout", "Layer4 connection problem". */
  reason: string;
  /** strerror of a failed connect ("Connection refused"), or null. */
  info: string | null;
  durationMs: number;
}

const REASONS: Record<CheckStatus, string> = {
  L4OK: 'Layer4 check passed',
  L4TOUT: 'Layer4 timeout',
  L4CON: 'Layer4 connection problem',
};

/** One layer-4 check: connect to `check.address`, within the connect and check timeouts. */
export function connectCheck(check: ServerCheck, signal?: AbortSignal): Promise<CheckResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    let socket: Socket | null = null;
    let settled = false;
    const onAbort = (): void => finish('L4CON', 'check aborted');
    const finish = (status: CheckStatus, info: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket?.destroy();
      resolve({ status, reason: REASONS[status], info, durationMs: Date.now() - started });
    };
    // A connect is the whole of a layer-4 check: the shorter of the two bounds applies.
    const timer = setTimeout(() => finish('L4TOUT', null), Math.min(check.timeout, check.connectTimeout));
    socket = netConnect({ host: check.address.address, port: check.address.port, family: check.address.family === 'ipv6' ? 6 : 4 });
    socket.once('connect', () => finish('L4OK', null));
    // Stopping the checker ends a check in flight at once (its socket and timer would otherwise
    // keep a stopping process alive until the timeout).
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      const errno = typeof error.errno === 'number' ? Math.abs(error.errno) : 0;
      finish(error.code === 'ETIMEDOUT' ? 'L4TOUT' : 'L4CON', errno > 0 ? native.strerror(errno) : (error.code ?? error.message));
    });
  });
}

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
  timer: NodeJS.Timeout | null;
  running: boolean;
}

/** 'be/s1', the key of a server's state across reloads and processes. */
export function serverKey(backend: string, server: string): string {
  return `${backend}/${server}`;
}

export class HealthChecker {
  private readonly checked: Checked[] = [];
  private stopped = false;
  private readonly abort = new AbortController();
  /** Checks run so far (for tests and `show activity`). */
  checks = 0;

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
        this.checked.push({ backend, server, check, health, timer: null, running: false });
      }
    }
  }

  /** The operational state of every checked server, by 'backend/server'. */
  states(): Map<string, HealthState> {
    return new Map(this.checked.map((c) => [serverKey(c.backend.name, c.server.name), c.server.health]));
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

  private async run(c: Checked): Promise<void> {
    if (this.stopped || c.running) return;
    c.running = true;
    const result = await (this.options.probe ?? connectCheck)(c.check, this.abort.signal);
    c.running = false;
    if (this.stopped) return;
    this.checks++;
    this.apply(c, result);
    const { rise, fall } = c.check;
    const steady = c.server.health === 'up' ? c.health === rise + fall - 1 : c.health === 0;
    this.schedule(c, !steady ? c.check.fastinter : c.server.health === 'up' ? c.check.inter : c.check.downinter);
  }

  private apply(c: Checked, result: CheckResult): void {
    const { rise, fall } = c.check;
    const ok = result.status === 'L4OK';
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
    server.health = health;
    const up = backend.servers.filter((s) => serverUp(s));
    const active = up.filter((s) => !s.backup).length;
    const backups = up.length - active;
    const who = `${server.backup ? 'Backup ' : ''}Server ${backend.name}/${server.name}`;
    const info = result.info !== null ? `, info: "${result.info}"` : '';
    if (health === 'down') {
      // HAProxy says so when the backups are all that is left.
      const onBackup = active === 0 && backups > 0 ? ' Running on backup.' : '';
      this.options.log.warning(
        `${who} is DOWN, reason: ${result.reason}${info}, check duration: ${result.durationMs}ms. ${active} active and ${backups} backup servers left.${onBackup} ${sessions} sessions active, 0 requeued, 0 remaining in queue.`,
      );
      if (up.length === 0) this.options.log.alert(`backend '${backend.name}' has no server available!`);
    } else {
      this.options.log.warning(
        `${who} is UP, reason: ${result.reason}, check duration: ${result.durationMs}ms. ${active} active and ${backups} backup servers online. 0 sessions requeued, 0 total in queue.`,
      );
    }
    this.options.changed?.(backend, server);
  }
}
