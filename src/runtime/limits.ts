/**
 * How many connections the process can hold, from its file-descriptor limit, as HAProxy 2.6
 * sizes itself: the soft RLIMIT_NOFILE is raised to the hard one (or set to `ulimit-n`), and
 * without a `maxconn` the global maxconn is what the fds left after the reserve allow — two per
 * connection, plus two per splice pipe (up to maxpipes, by default a quarter of maxconn). A
 * `maxconn` the limit cannot cover is refused before anything binds. Observed with HAProxy 2.6
 * (`show info`): hard limit 20000 -> Maxconn 9986, `ulimit -n 256` -> 114 (a reserve of 28 fds);
 * maxconn 50000 under a hard limit of 20000 -> "[haproxy.main()] Cannot raise FD limit to 100017,
 * limit is 20000." and no start.
 *
 * epoxy's reserve is larger than HAProxy's: the fds Node holds already (its epoll set, eventfds,
 * the signal pipe, stdio, the inspector's...), counted at startup from /proc/self/fd, one per
 * listener, and FD_MARGIN for what Node opens later (a DNS lookup's socket, a file read).
 */
import { readdirSync } from 'node:fs';
import { EpoxyError, ErrorCodes } from '../errors.js';
import { native } from '../native.js';

/** Fds kept for what Node and epoxy open after startup (lookups, files, the control plane). */
export const FD_MARGIN = 32;

export interface FdPlanInput {
  /** Global maxconn (`maxconn`, `-n`), or null to derive it. */
  maxconn: number | null;
  /** `maxpipes`, or null for maxconn / 4. */
  maxpipes: number | null;
  /** `ulimit-n`, or null to raise the soft limit to the hard one. */
  ulimitN: number | null;
  /** Whether the relay may splice (each pipe is two fds). */
  splice: boolean;
  /** Listening sockets to be opened. */
  listeners: number;
}

export interface FdPlan {
  /** The global maxconn in force: configured, or derived from the fd limit. */
  maxconn: number;
  /** Whether maxconn was derived (no `maxconn`, no `-n`). */
  derived: boolean;
  /** The relay's pipe cap (`maxpipes`, else maxconn / 4); unused when the relay does not splice. */
  maxPipes: number;
  /** The soft RLIMIT_NOFILE now in force. */
  maxsock: number;
  /** Fds kept out of maxconn's share: open now, listeners, margin. */
  reserved: number;
}

function openFds(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return 64; // no /proc: a conservative guess for a started Node
  }
}

/** The error of a limit that cannot cover what is asked; HAProxy's words. */
function cannotRaise(needed: number, limit: number): EpoxyError {
  return new EpoxyError(`[epoxy.main()] Cannot raise FD limit to ${needed}, limit is ${limit}.`, ErrorCodes.FD_LIMIT);
}

/** Sets RLIMIT_NOFILE as the configuration asks and sizes maxconn and maxpipes from it. */
export function planFds(input: FdPlanInput): FdPlan {
  const pipesPer = (maxconn: number): number => (input.maxpipes !== null ? input.maxpipes : Math.floor(maxconn / 4));
  const reserved = openFds() + input.listeners + FD_MARGIN;
  let { soft, hard } = native.getNofileLimit();
  if (input.ulimitN !== null) {
    try {
      native.setNofileLimit(input.ulimitN, Math.max(hard, input.ulimitN));
    } catch {
      throw cannotRaise(input.ulimitN, hard);
    }
  } else if (soft < hard) {
    native.setNofileLimit(hard, hard);
  }
  ({ soft, hard } = native.getNofileLimit());

  if (input.maxconn !== null) {
    const maxPipes = pipesPer(input.maxconn);
    const needed = reserved + 2 * input.maxconn + (input.splice ? 2 * maxPipes : 0);
    if (needed > soft) {
      // The hard limit may still be raised (root with CAP_SYS_RESOURCE); try before refusing.
      if (input.ulimitN !== null) throw cannotRaise(needed, soft);
      try {
        native.setNofileLimit(needed, Math.max(hard, needed));
      } catch {
        throw cannotRaise(needed, hard);
      }
      soft = needed;
    }
    return { maxconn: input.maxconn, derived: false, maxPipes, maxsock: soft, reserved };
  }

  const available = soft - reserved;
  // Two fds per connection, plus two per pipe: an explicit maxpipes is taken off first, the
  // default (a pipe per four connections) costs half an fd per connection.
  const maxconn = input.splice
    ? input.maxpipes !== null
      ? Math.floor((available - 2 * input.maxpipes) / 2)
      : Math.floor(available / 2.5)
    : Math.floor(available / 2);
  if (maxconn < 1) {
    throw new EpoxyError(
      `[epoxy.main()] Not enough file descriptors: the limit is ${soft} and ${reserved} are needed before the first connection; raise 'ulimit-n'.`,
      ErrorCodes.FD_LIMIT,
    );
  }
  return { maxconn, derived: true, maxPipes: pipesPer(maxconn), maxsock: soft, reserved };
}
