/**
 * The epoxy command's processes that serve traffic (the single process, each worker) turn off
 * libuv's idle-time metrics: with them, libuv polls twice each time it is about to sleep, and a
 * relay woken from idle pays two epoll_pwait per message (7.86 syscalls per keep-alive round
 * trip instead of 6.00, `node bench/relay-syscalls.mjs --tracer perf --loop-metrics on|off`;
 * docs/relay.md). Their only user, `performance.eventLoopUtilization()`, is nothing a proxy
 * process reads. A library's start() leaves Node's loop as it is: its embedder may read them.
 */
import { native } from '../native.js';

/** Returns whether the loop now polls once per wake-up (false on a libuv the addon does not know). */
export function pollOncePerWakeup(): boolean {
  return native.setLoopIdleMetrics(false);
}
