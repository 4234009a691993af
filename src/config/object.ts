/**
 * The configuration as a TypeScript object — what `import { start } from 'epoxy'` will take —
 * checked exactly as a file is: each property becomes the line an HAProxy user would write and
 * goes through the same keyword parsers and the same checks. Messages name the property path
 * instead of a file line: `parsing [backends.app.servers[1]] : weight of server b is not within
 * 0 and 256 (300).`
 *
 *   const config = configFromObject({
 *     defaults: { timeout: { connect: '5s', client: '30s', server: '30s' } },
 *     frontends: { web: { bind: ['127.0.0.1:10080'], defaultBackend: 'app' } },
 *     backends: { app: { balance: 'roundrobin', servers: [{ name: 'a', address: '127.0.0.1:10081' }] } },
 *   });
 *
 * Sections are fed in this order: global, defaults (in array order), then frontends, backends
 * and listen proxies, each in property order. A proxy without `from` inherits from the last
 * defaults section, as in a file.
 */
import { closest } from './context.js';
import { ConfigError } from './diagnostics.js';
import type { Config, HashType, LogFacility, LogFormat, LogLevel, Where } from './model.js';
import { ConfigBuilder, finish, type ConfigResult, type ParseOptions } from './parser.js';
import { MAX_PATTERN_FILE_BYTES, readBoundedFile } from './files.js';

/** A time: milliseconds, or a string with a unit ('5s', '1m', '500ms'). */
export type TimeInput = number | string;

export type LogInput =
  | 'global'
  | {
      /** 'stdout', 'stderr', a syslog server ('10.0.0.5', '127.0.0.1:5140', 'udp6@[::1]:514') or a unix datagram socket ('/dev/log'). */
      readonly target: string;
      readonly len?: number;
      readonly format?: LogFormat;
      readonly facility: LogFacility;
      readonly level?: LogLevel;
      readonly minLevel?: LogLevel;
    };

export interface TuneInput {
  readonly bufsize?: number;
  readonly maxaccept?: number;
  readonly runqueueDepth?: number;
  readonly maxpollevents?: number;
  readonly rcvbufClient?: number;
  readonly rcvbufServer?: number;
  readonly sndbufClient?: number;
  readonly sndbufServer?: number;
  readonly pipesize?: number;
  /** Epoxy extensions (`tune.epoxy.*`): TCP_NOTSENT_LOWAT bytes, TCP_NODELAY on or off. */
  readonly notsentLowatClient?: number;
  readonly notsentLowatServer?: number;
  readonly nodelay?: 'on' | 'off';
  /** `tune.epoxy.relay-thread`: the relay on a thread of its own. */
  readonly relayThread?: 'on' | 'off';
}

export interface GlobalInput {
  readonly maxconn?: number;
  /** Most pipes held by the relay's splice mode (`maxpipes`); 0 or absent: maxconn / 4. */
  readonly maxpipes?: number;
  readonly ulimitN?: number;
  /** Only 1 for now. */
  readonly nbthread?: number;
  readonly noepoll?: boolean;
  readonly nopoll?: boolean;
  readonly busyPolling?: boolean;
  readonly noreuseport?: boolean;
  readonly nosplice?: boolean;
  readonly quiet?: boolean;
  readonly zeroWarning?: boolean;
  readonly log?: readonly LogInput[];
  /** `log-tag`: the syslog tag (default "epoxy"). */
  readonly logTag?: string;
  /** `log-send-hostname`: true for the system's host name, or the name to send. */
  readonly logSendHostname?: boolean | string;
  readonly tune?: TuneInput;
}

export interface TimeoutsInput {
  readonly connect?: TimeInput;
  readonly client?: TimeInput;
  readonly server?: TimeInput;
  readonly tunnel?: TimeInput;
  readonly clientFin?: TimeInput;
  /** The PROXY header's deadline from accept (`timeout client-hs`); default: `client`. */
  readonly clientHs?: TimeInput;
  readonly serverFin?: TimeInput;
  readonly queue?: TimeInput;
  readonly check?: TimeInput;
}

export interface OptionsInput {
  /** true, false (`no option redispatch`) or the redispatch interval. */
  readonly redispatch?: boolean | number;
  readonly allbackups?: boolean;
  readonly tcplog?: boolean;
  readonly dontlognull?: boolean;
  readonly logasap?: boolean;
  /** epoxy extension: a line when a session's server connection is up, and one when it ends. */
  readonly 'epoxy-log-start'?: boolean;
  readonly tcpka?: boolean;
  readonly clitcpka?: boolean;
  readonly srvtcpka?: boolean;
  readonly nolinger?: boolean;
  readonly 'tcp-smart-accept'?: boolean;
  readonly 'tcp-smart-connect'?: boolean;
  readonly 'splice-auto'?: boolean;
  readonly 'splice-request'?: boolean;
  readonly 'splice-response'?: boolean;
}

export type BalanceInput = 'roundrobin' | 'static-rr' | 'leastconn' | 'first' | 'source' | 'random' | `random(${number})`;

export type HashTypeInput = HashType['method'] | { readonly method: HashType['method']; readonly function?: HashType['function']; readonly avalanche?: boolean };

/** `source`: an address (`'10.0.0.1'`, `'10.0.0.1:1024-65535'` for servers) or the full form. */
export type SourceInput =
  | string
  | {
      readonly address: string;
      /** 'client', 'clientip' or an address. */
      readonly usesrc?: string;
      readonly interface?: string;
    };

/** An ACL test: `'src 10.0.0.0/8 192.168.0.0/16'`, or its parts. */
export type AclInput = string | { /** A sample expression: `'src'`, `'req.ssl_sni,lower'`. */ readonly criterion: string; readonly values?: readonly (string | number)[] };

/** A condition: `{ if: 'local !blocked' }` or `{ unless: '...' }`, written as in a file. */
export type ConditionInput = { readonly if?: string; readonly unless?: string };

export type TcpRuleInput = { readonly action: 'accept' | 'reject' } & ConditionInput;
export type UseBackendInput = { readonly backend: string } & ConditionInput;

export interface ServerOptionsInput {
  readonly weight?: number;
  readonly maxconn?: number;
  readonly maxqueue?: number;
  readonly backup?: boolean;
  readonly disabled?: boolean;
  /** 'v1' (`send-proxy`), 'v2' (`send-proxy-v2`), false for none. */
  readonly sendProxy?: 'v1' | 'v2' | false;
  readonly source?: SourceInput;
  /** `tfo` / `no-tfo`: TCP Fast Open to the server when data is ready at connect time. */
  readonly tfo?: boolean;
  /** Accepted and stored; health checks are not implemented yet. */
  readonly check?: boolean;
  readonly inter?: TimeInput;
  readonly rise?: number;
  readonly fall?: number;
}

export interface ServerInput extends ServerOptionsInput {
  readonly name: string;
  /** 'ip:port', '[ipv6]:port', 'unix@/path' or 'hostname:port'. */
  readonly address: string;
  readonly id?: number;
}

/** Options of a bind line, by their camelCase names (see src/listener/bind-parser.ts). */
export interface BindOptionsInput {
  readonly acceptProxy?: boolean;
  readonly backlog?: number;
  readonly deferAccept?: boolean;
  readonly freebind?: boolean;
  readonly gid?: number;
  readonly group?: string;
  readonly id?: number;
  readonly interface?: string;
  readonly maxconn?: number;
  /** Octal mode of a unix socket, as written in a file ('600'). */
  readonly mode?: string;
  readonly mss?: number;
  readonly name?: string;
  readonly namespace?: string;
  readonly nolinger?: boolean;
  readonly noreuseport?: boolean;
  readonly tcpUt?: TimeInput;
  readonly tfo?: boolean;
  readonly transparent?: boolean;
  readonly uid?: number;
  readonly user?: string;
  readonly v4v6?: boolean;
  readonly v6only?: boolean;
}

export type BindInput = string | ({ readonly address: string } & BindOptionsInput);

/** What a defaults section and every proxy can set. */
export interface SettingsInput {
  readonly mode?: 'tcp';
  readonly maxconn?: number;
  readonly backlog?: number;
  readonly timeout?: TimeoutsInput;
  readonly retries?: number;
  readonly option?: OptionsInput;
  readonly balance?: BalanceInput;
  readonly hashType?: HashTypeInput;
  readonly defaultBackend?: string;
  /** Log targets; false = `no log`. */
  readonly log?: readonly LogInput[] | false;
  /** `log-format`: the session line's layout (HAProxy's variables, docs/logging.md). */
  readonly logFormat?: string;
  /** `log-tag` of this proxy's lines. */
  readonly logTag?: string;
  readonly source?: SourceInput;
  readonly defaultServer?: ServerOptionsInput;
  readonly disabled?: boolean;
  /** Named ACLs (one test or several, OR-ed), declared before the rules that use them. */
  readonly acl?: Readonly<Record<string, AclInput | readonly AclInput[]>>;
  readonly tcpRequestConnection?: readonly TcpRuleInput[];
  /** `tcp-request inspect-delay`: how long content rules wait for the client's first bytes. */
  readonly tcpRequestInspectDelay?: number | string;
  /** `tcp-request content` rules, on the client's first bytes. */
  readonly tcpRequestContent?: readonly TcpRuleInput[];
}

export interface DefaultsInput extends SettingsInput {
  /** Omitted: an anonymous defaults section. */
  readonly name?: string;
  readonly from?: string;
}

export interface ProxyInput extends SettingsInput {
  /** A named defaults section to start from, instead of the last one. */
  readonly from?: string;
  readonly id?: number;
  readonly description?: string;
}

export interface FrontendInput extends ProxyInput {
  readonly bind: readonly BindInput[];
  readonly useBackend?: readonly UseBackendInput[];
}

export interface BackendInput extends ProxyInput {
  readonly servers?: readonly ServerInput[];
}

export interface ListenInput extends ProxyInput {
  readonly bind: readonly BindInput[];
  readonly useBackend?: readonly UseBackendInput[];
  readonly servers?: readonly ServerInput[];
}

/** A whole configuration as a TypeScript object. */
export interface EpoxyConfig {
  readonly global?: GlobalInput;
  readonly defaults?: DefaultsInput | readonly DefaultsInput[];
  readonly frontends?: Readonly<Record<string, FrontendInput>>;
  readonly backends?: Readonly<Record<string, BackendInput>>;
  readonly listen?: Readonly<Record<string, ListenInput>>;
}

/** The file name objects' messages carry. */
export const OBJECT_FILE = '<object>';

// ---------------------------------------------------------------------------------------------

type Value = unknown;

const isRecord = (v: Value): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Turns an object into lines for a ConfigBuilder. */
class Emitter {
  constructor(private readonly builder: ConfigBuilder) {}

  private where(path: string): Where {
    return { file: OBJECT_FILE, line: 0, column: 0, path };
  }

  line(path: string, words: readonly (string | number)[]): void {
    this.builder.line(words.map(String), this.where(path));
  }

  fail(path: string, reason: string): void {
    this.builder.diagnostics.alert(this.where(path), path.replace(/^.*[.\]]/, ''), reason);
  }

  /** Reports properties of `value` not in `known`; returns the record, or null when not one. */
  record(path: string, value: Value, known: readonly string[]): Record<string, unknown> | null {
    if (!isRecord(value)) {
      this.fail(path, `expected an object, got ${describe(value)}`);
      return null;
    }
    for (const key of Object.keys(value)) {
      if (value[key] === undefined || known.includes(key)) continue;
      const best = closest(key, known);
      this.fail(`${path}.${key}`, `unknown property '${key}'${best === null ? '' : `; did you mean '${best}' maybe ?`}`);
    }
    return value;
  }

  list(path: string, value: Value): unknown[] | null {
    if (!Array.isArray(value)) {
      this.fail(path, `expected an array, got ${describe(value)}`);
      return null;
    }
    return value;
  }

  /** A scalar as a word; objects and arrays are refused. */
  scalar(path: string, value: Value): string | null {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint') return String(value);
    this.fail(path, `expected a string or a number, got ${describe(value)}`);
    return null;
  }

  flag(path: string, value: Value, words: readonly string[]): void {
    if (value === undefined || value === false) return;
    if (value !== true) {
      this.fail(path, `expected a boolean, got ${describe(value)}`);
      return;
    }
    this.line(path, words);
  }

  value(path: string, value: Value, keyword: readonly string[]): void {
    if (value === undefined) return;
    const word = this.scalar(path, value);
    if (word !== null) this.line(path, [...keyword, word]);
  }
}

function describe(value: Value): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}

const GLOBAL_PROPS = ['maxconn', 'maxpipes', 'ulimitN', 'nbthread', 'noepoll', 'nopoll', 'busyPolling', 'noreuseport', 'nosplice', 'quiet', 'zeroWarning', 'log', 'logTag', 'logSendHostname', 'tune'];
const TUNE_KEYWORDS: Record<string, string> = {
  bufsize: 'tune.bufsize',
  maxaccept: 'tune.maxaccept',
  runqueueDepth: 'tune.runqueue-depth',
  maxpollevents: 'tune.maxpollevents',
  rcvbufClient: 'tune.rcvbuf.client',
  rcvbufServer: 'tune.rcvbuf.server',
  sndbufClient: 'tune.sndbuf.client',
  sndbufServer: 'tune.sndbuf.server',
  pipesize: 'tune.pipesize',
  notsentLowatClient: 'tune.epoxy.notsent-lowat.client',
  notsentLowatServer: 'tune.epoxy.notsent-lowat.server',
  nodelay: 'tune.epoxy.nodelay',
  relayThread: 'tune.epoxy.relay-thread',
};
const TIMEOUT_KEYWORDS: Record<string, string> = {
  connect: 'connect',
  client: 'client',
  server: 'server',
  tunnel: 'tunnel',
  clientFin: 'client-fin',
  clientHs: 'client-hs',
  serverFin: 'server-fin',
  queue: 'queue',
  check: 'check',
};
const OPTION_NAMES = ['redispatch', 'allbackups', 'tcplog', 'dontlognull', 'logasap', 'epoxy-log-start', 'tcpka', 'clitcpka', 'srvtcpka', 'nolinger', 'tcp-smart-accept', 'tcp-smart-connect', 'splice-auto', 'splice-request', 'splice-response'];
const BIND_KEYWORDS: Record<string, string> = {
  acceptProxy: 'accept-proxy',
  backlog: 'backlog',
  deferAccept: 'defer-accept',
  freebind: 'freebind',
  gid: 'gid',
  group: 'group',
  id: 'id',
  interface: 'interface',
  maxconn: 'maxconn',
  mode: 'mode',
  mss: 'mss',
  name: 'name',
  namespace: 'namespace',
  nolinger: 'nolinger',
  noreuseport: 'noreuseport',
  tcpUt: 'tcp-ut',
  tfo: 'tfo',
  transparent: 'transparent',
  uid: 'uid',
  user: 'user',
  v4v6: 'v4v6',
  v6only: 'v6only',
};
const SERVER_OPTION_PROPS = ['weight', 'maxconn', 'maxqueue', 'backup', 'disabled', 'sendProxy', 'source', 'tfo', 'check', 'inter', 'rise', 'fall'];
const SETTINGS_PROPS = [
  'mode', 'maxconn', 'backlog', 'timeout', 'retries', 'option', 'balance', 'hashType', 'defaultBackend', 'log', 'logFormat', 'logTag',
  'source', 'defaultServer', 'disabled', 'acl', 'tcpRequestConnection', 'tcpRequestInspectDelay', 'tcpRequestContent',
]; // prettier-ignore

function emitLogs(e: Emitter, path: string, value: Value, noLog: boolean): void {
  if (value === undefined) return;
  if (value === false && noLog) {
    e.line(path, ['no', 'log']);
    return;
  }
  const list = e.list(path, value);
  if (list === null) return;
  list.forEach((item, i) => {
    const p = `${path}[${i}]`;
    if (item === 'global') {
      e.line(p, ['log', 'global']);
      return;
    }
    const log = e.record(p, item, ['target', 'len', 'format', 'facility', 'level', 'minLevel']);
    if (log === null) return;
    const words: (string | number)[] = ['log', e.scalar(`${p}.target`, log.target) ?? ''];
    if (log.len !== undefined) words.push('len', e.scalar(`${p}.len`, log.len) ?? '');
    if (log.format !== undefined) words.push('format', e.scalar(`${p}.format`, log.format) ?? '');
    words.push(e.scalar(`${p}.facility`, log.facility) ?? '');
    if (log.level !== undefined) words.push(e.scalar(`${p}.level`, log.level) ?? '');
    if (log.minLevel !== undefined) {
      if (log.level === undefined) words.push('debug');
      words.push(e.scalar(`${p}.minLevel`, log.minLevel) ?? '');
    }
    e.line(p, words);
  });
}

function emitGlobal(e: Emitter, value: Value): void {
  const g = e.record('global', value, GLOBAL_PROPS);
  if (g === null) return;
  e.line('global', ['global']);
  e.value('global.maxconn', g.maxconn, ['maxconn']);
  e.value('global.maxpipes', g.maxpipes, ['maxpipes']);
  e.value('global.ulimitN', g.ulimitN, ['ulimit-n']);
  e.value('global.nbthread', g.nbthread, ['nbthread']);
  e.flag('global.noepoll', g.noepoll, ['noepoll']);
  e.flag('global.nopoll', g.nopoll, ['nopoll']);
  if (g.busyPolling === false) e.line('global.busyPolling', ['no', 'busy-polling']);
  else e.flag('global.busyPolling', g.busyPolling, ['busy-polling']);
  e.flag('global.noreuseport', g.noreuseport, ['noreuseport']);
  e.flag('global.nosplice', g.nosplice, ['nosplice']);
  e.flag('global.quiet', g.quiet, ['quiet']);
  e.flag('global.zeroWarning', g.zeroWarning, ['zero-warning']);
  emitLogs(e, 'global.log', g.log, false);
  e.value('global.logTag', g.logTag, ['log-tag']);
  if (g.logSendHostname === true) e.line('global.logSendHostname', ['log-send-hostname']);
  else if (g.logSendHostname !== false) e.value('global.logSendHostname', g.logSendHostname, ['log-send-hostname']);
  if (g.tune !== undefined) {
    const tune = e.record('global.tune', g.tune, Object.keys(TUNE_KEYWORDS));
    if (tune !== null) {
      for (const [key, keyword] of Object.entries(TUNE_KEYWORDS)) e.value(`global.tune.${key}`, tune[key], [keyword]);
    }
  }
}

function sourceWords(e: Emitter, path: string, value: Value): (string | number)[] | null {
  if (typeof value === 'string') return ['source', value];
  const s = e.record(path, value, ['address', 'usesrc', 'interface']);
  if (s === null) return null;
  const words: (string | number)[] = ['source', e.scalar(`${path}.address`, s.address) ?? ''];
  if (s.usesrc !== undefined) words.push('usesrc', e.scalar(`${path}.usesrc`, s.usesrc) ?? '');
  if (s.interface !== undefined) words.push('interface', e.scalar(`${path}.interface`, s.interface) ?? '');
  return words;
}

/** Server options as words of a server or default-server line. */
function serverOptionWords(e: Emitter, path: string, s: Record<string, unknown>): (string | number)[] {
  const words: (string | number)[] = [];
  const num = (key: string, keyword = key): void => {
    if (s[key] === undefined) return;
    const w = e.scalar(`${path}.${key}`, s[key]);
    if (w !== null) words.push(keyword, w);
  };
  const bool = (key: string, on: string, off: string): void => {
    const v = s[key];
    if (v === undefined) return;
    if (typeof v !== 'boolean') e.fail(`${path}.${key}`, `expected a boolean, got ${describe(v)}`);
    else words.push(v ? on : off);
  };
  num('weight');
  num('maxconn');
  num('maxqueue');
  bool('backup', 'backup', 'no-backup');
  bool('disabled', 'disabled', 'enabled');
  if (s.sendProxy !== undefined) {
    if (s.sendProxy === 'v1') words.push('send-proxy');
    else if (s.sendProxy === 'v2') words.push('send-proxy-v2');
    else if (s.sendProxy === false) words.push('no-send-proxy', 'no-send-proxy-v2');
    else e.fail(`${path}.sendProxy`, `expected 'v1', 'v2' or false, got ${describe(s.sendProxy)}`);
  }
  bool('check', 'check', 'no-check');
  bool('tfo', 'tfo', 'no-tfo');
  num('inter');
  num('rise');
  num('fall');
  num('id');
  if (s.source !== undefined) {
    const source = sourceWords(e, `${path}.source`, s.source);
    if (source !== null) words.push(...source);
  }
  return words;
}

function conditionWords(e: Emitter, path: string, rule: Record<string, unknown>): string[] | null {
  if (rule.if !== undefined && rule.unless !== undefined) {
    e.fail(path, "a rule takes 'if' or 'unless', not both");
    return null;
  }
  const polarity = rule.if !== undefined ? 'if' : rule.unless !== undefined ? 'unless' : null;
  if (polarity === null) return [];
  const text = e.scalar(`${path}.${polarity}`, rule[polarity]);
  if (text === null) return null;
  return [polarity, ...text.split(/\s+/).filter((w) => w !== '')];
}

function emitSettings(e: Emitter, path: string, p: Record<string, unknown>, kind: 'defaults' | 'frontend' | 'backend' | 'listen'): void {
  e.value(`${path}.mode`, p.mode, ['mode']);
  // ACLs first: rules below refer to them.
  if (p.acl !== undefined) {
    const acls = e.record(`${path}.acl`, p.acl, Object.keys(isRecord(p.acl) ? p.acl : {}));
    for (const [name, def] of Object.entries(acls ?? {})) {
      const defs = Array.isArray(def) ? (def as unknown[]) : [def];
      defs.forEach((d, i) => {
        const at = `${path}.acl.${name}${Array.isArray(def) ? `[${i}]` : ''}`;
        if (typeof d === 'string') {
          e.line(at, ['acl', name, ...d.split(/\s+/).filter((w) => w !== '')]);
          return;
        }
        const r = e.record(at, d, ['criterion', 'values']);
        if (r === null) return;
        const values = r.values === undefined ? [] : e.list(`${at}.values`, r.values);
        if (values === null) return;
        const words = values.map((v, j) => e.scalar(`${at}.values[${j}]`, v));
        if (words.some((w) => w === null)) return;
        e.line(at, ['acl', name, e.scalar(`${at}.criterion`, r.criterion) ?? '', ...(words as string[])]);
      });
    }
  }
  e.value(`${path}.maxconn`, p.maxconn, ['maxconn']);
  e.value(`${path}.backlog`, p.backlog, ['backlog']);
  if (p.timeout !== undefined) {
    const t = e.record(`${path}.timeout`, p.timeout, Object.keys(TIMEOUT_KEYWORDS));
    if (t !== null) for (const [key, name] of Object.entries(TIMEOUT_KEYWORDS)) e.value(`${path}.timeout.${key}`, t[key], ['timeout', name]);
  }
  e.value(`${path}.retries`, p.retries, ['retries']);
  e.value(`${path}.logTag`, p.logTag, ['log-tag']);
  if (p.option !== undefined) {
    const o = e.record(`${path}.option`, p.option, OPTION_NAMES);
    if (o !== null) {
      for (const name of OPTION_NAMES) {
        const v = o[name];
        const at = `${path}.option.${name}`;
        if (v === undefined) continue;
        if (v === true) e.line(at, ['option', name]);
        else if (v === false) e.line(at, ['no', 'option', name]);
        else if (name === 'redispatch' && typeof v === 'number') e.line(at, ['option', name, v]);
        else e.fail(at, `expected a boolean${name === 'redispatch' ? ' or an interval' : ''}, got ${describe(v)}`);
      }
    }
  }
  e.value(`${path}.balance`, p.balance, ['balance']);
  if (p.hashType !== undefined) {
    if (typeof p.hashType === 'string') e.line(`${path}.hashType`, ['hash-type', p.hashType]);
    else {
      const h = e.record(`${path}.hashType`, p.hashType, ['method', 'function', 'avalanche']);
      if (h !== null) {
        const words: (string | number)[] = ['hash-type', e.scalar(`${path}.hashType.method`, h.method) ?? ''];
        if (h.function !== undefined || h.avalanche !== undefined) words.push(e.scalar(`${path}.hashType.function`, h.function ?? 'sdbm') ?? '');
        if (h.avalanche === true) words.push('avalanche');
        e.line(`${path}.hashType`, words);
      }
    }
  }
  emitLogs(e, `${path}.log`, p.log, true);
  // After the options: of `option tcplog` and `log-format` the last wins, so an explicit layout does.
  e.value(`${path}.logFormat`, p.logFormat, ['log-format']);
  if (p.source !== undefined) {
    const words = sourceWords(e, `${path}.source`, p.source);
    if (words !== null) e.line(`${path}.source`, words);
  }
  if (p.defaultServer !== undefined) {
    const s = e.record(`${path}.defaultServer`, p.defaultServer, SERVER_OPTION_PROPS);
    if (s !== null) e.line(`${path}.defaultServer`, ['default-server', ...serverOptionWords(e, `${path}.defaultServer`, s)]);
  }
  if (p.disabled === false) e.line(`${path}.disabled`, ['enabled']);
  else e.flag(`${path}.disabled`, p.disabled, ['disabled']);
  if (kind !== 'defaults') {
    e.value(`${path}.id`, p.id, ['id']);
    if (p.description !== undefined) e.value(`${path}.description`, p.description, ['description']);
  }
}

function emitBinds(e: Emitter, path: string, value: Value): void {
  const list = e.list(path, value);
  if (list === null) return;
  list.forEach((item, i) => {
    const at = `${path}[${i}]`;
    if (typeof item === 'string') {
      e.line(at, ['bind', item]);
      return;
    }
    const b = e.record(at, item, ['address', ...Object.keys(BIND_KEYWORDS)]);
    if (b === null) return;
    const words: (string | number)[] = ['bind', e.scalar(`${at}.address`, b.address) ?? ''];
    for (const [key, keyword] of Object.entries(BIND_KEYWORDS)) {
      const v = b[key];
      if (v === undefined || v === false) continue;
      if (v === true) words.push(keyword);
      else {
        const w = e.scalar(`${at}.${key}`, v);
        if (w !== null) words.push(keyword, w);
      }
    }
    e.line(at, words);
  });
}

function emitTcpRules(e: Emitter, path: string, property: 'tcpRequestConnection' | 'tcpRequestContent', value: unknown): void {
  if (value === undefined) return;
  const kind = property === 'tcpRequestConnection' ? 'connection' : 'content';
  const list = e.list(`${path}.${property}`, value);
  list?.forEach((item, i) => {
    const at = `${path}.${property}[${i}]`;
    const r = e.record(at, item, ['action', 'if', 'unless']);
    if (r === null) return;
    const cond = conditionWords(e, at, r);
    if (cond !== null) e.line(at, ['tcp-request', kind, e.scalar(`${at}.action`, r.action) ?? '', ...cond]);
  });
}

/** Connection rules first: written after a content rule, HAProxy warns they still run before. */
function emitRules(e: Emitter, path: string, p: Record<string, unknown>): void {
  emitTcpRules(e, path, 'tcpRequestConnection', p.tcpRequestConnection);
  e.value(`${path}.tcpRequestInspectDelay`, p.tcpRequestInspectDelay, ['tcp-request', 'inspect-delay']);
  emitTcpRules(e, path, 'tcpRequestContent', p.tcpRequestContent);
  if (p.useBackend !== undefined) {
    const list = e.list(`${path}.useBackend`, p.useBackend);
    list?.forEach((item, i) => {
      const at = `${path}.useBackend[${i}]`;
      const r = e.record(at, item, ['backend', 'if', 'unless']);
      if (r === null) return;
      const cond = conditionWords(e, at, r);
      if (cond !== null) e.line(at, ['use_backend', e.scalar(`${at}.backend`, r.backend) ?? '', ...cond]);
    });
  }
  e.value(`${path}.defaultBackend`, p.defaultBackend, ['default_backend']);
}

function emitServers(e: Emitter, path: string, value: Value): void {
  const list = e.list(path, value);
  list?.forEach((item, i) => {
    const at = `${path}[${i}]`;
    const s = e.record(at, item, ['name', 'address', 'id', ...SERVER_OPTION_PROPS]);
    if (s === null) return;
    e.line(at, ['server', e.scalar(`${at}.name`, s.name) ?? '', e.scalar(`${at}.address`, s.address) ?? '', ...serverOptionWords(e, at, s)]);
  });
}

function emitProxies(e: Emitter, group: 'frontends' | 'backends' | 'listen', value: Value): void {
  const kind = group === 'frontends' ? 'frontend' : group === 'backends' ? 'backend' : 'listen';
  const proxies = e.record(group, value, Object.keys(isRecord(value) ? value : {}));
  if (proxies === null) return;
  const known = [
    ...SETTINGS_PROPS.filter((k) => k !== 'defaultBackend' || kind !== 'backend'),
    'from', 'id', 'description',
    ...(kind !== 'backend' ? ['bind', 'useBackend', 'defaultBackend'] : []),
    ...(kind !== 'frontend' ? ['servers'] : []),
  ]; // prettier-ignore
  for (const [name, proxyValue] of Object.entries(proxies)) {
    const path = `${group}.${name}`;
    const p = e.record(path, proxyValue, known);
    if (p === null) continue;
    const header: (string | number)[] = [kind, name];
    if (p.from !== undefined) header.push('from', e.scalar(`${path}.from`, p.from) ?? '');
    e.line(path, header);
    emitSettings(e, path, p, kind);
    if (kind !== 'backend') {
      if (p.bind === undefined) e.fail(`${path}.bind`, `a ${kind} needs 'bind' (the addresses it listens on)`);
      else emitBinds(e, `${path}.bind`, p.bind);
    }
    if (kind !== 'backend') emitRules(e, path, p);
    else emitRules(e, path, { tcpRequestConnection: p.tcpRequestConnection, tcpRequestInspectDelay: p.tcpRequestInspectDelay, tcpRequestContent: p.tcpRequestContent });
    if (kind !== 'frontend' && p.servers !== undefined) emitServers(e, `${path}.servers`, p.servers);
  }
}

/** Builds and checks a configuration object; never throws. */
export function readConfigObject(input: EpoxyConfig, options: ParseOptions = {}): ConfigResult {
  const builder = new ConfigBuilder(options.readFile ?? ((path: string) => readBoundedFile(path, MAX_PATTERN_FILE_BYTES)));
  builder.beginFile(OBJECT_FILE);
  const e = new Emitter(builder);
  const root = e.record('config', input, ['global', 'defaults', 'frontends', 'backends', 'listen']);
  if (root !== null) {
    if (root.global !== undefined) emitGlobal(e, root.global);
    if (root.defaults !== undefined) {
      const list = Array.isArray(root.defaults) ? (root.defaults as unknown[]) : [root.defaults];
      list.forEach((item, i) => {
        const path = Array.isArray(root.defaults) ? `defaults[${i}]` : 'defaults';
        const d = e.record(path, item, [...SETTINGS_PROPS, 'name', 'from']);
        if (d === null) return;
        const header: (string | number)[] = ['defaults'];
        if (d.name !== undefined) header.push(e.scalar(`${path}.name`, d.name) ?? '');
        if (d.from !== undefined) header.push('from', e.scalar(`${path}.from`, d.from) ?? '');
        e.line(path, header);
        emitSettings(e, path, d, 'defaults');
        emitRules(e, path, { tcpRequestConnection: d.tcpRequestConnection, tcpRequestInspectDelay: d.tcpRequestInspectDelay, tcpRequestContent: d.tcpRequestContent, defaultBackend: d.defaultBackend });
      });
    }
    if (root.frontends !== undefined) emitProxies(e, 'frontends', root.frontends);
    if (root.backends !== undefined) emitProxies(e, 'backends', root.backends);
    if (root.listen !== undefined) emitProxies(e, 'listen', root.listen);
  }
  builder.endFile();
  return finish(builder);
}

/** Builds and checks a configuration object; throws a ConfigError listing every problem. */
export function configFromObject(input: EpoxyConfig, options: ParseOptions = {}): Config {
  const result = readConfigObject(input, options);
  const error = ConfigError.fromDiagnostics(result.diagnostics);
  if (error !== null) throw error;
  return result.config;
}
