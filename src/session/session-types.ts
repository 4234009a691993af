/**
 * Run-time shapes of the TCP proxy's session layer (HAProxy's stream-t.h, proxy counters):
 * frontends and backends as the session layer sees them, once built from the configuration.
 */
import type { ServerDns } from '../dns/resolvers.js';
import type { Balancer } from '../backend/balance.js';
import type { Server } from '../backend/server-types.js';
import type { SocketAddress } from '../address.js';
import type { CheckProgram } from '../check/protocol-check.js';
import type { CompiledLogFormat } from '../log/log-format.js';
import type { ClientHelloFacts } from '../inspect/client-hello.js';
import type { KeyFetch } from '../stick/stick-key.js';
import type { Sample } from '../sample/sample-types.js';
import type { CompiledExpr } from '../sample/expression.js';
import type { VarCondition, VarName } from '../sample/vars.js';
import type { StickTable } from '../stick/stick-table.js';
import type { Listener } from '../listener/listener-types.js';

/**
 * What a condition (`if`/`unless` with ACLs) and the sample fetches of src/sample/fetches.ts can
 * look at: the connection's two ends, its first bytes, the proxies it goes through. A session is
 * one; a test or the stats page may give the addresses alone (fetches of what is absent then
 * give no sample, so their tests do not match).
 */
export interface ConnectionFacts {
  /** Client address (after a PROXY header, the address it announced). */
  src: SocketAddress;
  /** Address the client connected to (the original destination in transparent mode). */
  dst: SocketAddress;
  /** Stick counters sc0..sc2 the connection tracks (null entries: not tracked); absent: none. */
  tracked?: ReadonlyArray<TrackedCounter | null> | null;
  /** The session's variables (`set-var`), created on the first set; absent/null: none. */
  vars?: Map<string, Sample> | null;
  /** The client's first bytes, when the frontend inspects content; absent/null: none read. */
  content?: InspectedContent | null;
  /** The frontend that accepted the connection (fe_name, fe_conn...). */
  readonly frontend?: FrontendRuntime;
  /** The backend the session goes to once switching rules chose it; null before (be_name). */
  readonly backend?: BackendRuntime | null;
  /** The listener that accepted it (dst_conn, so_name). */
  readonly listener?: Listener;
}

/** The client bytes content inspection has buffered, and whether more may still come. */
export interface InspectedContent {
  readonly bytes: Uint8Array;
  readonly length: number;
  /** No more bytes will be waited for: inspect-delay expired, the client closed, the buffer is full. */
  readonly final: boolean;
  /** The TLS facts of the bytes (computed once per length). */
  hello(): ClientHelloFacts;
}

/** A compiled `if`/`unless` condition. */
export type Condition = (facts: ConnectionFacts) => boolean;

/** A compiled content-rule condition: 3 pass, 0 fail, 1 wait for more bytes (src/runtime/condition.ts). */
export type ContentCondition = (facts: ConnectionFacts) => 0 | 1 | 3;

/**
 * What a `tcp-request` rule does when its condition holds: accept and reject end the walk; the
 * stick-counter actions act and the walk goes on.
 */
export type RuleAction =
  | { readonly action: 'accept' | 'reject' }
  | {
      readonly action: 'track-sc';
      readonly counter: number;
      readonly table: StickTable;
      /** WAIT: a content key not in the bytes yet (the rule waits for more). */
      readonly key: KeyFetch;
    }
  | { readonly action: 'sc-inc-gpc0' | 'sc-inc-gpc1' | 'sc-set-gpt0'; readonly counter: number; readonly value: number }
  /** The expression's sample, if any, into the variable; a content sample not in yet: the rule waits. */
  | { readonly action: 'set-var'; readonly name: VarName; readonly conditions: readonly VarCondition[]; readonly expr: CompiledExpr }
  | { readonly action: 'unset-var'; readonly name: VarName };

export type TcpContentRule = RuleAction & {
  /** null: unconditional. */
  readonly condition: ContentCondition | null;
};

export type TcpRequestRule = RuleAction & {
  /** null: unconditional. */
  readonly condition: Condition | null;
};

/** A stick counter a session tracks: the table, and its entry's slot (held until the session ends). */
export interface TrackedCounter {
  readonly table: StickTable;
  readonly slot: number;
  /** The key's sample (sc_* fetches naming another table look it up there). */
  readonly key: Sample;
}

/** `stick match` / `stick store-request` in a backend, compiled. */
export interface StickRuleRuntime {
  readonly kind: 'match' | 'store-request';
  readonly table: StickTable;
  readonly key: KeyFetch;
  readonly condition: Condition | null;
}

/** Timeouts in ms; 0 = none (HAProxy warns about a missing client/server/connect timeout). */
export interface Timeouts {
  connect: number;
  client: number;
  server: number;
  /** Once both sides are connected, replaces client and server (HAProxy's `timeout tunnel`). */
  tunnel: number;
  clientFin: number;
  /** The whole handshake (the PROXY header), from accept: not reset by partial bytes. */
  clientHs: number;
  serverFin: number;
  queue: number;
}

/** Per-proxy and per-server counters: declared once, in src/stats/fields.ts. */
export { COUNTER_FIELDS, Counters, type CounterField } from '../stats/fields.js';
import type { Counters } from '../stats/fields.js';

/**
 * `source <addr>[:port[-port]] [usesrc client | clientip | <addr>] [interface <if>]`: how a
 * connection to a server binds before connect(). Shared by every server that inherits it, so the
 * port rotation of a range is shared too (as HAProxy's port_range is per source).
 */
export interface SourceRuntime {
  /** Bind address; its port (when not 0 and no range) is fixed. Ignored by usesrc client/clientip. */
  readonly address: SocketAddress;
  /** Ports to pick from in turn, or null. */
  readonly portRange: { readonly low: number; readonly high: number } | null;
  /**
   * Transparent proxying: 'client' binds the client's address and port, 'clientip' its address
   * (port 0, or one from the range), an address binds that address; all with IP_TRANSPARENT.
   */
  readonly usesrc: 'client' | 'clientip' | SocketAddress | null;
  /** SO_BINDTODEVICE, or null. */
  readonly interface: string | null;
  /** Next index into portRange (rotation). */
  nextPort: number;
}

/**
 * Options set on every outgoing socket to a server before connect(), decided once at build time
 * (global tune.* and the backend's options), so that a connection pays one syscall per option
 * actually configured and nothing for the others. HAProxy 2.6's tcp_connect_server() semantics.
 */
export interface ServerSocketOptions {
  /** TCP_NODELAY (HAProxy sets it on every server socket; `tune.epoxy.nodelay off` does not). */
  readonly noDelay: boolean;
  /** `tune.rcvbuf.server` / `tune.sndbuf.server`: SO_RCVBUF / SO_SNDBUF in bytes; 0 = unset. */
  readonly rcvbuf: number;
  readonly sndbuf: number;
  /** `tune.epoxy.notsent-lowat.server`: TCP_NOTSENT_LOWAT in bytes; 0 = unset. */
  readonly notSentLowat: number;
  /**
   * `option tcp-smart-connect`: TCP_QUICKACK 0 when bytes wait to be sent as soon as the
   * connection is up (a send-proxy header, client bytes read behind a PROXY header), so they
   * carry the handshake's last ACK instead of a bare ACK going first. HAProxy does it only then.
   */
  readonly smartConnect: boolean;
}

/** How a server is health-checked (`check` and its keywords), resolved at build time. */
export interface ServerCheck {
  /**
   * Where checks connect (`addr`/`port`, else the server's address); null until a server
   * following DNS has an address (it is not checked meanwhile).
   */
  address: SocketAddress | null;
  /** `addr` fixed the address: DNS answers leave it alone. */
  readonly fixedAddress: boolean;
  /** `port`: checks go to this port whatever address the server has; null: the server's. */
  readonly port: number | null;
  readonly inter: number;
  readonly fastinter: number;
  readonly downinter: number;
  readonly rise: number;
  readonly fall: number;
  /** Longest a check may take, connect included (`timeout check`, else `inter`). */
  readonly timeout: number;
  /** With `timeout check`: the connect part is bounded by `timeout connect` (HAProxy's rule). */
  readonly connectTimeout: number;
  /** What the check says and expects (a connect alone, tcp-check rules, httpchk, redis-check). */
  readonly program: CheckProgram;
  /** A PROXY header first (`check-send-proxy`, or the server's `send-proxy` without `port`/`addr`): 1 or 2. */
  readonly sendProxy: 0 | 1 | 2;
  /** The local address checks bind (the server's or backend's `source`, without `usesrc`), or null. */
  readonly source: SocketAddress | null;
  /** `spread-checks`: intervals vary by up to this percentage either way. */
  readonly spread: number;
}

export interface ServerRuntime extends Server {
  /** How the address follows DNS at run time (`resolvers`), or null/absent: it does not. */
  readonly dns?: ServerDns | null;
  /** Health checking, or null without `check` (the server is then always up). */
  readonly check: ServerCheck | null;
  /** The configured weight (`weight` may be lower while `slowstart` ramps it up). */
  readonly nominalWeight?: number;
  /** What a change of health state does (`on-marked-down`, `on-marked-up`, `slowstart` in ms). */
  readonly onMarkedDown?: 'shutdown-sessions' | null;
  readonly onMarkedUp?: 'shutdown-backup-sessions' | null;
  readonly slowstart?: number;
  /** `observe layer4` with `error-limit` and `on-error` (checked servers only), or null. */
  readonly observe?: { readonly errorLimit: number; readonly onError: 'fastinter' | 'fail-check' | 'sudden-death' | 'mark-down' } | null;
  /** Send a PROXY header after connecting: 0 none, 1 (send-proxy), 2 (send-proxy-v2). */
  readonly sendProxy: 0 | 1 | 2;
  /** Bind outgoing connections first (`source`); null: the kernel picks. */
  readonly source: SourceRuntime | null;
  /**
   * With `address` null (a server at 0.0.0.0 / ::, transparent mode): the port to connect to
   * instead of the original destination's; 0 or absent keeps the original port.
   */
  readonly targetPort?: number;
  /**
   * HAProxy's port mapping (`server s 10.0.0.1` without a port, or `:+N` / `:-N`): the port
   * connected to is the client's original destination port plus this offset. Absent or null:
   * the port is fixed.
   */
  readonly portOffset?: number | null;
  readonly counters: Counters;
  /** Set on each outgoing socket before connect(); absent: none (the kernel's defaults). */
  readonly socketOptions?: ServerSocketOptions;
  /**
   * `tfo`: TCP_FASTOPEN_CONNECT, on a first attempt that has bytes to send at once (HAProxy 2.6:
   * the data then rides in the SYN when a cookie is cached; a retry never uses it).
   */
  readonly fastOpen?: boolean;
  /**
   * Connects left before the session layer checks again whether connect() to this server
   * completes inside the call (it does for servers on this host); see connectedAtOnce() in
   * backend/connect.ts.
   */
  connectProbeSkip?: number;
}

/** `use-server <server> if|unless <cond>` of a backend, compiled. */
export interface UseServerRule {
  readonly server: ServerRuntime;
  readonly condition: Condition;
}

/** What the queue fetches read of a backend's queues (backend/queue.ts's BackendQueues). */
export interface QueueGauge {
  /** Sessions waiting, in the backend's queue and its servers'. */
  readonly length: number;
  /** Sessions waiting for `server` in particular. */
  waitingFor(server: ServerRuntime): number;
}

export interface BackendRuntime {
  readonly name: string;
  /** Its numeric id (`id`, else HAProxy's numbering); absent in hand-made runtimes. */
  readonly id?: number;
  /** `use-server` rules, in order; absent or empty: balancing alone picks. */
  readonly useServer?: readonly UseServerRule[];
  /** Its queues, once a session waited (the session layer sets it); absent: none ever did. */
  queues?: QueueGauge;
  readonly servers: ServerRuntime[];
  readonly balancer: Balancer;
  readonly timeouts: Timeouts;
  /** Connection attempts after the first (HAProxy's `retries`, default 3). */
  readonly retries: number;
  /** On the last retry, pick another server (`option redispatch`). */
  readonly redispatch: boolean;
  /** SO_KEEPALIVE on connections to servers (`option tcpka` / `srvtcpka`). */
  readonly serverKeepAlive?: boolean;
  /** Close server connections with an RST, not a FIN (`option nolinger` in the backend). */
  readonly serverNoLinger?: boolean;
  /** `stick match|on|store-request` rules; absent or empty: no stickiness. */
  readonly stickRules?: readonly StickRuleRuntime[];
  /**
   * Its own `tcp-request content` rules, run once use_backend chose it from another proxy (a
   * listen section's run once, as a frontend's); absent or empty: none.
   */
  readonly contentRules?: readonly TcpContentRule[];
  /** Its `tcp-request inspect-delay`, ms, for those rules. */
  readonly inspectDelay?: number;
  readonly counters: Counters;
}

export interface FrontendRuntime {
  readonly name: string;
  /** Its numeric id (`id`, else HAProxy's numbering); absent in hand-made runtimes. */
  readonly id?: number;
  /** Sessions allowed at once; beyond, listeners stop accepting and the kernel queues. */
  readonly maxconn: number;
  readonly timeouts: Timeouts;
  readonly rules: TcpRequestRule[];
  /** `tcp-request content` rules; empty: the client's bytes are not inspected. */
  readonly contentRules?: readonly TcpContentRule[];
  /** `tcp-request inspect-delay`, ms; 0: content rules decide on what is there at once. */
  readonly inspectDelay?: number;
  readonly useBackend: Array<{ backend: BackendRuntime; condition: Condition }>;
  readonly defaultBackend: BackendRuntime | null;
  /** A listen section's own backend side: its content rules ran as the frontend's already. */
  readonly ownBackend?: BackendRuntime | null;
  /** SO_KEEPALIVE on client connections (`option tcpka` / `clitcpka`). */
  readonly clientKeepAlive?: boolean;
  /** Close client connections with an RST, not a FIN (`option nolinger` in the frontend). */
  readonly clientNoLinger?: boolean;
  /** Do not log sessions that carried no data (`option dontlognull`: scans, health probes). */
  readonly dontLogNull?: boolean;
  /** How its sessions are logged; absent: the tcplog line when each ends. */
  readonly logging?: FrontendLogging;
  readonly counters: Counters;
}

/** A frontend's session lines (`option tcplog`, `log-format`, `option logasap`...). */
export interface FrontendLogging {
  /** The line's layout. */
  readonly format: CompiledLogFormat;
  /** 'accept': one line when the session starts (HAProxy's default format); 'end': when it ends. */
  readonly when: 'accept' | 'end';
  /** `option logasap`: the line is written once the server connection is up instead, partial. */
  readonly asap: boolean;
  /** `option epoxy-log-start`: a partial line once the server connection is up, and the end line. */
  readonly start: boolean;
}
