/**
 * Run-time resolution, as configured: the `resolvers` section, the server keywords `resolvers`,
 * `resolve-prefer`, `resolve-net`, `resolve-opts` and `init-addr`, `server-template`, and the
 * checks that tie them together. Comments quote HAProxy 2.6.12 (`haproxy -c -f x.cfg`) on the
 * same input where epoxy follows its wording.
 */
import { describe, expect, it } from 'vitest';
import {
  MAX_TEMPLATE_SLOTS,
  RESOLV_CONF,
  isSrvRecordName,
  parseConfig,
  readConfig,
  type Config,
  type ProxyConfig,
  type ResolversConfig,
  type ServerConfig,
} from '../../src/config/index.js';

/** The /etc/resolv.conf the tests see, unless a test gives its own. */
const RESOLV_TEXT = '# written by hand\nsearch example.com\nnameserver 192.0.2.53\nnameserver 2001:db8::53\noptions ndots:2\n';

/** Reads /etc/resolv.conf from `resolvConf` (null: the file cannot be read). */
function reader(resolvConf: string | null): (path: string) => string {
  return (path) => {
    if (path !== RESOLV_CONF) throw new Error(`unexpected read of ${path}`);
    if (resolvConf === null) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
    return resolvConf;
  };
}

const read = (text: string, resolvConf: string | null = RESOLV_TEXT) => readConfig([{ name: 't.cfg', text }], { env: {}, readFile: reader(resolvConf) });
const alerts = (text: string, resolvConf: string | null = RESOLV_TEXT): string[] => read(text, resolvConf).errors.map((e) => e.message);
const warnings = (text: string, resolvConf: string | null = RESOLV_TEXT): string[] => read(text, resolvConf).warnings.map((w) => w.message);
const parse = (text: string, resolvConf: string | null = RESOLV_TEXT): Config => parseConfig([{ name: 't.cfg', text }], { env: {}, readFile: reader(resolvConf) });

/** Timeouts every proxy needs to avoid HAProxy's "missing timeouts" warning (lines 1-4). */
const DEFAULTS = `defaults
    timeout connect 5s
    timeout client 30s
    timeout server 30s
`;

/** DEFAULTS then a resolvers section `dns` with one nameserver (lines 5-6). */
const WITH_DNS = `${DEFAULTS}resolvers dns
    nameserver ns1 127.0.0.1:53
`;

function resolvers(config: Config, name: string): ResolversConfig {
  const found = config.resolvers.find((r) => r.name === name);
  if (found === undefined) throw new Error(`no resolvers ${name}`);
  return found;
}

function proxy(config: Config, name: string): ProxyConfig {
  const found = config.proxies.find((p) => p.name === name);
  if (found === undefined) throw new Error(`no proxy ${name}`);
  return found;
}

function server(config: Config, proxyName: string, name: string): ServerConfig {
  const found = proxy(config, proxyName).servers.find((s) => s.name === name);
  if (found === undefined) throw new Error(`no server ${proxyName}/${name}`);
  return found;
}

/** The nameservers of a section as 'name=address' texts. */
const nameservers = (section: ResolversConfig): string[] => section.nameservers.map((ns) => `${ns.name}=${ns.address.toString()}`);

describe('the resolvers section', () => {
  it('reads every keyword into the model, with its location', () => {
    const config = parse(`resolvers mydns
    nameserver dns1 10.0.0.1:53
    nameserver dns2 [2001:db8::2]:5353
    nameserver dns3 udp@10.0.0.3:53
    nameserver dns4 ipv6@::1:53
    hold nx 10s
    hold refused 11s
    hold timeout 12s
    hold other 13s
    hold valid 14s
    hold obsolete 15s
    resolve_retries 5
    timeout resolve 2s
    timeout retry 300ms
    accepted_payload_size 8192
`);
    const section = resolvers(config, 'mydns');
    expect(section.where).toEqual({ file: 't.cfg', line: 1, column: 1 });
    expect(nameservers(section)).toEqual(['dns1=10.0.0.1:53', 'dns2=[2001:db8::2]:5353', 'dns3=10.0.0.3:53', 'dns4=[::1]:53']);
    expect(section.nameservers[1]!.where).toEqual({ file: 't.cfg', line: 3, column: 5 });
    expect(section.hold).toEqual({ nx: 10_000, refused: 11_000, timeout: 12_000, other: 13_000, valid: 14_000, obsolete: 15_000 });
    expect([section.resolveRetries, section.timeoutResolve, section.timeoutRetry, section.acceptedPayloadSize]).toEqual([5, 2000, 300, 8192]);
  });

  it("has HAProxy 2.6's defaults", () => {
    const section = resolvers(parse('resolvers dns\n    nameserver ns1 127.0.0.1:53\n'), 'dns');
    expect(section.hold).toEqual({ nx: 30_000, refused: 30_000, timeout: 30_000, other: 30_000, valid: 10_000, obsolete: 0 });
    expect([section.resolveRetries, section.timeoutResolve, section.timeoutRetry, section.acceptedPayloadSize]).toEqual([3, 1000, 1000, 512]);
  });

  it('keeps the sections in declaration order, next to the proxies', () => {
    const config = parse(`${DEFAULTS}resolvers a\n    nameserver n 127.0.0.1:53\nbackend be\n    server s 127.0.0.1:80\nresolvers b\n    nameserver n 127.0.0.2:53\n`);
    expect(config.resolvers.map((r) => r.name)).toEqual(['a', 'b']);
    expect(config.proxies.map((p) => p.name)).toEqual(['be']);
  });

  it('warns about a section without nameservers, as HAProxy', () => {
    // HAProxy: "[WARNING] config : resolvers 'dns' [empty.cfg:6] has no nameservers configured!"
    const result = read('resolvers dns\n    hold valid 5s\n');
    expect(result.errors).toEqual([]);
    expect(result.warnings.map((w) => w.message)).toEqual(["resolvers 'dns' [t.cfg:1] has no nameservers configured!"]);
  });

  it('refuses a missing, invalid or repeated section name', () => {
    // HAProxy: "parsing [r6.cfg:6] : missing name for resolvers section."
    expect(alerts('resolvers\n    nameserver ns1 127.0.0.1:53\n')).toEqual(['parsing [t.cfg:1] : missing name for resolvers section.']);
    // HAProxy: "parsing [r7.cfg:6] : character '/' is not permitted in 'resolvers' name 'd/ns'."
    expect(alerts('resolvers d/ns\n')).toEqual(["parsing [t.cfg:1] : character '/' is not permitted in 'resolvers' name 'd/ns'."]);
    // HAProxy: "Parsing [dupsec.cfg:8]: resolvers 'dns' has same name as another resolvers (declared at dupsec.cfg:6)."
    // (then a spurious "out of memory." and it stops reading). The second section's lines are
    // skipped: its nameserver does not clash with the first section's.
    expect(alerts('resolvers dns\n    nameserver ns1 127.0.0.1:53\nresolvers dns\n    nameserver ns1 127.0.0.1:53\n')).toEqual([
      "Parsing [t.cfg:3]: resolvers 'dns' has same name as another resolvers (declared at t.cfg:1).",
    ]);
    expect(alerts('resolvers dns extra\n    nameserver ns1 127.0.0.1:53\n')).toEqual(["parsing [t.cfg:1] : 'resolvers' cannot handle unexpected argument 'extra'."]);
  });

  it('refuses an unknown keyword, naming the file, the line and the keyword', () => {
    // HAProxy: "parsing [unknown.cfg:8] : unknown keyword 'foo' in 'resolvers' section"
    expect(alerts('resolvers dns\n    nameserver ns1 127.0.0.1:53\n    foo bar\n')).toEqual(["parsing [t.cfg:3] : unknown keyword 'foo' in 'resolvers' section"]);
    const [error] = read('resolvers dns\n    nameserver ns1 127.0.0.1:53\n    nameservr ns2 127.0.0.1:53\n').errors;
    expect([error!.file, error!.line, error!.keyword]).toEqual(['t.cfg', 3, 'nameservr']);
    expect(error!.message).toBe("parsing [t.cfg:3] : unknown keyword 'nameservr' in 'resolvers' section; did you mean 'nameserver' maybe ?");
    // A proxy keyword does not belong here either, and a section keyword ends the section.
    expect(alerts(`resolvers dns\n    nameserver ns1 127.0.0.1:53\n    balance roundrobin\n${DEFAULTS}`)).toEqual([
      "parsing [t.cfg:3] : unknown keyword 'balance' in 'resolvers' section",
    ]);
    // HAProxy: "parsing [r10.cfg:21] : 'resolution_pool_size' directive is not supported anymore (it never appeared in a stable release)."
    expect(alerts('resolvers dns\n    nameserver ns1 127.0.0.1:53\n    resolution_pool_size 10\n')).toEqual([
      "parsing [t.cfg:3] : 'resolution_pool_size' directive is not supported anymore (it never appeared in a stable release).",
    ]);
  });
});

describe('nameserver', () => {
  const line = (rest: string) => alerts(`resolvers dns\n    nameserver ${rest}\n`);

  it("refuses bad names and addresses with HAProxy's words", () => {
    // HAProxy: "parsing [r3.cfg:7] : 'nameserver' expects <name> and <addr>[:<port>] as arguments."
    expect(line('ns1')).toEqual(["parsing [t.cfg:2] : 'nameserver' expects <name> and <addr>[:<port>] as arguments."]);
    // HAProxy: "parsing [r5.cfg:7] : character '/' is not permitted in server name 'n/s1'."
    expect(line('n/s1 127.0.0.1:53')).toEqual(["parsing [t.cfg:2] : character '/' is not permitted in server name 'n/s1'."]);
    // HAProxy: "parsing [r1.cfg:7] : 'nameserver ns1' : missing port specification in '127.0.0.1'"
    expect(line('ns1 127.0.0.1')).toEqual(["parsing [t.cfg:2] : 'nameserver ns1' : missing port specification in '127.0.0.1'"]);
    expect(line('ns1 [::1]')).toEqual(["parsing [t.cfg:2] : 'nameserver ns1' : missing port specification in '[::1]'"]);
    expect(line('ns1 127.0.0.1:')).toEqual(["parsing [t.cfg:2] : 'nameserver ns1' : missing port specification in '127.0.0.1:'"]);
    // HAProxy: "parsing [r4.cfg:7] : 'nameserver ns1' : invalid port '99999'"
    expect(line('ns1 127.0.0.1:99999')).toEqual(["parsing [t.cfg:2] : 'nameserver ns1' : invalid port '99999'"]);
    expect(line('ns1 127.0.0.1:0')).toEqual(["parsing [t.cfg:2] : 'nameserver ns1' : invalid port '0'"]);
    // HAProxy: "... 'nameserver a' : invalid character 'a' in port number 'abc' in '127.0.0.1:abc'"
    expect(line('ns1 127.0.0.1:abc')).toEqual(["parsing [t.cfg:2] : 'nameserver ns1' : invalid character 'a' in port number 'abc' in '127.0.0.1:abc'"]);
    // HAProxy: "... port range not permitted here in '127.0.0.1:53-54'", "... port offset not permitted here in '127.0.0.1:+1'"
    expect(line('ns1 127.0.0.1:53-54')).toEqual(["parsing [t.cfg:2] : 'nameserver ns1' : port range not permitted here in '127.0.0.1:53-54'"]);
    expect(line('ns1 127.0.0.1:+1')).toEqual(["parsing [t.cfg:2] : 'nameserver ns1' : port offset not permitted here in '127.0.0.1:+1'"]);
    // HAProxy resolves a name here (and says "invalid address: 'no.such.host.invalid' in ..." when it cannot).
    expect(line('ns1 localhost:53')).toEqual([
      "parsing [t.cfg:2] : 'nameserver ns1' : invalid address: 'localhost' in 'localhost:53' (host names are not resolved in 'nameserver': write an address)",
    ]);
    expect(line('ns1 ipv4@[::1]:53')).toEqual(["parsing [t.cfg:2] : 'nameserver ns1' : invalid address: '::1' in 'ipv4@[::1]:53' (not an IPv4 address)"]);
  });

  it('takes UDP nameservers only', () => {
    // HAProxy 2.6 takes `tcp@` (DNS over TCP, with server options after the address).
    expect(line('dns3 tcp@10.0.0.3:53')).toEqual([
      "parsing [t.cfg:2] : 'nameserver dns3' : 'tcp@10.0.0.3:53' is a TCP address: only UDP nameservers are supported (TCP nameservers are not supported yet).",
    ]);
    expect(line('dns3 tcp6@[::1]:53')[0]).toContain('only UDP nameservers are supported');
    expect(line('dns3 unix@/run/dns.sock')).toEqual([
      "parsing [t.cfg:2] : 'nameserver dns3' : address prefix 'unix@' is not supported for a nameserver in 'unix@/run/dns.sock': only UDP nameservers (IPv4 or IPv6) are supported.",
    ]);
    // Server options only apply to TCP nameservers (HAProxy ignores them on a UDP one).
    expect(line('dns3 10.0.0.3:53 maxconn 10')).toEqual(["parsing [t.cfg:2] : 'nameserver' cannot handle unexpected argument 'maxconn'."]);
  });

  it('refuses a name used twice in the section, naming the first', () => {
    // HAProxy: "Parsing [dupns.cfg:8]: nameserver 'ns1' has same name as another nameserver (declared at dupns.cfg:7)."
    expect(alerts('resolvers dns\n    nameserver ns1 127.0.0.1:53\n    nameserver ns1 127.0.0.2:53\n')).toEqual([
      "Parsing [t.cfg:3]: nameserver 'ns1' has same name as another nameserver (declared at t.cfg:2).",
    ]);
    // The same name in two sections is fine.
    expect(alerts('resolvers a\n    nameserver ns1 127.0.0.1:53\nresolvers b\n    nameserver ns1 127.0.0.1:53\n')).toEqual([]);
  });
});

describe('parse-resolv-conf', () => {
  it("adds /etc/resolv.conf's nameservers where it stands, named after their address, port 53", () => {
    const config = parse('resolvers dns\n    nameserver first 127.0.0.1:53\n    parse-resolv-conf\n    nameserver last 127.0.0.2:53\n');
    const section = resolvers(config, 'dns');
    expect(nameservers(section)).toEqual(['first=127.0.0.1:53', '192.0.2.53=192.0.2.53:53', '2001:db8::53=[2001:db8::53]:53', 'last=127.0.0.2:53']);
    expect(section.nameservers[1]!.where).toEqual({ file: RESOLV_CONF, line: 3, column: 1 });
    expect(section.nameservers[2]!.where.line).toBe(4);
  });

  it('reads the lines HAProxy reads: the word at the start of the line, the first word after it', () => {
    const text = [
      'nameserver 192.0.2.1 # first',
      '  nameserver 192.0.2.2',
      '#nameserver 192.0.2.3',
      'nameservers 192.0.2.4',
      'nameserver\t192.0.2.5\r',
      'nameserver',
      'nameserver dns.example.com',
      'nameserver 192.0.2.1',
    ].join('\n');
    const result = read('resolvers dns\n    parse-resolv-conf\n', text);
    expect(nameservers(resolvers(result.config, 'dns'))).toEqual(['192.0.2.1=192.0.2.1:53', '192.0.2.5=192.0.2.5:53']);
    // HAProxy gathers these in one warning, one line each:
    // "parsing [p2.cfg:9]: \n        Parsing [/etc/resolv.conf:1] : generated name for ... will be excluded.\n ..."
    expect(result.warnings.map((w) => w.message)).toEqual([
      'parsing [t.cfg:2]: parsing [/etc/resolv.conf:6] : nameserver line is missing address.',
      "parsing [t.cfg:2]: parsing [/etc/resolv.conf:7] : address 'dns.example.com' could not be recognized, nameserver will be excluded.",
      "parsing [t.cfg:2]: Parsing [/etc/resolv.conf:8] : generated name for /etc/resolv.conf nameserver '192.0.2.1' conflicts with another nameserver (declared at /etc/resolv.conf:1), it appears to be a duplicate and will be excluded.",
    ]);
    expect(result.errors).toEqual([]);
  });

  it('leaves out, with a warning, a nameserver whose name the section already has', () => {
    // HAProxy: "parsing [p1.cfg:8]: Parsing [/etc/resolv.conf:1] : generated name for /etc/resolv.conf
    // nameserver '10.255.255.53' conflicts with another nameserver (declared at p1.cfg:7), it appears
    // to be a duplicate and will be excluded."
    const result = read('resolvers dns\n    nameserver 192.0.2.53 127.0.0.1:53\n    parse-resolv-conf\n');
    expect(nameservers(resolvers(result.config, 'dns'))).toEqual(['192.0.2.53=127.0.0.1:53', '2001:db8::53=[2001:db8::53]:53']);
    expect(result.warnings.map((w) => w.message)).toEqual([
      "parsing [t.cfg:3]: Parsing [/etc/resolv.conf:3] : generated name for /etc/resolv.conf nameserver '192.0.2.53' conflicts with another nameserver (declared at t.cfg:2), it appears to be a duplicate and will be excluded.",
    ]);
    // A nameserver line after it clashes with the generated name: an error, as in HAProxy
    // ("Parsing [p2.cfg:8]: nameserver '10.255.255.53' has same name as another nameserver (declared at /etc/resolv.conf:1).").
    expect(alerts('resolvers dns\n    parse-resolv-conf\n    nameserver 192.0.2.53 127.0.0.1:53\n')).toEqual([
      "Parsing [t.cfg:3]: nameserver '192.0.2.53' has same name as another nameserver (declared at /etc/resolv.conf:3).",
    ]);
  });

  it('fails when /etc/resolv.conf cannot be read, and takes no argument', () => {
    // HAProxy: "parsing [x.cfg:7]: failed to open /etc/resolv.conf."
    expect(alerts('resolvers dns\n    parse-resolv-conf\n', null)).toEqual(['parsing [t.cfg:2]: failed to open /etc/resolv.conf.']);
    expect(alerts('resolvers dns\n    nameserver ns1 127.0.0.1:53\n    parse-resolv-conf now\n')).toEqual([
      "parsing [t.cfg:3] : 'parse-resolv-conf' cannot handle unexpected argument 'now'.",
    ]);
  });
});

describe('hold, resolve_retries, timeout, accepted_payload_size', () => {
  const line = (text: string) => alerts(`resolvers dns\n    nameserver ns1 127.0.0.1:53\n    ${text}\n`);

  it("refuses bad hold lines with HAProxy's words", () => {
    // HAProxy prints a second alert: "<event> can be either 'valid', 'nx', 'refused', 'timeout', or 'other'".
    const expects = "parsing [t.cfg:3] : 'hold' expects an <event> and a <time> as arguments. <event> can be either 'valid', 'nx', 'refused', 'timeout', 'obsolete' or 'other'.";
    expect(line('hold')).toEqual([expects]);
    expect(line('hold nx')).toEqual([expects]);
    // HAProxy: "parsing [r8.cfg:10] : 'hold' unknown <event>: 'foo', expects either 'nx', 'timeout', 'valid', 'obsolete' or 'other'."
    expect(line('hold foo 10s')).toEqual(["parsing [t.cfg:3] : 'hold' unknown <event>: 'foo', expects either 'nx', 'timeout', 'valid', 'obsolete' or 'other'."]);
    // HAProxy: "parsing [r8.cfg:11]: unexpected character 'x' in argument to <hold>."
    expect(line('hold nx 10x')).toEqual(["parsing [t.cfg:3]: unexpected character 'x' in argument to <hold>."]);
    // HAProxy names the event where it means the value: "parsing [r8.cfg:12]: timer overflow in
    // argument <nx> to <hold>, maximum value is 2147483647 ms (~24.8 days)."
    expect(line('hold nx 99999999999')).toEqual(["parsing [t.cfg:3]: timer overflow in argument <nx> to <hold>, maximum value is 2147483647 ms (~24.8 days)."]);
    expect(line('hold nx 1us')).toEqual([]);
    // HAProxy ignores the extra word, and would hold for 10 ms.
    expect(line('hold nx 10 s')).toEqual(["parsing [t.cfg:3] : 'hold nx' cannot handle unexpected argument 's'."]);
  });

  it('wants resolve_retries to be a count of at least 1', () => {
    // HAProxy: "parsing [r9.cfg:8] : 'resolve_retries' expects <nb> as argument."
    expect(line('resolve_retries')).toEqual(["parsing [t.cfg:3] : 'resolve_retries' expects <nb> as argument."]);
    // HAProxy takes all of these (atoi()).
    expect(line('resolve_retries 0')).toEqual(["parsing [t.cfg:3] : 'resolve_retries' expects a number of queries from 1 to 2147483647 (got '0')."]);
    expect(line('resolve_retries abc')).toEqual(["parsing [t.cfg:3] : 'resolve_retries' expects a number of queries from 1 to 2147483647 (got 'abc')."]);
    expect(line('resolve_retries -1')).toHaveLength(1);
    expect(line('resolve_retries 5 6')).toEqual(["parsing [t.cfg:3] : 'resolve_retries' cannot handle unexpected argument '6'."]);
  });

  it("refuses bad timeouts with HAProxy's words", () => {
    // HAProxy: "parsing [r10.cfg:8] : 'timeout' expects 'retry' or 'resolve' and <time> as arguments."
    expect(line('timeout')).toEqual(["parsing [t.cfg:3] : 'timeout' expects 'retry' or 'resolve' and <time> as arguments."]);
    // HAProxy: "parsing [r10.cfg:9] : 'timeout' expects 'retry' or 'resolve' and <time> as arguments got 'foo'."
    expect(line('timeout foo 1s')).toEqual(["parsing [t.cfg:3] : 'timeout' expects 'retry' or 'resolve' and <time> as arguments got 'foo'."]);
    // HAProxy: "parsing [r10.cfg:10] : 'timeout retry' expects <time> as argument."
    expect(line('timeout retry')).toEqual(["parsing [t.cfg:3] : 'timeout retry' expects <time> as argument."]);
    // HAProxy: "parsing [r10.cfg:11]: unexpected character 'x' in argument to <timeout retry>."
    expect(line('timeout retry 1x')).toEqual(["parsing [t.cfg:3]: unexpected character 'x' in argument to <timeout retry>."]);
    // HAProxy: "parsing [r10.cfg:12]: timer overflow in argument <99999999999> to <timeout resolve>, maximum value is 2147483647 ms (~24.8 days)."
    expect(line('timeout resolve 99999999999')).toEqual([
      'parsing [t.cfg:3]: timer overflow in argument <99999999999> to <timeout resolve>, maximum value is 2147483647 ms (~24.8 days).',
    ]);
    // HAProxy takes 0 (and then never pauses) and ignores the extra word.
    expect(line('timeout retry 0')).toEqual(["parsing [t.cfg:3] : 'timeout retry' expects a non-zero time (got '0')."]);
    expect(line('timeout resolve 1s 2s')).toEqual(["parsing [t.cfg:3] : 'timeout resolve' cannot handle unexpected argument '2s'."]);
    const [error] = read('resolvers dns\n    nameserver ns1 127.0.0.1:53\n    timeout retry 1x\n').errors;
    expect(error!.keyword).toBe('timeout retry');
  });

  it('wants accepted_payload_size from 512 to 65535', () => {
    // HAProxy: "parsing [r10.cfg:15] : 'accepted_payload_size' expects <nb> as argument."
    expect(line('accepted_payload_size')).toEqual(["parsing [t.cfg:3] : 'accepted_payload_size' expects <nb> as argument."]);
    // HAProxy: "parsing [r10.cfg:17] : 'accepted_payload_size' must be between 12 and 65535 inclusive (was 65536)."
    // (it takes 12 to 511, below RFC 6891's minimum).
    expect(line('accepted_payload_size 65536')).toEqual(["parsing [t.cfg:3] : 'accepted_payload_size' must be between 512 and 65535 inclusive (was 65536)."]);
    expect(line('accepted_payload_size 511')).toEqual(["parsing [t.cfg:3] : 'accepted_payload_size' must be between 512 and 65535 inclusive (was 511)."]);
    expect(line('accepted_payload_size abc')).toEqual(["parsing [t.cfg:3] : 'accepted_payload_size' must be between 512 and 65535 inclusive (was abc)."]);
    expect(line('accepted_payload_size 512')).toEqual([]);
    expect(line('accepted_payload_size 65535')).toEqual([]);
  });
});

describe('server keywords', () => {
  const backend = (options: string) => `${WITH_DNS}backend be\n    server s1 app.example.com:80 ${options}\n`;

  it('reads resolvers, resolve-prefer, resolve-net, resolve-opts and init-addr', () => {
    const s = server(
      parse(backend('resolvers dns resolve-prefer ipv4 resolve-net 10.0.0.0/8,192.168.0.0/255.255.0.0,fd00::/8 resolve-opts allow-dup-ip,ignore-weight init-addr last,libc,none,192.0.2.1')),
      'be',
      's1',
    );
    expect(s.resolvers).toBe('dns');
    expect(s.resolvePrefer).toBe('ipv4');
    expect(s.resolveNet.map((n) => `${n.address}/${n.prefix}`)).toEqual(['10.0.0.0/8', '192.168.0.0/16', 'fd00::/8']);
    expect(s.resolveOpts).toEqual({ allowDupIp: true, ignoreWeight: true });
    expect(s.initAddr.map((m) => (m.kind === 'ip' ? `ip ${m.address.address}` : m.kind))).toEqual(['last', 'libc', 'none', 'ip 192.0.2.1']);
    expect(s.origin['resolvers']).toEqual({ file: 't.cfg', line: 8, column: 5 });
  });

  it('has the defaults of HAProxy', () => {
    const s = server(parse(`${DEFAULTS}backend be\n    server s1 app.example.com:80\n`), 'be', 's1');
    expect([s.resolvers, s.resolvePrefer, s.resolveNet, s.resolveOpts]).toEqual([null, 'ipv6', [], { allowDupIp: false, ignoreWeight: false }]);
    expect(s.initAddr).toEqual([{ kind: 'last' }, { kind: 'libc' }]);
  });

  it('takes them from default-server, a server line overriding or (resolve-net) adding', () => {
    const config = parse(`${WITH_DNS}backend be
    default-server resolvers dns resolve-prefer ipv4 resolve-net 10.0.0.0/8 resolve-opts allow-dup-ip init-addr none
    server s1 a.example.com:80
    server s2 b.example.com:80 resolve-prefer ipv6 resolve-net 192.168.0.0/16 resolve-opts prevent-dup-ip,ignore-weight init-addr libc
`);
    const s1 = server(config, 'be', 's1');
    const s2 = server(config, 'be', 's2');
    expect([s1.resolvers, s1.resolvePrefer, s1.resolveOpts, s1.initAddr]).toEqual(['dns', 'ipv4', { allowDupIp: true, ignoreWeight: false }, [{ kind: 'none' }]]);
    expect(s1.resolveNet.map((n) => n.text)).toEqual(['10.0.0.0/8']);
    expect([s2.resolvers, s2.resolvePrefer, s2.resolveOpts, s2.initAddr]).toEqual(['dns', 'ipv6', { allowDupIp: false, ignoreWeight: true }, [{ kind: 'libc' }]]);
    // HAProxy adds a server's networks to default-server's (srv_parse_resolve_net() appends).
    expect(s2.resolveNet.map((n) => n.text)).toEqual(['10.0.0.0/8', '192.168.0.0/16']);
    // The second server's options did not leak into default-server or the first server.
    expect(proxy(config, 'be').defaultServer.resolveOpts).toEqual({ allowDupIp: true, ignoreWeight: false });
  });

  it("refuses bad values with HAProxy's words, on server lines and default-server alike", () => {
    const subject = "[t.cfg:8] : 'server be/s1' :";
    // HAProxy: "[s_resolve-prefer_ipv5.cfg:9] : 'server be/s1' : 'resolve-prefer' expects either ipv4 or ipv6 as argument.."
    expect(alerts(backend('resolve-prefer ipv5'))).toEqual([`${subject} 'resolve-prefer' expects either ipv4 or ipv6 as argument.`]);
    expect(alerts(backend('resolve-prefer'))).toEqual([`${subject} 'resolve-prefer' expects either ipv4 or ipv6 as argument.`]);
    // HAProxy: "... 'resolve-net' expects a list of networks.."
    expect(alerts(backend('resolve-net'))).toEqual([`${subject} 'resolve-net' expects a list of networks.`]);
    // HAProxy: "... 'resolve-net' invalid network 'foo'..", "... invalid network ''..", "... invalid network '10/8'.."
    expect(alerts(backend('resolve-net 10.0.0.0/8,foo'))).toEqual([`${subject} 'resolve-net' invalid network 'foo'.`]);
    expect(alerts(backend('resolve-net 10.0.0.0/8,,192.168.0.0/16'))).toEqual([`${subject} 'resolve-net' invalid network ''.`]);
    expect(alerts(backend('resolve-net 10.0.0.0/33'))).toEqual([`${subject} 'resolve-net' invalid network '10.0.0.0/33'.`]);
    expect(alerts(backend('resolve-net fe80::/10,10/8'))).toEqual([`${subject} 'resolve-net' invalid network '10/8'.`]);
    expect(alerts(backend('resolve-net 10.0.0.0/8,'))).toEqual([]);
    expect(alerts(backend('resolve-net 10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4,10.0.0.5,10.0.0.6'))).toEqual([`${subject} 'resolve-net' exceed 5 networks.`]);
    // HAProxy: "... 'resolve-opts' : unknown resolve-opts option 'foo', supported methods are 'allow-dup-ip', 'ignore-weight', and 'prevent-dup-ip'.."
    expect(alerts(backend('resolve-opts foo'))).toEqual([
      `${subject} 'resolve-opts' : unknown resolve-opts option 'foo', supported methods are 'allow-dup-ip', 'ignore-weight', and 'prevent-dup-ip'.`,
    ]);
    expect(alerts(backend('resolve-opts allow-dup-ip,,ignore-weight'))[0]).toContain("unknown resolve-opts option ''");
    // HAProxy: "... 'init-addr' : unknown init-addr method 'foo', supported methods are 'libc', 'last', 'none'.."
    expect(alerts(backend('init-addr foo'))).toEqual([`${subject} 'init-addr' : unknown init-addr method 'foo', supported methods are 'libc', 'last', 'none'.`]);
    expect(alerts(backend('init-addr localhost'))[0]).toContain("unknown init-addr method 'localhost'");
    // HAProxy: "... 'init-addr' : initial address already specified, cannot add '5.6.7.8'.."
    expect(alerts(backend('init-addr 1.2.3.4,5.6.7.8'))).toEqual([`${subject} 'init-addr' : initial address already specified, cannot add '5.6.7.8'.`]);
    expect(alerts(backend('init-addr last,libc,last,libc,last,libc,last,libc,last,libc'))).toEqual([]);
    expect(alerts(backend('init-addr last,libc,last,libc,last,libc,last,libc,last,libc,none'))).toEqual([
      `${subject} 'init-addr' : too many init-addr methods when trying to add 'none'.`,
    ]);
    // HAProxy takes an empty list (no method at all) and a missing resolvers id ('').
    expect(alerts(backend('init-addr'))).toEqual([`${subject} 'init-addr' expects a list of methods, supported methods are 'libc', 'last', 'none'.`]);
    expect(alerts(backend('resolvers'))).toEqual([`${subject} 'resolvers' expects the name of a resolvers section as argument.`]);
    const [error] = read(`${WITH_DNS}backend be\n    default-server resolve-prefer ipv5\n`).errors;
    expect([error!.line, error!.keyword, error!.reason]).toEqual([8, 'resolve-prefer', "'resolve-prefer' expects either ipv4 or ipv6 as argument."]);
  });

  it('takes an IPv6 init-addr, with the server port left to run time', () => {
    const [method] = server(parse(backend('init-addr ::1')), 'be', 's1').initAddr;
    expect(method?.kind === 'ip' ? [method.address.family, method.address.address, method.address.port] : null).toEqual(['ipv6', '::1', 0]);
  });
});

describe('SRV record names', () => {
  it('take names starting with an underscore, with or without a port, as SRV names', () => {
    // HAProxy 2.6 takes both (e2.cfg); the SRV records then give the ports.
    const config = parse(`${WITH_DNS}backend be
    server a _http._tcp.example.com resolvers dns
    server b _http._tcp.example.com:8080 resolvers dns
    server c www.example.com:80 resolvers dns
`);
    const [a, b, c] = proxy(config, 'be').servers;
    expect(a!.address).toEqual({ kind: 'hostname', host: '_http._tcp.example.com', port: 0, family: null, text: '_http._tcp.example.com' });
    expect(b!.address).toMatchObject({ kind: 'hostname', host: '_http._tcp.example.com', port: 8080 });
    expect([a, b, c].map((s) => isSrvRecordName(s!.address))).toEqual([true, true, false]);
  });

  it('still wants a port on other host names', () => {
    expect(alerts(`${WITH_DNS}backend be\n    server c www.example.com resolvers dns\n`)).toEqual([
      "[t.cfg:8] : 'server be/c' : 'www.example.com': port mapping (no port, or +N/-N) needs a numeric address",
    ]);
  });
});

describe('server-template', () => {
  it('makes one server per slot, named prefix + slot, with the line and default-server options', () => {
    const config = parse(`${WITH_DNS}backend be
    default-server weight 20 init-addr none
    server-template web 3 app.example.com:8080 resolvers dns check resolve-prefer ipv4
    server other 127.0.0.1:80
`);
    const servers = proxy(config, 'be').servers;
    expect(servers.map((s) => s.name)).toEqual(['web1', 'web2', 'web3', 'other']);
    expect(servers.map((s) => s.template)).toEqual([{ prefix: 'web', slot: 1 }, { prefix: 'web', slot: 2 }, { prefix: 'web', slot: 3 }, null]);
    for (const s of servers.slice(0, 3)) {
      expect(s.address).toEqual({ kind: 'hostname', host: 'app.example.com', port: 8080, family: null, text: 'app.example.com:8080' });
      expect([s.resolvers, s.check, s.resolvePrefer, s.weight, s.initAddr]).toEqual(['dns', true, 'ipv4', 20, [{ kind: 'none' }]]);
      expect(s.where).toEqual({ file: 't.cfg', line: 9, column: 5 });
    }
    expect(servers[3]!.resolvers).toBeNull();
  });

  it('takes a range of slots, an SRV name, a numeric address', () => {
    const config = parse(`${WITH_DNS}backend be
    server-template a 5-7 app.example.com:80 resolvers dns
    server-template b 0-1 _imap._tcp.example.com resolvers dns
    server-template c 2-2 192.0.2.1:80
    server-template d 2 192.0.2.2
`);
    const names = proxy(config, 'be').servers.map((s) => s.name);
    expect(names).toEqual(['a5', 'a6', 'a7', 'b0', 'b1', 'c2', 'd1', 'd2']);
    const b0 = server(config, 'be', 'b0');
    expect(b0.address).toMatchObject({ kind: 'hostname', host: '_imap._tcp.example.com', port: 0 });
    expect(isSrvRecordName(b0.address)).toBe(true);
    // HAProxy takes a numeric address (d6.cfg), with or without port; it is used as is.
    expect(server(config, 'be', 'c2').address).toMatchObject({ kind: 'address', portOffset: null, text: '192.0.2.1:80' });
    expect(server(config, 'be', 'd2').address).toMatchObject({ kind: 'address', portOffset: 0 });
  });

  it('gives an id to the first slot only, as HAProxy', () => {
    const config = parse(`${WITH_DNS}backend be\n    server-template s 3 app.example.com:80 resolvers dns id 5\n`);
    expect(proxy(config, 'be').servers.map((s) => s.id)).toEqual([5, null, null]);
  });

  it("refuses bad lines with HAProxy's words", () => {
    const line = (rest: string) => alerts(`${WITH_DNS}backend be\n    server-template ${rest}\n`);
    // HAProxy: "[d7.cfg:16] : 'server-template' expects <prefix> <nb | range> <addr>[:<port>] as arguments."
    expect(line('s 3')).toEqual(["[t.cfg:8] : 'server-template' expects <prefix> <nb | range> <addr>[:<port>] as arguments."]);
    // HAProxy: "[d7.cfg:15] : character '/' is not permitted in server-template prefix 's/9'."
    expect(line('s/9 3 app.example.com:80')).toEqual(["[t.cfg:8] : character '/' is not permitted in server-template prefix 's/9'."]);
    expect(line('s:9 3 app.example.com:80')).toEqual(["[t.cfg:8] : character ':' is not permitted in server-template prefix 's:9'."]);
    // HAProxy: "[d7.cfg:7] : Wrong server-template number or range arg '0'." (and '-1', '3-1', 'abc', '-2-3')
    for (const range of ['0', '-1', '3-1', 'abc', '-2-3', '3x', '1-3-5', '99999999999']) {
      expect(line(`s ${range} app.example.com:80`)).toEqual([`[t.cfg:8] : Wrong server-template number or range arg '${range}'.`]);
    }
    expect(line(`s 1-${MAX_TEMPLATE_SLOTS + 1} app.example.com:80`)).toEqual([
      `[t.cfg:8] : 'server-template' : at most ${MAX_TEMPLATE_SLOTS} servers per template (got '1-${MAX_TEMPLATE_SLOTS + 1}').`,
    ]);
    // HAProxy names the object 'server be/(null)': "[st1.cfg:7] : 'server be/(null)' : unknown keyword 'wieght'; did you mean 'weight' maybe ?"
    expect(line('web 3 app.example.com:80 resolvers dns wieght 3')).toEqual([
      "[t.cfg:8] : 'server-template be/web' : unknown keyword 'wieght'; did you mean 'weight' maybe ?",
    ]);
    expect(line('web 3 bad..host:80')).toEqual(["[t.cfg:8] : 'server-template be/web' : invalid address 'bad..host:80'"]);
  });

  it('belongs to backends and listen sections only', () => {
    // HAProxy: "[p5.cfg:7] : 'server-template' not allowed in 'defaults' section."
    expect(alerts('defaults\n    server-template s 2 app.example.com:80\n')).toEqual(["[t.cfg:2] : 'server-template' not allowed in 'defaults' section."]);
    // HAProxy: "[p4.cfg:10] : parsing [p4.cfg:10] : 'server-template' not allowed because frontend 'fe' has no backend capability."
    expect(alerts(`${DEFAULTS}frontend fe\n    bind 127.0.0.1:1\n    server-template s 2 app.example.com:80\n`)).toContain(
      "[t.cfg:7] : parsing [t.cfg:7] : 'server-template' not allowed because frontend 'fe' has no backend capability.",
    );
    const config = parse(`${WITH_DNS}listen li\n    bind 127.0.0.1:1\n    server-template s 2 app.example.com:80 resolvers dns\n`);
    expect(proxy(config, 'li').servers.map((s) => s.name)).toEqual(['s1', 's2']);
  });

  it("clashes with other servers' names, as HAProxy says", () => {
    // HAProxy: "parsing [e5.cfg:8] : backend 'be', another server named 's1' was already defined at line 7, please use distinct names."
    expect(alerts(`${WITH_DNS}backend be\n    server-template s 2 app.example.com:80 resolvers dns\n    server s2 127.0.0.1:80\n`)).toEqual([
      "parsing [t.cfg:9] : backend 'be', another server named 's2' was already defined at line 8, please use distinct names.",
    ]);
  });

  it('does not need resolvers, as in HAProxy (each slot is then resolved once, at startup)', () => {
    const result = read(`${DEFAULTS}backend be\n    server-template s 2 app.example.com:80\n`);
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
  });
});

describe('checks across sections', () => {
  it('refuses a server naming an unknown resolvers section, with its line', () => {
    // HAProxy: "backend 'be', server 's2': unable to find required resolvers 'nope'" (no location).
    const result = read(`${WITH_DNS}backend be\n    server s1 a.example.com:80 resolvers dns\n    server s2 b.example.com:80 resolvers nope\n`);
    expect(result.errors.map((e) => e.message)).toEqual(["[t.cfg:9] : backend 'be', server 's2': unable to find required resolvers 'nope'"]);
    expect([result.errors[0]!.line, result.errors[0]!.keyword]).toEqual([9, 'resolvers']);
    // Through default-server, in a listen section ("proxy"), once for a whole template line.
    expect(
      alerts(`${DEFAULTS}listen li\n    bind 127.0.0.1:1\n    default-server resolvers dnss\n    server-template w 3 a.example.com:80\n    server x 192.0.2.1:80\n`),
    ).toEqual(["[t.cfg:8] : proxy 'li', server 'w1': unable to find required resolvers 'dnss'", "[t.cfg:9] : proxy 'li', server 'x': unable to find required resolvers 'dnss'"]);
  });

  it('refuses an SRV name without resolvers: nothing else resolves it', () => {
    // HAProxy 2.6 says at startup "[e1.cfg:7] : 'server be/s1' : no method found to resolve address
    // '_http._tcp.example.com'." and "Failed to initialize server(s) addr.", and with
    // `init-addr none` takes it (the server then never gets an address).
    const message =
      "[t.cfg:6] : 'server be/s1' : no method found to resolve address '_http._tcp.example.com': an SRV record name is only resolved at run time, by a 'resolvers' section (add 'resolvers <id>').";
    expect(alerts(`${DEFAULTS}backend be\n    server s1 _http._tcp.example.com init-addr none\n`)).toEqual([message]);
    // Once for a template line, naming its first slot.
    expect(alerts(`${DEFAULTS}backend be\n    server-template s 3 _http._tcp.example.com\n`)).toEqual([message]);
    expect(alerts(`${WITH_DNS}backend be\n    server s1 _http._tcp.example.com resolvers dns\n`)).toEqual([]);
  });

  it("gives `resolvers default` HAProxy's implicit section, from /etc/resolv.conf, when there is none", () => {
    const config = parse(`${DEFAULTS}backend be\n    server s1 a.example.com:80 resolvers default\n`);
    const section = resolvers(config, 'default');
    expect(section.where).toEqual({ file: '<internal>', line: 0, column: 0 });
    expect(nameservers(section)).toEqual(['192.0.2.53=192.0.2.53:53', '2001:db8::53=[2001:db8::53]:53']);
    expect(section.resolveRetries).toBe(3);
    // Not made when nothing uses it, nor when the configuration has its own.
    expect(parse(`${DEFAULTS}backend be\n    server s1 a.example.com:80\n`).resolvers).toEqual([]);
    const own = parse(`${DEFAULTS}resolvers default\n    nameserver mine 127.0.0.1:53\nbackend be\n    server s1 a.example.com:80 resolvers default\n`);
    expect(own.resolvers.map((r) => nameservers(r))).toEqual([['mine=127.0.0.1:53']]);
    // Without a readable /etc/resolv.conf it is still there, empty, and warned about.
    expect(warnings(`${DEFAULTS}backend be\n    server s1 a.example.com:80 resolvers default\n`, null)).toEqual([
      "resolvers 'default' [<internal>:0] has no nameservers configured!",
    ]);
  });
});
