/**
 * The one place a server's change of state is announced (HAProxy's srv_update_status() is the
 * model: every cause of a change goes through it, and everything that depends on a server's
 * state follows from there). Health checks, DNS answers, and (later) the runtime API emit; the
 * balancer, what a state change does to sessions, and a master's messages to its workers
 * listen. Whoever emits has already set the new state on the server.
 */
import type { BackendRuntime, ServerRuntime } from '../session/session-types.js';

/** What changed: `health` (checks: up/down), `address` (DNS: address, port, weight, unresolved), `admin` (ready/drain/maint). */
export type ServerChange = 'health' | 'address' | 'admin';

export type ServerChangeListener = (backend: BackendRuntime, server: ServerRuntime, change: ServerChange) => void;

export class ServerEvents {
  private readonly listeners: ServerChangeListener[] = [];

  /** Listens from now on; returns the function that stops it. */
  on(listener: ServerChangeListener): () => void {
    this.listeners.push(listener);
    return () => {
      const index = this.listeners.indexOf(listener);
      if (index >= 0) this.listeners.splice(index, 1);
    };
  }

  /** Announces that `server` (of `backend`) changed; listeners run in the order they were added. */
  emit(backend: BackendRuntime, server: ServerRuntime, change: ServerChange): void {
    for (const listener of [...this.listeners]) listener(backend, server, change);
  }
}
