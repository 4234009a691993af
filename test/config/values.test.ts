/** Values: HAProxy's time format, IP patterns, and the `.if` condition language. */
import { describe, expect, it } from 'vitest';
import { parseIpPattern, parseTime } from '../../src/config/index.js';
import { compareVersions, evaluateCondition } from '../../src/config/preprocessor.js';

describe('parseTime (HAProxy section 2.5)', () => {
  it('reads every unit, milliseconds by default', () => {
    const ms = (t: string) => {
      const r = parseTime(t);
      if (!r.ok) throw new Error(t);
      return r.value;
    };
    expect([ms('0'), ms('250'), ms('250ms'), ms('5s'), ms('2m'), ms('1h'), ms('1d'), ms('1500us'), ms('1us')]).toEqual([
      0, 250, 250, 5000, 120000, 3600000, 86400000, 2, 1,
    ]);
    expect(ms('2147483647')).toBe(2147483647);
  });

  it('refuses what HAProxy refuses, and trailing characters', () => {
    expect(parseTime('2147483648')).toEqual({ ok: false, error: { kind: 'over' } });
    expect(parseTime('25d')).toEqual({ ok: false, error: { kind: 'over' } });
    expect(parseTime('99999999999999999999')).toEqual({ ok: false, error: { kind: 'over' } });
    expect(parseTime('5x')).toEqual({ ok: false, error: { kind: 'char', char: 'x' } });
    expect(parseTime('5sec')).toEqual({ ok: false, error: { kind: 'char', char: 'e' } });
    expect(parseTime('-5')).toEqual({ ok: false, error: { kind: 'char', char: '-' } });
    expect(parseTime('')).toEqual({ ok: false, error: { kind: 'char', char: '' } });
  });
});

describe('parseIpPattern (HAProxy section 7.1.6)', () => {
  const net = (t: string) => {
    const r = parseIpPattern(t);
    if (!r.ok) throw new Error(r.reason);
    return `${r.value.address}/${r.value.prefix}`;
  };

  it('reads IPv4 with bits or a dotted mask, clearing host bits', () => {
    expect([net('192.168.1.77/24'), net('10.1.2.3'), net('172.16.5.4/255.255.0.0'), net('0.0.0.0/0')]).toEqual([
      '192.168.1.0/24', '10.1.2.3/32', '172.16.0.0/16', '0.0.0.0/0',
    ]);
  });

  it("reads HAProxy's abbreviated IPv4 forms (inet_aton's decimal ones)", () => {
    expect([net('127.1'), net('10.12/8'), net('192.168.1')]).toEqual(['127.0.0.1/32', '10.0.0.0/8', '192.168.0.1/32']);
  });

  it('reads IPv6, compressed canonically, with an embedded IPv4', () => {
    expect([net('2001:DB8:0:0:1::1/64'), net('::1'), net('::ffff:10.0.0.1'), net('fe80::1:2:3:4/10'), net('1:0:0:1:0:0:0:1')]).toEqual([
      '2001:db8::/64', '::1/128', '::ffff:a00:1/128', 'fe80::/10', '1:0:0:1::1/128',
    ]);
  });

  it('refuses bad addresses, masks and host names', () => {
    for (const bad of ['1.2.3.4/33', '::1/129', '1.2.3.256', '010.1.1.1', '1.2.3.4/255.0.255.0', 'localhost', '1.2.3.4/', '::1/x', 'fe80::1%eth0', '10']) {
      expect(parseIpPattern(bad).ok, bad).toBe(false);
    }
    const named = parseIpPattern('db.example.com');
    expect(named.ok ? '' : named.reason).toContain('host names are not resolved');
  });
});

describe('.if conditions (HAProxy section 2.4)', () => {
  const env = { SET: '', WITH: 'yes' };
  const value = (text: string) => {
    const r = evaluateCondition(text, env);
    if (!r.ok) throw new Error(r.reason);
    return r.value;
  };

  it('evaluates integers, predicates, negation, && before ||, parentheses', () => {
    expect([value(''), value('0'), value('1'), value('42'), value('!0')]).toEqual([false, false, true, true, true]);
    expect([value('defined(SET)'), value('defined(UNSET)'), value('streq(yes,yes)'), value('strneq(a,"a")')]).toEqual([true, false, true, false]);
    expect([value('feature(OPENSSL)'), value('openssl_version_atleast(1.1.1)')]).toEqual([false, false]);
    expect(value('1 || 0 && 0')).toBe(true);
    expect(value('(1 || 0) && 0')).toBe(false);
    expect(value('!(0 || !1) && defined(SET)')).toBe(true);
  });

  it('compares versions against HAProxy 2.6.12', () => {
    expect([value('version_atleast(2.4-dev19)'), value('version_atleast(2.6)'), value('version_atleast(2.6.13)'), value('version_before(2.7)'), value('version_before(2.6.12)')]).toEqual([
      true, true, false, true, false,
    ]);
    expect(compareVersions('2.6-dev1', '2.6')).toBe(-1);
    expect(compareVersions('2.6.0', '2.6')).toBe(0);
  });

  it('refuses malformed conditions', () => {
    for (const bad of ['nope(1)', 'defined(A,B)', '(1', '1 2', 'word', 'streq(a)', '!', 'version_atleast(x)']) {
      expect(evaluateCondition(bad, env).ok, bad).toBe(false);
    }
  });
});
