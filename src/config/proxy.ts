/**
 * Keywords of the proxy sections — defaults, frontend, backend, listen — after HAProxy's
 * cfg_parse_listen() (cfgparse-listen.c) and the keyword parsers it calls (proxy.c's timeouts,
 * backend.c's balance, tcp_rules.c, acl.c), TCP subset. Messages follow HAProxy's wording.
 *
 * Capabilities are HAProxy's: a frontend-only keyword in a backend (or the reverse) is ignored
 * with a warning; `bind`, `server`, `use_backend`, `id` and `description` are refused in defaults.
 */
import { BindOptionError, parseBindLine } from '../listener/bind-parser.js';
import { invalidNameChar, parseAclTest, parseCondition } from './acl.js';
import { didYouMean, type LineContext } from './context.js';
import {
  REMOVED_OPTIONS,
  REMOVED_PROXY,
  UNSUPPORTED_OPTIONS,
  UNSUPPORTED_PROXY,
  UNSUPPORTED_TCP_ACTIONS,
  UNSUPPORTED_TCP_REQUEST,
  UNSUPPORTED_TIMEOUTS,
  refusalText,
} from './keywords.js';
import { parseLogLine } from './log.js';
import { parseStickAction, parseStickRule, parseStickTable } from './stick.js';
import { parseVarAction } from './vars.js';
import { compileLogFormat, LogFormatError } from '../log/log-format.js';
import {
  emptyOptions,
  type Acl,
  type Balance,
  type DefaultsConfig,
  type HashType,
  type ProxyConfig,
  type ProxyOptions,
  type StatsPageConfig,
  type Timeouts,
} from './model.js';
import { parseDefaultServerLine, parseServerLine, parseServerTemplateLine, parseSource } from './server.js';
import { MAX_TIME_MS, parseTime } from './values.js';

/** The section being filled. */
export type ProxySection = DefaultsConfig | ProxyConfig;

/** Per-section parsing state. */
export interface SectionState {
  readonly target: ProxySection;
  /** Settings set by a line of this section (to warn about overwriting). */
  readonly setHere: Set<string>;
}

type Capability = 'frontend' | 'backend' | 'both';

const INT_MAX = 2 ** 31 - 1;

/** HAProxy's proxy_type_str(): 'frontend', 'backend', or 'proxy' for listen (and defaults). */
export function sectionLabel(target: ProxySection): string {
  return target.kind === 'frontend' || target.kind === 'backend' ? target.kind : 'proxy';
}

function hasCapability(target: ProxySection, cap: Capability): boolean {
  if (target.kind === 'defaults' || target.kind === 'listen') return true;
  if (cap === 'both') return true;
  return target.kind === cap;
}

/** HAProxy's warnifnotcap(): warns and returns true when the keyword does not apply here. */
function ignoredHere(ctx: LineContext, target: ProxySection, cap: Capability, arg = ctx.keyword, hint = ''): boolean {
  if (hasCapability(target, cap)) return false;
  ctx.warn(`'${arg}' ignored because ${sectionLabel(target)} '${target.name}' has no ${cap} capability.${hint}`, arg);
  return true;
}

/** "'bind' not allowed in 'defaults' section." */
function refusedInDefaults(ctx: LineContext, target: ProxySection, style: 'parsing' | 'line' | 'object' = 'parsing'): boolean {
  if (target.kind !== 'defaults') return false;
  ctx.alert(`'${ctx.keyword}' not allowed in 'defaults' section.`, ctx.keyword, style);
  return true;
}

function setOrigin(ctx: LineContext, state: SectionState, key: string): void {
  state.target.origin[key] = ctx.where;
  state.setHere.add(key);
}

/** An integer keyword with one argument (maxconn, backlog, retries). */
function integerKeyword(cap: Capability, set: (t: ProxySection, v: number) => void, missing?: string, hint?: string): KeywordHandler {
  return (ctx, state) => {
    const t = state.target;
    if (ignoredHere(ctx, t, cap, ctx.keyword, hint)) return;
    if (ctx.arg(1) === '') {
      ctx.alert(missing ?? `'${ctx.keyword}' expects an integer argument.`);
      return;
    }
    const value = ctx.integer(1, 0, INT_MAX);
    if (value === null) return;
    if (ctx.tooMany(1)) return;
    set(t, value);
    setOrigin(ctx, state, ctx.keyword);
  };
}

type KeywordHandler = (ctx: LineContext, state: SectionState) => void;

// ---------------------------------------------------------------------------------------------
// timeout

interface TimeoutSpec {
  readonly field: keyof Timeouts;
  readonly cap: Capability;
}

/** The supported `timeout` names. */
export const TIMEOUTS: Readonly<Record<string, TimeoutSpec>> = {
  check: { field: 'check', cap: 'backend' },
  client: { field: 'client', cap: 'frontend' },
  'client-fin': { field: 'clientFin', cap: 'frontend' },
  'client-hs': { field: 'clientHs', cap: 'frontend' },
  connect: { field: 'connect', cap: 'backend' },
  queue: { field: 'queue', cap: 'backend' },
  server: { field: 'server', cap: 'backend' },
  'server-fin': { field: 'serverFin', cap: 'backend' },
  tunnel: { field: 'tunnel', cap: 'backend' },
};

function parseTimeout(ctx: LineContext, state: SectionState): void {
  const name = ctx.arg(1);
  const spec = TIMEOUTS[name];
  if (spec === undefined) {
    const refusal = UNSUPPORTED_TIMEOUTS[name];
    if (refusal !== undefined) {
      ctx.alert(`${refusalText(`timeout ${name}`, refusal)}.`, `timeout ${name}`);
      return;
    }
    ctx.alert(
      "'timeout' supports 'client', 'server', 'connect', 'check', 'queue', 'http-keep-alive', 'http-request', " +
        `'tunnel', 'tarpit', 'client-fin' and 'server-fin' (got '${name}')` +
        didYouMean(name, [...Object.keys(TIMEOUTS), ...Object.keys(UNSUPPORTED_TIMEOUTS)]),
    );
    return;
  }
  const keyword = `timeout ${name}`;
  const text = ctx.arg(2);
  if (text === '') {
    ctx.alert(`'${keyword}' expects an integer value (in milliseconds)`, keyword);
    return;
  }
  const parsed = parseTime(text);
  if (!parsed.ok) {
    const error = parsed.error;
    if (error.kind === 'over') {
      ctx.alert(`timer overflow in argument '${text}' to '${keyword}' (maximum value is ${MAX_TIME_MS} ms or ~24.8 days)`, keyword);
    } else if (error.kind === 'under') {
      ctx.alert(`timer underflow in argument '${text}' to '${keyword}' (minimum non-null value is 1 ms)`, keyword);
    } else {
      ctx.alert(`unexpected character '${error.char}' in '${keyword}'`, keyword);
    }
    return;
  }
  if (ctx.arg(3) !== '') {
    ctx.alert(`'${keyword}' : unexpected extra argument '${ctx.arg(3)}' after value '${text}'.`, keyword);
    return;
  }
  const t = state.target;
  if (!hasCapability(t, spec.cap)) {
    ctx.warn(`'${keyword}' will be ignored because ${sectionLabel(t)} '${t.name}' has no ${spec.cap} capability`, keyword);
    return;
  }
  if (state.setHere.has(keyword)) ctx.warn(`overwriting '${keyword}' which was already specified`, keyword);
  t.timeouts[spec.field] = parsed.value === 0 ? null : parsed.value;
  setOrigin(ctx, state, keyword);
}

// ---------------------------------------------------------------------------------------------
// option

interface OptionSpec {
  readonly cap: Capability;
  /** `no option X` / `default option X` allowed (HAProxy's cfg_opts table). */
  readonly negatable: boolean;
  apply(options: ProxyOptions, on: boolean, ctx: LineContext): boolean;
}

type FlagOption = { [K in keyof ProxyOptions]: ProxyOptions[K] extends boolean ? K : never }[keyof ProxyOptions];

/** An option that makes `check` speak a protocol, without arguments. */
function checkOption(kind: 'tcp-check' | 'redis-check' | 'ldap-check' | 'ssl-hello-chk'): OptionSpec {
  return {
    cap: 'backend',
    negatable: true,
    apply: (o, on, ctx) => {
      if (ctx.tooMany(0, 1)) return false;
      if (on) o.healthCheck = kind;
      else if (o.healthCheck === kind) o.healthCheck = 'connect';
      return true;
    },
  };
}

const simpleOption = (cap: Capability, key: Exclude<FlagOption, 'redispatch'>, negatable = true): OptionSpec => ({
  cap,
  negatable,
  apply: (o, on, ctx) => {
    if (ctx.tooMany(0, 1)) return false;
    o[key] = on;
    return true;
  },
});

/** The supported `option` names. */
export const OPTIONS: Readonly<Record<string, OptionSpec>> = {
  allbackups: simpleOption('backend', 'allbackups'),
  clitcpka: simpleOption('frontend', 'clitcpka'),
  dontlognull: simpleOption('frontend', 'dontlognull'),
  logasap: simpleOption('frontend', 'logasap'),
  // An epoxy extension (HAProxy refuses it): the logasap line when a session's server connection
  // is up, and its full line when it ends, so long-lived sessions are seen starting.
  'epoxy-log-start': simpleOption('frontend', 'logStart'),
  nolinger: simpleOption('both', 'nolinger'),
  redispatch: {
    cap: 'backend',
    negatable: true,
    apply: (o, on, ctx) => {
      o.redispatch = on;
      o.redispatchInterval = -1;
      const interval = ctx.arg(2);
      if (on && interval !== '') {
        if (!/^-?\d+$/.test(interval) || Number(interval) === 0 || Math.abs(Number(interval)) > INT_MAX) {
          ctx.alert(`'option redispatch' expects a non-zero integer interval (got '${interval}').`, 'option redispatch');
          return false;
        }
        if (ctx.tooMany(1, 1)) return false;
        o.redispatchInterval = Number(interval);
      } else if (ctx.tooMany(0, 1)) {
        return false;
      }
      return true;
    },
  },
  srvtcpka: simpleOption('backend', 'srvtcpka'),
  // Health checks: which protocol a server's `check` speaks (the last one given wins, as in HAProxy).
  'tcp-check': checkOption('tcp-check'),
  'redis-check': checkOption('redis-check'),
  'ldap-check': checkOption('ldap-check'),
  'ssl-hello-chk': checkOption('ssl-hello-chk'),
  'pgsql-check': {
    cap: 'backend',
    negatable: true,
    apply: (o, on, ctx) => {
      if (!on) {
        if (o.healthCheck === 'pgsql-check') o.healthCheck = 'connect';
        return true;
      }
      if (ctx.arg(2) !== 'user' || ctx.arg(3) === '') {
        ctx.alert("'option pgsql-check' expects 'user <username>' as argument.", 'option pgsql-check');
        return false;
      }
      if (ctx.tooMany(2, 1)) return false;
      o.healthCheck = 'pgsql-check';
      o.pgsqlUser = ctx.arg(3);
      return true;
    },
  },
  'mysql-check': {
    cap: 'backend',
    negatable: true,
    apply: (o, on, ctx) => {
      if (!on) {
        if (o.healthCheck === 'mysql-check') o.healthCheck = 'connect';
        return true;
      }
      const words = ctx.words.slice(2);
      if (words.length > 0 && (words[0] !== 'user' || words[1] === undefined || words[1] === '')) {
        ctx.alert("'option mysql-check' only supports optional values: 'user <username> [post-41|pre-41]'.", 'option mysql-check');
        return false;
      }
      if (words.length > 2 && words[2] !== 'post-41' && words[2] !== 'pre-41') {
        ctx.alert(`'option mysql-check user <username>' expects 'post-41' or 'pre-41' (got '${words[2]}').`, 'option mysql-check');
        return false;
      }
      if (ctx.tooMany(3, 1)) return false;
      o.healthCheck = 'mysql-check';
      o.mysqlUser = words[1] ?? null;
      return true;
    },
  },
  smtpchk: {
    cap: 'backend',
    negatable: true,
    apply: (o, on, ctx) => {
      if (!on) {
        if (o.healthCheck === 'smtpchk') o.healthCheck = 'connect';
        return true;
      }
      if (ctx.tooMany(2, 1)) return false;
      const verb = ctx.arg(2);
      // HAProxy: anything but HELO/EHLO with a domain falls back to "HELO localhost".
      o.smtpHello = (verb === 'HELO' || verb === 'EHLO') && ctx.arg(3) !== '' ? { verb, domain: ctx.arg(3) } : { verb: 'HELO', domain: 'localhost' };
      o.healthCheck = 'smtpchk';
      return true;
    },
  },
  httpchk: {
    cap: 'backend',
    negatable: true,
    apply: (o, on, ctx) => {
      if (!on) {
        if (o.healthCheck === 'httpchk') o.healthCheck = 'connect';
        return true;
      }
      // option httpchk | option httpchk <uri> | option httpchk <method> <uri> [<version>]
      const args = ctx.words.slice(2);
      if (args.length > 3) return !ctx.tooMany(3, 1);
      const [a, b, c] = args;
      o.healthCheck = 'httpchk';
      o.httpchk =
        args.length === 0
          ? { method: 'OPTIONS', uri: '/', version: 'HTTP/1.0' }
          : args.length === 1
            ? { method: 'OPTIONS', uri: a!, version: 'HTTP/1.0' }
            : { method: a!, uri: b!, version: c ?? 'HTTP/1.0' };
      return true;
    },
  },
  tcpka: simpleOption('both', 'tcpka', false),
  tcplog: simpleOption('both', 'tcplog', false),
  'tcp-smart-accept': simpleOption('frontend', 'tcpSmartAccept'),
  'tcp-smart-connect': simpleOption('backend', 'tcpSmartConnect'),
  // splice(2) in the relay. epoxy's relay splices bulk bursts of both directions of every session
  // once any proxy asks (a process-wide mode: docs/relay.md), so the three mean the same here.
  'splice-auto': simpleOption('both', 'spliceAuto'),
  'splice-request': simpleOption('both', 'spliceRequest'),
  'splice-response': simpleOption('both', 'spliceResponse'),
};

function parseOption(ctx: LineContext, state: SectionState): void {
  const name = ctx.arg(1);
  if (name === '') {
    ctx.alert("'option' expects an option name.", 'option', 'line');
    return;
  }
  const keyword = `option ${name}`;
  const spec = OPTIONS[name];
  if (spec === undefined) {
    const removed = REMOVED_OPTIONS[name];
    if (removed !== undefined) {
      ctx.alert(removed, keyword, 'line');
      return;
    }
    const refusal = UNSUPPORTED_OPTIONS[name];
    if (refusal !== undefined) {
      ctx.alert(`${refusalText(keyword, refusal)}.`, keyword);
      return;
    }
    ctx.alert(`unknown option '${name}'${didYouMean(name, [...Object.keys(OPTIONS), ...Object.keys(UNSUPPORTED_OPTIONS)])}`, keyword);
    return;
  }
  if (ctx.modifier !== 'std' && !spec.negatable) {
    ctx.alert(`negation/default is not supported for option '${name}'.`, keyword, 'line');
    return;
  }
  if (ctx.modifier === 'default' && name !== 'redispatch') {
    // HAProxy 2.6 leaves the option name twice on the line after removing 'default', and every
    // option but redispatch then fails ("cannot handle unexpected argument"): refuse it too.
    ctx.alert(`'default option ${name}' is not supported (HAProxy 2.6 refuses it too); use 'no option ${name}'.`, keyword);
    return;
  }
  const t = state.target;
  if (ignoredHere(ctx, t, spec.cap, name)) return;
  const on = ctx.modifier === 'std';
  if (ctx.modifier === 'default') {
    // Back to the built-in default (off), whatever a defaults section said.
    t.options.redispatch = emptyOptions().redispatch;
    t.options.redispatchInterval = emptyOptions().redispatchInterval;
  } else if (!spec.apply(t.options, on, ctx)) {
    return;
  }
  if (name === 'tcplog' && t.kind === 'backend') {
    ctx.warn(`backend '${t.name}' : 'option tcplog' directive is ignored in backends.`, keyword);
  }
  if (name === 'tcplog' && on) t.logFormat = null;
  setOrigin(ctx, state, keyword);
}

// ---------------------------------------------------------------------------------------------
// balance, hash-type

function parseBalance(ctx: LineContext, state: SectionState): void {
  const t = state.target;
  if (ignoredHere(ctx, t, 'backend')) return;
  const algo = ctx.arg(1);
  let balance: Balance;
  const fail = (reason: string): void => ctx.alert(`balance ${reason}`);
  if (algo === '' || algo === 'roundrobin') balance = { kind: 'roundrobin' };
  else if (algo === 'static-rr') balance = { kind: 'static-rr' };
  else if (algo === 'leastconn') balance = { kind: 'leastconn' };
  else if (algo === 'first') balance = { kind: 'first' };
  else if (algo === 'source') balance = { kind: 'source' };
  else if (algo.startsWith('random') && (algo.length === 6 || algo[6] === '(')) {
    let draws = 2;
    if (algo[6] === '(' && algo[7] !== ')') {
      const match = /^(\d*)(.?)/.exec(algo.slice(7))!;
      if (match[2] !== ')') {
        fail(match[2] === '' ? 'random : missing closing parenthesis.' : `random : unexpected character '${match[2]}' after argument.`);
        return;
      }
      draws = match[1] === '' ? 0 : Number(match[1]);
      if (draws < 1) {
        fail('random : number of draws must be at least 1.');
        return;
      }
      if (algo.length > 8 + match[1]!.length) {
        fail(`random : unexpected character '${algo[8 + match[1]!.length]}' after argument.`);
        return;
      }
    }
    balance = { kind: 'random', draws };
  } else if (['uri', 'url_param', 'hash'].includes(algo) || algo.startsWith('hdr(') || algo.startsWith('rdp-cookie')) {
    ctx.alert(`'balance ${algo.replace(/\(.*$/, '')}' is not supported yet (${algo === 'hash' ? 'sample expressions' : algo.startsWith('rdp-cookie') ? 'RDP cookies' : 'HTTP mode; epoxy implements mode tcp'}).`);
    return;
  } else {
    fail(
      "only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', 'url_param', 'hdr(name)' and 'rdp-cookie(name)' options." +
        didYouMean(algo, ['roundrobin', 'static-rr', 'leastconn', 'first', 'source', 'random']),
    );
    return;
  }
  if (ctx.tooMany(1)) return;
  t.balance = balance;
  setOrigin(ctx, state, 'balance');
}

function parseHashType(ctx: LineContext, state: SectionState): void {
  const t = state.target;
  if (ignoredHere(ctx, t, 'backend')) return;
  const method = ctx.arg(1);
  if (method === 'avalanche') {
    ctx.alert("experimental feature 'hash-type avalanche' is not supported anymore, please use 'hash-type map-based sdbm avalanche' instead.");
    return;
  }
  if (method !== 'consistent' && method !== 'map-based') {
    ctx.alert("'hash-type' only supports 'consistent' and 'map-based'.");
    return;
  }
  let fn: HashType['function'] = 'sdbm';
  let avalanche = method === 'consistent';
  const fnText = ctx.arg(2);
  if (fnText !== '') {
    if (fnText !== 'sdbm' && fnText !== 'djb2' && fnText !== 'wt6' && fnText !== 'crc32') {
      ctx.alert("'hash-type' only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions.");
      return;
    }
    fn = fnText;
    avalanche = false;
    if (ctx.arg(3) === 'avalanche') avalanche = true;
    else if (ctx.arg(3) !== '') {
      ctx.alert("'hash-type' only supports 'avalanche' as a modifier for hash functions.");
      return;
    }
    if (ctx.tooMany(3)) return;
  }
  t.hashType = { method, function: fn, avalanche };
  setOrigin(ctx, state, 'hash-type');
}

// ---------------------------------------------------------------------------------------------
// Rules: acl, use_backend, tcp-request

function parseAcl(ctx: LineContext, state: SectionState): void {
  const t = state.target;
  if (t.kind === 'defaults' && t.name === '') {
    ctx.alert("'acl' not allowed in anonymous 'defaults' section.");
    return;
  }
  const name = ctx.arg(1);
  const bad = invalidNameChar(name);
  if (bad !== null) {
    ctx.alert(`character '${bad}' is not permitted in acl name '${name}'.`);
    return;
  }
  if (name.toLowerCase() === 'or') {
    ctx.alert(`acl name '${name}' will never match. 'or' is used to express a logical disjunction within a condition.`);
    return;
  }
  if (name === '') {
    ctx.alert("'acl' expects an ACL name and an expression.");
    return;
  }
  const parsed = parseAclTest(ctx.words.slice(2), { where: ctx.where, readPatternFile: ctx.readPatternFile });
  if (!parsed.ok) {
    ctx.alert(`error detected while parsing ACL '${name}' : ${parsed.reason}.`);
    return;
  }
  for (const warning of parsed.value.warnings) ctx.warn(warning);
  const existing = t.acls.get(name);
  if (existing !== undefined) existing.tests.push(parsed.value.test);
  else t.acls.set(name, { name, tests: [parsed.value.test], where: ctx.where } satisfies Acl);
}

function parseUseBackend(ctx: LineContext, state: SectionState): void {
  const t = state.target;
  if (refusedInDefaults(ctx, t)) return;
  if (ignoredHere(ctx, t, 'frontend')) return;
  const backend = ctx.arg(1);
  if (backend === '') {
    ctx.alert("'use_backend' expects a backend name.");
    return;
  }
  if (backend.includes('%[')) {
    ctx.alert(`dynamic backend names ('use_backend ${backend}') are not supported yet (log-format expressions).`);
    return;
  }
  const word = ctx.arg(2);
  let condition = null;
  if (word === 'if' || word === 'unless') {
    const parsed = parseCondition(ctx.words.slice(2), t.acls, { where: ctx.where, readPatternFile: ctx.readPatternFile });
    if (!parsed.ok) {
      ctx.alert(`error detected while parsing switching rule : ${parsed.reason}.`);
      return;
    }
    for (const warning of parsed.value.warnings) ctx.warn(warning);
    condition = parsed.value.condition;
  } else if (word !== '') {
    ctx.alert(`unexpected keyword '${word}' after switching rule, only 'if' and 'unless' are allowed.`);
    return;
  }
  (t as ProxyConfig).useBackend.push({ backend, condition, where: ctx.where });
}

/**
 * `use-server <server> if|unless <cond>` (backends): the named server when the condition holds
 * and the server is not down. The server may be declared later in the section (checked then).
 */
function parseUseServer(ctx: LineContext, state: SectionState): void {
  const t = state.target;
  if (refusedInDefaults(ctx, t)) return;
  if (ignoredHere(ctx, t, 'backend')) return;
  const server = ctx.arg(1);
  if (server === '') {
    ctx.alert("'use-server' expects a server name.");
    return;
  }
  if (server.includes('%[')) {
    ctx.alert(`dynamic server names ('use-server ${server}') are not supported yet (log-format expressions).`);
    return;
  }
  const word = ctx.arg(2);
  if (word !== 'if' && word !== 'unless') {
    ctx.alert("'use-server' requires either 'if' or 'unless' followed by a condition.");
    return;
  }
  const parsed = parseCondition(ctx.words.slice(2), t.acls, { where: ctx.where, readPatternFile: ctx.readPatternFile });
  if (!parsed.ok) {
    ctx.alert(`error detected while parsing switching rule : ${parsed.reason}.`);
    return;
  }
  for (const warning of parsed.value.warnings) ctx.warn(warning);
  (t as ProxyConfig).useServer.push({ server, condition: parsed.value.condition, where: ctx.where });
}

function parseTcpRequest(ctx: LineContext, state: SectionState): void {
  const t = state.target;
  const inLabel = t.kind === 'defaults' ? 'defaults section' : `${sectionLabel(t)} '${t.name}'`;
  const kind = ctx.arg(1);
  if (kind === '') {
    ctx.alert(`missing argument for 'tcp-request' in ${inLabel}`);
    return;
  }
  if (kind === 'inspect-delay') {
    parseInspectDelay(ctx, state, inLabel);
    return;
  }
  if (kind !== 'connection' && kind !== 'content') {
    const refusal = UNSUPPORTED_TCP_REQUEST[kind];
    if (refusal !== undefined) {
      ctx.alert(`${refusalText(`tcp-request ${kind}`, refusal)}.`, `tcp-request ${kind}`);
      return;
    }
    ctx.alert(
      `'tcp-request' expects 'inspect-delay', 'connection', or 'content' in ${inLabel} (got '${kind}')` +
        didYouMean(kind, ['connection', 'content', 'inspect-delay', ...Object.keys(UNSUPPORTED_TCP_REQUEST)]),
    );
    return;
  }
  const keyword = `tcp-request ${kind}`;
  // Content rules run in backends too (once use_backend chose them); connection rules do not.
  if (kind === 'connection' && !hasCapability(t, 'frontend')) {
    ctx.alert(`tcp-request connection is not allowed because ${sectionLabel(t)} ${t.name} is not a frontend`, keyword);
    return;
  }
  if (t.kind === 'defaults' && t.name === '') {
    ctx.alert(`${keyword} is not allowed in anonymous 'defaults' sections`, keyword);
    return;
  }
  const action = ctx.arg(2);
  const beforeContent = kind === 'connection' ? `${t.kind === 'defaults' ? 'defaults' : 'frontend'} tcp-request connection rule` : undefined;
  const varAction = parseVarAction(ctx, t.acls, keyword, inLabel, beforeContent);
  if (varAction !== null) {
    if ('alert' in varAction) {
      ctx.alert(varAction.alert, keyword);
      return;
    }
    (kind === 'connection' ? t.tcpRequestConnection : t.tcpRequestContent).push(varAction);
    return;
  }
  const stickAction = parseStickAction(ctx, t.acls, keyword, beforeContent);
  if (typeof stickAction === 'string') {
    ctx.alert(`'${keyword} ${action}' : ${stickAction}`, keyword);
    return;
  }
  if (stickAction !== null) {
    if (t.kind === 'defaults') {
      // HAProxy refuses track-sc in a defaults section too: the table would be the defaults'.
      ctx.alert(`'${keyword} ${action}' is not allowed in a defaults section`, keyword);
      return;
    }
    (kind === 'connection' ? t.tcpRequestConnection : t.tcpRequestContent).push(stickAction);
    return;
  }
  if (action !== 'accept' && action !== 'reject') {
    const refusal = UNSUPPORTED_TCP_ACTIONS[action.replace(/\(.*$/, '')];
    if (refusal !== undefined) {
      ctx.alert(`${refusalText(`${keyword} ${action}`, refusal)}.`, keyword);
      return;
    }
    ctx.alert(
      `'${keyword}' expects 'accept' or 'reject' in ${inLabel} (got '${action}')` +
        didYouMean(action, ['accept', 'reject', 'set-var', 'unset-var', 'track-sc0', 'track-sc1', 'track-sc2', 'sc-inc-gpc0', 'sc-inc-gpc1', 'sc-set-gpt0', ...Object.keys(UNSUPPORTED_TCP_ACTIONS)]),
      keyword,
    );
    return;
  }
  const word = ctx.arg(3);
  let condition = null;
  if (word === 'if' || word === 'unless') {
    const parsed = parseCondition(ctx.words.slice(3), t.acls, { where: ctx.where, readPatternFile: ctx.readPatternFile, beforeContent });
    if (!parsed.ok) {
      ctx.alert(`'${keyword} ${action}' : error detected in ${inLabel} while parsing '${word}' condition : ${parsed.reason}`, keyword);
      return;
    }
    for (const warning of parsed.value.warnings) ctx.warn(warning, keyword);
    condition = parsed.value.condition;
  } else if (word !== '') {
    ctx.alert(`'${keyword} ${action}' only accepts 'if' or 'unless', in ${inLabel} (got '${word}')`, keyword);
    return;
  }
  if (t.kind !== 'defaults' && t.useBackend.length > 0) {
    ctx.warn("a 'tcp-request' rule placed after a 'use_backend' rule will still be processed before.", keyword);
  } else if (kind === 'connection' && t.tcpRequestContent.length > 0) {
    ctx.warn("a 'tcp-request' rule placed after a 'tcp-request content' rule will still be processed before.", keyword);
  }
  (kind === 'connection' ? t.tcpRequestConnection : t.tcpRequestContent).push({ action, condition, where: ctx.where });
}

/** `tcp-request inspect-delay <time>`: how long content rules may wait for the client's bytes. */
function parseInspectDelay(ctx: LineContext, state: SectionState, inLabel: string): void {
  const keyword = 'tcp-request inspect-delay';
  const t = state.target;
  const text = ctx.arg(2);
  const parsed = text === '' ? null : parseTime(text);
  if (parsed === null || !parsed.ok) {
    if (parsed !== null && parsed.error.kind === 'over') {
      ctx.alert(`timer overflow in argument '${text}' to '${keyword}' (maximum value is ${MAX_TIME_MS} ms or ~24.8 days)`, keyword);
    } else {
      ctx.alert(`'${keyword}' expects a positive delay in milliseconds, in ${inLabel}`, keyword);
    }
    return;
  }
  if (state.setHere.has(keyword)) ctx.warn(`overwriting '${keyword}' which was already specified`, keyword);
  t.inspectDelay = parsed.value;
  setOrigin(ctx, state, keyword);
}

// ---------------------------------------------------------------------------------------------
// The table

/** The supported keywords of proxy sections, with the sections where each applies. */
export const PROXY_KEYWORD_SECTIONS: Readonly<Record<string, readonly ('defaults' | 'frontend' | 'backend' | 'listen')[]>> = {
  acl: ['defaults', 'frontend', 'backend', 'listen'],
  backlog: ['defaults', 'frontend', 'listen'],
  balance: ['defaults', 'backend', 'listen'],
  bind: ['frontend', 'listen'],
  'bind-process': ['defaults', 'frontend', 'backend', 'listen'],
  'default-server': ['defaults', 'backend', 'listen'],
  default_backend: ['defaults', 'frontend', 'listen'],
  description: ['frontend', 'backend', 'listen'],
  disabled: ['defaults', 'frontend', 'backend', 'listen'],
  enabled: ['defaults', 'frontend', 'backend', 'listen'],
  'hash-type': ['defaults', 'backend', 'listen'],
  id: ['frontend', 'backend', 'listen'],
  log: ['defaults', 'frontend', 'backend', 'listen'],
  'log-format': ['defaults', 'frontend', 'listen'],
  'log-tag': ['defaults', 'frontend', 'backend', 'listen'],
  maxconn: ['defaults', 'frontend', 'listen'],
  mode: ['defaults', 'frontend', 'backend', 'listen'],
  option: ['defaults', 'frontend', 'backend', 'listen'],
  retries: ['defaults', 'backend', 'listen'],
  server: ['backend', 'listen'],
  'server-template': ['backend', 'listen'],
  source: ['defaults', 'backend', 'listen'],
  stats: ['frontend', 'listen'],
  stick: ['backend', 'listen'],
  'stick-table': ['frontend', 'backend', 'listen'],
  'tcp-request': ['defaults', 'frontend', 'backend', 'listen'],
  timeout: ['defaults', 'frontend', 'backend', 'listen'],
  use_backend: ['frontend', 'listen'],
  'use-server': ['backend', 'listen'],
};

// ---------------------------------------------------------------------------------------------
// tcp-check, http-check

/** `tcp-check connect|send|send-binary|expect|comment ...` (HAProxy 2.6's tcpcheck rules, their common subset). */
function parseTcpCheck(ctx: LineContext, state: SectionState): void {
  const t = state.target;
  if (ignoredHere(ctx, t, 'backend')) return;
  // A section's own rules replace the ones its defaults section had.
  if (!state.setHere.has('tcp-check')) t.tcpCheckRules = [];
  const action = ctx.arg(1);
  const where = ctx.where;
  const words = ctx.words;
  switch (action) {
    case 'comment':
      // A comment names the next rule in HAProxy's reports; epoxy's reports name the step.
      break;
    case 'connect': {
      if (t.tcpCheckRules.length > 0) {
        ctx.alert(`'tcp-check connect' : epoxy supports it as the first rule only (one connection per check).`);
        return;
      }
      let port: number | null = null;
      let sendProxy = false;
      for (let i = 2; i < words.length; i++) {
        const word = words[i]!;
        if (word === 'port') {
          const value = words[++i] ?? '';
          if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
            ctx.alert(`'tcp-check connect' : expects a valid port number (got '${value}').`);
            return;
          }
          port = Number(value);
        } else if (word === 'send-proxy') {
          sendProxy = true;
        } else if (word === 'comment') {
          i++;
        } else {
          ctx.alert(`'tcp-check connect' : unsupported option '${word}' (epoxy supports 'port', 'send-proxy' and 'comment').`);
          return;
        }
      }
      t.tcpCheckRules.push({ kind: 'connect', port, sendProxy, where });
      break;
    }
    case 'send':
    case 'send-lf': {
      const text = ctx.arg(2);
      if (text === '') {
        ctx.alert(`'tcp-check ${action}' expects a string as argument.`);
        return;
      }
      t.tcpCheckRules.push({ kind: 'send', data: Buffer.from(text, 'latin1'), where });
      break;
    }
    case 'send-binary': {
      const hex = ctx.arg(2);
      if (hex === '' || hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) {
        ctx.alert(`'tcp-check send-binary' expects an even number of hexadecimal digits (got '${hex}').`);
        return;
      }
      t.tcpCheckRules.push({ kind: 'send', data: Buffer.from(hex, 'hex'), where });
      break;
    }
    case 'expect': {
      let i = 2;
      const negate = words[i] === '!';
      if (negate) i++;
      const match = words[i] ?? '';
      const pattern = words[i + 1] ?? '';
      if (match !== 'string' && match !== 'binary' && match !== 'rstring' && match !== 'rbinary') {
        ctx.alert(`'tcp-check expect' : epoxy supports 'string', 'binary', 'rstring' and 'rbinary' (got '${match}').`);
        return;
      }
      if (pattern === '') {
        ctx.alert(`'tcp-check expect ${match}' expects <pattern> as an argument.`);
        return;
      }
      if (match === 'binary' && (pattern.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(pattern))) {
        ctx.alert(`'tcp-check expect binary' expects an even number of hexadecimal digits (got '${pattern}').`);
        return;
      }
      if (match === 'rstring' || match === 'rbinary') {
        try {
          new RegExp(pattern);
        } catch (error) {
          ctx.alert(`'tcp-check expect ${match}' : invalid regex '${pattern}' (${(error as Error).message}).`);
          return;
        }
      }
      t.tcpCheckRules.push({ kind: 'expect', negate, match, pattern, where });
      break;
    }
    default:
      ctx.alert(`'tcp-check' expects 'comment', 'connect', 'send', 'send-lf', 'send-binary' or 'expect' (got '${action}').`);
      return;
  }
  setOrigin(ctx, state, 'tcp-check');
}

/** `http-check send [meth <m>] [uri <u>] [ver <v>] [hdr <name> <value>]*` and `http-check expect [!] status|rstatus|string <x>`. */
function parseHttpCheck(ctx: LineContext, state: SectionState): void {
  const t = state.target;
  if (ignoredHere(ctx, t, 'backend')) return;
  const action = ctx.arg(1);
  const words = ctx.words;
  if (action === 'send') {
    const send = { method: null as string | null, uri: null as string | null, version: null as string | null, headers: [] as Array<[string, string]> };
    for (let i = 2; i < words.length; i++) {
      const word = words[i]!;
      const value = words[i + 1];
      if (value === undefined || value === '') {
        ctx.alert(`'http-check send' : '${word}' expects a value.`);
        return;
      }
      if (word === 'meth') send.method = value;
      else if (word === 'uri') send.uri = value;
      else if (word === 'ver') send.version = value;
      else if (word === 'hdr') {
        const headerValue = words[i + 2];
        if (headerValue === undefined) {
          ctx.alert(`'http-check send' : 'hdr' expects <name> and <value>.`);
          return;
        }
        send.headers.push([value, headerValue]);
        i++;
      } else {
        ctx.alert(`'http-check send' : epoxy supports 'meth', 'uri', 'ver' and 'hdr' (got '${word}').`);
        return;
      }
      i++;
    }
    t.httpCheck = { ...t.httpCheck, send };
  } else if (action === 'expect') {
    let i = 2;
    const negate = words[i] === '!';
    if (negate) i++;
    const match = words[i] ?? '';
    const pattern = words[i + 1] ?? '';
    if (match !== 'status' && match !== 'rstatus' && match !== 'string') {
      ctx.alert(`'http-check expect' : epoxy supports 'status', 'rstatus' and 'string' (got '${match}').`);
      return;
    }
    if (pattern === '') {
      ctx.alert(`'http-check expect ${match}' expects <pattern> as an argument.`);
      return;
    }
    if (match === 'status' && !/^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$/.test(pattern)) {
      ctx.alert(`'http-check expect status' expects status codes ('200', '200-399', '200,204') (got '${pattern}').`);
      return;
    }
    if (match === 'rstatus') {
      try {
        new RegExp(pattern);
      } catch (error) {
        ctx.alert(`'http-check expect rstatus' : invalid regex '${pattern}' (${(error as Error).message}).`);
        return;
      }
    }
    t.httpCheck = { ...t.httpCheck, expect: { negate, match, pattern } };
  } else {
    ctx.alert(`'http-check' expects 'send' or 'expect' (got '${action}'; epoxy does not support 'connect', 'set-var', 'comment' or 'disable-on-404' yet).`);
    return;
  }
  setOrigin(ctx, state, `http-check ${action}`);
}

/**
 * The section a `server` or `server-template` line adds to, or null after HAProxy's refusal
 * (defaults sections and frontends have no servers).
 */
function serverSection(ctx: LineContext, state: SectionState): ProxyConfig | null {
  const t = state.target;
  if (t.kind === 'defaults') {
    ctx.alert(`'${ctx.keyword}' not allowed in 'defaults' section.`, ctx.keyword, 'object');
    return null;
  }
  if (!hasCapability(t, 'backend')) {
    ctx.alert(
      `parsing [${ctx.where.path ?? `${ctx.where.file}:${ctx.where.line}`}] : '${ctx.keyword}' not allowed because ${sectionLabel(t)} '${t.name}' has no backend capability.`,
      ctx.keyword,
      'object',
    );
    return null;
  }
  return t;
}

export const PROXY_KEYWORDS: Readonly<Record<string, KeywordHandler>> = {
  acl: parseAcl,
  'tcp-check': parseTcpCheck,
  'http-check': parseHttpCheck,
  backlog: integerKeyword('frontend', (t, v) => (t.backlog = v)),
  balance: parseBalance,
  bind: (ctx, state) => {
    const t = state.target;
    if (refusedInDefaults(ctx, t)) return;
    if (ignoredHere(ctx, t, 'frontend')) return;
    const address = ctx.arg(1);
    if (address === '') {
      ctx.alert("'bind' expects {<path>|[addr1]:port1[-end1]}{,[addr]:port[-end]}... as arguments.");
      return;
    }
    try {
      const parsed = parseBindLine(ctx.words.slice(1));
      (t as ProxyConfig).binds.push({ bind: parsed.bind, addresses: parsed.addresses, where: ctx.where });
    } catch (error) {
      if (!(error instanceof BindOptionError)) throw error;
      if (error.keyword === 'bind') {
        ctx.alert(`'bind' : ${error.message.replace(/^bind address '[^']*': /, '')}`, 'bind');
        return;
      }
      // HAProxy's wording for an unknown option, else the bind parser's message.
      const unknown = /^unknown bind option '(.*?)'(?:; did you mean '(.*)'\?)?$/.exec(error.message);
      if (unknown) {
        const hint = unknown[2] === undefined ? '' : `; did you mean '${unknown[2]}' maybe ?`;
        ctx.alert(`'bind ${address}' in section '${t.kind}': unknown keyword '${unknown[1]}'${hint}`, error.keyword);
      } else {
        ctx.alert(`'bind ${address}' in section '${t.kind}' : ${error.message.replace(/^bind option '(.*)' is not supported yet$/, "'$1' is not supported yet")}`, error.keyword);
      }
    }
  },
  'bind-process': (ctx) => {
    ctx.warn(`'${ctx.keyword}' has no effect, is deprecated, and will be removed in version 2.7.`);
  },
  'default-server': (ctx, state) => {
    const t = state.target;
    if (!hasCapability(t, 'backend')) {
      ctx.alert(`'default-server' not allowed because ${sectionLabel(t)} '${t.name}' has no backend capability.`);
      return;
    }
    parseDefaultServerLine(ctx, t.defaultServer);
  },
  default_backend: (ctx, state) => {
    const t = state.target;
    if (ignoredHere(ctx, t, 'frontend')) return;
    if (ctx.arg(1) === '') {
      ctx.alert("'default_backend' expects a backend name.");
      return;
    }
    if (ctx.tooMany(1)) return;
    t.defaultBackend = ctx.arg(1);
    setOrigin(ctx, state, 'default_backend');
  },
  description: (ctx, state) => {
    const t = state.target;
    if (refusedInDefaults(ctx, t, 'line')) return;
    if (ctx.arg(1) === '') {
      ctx.alert("'description' expects a string argument.", 'description', 'line');
      return;
    }
    (t as ProxyConfig).description = ctx.words.slice(1).join(' ');
    setOrigin(ctx, state, 'description');
  },
  disabled: (ctx, state) => {
    if (ctx.tooMany(0)) return;
    state.target.disabled = true;
    setOrigin(ctx, state, 'disabled');
  },
  enabled: (ctx, state) => {
    if (ctx.tooMany(0)) return;
    state.target.disabled = false;
    setOrigin(ctx, state, 'disabled');
  },
  'hash-type': parseHashType,
  id: (ctx, state) => {
    const t = state.target;
    if (refusedInDefaults(ctx, t, 'line')) return;
    if (ctx.tooMany(1)) return;
    const text = ctx.arg(1);
    if (text === '') {
      ctx.alert("'id' expects an integer argument.", 'id', 'line');
      return;
    }
    const id = /^[+-]?\d+$/.test(text) ? Number(text) : 0;
    if (!(id > 0) || id > INT_MAX) {
      ctx.alert('custom id has to be > 0.', 'id', 'line');
      return;
    }
    (t as ProxyConfig).id = id;
    setOrigin(ctx, state, 'id');
  },
  log: (ctx, state) => {
    parseLogLine(ctx, state.target.logs, false);
    setOrigin(ctx, state, 'log');
  },
  'log-format': (ctx, state) => {
    const t = state.target;
    if (ctx.arg(1) === '' || ctx.arg(2) !== '') {
      ctx.alert("log-format expects only one argument, don't forget to escape spaces!");
      return;
    }
    if (t.kind === 'backend') {
      ctx.warn(`backend '${t.name}' : 'log-format' directive is ignored in backends.`);
      return;
    }
    // Checked now, so that a typo is reported at its line rather than when the proxy starts.
    try {
      compileLogFormat(ctx.arg(1));
    } catch (error) {
      if (!(error instanceof LogFormatError)) throw error;
      ctx.alert(`failed to parse log-format : ${error.message}`, 'log-format', 'line');
      return;
    }
    // The last of `log-format` and `option tcplog` wins, as in HAProxy.
    t.logFormat = { text: ctx.arg(1), where: ctx.where };
    t.options.tcplog = false;
    setOrigin(ctx, state, 'log-format');
  },
  'log-tag': (ctx, state) => {
    if (ctx.arg(1) === '') {
      ctx.alert("'log-tag' expects a tag for use in syslog.");
      return;
    }
    state.target.logTag = ctx.arg(1);
    setOrigin(ctx, state, 'log-tag');
  },
  maxconn: integerKeyword('frontend', (t, v) => (t.maxconn = v), undefined, " Maybe you want 'fullconn' instead ?"),
  mode: (ctx, state) => {
    if (ctx.tooMany(1)) return;
    const mode = ctx.arg(1);
    if (mode === 'tcp') {
      state.target.mode = 'tcp';
      setOrigin(ctx, state, 'mode');
    } else if (mode === 'http') {
      // The two HTTP uses: a frontend that serves the Prometheus exporter, a listen or frontend
      // that serves the stats page (checked at the end, once the section's lines are known).
      if (state.target.kind !== 'frontend' && state.target.kind !== 'listen') {
        ctx.alert(
          `'mode http' is only supported in a frontend serving the Prometheus exporter ('http-request use-service prometheus-exporter') or in a listen or frontend section serving the stats page ('stats enable'); epoxy implements mode tcp.`,
          'mode http',
        );
        return;
      }
      state.target.mode = 'http';
      setOrigin(ctx, state, 'mode');
    } else if (mode === 'health') {
      ctx.alert("'mode health' doesn't exist anymore. Please use 'http-request return status 200' instead.");
    } else {
      ctx.alert(`unknown proxy mode '${mode}'.${didYouMean(mode, ['tcp', 'http'])}`);
    }
  },
  option: parseOption,
  retries: integerKeyword('backend', (t, v) => (t.retries = v), "'retries' expects an integer argument (dispatch counts for one)."),
  server: (ctx, state) => {
    const t = serverSection(ctx, state);
    if (t === null) return;
    const server = parseServerLine(ctx, t.name, t.defaultServer);
    if (server !== null) t.servers.push(server);
  },
  'server-template': (ctx, state) => {
    const t = serverSection(ctx, state);
    if (t === null) return;
    const servers = parseServerTemplateLine(ctx, t.name, t.defaultServer);
    if (servers !== null) t.servers.push(...servers);
  },
  source: (ctx, state) => {
    const t = state.target;
    if (ignoredHere(ctx, t, 'backend')) return;
    const parsed = parseSource(ctx, 0, null);
    if (parsed === null) return;
    t.source = parsed.source;
    setOrigin(ctx, state, 'source');
  },
  'http-request': parseHttpRequest,
  stats: parseStats,
  'tcp-request': parseTcpRequest,
  stick: (ctx, state) => {
    const t = state.target;
    if (refusedInDefaults(ctx, t) || t.kind === 'defaults' || ignoredHere(ctx, t, 'backend')) return;
    parseStickRule(ctx, t);
  },
  'stick-table': (ctx, state) => {
    const t = state.target;
    if (refusedInDefaults(ctx, t) || t.kind === 'defaults') return;
    parseStickTable(ctx, t);
  },
  timeout: parseTimeout,
  use_backend: parseUseBackend,
  'use-server': parseUseServer,
};

/**
 * `http-request use-service prometheus-exporter [if { path <path> }]`, exactly: the one
 * `http-request` rule epoxy serves (in a `mode http` frontend, checked with the section).
 */
function parseHttpRequest(ctx: LineContext, state: SectionState): void {
  const t = state.target;
  const words = ctx.words.slice(1);
  const exporter = words[0] === 'use-service' && words[1] === 'prometheus-exporter';
  const unconditional = words.length === 2;
  const onPath = words.length === 7 && words[2] === 'if' && words[3] === '{' && words[4] === 'path' && words[6] === '}';
  if (t.kind !== 'frontend' || !exporter || !(unconditional || onPath)) {
    ctx.alert(
      "'http-request' is not supported yet (HTTP mode; epoxy implements mode tcp), except for 'http-request use-service prometheus-exporter [if { path <path> }]' in a 'mode http' frontend.",
      'http-request',
    );
    return;
  }
  if (t.service !== null) {
    ctx.alert(`a second 'http-request' rule: a prometheus-exporter frontend has exactly one (the first is at ${t.service.where.file}:${t.service.where.line}).`, 'http-request');
    return;
  }
  t.service = { kind: 'prometheus-exporter', path: onPath ? words[5]! : null, where: ctx.where };
}

/** HAProxy's defaults for a section that enables its stats page without saying more. */
const DEFAULT_STATS_URI = '/haproxy?stats';
const DEFAULT_STATS_REALM = 'HAProxy Statistics';

/** `stats` sub-keywords of HAProxy 2.6 that epoxy's stats page does not implement, with why. */
const UNSUPPORTED_STATS: Record<string, string> = {
  'http-request': 'needs HTTP request rules (userlists, http_auth ACLs)',
  'show-desc': 'the page has no description block',
  'show-legends': 'the page has no per-proxy legends',
  'show-modules': 'epoxy has no statistics modules',
  'show-node': 'the page has no node block',
  'bind-process': 'HAProxy 2.6 ignores it (one process)',
};

/**
 * `stats enable|uri|realm|auth|refresh|admin|hide-version|scope` in a listen or frontend
 * section: each one enables the page (as in HAProxy) and sets one of its settings. Whether the
 * section is in `mode http` and serves nothing else is checked with the whole configuration.
 */
function parseStats(ctx: LineContext, state: SectionState): void {
  const t = state.target;
  const sub = ctx.arg(1);
  const keyword = sub === '' ? 'stats' : `stats ${sub}`;
  const refusal = UNSUPPORTED_STATS[sub];
  if (refusal !== undefined) {
    ctx.alert(`'${keyword}' is not supported yet (${refusal}).`, keyword);
    return;
  }
  const known = ['enable', 'uri', 'realm', 'auth', 'refresh', 'admin', 'hide-version', 'scope'];
  if (!known.includes(sub)) {
    ctx.alert(`'stats' expects 'admin', 'auth', 'enable', 'hide-version', 'realm', 'refresh', 'scope' or 'uri' (got '${sub}')${didYouMean(sub, [...known, ...Object.keys(UNSUPPORTED_STATS)])}.`, keyword);
    return;
  }
  if (t.kind !== 'listen' && t.kind !== 'frontend') {
    ctx.alert(`'${keyword}': the stats page is only served by a 'mode http' listen or frontend section (this is a ${t.kind} section).`, keyword);
    return;
  }
  const page: StatsPageConfig = (t.statsPage ??= {
    uri: DEFAULT_STATS_URI,
    realm: DEFAULT_STATS_REALM,
    users: [],
    refreshMs: null,
    admin: null,
    hideVersion: false,
    scope: [],
    where: ctx.where,
  });
  const value = ctx.arg(2);
  const needsValue = (what: string): boolean => {
    if (value !== '') return true;
    ctx.alert(`'${keyword}' expects ${what}.`, keyword);
    return false;
  };
  switch (sub) {
    case 'enable':
    case 'hide-version':
      if (ctx.tooMany(0, 1)) return;
      if (sub === 'hide-version') page.hideVersion = true;
      return;
    case 'uri':
      if (!needsValue('a URI prefix') || ctx.tooMany(1, 1)) return;
      page.uri = value;
      return;
    case 'realm':
      if (!needsValue('a realm (spaces escaped with a backslash)') || ctx.tooMany(1, 1)) return;
      page.realm = value;
      return;
    case 'scope':
      if (!needsValue("a section name or '.'") || ctx.tooMany(1, 1)) return;
      page.scope.push(value === '.' ? t.name : value);
      return;
    case 'auth': {
      if (!needsValue('<user>:<password>') || ctx.tooMany(1, 1)) return;
      const colon = value.indexOf(':');
      if (colon <= 0) {
        ctx.alert(`'stats auth' expects <user>:<password> (got '${value}').`, keyword);
        return;
      }
      page.users.push({ user: value.slice(0, colon), password: value.slice(colon + 1) });
      return;
    }
    case 'refresh': {
      if (!needsValue('a delay (seconds unless a unit follows)') || ctx.tooMany(1, 1)) return;
      // The delay counts in seconds unless a unit says otherwise (HAProxy's TIME_UNIT_S).
      const parsed = parseTime(/^\d+$/.test(value) ? `${value}s` : value);
      if (!parsed.ok) {
        ctx.alert(`'stats refresh': invalid delay '${value}'.`, keyword);
        return;
      }
      page.refreshMs = parsed.value === 0 ? null : parsed.value;
      return;
    }
    case 'admin': {
      if (value !== 'if' && value !== 'unless') {
        ctx.alert(`'stats admin' requires either 'if' or 'unless' followed by a condition (got '${value}').`, keyword);
        return;
      }
      const parsed = parseCondition(ctx.words.slice(2), t.acls, { where: ctx.where, readPatternFile: ctx.readPatternFile });
      if (!parsed.ok) {
        ctx.alert(`'stats admin' : error detected while parsing its condition : ${parsed.reason}.`, keyword);
        return;
      }
      for (const warning of parsed.value.warnings) ctx.warn(warning, keyword);
      page.admin = parsed.value.condition;
      return;
    }
  }
}

/** Names of the supported proxy keywords. */
export const SUPPORTED_PROXY_KEYWORDS: readonly string[] = Object.keys(PROXY_KEYWORDS).sort();

/** Parses one line inside a defaults, frontend, backend or listen section. */
export function parseProxyLine(ctx: LineContext, state: SectionState): void {
  const keyword = ctx.keyword;
  const handler = PROXY_KEYWORDS[keyword];
  if (handler !== undefined) {
    handler(ctx, state);
    return;
  }
  const removed = REMOVED_PROXY[keyword];
  if (removed !== undefined) {
    ctx.alert(removed);
    return;
  }
  if (/^(req|rsp)i?(rep|del|deny|pass|allow|tarpit|add)$/.test(keyword)) {
    ctx.alert(`The '${keyword}' directive is not supported anymore since HAProxy 2.1. Use 'http-${keyword.startsWith('req') ? 'request' : 'response'}' rules instead.`);
    return;
  }
  const refusal = UNSUPPORTED_PROXY[keyword];
  if (refusal !== undefined) {
    ctx.alert(`${refusalText(keyword, refusal)}.`);
    return;
  }
  ctx.alert(
    `unknown keyword '${keyword}' in '${state.target.kind}' section` +
      didYouMean(keyword, [...SUPPORTED_PROXY_KEYWORDS, ...Object.keys(UNSUPPORTED_PROXY), ...Object.keys(REMOVED_PROXY)]),
  );
}
