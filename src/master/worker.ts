/**
 * The worker side of master-worker: serve the configuration with the listening sockets the master
 * handed over (never binding one), drop privileges before the first client byte, tell the master
 * when it serves, send it counters, and leave when told to stop or when the master is gone.
 */
import { StickTable } from '../stick/stick-table.js';
import type { HealthState } from '../backend/server-types.js';
import type { CliOptions } from '../cli/args.js';
import type { Config } from '../config/model.js';
import { runCommand, type CommandResult } from '../control/commands.js';
import type { BackendRuntime, ServerRuntime } from '../session/session-types.js';
import { applyResolvedAddress, type ResolvedAddress } from '../dns/resolvers.js';
import { EpoxyError, ErrorCodes } from '../errors.js';
import { native } from '../native.js';
import { pollOncePerWakeup } from '../process/loop-metrics.js';
import { PARENT_DEATH_SIGNAL, dropPrivileges, privilegeDrop } from '../process/privileges.js';
import type { ProxyLog } from '../proxy/proxy-types.js';
import { BindError } from '../runtime/bind-error.js';
import { start, type RunningProxy } from '../runtime/start.js';
import { countersCsv, countersJson, CounterTotals, snapshotCounters, type LiveSources } from './counters.js';
import { clearProcessCounters } from '../stats/process-stats.js';
import type { MasterMessage, ServerSettings, WorkerManifest, WorkerMessage } from './messages.js';

/** How often a worker sends its counters unasked (the master's view after a kill -9 is this old at most). */
const COUNTERS_PERIOD_MS = 1000;

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected || process.send === undefined) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

/** Parses the manifest the master put in the environment. */
export function parseManifest(text: string): WorkerManifest {
  const manifest = JSON.parse(text) as WorkerManifest;
  if (typeof manifest.masterPid !== 'number' || typeof manifest.listeners !== 'object' || manifest.listeners === null) {
    throw new EpoxyError('malformed worker manifest', ErrorCodes.PROCESS);
  }
  return manifest;
}

/** The master may have died between our fork and this check: PR_SET_PDEATHSIG would never fire then. */
function orphaned(manifest: WorkerManifest): boolean {
  return process.ppid !== manifest.masterPid;
}

/** What a worker measures at snapshot time: its sessions' bytes so far, its queues, its rates. */
function liveSources(running: RunningProxy): LiveSources {
  return { engine: running.engine, now: running.loop.now };
}

/** Commands a worker answers when the master CLI forwards them (`@1 show counters`). */
async function workerCommand(line: string, running: RunningProxy): Promise<CommandResult> {
  const own = ownCommand(line, running);
  // Anything else is a runtime-API command the master forwards: it checked the level already.
  return own !== null ? { text: own } : runCommand(line, 'admin', running.control);
}

/** The commands only a worker answers (for `@<n>` on the master CLI), or null. */
function ownCommand(line: string, running: RunningProxy): string | null {
  const words = line.trim().split(/\s+/);
  const command = words.join(' ');
  if (command === 'show counters' || command === 'show counters json') {
    const own = new CounterTotals().total([snapshotCounters(running.runtime, liveSources(running))]);
    return command.endsWith('json') ? countersJson(own) : countersCsv(own);
  }
  if (command === 'show pid') return `${process.pid}\n`;
  if (command === 'show health') {
    // The operational state this worker routes by, as its master's checks sent it.
    const lines: string[] = [];
    for (const backend of running.runtime.backends.values()) {
      for (const server of backend.servers) {
        // A server following DNS also says where it goes now, or that it has nowhere to go.
        const dns = !server.dns ? '' : server.unresolved || server.address === null ? ' unresolved' : ` ${server.address.toString()}`;
        lines.push(`${backend.name}/${server.name} ${server.admin} ${server.health}${server.check === null ? ' (not checked)' : ''}${dns}`);
      }
    }
    return `${lines.join('\n')}\n`;
  }
  if (command === 'help' || command === '') return WORKER_HELP;
  return null;
}

const WORKER_HELP = `  help                                    : this list
  show counters [json]                    : this worker's own counters per frontend, backend and server
  show pid                                : this worker's pid
  show health                             : every server's administrative and operational state (and DNS address), as this worker routes by them
  (and the runtime API's commands, as on a stats socket: this worker's own view)
`;

/** The server a master's message names by 'backend/server' (either undefined if this worker has none). */
function serverByKey(running: RunningProxy, key: string): { backend: BackendRuntime | undefined; server: ServerRuntime | undefined } {
  const slash = key.indexOf('/');
  const backend = running.runtime.backends.get(key.slice(0, slash));
  return { backend, server: backend?.servers.find((s) => s.name === key.slice(slash + 1)) };
}

/**
 * Sets the servers' operational states the master's checks found ('backend/server' -> state);
 * a change has its effects (sessions closed, slowstart) unless `initial` (a worker starting).
 */
function applyServerStates(running: RunningProxy, states: Record<string, HealthState>, initial = false): void {
  for (const [key, health] of Object.entries(states)) {
    const { backend, server } = serverByKey(running, key);
    if (backend === undefined || server === undefined || server.health === health) continue;
    server.health = health;
    // A worker starting has no session for the effects to act on: the balancer is all it needs.
    if (initial) backend.balancer.update();
    else running.serverEvents.emit(backend, server, 'health');
  }
}

/** Starts from the master's copy of what the runtime API may have changed on each server. */
function applyServerSettings(running: RunningProxy, settings: Record<string, ServerSettings>): void {
  for (const [key, setting] of Object.entries(settings)) {
    const { backend, server } = serverByKey(running, key);
    if (backend === undefined || server === undefined) continue;
    server.admin = setting.admin;
    server.weight = setting.weight;
    server.maxconn = setting.maxconn;
    backend.balancer.update();
  }
}

/** Sets the addresses the master's resolvers found ('backend/server' -> address). */
function applyServerAddresses(running: RunningProxy, addresses: Record<string, ResolvedAddress>): void {
  for (const [key, address] of Object.entries(addresses)) {
    const { backend, server } = serverByKey(running, key);
    if (backend === undefined || server === undefined || !server.dns) continue;
    applyResolvedAddress(server, address);
    running.serverEvents.emit(backend, server, 'address');
  }
}

export async function runWorker(config: Config, cli: CliOptions, manifest: WorkerManifest, log: ProxyLog): Promise<number> {
  native.setParentDeathSignal(PARENT_DEATH_SIGNAL);
  if (orphaned(manifest)) {
    log.alert(`Worker started by master ${manifest.masterPid}, which is gone: exiting.`);
    return 1;
  }
  const drop = privilegeDrop(config);
  const failing = new Set<string>();
  pollOncePerWakeup();
  let running: RunningProxy;
  try {
    running = await start(config, {
      quiet: cli.quiet,
      verbose: true,
      disabledPollers: cli.disabledPollers,
      maxconn: cli.maxconn ?? undefined,
      log,
      signals: true,
      adopt: new Map(Object.entries(manifest.listeners)),
      adoptOnly: true,
      // One table for every worker: the master's memory, mapped here.
      stickTables: (name, table, store) => {
        const fd = manifest.tables?.[name];
        if (fd === undefined) throw new EpoxyError(`the master gave no memory for stick table '${name}'`, ErrorCodes.PROCESS);
        return StickTable.adopt(fd, name, table, store);
      },
      // The master checks the servers once for every worker and sends their states; what the
      // traffic observes goes to it (a success only after a failure: the master only needs the
      // breaks in a run of errors, not every connection).
      checks: false,
      // The master serves the stats sockets for the whole process, and forwards what workers do.
      control: false,
      // The master serves the exporter and the stats page from every worker's counters; their
      // sockets are not ours.
      httpServices: false,
      observe: (backend, server, ok) => {
        const key = `${backend}/${server}`;
        if (ok && !failing.has(key)) return;
        if (ok) failing.delete(key);
        else failing.add(key);
        void send({ type: 'observe', backend, server, ok });
      },
      beforeServe: () => {
        if (drop === null) return;
        dropPrivileges(drop);
        // Changing credentials cleared the parent-death signal.
        native.setParentDeathSignal(PARENT_DEATH_SIGNAL);
        if (orphaned(manifest)) throw new EpoxyError('the master died while this worker started', ErrorCodes.PROCESS);
      },
    });
  } catch (error) {
    const message = error instanceof BindError ? 'Some protocols failed to start their listeners! Exiting.' : (error as Error).message;
    if (!(error instanceof EpoxyError)) throw error;
    for (const line of message.split('\n')) log.alert(line);
    await send({ type: 'failed', message });
    if (process.connected) process.disconnect();
    return 1;
  }

  applyServerSettings(running, manifest.settings ?? {});
  applyServerAddresses(running, manifest.addresses ?? {});
  applyServerStates(running, manifest.servers ?? {}, true);
  const pushCounters = (final: boolean): Promise<void> => send({ type: 'counters', counters: snapshotCounters(running.runtime, liveSources(running)), final });
  const timer = setInterval(() => void pushCounters(false), COUNTERS_PERIOD_MS);
  timer.unref();
  process.on('message', (message: MasterMessage) => {
    switch (message.type) {
      case 'stop':
        void running.stop();
        break;
      case 'counters':
        void pushCounters(false);
        break;
      case 'clear':
        clearProcessCounters(running, message.all);
        break;
      case 'command':
        {
          void workerCommand(message.line, running).then((result) =>
            send({ type: 'reply', id: message.id, text: result.text, ...(result.failed && { failed: true }), ...(result.data !== undefined && { data: result.data }) }),
          );
        }
        break;
      case 'servers':
        applyServerStates(running, message.states);
        break;
      case 'addresses':
        applyServerAddresses(running, message.addresses);
        break;
    }
  });
  // The channel closes when the master exits, even by SIGKILL: nothing is left to report to, and
  // no worker outlives its master (the parent-death signal says the same, for the same reason).
  const masterGone = (): void => void running.kill();
  process.on('disconnect', masterGone);
  await send({ type: 'ready', pid: process.pid });
  await pushCounters(false);

  await running.done;
  clearInterval(timer);
  await pushCounters(true);
  process.off('disconnect', masterGone);
  if (process.connected) process.disconnect();
  return 0;
}
