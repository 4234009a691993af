/** Types and flags of the signal queue (HAProxy's signal-t.h). */

/** Signals epoxy handles; the proxy's meanings follow HAProxy. */
export const HANDLED_SIGNALS = [
  'SIGHUP', // dump the servers' states / (master) reload
  'SIGINT', // immediate stop
  'SIGTERM', // immediate stop
  'SIGQUIT', // dump memory and activity
  'SIGUSR1', // soft stop: stop listening, let sessions drain
  'SIGUSR2', // ignored / (master) reload
  'SIGTTOU', // pause listeners (a new process wants the ports)
  'SIGTTIN', // resume listeners (the new process failed)
  'SIGALRM', // ignored (HAProxy survives it: its watchdog owns it)
] as const satisfies readonly NodeJS.Signals[];

export type HandledSignal = (typeof HANDLED_SIGNALS)[number];

/** How a handler is invoked (HAProxy's SIG_F_TYPE_*). */
export const SIG_F_TYPE_FCT = 0x01; // a function, called from the loop with the handler record
export const SIG_F_TYPE_TASK = 0x02; // a task, woken with TASK_WOKEN_SIGNAL
export const SIG_F_ONE_SHOT = 0x04; // unregistered after its first delivery

/** A registered handler. `count` is the number of deliveries coalesced into this call. */
export interface SignalHandlerRecord<T = unknown> {
  readonly signal: NodeJS.Signals;
  readonly flags: number;
  readonly fn?: (record: SignalHandlerRecord<T>, count: number) => void;
  readonly task?: T;
}
