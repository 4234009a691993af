/**
 * The stats page: a `mode http` listen section with `stats` lines serves HAProxy's HTML report
 * behind Basic authentication, its `;csv` form equals `show stat`, and an admin POST changes a
 * server's state through the runtime API (new sessions then avoid it), in a single process and,
 * from the master's summed snapshot and to both workers, under a master. Sections that would need
 * more HTTP than the page are refused with their file and line.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { start } from '../../src/runtime/start.js';
import { processStats } from '../../src/stats/process-stats.js';
import { showStatCsv, STAT_COLUMNS } from '../../src/stats/stats.js';
import { cli, configText, startMaster, tempDir, writeFile, type Cleanup } from '../helpers/master.js';
import { firstAnswerOf, holdingServer } from '../helpers/servers.js';
import { freePort, waitForAsync } from '../helpers/sockets.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});


const AUTH = `Basic ${Buffer.from('admin:secret').toString('base64')}`;

async function get(port: number, path: string, auth: string | null = AUTH): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}${path}`, { headers: auth === null ? {} : { authorization: auth } });
}

async function post(port: number, path: string, form: string): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { authorization: AUTH, 'content-type': 'application/x-www-form-urlencoded' },
    body: form,
  });
}

/** The report's rows by anchor ('app/a', 'app/Backend'): the row's class and its cells' text. */
function pageRows(html: string): Map<string, { cls: string; cells: string[] }> {
  const rows = new Map<string, { cls: string; cells: string[] }>();
  for (const match of html.matchAll(/<tr class="([^"]+)">(.*?)<\/tr>/g)) {
    if (match[1] === 'titre') continue;
    const name = /<a name="([^"]+)">/.exec(match[2]!)?.[1];
    if (name === undefined) continue;
    const cells = [...match[2]!.matchAll(/<td[^>]*>(.*?)<\/td>/g)].map((m) => m[1]!.replace(/<div class=tips>.*?<\/div>/g, '').replace(/<[^>]+>/g, ''));
    rows.set(name, { cls: match[1]!, cells });
  }
  return rows;
}

/** The page's cell index of each column after the checkbox and name cells (HAProxy's order). */
const COLUMN = { sessionsTotal: 9, status: 21 } as const;

/** `show stat` CSV without the columns that move with the clock between two reads. */
function steady(csv: string): string[] {
  const moving = ['lastchg', 'lastsess', 'check_duration', 'downtime'].map((c) => STAT_COLUMNS.indexOf(c));
  return csv
    .trim()
    .split('\n')
    .map((line) => (line.startsWith('#') ? line : line.split(',').map((v, i) => (moving.includes(i) ? '' : v)).join(',')));
}

const pageLines = (port: number, extra: string[] = []): string[] => [
  'listen stats',
  '    mode http',
  `    bind 127.0.0.1:${port}`,
  '    stats enable',
  '    stats uri /stats',
  '    stats refresh 5s',
  '    stats realm Epoxy\\ Statistics',
  '    stats auth admin:secret',
  '    stats auth other:pass',
  '    stats admin if TRUE',
  ...extra,
];

describe('stats page', () => {
  it('in a single process: 401 without credentials, the HTML table, ;csv as show stat, an admin POST that puts a server in MAINT', async () => {
    const a = (await holdingServer(cleanups, 'a')).port;
    const b = (await holdingServer(cleanups, 'b')).port;
    const port = await freePort();
    const page = await freePort();
    const readOnly = await freePort();
    const text = configText(
      ['maxconn 100'],
      [
        'listen app',
        `    bind 127.0.0.1:${port}`,
        `    server a 127.0.0.1:${a}`,
        `    server b 127.0.0.1:${b}`,
        ...pageLines(page),
        'listen public',
        '    mode http',
        `    bind 127.0.0.1:${readOnly}`,
        '    stats uri /',
        '    stats hide-version',
        '    stats scope app',
        '    stats admin unless LOCALHOST',
      ],
    );
    const running = await start(parseConfig([{ name: 'page.cfg', text }], { env: {} }), { quiet: true, signals: false, sessionLog: () => {} });
    cleanups.push(() => running.kill());
    expect(running.addresses.get('stats')).toEqual([`127.0.0.1:${page}`]);

    const refused = await get(page, '/stats', null);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBe('Basic realm="Epoxy Statistics"');
    expect((await get(page, '/stats', `Basic ${Buffer.from('admin:wrong').toString('base64')}`)).status).toBe(401);
    expect((await get(page, '/elsewhere')).status).toBe(503);

    for (let i = 0; i < 4; i++) await firstAnswerOf(port);
    const answer = await get(page, '/stats');
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('text/html');
    expect(answer.headers.get('refresh')).toBe('5');
    const html = await answer.text();
    expect(html).toContain('<h1>epoxy version ');
    const rows = pageRows(html);
    expect(rows.get('app/a')?.cls).toBe('active_no_check');
    expect(rows.get('app/a')?.cells[COLUMN.status + 2]).toBe('no check');
    expect(rows.get('app/Backend')?.cells[COLUMN.sessionsTotal + 2]).toBe('4');
    expect(Number(rows.get('app/a')?.cells[COLUMN.sessionsTotal + 2]) + Number(rows.get('app/b')?.cells[COLUMN.sessionsTotal + 2])).toBe(4);
    expect(rows.get('app/Frontend')?.cls).toBe('frontend');
    // The admin form: a checkbox per server, the backend by id.
    expect(html).toMatch(/<input class='app-checkbox' type="checkbox" name="s" value="a">/);
    expect(html).toMatch(/<input type="hidden" name="b" value="#1">/);
    expect((await get(page, '/stats;norefresh')).headers.get('refresh')).toBeNull();

    const csv = await get(page, '/stats;csv');
    expect(csv.headers.get('content-type')).toBe('text/plain');
    expect(steady(await csv.text())).toEqual(steady(showStatCsv(processStats(running))));

    // An admin action: the redirect says it was done, then no new session goes to a.
    const done = await post(page, '/stats', 's=a&action=maint&b=%231');
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe('/stats;st=DONE');
    const after = await (await get(page, '/stats;st=DONE')).text();
    expect(after).toContain('The action was applied.');
    expect(pageRows(after).get('app/a')?.cls).toBe('maintain');
    for (let i = 0; i < 10; i++) expect(await firstAnswerOf(port)).toBe('b');
    expect((await (await get(page, '/stats;csv')).text()).split('\n').find((l) => l.startsWith('app,a,'))?.split(',')[17]).toBe('MAINT');
    expect((await post(page, '/stats', 's=a&action=ready&b=app')).headers.get('location')).toBe('/stats;st=DONE');
    await waitForAsync(async () => (await firstAnswerOf(port)) === 'a', 'a to take sessions again');
    // Invalid forms say why.
    expect((await post(page, '/stats', 's=a&action=explode&b=%231')).headers.get('location')).toBe('/stats;st=ERRP');
    expect((await post(page, '/stats', 's=nosuch&action=drain&b=%231')).headers.get('location')).toBe('/stats;st=ERRP');
    expect((await post(page, '/stats', 's=a&s=nosuch&action=drain&b=%231')).headers.get('location')).toBe('/stats;st=PART');
    expect((await post(page, '/stats', 'action=drain&b=%231')).headers.get('location')).toBe('/stats;st=NONE');

    // Without auth, admin refused from here (LOCALHOST), version hidden, only the scoped proxy.
    const publicPage = await (await get(readOnly, '/', null)).text();
    expect(publicPage).toContain('<h1>epoxy</h1>');
    expect(publicPage).not.toContain('type="checkbox" name="s"');
    expect([...pageRows(publicPage).keys()]).toEqual(['app/Frontend', 'app/a', 'app/b', 'app/Backend']);
    const denied = await fetch(`http://127.0.0.1:${readOnly}/`, { method: 'POST', redirect: 'manual', body: 's=a&action=maint&b=%231' });
    expect(denied.headers.get('location')).toBe('/;st=DENY');
    expect(await firstAnswerOf(port)).toMatch(/^[ab]$/);
    expect((await (await get(readOnly, '/;csv', null)).text()).split('\n').filter((l) => l !== '' && !l.startsWith('#')).every((l) => l.startsWith('app,'))).toBe(true);
  });

  it('under a master with 2 workers: the summed counters, and an admin action that reaches both workers', async () => {
    const a = (await holdingServer(cleanups, 'a')).port;
    const b = (await holdingServer(cleanups, 'b')).port;
    const port = await freePort();
    const page = await freePort();
    const dir = tempDir(cleanups);
    const sock = join(dir, 'master.sock');
    const file = writeFile(dir, 'epoxy.cfg', configText(['nbthread 2', 'maxconn 100'], ['listen app', `    bind 127.0.0.1:${port}`, `    server a 127.0.0.1:${a}`, `    server b 127.0.0.1:${b}`, ...pageLines(page)]));
    await startMaster(cleanups, ['-W', '-S', sock, '-f', file]);

    // Enough sessions that both workers took some; the page counts all of them.
    const sessions = 30;
    for (let i = 0; i < sessions; i++) await firstAnswerOf(port);
    const perWorker = async (): Promise<number[]> =>
      (await cli(sock, '@1 show stat; @2 show stat'))
        .split('\n')
        .filter((l) => l.startsWith('app,BACKEND,'))
        .map((l) => Number(l.split(',')[7]));
    let rows = pageRows(await (await get(page, '/stats')).text());
    await waitForAsync(async () => {
      rows = pageRows(await (await get(page, '/stats')).text());
      return rows.get('app/Backend')?.cells[COLUMN.sessionsTotal + 2] === String(sessions);
    }, 'the page to count every session');
    expect(html2nbthread(await (await get(page, '/stats')).text())).toBe('2');
    const counts = await perWorker();
    expect(counts).toHaveLength(2);
    expect(counts.reduce((x, y) => x + y, 0)).toBe(sessions);

    const done = await post(page, '/stats', 's=a&action=maint&b=%231');
    expect(done.headers.get('location')).toBe('/stats;st=DONE');
    const both = async (line: string): Promise<boolean> => (await cli(sock, '@1 show health; @2 show health')).split('\n').filter((l) => l === line).length === 2;
    await waitForAsync(() => both('app/a maint up (not checked)'), 'both workers to have a in maint');
    for (let i = 0; i < 20; i++) expect(await firstAnswerOf(port)).toBe('b');
    expect(pageRows(await (await get(page, '/stats')).text()).get('app/a')?.cls).toBe('maintain');
  }, 60_000);

  it('refuses what the page does not serve, naming the file, line and keyword', () => {
    const parse = (body: string[]): void => void parseConfig([{ name: 'bad.cfg', text: configText([], body) }], { env: {} });
    const page = ['listen stats', '    mode http', '    bind 127.0.0.1:1', '    stats enable'];
    expect(() => parse([...page, '    http-request deny'])).toThrow(/bad\.cfg:\d+.*'http-request' is not supported yet/s);
    expect(() => parse([...page, '    stats show-node'])).toThrow(/bad\.cfg:\d+.*'stats show-node' is not supported yet/s);
    expect(() => parse([...page, '    stats http-request deny'])).toThrow(/'stats http-request' is not supported yet/);
    expect(() => parse([...page, '    stats bogus'])).toThrow(/'stats' expects .* \(got 'bogus'\)/);
    expect(() => parse([...page, '    server s 127.0.0.1:2'])).toThrow(/bad\.cfg:11.*serves the stats page.*takes no 'server'/s);
    expect(() => parse([...page, '    stats admin if { src 10.0.0.0/8 }'])).not.toThrow();
    expect(() => parse([...page, '    stats admin if NOSUCH'])).toThrow(/no such ACL/);
    expect(() => parse([...page, '    stats refresh soon'])).toThrow(/invalid delay 'soon'/);
    expect(() => parse(['backend be', '    stats enable'])).toThrow(/only served by a 'mode http' listen or frontend section/);
    expect(() => parse(['listen stats', '    mode http', '    bind 127.0.0.1:1'])).toThrow(/'mode http' is only supported with/);
    // As HAProxy: in a TCP section the page lines are ignored with a warning.
    expect(() => parse(['listen app', '    bind 127.0.0.1:1', '    server s 127.0.0.1:2', '    stats enable'])).not.toThrow();
  });
});

/** The nbthread the page's process information reports. */
function html2nbthread(html: string): string | undefined {
  return /nbthread = (\d+)\)/.exec(html)?.[1];
}
