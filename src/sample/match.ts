/**
 * Matching methods (HAProxy 2.6 section 7.1): a sample against an ACL's patterns. Patterns are
 * parsed once for the method; a sample is cast to the method's input type when matched (an
 * integer compared with `-m str` is its decimal text, a string with `-m ip` an address).
 */
import type { IntRange, IpPattern, MatchMethod, SampleMatch } from '../config/model.js';
import { MATCH_METHODS } from '../config/model.js';
import { parseIpPattern, type Parsed } from '../config/values.js';
import { castSample, type Sample, type SampleType } from './sample-types.js';

/** The type each method casts the sample to; null: any (found). */
export const METHOD_INPUT: Readonly<Record<MatchMethod, SampleType | null>> = {
  found: null, bool: 'bool', int: 'int', ip: 'ip', bin: 'bin', len: 'str', str: 'str', sub: 'str', reg: 'str', beg: 'str', end: 'str', dom: 'str',
}; // prettier-ignore

/** Methods HAProxy has and epoxy does not evaluate: refused as "not supported yet". */
const UNSUPPORTED_METHODS = ['dir'];

/** HAProxy's default method for an expression of each output type. */
export function defaultMethod(type: SampleType): MatchMethod {
  return type;
}

export function isMatchMethod(name: string): name is MatchMethod {
  return (MATCH_METHODS as readonly string[]).includes(name);
}

export function isKnownMethod(name: string): boolean {
  return isMatchMethod(name) || UNSUPPORTED_METHODS.includes(name);
}

const OPERATORS = new Set(['eq', 'ge', 'gt', 'le', 'lt']);

/** A port pattern: `80`, `1024:65535`, `:1023`, `1024:`, all within 0–65535. */
function parsePortRange(text: string): Parsed<IntRange> {
  const match = /^(\d*)(?::(\d*))?$/.exec(text);
  if (!match || text === '' || text === ':') return { ok: false, reason: `'${text}' is not a number` };
  const lowText = match[1]!;
  const highText = match[2];
  const low = lowText === '' ? 0 : Number(lowText);
  const high = highText === undefined ? low : highText === '' ? 65535 : Number(highText);
  if (low > 65535 || high > 65535) return { ok: false, reason: `'${text}' is not a valid port (0 to 65535)` };
  if (low > high) return { ok: false, reason: `'${text}' is an empty range` };
  return { ok: true, value: { low, high } };
}

/** Port patterns with operators, as HAProxy's compatibility layer: an operator applies to the values after it. */
function parsePortPatterns(values: readonly string[], warnings: string[]): Parsed<IntRange[]> {
  const patterns: IntRange[] = [];
  let operator = 'eq';
  for (const value of values) {
    if (OPERATORS.has(value)) {
      operator = value;
      continue;
    }
    if (operator === 'eq' || value.includes(':')) {
      const parsed = parsePortRange(value);
      if (!parsed.ok) return parsed;
      patterns.push(parsed.value);
      continue;
    }
    if (!/^\d+$/.test(value)) return { ok: false, reason: `'${value}' is neither a number nor a supported operator` };
    const n = Number(value);
    if (n > 65535) return { ok: false, reason: `'${value}' is not a valid port (0 to 65535)` };
    const range =
      operator === 'ge' ? { low: n, high: 65535 }
      : operator === 'gt' ? { low: n + 1, high: 65535 }
      : operator === 'le' ? { low: 0, high: n }
      : { low: 0, high: n - 1 }; // prettier-ignore
    if (range.low > range.high) {
      warnings.push(`'${operator} ${value}' can never match a port`);
      continue;
    }
    patterns.push(range);
  }
  return { ok: true, value: patterns };
}

/** An integer pattern's number: decimal (signed unless `dotted`), or MAJOR.MINOR for versions. */
function integerValue(text: string, dotted: boolean): number | null {
  if (dotted) {
    const version = /^(\d+)(?:\.(\d+))?$/.exec(text);
    if (version === null || Number(version[1]) > 0xffff || Number(version[2] ?? 0) > 0xffff) return null;
    return Number(version[1]) * 65536 + Number(version[2] ?? 0);
  }
  return /^-?\d+$/.test(text) && Math.abs(Number(text)) <= Number.MAX_SAFE_INTEGER ? Number(text) : null;
}

/** Integer patterns with HAProxy's operators (`gt 2`) and ranges (`1:3`, `3.0:3.3`). */
export function parseIntegerPatterns(values: readonly string[], dotted: boolean): Parsed<IntRange[]> {
  const patterns: IntRange[] = [];
  const min = dotted ? 0 : Number.MIN_SAFE_INTEGER;
  const max = Number.MAX_SAFE_INTEGER;
  let operator = 'eq';
  for (const value of values) {
    if (OPERATORS.has(value)) {
      operator = value;
      continue;
    }
    const range = /^([^:]*):([^:]*)$/.exec(value);
    if (range !== null) {
      const low = range[1] === '' ? min : integerValue(range[1]!, dotted);
      const high = range[2] === '' ? max : integerValue(range[2]!, dotted);
      if (low === null || high === null || low > high) return { ok: false, reason: `'${value}' is not a valid range` };
      patterns.push({ low, high });
      continue;
    }
    const n = integerValue(value, dotted);
    if (n === null) return { ok: false, reason: `'${value}' is neither a number nor a supported operator` };
    patterns.push(
      operator === 'ge' ? { low: n, high: max }
      : operator === 'gt' ? { low: n + 1, high: max }
      : operator === 'le' ? { low: min, high: n }
      : operator === 'lt' ? { low: min, high: n - 1 }
      : { low: n, high: n }, // prettier-ignore
    );
  }
  return { ok: true, value: patterns };
}

/** Decodes a hex pattern (even count of digits) into the latin1 text binary samples compare with. */
export function hexPattern(text: string): string | null {
  if (text.length % 2 !== 0 || !/^[0-9A-Fa-f]*$/.test(text)) return null;
  return Buffer.from(text, 'hex').toString('latin1');
}

export interface PatternOptions {
  readonly ignoreCase: boolean;
  /** How integers are written for this fetch without converters: ports, versions, or plain. */
  readonly intPatterns?: 'port' | 'version' | undefined;
  /** The keyword as written, for messages. */
  readonly keyword: string;
}

/** Parses `values` for `method`: the match, and warnings (a pattern that can never match...). */
export function parsePatterns(method: MatchMethod, values: readonly string[], options: PatternOptions): Parsed<{ match: SampleMatch; warnings: string[] }> {
  const warnings: string[] = [];
  const texts: string[] = [];
  const regexes: RegExp[] = [];
  const ranges: IntRange[] = [];
  const ips: IpPattern[] = [];
  const ignoreCase = options.ignoreCase && method !== 'bin';
  if (method === 'bool') {
    if (values.length > 0) warnings.push(`'${options.keyword}' takes no pattern; the values are ignored`);
  } else if (values.length === 0 && method !== 'found') {
    warnings.push(`parsing acl keyword '${options.keyword}' : no pattern to match against were provided, so this ACL will never match.`);
  }
  switch (method) {
    case 'found':
    case 'bool':
      break;
    case 'int': {
      const parsed = options.intPatterns === 'port' ? parsePortPatterns(values, warnings) : parseIntegerPatterns(values, options.intPatterns === 'version');
      if (!parsed.ok) return parsed;
      ranges.push(...parsed.value);
      break;
    }
    case 'len': {
      const parsed = parseIntegerPatterns(values, false);
      if (!parsed.ok) return parsed;
      ranges.push(...parsed.value);
      break;
    }
    case 'ip':
      for (const value of values) {
        const parsed = parseIpPattern(value);
        if (!parsed.ok) return parsed;
        ips.push(parsed.value);
      }
      break;
    case 'reg':
      for (const value of values) {
        try {
          regexes.push(new RegExp(value, ignoreCase ? 'i' : ''));
        } catch {
          return { ok: false, reason: `regex '${value}' is invalid` };
        }
      }
      break;
    case 'bin':
      for (const value of values) {
        const decoded = hexPattern(value);
        if (decoded === null) return { ok: false, reason: `'${value}' is not a valid hex string` };
        texts.push(decoded);
      }
      break;
    default:
      texts.push(...values.map((v) => (ignoreCase ? v.toLowerCase() : v)));
  }
  return { ok: true, value: { match: { method, ignoreCase, texts, regexes, ranges, ips }, warnings } };
}

const inRanges = (ranges: readonly IntRange[], n: number): boolean => ranges.some((r) => n >= r.low && n <= r.high);

/** Whether address bytes of `family` are in the network `pattern`. */
export function ipInNetwork(pattern: IpPattern, family: 'ipv4' | 'ipv6', bytes: Uint8Array): boolean {
  if (family !== pattern.family) return false;
  let bits = pattern.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((bytes[i]! & mask) !== (pattern.bytes[i]! & mask)) return false;
  }
  return true;
}

/** `-m dom`: the pattern is in the sample between delimiters ('.', '/', '?', ':') or its ends. */
export function domainMatches(sample: string, pattern: string): boolean {
  const delimiter = (c: string | undefined): boolean => c === undefined || c === '.' || c === '/' || c === '?' || c === ':';
  for (let at = sample.indexOf(pattern); at >= 0; at = sample.indexOf(pattern, at + 1)) {
    if (delimiter(at === 0 ? undefined : sample[at - 1]) && delimiter(sample[at + pattern.length])) return true;
  }
  return false;
}

/** Whether `sample` matches: cast to the method's input first (no cast: no match). */
export function sampleMatches(match: SampleMatch, sample: Sample): boolean {
  if (match.method === 'found') return true;
  const cast = castSample(sample, METHOD_INPUT[match.method]!);
  if (cast === null) return false;
  switch (cast.type) {
    case 'bool':
      return cast.value;
    case 'int':
      return inRanges(match.ranges, cast.value);
    case 'ip':
      return match.ips.some((p) => ipInNetwork(p, cast.family, cast.bytes));
    case 'bin':
      return match.texts.includes(cast.value);
  }
  const raw = cast.value;
  const text = match.ignoreCase ? raw.toLowerCase() : raw;
  switch (match.method) {
    case 'str':
      return match.texts.includes(text);
    case 'beg':
      return match.texts.some((t) => text.startsWith(t));
    case 'end':
      return match.texts.some((t) => text.endsWith(t));
    case 'sub':
      return match.texts.some((t) => text.includes(t));
    case 'dom':
      return match.texts.some((t) => domainMatches(text, t));
    case 'reg':
      return match.regexes.some((r) => r.test(raw));
    case 'len':
      return inRanges(match.ranges, raw.length);
    default:
      return false;
  }
}
