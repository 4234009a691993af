/**
 * The parser: sections and defaults inheritance as HAProxy 2.6, every supported keyword into the
 * model with its file:line, the refusals, files and directories, conditional blocks.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { workerGid } from '../../src/config/global.js';
import { ConfigError, parseConfig, readConfig, type Config, type ProxyConfig } from '../../src/config/index.js';

/** Parses an in-memory file named t.cfg. */
const read = (text: string, env: Record<string, string> = {}) => readConfig([{ name: 't.cfg', text }], { env });
const alerts = (text: string, env: Record<string, string> = {}): string[] => read(text, env).errors.map((e) => e.message);
const warnings = (text: string): string[] => read(text).warnings.map((w) => w.message);
const parse = (text: string, env: Record<string, string> = {}): Config => parseConfig([{ name: 't.cfg', text }], { env });
const proxy = (config: Config, name: string): ProxyConfig => {
  const found = config.proxies.find((p) => p.name === name);
  if (found === undefined) throw new Error(`no proxy ${name}`);
  return found;
};

/** Timeouts every proxy needs to avoid HAProxy's "missing timeouts" warning. */
const DEFAULTS = `defaults
    timeout connect 5s
    timeout client 30s
    timeout server 30s
`;

describe('sections', () => {
  it('reads a frontend, a backend and a listen section into the model, in order', () => {
    const config = parse(`${DEFAULTS}
frontend fe
    bind 127.0.0.1:10000
    default_backend be
backend be
    server s1 127.0.0.1:10001
listen li
    bind 127.0.0.1:10002
    server s2 127.0.0.1:10003
`);
    expect(config.proxies.map((p) => `${p.kind} ${p.name}`)).toEqual(['frontend fe', 'backend be', 'listen li']);
    expect(proxy(config, 'fe').binds[0]?.addresses.map(String)).toEqual(['127.0.0.1:10000']);
    expect(proxy(config, 'fe').binds[0]?.where).toEqual({ file: 't.cfg', line: 7, column: 5 });
    expect(proxy(config, 'be').servers[0]?.where.line).toBe(10);
    expect(proxy(config, 'fe').where).toEqual({ file: 't.cfg', line: 6, column: 1 });
  });

  it('accepts a repeated global section', () => {
    const config = parse('global\n    maxconn 10\nglobal\n    ulimit-n 100\n');
    expect([config.global.maxconn, config.global.ulimitN]).toEqual([10, 100]);
  });

  it('refuses keywords outside any section, and each file starts outside one', () => {
    expect(alerts('maxconn 10\n')).toEqual(["parsing [t.cfg:1] : unknown keyword 'maxconn' out of section."]);
    const result = readConfig([
      { name: 'a.cfg', text: 'global\n' },
      { name: 'b.cfg', text: '    maxconn 10\n' },
    ]);
    expect(result.errors.map((e) => e.message)).toEqual(["parsing [b.cfg:1] : unknown keyword 'maxconn' out of section."]);
  });

  it('needs a proxy name, with HAProxy characters only', () => {
    expect(alerts('frontend\n')).toEqual(["parsing [t.cfg:1] : 'frontend' expects an <id> argument"]);
    expect(alerts('backend a/b\n    server s 127.0.0.1:1\n')).toContain("parsing [t.cfg:1] : character '/' is not permitted in 'backend' name 'a/b'.");
  });

  it('refuses a second proxy of the same kind with the same name, but lets a frontend and a backend share one', () => {
    const text = `${DEFAULTS}frontend x\n    bind :10000\n    default_backend x\nbackend x\n    server s 127.0.0.1:1\nfrontend x\n    bind :10001\n`;
    expect(alerts(text)).toEqual(["Parsing [t.cfg:10]: frontend 'x' has the same name as frontend 'x' declared at t.cfg:5."]);
    expect(alerts(`${DEFAULTS}backend y\n    server s 127.0.0.1:1\nlisten y\n    bind :1\n`)).toEqual([
      "Parsing [t.cfg:7]: proxy 'y' has the same name as backend 'y' declared at t.cfg:5.",
    ]);
  });

  it('points at the bind keyword when a frontend line has addresses', () => {
    expect(alerts('frontend fe :80\n')[0]).toBe(
      "parsing [t.cfg:1] : 'frontend' cannot handle unexpected argument ':80'. Please use the 'bind' keyword for listening addresses.",
    );
  });

  it('reports an unsupported section once and skips its lines', () => {
    expect(alerts('peers mypeers\n    peer a 127.0.0.1:1024\n    peer b 127.0.0.1:1025\n')).toEqual([
      "parsing [t.cfg:1] : 'peers' section is not supported yet (peers).",
    ]);
  });
});

describe('defaults sections (HAProxy 2.6 inheritance)', () => {
  it('gives a proxy the settings of the last defaults section before it', () => {
    const config = parse(`defaults
    timeout connect 1s
    timeout client 1s
    timeout server 1s
    retries 7
backend a
    server s 127.0.0.1:1
defaults
    timeout connect 2s
    timeout client 2s
    timeout server 2s
backend b
    server s 127.0.0.1:1
`);
    expect(proxy(config, 'a').retries).toBe(7);
    expect(proxy(config, 'a').timeouts.connect).toBe(1000);
    // A defaults section starts from scratch: retries does not carry over.
    expect(proxy(config, 'b').retries).toBeNull();
    expect(proxy(config, 'b').timeouts.connect).toBe(2000);
    expect(proxy(config, 'b').defaults).toBe('');
  });

  it("keeps the defaults section's line as the origin of an inherited setting", () => {
    const config = parse(`${DEFAULTS}backend b\n    server s 127.0.0.1:1\n    timeout server 1m\n`);
    expect(proxy(config, 'b').origin['timeout connect']).toEqual({ file: 't.cfg', line: 2, column: 5 });
    expect(proxy(config, 'b').origin['timeout server']).toEqual({ file: 't.cfg', line: 7, column: 5 });
  });

  it('lets a proxy and a defaults section start from a named defaults section with from', () => {
    const config = parse(`defaults base
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    retries 5
defaults tight from base
    timeout client 5s
defaults
    timeout connect 1s
    timeout client 1s
    timeout server 1s
backend a from tight
    server s 127.0.0.1:1
backend b
    server s 127.0.0.1:1
`);
    expect(proxy(config, 'a').timeouts.client).toBe(5000);
    expect(proxy(config, 'a').timeouts.server).toBe(30000);
    expect(proxy(config, 'a').retries).toBe(5);
    expect(proxy(config, 'a').defaults).toBe('tight');
    expect(proxy(config, 'b').timeouts.client).toBe(1000);
    expect(config.defaults.map((d) => [d.name, d.from])).toEqual([
      ['base', null],
      ['tight', 'base'],
      ['', null],
    ]);
  });

  it('counts a named defaults section as the last one for proxies without from', () => {
    const config = parse(`defaults named\n    retries 9\n${DEFAULTS.replace('defaults', 'defaults named2')}backend b\n    server s 127.0.0.1:1\n`);
    expect(proxy(config, 'b').defaults).toBe('named2');
  });

  it('refuses an unknown or ambiguous from, and warns when a section is used both ways', () => {
    expect(alerts('backend b from nope\n')).toEqual(["parsing [t.cfg:1] : defaults section 'nope' not found for backend 'b'."]);
    const ambiguous = alerts(`defaults d\ndefaults d\nbackend b from d\n    server s 127.0.0.1:1\n`);
    expect(ambiguous).toEqual([
      "parsing [t.cfg:3] : ambiguous defaults section name 'd' referenced by backend 'b' exists at least at t.cfg:1 and t.cfg:2.",
    ]);
    const mixed = warnings(`defaults d\n${DEFAULTS.replace('defaults\n', '')}backend a from d\n    server s 127.0.0.1:1\nbackend b\n    server s 127.0.0.1:1\n`);
    expect(mixed[0]).toMatch(/^parsing \[t\.cfg:7\] : defaults section 'd' \(declared at t\.cfg:1\) is explicitly referenced by another proxy and implicitly used here/);
  });

  it('runs the tcp-request rules of a named defaults section first, in frontends only', () => {
    const config = parse(`defaults guarded
    timeout client 30s
    acl bad src 192.0.2.0/24
    tcp-request connection reject if bad
frontend fe
    bind 127.0.0.1:10000
    tcp-request connection accept
    default_backend be
defaults
${DEFAULTS.replace('defaults\n', '')}backend be
    server s 127.0.0.1:1
`);
    const rules = proxy(config, 'fe').tcpRequestConnection;
    expect(rules.map((r) => [r.action, r.where.line])).toEqual([
      ['reject', 4],
      ['accept', 7],
    ]);
    expect(rules[0]?.condition?.suites[0]?.[0]?.acl.name).toBe('bad');
    // ACLs of the defaults section are not visible to the proxy's own rules.
    expect(proxy(config, 'fe').acls.has('bad')).toBe(false);
  });

  it('refuses to give defaults rules to a backend or a listen section, and rules to anonymous defaults', () => {
    const base = 'defaults r\n    tcp-request connection reject\n';
    expect(alerts(`${base}backend b\n    server s 127.0.0.1:1\n`)[0]).toBe(
      "parsing [t.cfg:3]: a backend section cannot inherit from a defaults section defining 'tcp-request connection' or 'tcp-request session' rules (defaults section at t.cfg:1).",
    );
    expect(alerts(`${base}listen l\n    bind :1\n`)[0]).toBe('parsing [t.cfg:3]: a listen section cannot inherit from a defaults section defining TCP/HTTP rules.');
    expect(alerts('defaults\n    tcp-request connection reject\n')).toEqual([
      "parsing [t.cfg:2] : tcp-request connection is not allowed in anonymous 'defaults' sections",
    ]);
    expect(alerts('defaults\n    acl a src 1.2.3.4\n')).toEqual(["parsing [t.cfg:2] : 'acl' not allowed in anonymous 'defaults' section."]);
  });

  it('refuses bind, server and use_backend in defaults', () => {
    expect(alerts('defaults\n    bind :80\n    server s 127.0.0.1:1\n    use_backend x\n')).toEqual([
      "parsing [t.cfg:2] : 'bind' not allowed in 'defaults' section.",
      "[t.cfg:3] : 'server' not allowed in 'defaults' section.",
      "parsing [t.cfg:4] : 'use_backend' not allowed in 'defaults' section.",
    ]);
  });
});

describe('global keywords', () => {
  it('reads every supported keyword', () => {
    const config = parse(`global
    maxconn 4096
    ulimit-n 10240
    nbthread 1
    noepoll
    nopoll
    nokqueue
    noevports
    busy-polling
    noreuseport
    nosplice
    quiet
    log stdout format raw local0 info
    log stderr len 200 format rfc5424 daemon err alert
    tune.bufsize 32768
    tune.maxaccept -1
    tune.runqueue-depth 100
    tune.maxpollevents 50
    tune.rcvbuf.client 1000
    tune.rcvbuf.server 2000
    tune.sndbuf.client 3000
    tune.sndbuf.server 4000
    tune.pipesize 65536
`);
    const g = config.global;
    expect([g.maxconn, g.ulimitN, g.nbthread, g.noEpoll, g.noPoll, g.busyPolling, g.noReusePort, g.noSplice, g.quiet]).toEqual([
      4096, 10240, 1, true, true, true, true, true, true,
    ]);
    expect(g.tune).toEqual({
      bufsize: 32768,
      maxaccept: -1,
      runqueueDepth: 100,
      maxpollevents: 50,
      rcvbufClient: 1000,
      rcvbufServer: 2000,
      sndbufClient: 3000,
      sndbufServer: 4000,
      pipesize: 65536,
      notsentLowatClient: null,
      notsentLowatServer: null,
      nodelay: null,
      relayThread: null,
    });
    expect(g.logs).toEqual([
      { kind: 'target', destination: { kind: 'stream', stream: 'stdout' }, address: 'stdout', maxLength: 1024, format: 'raw', facility: 'local0', level: 'info', minLevel: 'emerg', where: { file: 't.cfg', line: 13, column: 5 } },
      { kind: 'target', destination: { kind: 'stream', stream: 'stderr' }, address: 'stderr', maxLength: 200, format: 'rfc5424', facility: 'daemon', level: 'err', minLevel: 'alert', where: { file: 't.cfg', line: 14, column: 5 } },
    ]);
    expect(g.origin.maxconn?.line).toBe(2);
    expect(g.origin['tune.pipesize']?.line).toBe(23);
  });

  it("ignores a second maxconn with HAProxy's warning", () => {
    const result = read('global\n    maxconn 10\n    maxconn 20\n');
    expect(result.config.global.maxconn).toBe(10);
    expect(result.warnings.map((w) => w.message)).toEqual(["parsing [t.cfg:3] : 'maxconn' already specified. Continuing."]);
  });

  it('reads the process-model keywords', () => {
    const config = parse(
      'global\n    daemon\n    pidfile /run/x.pid\n    master-worker\n    nbthread 4\n    user nobody\n    chroot /var/empty\n    hard-stop-after 1m\n    mworker-max-reloads 3\n',
    );
    expect(config.global.nbthread).toBe(4);
    expect(config.global.process).toMatchObject({
      daemon: true,
      masterWorker: true,
      pidfile: '/run/x.pid',
      uid: 65534,
      user: 'nobody',
      chroot: '/var/empty',
      hardStopAfter: 60_000,
      mworkerMaxReloads: 3,
    });
    // `user` alone: the workers take its primary group too.
    expect(workerGid(config.global)).toBe(65534);
    expect(alerts('global\n    user no-such-user-here\n    group no-such-group-here\n    nbthread 0\n    hard-stop-after soon\n')).toEqual([
      "parsing [t.cfg:2] : cannot find user id for 'no-such-user-here' (not in /etc/passwd; use 'uid' with the number).",
      "parsing [t.cfg:3] : cannot find group id for 'no-such-group-here' (not in /etc/group; use 'gid' with the number).",
      "parsing [t.cfg:4] : 'nbthread' value must be between 1 and 64 (was 0)",
      "parsing [t.cfg:5] : 'hard-stop-after' expects <time> as argument (got 'soon').",
    ]);
    expect(warnings('global\n    uid 1\n    user nobody\n')).toEqual(['parsing [t.cfg:3] : user/uid already specified. Continuing.']);
  });

  it('reads syslog targets (UDP, unix datagram sockets), and refuses the others after checking the line', () => {
    const targets = parse('global\n    log 127.0.0.1 local0\n    log udp6@[::1]:5140 local1\n    log /dev/log daemon\n    log unix@/run/log.sock user\n    log ipv4@10.0.0.1:99 local2\n').global.logs;
    expect(targets.map((t) => (t.kind === 'target' ? t.destination : null))).toEqual([
      { kind: 'udp', family: 'ipv4', host: '127.0.0.1', port: 514 },
      { kind: 'udp', family: 'ipv6', host: '::1', port: 5140 },
      { kind: 'unix', path: '/dev/log' },
      { kind: 'unix', path: '/run/log.sock' },
      { kind: 'udp', family: 'ipv4', host: '10.0.0.1', port: 99 },
    ]);
    expect(alerts('global\n    log ring@buf local0\n    log stdout locale0\n    log global\n    log stdout\n    log fd@3 local0\n    log tcp@127.0.0.1:514 local0\n    log syslog.example.com local0\n    log 127.0.0.1:99999 local0\n')).toEqual([
      "parsing [t.cfg:2] : log : 'ring@buf': ring buffers are not supported yet",
      "parsing [t.cfg:3] : log : unknown log facility 'locale0'",
      "parsing [t.cfg:4] : log : 'global' is not supported for a global syslog server",
      'parsing [t.cfg:5] : log : expects <address> and <facility>  as arguments',
      "parsing [t.cfg:6] : log : 'fd@3': only fd@1 (stdout) and fd@2 (stderr) are supported",
      "parsing [t.cfg:7] : log : 'tcp@127.0.0.1:514': syslog over TCP (a ring) is not supported yet; use UDP or a unix socket",
      "parsing [t.cfg:8] : log : invalid address 'syslog.example.com': invalid IPv4 address: syslog.example.com (host names are not supported here: write an IP address)",
      "parsing [t.cfg:9] : log : invalid address '127.0.0.1:99999': port 99999 out of range",
    ]);
  });

  it('reads nbproc as nbthread with a warning, and suggests close keywords', () => {
    expect(parse('global\n    nbproc 2\n').global.nbthread).toBe(2);
    expect(warnings('global\n    nbproc 2\n')).toEqual([
      "parsing [t.cfg:2] : 'nbproc' was removed in HAProxy 2.5 (2.6 refuses it); epoxy reads it as 'nbthread': that many worker processes.",
    ]);
    expect(alerts('global\n    ulimitn 5\n    tune.maxacept 5\n')).toEqual([
      "parsing [t.cfg:2] : unknown keyword 'ulimitn' in 'global' section; did you mean 'ulimit-n' maybe ?",
      "parsing [t.cfg:3] : unknown keyword 'tune.maxacept' in 'global' section; did you mean 'tune.maxaccept' maybe ?",
    ]);
  });

  it('turns warnings into an error with zero-warning', () => {
    expect(alerts('global\n    zero-warning\n    maxconn 1\n    maxconn 2\n')).toEqual(["Some warnings were found and 'zero-warning' is set. Aborting."]);
  });

  it('accepts no busy-polling, and refuses no/default on other keywords', () => {
    expect(parse('global\n    busy-polling\n    no busy-polling\n').global.busyPolling).toBe(false);
    expect(alerts('global\n    no maxconn\n')).toEqual([
      'parsing [t.cfg:2]: negation/default currently supported only for options, log, busy-polling, set-dumpable, strict-limits, insecure-fork-wanted and numa-cpu-mapping.',
    ]);
  });
});

describe('proxy keywords', () => {
  const backend = (lines: string, env: Record<string, string> = {}): ProxyConfig =>
    proxy(parse(`${DEFAULTS}backend b\n    server s 127.0.0.1:1\n${lines}`, env), 'b');

  it("takes a proxy's own log targets next to 'log global', without a warning", () => {
    const text = `global\n    log stdout local0\n${DEFAULTS}listen x\n    bind :1\n    log global\n    log 127.0.0.1:5140 local1\n    server s 127.0.0.1:1\n`;
    expect(warnings(text)).toEqual([]);
    expect(proxy(parse(text), 'x').logs.map((l) => l.kind)).toEqual(['global', 'target']);
  });

  it('reads log-format, option tcplog and option logasap: the last of log-format and tcplog wins', () => {
    const f = (lines: string): ProxyConfig => proxy(parse(`${DEFAULTS}frontend f\n    bind :1\n${lines}    default_backend b\nbackend b\n    server s 127.0.0.1:1\n`), 'f');
    expect(f('    option tcplog\n    log-format "%ci %b"\n')).toMatchObject({ logFormat: { text: '%ci %b' }, options: { tcplog: false } });
    expect(f('    log-format "%ci %b"\n    option tcplog\n')).toMatchObject({ logFormat: null, options: { tcplog: true } });
    expect(f('    option logasap\n    option epoxy-log-start\n    log-tag fe\n').options).toMatchObject({ logasap: true, logStart: true });
    expect(f('    log-tag fe\n').logTag).toBe('fe');
  });

  it("refuses unknown log-format variables, HTTP ones and sample expressions with file:line, in HAProxy's words", () => {
    expect(alerts(`${DEFAULTS}frontend f\n    bind :1\n    log-format "%ci %zz"\n    log-format "%HM"\n    log-format "%[src]"\n    log-format %ci %b\n    log-tag\n`)).toEqual([
      "parsing [t.cfg:7]: failed to parse log-format : no such format variable 'zz'. If you wanted to emit the '%' character verbatim, you need to use '%%'.",
      "parsing [t.cfg:8]: failed to parse log-format : format variable 'HM' is reserved for HTTP mode.",
      "parsing [t.cfg:9]: failed to parse log-format : sample expressions ('%[...]') are not supported yet",
      "parsing [t.cfg:10] : log-format expects only one argument, don't forget to escape spaces!",
      "parsing [t.cfg:11] : 'log-tag' expects a tag for use in syslog.",
    ]);
    expect(warnings(`${DEFAULTS}backend b\n    server s 127.0.0.1:1\n    log-format "%ci"\n    option logasap\n`)).toEqual([
      "parsing [t.cfg:7] : backend 'b' : 'log-format' directive is ignored in backends.",
      "parsing [t.cfg:8] : 'logasap' ignored because backend 'b' has no frontend capability.",
    ]);
  });

  it('reads timeouts with HAProxy units', () => {
    const t = proxy(
      parse(`defaults
    timeout connect 1500ms
    timeout client 2m
    timeout server 1h
    timeout tunnel 1d
    timeout client-fin 10s
    timeout client-hs 3s
    timeout server-fin 250
    timeout queue 1500us
    timeout check 3s
listen l
    bind :10000
    server s 127.0.0.1:1
`),
      'l',
    ).timeouts;
    expect(t).toEqual({ connect: 1500, client: 120000, server: 3600000, tunnel: 86400000, clientFin: 10000, clientHs: 3000, serverFin: 250, queue: 2, check: 3000 });
  });

  it("refuses bad times in HAProxy's words", () => {
    expect(alerts('defaults\n    timeout connect 5x\n    timeout client 99999999999\n    timeout server\n    timeout server 1s 2s\n    timeout http-request 5s\n    timeout conect 5s\n')).toEqual([
      "parsing [t.cfg:2] : unexpected character 'x' in 'timeout connect'",
      "parsing [t.cfg:3] : timer overflow in argument '99999999999' to 'timeout client' (maximum value is 2147483647 ms or ~24.8 days)",
      "parsing [t.cfg:4] : 'timeout server' expects an integer value (in milliseconds)",
      "parsing [t.cfg:5] : 'timeout server' : unexpected extra argument '2s' after value '1s'.",
      "parsing [t.cfg:6] : 'timeout http-request' is not supported yet (HTTP mode; epoxy implements mode tcp).",
      "parsing [t.cfg:7] : 'timeout' supports 'client', 'server', 'connect', 'check', 'queue', 'http-keep-alive', 'http-request', 'tunnel', 'tarpit', 'client-fin' and 'server-fin' (got 'conect'); did you mean 'connect' maybe ?",
    ]);
  });

  it('reads balance and hash-type', () => {
    expect(backend('    balance roundrobin\n').balance).toEqual({ kind: 'roundrobin' });
    expect(backend('    balance static-rr\n').balance).toEqual({ kind: 'static-rr' });
    expect(backend('    balance leastconn\n').balance).toEqual({ kind: 'leastconn' });
    expect(backend('    balance first\n').balance).toEqual({ kind: 'first' });
    expect(backend('    balance random\n').balance).toEqual({ kind: 'random', draws: 2 });
    expect(backend('    balance random(5)\n').balance).toEqual({ kind: 'random', draws: 5 });
    expect(backend('    balance\n').balance).toEqual({ kind: 'roundrobin' });
    const b = backend('    balance source\n    hash-type consistent\n');
    expect(b.balance).toEqual({ kind: 'source' });
    expect(b.hashType).toEqual({ method: 'consistent', function: 'sdbm', avalanche: true });
    expect(backend('    balance source\n    hash-type map-based crc32 avalanche\n').hashType).toEqual({ method: 'map-based', function: 'crc32', avalanche: true });
    expect(backend('    balance source\n    hash-type consistent djb2\n').hashType).toEqual({ method: 'consistent', function: 'djb2', avalanche: false });
  });

  it('refuses bad balance lines', () => {
    const text = `${DEFAULTS}backend b\n    server s 127.0.0.1:1\n    balance random(0)\n    balance random(x)\n    balance random(3\n    balance hdr(host)\n    balance roundrobn\n    balance first 3\n`;
    expect(alerts(text)).toEqual([
      'parsing [t.cfg:7] : balance random : number of draws must be at least 1.',
      "parsing [t.cfg:8] : balance random : unexpected character 'x' after argument.",
      'parsing [t.cfg:9] : balance random : missing closing parenthesis.',
      "parsing [t.cfg:10] : 'balance hdr' is not supported yet (HTTP mode; epoxy implements mode tcp).",
      "parsing [t.cfg:11] : balance only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', 'url_param', 'hdr(name)' and 'rdp-cookie(name)' options.; did you mean 'roundrobin' maybe ?",
      "parsing [t.cfg:12] : 'balance' cannot handle unexpected argument '3'.",
    ]);
  });

  it('reads options, and no/default option', () => {
    const b = backend('    option redispatch 2\n    option allbackups\n    option tcpka\n    option srvtcpka\n    option nolinger\n');
    expect(b.options).toMatchObject({ redispatch: true, redispatchInterval: 2, allbackups: true, tcpka: true, srvtcpka: true, nolinger: true });
    const config = parse(`defaults
    option redispatch
    option dontlognull
    option tcplog
${DEFAULTS.replace('defaults\n', '')}listen l
    bind :10000
    server s 127.0.0.1:1
    no option redispatch
    no option dontlognull
`);
    expect(proxy(config, 'l').options).toMatchObject({ redispatch: false, dontlognull: false, tcplog: true });
    const reset = parse(`defaults\n    option redispatch 3\n${DEFAULTS.replace('defaults\n', '')}backend b\n    server s 127.0.0.1:1\n    default option redispatch\n`);
    expect(proxy(reset, 'b').options).toMatchObject({ redispatch: false, redispatchInterval: -1 });
  });

  it('refuses default on options other than redispatch, as HAProxy 2.6 does', () => {
    expect(alerts('defaults\n    default option dontlognull\nglobal\n    default busy-polling\n')).toEqual([
      "parsing [t.cfg:2] : 'default option dontlognull' is not supported (HAProxy 2.6 refuses it too); use 'no option dontlognull'.",
      "parsing [t.cfg:4] : 'default busy-polling' is not supported (HAProxy 2.6 refuses it too); use 'no busy-polling'.",
    ]);
  });

  it("ignores a frontend option in a backend (and the reverse) with HAProxy's warning", () => {
    const result = read(`${DEFAULTS}frontend f\n    bind :10000\n    option redispatch\n    retries 3\n    default_backend b\nbackend b\n    server s 127.0.0.1:1\n    option dontlognull\n    maxconn 5\n    option tcplog\n`);
    expect(result.warnings.map((w) => w.message)).toEqual([
      "parsing [t.cfg:7] : 'redispatch' ignored because frontend 'f' has no backend capability.",
      "parsing [t.cfg:8] : 'retries' ignored because frontend 'f' has no backend capability.",
      "parsing [t.cfg:12] : 'dontlognull' ignored because backend 'b' has no frontend capability.",
      "parsing [t.cfg:13] : 'maxconn' ignored because backend 'b' has no frontend capability. Maybe you want 'fullconn' instead ?",
      "parsing [t.cfg:14] : backend 'b' : 'option tcplog' directive is ignored in backends.",
    ]);
    expect(proxy(result.config, 'f').options.redispatch).toBe(false);
    expect(proxy(result.config, 'b').maxconn).toBeNull();
  });

  it("refuses mode http and HAProxy's unsupported options", () => {
    expect(alerts('defaults\n    mode http\n    option httplog\n    option forceclose\n    option redispach\n    no option tcplog\n    mode tpc\n')).toEqual([
      "parsing [t.cfg:2] : 'mode http' is only supported in a frontend serving the Prometheus exporter ('http-request use-service prometheus-exporter') or in a listen or frontend section serving the stats page ('stats enable'); epoxy implements mode tcp.",
      "parsing [t.cfg:3] : 'option httplog' is not supported yet (HTTP mode; epoxy implements mode tcp).",
      "parsing [t.cfg:4]: option 'forceclose' is not supported any more since HAProxy 2.0, please just remove it, or use 'option httpclose' if absolutely needed.",
      "parsing [t.cfg:5] : unknown option 'redispach'; did you mean 'redispatch' maybe ?",
      "parsing [t.cfg:6]: negation/default is not supported for option 'tcplog'.",
      "parsing [t.cfg:7] : unknown proxy mode 'tpc'.; did you mean 'tcp' maybe ?",
    ]);
  });

  it('reads maxconn, backlog, retries, id, description, disabled, log', () => {
    const config = parse(`${DEFAULTS}listen l
    bind :10000
    server s 127.0.0.1:1
    maxconn 500
    backlog 100
    retries 0
    id 42
    description the main   listener
    disabled
    log global
    log stdout format short local1
`);
    const l = proxy(config, 'l');
    expect([l.maxconn, l.backlog, l.retries, l.id, l.description, l.disabled]).toEqual([500, 100, 0, 42, 'the main listener', true]);
    expect(l.logs.map((x) => x.kind)).toEqual(['global', 'target']);
    expect(proxy(parse(`defaults\n    log stdout local0\nbackend b\n    no log\n`), 'b').logs).toEqual([]);
  });

  it('reads source with usesrc and interface', () => {
    const b = backend('    source 192.0.2.1 usesrc clientip interface eth0\n');
    expect(b.source?.address.toString()).toBe('192.0.2.1:0');
    expect(b.source?.usesrc).toEqual({ kind: 'clientip' });
    expect(b.source?.interface).toBe('eth0');
    expect(backend('    source [::1]:2000 usesrc 192.0.2.9:80\n').source).toMatchObject({ portRange: null, usesrc: { kind: 'address' } });
    expect(alerts(`${DEFAULTS}backend b\n    server s 127.0.0.1:1\n    source db.example.com\n    source 1.2.3.4 via x\n`)).toEqual([
      "parsing [t.cfg:7] : 'source db.example.com' : host names are not resolved in 'source' ('db.example.com'): write an address",
      "parsing [t.cfg:8] : 'source' only supports optional keywords 'interface' and 'usesrc'.",
    ]);
  });

  it('reads bind lines through the bind parser, and reports its errors', () => {
    const config = parse(`${DEFAULTS}frontend f\n    bind 127.0.0.1:10000-10002,[::1]:10005 accept-proxy backlog 64\n    default_backend b\nbackend b\n    server s 127.0.0.1:1\n`);
    const bind = proxy(config, 'f').binds[0]!;
    expect(bind.addresses.map(String)).toEqual(['127.0.0.1:10000', '127.0.0.1:10001', '127.0.0.1:10002', '[::1]:10005']);
    expect([bind.bind.acceptProxy, bind.bind.backlog]).toEqual([true, 64]);
    expect(alerts(`${DEFAULTS}frontend f\n    bind :10000 defer-acept\n    bind :10001 ssl crt x.pem\n    bind 1.2.3.4.5:1\n    bind\n`)).toEqual([
      "parsing [t.cfg:6] : 'bind :10000' in section 'frontend': unknown keyword 'defer-acept'; did you mean 'defer-accept' maybe ?",
      "parsing [t.cfg:7] : 'bind :10001' in section 'frontend' : 'ssl' is not supported yet",
      "parsing [t.cfg:8] : 'bind' : invalid address '1.2.3.4.5:1': invalid IPv4 address: 1.2.3.4.5",
      "parsing [t.cfg:9] : 'bind' expects {<path>|[addr1]:port1[-end1]}{,[addr]:port[-end]}... as arguments.",
    ]);
  });

  it("gives HAProxy's messages for removed keywords", () => {
    expect(alerts('defaults\n    redispatch\n    contimeout 5s\n    reqrep ^x y\n')).toEqual([
      "parsing [t.cfg:2] : keyword 'redispatch' directive is not supported anymore since HAProxy 2.1. Use 'option redispatch'.",
      "parsing [t.cfg:3] : the 'contimeout' directive is not supported anymore since HAProxy 2.1. Use 'timeout connect'.",
      "parsing [t.cfg:4] : The 'reqrep' directive is not supported anymore since HAProxy 2.1. Use 'http-request' rules instead.",
    ]);
  });
});

describe('servers', () => {
  const servers = (lines: string) => proxy(parse(`${DEFAULTS}backend b\n${lines}`), 'b').servers;

  it('reads every address form', () => {
    const list = servers(`    server a 10.0.0.1:80
    server b [2001:db8::1]:443
    server c ipv6@::1:8080
    server d unix@/run/app.sock
    server e /run/other.sock
    server f db.internal:5432
    server g ipv4@localhost:6379
`);
    expect(list.map((s) => (s.address.kind === 'address' ? s.address.address.toString() : `${s.address.host} ${s.address.port} ${s.address.family}`))).toEqual([
      '10.0.0.1:80',
      '[2001:db8::1]:443',
      '[::1]:8080',
      'unix@/run/app.sock',
      'unix@/run/other.sock',
      'db.internal 5432 null',
      'localhost 6379 ipv4',
    ]);
  });

  it('reads every option and starts from default-server', () => {
    const [a, b] = servers(`    default-server maxconn 100 maxqueue 10 send-proxy inter 3s
    server a 127.0.0.1:1 weight 0 backup disabled id 5 source 10.0.0.5:1025-65000 usesrc client send-proxy-v2
    server b 127.0.0.1:2 no-send-proxy enabled no-backup check rise 3 fall 4
`);
    expect(a).toMatchObject({ weight: 0, maxconn: 100, maxqueue: 10, backup: true, disabled: true, id: 5, sendProxy: 'v2', inter: 3000 });
    expect(a?.source?.portRange).toEqual({ low: 1025, high: 65000 });
    expect(a?.source?.usesrc).toEqual({ kind: 'client' });
    expect(b).toMatchObject({ weight: 1, maxconn: 100, sendProxy: null, backup: false, disabled: false, id: null, check: true, rise: 3, fall: 4 });
    expect(b?.origin.maxconn?.line).toBe(6); // the default-server line
    expect(b?.origin.check?.line).toBe(8);
  });

  it('refuses bad server lines', () => {
    const text = `${DEFAULTS}backend b
    server
    server a@b 127.0.0.1:1
    server c localhost
    server d 127.0.0.1:1 weight 257
    server e 127.0.0.1:1 wieght 3
    server f 127.0.0.1:1 ssl
    server g 127.0.0.1:1 id 0
    server h 127.0.0.1:70000
    server i 127.0.0.1:1 usesrc client
    default-server id 3
`;
    expect(alerts(text)).toEqual([
      "[t.cfg:6] : 'server' expects <name> and <addr>[:<port>] as arguments.",
      "[t.cfg:7] : character '@' is not permitted in server name 'a@b'.",
      "[t.cfg:8] : 'server b/c' : 'localhost': port mapping (no port, or +N/-N) needs a numeric address",
      "[t.cfg:9] : 'server b/d' : weight of server d is not within 0 and 256 (257).",
      "[t.cfg:10] : 'server b/e' : unknown keyword 'wieght'; did you mean 'weight' maybe ?",
      "[t.cfg:11] : 'server b/f' : 'ssl' is not supported yet (SSL/TLS).",
      "[t.cfg:12] : 'server b/g' : 'id' : custom id has to be > 0.",
      "[t.cfg:13] : 'server b/h' : invalid port '70000' in '127.0.0.1:70000' (1 to 65535)",
      "[t.cfg:14] : 'server b/i' : 'usesrc' only allowed after a 'source' statement.",
      "[t.cfg:15] : 'id' option is not accepted in default-server sections",
    ]);
  });

  it("refuses servers in a frontend with HAProxy's (doubled) prefix", () => {
    expect(alerts(`${DEFAULTS}frontend f\n    bind :1\n    server s 127.0.0.1:1\n`)).toEqual([
      "[t.cfg:7] : parsing [t.cfg:7] : 'server' not allowed because frontend 'f' has no backend capability.",
    ]);
  });
});

describe('ACLs and rules', () => {
  const frontend = (lines: string): ProxyConfig =>
    proxy(parse(`${DEFAULTS}frontend f\n    bind :10000\n${lines}    default_backend b\nbackend b\n    server s 127.0.0.1:1\nbackend other\n    server s 127.0.0.1:2\n`), 'f');

  it('reads IP patterns into networks', () => {
    const f = frontend('    acl lan src 10.0.0.0/8 192.168.1.7 10.12/16 172.16.0.0/255.240.0.0 2001:db8::/32 ::1\n');
    const test = f.acls.get('lan')?.tests[0];
    expect(test?.fetch).toBe('src');
    if (test?.fetch !== 'src') throw new Error('src');
    expect(test.match.ips.map((p) => `${p.family} ${p.address}/${p.prefix}`)).toEqual([
      'ipv4 10.0.0.0/8',
      'ipv4 192.168.1.7/32',
      'ipv4 10.0.0.0/16',
      'ipv4 172.16.0.0/12',
      'ipv6 2001:db8::/32',
      'ipv6 ::1/128',
    ]);
    expect(Array.from(test.match.ips[0]!.bytes)).toEqual([10, 0, 0, 0]);
  });

  it('reads port patterns: values, ranges and operators', () => {
    const f = frontend('    acl p dst_port 80 1024:2048 :22 60000: gt 9000 le 10\n');
    const test = f.acls.get('p')?.tests[0];
    if (test?.fetch !== 'dst_port') throw new Error('dst_port');
    expect(test.match.ranges).toEqual([
      { low: 80, high: 80 },
      { low: 1024, high: 2048 },
      { low: 0, high: 22 },
      { low: 60000, high: 65535 },
      { low: 9001, high: 65535 },
      { low: 0, high: 10 },
    ]);
  });

  it('ORs several acl lines with one name', () => {
    const f = frontend('    acl x src 10.0.0.1\n    acl x src_port 5\n');
    expect(f.acls.get('x')?.tests.map((t) => t.fetch)).toEqual(['src', 'src_port']);
  });

  it('builds conditions as OR-ed suites of AND-ed terms, with negation and anonymous ACLs', () => {
    const f = frontend(`    acl a src 10.0.0.0/8
    acl b dst_port 443
    use_backend other if a !b || { src 192.0.2.1 } or !!a LOCALHOST
    tcp-request connection reject unless a
`);
    const condition = f.useBackend[0]?.condition;
    expect(condition?.polarity).toBe('if');
    expect(condition?.suites.map((suite) => suite.map((t) => `${t.negate ? '!' : ''}${t.acl.name || '{anonymous}'}`))).toEqual([
      ['a', '!b'],
      ['{anonymous}'],
      ['a', 'LOCALHOST'],
    ]);
    expect(condition?.suites[0]?.[0]?.acl).toBe(f.acls.get('a'));
    expect(f.tcpRequestConnection[0]).toMatchObject({ action: 'reject', condition: { polarity: 'unless' } });
  });

  it('needs an ACL declared before its use, as HAProxy', () => {
    expect(alerts(`${DEFAULTS}frontend f\n    bind :1\n    use_backend b if later\n    acl later src 1.2.3.4\nbackend b\n    server s 127.0.0.1:1\n`)).toEqual([
      "parsing [t.cfg:7] : error detected while parsing switching rule : no such ACL : 'later'.",
    ]);
  });

  it('refuses bad ACLs and conditions', () => {
    const text = `${DEFAULTS}frontend f
    bind :1
    acl a hdr(host) example.com
    acl b src example.com
    acl c src 10.0.0.0/33
    acl d src_port 70000
    acl e src -m dir x
    acl or src 1.2.3.4
    acl g src_port -5
    tcp-request connection reject if
    tcp-request connection reject if { src 1.2.3.4
    tcp-request connection drop
    tcp-request content drop
    use_backend b if HTTP
    use_backend b when x
    default_backend b
backend b
    server s 127.0.0.1:1
`;
    expect(alerts(text)).toEqual([
      "parsing [t.cfg:7] : error detected while parsing ACL 'a' : fetch method 'hdr' is not supported yet in ACL expression 'hdr(host)' (docs/configuration.md lists the fetches epoxy evaluates).",
      "parsing [t.cfg:8] : error detected while parsing ACL 'b' : 'example.com' is not a valid IPv4 or IPv6 address (host names are not resolved in ACL patterns: write an address).",
      "parsing [t.cfg:9] : error detected while parsing ACL 'c' : '10.0.0.0/33' is not a valid IPv4 or IPv6 address.",
      "parsing [t.cfg:10] : error detected while parsing ACL 'd' : '70000' is not a valid port (0 to 65535).",
      "parsing [t.cfg:11] : error detected while parsing ACL 'e' : matching method 'dir' is not supported yet with fetch keyword 'src'.",
      "parsing [t.cfg:12] : acl name 'or' will never match. 'or' is used to express a logical disjunction within a condition.",
      "parsing [t.cfg:13] : error detected while parsing ACL 'g' : '-5' is not a valid ACL option. Please use '--' before any pattern beginning with a '-'.",
      "parsing [t.cfg:14] : 'tcp-request connection reject' : error detected in frontend 'f' while parsing 'if' condition : missing condition after 'if'",
      "parsing [t.cfg:15] : 'tcp-request connection reject' : error detected in frontend 'f' while parsing 'if' condition : missing closing '}' in condition",
      "parsing [t.cfg:16] : 'tcp-request connection' expects 'accept' or 'reject' in frontend 'f' (got 'drop')",
      "parsing [t.cfg:17] : 'tcp-request content' expects 'accept' or 'reject' in frontend 'f' (got 'drop')",
      "parsing [t.cfg:18] : error detected while parsing switching rule : predefined ACL 'HTTP' is not supported yet (it needs HTTP or content inspection).",
      "parsing [t.cfg:19] : unexpected keyword 'when' after switching rule, only 'if' and 'unless' are allowed.",
    ]);
  });

  it('reads ACL values from a file with -f', () => {
    const config = parseConfig([{ name: 't.cfg', text: `${DEFAULTS}frontend f\n    bind :1\n    acl allowed src -f /lists/allow.lst\n    default_backend b\nbackend b\n    server s 127.0.0.1:1\n` }], {
      readFile: (path) => {
        expect(path).toBe('/lists/allow.lst');
        return '# allowed networks\n10.0.0.0/8\n\n   192.168.0.0/16\n';
      },
    });
    const test = proxy(config, 'f').acls.get('allowed')?.tests[0];
    if (test?.fetch !== 'src') throw new Error('src');
    expect(test.match.ips.map((p) => p.text)).toEqual(['10.0.0.0/8', '192.168.0.0/16']);
  });

  it("warns about a tcp-request rule after a use_backend rule, as HAProxy", () => {
    expect(warnings(`${DEFAULTS}frontend f\n    bind :1\n    use_backend b\n    tcp-request connection accept\nbackend b\n    server s 127.0.0.1:1\n`)).toEqual([
      "parsing [t.cfg:8] : a 'tcp-request' rule placed after a 'use_backend' rule will still be processed before.",
    ]);
  });
});

describe('line-level rules', () => {
  it('expands environment variables in double quotes', () => {
    const config = parse(`${DEFAULTS}listen l\n    bind "127.0.0.1:\${PORT}" "\${OPTS[*]}"\n    server s "\${BACKEND-127.0.0.1:9}"\n`, { PORT: '10123', OPTS: 'tfo backlog 7' });
    const l = proxy(config, 'l');
    expect(l.binds[0]?.addresses.map(String)).toEqual(['127.0.0.1:10123']);
    expect([l.binds[0]?.bind.tfo, l.binds[0]?.bind.backlog]).toEqual([true, 7]);
    expect(l.servers[0]?.address.text).toBe('127.0.0.1:9');
  });

  it('refuses a word that expands to nothing', () => {
    expect(alerts('global\n    maxconn "${NOT_SET}"\n')).toEqual([
      'parsing [t.cfg:2]: argument number 1 at position 13 is empty and marks the end of the argument list:\n' +
        '  maxconn "${NOT_SET}"\n          ^\n' +
        'If this is caused by an environment variable expansion, please have a look at section 2.3 of the configuration manual to find solutions to address this.',
    ]);
  });

  it('keeps going after a tokenizer error and reports every one', () => {
    expect(alerts('global\n    maxconn "1\n    ulimit-n \'2\n    nbthread 1\n')).toEqual([
      'parsing [t.cfg:2]: unmatched quote at position 13:\n  maxconn "1\n          ^',
      "parsing [t.cfg:3]: unmatched quote at position 14:\n  ulimit-n '2\n           ^",
    ]);
  });
});

describe('conditional blocks', () => {
  it('takes the branch whose condition holds', () => {
    const text = `.if defined(EPOXY_A)
global
    maxconn 1
.elif streq("$EPOXY_B",yes) && version_atleast(2.4)
global
    maxconn 2
.else
global
    maxconn 3
.endif
`;
    expect(parse(text, { EPOXY_A: '' }).global.maxconn).toBe(1);
    expect(parse(text, { EPOXY_B: 'yes' }).global.maxconn).toBe(2);
    expect(parse(text).global.maxconn).toBe(3);
  });

  it('nests, and drops inner blocks of a dropped block', () => {
    const text = `global
.if 0
  .if 1
    maxconn 1
  .else
    maxconn 2
  .endif
.elif !feature(OPENSSL) && (version_before(3.0) || 0)
  .if strneq(a,b)
    maxconn 3
  .endif
.endif
`;
    expect(parse(text).global.maxconn).toBe(3);
  });

  it('reports the directives with messages', () => {
    const result = read('.warning "check me"\n.notice "fyi"\n.diag "quiet"\nglobal\n');
    expect(result.warnings.map((w) => `${w.severity} ${w.message}`)).toEqual(["warning parsing [t.cfg:1]: 'check me'.", "notice parsing [t.cfg:2]: 'fyi'."]);
    expect(alerts('.alert "stop here"\nbogus\n')).toEqual(["parsing [t.cfg:1]: 'stop here'."]);
  });

  it('refuses unbalanced blocks and bad conditions', () => {
    expect(alerts('.if 1\nglobal\n')).toEqual(["parsing [t.cfg:2]: non-terminated '.if' block."]);
    expect(alerts('.endif\n')).toEqual(["parsing [t.cfg:1]: lone '.endif' with no matching '.if'."]);
    expect(alerts('.if 1\n.else\n.elif 1\n.endif\n')).toEqual(["parsing [t.cfg:3]: '.elif' after '.else' is not permitted."]);
    expect(alerts('.if nope(1)\n.endif\n')[0]).toMatch(/^parsing \[t\.cfg:1\]: unknown predicate 'nope' in conditional expression in '\.if'/);
    expect(alerts('.foo\n')).toEqual(["parsing [t.cfg:1]: unknown directive '.foo'."]);
  });
});

describe('files and directories', () => {
  const dir = mkdtempSync(join(tmpdir(), 'epoxy-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads a directory's .cfg files in byte order, as HAProxy", () => {
    const d = join(dir, 'conf.d');
    mkdirSync(d);
    mkdirSync(join(d, 'sub.cfg'));
    writeFileSync(join(d, 'sub.cfg', 'inner.cfg'), 'global\n    maxconn 999\n');
    writeFileSync(join(d, 'B-backends.cfg'), `backend b\n    server s 127.0.0.1:1\n`);
    writeFileSync(join(d, 'a-defaults.cfg'), DEFAULTS);
    writeFileSync(join(d, '.hidden.cfg'), 'bogus\n');
    writeFileSync(join(d, 'notes.txt'), 'bogus\n');
    writeFileSync(join(d, 'old.cfg.bak'), 'bogus\n');
    writeFileSync(join(d, 'twice.cfg.cfg'), 'bogus\n');
    const result = readConfig([d]);
    expect(result.errors).toEqual([]);
    expect(result.config.files).toEqual([join(d, 'B-backends.cfg'), join(d, 'a-defaults.cfg')]);
    // B-backends.cfg comes first (byte order), so its backend has no defaults yet.
    expect(result.warnings.map((w) => w.message)).toEqual([
      `[${join(d, 'B-backends.cfg')}:1] : missing timeouts for backend 'b'.\n` +
        '   | While not properly invalid, you will certainly encounter various problems\n' +
        '   | with such a configuration. To fix this, please ensure that all following\n' +
        "   | timeouts are set to a non-zero value: 'client', 'connect', 'server'.",
    ]);
  });

  it('mixes files and directories, in the order given', () => {
    const file = join(dir, 'global.cfg');
    writeFileSync(file, 'global\n    maxconn 77\n');
    const result = readConfig([file, join(dir, 'conf.d')]);
    expect(result.config.files[0]).toBe(file);
    expect(result.config.global.maxconn).toBe(77);
  });

  it('reports a missing file or directory', () => {
    const missing = join(dir, 'missing.cfg');
    expect(readConfig([missing]).errors.map((e) => e.message)).toEqual([`Cannot open configuration file/directory ${missing} : No such file or directory`]);
  });

  it('refuses a file without a final newline, and stops at a NUL byte, as HAProxy', () => {
    const noLf = join(dir, 'nolf.cfg');
    writeFileSync(noLf, 'global\n    maxconn 10');
    expect(readConfig([noLf]).errors.map((e) => e.message)).toEqual([
      `parsing [${noLf}:2]: Missing LF on last line, file might have been truncated at position 15.`,
    ]);
    const nul = join(dir, 'nul.cfg');
    writeFileSync(nul, 'global\n    maxconn 10\0 x\n    bogus\n');
    const result = readConfig([nul]);
    expect(result.errors.map((e) => e.message)).toEqual([`parsing [${nul}:2]: Stray NUL character at position 15.`]);
    expect(result.config.global.maxconn).toBe(10);
  });

  it('collects every error of every file in one ConfigError', () => {
    const a = join(dir, 'bad-a.cfg');
    const b = join(dir, 'bad-b.cfg');
    writeFileSync(a, 'global\n    daemn\n');
    writeFileSync(b, 'global\n    maxconn x\n');
    let caught: unknown;
    try {
      parseConfig([a, b]);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const error = caught as ConfigError;
    expect(error.code).toBe(ErrorCodes.CONFIG);
    expect([error.file, error.line, error.column, error.keyword]).toEqual([a, 2, 5, 'daemn']);
    expect(error.errors.map((e) => [e.file, e.line, e.keyword])).toEqual([
      [a, 2, 'daemn'],
      [b, 2, 'maxconn'],
    ]);
    expect(error.message.split('\n')).toEqual([
      `parsing [${a}:2] : unknown keyword 'daemn' in 'global' section; did you mean 'daemon' maybe ?`,
      `parsing [${b}:2] : 'maxconn' expects an integer argument (got 'x').`,
    ]);
  });
});

describe('server port mapping', () => {
  it('accepts a numeric address without a port or with a +N/-N offset', () => {
    const config = parseConfig([
      {
        name: 'map.cfg',
        text: 'backend b\n    server same 10.0.0.1\n    server up 10.0.0.1:+1000\n    server down [2001:db8::1]:-1\n    server any 0.0.0.0\n    server fixed 10.0.0.1:80\n',
      },
    ]);
    const offsets = config.proxies[0]!.servers.map((s) => (s.address.kind === 'address' ? s.address.portOffset : 'host'));
    expect(offsets).toEqual([0, 1000, -1, 0, null]);
  });
});
