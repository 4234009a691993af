/**
 * Log targets at run time: where lines go, and the one place that turns a message into a line
 * (syslog envelope, `len`, level filter) for the process's own messages and for sessions alike.
 *
 * A log server that is down or slow must cost the data path nothing: datagrams are sent with a
 * non-blocking send() on a socket of the addon (UDP or unix datagram) and a refusal (EAGAIN: the
 * socket buffer is full; ECONNREFUSED: nobody listens) drops that line and counts it, as HAProxy
 * counts DroppedLogs. Nothing is queued, awaited or thrown. node:dgram is not used: its sends
 * are asynchronous, allocate a request per line and queue without bound behind a full buffer.
 */
import { SocketAddress } from '../address.js';
import type { LogDestination, LogFormat, LogLevel, LogTarget } from '../config/model.js';
import { constants, native } from '../native.js';
import type { ProxyLog } from '../proxy/proxy-types.js';
import { effectiveLevel, SyslogHeaders, wallMicros, type SyslogIdentity } from './syslog.js';

/** What every target of a hub did with the lines given to it. */
export interface LogCounters {
  /** Lines handed to the kernel (or to a stream). */
  sent: number;
  /** Lines lost: no socket, a full socket buffer, nobody listening, a stream error. */
  dropped: number;
}

/** The longest `len` (65535) plus the final newline: every datagram is built here, never allocated. */
const scratch = Buffer.allocUnsafe(65536);
const NEWLINE = 0x0a;
/** A unix socket that refused (no syslog daemon yet) is connected again at most this often. */
const RECONNECT_MS = 1000;

interface Sink {
  write(header: string, message: string, maxLength: number): void;
  close(): void;
}

/** stdout/stderr: Node's streams (synchronous for files and pipes on Linux, as HAProxy's writev). */
class StreamSink implements Sink {
  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly counters: LogCounters,
  ) {
    // A closed stdout (EPIPE) reports asynchronously; unhandled, it would end the process.
    if (stream.listenerCount('error') === 0) stream.on('error', () => {});
  }

  write(header: string, message: string, maxLength: number): void {
    let text = header + message;
    if (text.length > maxLength / 3 && Buffer.byteLength(text) > maxLength) {
      // Truncated in bytes, at a character boundary, as the datagram targets are.
      text = scratch.toString('utf8', 0, scratch.write(text, 0, maxLength, 'utf8'));
    }
    if (this.stream.writable) {
      this.stream.write(`${text}\n`);
      this.counters.sent++;
    } else {
      this.counters.dropped++;
    }
  }

  close(): void {}
}

/** A syslog server: UDP (IPv4/IPv6) or a unix datagram socket, one non-blocking socket per address. */
class DatagramSink implements Sink {
  private fd = -1;
  private connected = false;
  private lastAttempt = -Infinity;

  constructor(
    private readonly family: number,
    private readonly address: Uint8Array,
    private readonly counters: LogCounters,
  ) {
    try {
      this.fd = native.socket(family, constants.SOCK_DGRAM | constants.SOCK_NONBLOCK);
    } catch {
      // No socket (fd exhaustion at start): every line to this target is counted as dropped.
      this.fd = -1;
    }
  }

  private connect(): boolean {
    const now = performance.now();
    if (now - this.lastAttempt < RECONNECT_MS) return false;
    this.lastAttempt = now;
    // A connected datagram socket lets send() go without an address and reports a receiver
    // that is gone; connecting again recovers a syslog daemon that came back at the same path.
    this.connected = native.connect(this.fd, this.address) === 0;
    return this.connected;
  }

  write(header: string, message: string, maxLength: number): void {
    if (this.fd < 0 || (!this.connected && !this.connect())) {
      this.counters.dropped++;
      return;
    }
    let length = scratch.write(header, 0, maxLength, 'utf8');
    if (length < maxLength) length += scratch.write(message, length, maxLength - length, 'utf8');
    scratch[length++] = NEWLINE;
    const sent = native.send(this.fd, scratch, 0, length);
    if (sent === length) {
      this.counters.sent++;
      return;
    }
    this.counters.dropped++;
    // A unix receiver that went away (ECONNREFUSED) needs a new connect; on UDP the same error
    // only echoes an ICMP "port unreachable" and the socket stays usable.
    if (this.family === constants.AF_UNIX && sent === -constants.errno.ECONNREFUSED) this.connected = false;
  }

  close(): void {
    if (this.fd >= 0) native.close(this.fd);
    this.fd = -1;
  }
}

/** One resolved target of a Logger. */
interface Route {
  readonly sink: Sink;
  readonly target: Extract<LogTarget, { kind: 'target' }>;
  /** The target's format, or the default one. */
  readonly format: LogFormat;
}

/** Sends messages to a list of targets (a proxy's, or the global section's). */
export class Logger {
  constructor(
    private readonly routes: readonly Route[],
    private readonly headers: SyslogHeaders,
    /** A proxy's `log-tag`, or null: the process's. */
    private readonly tag: string | null,
  ) {}

  /** Whether anything is sent at all (no target: callers skip building their lines). */
  get enabled(): boolean {
    return this.routes.length > 0;
  }

  log(level: LogLevel, message: string): void {
    const routes = this.routes;
    if (routes.length === 0) return;
    const micros = wallMicros();
    for (let i = 0; i < routes.length; i++) {
      const { sink, target, format } = routes[i]!;
      const sent = effectiveLevel(level, target.level, target.minLevel);
      if (sent === null) continue;
      const header = this.tag === null ? this.headers.header(format, target.facility, sent, micros) : this.headers.header(format, target.facility, sent, micros, this.tag);
      sink.write(header, message, target.maxLength);
    }
  }
}

function destinationKey(destination: LogDestination): string {
  switch (destination.kind) {
    case 'stream':
      return destination.stream;
    case 'udp':
      return `udp:${destination.family}:${destination.host}:${destination.port}`;
    case 'unix':
      return `unix:${destination.path}`;
  }
}

/**
 * The log targets of one running instance: one socket per distinct address however many proxies
 * name it, the counters, and Loggers for the global section and each proxy.
 */
export class LogHub {
  readonly counters: LogCounters = { sent: 0, dropped: 0 };
  private readonly sinks = new Map<string, Sink>();
  private readonly headers: SyslogHeaders;

  constructor(
    private readonly globalTargets: readonly LogTarget[],
    identity: SyslogIdentity,
  ) {
    this.headers = new SyslogHeaders(identity);
  }

  private sink(destination: LogDestination): Sink {
    const key = destinationKey(destination);
    let sink = this.sinks.get(key);
    if (sink === undefined) {
      switch (destination.kind) {
        case 'stream':
          sink = new StreamSink(destination.stream === 'stdout' ? process.stdout : process.stderr, this.counters);
          break;
        case 'udp':
          sink = new DatagramSink(
            destination.family === 'ipv6' ? constants.AF_INET6 : constants.AF_INET,
            SocketAddress.from(destination.family, destination.host, destination.port).bytes,
            this.counters,
          );
          break;
        case 'unix':
          sink = new DatagramSink(constants.AF_UNIX, SocketAddress.from('unix', destination.path, 0).bytes, this.counters);
          break;
      }
      this.sinks.set(key, sink);
    }
    return sink;
  }

  /**
   * A Logger for `targets` (a proxy's `log` lines; `log global` stands for the global section's),
   * or for the global section's own when `targets` is omitted. `tag`: the proxy's `log-tag`.
   */
  logger(targets: readonly LogTarget[] = this.globalTargets, tag: string | null = null): Logger {
    const routes: Route[] = [];
    // HAProxy 2.6: `local` unless log-send-hostname asks for the host, then `rfc3164`.
    const defaultFormat: LogFormat = this.headers.identity.hostname === null ? 'local' : 'rfc3164';
    for (const target of targets.flatMap((t) => (t.kind === 'global' ? this.globalTargets : [t]))) {
      if (target.kind === 'target') routes.push({ sink: this.sink(target.destination), target, format: target.format ?? defaultFormat });
    }
    return new Logger(routes, this.headers, tag);
  }

  /** Closes every socket; Loggers made here drop (and count) what they are given afterwards. */
  close(): void {
    for (const sink of this.sinks.values()) sink.close();
  }
}

/** HAProxy's stderr line for the process's own messages: `[WARNING]  (1234) : text`. */
export function stderrLine(tag: 'ALERT' | 'WARNING' | 'NOTICE', message: string): string {
  return `[${tag}] ${' '.repeat(Math.max(0, 8 - tag.length))}(${process.pid}) : ${message}\n`;
}

/** The process's messages on stderr, with HAProxy 2.6's prefixes; `quiet` keeps alerts only. */
export function stderrLog(quiet: boolean): ProxyLog {
  return {
    alert: (m) => void process.stderr.write(stderrLine('ALERT', m)),
    warning: (m) => (quiet ? undefined : void process.stderr.write(stderrLine('WARNING', m))),
    notice: (m) => (quiet ? undefined : void process.stderr.write(stderrLine('NOTICE', m))),
  };
}

/**
 * `log` plus the global log targets: the process's alerts and warnings (health checks, stops,
 * signal dumps) also reach syslog, as HAProxy sends its own events to the global `log` lines.
 * Notices stay on stderr: HAProxy 2.6 sends none of its startup notices to syslog (observed).
 * `quiet` never silences syslog.
 */
export function withLogTargets(log: ProxyLog, logger: Logger): ProxyLog {
  if (!logger.enabled) return log;
  return {
    alert: (m) => {
      log.alert(m);
      logger.log('alert', m);
    },
    warning: (m) => {
      log.warning(m);
      logger.log('warning', m);
    },
    notice: (m) => log.notice(m),
  };
}
