/**
 * Messages about a configuration, in HAProxy's words: alerts (errors) and warnings, each with
 * the file, line and keyword it is about. The parser collects them all instead of stopping at
 * the first; ConfigError is what the throwing entry points throw.
 */
import { EpoxyError, ErrorCodes } from '../errors.js';
import type { Where } from './model.js';

/** 'alert' is an error (the configuration is refused); 'warning' and 'notice' are not. */
export type Severity = 'alert' | 'warning' | 'notice';

/** How the location is written in front of the reason, as HAProxy does for each kind. */
export type MessageStyle =
  | 'parsing' // "parsing [file:line] : reason" (most keyword parsers)
  | 'line' // "parsing [file:line]: reason" (the line reader)
  | 'object' // "[file:line] : 'server be/s1' : reason" (server lines)
  | 'check' // "[file:line] : reason" (checks run after parsing)
  | 'plain'; // "reason" alone (files that cannot be opened)

export interface Diagnostic {
  readonly severity: Severity;
  /** The full message, location first, as printed. */
  readonly message: string;
  /** The message without its location prefix. */
  readonly reason: string;
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** The object form's property path, when the configuration came from an object. */
  readonly path: string | undefined;
  /** The keyword at fault ('balance', 'server', 'timeout connect'...); '' for a whole line. */
  readonly keyword: string;
}

/** The location as HAProxy writes it between brackets: 'haproxy.cfg:12', or an object path. */
export function locationText(where: Where): string {
  if (where.path !== undefined) return where.path;
  return `${where.file}:${where.line}`;
}

export function formatMessage(where: Where, reason: string, style: MessageStyle, subject?: string): string {
  const at = locationText(where);
  switch (style) {
    case 'parsing':
      return `parsing [${at}] : ${reason}`;
    case 'line':
      return `parsing [${at}]: ${reason}`;
    case 'object':
      return `[${at}] : ${subject === undefined ? '' : `${subject} : `}${reason}`;
    case 'check':
      return `[${at}] : ${reason}`;
    case 'plain':
      return reason;
  }
}

/** Longest run of non-blank characters a message repeats from the input whole. */
const MAX_ECHOED_WORD = 80;

/**
 * A message never echoes a huge token whole (a 1 MB "keyword" would make a 1 MB alert): a word
 * longer than MAX_ECHOED_WORD keeps its start and says how long it was.
 */
function shortenLongWords(text: string): string {
  if (text.length <= MAX_ECHOED_WORD) return text;
  return text.replace(new RegExp(`[^\\s'<>]{${MAX_ECHOED_WORD + 1},}`, 'g'), (word) => `${word.slice(0, 48)}... (${word.length} characters)`);
}

export function makeDiagnostic(
  severity: Severity,
  where: Where,
  keyword: string,
  reason: string,
  style: MessageStyle = 'parsing',
  subject?: string,
): Diagnostic {
  reason = shortenLongWords(reason);
  keyword = shortenLongWords(keyword);
  if (subject !== undefined) subject = shortenLongWords(subject);
  return {
    severity,
    message: formatMessage(where, reason, style, subject),
    reason,
    file: where.file,
    line: where.line,
    column: where.column,
    path: where.path,
    keyword,
  };
}

/** An accumulator of diagnostics. */
export class Diagnostics {
  readonly list: Diagnostic[] = [];

  alert(where: Where, keyword: string, reason: string, style: MessageStyle = 'parsing', subject?: string): void {
    this.list.push(makeDiagnostic('alert', where, keyword, reason, style, subject));
  }

  warning(where: Where, keyword: string, reason: string, style: MessageStyle = 'parsing', subject?: string): void {
    this.list.push(makeDiagnostic('warning', where, keyword, reason, style, subject));
  }

  add(diagnostic: Diagnostic): void {
    this.list.push(diagnostic);
  }

  get alerts(): Diagnostic[] {
    return this.list.filter((d) => d.severity === 'alert');
  }

  get warnings(): Diagnostic[] {
    return this.list.filter((d) => d.severity !== 'alert');
  }

  /** Alerts so far (the line reader gives up on a file after 50, as HAProxy). */
  get alertCount(): number {
    let n = 0;
    for (const d of this.list) if (d.severity === 'alert') n++;
    return n;
  }
}

/**
 * A configuration was refused. The error names its first problem (`file`, `line`, `keyword`);
 * `errors` holds every problem found, this one first, and `warnings` the warnings; `message`
 * lists them all, one per line, as `haproxy -c` prints them.
 */
export class ConfigError extends EpoxyError {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly keyword: string;
  /** The object form's property path, when the configuration came from an object. */
  readonly path: string | undefined;
  /** The message of this problem alone. */
  readonly reason: string;
  /** Every problem found, this one first, each as its own ConfigError (message: that problem only). */
  readonly errors: ConfigError[];
  readonly warnings: Diagnostic[];

  constructor(diagnostic: Diagnostic, others: readonly Diagnostic[] = [], warnings: readonly Diagnostic[] = []) {
    super([diagnostic, ...others].map((d) => d.message).join('\n'), ErrorCodes.CONFIG);
    this.name = 'ConfigError';
    this.file = diagnostic.file;
    this.line = diagnostic.line;
    this.column = diagnostic.column;
    this.keyword = diagnostic.keyword;
    this.path = diagnostic.path;
    this.reason = diagnostic.reason;
    // Each problem alone; a single problem is its own list.
    this.errors = others.length === 0 ? [this] : [diagnostic, ...others].map((d) => new ConfigError(d));
    this.warnings = [...warnings];
  }

  /** The ConfigError for a list of diagnostics, or null when none is an alert. */
  static fromDiagnostics(diagnostics: readonly Diagnostic[]): ConfigError | null {
    const alerts = diagnostics.filter((d) => d.severity === 'alert');
    const first = alerts[0];
    if (first === undefined) return null;
    return new ConfigError(
      first,
      alerts.slice(1),
      diagnostics.filter((d) => d.severity !== 'alert'),
    );
  }
}
