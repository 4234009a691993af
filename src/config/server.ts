/**
 * `server`, `default-server` and `source` lines (HAProxy's server.c and the `source` keyword of
 * cfgparse-listen.c), TCP subset:
 *
 *   server <name> <address> [weight N] [maxconn N] [maxqueue N] [backup] [disabled] [id N]
 *          [source <addr>[:port[-port]] [usesrc client|clientip|<addr>[:port]] [interface <if>]]
 *          [send-proxy | send-proxy-v2] [check [inter T] [rise N] [fall N]] ...
 *
 * Addresses: `ip:port`, `[ipv6]:port`, `ipv4@`/`ipv6@` prefixes, `unix@/path` or `/path`,
 * `abns@name`, or `hostname:port` (kept as text for the caller to resolve). A numeric address may
 * leave the port out or give a `+N`/`-N` offset (HAProxy's port mapping: the client's destination
 * port, shifted); a host name needs a fixed port.
 */
import { SocketAddress } from '../address.js';
import { invalidNameChar } from './acl.js';
import { closest, type LineContext } from './context.js';
import { UNSUPPORTED_SERVER, refusalText } from './keywords.js';
import type { ConnectSource, InitAddrMethod, IntRange, IpPattern, ServerAddress, ServerConfig, ServerOptions } from './model.js';
import { parseIpPattern, parseIpv4, parseIpv6, parseTime, type Parsed } from './values.js';

/** HAProxy's SRV_UWGHT_MAX. */
export const MAX_WEIGHT = 256;

const INT_MAX = 2 ** 31 - 1;

// ---------------------------------------------------------------------------------------------
// Addresses

const HOSTNAME = /^(?=.*[a-z])[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$/i;

/** Parses a numeric address through SocketAddress, turning its error into a reason. */
function socketAddress(text: string, original: string): Parsed<SocketAddress> {
  try {
    return { ok: true, value: SocketAddress.parse(text) };
  } catch (error) {
    const why = (error as Error).message.replace(/^invalid address '[^']*': /, '');
    return { ok: false, reason: `invalid address '${original}': ${why}` };
  }
}

/** Splits `host:port` the way HAProxy does: the port follows the last ':' after any ']'. */
export function splitHostPort(body: string): { host: string; port: string | null } {
  const close = body.lastIndexOf(']');
  const colon = body.lastIndexOf(':');
  if (colon < 0 || colon < close) return { host: body, port: null };
  // An unbracketed IPv6 address without port ('::1') has colons but no port.
  const host = body.slice(0, colon);
  if (!body.startsWith('[') && host.includes(':') && parseIpv6(body) !== null && parseIpv6(host) === null) {
    return { host: body, port: null };
  }
  return { host, port: body.slice(colon + 1) };
}

/** A server's address. */
export function parseServerAddress(text: string): Parsed<ServerAddress> {
  const prefixMatch = /^([a-z0-9]+)@/.exec(text);
  const prefix = prefixMatch?.[1];
  if (prefix !== undefined && !['ipv4', 'ipv6', 'unix', 'abns'].includes(prefix)) {
    return { ok: false, reason: `address prefix '${prefix}@' is not supported yet in '${text}'` };
  }
  if (prefix === 'unix' || prefix === 'abns' || (prefix === undefined && text.startsWith('/'))) {
    const parsed = socketAddress(text, text);
    return parsed.ok ? { ok: true, value: { kind: 'address', address: parsed.value, portOffset: null, text } } : parsed;
  }
  const body = prefix === undefined ? text : text.slice(prefix.length + 1);
  const { host, port: portText } = splitHostPort(body);
  const mapped = portText === null || portText === '' || /^[+-]/.test(portText);
  if (mapped) {
    const bareHost = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    // An SRV record name needs no port: its records carry one per target.
    if (portText === null && bareHost.startsWith('_') && HOSTNAME.test(bareHost) && !host.startsWith('[')) {
      return { ok: true, value: { kind: 'hostname', host: bareHost, port: 0, family: prefix === 'ipv4' || prefix === 'ipv6' ? prefix : null, text } };
    }
    const isNumeric = parseIpv6(bareHost) !== null || (bareHost.split('.').length === 4 && parseIpv4(bareHost) !== null);
    if (!isNumeric) {
      return { ok: false, reason: `'${text}': port mapping (no port, or +N/-N) needs a numeric address` };
    }
    let offset = 0;
    if (portText !== null && portText !== '') {
      if (!/^[+-]\d{1,5}$/.test(portText) || Number(portText.slice(1)) > 65535) {
        return { ok: false, reason: `invalid port offset '${portText}' in '${text}'` };
      }
      offset = Number(portText);
    }
    const withZero = bareHost.includes(':') ? `[${bareHost}]:0` : `${bareHost}:0`;
    const parsed = socketAddress(`${prefix !== undefined ? `${prefix}@` : ''}${withZero}`, text);
    return parsed.ok ? { ok: true, value: { kind: 'address', address: parsed.value, portOffset: offset, text } } : parsed;
  }
  if (!/^\d+$/.test(portText)) {
    return { ok: false, reason: `invalid port '${portText}' in '${text}'${portText.includes('-') ? ' (port ranges are not allowed here)' : ''}` };
  }
  const port = Number(portText);
  if (port < 1 || port > 65535) return { ok: false, reason: `invalid port '${portText}' in '${text}' (1 to 65535)` };

  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const numeric = parseIpv6(bare) !== null || (bare.split('.').length === 4 && parseIpv4(bare) !== null) || bare === '' || bare === '*';
  if (numeric) {
    const parsed = socketAddress(text, text);
    return parsed.ok ? { ok: true, value: { kind: 'address', address: parsed.value, portOffset: null, text } } : parsed;
  }
  if (HOSTNAME.test(bare) && !host.startsWith('[')) {
    return {
      ok: true,
      value: { kind: 'hostname', host: bare, port, family: prefix === 'ipv4' || prefix === 'ipv6' ? prefix : null, text },
    };
  }
  return { ok: false, reason: `invalid address '${text}'` };
}

/**
 * A `source` address: numeric, optional port or (for servers) port range. Host names are refused:
 * HAProxy resolves them while parsing, epoxy does not.
 */
function parseSourceAddress(text: string, allowRange: boolean): Parsed<{ address: SocketAddress; range: IntRange | null }> {
  const { host, port } = splitHostPort(text.replace(/^(ipv4|ipv6)@/, ''));
  const prefix = /^(ipv4|ipv6)@/.exec(text)?.[0] ?? '';
  let range: IntRange | null = null;
  let portNumber = 0;
  if (port !== null && port !== '') {
    const match = /^(\d+)(?:-(\d+))?$/.exec(port);
    if (!match) return { ok: false, reason: `invalid port '${port}'` };
    const low = Number(match[1]);
    const high = match[2] === undefined ? low : Number(match[2]);
    if (low > 65535 || high > 65535 || low > high || (match[2] !== undefined && low < 1)) {
      return { ok: false, reason: `invalid port range '${port}'` };
    }
    if (match[2] !== undefined) {
      if (!allowRange) return { ok: false, reason: `port ranges are only allowed in a server's 'source'` };
      if (low !== high) range = { low, high };
    }
    portNumber = range === null ? low : 0;
  }
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (HOSTNAME.test(bare) && parseIpv6(bare) === null) {
    return { ok: false, reason: `host names are not resolved in 'source' ('${bare}'): write an address` };
  }
  const formatted = parseIpv6(bare) !== null ? `[${bare}]` : bare;
  const parsed = socketAddress(`${prefix}${formatted}:${portNumber}`, text);
  if (!parsed.ok) return parsed;
  return { ok: true, value: { address: parsed.value, range } };
}

/**
 * Parses `source <addr> [usesrc ...] [interface ...]` starting at word `at` (the 'source' word).
 * With `lenient`, an unknown word ends the source options (server lines); otherwise it is an
 * error (the proxy-level keyword). Returns the source and the index of the next word, or null
 * after reporting the problem.
 */
export function parseSource(
  ctx: LineContext,
  at: number,
  serverLine: { subject: string | undefined } | null,
): { source: ConnectSource; next: number } | null {
  const report = (reason: string): null => {
    if (serverLine === null) ctx.alert(reason);
    else ctx.alert(reason, 'source', 'object', serverLine.subject);
    return null;
  };
  const addressText = ctx.arg(at + 1);
  if (addressText === '') {
    return report(
      serverLine === null
        ? "'source' expects <addr>[:<port>], and optionally 'usesrc' <addr>, and 'interface' <name>."
        : "'source' expects <addr>[:<port>[-<port>]], and optionally 'usesrc' <addr>, and 'interface' <name> as argument.",
    );
  }
  const address = parseSourceAddress(addressText, serverLine !== null);
  if (!address.ok) return report(`'source ${addressText}' : ${address.reason}`);
  let usesrc: ConnectSource['usesrc'] = null;
  let iface: string | null = null;
  let i = at + 2;
  while (i < ctx.words.length) {
    const word = ctx.arg(i);
    if (word === 'usesrc') {
      const value = ctx.arg(i + 1);
      if (value === '') return report("'usesrc' expects <addr>[:<port>], 'client', or 'clientip' as argument.");
      if (value === 'client') usesrc = { kind: 'client' };
      else if (value === 'clientip') usesrc = { kind: 'clientip' };
      else if (value.startsWith('hdr_ip(')) return report("'usesrc hdr_ip()' is not supported yet (HTTP mode; epoxy implements mode tcp)");
      else {
        const parsed = parseSourceAddress(value, false);
        if (!parsed.ok) return report(`'usesrc ${value}' : ${parsed.reason}`);
        usesrc = { kind: 'address', address: parsed.value.address };
      }
      i += 2;
      continue;
    }
    if (word === 'interface') {
      const value = ctx.arg(i + 1);
      if (value === '') return report("'source' : missing interface name.");
      if (value.length > 15 || value.includes('/')) return report(`'source' : invalid interface name '${value}'.`);
      iface = value;
      i += 2;
      continue;
    }
    if (serverLine !== null) break;
    return report("'source' only supports optional keywords 'interface' and 'usesrc'.");
  }
  return {
    source: { address: address.value.address, portRange: address.value.range, usesrc, interface: iface, where: ctx.where },
    next: i,
  };
}

// ---------------------------------------------------------------------------------------------
// Options

interface ServerKeyword {
  /** Words after the keyword (source takes a variable number: handled by its apply). */
  readonly args: 0 | 1;
  /** Allowed on default-server lines. */
  readonly defaultOk: boolean;
  /** Applies the option; returns false after reporting an error. */
  apply(options: ServerOptions & { id?: number | null }, value: string, report: (reason: string) => void, name: string): boolean;
}

const flagKw = (set: (o: ServerOptions) => void): ServerKeyword => ({
  args: 0,
  defaultOk: true,
  apply: (o) => {
    set(o);
    return true;
  },
});

function intKw(keyword: string, min: number, max: number, set: (o: ServerOptions, v: number) => void): ServerKeyword {
  return {
    args: 1,
    defaultOk: true,
    apply: (o, value, report) => {
      if (!/^[+-]?\d+$/.test(value)) {
        report(`'${keyword}' expects an integer argument${value === '' ? '' : ` (got '${value}')`}.`);
        return false;
      }
      const n = Number(value);
      if (n < min || n > max) {
        report(`'${keyword}' value ${value} is out of range (${min} to ${max}).`);
        return false;
      }
      set(o, n);
      return true;
    },
  };
}

/** A time keyword of the checks (`inter`, `fastinter`, `downinter`): a positive delay. */
function delayKw(keyword: string, set: (o: ServerOptions, v: number) => void): ServerKeyword {
  return {
    args: 1,
    defaultOk: true,
    apply: (o, value, report) => {
      const parsed = parseTime(value);
      if (!parsed.ok || parsed.value === 0) {
        report(`'${keyword}' expects a positive delay in milliseconds (got '${value}').`);
        return false;
      }
      set(o, parsed.value);
      return true;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Run-time resolution (HAProxy's srv_parse_resolvers(), _resolve_*() and srv_parse_init_addr())

/** HAProxy's SRV_MAX_PREF_NET. */
const MAX_RESOLVE_NETS = 5;

/**
 * HAProxy keeps at most 10 init-addr methods (3 bits each in an int); repeats are allowed.
 */
const MAX_INIT_ADDR_METHODS = 10;

/**
 * A comma-separated list as HAProxy cuts it: one trailing comma ends the list, any other empty
 * element is an element (and an error for every keyword that takes a list).
 */
function commaList(text: string): string[] {
  const items = text.split(',');
  if (items.length > 1 && items[items.length - 1] === '') items.pop();
  return items;
}

/** A `resolve-net` network: an IPv4 dotted quad or IPv6 address, with a `/bits` or (IPv4) a netmask. */
function parseResolveNetwork(text: string): IpPattern | null {
  const host = text.includes('/') ? text.slice(0, text.indexOf('/')) : text;
  // HAProxy's str2net()/str62net() take full addresses only ('10/8' is refused).
  if (parseIpv6(host) === null && host.split('.').length !== 4) return null;
  const parsed = parseIpPattern(text);
  return parsed.ok ? parsed.value : null;
}

/** A numeric IPv4 or IPv6 address (port 0: the server's port is added when it is used). */
function numericAddress(text: string): SocketAddress | null {
  if (parseIpv6(text) !== null) return SocketAddress.from('ipv6', text);
  if (text.split('.').length === 4 && parseIpv4(text) !== null) return SocketAddress.from('ipv4', text);
  return null;
}

const resolveKeywords: Readonly<Record<string, ServerKeyword>> = {
  resolvers: {
    args: 1,
    defaultOk: true,
    apply: (o, value, report) => {
      // HAProxy takes a missing id as '' and fails later on "unable to find required resolvers ''".
      if (value === '') {
        report("'resolvers' expects the name of a resolvers section as argument.");
        return false;
      }
      o.resolvers = value;
      return true;
    },
  },
  'resolve-prefer': {
    args: 1,
    defaultOk: true,
    apply: (o, value, report) => {
      if (value !== 'ipv4' && value !== 'ipv6') {
        report("'resolve-prefer' expects either ipv4 or ipv6 as argument.");
        return false;
      }
      o.resolvePrefer = value;
      return true;
    },
  },
  'resolve-net': {
    args: 1,
    defaultOk: true,
    apply: (o, value, report) => {
      if (value === '') {
        report("'resolve-net' expects a list of networks.");
        return false;
      }
      // As HAProxy, the networks add to those already set (by default-server or an earlier
      // resolve-net), up to the limit.
      const networks = [...o.resolveNet];
      for (const item of commaList(value)) {
        if (networks.length >= MAX_RESOLVE_NETS) {
          report(`'resolve-net' exceed ${MAX_RESOLVE_NETS} networks.`);
          return false;
        }
        const network = parseResolveNetwork(item);
        if (network === null) {
          report(`'resolve-net' invalid network '${item}'.`);
          return false;
        }
        networks.push(network);
      }
      o.resolveNet = networks;
      return true;
    },
  },
  'resolve-opts': {
    args: 1,
    defaultOk: true,
    apply: (o, value, report) => {
      const supported = "supported methods are 'allow-dup-ip', 'ignore-weight', and 'prevent-dup-ip'.";
      if (value === '') {
        report(`'resolve-opts' expects a list of options, ${supported}`);
        return false;
      }
      // A new object: the one in hand may be default-server's, shared with earlier servers.
      const options = { ...o.resolveOpts };
      for (const item of commaList(value)) {
        if (item === 'allow-dup-ip') options.allowDupIp = true;
        else if (item === 'prevent-dup-ip') options.allowDupIp = false;
        else if (item === 'ignore-weight') options.ignoreWeight = true;
        else {
          report(`'resolve-opts' : unknown resolve-opts option '${item}', ${supported}`);
          return false;
        }
      }
      o.resolveOpts = options;
      return true;
    },
  },
  'init-addr': {
    args: 1,
    defaultOk: true,
    apply: (o, value, report) => {
      const supported = "supported methods are 'libc', 'last', 'none'.";
      if (value === '') {
        report(`'init-addr' expects a list of methods, ${supported}`);
        return false;
      }
      // Each init-addr replaces the list, default-server's included.
      const methods: InitAddrMethod[] = [];
      let sawAddress = false;
      for (const item of commaList(value)) {
        let method: InitAddrMethod;
        if (item === 'last' || item === 'libc' || item === 'none') {
          method = { kind: item };
        } else {
          const address = numericAddress(item);
          if (address === null) {
            report(`'init-addr' : unknown init-addr method '${item}', ${supported}`);
            return false;
          }
          if (sawAddress) {
            report(`'init-addr' : initial address already specified, cannot add '${item}'.`);
            return false;
          }
          sawAddress = true;
          method = { kind: 'ip', address };
        }
        if (methods.length >= MAX_INIT_ADDR_METHODS) {
          report(`'init-addr' : too many init-addr methods when trying to add '${item}'.`);
          return false;
        }
        methods.push(method);
      }
      o.initAddr = methods;
      return true;
    },
  },
};

/** The supported server options (source is handled apart: it takes a variable number of words). */
export const SERVER_KEYWORDS: Readonly<Record<string, ServerKeyword>> = {
  backup: flagKw((o) => (o.backup = true)),
  check: flagKw((o) => (o.check = true)),
  'check-send-proxy': flagKw((o) => (o.checkSendProxy = true)),
  observe: {
    args: 1,
    defaultOk: true,
    apply: (o, value, report) => {
      if (value === 'layer7') {
        report("'observe layer7' is not supported yet (HTTP mode; epoxy implements mode tcp).");
        return false;
      }
      if (value !== 'layer4' && value !== 'none') {
        report(`'observe' expects one of 'none', 'layer4', 'layer7' but got '${value}'.`);
        return false;
      }
      o.observe = value === 'layer4';
      return true;
    },
  },
  'error-limit': intKw('error-limit', 1, INT_MAX, (o, v) => (o.errorLimit = v)),
  'on-error': {
    args: 1,
    defaultOk: true,
    apply: (o, value, report) => {
      if (value !== 'fastinter' && value !== 'fail-check' && value !== 'sudden-death' && value !== 'mark-down') {
        report(`'on-error' expects one of 'fastinter', 'fail-check', 'sudden-death' or 'mark-down' but got '${value}'.`);
        return false;
      }
      o.onError = value;
      return true;
    },
  },
  disabled: flagKw((o) => (o.disabled = true)),
  enabled: flagKw((o) => (o.disabled = false)),
  fall: intKw('fall', 1, INT_MAX, (o, v) => (o.fall = v)),
  id: {
    args: 1,
    defaultOk: false,
    apply: (o, value, report) => {
      if (value === '') {
        report("'id' : expects an integer argument.");
        return false;
      }
      const n = /^[+-]?\d+$/.test(value) ? Number(value) : NaN;
      if (!(n > 0) || n > INT_MAX) {
        report("'id' : custom id has to be > 0.");
        return false;
      }
      o.id = n;
      return true;
    },
  },
  inter: delayKw('inter', (o, v) => (o.inter = v)),
  fastinter: delayKw('fastinter', (o, v) => (o.fastinter = v)),
  'on-marked-down': {
    args: 1,
    defaultOk: true,
    apply: (o, value, report) => {
      if (value !== 'shutdown-sessions') {
        report(`'on-marked-down' expects 'shutdown-sessions' (got '${value}').`);
        return false;
      }
      o.onMarkedDown = value;
      return true;
    },
  },
  'on-marked-up': {
    args: 1,
    defaultOk: true,
    apply: (o, value, report) => {
      if (value !== 'shutdown-backup-sessions') {
        report(`'on-marked-up' expects 'shutdown-backup-sessions' (got '${value}').`);
        return false;
      }
      o.onMarkedUp = value;
      return true;
    },
  },
  slowstart: {
    args: 1,
    defaultOk: true,
    apply: (o, value, report) => {
      const parsed = parseTime(value);
      if (!parsed.ok) {
        report(`'slowstart' expects a delay (got '${value}').`);
        return false;
      }
      o.slowstart = parsed.value;
      return true;
    },
  },
  downinter: delayKw('downinter', (o, v) => (o.downinter = v)),
  port: intKw('port', 1, 65535, (o, v) => (o.checkPort = v)),
  addr: {
    args: 1,
    defaultOk: true,
    apply: (o, value, report) => {
      if (parseIpv4(value) === null && parseIpv6(value) === null) {
        report(`'addr' expects an IPv4 or IPv6 address (got '${value}').`);
        return false;
      }
      o.checkAddr = value;
      return true;
    },
  },
  maxconn: intKw('maxconn', 0, INT_MAX, (o, v) => (o.maxconn = v)),
  maxqueue: intKw('maxqueue', 0, INT_MAX, (o, v) => (o.maxqueue = v)),
  'no-backup': flagKw((o) => (o.backup = false)),
  'no-check': flagKw((o) => (o.check = false)),
  'no-send-proxy': flagKw((o) => {
    if (o.sendProxy === 'v1') o.sendProxy = null;
  }),
  'no-send-proxy-v2': flagKw((o) => {
    if (o.sendProxy === 'v2') o.sendProxy = null;
  }),
  rise: intKw('rise', 1, INT_MAX, (o, v) => (o.rise = v)),
  'send-proxy': flagKw((o) => (o.sendProxy = o.sendProxy === 'v2' ? 'v2' : 'v1')),
  'send-proxy-v2': flagKw((o) => (o.sendProxy = 'v2')),
  tfo: flagKw((o) => (o.tfo = true)),
  'no-tfo': flagKw((o) => (o.tfo = false)),
  weight: {
    args: 1,
    defaultOk: true,
    apply: (o, value, report, name) => {
      if (!/^[+-]?\d+$/.test(value)) {
        report(`'weight' expects an integer argument${value === '' ? '' : ` (got '${value}')`}.`);
        return false;
      }
      const w = Number(value);
      if (w < 0 || w > MAX_WEIGHT) {
        report(`weight of server ${name} is not within 0 and ${MAX_WEIGHT} (${value}).`);
        return false;
      }
      o.weight = w;
      return true;
    },
  },
  ...resolveKeywords,
};

/** Names of the supported server options, `source` included. */
export const SUPPORTED_SERVER_KEYWORDS: readonly string[] = [...Object.keys(SERVER_KEYWORDS), 'source'].sort();

/**
 * Parses the options of a `server` or `default-server` line from word `start` into `options`.
 * Returns false when an error was reported (HAProxy stops at the first bad option).
 */
function parseServerOptions(
  ctx: LineContext,
  start: number,
  options: ServerOptions & { id?: number | null },
  name: string,
  subject: string | undefined,
  isDefault: boolean,
): boolean {
  const report = (keyword: string) => (reason: string) => ctx.alert(reason, keyword, 'object', subject);
  let sawSendProxy: string | null = null;
  let i = start;
  while (i < ctx.words.length) {
    const word = ctx.arg(i);
    if (word === 'source') {
      const parsed = parseSource(ctx, i, { subject });
      if (parsed === null) return false;
      options.source = parsed.source;
      options.origin.source = ctx.where;
      i = parsed.next;
      continue;
    }
    if (word === 'usesrc') {
      report(word)("'usesrc' only allowed after a 'source' statement.");
      return false;
    }
    const keyword = SERVER_KEYWORDS[word];
    if (keyword === undefined) {
      const refusal = UNSUPPORTED_SERVER[word];
      if (refusal !== undefined) {
        report(word)(`${refusalText(word, refusal)}.`);
      } else {
        const best = closest(word, [...SUPPORTED_SERVER_KEYWORDS, ...Object.keys(UNSUPPORTED_SERVER)]);
        const hint = isDefault ? ' Hint: no address was expected for this server.' : '';
        report(word)(best === null ? `unknown keyword '${word}'.${hint}` : `unknown keyword '${word}'; did you mean '${best}' maybe ?${hint}`);
      }
      return false;
    }
    if (isDefault && !keyword.defaultOk) {
      report(word)(`'${word}' option is not accepted in default-server sections`);
      return false;
    }
    const value = keyword.args === 1 ? ctx.arg(i + 1) : '';
    if (!keyword.apply(options, value, report(word), name)) return false;
    if (word === 'send-proxy' || word === 'send-proxy-v2') {
      if (sawSendProxy !== null && sawSendProxy !== word) {
        ctx.warn(`'send-proxy' and 'send-proxy-v2' are both set: PROXY protocol v2 is sent.`, word, 'object', subject);
      }
      sawSendProxy = word;
    }
    options.origin[word.replace(/^no-/, '').replace(/^enabled$/, 'disabled')] = ctx.where;
    i += 1 + keyword.args;
  }
  return true;
}

/** `server <name> <address> [options]`; returns the server or null after reporting. */
export function parseServerLine(ctx: LineContext, proxyName: string, defaults: ServerOptions): ServerConfig | null {
  const name = ctx.arg(1);
  if (ctx.arg(2) === '') {
    ctx.alert("'server' expects <name> and <addr>[:<port>] as arguments.", 'server', 'object');
    return null;
  }
  const bad = invalidNameChar(name);
  if (bad !== null) {
    ctx.alert(`character '${bad}' is not permitted in server name '${name}'.`, 'server', 'object');
    return null;
  }
  const subject = `'server ${proxyName}/${name}'`;
  const address = parseServerAddress(ctx.arg(2));
  if (!address.ok) {
    ctx.alert(address.reason, 'server', 'object', subject);
    return null;
  }
  const server: ServerConfig = {
    ...defaults,
    origin: { ...defaults.origin },
    name,
    address: address.value,
    id: null,
    template: null,
    where: ctx.where,
  };
  if (!parseServerOptions(ctx, 3, server, name, subject, false)) return null;
  return server;
}

/**
 * Most servers one `server-template` line may make. HAProxy has no bound; without one, a typo
 * (`1-1000000000`) would build a billion servers before anything could say so.
 */
export const MAX_TEMPLATE_SLOTS = 10_000;

/** `<num>` (slots 1 to num) or `<low>-<high>`, as HAProxy's _srv_parse_tmpl_range() reads it, digits only. */
function parseTemplateRange(text: string): { low: number; high: number } | null {
  const match = /^(\d{1,10})(?:-(\d{1,10}))?$/.exec(text);
  if (!match) return null;
  const first = Number(match[1]);
  const low = match[2] === undefined ? 1 : first;
  const high = match[2] === undefined ? first : Number(match[2]);
  if (high < low || high > INT_MAX) return null;
  return { low, high };
}

/**
 * `server-template <prefix> <num | low-high> <fqdn>[:<port>] [options]`: one server per slot,
 * named prefix + slot number, each with the line's address and options over default-server's.
 * Returns the servers, or null after reporting.
 */
export function parseServerTemplateLine(ctx: LineContext, proxyName: string, defaults: ServerOptions): ServerConfig[] | null {
  if (ctx.arg(3) === '') {
    ctx.alert("'server-template' expects <prefix> <nb | range> <addr>[:<port>] as arguments.", 'server-template', 'object');
    return null;
  }
  const prefix = ctx.arg(1);
  // HAProxy's invalid_prefix_char(): a server name's characters, ':' excepted.
  const bad = [...prefix].find((c) => !/[A-Za-z0-9_.-]/.test(c));
  if (bad !== undefined) {
    ctx.alert(`character '${bad}' is not permitted in server-template prefix '${prefix}'.`, 'server-template', 'object');
    return null;
  }
  const range = parseTemplateRange(ctx.arg(2));
  if (range === null) {
    ctx.alert(`Wrong server-template number or range arg '${ctx.arg(2)}'.`, 'server-template', 'object');
    return null;
  }
  if (range.high - range.low + 1 > MAX_TEMPLATE_SLOTS) {
    ctx.alert(`'server-template' : at most ${MAX_TEMPLATE_SLOTS} servers per template (got '${ctx.arg(2)}').`, 'server-template', 'object');
    return null;
  }
  // HAProxy names the object 'server be/(null)' in these messages: the slots have no name yet.
  const subject = `'server-template ${proxyName}/${prefix}'`;
  const address = parseServerAddress(ctx.arg(3));
  if (!address.ok) {
    ctx.alert(address.reason, 'server-template', 'object', subject);
    return null;
  }
  const first: ServerConfig = {
    ...defaults,
    origin: { ...defaults.origin },
    name: `${prefix}${range.low}`,
    address: address.value,
    id: null,
    template: { prefix, slot: range.low },
    where: ctx.where,
  };
  if (!parseServerOptions(ctx, 4, first, first.name, subject, false)) return null;
  const servers = [first];
  for (let slot = range.low + 1; slot <= range.high; slot++) {
    // HAProxy copies every setting to the other slots but the `id`, which only the first keeps.
    servers.push({ ...first, origin: { ...first.origin }, name: `${prefix}${slot}`, id: null, template: { prefix, slot } });
  }
  return servers;
}

/** `default-server [options]`: updates `defaults` in place (only when every option is valid). */
export function parseDefaultServerLine(ctx: LineContext, defaults: ServerOptions): void {
  const copy: ServerOptions = { ...defaults, origin: { ...defaults.origin } };
  if (!parseServerOptions(ctx, 1, copy, '', undefined, true)) return;
  Object.assign(defaults, copy);
}
