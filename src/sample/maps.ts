/**
 * Map files of the `map_*` converters (HAProxy 2.6, converter `map`): read once when the
 * configuration is loaded, one `<key> <value>` a line, '#' comment lines and blank lines skipped,
 * leading blanks stripped, the key the first word, the value the rest without its trailing blanks.
 * Keys are parsed for the map's matching method and values for its output type there, so a lookup
 * is a hash probe (str) or a scan of parsed keys, never parsing.
 */
import type { IntRange, IpPattern } from '../config/model.js';
import { parseIpPattern, type Parsed } from '../config/values.js';
import { domainMatches, ipInNetwork, parseIntegerPatterns } from './match.js';
import { intSample, parseIpSample, strSample, type Sample, type SampleType } from './sample-types.js';

/** How a map's keys match its input: HAProxy's map_<match> forms epoxy evaluates. */
export type MapMethod = 'str' | 'beg' | 'end' | 'sub' | 'dom' | 'reg' | 'ip' | 'int';
export const MAP_METHODS: readonly MapMethod[] = ['str', 'beg', 'end', 'sub', 'dom', 'reg', 'ip', 'int'];
/** The output types of map_<match>_<out>. */
export type MapOutput = 'str' | 'int' | 'ip';

/** The input type a map method reads. */
export const mapInput = (method: MapMethod): SampleType => (method === 'ip' ? 'ip' : method === 'int' ? 'int' : 'str');

export interface MapIndex {
  /** The value for `input` (already of the method's input type), or null when no key matches. */
  lookup(input: Sample): Sample | null;
  readonly size: number;
}

/** A value of `out` type as written in a map (or as a default value), or why it is not one. */
export function mapValue(text: string, out: MapOutput): Parsed<Sample> {
  if (out === 'str') return { ok: true, value: strSample(text) };
  if (out === 'int') {
    return /^-?\d+$/.test(text) && Math.abs(Number(text)) <= Number.MAX_SAFE_INTEGER
      ? { ok: true, value: intSample(Number(text)) }
      : { ok: false, reason: `'${text}' is not an integer` };
  }
  const address = parseIpSample(text);
  return address === null ? { ok: false, reason: `'${text}' is not an IPv4 or IPv6 address` } : { ok: true, value: address };
}

type Key = { text: string } | { regex: RegExp } | { network: IpPattern } | { range: IntRange };

function parseKey(text: string, method: MapMethod): Parsed<Key> {
  switch (method) {
    case 'ip': {
      const parsed = parseIpPattern(text);
      return parsed.ok ? { ok: true, value: { network: parsed.value } } : parsed;
    }
    case 'int': {
      const parsed = parseIntegerPatterns([text], false);
      if (!parsed.ok) return parsed;
      return parsed.value.length === 1 ? { ok: true, value: { range: parsed.value[0]! } } : { ok: false, reason: `'${text}' is not an integer or a range` };
    }
    case 'reg':
      try {
        return { ok: true, value: { regex: new RegExp(text) } };
      } catch {
        return { ok: false, reason: `regex '${text}' is invalid` };
      }
    default:
      return { ok: true, value: { text } };
  }
}

/**
 * Parses a map file's text. Errors name the file and line: `map file <geo.map> line 3: ...`. As
 * HAProxy: the first entry of a key wins (str), the first matching line wins (beg, end, sub, dom,
 * reg, int), and among IP networks the most specific one that contains the address.
 */
export function parseMap(text: string, path: string, method: MapMethod, out: MapOutput): Parsed<MapIndex> {
  const exact = new Map<string, Sample>();
  const entries: { key: Key; value: Sample }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/^[ \t]+/, '').replace(/[ \t\r]+$/, '');
    if (line === '' || line.startsWith('#')) continue;
    const split = /^(\S+)(?:[ \t]+(.*))?$/.exec(line)!;
    const fail = (reason: string): Parsed<MapIndex> => ({ ok: false, reason: `map file <${path}> line ${i + 1}: ${reason}` });
    const keyText = split[1]!;
    const valueText = split[2];
    if (valueText === undefined) return fail(`'${keyText}' has no value`);
    const value = mapValue(valueText, out);
    if (!value.ok) return fail(value.reason);
    const key = parseKey(keyText, method);
    if (!key.ok) return fail(key.reason);
    if (method === 'str') {
      if (!exact.has(keyText)) exact.set(keyText, value.value);
    } else {
      entries.push({ key: key.value, value: value.value });
    }
  }
  const size = method === 'str' ? exact.size : entries.length;
  switch (method) {
    case 'str':
      return { ok: true, value: { size, lookup: (input) => (input.type === 'str' ? (exact.get(input.value) ?? null) : null) } };
    case 'ip':
      return {
        ok: true,
        value: {
          size,
          lookup: (input) => {
            if (input.type !== 'ip') return null;
            let best: { key: Key; value: Sample } | null = null;
            for (const entry of entries) {
              const network = (entry.key as { network: IpPattern }).network;
              if (ipInNetwork(network, input.family, input.bytes) && (best === null || network.prefix > (best.key as { network: IpPattern }).network.prefix)) best = entry;
            }
            return best?.value ?? null;
          },
        },
      };
    case 'int':
      return {
        ok: true,
        value: {
          size,
          lookup: (input) => {
            if (input.type !== 'int') return null;
            const n = input.value;
            return entries.find((e) => { const r = (e.key as { range: IntRange }).range; return n >= r.low && n <= r.high; })?.value ?? null; // prettier-ignore
          },
        },
      };
    default: {
      const test: (sample: string, key: Key) => boolean =
        method === 'beg' ? (s, k) => s.startsWith((k as { text: string }).text)
        : method === 'end' ? (s, k) => s.endsWith((k as { text: string }).text)
        : method === 'sub' ? (s, k) => s.includes((k as { text: string }).text)
        : method === 'dom' ? (s, k) => domainMatches(s, (k as { text: string }).text)
        : (s, k) => (k as { regex: RegExp }).regex.test(s); // prettier-ignore
      return {
        ok: true,
        value: { size, lookup: (input) => (input.type === 'str' ? (entries.find((e) => test(input.value, e.key))?.value ?? null) : null) },
      };
    }
  }
}
