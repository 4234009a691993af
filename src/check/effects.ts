/**
 * What a server's change of health state does, in the process that serves its sessions (the
 * single process, or each worker as its master's states arrive): the balancer re-reads the
 * servers; `on-marked-down shutdown-sessions` closes the server's sessions; `on-marked-up
 * shutdown-backup-sessions` closes the backups' sessions once an active server is back;
 * `slowstart` ramps the weight of a server that came back from almost nothing to its own, so a
 * cold server is not handed its full share at once.
 */
import type { BackendRuntime, ServerRuntime } from '../session/session-types.js';
import type { SessionEngine } from '../session/session.js';

export class HealthEffects {
  private readonly ramps = new Map<ServerRuntime, NodeJS.Timeout>();

  constructor(private readonly engine: SessionEngine) {}

  /** `server.health` has just changed (it holds the new state). */
  apply(backend: BackendRuntime, server: ServerRuntime): void {
    if (server.health === 'down') {
      this.stopRamp(server);
      if (server.nominalWeight !== undefined) server.weight = server.nominalWeight;
      if (server.onMarkedDown === 'shutdown-sessions') this.engine.killServerSessions(server);
    } else {
      if (server.onMarkedUp === 'shutdown-backup-sessions' && !server.backup) {
        for (const other of backend.servers) if (other.backup) this.engine.killServerSessions(other);
      }
      if ((server.slowstart ?? 0) > 0 && server.nominalWeight !== undefined && server.nominalWeight > 0) this.ramp(backend, server, server.slowstart!, server.nominalWeight);
    }
    backend.balancer.update();
  }

  private ramp(backend: BackendRuntime, server: ServerRuntime, slowstart: number, nominal: number): void {
    this.stopRamp(server);
    const started = Date.now();
    const step = (): void => {
      const elapsed = Date.now() - started;
      server.weight = elapsed >= slowstart ? nominal : Math.max(1, Math.ceil((nominal * elapsed) / slowstart));
      backend.balancer.update();
      if (elapsed >= slowstart) this.stopRamp(server);
    };
    step();
    // Twenty steps over the ramp, none closer than 100 ms.
    const timer = setInterval(step, Math.max(100, Math.floor(slowstart / 20)));
    timer.unref();
    this.ramps.set(server, timer);
  }

  private stopRamp(server: ServerRuntime): void {
    const timer = this.ramps.get(server);
    if (timer !== undefined) clearInterval(timer);
    this.ramps.delete(server);
  }

  stop(): void {
    for (const timer of this.ramps.values()) clearInterval(timer);
    this.ramps.clear();
  }
}
