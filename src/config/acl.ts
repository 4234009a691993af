/**
 * ACLs and conditions, the TCP subset of HAProxy's section 7: the fetches `src`, `dst`,
 * `src_port` and `dst_port` (plus `always_true` / `always_false`), matched against IP networks
 * and integer ranges; the layer-6 fetches of content inspection (`req.ssl_sni`, `req.ssl_alpn`,
 * `req.ssl_hello_type`, `req.ssl_ver`, `req.ssl_ec_ext`, `req.len`, `req.payload`,
 * `req.payload_lv`, `wait_end`) with the string matching methods; conditions `if|unless` made of ACL names, `!`, `or` / `||`, implicit AND
 * and anonymous ACLs between braces. Behaviour follows acl.c of HAProxy 2.6: an ACL must be
 * declared before a condition uses it; several `acl` lines with one name OR their tests; the
 * predefined TRUE, FALSE and LOCALHOST may be used without declaration.
 */
import type { Acl, AclTest, Condition, ConditionTerm, IntRange, IpPattern, SampleMatch, Where } from './model.js';
import { parseIpPattern, type Parsed } from './values.js';

/** The fetches an ACL can test, and how their values are written. */
export const ACL_FETCHES = ['src', 'dst', 'src_port', 'dst_port', 'always_true', 'always_false'] as const;
export type AclFetch = (typeof ACL_FETCHES)[number];

/** Content fetches, by every name HAProxy 2.6 accepts (the old ones are its deprecated aliases). */
const CONTENT_FETCHES: Readonly<Record<string, 'req.ssl_sni' | 'req.ssl_alpn' | 'req.ssl_hello_type' | 'req.ssl_ver' | 'req.len' | 'req.ssl_ec_ext' | 'wait_end' | 'req.payload' | 'req.payload_lv'>> = {
  'req.ssl_sni': 'req.ssl_sni', req_ssl_sni: 'req.ssl_sni',
  'req.ssl_alpn': 'req.ssl_alpn',
  'req.ssl_hello_type': 'req.ssl_hello_type', req_ssl_hello_type: 'req.ssl_hello_type',
  'req.ssl_ver': 'req.ssl_ver', req_ssl_ver: 'req.ssl_ver',
  'req.len': 'req.len', req_len: 'req.len',
  'req.ssl_ec_ext': 'req.ssl_ec_ext',
  wait_end: 'wait_end',
  'req.payload': 'req.payload', payload: 'req.payload',
  'req.payload_lv': 'req.payload_lv', payload_lv: 'req.payload_lv',
}; // prettier-ignore
export const CONTENT_FETCH_NAMES: readonly string[] = Object.keys(CONTENT_FETCHES);
/** The content fetches under their current names. */
export const CONTENT_ACL_FETCHES: readonly string[] = [...new Set(Object.values(CONTENT_FETCHES))];

/** Whether a test reads the client's buffered bytes (and so means nothing before they are read). */
export function isContentTest(test: AclTest): boolean {
  return test.fetch.startsWith('req.') || test.fetch === 'wait_end';
}

/**
 * HAProxy fetches a TCP configuration may use that epoxy does not evaluate yet, so that they
 * are reported as "not supported yet" rather than unknown.
 */
export const UNSUPPORTED_ACL_FETCHES: readonly string[] = [
  'bc_dst', 'bc_dst_port', 'bc_src', 'bc_src_port', 'be_conn', 'be_sess_rate', 'connslots',
  'dst_conn', 'dst_is_local', 'fc_dst', 'fc_dst_port', 'fc_src', 'fc_src_port', 'fe_conn',
  'fe_id', 'fe_name', 'nbsrv', 'queue', 'rand', 'req.ssl_st_ext', 'req.proto_http', 'req.rdp_cookie',
  'sc0_conn_cur', 'sc1_conn_cur', 'sc2_conn_cur', 'so_id', 'so_name', 'src_conn_cur',
  'src_conn_rate', 'src_is_local', 'srv_conn', 'srv_is_up', 'ssl_fc', 'ssl_fc_sni',
]; // prettier-ignore

/** Predefined ACLs (section 7.4) that epoxy can evaluate. */
const PREDEFINED: Record<string, (where: Where) => AclTest[]> = {
  TRUE: (where) => [{ fetch: 'always_true', where }],
  FALSE: (where) => [{ fetch: 'always_false', where }],
  LOCALHOST: (where) => [{ fetch: 'src', patterns: [ipOrThrow('127.0.0.1/8'), ipOrThrow('::1')], where }],
  WAIT_END: (where) => [{ fetch: 'wait_end', where }],
  REQ_CONTENT: (where) => [{ fetch: 'req.len', patterns: [{ low: 1, high: Number.MAX_SAFE_INTEGER }], where }],
};
export const PREDEFINED_ACLS: readonly string[] = Object.keys(PREDEFINED);

/** Predefined ACLs of HAProxy that need HTTP or content inspection. */
export const UNSUPPORTED_PREDEFINED_ACLS: readonly string[] = [
  'HTTP', 'HTTP_1.0', 'HTTP_1.1', 'HTTP_2.0', 'HTTP_CONTENT', 'HTTP_URL_ABS', 'HTTP_URL_SLASH',
  'HTTP_URL_STAR', 'METH_CONNECT', 'METH_DELETE', 'METH_GET', 'METH_HEAD', 'METH_OPTIONS',
  'METH_POST', 'METH_PUT', 'METH_TRACE', 'RDP_COOKIE',
]; // prettier-ignore

function ipOrThrow(text: string): IpPattern {
  const parsed = parseIpPattern(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

/** HAProxy's invalid_char(): names use letters, digits, '-', '_', '.' and ':'. */
export function invalidNameChar(name: string): string | null {
  for (const c of name) if (!/[A-Za-z0-9_.:-]/.test(c)) return c;
  return null;
}

const OPERATORS = new Set(['eq', 'ge', 'gt', 'le', 'lt']);

/** One integer pattern: `80`, `1024:65535`, `:1023`, `1024:`, all within 0–65535. */
function parseIntRange(text: string): Parsed<IntRange> {
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

/** Reads pattern values from an `-f` file: one per line, '#' lines and blank lines skipped. */
export type PatternFileReader = (path: string) => string;

export interface AclParseContext {
  readonly where: Where;
  /**
   * The condition is evaluated before any byte is read (`tcp-request connection`): ACLs on content
   * fetches never match there, which is warned about (HAProxy names the rule kind in its warning).
   */
  readonly beforeContent?: string;
  /** Reads `-f` files; omitted = `-f` is refused. */
  readonly readPatternFile?: PatternFileReader;
}

/**
 * `-f <file>`: the file's patterns (one per line; leading blanks, empty lines and '#' comments
 * skipped) added to `values`. Returns why it could not be read, in HAProxy's words, or null.
 */
function readPatternFile(context: AclParseContext, path: string, values: string[]): string | null {
  if (context.readPatternFile === undefined) return "'-f' (patterns from a file) is not supported here";
  let text: string;
  try {
    text = context.readPatternFile(path);
  } catch (error) {
    // HAProxy's words, and why: a missing file, a device, a file above the cap.
    return `failed to open pattern file <${path}>${error instanceof Error && error.message !== '' ? ` (${error.message})` : ''}`;
  }
  for (const line of text.split('\n')) {
    const value = line.replace(/^[ \t]+/, '').replace(/[\r]$/, '');
    if (value === '' || value.startsWith('#')) continue;
    values.push(value);
  }
  return null;
}

/**
 * Parses `<criterion> [flags] [operator] <values...>` (the words after `acl <name>`, or inside
 * braces) into one test. Returns HAProxy's reason on failure, and warnings to report.
 */
export function parseAclTest(words: readonly string[], context: AclParseContext): Parsed<{ test: AclTest; warnings: string[] }> {
  const criterion = words[0] ?? '';
  const warnings: string[] = [];
  const fail = (reason: string): Parsed<{ test: AclTest; warnings: string[] }> => ({ ok: false, reason });
  if (criterion === '') return fail("missing fetch method in ACL expression ''");
  const call = /^([A-Za-z0-9_.]+)(?:\(([^)]*)\))?(,.*)?$/.exec(criterion);
  if (call !== null && CONTENT_FETCHES[call[1]!] !== undefined) {
    if (call[3] !== undefined) return fail(`converters are not supported yet in ACL expression '${criterion}'`);
    return parseContentTest(CONTENT_FETCHES[call[1]!]!, call[1]!, call[2], words, context);
  }
  if (criterion.includes(',')) return fail(`converters are not supported yet in ACL expression '${criterion}'`);
  const fetch = criterion.replace(/\(\)$/, '');
  if (!(ACL_FETCHES as readonly string[]).includes(fetch)) {
    const base = fetch.replace(/\(.*$/, '');
    if (UNSUPPORTED_ACL_FETCHES.includes(base) || /^(req|res|ssl|sc\d?|src_|hdr|path|url|method|cook|http|var)/.test(base)) {
      return fail(`fetch method '${base}' is not supported yet in ACL expression '${criterion}' (epoxy evaluates src, dst, src_port, dst_port and the content fetches req.ssl_*, req.len, req.payload*)`);
    }
    return fail(`unknown fetch method '${base}' in ACL expression '${criterion}'`);
  }
  const kind: 'ip' | 'int' | 'bool' = fetch === 'src' || fetch === 'dst' ? 'ip' : fetch.endsWith('_port') ? 'int' : 'bool';

  // Flags.
  const values: string[] = [];
  let i = 1;
  let loaded = false;
  for (; i < words.length; i++) {
    const word = words[i]!;
    if (!word.startsWith('-')) break;
    if (word === '--') {
      i++;
      break;
    }
    if (word === '-n' || word === '-i') continue; // no DNS (epoxy never resolves) / ignore case (no strings here)
    if (word === '-m') {
      const method = words[i + 1] ?? '';
      if (loaded) return fail("'-m' must only be specified before patterns and files in parsing ACL expression");
      if (method === '') return fail("unknown matching method '' when parsing ACL expression");
      const natural = kind === 'ip' ? 'ip' : kind === 'int' ? 'int' : 'bool';
      if (method !== natural) {
        const known = ['found', 'bool', 'int', 'ip', 'bin', 'len', 'str', 'sub', 'reg', 'beg', 'end', 'dir', 'dom'];
        if (!known.includes(method)) return fail(`unknown matching method '${method}' when parsing ACL expression`);
        return fail(`matching method '${method}' is not supported yet with fetch keyword '${fetch}' (only '${natural}')`);
      }
      i++;
      continue;
    }
    if (word === '-f') {
      const problem = readPatternFile(context, words[i + 1] ?? '', values);
      if (problem !== null) return fail(problem);
      loaded = true;
      i++;
      continue;
    }
    if (word === '-u' || word === '-M') return fail(`ACL option '${word}' is not supported yet`);
    return fail(`'${word}' is not a valid ACL option. Please use '--' before any pattern beginning with a '-'`);
  }
  values.push(...words.slice(i));

  if (kind === 'bool') {
    if (values.length > 0) warnings.push(`'${fetch}' takes no pattern; the values are ignored`);
    return { ok: true, value: { test: { fetch: fetch as 'always_true' | 'always_false', where: context.where }, warnings } };
  }
  if (values.length === 0) {
    warnings.push(`parsing acl keyword '${fetch}' : no pattern to match against were provided, so this ACL will never match.`);
  }

  if (kind === 'ip') {
    const patterns: IpPattern[] = [];
    for (const value of values) {
      const parsed = parseIpPattern(value);
      if (!parsed.ok) return fail(parsed.reason);
      patterns.push(parsed.value);
    }
    return { ok: true, value: { test: { fetch: fetch as 'src' | 'dst', patterns, where: context.where }, warnings } };
  }

  // Integers: an operator applies to the values after it, as HAProxy's compatibility layer.
  const patterns: IntRange[] = [];
  let operator = 'eq';
  for (const value of values) {
    if (OPERATORS.has(value)) {
      operator = value;
      continue;
    }
    if (operator === 'eq' || value.includes(':')) {
      const parsed = parseIntRange(value);
      if (!parsed.ok) return fail(parsed.reason);
      patterns.push(parsed.value);
      continue;
    }
    if (!/^\d+$/.test(value)) return fail(`'${value}' is neither a number nor a supported operator`);
    const n = Number(value);
    if (n > 65535) return fail(`'${value}' is not a valid port (0 to 65535)`);
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
  return { ok: true, value: { test: { fetch: fetch as 'src_port' | 'dst_port', patterns, where: context.where }, warnings } };
}

const STRING_METHODS = new Set(['str', 'beg', 'end', 'sub', 'dom', 'reg', 'bin', 'found', 'len']);
const KNOWN_METHODS = ['found', 'bool', 'int', 'ip', 'bin', 'len', 'str', 'sub', 'reg', 'beg', 'end', 'dir', 'dom'];

/** An integer of a content fetch's patterns: decimal, or MAJOR.MINOR for req.ssl_ver. */
function contentInteger(text: string, dotted: boolean): number | null {
  if (dotted) {
    const version = /^(\d+)(?:\.(\d+))?$/.exec(text);
    if (version === null || Number(version[1]) > 0xffff || Number(version[2] ?? 0) > 0xffff) return null;
    return Number(version[1]) * 65536 + Number(version[2] ?? 0);
  }
  return /^\d+$/.test(text) && Number(text) <= Number.MAX_SAFE_INTEGER ? Number(text) : null;
}

/** Integer patterns with HAProxy's operators (`gt 2`) and ranges (`1:3`, `3.0:3.3`). */
function parseIntegerPatterns(values: readonly string[], dotted: boolean): Parsed<IntRange[]> {
  const patterns: IntRange[] = [];
  let operator = 'eq';
  for (const value of values) {
    if (OPERATORS.has(value)) {
      operator = value;
      continue;
    }
    const range = /^([^:]*):([^:]*)$/.exec(value);
    if (range !== null) {
      const low = range[1] === '' ? 0 : contentInteger(range[1]!, dotted);
      const high = range[2] === '' ? Number.MAX_SAFE_INTEGER : contentInteger(range[2]!, dotted);
      if (low === null || high === null || low > high) return { ok: false, reason: `'${value}' is not a valid range` };
      patterns.push({ low, high });
      continue;
    }
    const n = contentInteger(value, dotted);
    if (n === null) return { ok: false, reason: `'${value}' is neither a number nor a supported operator` };
    const max = Number.MAX_SAFE_INTEGER;
    patterns.push(
      operator === 'ge' ? { low: n, high: max }
      : operator === 'gt' ? { low: n + 1, high: max }
      : operator === 'le' ? { low: 0, high: n }
      : operator === 'lt' ? { low: 0, high: n - 1 }
      : { low: n, high: n }, // prettier-ignore
    );
  }
  return { ok: true, value: patterns };
}

/** Decodes a `-m bin` pattern (hex digits, even count) into the latin1 text samples compare with. */
function hexPattern(text: string): string | null {
  if (text.length % 2 !== 0 || !/^[0-9A-Fa-f]*$/.test(text)) return null;
  return Buffer.from(text, 'hex').toString('latin1');
}

/** A payload fetch's argument: a non-negative integer. */
function payloadArgument(text: string | undefined): number | null {
  return text !== undefined && /^\d+$/.test(text.trim()) ? Number(text.trim()) : null;
}

/**
 * A test on a content fetch: its arguments, flags (`-i`, `-m`, `-f`, `--`) and patterns. The
 * fetch's own method applies without `-m`: exact string for the SSL strings, hex binary for
 * payloads, integers (dotted versions for req.ssl_ver), a boolean for req.ssl_ec_ext and wait_end.
 */
function parseContentTest(
  fetch: (typeof CONTENT_FETCHES)[string],
  written: string,
  argText: string | undefined,
  words: readonly string[],
  context: AclParseContext,
): Parsed<{ test: AclTest; warnings: string[] }> {
  const fail = (reason: string): Parsed<{ test: AclTest; warnings: string[] }> => ({ ok: false, reason });
  const warnings: string[] = [];
  const where = context.where;
  const payload = fetch === 'req.payload' || fetch === 'req.payload_lv';
  if (!payload && argText !== undefined && argText !== '') return fail(`fetch method '${written}' takes no argument`);
  let offset = 0;
  let length = 0;
  let blockOffset: { value: number; relative: boolean } | null = null;
  if (payload) {
    const args = (argText ?? '').split(',');
    const o = payloadArgument(args[0]);
    const l = payloadArgument(args[1]);
    const maxArgs = fetch === 'req.payload' ? 2 : 3;
    if (argText === undefined || o === null || l === null || args.length > maxArgs) {
      return fail(`fetch method '${written}' expects ${fetch === 'req.payload' ? '(<offset>,<length>)' : '(<offset1>,<length>[,<offset2>])'} with non-negative integers`);
    }
    offset = o;
    length = l;
    if (fetch === 'req.payload_lv') {
      if (length < 1 || length > 4) return fail(`fetch method '${written}': the size field is 1 to 4 bytes long`);
      if (args[2] !== undefined) {
        const third = args[2].trim();
        const relative = /^[+-]/.test(third);
        const n = payloadArgument(relative ? third.slice(1) : third);
        if (n === null) return fail(`fetch method '${written}': '${third}' is not an offset`);
        blockOffset = { value: third.startsWith('-') ? -n : n, relative };
      }
    }
  }
  const kind: 'string' | 'int' | 'bool' =
    fetch === 'req.ssl_sni' || fetch === 'req.ssl_alpn' || payload ? 'string'
    : fetch === 'req.ssl_ec_ext' || fetch === 'wait_end' ? 'bool'
    : 'int'; // prettier-ignore
  let method: string = kind === 'string' ? (payload ? 'bin' : 'str') : kind;
  let ignoreCase = false;
  const values: string[] = [];
  let loaded = false;
  let i = 1;
  for (; i < words.length; i++) {
    const word = words[i]!;
    if (!word.startsWith('-')) break;
    if (word === '--') {
      i++;
      break;
    }
    if (word === '-n') continue;
    if (word === '-i') {
      ignoreCase = true;
      continue;
    }
    if (word === '-m') {
      const asked = words[i + 1] ?? '';
      if (loaded) return fail("'-m' must only be specified before patterns and files in parsing ACL expression");
      if (!KNOWN_METHODS.includes(asked)) return fail(`unknown matching method '${asked}' when parsing ACL expression`);
      const allowed = kind === 'string' ? STRING_METHODS.has(asked) : asked === kind || asked === 'found';
      if (!allowed) return fail(`matching method '${asked}' is not supported yet with fetch keyword '${written}'`);
      method = asked;
      i++;
      continue;
    }
    if (word === '-f') {
      const problem = readPatternFile(context, words[i + 1] ?? '', values);
      if (problem !== null) return fail(problem);
      loaded = true;
      i++;
      continue;
    }
    if (word === '-u' || word === '-M') return fail(`ACL option '${word}' is not supported yet`);
    return fail(`'${word}' is not a valid ACL option. Please use '--' before any pattern beginning with a '-'`);
  }
  values.push(...words.slice(i));

  if (kind === 'bool') {
    if (values.length > 0) warnings.push(`'${written}' takes no pattern; the values are ignored`);
    return { ok: true, value: { test: { fetch: fetch as 'req.ssl_ec_ext' | 'wait_end', where }, warnings } };
  }
  if (values.length === 0 && method !== 'found') {
    warnings.push(`parsing acl keyword '${written}' : no pattern to match against were provided, so this ACL will never match.`);
  }
  if (kind === 'int') {
    const intFetch = fetch as 'req.ssl_hello_type' | 'req.ssl_ver' | 'req.len';
    if (method === 'found') return { ok: true, value: { test: { fetch: intFetch, patterns: null, where }, warnings } };
    const parsed = parseIntegerPatterns(values, fetch === 'req.ssl_ver');
    if (!parsed.ok) return parsed;
    return { ok: true, value: { test: { fetch: intFetch, patterns: parsed.value, where }, warnings } };
  }
  const texts: string[] = [];
  const regexes: RegExp[] = [];
  const lengths: IntRange[] = [];
  if (method === 'reg') {
    for (const value of values) {
      try {
        regexes.push(new RegExp(value, ignoreCase ? 'i' : ''));
      } catch {
        return fail(`regex '${value}' is invalid`);
      }
    }
  } else if (method === 'len') {
    const parsed = parseIntegerPatterns(values, false);
    if (!parsed.ok) return parsed;
    lengths.push(...parsed.value);
  } else if (method === 'bin') {
    for (const value of values) {
      const decoded = hexPattern(value);
      if (decoded === null) return fail(`'${value}' is not a valid hex string`);
      texts.push(decoded);
    }
  } else if (method !== 'found') {
    texts.push(...values.map((v) => (ignoreCase ? v.toLowerCase() : v)));
  }
  const match: SampleMatch = { method: method as SampleMatch['method'], ignoreCase: ignoreCase && method !== 'bin', texts, regexes, lengths };
  const test: AclTest = payload
    ? { fetch: fetch as 'req.payload' | 'req.payload_lv', offset, length, blockOffset, match, where }
    : { fetch: fetch as 'req.ssl_sni' | 'req.ssl_alpn', match, where };
  return { ok: true, value: { test, warnings } };
}

/** The ACLs a condition can name: a proxy's, by name. */
export type AclScope = Map<string, Acl>;

/**
 * Parses a condition: `words[0]` is 'if' or 'unless'. Named ACLs are looked up in `scope`
 * (then among the predefined ones, which are added to the scope, as HAProxy does).
 */
export function parseCondition(words: readonly string[], scope: AclScope, context: AclParseContext): Parsed<{ condition: Condition; warnings: string[] }> {
  const polarity = words[0];
  if (polarity !== 'if' && polarity !== 'unless') return { ok: false, reason: "conditions must start with either 'if' or 'unless'" };
  const warnings: string[] = [];
  const suites: ConditionTerm[][] = [];
  let suite: ConditionTerm[] | null = null;
  let negate = false;
  let terms = 0;
  for (let i = 1; i < words.length; i++) {
    let word = words[i]!;
    while (word.startsWith('!')) {
      negate = !negate;
      word = word.slice(1);
    }
    if (word === '') continue;
    if (word.toLowerCase() === 'or' || word === '||') {
      if (suite === null) return { ok: false, reason: `missing ACL before '${word}' in condition` };
      suite = null;
      negate = false;
      continue;
    }
    let acl: Acl;
    if (word === '{') {
      let end = i + 1;
      while (end < words.length && words[end] !== '}') end++;
      if (end >= words.length) return { ok: false, reason: "missing closing '}' in condition" };
      const parsed = parseAclTest(words.slice(i + 1, end), context);
      if (!parsed.ok) return parsed;
      warnings.push(...parsed.value.warnings);
      acl = { name: '', tests: [parsed.value.test], where: context.where };
      i = end;
    } else if (word === '}') {
      return { ok: false, reason: "unexpected '}' in condition" };
    } else {
      const known = scope.get(word) ?? predefinedAcl(word, scope, context.where);
      if (known === undefined) {
        if (UNSUPPORTED_PREDEFINED_ACLS.includes(word)) {
          return { ok: false, reason: `predefined ACL '${word}' is not supported yet (it needs HTTP or content inspection)` };
        }
        return { ok: false, reason: `no such ACL : '${word}'` };
      }
      acl = known;
    }
    const content = context.beforeContent === undefined ? undefined : acl.tests.find(isContentTest);
    if (content !== undefined) {
      warnings.push(
        `${acl.name === '' ? 'anonymous acl' : `acl '${acl.name}'`} will never match in 'tcp-request connection' because it uses keyword '${content.fetch}' which is incompatible with '${context.beforeContent}'`,
      );
    }
    if (suite === null) {
      suite = [];
      suites.push(suite);
    }
    suite.push({ negate, acl });
    negate = false;
    terms++;
  }
  if (terms === 0) return { ok: false, reason: `missing condition after '${polarity}'` };
  if (suite === null) return { ok: false, reason: `missing ACL after the last 'or' in condition` };
  return {
    ok: true,
    value: { condition: { polarity, suites, text: words.join(' '), where: context.where }, warnings },
  };
}

function predefinedAcl(name: string, scope: AclScope, where: Where): Acl | undefined {
  const make = PREDEFINED[name];
  if (make === undefined) return undefined;
  const acl: Acl = { name, tests: make(where), where };
  scope.set(name, acl);
  return acl;
}
