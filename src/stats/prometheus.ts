/**
 * The Prometheus text exposition of a stats snapshot: the metric families and labels of
 * HAProxy 2.6's built-in exporter (`http-request use-service prometheus-exporter`) that epoxy has
 * data for, named `epoxy_*` instead of `haproxy_*`, so a dashboard works after that renaming.
 * Every value is the `show stat` / `show info` cell of the same snapshot, so the two never
 * disagree; a cell epoxy leaves empty for a row is NaN, as the exporter writes HAProxy's empty
 * cells, and the check families are left out for servers without checks, as it does.
 */
import { cell, type InfoField, type RowKind, type StatColumn, type StatRow, type StatsSnapshot } from './stats.js';

export const METRIC_PREFIX = 'epoxy_';

type MetricType = 'counter' | 'gauge';

interface RowMetric {
  /** The family's name after `epoxy_<frontend|backend|server>_`. */
  readonly name: string;
  readonly column: StatColumn;
  readonly type: MetricType;
  readonly help: string;
  readonly kinds: readonly RowKind[];
  /** Present for checked servers only. */
  readonly checkedOnly?: boolean;
  /** A cell in ms written in seconds. */
  readonly msToSeconds?: boolean;
}

const FBS: readonly RowKind[] = ['frontend', 'backend', 'server'];
const BS: readonly RowKind[] = ['backend', 'server'];

/** Families with one value per row, in the exporter's order within each kind of row. */
export const ROW_METRICS: readonly RowMetric[] = [
  { name: 'current_queue', column: 'qcur', type: 'gauge', kinds: BS, help: 'Sessions waiting for a server slot now.' },
  { name: 'max_queue', column: 'qmax', type: 'gauge', kinds: BS, help: 'Most sessions waiting for a server slot at once.' },
  { name: 'current_sessions', column: 'scur', type: 'gauge', kinds: FBS, help: 'Sessions open now.' },
  { name: 'max_sessions', column: 'smax', type: 'gauge', kinds: FBS, help: 'Most sessions open at once.' },
  { name: 'limit_sessions', column: 'slim', type: 'gauge', kinds: FBS, help: "Sessions allowed at once: maxconn (a backend's: a tenth of its frontends')." },
  { name: 'sessions_total', column: 'stot', type: 'counter', kinds: FBS, help: 'Sessions since the start (or the last clear counters all).' },
  { name: 'bytes_in_total', column: 'bin', type: 'counter', kinds: FBS, help: 'Bytes received from clients, open sessions included.' },
  { name: 'bytes_out_total', column: 'bout', type: 'counter', kinds: FBS, help: 'Bytes sent to clients, open sessions included.' },
  { name: 'connection_errors_total', column: 'econ', type: 'counter', kinds: BS, help: 'Failed connection attempts to servers.' },
  { name: 'retry_warnings_total', column: 'wretr', type: 'counter', kinds: BS, help: 'Connection attempts to servers retried.' },
  { name: 'redispatch_warnings_total', column: 'wredis', type: 'counter', kinds: BS, help: 'Retries moved to another server.' },
  { name: 'weight', column: 'weight', type: 'gauge', kinds: BS, help: "A server's effective weight; a backend's: the sum of its serving servers' weights." },
  { name: 'active_servers', column: 'act', type: 'gauge', kinds: ['backend'], help: 'Usable non-backup servers.' },
  { name: 'backup_servers', column: 'bck', type: 'gauge', kinds: ['backend'], help: 'Usable backup servers.' },
  { name: 'check_failures_total', column: 'chkfail', type: 'counter', kinds: ['server'], help: 'Failed health checks.' },
  { name: 'check_up_down_total', column: 'chkdown', type: 'counter', kinds: BS, help: 'Changes from UP to DOWN.' },
  { name: 'check_last_change_seconds', column: 'lastchg', type: 'gauge', kinds: BS, help: 'Seconds since the state last changed.' },
  { name: 'downtime_seconds_total', column: 'downtime', type: 'counter', kinds: BS, help: 'Seconds spent DOWN.' },
  { name: 'queue_limit', column: 'qlimit', type: 'gauge', kinds: ['server'], help: "Sessions allowed to wait for the server (maxqueue)." },
  { name: 'loadbalanced_total', column: 'lbtot', type: 'counter', kinds: BS, help: 'Times balancing picked a server.' },
  { name: 'max_session_rate', column: 'rate_max', type: 'gauge', kinds: FBS, help: 'Highest sessions per second seen.' },
  { name: 'connections_rate_max', column: 'conn_rate_max', type: 'gauge', kinds: ['frontend'], help: 'Highest connections per second seen.' },
  { name: 'connections_total', column: 'conn_tot', type: 'counter', kinds: ['frontend'], help: 'Connections accepted, before rules and PROXY header.' },
  { name: 'denied_connections_total', column: 'dcon', type: 'counter', kinds: ['frontend'], help: 'Connections refused by tcp-request connection rules.' },
  { name: 'requests_denied_total', column: 'dreq', type: 'counter', kinds: ['frontend'], help: 'Sessions refused by tcp-request content rules.' },
  { name: 'check_code', column: 'check_code', type: 'gauge', kinds: ['server'], checkedOnly: true, help: "The last health check's protocol status code (NaN for a layer-4 check)." },
  { name: 'check_duration_seconds', column: 'check_duration', type: 'gauge', kinds: ['server'], checkedOnly: true, msToSeconds: true, help: 'How long the last health check took.' },
  { name: 'client_aborts_total', column: 'cli_abrt', type: 'counter', kinds: BS, help: 'Sessions the client ended early (close, reset, timeout).' },
  { name: 'server_aborts_total', column: 'srv_abrt', type: 'counter', kinds: BS, help: 'Sessions the server ended early (reset, timeout) once connected.' },
  { name: 'last_session_seconds', column: 'lastsess', type: 'gauge', kinds: BS, help: 'Seconds since the last session went here (-1: never).' },
  { name: 'uweight', column: 'uweight', type: 'gauge', kinds: BS, help: "A server's configured weight; a backend's: the sum over its serving servers." },
];

/** The exporter's values of a `state` label. */
const SERVER_STATES = ['DOWN', 'UP', 'MAINT', 'DRAIN', 'NOLB'] as const;
const CHECK_STATES = ['HANA', 'SOCKERR', 'L4OK', 'L4TOUT', 'L4CON', 'L6OK', 'L6TOUT', 'L6RSP', 'L7TOUT', 'L7RSP', 'L7OK', 'L7OKC', 'L7STS', 'PROCERR', 'PROCTOUT', 'PROCOK'] as const;

/** A server's show stat status ("UP 1/3", "no check", "MAINT (resolution)") as the exporter's state. */
function serverState(status: string): (typeof SERVER_STATES)[number] {
  if (status.startsWith('MAINT')) return 'MAINT';
  if (status.startsWith('DOWN')) return 'DOWN';
  if (status === 'DRAIN') return 'DRAIN';
  if (status === 'NOLB') return 'NOLB';
  return 'UP';
}

interface ProcessMetric {
  readonly name: string;
  readonly field: InfoField;
  readonly type: MetricType;
  readonly help: string;
}

const PROCESS_METRICS: readonly ProcessMetric[] = [
  { name: 'nbthread', field: 'Nbthread', type: 'gauge', help: 'Worker processes serving (epoxy runs workers where HAProxy runs threads).' },
  { name: 'nbproc', field: 'Nbproc', type: 'gauge', help: 'Always 1.' },
  { name: 'relative_process_id', field: 'Process_num', type: 'gauge', help: 'Always 1.' },
  { name: 'uptime_seconds', field: 'Uptime_sec', type: 'gauge', help: 'Seconds since the process started.' },
  { name: 'max_fds', field: 'Ulimit-n', type: 'gauge', help: 'The file-descriptor limit in force.' },
  { name: 'max_sockets', field: 'Maxsock', type: 'gauge', help: 'Sockets the process may hold.' },
  { name: 'max_connections', field: 'Maxconn', type: 'gauge', help: 'The global maxconn in force.' },
  { name: 'hard_max_connections', field: 'Hard_maxconn', type: 'gauge', help: 'The global maxconn in force.' },
  { name: 'current_connections', field: 'CurrConns', type: 'gauge', help: 'Client connections open now, all frontends.' },
  { name: 'connections_total', field: 'CumConns', type: 'counter', help: 'Client connections accepted, all frontends.' },
  { name: 'max_pipes', field: 'Maxpipes', type: 'gauge', help: 'Most pipes the relay may hold for splicing (0: no splicing).' },
  { name: 'pipes_used_total', field: 'PipesUsed', type: 'gauge', help: 'Pipes the relay holds now.' },
  { name: 'pipes_free_total', field: 'PipesFree', type: 'gauge', help: 'Empty pipes kept for reuse.' },
  { name: 'current_connection_rate', field: 'ConnRate', type: 'gauge', help: 'Client connections over the last second.' },
  { name: 'current_session_rate', field: 'SessRate', type: 'gauge', help: 'Sessions over the last second.' },
  { name: 'stopping', field: 'Stopping', type: 'gauge', help: '1 while stopping.' },
  { name: 'jobs', field: 'Jobs', type: 'gauge', help: 'Listeners, sessions and pending work keeping the process alive.' },
  { name: 'listeners', field: 'Listeners', type: 'gauge', help: 'Listening sockets.' },
  { name: 'busy_polling_enabled', field: 'BusyPolling', type: 'gauge', help: '1 when busy-polling is on.' },
  { name: 'bytes_out_total', field: 'TotalBytesOut', type: 'counter', help: 'Bytes relayed, to clients and to servers.' },
  { name: 'spliced_bytes_out_total', field: 'TotalSplicdedBytesOut', type: 'counter', help: 'Bytes relayed through pipes (splice).' },
  { name: 'start_time_seconds', field: 'Start_time_sec', type: 'gauge', help: 'When the process started, in seconds since the epoch.' },
];

/** A label value with the exposition format's escapes. */
function labelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function number(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

class Exposition {
  text = '';
  /** A family's HELP and TYPE, written with its first sample: a family without samples is left out. */
  private pending = '';

  family(name: string, type: MetricType, help: string): void {
    this.pending = `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`;
  }

  sample(name: string, labels: Record<string, string>, value: number): void {
    this.text += this.pending;
    this.pending = '';
    const pairs = Object.entries(labels).map(([k, v]) => `${k}="${labelValue(v)}"`);
    this.text += `${name}${pairs.length > 0 ? `{${pairs.join(',')}}` : ''} ${number(value)}\n`;
  }
}

function labelsOf(r: StatRow): Record<string, string> {
  return r.kind === 'server' ? { proxy: r.proxy, server: r.name } : { proxy: r.proxy };
}

function numeric(r: StatRow, metric: RowMetric): number {
  const value = cell(r, metric.column);
  if (value === null || value === '') return NaN;
  const n = Number(value);
  return metric.msToSeconds ? n / 1000 : n;
}

/** The text served at /metrics (Content-Type: text/plain; version=0.0.4). */
export function prometheusText(snapshot: StatsSnapshot): string {
  const out = new Exposition();
  for (const metric of PROCESS_METRICS) {
    const value = snapshot.info[metric.field];
    if (value === undefined) continue;
    const name = `${METRIC_PREFIX}process_${metric.name}`;
    out.family(name, metric.type, metric.help);
    out.sample(name, {}, Number(value));
  }
  const version = snapshot.info.Version;
  if (version !== undefined) {
    out.family(`${METRIC_PREFIX}process_build_info`, 'gauge', 'The version, as a label.');
    out.sample(`${METRIC_PREFIX}process_build_info`, { version: String(version) }, 1);
  }

  for (const kind of ['frontend', 'backend', 'server'] as const) {
    const rows = snapshot.rows.filter((r) => r.kind === kind);
    if (rows.length === 0) continue;
    const prefix = `${METRIC_PREFIX}${kind}_`;
    const checked = (r: StatRow): boolean => cell(r, 'check_status') !== null;
    for (const metric of ROW_METRICS) {
      if (!metric.kinds.includes(kind)) continue;
      const name = prefix + metric.name;
      out.family(name, metric.type, metric.help);
      for (const r of rows) if (!metric.checkedOnly || checked(r)) out.sample(name, labelsOf(r), numeric(r, metric));
      if (metric.column === 'wredis' || (kind === 'frontend' && metric.column === 'bout')) statusFamily(out, kind, rows);
    }
    if (kind === 'server') {
      const name = `${prefix}check_status`;
      out.family(name, 'gauge', "The last health check's result, as a 1 on its state label.");
      for (const r of rows.filter(checked)) {
        const status = String(cell(r, 'check_status'));
        for (const state of CHECK_STATES) out.sample(name, { ...labelsOf(r), state }, state === status ? 1 : 0);
      }
    }
    if (kind === 'backend') aggregateFamilies(out, snapshot.rows);
  }
  return out.text;
}

/** `<kind>_status`: a 1 on the row's state label, 0 on the others. */
function statusFamily(out: Exposition, kind: RowKind, rows: readonly StatRow[]): void {
  const name = `${METRIC_PREFIX}${kind}_status`;
  out.family(name, 'gauge', 'The current state, as a 1 on its state label.');
  for (const r of rows) {
    const status = String(cell(r, 'status'));
    if (kind === 'server') {
      const current = serverState(status);
      for (const state of SERVER_STATES) out.sample(name, { ...labelsOf(r), state }, state === current ? 1 : 0);
      continue;
    }
    const up = kind === 'frontend' ? status === 'OPEN' : status === 'UP';
    out.sample(name, { ...labelsOf(r), state: 'DOWN' }, up ? 0 : 1);
    out.sample(name, { ...labelsOf(r), state: 'UP' }, up ? 1 : 0);
  }
}

/** Per backend: how many of its servers are in each state, and how many last checks ended in each result. */
function aggregateFamilies(out: Exposition, rows: readonly StatRow[]): void {
  const backends = rows.filter((r) => r.kind === 'backend');
  const serversOf = (backend: StatRow): StatRow[] => rows.filter((r) => r.kind === 'server' && r.proxy === backend.proxy);
  const servers = `${METRIC_PREFIX}backend_agg_server_status`;
  out.family(servers, 'gauge', "The backend's servers in each state.");
  for (const backend of backends) {
    const states = serversOf(backend).map((r) => serverState(String(cell(r, 'status'))));
    for (const state of SERVER_STATES) out.sample(servers, { proxy: backend.proxy, state }, states.filter((s) => s === state).length);
  }
  const checks = `${METRIC_PREFIX}backend_agg_check_status`;
  out.family(checks, 'gauge', "The backend's checked servers by the result of their last check.");
  for (const backend of backends) {
    const results = serversOf(backend).map((r) => cell(r, 'check_status'));
    for (const state of CHECK_STATES) out.sample(checks, { proxy: backend.proxy, state }, results.filter((s) => s === state).length);
  }
}
