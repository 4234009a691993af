/**
 * ACLs and conditions (HAProxy 2.6 section 7): an ACL test is a sample expression (a fetch and
 * its converters, src/sample/), a matching method and patterns; conditions `if|unless` are made
 * of ACL names, `!`, `or` / `||`, implicit AND and anonymous ACLs between braces. Behaviour follows
 * acl.c: an ACL must be declared before a condition uses it; several `acl` lines with one name OR
 * their tests; the predefined TRUE, FALSE, LOCALHOST, WAIT_END and REQ_CONTENT may be used without
 * declaration. Without `-m`, the method is the one of the expression's output type (bool, int, ip,
 * str, bin), integers of port fetches being ports and of req.ssl_ver versions (3.1).
 */
import type { Acl, AclTest, Condition, ConditionTerm, MatchMethod, Where } from './model.js';
import type { Parsed } from './values.js';
import { FETCHES } from '../sample/fetches.js';
import { VAR_FETCHES } from '../sample/vars.js';
import { parseExpression } from '../sample/expression.js';
import { defaultMethod, isKnownMethod, isMatchMethod, METHOD_INPUT, parsePatterns } from '../sample/match.js';
import { canCast } from '../sample/sample-types.js';

/** The fetches an ACL can test, under their documented names. */
export const ACL_FETCHES: readonly string[] = [...FETCHES, ...VAR_FETCHES].filter((f) => f.content !== true).map((f) => f.name);
/** The content fetches (they read the client's buffered bytes), under their documented names. */
export const CONTENT_ACL_FETCHES: readonly string[] = FETCHES.filter((f) => f.content === true).map((f) => f.name);

/** Whether a test reads the client's buffered bytes (and so means nothing before they are read). */
export function isContentTest(test: AclTest): boolean {
  return test.expr.fetch.content === true;
}

/** Predefined ACLs (section 7.4) that epoxy can evaluate, as the words of their `acl` line. */
const PREDEFINED: Record<string, readonly string[]> = {
  TRUE: ['always_true'],
  FALSE: ['always_false'],
  LOCALHOST: ['src', '127.0.0.1/8', '::1'],
  WAIT_END: ['wait_end'],
  REQ_CONTENT: ['req.len', 'gt', '0'],
};
export const PREDEFINED_ACLS: readonly string[] = Object.keys(PREDEFINED);

/** Predefined ACLs of HAProxy that need HTTP or content inspection. */
export const UNSUPPORTED_PREDEFINED_ACLS: readonly string[] = [
  'HTTP', 'HTTP_1.0', 'HTTP_1.1', 'HTTP_2.0', 'HTTP_CONTENT', 'HTTP_URL_ABS', 'HTTP_URL_SLASH',
  'HTTP_URL_STAR', 'METH_CONNECT', 'METH_DELETE', 'METH_GET', 'METH_HEAD', 'METH_OPTIONS',
  'METH_POST', 'METH_PUT', 'METH_TRACE', 'RDP_COOKIE',
]; // prettier-ignore

/** HAProxy's invalid_char(): names use letters, digits, '-', '_', '.' and ':'. */
export function invalidNameChar(name: string): string | null {
  for (const c of name) if (!/[A-Za-z0-9_.:-]/.test(c)) return c;
  return null;
}

/** Reads pattern values from an `-f` file (and map files): the file's text. */
export type PatternFileReader = (path: string) => string;

export interface AclParseContext {
  readonly where: Where;
  /**
   * The condition is evaluated before any byte is read (`tcp-request connection`): ACLs on content
   * fetches never match there, which is warned about (HAProxy names the rule kind in its warning).
   */
  readonly beforeContent?: string;
  /** Reads `-f` files and map files; omitted = they are refused. */
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
 * Parses `<expression> [flags] [operator] <values...>` (the words after `acl <name>`, or inside
 * braces) into one test. Returns HAProxy's reason on failure, and warnings to report.
 */
export function parseAclTest(words: readonly string[], context: AclParseContext): Parsed<{ test: AclTest; warnings: string[] }> {
  const criterion = words[0] ?? '';
  const fail = (reason: string): Parsed<{ test: AclTest; warnings: string[] }> => ({ ok: false, reason });
  if (criterion === '') return fail("missing fetch method in ACL expression ''");
  const parsedExpr = parseExpression(criterion, {
    label: 'ACL expression',
    ...(context.readPatternFile !== undefined && { readFile: context.readPatternFile }),
  });
  if (!parsedExpr.ok) return parsedExpr;
  const expr = parsedExpr.value;
  const written = expr.written;

  let method: MatchMethod | null = null;
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
    if (word === '-n') continue; // no DNS: epoxy never resolves patterns
    if (word === '-i') {
      ignoreCase = true;
      continue;
    }
    if (word === '-m') {
      const asked = words[i + 1] ?? '';
      if (loaded) return fail("'-m' must only be specified before patterns and files in parsing ACL expression");
      if (!isKnownMethod(asked)) return fail(`unknown matching method '${asked}' when parsing ACL expression`);
      if (!isMatchMethod(asked)) return fail(`matching method '${asked}' is not supported yet with fetch keyword '${written}'`);
      const input = METHOD_INPUT[asked];
      if (input !== null && !canCast(expr.out, input)) {
        return fail(`matching method '${asked}' cannot be used with fetch keyword '${written}' (its ${expr.out} sample cannot be compared as ${input})`);
      }
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
  if (method === null && expr.fetch.anyType === true && expr.converters.length === 0) {
    return fail(`matching method must be specified first (using '-m') when using a sample fetch of this type ('${written}')`);
  }
  const chosen = method ?? defaultMethod(expr.out);
  // Ports and versions are written their way when the fetch's own integers are matched.
  const intPatterns = expr.converters.length === 0 && chosen === 'int' ? expr.fetch.intPatterns : undefined;
  const parsed = parsePatterns(chosen, values, { ignoreCase, intPatterns, keyword: written });
  if (!parsed.ok) return parsed;
  return { ok: true, value: { test: { fetch: expr.fetch.name, expr, match: parsed.value.match, where: context.where }, warnings: parsed.value.warnings } };
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
  const words = PREDEFINED[name];
  if (words === undefined) return undefined;
  const parsed = parseAclTest(words, { where });
  if (!parsed.ok) throw new Error(`predefined ACL ${name}: ${parsed.reason}`);
  const acl: Acl = { name, tests: [parsed.value.test], where };
  scope.set(name, acl);
  return acl;
}
