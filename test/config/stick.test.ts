/**
 * Stick tables in the configuration: `stick-table`, `stick match|on|store-request` and the
 * `track-sc<n>` / `sc-*` actions as parsed, and refused in HAProxy 2.6's words (each message
 * checked against `haproxy -c`, recorded in docs/observed/haproxy-stick-tables.md).
 */
import { describe, expect, it } from 'vitest';
import { parseConfig, readConfig } from '../../src/config/index.js';
import { effectiveStore } from '../../src/config/stick.js';

const read = (text: string) => readConfig([{ name: 't.cfg', text }], { env: {} });
const parse = (text: string) => parseConfig([{ name: 't.cfg', text }], { env: {} });
const frontend = (body: string): string => `defaults\n  mode tcp\nfrontend fe\n  bind 127.0.0.1:1\n${body}\n  default_backend be\nbackend be\n  server s1 127.0.0.1:2\n`;
const backend = (body: string): string => `defaults\n  mode tcp\nbackend be\n${body}\n  server s1 127.0.0.1:2\n  server s2 127.0.0.1:3\n`;

describe('stick-table', () => {
  it('reads types, lengths, sizes with suffixes, expiry and stored data', () => {
    const config = parse(frontend('  stick-table type ip size 100k expire 30s store conn_cur,conn_rate(10s) store gpc0,bytes_in_rate(1m)'));
    expect(config.proxies[0]!.stickTable).toMatchObject({
      type: 'ip',
      keyLength: 4,
      size: 102400,
      expire: 30000,
      nopurge: false,
      store: [
        { name: 'conn_cur', period: null },
        { name: 'conn_rate', period: 10000 },
        { name: 'gpc0', period: null },
        { name: 'bytes_in_rate', period: 60000 },
      ],
    });
    const strings = parse(frontend('  stick-table type string len 12 size 1m nopurge'));
    expect(strings.proxies[0]!.stickTable).toMatchObject({ type: 'string', keyLength: 12, size: 1048576, expire: null, nopurge: true });
    expect(parse(frontend('  stick-table type binary size 10')).proxies[0]!.stickTable!.keyLength).toBe(32);
    expect(parse(frontend('  stick-table type ipv6 size 10')).proxies[0]!.stickTable!.keyLength).toBe(16);
  });

  it("refuses bad tables in HAProxy's words, naming file and line", () => {
    const cases: Array<[string, string]> = [
      ['stick-table type ip', 'parsing [t.cfg:5]: stick-table: missing size.'],
      ['stick-table type foo size 10', "parsing [t.cfg:5]: stick-table: unknown type 'foo'."],
      ['stick-table type ip size 10 store conn_rate', "parsing [t.cfg:5]: stick-table: missing argument to store option 'conn_rate'."],
      ['stick-table type ip size 10 store bogus', "parsing [t.cfg:5]: stick-table: unknown store option 'bogus'."],
      ['stick-table type string len 0 size 10', "parsing [t.cfg:5]: stick-table: unknown type '0'."],
    ];
    for (const [line, message] of cases) expect(read(frontend(`  ${line}`)).errors.map((e) => e.message)).toEqual([message]);
    const twice = read(frontend('  stick-table type ip size 10\n  stick-table type ip size 5')).errors.map((e) => e.message);
    expect(twice).toEqual(["parsing [t.cfg:6]: stick-table name 'fe' conflicts with table declared in frontend 'fe' at t.cfg:5."]);
    expect(read(frontend('  stick-table type ip size 10 peers p')).errors[0]!.message).toContain("'peers' is not supported yet");
  });

  it('adds server_id to a table that stick rules use, as HAProxy does', () => {
    const config = parse(backend('  stick-table type ip size 10 store conn_cur\n  stick on src'));
    const be = config.proxies[0]!;
    expect(be.stickRules.map((r) => r.kind)).toEqual(['match', 'store-request']);
    expect(effectiveStore(config.proxies, be).map((s) => s.name)).toEqual(['conn_cur', 'server_id']);
  });
});

describe('track-sc and sc-* actions', () => {
  it('reads track-sc<n> with its key and table, and the counter actions', () => {
    const config = parse(
      frontend(
        '  stick-table type ip size 10 store conn_cur,gpc0,gpt0\n  tcp-request connection track-sc0 src\n  tcp-request connection track-sc2 dst table be if TRUE\n  tcp-request connection sc-inc-gpc0(0)\n  tcp-request connection sc-set-gpt0(2) 7 if TRUE',
      ).replace('  server s1', '  stick-table type ip size 10\n  server s1'),
    );
    const rules = config.proxies[0]!.tcpRequestConnection;
    expect(rules[0]).toMatchObject({ action: 'track-sc', counter: 0, key: { text: 'src' }, table: null, condition: null });
    expect(rules[1]).toMatchObject({ action: 'track-sc', counter: 2, key: { text: 'dst' }, table: 'be' });
    expect(rules[1]!.condition).not.toBeNull();
    expect(rules[2]).toMatchObject({ action: 'sc-inc-gpc0', counter: 0 });
    expect(rules[3]).toMatchObject({ action: 'sc-set-gpt0', counter: 2, value: 7 });
  });

  it("refuses what HAProxy refuses, in its words", () => {
    const errors = (body: string) => read(frontend(`  stick-table type ip size 10\n${body}`)).errors.map((e) => e.message);
    expect(errors('  tcp-request connection track-sc3 src')).toEqual([
      "parsing [t.cfg:6] : 'tcp-request connection track-sc3' : 3 track-sc number exceeding 2 (MAX_SESS_STKCTR-1) value",
    ]);
    expect(errors('  tcp-request connection track-sc0')).toEqual(["parsing [t.cfg:6] : 'tcp-request connection track-sc0' : missing fetch method"]);
    expect(errors('  tcp-request connection track-sc0 req.ssl_sni')).toEqual([
      "parsing [t.cfg:6] : 'tcp-request connection track-sc0' : fetch method 'req.ssl_sni' extracts information from 'request buffer', none of which is available here",
    ]);
    // A missing table is found once every section is read (tables may come after the rules).
    expect(read(frontend('  tcp-request connection track-sc0 src')).errors.map((e) => e.message)).toEqual([
      "[t.cfg:5] : Proxy 'fe': unable to find table 'fe' referenced by track-sc0.",
    ]);
    expect(errors('  tcp-request connection track-sc1 src table nope')).toEqual(["[t.cfg:6] : Proxy 'fe': unable to find table 'nope' referenced by track-sc1."]);
  });

  it('accepts a table declared after the rule that names it', () => {
    const text = frontend('  tcp-request connection track-sc0 src table later').replace('\nbackend be', '\nbackend later\n  stick-table type ip size 10\nbackend be');
    expect(read(text).errors).toEqual([]);
  });
});

describe('stick rules', () => {
  it('reads match, on and store-request with their tables and conditions', () => {
    const config = parse(`defaults\n  mode tcp\nbackend other\n  stick-table type ip size 10\n  server x 127.0.0.1:4\n${backend('  stick match src table other if TRUE\n  stick store-request src')
      .replace('defaults\n  mode tcp\n', '')}  stick-table type ip size 10\n`);
    const be = config.proxies.find((p) => p.name === 'be')!;
    expect(be.stickRules.map((r) => [r.kind, r.key.text, r.table, r.condition !== null])).toEqual([
      ['match', 'src', 'other', true],
      ['store-request', 'src', null, false],
    ]);
  });

  it('refuses rules without a table, and outside backends', () => {
    expect(read(backend('  stick on src')).errors.map((e) => e.message)).toEqual(["[t.cfg:4] : Proxy 'be': unable to find stick-table 'be'."]);
    expect(read(backend('  stick store-response src')).errors[0]!.message).toContain("'stick' expects 'match', 'on' or 'store-request'");
    const inFrontend = read(frontend('  stick on src'));
    expect(inFrontend.warnings.map((w) => w.message).join('\n') + inFrontend.errors.map((e) => e.message).join('\n')).toContain('stick');
  });
});
