/**
 * What every keyword parser receives: the words of its line, where the line is, and helpers that
 * report problems in HAProxy's words (alertif_too_many_args, "expects an integer argument"...).
 */
import { closest } from '../listener/bind-parser.js';

export { closest };
import type { Diagnostics, MessageStyle } from './diagnostics.js';
import type { Where } from './model.js';
import type { PatternFileReader } from './acl.js';

/** `no <kw>` / `default <kw>` / plain (HAProxy's KWM_NO, KWM_DEF, KWM_STD). */
export type Modifier = 'std' | 'no' | 'default';

export class LineContext {
  constructor(
    /** The words, modifier removed: words[0] is the keyword. */
    readonly words: readonly string[],
    readonly where: Where,
    readonly modifier: Modifier,
    readonly diagnostics: Diagnostics,
    readonly readPatternFile: PatternFileReader | undefined,
  ) {}

  get keyword(): string {
    return this.words[0] ?? '';
  }

  /** Word `i`, '' past the end (as HAProxy's args[] end with empty strings). */
  arg(i: number): string {
    return this.words[i] ?? '';
  }

  alert(reason: string, keyword = this.keyword, style: MessageStyle = 'parsing', subject?: string): void {
    this.diagnostics.alert(this.where, keyword, reason, style, subject);
  }

  warn(reason: string, keyword = this.keyword, style: MessageStyle = 'parsing', subject?: string): void {
    this.diagnostics.warning(this.where, keyword, reason, style, subject);
  }

  /**
   * HAProxy's alertif_too_many_args_idx(): alerts when words remain after the keyword (plus
   * `index` sub-keywords) and its `max` arguments. Returns true when it alerted.
   */
  tooMany(max: number, index = 0): boolean {
    const extra = this.words[index + max + 1];
    if (extra === undefined) return false;
    const kw = this.words.slice(0, index + 1).join(' ');
    this.alert(`'${kw}' cannot handle unexpected argument '${extra}'.`);
    return true;
  }

  /**
   * Word `i` as an integer in [min, max]; alerts "'<kw>' expects an integer argument." (HAProxy's
   * wording) when it is missing or not a number, and names the range when it is out of it.
   */
  integer(i: number, min: number, max: number, what = `'${this.words.slice(0, i).join(' ')}'`): number | null {
    const text = this.arg(i);
    if (text === '' || !/^[+-]?\d+$/.test(text)) {
      this.alert(`${what} expects an integer argument${text === '' ? '' : ` (got '${text}')`}.`);
      return null;
    }
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      this.alert(`${what} value ${text} is out of range (${min} to ${max}).`);
      return null;
    }
    return value;
  }
}

/** HAProxy's suffix: "; did you mean 'balance' maybe ?" or nothing. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const best = closest(word, candidates);
  return best === null ? '' : `; did you mean '${best}' maybe ?`;
}
