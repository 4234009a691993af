/**
 * `log` lines, in the global section and in proxies (HAProxy's parse_logsrv()):
 *
 *   log <target> [len <length>] [format <format>] <facility> [<level> [<minlevel>]]
 *   log global          (proxies: the global section's targets)
 *   no log              (forget the targets inherited so far)
 *
 * Targets: stdout/stderr (fd@1, fd@2), syslog over UDP (`<ip>[:port]`, default port 514, with
 * the `udp@`, `udp4@`, `udp6@`, `ipv4@`, `ipv6@` prefixes) and unix datagram sockets (a path,
 * `unix@<path>`, `abns@<name>`). Rings, TCP syslog, other fds and host names are refused with the
 * reason; the rest of the line is checked first, so a typo is reported as such.
 */
import { parseAddress } from '../address.js';
import type { LineContext } from './context.js';
import {
  LOG_FACILITIES,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogDestination,
  type LogFacility,
  type LogFormat,
  type LogLevel,
  type LogTarget,
} from './model.js';

/** The standard syslog port, used when an address names none. */
const SYSLOG_PORT = 514;

/** A `log` address as a destination, or the reason it is refused. */
export function parseLogDestination(address: string): LogDestination | string {
  if (address === 'stdout' || address === 'fd@1') return { kind: 'stream', stream: 'stdout' };
  if (address === 'stderr' || address === 'fd@2') return { kind: 'stream', stream: 'stderr' };
  if (address.startsWith('fd@')) return `'${address}': only fd@1 (stdout) and fd@2 (stderr) are supported`;
  if (address.startsWith('ring@')) return `'${address}': ring buffers are not supported yet`;
  if (/^tcp[46]?@/.test(address)) return `'${address}': syslog over TCP (a ring) is not supported yet; use UDP or a unix socket`;
  // udp@ is HAProxy's explicit "datagram" prefix; the family follows from the address then.
  let text = address;
  const udp = /^udp([46]?)@/.exec(text);
  if (udp) text = (udp[1] === '4' ? 'ipv4@' : udp[1] === '6' ? 'ipv6@' : '') + text.slice(udp[0].length);
  let parsed;
  try {
    parsed = parseAddress(text);
  } catch (error) {
    const hostName = /[g-z]/i.test(text) && !text.includes('@') && !text.startsWith('/');
    return `${(error as Error).message}${hostName ? ' (host names are not supported here: write an IP address)' : ''}`;
  }
  if (parsed.family === 'unix') return { kind: 'unix', path: parsed.address };
  return { kind: 'udp', family: parsed.family, host: parsed.address, port: parsed.port === 0 ? SYSLOG_PORT : parsed.port };
}

/** Parses a `log` line into `logs` (modified in place). `inGlobal`: the global section. */
export function parseLogLine(ctx: LineContext, logs: LogTarget[], inGlobal: boolean): void {
  const fail = (reason: string): void => ctx.alert(`log : ${reason}`);
  if (ctx.modifier === 'default') {
    ctx.alert("negation/default is not supported for 'log'; use 'no log'.");
    return;
  }
  if (ctx.modifier === 'no') {
    if (ctx.arg(1) !== '') return fail("'no log' does not expect arguments");
    logs.length = 0;
    return;
  }
  if (ctx.arg(1) === 'global' && ctx.arg(2) === '') {
    if (inGlobal) return fail("'global' is not supported for a global syslog server");
    if (!logs.some((l) => l.kind === 'global')) logs.push({ kind: 'global', where: ctx.where });
    return;
  }
  if (ctx.arg(1) === '' || ctx.arg(2) === '') {
    return fail(`expects <address> and <facility> ${inGlobal ? '' : 'or global'} as arguments`);
  }
  let i = 2;
  let maxLength = 1024;
  if (ctx.arg(i) === 'len') {
    const text = ctx.arg(i + 1);
    const len = /^\d+$/.test(text) ? Number(text) : NaN;
    if (!(len >= 80 && len <= 65535)) return fail(`invalid log length '${text}', must be between 80 and 65535`);
    maxLength = len;
    i += 2;
  }
  let format: LogFormat | null = null;
  if (ctx.arg(i) === 'format') {
    const text = ctx.arg(i + 1);
    if (!(LOG_FORMATS as readonly string[]).includes(text)) return fail(`unknown log format '${text}'`);
    format = text as LogFormat;
    i += 2;
  }
  if (ctx.arg(i) === 'sample') return fail("'sample' is not supported yet (logging)");
  const facility = ctx.arg(i);
  if (!(LOG_FACILITIES as readonly string[]).includes(facility)) return fail(`unknown log facility '${facility}'`);
  i++;
  let level: LogLevel = 'debug';
  if (ctx.arg(i) !== '') {
    if (!(LOG_LEVELS as readonly string[]).includes(ctx.arg(i))) return fail(`unknown optional log level '${ctx.arg(i)}'`);
    level = ctx.arg(i) as LogLevel;
    i++;
  }
  let minLevel: LogLevel = 'emerg';
  if (ctx.arg(i) !== '') {
    if (!(LOG_LEVELS as readonly string[]).includes(ctx.arg(i))) return fail(`unknown optional minimum log level '${ctx.arg(i)}'`);
    minLevel = ctx.arg(i) as LogLevel;
    i++;
  }
  if (ctx.arg(i) !== '') return fail(`cannot handle unexpected argument '${ctx.arg(i)}'`);

  const address = ctx.arg(1);
  const destination = parseLogDestination(address);
  if (typeof destination === 'string') return fail(destination);
  logs.push({
    kind: 'target',
    destination,
    address,
    maxLength,
    format,
    facility: facility as LogFacility,
    level,
    minLevel,
    where: ctx.where,
  });
}
