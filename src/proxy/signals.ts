/**
 * The proxy-level meaning of signals, as in HAProxy 2.6 without master-worker: SIGTTOU pauses
 * the listeners, SIGTTIN resumes them, SIGUSR1 is a soft stop (listeners close, sessions drain,
 * the loop ends with the last one), SIGINT and SIGTERM stop at once, SIGHUP dumps the servers'
 * states, SIGQUIT dumps memory and activity figures, SIGUSR2 is ignored. Every one of them is
 * caught, so none of them ends the process the way Node's default action would (log rotation
 * sends HUP; HAProxy survives all three). The master/worker model gives HUP and USR2 their
 * reload meaning by passing its own handlers. Handlers run from the loop (see SignalQueue).
 */
import type { Loop } from '../loop/loop.js';
import type { SignalHandlerRecord } from '../signal/signal-types.js';
import type { Task } from '../task/task-types.js';
import { hardStop, pauseProxies, resumeProxies, softStop } from './proxy.js';
import type { Proxy, ProxyLog } from './proxy-types.js';

export interface ProxySignalOptions {
  /** SIGINT/SIGTERM: what ends the remaining sessions. Default: soft stop, then jobs forced to 0. */
  hardStop?: () => void;
  /** SIGHUP: the lines reporting every server's state (logged as warnings, as HAProxy does). */
  serverStates?: () => string[];
  /** SIGQUIT: the lines reporting memory and activity. */
  activity?: () => string[];
  /** SIGHUP instead of the dump (a master's reload). */
  onHangup?: () => void;
  /** SIGUSR2 (a master's reload); default: ignored. */
  onUsr2?: () => void;
}

/** Registers the handlers; returns a function that unregisters them. */
export function registerProxySignals(loop: Loop, proxies: readonly Proxy[], log: ProxyLog, options: ProxySignalOptions = {}): () => void {
  const dump = (lines: (() => string[]) | undefined): void => {
    for (const line of lines?.() ?? []) log.warning(line);
  };
  const records: SignalHandlerRecord<Task>[] = [
    loop.signals.registerFunction('SIGTTOU', () => pauseProxies(proxies, log)),
    loop.signals.registerFunction('SIGTTIN', () => resumeProxies(proxies, log)),
    loop.signals.registerFunction('SIGUSR1', () => softStop(proxies, loop, log)),
    loop.signals.registerFunction('SIGHUP', () => (options.onHangup ? options.onHangup() : dump(options.serverStates))),
    loop.signals.registerFunction('SIGQUIT', () => dump(options.activity)),
    loop.signals.registerFunction('SIGUSR2', () => options.onUsr2?.()),
    ...(['SIGINT', 'SIGTERM'] as const).map((signal) =>
      loop.signals.registerFunction(signal, () => {
        hardStop(proxies, loop, log);
        if (options.hardStop) options.hardStop();
        else loop.jobs = loop.unstoppableJobs;
      }),
    ),
  ];
  return () => {
    for (const record of records) loop.signals.unregister(record);
  };
}
