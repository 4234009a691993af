/**
 * Parsing one HAProxy `bind` line — its words after the `bind` keyword — into a BindConf and one
 * socket address per listener to create:
 *
 *   parseBindLine(['0.0.0.0:8000-8002', 'transparent', 'backlog', '1024', 'mss', '-40'])
 *
 * The first word is the address list: comma-separated entries, each an IPv4/IPv6 address with a
 * port or a port range (`ip:port`, `[v6]:port`, `:port`, `*:port`, `ipv4@`/`ipv6@` prefixes), or
 * a unix socket (`/path`, `unix@path`, `abns@name`). The options follow, in any order; a repeated
 * option takes its last value. Semantics follow HAProxy 2.6's configuration manual, section 5.1.
 *
 * Errors are BindOptionError, naming the keyword; the config parser adds file:line.
 */
import { readFileSync } from 'node:fs';
import { SocketAddress } from '../address.js';
import { EpoxyError, ErrorCodes } from '../errors.js';
import type { BindConf, ParsedBind } from './listener-types.js';

/** Where network namespaces made by `ip netns add` live; `namespace <name>` is a file there. */
export const NETNS_DIR = '/var/run/netns';

/** TCP_USER_TIMEOUT is an int of milliseconds. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** A `bind` line the parser refuses. `keyword` is the option at fault, 'bind' for the address. */
export class BindOptionError extends EpoxyError {
  /** The option at fault ('backlog', 'defer-acept'), or 'bind' when the address word is. */
  readonly keyword: string;
  /** The argument at fault, when there is one. */
  readonly argument: string | undefined;

  constructor(message: string, keyword: string, argument?: string) {
    super(message, ErrorCodes.INVALID_ARG);
    this.name = 'BindOptionError';
    this.keyword = keyword;
    this.argument = argument;
  }
}

/** A BindConf with every option unset. */
export function defaultBindConf(addressText = ''): BindConf {
  return {
    addressText,
    name: null,
    id: null,
    backlog: 0,
    maxconn: 0,
    transparent: false,
    freebind: false,
    deferAccept: false,
    tfo: false,
    v4v6: false,
    v6only: false,
    noLinger: false,
    noReusePort: false,
    acceptProxy: false,
    interface: null,
    mss: 0,
    tcpUserTimeout: 0,
    namespace: null,
    namespacePath: null,
    unix: { mode: null, uid: null, gid: null },
  };
}

// ---------------------------------------------------------------------------------------------
// Option table

interface Keyword {
  /** Number of arguments after the keyword (0 or 1 for every bind option). */
  args: 0 | 1;
  apply(conf: BindConf, arg: string, keyword: string): void;
}

function flag(set: (conf: BindConf) => void): Keyword {
  return { args: 0, apply: (conf) => set(conf) };
}

function withArg(apply: (conf: BindConf, arg: string, keyword: string) => void): Keyword {
  return { args: 1, apply };
}

/** A decimal integer in [min, max], or a BindOptionError naming the keyword. */
function integerArg(keyword: string, text: string, min: number, max: number): number {
  if (!/^[+-]?\d+$/.test(text)) {
    throw new BindOptionError(`'${keyword}' expects an integer argument, got '${text}'`, keyword, text);
  }
  const value = Number(text);
  if (value < min || value > max) {
    throw new BindOptionError(`'${keyword}' value ${text} is out of range (${min} to ${max})`, keyword, text);
  }
  return value;
}

const TIME_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** HAProxy's time format: a number with an optional unit, milliseconds by default. */
export function parseTimeMs(keyword: string, text: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(text);
  if (!match) {
    throw new BindOptionError(
      `'${keyword}' expects a time such as 500, 30s or 2m (units: ms, s, m, h, d; ms by default), got '${text}'`,
      keyword,
      text,
    );
  }
  const ms = Number(match[1]) * TIME_UNITS[match[2] ?? 'ms']!;
  if (ms > MAX_TIMEOUT_MS) {
    throw new BindOptionError(`'${keyword}' value ${text} is too large (at most ${MAX_TIMEOUT_MS} ms)`, keyword, text);
  }
  return ms;
}

/** Looks `name` up in a passwd(5)/group(5)-format file: the third field of its line. */
function lookupId(file: string, name: string): number | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && fields[2] !== undefined && /^\d+$/.test(fields[2])) return Number(fields[2]);
  }
  return null;
}

/** The supported options. */
const KEYWORDS: Record<string, Keyword> = {
  'accept-proxy': flag((c) => (c.acceptProxy = true)),
  backlog: withArg((c, arg, kw) => (c.backlog = integerArg(kw, arg, 0, 2 ** 31 - 1))),
  'defer-accept': flag((c) => (c.deferAccept = true)),
  freebind: flag((c) => (c.freebind = true)),
  gid: withArg((c, arg, kw) => (c.unix.gid = integerArg(kw, arg, 0, 2 ** 32 - 2))),
  group: withArg((c, arg, kw) => {
    const gid = lookupId('/etc/group', arg);
    if (gid === null) throw new BindOptionError(`'${kw}': unknown group '${arg}'`, kw, arg);
    c.unix.gid = gid;
  }),
  id: withArg((c, arg, kw) => (c.id = integerArg(kw, arg, 1, 2 ** 31 - 1))),
  interface: withArg((c, arg, kw) => {
    // IFNAMSIZ is 16 with the terminating NUL.
    if (arg.length === 0 || arg.length > 15 || arg.includes('/')) {
      throw new BindOptionError(`'${kw}' expects an interface name of 1 to 15 characters, got '${arg}'`, kw, arg);
    }
    c.interface = arg;
  }),
  maxconn: withArg((c, arg, kw) => (c.maxconn = integerArg(kw, arg, 0, 2 ** 31 - 1))),
  mode: withArg((c, arg, kw) => {
    if (!/^[0-7]{1,4}$/.test(arg)) {
      throw new BindOptionError(`'${kw}' expects an octal mode such as 600 or 0660, got '${arg}'`, kw, arg);
    }
    c.unix.mode = parseInt(arg, 8);
  }),
  mss: withArg((c, arg, kw) => {
    const mss = integerArg(kw, arg, -65535, 65535);
    if (mss === 0) throw new BindOptionError(`'${kw}' expects an MSS whose absolute value is 1 to 65535, got 0`, kw, arg);
    c.mss = mss;
  }),
  name: withArg((c, arg) => (c.name = arg)),
  namespace: withArg((c, arg, kw) => {
    if (arg.length === 0 || arg.includes('/') || arg === '.' || arg === '..') {
      throw new BindOptionError(`'${kw}' expects a namespace name (a file of ${NETNS_DIR}), got '${arg}'`, kw, arg);
    }
    c.namespace = arg;
    c.namespacePath = `${NETNS_DIR}/${arg}`;
  }),
  nolinger: flag((c) => (c.noLinger = true)),
  noreuseport: flag((c) => (c.noReusePort = true)),
  'tcp-ut': withArg((c, arg, kw) => (c.tcpUserTimeout = parseTimeMs(kw, arg))),
  tfo: flag((c) => (c.tfo = true)),
  transparent: flag((c) => (c.transparent = true)),
  uid: withArg((c, arg, kw) => (c.unix.uid = integerArg(kw, arg, 0, 2 ** 32 - 2))),
  user: withArg((c, arg, kw) => {
    const uid = lookupId('/etc/passwd', arg);
    if (uid === null) throw new BindOptionError(`'${kw}': unknown user '${arg}'`, kw, arg);
    c.unix.uid = uid;
  }),
  v4v6: flag((c) => (c.v4v6 = true)),
  v6only: flag((c) => (c.v6only = true)),
};

/** HAProxy 2.6 bind keywords epoxy knows but does not implement (SSL, QUIC, threads, CLI...). */
const UNSUPPORTED = new Set([
  'accept-netscaler-cip',
  'allow-0rtt',
  'alpn',
  'ca-file',
  'ca-ignore-err',
  'ca-sign-file',
  'ca-sign-pass',
  'ca-verify-file',
  'ciphers',
  'ciphersuites',
  'crl-file',
  'crt',
  'crt-ignore-err',
  'crt-list',
  'curves',
  'ecdhe',
  'expose-fd',
  'force-sslv3',
  'force-tlsv10',
  'force-tlsv11',
  'force-tlsv12',
  'force-tlsv13',
  'generate-certificates',
  'level',
  'nice',
  'no-ca-names',
  'no-sslv3',
  'no-tls-tickets',
  'no-tlsv10',
  'no-tlsv11',
  'no-tlsv12',
  'no-tlsv13',
  'npn',
  'prefer-client-ciphers',
  'process',
  'proto',
  'quic-cc-algo',
  'quic-force-retry',
  'severity-output',
  'shards',
  'ssl',
  'ssl-max-ver',
  'ssl-min-ver',
  'strict-sni',
  'thread',
  'tls-ticket-keys',
  'verify',
]);

/** Names of the options parseBindLine() accepts. */
export const SUPPORTED_BIND_KEYWORDS: readonly string[] = Object.keys(KEYWORDS).sort();
/** Names of HAProxy bind options refused as "not supported yet". */
export const UNSUPPORTED_BIND_KEYWORDS: readonly string[] = [...UNSUPPORTED].sort();

// ---------------------------------------------------------------------------------------------
// Suggestions

/** Optimal string alignment distance: Levenshtein plus swapping two adjacent characters. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j]!;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      d[i * cols + j] = best;
    }
  }
  return at(a.length, b.length);
}

/**
 * The candidate closest to `word`, if close enough to be a typo: at most a third of the word's
 * length in edits (at least one). Candidates come first-wins on ties, so supported keywords
 * should be listed first. A candidate whose length alone is further than that from the word's
 * is not measured: the distance is at least the difference in length, and measuring a long
 * token (a 1 MB "keyword") against every candidate costs time and memory in its length.
 */
export function closest(word: string, candidates: Iterable<string>): string | null {
  const limit = Math.max(1, Math.floor(word.length / 3));
  let best: string | null = null;
  let bestDistance = Infinity;
  const lower = word.toLowerCase();
  for (const candidate of candidates) {
    if (candidate === word) continue;
    if (Math.abs(candidate.length - word.length) > Math.min(limit, bestDistance - 1)) continue;
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= limit ? best : null;
}

/** The known bind keyword closest to `word`, if close enough to be a typo (see closest()). */
export function suggestKeyword(word: string): string | null {
  const known = [...SUPPORTED_BIND_KEYWORDS, ...UNSUPPORTED_BIND_KEYWORDS];
  const lower = word.toLowerCase();
  // A known keyword in another case is that keyword (closest() only looks for other words).
  return known.includes(lower) ? lower : closest(word, known);
}

// ---------------------------------------------------------------------------------------------
// Addresses

/** Address prefixes of HAProxy that epoxy does not implement. */
const UNSUPPORTED_PREFIXES = new Set(['fd', 'sockpair', 'udp', 'udp4', 'udp6', 'quic4', 'quic6', 'uxst', 'uxdg', 'tcp', 'tcp4', 'tcp6']);

function addressError(entry: string, why: string): BindOptionError {
  return new BindOptionError(`bind address '${entry}': ${why}`, 'bind', entry);
}

function parseOne(text: string, entry: string, hint = ''): SocketAddress {
  try {
    return SocketAddress.parse(text);
  } catch (error) {
    throw addressError(entry, `${(error as Error).message}${hint}`);
  }
}

/**
 * One entry of the address list: one address, or one per port of a range. The port is searched
 * as HAProxy does, after the last ':' that follows any ']', and is mandatory for TCP.
 */
function parseAddressEntry(entry: string): SocketAddress[] {
  const prefix = /^([a-z0-9]+)@/.exec(entry)?.[1];
  if (prefix !== undefined && UNSUPPORTED_PREFIXES.has(prefix)) {
    throw addressError(entry, `address prefix '${prefix}@' is not supported yet`);
  }
  if (prefix === 'unix' || prefix === 'abns' || (prefix === undefined && entry.startsWith('/'))) {
    if (entry.slice(prefix === undefined ? 0 : prefix.length + 1).length === 0) throw addressError(entry, 'empty socket path');
    return [parseOne(entry, entry)];
  }
  if (prefix !== undefined && prefix !== 'ipv4' && prefix !== 'ipv6') {
    throw addressError(entry, `unknown address prefix '${prefix}@'`);
  }

  const body = prefix === undefined ? entry : entry.slice(prefix.length + 1);
  const close = body.lastIndexOf(']');
  const colon = body.lastIndexOf(':');
  if (colon < 0 || colon < close) throw addressError(entry, `missing port specification in '${entry}'`);
  const host = body.slice(0, colon);
  const portText = body.slice(colon + 1);
  const range = /^(\d+)(?:-(\d+))?$/.exec(portText);
  if (!range) throw addressError(entry, `invalid port '${portText}'`);
  const low = Number(range[1]);
  const high = range[2] === undefined ? low : Number(range[2]);
  if (low < 1 || low > 65535) throw addressError(entry, `invalid port '${range[1]}'`);
  if (high < 1 || high > 65535) throw addressError(entry, `invalid port '${range[2] ?? ''}'`);
  if (low > high) throw addressError(entry, `invalid port range '${low}-${high}'`);

  // An IPv6 address always has a ':', so letters without one can only be a host name.
  const hint = !host.includes(':') && /[a-z]/i.test(host) ? ' (host names are not resolved: write a numeric address)' : '';
  const first = parseOne(`${prefix === undefined ? '' : `${prefix}@`}${host}:${low}`, entry, hint);
  const addresses = [first];
  for (let port = low + 1; port <= high; port++) addresses.push(first.withPort(port));
  return addresses;
}

/** All the addresses of a `bind` line's first word. */
export function parseBindAddresses(text: string): SocketAddress[] {
  if (text.length === 0) throw new BindOptionError("'bind' expects an address", 'bind');
  const addresses: SocketAddress[] = [];
  for (const entry of text.split(',')) {
    if (entry.length === 0) throw addressError(text, 'empty entry in the address list');
    addresses.push(...parseAddressEntry(entry));
  }
  return addresses;
}

// ---------------------------------------------------------------------------------------------
// The line

/**
 * Parses the words of a `bind` line, without the `bind` keyword itself. Throws BindOptionError
 * for the first problem found.
 */
export function parseBindLine(words: readonly string[]): ParsedBind {
  const addressText = words[0];
  if (addressText === undefined) throw new BindOptionError("'bind' expects an address", 'bind');
  const addresses = parseBindAddresses(addressText);
  const bind = parseBindOptions(words.slice(1), addressText);
  if (bind.id !== null && addresses.length > 1) {
    throw new BindOptionError(
      `'id' can only be used when the bind line defines a single socket (this one defines ${addresses.length})`,
      'id',
      String(bind.id),
    );
  }
  return { bind, addresses };
}

/** Parses the options of a `bind` line (the words after its address) into a BindConf. */
export function parseBindOptions(words: readonly string[], addressText = ''): BindConf {
  const bind = defaultBindConf(addressText);
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    const keyword = KEYWORDS[word];
    if (keyword === undefined) {
      if (UNSUPPORTED.has(word)) throw new BindOptionError(`bind option '${word}' is not supported yet`, word);
      const suggestion = suggestKeyword(word);
      throw new BindOptionError(
        `unknown bind option '${word}'${suggestion === null ? '' : `; did you mean '${suggestion}'?`}`,
        word,
      );
    }
    let arg = '';
    if (keyword.args === 1) {
      const next = words[i + 1];
      if (next === undefined || next.length === 0) throw new BindOptionError(missingArgument(word), word);
      arg = next;
      i++;
    }
    keyword.apply(bind, arg, word);
  }
  return bind;
}

/** "'backlog' expects an integer argument" and its siblings. */
function missingArgument(keyword: string): string {
  switch (keyword) {
    case 'backlog':
    case 'maxconn':
    case 'id':
    case 'uid':
    case 'gid':
      return `'${keyword}' expects an integer argument`;
    case 'mss':
      return `'${keyword}' expects an MSS (a positive value sets it, a negative one reduces it)`;
    case 'mode':
      return `'${keyword}' expects an octal mode argument`;
    case 'tcp-ut':
      return `'${keyword}' expects a time argument (ms by default)`;
    case 'user':
      return `'${keyword}' expects a user name`;
    case 'group':
      return `'${keyword}' expects a group name`;
    case 'interface':
      return `'${keyword}' expects an interface name`;
    case 'namespace':
      return `'${keyword}' expects a namespace name`;
    default:
      return `'${keyword}' expects an argument`;
  }
}
