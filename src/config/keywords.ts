/**
 * HAProxy 2.6 keywords epoxy knows but refuses, each with the reason given to the user. The
 * supported keywords are the keys of the parsers' tables (global.ts, proxy.ts, server.ts);
 * docs/configuration.md lists both, and a test keeps the three in step.
 *
 * A refusal reads "'<kw>' is not supported yet (<reason>)" for what epoxy may do one day, and
 * "'<kw>' is not applicable to epoxy (<reason>)" for what it never will.
 */

/** Why a keyword is refused. */
export interface Refusal {
  /** 'yet': may come later; 'never': does not apply to epoxy. */
  readonly kind: 'yet' | 'never';
  readonly reason: string;
}

const yet = (reason: string): Refusal => ({ kind: 'yet', reason });
const never = (reason: string): Refusal => ({ kind: 'never', reason });

const PROCESS = yet('process model');
const HTTP = yet('HTTP mode; epoxy implements mode tcp');
const SSL = yet('SSL/TLS');
const LUA = never('Lua scripting');
const CHECKS = yet('health checks');
const STATS = yet('statistics and the control socket');
const STICK = yet('stick tables');
const LOGGING = yet('logging');
const RATE = yet('rate limiting');
const ENV = yet('environment handling');
const DEVICE = never('device detection libraries');
const RESOLVERS = yet('DNS resolvers');
const COMPRESSION = yet('HTTP compression');
const QUIC = never('QUIC');
const PEERS = yet('peers');
const TUNING = yet('tuning');

/** The "is not supported yet" / "is not applicable" sentence for a refused keyword. */
export function refusalText(keyword: string, refusal: Refusal): string {
  return refusal.kind === 'yet'
    ? `'${keyword}' is not supported yet (${refusal.reason})`
    : `'${keyword}' is not applicable to epoxy (${refusal.reason})`;
}

export const UNSUPPORTED_GLOBAL: Readonly<Record<string, Refusal>> = {
  '51degrees-cache-size': DEVICE,
  '51degrees-data-file': DEVICE,
  '51degrees-property-name-list': DEVICE,
  '51degrees-property-separator': DEVICE,
  'ca-base': SSL,
  'cluster-secret': yet('QUIC and stateless reset'),
  'cpu-map': PROCESS,
  'crt-base': SSL,
  'default-path': yet('configuration paths'),
  description: STATS,
  'deviceatlas-json-file': DEVICE,
  'deviceatlas-log-level': DEVICE,
  'deviceatlas-properties-cookie': DEVICE,
  'deviceatlas-separator': DEVICE,
  'expose-experimental-directives': never('experimental HAProxy directives'),
  'external-check': CHECKS,
  'fd-hard-limit': PROCESS,
  grace: PROCESS,
  'h1-accept-payload-with-any-method': HTTP,
  'h1-case-adjust': HTTP,
  'h1-case-adjust-file': HTTP,
  'h2-workaround-bogus-websocket-clients': HTTP,
  'httpclient.resolvers.id': HTTP,
  'httpclient.resolvers.prefer': HTTP,
  'httpclient.ssl.ca-file': HTTP,
  'httpclient.ssl.verify': HTTP,
  'insecure-fork-wanted': PROCESS,
  'insecure-setuid-wanted': PROCESS,
  'issuers-chain-path': SSL,
  localpeer: PEERS,
  'lua-load': LUA,
  'lua-load-per-thread': LUA,
  'lua-prepend-path': LUA,
  'max-spread-checks': CHECKS,
  maxcompcpuusage: COMPRESSION,
  maxcomprate: COMPRESSION,
  maxconnrate: RATE,
  maxsessrate: RATE,
  maxsslconn: SSL,
  maxsslrate: SSL,
  maxzlibmem: COMPRESSION,
  'no-memory-trimming': TUNING,
  node: STATS,
  nogetaddrinfo: RESOLVERS,
  'numa-cpu-mapping': PROCESS,
  'pp2-never-send-local': yet('PROXY protocol options'),
  presetenv: ENV,
  'profiling.memory': never('HAProxy profiling'),
  'profiling.tasks': never('HAProxy profiling'),
  resetenv: ENV,
  'server-state-base': STATS,
  'server-state-file': STATS,
  'set-dumpable': PROCESS,
  'set-var': yet('variables'),
  setenv: ENV,
  'ssl-default-bind-ciphers': SSL,
  'ssl-default-bind-ciphersuites': SSL,
  'ssl-default-bind-curves': SSL,
  'ssl-default-bind-options': SSL,
  'ssl-default-server-ciphers': SSL,
  'ssl-default-server-ciphersuites': SSL,
  'ssl-default-server-options': SSL,
  'ssl-dh-param-file': SSL,
  'ssl-engine': SSL,
  'ssl-mode-async': SSL,
  'ssl-propquery': SSL,
  'ssl-provider': SSL,
  'ssl-provider-path': SSL,
  'ssl-server-verify': SSL,
  'ssl-skip-self-issued-ca': SSL,
  'strict-limits': PROCESS,
  'thread-group': PROCESS,
  'thread-groups': PROCESS,
  'tune.buffers.limit': TUNING,
  'tune.buffers.reserve': TUNING,
  'tune.comp.maxlevel': COMPRESSION,
  'tune.fail-alloc': never('HAProxy debugging'),
  'tune.fd.edge-triggered': TUNING,
  'tune.h2.header-table-size': HTTP,
  'tune.h2.initial-window-size': HTTP,
  'tune.h2.max-concurrent-streams': HTTP,
  'tune.http.cookielen': HTTP,
  'tune.http.logurilen': HTTP,
  'tune.http.maxhdr': HTTP,
  'tune.idle-pool.shared': TUNING,
  'tune.idletimer': TUNING,
  'tune.lua.forced-yield': LUA,
  'tune.lua.maxmem': LUA,
  'tune.lua.service-timeout': LUA,
  'tune.lua.session-timeout': LUA,
  'tune.lua.task-timeout': LUA,
  'tune.maxrewrite': HTTP,
  'tune.pattern.cache-size': TUNING,
  'tune.peers.max-updates-at-once': PEERS,
  'tune.pool-high-fd-ratio': TUNING,
  'tune.pool-low-fd-ratio': TUNING,
  'tune.quic.frontend.conn-tx-buffers.limit': QUIC,
  'tune.quic.frontend.max-idle-timeout': QUIC,
  'tune.quic.frontend.max-streams-bidi': QUIC,
  'tune.quic.retry-threshold': QUIC,
  'tune.recv_enough': TUNING,
  'tune.sched.low-latency': TUNING,
  'tune.ssl.cachesize': SSL,
  'tune.ssl.capture-buffer-size': SSL,
  'tune.ssl.capture-cipherlist-size': SSL,
  'tune.ssl.default-dh-param': SSL,
  'tune.ssl.force-private-cache': SSL,
  'tune.ssl.hard-maxrecord': SSL,
  'tune.ssl.keylog': SSL,
  'tune.ssl.lifetime': SSL,
  'tune.ssl.maxrecord': SSL,
  'tune.ssl.ssl-ctx-cache-size': SSL,
  'tune.vars.global-max-size': yet('variables'),
  'tune.vars.proc-max-size': yet('variables'),
  'tune.vars.reqres-max-size': yet('variables'),
  'tune.vars.sess-max-size': yet('variables'),
  'tune.vars.txn-max-size': yet('variables'),
  'tune.zlib.memlevel': COMPRESSION,
  'tune.zlib.windowsize': COMPRESSION,
  'unix-bind': yet('unix socket defaults'),
  unsetenv: ENV,
  'wurfl-cache-size': DEVICE,
  'wurfl-data-file': DEVICE,
  'wurfl-information-list': DEVICE,
  'wurfl-information-list-separator': DEVICE,
};

/** Keywords of proxy sections (defaults, frontend, backend, listen). */
export const UNSUPPORTED_PROXY: Readonly<Record<string, Refusal>> = {
  capture: HTTP,
  'clitcpka-cnt': TUNING,
  'clitcpka-idle': TUNING,
  'clitcpka-intvl': TUNING,
  compression: COMPRESSION,
  cookie: HTTP,
  declare: HTTP,
  dispatch: yet('dispatch: use a server line'),
  'dynamic-cookie-key': HTTP,
  'email-alert': yet('email alerts'),
  errorfile: HTTP,
  errorfiles: HTTP,
  errorloc: HTTP,
  errorloc302: HTTP,
  errorloc303: HTTP,
  'error-log-format': LOGGING,
  'external-check': CHECKS,
  filter: yet('filters'),
  'force-persist': HTTP,
  fullconn: yet('dynamic server maxconn (minconn/fullconn)'),
  'hash-balance-factor': yet('bounded-load consistent hashing'),
  'http-after-response': HTTP,
  'http-error': HTTP,
  'http-response': HTTP,
  'http-reuse': HTTP,
  'http-send-name-header': HTTP,
  'ignore-persist': HTTP,
  'load-server-state-from-file': STATS,
  'log-format-sd': LOGGING,
  'max-keep-alive-queue': HTTP,
  'max-session-srv-conns': HTTP,
  monitor: HTTP,
  'monitor-uri': HTTP,
  persist: yet('RDP cookie persistence'),
  'rate-limit': RATE,
  redirect: HTTP,
  'retry-on': HTTP,
  'server-state-file-name': STATS,
  'srvtcpka-cnt': TUNING,
  'srvtcpka-idle': TUNING,
  'srvtcpka-intvl': TUNING,
  'tcp-response': yet('content inspection'),
  transparent: yet('transparent mode (option transparent)'),
  'unique-id-format': HTTP,
  'unique-id-header': HTTP,
  'use-fcgi-app': HTTP,
};

/** `option <name>` values. */
export const UNSUPPORTED_OPTIONS: Readonly<Record<string, Refusal>> = {
  abortonclose: HTTP,
  'accept-invalid-http-request': HTTP,
  'accept-invalid-http-response': HTTP,
  checkcache: HTTP,
  contstats: STATS,
  'disable-h2-upgrade': HTTP,
  'dontlog-normal': LOGGING,
  'external-check': CHECKS,
  forwardfor: HTTP,
  'h1-case-adjust-bogus-client': HTTP,
  'h1-case-adjust-bogus-server': HTTP,
  'http-buffer-request': HTTP,
  'http-ignore-probes': HTTP,
  'http-keep-alive': HTTP,
  'http-no-delay': HTTP,
  'http-pretend-keepalive': HTTP,
  'http-restrict-req-hdr-names': HTTP,
  'http-server-close': HTTP,
  'http-use-proxy-header': HTTP,
  httpclose: HTTP,
  httplog: HTTP,
  httpslog: HTTP,
  'idle-close-on-response': HTTP,
  'independent-streams': yet('independent read/write timeouts'),
  'log-health-checks': CHECKS,
  'log-separate-errors': LOGGING,
  originalto: HTTP,
  persist: yet('persistence'),
  'prefer-last-server': HTTP,
  'socket-stats': STATS,
  'spop-check': CHECKS,
  transparent: yet('transparent mode (option transparent)'),
};

/** `timeout <name>` values. */
export const UNSUPPORTED_TIMEOUTS: Readonly<Record<string, Refusal>> = {
  'http-keep-alive': HTTP,
  'http-request': HTTP,
  tarpit: HTTP,
};

/** Options of `server` and `default-server` lines. */
export const UNSUPPORTED_SERVER: Readonly<Record<string, Refusal>> = {
  'agent-addr': CHECKS,
  'agent-check': CHECKS,
  'agent-inter': CHECKS,
  'agent-port': CHECKS,
  'agent-send': CHECKS,
  'allow-0rtt': SSL,
  alpn: SSL,
  'ca-file': SSL,
  'check-alpn': CHECKS,
  'check-proto': CHECKS,
  'check-sni': CHECKS,
  'check-ssl': CHECKS,
  'check-via-socks4': CHECKS,
  ciphers: SSL,
  ciphersuites: SSL,
  cookie: HTTP,
  'crl-file': SSL,
  crt: SSL,
  'force-sslv3': SSL,
  'force-tlsv10': SSL,
  'force-tlsv11': SSL,
  'force-tlsv12': SSL,
  'force-tlsv13': SSL,
  'log-proto': LOGGING,
  'max-reuse': HTTP,
  minconn: yet('dynamic server maxconn (minconn/fullconn)'),
  namespace: yet('server namespaces'),
  'no-agent-check': CHECKS,
  'no-check-ssl': CHECKS,
  'no-send-proxy-v2-ssl': SSL,
  'no-send-proxy-v2-ssl-cn': SSL,
  'no-ssl': SSL,
  'no-ssl-reuse': SSL,
  'no-sslv3': SSL,
  'no-tls-tickets': SSL,
  'no-tlsv10': SSL,
  'no-tlsv11': SSL,
  'no-tlsv12': SSL,
  'no-tlsv13': SSL,
  'no-verifyhost': SSL,
  'non-stick': STICK,
  npn: SSL,
  'pool-low-conn': HTTP,
  'pool-max-conn': HTTP,
  'pool-purge-delay': HTTP,
  proto: HTTP,
  'proxy-v2-options': yet('PROXY protocol v2 TLVs'),
  redir: HTTP,
  'send-proxy-v2-ssl': SSL,
  'send-proxy-v2-ssl-cn': SSL,
  sni: SSL,
  socks4: yet('SOCKS4'),
  ssl: SSL,
  'ssl-max-ver': SSL,
  'ssl-min-ver': SSL,
  'ssl-reuse': SSL,
  stick: STICK,
  'tcp-ut': yet('TCP_USER_TIMEOUT to servers'),
  'tls-tickets': SSL,
  track: CHECKS,
  verify: SSL,
  verifyhost: SSL,
  ws: HTTP,
};

/** Sections other than global, defaults, frontend, backend and listen. */
export const UNSUPPORTED_SECTIONS: Readonly<Record<string, Refusal>> = {
  cache: HTTP,
  'fcgi-app': HTTP,
  'http-errors': HTTP,
  'log-forward': LOGGING,
  mailers: yet('email alerts'),
  peers: PEERS,
  program: PROCESS,
  ring: LOGGING,
  userlist: HTTP,
};

/** `tcp-request` rule kinds other than `connection`, `content` and `inspect-delay`. */
export const UNSUPPORTED_TCP_REQUEST: Readonly<Record<string, Refusal>> = {
  session: yet('session rules'),
};

/** `tcp-request connection|content` actions epoxy refuses. */
export const UNSUPPORTED_TCP_ACTIONS: Readonly<Record<string, Refusal>> = {
  capture: yet('content inspection'),
  'expect-netscaler-cip': never('NetScaler client IP insertion'),
  'expect-proxy': yet("'expect-proxy layer4': use 'accept-proxy' on the bind line"),
  'sc-inc-gpc': yet('arrays of general purpose counters (gpc(<n>)); use sc-inc-gpc0/sc-inc-gpc1'),
  'sc-set-gpt': yet('arrays of general purpose tags (gpt(<n>)); use sc-set-gpt0'),
  'set-dst': yet('connection rewriting'),
  'set-dst-port': yet('connection rewriting'),
  'set-mark': yet('connection marking'),
  'set-src': yet('connection rewriting'),
  'set-src-port': yet('connection rewriting'),
  'set-tos': yet('connection marking'),
  'set-var-fmt': yet('log-format expressions'),
  'silent-drop': yet('silent-drop'),
};

/** Keywords HAProxy 2.6 itself refuses as removed, with HAProxy's own message. */
export const REMOVED_PROXY: Readonly<Record<string, string>> = {
  appsession: "'appsession' is not supported anymore since HAProxy 1.6.",
  block: "The 'block' directive is not supported anymore since HAProxy 2.1. Use 'http-request deny' which uses the exact same syntax.",
  clitimeout: "the 'clitimeout' directive is not supported anymore since HAProxy 2.1. Use 'timeout client'.",
  contimeout: "the 'contimeout' directive is not supported anymore since HAProxy 2.1. Use 'timeout connect'.",
  grace: "the 'grace' keyword is not supported any more since HAProxy version 2.5.",
  'monitor-net': "'monitor-net' doesn't exist anymore. Please use 'http-request return status 200 if { src <net> }' instead.",
  redispatch: "keyword 'redispatch' directive is not supported anymore since HAProxy 2.1. Use 'option redispatch'.",
  redisp: "keyword 'redisp' directive is not supported anymore since HAProxy 2.1. Use 'option redispatch'.",
  srvtimeout: "the 'srvtimeout' directive is not supported anymore since HAProxy 2.1. Use 'timeout server'.",
  usesrc: "'usesrc' only allowed after a 'source' statement.",
};

export const REMOVED_GLOBAL: Readonly<Record<string, string>> = {
  'tune.chksize': "option 'tune.chksize' is not supported any more (tune.bufsize is used instead).",
};

export const REMOVED_OPTIONS: Readonly<Record<string, string>> = {
  forceclose: "option 'forceclose' is not supported any more since HAProxy 2.0, please just remove it, or use 'option httpclose' if absolutely needed.",
  'http-tunnel': "option 'http-tunnel' is not supported any more since HAProxy 2.1, please just remove it, it shouldn't be needed.",
  http_proxy: "option 'http_proxy' is not supported any more since HAProxy 2.5.",
};
