/**
 * Session log lines: HAProxy 2.6's `log-format` language for the variables a TCP session has,
 * `option tcplog`'s line (a log-format string, as in HAProxy) and the default line of a frontend
 * with neither. A format is parsed once, at configuration time, into a list of parts; writing a
 * line is one pass over them reading a SessionLogRecord that the session layer fills from what
 * it already holds (no syscall, except for %bi/%bp, which ask the kernel for the server
 * connection's local address only when a format names them, as HAProxy does).
 */
import { hostname } from 'node:os';
import type { SocketAddress } from '../address.js';

/** `option tcplog`, as HAProxy 2.6 declares it. */
export const TCPLOG_FORMAT = '%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq';
/**
 * A frontend with neither `option tcplog` nor `log-format`: one line at accept (observed in
 * HAProxy 2.6: `Connect from 127.0.0.1:38578 to 127.0.0.1:6002 (fe_default/TCP)`).
 */
export const DEFAULT_FORMAT = 'Connect from %ci:%cp to %fi:%fp (%f/TCP)';

/** What a session line is written from; the session layer fills one and reuses it. */
export class SessionLogRecord {
  /** Client address (after a PROXY header, the one it announced). */
  client: SocketAddress = null as unknown as SocketAddress;
  /** The address the client connected to (only read when the format names %fi/%fp). */
  frontendAddress: () => SocketAddress = () => this.client;
  /** Where the server connection went / came from; null: there was none. */
  serverAddress: () => SocketAddress | null = () => null;
  backendSource: () => SocketAddress | null = () => null;
  /** The bind line's id or name, which stands for the port of a unix client. */
  listenerLabel = '';
  frontend = '';
  backend = '';
  server = '';
  /** Accept date, wall clock, milliseconds. */
  acceptedAtMs = 0;
  /** Timers in ms, -1 where the step never completed (HAProxy's convention). */
  handshake = 0;
  queueWait = 0;
  connectTime = -1;
  totalTime = 0;
  bytesToClient = 0;
  bytesFromClient = 0;
  termination = '--';
  actconn = 0;
  feconn = 0;
  beconn = 0;
  srvconn = 0;
  retries = 0;
  serverQueue = 0;
  backendQueue = 0;
  /** Lines this frontend logged before this one (%lc), and the session's number in the process (%rt). */
  logCount = 0;
  sessionNumber = 0;
  /** Logged before the end (`option logasap`, the start line): total time and bytes are partial, `+`-prefixed. */
  partial = false;
}

/** The parts of a format that need more than the record's plain fields. */
export interface FormatNeeds {
  /** %fi/%fp: the frontend address (getsockname, done once and only when asked). */
  readonly frontendAddress: boolean;
  /** %bi/%bp: the server connection's local address (getsockname on its fd before it closes). */
  readonly backendSource: boolean;
}

/** A parsed log-format string. */
export interface CompiledLogFormat extends FormatNeeds {
  readonly text: string;
  render(record: SessionLogRecord): string;
}

const QUOTE = 1;
const HEX = 2;
const ESCAPE = 4;

type Kind = 'string' | 'ip' | 'port' | 'number' | 'date';
interface Variable {
  readonly kind: Kind;
  readonly value: (r: SessionLogRecord) => string | number | SocketAddress | null;
  /** `+` before a partial value (logasap). */
  readonly growing?: boolean;
  readonly needs?: keyof FormatNeeds;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** `04/Dec/2026:09:17:33.955`, local time: %t and the tcplog date. */
export function logDate(ms: number): string {
  const d = new Date(ms);
  const millis = d.getMilliseconds();
  return `${two(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}`;
}

/** `04/Dec/2026:09:17:33 +0000`: %T (GMT) and %Tl (local, with its offset). */
function zonedDate(ms: number, utc: boolean): string {
  const d = new Date(ms);
  if (utc) {
    return `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
  }
  const offset = -d.getTimezoneOffset();
  const abs = Math.abs(offset);
  return `${two(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${offset < 0 ? '-' : '+'}${two(Math.floor(abs / 60))}${two(abs % 60)}`;
}

let cachedHostname: string | null = null;
const host = (): string => (cachedHostname ??= hostname());

const clientPort = (r: SessionLogRecord): number | string => (r.client.family === 'unix' ? r.listenerLabel : r.client.port);

/** The TCP-relevant variables of HAProxy 2.6's table (configuration.txt 8.2.6). */
const VARIABLES: Readonly<Record<string, Variable>> = {
  ci: { kind: 'ip', value: (r) => r.client },
  cp: { kind: 'port', value: clientPort },
  fi: { kind: 'ip', value: (r) => r.frontendAddress(), needs: 'frontendAddress' },
  fp: { kind: 'port', value: (r) => portOf(r.frontendAddress()), needs: 'frontendAddress' },
  bi: { kind: 'ip', value: (r) => r.backendSource(), needs: 'backendSource' },
  bp: { kind: 'port', value: (r) => portOf(r.backendSource()), needs: 'backendSource' },
  si: { kind: 'ip', value: (r) => r.serverAddress() },
  sp: { kind: 'port', value: (r) => portOf(r.serverAddress()) },
  f: { kind: 'string', value: (r) => r.frontend },
  ft: { kind: 'string', value: (r) => r.frontend },
  b: { kind: 'string', value: (r) => r.backend },
  s: { kind: 'string', value: (r) => r.server },
  t: { kind: 'date', value: (r) => logDate(r.acceptedAtMs) },
  T: { kind: 'date', value: (r) => zonedDate(r.acceptedAtMs, true) },
  Tl: { kind: 'date', value: (r) => zonedDate(r.acceptedAtMs, false) },
  Ts: { kind: 'number', value: (r) => Math.floor(r.acceptedAtMs / 1000) },
  ms: { kind: 'date', value: (r) => String(r.acceptedAtMs % 1000).padStart(3, '0') },
  Th: { kind: 'number', value: (r) => r.handshake },
  Tw: { kind: 'number', value: (r) => r.queueWait },
  Tc: { kind: 'number', value: (r) => r.connectTime },
  Tt: { kind: 'number', value: (r) => r.totalTime, growing: true },
  Tu: { kind: 'number', value: (r) => r.totalTime, growing: true },
  // What is left of Tt once the handshake, the queue and the connect are taken out: the data phase.
  Td: {
    kind: 'number',
    value: (r) => (r.connectTime < 0 || r.queueWait < 0 ? -1 : Math.max(0, r.totalTime - r.handshake - r.queueWait - r.connectTime)),
    growing: true,
  },
  B: { kind: 'number', value: (r) => r.bytesToClient, growing: true },
  U: { kind: 'number', value: (r) => r.bytesFromClient },
  ts: { kind: 'string', value: (r) => r.termination },
  ac: { kind: 'number', value: (r) => r.actconn },
  fc: { kind: 'number', value: (r) => r.feconn },
  bc: { kind: 'number', value: (r) => r.beconn },
  sc: { kind: 'number', value: (r) => r.srvconn },
  rc: { kind: 'number', value: (r) => r.retries },
  sq: { kind: 'number', value: (r) => r.serverQueue },
  bq: { kind: 'number', value: (r) => r.backendQueue },
  lc: { kind: 'number', value: (r) => r.logCount },
  rt: { kind: 'number', value: (r) => r.sessionNumber },
  pid: { kind: 'number', value: () => process.pid },
  H: { kind: 'string', value: host },
  // No unique-id-format in epoxy (an HTTP feature): HAProxy writes '-' for an unset id too.
  ID: { kind: 'string', value: () => null },
};

/** Variables HAProxy reserves for HTTP mode or TLS: refused with its own wording. */
const HTTP_ONLY = new Set(['CC', 'CS', 'HM', 'HP', 'HPO', 'HQ', 'HU', 'HV', 'ST', 'Ta', 'Ti', 'Tq', 'TR', 'Tr', 'r', 'tr', 'trg', 'trl', 'tsc', 'hr', 'hrl', 'hs', 'hsl']);
const SSL_ONLY = new Set(['sslc', 'sslv']);

function portOf(address: SocketAddress | null): number | null {
  return address === null ? null : address.port;
}

function hexIp(address: SocketAddress): string {
  const bytes = address.bytes;
  // The address bytes follow the sockaddr header: 4 at offset 4 (sin_addr), 16 at 8 (sin6_addr).
  const [from, to] = address.family === 'ipv4' ? [4, 8] : [8, 24];
  let out = '';
  for (let i = from; i < to; i++) out += bytes[i]!.toString(16).toUpperCase().padStart(2, '0');
  return out;
}

function escape(text: string): string {
  return /["\\\]]/.test(text) ? text.replace(/["\\\]]/g, (c) => `\\${c}`) : text;
}

function renderValue(variable: Variable, flags: number, record: SessionLogRecord): string {
  const value = variable.value(record);
  let text: string;
  switch (variable.kind) {
    case 'ip': {
      const address = value as SocketAddress | null;
      if (address === null) return '-';
      if (address.family === 'unix') text = 'unix';
      else text = flags & HEX ? hexIp(address) : address.address;
      break;
    }
    case 'port':
      if (value === null) return '-';
      if (flags & HEX && typeof value === 'number') return value.toString(16).toUpperCase().padStart(4, '0');
      return String(value);
    case 'number': {
      const n = value as number;
      const prefix = record.partial && variable.growing ? '+' : '';
      if (flags & HEX) return prefix + n.toString(16).toUpperCase().padStart(variable === VARIABLES.Ts ? 8 : 4, '0');
      return prefix + String(n);
    }
    default:
      if (value === null || value === '') return '-';
      text = value as string;
  }
  if (flags & ESCAPE) text = escape(text);
  return flags & QUOTE ? `"${text}"` : text;
}

type Part = string | { readonly variable: Variable; readonly flags: number };

/** A log-format parse error, worded as HAProxy 2.6 words it after "failed to parse log-format : ". */
export class LogFormatError extends Error {}

function applyFlags(flags: number, list: string): number {
  for (const item of list.split(',')) {
    const sign = item[0];
    const bit = item.slice(1) === 'Q' ? QUOTE : item.slice(1) === 'X' ? HEX : item.slice(1) === 'E' ? ESCAPE : 0;
    // Unknown flags are ignored, as HAProxy ignores them.
    if (sign === '+') flags |= bit;
    else if (sign === '-') flags &= ~bit;
  }
  return flags;
}

/**
 * Parses a log-format string. Throws LogFormatError for an unknown variable, one of HTTP mode or
 * TLS, a sample expression (`%[...]`, not supported yet), or a '%' alone.
 */
export function compileLogFormat(text: string): CompiledLogFormat {
  const parts: Part[] = [];
  let literal = '';
  let globalFlags = 0;
  const needs = { frontendAddress: false, backendSource: false };
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c !== '%') {
      literal += c;
      i++;
      continue;
    }
    if (text[i + 1] === '%') {
      literal += '%';
      i += 2;
      continue;
    }
    i++;
    let flags = globalFlags;
    if (text[i] === '{') {
      const close = text.indexOf('}', i);
      if (close < 0) throw new LogFormatError("missing '}' after '%{'");
      flags = applyFlags(flags, text.slice(i + 1, close));
      i = close + 1;
    }
    if (text[i] === '[') throw new LogFormatError(`sample expressions ('%[...]') are not supported yet`);
    const name = /^[A-Za-z]*/.exec(text.slice(i))![0];
    i += name.length;
    if (name === 'o') {
      globalFlags = flags;
      continue;
    }
    const variable = VARIABLES[name];
    if (variable === undefined) {
      if (HTTP_ONLY.has(name)) throw new LogFormatError(`format variable '${name}' is reserved for HTTP mode.`);
      if (SSL_ONLY.has(name)) throw new LogFormatError(`format variable '${name}' needs SSL/TLS, which epoxy does not terminate.`);
      throw new LogFormatError(`no such format variable '${name}'. If you wanted to emit the '%' character verbatim, you need to use '%%'.`);
    }
    if (variable.needs) needs[variable.needs] = true;
    if (literal !== '') parts.push(literal);
    literal = '';
    parts.push({ variable, flags });
  }
  if (literal !== '') parts.push(literal);
  return {
    text,
    ...needs,
    render(record: SessionLogRecord): string {
      let line = '';
      for (let p = 0; p < parts.length; p++) {
        const part = parts[p]!;
        line += typeof part === 'string' ? part : renderValue(part.variable, part.flags, record);
      }
      return line;
    },
  };
}

/** The compiled tcplog and default formats, shared by every frontend that uses them. */
export const TCPLOG = compileLogFormat(TCPLOG_FORMAT);
export const DEFAULT_LINE = compileLogFormat(DEFAULT_FORMAT);
