/**
 * Statistics of a proxy served in this process (start(), or `epoxy -f` without workers): what
 * the runtime API calls to answer `show stat`, `show info` and `clear counters`, and what the
 * Prometheus exporter reads. A master has its own (Master.stats(), Master.clearCounters()).
 */
import { CounterTotals, snapshotCounters } from '../master/counters.js';
import { ProxyState } from '../proxy/proxy-types.js';
import type { RunningProxy } from '../runtime/start.js';
import { VERSION } from '../version.js';
import { buildStats, type StatsSnapshot } from './stats.js';

export interface StatsOptions {
  /** A `stats socket` is configured (HAProxy then numbers proxies from 2). */
  statsSocket?: boolean;
}

/** A snapshot of `running` now: its counters with open sessions' bytes, its servers and checks. */
export function processStats(running: RunningProxy, options: StatsOptions = {}): StatsSnapshot {
  const now = Date.now();
  const counters = new CounterTotals().total([snapshotCounters(running.runtime, { engine: running.engine, now: running.loop.now })]);
  const relay = running.relay;
  const checker = running.checker;
  return buildStats({
    config: running.config,
    runtime: running.runtime,
    counters,
    checks: checker === null ? null : { servers: checker.checkStates(now), backends: checker.backendStates(now) },
    maxconn: running.limits.maxconn,
    statsSocket: options.statsSocket ?? false,
    now,
    process: {
      pid: process.pid,
      nbthread: 1,
      startedAt: running.startedAt,
      ulimitN: running.limits.maxsock,
      maxsock: running.limits.maxsock,
      maxconn: running.limits.maxconn,
      maxpipes: relay.splice === 'off' ? 0 : running.limits.maxPipes,
      ...(!relay.closed && { pipesUsed: relay.pipes, pipesFree: relay.idlePipes, splicedBytes: relay.bytesSpliced }),
      jobs: running.loop.jobs,
      listeners: running.runtime.proxies.reduce((n, p) => n + (p.state === ProxyState.STOPPED ? 0 : p.listeners.length), 0),
      stopping: running.runtime.proxies.some((p) => p.state === ProxyState.STOPPED),
      busyPolling: running.config.global.busyPolling,
      version: VERSION,
    },
  });
}

/**
 * `clear counters` (peaks: most sessions, queued and rates at once) or `clear counters all`
 * (every counter, as a restart would; gauges of what is open now are not counters).
 */
export function clearProcessCounters(running: RunningProxy, all: boolean): void {
  for (const frontend of running.runtime.frontends.values()) frontend.counters.clear(all);
  for (const backend of running.runtime.backends.values()) {
    backend.counters.clear(all);
    for (const server of backend.servers) server.counters.clear(all);
  }
  if (all) running.checker?.clearCounters();
}
