/**
 * Every error epoxy throws, with a stable `code`. docs/errors.md lists them; tests match on
 * `code`, never on messages.
 *
 * Two families:
 * - EpoxySystemError: the kernel refused a syscall. Shaped like Node's own SystemError: `code`
 *   is the errno name ('EADDRINUSE'), `errno` is negative as Node reports it, `syscall` names the
 *   call, `address`/`port` are set when a socket address applies.
 * - EpoxyError: epoxy itself refused something (bad argument, closed handle, unknown option).
 *   Codes are ERR_EPOXY_*.
 */

export class EpoxySystemError extends Error {
  declare code: string;
  declare errno: number;
  declare syscall: string;
  /** The C library's text for the errno ('Address already in use'), as HAProxy prints it. */
  declare description: string;
  declare address?: string;
  declare port?: number;

  constructor(message: string) {
    super(message);
    this.name = 'EpoxySystemError';
  }
}

/** Codes of errors raised by epoxy itself, as opposed to errno names. */
export const ErrorCodes = {
  /** An argument has the wrong type or is out of range. */
  INVALID_ARG: 'ERR_EPOXY_INVALID_ARG',
  /** A textual or binary socket address cannot be parsed. */
  INVALID_ADDRESS: 'ERR_EPOXY_INVALID_ADDRESS',
  /** A socket option name is not in the option table. */
  UNKNOWN_SOCKOPT: 'ERR_EPOXY_UNKNOWN_SOCKOPT',
  /** A read-only socket option (SO_ERROR, SO_ACCEPTCONN...) was given to setsockopt. */
  READONLY_SOCKOPT: 'ERR_EPOXY_READONLY_SOCKOPT',
  /** A handle (Poller, PollWatcher, StickTable) was used after close(). */
  HANDLE_CLOSED: 'ERR_EPOXY_HANDLE_CLOSED',
  /** The addon could not reach Node's libuv loop (should never happen on a supported Node). */
  NO_LOOP: 'ERR_EPOXY_NO_LOOP',
  /** The native addon could not be loaded. */
  ADDON_LOAD: 'ERR_EPOXY_ADDON_LOAD',
  /** Every poller is disabled (noepoll, nopoll...) or does not work here. */
  NO_POLLER: 'ERR_EPOXY_NO_POLLER',
  /** A configuration (file or object) was refused: unknown keyword, bad value, failed check. */
  CONFIG: 'ERR_EPOXY_CONFIG',
  /** The file-descriptor limit cannot cover `maxconn` (or `ulimit-n` cannot be set): nothing started. */
  FD_LIMIT: 'ERR_EPOXY_FD_LIMIT',
  /** The process model failed: a worker did not start, privileges could not be dropped, a reload was refused. */
  PROCESS: 'ERR_EPOXY_PROCESS',
  /** The runtime API (ControlClient): no answer, an answer that is not JSON-RPC, or a command the socket refused (ControlError, with its JSON-RPC code). */
  CONTROL: 'ERR_EPOXY_CONTROL',
} as const;

export type EpoxyErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class EpoxyError extends Error {
  declare code: EpoxyErrorCode;

  constructor(message: string, code?: EpoxyErrorCode) {
    super(message);
    this.name = 'EpoxyError';
    // The addon sets `code` after construction; TypeScript callers pass it here.
    if (code !== undefined) this.code = code;
  }
}

/** Builds the SystemError for a data-path call that returned -errno. */
export function systemErrorFromErrno(
  negativeErrno: number,
  syscall: string,
  nameOf: (errno: number) => string,
  describe?: (errno: number) => string,
): EpoxySystemError {
  const code = nameOf(negativeErrno);
  const description = describe?.(negativeErrno) ?? code;
  const error = new EpoxySystemError(`${syscall} ${code}: ${description}`);
  error.code = code;
  error.description = description;
  error.errno = negativeErrno < 0 ? negativeErrno : -negativeErrno;
  error.syscall = syscall;
  return error;
}
