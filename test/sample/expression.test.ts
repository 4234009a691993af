/**
 * Sample expressions without sockets: parsing (fetches, converters, their errors), evaluation of
 * converters and casts, map files from a temporary directory (and their errors with file:line),
 * fetches over hand-made proxies, and ACL tests built on them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SocketAddress } from '../../src/address.js';
import { readConfig } from '../../src/config/index.js';
import { compileExpression, evaluateExpression, firstSample, parseExpression, type SampleScope } from '../../src/sample/expression.js';
import { sampleText, type Sample } from '../../src/sample/sample-types.js';
import { compileCondition } from '../../src/runtime/condition.js';
import { Counters, type BackendRuntime, type ConnectionFacts, type ServerRuntime } from '../../src/session/session-types.js';

const dir = mkdtempSync(join(tmpdir(), 'epoxy-samples-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const where = { file: 't.cfg', line: 1, column: 1 };
const facts: ConnectionFacts = { src: SocketAddress.parse('10.1.2.3:40000'), dst: SocketAddress.parse('127.0.0.1:443') };

function evaluate(text: string, ctx: ConnectionFacts = facts, scope?: SampleScope): Sample | null {
  const parsed = parseExpression(text, { label: 'ACL expression', readFile: (p) => readFileSync(p, 'utf8') });
  if (!parsed.ok) throw new Error(parsed.reason);
  return firstSample(evaluateExpression(compileExpression(parsed.value, where, scope), ctx));
}
const value = (text: string, ctx?: ConnectionFacts, scope?: SampleScope): string | null => {
  const sample = evaluate(text, ctx, scope);
  return sample === null ? null : `${sample.type}:${sampleText(sample)}`;
};
const error = (text: string): string => {
  const parsed = parseExpression(text, { label: 'ACL expression', readFile: (p) => readFileSync(p, 'utf8') });
  return parsed.ok ? 'ok' : parsed.reason;
};
import { readFileSync } from 'node:fs';

describe('converters', () => {
  it('strings: lower, upper, length, field, word, hex, bytes', () => {
    expect(value('str(AbC),lower')).toBe('str:abc');
    expect(value('str(AbC),upper,length')).toBe('int:3');
    expect(value('str(f1_f2_f3__f5),field(5,_)')).toBe('str:f5');
    expect(value('str(f1_f2_f3__f5),field(2,_,0)')).toBe('str:f2_f3__f5');
    expect(value('str(f1_f2_f3__f5),field(2,_,2)')).toBe('str:f2_f3');
    expect(value('str(f1_f2_f3__f5),field(-2,_,3)')).toBe('str:f2_f3_');
    expect(value('str(f1_f2_f3__f5),field(-3,_,0)')).toBe('str:f1_f2_f3');
    expect(value('str(/a//b/c),word(2,/)')).toBe('str:b');
    expect(value('str(/a//b/c),word(-1,/)')).toBe('str:c');
    expect(value('str(AB),hex')).toBe('str:4142');
    expect(value('str(abcdef),bytes(2,3)')).toBe('bin:cde');
    expect(value('str(abc),bytes(5)')).toBeNull();
  });

  it('integers: arithmetic, bitwise, booleans, and casts from strings', () => {
    expect(value('int(7),add(3),mul(2),sub(4),div(3)')).toBe('int:5');
    expect(value('int(7),mod(4)')).toBe('int:3');
    expect(value('int(7),div(0)')).toBe(`int:${Number.MAX_SAFE_INTEGER}`);
    expect(value('int(12),and(10),or(1),xor(3)')).toBe('int:10');
    expect(value('int(5),neg')).toBe('int:-5');
    expect(value('int(0),not')).toBe('bool:1');
    expect(value('int(2),bool')).toBe('bool:1');
    expect(value('str(42abc),add(1)')).toBe('int:43');
  });

  it('addresses: ipmask for IPv4, IPv6 with a mask6 only', () => {
    expect(value('src,ipmask(24)')).toBe('ip:10.1.2.0');
    expect(value('src,ipmask(255.255.0.0)')).toBe('ip:10.1.0.0');
    const v6: ConnectionFacts = { src: SocketAddress.parse('[2001:db8:1:2::7]:1'), dst: facts.dst };
    expect(value('src,ipmask(24)', v6)).toBeNull();
    expect(value('src,ipmask(24,64)', v6)).toBe('ip:2001:db8:1:2::');
    expect(value('src,ipmask(24),add(1)')).toBe(`int:${(10 << 24) + (1 << 16) + (2 << 8) + 1}`);
  });

  it('refuses unknown converters, wrong argument counts and impossible casts, naming the converter', () => {
    expect(error('src,frobnicate')).toBe("unknown converter 'frobnicate' in ACL expression 'src,frobnicate'");
    expect(error('src,regsub(a,b)')).toBe("converter 'regsub' is not supported yet in ACL expression 'src,regsub(a,b)'");
    expect(error('src,ipmask')).toBe("converter 'ipmask' expects (<mask4>[,<mask6>])");
    expect(error('src,lower(1)')).toBe("converter 'lower' expects no argument");
    expect(error('src,add(x)')).toBe("converter 'add': 'x' is not an integer");
    expect(error('req.payload(0,2),add(1)')).toBe("converter 'add' cannot be applied to the bin output of 'req.payload'");
    expect(error('src,ipmask(33)')).toBe("converter 'ipmask': '33' is not an IPv4 mask (0 to 32, or dotted)");
    expect(error('nosuch')).toBe("unknown fetch method 'nosuch' in ACL expression 'nosuch'");
    expect(error('sc0_trackers')).toContain("fetch method 'sc0_trackers' is not supported yet");
    expect(error('sc_conn_rate(3)')).toBe("invalid stick counter '3' (0 to 2)");
    expect(error('be_conn(a,b)')).toBe("fetch method 'be_conn' expects ([<backend>])");
    expect(error('srv_conn')).toBe("fetch method 'srv_conn' expects (<[backend/]server>)");
    expect(error('src(1)')).toBe("fetch method 'src' takes no argument");
  });
});

describe('map files', () => {
  it('map_str, map_beg, map_end, map_sub, map_dom, map_reg with a default, and map = map_str', () => {
    const sites = file('sites.map', '# sites\n  a.example   backend_a  \n\nb.example backend_b\na.example shadowed\n');
    expect(value(`str(a.example),map(${sites})`)).toBe('str:backend_a');
    expect(value(`str(A.EXAMPLE),lower,map_str(${sites},fallback)`)).toBe('str:backend_a');
    expect(value(`str(c.example),map_str(${sites},fallback)`)).toBe('str:fallback');
    expect(value(`str(c.example),map_str(${sites})`)).toBeNull();
    const doms = file('doms.map', 'example.com eu\nexample.org us\n');
    expect(value(`str(www.example.com),map_dom(${doms})`)).toBe('str:eu');
    expect(value(`str(www.example.com),map_end(${doms})`)).toBe('str:eu');
    expect(value(`str(example.orgx),map_dom(${doms},none)`)).toBe('str:none');
    expect(value(`str(example.org/x),map_beg(${doms})`)).toBe('str:us');
    expect(value(`str(x-example.org-y),map_sub(${doms})`)).toBe('str:us');
    const regs = file('regs.map', '^api\\. api\n\\.internal$ internal\n');
    expect(value(`str(api.example),map_reg(${regs})`)).toBe('str:api');
    expect(value(`str(db.internal),map_reg(${regs})`)).toBe('str:internal');
  });

  it('map_ip takes the most specific network; map_int ranges; _int and _ip outputs', () => {
    const geo = file('geo.map', '10.0.0.0/8 wide\n10.1.0.0/16 narrow\n2001:db8::/32 v6\n');
    expect(value(`src,map_ip(${geo})`)).toBe('str:narrow');
    expect(value(`ipv4(10.9.9.9),map_ip(${geo})`)).toBe('str:wide');
    expect(value(`str(10.1.9.9),map_ip(${geo})`)).toBe('str:narrow');
    const weights = file('weights.map', '10.1.0.0/16 42\n');
    expect(value(`src,map_ip_int(${weights},0),add(1)`)).toBe('int:43');
    const ports = file('ports.map', '443 tls\n1:1023 low\n');
    expect(value(`dst_port,map_int(${ports})`)).toBe('str:tls');
    expect(value(`int(22),map_int(${ports})`)).toBe('str:low');
    const hosts = file('hosts.map', 'db 192.0.2.10\n');
    expect(value(`str(db),map_str_ip(${hosts})`)).toBe('ip:192.0.2.10');
  });

  it('a missing or bad map file is an error naming the converter, the file and the line', () => {
    expect(error(`src,map_ip(${join(dir, 'absent.map')})`)).toMatch(/^converter 'map_ip': failed to open map file <.*absent\.map> \(/);
    const bad = file('bad.map', '# header\n10.0.0.0/8 ok\nnot-an-ip x\n');
    expect(error(`src,map_ip(${bad})`)).toBe(`converter 'map_ip': map file <${bad}> line 3: 'not-an-ip' is not a valid IPv4 or IPv6 address (host names are not resolved in ACL patterns: write an address)`);
    const badInt = file('bad-int.map', 'a 1\nb two\n');
    expect(error(`str(a),map_str_int(${badInt})`)).toBe(`converter 'map_str_int': map file <${badInt}> line 2: 'two' is not an integer`);
    expect(error(`str(a),map_str_int(${badInt.replace('bad-int', 'sites')},x)`)).toBe("converter 'map_str_int': default value 'x' is not an integer");
  });

  it('the configuration reports it at the line of the keyword', () => {
    const result = readConfig(
      [{ name: 't.cfg', text: `defaults\n  mode tcp\nfrontend f\n  bind 127.0.0.1:1\n  use_backend b if { src,map_ip(${join(dir, 'absent.map')}) -m found }\n  default_backend b\nbackend b\n  server s 127.0.0.1:2\n` }],
      { env: {} },
    );
    expect(result.errors.map((e) => e.message)[0]).toMatch(/^parsing \[t\.cfg:5\] : error detected while parsing switching rule : converter 'map_ip': failed to open map file </);
  });
});

describe('fetches over proxies', () => {
  const server = (name: string, extra: Partial<ServerRuntime> = {}): ServerRuntime =>
    ({ name, id: 1, address: null, weight: 1, maxconn: 10, maxqueue: 5, backup: false, admin: 'ready', health: 'up', unresolved: false, cur: 0, counters: new Counters(), sendProxy: 0, source: null, check: null, ...extra }) as ServerRuntime;
  const backend = (name: string, servers: ServerRuntime[]): BackendRuntime => ({ name, servers, counters: new Counters() }) as unknown as BackendRuntime;
  const main = backend('main', [server('a', { cur: 3 }), server('b', { health: 'down' }), server('c', { admin: 'maint' }), server('d', { weight: 0, cur: 1 })]);
  const scope: SampleScope = { proxy: 'main', backend: (n) => (n === 'main' ? main : undefined), frontend: () => undefined };

  it('nbsrv, connslots, srv_conn, srv_is_up, be_conn, queue, be_name', () => {
    main.counters.add('current');
    expect(value('nbsrv', facts, scope)).toBe('int:1');
    expect(value('nbsrv(main)', facts, scope)).toBe('int:1');
    // a: 7 free + 5 queue, d (up, weight 0): 9 + 5; b down and c in maintenance do not count.
    expect(value('connslots', facts, scope)).toBe('int:26');
    expect(value('srv_conn(main/a)', facts, scope)).toBe('int:3');
    expect(value('srv_is_up(b)', facts, scope)).toBe('bool:0');
    expect(value('srv_is_up(d)', facts, scope)).toBe('bool:1');
    expect(value('be_conn', facts, scope)).toBe('int:1');
    expect(value('queue', facts, scope)).toBe('int:0');
    expect(value('be_name', { ...facts, backend: main }, scope)).toBe('str:main');
    expect(value('fe_name', facts, scope)).toBeNull();
    expect(() => evaluate('nbsrv(other)', facts, scope)).toThrow("[t.cfg:1] : 'nbsrv(other)' : unknown backend 'other'");
  });

  it('connslots is -1 when a server has no maxconn or maxqueue, as HAProxy', () => {
    const unlimited = backend('u', [server('a', { maxconn: 0 })]);
    expect(value('connslots', facts, { proxy: 'u', backend: () => unlimited, frontend: () => undefined })).toBe('int:-1');
  });

  it('ACLs with converters and methods: ip from a string, str from an integer, bool', () => {
    const config = readConfig(
      [
        {
          name: 't.cfg',
          text: `defaults\n  mode tcp\nfrontend f\n  bind 127.0.0.1:1\n  acl net src,ipmask(16) 10.1.0.0\n  acl port dst_port,add(1) -m str 444\n  acl big src_port -m int gt 30000\n  acl ipstr str(10.1.2.3) -m ip 10.0.0.0/8\n  acl t int(3),bool\n  use_backend b if net port big ipstr t\n  default_backend b\nbackend b\n  server s 127.0.0.1:2\n`,
        },
      ],
      { env: {} },
    );
    expect(config.errors).toEqual([]);
    const condition = compileCondition(config.config!.proxies[0]!.useBackend[0]!.condition!);
    expect(condition(facts)).toBe(true);
    expect(condition({ ...facts, src: SocketAddress.parse('10.2.0.1:40000') })).toBe(false);
  });

  it('checks names when the configuration is read', () => {
    const result = readConfig(
      [{ name: 't.cfg', text: 'defaults\n  mode tcp\nfrontend f\n  bind 127.0.0.1:1\n  use_backend b if { nbsrv(nope) lt 1 }\n  use_backend b if { srv_is_up(b/zz) }\n  use_backend b if { be_conn gt 1 }\n  default_backend b\nbackend b\n  server s 127.0.0.1:2\n  use-server zz if TRUE\n' }],
      { env: {} },
    );
    expect(result.errors.map((e) => e.message)).toEqual([
      "[t.cfg:5] : unable to find backend 'nope' referenced by 'nbsrv(nope)' in frontend 'f'.",
      "[t.cfg:6] : unable to find server 'b/zz' referenced by 'srv_is_up(b/zz)' in frontend 'f'.",
      "[t.cfg:7] : unable to find backend 'f' referenced by 'be_conn' in frontend 'f'.",
      "[t.cfg:11] : backend 'b' : unable to find server 'zz' referenced in a 'use-server' rule.",
    ]);
  });
});
