/**
 * What a check says to a server and expects back: nothing (layer 4, a connect), HAProxy's
 * `tcp-check` rules (send, expect string/binary/rstring/rbinary), `option httpchk` (a request, a
 * status), `option redis-check` (PING, +PONG), `option pgsql-check` (a StartupMessage, an 'R'),
 * `option smtpchk` (banner, HELO, QUIT), `option ldap-check` (an anonymous bind),
 * `option mysql-check` (the greeting, and with a user a login and QUIT) or
 * `option ssl-hello-chk` (an SSLv3 ClientHello, a TLS record back). Compiled once from the configuration, run by
 * the checker with Node's sockets. Results and their words are HAProxy 2.6's, observed with
 * scripted servers (test/check/haproxy-checks.test.ts):
 *
 *   Layer7 check passed, code: 0, info: "(tcp-check)"
 *   Layer7 invalid response, info: "TCPCHK did not match content 'role:master' at step 2"
 *   Layer7 wrong status, code: 503, info: "Service Unavailable"      (httpchk)
 *   Layer7 check passed, code: 0, info: "Redis server is ok"          (redis-check)
 *   Layer7 wrong status, code: 0, info: "-ERR nope"                   (redis-check)
 *   Layer7 timeout                                                     (no answer within `timeout check`)
 *   Layer4 connection problem, info: "Connection refused at initial connection step of tcp-check"
 */
import { connect as netConnect, type Socket } from 'node:net';
import type { HttpCheckRules, ProxyOptions, TcpCheckRule } from '../config/model.js';
import { SocketAddress } from '../address.js';
import { native } from '../native.js';
import { buildProxyHeader } from '../proxy-protocol/proxy-protocol.js';
import type { ServerCheck } from '../session/session-types.js';

/** HAProxy's check status codes, those epoxy's checks give. */
export type CheckStatus = 'L4OK' | 'L4TOUT' | 'L4CON' | 'L6OK' | 'L6RSP' | 'L6TOUT' | 'L7OK' | 'L7TOUT' | 'L7RSP' | 'L7STS';

export interface CheckResult {
  status: CheckStatus;
  /** "Layer4 check passed", "Layer7 wrong status"... */
  reason: string;
  /** The protocol's status code (HTTP status; 0 for tcp-check and redis), or null at layer 4. */
  code: number | null;
  /** What went wrong, or what passed ("(tcp-check)"), or null. */
  info: string | null;
  durationMs: number;
  /**
   * When the layer-4 connection was established, in ms from the check's start; absent when it
   * never was. The checker's statistics count a check that connected and then failed at layer
   * 6/7 as a connection, and its connected time from here.
   */
  connectedMs?: number;
}

const REASONS: Record<CheckStatus, string> = {
  L4OK: 'Layer4 check passed',
  L4TOUT: 'Layer4 timeout',
  L4CON: 'Layer4 connection problem',
  L6OK: 'Layer6 check passed',
  L6RSP: 'Layer6 invalid response',
  L6TOUT: 'Layer6 timeout',
  L7OK: 'Layer7 check passed',
  L7TOUT: 'Layer7 timeout',
  L7RSP: 'Layer7 invalid response',
  L7STS: 'Layer7 wrong status',
};

/** Whether a result counts as a success for the rise/fall counter. */
export function passed(result: CheckResult): boolean {
  return result.status === 'L4OK' || result.status === 'L6OK' || result.status === 'L7OK';
}

/** A compiled expect rule of tcp-check. */
interface Expect {
  readonly step: number;
  readonly negate: boolean;
  readonly describe: string;
  /** Whether `data` (everything received so far) matches. */
  readonly test: (data: Buffer) => boolean;
}

export type CheckProgram =
  | { readonly kind: 'connect' }
  | {
      readonly kind: 'tcp-check';
      /** The first rule was an explicit `tcp-check connect` (its port and send-proxy). */
      readonly connect: { readonly step: number; readonly port: number | null; readonly sendProxy: boolean } | null;
      readonly steps: ReadonlyArray<{ readonly kind: 'send'; readonly step: number; readonly data: Buffer } | ({ readonly kind: 'expect' } & Expect)>;
    }
  | { readonly kind: 'http'; readonly request: Buffer; readonly expect: HttpCheckRules['expect'] }
  | { readonly kind: 'redis' }
  | { readonly kind: 'pgsql'; readonly request: Buffer }
  | { readonly kind: 'smtp'; readonly hello: Buffer }
  | { readonly kind: 'ldap' }
  | { readonly kind: 'mysql'; readonly request: Buffer | null }
  | { readonly kind: 'ssl-hello' };

/**
 * mysql-check's request with a user: a protocol-4.1 Client Authentication packet (sequence 1,
 * no password) and a COM_QUIT (sequence 0), as HAProxy 2.6 sends them; without a user, nothing
 * is sent and the server's greeting is enough.
 */
function mysqlLogin(user: string): Buffer {
  const body = Buffer.concat([
    Buffer.from([0x00, 0x82, 0x00, 0x00]), // capabilities: PROTOCOL_41 | SECURE_CONNECTION
    Buffer.from([0x00, 0x80, 0x00, 0x01]), // max packet size
    Buffer.from([0x21]), // charset utf8_general_ci
    Buffer.alloc(23), // reserved
    Buffer.from(`${user}\0`, 'latin1'),
    Buffer.from([0x00]), // empty auth response
  ]);
  const header = Buffer.from([body.length & 0xff, (body.length >> 8) & 0xff, (body.length >> 16) & 0xff, 0x01]);
  return Buffer.concat([header, body, Buffer.from([0x01, 0x00, 0x00, 0x00, 0x01])]);
}

/** ldap-check's request: an anonymous LDAPv3 bind, message id 1. */
const LDAP_BIND = Buffer.from('300c020101600702010304008000', 'hex');

/** pgsql-check's StartupMessage: protocol 3.0, `user`, as HAProxy 2.6 sends it. */
function pgsqlStartup(user: string): Buffer {
  const body = Buffer.concat([Buffer.from([0, 3, 0, 0]), Buffer.from(`user\0${user}\0\0`, 'latin1')]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length + 4);
  return Buffer.concat([length, body]);
}

/**
 * ssl-hello-chk's SSLv3 ClientHello (HAProxy's: the cipher suites 0x0001-0x001b and 0x002f-0x003a,
 * no session, null compression); any TLS record of type handshake or alert in return passes.
 */
function sslHello(): Buffer {
  const suites = [...Array.from({ length: 0x1b }, (_, i) => i + 1), ...Array.from({ length: 0x3a - 0x2f + 1 }, (_, i) => 0x2f + i)];
  const random = Buffer.alloc(32);
  random.writeUInt32BE(Math.floor(Date.now() / 1000));
  random.write('EPOXYSSLCHECK\nEPOXYSSLCHECK\n', 4, 'latin1');
  const cipherBytes = Buffer.alloc(2 + suites.length * 2);
  cipherBytes.writeUInt16BE(suites.length * 2);
  suites.forEach((suite, i) => cipherBytes.writeUInt16BE(suite, 2 + i * 2));
  const hello = Buffer.concat([Buffer.from([0x03, 0x00]), random, Buffer.from([0x00]), cipherBytes, Buffer.from([0x01, 0x00])]);
  const handshake = Buffer.concat([Buffer.from([0x01, 0, (hello.length >> 8) & 0xff, hello.length & 0xff]), hello]);
  return Buffer.concat([Buffer.from([0x16, 0x03, 0x00, (handshake.length >> 8) & 0xff, handshake.length & 0xff]), handshake]);
}

/** redis-check's request: PING in RESP, as HAProxy 2.6 sends it. */
const REDIS_PING = Buffer.from('*1\r\n$4\r\nPING\r\n');

function compileExpect(rule: Extract<TcpCheckRule, { kind: 'expect' }>, step: number): Expect {
  const { match, pattern, negate } = rule;
  let test: (data: Buffer) => boolean;
  switch (match) {
    case 'string': {
      const needle = Buffer.from(pattern, 'latin1');
      test = (data) => data.includes(needle);
      break;
    }
    case 'binary': {
      const needle = Buffer.from(pattern, 'hex');
      test = (data) => data.includes(needle);
      break;
    }
    case 'rstring': {
      const regex = new RegExp(pattern);
      test = (data) => regex.test(data.toString('latin1'));
      break;
    }
    case 'rbinary': {
      // HAProxy matches the regex against the hex digits of what was received.
      const regex = new RegExp(pattern);
      test = (data) => regex.test(data.toString('hex').toUpperCase()) || regex.test(data.toString('hex'));
      break;
    }
  }
  return { step, negate, describe: `${match} '${pattern}'`, test };
}

/** The program a backend's servers are checked with, from its options and rules. */
export function compileProgram(options: ProxyOptions, tcpRules: readonly TcpCheckRule[], http: HttpCheckRules): CheckProgram {
  switch (options.healthCheck) {
    case 'connect':
      return { kind: 'connect' };
    case 'redis-check':
      return { kind: 'redis' };
    case 'pgsql-check':
      return { kind: 'pgsql', request: pgsqlStartup(options.pgsqlUser ?? '') };
    case 'smtpchk': {
      const hello = options.smtpHello ?? { verb: 'HELO', domain: 'localhost' };
      return { kind: 'smtp', hello: Buffer.from(`${hello.verb} ${hello.domain}\r\n`, 'latin1') };
    }
    case 'ldap-check':
      return { kind: 'ldap' };
    case 'mysql-check':
      return { kind: 'mysql', request: options.mysqlUser === null ? null : mysqlLogin(options.mysqlUser) };
    case 'ssl-hello-chk':
      return { kind: 'ssl-hello' };
    case 'httpchk': {
      const line = options.httpchk ?? { method: 'OPTIONS', uri: '/', version: 'HTTP/1.0' };
      const send = http.send;
      const method = send?.method ?? line.method;
      const uri = send?.uri ?? line.uri;
      const version = send?.version ?? line.version;
      const headers = (send?.headers ?? []).map(([name, value]) => `${name}: ${value}\r\n`).join('');
      return { kind: 'http', request: Buffer.from(`${method} ${uri} ${version}\r\n${headers}\r\n`, 'latin1'), expect: http.expect };
    }
    case 'tcp-check': {
      let connect: { step: number; port: number | null; sendProxy: boolean } | null = null;
      const steps: Array<{ kind: 'send'; step: number; data: Buffer } | ({ kind: 'expect' } & Expect)> = [];
      tcpRules.forEach((rule, index) => {
        const step = index + 1;
        if (rule.kind === 'connect') connect = { step, port: rule.port, sendProxy: rule.sendProxy };
        else if (rule.kind === 'send') steps.push({ kind: 'send', step, data: Buffer.from(rule.data) });
        else steps.push({ kind: 'expect', ...compileExpect(rule, step) });
      });
      return { kind: 'tcp-check', connect, steps };
    }
  }
}

/**
 * The PROXY header a check starts with (`check-send-proxy`, `tcp-check connect send-proxy`):
 * the check connection's own addresses, v1 or v2 as the server's traffic uses.
 */
function proxyHeader(socket: Socket, version: 1 | 2): Uint8Array {
  const family = socket.remoteFamily === 'IPv6' ? 'ipv6' : 'ipv4';
  return buildProxyHeader(version, SocketAddress.from(family, socket.localAddress!, socket.localPort!), SocketAddress.from(family, socket.remoteAddress!, socket.remotePort!));
}

/** strerror() of a failed connect, from Node's error. */
function connectError(error: NodeJS.ErrnoException): string {
  const errno = typeof error.errno === 'number' ? Math.abs(error.errno) : 0;
  return errno > 0 ? native.strerror(errno) : (error.code ?? error.message);
}

/** The first line of what a server said, for an info text. */
function firstLine(data: Buffer): string {
  const text = data.toString('latin1');
  const end = text.search(/\r?\n/);
  return (end < 0 ? text : text.slice(0, end)).slice(0, 128);
}

/** Whether an HTTP status is in an `expect status` list ('200', '200-399', '200,204'). */
function statusIn(code: number, list: string): boolean {
  return list.split(',').some((part) => {
    const [low, high] = part.split('-').map(Number);
    return high === undefined ? code === low : code >= low! && code <= high;
  });
}

/**
 * Runs one check of `check` (its program, address and timeouts): connects, says and reads what
 * the program says, and resolves with the result. Never rejects.
 */
export function runCheck(check: ServerCheck, signal?: AbortSignal): Promise<CheckResult> {
  const started = Date.now();
  const program = check.program;
  const tcpCheck = program.kind === 'tcp-check' ? program : null;
  const address = check.address;
  // The checker skips a server without an address; a caller that does not gets a failed connect.
  if (address === null) return Promise.resolve({ status: 'L4CON', reason: REASONS.L4CON, code: null, info: 'no address', durationMs: 0 });
  const port = tcpCheck?.connect?.port ?? address.port;
  return new Promise((resolve) => {
    let socket: Socket | null = null;
    let connected = false;
    let connectedAt = 0;
    let settled = false;
    let received = Buffer.alloc(0);
    let closed = false;
    let stepIndex = 0;
    const onAbort = (): void => finish('L4CON', null, 'check aborted');
    const finish = (status: CheckStatus, code: number | null, info: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket?.destroy();
      resolve({ status, reason: REASONS[status], code, info, durationMs: Date.now() - started, ...(connected && { connectedMs: connectedAt - started }) });
    };
    const where = (): string => (tcpCheck?.connect ? ` at step ${tcpCheck.connect.step} of tcp-check (connect)` : ' at initial connection step of tcp-check');
    // Connecting is bounded by the connect timeout; once connected, by `timeout check` (or inter).
    let timer = setTimeout(() => finish('L4TOUT', null, tcpCheck ? where().trim() : null), Math.min(check.timeout, check.connectTimeout));
    signal?.addEventListener('abort', onAbort, { once: true });

    /** Moves the tcp-check program on as far as the data received allows. */
    const advanceTcpCheck = (): void => {
      const steps = tcpCheck!.steps;
      while (stepIndex < steps.length) {
        const step = steps[stepIndex]!;
        if (step.kind === 'send') {
          // What an expect looks at is the answer to the last send (HAProxy empties its check
          // buffer before sending), not the whole conversation.
          received = Buffer.alloc(0);
          socket!.write(step.data);
          stepIndex++;
          continue;
        }
        const matched = step.test(received);
        if (step.negate) {
          if (matched) return finish('L7RSP', null, `TCPCHK matched unwanted content ${step.describe.replace(/^\w+ /, '')} at step ${step.step}`);
          if (!closed) return; // may still come: wait for the end of the data
        } else if (!matched) {
          if (closed) return finish('L7RSP', null, `TCPCHK did not match content ${step.describe.replace(/^\w+ /, '')} at step ${step.step}`);
          return; // wait for more data
        }
        stepIndex++;
      }
      finish('L7OK', 0, '(tcp-check)');
    };

    const evaluate = (): void => {
      if (settled) return;
      switch (program.kind) {
        case 'connect':
          return finish('L4OK', null, null);
        case 'redis': {
          const end = received.indexOf('\r\n');
          if (end < 0 && !closed) return;
          if (received.subarray(0, 5).toString('latin1') === '+PONG') return finish('L7OK', 0, 'Redis server is ok');
          return finish('L7STS', 0, firstLine(received));
        }
        case 'http': {
          const headersEnd = received.indexOf('\r\n\r\n');
          const expect = program.expect;
          // A body match needs the whole response; a status only its first line.
          if (expect?.match === 'string' ? !closed : headersEnd < 0 && !closed) return;
          const status = /^HTTP\/\d\.\d (\d{3})(?: ([^\r\n]*))?\r?\n/.exec(received.toString('latin1'));
          if (status === null) return finish('L7RSP', null, received.length === 0 ? 'empty response' : firstLine(received));
          const code = Number(status[1]);
          const phrase = status[2] ?? '';
          let ok: boolean;
          if (expect === null) ok = code >= 200 && code < 400;
          else if (expect.match === 'status') ok = statusIn(code, expect.pattern) !== expect.negate;
          else if (expect.match === 'rstatus') ok = new RegExp(expect.pattern).test(String(code)) !== expect.negate;
          else {
            const body = headersEnd < 0 ? Buffer.alloc(0) : received.subarray(headersEnd + 4);
            ok = body.includes(Buffer.from(expect.pattern, 'latin1')) !== expect.negate;
            if (!ok) return finish('L7RSP', code, `HTTP content check did not match`);
          }
          return ok ? finish('L7OK', code, null) : finish('L7STS', code, phrase);
        }
        case 'tcp-check':
          return advanceTcpCheck();
        case 'pgsql': {
          // 'R' (an authentication request, whatever kind): the server is up and speaks the
          // protocol; 'E': an error, whose first field (the severity) HAProxy reports.
          if (received.length === 0) return closed ? finish('L7RSP', null, 'empty response') : undefined;
          if (received[0] === 0x52) return finish('L7OK', 0, 'PostgreSQL server is ok');
          if (received[0] === 0x45) {
            const complete = received.length >= 5 && received.length >= 1 + received.readUInt32BE(1);
            if (!complete && !closed) return;
            const field = received.subarray(6, received.indexOf(0, 6) < 0 ? received.length : received.indexOf(0, 6));
            return finish('L7RSP', null, field.toString('latin1'));
          }
          return finish('L7RSP', null, firstLine(received));
        }
        case 'ldap':
          return evaluateLdap();
        case 'mysql':
          return evaluateMysql();
        case 'ssl-hello':
          if (received.length === 0) return closed ? finish('L6RSP', null, null) : undefined;
          return received[0] === 0x15 || received[0] === 0x16 ? finish('L6OK', null, null) : finish('L6RSP', null, null);
        case 'smtp':
          return advanceSmtp();
      }
    };

    /**
     * mysql-check: the server's greeting (protocol 10), then with a user the answer to the
     * login: OK passes; an ERR packet, wherever it comes, fails with its error number and text.
     */
    const evaluateMysql = (): void => {
      const packets: Buffer[] = [];
      for (let at = 0; at + 4 <= received.length; ) {
        const length = received.readUIntLE(at, 3);
        if (at + 4 + length > received.length) break;
        packets.push(received.subarray(at + 4, at + 4 + length));
        at += 4 + length;
      }
      const wanted = (program as { request: Buffer | null }).request === null ? 1 : 2;
      for (const packet of packets.slice(0, wanted)) {
        if (packet[0] === 0xff) return finish('L7STS', packet.length >= 3 ? packet.readUInt16LE(1) : 0, packet.subarray(3).toString('latin1'));
      }
      if (packets.length >= wanted) {
        if (packets[0]![0] !== 0x0a) return finish('L7RSP', null, 'Unsupported MySQL protocol version');
        if (wanted === 2 && packets[1]![0] !== 0x00) return finish('L7RSP', null, 'Unexpected MySQL response');
        return finish('L7OK', 0, null);
      }
      if (closed) finish('L7RSP', null, received.length === 0 ? 'empty response' : 'incomplete MySQL response');
    };

    /** ldap-check: a BindResponse to message 1, result code 0 (success). */
    const evaluateLdap = (): void => {
      if (received.length < 2) return closed ? finish('L7RSP', null, 'Not LDAPv3 protocol') : undefined;
      // The message's length, short or long form; wait for all of it.
      let at = 1;
      let length = received[at++]!;
      if (length & 0x80) {
        const bytes = length & 0x7f;
        if (received.length < at + bytes) return closed ? finish('L7RSP', null, 'Not LDAPv3 protocol') : undefined;
        length = 0;
        for (let i = 0; i < bytes; i++) length = (length << 8) | received[at++]!;
      }
      if (received.length < at + length && !closed) return;
      const message = received.subarray(at);
      if (received[0] !== 0x30 || message[0] !== 0x02 || message[1] !== 0x01 || message[2] !== 0x01 || message[3] !== 0x61) {
        return finish('L7RSP', null, 'Not LDAPv3 protocol');
      }
      // BindResponse: 0x61 <len> 0x0a 0x01 <resultCode> ...
      const resultAt = message[4]! & 0x80 ? 5 + (message[4]! & 0x7f) : 5;
      if (message[resultAt] !== 0x0a || message[resultAt + 1] !== 0x01) return finish('L7RSP', null, 'Not LDAPv3 protocol');
      const code = message[resultAt + 2] ?? 0;
      if (code === 0) return finish('L7OK', 0, null);
      return finish('L7STS', code, 'See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9');
    };

    /**
     * smtpchk: a 2xx banner, a 2xx answer to HELO/EHLO, then QUIT and its answer (the result
     * carries the last reply's code and text). A non-2xx reply fails with its code and text.
     */
    let smtpStage = 0;
    const advanceSmtp = (): void => {
      const line = /^(\d{3})[ -]?([^\r\n]*)\r?\n/.exec(received.toString('latin1'));
      if (line === null) {
        if (!closed) return;
        if (received.length === 0) return finish('L7STS', 0, `TCPCHK got an empty response at step ${[3, 5, 7][smtpStage]}`);
        return finish('L7RSP', null, firstLine(received));
      }
      const code = Number(line[1]);
      const text = line[2]!;
      if (code < 200 || code > 299) return finish('L7STS', code, text);
      if (smtpStage === 2) return finish('L7OK', code, text);
      received = Buffer.alloc(0);
      socket!.write(smtpStage === 0 ? (program as { hello: Buffer }).hello : Buffer.from('QUIT\r\n'));
      smtpStage++;
    };

    socket = netConnect({
      host: address.address,
      port,
      family: address.family === 'ipv6' ? 6 : 4,
      ...(check.source !== null && { localAddress: check.source.address }),
    });
    socket.once('connect', () => {
      connected = true;
      connectedAt = Date.now();
      clearTimeout(timer);
      timer = setTimeout(
        () => {
          const step = tcpCheck?.steps[stepIndex];
          const status: CheckStatus = program.kind === 'connect' ? 'L4TOUT' : program.kind === 'ssl-hello' ? 'L6TOUT' : 'L7TOUT';
          finish(status, null, step?.kind === 'expect' ? `at step ${step.step} of tcp-check (expect ${step.describe})` : null);
        },
        Math.max(0, check.timeout - (Date.now() - started)),
      );
      const proxyVersion = tcpCheck?.connect?.sendProxy ? Math.max(1, check.sendProxy) : check.sendProxy;
      if (proxyVersion > 0) socket!.write(proxyHeader(socket!, proxyVersion as 1 | 2));
      if (program.kind === 'http' || program.kind === 'pgsql') socket!.write(program.request);
      else if (program.kind === 'mysql' && program.request !== null) socket!.write(program.request);
      else if (program.kind === 'redis') socket!.write(REDIS_PING);
      else if (program.kind === 'ldap') socket!.write(LDAP_BIND);
      else if (program.kind === 'ssl-hello') socket!.write(sslHello());
      evaluate();
    });
    socket.on('data', (chunk: Buffer) => {
      // Checks read at most a buffer's worth, as HAProxy's check buffer: enough for any status.
      if (received.length < 16384) received = Buffer.concat([received, chunk]);
      evaluate();
    });
    socket.once('end', () => {
      closed = true;
      evaluate();
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (!connected) {
        const text = connectError(error);
        return finish(error.code === 'ETIMEDOUT' ? 'L4TOUT' : 'L4CON', null, tcpCheck ? `${text}${where()}` : text);
      }
      closed = true;
      evaluate();
      finish('L7RSP', null, connectError(error));
    });
    socket.once('close', () => {
      closed = true;
      evaluate();
    });
  });
}
