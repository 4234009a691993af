/**
 * The syslog envelopes and the log-format language, against what HAProxy 2.6 sent (datagrams
 * captured with a UDP listener; quoted below). Dates are checked in UTC, the zone of those captures.
 */
import { hostname } from 'node:os';
import { beforeAll, describe, expect, it } from 'vitest';
import { SocketAddress } from '../../src/address.js';
import { compileLogFormat, DEFAULT_LINE, LogFormatError, SessionLogRecord, TCPLOG } from '../../src/log/log-format.js';
import { effectiveLevel, SyslogHeaders } from '../../src/log/syslog.js';

beforeAll(() => {
  process.env.TZ = 'UTC';
});

// 2026-12-04T09:16:37.208872Z, the moment of the captures.
const MICROS = Date.UTC(2026, 11, 4, 9, 16, 37) * 1000 + 208872;
const headers = (hostname: string | null = null): SyslogHeaders => new SyslogHeaders({ tag: 'haproxy', pid: 2016, hostname });

describe('syslog envelopes', () => {
  // Captured from `log 127.0.0.1:5514 [format <f>] <facility>` lines of haproxy 2.6.12, session
  // line at level info:
  //   <134>Dec  4 09:16:37 haproxy[2016]: 127.0.0.1:42676 [04/Dec/2026:09:16:37.198] fe_tcplog be/s1 1/0/9 5 -- 1/1/0/0/0 0/0   (no format)
  //   <142>1 2026-12-04T09:16:37.208872+00:00 - haproxy 2016 - - 127.0.0.1:42676 [...]
  //   127.0.0.1:42676 [...]                                  (raw)
  //   <6>127.0.0.1:42676 [...]                               (short, daemon)
  //   <158>127.0.0.1:42676 [...]                             (priority, local3)
  //   <6>2026-12-04T09:16:37.209120+00:00 127.0.0.1:42676 [...]   (timed)
  //   2026-12-04T09:16:37.209124+00:00 127.0.0.1:42676 [...]      (iso)
  //   <182>Dec  4 09:16:37 haproxy[2016]: 127.0.0.1:42676 [...]   (local, local6)
  it.each([
    // (no format: local) <134>Dec  4 09:16:37 haproxy[2016]: 127.0.0.1:42676 [...]
    // `format rfc3164`:   <134>Dec  4 09:16:37 localhost haproxy[2016]: 127.0.0.1:42676 [...]
    ['rfc3164', 'local0', '<134>Dec  4 09:16:37 localhost haproxy[2016]: '],
    ['rfc5424', 'local1', '<142>1 2026-12-04T09:16:37.208872+00:00 - haproxy 2016 - - '],
    ['raw', 'local2', ''],
    ['short', 'daemon', '<6>'],
    ['priority', 'local3', '<158>'],
    ['timed', 'local4', '<6>2026-12-04T09:16:37.208872+00:00 '],
    ['iso', 'local5', '2026-12-04T09:16:37.208872+00:00 '],
    ['local', 'local6', '<182>Dec  4 09:16:37 haproxy[2016]: '],
  ] as const)('%s', (format, facility, expected) => {
    expect(headers().header(format, facility, 'info', MICROS)).toBe(expected);
  });

  // With `log-send-hostname myhost`: `<134>Dec  4 09:33:24 myhost haproxy[16898]: Connect from ...` (no
  // format: rfc3164 then), `<142>Dec  4 09:33:24 haproxy[16898]: ...` (format local),
  // `<150>1 2026-12-04T09:33:24.223245+00:00 myhost haproxy 16898 - - ...` (rfc5424).
  it('names the host with log-send-hostname in rfc3164 and rfc5424, never in local; a proxy log-tag replaces the tag', () => {
    expect(headers('lb1').header('rfc3164', 'local0', 'info', MICROS)).toBe('<134>Dec  4 09:16:37 lb1 haproxy[2016]: ');
    expect(headers('lb1').header('local', 'local0', 'info', MICROS)).toBe('<134>Dec  4 09:16:37 haproxy[2016]: ');
    expect(headers('lb1').header('rfc5424', 'local0', 'info', MICROS, 'fe')).toBe('<134>1 2026-12-04T09:16:37.208872+00:00 lb1 fe 2016 - - ');
  });

  it('pads the day with a space and the microseconds with zeros, and follows the seconds', () => {
    const h = headers();
    const nextDay = Date.UTC(2026, 11, 14, 0, 0, 5) * 1000 + 7;
    expect(h.header('local', 'user', 'err', nextDay)).toBe('<11>Dec 14 00:00:05 haproxy[2016]: ');
    expect(h.header('iso', 'user', 'err', nextDay)).toBe('2026-12-14T00:00:05.000007+00:00 ');
    expect(h.header('iso', 'user', 'err', MICROS)).toBe('2026-12-04T09:16:37.208872+00:00 ');
  });

  it('filters by level and raises to the minimum level', () => {
    // `log ... local0 notice`: HAProxy sent its alert (<129>), emerg (<128>) and warning (<132>)
    // lines there, and no session line (info).
    expect(effectiveLevel('info', 'notice', 'emerg')).toBeNull();
    expect(effectiveLevel('warning', 'notice', 'emerg')).toBe('warning');
    expect(effectiveLevel('emerg', 'debug', 'crit')).toBe('crit');
    expect(effectiveLevel('err', 'debug', 'crit')).toBe('err');
  });
});

function record(fields: Partial<SessionLogRecord> = {}): SessionLogRecord {
  const r = new SessionLogRecord();
  Object.assign(r, {
    client: SocketAddress.parse('127.0.0.1:46408'),
    frontendAddress: () => SocketAddress.parse('127.0.0.1:6015'),
    serverAddress: () => SocketAddress.parse('127.0.0.1:6100'),
    backendSource: () => SocketAddress.parse('127.0.0.1:56326'),
    listenerLabel: '1',
    frontend: 'fe_custom',
    backend: 'be',
    server: 's1',
    acceptedAtMs: Date.UTC(2026, 11, 4, 9, 17, 33, 955),
    handshake: 0,
    queueWait: 1,
    connectTime: 0,
    totalTime: 281,
    bytesToClient: 3,
    bytesFromClient: 3,
    termination: '--',
    actconn: 2,
    feconn: 1,
    beconn: 0,
    srvconn: 0,
    retries: 0,
    logCount: 0,
    sessionNumber: 1,
    ...fields,
  });
  return r;
}

describe('log-format', () => {
  it('writes the tcplog line as HAProxy 2.6 does', () => {
    // HAProxy: `127.0.0.1:42676 [04/Dec/2026:09:16:37.198] fe_tcplog be/s1 1/0/9 5 -- 1/1/0/0/0 0/0`
    const r = record({ client: SocketAddress.parse('127.0.0.1:42676'), acceptedAtMs: Date.UTC(2026, 11, 4, 9, 16, 37, 198), frontend: 'fe_tcplog', totalTime: 9, bytesToClient: 5, actconn: 1 });
    expect(TCPLOG.render(r)).toBe('127.0.0.1:42676 [04/Dec/2026:09:16:37.198] fe_tcplog be/s1 1/0/9 5 -- 1/1/0/0/0 0/0');
  });

  it('writes a refused connect with Tc -1 and the retries', () => {
    // HAProxy: `127.0.0.1:42390 [04/Dec/2026:09:17:33.721] fe_refused be_refused/s1 1/-1/3004 0 SC 1/1/0/0/3 0/0`
    const r = record({ client: SocketAddress.parse('127.0.0.1:42390'), acceptedAtMs: Date.UTC(2026, 11, 4, 9, 17, 33, 721), frontend: 'fe_refused', backend: 'be_refused', connectTime: -1, totalTime: 3004, bytesToClient: 0, termination: 'SC', actconn: 1, retries: 3 });
    expect(TCPLOG.render(r)).toBe('127.0.0.1:42390 [04/Dec/2026:09:17:33.721] fe_refused be_refused/s1 1/-1/3004 0 SC 1/1/0/0/3 0/0');
  });

  it('marks what still grows with + in a logasap line', () => {
    // HAProxy: `127.0.0.1:54386 [04/Dec/2026:09:17:34.251] fe_asap be/s1 1/0/+0 +0 -- 2/1/1/1/0 0/0`
    const r = record({ client: SocketAddress.parse('127.0.0.1:54386'), acceptedAtMs: Date.UTC(2026, 11, 4, 9, 17, 34, 251), frontend: 'fe_asap', totalTime: 0, bytesToClient: 0, beconn: 1, srvconn: 1, partial: true });
    expect(TCPLOG.render(r)).toBe('127.0.0.1:54386 [04/Dec/2026:09:17:34.251] fe_asap be/s1 1/0/+0 +0 -- 2/1/1/1/0 0/0');
    // HAProxy, `option logasap` + `log-format "%Tw/%Tc/%Tt %B %U %ts %{+Q}f %{+X}ci %{+X}cp %{+X}pid %{+X}Ts %{+Q}b"`:
    //   `1/0/+0 +0 0 -- "fe_custom_asap" 7F000001 AB84 0AAC 6B12851E "be"`
    const custom = compileLogFormat('%Tw/%Tc/%Tt %B %U %ts %{+Q}f %{+X}ci %{+X}cp %{+X}Ts %{+Q}b');
    expect(custom.render(record({ frontend: 'fe_custom_asap', client: SocketAddress.parse('127.0.0.1:43908'), acceptedAtMs: 0x6b12851e * 1000, totalTime: 0, bytesToClient: 0, bytesFromClient: 0, partial: true }))).toBe(
      '1/0/+0 +0 0 -- "fe_custom_asap" 7F000001 AB84 6B12851E "be"',
    );
  });

  it('knows the TCP variables of HAProxy 2.6', () => {
    // HAProxy, with the same variables between '|':
    //   127.0.0.1|46408|127.0.0.1|6015|04/Dec/2026:09:17:33.955|fe_custom|fe_custom|be|s1|127.0.0.1|6100|127.0.0.1|56326|1|0|281|0|3|3|--|2|1|0|0|0|0|0|4163|vm|04/Dec/2026:09:17:33 +0000|1796375853|955|04/Dec/2026:09:17:33 +0000|-|0|1|281|281|
    const format = compileLogFormat('%ci|%cp|%fi|%fp|%t|%ft|%f|%b|%s|%si|%sp|%bi|%bp|%Tw|%Tc|%Tt|%Th|%B|%U|%ts|%ac|%fc|%bc|%sc|%rc|%sq|%bq|%T|%Ts|%ms|%Tl|%ID|%lc|%rt|%Tu|%o');
    expect(format.render(record())).toBe(
      '127.0.0.1|46408|127.0.0.1|6015|04/Dec/2026:09:17:33.955|fe_custom|fe_custom|be|s1|127.0.0.1|6100|127.0.0.1|56326|1|0|281|0|3|3|--|2|1|0|0|0|0|0|04/Dec/2026:09:17:33 +0000|1796375853|955|04/Dec/2026:09:17:33 +0000|-|0|1|281|',
    );
    expect(compileLogFormat('%pid %H').render(record())).toBe(`${process.pid} ${hostname()}`);
    expect(format.frontendAddress && format.backendSource).toBe(true);
    expect(TCPLOG.frontendAddress || TCPLOG.backendSource).toBe(false);
  });

  it("writes '-' for what a session never had, %% as %, and escapes with E", () => {
    const r = record({ server: '<NOSRV>', backend: 'a"b]', serverAddress: () => null, backendSource: () => null });
    expect(compileLogFormat('%si:%sp %bi:%bp %s 100%% %{+E,+Q}b').render(r)).toBe('-:- -:- <NOSRV> 100% "a\\"b\\]"');
  });

  it("writes HAProxy's default line", () => {
    // HAProxy: `Connect from 127.0.0.1:38578 to 127.0.0.1:6002 (fe_default/TCP)`
    expect(DEFAULT_LINE.render(record({ client: SocketAddress.parse('127.0.0.1:38578'), frontendAddress: () => SocketAddress.parse('127.0.0.1:6002'), frontend: 'fe_default' }))).toBe(
      'Connect from 127.0.0.1:38578 to 127.0.0.1:6002 (fe_default/TCP)',
    );
  });

  it("refuses what it does not know in HAProxy's words", () => {
    const error = (text: string): string => {
      try {
        compileLogFormat(text);
        return '';
      } catch (e) {
        expect(e).toBeInstanceOf(LogFormatError);
        return (e as Error).message;
      }
    };
    expect(error('%t%Tz')).toBe("no such format variable 'Tz'. If you wanted to emit the '%' character verbatim, you need to use '%%'.");
    expect(error('%ci %HM')).toBe("format variable 'HM' is reserved for HTTP mode.");
    expect(error('%[src]')).toBe("sample expressions ('%[...]') are not supported yet");
    expect(error('%{+Q')).toBe("missing '}' after '%{'");
    expect(error('100%')).toMatch(/no such format variable ''/);
    // Unknown flags are ignored, as HAProxy ignores them (`%{bad}s` passes `haproxy -c`).
    expect(error('%{bad}s')).toBe('');
  });
});
