/**
 * The parser never crashes: random garbage, random keyword soup and random objects give
 * diagnostics, never an exception, and never an "internal error" (which would mean a bug). The
 * generator is seeded; a failure prints the seed and the input to replay it.
 */
import { describe, expect, it } from 'vitest';
import {
  OPTIONS,
  SECTION_KEYWORDS,
  SUPPORTED_GLOBAL_KEYWORDS,
  SUPPORTED_PROXY_KEYWORDS,
  SUPPORTED_SERVER_KEYWORDS,
  TIMEOUTS,
  UNSUPPORTED_PROXY,
  readConfig,
  readConfigObject,
  type ConfigResult,
} from '../../src/config/index.js';

/** mulberry32: small, seedable, good enough to pick garbage. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.EPOXY_FUZZ_SEED ?? Date.now() % 1_000_000);
const rand = random(SEED);
const pick = <T,>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
const int = (n: number): number => Math.floor(rand() * n);

const KEYWORDS = [
  ...SECTION_KEYWORDS,
  ...SUPPORTED_GLOBAL_KEYWORDS,
  ...SUPPORTED_PROXY_KEYWORDS,
  ...SUPPORTED_SERVER_KEYWORDS,
  ...Object.keys(UNSUPPORTED_PROXY),
  'no', 'default', 'if', 'unless', 'or', '||', '!', '{', '}', 'from', 'usesrc', 'client', 'clientip',
  'option', 'timeout', 'src', 'dst', 'src_port', 'dst_port', 'LOCALHOST', 'TRUE', '.if', '.else', '.endif', '.elif',
  '.alert', '.warning', 'accept', 'reject', 'connection', 'stdout', 'stderr', 'local0', 'format', 'raw', 'len',
  'random(', 'random(3)', 'random()', 'roundrobin', 'source', 'consistent', 'map-based', 'defined(X)', 'streq(a,b)',
]; // prettier-ignore
const VALUES = [
  '0', '1', '-1', '65535', '65536', '99999999999999999999', '1.5', '5s', '1us', '2m', '1d', 'x', '', ' ',
  '127.0.0.1:80', '[::1]:443', ':80', '*:80', 'unix@/tmp/x.sock', '/run/x', 'abns@x', 'fd@3', 'ipv4@h:1',
  'ipv6@::1:1', '10.0.0.0/8', '::/0', '1.2.3.4/255.0.0.0', '1.2.3.4/255.0.255.0', 'host.example:1',
  '0.0.0.0:1-65535', '1:2', ':5', '5:', 'ge', 'lt', '-m', 'ip', 'int', '-f', '--', '%[src]', 'ü', '\u0000',
]; // prettier-ignore
const CHARS = ' \t\\"\'#${}[]*.:-_/@!|()\r0123456789abcxyz\u00e9\u{1f600}\u0000';

function garbageWord(): string {
  switch (int(5)) {
    case 0:
      return pick(KEYWORDS);
    case 1:
      return pick(VALUES);
    case 2:
      return `"${pick(['${X}', '$X', '${X-d}', '${X[*]}', '${', '$1', '\\x4', '\\x41', '${.LINE}', '${.NOPE}'])}"`;
    case 3:
      return `${pick(Object.keys(OPTIONS))} ${pick(Object.keys(TIMEOUTS))}`;
    default: {
      let word = '';
      for (let i = int(12); i > 0; i--) word += pick([...CHARS]);
      return word;
    }
  }
}

function garbageLine(): string {
  const indent = pick(['', '    ', '\t', ' ']);
  const words: string[] = [];
  for (let i = int(8); i >= 0; i--) words.push(garbageWord());
  return indent + words.join(pick([' ', '  ', '\t']));
}

function garbageFile(): string {
  const lines: string[] = [];
  for (let i = int(30); i >= 0; i--) {
    lines.push(rand() < 0.15 ? pick(SECTION_KEYWORDS) + (rand() < 0.8 ? ` p${int(4)}` : '') : garbageLine());
  }
  return lines.join(pick(['\n', '\r\n', '\n\n'])) + (rand() < 0.8 ? '\n' : '');
}

function garbageValue(depth: number): unknown {
  const kind = int(depth > 3 ? 6 : 9);
  switch (kind) {
    case 0:
      return pick(VALUES);
    case 1:
      return int(1000) - 10;
    case 2:
      return rand() < 0.5;
    case 3:
      return null;
    case 4:
      return undefined;
    case 5:
      return pick(KEYWORDS);
    case 6:
    case 7: {
      const out: Record<string, unknown> = {};
      const keys = ['global', 'defaults', 'frontends', 'backends', 'listen', 'bind', 'servers', 'name', 'address', 'timeout', 'connect', 'client', 'option', 'redispatch', 'acl', 'useBackend', 'if', 'unless', 'backend', 'weight', 'log', 'target', 'facility', 'source', 'balance', 'maxconn', 'tune', 'bufsize', 'from', 'x'];
      for (let i = int(6); i > 0; i--) out[pick(keys)] = garbageValue(depth + 1);
      return out;
    }
    default: {
      const out: unknown[] = [];
      for (let i = int(4); i > 0; i--) out.push(garbageValue(depth + 1));
      return out;
    }
  }
}

/** Diagnostics are well-formed and none reports an internal error. */
function wellFormed(result: ConfigResult, lineCount: number, input: string): void {
  for (const d of result.diagnostics) {
    const context = `seed ${SEED}: ${JSON.stringify(d)}\ninput: ${JSON.stringify(input)}`;
    expect(['alert', 'warning', 'notice'], context).toContain(d.severity);
    expect(d.message, context).not.toMatch(/internal error/);
    expect(typeof d.message, context).toBe('string');
    expect(d.line >= 0 && d.line <= lineCount + 1, context).toBe(true);
  }
}

describe(`never crashes on any input (seed ${SEED}, EPOXY_FUZZ_SEED to replay)`, () => {
  it('random files', () => {
    for (let i = 0; i < 400; i++) {
      const text = garbageFile();
      let result: ConfigResult | undefined;
      expect(() => (result = readConfig([{ name: 'g.cfg', text }], { env: { X: 'a b', EMPTY: '' }, readFile: () => '10.0.0.0/8\n' })), `seed ${SEED} input ${JSON.stringify(text)}`).not.toThrow();
      wellFormed(result!, text.split('\n').length, text);
    }
  });

  it('random objects', () => {
    for (let i = 0; i < 400; i++) {
      const input = garbageValue(0);
      let result: ConfigResult | undefined;
      expect(() => (result = readConfigObject(input as never)), `seed ${SEED} input ${JSON.stringify(input)}`).not.toThrow();
      wellFormed(result!, 0, JSON.stringify(input));
    }
  });

  it('every line of the realistic fixture with one word replaced by garbage', async () => {
    const { readFileSync } = await import('node:fs');
    const { ROOT } = await import('../helpers/child.js');
    const lines = readFileSync(`${ROOT}test/fixtures/config/all-keywords.cfg`, 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const words = lines[i]!.trim().split(/\s+/);
      if (words.length === 0 || words[0] === '' || words[0]!.startsWith('#')) continue;
      for (let j = 0; j < 3; j++) {
        const mutated = [...words];
        mutated[int(mutated.length)] = garbageWord();
        const copy = [...lines];
        copy[i] = `    ${mutated.join(' ')}`;
        const text = copy.join('\n');
        let result: ConfigResult | undefined;
        expect(() => (result = readConfig([{ name: 'm.cfg', text }], { env: {} })), `seed ${SEED} line ${i}: ${copy[i]}`).not.toThrow();
        wellFormed(result!, copy.length, copy[i]!);
      }
    }
  });
});
