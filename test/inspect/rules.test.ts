/**
 * Content inspection's configuration and conditions without sockets: the keywords as parsed (and
 * refused), and the three-valued evaluation of content fetches (wait while the bytes may still
 * change the answer, decide once they are final), as HAProxy 2.6 evaluates them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SocketAddress } from '../../src/address.js';
import { configFromObject, parseConfig, readConfig, type Config } from '../../src/config/index.js';
import { InspectBuffer } from '../../src/inspect/content.js';
import { compileCondition, compileContentCondition, FAIL, MISS, PASS } from '../../src/runtime/condition.js';
import type { ConnectionFacts } from '../../src/session/session-types.js';

const read = (text: string) => readConfig([{ name: 't.cfg', text }], { env: {} });
const parse = (text: string): Config => parseConfig([{ name: 't.cfg', text }], { env: {} });
const frontend = (body: string): string => `defaults\n  mode tcp\nfrontend f\n  bind 127.0.0.1:1\n${body}\n  default_backend b\nbackend b\n  server s 127.0.0.1:2\n`;

function facts(bytes: Uint8Array | string, final: boolean): ConnectionFacts {
  const content = new InspectBuffer(new Uint8Array(64));
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  content.bytes.set(data);
  content.length = data.length;
  content.final = final;
  const address = SocketAddress.parse('127.0.0.1:1000');
  return { src: address, dst: address, content };
}

/** The content condition of the first `tcp-request content` rule of `cond`. */
function rule(cond: string): (f: ConnectionFacts) => number {
  const config = parse(frontend(`  tcp-request inspect-delay 1s\n  tcp-request content accept ${cond}`));
  return compileContentCondition(config.proxies[0]!.tcpRequestContent[0]!.condition!);
}

describe('content inspection keywords', () => {
  it('reads inspect-delay and content rules, inherited from defaults like the settings they are', () => {
    const config = parse(`defaults d\n  mode tcp\n  tcp-request inspect-delay 5s\nfrontend f from d\n  bind 127.0.0.1:1\n  tcp-request content reject if { req.len gt 100 }\n  tcp-request content accept\n  default_backend b\nbackend b from d\n  server s 127.0.0.1:2\n`);
    const f = config.proxies.find((p) => p.name === 'f')!;
    expect(f.inspectDelay).toBe(5000);
    expect(f.tcpRequestContent.map((r) => r.action)).toEqual(['reject', 'accept']);
  });

  it("refuses what HAProxy refuses, in HAProxy's words, and connection rules in a backend", () => {
    const errors = read(frontend('  tcp-request inspect-delay\n  tcp-request content drop\n  tcp-request content accept if { req.payload(0) -m bin 00 }\n  tcp-request content accept if { req.payload(0,1) -m int 1 }'))
      .errors.map((e) => e.message);
    expect(errors).toEqual([
      "parsing [t.cfg:5] : 'tcp-request inspect-delay' expects a positive delay in milliseconds, in frontend 'f'",
      "parsing [t.cfg:6] : 'tcp-request content' expects 'accept' or 'reject' in frontend 'f' (got 'drop')",
      "parsing [t.cfg:7] : 'tcp-request content accept' : error detected in frontend 'f' while parsing 'if' condition : fetch method 'req.payload' expects (<offset>,<length>) with non-negative integers",
      "parsing [t.cfg:8] : 'tcp-request content accept' : error detected in frontend 'f' while parsing 'if' condition : matching method 'int' cannot be used with fetch keyword 'req.payload' (its bin sample cannot be compared as int)",
    ]);
    const backend = read('defaults\n  mode tcp\nbackend b\n  tcp-request inspect-delay 1s\n  tcp-request content accept\n  tcp-request connection reject\n  server s 127.0.0.1:2\n').errors.map((e) => e.message);
    expect(backend).toEqual(['parsing [t.cfg:6] : tcp-request connection is not allowed because backend b is not a frontend']);
  });

  it('warns, as HAProxy, that a content fetch never matches in a tcp-request connection rule', () => {
    const warnings = read(frontend('  tcp-request connection reject if { req.ssl_sni -i x }')).warnings.map((w) => w.message);
    expect(warnings).toContain(
      "parsing [t.cfg:5] : anonymous acl will never match in 'tcp-request connection' because it uses keyword 'req.ssl_sni' which is incompatible with 'frontend tcp-request connection rule'",
    );
  });

  it('reads req.ssl_sni patterns from a file with -f', () => {
    const dir = mkdtempSync(join(tmpdir(), 'epoxy-sni-patterns-'));
    try {
      writeFileSync(join(dir, 'sites'), '# allowed\na.example\n\nB.Example\n');
      const config = parseConfig([{ name: 't.cfg', text: frontend(`  use_backend b if { req.ssl_sni -i -f ${join(dir, 'sites')} }`) }], { env: {} });
      const test = config.proxies[0]!.useBackend[0]!.condition!.suites[0]![0]!.acl.tests[0]!;
      expect(test).toMatchObject({ fetch: 'req.ssl_sni', match: { method: 'str', ignoreCase: true, texts: ['a.example', 'b.example'] } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('content inspection in the object form', () => {
  it('writes tcpRequestInspectDelay and tcpRequestContent as the lines a file would have', () => {
    const config = configFromObject({
      defaults: { mode: 'tcp' },
      frontends: {
        tls: {
          bind: ['127.0.0.1:1'],
          tcpRequestInspectDelay: '5s',
          tcpRequestContent: [{ action: 'accept', if: '{ req_ssl_hello_type 1 }' }],
          useBackend: [{ backend: 'a', if: '{ req.ssl_sni -i a.example }' }],
          defaultBackend: 'a',
        },
      },
      backends: { a: { servers: [{ name: 's', address: '127.0.0.1:2' }] } },
    });
    const tls = config.proxies.find((p) => p.name === 'tls')!;
    expect(tls.inspectDelay).toBe(5000);
    expect(tls.tcpRequestContent[0]!.condition!.text).toBe('if { req_ssl_hello_type 1 }');
  });
});

describe('content conditions (WAIT_END semantics)', () => {
  it('req.payload waits for its block, then matches or not for good', () => {
    const get = rule('if { req.payload(0,3) -m bin 474554 }');
    expect(get(facts('', false))).toBe(MISS);
    expect(get(facts('GE', false))).toBe(MISS);
    expect(get(facts('GET / HTTP/1.1', false))).toBe(PASS);
    expect(get(facts('PUT /', false))).toBe(FAIL);
    expect(get(facts('GE', true))).toBe(FAIL);
  });

  it('req.len matches as soon as it can, and only says no once the bytes are final', () => {
    const some = rule('if { req.len ge 4 }');
    expect(some(facts('ab', false))).toBe(MISS);
    expect(some(facts('abcd', false))).toBe(PASS);
    expect(some(facts('ab', true))).toBe(FAIL);
    expect(rule('if { req.len eq 0 }')(facts('', false))).toBe(PASS);
  });

  it('unless keeps a MISS a MISS, and inverts the final answer', () => {
    const notTls = rule('unless { req.ssl_hello_type 1 }');
    expect(notTls(facts(Uint8Array.from([0x16, 3, 1]), false))).toBe(MISS);
    expect(notTls(facts('SSH-2.0-x', false))).toBe(PASS);
    expect(notTls(facts('', true))).toBe(PASS);
  });

  it('AND stops at a definite FAIL, OR at a PASS, whatever waits beside them', () => {
    expect(rule('if { req.ssl_hello_type 1 } { always_false }')(facts('', false))).toBe(FAIL);
    expect(rule('if { req.ssl_hello_type 1 } || { always_true }')(facts('', false))).toBe(PASS);
    expect(rule('if { req.ssl_hello_type 1 } || { always_false }')(facts('', false))).toBe(MISS);
  });

  it('wait_end (and WAIT_END) is a MISS until the bytes are final', () => {
    expect(rule('if WAIT_END')(facts('x', false))).toBe(MISS);
    expect(rule('if WAIT_END')(facts('x', true))).toBe(PASS);
  });

  it('req.payload_lv reads a length-prefixed block, at an absolute or relative offset', () => {
    expect(rule('if { req.payload_lv(0,1) -m str abc }')(facts('\x03abcdef', false))).toBe(PASS);
    expect(rule('if { req.payload_lv(0,2,+1) -m str xy }')(facts('\x00\x02-xy', false))).toBe(PASS);
    expect(rule('if { req.payload_lv(0,1,5) -m str ef }')(facts('\x02abcdef', false))).toBe(PASS);
    expect(rule('if { req.payload_lv(0,1) -m str abc }')(facts('\x03ab', false))).toBe(MISS);
  });

  it('string methods: beg, end, sub, dom, reg, len, found, and -i', () => {
    const sniOf = (name: string): ConnectionFacts => {
      const f = facts('', true);
      (f.content as InspectBuffer).hello = () => ({ helloType: 1, version: 0x30003, sni: name, alpn: null, ecExt: false });
      return f;
    };
    const cases: [string, string, number][] = [
      ['-m beg www.', 'www.a.example', PASS],
      ['-m end .example', 'www.a.example', PASS],
      ['-m sub a.ex', 'www.a.example', PASS],
      ['-m dom a.example', 'www.a.example', PASS],
      ['-m dom a.example', 'www.aa.example', FAIL],
      ['-m reg ^w+\\.a', 'www.a.example', PASS],
      ['-m len 13', 'www.a.example', PASS],
      ['-m found', 'x', PASS],
      ['-i A.EXAMPLE', 'a.Example', PASS],
      ['A.EXAMPLE', 'a.example', FAIL],
    ];
    for (const [flags, sni, expected] of cases) expect(rule(`if { req.ssl_sni ${flags} }`)(sniOf(sni)), `${flags} on ${sni}`).toBe(expected);
  });

  it('routing conditions read a MISS as no match, and content fetches without inspection never match', () => {
    const config = parse(frontend('  use_backend b if { req.len eq 0 }\n  use_backend b if !{ req.ssl_sni x }'));
    const [eq0, notSni] = config.proxies[0]!.useBackend.map((r) => compileCondition(r.condition!));
    const address = SocketAddress.parse('127.0.0.1:1000');
    expect(eq0!({ src: address, dst: address })).toBe(false);
    expect(notSni!({ src: address, dst: address })).toBe(true);
  });
});
