/**
 * `bind` line parsing: address lists and port ranges, every supported option, and the errors a
 * config author sees (naming the keyword, suggesting the closest one for a typo).
 */
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import {
  BindOptionError,
  SUPPORTED_BIND_KEYWORDS,
  UNSUPPORTED_BIND_KEYWORDS,
  editDistance,
  parseBindLine,
  parseTimeMs,
  suggestKeyword,
} from '../../src/listener/index.js';

/** The BindOptionError parseBindLine throws for `words`. */
function refused(words: string[]): BindOptionError {
  try {
    parseBindLine(words);
  } catch (error) {
    expect(error).toBeInstanceOf(BindOptionError);
    expect((error as BindOptionError).code).toBe(ErrorCodes.INVALID_ARG);
    return error as BindOptionError;
  }
  throw new Error(`expected ${JSON.stringify(words)} to be refused`);
}

const texts = (words: string[]): string[] => parseBindLine(words).addresses.map((a) => a.toString());

describe('bind addresses', () => {
  it('gives one address per port of a range', () => {
    expect(texts(['0.0.0.0:8000-8002'])).toEqual(['0.0.0.0:8000', '0.0.0.0:8001', '0.0.0.0:8002']);
  });

  it('accepts comma-separated lists mixing forms', () => {
    expect(texts([':80,:443,[::1]:8080-8081,ipv6@:9000,/run/x.sock,abns@name,unix@rel.sock'])).toEqual([
      '0.0.0.0:80',
      '0.0.0.0:443',
      '[::1]:8080',
      '[::1]:8081',
      '[::]:9000',
      'unix@/run/x.sock',
      'unix@@name',
      'unix@rel.sock',
    ]);
  });

  it('reads wildcards and forced families', () => {
    const [star, v4, mapped] = parseBindLine(['*:81,ipv4@:82,ipv6@10.0.0.1:83']).addresses;
    expect([star?.family, star?.address, star?.port]).toEqual(['ipv4', '0.0.0.0', 81]);
    expect([v4?.family, v4?.address]).toEqual(['ipv4', '0.0.0.0']);
    expect([mapped?.family, mapped?.address]).toEqual(['ipv6', '::ffff:10.0.0.1']);
  });

  it('takes the port after the last colon of an unbracketed IPv6 address, as HAProxy', () => {
    expect(texts(['::1:80'])).toEqual(['[::1]:80']);
  });

  it('keeps the address text on the BindConf', () => {
    expect(parseBindLine([':80,:81']).bind.addressText).toBe(':80,:81');
  });

  const bad: Array<[string, RegExp]> = [
    ['127.0.0.1', /missing port specification in '127\.0\.0\.1'/],
    ['[::1]', /missing port specification/],
    ['127.0.0.1:0', /invalid port '0'/],
    ['127.0.0.1:70000', /invalid port '70000'/],
    ['127.0.0.1:90-80', /invalid port range '90-80'/],
    ['127.0.0.1:http', /invalid port 'http'/],
    ['300.0.0.1:80', /bind address '300\.0\.0\.1:80'/],
    ['localhost:80', /host names are not resolved/],
    [':80,,:81', /empty entry/],
    ['fd@3', /address prefix 'fd@' is not supported yet/],
    ['quic4@:443', /address prefix 'quic4@' is not supported yet/],
    ['foo@1.2.3.4:80', /unknown address prefix 'foo@'/],
    ['unix@', /empty socket path/],
  ];
  for (const [address, message] of bad) {
    it(`refuses '${address}'`, () => {
      const error = refused([address]);
      expect(error.message).toMatch(message);
      expect(error.keyword).toBe('bind');
    });
  }

  it('refuses a line without an address', () => {
    expect(refused([]).message).toBe("'bind' expects an address");
  });
});

describe('bind options', () => {
  it('parses the example of the brief', () => {
    const { bind, addresses } = parseBindLine([
      '0.0.0.0:8000-8002', 'transparent', 'defer-accept', 'backlog', '1024', 'mss', '-40', 'interface', 'eth0',
    ]);
    expect(addresses).toHaveLength(3);
    expect(bind).toMatchObject({ transparent: true, deferAccept: true, backlog: 1024, mss: -40, interface: 'eth0' });
  });

  it('parses every supported option', () => {
    const { bind } = parseBindLine([
      '[::]:443', 'freebind', 'tfo', 'v4v6', 'v6only', 'maxconn', '500', 'nolinger', 'tcp-ut', '30s', 'noreuseport',
      'name', 'web', 'id', '7', 'accept-proxy', 'namespace', 'blue', 'mss', '1400',
    ]);
    expect(bind).toMatchObject({
      freebind: true,
      tfo: true,
      v4v6: true,
      v6only: true,
      maxconn: 500,
      noLinger: true,
      tcpUserTimeout: 30_000,
      noReusePort: true,
      name: 'web',
      id: 7,
      acceptProxy: true,
      namespace: 'blue',
      namespacePath: '/var/run/netns/blue',
      mss: 1400,
    });
  });

  it('leaves unset options at their defaults', () => {
    const { bind } = parseBindLine([':80']);
    expect(bind).toMatchObject({
      name: null, id: null, backlog: 0, maxconn: 0, transparent: false, interface: null, mss: 0, tcpUserTimeout: 0,
      namespace: null, namespacePath: null, unix: { mode: null, uid: null, gid: null },
    });
  });

  it('parses unix socket permissions (mode is octal)', () => {
    const { bind } = parseBindLine(['/run/x.sock', 'mode', '660', 'uid', '1000', 'gid', '1001']);
    expect(bind.unix).toEqual({ mode: 0o660, uid: 1000, gid: 1001 });
    expect(parseBindLine(['/run/x.sock', 'mode', '0600']).bind.unix.mode).toBe(0o600);
  });

  it('resolves user and group names from /etc/passwd and /etc/group', () => {
    const { bind } = parseBindLine(['/run/x.sock', 'user', 'root', 'group', 'root']);
    expect(bind.unix).toMatchObject({ uid: 0, gid: 0 });
    expect(refused(['/run/x.sock', 'user', 'no-such-user-x']).message).toBe("'user': unknown user 'no-such-user-x'");
    expect(refused(['/run/x.sock', 'group', 'no-such-group-x']).keyword).toBe('group');
  });

  it('takes the last value of a repeated option', () => {
    expect(parseBindLine([':80', 'backlog', '10', 'backlog', '20']).bind.backlog).toBe(20);
  });

  it('reads tcp-ut in HAProxy time units, milliseconds by default', () => {
    expect(parseTimeMs('tcp-ut', '250')).toBe(250);
    expect(parseTimeMs('tcp-ut', '250ms')).toBe(250);
    expect(parseTimeMs('tcp-ut', '3s')).toBe(3000);
    expect(parseTimeMs('tcp-ut', '2m')).toBe(120_000);
    expect(parseTimeMs('tcp-ut', '1h')).toBe(3_600_000);
    expect(parseTimeMs('tcp-ut', '1d')).toBe(86_400_000);
    expect(refused([':80', 'tcp-ut', '5x']).message).toMatch(/'tcp-ut' expects a time/);
    expect(refused([':80', 'tcp-ut', '30d']).message).toMatch(/too large/);
  });

  const bad: Array<[string[], string, RegExp]> = [
    [['backlog'], 'backlog', /^'backlog' expects an integer argument$/],
    [['backlog', 'lots'], 'backlog', /^'backlog' expects an integer argument, got 'lots'$/],
    [['backlog', '-1'], 'backlog', /out of range/],
    [['maxconn', '1.5'], 'maxconn', /'maxconn' expects an integer argument/],
    [['mss', '0'], 'mss', /absolute value is 1 to 65535/],
    [['mss', '70000'], 'mss', /out of range/],
    [['mss'], 'mss', /'mss' expects an MSS/],
    [['mode', '999'], 'mode', /octal/],
    [['uid', 'root'], 'uid', /'uid' expects an integer argument/],
    [['id', '0'], 'id', /out of range/],
    [['interface', 'a-name-far-too-long'], 'interface', /1 to 15 characters/],
    [['namespace', '../etc'], 'namespace', /namespace name/],
    [['name'], 'name', /'name' expects an argument/],
  ];
  for (const [options, keyword, message] of bad) {
    it(`refuses ${options.join(' ')}`, () => {
      const error = refused([':80', ...options]);
      expect(error.message).toMatch(message);
      expect(error.keyword).toBe(keyword);
    });
  }

  it("refuses 'id' on a line defining several sockets", () => {
    expect(refused([':80-81', 'id', '3']).message).toMatch(/single socket \(this one defines 2\)/);
    expect(parseBindLine([':80', 'id', '3']).bind.id).toBe(3);
  });

  it('suggests the closest keyword for a typo', () => {
    const error = refused([':80', 'defer-acept']);
    expect(error.message).toBe("unknown bind option 'defer-acept'; did you mean 'defer-accept'?");
    expect(error.keyword).toBe('defer-acept');
    expect(refused([':80', 'backlgo', '5']).message).toMatch(/did you mean 'backlog'\?/);
    expect(refused([':80', 'transparnet']).message).toMatch(/did you mean 'transparent'\?/);
  });

  it('suggests nothing for a word far from every keyword', () => {
    expect(refused([':80', 'frobnicate']).message).toBe("unknown bind option 'frobnicate'");
  });

  it('refuses known HAProxy options not supported in TCP mode yet', () => {
    for (const word of ['ssl', 'crt', 'alpn', 'npn', 'ca-file', 'verify', 'proto', 'thread', 'shards']) {
      const error = refused([':80', word, 'x']);
      expect(error.message).toBe(`bind option '${word}' is not supported yet`);
      expect(error.keyword).toBe(word);
    }
  });

  it('keeps the supported and unsupported lists apart', () => {
    const both = SUPPORTED_BIND_KEYWORDS.filter((k) => UNSUPPORTED_BIND_KEYWORDS.includes(k));
    expect(both).toEqual([]);
  });
});

describe('edit distance', () => {
  it('counts insertions, deletions, substitutions and adjacent swaps', () => {
    expect(editDistance('backlog', 'backlog')).toBe(0);
    expect(editDistance('defer-acept', 'defer-accept')).toBe(1);
    expect(editDistance('tfo', 'tof')).toBe(1);
    expect(editDistance('mss', 'mass')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });

  it('suggests within a third of the word', () => {
    expect(suggestKeyword('v6-only')).toBe('v6only');
    expect(suggestKeyword('nolinger')).toBe('nolinger');
    expect(suggestKeyword('zzzzzz')).toBeNull();
  });
});
