/**
 * Proxy startup and lifecycle (HAProxy's start_proxies, pause/resume, soft stop).
 *
 * startProxies() binds every ASSIGNED listener of every NEW proxy and aggregates the ERR_* flags:
 * a listener's FATAL or ABORT ends that proxy's walk, a RETRYABLE one marks it failed but lets its
 * other listeners try, ABORT ends the walk over proxies. A proxy is READY only when all its
 * listeners bound. Messages follow HAProxy's verbosity rule: fatal ones always, others only when
 * `verbose` (a caller retrying on RETRYABLE passes verbose on its last attempt only).
 */
import { enableListener } from '../listener/listener.js';
import {
  ERR_ABORT,
  ERR_ALERT,
  ERR_CODE,
  ERR_FATAL,
  ERR_NONE,
  ERR_WARN,
  ListenerState,
  type BindContext,
  type BindResult,
  type Listener,
} from '../listener/listener-types.js';
import { bindListener, pauseListener, resumeListener, unbindListener } from '../listener/tcp-bind.js';
import { ProxyState, type JobCounter, type Proxy, type ProxyLog } from './proxy-types.js';

export interface StartContext {
  /** Print retryable failures too (HAProxy prints them only on its last attempt). */
  verbose: boolean;
  log: ProxyLog;
  /** Passed to every listener's bind: maxsock, the fd table, the accept handler… */
  bind: BindContext | ((proxy: Proxy) => BindContext);
  /**
   * Where a listener's `bind` line was written ('haproxy.cfg:12', or an object path). With it,
   * messages read as HAProxy 2.6's "Binding [file:line] for <type> <name>: <reasons> for
   * [<addr>]"; without, "Starting <type> <name>: <reasons> [<addr>]".
   */
  locate?: (listener: Listener) => string | undefined;
  /** Told of every listener that failed to start (its result has ERR_CODE bits), with its alert. */
  failed?: (proxy: Proxy, listener: Listener, result: BindResult, message: string) => void;
}

/** HAProxy's proxy_type_str(): a `listen` section is a "proxy". */
function typeWord(proxy: Proxy): string {
  return proxy.type === 'listen' ? 'proxy' : proxy.type;
}

/** One bind step's message, located when the bind line is known. */
function bindMessage(proxy: Proxy, listener: Listener, result: BindResult, ctx: StartContext): string {
  const at = ctx.locate?.(listener);
  if (at === undefined || result.reasons === undefined) return `Starting ${proxy.type} ${proxy.name}: ${result.msg}`;
  return `Binding [${at}] for ${typeWord(proxy)} ${proxy.name}: ${result.reasons} for [${result.target}]`;
}

export function startProxies(proxies: readonly Proxy[], ctx: StartContext): number {
  let err = ERR_NONE;
  for (const proxy of proxies) {
    if (proxy.state !== ProxyState.NEW) continue; // already started
    let failed = false;
    const bindCtx = typeof ctx.bind === 'function' ? ctx.bind(proxy) : ctx.bind;
    for (const listener of proxy.listeners) {
      if (listener.state !== ListenerState.ASSIGNED) continue; // already bound
      const result = bindListener(listener, bindCtx);
      const lerr = result.err;
      if (ctx.verbose || lerr & (ERR_FATAL | ERR_ABORT)) {
        if (lerr & ERR_ALERT) ctx.log.alert(bindMessage(proxy, listener, result, ctx));
        else if (lerr & ERR_WARN) ctx.log.warning(bindMessage(proxy, listener, result, ctx));
      }
      if (lerr & ERR_CODE) ctx.failed?.(proxy, listener, result, bindMessage(proxy, listener, result, ctx));
      err |= lerr;
      if (lerr & (ERR_ABORT | ERR_FATAL)) {
        failed = true;
        break;
      }
      if (lerr & ERR_CODE) failed = true;
    }
    if (!failed) {
      proxy.state = ProxyState.READY;
      ctx.log.notice(`Proxy ${proxy.name} started.`);
    }
    if (err & ERR_ABORT) break;
  }
  return err;
}

/**
 * Starts accepting on every listener of READY proxies; each listener enabled counts as a job of
 * the loop (HAProxy counts listeners in `jobs`), so the loop runs while something listens.
 */
export function enableProxies(proxies: readonly Proxy[], jobs: JobCounter): void {
  for (const proxy of proxies) {
    if (proxy.state !== ProxyState.READY) continue;
    for (const listener of proxy.listeners) {
      if (listener.state !== ListenerState.LISTEN) continue;
      enableListener(listener);
      if (!listenerJobs.has(listener)) {
        listenerJobs.add(listener);
        jobs.jobs++;
      }
    }
  }
}

/**
 * Listeners counted in the loop's jobs. Kept apart from the listener state, which cannot say it:
 * a paused abstract unix listener is unbound (ASSIGNED) yet still counts, as it will resume.
 */
const listenerJobs = new WeakSet<object>();

/** SIGTTOU: pause every listener (a new process wants the ports). Returns false if any failed. */
export function pauseProxies(proxies: readonly Proxy[], log: ProxyLog): boolean {
  let ok = true;
  for (const proxy of proxies) {
    if (proxy.state !== ProxyState.READY) continue;
    log.notice(`Pausing ${proxy.type} ${proxy.name}.`);
    let proxyOk = true;
    for (const listener of proxy.listeners) {
      const result = pauseListener(listener);
      if (!result.ok) {
        proxyOk = false;
        log.warning(`Some ${proxy.type} ${proxy.name} listeners could not be paused: ${result.msg}`);
      }
    }
    if (proxyOk) {
      proxy.state = ProxyState.PAUSED;
      log.notice(`Proxy ${proxy.name} paused.`);
    }
    ok &&= proxyOk;
  }
  return ok;
}

/** SIGTTIN: resume paused listeners (the new process failed to start). */
export function resumeProxies(proxies: readonly Proxy[], log: ProxyLog): boolean {
  let ok = true;
  for (const proxy of proxies) {
    if (proxy.state !== ProxyState.PAUSED) continue;
    log.notice(`Enabling ${proxy.type} ${proxy.name}.`);
    let proxyOk = true;
    for (const listener of proxy.listeners) {
      const result = resumeListener(listener);
      if (!result.ok) {
        proxyOk = false;
        log.alert(`Cannot resume ${proxy.type} ${proxy.name}: ${result.msg}`);
      }
    }
    if (proxyOk) {
      proxy.state = ProxyState.READY;
      log.notice(`Proxy ${proxy.name} resumed.`);
    }
    ok &&= proxyOk;
  }
  return ok;
}

/**
 * Closes a proxy's listeners for good; their jobs end. Established sessions are not touched:
 * they are jobs of their own and end by themselves (soft stop), or are killed by the caller.
 */
export function stopProxy(proxy: Proxy, jobs: JobCounter, log: ProxyLog): void {
  if (proxy.state === ProxyState.STOPPED) return;
  for (const listener of proxy.listeners) {
    if (listenerJobs.delete(listener)) jobs.jobs--;
    unbindListener(listener);
  }
  proxy.state = ProxyState.STOPPED;
  log.notice(`Proxy ${proxy.name} stopped.`);
}

/** SIGUSR1: stop listening everywhere and let established sessions drain; the loop then ends. */
export function softStop(proxies: readonly Proxy[], jobs: JobCounter, log: ProxyLog): void {
  log.warning('Stopping proxies (soft stop): established sessions finish, nothing new is accepted.');
  for (const proxy of proxies) stopProxy(proxy, jobs, log);
}

/**
 * SIGINT/SIGTERM: stop listening everywhere; the caller closes the open sessions at once. HAProxy
 * 2.6 prints nothing for these (observed with haproxy -db); epoxy says what happens, and never
 * calls it soft.
 */
export function hardStop(proxies: readonly Proxy[], jobs: JobCounter, log: ProxyLog): void {
  log.warning('Stopping proxies (hard stop): open sessions are closed now.');
  for (const proxy of proxies) stopProxy(proxy, jobs, log);
}
