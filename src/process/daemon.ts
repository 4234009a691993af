/**
 * Daemon mode (-D, `daemon`) with a startup handshake (seed 004's daemonize_start/complete): the
 * command the user typed starts the daemon as a detached child in its own session, relays what
 * it prints, and exits only when the daemon says it serves (exit 0) or when the daemon exits
 * (its status, after its alerts were printed). A script running `epoxy -D` can trust its status.
 */
import { spawn } from 'node:child_process';

/** Set in the daemon's environment; its presence means "you are the daemon, do not fork again". */
export const DAEMON_ENV = 'EPOXY_DAEMON_CHILD';

/** The message the daemon sends on the IPC channel once its workers serve. */
export const DAEMON_READY = 'epoxy-daemon-ready';

/** In the launching command: starts the daemon and returns the exit status for the command. */
export function launchDaemon(command: readonly string[]): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, ...command], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, [DAEMON_ENV]: '1' },
  });
  return new Promise((resolve) => {
    child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    child.on('message', (message) => {
      if (message !== DAEMON_READY) return;
      // From here on the daemon writes to /dev/null (daemonReady): nothing more to relay.
      child.stderr?.removeAllListeners('data');
      child.removeAllListeners('exit');
      if (child.connected) child.disconnect();
      child.stderr?.destroy();
      child.unref();
      resolve(0);
    });
    child.on('error', (error) => {
      process.stderr.write(`epoxy: cannot start the daemon: ${error.message}\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal !== null ? 1 : 0)));
  });
}

/** In the daemon: tells the launching command it serves, then lets go of its terminal. */
export function daemonReady(detach: () => void): void {
  if (process.send !== undefined && process.connected) {
    process.send(DAEMON_READY, () => {
      if (process.connected) process.disconnect();
      detach();
    });
  } else {
    detach();
  }
}
