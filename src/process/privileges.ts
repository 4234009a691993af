/**
 * Giving up root once the listeners are bound (HAProxy's `user`, `group`, `chroot`): the master
 * binds as root, and each worker drops to the configured user, inside the configured root
 * directory, before it reads a byte from a client.
 *
 * Transparent proxying needs CAP_NET_ADMIN at run time (IP_TRANSPARENT on every connection to a
 * server with `usesrc`) and SO_BINDTODEVICE needs CAP_NET_RAW: when the configuration uses them,
 * those two capabilities survive the switch to the user and every other one is dropped.
 */
import { constants as osConstants } from 'node:os';
import type { Config } from '../config/model.js';
import { workerGid } from '../config/global.js';
import { EpoxyError, ErrorCodes } from '../errors.js';
import { native } from '../native.js';

/** linux/capability.h */
export const CAP_NET_ADMIN = 12;
export const CAP_NET_RAW = 13;

export interface PrivilegeDrop {
  uid?: number;
  gid?: number;
  groups?: number[];
  chroot?: string;
  keepCapabilities?: number[];
}

/** Whether any proxy binds or connects transparently, or to an interface. */
function needsNetAdmin(config: Config): boolean {
  for (const proxy of config.proxies) {
    if (proxy.binds.some((line) => line.bind.transparent || line.bind.interface !== null || line.bind.freebind)) return true;
    if (proxy.source?.usesrc || proxy.source?.interface) return true;
    if (proxy.servers.some((server) => server.source?.usesrc || server.source?.interface)) return true;
  }
  return false;
}

/** What dropPrivileges() will do for `config`, or null when nothing is configured. */
export function privilegeDrop(config: Config): PrivilegeDrop | null {
  const { uid, chroot } = config.global.process;
  const gid = workerGid(config.global);
  if (uid === null && gid === null && chroot === null) return null;
  const drop: PrivilegeDrop = {};
  if (chroot !== null) drop.chroot = chroot;
  if (gid !== null) {
    drop.gid = gid;
    // Root's supplementary groups would otherwise stay with the worker.
    drop.groups = [gid];
  }
  if (uid !== null) {
    drop.uid = uid;
    if (uid !== 0 && needsNetAdmin(config)) drop.keepCapabilities = [CAP_NET_ADMIN, CAP_NET_RAW];
  }
  return drop;
}

/**
 * Drops to `drop`. Everything a chroot would hide is touched first: the local time zone (log
 * dates) is read while /etc/localtime is still reachable. Throws an ERR_EPOXY_PROCESS error
 * naming the step that failed (a user who cannot do it: epoxy must run as root to drop).
 */
export function dropPrivileges(drop: PrivilegeDrop): void {
  new Date().toString();
  try {
    native.dropPrivileges(drop);
  } catch (cause) {
    const error = new EpoxyError(`cannot drop privileges: ${(cause as Error).message}`, ErrorCodes.PROCESS);
    error.cause = cause;
    throw error;
  }
}

/** The signal number a worker asks to receive when its master dies. */
export const PARENT_DEATH_SIGNAL = osConstants.signals.SIGTERM;
