/**
 * `show stat` and `show info` as HAProxy 2.6 writes them (CSV, typed, JSON), from a snapshot.
 *
 * buildStats() turns what a process knows (the configuration, its run-time servers, counter
 * totals, check states, process facts) into a StatsSnapshot: one row per FRONTEND, server and
 * BACKEND in HAProxy's order, each a value per `show stat` column, null where epoxy has nothing
 * to report (the column then stays empty, as HAProxy leaves the columns a proxy type lacks).
 * The render functions are pure over that snapshot, so a single process and a master (whose
 * counters are its workers' totals and whose servers' states are its own checks') answer with
 * the same code. They return the command's text without the CLI's closing empty line.
 *
 * Columns, field positions and type tags were read from haproxy 2.6's own output
 * (test/stats/show-stat.test.ts compares the header with the installed haproxy's).
 */
import { hostname } from 'node:os';
import { serverUsable } from '../backend/server-types.js';
import type { BackendCheckState, ServerCheckState } from '../check/health-check.js';
import { hasBackend, hasFrontend, type Config } from '../config/model.js';
import type { Runtime } from '../runtime/build.js';
import { ProxyState } from '../proxy/proxy-types.js';
import type { BackendRuntime, ServerRuntime } from '../session/session-types.js';
import { COUNTER_FIELDS, COUNTER_INDEX, type CounterField } from './fields.js';

/** The standard columns of `show stat`, in order (a column's position is its index). */
export const STAT_COLUMNS = (
  'pxname svname qcur qmax scur smax slim stot bin bout dreq dresp ereq econ eresp wretr wredis status weight act bck ' +
  'chkfail chkdown lastchg downtime qlimit pid iid sid throttle lbtot tracked type rate rate_lim rate_max check_status ' +
  'check_code check_duration hrsp_1xx hrsp_2xx hrsp_3xx hrsp_4xx hrsp_5xx hrsp_other hanafail req_rate req_rate_max ' +
  'req_tot cli_abrt srv_abrt comp_in comp_out comp_byp comp_rsp lastsess last_chk last_agt qtime ctime rtime ttime ' +
  'agent_status agent_code agent_duration check_desc agent_desc check_rise check_fall check_health agent_rise ' +
  'agent_fall agent_health addr cookie mode algo conn_rate conn_rate_max conn_tot intercepted dcon dses wrew connect ' +
  'reuse cache_lookups cache_hits srv_icur src_ilim qtime_max ctime_max rtime_max ttime_max eint idle_conn_cur ' +
  'safe_conn_cur used_conn_cur need_conn_est uweight agg_server_status agg_server_check_status agg_check_status'
).split(' ');

/**
 * The columns HAProxy's statistics modules append after a '-' column (SSL, HTTP/2, HTTP/1):
 * epoxy has none of those protocols, so they stay empty, but the header names them so that
 * scripts reading columns by position or name find them where HAProxy puts them.
 */
const MODULE_COLUMNS = (
  'ssl_sess ssl_reused_sess ssl_failed_handshake h2_headers_rcvd h2_data_rcvd h2_settings_rcvd h2_rst_stream_rcvd ' +
  'h2_goaway_rcvd h2_detected_conn_protocol_errors h2_detected_strm_protocol_errors h2_rst_stream_resp ' +
  'h2_goaway_resp h2_open_connections h2_backend_open_streams h2_total_connections h2_backend_total_streams ' +
  'h1_open_connections h1_open_streams h1_total_connections h1_total_streams h1_bytes_in h1_bytes_out ' +
  'h1_spliced_bytes_in h1_spliced_bytes_out'
).split(' ');

export const SHOW_STAT_HEADER = `# ${[...STAT_COLUMNS, '-', ...MODULE_COLUMNS].join(',')},\n`;

export type StatColumn = (typeof STAT_COLUMNS)[number];
export type RowKind = 'frontend' | 'backend' | 'server';
type Value = string | number | null;

/**
 * The typed form of a column epoxy fills: HAProxy's tag letters (origin, nature, scope) and
 * value type, per kind of row (a few differ: a server's `act` is a status, a backend's a gauge).
 */
type Typed = Partial<Record<RowKind, string>>;
const all = (tags: string): Typed => ({ frontend: tags, backend: tags, server: tags });
const TYPED: Record<string, Typed> = {
  pxname: all('KNS:str'),
  svname: all('KNS:str'),
  qcur: { backend: 'MGP:u32', server: 'MGP:u32' },
  qmax: { backend: 'MMP:u32', server: 'MMP:u32' },
  scur: all('MGP:u32'),
  smax: all('MMP:u32'),
  slim: all('CLP:u32'),
  stot: all('MCP:u64'),
  bin: all('MCP:u64'),
  bout: all('MCP:u64'),
  econ: { backend: 'MCP:u64', server: 'MCP:u64' },
  wretr: { backend: 'MCP:u64', server: 'MCP:u64' },
  wredis: { backend: 'MCP:u64', server: 'MCP:u64' },
  status: all('SGP:str'),
  weight: { backend: 'MaP:u32', server: 'MaP:u32' },
  act: { backend: 'MGP:u32', server: 'SGP:u32' },
  bck: { backend: 'MGP:u32', server: 'SGP:u32' },
  chkfail: { server: 'MCP:u64' },
  chkdown: { backend: 'MCP:u64', server: 'MCP:u64' },
  lastchg: { backend: 'MAP:u32', server: 'MAP:u32' },
  downtime: { backend: 'MCP:u32', server: 'MCP:u32' },
  qlimit: { server: 'CLP:u32' },
  pid: all('KGP:u32'),
  iid: all('KGS:u32'),
  sid: all('KGS:u32'),
  lbtot: { backend: 'MCP:u64', server: 'MCP:u64' },
  type: all('CGS:u32'),
  rate: { frontend: 'MRP:u32', backend: 'MGP:u32', server: 'MRP:u32' },
  rate_max: { frontend: 'MMP:u32', backend: 'MGP:u32', server: 'MMP:u32' },
  check_status: { server: 'MOP:str' },
  check_code: { server: 'MOP:u32' },
  check_duration: { server: 'MDP:u64' },
  cli_abrt: { backend: 'MCP:u64', server: 'MCP:u64' },
  srv_abrt: { backend: 'MCP:u64', server: 'MCP:u64' },
  lastsess: { backend: 'MAP:s32', server: 'MAP:s32' },
  last_chk: { server: 'MOP:str' },
  check_desc: { server: 'MOP:str' },
  check_rise: { server: 'CGS:u32' },
  check_fall: { server: 'CGS:u32' },
  check_health: { server: 'CGS:u32' },
  addr: { server: 'CGS:str' },
  mode: all('CGS:str'),
  algo: { backend: 'CGS:str' },
  conn_rate: { frontend: 'MRP:u32' },
  conn_rate_max: { frontend: 'MMP:u32' },
  conn_tot: { frontend: 'MCP:u64' },
  dcon: { frontend: 'MCP:u64' },
  dreq: { frontend: 'MCP:u64' },
  uweight: { backend: 'MaP:u32', server: 'MaP:u32' },
};

export interface StatRow {
  readonly kind: RowKind;
  readonly proxy: string;
  /** 'FRONTEND', 'BACKEND' or the server's name. */
  readonly name: string;
  readonly iid: number;
  readonly sid: number;
  /** A value per STAT_COLUMNS position; null: empty. */
  readonly values: readonly Value[];
}

/** What `show info` reports, by HAProxy's field name; absent fields are not printed. */
export type InfoValues = Partial<Record<InfoField, string | number>>;

export interface StatsSnapshot {
  readonly rows: readonly StatRow[];
  readonly info: InfoValues;
}

/** A process's own facts for `show info` (the rest comes from the counters); what is absent is not printed. */
export interface ProcessFacts {
  readonly pid: number;
  /** Worker processes serving (HAProxy's threads). */
  readonly nbthread: number;
  /** Date.now() when the process started. */
  readonly startedAt: number;
  readonly ulimitN: number;
  readonly maxsock: number;
  readonly maxconn: number;
  readonly maxpipes: number;
  readonly pipesUsed?: number;
  readonly pipesFree?: number;
  readonly splicedBytes?: number;
  readonly jobs?: number;
  readonly listeners: number;
  readonly stopping: boolean;
  readonly busyPolling: boolean;
  readonly version: string;
}

export interface StatsSource {
  readonly config: Config;
  /** Servers' states and settings, frontends' limits, proxies' states. */
  readonly runtime: Runtime;
  /** Counter totals by 'frontend/<name>', 'backend/<name>', 'server/<backend>/<name>' (COUNTER_FIELDS order). */
  readonly counters: ReadonlyMap<string, readonly number[]>;
  /** The health checker's per-server and per-backend states, by 'backend/server' and backend name. */
  readonly checks?: { readonly servers: ReadonlyMap<string, ServerCheckState>; readonly backends: ReadonlyMap<string, BackendCheckState> } | null;
  readonly process: ProcessFacts;
  /** The global maxconn in force: a frontend without its own takes it (its slim). */
  readonly maxconn: number;
  /**
   * A `stats socket` is configured: HAProxy's CLI is then a proxy that takes the first id, and
   * numbering of the configuration's proxies starts at 2 (observed).
   */
  readonly statsSocket?: boolean;
  /** Date.now() of the snapshot. */
  readonly now: number;
}

const ZERO: readonly number[] = COUNTER_FIELDS.map(() => 0);

/**
 * Proxy ids as HAProxy numbers them: an `id` given in the configuration is kept, the others get
 * the lowest free ids in configuration order, from 1 (2 when a stats socket took the first).
 */
export function proxyIds(config: Config, statsSocket = false): Map<string, number> {
  const taken = new Set<number>(config.proxies.flatMap((p) => (p.id !== null ? [p.id] : [])));
  if (statsSocket) taken.add(1);
  const ids = new Map<string, number>();
  let next = 1;
  for (const proxy of config.proxies) {
    if (proxy.id !== null) {
      ids.set(proxy.name, proxy.id);
      continue;
    }
    while (taken.has(next)) next++;
    taken.add(next);
    ids.set(proxy.name, next);
  }
  return ids;
}

/** A server's status as HAProxy's stats write it, health counter included ("UP 1/3": failing). */
function serverStatus(server: ServerRuntime, check: ServerCheckState | undefined): string {
  if (server.admin === 'maint') return 'MAINT';
  if (server.unresolved) return 'MAINT (resolution)';
  if (server.admin === 'drain') return 'DRAIN';
  if (check === undefined) return server.health === 'up' ? 'no check' : 'DOWN';
  if (server.health === 'up') return check.health < check.rise + check.fall - 1 ? `UP ${check.health - check.rise + 1}/${check.fall}` : 'UP';
  return check.health > 0 ? `DOWN ${check.health}/${check.rise}` : 'DOWN';
}

const seconds = (ms: number): number => Math.max(0, Math.floor(ms / 1000));

export function buildStats(source: StatsSource): StatsSnapshot {
  const { config, runtime, now } = source;
  const ids = proxyIds(config, source.statsSocket ?? false);
  const proxyState = new Map(runtime.proxies.map((p) => [p.name, p.state]));
  const count = (key: string): ((field: CounterField) => number) => {
    const values = source.counters.get(key) ?? ZERO;
    return (field) => values[COUNTER_INDEX[field]] ?? 0;
  };
  const sinceStart = seconds(now - source.process.startedAt);
  // A backend's fullconn (its slim): a tenth of the maxconn of the frontends that route to it.
  const routedMaxconn = new Map<BackendRuntime, number>();
  for (const frontend of runtime.frontends.values()) {
    const maxconn = frontend.maxconn || source.maxconn;
    const targets = new Set([frontend.defaultBackend, ...frontend.useBackend.map((r) => r.backend)]);
    for (const backend of targets) if (backend !== null) routedMaxconn.set(backend, (routedMaxconn.get(backend) ?? 0) + maxconn);
  }

  const rows: StatRow[] = [];
  const row = (kind: RowKind, proxy: string, name: string, sid: number, fill: Partial<Record<StatColumn, Value>>): void => {
    const iid = ids.get(proxy) ?? 0;
    const cells: Partial<Record<StatColumn, Value>> = { pxname: proxy, svname: name, pid: 1, iid, sid, type: kind === 'frontend' ? 0 : kind === 'backend' ? 1 : 2, ...fill };
    rows.push({ kind, proxy, name, iid, sid, values: STAT_COLUMNS.map((column) => cells[column] ?? null) });
  };

  for (const proxy of config.proxies) {
    if (proxy.disabled) continue;
    const frontend = hasFrontend(proxy) ? runtime.frontends.get(proxy.name) : undefined;
    if (frontend !== undefined) {
      const c = count(`frontend/${proxy.name}`);
      const state = proxyState.get(proxy.name);
      row('frontend', proxy.name, 'FRONTEND', 0, {
        scur: c('current'),
        smax: c('maxCurrent'),
        slim: frontend.maxconn || source.maxconn,
        stot: c('sessions'),
        bin: c('bytesIn'),
        bout: c('bytesOut'),
        status: state === ProxyState.PAUSED ? 'PAUSED' : state === ProxyState.STOPPED || source.process.stopping ? 'STOP' : 'OPEN',
        rate: c('sessionRate'),
        rate_max: c('maxSessionRate'),
        mode: 'tcp',
        conn_rate: c('connectionRate'),
        conn_rate_max: c('maxConnectionRate'),
        conn_tot: c('connections'),
        dcon: c('denied'),
        dreq: c('deniedRequests'),
      });
    }
    const backend = hasBackend(proxy) ? runtime.backends.get(proxy.name) : undefined;
    if (backend === undefined) continue;
    let lbtot = 0;
    for (const server of backend.servers) {
      const key = `${backend.name}/${server.name}`;
      const c = count(`server/${key}`);
      const check = server.check !== null ? source.checks?.servers.get(key) : undefined;
      const checked = check !== undefined;
      const result = check?.lastResult ?? null;
      lbtot += c('sessions');
      const lastSession = c('lastSession');
      row('server', backend.name, server.name, server.id, {
        qcur: c('currentQueued'),
        qmax: c('maxQueued'),
        scur: c('current'),
        smax: c('maxCurrent'),
        slim: server.maxconn > 0 ? server.maxconn : null,
        stot: c('sessions'),
        bin: c('bytesIn'),
        bout: c('bytesOut'),
        econ: c('connectErrors'),
        wretr: c('retries'),
        wredis: c('redispatches'),
        status: serverStatus(server, check),
        weight: server.admin === 'drain' ? 0 : server.weight,
        act: server.backup ? 0 : 1,
        bck: server.backup ? 1 : 0,
        chkfail: checked ? check.failedChecks : null,
        chkdown: checked ? check.downTransitions : null,
        lastchg: checked ? seconds(now - check.lastChange) : sinceStart,
        downtime: checked ? seconds(check.downtimeMs) : null,
        qlimit: server.maxqueue > 0 ? server.maxqueue : null,
        lbtot: c('sessions'),
        rate: c('sessionRate'),
        rate_max: c('maxSessionRate'),
        check_status: result?.status ?? null,
        check_code: result?.code ?? null,
        check_duration: result !== null && result.durationMs >= 0 ? result.durationMs : null,
        cli_abrt: c('clientAborts'),
        srv_abrt: c('serverAborts'),
        lastsess: lastSession > 0 ? seconds(now - lastSession) : -1,
        last_chk: result === null ? null : (result.info ?? ''),
        check_desc: result?.reason ?? null,
        check_rise: check?.rise ?? null,
        check_fall: check?.fall ?? null,
        check_health: check?.health ?? null,
        addr: server.address?.toString() ?? null,
        mode: 'tcp',
        uweight: server.nominalWeight ?? server.weight,
      });
    }
    const c = count(`backend/${backend.name}`);
    const usable = backend.servers.filter((s) => serverUsable(s));
    const active = usable.filter((s) => !s.backup);
    const backups = usable.filter((s) => s.backup);
    const serving = active.length > 0 ? active : backups;
    const weight = serving.reduce((sum, s) => sum + s.weight, 0);
    const availability = source.checks?.backends.get(backend.name);
    const lastSession = c('lastSession');
    row('backend', backend.name, 'BACKEND', 0, {
      qcur: c('currentQueued'),
      qmax: c('maxQueued'),
      scur: c('current'),
      smax: c('maxCurrent'),
      slim: Math.ceil((routedMaxconn.get(backend) ?? 0) / 10),
      stot: c('sessions'),
      bin: c('bytesIn'),
      bout: c('bytesOut'),
      econ: c('connectErrors'),
      wretr: c('retries'),
      wredis: c('redispatches'),
      // A backend without servers is UP for HAProxy; one with servers needs weight to serve.
      status: backend.servers.length === 0 || weight > 0 ? 'UP' : 'DOWN',
      weight,
      act: active.length,
      bck: backups.length,
      chkdown: availability?.downTransitions ?? 0,
      lastchg: availability !== undefined ? seconds(now - availability.lastChange) : sinceStart,
      downtime: availability !== undefined ? seconds(availability.downtimeMs) : 0,
      lbtot,
      rate: c('sessionRate'),
      rate_max: c('maxSessionRate'),
      cli_abrt: c('clientAborts'),
      srv_abrt: c('serverAborts'),
      lastsess: lastSession > 0 ? seconds(now - lastSession) : -1,
      mode: 'tcp',
      algo: proxy.balance?.kind ?? 'roundrobin',
      uweight: serving.reduce((sum, s) => sum + (s.nominalWeight ?? s.weight), 0),
    });
  }
  return { rows, info: buildInfo(source) };
}

/** `show info` fields in HAProxy's order, with their positions (the typed and JSON forms number them). */
const INFO_FIELDS = {
  Name: [0, 'POS:str'],
  Version: [1, 'POS:str'],
  Nbthread: [3, 'CGS:u32'],
  Nbproc: [4, 'CGS:u32'],
  Process_num: [5, 'KGP:u32'],
  Pid: [6, 'SGP:u32'],
  Uptime: [7, 'MDP:str'],
  Uptime_sec: [8, 'MDP:u32'],
  'Ulimit-n': [13, 'CLP:u32'],
  Maxsock: [14, 'CLP:u32'],
  Maxconn: [15, 'CLP:u32'],
  Hard_maxconn: [16, 'CLP:u32'],
  CurrConns: [17, 'MGP:u32'],
  CumConns: [18, 'MCP:u32'],
  Maxpipes: [23, 'CLP:u32'],
  PipesUsed: [24, 'MGP:u32'],
  PipesFree: [25, 'MGP:u32'],
  ConnRate: [26, 'MRP:u32'],
  SessRate: [29, 'MRP:u32'],
  node: [50, 'COS:str'],
  Stopping: [52, 'MGP:u32'],
  Jobs: [53, 'MGP:u32'],
  Listeners: [55, 'MGP:u32'],
  BusyPolling: [59, 'MGP:u32'],
  TotalBytesOut: [61, 'MGP:u64'],
  TotalSplicdedBytesOut: [62, 'MGP:u64'],
  'Build info': [66, 'POS:str'],
  Start_time_sec: [70, 'MDP:u32'],
} as const satisfies Record<string, readonly [number, string]>;
export type InfoField = keyof typeof INFO_FIELDS;

/** "0d 0h00m14s", as `show info` writes an uptime. */
function infoUptime(totalSeconds: number): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${Math.floor(totalSeconds / 86400)}d ${Math.floor(totalSeconds / 3600) % 24}h${pad(Math.floor(totalSeconds / 60) % 60)}m${pad(totalSeconds % 60)}s`;
}

function buildInfo(source: StatsSource): InfoValues {
  const p = source.process;
  const frontendTotal = (field: CounterField): number => {
    let sum = 0;
    for (const name of source.runtime.frontends.keys()) sum += source.counters.get(`frontend/${name}`)?.[COUNTER_INDEX[field]] ?? 0;
    return sum;
  };
  const uptime = seconds(source.now - p.startedAt);
  return {
    Name: 'epoxy',
    Version: p.version,
    Nbthread: p.nbthread,
    Nbproc: 1,
    Process_num: 1,
    Pid: p.pid,
    Uptime: infoUptime(uptime),
    Uptime_sec: uptime,
    'Ulimit-n': p.ulimitN,
    Maxsock: p.maxsock,
    Maxconn: p.maxconn,
    Hard_maxconn: p.maxconn,
    CurrConns: frontendTotal('current'),
    CumConns: frontendTotal('connections'),
    Maxpipes: p.maxpipes,
    PipesUsed: p.pipesUsed,
    PipesFree: p.pipesFree,
    ConnRate: frontendTotal('connectionRate'),
    SessRate: frontendTotal('sessionRate'),
    node: hostname(),
    Stopping: p.stopping ? 1 : 0,
    Jobs: p.jobs,
    Listeners: p.listeners,
    BusyPolling: p.busyPolling ? 1 : 0,
    // What the process sent: to clients and to servers.
    TotalBytesOut: frontendTotal('bytesIn') + frontendTotal('bytesOut'),
    TotalSplicdedBytesOut: p.splicedBytes,
    'Build info': p.version,
    Start_time_sec: Math.floor(p.startedAt / 1000),
  };
}

// ---------------------------------------------------------------------------------------------
// Filters: `show stat [{<iid>|<proxy>} <type> <sid>]`

export interface StatFilter {
  /** A proxy id or name; -1 or null: every proxy. */
  readonly proxy: number | string | null;
  /** A sum of 1 (frontends), 2 (backends), 4 (servers); -1: all. */
  readonly types: number;
  /** A server id; -1: every server. */
  readonly sid: number;
}

/**
 * `show stat` arguments: an optional `<iid|proxy> <type> <sid>` triple (all three or none, as
 * HAProxy reads them), then `typed` and/or `json` in any order. Null for words it does not know.
 */
export function parseShowStatArgs(args: readonly string[]): { filter: StatFilter | null; format: 'csv' | 'typed' | 'json' } | null {
  let rest = [...args];
  let filter: StatFilter | null = null;
  if (rest.length >= 3 && !['typed', 'json'].includes(rest[0]!)) {
    const [who, type, sid] = rest as [string, string, string];
    if (!/^-?\d+$/.test(type) || !/^-?\d+$/.test(sid)) return null;
    filter = { proxy: /^-?\d+$/.test(who) ? (Number(who) === -1 ? null : Number(who)) : who, types: Number(type), sid: Number(sid) };
    rest = rest.slice(3);
  }
  let format: 'csv' | 'typed' | 'json' = 'csv';
  for (const word of rest) {
    if (word === 'typed') format = 'typed';
    else if (word === 'json') format = 'json';
    else return null;
  }
  return { filter, format };
}

const TYPE_BITS: Record<RowKind, number> = { frontend: 1, backend: 2, server: 4 };

export function filterRows(rows: readonly StatRow[], filter: StatFilter | null): StatRow[] {
  if (filter === null) return [...rows];
  return rows.filter((r) => {
    if (filter.proxy !== null && (typeof filter.proxy === 'number' ? r.iid !== filter.proxy : r.proxy !== filter.proxy)) return false;
    if (filter.types !== -1 && (filter.types & TYPE_BITS[r.kind]) === 0) return false;
    return !(r.kind === 'server' && filter.sid !== -1 && r.sid !== filter.sid);
  });
}

// ---------------------------------------------------------------------------------------------
// Renderers

/** A CSV cell: quoted (quotes doubled) only when it holds a comma, a quote or a line break. */
function csvCell(value: Value): string {
  if (value === null) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** `show stat`: the header, then a line per row, each cell followed by a comma as HAProxy writes them. */
export function showStatCsv(snapshot: StatsSnapshot, filter: StatFilter | null = null): string {
  let out = SHOW_STAT_HEADER;
  for (const r of filterRows(snapshot.rows, filter)) {
    out += `${r.values.map((v) => `${csvCell(v)},`).join('')}-,${','.repeat(MODULE_COLUMNS.length)}\n`;
  }
  return out;
}

const TYPE_LETTER: Record<RowKind, string> = { frontend: 'F', backend: 'B', server: 'S' };
const OBJ_TYPE: Record<RowKind, string> = { frontend: 'Frontend', backend: 'Backend', server: 'Server' };
const ORIGINS: Record<string, string> = { M: 'Metric', S: 'Status', K: 'Key', C: 'Config', P: 'Product' };
const NATURES: Record<string, string> = { A: 'Age', a: 'Avg', C: 'Counter', D: 'Duration', G: 'Gauge', L: 'Limit', M: 'Max', N: 'Name', O: 'Output', R: 'Rate', T: 'Time' };
const SCOPES: Record<string, string> = { P: 'Process', S: 'Service', s: 'System', C: 'Cluster' };

/** The filled cells of a row with their typed tags: [position, column, 'MGP', 'u32', value]. */
function typedCells(r: StatRow): Array<[number, string, string, string, string | number]> {
  const cells: Array<[number, string, string, string, string | number]> = [];
  r.values.forEach((value, pos) => {
    if (value === null) return;
    const column = STAT_COLUMNS[pos]!;
    const typed = TYPED[column]?.[r.kind];
    if (typed === undefined) return;
    const [tags, type] = typed.split(':') as [string, string];
    cells.push([pos, column, tags, type, value]);
  });
  return cells;
}

/** `show stat typed`: `F.<iid>.<sid>.<pos>.<name>.1:<tags>:<type>:<value>` per filled cell. */
export function showStatTyped(snapshot: StatsSnapshot, filter: StatFilter | null = null): string {
  let out = '';
  for (const r of filterRows(snapshot.rows, filter)) {
    for (const [pos, column, tags, type, value] of typedCells(r)) out += `${TYPE_LETTER[r.kind]}.${r.iid}.${r.sid}.${pos}.${column}.1:${tags}:${type}:${value}\n`;
    out += '\n';
  }
  return out;
}

function jsonTags(tags: string): { origin: string; nature: string; scope: string } {
  return { origin: ORIGINS[tags[0]!] ?? 'Unknown', nature: NATURES[tags[1]!] ?? 'Unknown', scope: SCOPES[tags[2]!] ?? 'Unknown' };
}

/** `show stat json`: an array per row of HAProxy's field objects, on one line. */
export function showStatJson(snapshot: StatsSnapshot, filter: StatFilter | null = null): string {
  const rows = filterRows(snapshot.rows, filter).map((r) =>
    typedCells(r).map(([pos, column, tags, type, value]) => ({
      objType: OBJ_TYPE[r.kind],
      proxyId: r.iid,
      id: r.sid,
      field: { pos, name: column },
      processNum: 1,
      tags: jsonTags(tags),
      value: { type, value },
    })),
  );
  return `${JSON.stringify(rows)}\n`;
}

function infoEntries(info: InfoValues): Array<[InfoField, number, string, string, string | number]> {
  return (Object.keys(INFO_FIELDS) as InfoField[]).flatMap((name) => {
    const value = info[name];
    if (value === undefined) return [];
    const [pos, typed] = INFO_FIELDS[name];
    const [tags, type] = typed.split(':') as [string, string];
    return [[name, pos, tags, type, value]];
  });
}

/** `show info`: `Name: value` per field epoxy has. */
export function showInfo(snapshot: StatsSnapshot): string {
  return infoEntries(snapshot.info)
    .map(([name, , , , value]) => `${name}: ${value}\n`)
    .join('');
}

/** `show info typed`: `<pos>.<name>.1:<tags>:<type>:<value>`. */
export function showInfoTyped(snapshot: StatsSnapshot): string {
  return infoEntries(snapshot.info)
    .map(([name, pos, tags, type, value]) => `${pos}.${name}.1:${tags}:${type}:${value}\n`)
    .join('');
}

/** `show info json`: HAProxy's field objects, on one line. */
export function showInfoJson(snapshot: StatsSnapshot): string {
  const fields = infoEntries(snapshot.info).map(([name, pos, tags, type, value]) => ({ field: { pos, name }, processNum: 1, tags: jsonTags(tags), value: { type, value } }));
  return `${JSON.stringify(fields)}\n`;
}

/** A row's value by column name (tests, the exporter). */
export function cell(r: StatRow, column: StatColumn): Value {
  return r.values[STAT_COLUMNS.indexOf(column)] ?? null;
}
