/**
 * What SIGHUP and SIGQUIT print without master-worker: the servers' states, and the process's
 * memory and activity. Both build lines only; the signal handlers (src/proxy/signals.ts) run
 * them from the loop and hand the lines to the proxy log.
 *
 * HAProxy 2.6.12 (`haproxy -db -f cfg`, then `kill -HUP`), observed on this machine:
 *
 *   [WARNING]  (12951) : SIGHUP received, dumping servers states.
 *   [WARNING]  (12951) : SIGHUP: Server web/a is UP. Conn: 1 act, 0 pend, 1 tot.
 *   [WARNING]  (12951) : SIGHUP: Server web/b is DOWN. Conn: 0 act, 0 pend, 0 tot.
 *   [WARNING]  (12951) : SIGHUP: Proxy web has 1 active servers and 0 backup servers available. Conn: act(FE+BE): 1+1, 0 pend (0 unass), tot(FE+BE): 1+1.
 *   [WARNING]  (15413) : SIGHUP: Proxy zero has no server available ! Conn: act(FE+BE): 0+0, 0 pend (0 unass), tot(FE+BE): 0+0.
 *   [WARNING]  (15413) : SIGHUP: Proxy on has no servers. Conn: act(FE+BE): 0+0, 0 pend (0 unass), tot(FE+BE): 0+0.
 *
 * Every proxy in configuration order, a `disabled` one included, each server before its proxy's
 * line; a `disabled` server is DOWN; a server of weight 0 is UP but not counted as available;
 * a frontend "has no servers". `-q` silences it all (they are warnings). HAProxy's `kill -QUIT`
 * prints its memory pools untagged on stderr ("Dumping pools usage. Use SIGQUIT to flush them.",
 * one "  - Pool <name> (<size> bytes) : ..." line per pool, then "Total: ..."), also silenced by
 * `-q`; epoxy has no pools of its own, so it prints what stands for them: the process's memory,
 * the loop's activity counters, the relay's and the sessions' figures, as notices.
 */
import type { Config } from '../config/model.js';
import { ACTIVITY_FIELDS, type Activity } from '../loop/activity.js';
import type { NativeRelay } from '../native.js';
import type { SessionEngine } from '../session/session.js';
import type { BackendRuntime, FrontendRuntime } from '../session/session-types.js';
import { serverUp, serverUsable } from '../backend/server-types.js';
import type { Runtime } from './build.js';

/** A server as the dump shows it. */
interface ServerFigures {
  name: string;
  up: boolean;
  /** Counted in "N active/backup servers available". */
  available: boolean;
  backup: boolean;
  current: number;
  /** Sessions waiting in the server's own queue. */
  pending: number;
  total: number;
}

/** SIGHUP's lines (without the log prefix), HAProxy's words with epoxy's figures. */
export function serverStateLines(config: Config, runtime: Runtime, engine: SessionEngine): string[] {
  const lines = ['SIGHUP received, dumping servers states.'];
  for (const proxy of config.proxies) {
    const frontend: FrontendRuntime | undefined = proxy.disabled ? undefined : runtime.frontends.get(proxy.name);
    const backend: BackendRuntime | undefined = proxy.disabled ? undefined : runtime.backends.get(proxy.name);
    // A disabled proxy has no run-time objects: its servers are shown as configured, idle.
    const servers: ServerFigures[] = backend
      ? backend.servers.map((s) => ({
          name: s.name,
          up: serverUp(s),
          available: serverUsable(s),
          backup: s.backup,
          current: s.cur,
          pending: engine.queuedFor(backend, s),
          total: s.counters.get('sessions'),
        }))
      : proxy.servers.map((s) => ({
          name: s.name,
          up: !s.disabled,
          available: !s.disabled && s.weight > 0,
          backup: s.backup,
          current: 0,
          pending: 0,
          total: 0,
        }));
    for (const s of servers) {
      lines.push(`SIGHUP: Server ${proxy.name}/${s.name} is ${s.up ? 'UP' : 'DOWN'}. Conn: ${s.current} act, ${s.pending} pend, ${s.total} tot.`);
    }
    const active = servers.filter((s) => s.available && !s.backup).length;
    const backups = servers.filter((s) => s.available && s.backup).length;
    const what =
      servers.length === 0
        ? 'has no servers.'
        : active + backups === 0
          ? 'has no server available !'
          : `has ${active} active servers and ${backups} backup servers available.`;
    const pending = backend ? engine.queued(backend) : 0;
    const unassigned = backend ? engine.queuedUnassigned(backend) : 0;
    const fe = frontend?.counters;
    const be = backend?.counters;
    lines.push(
      `SIGHUP: Proxy ${proxy.name} ${what} Conn: act(FE+BE): ${fe?.get('current') ?? 0}+${be?.get('current') ?? 0}, ` +
        `${pending} pend (${unassigned} unass), tot(FE+BE): ${fe?.get('sessions') ?? 0}+${be?.get('sessions') ?? 0}.`,
    );
  }
  return lines;
}

/** SIGQUIT's lines: memory, the loop's activity, the relay, the sessions. */
export function memoryActivityLines(activity: Activity, relay: NativeRelay, engine: SessionEngine, runtime: Runtime): string[] {
  const memory = process.memoryUsage();
  const counters = activity.toObject();
  let total = 0;
  for (const frontend of runtime.frontends.values()) total += frontend.counters.get('sessions');
  return [
    'SIGQUIT received, dumping memory and activity.',
    `SIGQUIT: Memory: rss ${memory.rss} bytes, heap ${memory.heapUsed} used of ${memory.heapTotal} bytes, ` +
      `external ${memory.external} bytes (array buffers ${memory.arrayBuffers} bytes).`,
    `SIGQUIT: Activity: ${ACTIVITY_FIELDS.map((field) => `${field} ${counters[field]}`).join(', ')}.`,
    `SIGQUIT: Relay: ${relay.closed ? 0 : relay.size} pairs, ${relay.closed ? 0 : relay.buffered} bytes buffered, ` +
      `${relay.closed ? 0 : relay.pipes} pipes in use, ${relay.closed ? 0 : relay.idlePipes} idle.`,
    `SIGQUIT: Sessions: ${engine.current} current, ${total} total.`,
  ];
}
