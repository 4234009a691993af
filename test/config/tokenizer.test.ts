/**
 * HAProxy's line syntax (configuration manual 2.2 and 2.3, parse_line() in tools.c): words,
 * comments, escapes, quotes, environment variables, and the errors with their positions.
 */
import { describe, expect, it } from 'vitest';
import { MAX_LINE_ARGS, describeTokenizeError, tokenizeLine } from '../../src/config/tokenizer.js';

const env = { HOST: '10.0.0.1', EMPTY: '', LIST: 'tfo  backlog 5', SPACED: ' a b' };
const words = (line: string): string[] => {
  const result = tokenizeLine(line, { env, file: 'f.cfg', line: 7, section: 'web' });
  expect(result.error).toBeNull();
  return result.words.map((w) => w.text);
};
const error = (line: string) => {
  const result = tokenizeLine(line, { env });
  expect(result.error).not.toBeNull();
  return result.error!;
};

describe('words and comments', () => {
  it('splits on spaces and tabs and skips the indentation', () => {
    expect(words('  \tserver  s1\t10.0.0.1:80   weight 3  ')).toEqual(['server', 's1', '10.0.0.1:80', 'weight', '3']);
  });

  it('keeps the column of each word', () => {
    expect(tokenizeLine('    bind :80 tfo').words.map((w) => w.column)).toEqual([5, 10, 14]);
  });

  it('ends a line at an unprotected #, even inside a word (HAProxy: "global#comment")', () => {
    expect(words('global#this is the global section')).toEqual(['global']);
    expect(words('mode tcp # or http')).toEqual(['mode', 'tcp']);
  });

  it('gives no word for blank and comment-only lines', () => {
    expect(words('')).toEqual([]);
    expect(words('   \t ')).toEqual([]);
    expect(words('   # nothing')).toEqual([]);
  });

  it('ends a line at CR or LF (CRLF files work)', () => {
    expect(words('maxconn 10\r')).toEqual(['maxconn', '10']);
    expect(words('a b\nc d')).toEqual(['a', 'b']);
  });

  it('has no line continuation: a trailing backslash is a literal', () => {
    expect(words('maxconn 10 \\')).toEqual(['maxconn', '10', '\\']);
  });
});

describe('escapes', () => {
  it('resolves \\<space>, \\\\, \\#, \\\', \\" outside quotes', () => {
    expect(words('a\\ b c\\\\d e\\#f \\\'g\\"')).toEqual(['a b', 'c\\d', 'e#f', '\'g"']);
  });

  it('resolves \\t, \\n, \\r and \\xHH', () => {
    expect(words('x\\ty\\nz\\r \\x41\\x7a')).toEqual(['x\ty\nz\r', 'Az']);
  });

  it('keeps other backslash sequences as they are (\\1 stays \\1)', () => {
    expect(words('my/\\1 \\d+')).toEqual(['my/\\1', '\\d+']);
  });

  it('keeps \\$ outside double quotes and gives $ inside', () => {
    expect(words('a\\$b "c\\$d"')).toEqual(['a\\$b', 'c$d']);
  });

  it('refuses a truncated or invalid \\x sequence, at its position', () => {
    const e = error('    tune.bufsize "\\x4g"');
    expect(e.kind).toBe('hex');
    expect(e.column).toBe(19);
    expect(describeTokenizeError('    tune.bufsize "\\x4g"', e)).toBe(
      'truncated or invalid hexadecimal sequence at position 19:\n  tune.bufsize "\\x4g"\n                ^',
    );
  });
});

describe('quotes', () => {
  it('protects spaces and # in double quotes, and concatenates adjacent parts', () => {
    expect(words('log-format "%{+Q}o %t"\' %s\'\\ %{-Q}r')).toEqual(['log-format', '%{+Q}o %t %s %{-Q}r']);
    expect(words('x "a # b"')).toEqual(['x', 'a # b']);
  });

  it('protects everything in single quotes: no escape, no variable', () => {
    expect(words("x '$HOST \\t \"q\"'")).toEqual(['x', '$HOST \\t "q"']);
  });

  it('reports an unmatched quote at the quote', () => {
    const e = error('    maxconn "1000');
    expect(e.kind).toBe('quote');
    expect(e.column).toBe(13);
    expect(describeTokenizeError('    maxconn "1000', e)).toBe('unmatched quote at position 13:\n  maxconn "1000\n          ^');
    expect(error("a 'b").kind).toBe('quote');
  });

  it('gives an empty word for "" (the parser refuses it)', () => {
    expect(words('a "" b')).toEqual(['a', '', 'b']);
  });
});

describe('environment variables', () => {
  it('expands $NAME and ${NAME} inside double quotes only', () => {
    expect(words('bind "${HOST}:80" "$HOST" $HOST \'$HOST\'')).toEqual(['bind', '10.0.0.1:80', '10.0.0.1', '$HOST', '$HOST']);
  });

  it('uses the default for an unset variable, not for an empty one', () => {
    expect(words('"${UNSET-127.0.0.1}:514" "${EMPTY-x}"')).toEqual(['127.0.0.1:514', '']);
    expect(words('"${UNSET-}"')).toEqual(['']);
  });

  it('expands an unset variable to nothing', () => {
    expect(words('a "b${UNSET}c"')).toEqual(['a', 'bc']);
  });

  it('ends the name at the first character that cannot be in it', () => {
    expect(words('"$HOST-1" "$HOST.x"')).toEqual(['10.0.0.1-1', '10.0.0.1.x']);
  });

  it('splits ${NAME[*]} into words on spaces', () => {
    expect(words('bind :80 "${LIST[*]}" v4v6')).toEqual(['bind', ':80', 'tfo', 'backlog', '5', 'v4v6']);
    // A leading space in the value ends the current (empty) word, as HAProxy does.
    expect(words('x "${SPACED[*]}"')).toEqual(['x', '', 'a', 'b']);
  });

  it('resolves .FILE, .LINE and .SECTION', () => {
    expect(words('x "${.FILE}:${.LINE}" "$.SECTION"')).toEqual(['x', 'f.cfg:7', 'web']);
  });

  it('refuses a name starting with a digit or another character', () => {
    const e = error('    weight "$1"');
    expect(e.kind).toBe('varname');
    expect(e.column).toBe(14); // the character after '$', as HAProxy reports it
    expect(error('"price $"').kind).toBe('varname');
    expect(error('"${.NOPE}"').kind).toBe('varname');
  });

  it('refuses an unmatched brace and a bad [*]', () => {
    expect(error('"${HOST"').kind).toBe('brace');
    expect(error('"${HOST-x"').kind).toBe('brace');
    expect(error('"${HOST[x]}"').kind).toBe('expand');
    expect(error('"${HOST[*}"').kind).toBe('expand');
  });

  it('takes [*] only inside braces', () => {
    expect(words('"$LIST[*]"')).toEqual(['tfo  backlog 5[*]']);
  });
});

describe('limits', () => {
  it(`accepts ${MAX_LINE_ARGS} words and refuses more`, () => {
    const max = Array.from({ length: MAX_LINE_ARGS }, (_, i) => `w${i}`);
    expect(words(max.join(' ') + '   ')).toHaveLength(MAX_LINE_ARGS);
    const e = error([...max, 'extra'].join(' '));
    expect(e.kind).toBe('too-many');
    expect(e.reason).toContain(`truncating after word ${MAX_LINE_ARGS}`);
  });
});

describe('locations', () => {
  it('gives every word its file, line and column', () => {
    expect(tokenizeLine('  server "a b" c', { file: 'x.cfg', line: 12, env: {} }).words).toEqual([
      { text: 'server', file: 'x.cfg', line: 12, column: 3 },
      { text: 'a b', file: 'x.cfg', line: 12, column: 10 },
      { text: 'c', file: 'x.cfg', line: 12, column: 16 },
    ]);
  });
});
