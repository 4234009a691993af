/**
 * `log` lines, in the global section and in proxies (HAProxy's parse_logsrv()):
 *
 *   log <target> [len <length>] [format <format>] <facility> [<level> [<minlevel>]]
 *   log global          (proxies: the global section's targets)
 *   no log              (forget the targets inherited so far)
 *
 * Targets other than stdout and stderr (syslog over UDP, unix sockets, rings) are refused until
 * logging lands; the line is still checked first, so a typo is reported as such.
 */
import type { LineContext } from './context.js';
import { LOG_FACILITIES, LOG_FORMATS, LOG_LEVELS, type LogFacility, type LogFormat, type LogLevel, type LogTarget } from './model.js';

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
  let format: LogFormat = 'rfc3164';
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
  const target = address === 'stdout' || address === 'fd@1' ? 'stdout' : address === 'stderr' || address === 'fd@2' ? 'stderr' : null;
  if (target === null) {
    return fail(`'log ${address}' is not supported yet (logging): epoxy writes logs to stdout or stderr only for now`);
  }
  logs.push({
    kind: 'stream',
    target,
    maxLength,
    format,
    facility: facility as LogFacility,
    level,
    minLevel,
    where: ctx.where,
  });
}
