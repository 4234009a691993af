/**
 * Running a configuration: `start(config)` builds the run-time objects, binds every proxy's
 * listeners (start_proxies), wires the loop, the native relay and the session engine, and
 * resolves once the proxy accepts connections. The same function serves the CLI (`epoxy -f`) and
 * TypeScript users (`import { start } from 'epoxy'` with a typed object).
 */
import { configFromObject, type EpoxyConfig } from '../config/object.js';
import { listenerCount, type Config } from '../config/model.js';
import { LogHub, stderrLog, withLogTargets, type LogCounters } from '../log/targets.js';
import { EpoxyError, ErrorCodes } from '../errors.js';
import type { BindContext } from '../listener/listener-types.js';
import { Loop } from '../loop/loop.js';
import { startHeapActivity } from '../loop/heap-activity.js';
import { native, type NativeRelay } from '../native.js';
import { enableProxies, hardStop, softStop } from '../proxy/proxy.js';
import type { ProxyLog } from '../proxy/proxy-types.js';
import { registerProxySignals } from '../proxy/signals.js';
import { SessionEngine, type Termination } from '../session/session.js';
import type { BackendRuntime, ServerRuntime } from '../session/session-types.js';
import { bindAll, closeCreated, type BoundSockets } from './bind-all.js';
import { HealthChecker } from '../check/health-check.js';
import { ServerResolvers } from '../dns/resolvers.js';
import { ServerEvents } from '../backend/server-events.js';
import { runCommand, type ControlContext } from '../control/commands.js';
import { openStatsSocket, type ControlServer } from '../control/control-server.js';
import { HealthEffects } from '../check/effects.js';
import { buildRuntime, type Runtime, type StickTableSource } from './build.js';
import { planFds, type FdPlan } from './limits.js';
import { memoryActivityLines, serverStateLines } from './dumps.js';
import { httpFrontends, HttpServices } from '../stats/http-services.js';
import { clearProcessCounters, processStats } from '../stats/process-stats.js';

export interface StartOptions {
  /** No notices or warnings (-q, global `quiet`). */
  quiet?: boolean;
  /** Print retryable startup errors too (-V). */
  verbose?: boolean;
  /** Pollers disabled on the command line (-de, -dp), on top of noepoll/nopoll. */
  disabledPollers?: string[];
  /** Global maxconn override (-n). */
  maxconn?: number;
  /**
   * Startup and lifecycle messages (alerts, warnings, notices, the signal dumps). Default: none,
   * a library writes nothing it was not asked to; 'stderr' prints HAProxy-style lines there
   * (what the CLI does), or pass your own ProxyLog.
   */
  log?: ProxyLog | 'stderr';
  /**
   * Every frontend's session lines, whatever its `log` lines say; default: each frontend's own
   * targets (its `log` lines, `log global` for the global section's), as HAProxy sends them.
   */
  sessionLog?: (line: string) => void;
  /**
   * Give process signals HAProxy's meanings (default false: a library installs no listener):
   * SIGINT/SIGTERM stop, SIGUSR1 soft-stops, SIGTTOU/SIGTTIN pause/resume, SIGHUP dumps the
   * servers' states, SIGQUIT memory and activity, SIGUSR2 and SIGALRM are ignored.
   */
  signals?: boolean;
  /**
   * Listening sockets bound by someone else (a master), by listener identity
   * (src/runtime/bind-all.ts): a listener found here adopts the fd instead of binding.
   */
  adopt?: ReadonlyMap<string, number>;
  /** With `adopt`: refuse a listener that is not in it (a worker never binds). */
  adoptOnly?: boolean;
  /** Where stick tables come from (a worker maps its master's); default: created here. */
  stickTables?: StickTableSource;
  /**
   * `observe layer4` events when this process does not run the checks (a worker sends them to
   * its master): backend, server, whether the connection succeeded.
   */
  observe?: (backend: string, server: string, ok: boolean) => void;
  /**
   * Run the servers' health checks here (default true). A worker says false: its master checks
   * once for every worker and sends the states.
   */
  checks?: boolean;
  /**
   * Open the configuration's `stats socket`s here (default true). A worker says false: its
   * master serves them for the whole process and forwards what workers must do.
   */
  control?: boolean;
  /**
   * Serve the HTTP sections (the Prometheus exporter, the stats page) here (default true). A
   * worker says false: its master serves them, from every worker's counters.
   */
  httpServices?: boolean;
  /**
   * Runs once every listener is bound and before any is polled: where a worker drops its
   * privileges. A throw aborts the start (sockets created are closed) and is rethrown.
   */
  beforeServe?: (runtime: Runtime) => void;
}

export interface RunningProxy {
  /** The configuration it serves. */
  readonly config: Config;
  /** Date.now() when start() was called (show info's uptime). */
  readonly startedAt: number;
  readonly runtime: Runtime;
  readonly loop: Loop;
  readonly engine: SessionEngine;
  /** The native relay (its `buffered` bytes, its pairs' counters). */
  readonly relay: NativeRelay;
  /** The global maxconn in force and the fd budget it came from (derived when none is set). */
  readonly limits: FdPlan;
  /** The health checks of this process (none when `checks` is false or no server has `check`). */
  readonly checker: HealthChecker | null;
  /** The run-time DNS of this process's servers (none when `checks` is false or no server has `resolvers`). */
  readonly resolvers: ServerResolvers | null;
  /** What a change of a server's health does here (a worker applies its master's states with it). */
  readonly healthEffects: HealthEffects;
  /** The registry the runtime API's commands act on (a worker runs its master's forwarded commands on it). */
  readonly control: ControlContext;
  /** The `stats socket`s this process serves (none in a worker). */
  readonly controlServers: readonly ControlServer[];
  /** Lines sent to log targets and lines lost (a log server down, a full socket buffer): HAProxy's DroppedLogs. */
  readonly logCounters: LogCounters;
  /** Where every change of a server's state is announced, and what follows it listens (see src/backend/server-events.ts). */
  readonly serverEvents: ServerEvents;
  /** The listening fds by listener identity (what a master would hand over). */
  readonly sockets: BoundSockets;
  /** Where each listener actually bound ('127.0.0.1:10080'), per proxy name (the HTTP sections too). */
  readonly addresses: Map<string, string[]>;
  /** Resolves when the loop has ended (soft stop drained, or stop()). */
  readonly done: Promise<void>;
  /** Soft stop: stop listening, let sessions drain; resolves when the loop ends. */
  stop(): Promise<void>;
  /** Hard stop: close every session now; resolves when the loop ends. */
  kill(): Promise<void>;
}

/** HAProxy 2.6's stderr prefixes, with our pid (src/log/targets.ts). */
export { stderrLog };

/** The default log of start(): a library writes nothing unless asked. */
/**
 * Where the relay runs unless `tune.epoxy.relay-thread` says: in Node's loop (false) or on a
 * thread of its own (true). The thread costs less per keep-alive request, allocates nothing per
 * request and keeps JavaScript's pauses out of relayed bytes (BENCHMARKS.md). (It was opt-in for
 * a while over stick-table test failures under load; those were the tests' own races, see
 * docs/relay.md, "Thread mode".)
 */
export const RELAY_THREAD_DEFAULT = true;

const SILENT: ProxyLog = { alert: () => {}, warning: () => {}, notice: () => {} };

function isConfig(input: Config | EpoxyConfig): input is Config {
  return Array.isArray((input as Config).proxies) && Array.isArray((input as Config).defaults);
}

const END_NAMES = new Map<number, Termination>([
  [native.relayConstants.END_CLOSED, '--'],
  [native.relayConstants.END_RESET_A, 'CD'],
  [native.relayConstants.END_RESET_B, 'SD'],
  [native.relayConstants.END_REMOVED, 'PD'],
]);

export async function start(input: Config | EpoxyConfig, options: StartOptions = {}): Promise<RunningProxy> {
  const startedAt = Date.now();
  const config = isConfig(input) ? input : configFromObject(input);
  if (config.global.nbthread > 1 && options.adopt === undefined) {
    // Workers are processes under a master (src/master/): a library call cannot become several.
    throw new EpoxyError(
      `'nbthread ${config.global.nbthread}' runs that many worker processes under a master: use the epoxy command (epoxy -W -f <file>); start() serves in this process only.`,
      ErrorCodes.CONFIG,
    );
  }
  const quiet = options.quiet ?? config.global.quiet;

  // Bulk transfers are copied in bulk-sized reads by default, and spliced only when a proxy
  // asks with `option splice-*` and `nosplice` does not forbid it, as in HAProxy. On loopback
  // the bulk copy meets both CPU and throughput where splice loses throughput (BENCHMARKS.md).
  const splice = !config.global.noSplice && wantsSplice(config) ? 'auto' : 'off';
  // The fd limit sizes the global maxconn when none is set, and refuses one it cannot cover
  // (src/runtime/limits.ts); every listener without a maxconn of its own or its frontend's
  // takes the global one, as in HAProxy.
  const fds = planFds({
    maxconn: options.maxconn ?? config.global.maxconn,
    maxpipes: config.global.maxpipes,
    ulimitN: config.global.ulimitN,
    splice: splice !== 'off',
    listeners: listenerCount(config),
  });
  const { maxconn, maxPipes } = fds;
  // Every log target of the configuration, opened once, after the last check that can refuse the start before the runtime is built (a socket per distinct address): the
  // process's own messages reach the global ones as well as stderr.
  const logs = new LogHub(config.global.logs, { tag: config.global.logTag ?? 'epoxy', pid: process.pid, hostname: config.global.logHostname });
  const log = withLogTargets(options.log === 'stderr' ? stderrLog(quiet) : (options.log ?? SILENT), logs.logger());
  if (fds.derived) log.notice(`maxconn set to ${maxconn} from the file-descriptor limit (${fds.maxsock}, ${fds.reserved} kept for listeners and Node).`);

  let runtime: Runtime;
  try {
    runtime = await buildRuntime(config, { maxconn, stickTables: options.stickTables });
  } catch (error) {
    logs.close();
    throw error;
  }
  const frontendLoggers = new Map(
    config.proxies.map((proxy) => {
      const logger = logs.logger(proxy.logs, proxy.logTag);
      return [proxy.name, logger.enabled ? (line: string) => logger.log('info', line) : null] as const;
    }),
  );
  const backendOf = new Map<ServerRuntime, BackendRuntime>();
  for (const backend of runtime.backends.values()) for (const server of backend.servers) backendOf.set(server, backend);
  let checkerRef: HealthChecker | null = null;
  const disabled = [...(options.disabledPollers ?? [])];
  if (config.global.noEpoll) disabled.push('epoll');
  if (config.global.noPoll) disabled.push('poll');
  const loop = new Loop({
    disabledPollers: disabled,
    busyPolling: config.global.busyPolling,
    runBudget: config.global.tune.runqueueDepth ?? undefined,
    onError: (error, where) => log.alert(`internal error in ${where}: ${(error as Error)?.stack ?? String(error)}`),
  });
  let engine: SessionEngine | null = null;
  const relay: NativeRelay = new native.Relay({
    bufferSize: config.global.tune.bufsize ?? undefined,
    splice,
    pipeSize: config.global.tune.pipesize ?? 0,
    maxPipes,
    // SessionEngine.close() closes both fds as soon as a pair's end is delivered.
    lastFinByClose: true,
    thread: config.global.tune.relayThread ?? RELAY_THREAD_DEFAULT,
    onEnd: (count) => engine!.relayEnded(relay.ended, count, (reason) => END_NAMES.get(reason) ?? 'PD'),
  });
  engine = new SessionEngine(
    loop,
    {
      // Sessions create every socket non-blocking (accept4/socket with SOCK_NONBLOCK).
      add: (a, b) => relay.add(a, b, true),
      remove: (id) => relay.remove(id),
      holding: (id) => relay.holding(id),
      get lastActivity() {
        return relay.lastActivity;
      },
      get bytes() {
        return relay.bytes;
      },
      get fins() {
        return relay.fins;
      },
      nowTick: () => native.nowTick(),
    },
    {
      maxconn,
      ...(options.sessionLog !== undefined ? { log: options.sessionLog } : { logFor: (frontend) => frontendLoggers.get(frontend.name) ?? null }),
      alert: (m) => log.alert(m),
      warning: (m) => log.warning(m),
      // `observe layer4`: this process's checker, or (a worker) whoever options.observe names.
      observe: (server, ok) => {
        const backend = backendOf.get(server);
        if (backend === undefined) return;
        if (options.observe) options.observe(backend.name, server.name, ok);
        else checkerRef?.observe(backend.name, server.name, ok);
      },
    },
  );
  const sessions = engine;

  let sockets: BoundSockets;
  try {
    sockets = bindAll(runtime, {
      verbose: options.verbose ?? true,
      log,
      context: (proxy): BindContext => ({
        maxsock: fds.maxsock > 0 ? fds.maxsock : 1 << 20,
        poll: loop.fdtab,
        accept: sessions.acceptHandler(runtime.frontendOf.get(proxy)!, proxy.listeners),
        // A worker's sockets are every worker's: one of them is woken per connection.
        shared: options.adopt !== undefined,
      }),
      ...(options.adopt !== undefined && { adopt: options.adopt, adoptOnly: options.adoptOnly ?? false }),
    });
    // Bound (or adopted) and not yet polled: the moment to give up root, before the first byte
    // from a client is read.
    options.beforeServe?.(runtime);
  } catch (error) {
    closeCreated(runtime.proxies);
    loop.close();
    relay.close();
    logs.close();
    throw error;
  }
  enableProxies(runtime.proxies, loop);
  const effects = new HealthEffects(sessions);
  // A server's change of state, whatever its cause: the balancer re-reads the servers, and a
  // change of health has its effects on sessions.
  const serverEvents = new ServerEvents();
  serverEvents.on((backend, server, change) => {
    if (change === 'health') effects.apply(backend, server);
    else backend.balancer.update();
  });
  const checker = options.checks === false ? null : new HealthChecker(runtime.backends.values(), { log, changed: (backend, server) => serverEvents.emit(backend, server, 'health') });
  if (checker !== null && checker.size > 0) checker.start();
  // Names are resolved where checks run: here, or (workers) by the master, which sends the answers.
  const resolvers =
    options.checks === false ? null : new ServerResolvers(config.resolvers, runtime.backends.values(), { log, changed: (backend, server) => serverEvents.emit(backend, server, 'address') });
  if (resolvers !== null && resolvers.size > 0) resolvers.start();
  checkerRef = checker;

  const kill = (): void => {
    hardStop(runtime.proxies, loop, log);
    sessions.killAll();
  };
  const unregister =
    options.signals !== true
      ? () => {}
      : registerProxySignals(loop, runtime.proxies, log, {
          hardStop: () => sessions.killAll(),
          dumpStates: () => serverStateLines(config, runtime, sessions),
          dumpMemory: () => memoryActivityLines(loop.activity, relay, sessions, runtime),
        });
  // process-wide JS heap and GC counters for `show activity` (per GC, never per request)
  const heap = startHeapActivity();
  const control: ControlContext = {
    frontends: runtime.frontends,
    backends: runtime.backends,
    proxies: new Map(runtime.proxies.map((p) => [p.name, p])),
    engine: sessions,
    checker,
    serverEvents,
    log,
    maxconnLimit: maxconn,
    tables: runtime.tables,
    requestTurn: () => loop.requestTurn(),
    activity: () => ({
      ...loop.activity.toObject(),
      relayPairs: relay.closed ? 0 : relay.size,
      relayBuffered: relay.closed ? 0 : relay.buffered,
      relayPipes: relay.closed ? 0 : relay.pipes,
      sessions: sessions.current,
      ...heap.figures(),
    }),
    // `running` is complete before a socket can ask (they are opened last).
    stats: () => processStats(running, { statsSocket: config.global.statsSockets.length > 0 }),
    clearCounters: (all) => clearProcessCounters(running, all),
  };
  const controlServers: ControlServer[] = [];
  const done = loop.run().then(() => {
    for (const server of controlServers) server.close();
    heap.stop();
    checker?.stop();
    resolvers?.stop();
    effects.stop();
    unregister();
    loop.close();
    relay.close();
    logs.close();
    // Sessions are gone, so no entry is held any more; the memory stays while others map it.
    for (const table of runtime.tables.values()) table.close();
  });

  const addresses = new Map<string, string[]>();
  for (const proxy of runtime.proxies) {
    addresses.set(proxy.name, proxy.listeners.map((l) => (l.boundAddr ?? l.addr).toString()));
  }
  let httpServices: HttpServices | null = null;
  const running: RunningProxy = {
    config,
    startedAt,
    runtime,
    limits: fds,
    loop,
    engine: sessions,
    relay,
    checker: checker !== null && checker.size > 0 ? checker : null,
    resolvers: resolvers !== null && resolvers.size > 0 ? resolvers : null,
    healthEffects: effects,
    logCounters: logs.counters,
    serverEvents,
    control,
    controlServers,
    sockets,
    addresses,
    done,
    stop: () => {
      void httpServices?.close();
      softStop(runtime.proxies, loop, log);
      loop.requestTurn();
      return done;
    },
    kill: () => {
      void httpServices?.close();
      kill();
      loop.requestTurn();
      return done;
    },
  };
  // The HTTP sections are served here, from this process's own snapshot; the stats page's
  // admin actions run through the same command table as the stats socket's.
  if (options.httpServices !== false && httpFrontends(config).length > 0) {
    try {
      httpServices = await HttpServices.listen(config, {
        snapshot: () => processStats(running),
        runCommand: (command) => runCommand(command, 'admin', control),
      });
    } catch (error) {
      await running.kill();
      throw error;
    }
    const served = httpServices.addresses;
    let next = 0;
    for (const proxy of httpFrontends(config)) {
      const count = proxy.binds.reduce((n, line) => n + line.addresses.length, 0);
      addresses.set(proxy.name, served.slice(next, next + count));
      next += count;
    }
  }
  if (options.control !== false) {
    try {
      for (const socket of config.global.statsSockets) controlServers.push(await openStatsSocket(socket, config.global.statsTimeout, { run: (command, level) => runCommand(command, level, control) }));
    } catch (error) {
      await running.kill();
      throw error;
    }
  }
  void done.then(() => httpServices?.close());
  return running;
}

/** Whether any proxy (or defaults section, which they inherit) asks for splice(2). */
function wantsSplice(config: Config): boolean {
  return config.proxies.some((proxy) => proxy.options.spliceAuto || proxy.options.spliceRequest || proxy.options.spliceResponse);
}
