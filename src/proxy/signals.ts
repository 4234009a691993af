/**
 * The proxy-level meaning of signals, as in HAProxy: SIGTTOU pauses the listeners, SIGTTIN
 * resumes them, SIGUSR1 is a soft stop (listeners close, sessions drain, the loop ends with the
 * last one), SIGINT and SIGTERM stop at once. Handlers run from the loop (see SignalQueue).
 */
import type { Loop } from '../loop/loop.js';
import type { SignalHandlerRecord } from '../signal/signal-types.js';
import type { Task } from '../task/task-types.js';
import { pauseProxies, resumeProxies, softStop } from './proxy.js';
import type { Proxy, ProxyLog } from './proxy-types.js';

export interface ProxySignalOptions {
  /** SIGINT/SIGTERM: what ends the remaining sessions. Default: soft stop, then jobs forced to 0. */
  hardStop?: () => void;
}

/** Registers the handlers; returns a function that unregisters them. */
export function registerProxySignals(loop: Loop, proxies: readonly Proxy[], log: ProxyLog, options: ProxySignalOptions = {}): () => void {
  const records: SignalHandlerRecord<Task>[] = [
    loop.signals.registerFunction('SIGTTOU', () => pauseProxies(proxies, log)),
    loop.signals.registerFunction('SIGTTIN', () => resumeProxies(proxies, log)),
    loop.signals.registerFunction('SIGUSR1', () => softStop(proxies, loop, log)),
    ...(['SIGINT', 'SIGTERM'] as const).map((signal) =>
      loop.signals.registerFunction(signal, () => {
        softStop(proxies, loop, log);
        if (options.hardStop) options.hardStop();
        else loop.jobs = loop.unstoppableJobs;
      }),
    ),
  ];
  return () => {
    for (const record of records) loop.signals.unregister(record);
  };
}
