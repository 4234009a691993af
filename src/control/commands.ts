/**
 * The runtime API's commands (HAProxy's stats socket, management.txt section 9.3): one table
 * behind the text protocol and JSON-RPC alike (src/control/control-server.ts). Each command
 * names its words, the least level allowed to run it, its help line, where it runs under a
 * master, and what it does to the registry of the running instance (ControlContext).
 *
 * Answers are HAProxy 2.6's, word for word where HAProxy has one (observed on its stats socket:
 * "No such server.", "Permission denied", "Require 'backend/server'."...); a command that
 * succeeds silently answers nothing, as HAProxy's do.
 */
import { parseAddress, SocketAddress } from '../address.js';
import type { ServerEvents } from '../backend/server-events.js';
import type { AdminState } from '../backend/server-types.js';
import type { HealthChecker } from '../check/health-check.js';
import { followAddress } from '../dns/resolvers.js';
import type { ControlLevel } from '../config/model.js';
import type { Proxy, ProxyLog } from '../proxy/proxy-types.js';
import { pauseProxies, resumeProxies } from '../proxy/proxy.js';
import type { BackendRuntime, FrontendRuntime, ServerRuntime } from '../session/session-types.js';
import type { SessionEngine } from '../session/session.js';
import type { StickTable } from '../stick/stick-table.js';
import { clearTable, setTable, showTable } from './table-commands.js';
import { parseShowStatArgs, showInfo, showInfoJson, showInfoTyped, showStatCsv, showStatJson, showStatTyped, type StatsSnapshot } from '../stats/stats.js';

/** Levels, least first: a connection may run the commands of its level and those below. */
const LEVEL_RANK: Record<ControlLevel, number> = { user: 0, operator: 1, admin: 2 };

/**
 * What the commands act on: the registry of a running instance. A single process (or a worker)
 * has it all; a master has its own copy of the servers (their states, for new workers and its
 * checks) but no sessions and no listeners of its own (`engine` and `proxies` are then absent).
 */
export interface ControlContext {
  readonly frontends: ReadonlyMap<string, FrontendRuntime>;
  readonly backends: ReadonlyMap<string, BackendRuntime>;
  /** The proxies whose listeners this process polls, by name (for `disable frontend`). */
  readonly proxies: ReadonlyMap<string, Proxy> | null;
  readonly engine: SessionEngine | null;
  /** The health checks run here, if any (the master's, or a single process's). */
  readonly checker: HealthChecker | null;
  readonly serverEvents: ServerEvents;
  readonly log: ProxyLog;
  /** The global maxconn set at startup: `set maxconn global` may not go above it. */
  readonly maxconnLimit: number;
  /**
   * Asks the proxy's loop for a turn: a command runs outside it (from the control socket), and
   * what it changed on the fd table (a listener polled again) only takes effect in a turn.
   */
  readonly requestTurn?: () => void;
  /** The loop's activity counters and the relay's figures, by name (null in the master: it runs no loop). */
  readonly activity: (() => Record<string, number>) | null;
  /** The statistics `show stat` and `show info` print: this process's, or (the master) every worker's summed. */
  readonly stats: () => StatsSnapshot | Promise<StatsSnapshot>;
  /** `clear counters` (the maxima) or `clear counters all` (every counter), here and in the workers. */
  readonly clearCounters: (all: boolean) => void;
  /** Stick tables by name: a master maps every table its workers share. */
  readonly tables: ReadonlyMap<string, StickTable>;
}

/** What a command gives back: the text protocol's answer, and the same for programs (JSON-RPC). */
export interface CommandResult {
  readonly text: string;
  readonly data?: unknown;
  /** The command was refused or failed: `text` says why (JSON-RPC answers it as an error). */
  readonly failed?: boolean;
}

/** Where a command runs when a master serves the socket (see src/control/master-control.ts). */
export type CommandScope =
  /** In the master only: it has what the command needs (server states, help). */
  | 'master'
  /** In every worker; their answers are put together (sessions, errors). */
  | 'workers'
  /** In the master's copy of the servers first, then in every worker (server changes). */
  | 'everywhere';

export interface CommandSpec {
  /** The words that name it ('set server'); arguments follow. */
  readonly words: readonly string[];
  /** For `help`: the usage, padded, and what it does. */
  readonly usage: string;
  readonly help: string;
  readonly level: ControlLevel;
  readonly scope: CommandScope;
  /** `level`: the connection's (a command may show less to a lower level, as `show table` does). */
  run(args: readonly string[], ctx: ControlContext, level: ControlLevel): CommandResult | Promise<CommandResult>;
}

const ok: CommandResult = { text: '' };
const say = (text: string, data?: unknown): CommandResult => (data === undefined ? { text } : { text, data });
const fail = (text: string): CommandResult => ({ text, failed: true });

/** Finds `backend/server`, or says what is wrong the way HAProxy says it. */
function findServer(ctx: ControlContext, text: string | undefined): { backend: BackendRuntime; server: ServerRuntime } | CommandResult {
  const slash = text?.indexOf('/') ?? -1;
  if (text === undefined || slash < 0) return fail("Require 'backend/server'.\n");
  const backend = ctx.backends.get(text.slice(0, slash));
  if (backend === undefined) return fail('No such backend.\n');
  const server = backend.servers.find((s) => s.name === text.slice(slash + 1));
  if (server === undefined) return fail('No such server.\n');
  return { backend, server };
}

function isAnswer(found: unknown): found is CommandResult {
  return typeof (found as CommandResult).text === 'string';
}

function setAdmin(ctx: ControlContext, backend: BackendRuntime, server: ServerRuntime, admin: AdminState): void {
  if (server.admin === admin) return;
  server.admin = admin;
  ctx.serverEvents.emit(backend, server, 'admin');
}

/** HAProxy's `show servers state` columns (version 1 of its server-state file). */
const SERVERS_STATE_HEADER =
  '1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n';

/**
 * One `show servers state` row. Operational state 2 is running, 0 stopped; the administrative
 * state is HAProxy's flag word (0x01 forced maintenance, 0x08 drain, 0x20 resolution maintenance).
 * Columns epoxy keeps no value for are HAProxy's "none" (0, '-').
 */
function serverStateRow(backendId: number, backend: BackendRuntime, server: ServerRuntime): string {
  const up = server.admin !== 'maint' && !server.unresolved && server.health === 'up';
  const admin = (server.admin === 'maint' ? 0x01 : 0) | (server.admin === 'drain' ? 0x08 : 0) | (server.unresolved ? 0x20 : 0);
  const address = server.unresolved || server.address === null ? '-' : server.address.address;
  const port = server.address?.port ?? 0;
  const fqdn = server.dns ? server.dns.fqdn : '-';
  const checkPort = server.check?.port ?? 0;
  const checkAddr = server.check?.fixedAddress && server.check.address ? server.check.address.address : '-';
  return [
    backendId,
    backend.name,
    server.id,
    server.name,
    address,
    up ? 2 : 0,
    admin,
    server.weight,
    server.nominalWeight ?? server.weight,
    0,
    0,
    0,
    0,
    server.check === null ? 0 : 6,
    0,
    0,
    0,
    fqdn,
    port,
    server.dns?.srv ? server.dns.fqdn : '-',
    0,
    checkPort,
    checkAddr,
    '-',
    0,
  ].join(' ');
}

/** `disable|enable server|health <be>/<srv>`: find the server, then `act` on it (admin, everywhere). */
function serverSwitch(
  what: 'server' | 'health',
  usage: string,
  help: string,
  act: (ctx: ControlContext, backend: BackendRuntime, server: ServerRuntime) => void,
): CommandSpec {
  return {
    words: [usage.startsWith('disable') ? 'disable' : 'enable', what],
    usage,
    help,
    level: 'admin',
    scope: 'everywhere',
    run(args, ctx) {
      const found = findServer(ctx, args[0]);
      if (isAnswer(found)) return found;
      act(ctx, found.backend, found.server);
      return ok;
    },
  };
}

/** `disable|enable frontend <fe>`: pause or resume its listeners (in the processes that poll them). */
function frontendSwitch(verb: 'disable' | 'enable', help: string, act: (proxy: Proxy, log: ProxyLog) => boolean): CommandSpec {
  return {
    words: [verb, 'frontend'],
    usage: `${verb} frontend <frontend>`,
    help,
    level: 'admin',
    scope: 'workers',
    run(args, ctx) {
      if (args[0] === undefined) return fail('A frontend name is expected.\n');
      if (!ctx.frontends.has(args[0])) return fail('No such frontend.\n');
      const proxy = ctx.proxies?.get(args[0]);
      if (proxy !== undefined && !act(proxy, ctx.log)) return fail(`Failed to ${verb === 'disable' ? 'pause' : 'resume'} frontend, check logs for precise cause.\n`);
      return ok;
    },
  };
}

export const COMMANDS: readonly CommandSpec[] = [
  {
    words: ['show', 'stat'],
    usage: 'show stat [desc|json|no-maint|typed|up]*',
    help: 'report counters for each proxy and server',
    level: 'user',
    scope: 'master',
    async run(args, ctx) {
      const parsed = parseShowStatArgs(args);
      if (parsed === null) return fail('Usage: show stat [<px|iid> <type> <sid>] [typed|json]\n');
      const snapshot = await ctx.stats();
      if (parsed.format === 'json') return say(showStatJson(snapshot, parsed.filter));
      return say(parsed.format === 'typed' ? showStatTyped(snapshot, parsed.filter) : showStatCsv(snapshot, parsed.filter));
    },
  },
  {
    words: ['show', 'info'],
    usage: 'show info [desc|json|typed|float]*',
    help: 'report information about the running process',
    level: 'user',
    scope: 'master',
    async run(args, ctx) {
      const snapshot = await ctx.stats();
      if (args.includes('json')) return say(showInfoJson(snapshot));
      return say(args.includes('typed') ? showInfoTyped(snapshot) : showInfo(snapshot));
    },
  },
  {
    words: ['clear', 'counters'],
    usage: 'clear counters [all]',
    help: 'clear max statistics counters (or all counters)',
    level: 'operator',
    scope: 'master',
    run(args, ctx) {
      if (args[0] !== undefined) return fail('Usage: clear counters [all]\n');
      ctx.clearCounters(false);
      return ok;
    },
  },
  {
    words: ['clear', 'counters', 'all'],
    usage: 'clear counters all',
    help: 'clear every statistics counter',
    level: 'admin',
    scope: 'master',
    run(_args, ctx) {
      ctx.clearCounters(true);
      return ok;
    },
  },
  {
    words: ['show', 'servers', 'state'],
    usage: 'show servers state [<backend>]',
    help: 'dump volatile server information (all or for a single backend)',
    level: 'user',
    scope: 'master',
    run(args, ctx) {
      const backends = [...ctx.backends.values()];
      const wanted = args[0] === undefined ? backends : backends.filter((b) => b.name === args[0]);
      if (args[0] !== undefined && wanted.length === 0) return fail("Can't find backend.\n");
      const rows: string[] = [];
      for (const backend of wanted) {
        const backendId = backends.indexOf(backend) + 1;
        for (const server of backend.servers) rows.push(serverStateRow(backendId, backend, server));
      }
      return say(SERVERS_STATE_HEADER + rows.map((r) => `${r}\n`).join(''), { rows });
    },
  },
  {
    words: ['show', 'sess'],
    usage: 'show sess [all]',
    help: 'report the list of current sessions (all: with details)',
    level: 'operator',
    scope: 'workers',
    run(args, ctx) {
      const sessions = ctx.engine?.describeSessions() ?? [];
      const all = args[0] === 'all';
      const lines = sessions.map((s) => {
        const head = `${s.id}: proto=${s.proto} src=${s.src} fe=${s.frontend} be=${s.backend ?? '<NONE>'} srv=${s.server ?? '<none>'} age=${Math.floor(s.ageMs / 1000)}s`;
        if (!all) return `${head} phase=${s.phase}\n`;
        return `${head}\n  phase=${s.phase} attempts=${s.attempts} age_ms=${s.ageMs}\n  client fd=${s.clientFd} server fd=${s.serverFd}\n`;
      });
      return say(lines.join(''), { sessions });
    },
  },
  {
    words: ['shutdown', 'session'],
    usage: 'shutdown session <id>',
    help: 'kill a specific session',
    level: 'admin',
    scope: 'workers',
    run(args, ctx) {
      const id = args[0];
      if (id === undefined) return fail('Session pointer expected (use \'show sess\').\n');
      return ctx.engine?.shutdownSession(id.toLowerCase()) ? ok : fail("No such session (use 'show sess').\n");
    },
  },
  {
    words: ['shutdown', 'sessions', 'server'],
    usage: 'shutdown sessions server <bk>/<srv>',
    help: 'kill sessions on a server',
    level: 'admin',
    scope: 'workers',
    run(args, ctx) {
      const found = findServer(ctx, args[0]);
      if (isAnswer(found)) return found;
      const killed = ctx.engine?.killServerSessions(found.server) ?? 0;
      return say('', { killed });
    },
  },
  serverSwitch('server', 'disable server (DEPRECATED)', "disable a server for maintenance (use 'set server' instead)", (ctx, backend, server) => setAdmin(ctx, backend, server, 'maint')),
  serverSwitch('server', 'enable server  (DEPRECATED)', "enable a disabled server (use 'set server' instead)", (ctx, backend, server) => setAdmin(ctx, backend, server, 'ready')),
  serverSwitch('health', 'disable health (DEPRECATED)', "disable health checks (use 'set server' instead)", (ctx, backend, server) => {
    // HAProxy: checks stop and the server counts as up (unchecked) until they are enabled again.
    ctx.checker?.pause(backend.name, server.name);
    if (server.check !== null && server.health !== 'up') {
      server.health = 'up';
      ctx.serverEvents.emit(backend, server, 'health');
    }
  }),
  serverSwitch('health', 'enable health  (DEPRECATED)', "enable health checks (use 'set server' instead)", (ctx, backend, server) => void ctx.checker?.resume(backend.name, server.name)),
  frontendSwitch('disable', 'temporarily disable specific frontend', (proxy, log) => pauseProxies([proxy], log)),
  frontendSwitch('enable', 'resume specific frontend', (proxy, log) => resumeProxies([proxy], log)),
  {
    words: ['set', 'server'],
    usage: 'set server <bk>/<srv> [opts]',
    help: 'change a server\'s state, weight or address',
    level: 'admin',
    scope: 'everywhere',
    run(args, ctx) {
      const found = findServer(ctx, args[0]);
      if (isAnswer(found)) return found;
      const { backend, server } = found;
      switch (args[1]) {
        case 'state':
          if (args[2] !== 'ready' && args[2] !== 'drain' && args[2] !== 'maint') return fail("'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n");
          setAdmin(ctx, backend, server, args[2]);
          return ok;
        case 'weight': {
          const text = args[2] ?? '';
          const relative = text.endsWith('%');
          const n = /^\d+%?$/.test(text) ? parseInt(text, 10) : NaN;
          if (Number.isNaN(n)) return fail('Require <weight> or <weight%>.\n');
          const base = server.nominalWeight ?? server.weight;
          const weight = relative ? Math.floor((base * n) / 100) : n;
          if (!relative && (n < 0 || n > 256)) return fail('Absolute weight can only be between 0 and 256 inclusive.\n');
          if (relative && weight > 256) return fail('Relative weight too large.\n');
          server.weight = weight;
          ctx.serverEvents.emit(backend, server, 'admin');
          return ok;
        }
        case 'addr': {
          const text = args[2];
          let address: SocketAddress;
          try {
            address = parseAddress(text ?? '');
            if (address.family === 'unix') throw new Error('not an ip');
          } catch {
            return fail(`Invalid addr '${text ?? ''}' by 'stats socket command'\n`);
          }
          let port = server.address?.port ?? 0;
          if (args[3] === 'port') {
            const p = /^\d+$/.test(args[4] ?? '') ? Number(args[4]) : NaN;
            if (!(p >= 1 && p <= 65535)) return fail(`Invalid port '${args[4] ?? ''}' by 'stats socket command'\n`);
            port = p;
          }
          const before = server.address;
          server.address = SocketAddress.from(address.family, address.address, port);
          server.unresolved = false;
          followAddress(server);
          ctx.serverEvents.emit(backend, server, 'address');
          const ipChanged = before?.address !== address.address ? `IP changed from '${before?.address ?? '(none)'}' to '${address.address}'` : `no need to change the addr`;
          const portChanged = before?.port !== port ? `, port changed from '${before?.port ?? 0}' to '${port}'` : '';
          return say(`${ipChanged}${portChanged} by 'stats socket command'\n`);
        }
        default:
          return fail('usage: set server <backend>/<server> addr | state | weight\n');
      }
    },
  },
  {
    words: ['set', 'maxconn', 'server'],
    usage: 'set maxconn server <bk>/<srv> <n>',
    help: "change a server's maxconn setting",
    level: 'admin',
    scope: 'everywhere',
    run(args, ctx) {
      const found = findServer(ctx, args[0]);
      if (isAnswer(found)) return found;
      const n = /^\d+$/.test(args[1] ?? '') ? Number(args[1]) : NaN;
      if (Number.isNaN(n)) return fail('Integer value expected.\n');
      found.server.maxconn = n;
      ctx.serverEvents.emit(found.backend, found.server, 'admin');
      return ok;
    },
  },
  {
    words: ['set', 'maxconn', 'frontend'],
    usage: 'set maxconn frontend <frontend> <value>',
    help: "change a frontend's maxconn setting",
    level: 'admin',
    scope: 'workers',
    run(args, ctx) {
      if (args[0] === undefined) return fail('A frontend name is expected.\n');
      const frontend = ctx.frontends.get(args[0]);
      if (frontend === undefined) return fail('No such frontend.\n');
      const n = /^\d+$/.test(args[1] ?? '') ? Number(args[1]) : NaN;
      if (Number.isNaN(n)) return fail('Integer value expected.\n');
      (frontend as { maxconn: number }).maxconn = n;
      return ok;
    },
  },
  {
    words: ['set', 'maxconn', 'global'],
    usage: 'set maxconn global <value>',
    help: 'change the per-process maxconn setting',
    level: 'admin',
    scope: 'workers',
    run(args, ctx) {
      const n = /^\d+$/.test(args[0] ?? '') ? Number(args[0]) : NaN;
      if (Number.isNaN(n)) return fail('Expects an integer value.\n');
      if (n === 0 || (ctx.maxconnLimit > 0 && n > ctx.maxconnLimit)) return fail('Value out of range.\n');
      if (ctx.engine !== null) ctx.engine.maxconn = n;
      return ok;
    },
  },
  {
    words: ['show', 'activity'],
    usage: 'show activity',
    help: "show per-process activity counters (the loop's, the relay's, the sessions')",
    level: 'operator',
    scope: 'workers',
    run(_args, ctx) {
      const figures = ctx.activity?.() ?? {};
      // HAProxy's layout: one 'name: value' line per counter; under a master, one block per worker.
      return say(`pid: ${process.pid}\n${Object.entries(figures).map(([name, value]) => `${name}: ${value}\n`).join('')}`, { processes: [{ pid: process.pid, ...figures }] });
    },
  },
  {
    words: ['show', 'table'],
    usage: 'show table <table> [<filter>]*',
    help: "report table usage stats or dump this table's contents (filter: data/key)",
    level: 'user',
    scope: 'master',
    run: (args, ctx, level) => showTable(args, ctx, level),
  },
  {
    words: ['clear', 'table'],
    usage: 'clear table <table> [<filter>]*',
    help: 'remove an entry from a table (filter: data/key)',
    level: 'operator',
    scope: 'master',
    run: (args, ctx) => clearTable(args, ctx),
  },
  {
    words: ['set', 'table'],
    usage: 'set table <table> key <k> [data.* <v>]*',
    help: "update or create a table entry's data",
    level: 'operator',
    scope: 'master',
    run: (args, ctx) => setTable(args, ctx),
  },
  {
    words: ['show', 'errors'],
    usage: 'show errors [<px>] [request|response]',
    help: 'report last request and/or response errors for each proxy',
    level: 'operator',
    scope: 'workers',
    run(_args, ctx) {
      const captured = ctx.engine?.capturedHeaderErrors() ?? { total: 0, errors: [] };
      let text = `Total events captured on [${new Date().toISOString()}] : ${captured.total}\n`;
      for (const e of captured.errors) {
        text += `\n[${new Date(e.at).toISOString()}] frontend ${e.frontend}: invalid PROXY header from ${e.src} (${e.reason}), ${e.length} bytes:\n`;
        for (let i = 0; i < e.bytes.length; i += 16) {
          const chunk = e.bytes.subarray(i, i + 16);
          const hex = [...chunk].map((b) => b.toString(16).padStart(2, '0')).join(' ');
          const printable = [...chunk].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
          text += `  ${i.toString().padStart(5, '0')}  ${hex.padEnd(47)}  ${printable}\n`;
        }
      }
      return say(text, { total: captured.total, errors: captured.errors.map((e) => ({ ...e, bytes: e.bytes.toString('base64') })) });
    },
  },
];

/** The commands the protocol itself answers (they change the connection, not the instance). */
const PROTOCOL_HELP = [
  ['help [<command>]', 'list matching or all commands'],
  ['prompt', 'toggle interactive mode with prompt'],
  ['quit', 'disconnect'],
] as const;

/** `help` at `level`: the commands it may run, as HAProxy lays its help out. */
export function helpText(level: ControlLevel, extra: readonly (readonly [string, string])[] = []): string {
  const lines = [...COMMANDS.filter((c) => LEVEL_RANK[c.level] <= LEVEL_RANK[level]).map((c) => [c.usage, c.help] as const), ...extra, ...PROTOCOL_HELP];
  return `The following commands are valid at this level:\n${lines.map(([usage, help]) => `  ${usage.padEnd(39)} : ${help}\n`).join('')}`;
}

/** The command a line names (the longest match of words), with its arguments; null: none. */
export function findCommand(words: readonly string[]): { spec: CommandSpec; args: string[] } | null {
  let best: CommandSpec | null = null;
  for (const spec of COMMANDS) {
    if (spec.words.length > words.length) continue;
    if (!spec.words.every((w, i) => w === words[i])) continue;
    if (best === null || spec.words.length > best.words.length) best = spec;
  }
  return best === null ? null : { spec: best, args: words.slice(best.words.length) };
}

/** Whether `level` may run `spec`. */
export function allowed(spec: CommandSpec, level: ControlLevel): boolean {
  return LEVEL_RANK[spec.level] <= LEVEL_RANK[level];
}

export const PERMISSION_DENIED: CommandResult = { text: 'Permission denied\n', failed: true };

/**
 * Runs one command at `level` against `ctx` (a single process, a worker, or the master's copy
 * for the commands it answers itself). `help` and unknown commands are answered here.
 */
export async function runCommand(command: string, level: ControlLevel, ctx: ControlContext): Promise<CommandResult> {
  const words = command.trim().split(/\s+/);
  if (words[0] === 'help') return { text: helpText(level) };
  const found = findCommand(words);
  if (found === null) return unknownCommand(words, level);
  if (!allowed(found.spec, level)) return PERMISSION_DENIED;
  const result = await found.spec.run(found.args, ctx, level);
  ctx.requestTurn?.();
  return result;
}

/** HAProxy 2.6's answer to an unknown command: the commands sharing its first word, or them all. */
export function unknownCommand(words: readonly string[], level: ControlLevel): CommandResult {
  const close = COMMANDS.filter((c) => c.words[0] === words[0] && allowed(c, level));
  const lines = (close.length > 0 ? close : COMMANDS.filter((c) => allowed(c, level))).map((c) => `  ${c.usage.padEnd(39)} : ${c.help}\n`);
  return { text: `Unknown command, but maybe one of the following ones is a better match:\n${lines.join('')}${PROTOCOL_HELP.map(([u, h]) => `  ${u.padEnd(39)} : ${h}\n`).join('')}`, failed: true };
}
