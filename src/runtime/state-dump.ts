/**
 * What a running proxy reports about itself on a signal, as HAProxy 2.6 does without a master:
 * SIGHUP dumps every server's state and each proxy's connection figures, SIGQUIT dumps memory and
 * activity figures (HAProxy's pool usage has no equivalent in a garbage-collected process, so
 * epoxy reports the process's memory and the loop's activity counters instead).
 *
 * The SIGHUP lines follow HAProxy 2.6's wording, observed with `haproxy -db` and `kill -HUP`:
 *   SIGHUP received, dumping servers states.
 *   SIGHUP: Server be/s1 is UP. Conn: 0 act, 0 pend, 0 tot.
 *   SIGHUP: Proxy be has 1 active servers and 1 backup servers available. Conn: act(FE+BE): 0+0, 0 pend (0 unass), tot(FE+BE): 0+0.
 *   SIGHUP: Proxy fe has no servers. Conn: ...          (a frontend)
 *   SIGHUP: Proxy be is running on backup servers ! Conn: ...
 *   SIGHUP: Proxy li has no server available ! Conn: ...
 * epoxy queues per backend, never per server: a server's "pend" is 0 and every pending session
 * is "unassigned".
 */
import { serverUsable } from '../backend/server-types.js';
import type { Config } from '../config/model.js';
import { ACTIVITY_FIELDS, type Activity } from '../loop/activity.js';
import type { BackendRuntime, FrontendRuntime } from '../session/session-types.js';
import type { Runtime } from './build.js';

/** What the dumps read from the session engine. */
export interface SessionFigures {
  /** Sessions open now, all frontends. */
  readonly current: number;
  /** Sessions waiting in `backend`'s queue. */
  queueLength(backend: BackendRuntime): number;
}

function proxyAvailability(backend: BackendRuntime | undefined): string {
  if (!backend || backend.servers.length === 0) return 'has no servers.';
  const active = backend.servers.filter((s) => !s.backup && serverUsable(s)).length;
  const backup = backend.servers.filter((s) => s.backup && serverUsable(s)).length;
  if (active > 0) return `has ${active} active servers and ${backup} backup servers available.`;
  if (backup > 0) return 'is running on backup servers !';
  return 'has no server available !';
}

/** SIGHUP's lines, in configuration order. */
export function serverStatesReport(config: Config, runtime: Runtime, sessions: SessionFigures): string[] {
  const lines = ['SIGHUP received, dumping servers states.'];
  for (const proxy of config.proxies) {
    const frontend: FrontendRuntime | undefined = runtime.frontends.get(proxy.name);
    const backend: BackendRuntime | undefined = runtime.backends.get(proxy.name);
    if (!frontend && !backend) continue;
    for (const server of backend?.servers ?? []) {
      lines.push(
        `SIGHUP: Server ${proxy.name}/${server.name} is ${server.disabled ? 'DOWN' : 'UP'}. ` +
          `Conn: ${server.cur} act, 0 pend, ${server.counters.get('sessions')} tot.`,
      );
    }
    const pending = backend ? sessions.queueLength(backend) : 0;
    lines.push(
      `SIGHUP: Proxy ${proxy.name} ${proxyAvailability(backend)} ` +
        `Conn: act(FE+BE): ${frontend?.counters.get('current') ?? 0}+${backend?.counters.get('current') ?? 0}, ` +
        `${pending} pend (${pending} unass), ` +
        `tot(FE+BE): ${frontend?.counters.get('sessions') ?? 0}+${backend?.counters.get('sessions') ?? 0}.`,
    );
  }
  return lines;
}

const MiB = 1024 * 1024;

/** SIGQUIT's lines: process memory, sessions, and the loop's activity counters. */
export function activityReport(activity: Activity, sessions: SessionFigures, relayBuffered: number): string[] {
  const memory = process.memoryUsage();
  const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;
  const counters = activity.toObject();
  return [
    'SIGQUIT received, dumping memory and activity figures.',
    `SIGQUIT: Memory: rss ${mib(memory.rss)}, heap ${mib(memory.heapUsed)} used of ${mib(memory.heapTotal)}, ` +
      `external ${mib(memory.external)}, array buffers ${mib(memory.arrayBuffers)}, relay buffered ${relayBuffered} bytes.`,
    `SIGQUIT: Sessions: ${sessions.current} current.`,
    `SIGQUIT: Activity: ${ACTIVITY_FIELDS.map((name) => `${name}=${counters[name]}`).join(' ')}.`,
  ];
}
