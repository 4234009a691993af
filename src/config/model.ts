/**
 * The typed configuration model: what a parsed HAProxy-format file (TCP subset) or a TypeScript
 * object becomes. Types only (HAProxy's *-t.h), plus the builders of empty settings.
 *
 * Conventions:
 * - `null` means "not set": the runtime applies HAProxy's default, written in each comment.
 * - Times are milliseconds.
 * - Objects made from one line (servers, binds, rules, ACL tests, log targets) carry `where`;
 *   scalar settings are traced in `origin`, keyed by the keyword as written in a file
 *   ('maxconn', 'timeout connect', 'option redispatch'). A setting inherited from a defaults
 *   section keeps the defaults section's line.
 */
import type { SocketAddress } from '../address.js';
import type { BindConf } from '../listener/listener-types.js';
import type { SampleExpr } from '../sample/expression.js';
import type { VarCondition, VarName } from '../sample/vars.js';

/** Where something was written. */
export interface Where {
  /** File name as given to the parser, or '<object>' for configFromObject(). */
  readonly file: string;
  /** 1-based line; 0 for the object form. */
  readonly line: number;
  /** 1-based column of the keyword (0 when unknown). */
  readonly column: number;
  /** For the object form: the property path ('backends.app.servers[1].weight'). */
  readonly path?: string;
}

/** Where each scalar setting of an object was set, keyed by its keyword. */
export type Origins = Record<string, Where>;

// ---------------------------------------------------------------------------------------------
// Logging

/** Syslog formats of HAProxy's `log ... format <fmt>`. */
export type LogFormat = 'local' | 'rfc3164' | 'rfc5424' | 'priority' | 'short' | 'timed' | 'iso' | 'raw';
export const LOG_FORMATS: readonly LogFormat[] = ['local', 'rfc3164', 'rfc5424', 'priority', 'short', 'timed', 'iso', 'raw'];

export const LOG_FACILITIES = [
  'kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news',
  'uucp', 'cron', 'auth2', 'ftp', 'ntp', 'audit', 'alert', 'cron2',
  'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7',
] as const; // prettier-ignore
export type LogFacility = (typeof LOG_FACILITIES)[number];

export const LOG_LEVELS = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Where a `log` line sends: a stream of this process (`stdout`/`fd@1`, `stderr`/`fd@2`) or a
 * syslog datagram socket (UDP over IPv4/IPv6, a unix datagram socket such as /dev/log).
 */
export type LogDestination =
  | { readonly kind: 'stream'; readonly stream: 'stdout' | 'stderr' }
  | { readonly kind: 'udp'; readonly family: 'ipv4' | 'ipv6'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

/** One `log` line. */
export type LogTarget =
  | {
      /** `log global`: the global section's targets. */
      readonly kind: 'global';
      readonly where: Where;
    }
  | {
      readonly kind: 'target';
      readonly destination: LogDestination;
      /** The address as written, for messages. */
      readonly address: string;
      /** `len`: longest line, 80 to 65535 (HAProxy's default 1024). */
      readonly maxLength: number;
      /**
       * `format`; null when not written: HAProxy 2.6's default, `local`, or `rfc3164` when
       * `log-send-hostname` is set (observed), decided when the targets open.
       */
      readonly format: LogFormat | null;
      readonly facility: LogFacility;
      /** Most verbose level sent (default debug). */
      readonly level: LogLevel;
      /** Least verbose level: more urgent messages are raised to it (default emerg). */
      readonly minLevel: LogLevel;
      readonly where: Where;
    };

// ---------------------------------------------------------------------------------------------
// Global section

/** The `tune.*` keywords that apply to a TCP proxy. */
export interface TuneSettings {
  /** `tune.bufsize`: bytes per relay buffer (HAProxy default 16384). */
  bufsize: number | null;
  /** `tune.maxaccept`: connections accepted per listener wake-up; -1 = unlimited (default 64). */
  maxaccept: number | null;
  /** `tune.runqueue-depth`: tasks run per loop turn (default 200). */
  runqueueDepth: number | null;
  /** `tune.maxpollevents`: events read per poll (default 200). */
  maxpollevents: number | null;
  /** `tune.rcvbuf.client` / `.server`, `tune.sndbuf.client` / `.server`: SO_RCVBUF / SO_SNDBUF. */
  rcvbufClient: number | null;
  rcvbufServer: number | null;
  sndbufClient: number | null;
  sndbufServer: number | null;
  /** `tune.pipesize`: size of the pipes used with splice(2) (default: the kernel's). */
  pipesize: number | null;
  /** `tune.epoxy.notsent-lowat.client` / `.server` (epoxy extension): TCP_NOTSENT_LOWAT in bytes. */
  notsentLowatClient: number | null;
  notsentLowatServer: number | null;
  /** `tune.epoxy.nodelay on|off` (epoxy extension): TCP_NODELAY on client and server sockets (default on, as HAProxy). */
  nodelay: boolean | null;
  /**
   * `tune.epoxy.relay-thread on|off` (epoxy extension): relay bytes on a thread of the relay's own
   * instead of in Node's loop (null: the default, see runtime/start.ts).
   */
  relayThread: boolean | null;
}

/** The global keywords of the process model (HAProxy's master-worker, daemon and privileges). */
export interface ProcessSettings {
  /** `daemon` (or -D): detach from the terminal; epoxy always runs a master when daemonized. */
  daemon: boolean;
  /** `master-worker` (or -W): a master process runs and respawns the workers. */
  masterWorker: boolean;
  /** `master-worker no-exit-on-failure`: HAProxy's option; epoxy's master never exits when a worker dies anyway. */
  noExitOnFailure: boolean;
  /** `pidfile`: written with the master's (or the single process's) pid once it serves. */
  pidfile: string | null;
  /** `uid`/`user`: who the workers run as (null: stay who started). */
  uid: number | null;
  /** `gid`/`group`: the workers' group (the user's own group when only `user` is set). */
  gid: number | null;
  /** `user` as written, when the uid came from a name. */
  user: string | null;
  /** `chroot`: the workers' root directory. */
  chroot: string | null;
  /** `hard-stop-after`: ms a soft-stopping process (an old generation) may take before its sessions are cut. */
  hardStopAfter: number | null;
  /** `mworker-max-reloads`: reloads a worker may survive before it is terminated. */
  mworkerMaxReloads: number | null;
}

export function emptyProcessSettings(): ProcessSettings {
  return {
    daemon: false,
    masterWorker: false,
    noExitOnFailure: false,
    pidfile: null,
    uid: null,
    gid: null,
    user: null,
    chroot: null,
    hardStopAfter: null,
    mworkerMaxReloads: null,
  };
}

export interface GlobalConfig {
  /** `spread-checks <0..50>`: health-check intervals vary by up to this percentage, either way. */
  spreadChecks: number;
  /** `maxconn`: process-wide concurrent connections (default derived from ulimit-n). */
  maxconn: number | null;
  /**
   * `maxpipes`: most pipes the relay's splice(2) mode holds at once (2 fds each); null or 0 =
   * HAProxy's default, maxconn / 4 (no cap when maxconn is unlimited).
   */
  maxpipes: number | null;
  /** `ulimit-n`: RLIMIT_NOFILE to set at startup. */
  ulimitN: number | null;
  /**
   * `nbthread` (or `nbproc`): how many worker processes the master runs (epoxy's workers are
   * processes: one Node thread each, see docs/operations.md). 1 without a master.
   */
  nbthread: number;
  /** The process model: master/worker, daemon, pidfile, privileges, reload limits. */
  process: ProcessSettings;
  /** `noepoll` / `nopoll`: pollers not to use. */
  noEpoll: boolean;
  noPoll: boolean;
  /** `busy-polling`: never sleep in the poller. */
  busyPolling: boolean;
  /** `noreuseport`: no SO_REUSEPORT on listeners. */
  noReusePort: boolean;
  /** `nosplice`: never relay with splice(2). */
  noSplice: boolean;
  /** `quiet`: no startup messages (as -q). */
  quiet: boolean;
  /** `zero-warning`: any warning refuses the configuration. */
  zeroWarning: boolean;
  logs: LogTarget[];
  /** `stats socket` lines: the runtime API's sockets (docs/runtime-api.md). */
  statsSockets: StatsSocket[];
  /** `stats timeout`: an idle runtime-API connection is closed after this (default 10 s). */
  statsTimeout: number;
  /** `log-tag`: the syslog tag (program name) of every line; null: "epoxy". */
  logTag: string | null;
  /** `log-send-hostname [<name>]`: the host name written in syslog headers; null: none ('-' in rfc5424). */
  logHostname: string | null;
  tune: TuneSettings;
  origin: Origins;
}

/** What a runtime-API connection may do (HAProxy's stats socket levels), least first. */
export type ControlLevel = 'user' | 'operator' | 'admin';

/** `stats socket <path|ip:port> [mode <octal>] [uid|user] [gid|group] [level <level>] [expose-fd listeners]`. */
export interface StatsSocket {
  /** A unix socket path, or null for a TCP address. */
  readonly path: string | null;
  /** The TCP address (`ip:port`, `ipv4@`, `ipv6@`), or null for a unix socket. */
  readonly address: SocketAddress | null;
  /** Permissions and owner of a unix socket (null: the process's defaults). */
  readonly mode: number | null;
  readonly uid: number | null;
  readonly gid: number | null;
  /** Default `operator`, as in HAProxy. */
  readonly level: ControlLevel;
  /** `expose-fd listeners`: accepted for HAProxy's reload scripts (epoxy's master keeps the listeners itself). */
  readonly exposeFdListeners: boolean;
  readonly where: Where;
}

// ---------------------------------------------------------------------------------------------
// ACLs and conditions

/** An IPv4 or IPv6 network, as an ACL pattern (`10.0.0.0/8`, `::1`, `192.168.1.1/255.255.0.0`). */
export interface IpPattern {
  readonly family: 'ipv4' | 'ipv6';
  /** Canonical address text with the host bits cleared ('10.0.0.0', '2001:db8::'). */
  readonly address: string;
  /** Network address bytes, 4 or 16, in network order (host bits cleared). */
  readonly bytes: Uint8Array;
  /** Prefix length: 0–32 or 0–128. */
  readonly prefix: number;
  /** As written. */
  readonly text: string;
}

/** An inclusive integer range: `80`, `1024:65535`, `:1023`, `gt 1023`... all become one. */
export interface IntRange {
  readonly low: number;
  readonly high: number;
}

/** HAProxy's matching methods (`-m <method>`) that epoxy evaluates. */
export const MATCH_METHODS = ['found', 'bool', 'int', 'ip', 'bin', 'len', 'str', 'sub', 'reg', 'beg', 'end', 'dom'] as const;
export type MatchMethod = (typeof MATCH_METHODS)[number];

/**
 * How an ACL compares its sample with its patterns (`-m <method>`, `-i`), the patterns parsed
 * once for that method. Binary samples are latin1 strings, so `bin` patterns (written in hex) are
 * kept decoded and compared like strings. With `ignoreCase` the texts are kept lowercased.
 */
export interface SampleMatch {
  readonly method: MatchMethod;
  readonly ignoreCase: boolean;
  /** str, beg, end, sub, dom, bin. */
  readonly texts: readonly string[];
  /** reg. */
  readonly regexes: readonly RegExp[];
  /** int (values, ranges and operators all become ranges), len. */
  readonly ranges: readonly IntRange[];
  /** ip. */
  readonly ips: readonly IpPattern[];
}

/**
 * One ACL test, from an `acl` line or an anonymous `{ ... }` ACL: a sample expression (a fetch
 * and its converters, src/sample/expression.ts), how its sample is matched, and the patterns.
 */
export interface AclTest {
  /** The expression's fetch under its documented name ('req.ssl_sni' for `req_ssl_sni`), for messages. */
  readonly fetch: string;
  readonly expr: SampleExpr;
  readonly match: SampleMatch;
  readonly where: Where;
}

/** A named ACL: the tests of every `acl` line with that name, OR-ed. */
export interface Acl {
  /** Its name; '' for an anonymous ACL; the predefined ones keep their name (LOCALHOST). */
  readonly name: string;
  readonly tests: AclTest[];
  readonly where: Where;
}

/** One operand of a condition: an ACL, possibly negated. */
export interface ConditionTerm {
  readonly negate: boolean;
  /** Shared with Proxy.acls: a later `acl` line with the same name extends it. */
  readonly acl: Acl;
}

/** `if|unless <terms>`: an OR of AND-ed suites, evaluated left to right. */
export interface Condition {
  readonly polarity: 'if' | 'unless';
  /** Each inner array is a suite of terms AND-ed together; the suites are OR-ed. */
  readonly suites: readonly (readonly ConditionTerm[])[];
  /** The condition as written, for messages. */
  readonly text: string;
  readonly where: Where;
}

/**
 * `tcp-request connection|content <action> [if|unless <cond>]`: accept and reject end the
 * rules; the stick-counter actions do their work and the walk goes on (HAProxy's
 * ACT_RET_CONT), as they do in HAProxy.
 */
export type TcpRequestRule = TcpVerdictRule | TcpTrackRule | TcpCounterRule | TcpVarRule;

/** `accept` / `reject`. */
export interface TcpVerdictRule {
  readonly action: 'accept' | 'reject';
  readonly condition: Condition | null;
  readonly where: Where;
}

/**
 * `track-sc<n> <key> [table <table>]`: the session's stick counter n follows the entry of
 * <key> in <table> (default: the proxy's own) until the session ends; a counter already
 * tracked by an earlier rule is left as it is (HAProxy's rule).
 */
export interface TcpTrackRule {
  readonly action: 'track-sc';
  readonly counter: number;
  readonly key: StickKey;
  /** The table's proxy name; null: the proxy holding the rule. */
  readonly table: string | null;
  readonly condition: Condition | null;
  readonly where: Where;
}

/** `sc-inc-gpc0(<n>)`, `sc-inc-gpc1(<n>)`, `sc-set-gpt0(<n>) <int>`: on the entry counter n tracks. */
export interface TcpCounterRule {
  readonly action: 'sc-inc-gpc0' | 'sc-inc-gpc1' | 'sc-set-gpt0';
  readonly counter: number;
  /** sc-set-gpt0's value; 0 for the others. */
  readonly value: number;
  readonly condition: Condition | null;
  readonly where: Where;
}

/**
 * `set-var(<name>[,<cond>...]) <expr>` (the sample's type kept) and `unset-var(<name>)`
 * (src/sample/vars.ts).
 */
export type TcpVarRule =
  | {
      readonly action: 'set-var';
      readonly name: VarName;
      readonly conditions: readonly VarCondition[];
      readonly expr: SampleExpr;
      readonly condition: Condition | null;
      readonly where: Where;
    }
  | { readonly action: 'unset-var'; readonly name: VarName; readonly condition: Condition | null; readonly where: Where };

/** A sample expression naming a stick-table key (`src`, `req.ssl_sni,lower`). */
export interface StickKey {
  readonly text: string;
  readonly expr: SampleExpr;
  readonly where: Where;
}

/** Key types of `stick-table type ...`. */
export type StickKeyType = 'ip' | 'ipv6' | 'integer' | 'string' | 'binary';

/** One `store` data type: `conn_cur`, `conn_rate(10s)` (period in ms for the *_rate ones). */
export interface StickStore {
  readonly name: string;
  readonly period: number | null;
}

/** `stick-table type <type> [len <n>] size <n> [expire <t>] [nopurge] [store <types>]*`. */
export interface StickTableConfig {
  readonly type: StickKeyType;
  /** Key bytes: 4 (ip, integer), 16 (ipv6), `len` for strings and binary (default 32). */
  readonly keyLength: number;
  /** Entries at most (`size`, suffixes k/m/g are powers of 1024). */
  readonly size: number;
  /** ms an untouched entry lives; null: no expiry (older entries are purged when full). */
  readonly expire: number | null;
  /** `nopurge`: a full table refuses new entries instead of dropping the oldest. */
  readonly nopurge: boolean;
  /** Data stored per entry, in declaration order; `server_id` is added when a stick rule needs it. */
  readonly store: readonly StickStore[];
  readonly where: Where;
}

/**
 * `stick match|on|store-request <key> [table <t>] [if|unless <cond>]` (backends). `on` is a
 * match followed by a store-request with the same arguments, as HAProxy defines it.
 */
export interface StickRule {
  readonly kind: 'match' | 'store-request';
  readonly key: StickKey;
  /** The table's proxy name; null: the backend's own. */
  readonly table: string | null;
  readonly condition: Condition | null;
  readonly where: Where;
}

/** `use-server <server> if|unless <cond>` (backends). */
export interface UseServerRule {
  readonly server: string;
  readonly condition: Condition;
  readonly where: Where;
}

/** `use_backend <name> [if|unless <cond>]`. */
export interface SwitchingRule {
  readonly backend: string;
  readonly condition: Condition | null;
  readonly where: Where;
}

// ---------------------------------------------------------------------------------------------
// Connecting to servers

/** `source <addr>[:port[-port]] [usesrc ...] [interface <name>]`: how connections to servers bind. */
export interface ConnectSource {
  /** Local address to bind before connect(); port 0 lets the kernel choose. */
  readonly address: SocketAddress;
  /** A port range to pick from (server `source` only), else null. */
  readonly portRange: IntRange | null;
  /**
   * `usesrc`: transparent proxying. 'client' = the client's address and port, 'clientip' = its
   * address only, else a fixed address. Needs CAP_NET_ADMIN at run time.
   */
  readonly usesrc: { readonly kind: 'client' } | { readonly kind: 'clientip' } | { readonly kind: 'address'; readonly address: SocketAddress } | null;
  /** `interface`: SO_BINDTODEVICE. */
  readonly interface: string | null;
  readonly where: Where;
}

/** Where a server listens. */
export type ServerAddress =
  | {
      /** A numeric IPv4/IPv6 address with a port, or a unix socket. */
      readonly kind: 'address';
      /** Port 0 when the port is mapped (see portOffset). */
      readonly address: SocketAddress;
      /**
       * HAProxy's port mapping: null for a fixed port; otherwise the port connected to is the
       * client's destination port plus this offset (0 for an address without a port, N for
       * `:+N`, -N for `:-N`).
       */
      readonly portOffset: number | null;
      readonly text: string;
    }
  | {
      /**
       * A host name: resolving it (at startup, or at run time with `resolvers`) is the caller's
       * business. A name starting with '_' is an SRV record name (isSrvRecordName()).
       */
      readonly kind: 'hostname';
      readonly host: string;
      /** 0 for an SRV record name written without a port: its records give the ports. */
      readonly port: number;
      /** `ipv4@` / `ipv6@` forced the family; null = either. */
      readonly family: 'ipv4' | 'ipv6' | null;
      readonly text: string;
    };

/** The options a `server` line (or `default-server`) can set. */
export interface ServerOptions {
  /** `weight` 0–256 (default 1); 0 takes no new traffic from balancing. */
  weight: number;
  /** `maxconn`: concurrent connections, 0 = unlimited. */
  maxconn: number;
  /** `maxqueue`: sessions waiting for this server, 0 = unlimited. */
  maxqueue: number;
  /** `backup` / `no-backup`. */
  backup: boolean;
  /** `disabled` / `enabled`: administratively down at startup. */
  disabled: boolean;
  /** `send-proxy` (v1) / `send-proxy-v2`; null = none (`no-send-proxy`...). */
  sendProxy: 'v1' | 'v2' | null;
  /** `source` for this server only; null = the backend's. */
  source: ConnectSource | null;
  /** `tfo` / `no-tfo`: TCP Fast Open to the server (TCP_FASTOPEN_CONNECT) when data is ready. */
  tfo: boolean;
  /** `check`: health-check the server (a layer-4 connect; docs/health-checks.md). */
  check: boolean;
  /** `inter`: time between checks (default 2000 ms). */
  inter: number;
  /** `fastinter`: between checks while the state is changing (default `inter`). */
  fastinter: number | null;
  /** `downinter`: between checks while the server is down (default `inter`). */
  downinter: number | null;
  /** `port`: the port checks connect to (default the server's). */
  checkPort: number | null;
  /** `addr`: the address checks connect to (default the server's). */
  checkAddr: string | null;
  /** `on-marked-down shutdown-sessions`: close the server's sessions when checks mark it DOWN. */
  onMarkedDown: 'shutdown-sessions' | null;
  /** `on-marked-up shutdown-backup-sessions`: close the backups' sessions when this server comes UP. */
  onMarkedUp: 'shutdown-backup-sessions' | null;
  /** `slowstart <time>`: ms over which the weight ramps up after the server comes UP (0: none). */
  slowstart: number;
  /** `check-send-proxy`: checks start with a PROXY header even where the traffic's does not. */
  checkSendProxy: boolean;
  /** `observe layer4`: count failed connections to the server (with `check`). */
  observe: boolean;
  /** `error-limit` (default 10): consecutive errors before `on-error` applies. */
  errorLimit: number;
  /** `on-error` (default fail-check): what `error-limit` consecutive errors do. */
  onError: 'fastinter' | 'fail-check' | 'sudden-death' | 'mark-down';
  /** `rise` (default 2) / `fall` (default 3): consecutive checks to change state. */
  rise: number;
  fall: number;
  /** `resolvers <id>`: the resolvers section that keeps the address current at run time; null: none. */
  resolvers: string | null;
  /** `resolve-prefer ipv4|ipv6` (default ipv6): the family asked first and preferred in answers. */
  resolvePrefer: 'ipv4' | 'ipv6';
  /** `resolve-net <net>[,<net>...]`: answers in these networks are preferred, in this order. */
  resolveNet: IpPattern[];
  /** `resolve-opts`: `allow-dup-ip` (default: one address per backend), `ignore-weight` (SRV weights). */
  resolveOpts: { allowDupIp: boolean; ignoreWeight: boolean };
  /** `init-addr` (default `last,libc`): where the address at startup comes from, tried in order. */
  initAddr: InitAddrMethod[];
  origin: Origins;
}

/**
 * One method of `init-addr`: 'last' (a server-state file: epoxy has none, so it never gives an
 * address), 'libc' (the system resolver, once at startup), 'none' (start without an address, in
 * maintenance until the resolvers find one), or a fixed address.
 */
export type InitAddrMethod = { readonly kind: 'last' } | { readonly kind: 'libc' } | { readonly kind: 'none' } | { readonly kind: 'ip'; readonly address: SocketAddress };

export interface ServerConfig extends ServerOptions {
  readonly name: string;
  readonly address: ServerAddress;
  /**
   * A server made by `server-template <prefix> <num> <fqdn>`: its prefix and slot number (the
   * name is prefix + slot). Its address is the fqdn (a numeric address is allowed too); an
   * `_service._proto.name` fqdn is resolved as SRV records, which give each slot its target and
   * port (isSrvRecordName()).
   */
  readonly template: { readonly prefix: string; readonly slot: number } | null;
  /** `id`: fixed numeric id (> 0, unique in the backend); null = its position from 1. */
  id: number | null;
  readonly where: Where;
}

// ---------------------------------------------------------------------------------------------
// Proxies

export type ProxyKind = 'frontend' | 'backend' | 'listen';
export type SectionKind = 'global' | 'defaults' | ProxyKind;

/** HAProxy's `timeout` keywords that apply to TCP, in milliseconds; null = not set (infinite). */
export interface Timeouts {
  connect: number | null;
  client: number | null;
  server: number | null;
  tunnel: number | null;
  clientFin: number | null;
  /** The handshake (PROXY header) deadline from accept; null: `client` applies. */
  clientHs: number | null;
  serverFin: number | null;
  queue: number | null;
  /** `timeout check`: stored for when health checks land. */
  check: number | null;
}

/** How a backend picks a server (`balance`); the same names as src/backend's BalanceAlgorithm. */
export type Balance =
  | { readonly kind: 'roundrobin' }
  | { readonly kind: 'static-rr' }
  | { readonly kind: 'leastconn' }
  | { readonly kind: 'first' }
  | { readonly kind: 'source' }
  | { readonly kind: 'random'; readonly draws: number };

/** `hash-type <method> [<function> [avalanche]]`, used by `balance source`. */
export interface HashType {
  readonly method: 'map-based' | 'consistent';
  readonly function: 'sdbm' | 'djb2' | 'wt6' | 'crc32';
  readonly avalanche: boolean;
}

/** The `option` keywords epoxy knows (all take no argument except redispatch's interval). */
export interface ProxyOptions {
  /** `option redispatch [<interval>]`: on connection failure retry another server. */
  redispatch: boolean;
  /** Redispatch on every `interval`-th retry (HAProxy: -1 = only the last, the default). */
  redispatchInterval: number;
  /** `option allbackups`: use every backup server at once when no active one is up. */
  allbackups: boolean;
  /** `option tcplog`: HAProxy's TCP log line at the end of each session (docs/logging.md). */
  tcplog: boolean;
  /** `option dontlognull`: no log line for connections that carried no data. */
  dontlognull: boolean;
  /** `option logasap`: log once the server connection is up, with `+` before what is still growing. */
  logasap: boolean;
  /** `option epoxy-log-start` (epoxy extension): one more line when a session's server connection is up. */
  logStart: boolean;
  /** `option tcpka`: SO_KEEPALIVE on both sides; `clitcpka` client side, `srvtcpka` server side. */
  tcpka: boolean;
  clitcpka: boolean;
  srvtcpka: boolean;
  /** `option nolinger`: close with RST (SO_LINGER 0). */
  nolinger: boolean;
  /** `option tcp-smart-accept` (frontends): TCP_QUICKACK 0 on listeners, the reply carries the ACK. */
  tcpSmartAccept: boolean;
  /** `option tcp-smart-connect` (backends): TCP_QUICKACK 0 on server sockets with data ready to go. */
  tcpSmartConnect: boolean;
  /**
   * `option splice-auto` / `splice-request` / `splice-response`: relay bulk transfers with
   * splice(2). Any of them in any proxy turns splicing on for the process (docs/relay.md).
   */
  spliceAuto: boolean;
  spliceRequest: boolean;
  spliceResponse: boolean;
  /**
   * What a server's `check` does: 'connect' (layer 4, the default), or the protocol check an
   * option chose: `option tcp-check` (the `tcp-check` rules), `option httpchk`, `option redis-check`.
   */
  healthCheck: 'connect' | 'tcp-check' | 'httpchk' | 'redis-check' | 'pgsql-check' | 'smtpchk' | 'ldap-check' | 'ssl-hello-chk' | 'mysql-check';
  /** `option mysql-check [user <name> [post-41|pre-41]]`: the user to log in as, or null (greeting only). */
  mysqlUser: string | null;
  /** `option pgsql-check user <name>`: the user of the startup message. */
  pgsqlUser: string | null;
  /** `option smtpchk [HELO|EHLO <domain>]`: the greeting (default HELO localhost). */
  smtpHello: { verb: string; domain: string } | null;
  /** `option httpchk [<method>] [<uri>] [<version>]`'s request line (HAProxy: OPTIONS / HTTP/1.0). */
  httpchk: { method: string; uri: string; version: string } | null;
}

/** One `tcp-check` rule (HAProxy's tcpcheck rules), in order; a step number is its position from 1. */
export type TcpCheckRule =
  | { readonly kind: 'connect'; readonly port: number | null; readonly sendProxy: boolean; readonly where: Where }
  | { readonly kind: 'send'; readonly data: Uint8Array; readonly where: Where }
  | {
      readonly kind: 'expect';
      readonly negate: boolean;
      readonly match: 'string' | 'binary' | 'rstring' | 'rbinary';
      /** As written: the text, the hex digits, or the regex source. */
      readonly pattern: string;
      readonly where: Where;
    };

/** `http-check send` and `http-check expect` (with `option httpchk`). */
export interface HttpCheckRules {
  /** `http-check send meth <m> uri <u> ver <v> hdr <name> <value>...`; null: the option's request. */
  send: { method: string | null; uri: string | null; version: string | null; headers: Array<[string, string]> } | null;
  /** `http-check expect [!] status|rstatus|string <pattern>`; null: any 2xx or 3xx status passes. */
  expect: { negate: boolean; match: 'status' | 'rstatus' | 'string'; pattern: string } | null;
}

/** Everything a defaults section presets, and that proxies inherit from one. */
export interface ProxySettings {
  /**
   * `mode`: 'tcp', or 'http' for the two HTTP uses epoxy has, a frontend serving the Prometheus
   * exporter (see `service`) and a listen or frontend section serving the stats page (`statsPage`).
   */
  mode: 'tcp' | 'http';
  /** `maxconn` (frontends): concurrent connections; null = HAProxy's default (global maxconn). */
  maxconn: number | null;
  /** `backlog` (frontends): listen() backlog; null = maxconn. */
  backlog: number | null;
  timeouts: Timeouts;
  /** `retries` (backends): connection attempts after the first (default 3). */
  retries: number | null;
  options: ProxyOptions;
  /** `balance` (backends); null = roundrobin. */
  balance: Balance | null;
  /** `hash-type`; null = map-based sdbm. */
  hashType: HashType | null;
  /** `default_backend` (frontends). */
  defaultBackend: string | null;
  /** `tcp-request inspect-delay` (frontends), ms: how long content rules wait for bytes; null: not set. */
  inspectDelay: number | null;
  logs: LogTarget[];
  /**
   * `log-format <string>` (frontends): the session line's layout, checked when parsed. A later
   * `option tcplog` replaces it, and a later `log-format` replaces `option tcplog`, as in HAProxy.
   */
  logFormat: { readonly text: string; readonly where: Where } | null;
  /** `log-tag` of this proxy; null: the global one. */
  logTag: string | null;
  /** `source` (backends): how connections to servers bind. */
  source: ConnectSource | null;
  /** `default-server`: options every later `server` line starts from. */
  defaultServer: ServerOptions;
  /** `tcp-check` rules (a section's own replace those of its defaults). */
  tcpCheckRules: TcpCheckRule[];
  /** `http-check send` / `expect`. */
  httpCheck: HttpCheckRules;
  /** `disabled` / `enabled`. */
  disabled: boolean;
  origin: Origins;
}

/** A `defaults` section. */
export interface DefaultsConfig extends ProxySettings {
  readonly kind: 'defaults';
  /** '' for an anonymous section. */
  readonly name: string;
  /** The defaults section this one started from (`from`), or null. */
  readonly from: string | null;
  /** ACLs and tcp-request rules: only in named defaults, inherited by frontends. */
  readonly acls: Map<string, Acl>;
  readonly tcpRequestConnection: TcpRequestRule[];
  readonly tcpRequestContent: TcpRequestRule[];
  readonly where: Where;
}

/** A `frontend`, `backend` or `listen` section. */
export interface ProxyConfig extends ProxySettings {
  readonly kind: ProxyKind;
  readonly name: string;
  /** The defaults section it inherited from ('' = anonymous), null if none existed. */
  readonly defaults: string | null;
  /** `id`: fixed numeric id; null = assigned in declaration order. */
  id: number | null;
  description: string | null;
  /** `bind` lines (frontends). */
  readonly binds: BindLine[];
  readonly acls: Map<string, Acl>;
  readonly tcpRequestConnection: TcpRequestRule[];
  /** `tcp-request content` rules, evaluated on the client's first bytes (frontends). */
  readonly tcpRequestContent: TcpRequestRule[];
  /** `use_backend` rules, in order (frontends). */
  readonly useBackend: SwitchingRule[];
  /** `server` lines, in order (backends). */
  readonly servers: ServerConfig[];
  /** `stick-table` (one per proxy), or null. */
  stickTable: StickTableConfig | null;
  /** `stick match|on|store-request` rules, in order (backends). */
  readonly stickRules: StickRule[];
  /** `use-server` rules, in order (backends). */
  readonly useServer: UseServerRule[];
  /**
   * `http-request use-service prometheus-exporter [if { path <path> }]` in a `mode http`
   * frontend: it serves the metrics (at that path only, or at any), and nothing else.
   */
  service: HttpService | null;
  /**
   * `stats enable|uri|realm|auth|refresh|admin|hide-version|scope` in a `mode http` listen or
   * frontend: it serves HAProxy's statistics page, and nothing else. Null when no `stats` line.
   */
  statsPage: StatsPageConfig | null;
  readonly where: Where;
}

/** The statistics page of a `mode http` listen or frontend section (HAProxy's `stats *` keywords). */
export interface StatsPageConfig {
  /** `stats uri <prefix>`: requests whose URI starts with it get the page (HAProxy's default '/haproxy?stats'). */
  uri: string;
  /** `stats realm`: the Basic authentication realm (default 'HAProxy Statistics'). */
  realm: string;
  /** `stats auth <user>:<password>` lines; none: no authentication. */
  users: Array<{ readonly user: string; readonly password: string }>;
  /** `stats refresh <delay>` in ms: the page asks the browser to reload it; null: never. */
  refreshMs: number | null;
  /** `stats admin if|unless <cond>`: who may change servers' states from the page; null: nobody. */
  admin: Condition | null;
  /** `stats hide-version`: the page names epoxy without its version. */
  hideVersion: boolean;
  /** `stats scope <name>` lines ('.' already replaced by the section's name); empty: every proxy. */
  scope: string[];
  /** The first `stats` line (for messages). */
  readonly where: Where;
}

export interface HttpService {
  readonly kind: 'prometheus-exporter';
  /** The only path served; null: every path. */
  readonly path: string | null;
  readonly where: Where;
}

/** Whether `proxy` serves HTTP (the exporter or the stats page) rather than TCP sessions. */
export const servesHttp = (proxy: ProxyConfig): boolean => proxy.mode === 'http';

/** One `bind` line: its options and one address per socket (see src/listener/bind-parser.ts). */
export interface BindLine {
  readonly bind: BindConf;
  readonly addresses: SocketAddress[];
  readonly where: Where;
}

// ---------------------------------------------------------------------------------------------
// Name resolution at run time (HAProxy's `resolvers` section)

/** `hold <status> <period>`, in ms (HAProxy 2.6's defaults: 30 s for the errors, valid 10 s, obsolete 0). */
export interface ResolverHolds {
  /** How long an answer's addresses survive NXDOMAIN, REFUSED, a timeout or another error. */
  nx: number;
  refused: number;
  timeout: number;
  other: number;
  /** How long a valid answer stands before the name is asked again (no sooner than `timeout resolve`). */
  valid: number;
  /** How long a record missing from newer answers is kept before its server loses it. */
  obsolete: number;
}

/**
 * `nameserver <name> <address>:<port>` (UDP). HAProxy 2.6 wants the port in the file; the
 * nameservers `parse-resolv-conf` reads from /etc/resolv.conf use port 53, and are named after
 * their address text, with /etc/resolv.conf and its line as `where`.
 */
export interface NameserverConfig {
  readonly name: string;
  readonly address: SocketAddress;
  readonly where: Where;
}

/** A `resolvers <id>` section. */
export interface ResolversConfig {
  readonly name: string;
  /** In order; `parse-resolv-conf` adds /etc/resolv.conf's where it stands. */
  readonly nameservers: NameserverConfig[];
  readonly hold: ResolverHolds;
  /** `resolve_retries` (default 3): queries sent for one resolution before it fails. */
  resolveRetries: number;
  /** `timeout resolve` (default 1 s): how often resolutions are considered. */
  timeoutResolve: number;
  /** `timeout retry` (default 1 s): the wait for an answer before asking again. */
  timeoutRetry: number;
  /** `accepted_payload_size` (512..65535, default 512): the EDNS0 UDP payload size announced. */
  acceptedPayloadSize: number;
  readonly where: Where;
}

/**
 * HAProxy takes any server name starting with '_' (`_http._tcp.example.com`) as an SRV record
 * name, with or without a port: its records give each server a target and a port.
 */
export function isSrvRecordName(address: ServerAddress): boolean {
  return address.kind === 'hostname' && address.host.startsWith('_');
}

export function defaultResolverHolds(): ResolverHolds {
  return { nx: 30_000, refused: 30_000, timeout: 30_000, other: 30_000, valid: 10_000, obsolete: 0 };
}

/** A whole configuration. */
export interface Config {
  readonly global: GlobalConfig;
  /** Every defaults section, in order. */
  readonly defaults: DefaultsConfig[];
  /** Frontends, backends and listens, in declaration order. */
  readonly proxies: ProxyConfig[];
  /** `resolvers` sections, in declaration order. */
  readonly resolvers: ResolversConfig[];
  /** The files read, in order (directories expanded). */
  readonly files: string[];
}

/** A frontend-capable proxy (frontend or listen). */
export const hasFrontend = (proxy: ProxyConfig): boolean => proxy.kind !== 'backend';

/** Listening sockets a configuration opens: each address of each bind line of enabled frontends. */
export function listenerCount(config: Pick<Config, 'proxies'>): number {
  let n = 0;
  for (const proxy of config.proxies) if (hasFrontend(proxy) && !proxy.disabled) for (const bind of proxy.binds) n += bind.addresses.length;
  return n;
}
/** A backend-capable proxy (backend or listen). */
export const hasBackend = (proxy: ProxyConfig): boolean => proxy.kind !== 'frontend';

// ---------------------------------------------------------------------------------------------
// Builders of unset settings

export function emptyTune(): TuneSettings {
  return {
    bufsize: null,
    maxaccept: null,
    runqueueDepth: null,
    maxpollevents: null,
    rcvbufClient: null,
    rcvbufServer: null,
    sndbufClient: null,
    sndbufServer: null,
    pipesize: null,
    notsentLowatClient: null,
    notsentLowatServer: null,
    nodelay: null,
    relayThread: null,
  };
}

export function emptyGlobal(): GlobalConfig {
  return {
    maxconn: null,
    maxpipes: null,
    ulimitN: null,
    nbthread: 1,
    spreadChecks: 0,
    process: emptyProcessSettings(),
    noEpoll: false,
    noPoll: false,
    busyPolling: false,
    noReusePort: false,
    noSplice: false,
    quiet: false,
    zeroWarning: false,
    logs: [],
    statsSockets: [],
    statsTimeout: 10_000,
    logTag: null,
    logHostname: null,
    tune: emptyTune(),
    origin: {},
  };
}

export function emptyTimeouts(): Timeouts {
  return { connect: null, client: null, server: null, tunnel: null, clientFin: null, clientHs: null, serverFin: null, queue: null, check: null };
}

export function emptyOptions(): ProxyOptions {
  return {
    redispatch: false,
    redispatchInterval: -1,
    allbackups: false,
    tcplog: false,
    dontlognull: false,
    logasap: false,
    logStart: false,
    tcpka: false,
    clitcpka: false,
    srvtcpka: false,
    nolinger: false,
    tcpSmartAccept: false,
    tcpSmartConnect: false,
    spliceAuto: false,
    spliceRequest: false,
    spliceResponse: false,
    healthCheck: 'connect',
    httpchk: null,
    pgsqlUser: null,
    mysqlUser: null,
    smtpHello: null,
  };
}

/** HAProxy's server defaults: weight 1, unlimited, checks every 2 s, rise 2, fall 3. */
export function defaultServerOptions(): ServerOptions {
  return {
    weight: 1,
    maxconn: 0,
    maxqueue: 0,
    backup: false,
    disabled: false,
    sendProxy: null,
    source: null,
    tfo: false,
    check: false,
    inter: 2000,
    fastinter: null,
    downinter: null,
    checkPort: null,
    checkAddr: null,
    onMarkedDown: null,
    onMarkedUp: null,
    slowstart: 0,
    checkSendProxy: false,
    observe: false,
    errorLimit: 10,
    onError: 'fail-check',
    rise: 2,
    fall: 3,
    resolvers: null,
    resolvePrefer: 'ipv6',
    resolveNet: [],
    resolveOpts: { allowDupIp: false, ignoreWeight: false },
    initAddr: [{ kind: 'last' }, { kind: 'libc' }],
    origin: {},
  };
}

/** Settings of a proxy created without any defaults section (HAProxy's built-in defaults). */
export function builtinSettings(): ProxySettings {
  return {
    mode: 'tcp',
    maxconn: null,
    backlog: null,
    timeouts: emptyTimeouts(),
    retries: null,
    options: emptyOptions(),
    balance: null,
    hashType: null,
    defaultBackend: null,
    inspectDelay: null,
    logs: [],
    logFormat: null,
    logTag: null,
    source: null,
    defaultServer: defaultServerOptions(),
    tcpCheckRules: [],
    httpCheck: { send: null, expect: null },
    disabled: false,
    origin: {},
  };
}

/** A copy of `from`'s inheritable settings, for a new section (HAProxy's init from defaults). */
export function inheritSettings(from: ProxySettings): ProxySettings {
  return {
    mode: from.mode,
    maxconn: from.maxconn,
    backlog: from.backlog,
    timeouts: { ...from.timeouts },
    retries: from.retries,
    options: { ...from.options },
    balance: from.balance,
    hashType: from.hashType,
    defaultBackend: from.defaultBackend,
    inspectDelay: from.inspectDelay,
    logs: [...from.logs],
    logFormat: from.logFormat,
    logTag: from.logTag,
    source: from.source,
    defaultServer: { ...from.defaultServer, origin: { ...from.defaultServer.origin } },
    tcpCheckRules: [...from.tcpCheckRules],
    httpCheck: { send: from.httpCheck.send, expect: from.httpCheck.expect },
    disabled: from.disabled,
    origin: { ...from.origin },
  };
}
