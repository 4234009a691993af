/**
 * Converters (HAProxy 2.6 section 7.3.1) epoxy evaluates: one registry entry each, with its
 * arguments, input and output types, what it prepares once when the configuration is read (map
 * files are loaded then, masks parsed), and its evaluation. A sample is cast to the converter's
 * input type first (sample-types.ts); a converter that cannot produce a value gives no sample.
 */
import type { Parsed } from '../config/values.js';
import type { ArgSpec, ParsedArg } from './fetches.js';
import { MAP_METHODS, mapInput, mapValue, parseMap, type MapIndex, type MapMethod, type MapOutput } from './maps.js';
import { parseIpPattern } from '../config/values.js';
import { binSample, boolSample, intSample, strSample, type Sample, type SampleType } from './sample-types.js';

/** What converters may use when the configuration is read. */
export interface ConverterEnv {
  /** Reads a file named in the configuration (map files); absent: files cannot be read here. */
  readonly readFile?: (path: string) => string;
}

export interface ConverterDef {
  readonly name: string;
  /** Only 'int' and 'str' (converters name no proxies). */
  readonly args: readonly ArgSpec[];
  readonly in: SampleType;
  readonly out: SampleType;
  /** How its arguments are written, for messages and the documentation: '(<mask4>[,<mask6>])'. */
  readonly usage: string;
  readonly summary: string;
  /** Work done once when read (a map file loaded): its result is given to eval, or why it failed. */
  readonly prepare?: (args: readonly ParsedArg[], env: ConverterEnv, name: string) => Parsed<unknown>;
  readonly eval: (input: Sample, args: readonly ParsedArg[], state: unknown) => Sample | null;
}

const intArg = (args: readonly ParsedArg[], i: number): number => {
  const arg = args[i];
  return arg !== undefined && arg.kind === 'int' ? arg.value : 0;
};
const strArg = (args: readonly ParsedArg[], i: number): string | null => {
  const arg = args[i];
  return arg !== undefined && arg.kind === 'str' ? arg.value : null;
};
const int = (s: Sample): number => (s.type === 'int' ? s.value : 0);
const str = (s: Sample): string => (s.type === 'str' || s.type === 'bin' ? s.value : '');

/** Bitwise operations on HAProxy's 64-bit integers. */
function bitwise(a: number, b: number, op: 'and' | 'or' | 'xor'): Sample {
  const x = BigInt(a);
  const y = BigInt(b);
  const r = op === 'and' ? x & y : op === 'or' ? x | y : x ^ y;
  return intSample(Number(BigInt.asIntN(64, r)));
}

function arithmetic(name: string, summary: string, apply: (a: number, b: number) => Sample): ConverterDef {
  return { name, args: [{ kind: 'int' }], in: 'int', out: 'int', usage: '(<value>)', summary, eval: (s, args) => apply(int(s), intArg(args, 0)) };
}

/**
 * field() and word(): the `count` pieces from the `index`-th (from 1, or from the end when
 * negative; count 0: all the remaining ones), as the substring of the input that holds them.
 * Fields may be empty (two delimiters in a row); words are the non-empty runs between them.
 */
function pieces(input: string, index: number, delimiters: string, count: number, words: boolean): string {
  const spans: [number, number][] = [];
  let start = 0;
  for (let i = 0; i <= input.length; i++) {
    if (i === input.length || delimiters.includes(input[i]!)) {
      if (!words || i > start) spans.push([start, i]);
      start = i + 1;
    }
  }
  if (index === 0 || spans.length === 0) return '';
  let first: number;
  let last: number;
  if (index > 0) {
    first = index - 1;
    last = count === 0 ? spans.length - 1 : first + count - 1;
  } else {
    last = spans.length + index;
    first = count === 0 ? 0 : last - count + 1;
  }
  if (first >= spans.length || last < 0) return '';
  first = Math.max(first, 0);
  last = Math.min(last, spans.length - 1);
  return input.slice(spans[first]![0], spans[last]![1]);
}

/** A mask written as a prefix length or in dotted (IPv4) / colon (IPv6) form: its bytes. */
function parseMask(text: string, family: 'ipv4' | 'ipv6'): Uint8Array | null {
  const size = family === 'ipv4' ? 4 : 16;
  const bits = family === 'ipv4' ? 32 : 128;
  if (/^\d+$/.test(text)) {
    const prefix = Number(text);
    if (prefix > bits) return null;
    const mask = new Uint8Array(size);
    for (let i = 0; i < size; i++) mask[i] = prefix >= (i + 1) * 8 ? 0xff : prefix <= i * 8 ? 0 : (0xff << (8 - (prefix - i * 8))) & 0xff;
    return mask;
  }
  const parsed = parseIpPattern(text);
  return parsed.ok && parsed.value.family === family && parsed.value.prefix === bits ? parsed.value.bytes : null;
}

const ipmask: ConverterDef = {
  name: 'ipmask', args: [{ kind: 'str' }, { kind: 'str', optional: true }], in: 'ip', out: 'ip', usage: '(<mask4>[,<mask6>])',
  summary: 'the address with its host bits cleared (IPv6 addresses fail without <mask6>, as HAProxy)',
  prepare: (args, _env, name) => {
    const mask4 = parseMask(strArg(args, 0) ?? '', 'ipv4');
    if (mask4 === null) return { ok: false, reason: `converter '${name}': '${strArg(args, 0)}' is not an IPv4 mask (0 to 32, or dotted)` };
    const text6 = strArg(args, 1);
    const mask6 = text6 === null ? null : parseMask(text6, 'ipv6');
    if (text6 !== null && mask6 === null) return { ok: false, reason: `converter '${name}': '${text6}' is not an IPv6 mask (0 to 128, or in colon form)` };
    return { ok: true, value: { mask4, mask6 } };
  },
  eval: (s, _args, state) => {
    if (s.type !== 'ip') return null;
    const { mask4, mask6 } = state as { mask4: Uint8Array; mask6: Uint8Array | null };
    const mask = s.family === 'ipv4' ? mask4 : mask6;
    if (mask === null) return null;
    return { type: 'ip', family: s.family, bytes: s.bytes.map((b, i) => b & mask[i]!) };
  },
}; // prettier-ignore

/** map_<method>[_<out>] (and `map`): the value of the first key the input matches, else the default. */
function mapConverter(name: string, method: MapMethod, out: MapOutput): ConverterDef {
  return {
    name,
    args: [{ kind: 'str' }, { kind: 'str', optional: true }],
    in: mapInput(method),
    out,
    usage: '(<map_file>[,<default_value>])',
    summary: `the ${out === 'str' ? 'string' : out === 'int' ? 'integer' : 'address'} value of the ${method === 'ip' ? 'most specific network' : method === 'str' ? 'key equal to the input' : `first key matching the input with -m ${method}`}; else the default, else no sample`,
    prepare: (args, env, written) => {
      const path = strArg(args, 0) ?? '';
      if (path === '') return { ok: false, reason: `converter '${written}' expects a map file name` };
      const defaultText = strArg(args, 1);
      let fallback: Sample | null = null;
      if (defaultText !== null) {
        const parsed = mapValue(defaultText, out);
        if (!parsed.ok) return { ok: false, reason: `converter '${written}': default value ${parsed.reason}` };
        fallback = parsed.value;
      }
      if (env.readFile === undefined) return { ok: false, reason: `converter '${written}': map files cannot be read here` };
      let text: string;
      try {
        text = env.readFile(path);
      } catch (error) {
        return { ok: false, reason: `converter '${written}': failed to open map file <${path}>${error instanceof Error && error.message !== '' ? ` (${error.message})` : ''}` };
      }
      const map = parseMap(text, path, method, out);
      if (!map.ok) return { ok: false, reason: `converter '${written}': ${map.reason}` };
      return { ok: true, value: { map: map.value, fallback } };
    },
    eval: (s, _args, state) => {
      const { map, fallback } = state as { map: MapIndex; fallback: Sample | null };
      return map.lookup(s) ?? fallback;
    },
  };
}

export const CONVERTERS: readonly ConverterDef[] = [
  { name: 'lower', args: [], in: 'str', out: 'str', usage: '', summary: 'the string in lower case', eval: (s) => strSample(str(s).toLowerCase()) },
  { name: 'upper', args: [], in: 'str', out: 'str', usage: '', summary: 'the string in upper case', eval: (s) => strSample(str(s).toUpperCase()) },
  { name: 'length', args: [], in: 'str', out: 'int', usage: '', summary: 'the length of the string', eval: (s) => intSample(str(s).length) },
  { name: 'hex', args: [], in: 'bin', out: 'str', usage: '', summary: 'the bytes in upper-case hexadecimal', eval: (s) => strSample(Buffer.from(str(s), 'latin1').toString('hex').toUpperCase()) },
  {
    name: 'bytes', args: [{ kind: 'int', min: 0 }, { kind: 'int', min: 0, optional: true }], in: 'bin', out: 'bin', usage: '(<offset>[,<length>])',
    summary: 'the bytes from <offset>, at most <length> of them; no sample when <offset> is past the end',
    eval: (s, args) => {
      const bytes = str(s);
      const offset = intArg(args, 0);
      if (offset >= bytes.length) return null;
      return binSample(args[1] === undefined ? bytes.slice(offset) : bytes.slice(offset, offset + intArg(args, 1)));
    },
  },
  {
    name: 'field', args: [{ kind: 'int' }, { kind: 'str' }, { kind: 'int', optional: true, min: 0 }], in: 'str', out: 'str', usage: '(<index>,<delimiters>[,<count>])',
    summary: 'the <index>-th field between any of the <delimiters> (negative: from the end), <count> of them (0: all the rest)',
    eval: (s, args) => strSample(pieces(str(s), intArg(args, 0), strArg(args, 1) ?? '', args[2] === undefined ? 1 : intArg(args, 2), false)),
  },
  {
    name: 'word', args: [{ kind: 'int' }, { kind: 'str' }, { kind: 'int', optional: true, min: 0 }], in: 'str', out: 'str', usage: '(<index>,<delimiters>[,<count>])',
    summary: 'as field, but runs of delimiters count as one and leading or trailing ones are ignored',
    eval: (s, args) => strSample(pieces(str(s), intArg(args, 0), strArg(args, 1) ?? '', args[2] === undefined ? 1 : intArg(args, 2), true)),
  },
  ipmask,
  arithmetic('add', 'the integer plus <value>', (a, b) => intSample(a + b)),
  arithmetic('sub', 'the integer minus <value>', (a, b) => intSample(a - b)),
  arithmetic('mul', 'the integer times <value>', (a, b) => intSample(a * b)),
  arithmetic('div', 'the integer divided by <value>, rounded toward 0 (by 0: the largest integer, as HAProxy)', (a, b) => intSample(b === 0 ? Number.MAX_SAFE_INTEGER : a / b)),
  arithmetic('mod', 'the remainder of the division by <value> (by 0: 0, as HAProxy)', (a, b) => intSample(b === 0 ? 0 : a % b)),
  arithmetic('and', 'bitwise AND with <value>', (a, b) => bitwise(a, b, 'and')),
  arithmetic('or', 'bitwise OR with <value>', (a, b) => bitwise(a, b, 'or')),
  arithmetic('xor', 'bitwise XOR with <value>', (a, b) => bitwise(a, b, 'xor')),
  { name: 'neg', args: [], in: 'int', out: 'int', usage: '', summary: 'the integer negated', eval: (s) => intSample(-int(s)) },
  { name: 'not', args: [], in: 'int', out: 'bool', usage: '', summary: 'true when the integer is 0', eval: (s) => boolSample(int(s) === 0) },
  { name: 'bool', args: [], in: 'int', out: 'bool', usage: '', summary: 'true when the integer is not 0', eval: (s) => boolSample(int(s) !== 0) },
  { name: 'odd', args: [], in: 'int', out: 'bool', usage: '', summary: 'true when the integer is odd', eval: (s) => boolSample(Math.abs(int(s)) % 2 === 1) },
  { name: 'even', args: [], in: 'int', out: 'bool', usage: '', summary: 'true when the integer is even', eval: (s) => boolSample(int(s) % 2 === 0) },
  mapConverter('map', 'str', 'str'),
  ...MAP_METHODS.flatMap((method) => [mapConverter(`map_${method}`, method, 'str'), mapConverter(`map_${method}_int`, method, 'int'), mapConverter(`map_${method}_ip`, method, 'ip')]),
]; // prettier-ignore

const BY_NAME = new Map(CONVERTERS.map((c) => [c.name, c]));

export function findConverter(name: string): ConverterDef | undefined {
  return BY_NAME.get(name);
}

/** HAProxy converters epoxy does not evaluate yet: "not supported yet" rather than unknown. */
export const UNSUPPORTED_CONVERTERS: readonly string[] = [
  'base64', 'concat', 'crc32', 'djb2', 'json', 'ltime', 'map_dir', 'map_regm', 'regsub', 'sdbm', 'sha1', 'sha2', 'table_conn_cur',
  'ub64dec', 'ub64enc', 'url_dec', 'utime', 'wt6', 'xxh3', 'xxh32', 'xxh64',
]; // prettier-ignore
