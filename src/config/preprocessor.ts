/**
 * Conditional blocks (configuration manual 2.4): `.if`, `.elif`, `.else`, `.endif`, and the
 * `.diag`, `.notice`, `.warning`, `.alert` directives.
 *
 * A condition is empty (false), an integer (0 = false), a predicate with arguments between
 * parentheses, a parenthesised condition, a negation `!`, or conditions joined by `&&` (binds
 * tighter) and `||`. Predicates: defined(<var>), feature(<name>), streq(<a>,<b>),
 * strneq(<a>,<b>), version_atleast(<v>), version_before(<v>), and the OpenSSL ones, false here.
 *
 * Versions are compared with the HAProxy version whose configuration language epoxy speaks
 * (HAPROXY_COMPAT_VERSION: 2.6.12, the one the tests check against), so a file written for several
 * HAProxy versions selects the 2.6 branch. `feature(<name>)` is true for nothing: epoxy has none
 * of HAProxy's build features (OPENSSL, LUA, PCRE...).
 */

/** The HAProxy version the configuration language follows. */
export const HAPROXY_COMPAT_VERSION = '2.6.12';

/** HAProxy's MAXNESTEDCONDS. */
export const MAX_NESTED_CONDITIONS = 128;

export type EvalResult = { ok: true; value: boolean } | { ok: false; reason: string };

/**
 * Evaluates the text of a condition (the words after `.if` joined by spaces, as HAProxy does).
 */
export function evaluateCondition(text: string, env: Readonly<Record<string, string | undefined>>): EvalResult {
  const parser = new ConditionParser(text, env);
  try {
    const value = parser.parseOr();
    parser.skipSpaces();
    if (!parser.atEnd()) {
      return { ok: false, reason: `unexpected character '${parser.peek()}' at the end of conditional expression '${parser.rest()}'` };
    }
    return { ok: true, value };
  } catch (error) {
    if (error instanceof ConditionSyntaxError) return { ok: false, reason: error.message };
    throw error;
  }
}

class ConditionSyntaxError extends Error {}

class ConditionParser {
  private pos = 0;
  private depth = 0;

  constructor(
    private readonly text: string,
    private readonly env: Readonly<Record<string, string | undefined>>,
  ) {}

  atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  peek(): string {
    return this.text[this.pos] ?? '';
  }

  rest(): string {
    return this.text.slice(this.pos);
  }

  skipSpaces(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++;
  }

  parseOr(): boolean {
    let value = this.parseAnd();
    for (;;) {
      this.skipSpaces();
      if (!this.text.startsWith('||', this.pos)) return value;
      this.pos += 2;
      const right = this.parseAnd();
      value = value || right;
    }
  }

  private parseAnd(): boolean {
    let value = this.parseTerm();
    for (;;) {
      this.skipSpaces();
      if (!this.text.startsWith('&&', this.pos)) return value;
      this.pos += 2;
      const right = this.parseTerm();
      value = value && right;
    }
  }

  private parseTerm(): boolean {
    this.skipSpaces();
    if (++this.depth > 1024) throw new ConditionSyntaxError('too deeply nested conditional expression');
    try {
      if (this.atEnd()) return false; // an empty condition is false
      const c = this.peek();
      if (c === '!') {
        this.pos++;
        this.skipSpaces();
        if (this.atEnd()) throw new ConditionSyntaxError(`unparsable conditional expression '${this.rest()}'`);
        return !this.parseTerm();
      }
      if (c === '(') {
        this.pos++;
        const value = this.parseOr();
        this.skipSpaces();
        if (this.peek() !== ')') throw new ConditionSyntaxError(`expected ')' after conditional expression '${this.rest()}'`);
        this.pos++;
        return value;
      }
      const integer = /^-?\d+/.exec(this.rest());
      if (integer) {
        this.pos += integer[0].length;
        return Number(integer[0]) !== 0;
      }
      const predicate = /^([a-z_]+)\(/.exec(this.rest());
      if (predicate) {
        const name = predicate[1]!;
        this.pos += predicate[0].length;
        const args = this.readArguments(name);
        return this.applyPredicate(name, args);
      }
      // A bare word: a string; HAProxy treats a non-empty non-numeric word as unparsable.
      throw new ConditionSyntaxError(`unparsable conditional expression '${this.rest()}'`);
    } finally {
      this.depth--;
    }
  }

  /** Arguments up to the closing parenthesis, comma-separated, quotes removed. */
  private readArguments(name: string): string[] {
    const args: string[] = [];
    let current = '';
    let quote = '';
    while (!this.atEnd()) {
      const c = this.peek();
      this.pos++;
      if (quote !== '') {
        if (c === quote) quote = '';
        else if (c === '\\' && !this.atEnd()) current += this.text[this.pos++]!;
        else current += c;
        continue;
      }
      if (c === '"' || c === "'") {
        quote = c;
        continue;
      }
      if (c === '\\' && !this.atEnd()) {
        current += this.text[this.pos++]!;
        continue;
      }
      if (c === ',') {
        args.push(current);
        current = '';
        continue;
      }
      if (c === ')') {
        args.push(current);
        return args.length === 1 && args[0] === '' ? [] : args;
      }
      current += c;
    }
    throw new ConditionSyntaxError(`missing closing ')' after arguments of predicate '${name}' used in conditional expression`);
  }

  private applyPredicate(name: string, args: string[]): boolean {
    const expect = (count: number): void => {
      if (args.length !== count) {
        throw new ConditionSyntaxError(
          `predicate '${name}' expects ${count} argument${count === 1 ? '' : 's'} (got ${args.length}) in conditional expression`,
        );
      }
    };
    switch (name) {
      case 'defined':
        expect(1);
        return Object.prototype.hasOwnProperty.call(this.env, args[0]!) && this.env[args[0]!] !== undefined;
      case 'feature':
        expect(1);
        return false;
      case 'streq':
        expect(2);
        return args[0] === args[1];
      case 'strneq':
        expect(2);
        return args[0] !== args[1];
      case 'version_atleast':
        expect(1);
        return compareVersions(HAPROXY_COMPAT_VERSION, args[0]!) >= 0;
      case 'version_before':
        expect(1);
        return compareVersions(HAPROXY_COMPAT_VERSION, args[0]!) < 0;
      case 'openssl_version_atleast':
      case 'openssl_version_before':
      case 'ssllib_name_startswith':
        expect(1);
        return false;
      default:
        throw new ConditionSyntaxError(`unknown predicate '${name}' in conditional expression`);
    }
  }
}

/**
 * Compares HAProxy version strings ('2.4', '2.4-dev19', '2.6.12'): numeric components, missing
 * ones are zero; a '-devN' (or any suffix) release comes before the release itself.
 */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string): number[] => {
    const match = /^(\d+(?:\.\d+)*)(?:-dev(\d+)|-(\S+))?/.exec(v.trim());
    if (!match) throw new ConditionSyntaxError(`invalid version '${v}' in conditional expression`);
    const numbers = match[1]!.split('.').map(Number);
    while (numbers.length < 4) numbers.push(0);
    // dev releases sort below the final one: final = +Infinity.
    numbers.push(match[2] !== undefined ? Number(match[2]) : match[3] !== undefined ? -1 : Number.MAX_SAFE_INTEGER);
    return numbers;
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}
