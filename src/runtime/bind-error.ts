/**
 * start()'s refusal when listeners cannot bind: a ConfigError (code ERR_EPOXY_CONFIG) located at
 * the `bind` line, that also says what the kernel said, so a program can act on it (another port
 * on EADDRINUSE, privileges on EACCES) without parsing messages.
 */
import type { Diagnostic } from '../config/diagnostics.js';
import { ConfigError } from '../config/diagnostics.js';
import type { Where } from '../config/model.js';
import type { EpoxySystemError } from '../errors.js';

/** One listener that failed, as start() collects them. */
export interface BindFailure {
  /** The proxy (frontend or listen section) of the listener. */
  proxy: string;
  /** Where its `bind` line was written. */
  where: Where;
  /** The listener's address: an IP address, or a unix socket's path. */
  address: string;
  /** Its port; absent for a unix socket. */
  port?: number;
  /** The alert as printed ("Binding [file:line] for proxy web: ... for [addr:port]"). */
  message: string;
  /** What was thrown at the step that failed, if anything (none for "not enough free sockets"). */
  error?: unknown;
}

export class BindError extends ConfigError {
  /** The proxy whose listener failed first. */
  readonly proxy: string;
  /** The failing listener's address (IP, or unix socket path) and port. */
  readonly address: string;
  readonly port: number | undefined;
  /** The errno name ('EADDRINUSE'), its negative value (-98) and the call ('bind'), when the kernel refused. */
  readonly errnoCode: string | undefined;
  readonly errno: number | undefined;
  readonly syscall: string | undefined;
  /** Every listener that failed, this one first, each as its own BindError. */
  declare readonly errors: BindError[];

  constructor(failure: BindFailure, others: readonly BindFailure[] = []) {
    super(diagnosticOf(failure), others.map(diagnosticOf));
    this.name = 'BindError';
    this.proxy = failure.proxy;
    this.address = failure.address;
    this.port = failure.port;
    const system = isSystemError(failure.error) ? failure.error : undefined;
    this.errnoCode = system?.code;
    this.errno = system?.errno;
    this.syscall = system?.syscall;
    if (failure.error !== undefined) Object.defineProperty(this, 'cause', { value: failure.error, writable: true, configurable: true });
    (this as { errors: BindError[] }).errors = others.length === 0 ? [this] : [failure, ...others].map((f) => new BindError(f));
  }
}

function diagnosticOf(failure: BindFailure): Diagnostic {
  const reason = failure.message.replace(/^Binding \[[^\]]*\] /, '');
  return {
    severity: 'alert',
    message: failure.message,
    reason,
    file: failure.where.file,
    line: failure.where.line,
    column: failure.where.column,
    path: failure.where.path,
    keyword: 'bind',
  };
}

function isSystemError(error: unknown): error is EpoxySystemError {
  const e = error as Partial<EpoxySystemError> | null;
  return typeof e?.code === 'string' && typeof e.errno === 'number' && typeof e.syscall === 'string';
}
