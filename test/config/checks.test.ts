/**
 * Semantic checks after parsing (check.ts, HAProxy's check_config_validity()): references between
 * proxies, unique names and ids, missing timeouts, options that contradict each other. Each
 * message names the line, where HAProxy's do not.
 */
import { describe, expect, it } from 'vitest';
import { checkConfig, readConfig } from '../../src/config/index.js';

const read = (text: string) => readConfig([{ name: 'c.cfg', text }], { env: {} });
const messages = (text: string): string[] => read(text).diagnostics.map((d) => `${d.severity}: ${d.message}`);

const DEFAULTS = 'defaults\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n';
const MISSING_TIMEOUTS = (what: string) =>
  `missing timeouts for ${what}.\n` +
  '   | While not properly invalid, you will certainly encounter various problems\n' +
  '   | with such a configuration. To fix this, please ensure that all following\n' +
  "   | timeouts are set to a non-zero value: 'client', 'connect', 'server'.";

describe('references between proxies', () => {
  it('finds the backends of default_backend and use_backend, and names the line when one is missing', () => {
    expect(
      messages(`${DEFAULTS}frontend f
    bind :10000
    use_backend b
    use_backend ghost if { src 10.0.0.1 }
    default_backend nowhere
backend b
    server s 127.0.0.1:1
`),
    ).toEqual([
      "alert: [c.cfg:9] : Proxy 'f': unable to find required default_backend: 'nowhere'.",
      "alert: [c.cfg:8] : Proxy 'f': unable to find required use_backend: 'ghost'.",
    ]);
  });

  it('does not take a frontend for a backend, and detects a listen section routing to itself', () => {
    expect(
      messages(`${DEFAULTS}frontend f
    bind :10000
    default_backend f2
frontend f2
    bind :10001
    default_backend l
listen l
    bind :10002
    use_backend l
    server s 127.0.0.1:1
`),
    ).toEqual([
      "alert: [c.cfg:7] : Proxy 'f': unable to find required default_backend: 'f2'.",
      "alert: [c.cfg:13] : Proxy 'l': loop detected for use_backend: 'l'.",
    ]);
  });

  it('warns when a default_backend hides the servers of a listen section', () => {
    expect(messages(`${DEFAULTS}listen l\n    bind :10000\n    default_backend b\n    server s 127.0.0.1:1\nbackend b\n    server s 127.0.0.1:2\n`)).toEqual([
      "warning: [c.cfg:7] : In proxy 'l', the 'default_backend' rule always has precedence over the servers, which will never be used.",
    ]);
  });
});

describe('names and ids', () => {
  it('refuses two servers with one name, and two servers or proxies with one id', () => {
    expect(
      messages(`${DEFAULTS}backend b
    id 3
    server a 127.0.0.1:1 id 1
    server a 127.0.0.1:2
    server c 127.0.0.1:3 id 1
backend b2
    id 3
    server a 127.0.0.1:1
`),
    ).toEqual([
      'alert: parsing [c.cfg:11] : backend b2 reuses same custom id as backend b (declared at c.cfg:5).',
      "alert: parsing [c.cfg:8] : backend 'b', another server named 'a' was already defined at line 7, please use distinct names.",
      "alert: [c.cfg:9] : 'server b/c' : 'id' : custom id 1 already used at c.cfg:7 ('server a').",
    ]);
  });
});

describe('warnings', () => {
  it('warns about a frontend without bind and a backend without server, as HAProxy', () => {
    expect(messages(`${DEFAULTS}frontend f\n    default_backend b\nbackend b\n`)).toEqual([
      "warning: [c.cfg:5] : frontend 'f' has no 'bind' directive. Please declare it as a backend if this was intended.",
      "warning: [c.cfg:7] : backend 'b' has no server available!",
    ]);
  });

  it('does not warn about a listen section that routes elsewhere, nor about disabled proxies', () => {
    expect(messages(`${DEFAULTS}listen l\n    bind :1\n    default_backend b\nbackend b\n    server s 127.0.0.1:1\nbackend off\n    disabled\nfrontend f\n    disabled\n`)).toEqual([]);
  });

  it("gives HAProxy's missing-timeouts warning", () => {
    expect(messages('frontend f\n    bind :1\n    default_backend b\nbackend b\n    server s 127.0.0.1:1\n    timeout connect 1s\n    timeout tunnel 1h\n')).toEqual([
      `warning: [c.cfg:1] : ${MISSING_TIMEOUTS("frontend 'f'")}`,
    ]);
  });

  it('takes check and its keywords without a word, default-server included', () => {
    expect(messages(`${DEFAULTS}backend b\n    default-server check inter 1s fastinter 200 downinter 5s\n    server a 127.0.0.1:1\n    server b 127.0.0.1:2 no-check\n    server c 127.0.0.1:3 port 9 addr 127.0.0.2\n`)).toEqual([]);
  });

  it('warns about options that contradict each other', () => {
    expect(
      messages(`${DEFAULTS}backend b
    option redispatch
    retries 0
    hash-type consistent
    server a 127.0.0.1:1 maxqueue 10
    server b 127.0.0.1:2 send-proxy send-proxy-v2
`),
    ).toEqual([
      "warning: [c.cfg:10] : 'server b/b' : 'send-proxy' and 'send-proxy-v2' are both set: PROXY protocol v2 is sent.",
      "warning: [c.cfg:9] : 'server b/a' : 'maxqueue' has no effect without 'maxconn': this server never queues connections.",
      "warning: [c.cfg:6] : backend 'b': 'option redispatch' has no effect with 'retries 0'.",
      "warning: [c.cfg:8] : backend 'b': 'hash-type' has no effect unless 'balance source' is used.",
    ]);
  });

  it('does not blame a proxy for a hash-type inherited from defaults', () => {
    expect(messages(`${DEFAULTS}    hash-type consistent\nbackend b\n    server a 127.0.0.1:1\n`)).toEqual([]);
  });
});

describe('checkConfig alone', () => {
  it('returns the diagnostics of the checks only', () => {
    const result = read(`${DEFAULTS}frontend f\n    bind :1\n    default_backend nope\n`);
    expect(checkConfig(result.config).map((d) => [d.severity, d.keyword, d.line])).toEqual([['alert', 'default_backend', 7]]);
  });
});
