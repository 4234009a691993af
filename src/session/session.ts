/**
 * The TCP session layer (HAProxy's stream.c + backend.c for `mode tcp`): accept → tcp-request
 * connection rules → optional PROXY header → tcp-request content rules on the client's first
 * bytes (inspect-delay) → backend (use_backend / default_backend) → server (balancing,
 * queue) → non-blocking connect with `timeout connect`, `retries`, `option redispatch` → native
 * relay → close both sides → log and count.
 *
 * JavaScript runs per connection, never per message: once both sides are connected the addon's
 * relay moves the bytes, and JS hears of the session again only when it ends or when its
 * inactivity timer fires. That timer follows the seed's lazy pattern: it is armed once at the
 * timeout, and when it fires early (the relay saw traffic since) it is pushed to the relay's
 * last activity + timeout without the session having been touched per message.
 */
import { SocketAddress } from '../address.js';
import { PeerAddresses } from './peer-addresses.js';
import type { ServerRuntime, BackendRuntime, FrontendRuntime, ConnectionFacts, FrontendLogging, RuleAction, TrackedCounter } from './session-types.js';
import type { StickTable } from '../stick/stick-table.js';
import { WAIT } from '../stick/stick-key.js';
import { FD_EV_ERR_RW, FD_EV_READY_W, FD_EV_SHUT_RW } from '../fd/fd-types.js';
import { listenerFull } from '../listener/listener.js';
import { ListenerState, type Listener } from '../listener/listener-types.js';
import { resumeListener } from '../listener/tcp-bind.js';
import type { Loop } from '../loop/loop.js';
import { constants, native } from '../native.js';
import { TASK_WOKEN_TIMER, type Task } from '../task/task-types.js';
import { tickAdd, tickIsExpired, TICK_ETERNITY } from '../task/ticks.js';
import { ServerConnector, trySet, type ConnectingClient } from '../backend/connect.js';
import { BackendQueues, type WaitQueue, type Waiter } from '../backend/queue.js';
import { serverHasSlot, serverUp, serverUsable } from '../backend/server-types.js';
import { buildProxyHeader, parseProxyHeader, PROXY_MAX_HEADER } from '../proxy-protocol/proxy-protocol.js';
import { logDate, SessionLogRecord, TCPLOG } from '../log/log-format.js';
import { stderrLine } from '../log/targets.js';
import { RATE_CONNECTIONS, RATE_SESSIONS, type Counters } from '../stats/fields.js';
import { InspectBuffer } from '../inspect/content.js';
import { MISS, PASS } from '../runtime/condition.js';
import { evaluateExpression, firstSample } from '../sample/expression.js';
import { NOT_YET } from '../sample/fetches.js';
import type { Sample } from '../sample/sample-types.js';
import { setVar, unsetVar } from '../sample/vars.js';

const { ADDR_SLOT_SIZE } = constants;
// A client on an unnamed unix socket has no address beyond its family.
const UNNAMED_UNIX = SocketAddress.fromBytes(new Uint8Array(new Uint16Array([constants.AF_UNIX]).buffer));
// Data-path calls return -errno; system errors carry a negative `errno` too.
const EAGAIN = -constants.errno.EAGAIN;
/** RelayPort.holding() bits: client bytes wait for the server / server bytes for the client. */
const HELD_FOR_SERVER = 1;
const HELD_FOR_CLIENT = 2;
/**
 * Ends decided by epoxy's own timers. HAProxy 2.6 (observed with strace) then aborts the server
 * connection (SO_LINGER 0) and shuts the client's write side before closing it, so the client
 * reads a FIN even when some of its bytes were never read (a close() alone would send an RST).
 */
const TIMER_ENDS: ReadonlySet<Termination> = new Set<Termination>(['cD', 'sD', 'sC', 'SC', 'sQ', 'cR']);
// Why a connection ended before its PROXY header was read, worded as HAProxy 2.6 logs it
// (observed: each case sent to haproxy with `accept-proxy` and `option tcplog`).
const HEADER_TIMEOUT = 'Timeout while waiting for PROXY protocol header';
const HEADER_EMPTY = 'Connection closed while waiting for PROXY protocol header';
const HEADER_TRUNCATED = 'Truncated PROXY protocol header received';
const HEADER_NOT_PROXY = 'Received something which does not look like a PROXY protocol header';
const HEADER_INVALID = 'Received an invalid PROXY protocol header';
/** HAProxy's pause before retrying a server that refused, unless `timeout connect` is shorter. */
const RETRY_PAUSE_MS = 1000;

/** The layout of a frontend built without one (tests, hand-made runtimes): tcplog at the end. */
const TCPLOG_AT_END: FrontendLogging = { format: TCPLOG, when: 'end', asap: false, start: false };

/** The parts of the native relay the session layer uses (see native/relay.h). */
export interface RelayPort {
  add(fdA: number, fdB: number): number;
  remove(id: number): number;
  /** Replaced when the relay grows: always read through the port, never cached. */
  readonly lastActivity: Uint32Array;
  /** Per pair: bit 0 once A (the client) sent its FIN, bit 1 once B (the server) did. */
  readonly fins: Uint8Array;
  readonly bytes: Float64Array;
  /**
   * Per pair: bit 0 while bytes from A (the client) wait for B to take them, bit 1 while bytes
   * from B wait for A. Absent: unknown (treated as neither).
   */
  holding?(id: number): number;
  /** The clock of lastActivity. */
  nowTick(): number;
}

/** Why a session ended, as HAProxy's two-letter termination state (%ts) spells it. */
export type Termination = `${'-' | 'C' | 'S' | 'P' | 'c' | 's' | 'R' | 'K' | 'D'}${'-' | 'R' | 'Q' | 'C' | 'D'}`;

/** Where session log lines go. */
export type SessionLogger = (line: string) => void;

const enum Phase {
  Header, // waiting for the client's PROXY header
  Inspect, // reading the client's first bytes until the content rules decide
  Queued, // waiting for a server slot
  Connecting, // connect() in progress
  RetryPause, // between a refused attempt and the next one to the same server
  Established, // relayed by the addon
  Closed,
}

/** A session goes to a backend or server: its count, its peak of `open` sessions, its rate, its last time. */
function opened(counters: Counters, open: number, now: number): void {
  counters.add('sessions');
  counters.raise('maxCurrent', open);
  counters.tick(RATE_SESSIONS, now);
  counters.lastSessionTick = now;
}

/**
 * Which side ended a session that reached a backend, as HAProxy's cli_abrt / srv_abrt count it:
 * the client closing, resetting or timing out at any point (observed: a `cD` session counts on
 * the backend and its server), the server resetting or timing out once connected (a failed
 * connect is a connection error, not an abort).
 */
function countAbort(termination: Termination, backend: Counters, server: Counters | null): void {
  const who = termination.charCodeAt(0);
  if (who === 0x43 /* C */ || who === 0x63 /* c */) {
    backend.add('clientAborts');
    server?.add('clientAborts');
  } else if ((who === 0x53 /* S */ || who === 0x73) /* s */ && termination.charCodeAt(1) === 0x44 /* D */) {
    backend.add('serverAborts');
    server?.add('serverAborts');
  }
}

/** Numbers sessions for the runtime API (`show sess`, `shutdown session`), in accept order. */
let nextSerial = 1;

/** What `show sess` says of the phase a session is in. */
const PHASE_NAMES = ['header', 'inspect', 'queued', 'connecting', 'retry-pause', 'established', 'closed'] as const;

/** A session as the runtime API shows it. */
export interface SessionDescription {
  /** '0x' + pid (8 hex digits) + serial (8 hex digits): unique across the workers of a master. */
  readonly id: string;
  readonly proto: 'tcpv4' | 'tcpv6' | 'unix_stream';
  readonly src: string;
  readonly frontend: string;
  readonly backend: string | null;
  readonly server: string | null;
  readonly phase: (typeof PHASE_NAMES)[number];
  readonly ageMs: number;
  readonly clientFd: number;
  readonly serverFd: number;
  readonly attempts: number;
}

/** A rejected PROXY header, as `show errors` prints it. */
export interface CapturedError {
  readonly at: number;
  readonly frontend: string;
  readonly src: string;
  readonly reason: string;
  /** The first MAX_CAPTURED_BYTES bytes received. */
  readonly bytes: Buffer;
  /** How many bytes had been received. */
  readonly length: number;
}

/** Rejected headers kept for `show errors`, and how many of their bytes. */
const MAX_CAPTURED_ERRORS = 16;
const MAX_CAPTURED_BYTES = 256;

function sessionId(serial: number): string {
  return `0x${process.pid.toString(16).padStart(8, '0')}${(serial >>> 0).toString(16).padStart(8, '0')}`;
}

/**
 * The server of the first `use-server` rule that matches and whose server is not down or in
 * maintenance (HAProxy: a rule naming a stopped server is skipped; a draining one is used), or null.
 */
function ruleServer(backend: BackendRuntime, facts: ConnectionFacts): ServerRuntime | null {
  const rules = backend.useServer;
  if (rules === undefined) return null;
  for (const rule of rules) if (serverUp(rule.server) && rule.condition(facts)) return rule.server;
  return null;
}

/**
 * One client connection from accept to close. A class, so every session has one shape. The engine
 * reuses closed sessions (see SessionEngine.sessionPool): `reuse()` must put every field back to
 * the value its declaration gives, which test/session/session-reuse.test.ts checks field by field.
 */
export class Session implements ConnectionFacts, ConnectingClient, Waiter<Session> {
  /** Its number in this process: with the pid, the id `show sess` prints. */
  serial = nextSerial++;
  backend: BackendRuntime | null = null;
  server: ServerRuntime | null = null;
  serverFd = -1;
  phase = Phase.Header;
  /** Connection attempts made so far. */
  attempts = 0;
  relayId = -1;
  task: Task<Session> = null as unknown as Task<Session>;
  /** accept-proxy: the header read so far, and how much of it is filled. */
  header: Uint8Array | null = null;
  headerFill = 0;
  /**
   * Client bytes read before relaying (behind the PROXY header, or by content inspection): sent to
   * the server first.
   */
  early: Uint8Array | null = null;
  /** The bytes content inspection read; kept (pooled) until they are sent or the session ends. */
  content: InspectBuffer | null = null;
  /** dst is final: the PROXY header's, or looked up with SO_ORIGINAL_DST already. */
  dstResolved = false;
  /** Ticks for the log's timers. */
  queuedAt = 0;
  connectStartedAt = 0;
  connectedAt = 0;
  /** Time spent reading the PROXY header (%Th), ms. */
  handshakeMs = 0;
  /** Where its lines go (its frontend's targets), null: not logged. */
  logTo: SessionLogger | null = null;
  /** Its line was written already (`option logasap`): none at the end. */
  logged = false;
  /** Its number among the sessions of the process (%rt). */
  number = 0;
  /** The server connection's local address, kept only when a log format names %bi/%bp. */
  backendSource: SocketAddress | null = null;
  /** Its place while it waits for a server slot (see backend/queue.ts). */
  previousWaiter: Session | null = null;
  nextWaiter: Session | null = null;
  waitingIn: WaitQueue<Session> | null = null;
  ticket = 0;
  /**
   * Stick counters sc0..sc2 this session tracks (`track-sc<n>`): the table and the entry's slot,
   * or null. Allocated on the first track only: sessions of proxies without tables pay nothing.
   */
  tracked: Array<TrackedCounter | null> | null = null;
  /** Its variables (`set-var` of sess/txn/req/res scope), created on the first set only. */
  vars: Map<string, Sample> | null = null;
  /** Neighbours in the engine's list of open sessions (oldest first). */
  prevOpen: Session | null = null;
  nextOpen: Session | null = null;
  /** The content rule to resume from when more bytes come (HAProxy's current_rule). */
  contentRule = 0;
  private local: SocketAddress | null = null;

  /** Client address once known (see `src`). */
  private source: SocketAddress | null = null;

  constructor(
    public frontend: FrontendRuntime,
    public listener: Listener,
    public clientFd: number,
    public acceptedAt: number,
    /** Where the accepted address waits until `src` is first read. */
    private readonly peers: PeerAddresses<Session>,
  ) {}

  /**
   * Makes a closed session a new one, as `new Session(...)` would, keeping its task (which the
   * caller renews). Every field declared above is set here again: one missed would carry a closed
   * session's state into a new connection.
   */
  reuse(frontend: FrontendRuntime, listener: Listener, clientFd: number, acceptedAt: number): void {
    this.serial = nextSerial++;
    this.backend = null;
    this.server = null;
    this.serverFd = -1;
    this.phase = Phase.Header;
    this.attempts = 0;
    this.relayId = -1;
    this.header = null;
    this.headerFill = 0;
    this.early = null;
    this.content = null;
    this.dstResolved = false;
    this.queuedAt = 0;
    this.connectStartedAt = 0;
    this.connectedAt = 0;
    this.handshakeMs = 0;
    this.logTo = null;
    this.logged = false;
    this.number = 0;
    this.backendSource = null;
    this.previousWaiter = null;
    this.nextWaiter = null;
    this.waitingIn = null;
    this.ticket = 0;
    this.tracked = null;
    this.vars = null;
    this.prevOpen = null;
    this.nextOpen = null;
    this.contentRule = 0;
    this.local = null;
    this.source = null;
    this.frontend = frontend;
    this.listener = listener;
    this.clientFd = clientFd;
    this.acceptedAt = acceptedAt;
  }

  /** Client address (after a PROXY header, the address it announced), decoded on first use. */
  get src(): SocketAddress {
    if (this.source === null) this.source = this.peers.address(this.clientFd, this);
    return this.source;
  }

  set src(address: SocketAddress) {
    this.source = address;
  }

  /**
   * The address the client connected to, looked up on first use: most sessions never need it
   * (no dst ACL, no transparent server, no send-proxy), and HAProxy too only calls getsockname
   * when something asks. A lookup that fails (the socket is somehow unusable) falls back to the
   * listener's own address rather than throwing from inside a rule or a log line.
   */
  get dst(): SocketAddress {
    if (this.local === null) {
      try {
        this.local = SocketAddress.fromBytes(native.getsockname(this.clientFd));
      } catch {
        this.local = this.listener.addr;
      }
    }
    return this.local;
  }

  set dst(address: SocketAddress) {
    this.local = address;
  }

  /**
   * Where a server at 0.0.0.0 / :: connects: the client's original destination. A TPROXY-diverted
   * connection (a `transparent` listener) is accepted on that very address, so getsockname (the
   * session's dst) is it. Behind NAT (REDIRECT/DNAT) the accepted socket's address is the
   * proxy's own: the pre-NAT destination comes from conntrack (SO_ORIGINAL_DST), looked up once,
   * and it becomes the session's dst (logs, send-proxy). A PROXY header's destination wins.
   */
  originalDestination(): SocketAddress {
    if (!this.dstResolved) {
      this.dstResolved = true;
      if (!this.listener.bind.transparent && this.dst.family !== 'unix') {
        try {
          this.dst = SocketAddress.fromBytes(native.getOriginalDst(this.clientFd));
        } catch {
          // Not NATed (ENOENT), or no conntrack: getsockname's address is the best there is.
        }
      }
    }
    return this.dst;
  }
}

export interface SessionEngineOptions {
  /** Process-wide limit of sessions (global maxconn): above it, listeners are LIMITED. */
  maxconn?: number;
  /** Every frontend's session lines (a test, a library caller that wants them). */
  log?: SessionLogger;
  /** Each frontend's own: where its lines go, or null: that frontend logs nothing. Beaten by `log`. */
  logFor?: (frontend: FrontendRuntime) => SessionLogger | null;
  /** Problems worth an operator's attention (a `source` that cannot bind); default: stderr. */
  alert?: (message: string) => void;
  /** Conditions an operator should know of that the engine works around (accept pauses). */
  warning?: (message: string) => void;
  /**
   * `observe layer4`: the outcome of every connection attempt to a server that has it (false:
   * refused or timed out), for the health checks' error counting.
   */
  observe?: (server: ServerRuntime, ok: boolean) => void;
}

/**
 * accept() failures that mean "no resource now" rather than "this connection failed": retrying at
 * once fails again, and a level-triggered listener would report the waiting connection again at
 * once, spinning a core (measured: ~9,000 failed accept4 a second under `ulimit -n 256`). The
 * listener pauses and is retried after ACCEPT_RETRY_MS, as HAProxy does, with its messages.
 */
const ACCEPT_RESOURCE_ERRORS: ReadonlyMap<number, string> = new Map([
  [-constants.errno.EMFILE, "reached process FD limit (maxsock=%d). Please check 'ulimit-n' and restart."],
  [-constants.errno.ENFILE, 'reached system FD limit (maxsock=%d). Please check system tunables.'],
  [-constants.errno.ENOBUFS, 'reached system memory limit (maxsock=%d). Please check system tunables.'],
  [-constants.errno.ENOMEM, 'reached system memory limit (maxsock=%d). Please check system tunables.'],
]);
/** Closed sessions kept for reuse at most: ~0.5 KiB each. */
const SESSION_POOL_MAX = 4096;

/** HAProxy retries a listener paused by a resource shortage after 100 ms. */
const ACCEPT_RETRY_MS = 100;

/** SO_LINGER {1, 0}: the close() that follows sends an RST instead of a FIN. */
const ABORT_ON_CLOSE = { enabled: true, seconds: 0 };

export class SessionEngine {
  /** Sessions open now, all frontends. */
  current = 0;
  /**
   * Open sessions in accept order, linked through the sessions themselves (`prevOpen`,
   * `nextOpen`), and the relayed ones by relay id: a Set and a Map here cost an allocation per
   * connection and, promoted, mark-compacts (issue 16's profile).
   */
  private oldest: Session | null = null;
  private newest: Session | null = null;
  private readonly byRelay: Array<Session | null> = [];
  private readonly queues = new Map<BackendRuntime, BackendQueues<Session, ServerRuntime>>();
  private readonly limited = new Set<Listener>();
  private readonly acceptOut = new Int32Array(2 * 64);
  private readonly acceptAddrs = new Uint8Array(64 * ADDR_SLOT_SIZE);
  /**
   * Closed sessions, with their tasks, kept for new connections: a Session and its TaskRecord
   * were ~420 B of JS heap per connection, a scavenge every ~2,500 connections by themselves
   * (issue 16). Bounded by SESSION_POOL_MAX; nothing else refers to a session once close()
   * returned (its fd table entries, queue place, relay id and tracked entries are released there).
   */
  private readonly sessionPool: Session[] = [];
  /** Open sessions' client addresses until something reads them (see PeerAddresses). */
  private readonly peers = new PeerAddresses<Session>();
  /** Process-wide limit (`set maxconn global` changes it at run time). */
  maxconn: number;
  /** The latest rejected PROXY headers, oldest first, for `show errors` (at most MAX_CAPTURED_ERRORS). */
  private readonly capturedErrors: CapturedError[] = [];
  private errorsCaptured = 0;
  private readonly log: SessionLogger | null;
  private readonly logFor: ((frontend: FrontendRuntime) => SessionLogger | null) | null;
  /** Each frontend's writer, decided once (acceptHandler). */
  private readonly writers = new Map<FrontendRuntime, SessionLogger | null>();
  /** Lines each frontend has written (%lc). */
  private readonly logCounts = new Map<FrontendRuntime, number>();
  /** Sessions accepted so far, numbering them (%rt). */
  private accepted = 0;
  /** The one record every line is written from (lines are written one at a time). */
  private readonly record = new SessionLogRecord();
  private recordSession: Session | null = null;
  private readonly alert: (message: string) => void;
  private readonly warning: (message: string) => void;
  /** Listeners paused by an accept() resource error, warned about once until one accept works. */
  private readonly starved = new Set<Listener>();
  /** Retries starved listeners after ACCEPT_RETRY_MS (one task for all of them). */
  private retryTask: Task<SessionEngine> | null = null;
  /** The timer callback of every session's task (one function, not a closure per session). */
  private readonly onTimerCallback = (task: Task<Session>, session: Session, reasons: number): Task<Session> | null =>
    this.onTimer(task, session, reasons);
  /** One peek buffer for every PROXY header: headers are read whole or not at all. */
  private readonly headerBuffer = new Uint8Array(PROXY_MAX_HEADER);
  private readonly listenerLabels = new WeakMap<Listener, string>();

  constructor(
    private readonly loop: Loop,
    private readonly relay: RelayPort,
    options: SessionEngineOptions = {},
  ) {
    this.maxconn = options.maxconn ?? 0;
    this.log = options.log ?? null;
    this.logFor = options.logFor ?? null;
    this.alert = options.alert ?? ((message) => process.stderr.write(stderrLine('ALERT', message)));
    // Read through the session being logged, so a line costs no closure.
    this.record.frontendAddress = () => this.recordSession!.dst;
    this.record.backendSource = () => this.recordSession!.backendSource;
    this.record.serverAddress = () => {
      const session = this.recordSession!;
      return session.server === null ? null : this.connector.target(session.server, session);
    };
    this.warning = options.warning ?? this.alert;
    this.observe = options.observe ?? null;
    this.connector = new ServerConnector(this.alert);
  }

  private readonly observe: ((server: ServerRuntime, ok: boolean) => void) | null;
  private readonly connector: ServerConnector;

  /**
   * The listener accept callback for one frontend: give it to bindListener's context.
   * `listeners`: the frontend's, in configuration order, numbered from 1 in log lines about
   * connections that never became sessions (a bind line's `name` replaces the number).
   */
  acceptHandler(frontend: FrontendRuntime, listeners: readonly Listener[] = []): (fd: number) => void {
    listeners.forEach((listener, i) => this.listenerLabels.set(listener, listener.bind.name ?? String(listener.bind.id ?? i + 1)));
    if (!this.writers.has(frontend)) this.writers.set(frontend, this.log ?? this.logFor?.(frontend) ?? null);
    return (fd) => this.accept(fd, frontend);
  }

  private linkOpen(session: Session): void {
    session.prevOpen = this.newest;
    session.nextOpen = null;
    if (this.newest !== null) this.newest.nextOpen = session;
    else this.oldest = session;
    this.newest = session;
  }

  private unlinkOpen(session: Session): void {
    if (session.prevOpen !== null) session.prevOpen.nextOpen = session.nextOpen;
    else if (this.oldest === session) this.oldest = session.nextOpen;
    if (session.nextOpen !== null) session.nextOpen.prevOpen = session.prevOpen;
    else if (this.newest === session) this.newest = session.prevOpen;
    session.prevOpen = session.nextOpen = null;
  }

  /** The open sessions, oldest first, as an array (control paths: a loop body may close them). */
  private openSessions(): Session[] {
    const list: Session[] = [];
    for (let s = this.oldest; s !== null; s = s.nextOpen) list.push(s);
    return list;
  }

  /** Called with the relay's ended records: [id, reason, errno] × count. */
  relayEnded(ended: Int32Array, count: number, reasonName: (reason: number) => Termination): void {
    this.loop.pinNow(); // one clock read for the batch
    try {
      for (let i = 0; i < count; i++) {
        const id = ended[3 * i]!;
        const session = this.byRelay[id];
        if (!session) continue; // removed by us (timeout, stop): already closed
        this.byRelay[id] = null;
        this.close(session, reasonName(ended[3 * i + 1]!));
      }
    } finally {
      this.loop.unpinNow();
    }
    // This runs from the relay's libuv callback, outside any turn: closing sessions may have
    // started queued ones (interest queued on the fd table, timers), which only a turn applies.
    this.loop.requestTurnIfNeeded();
  }

  private accept(listenerFd: number, frontend: FrontendRuntime): void {
    const listener = this.loop.fdtab.entry(listenerFd)?.owner as Listener | undefined;
    if (!listener) return;
    const out = this.acceptOut;
    // Accept no more than the frontend, the listener and the process may still take.
    let room = out.length / 2;
    if (frontend.maxconn > 0) room = Math.min(room, frontend.maxconn - frontend.counters.get('current'));
    if (listener.maxconn > 0) room = Math.min(room, listener.maxconn - listener.nbconn);
    if (this.maxconn > 0) room = Math.min(room, this.maxconn - this.current);
    if (room <= 0) {
      this.saturated(listener);
      return;
    }
    // The whole array when nothing limits the batch (the usual case): subarray() allocates.
    const n = native.accept(listenerFd, 2 * room >= out.length ? out : out.subarray(0, 2 * room), this.acceptAddrs);
    if (n < 0) {
      // EAGAIN, or an error of that one connection (ECONNABORTED...): the next readiness says
      // what is left. A resource error would say the same at once, forever: pause instead.
      const why = ACCEPT_RESOURCE_ERRORS.get(n);
      if (why !== undefined) this.starve(listener, frontend, why);
      return;
    }
    // Only after a pause: an accept that works ends it (a Set lookup only when one is on).
    if (this.starved.size > 0 && this.starved.delete(listener) && this.starved.size === 0 && this.retryTask) {
      this.loop.scheduler.taskKill(this.retryTask);
      this.retryTask = null;
    }
    for (let i = 0; i < n; i++) this.start(frontend, listener, out[2 * i]!, i * ADDR_SLOT_SIZE, out[2 * i + 1]!);
    if (
      (frontend.maxconn > 0 && frontend.counters.get('current') >= frontend.maxconn) ||
      (listener.maxconn > 0 && listener.nbconn >= listener.maxconn) ||
      (this.maxconn > 0 && this.current >= this.maxconn)
    ) {
      this.saturated(listener);
    }
  }

  /**
   * Stops polling a listener at a limit (its own, its frontend's or the process's); the kernel's
   * backlog holds new connections meanwhile. resumeLimited() polls it again when a session ends;
   * if its frontend is still full then, the next accept finds no room and parks it again.
   */
  private saturated(listener: Listener): void {
    if (listener.state !== ListenerState.READY) return;
    listenerFull(listener);
    this.limited.add(listener);
  }

  /**
   * accept() said the process or the system is out of fds or memory: stop polling the listener
   * (the kernel's backlog holds the connections), say so once, and try again in ACCEPT_RETRY_MS,
   * or as soon as a session ends and frees an fd. Service resumes by itself.
   */
  private starve(listener: Listener, frontend: FrontendRuntime, why: string): void {
    if (!this.starved.has(listener)) {
      this.starved.add(listener);
      this.warning(`Proxy ${frontend.name} ${why.replace('%d', String(native.getNofileLimit().soft))}`);
    }
    this.saturated(listener);
    if (this.retryTask === null) {
      this.retryTask = this.loop.scheduler.taskNew((task) => {
        this.retryTask = null;
        this.loop.scheduler.taskKill(task);
        this.resumeLimited();
        return null;
      }, this as SessionEngine);
    }
    this.retryTask.expire = tickAdd(this.loop.now, ACCEPT_RETRY_MS);
    this.loop.scheduler.taskQueue(this.retryTask);
  }

  /**
   * A session for a new connection: a closed one reused when the pool has one whose task the
   * scheduler has let go (a session closed by its own timer is pooled while that handler still
   * runs; its task is freed when the handler returns, long before the next accept), else new.
   */
  private newSession(frontend: FrontendRuntime, listener: Listener, clientFd: number): Session {
    const pooled = this.sessionPool.pop();
    if (pooled !== undefined && this.loop.scheduler.taskRenew(pooled.task, pooled)) {
      pooled.reuse(frontend, listener, clientFd, this.loop.now);
      return pooled;
    }
    const session = new Session(frontend, listener, clientFd, this.loop.now, this.peers);
    session.task = this.loop.scheduler.taskNew(this.onTimerCallback, session);
    return session;
  }

  /** A new connection: its peer address is `peerLength` bytes at `peerOffset` of acceptAddrs. */
  private start(frontend: FrontendRuntime, listener: Listener, clientFd: number, peerOffset: number, peerLength: number): void {
    const session = this.newSession(frontend, listener, clientFd);
    if (!this.peers.keep(clientFd, session, this.acceptAddrs, peerOffset, peerLength)) {
      // Not inet: decoded now, which also refuses bytes that are no address at all.
      try {
        session.src = peerLength > 2 ? SocketAddress.fromBytes(this.acceptAddrs.slice(peerOffset, peerOffset + peerLength)) : UNNAMED_UNIX;
      } catch {
        native.close(clientFd); // not an address the kernel should ever give: drop the connection
        this.loop.scheduler.taskKill(session.task); // never queued: freed at once, so reusable
        this.sessionPool.push(session); // never linked anywhere
        return;
      }
    }
    session.logTo = this.writers.get(frontend) ?? null;
    session.number = this.accepted++;
    // Socket options are best effort, as in HAProxy: a refusal never fails the session.
    if (frontend.clientKeepAlive) trySet(clientFd, 'SO_KEEPALIVE', true);
    this.linkOpen(session);
    this.current++;
    this.loop.jobs++;
    listener.nbconn++;
    const counters = frontend.counters;
    counters.add('connections');
    counters.tick(RATE_CONNECTIONS, this.loop.now);
    counters.add('current');
    counters.raise('maxCurrent', counters.get('current'));

    for (const rule of frontend.rules) {
      if (rule.condition === null || rule.condition(session)) {
        if (rule.action === 'reject') {
          frontend.counters.add('denied');
          // HAProxy 2.6 logs nothing for a connection refused here (observed), and resets it.
          this.close(session, 'PR', null);
          return;
        }
        if (rule.action === 'accept') break; // later rules are not evaluated
        this.stickAction(session, rule);
      }
    }
    if (listener.bind.acceptProxy) {
      // The PROXY header comes first, whole within `timeout client-hs` (default `timeout client`)
      // of the accept: bytes trickling in do not push the deadline.
      this.loop.fdtab.insert(clientFd, session, () => this.onProxyHeader(session));
      this.loop.fdtab.wantRecv(clientFd);
      this.arm(session, frontend.timeouts.clientHs);
      return;
    }
    this.inspectOrRoute(session);
  }

  /**
   * Reads the client's PROXY header (v1 or v2) into the session's own small buffer. The bytes are
   * consumed rather than peeked: with a level-triggered poller, peeked-but-incomplete data would
   * report the fd ready again at once and spin until the rest arrived. Payload bytes that came
   * behind the header are kept and sent to the server before relaying starts. A malformed,
   * truncated or oversized header closes this one connection and is counted.
   */
  private onProxyHeader(session: Session): void {
    if (session.phase !== Phase.Header) return;
    const buffer = (session.header ??= new Uint8Array(PROXY_MAX_HEADER));
    const n = native.recv(session.clientFd, buffer, session.headerFill);
    if (n === EAGAIN) return;
    if (n <= 0) {
      // EOF or an error before a whole header: a truncated header.
      session.frontend.counters.add('proxyHeaderErrors');
      this.close(session, 'CR', session.headerFill === 0 ? HEADER_EMPTY : HEADER_TRUNCATED);
      return;
    }
    session.headerFill += n;
    const header = parseProxyHeader(buffer, session.headerFill);
    if (header.status === 'incomplete') {
      if (session.headerFill < buffer.length) return; // more to come
      session.frontend.counters.add('proxyHeaderErrors');
      this.close(session, 'PR', HEADER_INVALID);
      return;
    }
    if (header.status === 'invalid') {
      // Refused at the first byte that rules a header out (the parser's promise), not at a timeout.
      session.frontend.counters.add('proxyHeaderErrors');
      this.close(session, 'PR', header.reason === 'PP_BAD_SIGNATURE' || header.reason === 'PP_V2_BAD_VERSION' ? HEADER_NOT_PROXY : HEADER_INVALID);
      return;
    }
    if (header.length < session.headerFill) session.early = buffer.slice(header.length, session.headerFill);
    session.header = null;
    session.handshakeMs = (this.loop.now - session.acceptedAt) >>> 0;
    this.loop.fdtab.remove(session.clientFd);
    if (header.command === 'proxy' && header.source && header.destination) {
      session.src = header.source;
      session.dst = header.destination;
      session.dstResolved = true;
    }
    this.inspectOrRoute(session);
  }

  /**
   * The connection is a session now: counted, logged at accept when so configured; then its
   * content rules, if any, read its first bytes before it is routed.
   */
  private inspectOrRoute(session: Session): void {
    this.beginSession(session);
    const fe = session.frontend;
    if (fe.contentRules === undefined || fe.contentRules.length === 0) {
      this.route(session);
      return;
    }
    this.inspect(session, fe.inspectDelay ?? 0);
  }

  /**
   * Runs content rules (the frontend's, or once routed the backend's) on the client's first
   * bytes, reading more while they wait, for up to `delay` ms from now: a backend's
   * inspect-delay starts when use_backend chose it, as HAProxy's does. The bytes the frontend's
   * rules read stay buffered for the backend's.
   */
  private inspect(session: Session, delay: number): void {
    let content = session.content;
    if (content === null) {
      content = new InspectBuffer();
      session.content = content;
      if (session.early !== null) {
        content.bytes.set(session.early.subarray(0, content.bytes.length));
        content.length = Math.min(session.early.length, content.bytes.length);
      }
    }
    session.early = null;
    session.phase = Phase.Inspect;
    session.contentRule = 0;
    // Without inspect-delay the rules decide at once on what is there, as HAProxy's do.
    content.final = delay === 0 || content.full || content.closed;
    if (this.applyContentRules(session)) return;
    if (!this.loop.fdtab.entry(session.clientFd)) {
      this.loop.fdtab.insert(session.clientFd, session, () => this.onInspectRead(session));
      this.loop.fdtab.wantRecv(session.clientFd);
    }
    // `timeout client` bounds the wait too: the client is idle meanwhile.
    const client = session.frontend.timeouts.client;
    this.arm(session, client > 0 && client < delay ? client : delay);
  }

  /** More of the client's first bytes: read them behind the others and ask the rules again. */
  private onInspectRead(session: Session): void {
    if (session.phase !== Phase.Inspect) return;
    const content = session.content!;
    const n = native.recv(session.clientFd, content.bytes, content.length);
    if (n === EAGAIN) return;
    if (n < 0) {
      this.close(session, 'CR');
      return;
    }
    // EOF: no more bytes will come, so the rules decide now (the relay reads the EOF again).
    if (n === 0) content.final = content.closed = true;
    content.length += n;
    if (content.full) content.final = true;
    this.applyContentRules(session);
  }

  /**
   * Runs the content rules in order on the bytes read so far: the frontend's, or once routed
   * (session.backend set) the backend's. A rule whose condition cannot tell yet, or whose
   * set-var or track-sc sample is not in the bytes yet, stops the walk until more bytes come or
   * inspect-delay expires (HAProxy's WAIT_END semantics); the first accept or reject that
   * matches decides; none matching accepts. Returns whether the session left this inspection
   * stage (routed, sent to its server, or refused).
   */
  private applyContentRules(session: Session): boolean {
    const fe = session.frontend;
    const backend = session.backend;
    let reject = false;
    const rules = backend !== null ? backend.contentRules! : fe.contentRules!;
    // A walk that waited resumes at the rule that waited: actions already done are not redone.
    for (; session.contentRule < rules.length; session.contentRule++) {
      const rule = rules[session.contentRule]!;
      const result = rule.condition === null ? PASS : rule.condition(session);
      if (result === MISS) return false;
      if (result !== PASS) continue;
      if (rule.action === 'accept' || rule.action === 'reject') {
        reject = rule.action === 'reject';
        break;
      }
      if (!this.stickAction(session, rule)) return false;
    }
    if (this.loop.fdtab.entry(session.clientFd)) this.loop.fdtab.remove(session.clientFd);
    if (reject) {
      // HAProxy counts these as denied requests (dreq), apart from refused connections (dcon);
      // a backend's rule too counts on the frontend (observed with HAProxy 2.6: the frontend's
      // dreq moves, the backend's stays 0), and the log line names the backend, `b/<NOSRV> PR`.
      fe.counters.add('deniedRequests');
      this.close(session, 'PR');
      return true;
    }
    // Switching rules see the bytes as final, as HAProxy evaluates them.
    session.content!.final = true;
    if (backend === null) this.route(session);
    else this.sendToServer(session);
    return true;
  }

  /** Inspection is over: the bytes read go to the server first; then a server is picked. */
  private sendToServer(session: Session): void {
    const content = session.content;
    if (content !== null && content.length > 0) session.early = content.bytes.subarray(0, content.length);
    this.assign(session, false);
  }

  /** Counts the session and writes the accept-time line, once past its rules and PROXY header. */
  private beginSession(session: Session): void {
    const fe = session.frontend;
    // Past its rules and its PROXY header, a connection is a session (HAProxy counts it then:
    // a refused or failed handshake is a connection in conn_tot, not a session in stot).
    fe.counters.add('sessions');
    fe.counters.tick(RATE_SESSIONS, this.loop.now);
    // Entries tracked by the connection rules count the session (HAProxy's session_count_new()).
    if (session.tracked !== null) {
      for (const counter of session.tracked) if (counter !== null) counter.table.countSession(counter.slot);
    }
    // HAProxy's default line is written once the connection is a session: after its PROXY
    // header (whose addresses it shows), before anything about a backend is known.
    if (session.logTo !== null && fe.logging?.when === 'accept') {
      session.logged = true;
      this.writeLine(session, '--', 0, 0, true);
    }
  }

  private route(session: Session): void {
    const fe = session.frontend;
    // A loop, not find(): no closure per connection.
    let backend = fe.defaultBackend;
    for (const rule of fe.useBackend) {
      if (rule.condition(session)) {
        backend = rule.backend;
        break;
      }
    }
    if (!backend) {
      // No backend: HAProxy 2.6 logs it `SC` under the frontend's name (`fe fe/<NOSRV>`,
      // observed), and closes with a FIN; its 503 is for HTTP.
      this.close(session, 'SC');
      return;
    }
    session.backend = backend;
    opened(backend.counters, backend.counters.get('current') + 1, this.loop.now);
    backend.counters.add('current');
    // The backend's own content rules, before a server is picked; not a listen section's own
    // again (HAProxy skips the backend analysers when the backend is the frontend itself).
    const rules = backend.contentRules;
    if (rules !== undefined && rules.length > 0 && backend !== fe.ownBackend) {
      this.inspect(session, backend.inspectDelay ?? 0);
      return;
    }
    this.sendToServer(session);
  }

  /** Picks a server and connects, or queues; `redispatch` forbids the current server. */
  private assign(session: Session, redispatch: boolean): void {
    const backend = session.backend!;
    // `use-server` rules first, then `stick match` (not when redispatching: that means "somewhere else").
    let server = redispatch ? null : (ruleServer(backend, session) ?? this.stickMatch(session, backend));
    server ??= backend.balancer.pick(session) as ServerRuntime | null;
    if (redispatch && server !== null && server === session.server) {
      // Redispatching means "somewhere else": algorithms that would pick the same server again
      // (first, source) are overridden by the next usable server that has a slot, in id order.
      const previous = server;
      server =
        (backend.servers.find((s) => s !== previous && serverUsable(s) && serverHasSlot(s)) as ServerRuntime | undefined) ??
        previous;
    }
    if (!server) {
      backend.counters.add('noServer');
      this.close(session, 'SC');
      return;
    }
    if (!serverHasSlot(server)) {
      this.enqueue(session, server);
      return;
    }
    this.connect(session, server);
  }

  /**
   * Queues a session whose server (what balancing picked) has no free slot. Where it waits:
   * - With `maxqueue` set on that server, in that server's own queue, up to maxqueue sessions
   *   (counted for that server alone, as HAProxy counts them), and only that server serves it.
   *   A full queue refuses it: sQ. HAProxy 2.6 queues behind a server this way for leastconn
   *   and first when maxqueue is set (moving on to the backend's queue once it is full), and
   *   refuses with sQ a session bound to its server (source hashing) whose queue is full; its
   *   roundrobin never queues behind a server, so maxqueue does nothing there. One rule for every
   *   algorithm keeps maxqueue the bound it is documented as, without changing balancing.
   * - Without (0, the default), in the backend's queue, unbounded, which the first server to free
   *   a slot serves through balancing: HAProxy's behaviour when every server is full (its SIGHUP
   *   dump shows such sessions as "unass", unassigned).
   */
  private enqueue(session: Session, server: ServerRuntime): void {
    const backend = session.backend!;
    let queues = this.queues.get(backend);
    if (queues === undefined) {
      queues = new BackendQueues<Session, ServerRuntime>();
      this.queues.set(backend, queues);
      backend.queues = queues; // for the queue and connslots fetches
    }
    const behindServer = server.maxqueue > 0;
    if (behindServer && queues.waitingFor(server) >= server.maxqueue) {
      this.close(session, 'sQ');
      return;
    }
    queues.push(session, behindServer ? server : null);
    session.phase = Phase.Queued;
    session.queuedAt = this.loop.now;
    backend.counters.add('queued');
    if (behindServer) server.counters.raise('maxQueued', queues.waitingFor(server));
    else backend.counters.raise('maxQueued', queues.unassigned);
    // HAProxy: without `timeout queue`, `timeout connect` bounds the wait.
    const wait = backend.timeouts.queue || backend.timeouts.connect;
    this.arm(session, wait);
  }

  /**
   * A session of `backend` ended, releasing its slot on `freed` if it had one: start the waiters
   * that can go now, the longest-waiting first (HAProxy: the older of the freed server's queue
   * head and the backend queue head). The server's own waiters go to it; the backend's go where
   * balancing picks now, and stay while that is a full server (`balance source` sends a client
   * to its server only).
   */
  private dequeue(backend: BackendRuntime, freed: ServerRuntime | null): void {
    const queues = this.queues.get(backend);
    if (queues === undefined) return;
    while (queues.length > 0) {
      const withSlot = freed !== null && serverHasSlot(freed) ? freed : null;
      const next = queues.next(withSlot);
      if (next === null) return;
      if (next !== queues.firstShared()) {
        queues.remove(next);
        this.connect(next, withSlot!);
        continue;
      }
      const server = backend.balancer.pick(next) as ServerRuntime | null;
      if (server !== null && serverHasSlot(server)) {
        queues.remove(next);
        this.connect(next, server);
        continue;
      }
      // The backend queue's head cannot go yet; the freed server's own waiters still may.
      const own = withSlot === null ? null : queues.firstFor(withSlot);
      if (own === null) return;
      queues.remove(own);
      this.connect(own, withSlot!);
    }
  }

  private connect(session: Session, server: ServerRuntime): void {
    const backend = session.backend!;
    const previous = session.server;
    if (previous !== server) {
      if (previous) previous.cur--;
      session.server = server;
      // `cur` is the one count of a server's open sessions: balancing reads it, and snapshots
      // report it as the server's current sessions.
      server.cur++;
      opened(server.counters, server.cur, this.loop.now);
    }
    session.attempts++;
    session.phase = Phase.Connecting;
    session.connectStartedAt = this.loop.now;
    // A retry that moved to another server left a slot on the previous one, which sessions in that
    // server's own queue are waiting for (HAProxy runs process_srv_queue() on redispatch too).
    // The backend queue's waiters move when a session ends.
    if (previous !== null && previous !== server && this.queuedFor(backend, previous) > 0) this.dequeue(backend, previous);
    const fd = this.connector.connect(server, session, backend.serverKeepAlive === true);
    if (fd < 0) {
      this.connectFailed(session);
      return;
    }
    session.serverFd = fd;
    if (this.connector.connected) {
      this.established(session);
      return;
    }
    this.loop.fdtab.insert(fd, session, (_fd, ev) => this.onConnectEvent(session, ev));
    this.loop.fdtab.wantSend(fd);
    this.arm(session, backend.timeouts.connect);
  }

  private onConnectEvent(session: Session, events: number): void {
    if (session.phase !== Phase.Connecting) return;
    if (!(events & (FD_EV_READY_W | FD_EV_ERR_RW | FD_EV_SHUT_RW))) return;
    let error = 0;
    try {
      error = native.getsockopt(session.serverFd, 'SO_ERROR');
    } catch {
      error = constants.errno.EBADF; // treat as a failed attempt
    }
    this.releaseServerFdFromTable(session);
    if (error === 0) this.established(session);
    else this.connectFailed(session);
  }

  private releaseServerFdFromTable(session: Session): void {
    if (session.serverFd >= 0 && this.loop.fdtab.entry(session.serverFd)) this.loop.fdtab.remove(session.serverFd);
  }

  /** `timedOut`: the attempt ran out of `timeout connect` (else it was refused or failed). */
  private connectFailed(session: Session, timedOut = false): void {
    const backend = session.backend!;
    session.server?.counters.add('connectErrors');
    if (session.server?.observe) this.observe?.(session.server, false);
    backend.counters.add('connectErrors');
    this.releaseServerFdFromTable(session);
    if (session.serverFd >= 0) native.close(session.serverFd);
    session.serverFd = -1;
    if (session.attempts <= backend.retries) {
      backend.counters.add('retries');
      session.server?.counters.add('retries');
      // HAProxy redispatches on the last retry only, so a briefly refusing server keeps its
      // sessions for a few attempts before they move.
      const redispatch = backend.redispatch && session.attempts === backend.retries;
      if (redispatch) {
        backend.counters.add('redispatches');
        session.server?.counters.add('redispatches');
        this.assign(session, true);
        return;
      }
      // Without redispatch the retry goes to the same server, as in HAProxy 2.6. Observed there
      // (strace -tt -e connect): after a refusal it waits min(1 s, timeout connect) before
      // trying again, which gives a restarting server time to listen; after a connect timeout
      // the next attempt starts at once, the timeout having been the pause.
      if (!timedOut) {
        session.phase = Phase.RetryPause;
        this.arm(session, Math.min(RETRY_PAUSE_MS, backend.timeouts.connect || RETRY_PAUSE_MS));
        return;
      }
      this.connect(session, session.server!);
      return;
    }
    // HAProxy's case tells a timeout (sC) from a refusal or error (SC).
    this.close(session, timedOut ? 'sC' : 'SC');
  }

  private established(session: Session): void {
    const server = session.server!;
    if (server.sendProxy !== 0 && !this.sendProxyHeader(session, server.sendProxy)) {
      this.connectFailed(session);
      return;
    }
    if (session.early) {
      // At most a header's worth of bytes into an empty send buffer: all or it is a failure.
      const early = session.early;
      session.early = null;
      const sent = native.send(session.serverFd, early);
      this.releaseContent(session);
      if (sent !== early.length) {
        this.close(session, 'SD');
        return;
      }
    }
    session.phase = Phase.Established;
    session.connectedAt = this.loop.now;
    if (server.observe) this.observe?.(server, true);
    if (session.backend!.stickRules !== undefined && session.backend!.stickRules.length > 0) this.stickStore(session, server);
    const id = this.relay.add(session.clientFd, session.serverFd);
    if (id < 0) {
      this.close(session, 'PD'); // the relay refused the fds (EMFILE-like exhaustion): drop it
      return;
    }
    session.relayId = id;
    this.byRelay[id] = session;
    const logging = session.frontend.logging;
    if (session.logTo !== null && logging !== undefined && logging.when === 'end' && (logging.asap || logging.start)) {
      session.logged = logging.asap;
      this.writeLine(session, '--', 0, 0, true, true);
    }
    const ms = this.idleTimeout(session, true);
    this.arm(session, ms > 0 ? this.checkInterval(session, ms) : 0);
  }

  /**
   * A non-verdict action of a `tcp-request` rule whose condition held. `track-sc<n>` tracks
   * the key's entry unless counter n is taken already (the first rule wins, as in HAProxy);
   * the sc-* actions act on the entry counter n tracks, if any; set-var stores its sample (none:
   * the variable is left as it is), unset-var forgets the variable. Returns false when a content
   * key or sample is not in the bytes yet and more may come: the rule waits. (HAProxy runs
   * set-var at once on what is buffered, leaving the variable unset when its bytes are not there
   * yet; waiting makes `set-var(txn.x) req.ssl_sni` work on a ClientHello split in segments.)
   */
  private stickAction(session: Session, rule: RuleAction): boolean {
    if (rule.action === 'accept' || rule.action === 'reject') return true;
    if (rule.action === 'set-var') {
      const output = evaluateExpression(rule.expr, session);
      if (output === NOT_YET) return false;
      const sample = firstSample(output);
      if (sample !== null) setVar(session, rule.name, sample, rule.conditions);
      return true;
    }
    if (rule.action === 'unset-var') {
      unsetVar(session, rule.name);
      return true;
    }
    if (rule.action === 'track-sc') {
      if (session.tracked?.[rule.counter]) return true;
      const sample = rule.key(session);
      if (sample === WAIT) return false;
      if (sample === null) return true;
      const slot = rule.table.track(sample);
      if (slot < 0) return true; // no key of the table's type, or no room: not tracked
      session.tracked ??= [null, null, null];
      session.tracked[rule.counter] = { table: rule.table, slot, key: sample };
      return true;
    }
    if (rule.action === 'sc-inc-gpc0' || rule.action === 'sc-inc-gpc1' || rule.action === 'sc-set-gpt0') {
      const counter = session.tracked?.[rule.counter];
      if (!counter) return true;
      if (rule.action === 'sc-set-gpt0') counter.table.setGpt0(counter.slot, rule.value);
      else counter.table.incrementGpc(counter.slot, rule.action === 'sc-inc-gpc0' ? 0 : 1);
    }
    return true;
  }

  /**
   * `stick match`: the first rule whose condition holds and whose key has an entry naming one of
   * this backend's servers that is usable gives the server; otherwise balancing decides (HAProxy
   * without `option persist`).
   */
  private stickMatch(session: Session, backend: BackendRuntime): ServerRuntime | null {
    const rules = backend.stickRules;
    if (rules === undefined) return null;
    for (const rule of rules) {
      if (rule.kind !== 'match' || (rule.condition !== null && !rule.condition(session))) continue;
      const sample = rule.key(session);
      if (sample === null || sample === WAIT) continue;
      const id = rule.table.serverIdOf(sample);
      if (id <= 0) continue;
      const server = backend.servers.find((s) => s.id === id);
      if (server !== undefined && serverUsable(server)) return server;
    }
    return null;
  }

  /**
   * `stick store-request`, once the server connection is up (so the entry names the server that
   * served): the first matching rule per table stores, later ones for that table are skipped.
   */
  private stickStore(session: Session, server: ServerRuntime): void {
    const stored: StickTable[] = [];
    for (const rule of session.backend!.stickRules!) {
      if (rule.kind !== 'store-request' || stored.includes(rule.table)) continue;
      if (rule.condition !== null && !rule.condition(session)) continue;
      const sample = rule.key(session);
      if (sample === null || sample === WAIT) continue;
      rule.table.storeServer(sample, server.id);
      stored.push(rule.table);
    }
  }

  private sendProxyHeader(session: Session, version: 1 | 2): boolean {
    let header = buildProxyHeader(version, session.src, session.dst);
    const early = session.early;
    if (early !== null) {
      // One send() for header and early bytes: on a TCP Fast Open connection the first send()
      // rides in the SYN, and a second one would find the handshake still going (EAGAIN).
      const both = new Uint8Array(header.length + early.length);
      both.set(header);
      both.set(early, header.length);
      header = both;
    }
    // A fresh connection's send buffer is empty: a header of at most a few hundred bytes fits
    // whole, so anything short of that is a failed connection, not a case to buffer for.
    if (native.send(session.serverFd, header) !== header.length) return false;
    // Only once sent: a failed attempt is retried, and the next one must carry the client's bytes.
    session.early = null;
    this.releaseContent(session);
    return true;
  }

  private releaseContent(session: Session): void {
    session.content?.release();
    session.content = null;
  }

  /**
   * The inactivity timeout in force for an established session, and which side it belongs to.
   * Once a FIN has crossed the session either way both sides are half-closed, and HAProxy's
   * `timeout client-fin` / `server-fin` replace `timeout client` / `server` (and the tunnel
   * timeout) where they are set.
   */
  /** The side idleTimeout() last chose (a field, not a returned object: it runs per connection). */
  private idleSide: 'client' | 'server' = 'client';

  private idleTimeout(session: Session, holdingKnown = false): number {
    const fe = session.frontend.timeouts;
    const be = session.backend!.timeouts;
    const halfClosed = session.relayId >= 0 && (this.relay.fins[session.relayId] ?? 0) !== 0;
    const client = halfClosed && fe.clientFin > 0 ? fe.clientFin : be.tunnel > 0 ? be.tunnel : fe.client;
    const server = halfClosed && be.serverFin > 0 ? be.serverFin : be.tunnel > 0 ? be.tunnel : be.server;
    // Bytes waiting for one side stop the reading of the other, so only the waited-for side's
    // timeout runs, and a stall is blamed on the side that does not read: HAProxy 2.6 logs sD
    // for a server that stops reading a sending client, with equal client and server timeouts.
    // (`holdingKnown`: a pair just added holds nothing; no native call on the new-connection path.)
    const held = !holdingKnown && session.relayId >= 0 ? (this.relay.holding?.(session.relayId) ?? 0) : 0;
    // (Only when that side has a timeout: the timer never stays armed at an expired tick.)
    if (held === HELD_FOR_SERVER && server > 0) return this.idle('server', server);
    if (held === HELD_FOR_CLIENT && client > 0) return this.idle('client', client);
    if (client > 0 && (server === 0 || client <= server)) return this.idle('client', client);
    return this.idle('server', server);
  }

  private idle(side: 'client' | 'server', ms: number): number {
    this.idleSide = side;
    return ms;
  }

  /**
   * How long the established-phase timer may sleep: the relay does not report a FIN to us, so
   * when a shorter fin timeout is configured the timer wakes at least that often to notice a
   * half-close (then the lazy requeue pushes it on without work).
   */
  private checkInterval(session: Session, remaining: number): number {
    // Two comparisons, no array: this runs for every new connection.
    const clientFin = session.frontend.timeouts.clientFin;
    const serverFin = session.backend!.timeouts.serverFin;
    let interval = remaining;
    if (clientFin > 0 && clientFin < interval) interval = clientFin;
    if (serverFin > 0 && serverFin < interval) interval = serverFin;
    return interval;
  }

  private arm(session: Session, timeoutMs: number): void {
    session.task.expire = timeoutMs > 0 ? tickAdd(this.loop.now, timeoutMs) : TICK_ETERNITY;
    this.loop.scheduler.taskQueue(session.task);
  }

  private onTimer(task: Task<Session>, session: Session, reasons: number): Task<Session> | null {
    if (session.phase === Phase.Closed) return null;
    if (!(reasons & TASK_WOKEN_TIMER) || !tickIsExpired(task.expire, this.loop.now)) return task;
    switch (session.phase) {
      case Phase.Header:
        session.frontend.counters.add('clientTimeouts');
        this.close(session, 'cR', HEADER_TIMEOUT);
        return null;
      case Phase.Inspect:
        // inspect-delay is over: the rules decide on what is there (a rule still waiting for
        // bytes does not match), and the session goes on, or is refused.
        session.content!.final = true;
        this.applyContentRules(session);
        return (session.phase as Phase) === Phase.Closed ? null : task;
      case Phase.Queued:
        session.backend!.counters.add('queueTimeouts');
        this.close(session, 'sQ'); // which takes it out of its queue
        return null;
      case Phase.Connecting:
        session.backend!.counters.add('serverTimeouts');
        this.connectFailed(session, true);
        return (session.phase as Phase) === Phase.Closed ? null : task;
      case Phase.RetryPause:
        this.connect(session, session.server!);
        return (session.phase as Phase) === Phase.Closed ? null : task;
      case Phase.Established: {
        const timeout = this.idleTimeout(session);
        const side = this.idleSide;
        if (timeout === 0) return task; // no inactivity timeout applies (any more)
        // The relay stamps activity with its own clock (libuv's loop time); compare durations,
        // never ticks of two clocks. A relay thread's stamp can be a little ahead of the loop's
        // cached tick: a negative difference is no idle time (| 0 keeps the wrap-around right).
        const sinceActivity = (this.relay.nowTick() - this.relay.lastActivity[session.relayId]!) | 0;
        const idle = sinceActivity > 0 ? sinceActivity : 0;
        if (idle < timeout) {
          // Traffic since the timer was armed: push it to the real deadline (lazy requeue).
          task.expire = tickAdd(this.loop.now, this.checkInterval(session, timeout - idle));
          this.loop.scheduler.taskQueue(task);
          return task;
        }
        const clientSide = side === 'client';
        if (clientSide) session.frontend.counters.add('clientTimeouts');
        else session.backend!.counters.add('serverTimeouts');
        this.close(session, clientSide ? 'cD' : 'sD');
        return null;
      }
      default:
        return null;
    }
  }

  /**
   * Ends a session: closes both fds, releases slots and jobs, wakes queued work, logs.
   * `handshakeError`: the connection never got past its PROXY header; it is logged as HAProxy
   * logs such connections, one line with this reason instead of a tcplog line; null: not logged.
   */
  private close(session: Session, termination: Termination, handshakeError?: string | null): void {
    if (session.phase === Phase.Closed) return;
    const wasQueuedOrConnecting = session.phase;
    session.phase = Phase.Closed;
    if (wasQueuedOrConnecting === Phase.Queued) this.queues.get(session.backend!)?.remove(session);
    this.loop.scheduler.taskKill(session.task);
    let bytesIn = 0;
    let bytesOut = 0;
    if (session.relayId >= 0) {
      // Still relayed (a timeout, a stop): take the pair back before its fds are closed.
      if (this.byRelay[session.relayId] === session) {
        this.byRelay[session.relayId] = null;
        this.relay.remove(session.relayId);
      }
      bytesIn = this.relay.bytes[2 * session.relayId]!;
      bytesOut = this.relay.bytes[2 * session.relayId + 1]!;
    }
    if (wasQueuedOrConnecting === Phase.Connecting) this.releaseServerFdFromTable(session);
    if (session.logTo !== null && session.serverFd >= 0 && session.connectedAt !== 0 && this.loggingOf(session).format.backendSource) {
      try {
        session.backendSource = SocketAddress.fromBytes(native.getsockname(session.serverFd));
      } catch {
        // The socket is already unusable: %bi/%bp read '-'.
      }
    }
    // A refused PROXY header is reset, as HAProxy 2.6 does (observed: the client reads ECONNRESET).
    if (session.frontend.clientNoLinger || (handshakeError !== undefined && termination === 'PR')) trySet(session.clientFd, 'SO_LINGER', ABORT_ON_CLOSE);
    else if (TIMER_ENDS.has(termination)) native.shutdown(session.clientFd, constants.SHUT_WR);
    if (session.serverFd >= 0 && (session.backend?.serverNoLinger || TIMER_ENDS.has(termination))) trySet(session.serverFd, 'SO_LINGER', ABORT_ON_CLOSE);
    if (this.loop.fdtab.entry(session.clientFd)) this.loop.fdtab.remove(session.clientFd);
    if (session.serverFd >= 0) native.close(session.serverFd);
    native.close(session.clientFd);
    session.early = null;
    this.releaseContent(session);

    const fe = session.frontend;
    fe.counters.add('current', -1);
    fe.counters.add('bytesIn', bytesIn);
    fe.counters.add('bytesOut', bytesOut);
    const backend = session.backend;
    if (backend) {
      backend.counters.add('current', -1);
      backend.counters.add('bytesIn', bytesIn);
      backend.counters.add('bytesOut', bytesOut);
    }
    if (session.server) {
      session.server.cur--;
      session.server.counters.add('bytesIn', bytesIn);
      session.server.counters.add('bytesOut', bytesOut);
    }
    if (backend) countAbort(termination, backend.counters, session.server?.counters ?? null);
    if (session.tracked !== null) {
      for (const counter of session.tracked) if (counter !== null) counter.table.untrack(counter.slot, bytesIn, bytesOut);
      session.tracked = null;
    }
    this.unlinkOpen(session);
    this.current--;
    this.loop.jobs--;
    session.listener.nbconn--;
    if (handshakeError === undefined) this.logSession(session, termination, bytesOut, bytesIn);
    else if (handshakeError !== null) this.logHandshakeError(session, handshakeError);
    if (handshakeError && session.header !== null && session.headerFill > 0) this.captureError(session, handshakeError);
    // Logged: from here its fd number may go to a new connection, whose address takes the slot.
    this.peers.release(session.clientFd, session);
    this.resumeLimited();
    if (backend) this.dequeue(backend, session.server);
    if (this.sessionPool.length < SESSION_POOL_MAX) this.sessionPool.push(session);
  }

  /** What the runtime API lists of each open session (`show sess`), oldest first. */
  describeSessions(): SessionDescription[] {
    const now = this.loop.now;
    const out: SessionDescription[] = [];
    for (const session of this.openSessions()) {
      out.push({
        id: sessionId(session.serial),
        proto: session.src.family === 'ipv6' ? 'tcpv6' : session.src.family === 'unix' ? 'unix_stream' : 'tcpv4',
        src: session.src.family === 'unix' ? 'unix' : `${session.src.address}:${session.src.port}`,
        frontend: session.frontend.name,
        backend: session.backend?.name ?? null,
        server: session.server?.name ?? null,
        phase: PHASE_NAMES[session.phase]!,
        ageMs: (now - session.acceptedAt) >>> 0,
        clientFd: session.clientFd,
        serverFd: session.serverFd,
        attempts: session.attempts,
      });
    }
    return out;
  }

  /** `shutdown session <id>`: closes that session (logged `K-`, killed); false when there is none. */
  shutdownSession(id: string): boolean {
    for (const session of this.openSessions()) {
      if (sessionId(session.serial) !== id) continue;
      this.close(session, session.phase === Phase.Established ? 'KD' : 'KC');
      return true;
    }
    return false;
  }

  /** `show errors`: the rejected PROXY headers kept (the latest MAX_CAPTURED_ERRORS), and how many there were. */
  capturedHeaderErrors(): { total: number; errors: readonly CapturedError[] } {
    return { total: this.errorsCaptured, errors: this.capturedErrors };
  }

  private captureError(session: Session, reason: string): void {
    this.errorsCaptured++;
    if (this.capturedErrors.length === MAX_CAPTURED_ERRORS) this.capturedErrors.shift();
    const fill = Math.min(session.headerFill, MAX_CAPTURED_BYTES);
    this.capturedErrors.push({
      at: Date.now(),
      frontend: session.frontend.name,
      src: session.src.family === 'unix' ? 'unix' : `${session.src.address}:${session.src.port}`,
      reason,
      bytes: Buffer.from(session.header!.subarray(0, fill)),
      length: session.headerFill,
    });
  }

  /** Sessions waiting for a server slot in `backend`, in any of its queues (SIGHUP's "pend"). */
  queued(backend: BackendRuntime): number {
    return this.queues.get(backend)?.length ?? 0;
  }

  /** Sessions waiting in `backend`'s own queue, for whichever server frees a slot (SIGHUP's "unass"). */
  queuedUnassigned(backend: BackendRuntime): number {
    return this.queues.get(backend)?.unassigned ?? 0;
  }

  /**
   * Visits every session the relay moves bytes for, with its bytes so far: counters get a
   * session's bytes when it ends, so a snapshot adds these to show a long tunnel while it lasts.
   */
  relayedBytes(visit: (frontend: FrontendRuntime, backend: BackendRuntime, server: ServerRuntime, bytesIn: number, bytesOut: number) => void): void {
    const bytes = this.relay.bytes;
    this.byRelay.forEach((session, id) => {
      if (session !== null) visit(session.frontend, session.backend!, session.server!, bytes[2 * id]!, bytes[2 * id + 1]!);
    });
  }

  /** Sessions waiting in `server`'s queue (it has `maxqueue`), counted against that maxqueue. */
  queuedFor(backend: BackendRuntime, server: ServerRuntime): number {
    return this.queues.get(backend)?.waitingFor(server) ?? 0;
  }

  /**
   * Closes every session on `server` (`on-marked-down shutdown-sessions`), logged with HAProxy's
   * 'D' ("killed because the server was detected as down"). Returns how many.
   */
  killServerSessions(server: ServerRuntime): number {
    let n = 0;
    for (const session of this.openSessions()) {
      if (session.server !== server) continue;
      this.close(session, session.phase === Phase.Established ? 'DD' : 'DC');
      n++;
    }
    return n;
  }

  /** Hard stop (SIGTERM/SIGINT): every session is closed now, logged as killed. */
  killAll(): void {
    for (const queues of this.queues.values()) queues.clear();
    for (const session of this.openSessions()) this.close(session, 'K-');
  }

  private resumeLimited(): void {
    if (this.limited.size === 0) return;
    for (const listener of [...this.limited]) {
      if (listener.state !== ListenerState.FULL) {
        this.limited.delete(listener);
        continue;
      }
      if (listener.maxconn > 0 && listener.nbconn >= listener.maxconn) continue;
      if (this.maxconn > 0 && this.current >= this.maxconn) return;
      this.limited.delete(listener);
      resumeListener(listener);
    }
  }

  /** HAProxy's line for a connection that failed before becoming a stream: `src [date] fe/bind: reason`. */
  private logHandshakeError(session: Session, reason: string): void {
    if (session.logTo === null) return;
    const bind = this.listenerLabels.get(session.listener) ?? session.listener.bind.name ?? String(session.listener.bind.id ?? 1);
    session.logTo(`${session.src.address}:${session.src.port} [${this.acceptDate(session)}] ${session.frontend.name}/${bind}: ${reason}`);
  }

  /**
   * The session's accept date as HAProxy's logs write it (%t: local time, milliseconds,
   * `04/Dec/2026:00:22:43.554`). Derived from the loop's clock at log time rather than read at
   * accept, so that a connection costs no clock read for a line that may never be written.
   */
  private acceptDate(session: Session): string {
    return logDate(this.acceptedAtMs(session));
  }

  private acceptedAtMs(session: Session): number {
    return Date.now() - ((this.loop.now - session.acceptedAt) >>> 0);
  }

  private loggingOf(session: Session): FrontendLogging {
    return session.frontend.logging ?? TCPLOG_AT_END;
  }

  private logSession(session: Session, termination: Termination, bytesToClient: number, bytesFromClient: number): void {
    if (session.logTo === null || session.logged) return;
    if (session.frontend.dontLogNull && bytesToClient === 0 && bytesFromClient === 0) return;
    this.writeLine(session, termination, bytesToClient, bytesFromClient, false);
  }

  /**
   * Fills the record from the session and writes its frontend's line. `counted`: the session is
   * still in the connection counts (a line before its end); at its end the process and frontend
   * counts still include it, the backend and server ones no longer do, as HAProxy 2.6 logs
   * (`1/1/0/0/0` for a lone session). `partial`: logged before the end, `+` before the total
   * time and the bytes (`option logasap`).
   */
  private writeLine(session: Session, termination: string, bytesToClient: number, bytesFromClient: number, counted: boolean, partial = false): void {
    const now = this.loop.now;
    const record = this.record;
    const backend = session.backend;
    const server = session.server;
    record.client = session.src;
    record.listenerLabel = this.listenerLabels.get(session.listener) ?? String(session.listener.bind.id ?? 1);
    record.frontend = session.frontend.name;
    record.backend = backend?.name ?? session.frontend.name;
    record.server = server?.name ?? '<NOSRV>';
    record.acceptedAtMs = this.acceptedAtMs(session);
    record.handshake = session.handshakeMs;
    // A session refused by its content rules never reached a queue: HAProxy 2.6 logs -1 there
    // (observed: `fe fe/<NOSRV> -1/-1/1 0 PR`).
    const refused = termination === 'PR' && server === null;
    record.queueWait = refused ? -1 : session.queuedAt === 0 ? 0 : ((session.connectStartedAt || now) - session.queuedAt) >>> 0;
    record.connectTime = session.connectedAt === 0 ? -1 : (session.connectedAt - session.connectStartedAt) >>> 0;
    record.totalTime = (now - session.acceptedAt) >>> 0;
    record.bytesToClient = bytesToClient;
    record.bytesFromClient = bytesFromClient;
    record.termination = termination;
    record.actconn = this.current + (counted ? 0 : 1);
    record.feconn = session.frontend.counters.get('current') + (counted ? 0 : 1);
    record.beconn = backend?.counters.get('current') ?? 0;
    record.srvconn = server?.cur ?? 0;
    record.retries = Math.max(0, session.attempts - 1);
    record.serverQueue = backend && server ? this.queuedFor(backend, server) : 0;
    record.backendQueue = backend ? this.queuedUnassigned(backend) : 0;
    const logCount = this.logCounts.get(session.frontend) ?? 0;
    this.logCounts.set(session.frontend, logCount + 1);
    record.logCount = logCount;
    record.sessionNumber = session.number;
    record.partial = partial;
    this.recordSession = session;
    const line = this.loggingOf(session).format.render(record);
    this.recordSession = null;
    session.logTo!(line);
  }
}
