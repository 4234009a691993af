/**
 * The object form: a TypeScript object becomes the same model as the equivalent file, through the
 * same keyword parsers and checks; messages name the property path.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import {
  ConfigError,
  configFromObject,
  parseConfig,
  readConfigObject,
  type Config,
  type EpoxyConfig,
} from '../../src/config/index.js';

const INPUT: EpoxyConfig = {
  global: { maxconn: 1024, ulimitN: 4096, busyPolling: true, log: [{ target: 'stdout', format: 'raw', facility: 'local0', level: 'info' }], tune: { bufsize: 32768, maxaccept: 32 } },
  defaults: [
    { name: 'slow', timeout: { connect: '5s', client: '30m', server: '30m' } },
    { timeout: { connect: '5s', client: 30000, server: '30s', clientFin: '1s' }, retries: 2, option: { redispatch: true, dontlognull: true }, log: ['global'] },
  ],
  frontends: {
    web: {
      bind: ['127.0.0.1:10080', { address: '127.0.0.1:10443', acceptProxy: true, backlog: 64, deferAccept: true }],
      maxconn: 500,
      acl: { internal: 'src 10.0.0.0/8 127.0.0.0/8', tls: [{ criterion: 'dst_port', values: [10443] }] },
      tcpRequestConnection: [{ action: 'reject', unless: 'internal' }],
      useBackend: [{ backend: 'secure', if: 'tls' }],
      defaultBackend: 'app',
    },
  },
  backends: {
    app: {
      balance: 'leastconn',
      defaultServer: { maxconn: 50, maxqueue: 10 },
      servers: [
        { name: 'a', address: '127.0.0.1:10081', weight: 2 },
        { name: 'b', address: '127.0.0.1:10082', backup: true, sendProxy: 'v2', source: { address: '127.0.0.1', usesrc: 'clientip' } },
      ],
    },
    secure: { from: 'slow', balance: 'source', hashType: 'consistent', servers: [{ name: 's', address: 'unix@/run/secure.sock', id: 7 }] },
  },
  listen: {
    redis: { bind: ['127.0.0.1:16379'], balance: 'random(3)', option: { allbackups: true }, servers: [{ name: 'r', address: 'localhost:6379' }] },
  },
};

const FILE = `global
    maxconn 1024
    ulimit-n 4096
    busy-polling
    log stdout format raw local0 info
    tune.bufsize 32768
    tune.maxaccept 32
defaults slow
    timeout connect 5s
    timeout client 30m
    timeout server 30m
defaults
    timeout connect 5s
    timeout client 30000
    timeout server 30s
    timeout client-fin 1s
    retries 2
    option redispatch
    option dontlognull
    log global
frontend web
    acl internal src 10.0.0.0/8 127.0.0.0/8
    acl tls dst_port 10443
    maxconn 500
    bind 127.0.0.1:10080
    bind 127.0.0.1:10443 accept-proxy backlog 64 defer-accept
    tcp-request connection reject unless internal
    use_backend secure if tls
    default_backend app
backend app
    balance leastconn
    default-server maxconn 50 maxqueue 10
    server a 127.0.0.1:10081 weight 2
    server b 127.0.0.1:10082 backup send-proxy-v2 source 127.0.0.1 usesrc clientip
backend secure from slow
    balance source
    hash-type consistent
    server s unix@/run/secure.sock id 7
listen redis
    balance random(3)
    option allbackups
    bind 127.0.0.1:16379
    server r localhost:6379
`;

/** The model without locations, addresses as text: what must match between file and object. */
function shape(config: Config): unknown {
  return JSON.parse(
    JSON.stringify(
      { global: config.global, defaults: config.defaults, proxies: config.proxies },
      (key, value: unknown) => {
        if (key === 'where' || key === 'origin' || key === 'bytes') return undefined;
        if (value instanceof Map) return Object.fromEntries(value);
        if (value !== null && typeof value === 'object' && 'family' in value && 'port' in value && typeof (value as { toString(): string }).toString === 'function' && (value as object).constructor.name === 'SocketAddress') {
          return String(value);
        }
        return value;
      },
    ),
  );
}

describe('configFromObject', () => {
  it('builds the same model as the equivalent file', () => {
    const fromObject = configFromObject(INPUT, { env: {} });
    const fromFile = parseConfig([{ name: 'same.cfg', text: FILE }], { env: {} });
    expect(shape(fromObject)).toEqual(shape(fromFile));
  });

  it('records property paths as locations', () => {
    const config = configFromObject(INPUT);
    const app = config.proxies.find((p) => p.name === 'app')!;
    expect(app.servers[1]?.where).toEqual({ file: '<object>', line: 0, column: 0, path: 'backends.app.servers[1]' });
    expect(app.origin['timeout connect']?.path).toBe('defaults[1].timeout.connect');
    expect(config.global.origin['tune.bufsize']?.path).toBe('global.tune.bufsize');
  });

  it('refuses what a file refuses, naming the property', () => {
    let caught: unknown;
    try {
      configFromObject({
        backends: {
          app: {
            balance: 'uri' as never,
            servers: [{ name: 'a', address: '127.0.0.1:1', weight: 300 }],
          },
        },
        frontends: { web: { bind: ['127.0.0.1:10080'], defaultBackend: 'missing' } },
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const error = caught as ConfigError;
    expect(error.code).toBe(ErrorCodes.CONFIG);
    expect(error.path).toBe('backends.app.balance');
    expect(error.errors.map((e) => e.message)).toEqual([
      "parsing [backends.app.balance] : 'balance uri' is not supported yet (HTTP mode; epoxy implements mode tcp).",
      "[backends.app.servers[0]] : 'server app/a' : weight of server a is not within 0 and 256 (300).",
      "[frontends.web.defaultBackend] : Proxy 'web': unable to find required default_backend: 'missing'.",
    ]);
  });

  it('reports unknown properties with a suggestion, and values of the wrong type', () => {
    const result = readConfigObject({
      global: { maxconn: 'lots' as never, ulimitn: 5 } as never,
      defaults: { timeout: { conect: '5s' } as never, option: { redispatch: 'yes' as never } },
      backends: { b: { servers: 'none' as never } },
      frontends: { f: { bind: [{ address: '127.0.0.1:1', backlog: { n: 1 } as never }] } as never },
    });
    expect(result.errors.map((e) => e.message)).toEqual([
      "parsing [global.ulimitn] : unknown property 'ulimitn'; did you mean 'ulimitN' maybe ?",
      "parsing [global.maxconn] : 'maxconn' expects an integer argument (got 'lots').",
      "parsing [defaults.timeout.conect] : unknown property 'conect'; did you mean 'connect' maybe ?",
      'parsing [defaults.option.redispatch] : expected a boolean or an interval, got string "yes"',
      'parsing [frontends.f.bind[0].backlog] : expected a string or a number, got an object',
      'parsing [backends.b.servers] : expected an array, got string "none"',
    ]);
  });

  it('needs bind on a frontend, and keeps rules in order after their ACLs', () => {
    expect(readConfigObject({ frontends: { f: {} as never } }).errors.map((e) => e.message)).toContain(
      "parsing [frontends.f.bind] : a frontend needs 'bind' (the addresses it listens on)",
    );
  });

  it('writes false options as no option, and log: false as no log', () => {
    const config = configFromObject({
      defaults: { option: { redispatch: true }, log: [{ target: 'stderr', facility: 'daemon' }], timeout: { connect: 1, client: 1, server: 1 } },
      backends: { b: { option: { redispatch: false }, log: false, servers: [{ name: 's', address: '127.0.0.1:1' }] } },
    });
    const b = config.proxies[0]!;
    expect(b.options.redispatch).toBe(false);
    expect(b.logs).toEqual([]);
  });

  it('accepts a condition with an anonymous ACL', () => {
    const config = configFromObject({
      defaults: { timeout: { connect: 1, client: 1, server: 1 } },
      frontends: { f: { bind: [':10000'], useBackend: [{ backend: 'b', if: '{ src 192.0.2.0/24 } || LOCALHOST' }], defaultBackend: 'b' } },
      backends: { b: { servers: [{ name: 's', address: '127.0.0.1:1' }] } },
    });
    expect(config.proxies[0]?.useBackend[0]?.condition?.suites).toHaveLength(2);
  });
});
