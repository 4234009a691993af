/**
 * systemd's readiness protocol (sd_notify(3)) without libsystemd: one datagram per state change
 * to the unix socket named by NOTIFY_SOCKET ('@name' is in the abstract namespace). A unit with
 * `Type=notify` then knows when epoxy serves, reloads and stops (examples/epoxy.service).
 * Failures are ignored, as sd_notify's callers do: systemd not listening must not stop a proxy.
 */
import { SocketAddress } from '../address.js';
import { constants, native } from '../native.js';

/** Sends `state` ('READY=1', 'RELOADING=1', 'STOPPING=1', 'MAINPID=123'...); false when not sent. */
export function sdNotify(state: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const path = env.NOTIFY_SOCKET;
  if (path === undefined || path === '' || !(path.startsWith('/') || path.startsWith('@'))) return false;
  let fd = -1;
  try {
    fd = native.socket(constants.AF_UNIX, constants.SOCK_DGRAM);
    const rc = native.connect(fd, SocketAddress.from('unix', path).bytes);
    if (rc < 0) return false;
    const message = Buffer.from(state);
    return native.send(fd, message) === message.length;
  } catch {
    return false;
  } finally {
    if (fd >= 0) native.close(fd);
  }
}
