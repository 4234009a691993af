/**
 * The fixture files under test/fixtures/config/: a realistic TCP configuration and examples/
 * epoxy.cfg parse clean; each broken one gives exactly these messages, with file:line.
 */
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/child.js';
import { readConfig } from '../../src/config/index.js';

const DIR = `${ROOT}test/fixtures/config`;

/** Every message of a fixture, split by severity. */
function read(name: string): { alerts: string[]; warnings: string[] } {
  // The broken-syntax fixture relies on this variable being unset.
  const result = readConfig([`${DIR}/${name}`], { env: {} });
  return { alerts: result.errors.map((e) => e.message), warnings: result.warnings.map((w) => w.message) };
}

const BROKEN: Record<string, { alerts: (file: string) => string[]; warnings: (file: string) => string[] }> = {
  'broken-keywords.cfg': {
    alerts: (F) => [
      `parsing [${F}:4] : unknown keyword 'daemn' in 'global' section; did you mean 'daemon' maybe ?`,
      `parsing [${F}:5] : 'daemon' cannot handle unexpected argument 'now'.`,
      `parsing [${F}:6] : 'nbthread' value must be between 1 and 64 (was 65)`,
      `parsing [${F}:7] : 'pidfile' expects a file name as an argument.`,
      `parsing [${F}:8] : 'master-worker' only supports 'no-exit-on-failure' option.`,
      `parsing [${F}:9] : 'stats socket' : 'level' only supports 'user', 'operator', and 'admin' (got 'root')`,
      `parsing [${F}:10] : unknown keyword 'tune.bufsiz' in 'global' section; did you mean 'tune.bufsize' maybe ?`,
      `parsing [${F}:13] : 'mode http' is only supported in a frontend serving the Prometheus exporter ('http-request use-service prometheus-exporter') or in a listen or frontend section serving the stats page ('stats enable'); epoxy implements mode tcp.`,
      `parsing [${F}:14] : 'timeout' supports 'client', 'server', 'connect', 'check', 'queue', 'http-keep-alive', 'http-request', 'tunnel', 'tarpit', 'client-fin' and 'server-fin' (got 'conect'); did you mean 'connect' maybe ?`,
      `parsing [${F}:15] : 'option httplog' is not supported yet (HTTP mode; epoxy implements mode tcp).`,
      `parsing [${F}:16] : unknown option 'redispach'; did you mean 'redispatch' maybe ?`,
      `parsing [${F}:19] : 'bind 127.0.0.1:10080' in section 'frontend': unknown keyword 'defer-acept'; did you mean 'defer-accept' maybe ?`,
      `parsing [${F}:20] : 'http-request' is not supported yet (HTTP mode; epoxy implements mode tcp), except for 'http-request use-service prometheus-exporter [if { path <path> }]' in a 'mode http' frontend.`,
      `parsing [${F}:21] : unknown keyword 'balanse' in 'frontend' section; did you mean 'balance' maybe ?`,
      `parsing [${F}:25] : unknown keyword 'balanse' in 'backend' section; did you mean 'balance' maybe ?`,
      `[${F}:26] : 'server app/a1' : unknown keyword 'wieght'; did you mean 'weight' maybe ?`,
      `[${F}:27] : 'server app/a2' : 'ssl' is not supported yet (SSL/TLS).`,
      `parsing [${F}:28] : 'persist' is not supported yet (RDP cookie persistence).`,
      `parsing [${F}:29] : 'cookie' is not supported yet (HTTP mode; epoxy implements mode tcp).`,
    ],
    warnings: (F) => [
      `[${F}:18] : frontend 'web' has no 'bind' directive. Please declare it as a backend if this was intended.`,
      `[${F}:18] : missing timeouts for frontend 'web'.\n   | While not properly invalid, you will certainly encounter various problems\n   | with such a configuration. To fix this, please ensure that all following\n   | timeouts are set to a non-zero value: 'client', 'connect', 'server'.`,
      `[${F}:24] : backend 'app' has no server available!`,
    ],
  },
  'broken-values.cfg': {
    alerts: (F) => [
      `parsing [${F}:3] : 'maxconn' expects an integer argument (got 'lots').`,
      `parsing [${F}:4] : 'ulimit-n' value -5 is out of range (1 to 2147483647).`,
      `parsing [${F}:5] : log : 'ring@buf': ring buffers are not supported yet`,
      `parsing [${F}:6] : log : unknown log format 'json'`,
      `parsing [${F}:10] : unexpected character 'x' in 'timeout connect'`,
      `parsing [${F}:11] : timer overflow in argument '99999999999' to 'timeout client' (maximum value is 2147483647 ms or ~24.8 days)`,
      `parsing [${F}:12] : 'timeout server' expects an integer value (in milliseconds)`,
      `parsing [${F}:13] : 'retries' expects an integer argument (got 'many').`,
      `parsing [${F}:16] : 'bind' : invalid port '99999'`,
      `parsing [${F}:17] : 'bind 127.0.0.1:10080' in section 'frontend' : 'backlog' value -1 is out of range (0 to 2147483647)`,
      `parsing [${F}:18] : 'maxconn' cannot handle unexpected argument '20'.`,
      `parsing [${F}:22] : balance random : number of draws must be at least 1.`,
      `parsing [${F}:23] : 'balance uri' is not supported yet (HTTP mode; epoxy implements mode tcp).`,
      `parsing [${F}:24] : 'hash-type' only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions.`,
      `[${F}:25] : 'server be/s1' : weight of server s1 is not within 0 and 256 (300).`,
      `[${F}:26] : 'server be/s2' : 'localhost': port mapping (no port, or +N/-N) needs a numeric address`,
      `[${F}:27] : 'server be/s3' : 'maxconn' expects an integer argument (got 'ten').`,
      `[${F}:28] : 'server be/s4' : 'id' : custom id has to be > 0.`,
      `parsing [${F}:29] : 'source 10.0.0.1:1000-2000' : port ranges are only allowed in a server's 'source'`,
    ],
    warnings: (F) => [
      `[${F}:15] : frontend 'fe' has no 'bind' directive. Please declare it as a backend if this was intended.`,
      `[${F}:15] : missing timeouts for frontend 'fe'.\n   | While not properly invalid, you will certainly encounter various problems\n   | with such a configuration. To fix this, please ensure that all following\n   | timeouts are set to a non-zero value: 'client', 'connect', 'server'.`,
      `[${F}:21] : backend 'be' has no server available!`,
    ],
  },
  'broken-references.cfg': {
    alerts: (F) => [
      `parsing [${F}:12] : error detected while parsing switching rule : no such ACL : 'lan'.`,
      `Parsing [${F}:15]: frontend 'fe' has the same name as frontend 'fe' declared at ${F}:8.`,
      `[${F}:13] : Proxy 'fe': unable to find required default_backend: 'nowhere'.`,
      `[${F}:11] : Proxy 'fe': unable to find required use_backend: 'missing'.`,
      `parsing [${F}:24] : backend 'be', another server named 's1' was already defined at line 23, please use distinct names.`,
      `[${F}:25] : 'server be/s3' : 'id' : custom id 7 already used at ${F}:23 ('server s1').`,
    ],
    warnings: (F) => [
      `[${F}:19] : frontend 'no_bind' has no 'bind' directive. Please declare it as a backend if this was intended.`,
      `[${F}:27] : backend 'empty' has no server available!`,
    ],
  },
  'broken-syntax.cfg': {
    alerts: (F) => [
      `parsing [${F}:3]: unmatched quote at position 13:\n  maxconn "1000\n          ^`,
      `parsing [${F}:4]: forbidden first char in environment variable name at position 29:\n  log stdout format raw "$1local0"\n                          ^`,
      `parsing [${F}:5]: truncated or invalid hexadecimal sequence at position 19:\n  tune.bufsize "\\x4g"\n                ^`,
      `parsing [${F}:6]: argument number 1 at position 14 is empty and marks the end of the argument list:\n  ulimit-n "\${UNSET_EPOXY_TEST_VARIABLE}"\n           ^\nIf this is caused by an environment variable expansion, please have a look at section 2.3 of the configuration manual to find solutions to address this.`,
    ],
    warnings: () => [],
  },
};

describe('clean fixtures', () => {
  it('realistic-tcp.cfg: a TCP configuration an HAProxy user would write parses without a message', () => {
    expect(read('realistic-tcp.cfg')).toEqual({ alerts: [], warnings: [] });
  });

  it('realistic-tcp.cfg: the model holds what the file says', () => {
    const { config } = readConfig([`${DIR}/realistic-tcp.cfg`], { env: {} });
    expect(config.proxies.map((p) => `${p.kind} ${p.name} ${p.defaults}`)).toEqual([
      'frontend ft_mysql ',
      'backend bk_mysql_rw ',
      'backend bk_mysql_ro ',
      'listen redis long-lived',
      'listen smtp ',
    ]);
    const ft = config.proxies[0]!;
    expect(ft.binds.flatMap((b) => b.addresses.map(String))).toEqual(['127.0.0.1:13306', '[::1]:13306']);
    expect(ft.tcpRequestConnection.map((r) => `${r.action} ${r.condition?.text}`)).toEqual(['reject if blocked', 'reject unless internal']);
    expect(ft.useBackend.map((r) => r.backend)).toEqual(['bk_mysql_ro']);
    expect([ft.defaultBackend, ft.maxconn, ft.timeouts.client, ft.options.tcplog]).toEqual(['bk_mysql_rw', 1000, 60000, true]);
    const rw = config.proxies[1]!;
    expect(rw.servers.map((s) => [s.name, s.id, s.backup, s.maxconn, s.maxqueue])).toEqual([
      ['db1', 1, false, 200, 100],
      ['db2', 2, true, 200, 100],
    ]);
    const ro = config.proxies[2]!;
    expect(ro.servers[2]?.address).toMatchObject({ kind: 'hostname', host: 'localhost', port: 3306 });
    expect(ro.servers[2]?.disabled).toBe(true);
    const redis = config.proxies[3]!;
    expect([redis.balance, redis.hashType?.method, redis.timeouts.client]).toEqual([{ kind: 'source' }, 'consistent', 1800000]);
    expect(redis.servers.map((s) => s.sendProxy)).toEqual(['v2', 'v2', null]);
    expect(config.global).toMatchObject({ maxconn: 4096, ulimitN: 10240, nbthread: 1, tune: { bufsize: 32768, maxaccept: 64 } });
  });

  it('health-checks.cfg: check and its keywords parse clean', () => {
    expect(read('health-checks.cfg')).toEqual({ alerts: [], warnings: [] });
  });

  it('examples/epoxy.cfg parses clean: the demo listener on 127.0.0.1:8080 in front of local servers', () => {
    const result = readConfig([`${ROOT}examples/epoxy.cfg`], { env: {} });
    expect(result.diagnostics).toEqual([]);
    const binds = result.config.proxies.flatMap((p) => p.binds.flatMap((b) => b.addresses));
    expect(binds.length).toBeGreaterThan(0);
    for (const address of binds) {
      expect(address.address).toBe('127.0.0.1');
      expect(address.port).toBe(8080); // what `npm start` then `curl http://127.0.0.1:8080/` expects
    }
    for (const server of result.config.proxies.flatMap((p) => p.servers)) {
      expect(server.address.kind === 'address' && server.address.address.address).toBe('127.0.0.1');
    }
  });
});

describe('broken fixtures', () => {
  for (const [name, expected] of Object.entries(BROKEN)) {
    it(`${name}: every problem, with file:line`, () => {
      const F = `${DIR}/${name}`;
      expect(read(name)).toEqual({ alerts: expected.alerts(F), warnings: expected.warnings(F) });
    });
  }
});
