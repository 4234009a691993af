/**
 * The socket-option keywords: tune.rcvbuf/sndbuf, the tune.epoxy.* extensions (nodelay,
 * notsent-lowat), option tcp-smart-accept / tcp-smart-connect and the server's tfo / no-tfo —
 * parsed, refused with file:line and the keyword, and turned into the run-time shapes the
 * listener and the session layer apply (runtime/build.ts).
 */
import { describe, expect, it } from 'vitest';
import { configFromObject, parseConfig, readConfig } from '../../src/config/index.js';
import { buildRuntime } from '../../src/runtime/build.js';

const read = (text: string) => readConfig([{ name: 't.cfg', text }], { env: {} });
const alerts = (text: string): string[] => read(text).errors.map((e) => e.message);
const parse = (text: string) => parseConfig([{ name: 't.cfg', text }], { env: {} });

const PROXIES = `defaults
    mode tcp
    timeout connect 1s
    timeout client 1s
    timeout server 1s
frontend fe
    bind 127.0.0.1:10001
    default_backend be
backend be
    server s1 127.0.0.1:10002
`;

describe('global socket-option keywords', () => {
  it('parses the tune.epoxy.* extensions', () => {
    const g = parse(`global
    tune.epoxy.nodelay off
    tune.epoxy.notsent-lowat.client 16384
    tune.epoxy.notsent-lowat.server 32768
`).global;
    expect([g.tune.nodelay, g.tune.notsentLowatClient, g.tune.notsentLowatServer]).toEqual([false, 16384, 32768]);
    expect(g.origin['tune.epoxy.nodelay']?.line).toBe(2);
    expect(parse('global\n    tune.epoxy.nodelay on\n').global.tune.nodelay).toBe(true);
    expect(parse('global\n').global.tune.nodelay).toBeNull();
  });

  it('parses tune.epoxy.relay-thread on|off, null when absent, and refuses anything else', () => {
    expect(parse('global\n    tune.epoxy.relay-thread off\n').global.tune.relayThread).toBe(false);
    expect(parse('global\n    tune.epoxy.relay-thread on\n').global.tune.relayThread).toBe(true);
    expect(parse('global\n').global.tune.relayThread).toBeNull();
    expect(alerts('global\n    tune.epoxy.relay-thread 1\n')).toEqual(["parsing [t.cfg:2] : 'tune.epoxy.relay-thread' expects 'on' or 'off' (got '1')."]);
  });

  it('refuses bad values, naming the file, the line and the keyword', () => {
    expect(alerts('global\n    tune.epoxy.nodelay maybe\n')).toEqual(["parsing [t.cfg:2] : 'tune.epoxy.nodelay' expects 'on' or 'off' (got 'maybe')."]);
    expect(alerts('global\n    tune.epoxy.nodelay\n')).toEqual(["parsing [t.cfg:2] : 'tune.epoxy.nodelay' expects 'on' or 'off' (got '')."]);
    for (const keyword of ['tune.epoxy.notsent-lowat.client', 'tune.epoxy.notsent-lowat.server', 'tune.rcvbuf.client', 'tune.sndbuf.server']) {
      for (const bad of ['0', '-1', '16k', 'abc']) {
        const messages = alerts(`global\n    ${keyword} ${bad}\n`);
        expect(messages).toHaveLength(1);
        expect(messages[0]).toMatch(new RegExp(`^parsing \\[t\\.cfg:2\\] : .*'${keyword.replace(/\./g, '\\.')}'`));
      }
    }
  });

  it('is also reachable from the typed object form', () => {
    const config = configFromObject({
      global: { tune: { nodelay: 'off', notsentLowatClient: 4096, notsentLowatServer: 8192, rcvbufClient: 16384 } },
      listen: { px: { bind: ['127.0.0.1:10001'], servers: [{ name: 's', address: '127.0.0.1:10002', tfo: true }], option: { 'tcp-smart-accept': true, 'tcp-smart-connect': true } } },
    });
    expect(config.global.tune).toMatchObject({ nodelay: false, notsentLowatClient: 4096, notsentLowatServer: 8192, rcvbufClient: 16384 });
    const px = config.proxies[0]!;
    expect([px.options.tcpSmartAccept, px.options.tcpSmartConnect, px.servers[0]!.tfo]).toEqual([true, true, true]);
  });
});

describe('option tcp-smart-accept / tcp-smart-connect', () => {
  it('are accepted where HAProxy takes them, with their no form', () => {
    const config = parse(`defaults
    mode tcp
    option tcp-smart-accept
    option tcp-smart-connect
frontend fe
    bind 127.0.0.1:10001
    no option tcp-smart-accept
    default_backend be
backend be
    server s1 127.0.0.1:10002
`);
    const fe = config.proxies.find((p) => p.name === 'fe')!;
    const be = config.proxies.find((p) => p.name === 'be')!;
    expect(fe.options.tcpSmartAccept).toBe(false);
    expect(be.options.tcpSmartConnect).toBe(true);
    expect(be.options.tcpSmartAccept).toBe(true); // inherited, unused in a backend
  });

  it('warns and ignores them in a section without the capability, as HAProxy', () => {
    const result = read(`backend be
    option tcp-smart-accept
    server s1 127.0.0.1:10002
frontend fe
    bind 127.0.0.1:10001
    option tcp-smart-connect
    default_backend be
`);
    expect(result.errors).toEqual([]);
    const messages = result.warnings.map((w) => w.message);
    expect(messages.some((m) => m.startsWith('parsing [t.cfg:2]') && m.includes('tcp-smart-accept'))).toBe(true);
    expect(messages.some((m) => m.startsWith('parsing [t.cfg:6]') && m.includes('tcp-smart-connect'))).toBe(true);
  });

  it('refuses an argument', () => {
    const messages = alerts(`frontend fe\n    bind 127.0.0.1:10001\n    option tcp-smart-accept now\n`);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/^parsing \[t\.cfg:3\] : .*'option tcp-smart-accept'/);
  });
});

describe('server tfo / no-tfo', () => {
  it('sets and clears it, default-server included', () => {
    const config = parse(`backend be
    default-server tfo
    server a 127.0.0.1:10002
    server b 127.0.0.1:10003 no-tfo
`);
    expect(config.proxies[0]!.servers.map((s) => s.tfo)).toEqual([true, false]);
  });
});

describe('buildRuntime(): decisions made once, for listeners and servers', () => {
  it('defaults: TCP_NODELAY on both sides, nothing else', async () => {
    const runtime = await buildRuntime(parse(PROXIES));
    const bind = runtime.proxies[0]!.listeners[0]!.bind;
    expect(bind).toMatchObject({ noDelay: true, smartAccept: false });
    expect([bind.rcvbuf, bind.sndbuf, bind.notSentLowat]).toEqual([undefined, undefined, undefined]);
    const server = runtime.backends.get('be')!.servers[0]!;
    expect(server.socketOptions).toEqual({ noDelay: true, rcvbuf: 0, sndbuf: 0, notSentLowat: 0, smartConnect: false });
    expect(server.fastOpen).toBe(false);
  });

  it('everything configured', async () => {
    const runtime = await buildRuntime(
      parse(`global
    tune.rcvbuf.client 16384
    tune.sndbuf.client 32768
    tune.rcvbuf.server 65536
    tune.sndbuf.server 131072
    tune.epoxy.nodelay off
    tune.epoxy.notsent-lowat.client 4096
    tune.epoxy.notsent-lowat.server 8192
${PROXIES.replace('default_backend be', 'default_backend be\n    option tcp-smart-accept').replace('server s1 127.0.0.1:10002', 'option tcp-smart-connect\n    server s1 127.0.0.1:10002 tfo')}`),
    );
    const bind = runtime.proxies[0]!.listeners[0]!.bind;
    expect(bind).toMatchObject({ rcvbuf: 16384, sndbuf: 32768, noDelay: false, notSentLowat: 4096, smartAccept: true });
    const server = runtime.backends.get('be')!.servers[0]!;
    expect(server.socketOptions).toEqual({ noDelay: false, rcvbuf: 65536, sndbuf: 131072, notSentLowat: 8192, smartConnect: true });
    expect(server.fastOpen).toBe(true);
  });
});
