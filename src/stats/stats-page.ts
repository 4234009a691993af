/**
 * HAProxy's statistics page, served by a `mode http` listen or frontend section with `stats`
 * lines: the HTML report (one table per proxy, HAProxy 2.6's columns and row classes, so that
 * people and the scripts that scrape it find what they know), its `;csv` form (exactly
 * `show stat`), its `;json` form (`show stat json`), Basic authentication, and with
 * `stats admin` the per-backend form whose actions run through the runtime API's command table.
 *
 * The markup's structure (element nesting, class names, column order, the form's field names
 * and the `;st=` redirect codes) is the page's public interface and follows what HAProxy 2.6
 * serves; the text, styles and code are epoxy's own.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIPv4 } from 'node:net';
import { SocketAddress } from '../address.js';
import type { Config, StatsPageConfig } from '../config/model.js';
import type { CommandResult } from '../control/commands.js';
import { compileCondition } from '../runtime/condition.js';
import type { Condition } from '../session/session-types.js';
import { VERSION } from '../version.js';
import { cell, showStatCsv, showStatJson, type StatColumn, type StatRow, type StatsSnapshot } from './stats.js';

export interface StatsPageContext {
  readonly page: StatsPageConfig;
  readonly config: Config;
  readonly snapshot: () => StatsSnapshot | Promise<StatsSnapshot>;
  /** Runs a runtime-API command at admin level, where the servers live (this process or every worker). */
  readonly runCommand: (command: string) => Promise<CommandResult>;
}

/** What the URI asks for after the page's prefix (`;csv`, `;up`, `;norefresh`, `;st=DONE`...). */
export interface PageOptions {
  readonly format: 'html' | 'csv' | 'json';
  /** `;up`: servers that are down or in maintenance are left out. */
  readonly upOnly: boolean;
  readonly noRefresh: boolean;
  /** `;st=<code>`: the outcome of the admin action that redirected here. */
  readonly status: AdminStatus | null;
}

/** The outcome of an admin POST, as the redirect's `;st=` says it (HAProxy's codes). */
export type AdminStatus = 'DONE' | 'NONE' | 'PART' | 'ERRP' | 'EXCD' | 'DENY' | 'UNKN';

const STATUS_TEXT: Record<AdminStatus, { text: string; good: boolean }> = {
  DONE: { text: 'The action was applied.', good: true },
  NONE: { text: 'No server was selected: nothing changed.', good: true },
  PART: { text: 'The action was applied to some of the servers only.', good: false },
  ERRP: { text: 'The action was not applied: a parameter was missing or invalid.', good: false },
  EXCD: { text: 'The action was not applied: the form was too large; select fewer servers at a time.', good: false },
  DENY: { text: 'The action was refused: this client may not change servers.', good: false },
  UNKN: { text: 'The action had an unexpected outcome.', good: false },
};

/** The form's actions and the runtime-API command each runs on a server (`<b>/<s>` is appended). */
const ACTIONS: Record<string, { label: string; command: (target: string) => string }> = {
  ready: { label: 'Set state to READY', command: (t) => `set server ${t} state ready` },
  drain: { label: 'Set state to DRAIN', command: (t) => `set server ${t} state drain` },
  maint: { label: 'Set state to MAINT', command: (t) => `set server ${t} state maint` },
  dhlth: { label: 'Health: disable checks', command: (t) => `disable health ${t}` },
  ehlth: { label: 'Health: enable checks', command: (t) => `enable health ${t}` },
  shutdown: { label: 'Kill Sessions', command: (t) => `shutdown sessions server ${t}` },
};

/** The most of a POSTed form that is read (HAProxy is bounded by its buffer the same way). */
const MAX_FORM_BYTES = 16_384;

/** Each page's admin condition, compiled once. */
const compiled = new WeakMap<StatsPageConfig, Condition>();

export function parsePageOptions(rest: string): PageOptions {
  const words = rest.split(';').slice(1);
  let format: PageOptions['format'] = 'html';
  let status: AdminStatus | null = null;
  for (const word of words) {
    if (word === 'csv') format = 'csv';
    else if (word === 'json') format = 'json';
    else if (word.startsWith('st=') && word.slice(3) in STATUS_TEXT) status = word.slice(3) as AdminStatus;
  }
  return { format, upOnly: words.includes('up'), noRefresh: words.includes('norefresh'), status };
}

/** HAProxy's answer for a URI outside every service: no server can take it. */
export function serviceUnavailable(response: ServerResponse): void {
  const body = '<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n';
  response.writeHead(503, { 'cache-control': 'no-cache', 'content-type': 'text/html', 'content-length': Buffer.byteLength(body) }).end(body);
}

export async function answerStatsPage(request: IncomingMessage, response: ServerResponse, ctx: StatsPageContext): Promise<void> {
  const { page } = ctx;
  const url = request.url ?? '/';
  if (!url.startsWith(page.uri)) {
    serviceUnavailable(response);
    return;
  }
  if (!authorized(request, page)) {
    const body = '<html><body><h1>401 Unauthorized</h1>\nA valid user name and password are needed to see this page.\n</body></html>\n';
    response
      .writeHead(401, {
        'cache-control': 'no-cache',
        'content-type': 'text/html',
        'content-length': Buffer.byteLength(body),
        'www-authenticate': `Basic realm="${page.realm.replace(/["\\]/g, '\\$&')}"`,
      })
      .end(body);
    return;
  }
  const admin = adminGranted(request, page);
  try {
    if (request.method === 'POST') {
      const status = admin ? await applyAdminForm(request, ctx) : 'DENY';
      response.writeHead(303, { 'cache-control': 'no-cache', 'content-type': 'text/plain', 'content-length': 0, location: `${page.uri};st=${status}` }).end();
      return;
    }
    const options = parsePageOptions(url.slice(page.uri.length));
    const snapshot = inScope(await ctx.snapshot(), page, options.upOnly);
    const headers: Record<string, string | number> = { 'cache-control': 'no-cache' };
    if (page.refreshMs !== null && !options.noRefresh) headers.refresh = Math.max(1, Math.round(page.refreshMs / 1000));
    let body: string;
    if (options.format === 'csv') {
      headers['content-type'] = 'text/plain';
      body = showStatCsv(snapshot);
    } else if (options.format === 'json') {
      headers['content-type'] = 'application/json';
      body = showStatJson(snapshot);
    } else {
      headers['content-type'] = 'text/html';
      body = statsPageHtml(snapshot, { page, options, admin });
    }
    headers['content-length'] = Buffer.byteLength(body);
    response.writeHead(200, headers).end(request.method === 'HEAD' ? undefined : body);
  } catch (error) {
    if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain' });
    response.end(`${(error as Error).message}\n`);
  }
}

/** Basic authentication against the `stats auth` users; no user configured: everyone may read. */
function authorized(request: IncomingMessage, page: StatsPageConfig): boolean {
  if (page.users.length === 0) return true;
  const match = /^Basic\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  if (match === null) return false;
  const credentials = Buffer.from(match[1]!, 'base64').toString('utf8');
  return page.users.some((u) => credentials === `${u.user}:${u.password}`);
}

/** Whether `stats admin if|unless <cond>` holds for this client's connection. */
function adminGranted(request: IncomingMessage, page: StatsPageConfig): boolean {
  if (page.admin === null) return false;
  let condition = compiled.get(page);
  if (condition === undefined) {
    condition = compileCondition(page.admin);
    compiled.set(page, condition);
  }
  const socket = request.socket;
  const address = (host: string | undefined, port: number | undefined): SocketAddress =>
    SocketAddress.from(host !== undefined && isIPv4(host) ? 'ipv4' : 'ipv6', host ?? '::', port ?? 0);
  return condition({ src: address(socket.remoteAddress, socket.remotePort), dst: address(socket.localAddress, socket.localPort) });
}

/** The POSTed form, or null when it is larger than the page reads. */
function readForm(request: IncomingMessage): Promise<URLSearchParams | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_FORM_BYTES) chunks.push(chunk);
    });
    request.on('end', () => resolve(size > MAX_FORM_BYTES ? null : new URLSearchParams(Buffer.concat(chunks).toString('latin1'))));
    request.on('error', reject);
  });
}

/**
 * Applies the admin form (`b`: the backend as '#<id>' or its name, `s`: the checked servers,
 * `action`) through the runtime API, server by server. Only servers the snapshot shows are
 * addressed, so a form cannot smuggle another command in.
 */
async function applyAdminForm(request: IncomingMessage, ctx: StatsPageContext): Promise<AdminStatus> {
  const form = await readForm(request);
  if (form === null) return 'EXCD';
  const action = ACTIONS[form.get('action') ?? ''];
  const wanted = form.get('b') ?? '';
  const snapshot = inScope(await ctx.snapshot(), ctx.page, false);
  const backendRow = snapshot.rows.find((r) => r.kind === 'backend' && (wanted.startsWith('#') ? `#${r.iid}` === wanted : r.proxy === wanted));
  if (action === undefined || backendRow === undefined) return 'ERRP';
  const servers = form.getAll('s');
  if (servers.length === 0) return 'NONE';
  let done = 0;
  let failed = 0;
  for (const name of servers) {
    const known = snapshot.rows.some((r) => r.kind === 'server' && r.proxy === backendRow.proxy && r.name === name);
    if (!known) {
      failed++;
      continue;
    }
    const result = await ctx.runCommand(action.command(`${backendRow.proxy}/${name}`));
    if (result.failed) failed++;
    else done++;
  }
  if (failed === 0) return 'DONE';
  return done > 0 ? 'PART' : 'ERRP';
}

/** The rows the page may show: `stats scope` proxies only, and with `;up` no server that is down. */
function inScope(snapshot: StatsSnapshot, page: StatsPageConfig, upOnly: boolean): StatsSnapshot {
  const rows = snapshot.rows.filter((r) => {
    if (page.scope.length > 0 && !page.scope.includes(r.proxy)) return false;
    if (!upOnly || r.kind !== 'server') return true;
    const status = String(cell(r, 'status') ?? '');
    return !status.startsWith('DOWN') && !status.startsWith('MAINT');
  });
  return { ...snapshot, rows };
}

// ---------------------------------------------------------------------------------------------
// The HTML report

export interface HtmlOptions {
  readonly page: StatsPageConfig;
  readonly options: PageOptions;
  /** The admin form is shown (`stats admin` holds for this client). */
  readonly admin: boolean;
}

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A duration as the page writes it: '42s', '3m05s' style, '2h10m', '4d3h'. */
export function humanTime(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor(s / 60) % 60}m`;
  return `${Math.floor(s / 86400)}d${Math.floor(s / 3600) % 24}h`;
}

// Styles: HAProxy's class names (scripts and user styles select them), epoxy's own sheet.
const STYLE = `body { font-family: arial, helvetica, sans-serif; font-size: 12px; color: black; background: white; }
th, td { font-size: 10px; }
h1 { font-size: x-large; margin-bottom: 0.5em; }
h2 { font-size: x-large; font-style: italic; color: #6020a0; margin: 0; }
h3 { font-size: 16px; color: #b00040; background: #e8e8d0; margin: 0; }
.hr { margin-top: 0.25em; border-color: black; border-bottom-style: solid; }
.titre { background: #20d0d0; color: black; font-weight: bold; text-align: center; }
.frontend, .backend { background: #e8e8d0; }
.active_down, .backup_down { background: #ff9090; }
.active_going_up { background: #ffd020; }
.active_going_down { background: #ffffa0; }
.active_up { background: #c0ffc0; }
.active_draining { background: #20a0ff; }
.active_no_check, .backup_no_check { background: #e0e0e0; }
.backup_going_up { background: #ff80ff; }
.backup_going_down { background: #c060ff; }
.backup_up { background: #b0d0ff; }
.backup_draining { background: #cc9900; }
.maintain { background: #c07820; }
a.px { color: #ffff40; text-decoration: none; }
a.lfsb { color: black; text-decoration: none; }
table.tbl { border-collapse: collapse; border-style: none; }
table.tbl td { text-align: right; border: 1px solid gray; padding: 2px 3px; white-space: nowrap; }
table.tbl td.ac { text-align: center; }
table.tbl th { border: 1px solid gray; }
table.tbl th.pxname { background: #b00040; color: #ffff40; font-weight: bold; padding: 2px 3px; white-space: nowrap; }
table.tbl th.empty { border-style: none; background: white; }
table.lgd { border-collapse: collapse; border-left: 1px solid black; }
table.lgd td { border: 1px solid gray; padding: 2px; }
table.lgd td.noborder { border-style: none; white-space: nowrap; }
u { text-decoration: none; border-bottom: 1px dotted black; }
div.tips { display: block; visibility: hidden; position: absolute; padding: 2px 4px; background: #f0f060; border: 1px solid #7040c0; white-space: nowrap; font-size: 11px; }
u:hover div.tips { visibility: visible; }`;

const GROUPS: ReadonlyArray<[string, readonly string[]]> = [
  ['Queue', ['Cur', 'Max', 'Limit']],
  ['Session rate', ['Cur', 'Max', 'Limit']],
  ['Sessions', ['Cur', 'Max', 'Limit', 'Total', 'LbTot', 'Last']],
  ['Bytes', ['In', 'Out']],
  ['Denied', ['Req', 'Resp']],
  ['Errors', ['Req', 'Conn', 'Resp']],
  ['Warnings', ['Retr', 'Redis']],
  ['Server', ['Status', 'LastChk', 'Wght', 'Act', 'Bck', 'Chk', 'Dwn', 'Dwntme', 'Thrtle']],
];

export function statsPageHtml(snapshot: StatsSnapshot, { page, options, admin }: HtmlOptions): string {
  const info = snapshot.info;
  const uri = escapeHtml(page.uri);
  const title = page.hideVersion ? 'epoxy' : `epoxy version ${escapeHtml(String(info.Version ?? VERSION))}`;
  const out: string[] = [];
  out.push(
    '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN"\n"http://www.w3.org/TR/html4/loose.dtd">\n',
    '<html><head><title>Statistics Report for epoxy</title>\n<link rel="icon" href="data:,">\n',
    '<meta http-equiv="content-type" content="text/html; charset=iso-8859-1">\n',
    `<style type="text/css"><!--\n${STYLE}\n--></style></head>\n`,
    `<body><h1>${title}</h1>\n<h2>Statistics Report for pid ${info.Pid ?? ''}</h2>\n<hr width="100%" class="hr">\n`,
    '<h3>&gt; General process information</h3>\n',
    '<table border=0><tr><td align="left" nowrap width="1%">\n',
    `<p><b>pid = </b> ${info.Pid ?? ''} (process #1, nbproc = 1, nbthread = ${info.Nbthread ?? 1})<br>\n`,
    `<b>uptime = </b> ${info.Uptime ?? ''}<br>\n`,
    `<b>system limits:</b> memmax = unlimited; ulimit-n = ${info['Ulimit-n'] ?? ''}<br>\n`,
    `<b>maxsock = </b> ${info.Maxsock ?? ''}; <b>maxconn = </b> ${info.Maxconn ?? ''}; <b>maxpipes = </b> ${info.Maxpipes ?? 0}<br>\n`,
    `current conns = ${info.CurrConns ?? 0}; current pipes = ${info.PipesUsed ?? 0}/${Number(info.PipesUsed ?? 0) + Number(info.PipesFree ?? 0)}; conn rate = ${info.ConnRate ?? 0}/sec<br>\n`,
    '</td><td align="center" nowrap>\n',
    legend(),
    '</td><td align="left" valign="top" nowrap width="1%"><b>Display option:</b><ul style="margin-top: 0.25em;">\n',
    options.upOnly ? `<li><a href="${uri}">Show all servers</a><br>\n` : `<li><a href="${uri};up">Hide 'DOWN' servers</a><br>\n`,
    page.refreshMs !== null ? (options.noRefresh ? `<li><a href="${uri}">Enable refresh</a><br>\n` : `<li><a href="${uri};norefresh">Disable refresh</a><br>\n`) : '',
    `<li><a href="${uri}${options.upOnly ? ';up' : ''}${options.noRefresh ? ';norefresh' : ''}">Refresh now</a><br>\n`,
    `<li><a href="${uri};csv;norefresh">CSV export</a><br>\n`,
    `<li><a href="${uri};json;norefresh">JSON export</a><br>\n`,
    '</ul></td></tr></table>\n',
  );
  if (options.status !== null) {
    const { text, good } = STATUS_TEXT[options.status];
    out.push(`<p><div class=${good ? 'active_up' : 'active_down'}><a class=lfsb href="${uri}" title="Remove this message">[X]</a> ${text}</div>\n`);
  }
  out.push('<p>\n');
  for (const rows of byProxy(snapshot.rows)) out.push(proxyTables(rows, admin));
  out.push('</body></html>\n');
  return out.join('');
}

function legend(): string {
  const swatch = (cls: string, text: string, span = ''): string => `<td class="${cls}">&nbsp;</td><td class="noborder"${span}>${text} </td>`;
  return (
    '<table class="lgd"><tr>\n' +
    `${swatch('active_up', 'active UP')}${swatch('backup_up', 'backup UP')}</tr><tr>\n` +
    `${swatch('active_going_down', 'active UP, going down')}${swatch('backup_going_down', 'backup UP, going down')}</tr><tr>\n` +
    `${swatch('active_going_up', 'active DOWN, going up')}${swatch('backup_going_up', 'backup DOWN, going up')}</tr><tr>\n` +
    `${swatch('active_down', 'active or backup DOWN')}${swatch('active_no_check', 'not checked')}</tr><tr>\n` +
    `${swatch('maintain', 'active or backup in maintenance (MAINT)', ' colspan="3"')}</tr><tr>\n` +
    `${swatch('active_draining', 'active or backup draining (DRAIN)', ' colspan="3"')}</tr></table>\n` +
    'DRAIN: up, but given no new sessions.'
  );
}

/** The rows of each proxy, in snapshot order (a proxy's FRONTEND, servers and BACKEND are together). */
function byProxy(rows: readonly StatRow[]): StatRow[][] {
  const groups: StatRow[][] = [];
  for (const r of rows) {
    const last = groups[groups.length - 1];
    if (last !== undefined && last[0]!.proxy === r.proxy) last.push(r);
    else groups.push([r]);
  }
  return groups;
}

function proxyTables(rows: readonly StatRow[], admin: boolean): string {
  const name = escapeHtml(rows[0]!.proxy);
  const backend = rows.find((r) => r.kind === 'backend');
  const form = admin && backend !== undefined && rows.some((r) => r.kind === 'server');
  const out: string[] = [];
  if (form) out.push('<form method="post">');
  out.push(
    `<table class="tbl" width="100%">\n<tr class="titre"><th class="pxname" width="10%"><a name="${name}"></a><a class=px href="#${name}">${name}</a></th><th class="empty" width="90%"></th></tr>\n</table>\n`,
    '<table class="tbl" width="100%">\n<tr class="titre">',
    form
      ? `<th rowspan=2 width=1><input type="checkbox" onclick="for (const box of document.getElementsByClassName('${name}-checkbox')) box.checked = this.checked"></th>`
      : '<th rowspan=2></th>',
    '<th rowspan=2></th>',
    GROUPS.map(([group, columns]) => `<th colspan=${columns.length}>${group}</th>`).join(''),
    '</tr>\n<tr class="titre">',
    GROUPS.flatMap(([, columns]) => columns.map((c) => `<th>${c}</th>`)).join(''),
    '\n</tr>',
  );
  for (const r of rows) out.push(rowHtml(r, form), '\n');
  out.push('</table>');
  if (form) {
    const choices = Object.entries(ACTIONS)
      .map(([value, { label }]) => `<option value="${value}">${label}</option>`)
      .join('');
    out.push(
      `Choose the action to perform on the checked servers : <select name=action><option value=""></option>${choices}</select>`,
      `<input type="hidden" name="b" value="#${backend.iid}">&nbsp;<input type="submit" value="Apply"></form>`,
    );
  }
  out.push('<p>\n');
  return out.join('');
}

function rowHtml(r: StatRow, form: boolean): string {
  const v = (column: StatColumn): string => {
    const value = cell(r, column);
    return value === null ? '' : escapeHtml(String(value));
  };
  const n = (column: StatColumn): string => v(column) || '0';
  const td = (text: string, cls = ''): string => `<td${cls === '' ? '' : ` class=${cls}`}>${text}</td>`;
  const u = (text: string, tip = ''): string => `<u>${text}${tip === '' ? '' : `<div class=tips>${tip}</div>`}</u>`;
  const anchor = (label: string): string => {
    const id = `${escapeHtml(r.proxy)}/${label}`;
    return `<td class=ac><a name="${id}"></a><a class=lfsb href="#${id}">${label}</a></td>`;
  };
  const lastSession = (): string => {
    const last = Number(cell(r, 'lastsess') ?? -1);
    return last < 0 ? '?' : humanTime(last);
  };
  const yesNo = (column: StatColumn): string => (Number(cell(r, column) ?? 0) > 0 ? 'Y' : '-');
  const cells: string[] = [];

  if (r.kind === 'frontend') {
    cells.push('<td></td>', anchor('Frontend'), '<td colspan=3></td>');
    cells.push(td(u(n('rate'), `Current connection rate: ${n('conn_rate')}/s, session rate: ${n('rate')}/s`)), td(u(n('rate_max'), `Max connection rate: ${n('conn_rate_max')}/s`)), td('-'));
    cells.push(td(n('scur')), td(n('smax')), td(v('slim')), td(u(n('stot'), `Cum. connections: ${n('conn_tot')}`)), td(''), td(''));
    cells.push(td(n('bin')), td(n('bout')));
    cells.push(td(u(n('dreq'), `Denied connections: ${n('dcon')}`)), td(n('dresp')));
    cells.push(td(n('ereq')), td(''), td(''), td(''), td(''));
    cells.push(td(v('status'), 'ac'), '<td class=ac colspan=8></td>');
    return `<tr class="frontend">${cells.join('')}</tr>`;
  }

  if (r.kind === 'backend') {
    cells.push('<td></td>', anchor('Backend'));
    cells.push(td(n('qcur')), td(n('qmax')), td(''));
    cells.push(td(n('rate')), td(n('rate_max')), td(''));
    cells.push(td(n('scur')), td(n('smax')), td(v('slim')), td(u(n('stot'), `Cum. sessions: ${n('stot')}`)), td(n('lbtot')), td(lastSession()));
    cells.push(td(n('bin')), td(n('bout')));
    cells.push(td(n('dreq')), td(n('dresp')));
    cells.push(td(''), td(n('econ')), td(u(n('eresp'), `Connection resets during transfers: ${n('cli_abrt')} client, ${n('srv_abrt')} server`)));
    cells.push(td(n('wretr')), td(n('wredis')));
    cells.push(td(`${humanTime(Number(cell(r, 'lastchg') ?? 0))} ${v('status')}`, 'ac'), td('&nbsp;', 'ac'), td(`${n('weight')}/${n('uweight')}`, 'ac'));
    cells.push(td(n('act'), 'ac'), td(n('bck'), 'ac'), td('&nbsp;', 'ac'), td(n('chkdown')), td(humanTime(Number(cell(r, 'downtime') ?? 0))), td(''));
    return `<tr class="backend">${cells.join('')}</tr>`;
  }

  const status = v('status');
  const checked = cell(r, 'check_status') !== null || cell(r, 'chkfail') !== null;
  const name = escapeHtml(r.name);
  cells.push(form ? `<td><input class='${escapeHtml(r.proxy)}-checkbox' type="checkbox" name="s" value="${name}"></td>` : '<td></td>', anchor(name));
  cells.push(td(n('qcur')), td(n('qmax')), td(v('qlimit') || '-'));
  cells.push(td(n('rate')), td(n('rate_max')), td(''));
  cells.push(td(u(n('scur'))), td(n('smax')), td(v('slim') || '-'), td(u(n('stot'), `Cum. sessions: ${n('stot')}`)), td(n('lbtot')), td(lastSession()));
  cells.push(td(n('bin')), td(n('bout')));
  cells.push(td(''), td(n('dresp')));
  cells.push(td(''), td(n('econ')), td(u(n('eresp'), `Connection resets during transfers: ${n('cli_abrt')} client, ${n('srv_abrt')} server`)));
  cells.push(td(n('wretr')), td(n('wredis')));
  cells.push(td(status === 'no check' ? '<i>no check</i>' : `${humanTime(Number(cell(r, 'lastchg') ?? 0))} ${status}`, 'ac'));
  const lastCheck = v('check_status');
  cells.push(lastCheck === '' ? '<td></td>' : td(u(` ${lastCheck}${v('check_duration') === '' ? '' : ` in ${v('check_duration')}ms`}`, v('check_desc')), 'ac'));
  cells.push(td(`${n('weight')}/${n('uweight')}`, 'ac'), td(yesNo('act'), 'ac'), td(yesNo('bck'), 'ac'));
  if (checked) cells.push(td(u(n('chkfail'), `Failed Health Checks`)), td(n('chkdown')), td(humanTime(Number(cell(r, 'downtime') ?? 0))));
  else cells.push('<td colspan=3></td>');
  cells.push(td('-', 'ac'));
  return `<tr class="${serverClass(r, status)}">${cells.join('')}</tr>`;
}

/** The row class HAProxy's page gives a server in this state (the legend's colours). */
function serverClass(r: StatRow, status: string): string {
  const side = Number(cell(r, 'bck') ?? 0) > 0 ? 'backup' : 'active';
  if (status.startsWith('MAINT')) return 'maintain';
  if (status === 'DRAIN') return `${side}_draining`;
  if (status === 'no check') return `${side}_no_check`;
  if (status === 'UP') return `${side}_up`;
  if (status.startsWith('UP ')) return `${side}_going_down`;
  if (status.startsWith('DOWN ')) return `${side}_going_up`;
  return `${side}_down`;
}
