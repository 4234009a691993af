/**
 * Variables (`set-var`, `unset-var`, `var()`) and `tcp-request content` in backends: the
 * configuration as HAProxy 2.6 reads it (its messages, checked with `haproxy -c`), set-var's
 * conditions, and over real sockets: routing by a variable set from the first bytes or the SNI,
 * a backend's rule refusing by first bytes, a backend's rule waiting for a ClientHello split in
 * two segments, and a listen section's rules run once.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { SocketAddress } from '../../src/address.js';
import { parseConfig, readConfig } from '../../src/config/index.js';
import type { TcpVarRule } from '../../src/config/model.js';
import { start, type RunningProxy } from '../../src/runtime/start.js';
import { compileExpression, evaluateExpression, parseExpression } from '../../src/sample/expression.js';
import { intSample, strSample } from '../../src/sample/sample-types.js';
import { clearProcVars, parseVarName, readVar, setVar, unsetVar, type VarHolder, type VarName } from '../../src/sample/vars.js';
import { freePort, waitFor } from '../helpers/sockets.js';

const read = (text: string) => readConfig([{ name: 't.cfg', text }], { env: {} });
const frontend = (body: string): string => `defaults\n  mode tcp\nfrontend fe\n  bind 127.0.0.1:1\n${body}\n  default_backend b\nbackend b\n  server s 127.0.0.1:2\n`;

describe('variables in the configuration', () => {
  it('reads set-var and unset-var rules, with conditions, in connection and content rules', () => {
    const { config, errors } = read(
      frontend(
        [
          '  tcp-request inspect-delay 5s',
          '  tcp-request connection set-var(sess.a) src',
          '  tcp-request content set-var(txn.proto,ifnotset,ifnotempty) req.payload(0,3),hex if { req.len ge 3 }',
          '  tcp-request content unset-var(txn.proto) unless { var(txn.proto) -m found }',
          '  tcp-request content set-var(proc.x.y_z9) int(3)',
          '  use_backend b if { var(txn.proto) -m str 535348 } || { var(txn.none,dflt) -m str dflt }',
        ].join('\n'),
      ),
    );
    expect(errors).toEqual([]);
    const fe = config!.proxies.find((p) => p.name === 'fe')!;
    const connection = fe.tcpRequestConnection[0] as TcpVarRule;
    expect(connection).toMatchObject({ action: 'set-var', name: { scope: 'sess', full: 'sess.a' }, conditions: [] });
    const content = fe.tcpRequestContent as TcpVarRule[];
    expect(content.map((r) => r.action)).toEqual(['set-var', 'unset-var', 'set-var']);
    expect(content[0]).toMatchObject({ name: { scope: 'txn', full: 'txn.proto' }, conditions: ['ifnotset', 'ifnotempty'] });
    expect(content[2]!.name.scope).toBe('proc');
  });

  it("refuses what HAProxy refuses, in HAProxy's words, at file:line", () => {
    const lines = [
      '  tcp-request content set-var(foo.b) str(x)', // 5
      '  tcp-request content set-var(txn.b-c) str(x)',
      '  tcp-request content set-var(txn) str(x)',
      '  tcp-request content set-var(txn.b)',
      '  tcp-request content set-var(txn.b,bad) str(x)',
      '  tcp-request content set-var(txn.b str(x)', // 10
      '  tcp-request content unset-var(txn.b) str(x)',
      '  tcp-request connection set-var(txn.b) req.len',
      '  tcp-request content set-var(txn.b) str(x) if { var(foo.zz) -m found }',
      '  tcp-request content set-var() str(x)',
      '  tcp-request content set-var(txn.) str(x)', // 15
      '  tcp-request content set-var(proc.x) str(x) junk',
      '  tcp-request content unset-var(txn.x,ifexists)',
      '  tcp-request content set-var(txn.x)junk str(x)',
      '  tcp-request content set-var(txn.x) str(x) if { var(txn.x) foo }',
      '  tcp-request content set-var-fmt(txn.x) %[src]', // 20
    ];
    const errors = read(frontend(lines.join('\n'))).errors.map((e) => e.message);
    const scopes = "A variable name must be start by its scope. The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'";
    const incomplete = "Expects 'set-var(<var-name>)', 'set-var-fmt(<var-name>)' or 'unset-var(<var-name>)'";
    expect(errors).toEqual([
      `parsing [t.cfg:5] : invalid variable name 'foo.b'. ${scopes}`,
      "parsing [t.cfg:6] : invalid syntax at char '-c'",
      `parsing [t.cfg:7] : invalid variable name 'txn'. ${scopes}`,
      'parsing [t.cfg:8] : missing fetch method',
      'parsing [t.cfg:9] : unknown condition "bad"',
      `parsing [t.cfg:10] : incomplete argument after action 'set-var(txn.b'. ${incomplete}`,
      "parsing [t.cfg:11] : 'tcp-request content unset-var(txn.b)' only accepts 'if' or 'unless', in frontend 'fe' (got 'str(x)')",
      "parsing [t.cfg:12] : fetch method 'set-var(txn.b)' extracts information from 'request buffer', none of which is available here",
      `parsing [t.cfg:13] : 'tcp-request content set-var(txn.b)' : error detected in frontend 'fe' while parsing 'if' condition : invalid args in fetch method 'var' : invalid variable name 'foo.zz'. ${scopes} in ACL expression 'var(foo.zz)'`,
      'parsing [t.cfg:14] : Empty variable name cannot be accepted',
      `parsing [t.cfg:15] : invalid variable name 'txn.'. ${scopes}`,
      "parsing [t.cfg:16] : 'tcp-request content set-var(proc.x)' only accepts 'if' or 'unless', in frontend 'fe' (got 'junk')",
      'parsing [t.cfg:17] : unset-var does not expect parameters after the variable name. Only "set-var" and "set-var-fmt" manage conditions',
      `parsing [t.cfg:18] : incomplete argument after action 'set-var(txn.x)junk'. ${incomplete}`,
      "parsing [t.cfg:19] : 'tcp-request content set-var(txn.x)' : error detected in frontend 'fe' while parsing 'if' condition : matching method must be specified first (using '-m') when using a sample fetch of this type ('var')",
      "parsing [t.cfg:20] : 'tcp-request content set-var-fmt(txn.x)' is not supported yet (log-format expressions).",
    ]);
  });

  it("checks the proxies set-var's expression names, as an ACL's", () => {
    const errors = read(frontend('  tcp-request content set-var(txn.n) be_conn(nosuch)')).errors.map((e) => e.message);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain("unable to find backend 'nosuch' referenced by 'be_conn(nosuch)' in frontend 'fe'");
    expect(errors[0]).toContain('t.cfg:5');
  });

  it('accepts tcp-request content and inspect-delay in backends and listen sections', () => {
    const { config, errors } = read(
      'defaults\n  mode tcp\nbackend b\n  tcp-request inspect-delay 2s\n  tcp-request content set-var(txn.x) req.payload(0,2)\n  tcp-request content reject if { var(txn.x) -m str XX }\n  server s 127.0.0.1:2\nlisten l\n  bind 127.0.0.1:1\n  tcp-request content reject if { req.len gt 10 }\n  server s 127.0.0.1:2\n',
    );
    expect(errors).toEqual([]);
    const b = config!.proxies.find((p) => p.name === 'b')!;
    expect(b.inspectDelay).toBe(2000);
    expect(b.tcpRequestContent.map((r) => r.action)).toEqual(['set-var', 'reject']);
  });
});

describe('variables at run time', () => {
  const name = (text: string): VarName => parseVarName(text) as VarName;

  it("keeps the sample's type, and each scope is its own namespace", () => {
    const holder: VarHolder = {};
    setVar(holder, name('txn.n'), intSample(42), []);
    setVar(holder, name('sess.n'), strSample('s'), []);
    expect(readVar(holder, name('txn.n'))).toEqual(intSample(42));
    expect(readVar(holder, name('sess.n'))).toEqual(strSample('s'));
    expect(readVar(holder, name('req.n'))).toBeUndefined();
    // check-scope variables belong to health checks: never set from a session (HAProxy's too).
    setVar(holder, name('check.n'), intSample(1), []);
    expect(readVar(holder, name('check.n'))).toBeUndefined();
    unsetVar(holder, name('txn.n'));
    expect(readVar(holder, name('txn.n'))).toBeUndefined();
  });

  it('allocates nothing until a session variable is set; proc variables are the process\'s', () => {
    clearProcVars();
    const a: VarHolder = {};
    const b: VarHolder = {};
    setVar(a, name('proc.p'), intSample(1), []);
    expect(a.vars).toBeUndefined();
    expect(readVar(b, name('proc.p'))).toEqual(intSample(1));
    clearProcVars();
  });

  it("applies set-var's conditions as HAProxy 2.6 does", () => {
    const h: VarHolder = {};
    const x = name('txn.x');
    setVar(h, x, intSample(5), ['ifexists']);
    expect(readVar(h, x)).toBeUndefined();
    setVar(h, x, intSample(5), ['ifnotexists']);
    expect(readVar(h, x)).toEqual(intSample(5));
    setVar(h, x, intSample(9), ['ifnotset']);
    expect(readVar(h, x)).toEqual(intSample(5));
    // ifgt: set when the variable is greater than the input; iflt: less than.
    setVar(h, x, intSample(7), ['ifgt']);
    expect(readVar(h, x)).toEqual(intSample(5));
    setVar(h, x, intSample(3), ['ifgt']);
    expect(readVar(h, x)).toEqual(intSample(3));
    setVar(h, x, intSample(4), ['iflt']);
    expect(readVar(h, x)).toEqual(intSample(4));
    // Not both integers: the comparison holds.
    setVar(h, x, strSample('a'), ['ifgt']);
    expect(readVar(h, x)).toEqual(strSample('a'));
    setVar(h, x, strSample(''), ['ifnotempty']);
    expect(readVar(h, x)).toEqual(strSample('a'));
    setVar(h, x, intSample(0), ['ifempty']);
    expect(readVar(h, x)).toEqual(strSample('a'));
    setVar(h, x, strSample(''), ['ifempty']);
    expect(readVar(h, x)).toEqual(strSample(''));
  });

  it('var() gives the stored sample, else its default as a string, else none', () => {
    const address = SocketAddress.parse('127.0.0.1:1000');
    const facts = { src: address, dst: address, vars: new Map([['txn.n', intSample(12)]]) };
    const evaluate = (text: string) => {
      const parsed = parseExpression(text, { label: 'test' });
      if (!parsed.ok) throw new Error(parsed.reason);
      return evaluateExpression(compileExpression(parsed.value, { file: 't', line: 1 } as never), facts);
    };
    expect(evaluate('var(txn.n)')).toEqual(intSample(12));
    expect(evaluate('var(txn.m,none)')).toEqual(strSample('none'));
    expect(evaluate('var(txn.m)')).toBeNull();
    expect(evaluate('var(txn.n),add(1)')).toEqual(intSample(13));
  });
});

// ---------------------------------------------------------------------------------------------
// Over sockets

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function listen(server: Server): Promise<number> {
  server.on('connection', (socket: Socket) => socket.on('error', () => {}));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

/** A server that records what each connection sends, and says `name` first. */
function recorder(name: string): { server: Server; received: Buffer[] } {
  const state = { server: null as unknown as Server, received: [] as Buffer[] };
  state.server = createServer((socket) => {
    const index = state.received.push(Buffer.alloc(0)) - 1;
    socket.on('error', () => {});
    socket.on('data', (c: Buffer) => (state.received[index] = Buffer.concat([state.received[index]!, c])));
    socket.write(`${name}\n`);
  });
  return state;
}

async function proxy(text: (p: Record<string, number>) => string, ports: Record<string, number>): Promise<{ running: RunningProxy; port: number; logs: string[] }> {
  const port = await freePort();
  const logs: string[] = [];
  const running = await start(parseConfig([{ name: 'vars.cfg', text: text({ ...ports, proxy: port }) }]), { quiet: true, signals: false, sessionLog: (l) => logs.push(l) });
  cleanups.push(() => running.kill());
  return { running, port, logs };
}

function rawClient(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port, host: '127.0.0.1' }, () => resolve(socket));
    socket.setNoDelay(true);
    socket.on('error', reject);
    cleanups.push(() => void socket.destroy());
  });
}

/** The bytes Node's TLS client sends first for `servername`. */
async function captureClientHello(servername: string): Promise<Buffer> {
  let hello = Buffer.alloc(0);
  const whole = (): boolean => hello.length >= 5 && hello.length >= 5 + hello.readUInt16BE(3);
  const capture = createServer((socket) => socket.on('data', (c: Buffer) => (hello = Buffer.concat([hello, c]))));
  const port = await listen(capture);
  const client = tlsConnect({ port, host: '127.0.0.1', servername, rejectUnauthorized: false });
  client.on('error', () => {});
  await waitFor(whole, 'a whole ClientHello');
  client.destroy();
  return hello;
}

const DEFAULTS = 'defaults\n  mode tcp\n  option tcplog\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n';

describe('variables and backend content rules over sockets', () => {
  it('routes by a variable set from req.payload, waiting for its bytes, and from req.ssl_sni', async () => {
    const ssh = recorder('ssh');
    const tls = recorder('tls');
    const other = recorder('other');
    const ports = { ssh: await listen(ssh.server), tls: await listen(tls.server), other: await listen(other.server) };
    const { port, running } = await proxy(
      (p) => `${DEFAULTS}
frontend fe
  bind 127.0.0.1:${p.proxy}
  tcp-request inspect-delay 5s
  tcp-request content set-var(txn.proto) req.payload(0,4)
  tcp-request content set-var(txn.sni) req.ssl_sni,lower if { req.payload(0,1) -m bin 16 }
  use_backend ssh if { var(txn.proto) -m str SSH- }
  use_backend tls if { var(txn.sni) -m str a.example }
  default_backend other
backend ssh
  server s 127.0.0.1:${p.ssh}
backend tls
  server s 127.0.0.1:${p.tls}
backend other
  server s 127.0.0.1:${p.other}
`,
      ports,
    );
    // Two bytes first: the set-var rule waits for its four.
    const a = await rawClient(port);
    a.write('SS');
    await waitFor(() => running.engine.describeSessions().some((s) => s.phase === 'inspect' && s.backend === null), 'the session to wait for its bytes');
    a.write('H-2.0-client\r\n');
    await waitFor(() => ssh.received[0]?.toString() === 'SSH-2.0-client\r\n', 'the ssh backend to receive every byte');

    const hello = await captureClientHello('A.Example');
    const b = await rawClient(port);
    b.write(hello);
    await waitFor(() => tls.received[0]?.length === hello.length, 'the tls backend to receive the hello');
    expect(Buffer.compare(tls.received[0]!, hello)).toBe(0);

    const c = await rawClient(port);
    c.write('GET / HTTP/1.0\r\n\r\n');
    await waitFor(() => other.received.length === 1, 'the default backend');
    expect(ssh.received.length + tls.received.length).toBe(2);
  });

  it("refuses in a backend's content rule by first bytes: the frontend's dreq, logged b/<NOSRV> PR", async () => {
    const b = recorder('b');
    const { port, running, logs } = await proxy(
      (p) => `${DEFAULTS}
frontend fe
  bind 127.0.0.1:${p.proxy}
  default_backend b
backend b
  tcp-request inspect-delay 5s
  tcp-request content reject if { req.payload(0,4) -m str EVIL }
  tcp-request content accept if { req.len ge 4 }
  server s 127.0.0.1:${p.b}
`,
      { b: await listen(b.server) },
    );
    const evil = await rawClient(port);
    evil.resume();
    const closed = new Promise<void>((resolve) => evil.on('close', () => resolve()));
    evil.write('EV');
    await waitFor(() => running.engine.describeSessions().some((s) => s.phase === 'inspect' && s.backend === 'b'), 'the backend rules to wait');
    evil.write('IL and more');
    await closed;
    const fe = running.runtime.frontends.get('fe')!;
    const be = running.runtime.backends.get('b')!;
    await waitFor(() => logs.some((l) => / fe b\/<NOSRV> -1\/-1\/\d+ 0 PR /.test(l)), `a PR line naming the backend (${logs.join('\n')})`);
    // HAProxy 2.6 (observed): the frontend's dreq counts it, the backend's does not.
    expect(fe.counters.get('deniedRequests')).toBe(1);
    expect(be.counters.get('deniedRequests')).toBe(0);
    expect(b.received.length).toBe(0);

    const good = await rawClient(port);
    let text = '';
    good.on('data', (c: Buffer) => (text += c.toString()));
    good.write('GOOD');
    await waitFor(() => text === 'b\n' && b.received[0]?.toString() === 'GOOD', 'an accepted session to reach the server');
  });

  it("waits in a backend's rule for a ClientHello split in two segments, then forwards it whole", async () => {
    const hello = await captureClientHello('a.example');
    const a = recorder('a');
    const { port, running } = await proxy(
      (p) => `${DEFAULTS}
frontend fe
  bind 127.0.0.1:${p.proxy}
  default_backend a
backend a
  tcp-request inspect-delay 5s
  tcp-request content set-var(txn.sni) req.ssl_sni
  tcp-request content reject unless { var(txn.sni) -m str a.example }
  server s 127.0.0.1:${p.a}
`,
      { a: await listen(a.server) },
    );
    const socket = await rawClient(port);
    socket.write(hello.subarray(0, 20));
    await waitFor(() => running.engine.describeSessions().some((s) => s.phase === 'inspect' && s.backend === 'a'), 'the backend rules to wait for the hello');
    expect(a.received.length).toBe(0);
    socket.write(hello.subarray(20));
    await waitFor(() => a.received[0]?.length === hello.length, 'backend a to receive the whole hello');
    expect(Buffer.compare(a.received[0]!, hello)).toBe(0);
    expect(running.runtime.frontends.get('fe')!.counters.get('deniedRequests')).toBe(0);
  });

  it("runs a listen section's content rules once, and a listen used as a backend runs them as a backend's", async () => {
    const s = recorder('s');
    const otherPort = await freePort();
    const { port, running } = await proxy(
      (p) => `${DEFAULTS}
listen l
  bind 127.0.0.1:${p.proxy}
  stick-table type ip size 10 store gpc0
  tcp-request content track-sc0 src
  tcp-request content sc-inc-gpc0(0)
  server s 127.0.0.1:${p.s}
frontend other
  bind 127.0.0.1:${p.other}
  default_backend l
`,
      { s: await listen(s.server), other: otherPort },
    );
    const key = { type: 'ip', family: 'ipv4', bytes: Uint8Array.of(127, 0, 0, 1) } as const;
    const table = running.runtime.tables.get('l')!;
    const first = await rawClient(port);
    first.write('x');
    await waitFor(() => s.received[0]?.toString() === 'x', 'the listen section to relay');
    expect(table.lookup(key, 'gpc0')).toBe(1);
    const second = await rawClient(otherPort);
    second.write('y');
    await waitFor(() => s.received[1]?.toString() === 'y', 'the frontend to relay through l');
    expect(table.lookup(key, 'gpc0')).toBe(2);
  });
});
