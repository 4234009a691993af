/**
 * The master of master-worker mode (`-W`, `master-worker`, `nbthread N`, `-D`): it reads the
 * configuration, binds every listener once, and runs `nbthread` worker processes that serve with
 * those sockets. It serves no connection itself, so nothing a client sends can crash it.
 *
 * - Respawn (seed 003's respawning child, seed 004's monitor): a worker of the current generation
 *   that exits for any reason is replaced by a new one in the same slot, with the same sockets;
 *   connections that arrive meanwhile wait in the kernel's accept queue, which the master keeps
 *   open. A worker that dies young is restarted after a delay doubling from 100 ms to 10 s.
 * - Reload (SIGUSR2, SIGHUP, `reload` on the master CLI): the master reads the configuration
 *   again, in itself (no re-exec: the new code would be the same, and the old sockets are already
 *   here). An invalid one changes nothing. A valid one binds only its new addresses, starts a new
 *   generation of workers, and once every one of them serves, tells the old generation to stop
 *   accepting and finish its sessions. The listening sockets of unchanged addresses are the same
 *   kernel sockets throughout, so no connection is refused at any point.
 * - Spreading connections: one listening socket per address, shared by every worker, each polling
 *   it; whoever accepts first serves. A dead worker owns no accept queue, so nothing waiting is lost
 *   with it (only the connections it had accepted).
 */
import { StickTable, tableSignature } from '../stick/stick-table.js';
import type { StickStore, StickTableConfig } from '../config/model.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import type { CliOptions } from '../cli/args.js';
import { loadConfig } from '../cli/load-config.js';
import { listenerCount, type Config } from '../config/model.js';
import { EpoxyError, ErrorCodes } from '../errors.js';
import { native } from '../native.js';
import type { ProxyLog } from '../proxy/proxy-types.js';
import { sdNotify } from '../process/sd-notify.js';
import { bindAll, type BoundSockets } from '../runtime/bind-all.js';
import { BindError } from '../runtime/bind-error.js';
import { buildRuntime, type Runtime } from '../runtime/build.js';
import type { HealthState } from '../backend/server-types.js';
import { HealthChecker, serverKey } from '../check/health-check.js';
import { ServerEvents, type ServerChange } from '../backend/server-events.js';
import type { CommandResult, ControlContext } from '../control/commands.js';
import type { BackendRuntime, ServerRuntime } from '../session/session-types.js';
import { applyResolvedAddress, resolvedAddressOf, ServerResolvers, type ResolvedAddress } from '../dns/resolvers.js';
import { COUNTER_FIELDS } from '../session/session-types.js';
import { planFds, type FdPlan } from '../runtime/limits.js';
import { buildStats, type StatsSnapshot } from '../stats/stats.js';
import { httpFrontends, HttpServices } from '../stats/http-services.js';
import { MasterControl } from './master-control.js';
import type { StatsOptions } from '../stats/process-stats.js';
import { VERSION } from '../version.js';
import { CounterTotals, type CountersSnapshot } from './counters.js';
import { WORKER_ENV, type MasterMessage, type ServerSettings, type WorkerManifest, type WorkerMessage } from './messages.js';

/** A worker that lived less than this before dying counts as a crash loop. */
const STABLE_AFTER_MS = 10_000;
/** Respawn delays of a crash loop: the first death is respawned at once, then 100 ms doubling to 10 s. */
export const RESPAWN_MIN_MS = 100;
export const RESPAWN_MAX_MS = 10_000;
/** How long a new worker may take to serve (it parses, resolves server names, adopts sockets). */
const WORKER_START_TIMEOUT_MS = 30_000;
/** How long a counters request waits for the workers' answers. */
const COUNTERS_WAIT_MS = 1000;
/** The fd a worker finds its IPC channel at; its listening sockets follow. */
const IPC_FD = 3;

type WorkerState = 'starting' | 'ready' | 'stopping' | 'gone';

export interface WorkerInfo {
  readonly pid: number;
  readonly slot: number;
  readonly generation: number;
  readonly state: WorkerState;
  readonly startedAt: number;
  /** Reloads this worker has lived through (it belongs to an old generation when > 0). */
  readonly reloads: number;
}

class WorkerProcess implements WorkerInfo {
  state: WorkerState = 'starting';
  readonly startedAt = Date.now();
  reloads = 0;
  counters: CountersSnapshot | null = null;
  /** Resolves when the worker serves; rejects when it exits or fails first. */
  readonly ready: Promise<void>;
  resolveReady!: () => void;
  rejectReady!: (error: Error) => void;
  readonly replies = new Map<number, (reply: CommandResult) => void>();
  readonly counterWaiters: Array<() => void> = [];

  constructor(
    readonly child: ChildProcess,
    readonly pid: number,
    readonly slot: number,
    readonly gen: Generation,
  ) {
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // A generation that fails is cleaned up by whoever awaited it; nothing else may see this.
    this.ready.catch(() => {});
  }

  get generation(): number {
    return this.gen.id;
  }

  send(message: MasterMessage): void {
    if (this.child.connected) this.child.send(message, (error) => void error);
  }
}

class Generation {
  readonly workers = new Map<number, WorkerProcess>();
  /** Health checks of this generation's servers, run by the master once it is current. */
  checker: HealthChecker | null = null;
  /** Run-time DNS of this generation's servers, run by the master once it is current. */
  resolvers: ServerResolvers | null = null;
  /** Deaths in a row per slot of workers that died young (the crash-loop backoff). */
  readonly crashes = new Map<number, number>();
  readonly respawnTimers = new Set<NodeJS.Timeout>();
  hardStopTimer: NodeJS.Timeout | null = null;
  state: 'starting' | 'current' | 'old' = 'starting';

  constructor(
    readonly id: number,
    readonly config: Config,
    /** The master's own copy of the run-time objects: servers and their check settings. */
    readonly runtime: Runtime,
    readonly size: number,
    /** Listening fds by identity; some may be shared with the previous generation. */
    readonly sockets: BoundSockets,
    /** Identities this generation bound itself (closed if it fails). */
    readonly created: Set<string>,
    /** The fd limit and global maxconn its workers derive (show info, show stat's slim). */
    readonly fds: FdPlan,
  ) {}
}

export interface MasterOptions {
  cli: CliOptions;
  /** The command a worker runs: the script and the arguments the master was given. */
  command: readonly string[];
  log: ProxyLog;
  /**
   * 'inherit': workers write to the master's stdout and stderr; 'forward' (a daemon): their
   * stderr comes through the master, whose own stdio is detached once it serves.
   */
  workerStdio: 'inherit' | 'forward';
}

export interface ReloadResult {
  ok: boolean;
  /** Alerts of a refused reload (file:line of each configuration error). */
  messages: string[];
}

/** '0d00h00m05s' as HAProxy's `show proc` writes uptimes. */
export function uptimeText(ms: number): string {
  const s = Math.floor(ms / 1000);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${Math.floor(s / 86400)}d${pad(Math.floor(s / 3600) % 24)}h${pad(Math.floor(s / 60) % 60)}m${pad(s % 60)}s`;
}

/** HAProxy's "exited with code 137 (Killed)": 128 + the signal's number, and strsignal's words. */
export function exitText(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal !== null) {
    const number = osConstants.signals[signal] ?? 0;
    return `code ${128 + number} (${SIGNAL_WORDS[signal] ?? signal})`;
  }
  return `code ${code ?? 0} (Exit)`;
}

const SIGNAL_WORDS: Partial<Record<NodeJS.Signals, string>> = {
  SIGKILL: 'Killed',
  SIGTERM: 'Terminated',
  SIGINT: 'Interrupt',
  SIGSEGV: 'Segmentation fault',
  SIGABRT: 'Aborted',
  SIGBUS: 'Bus error',
  SIGFPE: 'Floating point exception',
  SIGILL: 'Illegal instruction',
  SIGQUIT: 'Quit',
  SIGHUP: 'Hangup',
  SIGUSR1: 'User defined signal 1',
  SIGUSR2: 'User defined signal 2',
  SIGPIPE: 'Broken pipe',
};

export class Master {
  private readonly log: ProxyLog;
  private readonly generations: Generation[] = [];
  /**
   * Stick tables by proxy name and definition. The master creates each table's memory once and
   * every worker maps it; a reload whose table is defined the same way keeps the same memory
   * (entries, server_id, rates carry over), a changed definition starts a new table. A table no
   * generation uses any more is closed (pruneStickTables()).
   */
  private readonly stickTables = new Map<string, StickTable>();
  private current: Generation | null = null;
  private nextGeneration = 1;
  private readonly totals = new CounterTotals();
  /** The HTTP sections (exporter, stats page) of the current generation's configuration, served by the master itself. */
  private httpServices: HttpServices | null = null;
  /** Their restarts in order (a reload closes the old ones before the new ones bind). */
  private httpRestarts: Promise<void> = Promise.resolve();
  /** Changes of the current generation's servers (checks, DNS), announced to the workers. */
  private readonly serverEvents = new ServerEvents();
  private readonly startedAt = Date.now();
  private reloads = 0;
  private failedReloads = 0;
  private reloading: Promise<ReloadResult> | null = null;
  private reloadAgain = false;
  private stopping: 'soft' | 'hard' | null = null;
  private nextReplyId = 1;
  private resolveDone!: (code: number) => void;
  /** Resolves with the master's exit status once it stopped and every worker is gone. */
  readonly done: Promise<number>;

  constructor(private readonly options: MasterOptions) {
    this.log = options.log;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.serverEvents.on((backend, server, change) => this.serverChanged(backend, server, change));
  }

  /**
   * Binds and starts the first generation; resolves once every worker serves. Throws (BindError,
   * or an ERR_EPOXY_PROCESS error) with every socket closed and no worker left when it cannot.
   */
  async start(config: Config): Promise<void> {
    const generation = await this.prepare(config, null);
    try {
      await this.launch(generation);
    } catch (error) {
      this.abandon(generation);
      throw error;
    }
    this.promote(generation);
  }

  get generation(): number {
    return this.current?.id ?? 0;
  }

  /** Reads the configuration again and replaces the workers with a new generation when it is valid. */
  reload(reason: string): Promise<ReloadResult> {
    if (this.stopping !== null) return Promise.resolve({ ok: false, messages: ['the master is stopping'] });
    // Before the first generation serves there is nothing to replace: a reload then would bind
    // every address a second time.
    if (this.current === null) return Promise.resolve({ ok: false, messages: ['the master is still starting'] });
    if (this.reloading !== null) {
      // A reload asked for while one runs may have been meant for a file saved after it started.
      this.reloadAgain = true;
      return this.reloading;
    }
    const run = this.runReload(reason).finally(() => {
      this.reloading = null;
      if (this.reloadAgain) {
        this.reloadAgain = false;
        void this.reload(reason);
      }
    });
    this.reloading = run;
    return run;
  }

  /** SIGUSR1: every worker stops accepting and finishes its sessions; the master exits after them. */
  softStop(): void {
    if (this.stopping !== null) return;
    this.stopping = 'soft';
    this.stopChecks();
    sdNotify('STOPPING=1');
    this.log.warning('Stopping every worker softly: sessions finish, nothing new is accepted.');
    for (const generation of this.generations) {
      this.cancelRespawns(generation);
      for (const worker of generation.workers.values()) this.stopWorker(worker);
      this.armHardStop(generation);
    }
    this.closeSockets();
    this.checkDone();
  }

  /** SIGTERM/SIGINT: every worker closes its sessions now. */
  hardStop(signal: NodeJS.Signals = 'SIGTERM'): void {
    const wasStopping = this.stopping;
    this.stopping = 'hard';
    this.stopChecks();
    if (wasStopping === null) sdNotify('STOPPING=1');
    for (const generation of this.generations) {
      this.cancelRespawns(generation);
      for (const worker of generation.workers.values()) this.signal(worker, signal);
    }
    this.closeSockets();
    this.checkDone();
  }

  /** SIGTTOU/SIGTTIN and friends: passed on to the current generation's workers. */
  forwardSignal(signal: NodeJS.Signals): void {
    for (const worker of this.current?.workers.values() ?? []) this.signal(worker, signal);
  }

  /** Per-proxy and per-server totals over every worker, past and present, fresh from the live ones. */
  async counters(): Promise<Map<string, number[]>> {
    const live = this.generations.flatMap((g) => [...g.workers.values()]).filter((w) => w.state !== 'gone');
    await Promise.all(
      live.map(
        (worker) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, COUNTERS_WAIT_MS);
            worker.counterWaiters.push(() => {
              clearTimeout(timer);
              resolve();
            });
            worker.send({ type: 'counters' });
          }),
      ),
    );
    return this.totals.total(this.generations.flatMap((g) => [...g.workers.values()].map((w) => w.counters)));
  }

  /**
   * `show stat` / `show info` for the whole of epoxy, as HAProxy's one process would answer:
   * counters summed over every worker (past ones included, fresh from the live ones), servers'
   * states and checks from the master's own checker, which is the one that checks them.
   */
  async stats(options: StatsOptions = {}): Promise<StatsSnapshot> {
    const counters = await this.counters();
    const generation = this.current;
    if (generation === null) throw new EpoxyError('the master is still starting', ErrorCodes.PROCESS);
    const now = Date.now();
    const checker = generation.checker;
    const fds = generation.fds;
    const workers = [...generation.workers.values()].filter((w) => w.state !== 'gone');
    return buildStats({
      config: generation.config,
      runtime: generation.runtime,
      counters,
      checks: checker === null ? null : { servers: checker.checkStates(now), backends: checker.backendStates(now) },
      maxconn: fds.maxconn,
      statsSocket: options.statsSocket ?? false,
      now,
      process: {
        pid: process.pid,
        nbthread: workers.length,
        startedAt: this.startedAt,
        ulimitN: fds.maxsock,
        maxsock: fds.maxsock,
        maxconn: fds.maxconn,
        maxpipes: fds.maxPipes,
        listeners: generation.sockets.size,
        stopping: this.stopping !== null,
        busyPolling: generation.config.global.busyPolling,
        version: VERSION,
      },
    });
  }

  /**
   * `clear counters [all]` everywhere: every live worker resets its own, the totals kept for
   * workers that are gone are reset alike, and (all) the master's checks' counts.
   */
  clearCounters(all: boolean): void {
    this.broadcast({ type: 'clear', all });
    this.totals.clear(all);
    if (all) this.current?.checker?.clearCounters();
  }

  /** Forwards a master CLI command to a worker (`@<slot>` of the current generation, or `@!<pid>`). */
  async forward(target: { slot: number } | { pid: number }, line: string): Promise<string | null> {
    const worker =
      'slot' in target
        ? this.current?.workers.get(target.slot)
        : this.generations.flatMap((g) => [...g.workers.values()]).find((w) => w.pid === target.pid);
    if (worker === undefined || worker.state === 'gone' || !worker.child.connected) return null;
    return (await this.ask(worker, line)).text;
  }

  /** Runs `line` in every serving worker of the current generation; their answers in slot order. */
  async askWorkers(line: string): Promise<CommandResult[]> {
    const workers = [...(this.current?.workers.values() ?? [])].filter((w) => w.state === 'ready' && w.child.connected);
    return Promise.all(workers.map((w) => this.ask(w, line)));
  }

  /**
   * What the runtime-API commands the master answers itself act on: the current generation's
   * servers (with the states its checks and resolvers keep), no sessions, no listeners.
   */
  controlContext(): ControlContext | null {
    const generation = this.current;
    if (generation === null) return null;
    return {
      frontends: generation.runtime.frontends,
      backends: generation.runtime.backends,
      proxies: null,
      engine: null,
      checker: generation.checker,
      serverEvents: this.serverEvents,
      log: this.log,
      maxconnLimit: generation.config.global.maxconn ?? 0,
      activity: null,
      // Summed over every worker, with the master's own checks and servers (as HAProxy's one process).
      stats: () => this.stats({ statsSocket: generation.config.global.statsSockets.length > 0 }),
      clearCounters: (all) => this.clearCounters(all),
      tables: generation.runtime.tables,
    };
  }

  private ask(worker: WorkerProcess, line: string): Promise<CommandResult> {
    const id = this.nextReplyId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        worker.replies.delete(id);
        resolve({ text: `The worker (${worker.pid}) did not answer.\n`, failed: true });
      }, COUNTERS_WAIT_MS * 5);
      worker.replies.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      worker.send({ type: 'command', id, line });
    });
  }

  /** HAProxy's `show proc`, with the generation of each process in a last column. */
  showProc(): string {
    const row = (cells: string[]): string => `${cells.map((c, i) => (i < cells.length - 1 ? c.padEnd(15) : c)).join(' ')}\n`;
    const now = Date.now();
    const version = VERSION;
    let out = row(['#<PID>', '<type>', '<reloads>', '<uptime>', '<version>', '<generation>']);
    out += row([String(process.pid), 'master', `${this.reloads} [failed: ${this.failedReloads}]`, uptimeText(now - this.startedAt), version, String(this.generation)]);
    const line = (w: WorkerInfo): string => row([String(w.pid), 'worker', String(w.reloads), uptimeText(now - w.startedAt), version, String(w.generation)]);
    out += '# workers\n';
    for (const worker of this.current?.workers.values() ?? []) out += line(worker);
    out += '# old workers\n';
    for (const generation of this.generations) {
      if (generation === this.current) continue;
      for (const worker of generation.workers.values()) out += line(worker);
    }
    out += '# programs\n\n';
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Generations

  /** Builds the runtime of `config` and binds what the previous generation does not already hold. */
  private async prepare(config: Config, previous: Generation | null): Promise<Generation> {
    // The same maxconn as the workers will derive, so that listen() gets their backlog.
    const fds = planFds({
      maxconn: this.options.cli.maxconn ?? config.global.maxconn,
      maxpipes: config.global.maxpipes,
      ulimitN: config.global.ulimitN,
      splice: false,
      listeners: listenerCount(config),
    });
    let runtime: Runtime;
    try {
      runtime = await buildRuntime(config, { maxconn: fds.maxconn, stickTables: (name, table, store) => this.stickTableFor(name, table, store) });
    } catch (error) {
      this.pruneStickTables();
      throw error;
    }
    const adopt = previous?.sockets ?? new Map<string, number>();
    const sockets = bindAll(runtime, {
      // As the single process: every failed bind is reported (nothing retries it later).
      verbose: true,
      log: this.log,
      context: () => ({ maxsock: 1 << 20 }),
      adopt,
    });
    const created = new Set([...sockets.keys()].filter((key) => !adopt.has(key)));
    // Addresses found by DNS carry over: the new workers start where the old ones route.
    const addresses = previous?.resolvers?.addresses();
    if (addresses !== undefined) {
      for (const backend of runtime.backends.values()) {
        for (const server of backend.servers) {
          const address = server.dns ? addresses.get(serverKey(backend.name, server.name)) : undefined;
          if (address !== undefined) applyResolvedAddress(server, address);
        }
      }
    }
    // An administrative state set at run time (the runtime API's `set server state`, `disable
    // server`) carries over, unless the configuration's own word on it (`disabled`) changed:
    // an operator's maintenance does not end because of a reload. HAProxy keeps it only with a
    // server-state file; epoxy keeps it always (docs/runtime-api.md).
    if (previous !== null) {
      for (const backend of runtime.backends.values()) {
        const before = previous.runtime.backends.get(backend.name);
        for (const server of backend.servers) {
          const old = before?.servers.find((s) => s.name === server.name);
          if (old === undefined) continue;
          const configuredBefore = configuredAdmin(previous.config, backend.name, server.name);
          const configuredNow = configuredAdmin(config, backend.name, server.name);
          if (configuredBefore === configuredNow) server.admin = old.admin;
        }
      }
    }
    // Servers known down stay down for the new workers until checks find them up again.
    const states = previous?.checker?.states();
    if (states !== undefined) {
      for (const backend of runtime.backends.values()) {
        for (const server of backend.servers) {
          const state = server.check !== null ? states.get(serverKey(backend.name, server.name)) : undefined;
          if (state !== undefined) server.health = state;
        }
      }
    }
    return new Generation(this.nextGeneration++, config, runtime, config.global.nbthread, sockets, created, fds);
  }

  /** Spawns every worker of `generation` and waits until all serve. */
  private async launch(generation: Generation): Promise<void> {
    this.generations.push(generation);
    for (let slot = 1; slot <= generation.size; slot++) this.spawnWorker(generation, slot);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new EpoxyError(`the workers of generation ${generation.id} did not serve within ${WORKER_START_TIMEOUT_MS / 1000} s`, ErrorCodes.PROCESS)), WORKER_START_TIMEOUT_MS);
    });
    try {
      await Promise.race([Promise.all([...generation.workers.values()].map((w) => w.ready)), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** A generation that failed to start: its workers go, the sockets it created are closed. */
  private stickTableFor(name: string, config: StickTableConfig, store: readonly StickStore[]): StickTable {
    const key = `${name}\n${tableSignature(config, store)}`;
    let table = this.stickTables.get(key);
    if (table === undefined) {
      table = StickTable.create(name, config, store);
      this.stickTables.set(key, table);
    }
    return table;
  }

  /** Closes the tables no generation uses (their workers keep their own mappings while they live). */
  private pruneStickTables(): void {
    const live = new Set(this.generations.flatMap((g) => [...g.runtime.tables.values()]));
    for (const [key, table] of this.stickTables) {
      if (live.has(table)) continue;
      table.close();
      this.stickTables.delete(key);
    }
  }

  private abandon(generation: Generation): void {
    generation.state = 'old';
    this.cancelRespawns(generation);
    for (const worker of generation.workers.values()) {
      // One that already serves may hold sessions: it finishes them. The others go now.
      if (worker.state === 'ready') this.stopWorker(worker);
      else this.signal(worker, 'SIGTERM');
    }
    for (const key of generation.created) native.close(generation.sockets.get(key)!);
    generation.created.clear();
    generation.sockets.clear();
    this.dropIfEmpty(generation);
  }

  /** `generation` serves: it becomes the current one and the previous one stops. */
  private promote(generation: Generation): void {
    const previous = this.current;
    generation.state = 'current';
    this.current = generation;
    this.startResolvers(generation, previous);
    this.startChecks(generation, previous);
    this.httpRestarts = this.httpRestarts.then(() => this.startHttpServices(generation));
    if (previous === null) return;
    previous.state = 'old';
    this.cancelRespawns(previous);
    // The master's copies of sockets the new configuration dropped: the old workers keep their
    // own until they stop accepting, after which the address is free.
    const kept = new Set(generation.sockets.values());
    for (const fd of previous.sockets.values()) if (!kept.has(fd)) native.close(fd);
    previous.sockets.clear();
    for (const worker of previous.workers.values()) this.stopWorker(worker);
    this.armHardStop(previous);
    const max = generation.config.global.process.mworkerMaxReloads;
    for (const old of this.generations) {
      if (old === generation) continue;
      for (const worker of old.workers.values()) {
        worker.reloads++;
        if (max !== null && worker.reloads > max && worker.state !== 'gone') {
          this.log.warning(`Former worker (${worker.pid}) survived ${worker.reloads} reloads, more than mworker-max-reloads (${max}): sending SIGTERM.`);
          this.signal(worker, 'SIGTERM');
        }
      }
    }
  }

  private async runReload(reason: string): Promise<ReloadResult> {
    sdNotify('RELOADING=1');
    this.log.notice(`Reloading epoxy (${reason})`);
    const messages: string[] = [];
    const log: ProxyLog = {
      alert: (m) => {
        messages.push(m);
        this.log.alert(m);
      },
      warning: (m) => this.log.warning(m),
      notice: (m) => this.log.notice(m),
    };
    const refuse = (why: string): ReloadResult => {
      log.alert(why);
      this.failedReloads++;
      sdNotify('READY=1');
      return { ok: false, messages };
    };
    const loaded = await loadConfig(this.options.cli.files, { quiet: this.options.cli.quiet, checkOnly: false, log });
    if (!loaded.ok) return refuse(`Reload failed: the configuration is invalid; generation ${this.generation} keeps serving.`);
    if (!loaded.listens) {
      log.alert("No enabled listener found (check for 'bind' directives) !");
      return refuse(`Reload failed; generation ${this.generation} keeps serving.`);
    }
    if (this.stopping !== null) return refuse('Reload abandoned: the master is stopping.');
    let generation: Generation;
    try {
      generation = await this.prepare(loaded.config, this.current);
    } catch (error) {
      if (error instanceof BindError) log.alert('Some protocols failed to start their listeners!');
      else log.alert((error as Error).message);
      return refuse(`Reload failed; generation ${this.generation} keeps serving.`);
    }
    try {
      await this.launch(generation);
    } catch (error) {
      this.abandon(generation);
      log.alert((error as Error).message);
      return refuse(`Reload failed: the new workers did not start; generation ${this.generation} keeps serving.`);
    }
    if (this.stopping !== null) {
      this.abandon(generation);
      return refuse('Reload abandoned: the master is stopping.');
    }
    this.promote(generation);
    this.reloads++;
    this.log.notice('Loading success.');
    sdNotify('READY=1');
    return { ok: true, messages };
  }

  /**
   * The master checks the servers, once for every worker; each change goes to every live worker.
   * A reload's checker starts from the previous one's states, so no server known down takes
   * traffic because of a reload.
   */
  private startChecks(generation: Generation, previous: Generation | null): void {
    const initial = previous?.checker?.states();
    previous?.checker?.stop();
    if (previous !== null) previous.checker = null;
    const checker = new HealthChecker(generation.runtime.backends.values(), {
      log: this.log,
      ...(initial !== undefined && { initial }),
      sessionsOf: (backend, server) => this.sessionsOn(backend.name, server.name),
      changed: (backend, server) => this.serverEvents.emit(backend, server, 'health'),
    });
    if (checker.size === 0) return;
    generation.checker = checker;
    checker.start();
  }

  /**
   * The master serves the HTTP sections itself (the exporter, the stats page), from its workers'
   * totals (their sockets are not handed to workers); the stats page's admin actions go through
   * the master's runtime API, which changes its own copy and then every worker. A reload closes
   * the previous configuration's and opens the new one's.
   */
  private async startHttpServices(generation: Generation): Promise<void> {
    await this.httpServices?.close();
    this.httpServices = null;
    if (this.stopping !== null || generation !== this.current || httpFrontends(generation.config).length === 0) return;
    const control = new MasterControl(this);
    try {
      this.httpServices = await HttpServices.listen(generation.config, {
        snapshot: () => this.stats(),
        runCommand: (command) => control.run(command, 'admin'),
      });
    } catch (error) {
      this.log.alert(`The HTTP sections (exporter, stats page) could not start: ${(error as Error).message}`);
    }
  }

  private stopHttpServices(): void {
    this.httpRestarts = this.httpRestarts.then(async () => {
      await this.httpServices?.close();
      this.httpServices = null;
    });
  }

  /**
   * The master resolves the servers' names, once for every worker; each change goes to every
   * live worker. A reload's resolvers start from the previous one's addresses.
   */
  private startResolvers(generation: Generation, previous: Generation | null): void {
    const initial = previous?.resolvers?.addresses();
    previous?.resolvers?.stop();
    if (previous !== null) previous.resolvers = null;
    const resolvers = new ServerResolvers(generation.config.resolvers, generation.runtime.backends.values(), {
      log: this.log,
      ...(initial !== undefined && { initial }),
      changed: (backend, server) => this.serverEvents.emit(backend, server, 'address'),
    });
    if (resolvers.size === 0) return;
    generation.resolvers = resolvers;
    resolvers.start();
  }

  /** A server of the current generation changed: every worker hears of it. */
  private serverChanged(backend: BackendRuntime, server: ServerRuntime, change: ServerChange): void {
    const key = serverKey(backend.name, server.name);
    if (change === 'address') {
      this.broadcast({ type: 'addresses', addresses: { [key]: resolvedAddressOf(server) } });
      return;
    }
    // Nothing in the master changes an administrative state yet (the runtime API will, with a
    // message of its own): only health changes remain.
    if (change !== 'health') return;
    // Every generation's copy follows (a reload in progress starts its workers from it).
    for (const other of this.generations) {
      const copy = other.runtime.backends.get(backend.name)?.servers.find((s) => s.name === server.name);
      if (copy !== undefined && copy.check !== null) copy.health = server.health;
    }
    this.broadcast({ type: 'servers', states: { [key]: server.health } });
  }

  /** Sessions open on a server now, from the workers' latest counters. */
  private sessionsOn(backend: string, server: string): number {
    const key = `server/${backend}/${server}`;
    const current = COUNTER_FIELDS.indexOf('current');
    let sum = 0;
    for (const generation of this.generations) for (const worker of generation.workers.values()) sum += worker.counters?.[key]?.[current] ?? 0;
    return sum;
  }

  private broadcast(message: MasterMessage): void {
    for (const generation of this.generations) for (const worker of generation.workers.values()) if (worker.state !== 'gone') worker.send(message);
  }

  /** The addresses (of servers following DNS) a new worker of `generation` starts from. */
  private serverAddresses(generation: Generation): Record<string, ResolvedAddress> {
    const addresses: Record<string, ResolvedAddress> = {};
    for (const backend of generation.runtime.backends.values()) {
      for (const server of backend.servers) if (server.dns) addresses[serverKey(backend.name, server.name)] = resolvedAddressOf(server);
    }
    return addresses;
  }

  /** The servers' run-time settings a new worker of `generation` starts from. */
  private serverSettings(generation: Generation): Record<string, ServerSettings> {
    const settings: Record<string, ServerSettings> = {};
    for (const backend of generation.runtime.backends.values()) {
      for (const server of backend.servers) settings[serverKey(backend.name, server.name)] = { admin: server.admin, weight: server.weight, maxconn: server.maxconn };
    }
    return settings;
  }

  /** The servers' states a new worker of `generation` starts from. */
  private serverStates(generation: Generation): Record<string, HealthState> {
    const states: Record<string, HealthState> = {};
    for (const backend of generation.runtime.backends.values()) {
      for (const server of backend.servers) if (server.check !== null) states[serverKey(backend.name, server.name)] = server.health;
    }
    return states;
  }

  // -------------------------------------------------------------------------------------------
  // Workers

  private spawnWorker(generation: Generation, slot: number): void {
    const fds = [...new Set(generation.sockets.values())];
    const listeners: Record<string, number> = {};
    for (const [key, fd] of generation.sockets) listeners[key] = IPC_FD + 1 + fds.indexOf(fd);
    // Stick tables' memory goes the same way as the listeners: fds in the child's stdio.
    const tables: Record<string, number> = {};
    for (const [name, table] of generation.runtime.tables) {
      tables[name] = IPC_FD + 1 + fds.length;
      fds.push(table.fd);
    }
    const manifest: WorkerManifest = { masterPid: process.pid, generation: generation.id, slot, listeners, tables, servers: this.serverStates(generation), addresses: this.serverAddresses(generation), settings: this.serverSettings(generation) };
    const env: NodeJS.ProcessEnv = { ...process.env, [WORKER_ENV]: JSON.stringify(manifest) };
    // Readiness is the master's to announce; a worker never speaks to systemd.
    delete env.NOTIFY_SOCKET;
    delete env.EPOXY_DAEMON_CHILD;
    const forward = this.options.workerStdio === 'forward';
    const child = spawn(process.execPath, [...process.execArgv, ...this.options.command], {
      stdio: ['ignore', forward ? 'ignore' : 'inherit', forward ? 'pipe' : 'inherit', 'ipc', ...fds],
      env,
      // Its own process group: Ctrl-C in a terminal reaches the master alone, which stops the
      // workers itself, instead of racing them (a worker gone first would look like a crash).
      detached: true,
    });
    if (forward) child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    if (child.pid === undefined) {
      // spawn() reports why on 'error'; the slot is retried like a crash.
      child.once('error', (error) => {
        this.log.alert(`Cannot start a worker: ${error.message}`);
        this.workerGone(generation, slot, null, null, null);
      });
      return;
    }
    const worker = new WorkerProcess(child, child.pid, slot, generation);
    generation.workers.set(slot, worker);
    this.log.notice(`New worker (${worker.pid}) forked`);
    child.on('message', (message: WorkerMessage) => this.onMessage(worker, message));
    // 'close' comes after the IPC channel is drained: the final counters are in by then.
    child.once('close', (code, signal) => this.workerGone(generation, slot, worker, code, signal));
  }

  private onMessage(worker: WorkerProcess, message: WorkerMessage): void {
    switch (message.type) {
      case 'ready':
        if (worker.state === 'starting') worker.state = 'ready';
        // States may have changed since its manifest was written.
        worker.send({ type: 'servers', states: this.serverStates(worker.gen) });
        worker.send({ type: 'addresses', addresses: this.serverAddresses(worker.gen) });
        worker.resolveReady();
        break;
      case 'failed':
        worker.rejectReady(new EpoxyError(`worker ${worker.pid} could not start: ${message.message}`, ErrorCodes.PROCESS));
        break;
      case 'counters':
        worker.counters = message.counters;
        for (const waiter of worker.counterWaiters.splice(0)) waiter();
        break;
      case 'reply':
        worker.replies.get(message.id)?.({ text: message.text, ...(message.failed && { failed: true }), ...(message.data !== undefined && { data: message.data }) });
        worker.replies.delete(message.id);
        break;
      case 'observe':
        this.current?.checker?.observe(message.backend, message.server, message.ok);
        break;
    }
  }

  private workerGone(generation: Generation, slot: number, worker: WorkerProcess | null, code: number | null, signal: NodeJS.Signals | null): void {
    if (worker !== null) {
      const wasCurrent = generation === this.current && worker.state !== 'stopping' && this.stopping === null;
      worker.state = 'gone';
      worker.rejectReady(new EpoxyError(`worker ${worker.pid} exited with ${exitText(code, signal)} before it served`, ErrorCodes.PROCESS));
      for (const waiter of worker.counterWaiters.splice(0)) waiter();
      for (const reply of worker.replies.values()) reply({ text: `The worker (${worker.pid}) exited.\n`, failed: true });
      worker.replies.clear();
      this.totals.retire(worker.counters);
      if (generation.workers.get(slot) === worker) generation.workers.delete(slot);
      if (wasCurrent) this.log.alert(`Current worker (${worker.pid}) exited with ${exitText(code, signal)}`);
      else this.log.warning(`Former worker (${worker.pid}) exited with ${exitText(code, signal)}`);
      if (wasCurrent) this.respawn(generation, slot, Date.now() - worker.startedAt);
    } else if (generation === this.current && this.stopping === null) {
      this.respawn(generation, slot, 0);
    }
    this.dropIfEmpty(generation);
    this.checkDone();
  }

  /** Replaces the worker of `slot`: at once after a worker that ran a while, later in a crash loop. */
  private respawn(generation: Generation, slot: number, lived: number): void {
    const crashes = lived >= STABLE_AFTER_MS ? 1 : (generation.crashes.get(slot) ?? 0) + 1;
    generation.crashes.set(slot, crashes);
    const delay = crashes <= 1 ? 0 : Math.min(RESPAWN_MIN_MS * 2 ** (crashes - 2), RESPAWN_MAX_MS);
    this.log.notice(`Respawning worker ${slot} of generation ${generation.id}${delay > 0 ? ` in ${delay} ms (${crashes} deaths in a row)` : ''}.`);
    const timer = setTimeout(() => {
      generation.respawnTimers.delete(timer);
      if (generation === this.current && this.stopping === null) this.spawnWorker(generation, slot);
    }, delay);
    generation.respawnTimers.add(timer);
  }

  private stopWorker(worker: WorkerProcess): void {
    if (worker.state === 'gone' || worker.state === 'stopping') return;
    worker.state = 'stopping';
    worker.send({ type: 'stop' });
  }

  private signal(worker: WorkerProcess, signal: NodeJS.Signals): void {
    if (worker.state === 'gone') return;
    try {
      process.kill(worker.pid, signal);
    } catch {
      // Already gone; its 'close' is on its way.
    }
  }

  /** `hard-stop-after`: a stopping generation's remaining sessions are cut after that long. */
  private armHardStop(generation: Generation): void {
    const after = generation.config.global.process.hardStopAfter;
    if (after === null || generation.hardStopTimer !== null || generation.workers.size === 0) return;
    generation.hardStopTimer = setTimeout(() => {
      generation.hardStopTimer = null;
      if (generation.workers.size === 0) return;
      this.log.warning(`hard-stop-after (${after} ms) reached for generation ${generation.id}: closing the sessions of ${generation.workers.size} worker(s).`);
      for (const worker of generation.workers.values()) this.signal(worker, 'SIGTERM');
    }, after);
    generation.hardStopTimer.unref();
  }

  private cancelRespawns(generation: Generation): void {
    for (const timer of generation.respawnTimers) clearTimeout(timer);
    generation.respawnTimers.clear();
  }

  private dropIfEmpty(generation: Generation): void {
    if (generation === this.current || generation.workers.size > 0 || generation.state === 'starting') return;
    const index = this.generations.indexOf(generation);
    if (index < 0) return;
    this.generations.splice(index, 1);
    if (generation.hardStopTimer !== null) clearTimeout(generation.hardStopTimer);
    this.cancelRespawns(generation);
    this.pruneStickTables();
  }

  private stopChecks(): void {
    this.stopHttpServices();
    for (const generation of this.generations) {
      generation.checker?.stop();
      generation.checker = null;
      generation.resolvers?.stop();
      generation.resolvers = null;
    }
  }

  private closeSockets(): void {
    const fds = new Set(this.generations.flatMap((g) => [...g.sockets.values()]));
    for (const fd of fds) native.close(fd);
    for (const generation of this.generations) generation.sockets.clear();
  }

  private checkDone(): void {
    if (this.stopping === null) return;
    if (this.generations.some((g) => g.workers.size > 0)) return;
    for (const generation of this.generations) this.cancelRespawns(generation);
    for (const table of this.stickTables.values()) table.close();
    this.stickTables.clear();
    this.log.warning('All workers exited. Exiting... (0)');
    this.resolveDone(0);
  }
}

/** What a configuration says of a server's administrative state (`disabled`), or null if it has no such server. */
function configuredAdmin(config: Config, backend: string, server: string): 'maint' | 'ready' | null {
  const proxy = config.proxies.find((p) => p.name === backend);
  const found = proxy?.servers.find((s) => s.name === server);
  return found === undefined ? null : found.disabled ? 'maint' : 'ready';
}
