/**
 * HAProxy's line syntax (configuration manual 2.2 and 2.3; `parse_line()` in src/tools.c of
 * HAProxy 2.6, which this follows character by character):
 *
 * - words are separated by unprotected spaces and tabs; a line ends at LF, CR or an unprotected
 *   `#` (a comment). There is no line continuation: a trailing `\` is a literal backslash.
 * - outside single quotes, `\` escapes: `\ ` `\\` `\#` `\'` `\"` give the character, `\t` `\n`
 *   `\r` the control character, `\xHH` any byte; `\$` gives `$` inside double quotes only.
 *   Any other `\c` is kept as the two characters.
 * - single quotes protect everything (no escape, no variable); double quotes protect spaces,
 *   `#` and `'`, and expand environment variables: `$NAME`, `${NAME}`, `${NAME-default}` (the
 *   default replaces an unset variable, not an empty one) and `${NAME[*]}`, which splits the
 *   value on spaces into several words. Variables are never expanded outside double quotes.
 * - the pseudo-variables `.FILE`, `.LINE` and `.SECTION` name the place being parsed.
 *
 * Every word keeps the column where it starts. Errors (an unmatched quote, a bad variable name,
 * a bad `\x` sequence...) are returned, never thrown, with HAProxy's wording and position.
 */

/** One word of a line, quotes and escapes resolved, with where it was written. */
export interface Token {
  /** The word as the parser sees it. */
  readonly text: string;
  /** The file and 1-based line given in the context ('' and 0 when none was). */
  readonly file: string;
  readonly line: number;
  /** 1-based column of the word's first character in the raw line. */
  readonly column: number;
}

/** Why a line could not be cut into words (HAProxy's PARSE_ERR_*). */
export type TokenizeErrorKind =
  | 'quote' // unmatched single or double quote
  | 'brace' // `${` without its `}`
  | 'varname' // `$` followed by a character that cannot start a variable name
  | 'hex' // `\x` not followed by two hexadecimal digits
  | 'expand' // `${NAME[` not followed by `*]`
  | 'too-many'; // more than MAX_LINE_ARGS words

export interface TokenizeError {
  readonly kind: TokenizeErrorKind;
  /** 1-based column of the offending character. */
  readonly column: number;
  /** HAProxy's text, without the "parsing [file:line]" prefix or the caret lines. */
  readonly reason: string;
}

export interface TokenizedLine {
  readonly words: Token[];
  /** Set when the line is invalid; `words` then holds what was read before the error. */
  readonly error: TokenizeError | null;
}

/** What variables expand to. */
export interface TokenizeContext {
  /** Environment lookup; process.env by default. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Values of the pseudo-variables .FILE, .LINE and .SECTION. */
  readonly file?: string;
  readonly line?: number;
  readonly section?: string;
}

/** HAProxy's MAX_LINE_ARGS: words per line. */
export const MAX_LINE_ARGS = 64;

const isSpace = (c: string): boolean => c === ' ' || c === '\t' || c === '\v' || c === '\f';
const isAlpha = (c: string): boolean => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
const isDigit = (c: string): boolean => c >= '0' && c <= '9';
/** Characters the tokenizer treats alike in any quoting (none is special to any branch). */
const PLAIN_RUN = /[^\n\r#"'\\ \t\v\f$]+/y;
const isHex = (c: string): boolean => /^[0-9a-fA-F]$/.test(c);

const REASONS: Record<TokenizeErrorKind, string> = {
  quote: 'unmatched quote',
  brace: 'unmatched brace in environment variable name',
  varname: 'forbidden first char in environment variable name',
  hex: 'truncated or invalid hexadecimal sequence',
  expand: 'truncated or invalid word expansion sequence',
  'too-many': `too many words, truncating after word ${MAX_LINE_ARGS}`,
};

/**
 * Cuts one line into words. Leading blanks are skipped; the line ends at the first LF or CR.
 * An empty or comment-only line gives no word.
 */
export function tokenizeLine(raw: string, context: TokenizeContext = {}): TokenizedLine {
  const env = context.env ?? process.env;
  const words: Token[] = [];
  const file = context.file ?? '';
  const line = context.line ?? 0;
  let i = 0;
  while (i < raw.length && isSpace(raw[i]!)) i++;

  let text = ''; // the word being built
  let start = -1; // its column (0-based), -1 when no word is open
  let squote = false;
  let dquote = false;
  let quoteAt = -1;

  const open = (): void => {
    if (start < 0) start = i;
  };
  const close = (): void => {
    if (start >= 0) words.push({ text, file, line, column: start + 1 });
    text = '';
    start = -1;
  };
  const fail = (kind: TokenizeErrorKind, at: number): TokenizedLine => ({
    words,
    error: { kind, column: at + 1, reason: REASONS[kind] },
  });

  while (i < raw.length) {
    const c = raw[i]!;
    if (c === '\n' || c === '\r') break;
    if (c === '#' && !squote && !dquote) break;
    if (c === '"' && !squote) {
      open();
      dquote = !dquote;
      quoteAt = dquote ? i : -1;
      i++;
      continue;
    }
    if (c === "'" && !dquote) {
      open();
      squote = !squote;
      quoteAt = squote ? i : -1;
      i++;
      continue;
    }
    if (c === '\\' && !squote) {
      open();
      const next = raw[i + 1] ?? '';
      switch (next) {
        case ' ':
        case '\\':
        case '#':
        case "'":
        case '"':
          text += next;
          i += 2;
          continue;
        case 't':
          text += '\t';
          i += 2;
          continue;
        case 'n':
          text += '\n';
          i += 2;
          continue;
        case 'r':
          text += '\r';
          i += 2;
          continue;
        case '$':
          // Only meaningful where variables are expanded; outside double quotes `\$` stays.
          if (dquote) {
            text += '$';
            i += 2;
          } else {
            text += '\\';
            i++;
          }
          continue;
        case 'x': {
          const h1 = raw[i + 2] ?? '';
          const h2 = raw[i + 3] ?? '';
          if (!isHex(h1) || !isHex(h2)) return fail('hex', i);
          text += String.fromCharCode(parseInt(h1 + h2, 16));
          i += 4;
          continue;
        }
        default:
          // Not an escape sequence: the backslash is kept, the next character read normally.
          text += '\\';
          i++;
          continue;
      }
    }
    if (isSpace(c) && !squote && !dquote) {
      close();
      while (i < raw.length && isSpace(raw[i]!)) i++;
      continue;
    }
    if (c === '$' && dquote) {
      open();
      const expanded = expandVariable(raw, i, env, context);
      if ('error' in expanded) return fail(expanded.error, expanded.at);
      i = expanded.next;
      if (!expanded.split) {
        text += expanded.value;
        continue;
      }
      // ${NAME[*]}: each blank-separated part of the value ends the current word.
      let v = 0;
      const value = expanded.value;
      while (v < value.length) {
        if (isSpace(value[v]!)) {
          words.push({ text, file, line, column: start + 1 });
          text = '';
          while (v < value.length && isSpace(value[v]!)) v++;
        } else {
          text += value[v]!;
          v++;
        }
      }
      continue;
    }
    open();
    // Copy the whole run of characters no branch above cares about at once: one at a time, a
    // long token cost a string concatenation per character.
    PLAIN_RUN.lastIndex = i;
    const run = PLAIN_RUN.exec(raw);
    const end = run === null ? i + 1 : i + run[0].length;
    text += raw.slice(i, end);
    i = end;
  }
  if (squote || dquote) return fail('quote', quoteAt);
  close();
  const last = words[MAX_LINE_ARGS - 1];
  if (words.length > MAX_LINE_ARGS && last !== undefined) {
    return {
      words: words.slice(0, MAX_LINE_ARGS),
      error: { kind: 'too-many', column: last.column, reason: `${REASONS['too-many']}, position ${last.column}: <${last.text}>` },
    };
  }
  return { words, error: null };
}

type Expansion =
  | { value: string; next: number; split: boolean }
  | { error: TokenizeErrorKind; at: number };

/** Reads the variable reference starting at `raw[at] === '$'`. */
function expandVariable(
  raw: string,
  at: number,
  env: Readonly<Record<string, string | undefined>>,
  context: TokenizeContext,
): Expansion {
  let i = at + 1;
  let brace = -1;
  if (raw[i] === '{') brace = i++;
  const first = raw[i] ?? '';
  if (!isAlpha(first) && first !== '_' && first !== '.') return { error: 'varname', at: i };
  const nameStart = i;
  if (first === '.') i++;
  while (i < raw.length && (isAlpha(raw[i]!) || isDigit(raw[i]!) || raw[i] === '_')) i++;
  const name = raw.slice(nameStart, i);

  let value: string | undefined;
  if (name.startsWith('.')) {
    if (name === '.LINE') value = String(context.line ?? 0);
    else if (name === '.FILE') value = context.file ?? '';
    else if (name === '.SECTION') value = context.section ?? '';
    else return { error: 'varname', at: nameStart };
  } else {
    value = Object.prototype.hasOwnProperty.call(env, name) ? env[name] : undefined;
  }

  let split = false;
  if (raw[i] === '[' && brace >= 0) {
    if (raw[i + 1] !== '*' || raw[i + 2] !== ']') return { error: 'expand', at: i };
    split = true;
    i += 3;
  }
  if (brace >= 0) {
    if (raw[i] === '-') {
      const end = raw.indexOf('}', i);
      if (end < 0 || /[\r\n]/.test(raw.slice(i, end))) return { error: 'brace', at: brace };
      if (value === undefined) value = raw.slice(i + 1, end);
      i = end;
    } else if (raw[i] !== '}') {
      return { error: 'brace', at: brace };
    }
    i++; // the closing brace
  }
  return { value: value ?? '', next: i, split };
}

/**
 * HAProxy's rendering of a tokenizer error: the reason and position, then the line and a caret
 * under the offending character.
 */
export function describeTokenizeError(raw: string, error: TokenizeError): string {
  if (error.kind === 'too-many') return `${error.reason}.`;
  return `${error.reason} at position ${error.column}:\n${caretLines(raw, error.column)}`;
}

/**
 * The line (without its indentation, control characters as '?') and a caret under `column`,
 * each indented by two spaces, as HAProxy prints them under a message.
 */
export function caretLines(raw: string, column: number): string {
  const line = raw.replace(/[\r\n].*$/s, '');
  const leading = /^[ \t\v\f]*/.exec(line)![0].length;
  const offset = Math.max(0, column - 1 - leading);
  return `  ${printable(line.slice(leading))}\n  ${' '.repeat(offset)}^`;
}

/** Control characters as `\xNN`, so a message never carries raw bytes. */
function printable(text: string): string {
  let out = '';
  for (const c of text) {
    const code = c.charCodeAt(0);
    out += code < 0x20 || code === 0x7f ? '?' : c;
  }
  return out;
}
