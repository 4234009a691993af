/**
 * Binding every listener of a runtime, apart from serving it: the master binds (it owns the
 * listening fds, and keeps them across reloads and worker deaths), a worker adopts what the master
 * bound, a single process does both in start().
 *
 * Listeners are matched to fds by identity, not by position (HAProxy's `_getsocks` compares
 * address, namespace and interface the same way): a reload that reorders, adds or removes bind
 * lines still hands every unchanged address its existing socket, so its accept queue is never
 * closed, and only new addresses are bound.
 */
import { locationText } from '../config/diagnostics.js';
import { EpoxyError, ErrorCodes } from '../errors.js';
import { ERR_CODE, ListenerState, type BindContext, type Listener } from '../listener/listener-types.js';
import { native } from '../native.js';
import type { Proxy } from '../proxy/proxy-types.js';
import { startProxies } from '../proxy/proxy.js';
import type { ProxyLog } from '../proxy/proxy-types.js';
import { BindError, type BindFailure } from './bind-error.js';
import type { Runtime } from './build.js';

/**
 * What makes two listeners the same socket: family, address and port (or unix path), network
 * namespace, interface, and the IPv6-only choice, which cannot change once bound. Per-socket
 * options (backlog, defer-accept, mss...) are not part of it: the worker applies them again to
 * the socket it adopts. Two bind lines on one address (SO_REUSEPORT) are told apart by order.
 */
export function listenerIdentity(listener: Listener): string {
  const { addr, bind } = listener;
  const where = addr.family === 'unix' ? `unix:${addr.address}` : `${addr.family}:${addr.address}:${addr.port}`;
  const v6 = addr.family === 'ipv6' ? (bind.v6only ? ' v6only' : bind.v4v6 ? ' v4v6' : '') : '';
  return `${where}${bind.namespace !== null ? ` ns=${bind.namespace}` : ''}${bind.interface !== null ? ` if=${bind.interface}` : ''}${v6}`;
}

/** Every listener's identity, with '#2', '#3'... on repeats, in configuration order. */
export function listenerKeys(proxies: readonly Proxy[]): Map<Listener, string> {
  const keys = new Map<Listener, string>();
  const seen = new Map<string, number>();
  for (const proxy of proxies) {
    for (const listener of proxy.listeners) {
      const identity = listenerIdentity(listener);
      const n = (seen.get(identity) ?? 0) + 1;
      seen.set(identity, n);
      keys.set(listener, n === 1 ? identity : `${identity}#${n}`);
    }
  }
  return keys;
}

export interface BindAllOptions {
  log: ProxyLog;
  /** Print retryable errors too (-V). */
  verbose: boolean;
  /** The fd table, accept handler and fd ceiling of each proxy's listeners. */
  context: (proxy: Proxy) => BindContext;
  /**
   * Sockets already bound, by identity (the master's from the previous generation, or what the
   * master handed a worker). A listener found here adopts the fd instead of binding.
   */
  adopt?: ReadonlyMap<string, number>;
  /** Refuse to bind anything not in `adopt` (a worker: only the master binds). */
  adoptOnly?: boolean;
}

/** The listening fds after bindAll(), by identity. */
export type BoundSockets = Map<string, number>;

/**
 * Binds (or adopts) every listener: start_proxies with HAProxy's alerts. On failure the sockets
 * it created are closed (adopted ones are left to their owner) and a BindError is thrown.
 */
export function bindAll(runtime: Runtime, options: BindAllOptions): BoundSockets {
  const keys = listenerKeys(runtime.proxies);
  if (options.adopt !== undefined) {
    for (const [listener, key] of keys) {
      const fd = options.adopt.get(key);
      if (fd !== undefined) listener.fd = fd;
      else if (options.adoptOnly) {
        const where = runtime.bindLines.get(listener);
        throw new EpoxyError(
          `${where ? `[${locationText(where)}] ` : ''}no listening socket was handed over for ${key}: a worker binds nothing itself (did the configuration change while the master read it?)`,
          ErrorCodes.CONFIG,
        );
      }
    }
  }
  const failures: BindFailure[] = [];
  const err = startProxies(runtime.proxies, {
    verbose: options.verbose,
    log: options.log,
    bind: options.context,
    locate: (listener) => {
      const where = runtime.bindLines.get(listener);
      return where && locationText(where);
    },
    failed: (proxy, listener, result, message) => {
      failures.push({
        proxy: proxy.name,
        where: runtime.bindLines.get(listener)!,
        address: listener.addr.address,
        ...(listener.addr.family !== 'unix' && { port: listener.addr.port }),
        message,
        error: result.error,
      });
    },
  });
  if (err & ERR_CODE) {
    closeCreated(runtime.proxies);
    const [first, ...others] = failures;
    if (first) throw new BindError(first, others);
    throw new EpoxyError('some proxies could not start', ErrorCodes.CONFIG);
  }
  const bound: BoundSockets = new Map();
  for (const [listener, key] of keys) if (listener.state >= ListenerState.LISTEN && listener.fd >= 0) bound.set(key, listener.fd);
  return bound;
}

/** Closes the listening sockets bindAll() created (never adopted ones). */
export function closeCreated(proxies: readonly Proxy[]): void {
  for (const proxy of proxies) {
    for (const listener of proxy.listeners) {
      if (listener.fd >= 0 && !listener.inherited) {
        native.close(listener.fd);
        listener.fd = -1;
      }
    }
  }
}
