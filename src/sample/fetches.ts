/**
 * The sample fetches epoxy evaluates (HAProxy 2.6 sections 7.3.2, 7.3.3 and 7.3.5's layer-6
 * ones): one registry entry each, with every name HAProxy accepts for it, its arguments, its
 * output type, whether it reads the client's buffered bytes, and its evaluation over the
 * connection's facts. docs/configuration.md's "Sample fetches" lists them all.
 *
 * Adding a fetch is adding an entry. Arguments naming a proxy or server (kinds 'backend',
 * 'frontend', 'server') are checked when the configuration is read (src/config/check.ts) and
 * resolved once when it is built (src/runtime/build.ts), so the evaluator receives the run-time
 * object itself; a 'table' argument (omitted: the current proxy's table) arrives as the
 * StickTable. The stick-table fetches live in src/stick/stick-fetches.ts.
 *
 * Evaluation never throws: a fetch lacking what it reads gives no sample (null), and a content
 * fetch whose answer may still come with more bytes gives NOT_YET (a MISS for conditions).
 */
import { networkInterfaces } from 'node:os';
import type { SocketAddress } from '../address.js';
import { RATE_SESSIONS } from '../stats/fields.js';
import { serverUp, serverUsable } from '../backend/server-types.js';
import { nowMs } from '../task/ticks.js';
import { NEED_MORE } from '../inspect/client-hello.js';
import type { BackendRuntime, ConnectionFacts, FrontendRuntime, InspectedContent, ServerRuntime } from '../session/session-types.js';
import { STICK_FETCHES } from '../stick/stick-fetches.js';
import { VAR_FETCHES } from './vars.js';
import { addressSample, binSample, boolSample, intSample, parseIpSample, strSample, type Sample, type SampleType } from './sample-types.js';

/** What fetches read: the connection's facts (a Session at run time). */
export type SampleContext = ConnectionFacts;

/**
 * Kinds of arguments. 'backend', 'frontend' and 'table' are names, an omitted one meaning the
 * proxy the expression is written in; 'server' is `[<backend>/]<server>`; 'offset' is an integer
 * that may be written relative (`+n`, `-n`).
 */
export type ArgKind = 'int' | 'str' | 'backend' | 'frontend' | 'server' | 'table' | 'offset';

export interface ArgSpec {
  readonly kind: ArgKind;
  readonly optional?: boolean;
  /** For 'int': the smallest value accepted (default: any). */
  readonly min?: number;
}

/** An argument as written in the configuration. */
export type ParsedArg =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'str'; readonly value: string }
  | { readonly kind: 'offset'; readonly value: number; readonly relative: boolean }
  /** null: omitted, the current proxy. */
  | { readonly kind: 'backend' | 'frontend' | 'table'; readonly name: string | null }
  | { readonly kind: 'server'; readonly backend: string | null; readonly name: string };

/**
 * An argument as the evaluator gets it: numbers and strings as written, proxies and servers as
 * their run-time objects (null when compiled without a scope: the fetch then gives no sample),
 * tables as whatever SampleScope.table() returns, offsets as ParsedArg.
 */
export type ResolvedArg = number | string | BackendRuntime | FrontendRuntime | ServerRuntime | ParsedArg | object | null;

/** A content fetch's answer may still change: more bytes may come (a MISS for a condition). */
export const NOT_YET = Symbol('not yet');
/** One sample, several (req.ssl_alpn: any may match), none, or not yet. */
export type FetchOutput = Sample | readonly Sample[] | null | typeof NOT_YET;

export interface FetchDef {
  /** The name HAProxy 2.6 documents. */
  readonly name: string;
  /** Older names HAProxy still accepts (deprecated aliases). */
  readonly aliases?: readonly string[];
  readonly args: readonly ArgSpec[];
  readonly out: SampleType;
  /** Reads the client's buffered bytes: means nothing before content inspection. */
  readonly content?: boolean;
  /**
   * With these arguments, a sample it gives may still change while more bytes may come (req.len,
   * req.payload(<o>,0)): a test it fails is a MISS until the bytes are final.
   */
  readonly grows?: (args: readonly ParsedArg[]) => boolean;
  /** How integer patterns are written without `-m` or converters: ports (0–65535) or versions (3.1). */
  readonly intPatterns?: 'port' | 'version';
  /** Written in messages about bad arguments instead of the generic ones. */
  readonly usage?: string;
  /** The sample's type is whatever was stored (var): an ACL on it must name its matching method. */
  readonly anyType?: boolean;
  /**
   * Checks of the arguments' values, worded as HAProxy's "invalid args in fetch method" (the
   * expression's label and text are added): the reason, or null.
   */
  readonly argsCheck?: (args: readonly ParsedArg[]) => string | null;
  /** Checks beyond the kinds (ranges): HAProxy's reason, or null. */
  readonly validate?: (args: readonly ParsedArg[], written: string) => string | null;
  /** One line for the documentation. */
  readonly summary: string;
  readonly eval: (ctx: SampleContext, args: readonly ResolvedArg[]) => FetchOutput;
}

const ip = (address: SocketAddress | undefined): Sample | null => (address === undefined ? null : addressSample(address));
const port = (address: SocketAddress | undefined): Sample | null =>
  address === undefined || address.family === 'unix' ? null : intSample(address.port);

/**
 * Whether an address is one of this host's (or loopback): the `*_is_local` fetches. Reads the
 * interfaces at each call (a getifaddrs), as HAProxy's check also costs a few system calls.
 */
function isLocal(address: SocketAddress | undefined): Sample | null {
  if (address === undefined) return null;
  if (address.family === 'unix') return boolSample(true);
  const sample = addressSample(address);
  if (sample === null || sample.type !== 'ip') return null;
  if (sample.family === 'ipv4' && sample.bytes[0] === 127) return boolSample(true);
  if (sample.family === 'ipv6' && sample.bytes.every((b, i) => b === (i === 15 ? 1 : 0))) return boolSample(true);
  const text = sample.family === 'ipv4' ? Array.from(sample.bytes).join('.') : address.address;
  for (const list of Object.values(networkInterfaces())) {
    for (const entry of list ?? []) if (entry.address === text || entry.address === address.address) return boolSample(true);
  }
  return boolSample(false);
}

/** HAProxy's be_usable_srv(): usable active servers, else usable backups. */
function usableServers(backend: BackendRuntime): number {
  let active = 0;
  let backups = 0;
  for (const server of backend.servers) if (serverUsable(server)) server.backup ? backups++ : active++;
  return active > 0 ? active : backups;
}

/**
 * connslots: free connection slots plus free queue slots over the servers that are not down;
 * -1 as soon as one of them has no maxconn or no maxqueue (unlimited), as HAProxy returns.
 */
function connectionSlots(backend: BackendRuntime): number {
  let slots = 0;
  for (const server of backend.servers) {
    if (!serverUp(server)) continue;
    if (server.maxconn === 0 || server.maxqueue === 0) return -1;
    slots += server.maxconn - server.cur + (server.maxqueue - (backend.queues?.waitingFor(server as ServerRuntime) ?? 0));
  }
  return slots;
}

// ---------------------------------------------------------------------------------------------
// Content (layer 6): the client's buffered bytes.

const latin1 = new TextDecoder('latin1');

/** req.payload / req.payload_lv: the block's bytes, NOT_YET while they may still come. */
function payload(content: InspectedContent | null | undefined, args: readonly ResolvedArg[], lv: boolean): FetchOutput {
  if (content === null || content === undefined) return null;
  const missing = content.final ? null : NOT_YET;
  const bytes = content.bytes;
  const have = content.length;
  let start = args[0] as number;
  let size = args[1] as number;
  if (lv) {
    if (start + size > have) return missing;
    const offsetField = start;
    const sizeLength = size;
    size = 0;
    for (let i = 0; i < sizeLength; i++) size = size * 256 + bytes[offsetField + i]!;
    start = offsetField + sizeLength;
    const block = args[2] as ParsedArg | null | undefined;
    if (block !== null && block !== undefined && block.kind === 'offset') start = block.relative ? start + block.value : block.value;
    if (size === 0 || start < 0) return null;
  } else if (size === 0) {
    return start > have ? missing : binSample(latin1.decode(bytes.subarray(start, have)));
  }
  return start + size > have ? missing : binSample(latin1.decode(bytes.subarray(start, start + size)));
}

/** A fact of the ClientHello: NOT_YET while the hello is incomplete and more bytes may come. */
function hello<T>(ctx: SampleContext, pick: (facts: ReturnType<InspectedContent['hello']>) => T | null | typeof NEED_MORE, make: (value: T) => FetchOutput): FetchOutput {
  const content = ctx.content;
  if (content === null || content === undefined) return null;
  const fact = pick(content.hello());
  if (fact === NEED_MORE) return content.final ? null : NOT_YET;
  return fact === null ? null : make(fact);
}

const noArgs: readonly ArgSpec[] = [];
const optionalBackend: readonly ArgSpec[] = [{ kind: 'backend', optional: true }];
const backendOf = (args: readonly ResolvedArg[]): BackendRuntime | null => (args[0] as BackendRuntime | null) ?? null;

export const FETCHES: readonly FetchDef[] = [
  // Internal states (7.3.2).
  { name: 'always_true', args: noArgs, out: 'bool', summary: 'true', eval: () => boolSample(true) },
  { name: 'always_false', args: noArgs, out: 'bool', summary: 'false', eval: () => boolSample(false) },
  { name: 'int', args: [{ kind: 'int' }], out: 'int', summary: 'the integer given', eval: (_, [n]) => intSample(n as number) },
  { name: 'str', args: [{ kind: 'str' }], out: 'str', summary: 'the string given', eval: (_, [s]) => strSample(s as string) },
  {
    name: 'bool', args: [{ kind: 'str' }], out: 'bool', summary: "the boolean given: 'true' or '1', 'false' or '0'",
    validate: ([b]) => (b?.kind === 'str' && ['true', 'false', '1', '0'].includes(b.value) ? null : "fetch method 'bool' expects 'true', 'false', '1' or '0'"),
    eval: (_, [b]) => boolSample(b === 'true' || b === '1'),
  },
  {
    name: 'ipv4', args: [{ kind: 'str' }], out: 'ip', summary: 'the IPv4 address given',
    validate: ([a]) => (a?.kind === 'str' && /^\d+\.\d+\.\d+\.\d+$/.test(a.value) && parseIpSample(a.value) !== null ? null : "fetch method 'ipv4' expects an IPv4 address"),
    eval: (_, [a]) => parseIpSample(a as string),
  },
  {
    name: 'ipv6', args: [{ kind: 'str' }], out: 'ip', summary: 'the IPv6 address given',
    validate: ([a]) => (a?.kind === 'str' && a.value.includes(':') && parseIpSample(a.value) !== null ? null : "fetch method 'ipv6' expects an IPv6 address"),
    eval: (_, [a]) => parseIpSample(a as string),
  },
  {
    name: 'rand', args: [{ kind: 'int', optional: true, min: 1 }], out: 'int', summary: 'a random integer from 0 to <range>-1 (default 2^32)',
    eval: (_, [range]) => intSample(Math.floor(Math.random() * ((range as number | undefined) ?? 2 ** 32))),
  },
  {
    name: 'be_conn', args: optionalBackend, out: 'int', summary: "the backend's current connections (this one included once it is routed)",
    eval: (_, args) => { const b = backendOf(args); return b === null ? null : intSample(b.counters.get('current')); }, // prettier-ignore
  },
  {
    name: 'be_sess_rate', args: optionalBackend, out: 'int', summary: "the backend's sessions in the last second",
    eval: (_, args) => { const b = backendOf(args); return b === null ? null : intSample(b.counters.rate(RATE_SESSIONS, nowMs())); }, // prettier-ignore
  },
  {
    name: 'nbsrv', args: optionalBackend, out: 'int', summary: 'usable servers (up, not in maintenance or drain, weight > 0): active ones, else backups',
    eval: (_, args) => { const b = backendOf(args); return b === null ? null : intSample(usableServers(b)); }, // prettier-ignore
  },
  {
    name: 'connslots', args: optionalBackend, out: 'int', summary: 'free connection and queue slots of the servers not down; -1 if one has no maxconn or maxqueue',
    eval: (_, args) => { const b = backendOf(args); return b === null ? null : intSample(connectionSlots(b)); }, // prettier-ignore
  },
  {
    name: 'queue', args: optionalBackend, out: 'int', summary: "sessions waiting in the backend's queue and its servers'",
    eval: (_, args) => { const b = backendOf(args); return b === null ? null : intSample(b.queues?.length ?? 0); }, // prettier-ignore
  },
  {
    name: 'fe_conn', args: [{ kind: 'frontend', optional: true }], out: 'int', summary: "the frontend's current connections, this one included",
    eval: (_, [f]) => (f === null || f === undefined ? null : intSample((f as FrontendRuntime).counters.get('current'))),
  },
  {
    name: 'srv_conn', args: [{ kind: 'server' }], out: 'int', summary: "the server's current connections",
    eval: (_, [s]) => (s === null || s === undefined ? null : intSample((s as ServerRuntime).cur)),
  },
  {
    name: 'srv_is_up', args: [{ kind: 'server' }], out: 'bool', summary: 'whether the server is up (not down, not in maintenance)',
    eval: (_, [s]) => (s === null || s === undefined ? null : boolSample(serverUp(s as ServerRuntime))),
  },
  // Layer 4 (7.3.3). src/dst follow a PROXY header; so do fc_* in HAProxy 2.6 (both read the
  // connection's addresses, which the header replaces; only `set-src`, which epoxy lacks, differs).
  { name: 'src', args: noArgs, out: 'ip', summary: "the client's address (a PROXY header's once read)", eval: (ctx) => ip(ctx.src) },
  { name: 'dst', args: noArgs, out: 'ip', summary: 'the address the client connected to (a PROXY header\'s once read)', eval: (ctx) => ip(ctx.dst) },
  { name: 'src_port', args: noArgs, out: 'int', intPatterns: 'port', summary: "the client's port", eval: (ctx) => port(ctx.src) },
  { name: 'dst_port', args: noArgs, out: 'int', intPatterns: 'port', summary: 'the port the client connected to', eval: (ctx) => port(ctx.dst) },
  { name: 'fc_src', args: noArgs, out: 'ip', summary: 'as src', eval: (ctx) => ip(ctx.src) },
  { name: 'fc_dst', args: noArgs, out: 'ip', summary: 'as dst', eval: (ctx) => ip(ctx.dst) },
  { name: 'fc_src_port', args: noArgs, out: 'int', intPatterns: 'port', summary: 'as src_port', eval: (ctx) => port(ctx.src) },
  { name: 'fc_dst_port', args: noArgs, out: 'int', intPatterns: 'port', summary: 'as dst_port', eval: (ctx) => port(ctx.dst) },
  { name: 'src_is_local', args: noArgs, out: 'bool', summary: "whether the client's address is one of this host's (unix sockets are)", eval: (ctx) => isLocal(ctx.src) },
  { name: 'dst_is_local', args: noArgs, out: 'bool', summary: "whether the destination is one of this host's (not intercepted)", eval: (ctx) => isLocal(ctx.dst) },
  {
    name: 'dst_conn', args: noArgs, out: 'int', summary: 'current connections of the listener that accepted this one, it included',
    eval: (ctx) => (ctx.listener === undefined ? null : intSample(ctx.listener.nbconn)),
  },
  {
    name: 'so_name', args: noArgs, out: 'str', summary: "the `name` of the bind line that accepted it (no sample without one)",
    eval: (ctx) => (ctx.listener?.bind.name == null ? null : strSample(ctx.listener.bind.name)),
  },
  { name: 'fe_name', args: noArgs, out: 'str', summary: "the frontend's name", eval: (ctx) => (ctx.frontend === undefined ? null : strSample(ctx.frontend.name)) },
  {
    name: 'fe_id', args: noArgs, out: 'int', summary: "the frontend's id",
    eval: (ctx) => (ctx.frontend?.id === undefined ? null : intSample(ctx.frontend.id)),
  },
  {
    // HAProxy's stream starts with its frontend as backend: before use_backend chose, be_* name it.
    name: 'be_name', args: noArgs, out: 'str', summary: "the backend's name (the frontend's before switching rules chose)",
    eval: (ctx) => { const name = ctx.backend?.name ?? ctx.frontend?.name; return name === undefined ? null : strSample(name); }, // prettier-ignore
  },
  {
    name: 'be_id', args: noArgs, out: 'int', summary: "the backend's id (the frontend's before switching rules chose)",
    eval: (ctx) => { const id = ctx.backend != null ? ctx.backend.id : ctx.frontend?.id; return id === undefined ? null : intSample(id); }, // prettier-ignore
  },
  // Layer 6 (7.3.5): the client's first bytes, read by content inspection.
  {
    name: 'req.len', aliases: ['req_len'], args: noArgs, out: 'int', content: true, grows: () => true, summary: 'bytes buffered so far',
    eval: (ctx) => (ctx.content === null || ctx.content === undefined ? null : intSample(ctx.content.length)),
  },
  {
    name: 'req.payload', aliases: ['payload'], args: [{ kind: 'int', min: 0 }, { kind: 'int', min: 0 }], out: 'bin', content: true,
    grows: (args) => args[1]?.kind === 'int' && args[1].value === 0,
    usage: '(<offset>,<length>) with non-negative integers',
    summary: '<length> bytes at <offset> (length 0: to the end of what is buffered)',
    eval: (ctx, args) => payload(ctx.content, args, false),
  },
  {
    name: 'req.payload_lv', aliases: ['payload_lv'], args: [{ kind: 'int', min: 0 }, { kind: 'int', min: 0 }, { kind: 'offset', optional: true }], out: 'bin', content: true,
    usage: '(<offset1>,<length>[,<offset2>]) with non-negative integers',
    validate: (args, written) => (args[1]?.kind === 'int' && (args[1].value < 1 || args[1].value > 4) ? `fetch method '${written}': the size field is 1 to 4 bytes long` : null),
    summary: 'the block whose size is the <length>-byte integer at <offset1>, starting after it or at <offset2> (+/-: relative)',
    eval: (ctx, args) => payload(ctx.content, args, true),
  },
  {
    name: 'req.ssl_sni', aliases: ['req_ssl_sni'], args: noArgs, out: 'str', content: true, summary: 'the server name of a TLS ClientHello',
    eval: (ctx) => hello(ctx, (h) => h.sni, (sni) => strSample(sni)),
  },
  {
    // Any offered protocol may match (observed with HAProxy 2.6: `h2,http/1.1` matches `http/1.1`).
    name: 'req.ssl_alpn', args: noArgs, out: 'str', content: true, summary: 'the ALPN protocols of a TLS ClientHello (any may match)',
    eval: (ctx) => hello(ctx, (h) => h.alpn, (offered) => offered.map((alpn) => strSample(alpn))),
  },
  {
    name: 'req.ssl_hello_type', aliases: ['req_ssl_hello_type'], args: noArgs, out: 'int', content: true, summary: 'the TLS handshake type (1: ClientHello)',
    eval: (ctx) => hello(ctx, (h) => h.helloType, (n) => intSample(n)),
  },
  {
    name: 'req.ssl_ver', aliases: ['req_ssl_ver'], args: noArgs, out: 'int', content: true, intPatterns: 'version', summary: 'the TLS version of the hello, major << 16 | minor (patterns: 3.1)',
    eval: (ctx) => hello(ctx, (h) => h.version, (n) => intSample(n)),
  },
  {
    name: 'req.ssl_ec_ext', args: noArgs, out: 'bool', content: true, summary: 'whether the hello offers elliptic curves',
    eval: (ctx) => hello(ctx, (h) => h.ecExt, (present) => boolSample(present)),
  },
  {
    name: 'wait_end', args: noArgs, out: 'bool', content: true, summary: 'true once the bytes are final (inspect-delay expired...), until then a MISS',
    eval: (ctx) => (ctx.content === null || ctx.content === undefined ? null : ctx.content.final ? boolSample(true) : NOT_YET),
  },
]; // prettier-ignore

const BY_NAME = new Map<string, FetchDef>();
for (const fetch of [...FETCHES, ...STICK_FETCHES, ...VAR_FETCHES]) for (const name of [fetch.name, ...(fetch.aliases ?? [])]) BY_NAME.set(name, fetch);

export function findFetch(name: string): FetchDef | undefined {
  return BY_NAME.get(name);
}

/** Every name a fetch is known by (documented ones and aliases). */
export const FETCH_NAMES: readonly string[] = [...BY_NAME.keys()];

/** Every fetch, the stick-table and variable ones included (for the documentation). */
export const ALL_FETCHES: readonly FetchDef[] = [...FETCHES, ...STICK_FETCHES, ...VAR_FETCHES];

/**
 * HAProxy fetches a TCP configuration may use that epoxy does not evaluate yet, so that they
 * are reported as "not supported yet" rather than unknown (stick-table ones among them).
 */
export const UNSUPPORTED_FETCHES: readonly string[] = [
  'avg_queue', 'bc_dst', 'bc_dst_port', 'bc_src', 'bc_src_port', 'be_conn_free', 'fe_sess_rate',
  'req.ssl_st_ext', 'req.proto_http', 'req.rdp_cookie', 'sc_trackers', 'sc0_trackers', 'sc1_trackers', 'sc2_trackers',
  'so_id', 'src_updt_conn_cnt', 'srv_conn_free', 'srv_queue', 'ssl_fc', 'ssl_fc_sni',
]; // prettier-ignore
