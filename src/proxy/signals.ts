/**
 * The proxy-level meaning of signals, as in HAProxy 2.6 without master-worker: SIGTTOU pauses the
 * listeners, SIGTTIN resumes them, SIGUSR1 is a soft stop (listeners close, sessions drain, the
 * loop ends with the last one), SIGINT and SIGTERM stop at once, SIGHUP dumps the servers'
 * states, SIGQUIT dumps memory and activity, SIGUSR2 is ignored. Handlers run from the loop (see
 * SignalQueue): the OS-level listener only queues.
 *
 * Every signal HAProxy survives must leave epoxy running too (observed with `kill -<SIG>` on
 * `haproxy -db`: HUP, QUIT, USR2, PIPE, ALRM, CHLD, URG, WINCH, TTIN, TTOU survive; TSTP
 * stops it). Node ignores SIGPIPE itself, and CHLD, URG and WINCH are ignored by default; HUP,
 * QUIT, USR2 and ALRM would end the process, so each gets a handler here. HAProxy survives
 * SIGALRM because its watchdog owns it; epoxy has no use for it and ignores it.
 */
import type { Loop } from '../loop/loop.js';
import type { SignalHandlerRecord } from '../signal/signal-types.js';
import type { Task } from '../task/task-types.js';
import { hardStop, pauseProxies, resumeProxies, softStop } from './proxy.js';
import type { Proxy, ProxyLog } from './proxy-types.js';

export interface ProxySignalOptions {
  /** SIGINT/SIGTERM: what ends the remaining sessions. Default: jobs forced to 0. */
  hardStop?: () => void;
  /** SIGHUP without `reload`: the lines to log as warnings (the servers' states). */
  dumpStates?: () => string[];
  /** SIGQUIT: the lines to log as notices (memory and activity). */
  dumpMemory?: () => string[];
  /**
   * Master-worker's meaning of SIGHUP and SIGUSR2 (reload). When given, both call it instead of
   * the dump and the no-op.
   */
  reload?: () => void;
}

/** Registers the handlers; returns a function that unregisters them. */
export function registerProxySignals(loop: Loop, proxies: readonly Proxy[], log: ProxyLog, options: ProxySignalOptions = {}): () => void {
  const { reload, dumpStates, dumpMemory } = options;
  const ignore = (): void => {};
  const records: SignalHandlerRecord<Task>[] = [
    loop.signals.registerFunction('SIGTTOU', () => pauseProxies(proxies, log)),
    loop.signals.registerFunction('SIGTTIN', () => resumeProxies(proxies, log)),
    loop.signals.registerFunction('SIGUSR1', () => softStop(proxies, loop, log)),
    ...(['SIGINT', 'SIGTERM'] as const).map((signal) =>
      loop.signals.registerFunction(signal, () => {
        hardStop(proxies, loop, log);
        if (options.hardStop) options.hardStop();
        else loop.jobs = loop.unstoppableJobs;
      }),
    ),
    loop.signals.registerFunction('SIGHUP', reload ?? (() => dumpStates?.().forEach((line) => log.warning(line)))),
    loop.signals.registerFunction('SIGQUIT', () => dumpMemory?.().forEach((line) => log.notice(line))),
    loop.signals.registerFunction('SIGUSR2', reload ?? ignore),
    loop.signals.registerFunction('SIGALRM', ignore),
  ];
  return () => {
    for (const record of records) loop.signals.unregister(record);
  };
}
