/**
 * The `resolvers` section (HAProxy 2.6's cfg_parse_resolvers() and parse_resolve_conf(), in
 * resolvers.c): the nameservers and timers of run-time name resolution, UDP only.
 *
 *   resolvers dns
 *       nameserver ns1 10.0.0.1:53
 *       parse-resolv-conf
 *       hold valid 10s
 *       resolve_retries 3
 *       timeout resolve 1s
 *       timeout retry 1s
 *       accepted_payload_size 4096
 *
 * Messages follow HAProxy's wording (observed with haproxy -c, 2.6.12). Where HAProxy takes a
 * value it should not (a trailing word, `resolve_retries 0`, a zero timeout, a payload size
 * below the 512 bytes RFC 6891 sets as the minimum), epoxy refuses it.
 */
import { SocketAddress } from '../address.js';
import { invalidNameChar } from './acl.js';
import { didYouMean, type LineContext } from './context.js';
import { MAX_PATTERN_FILE_BYTES, readBoundedFile } from './files.js';
import { defaultResolverHolds, type NameserverConfig, type ResolverHolds, type ResolversConfig, type Where } from './model.js';
import { splitHostPort } from './server.js';
import { MAX_TIME_MS, parseIpv4, parseIpv6, parseTime, type Parsed } from './values.js';

/** Where `parse-resolv-conf` reads nameservers, as HAProxy (and the libc resolver) do. */
export const RESOLV_CONF = '/etc/resolv.conf';

/** HAProxy's DNS_MAX_UDP_MESSAGE; the lower bound is RFC 6891's (HAProxy itself takes 12). */
const MIN_PAYLOAD_SIZE = 512;
const MAX_PAYLOAD_SIZE = 65535;
const DEFAULT_PAYLOAD_SIZE = 512;
const DNS_PORT = 53;

const INT_MAX = 2 ** 31 - 1;

const HOLD_EVENTS: readonly (keyof ResolverHolds)[] = ['nx', 'refused', 'timeout', 'other', 'valid', 'obsolete'];

/** Keywords of the section, for "unknown keyword" messages and the docs test. */
export const SUPPORTED_RESOLVERS_KEYWORDS: readonly string[] = [
  'accepted_payload_size',
  'hold',
  'nameserver',
  'parse-resolv-conf',
  'resolve_retries',
  'timeout',
];

/** A new section with HAProxy 2.6's defaults (resolvers_new()). */
export function newResolvers(name: string, where: Where): ResolversConfig {
  return {
    name,
    nameservers: [],
    hold: defaultResolverHolds(),
    resolveRetries: 3,
    timeoutResolve: 1000,
    timeoutRetry: 1000,
    acceptedPayloadSize: DEFAULT_PAYLOAD_SIZE,
    where,
  };
}

/** Reads a file for the parser: the configured reader, or a bounded read of a regular file. */
export type FileReader = ((path: string) => string) | undefined;

function readResolvConf(reader: FileReader): string {
  return (reader ?? ((path: string) => readBoundedFile(path, MAX_PATTERN_FILE_BYTES)))(RESOLV_CONF);
}

/** Parses one line of a resolvers section into `section`. */
export function parseResolversLine(ctx: LineContext, section: ResolversConfig): void {
  switch (ctx.keyword) {
    case 'nameserver':
      parseNameserver(ctx, section);
      return;
    case 'parse-resolv-conf':
      parseResolvConfLine(ctx, section);
      return;
    case 'hold':
      parseHold(ctx, section);
      return;
    case 'resolve_retries':
      parseResolveRetries(ctx, section);
      return;
    case 'timeout':
      parseResolversTimeout(ctx, section);
      return;
    case 'accepted_payload_size':
      parseAcceptedPayloadSize(ctx, section);
      return;
    case 'resolution_pool_size':
      ctx.alert("'resolution_pool_size' directive is not supported anymore (it never appeared in a stable release).");
      return;
    default:
      // HAProxy 2.6 (no final period, no suggestion): "parsing [x.cfg:8] : unknown keyword 'foo' in 'resolvers' section"
      ctx.alert(`unknown keyword '${ctx.keyword}' in 'resolvers' section${didYouMean(ctx.keyword, SUPPORTED_RESOLVERS_KEYWORDS)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// nameserver

/** Address prefixes of datagram sockets HAProxy takes for a nameserver, with the family they force. */
const UDP_PREFIXES: Readonly<Record<string, 'ipv4' | 'ipv6' | null>> = {
  udp: null,
  udp4: 'ipv4',
  udp6: 'ipv6',
  ipv4: 'ipv4',
  ipv6: 'ipv6',
};
const TCP_PREFIXES = new Set(['tcp', 'tcp4', 'tcp6']);

function parseNameserver(ctx: LineContext, section: ResolversConfig): void {
  const name = ctx.arg(1);
  const text = ctx.arg(2);
  if (text === '') {
    ctx.alert("'nameserver' expects <name> and <addr>[:<port>] as arguments.");
    return;
  }
  const bad = invalidNameChar(name);
  if (bad !== null) {
    ctx.alert(`character '${bad}' is not permitted in server name '${name}'.`);
    return;
  }
  const clash = section.nameservers.find((ns) => ns.name === name);
  if (clash !== undefined) {
    ctx.alert(
      `Parsing [${ctx.where.file}:${ctx.where.line}]: nameserver '${name}' has same name as another nameserver (declared at ${clash.where.file}:${clash.where.line}).`,
      'nameserver',
      'plain',
    );
    return;
  }
  const address = parseNameserverAddress(text);
  if (!address.ok) {
    ctx.alert(`'nameserver ${name}' : ${address.reason}`);
    return;
  }
  // HAProxy reads server options after a TCP nameserver's address; a UDP one has none.
  if (ctx.tooMany(2)) return;
  section.nameservers.push({ name, address: address.value, where: ctx.where });
}

/** `[udp@|udp4@|udp6@|ipv4@|ipv6@]<ip>:<port>`, the port mandatory (as HAProxy 2.6 wants it). */
export function parseNameserverAddress(text: string): Parsed<SocketAddress> {
  let body = text;
  let family: 'ipv4' | 'ipv6' | null = null;
  const prefix = /^([a-z0-9]+)@/.exec(text)?.[1];
  if (prefix !== undefined) {
    if (TCP_PREFIXES.has(prefix)) {
      return { ok: false, reason: `'${text}' is a TCP address: only UDP nameservers are supported (TCP nameservers are not supported yet).` };
    }
    if (!(prefix in UDP_PREFIXES)) {
      return { ok: false, reason: `address prefix '${prefix}@' is not supported for a nameserver in '${text}': only UDP nameservers (IPv4 or IPv6) are supported.` };
    }
    family = UDP_PREFIXES[prefix]!;
    body = text.slice(prefix.length + 1);
  }
  const { host, port } = splitHostPort(body);
  // HAProxy 2.6's wordings (str2sa_range).
  if (port === null || port === '') return { ok: false, reason: `missing port specification in '${text}'` };
  if (/^[+-]/.test(port)) return { ok: false, reason: `port offset not permitted here in '${text}'` };
  if (port.includes('-')) return { ok: false, reason: `port range not permitted here in '${text}'` };
  const badChar = /[^0-9]/.exec(port);
  if (badChar !== null) return { ok: false, reason: `invalid character '${badChar[0]}' in port number '${port}' in '${text}'` };
  const portNumber = Number(port);
  if (port.length > 5 || portNumber < 1 || portNumber > 65535) return { ok: false, reason: `invalid port '${port}'` };

  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  // An empty host is INADDR_ANY, as HAProxy takes it.
  const hostFamily = bare === '' ? 'ipv4' : parseIpv6(bare) !== null ? 'ipv6' : bare.split('.').length === 4 && parseIpv4(bare) !== null ? 'ipv4' : null;
  if (hostFamily === null) {
    // HAProxy resolves a host name here, once, with the libc; epoxy does not resolve names while parsing.
    return { ok: false, reason: `invalid address: '${bare}' in '${text}' (host names are not resolved in 'nameserver': write an address)` };
  }
  if (family !== null && family !== hostFamily) {
    return { ok: false, reason: `invalid address: '${bare}' in '${text}' (not an ${family === 'ipv4' ? 'IPv4' : 'IPv6'} address)` };
  }
  return { ok: true, value: SocketAddress.from(hostFamily, bare === '' ? '0.0.0.0' : bare, portNumber) };
}

// ---------------------------------------------------------------------------------------------
// parse-resolv-conf

function parseResolvConfLine(ctx: LineContext, section: ResolversConfig): void {
  if (ctx.tooMany(0)) return;
  let text: string;
  try {
    text = readResolvConf(ctx.readPatternFile);
  } catch {
    ctx.alert(`failed to open ${RESOLV_CONF}.`, 'parse-resolv-conf', 'line');
    return;
  }
  const { nameservers, problems } = nameserversFromResolvConf(text, section.nameservers);
  section.nameservers.push(...nameservers);
  // HAProxy gathers the problems into one indented warning; one warning each says the same.
  for (const problem of problems) ctx.warn(problem, 'parse-resolv-conf', 'line');
}

/**
 * The `nameserver` lines of a resolv.conf text, as HAProxy reads them: the line must start with
 * the word (no leading blank), the first word after it is the address and the nameserver's name,
 * port 53. A name already taken (by `existing` or an earlier line) or an address that is not
 * numeric excludes the line with a warning (HAProxy's wording, in `problems`).
 */
export function nameserversFromResolvConf(text: string, existing: readonly NameserverConfig[]): { nameservers: NameserverConfig[]; problems: string[] } {
  const nameservers: NameserverConfig[] = [];
  const problems: string[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!;
    const number = index + 1;
    if (!line.startsWith('nameserver')) continue;
    const rest = line.slice('nameserver'.length);
    // 'nameservers 1.2.3.4' is another word.
    if (rest !== '' && !/^[\r\t ]/.test(rest)) continue;
    const address = rest.split(/[\r\t ]+/).find((word) => word !== '');
    if (address === undefined) {
      problems.push(`parsing [${RESOLV_CONF}:${number}] : nameserver line is missing address.`);
      continue;
    }
    const clash = [...existing, ...nameservers].find((ns) => ns.name === address);
    if (clash !== undefined) {
      problems.push(
        `Parsing [${RESOLV_CONF}:${number}] : generated name for ${RESOLV_CONF} nameserver '${address}' conflicts with another nameserver ` +
          `(declared at ${clash.where.file}:${clash.where.line}), it appears to be a duplicate and will be excluded.`,
      );
      continue;
    }
    const family = parseIpv6(address) !== null ? 'ipv6' : address.split('.').length === 4 && parseIpv4(address) !== null ? 'ipv4' : null;
    if (family === null) {
      problems.push(`parsing [${RESOLV_CONF}:${number}] : address '${address}' could not be recognized, nameserver will be excluded.`);
      continue;
    }
    nameservers.push({ name: address, address: SocketAddress.from(family, address, DNS_PORT), where: { file: RESOLV_CONF, line: number, column: 1 } });
  }
  return { nameservers, problems };
}

/**
 * HAProxy's implicit `default` section (resolvers_create_default()): made when the configuration
 * has none, from /etc/resolv.conf, silently, even when the file cannot be read.
 */
export function implicitDefaultResolvers(reader: FileReader): ResolversConfig {
  const section = newResolvers('default', { file: '<internal>', line: 0, column: 0 });
  let text = '';
  try {
    text = readResolvConf(reader);
  } catch {
    // As HAProxy: no section content, no message (check.ts warns that it has no nameserver).
  }
  section.nameservers.push(...nameserversFromResolvConf(text, []).nameservers);
  return section;
}

// ---------------------------------------------------------------------------------------------
// hold, resolve_retries, timeout, accepted_payload_size

/** A time argument, with HAProxy's messages for this section (`what`: the keyword, as HAProxy names it). */
function timeArgument(ctx: LineContext, index: number, what: string, overflowArgument: string): number | null {
  const text = ctx.arg(index);
  const parsed = parseTime(text);
  if (parsed.ok) return parsed.value;
  const error = parsed.error;
  if (error.kind === 'over') {
    ctx.alert(`timer overflow in argument <${overflowArgument}> to <${what}>, maximum value is ${MAX_TIME_MS} ms (~24.8 days).`, what, 'line');
  } else if (error.kind === 'under') {
    ctx.alert(`timer underflow in argument <${overflowArgument}> to <${what}>, minimum non-null value is 1 ms.`, what, 'line');
  } else {
    ctx.alert(`unexpected character '${error.char}' in argument to <${what}>.`, what, 'line');
  }
  return null;
}

function parseHold(ctx: LineContext, section: ResolversConfig): void {
  const event = ctx.arg(1);
  if (ctx.arg(2) === '') {
    // HAProxy prints a second alert line: "<event> can be either 'valid', 'nx', 'refused', 'timeout', or 'other'".
    ctx.alert(`'hold' expects an <event> and a <time> as arguments. <event> can be either 'valid', 'nx', 'refused', 'timeout', 'obsolete' or 'other'.`);
    return;
  }
  // HAProxy checks the time first, and names the event where it means the time (<nx> to <hold>).
  const time = timeArgument(ctx, 2, 'hold', event);
  if (time === null) return;
  if (!(HOLD_EVENTS as readonly string[]).includes(event)) {
    ctx.alert(`'hold' unknown <event>: '${event}', expects either 'nx', 'timeout', 'valid', 'obsolete' or 'other'.`);
    return;
  }
  if (ctx.tooMany(1, 1)) return;
  section.hold[event as keyof ResolverHolds] = time;
}

function parseResolveRetries(ctx: LineContext, section: ResolversConfig): void {
  const text = ctx.arg(1);
  if (text === '') {
    ctx.alert("'resolve_retries' expects <nb> as argument.");
    return;
  }
  // HAProxy takes atoi() of anything, 0 included (which never sends a query); epoxy wants a count.
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > INT_MAX) {
    ctx.alert(`'resolve_retries' expects a number of queries from 1 to ${INT_MAX} (got '${text}').`);
    return;
  }
  if (ctx.tooMany(1)) return;
  section.resolveRetries = Number(text);
}

function parseResolversTimeout(ctx: LineContext, section: ResolversConfig): void {
  const event = ctx.arg(1);
  if (event === '') {
    ctx.alert("'timeout' expects 'retry' or 'resolve' and <time> as arguments.");
    return;
  }
  if (event !== 'retry' && event !== 'resolve') {
    ctx.alert(`'timeout' expects 'retry' or 'resolve' and <time> as arguments got '${event}'.`);
    return;
  }
  const keyword = `timeout ${event}`;
  if (ctx.arg(2) === '') {
    ctx.alert(`'${keyword}' expects <time> as argument.`, keyword);
    return;
  }
  const time = timeArgument(ctx, 2, keyword, ctx.arg(2));
  if (time === null) return;
  // HAProxy takes 0, and then resolves (or retries) without pause.
  if (time === 0) {
    ctx.alert(`'${keyword}' expects a non-zero time (got '${ctx.arg(2)}').`, keyword);
    return;
  }
  if (ctx.tooMany(1, 1)) return;
  if (event === 'retry') section.timeoutRetry = time;
  else section.timeoutResolve = time;
}

function parseAcceptedPayloadSize(ctx: LineContext, section: ResolversConfig): void {
  const text = ctx.arg(1);
  if (text === '') {
    ctx.alert("'accepted_payload_size' expects <nb> as argument.");
    return;
  }
  const value = /^\d{1,6}$/.test(text) ? Number(text) : NaN;
  if (!(value >= MIN_PAYLOAD_SIZE && value <= MAX_PAYLOAD_SIZE)) {
    ctx.alert(`'accepted_payload_size' must be between ${MIN_PAYLOAD_SIZE} and ${MAX_PAYLOAD_SIZE} inclusive (was ${text}).`);
    return;
  }
  if (ctx.tooMany(1)) return;
  section.acceptedPayloadSize = value;
}
