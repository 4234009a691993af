/**
 * Reading HAProxy-format configuration files (HAProxy's readcfgfile() and the section parsers it
 * calls), TCP subset, into the model of model.ts:
 *
 *   const config = parseConfig(['/etc/epoxy/haproxy.cfg', '/etc/epoxy/conf.d']);
 *
 * `-f` arguments may name files or directories; a directory contributes its `*.cfg` files (not
 * hidden ones, regular files only) in byte order, as HAProxy's scandir(alphasort). Each file
 * starts outside any section. Every problem of every file is collected — as `haproxy -c` does —
 * then the semantic checks of check.ts run; parseConfig() throws a ConfigError naming them all,
 * readConfig() returns them.
 */
import { readdirSync, statSync } from 'node:fs';
import { errnoText, MAX_CONFIG_FILE_BYTES, MAX_PATTERN_FILE_BYTES, readBoundedFile } from './files.js';
import { Diagnostics, ConfigError, makeDiagnostic, type Diagnostic } from './diagnostics.js';
import { invalidNameChar } from './acl.js';
import { LineContext, type Modifier } from './context.js';
import { parseGlobalLine } from './global.js';
import { UNSUPPORTED_SECTIONS } from './keywords.js';
import {
  builtinSettings,
  emptyGlobal,
  inheritSettings,
  type Config,
  type DefaultsConfig,
  type GlobalConfig,
  type ProxyConfig,
  type ProxyKind,
  type ResolversConfig,
  type Where,
} from './model.js';
import { MAX_NESTED_CONDITIONS, evaluateCondition } from './preprocessor.js';
import { parseProxyLine, sectionLabel, type SectionState } from './proxy.js';
import { implicitDefaultResolvers, newResolvers, parseResolversLine } from './resolvers.js';
import { caretLines, describeTokenizeError, tokenizeLine } from './tokenizer.js';
import { checkConfig } from './check.js';

/** A file or directory path, or an in-memory file. */
export type ConfigSource = string | { readonly name: string; readonly text: string };

export interface ParseOptions {
  /** Environment for `"${VAR}"` and `.if defined(VAR)`; process.env by default. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Reads files named in the configuration (`acl ... -f <file>`); a bounded read of a regular file by default (src/config/files.ts). */
  readonly readFile?: (path: string) => string;
}

export interface ConfigResult {
  /** The configuration, as far as it could be read (do not run it when `errors` is not empty). */
  readonly config: Config;
  /** Every alert, each as a ConfigError, in the order found. */
  readonly errors: ConfigError[];
  /** Warnings and notices. */
  readonly warnings: Diagnostic[];
  /** Everything, in order. */
  readonly diagnostics: Diagnostic[];
}

/** The section keywords that start a new section. */
export const SECTION_KEYWORDS: readonly string[] = ['global', 'defaults', 'frontend', 'backend', 'listen', 'resolvers'];

/** Keywords that accept the `no` / `default` prefixes (HAProxy's list). */
const MODIFIABLE = new Set(['option', 'log', 'busy-polling', 'set-dumpable', 'strict-limits', 'insecure-fork-wanted', 'numa-cpu-mapping']);

/** HAProxy gives up on a file after this many fatal errors. */
const MAX_FATAL_PER_FILE = 50;
/**
 * Longest line parsed (characters). HAProxy has none, but nothing real comes near it (a long
 * ACL line of networks is a few kilobytes), and a line is tokenized, expanded and echoed in
 * messages: a 1 MB line used to take seconds to reject. Longer lines are refused unread.
 */
export const MAX_LINE_LENGTH = 64 * 1024;

type Section =
  | { readonly kind: 'global'; readonly name: string }
  | { readonly kind: 'proxy'; readonly name: string; readonly state: SectionState }
  | { readonly kind: 'resolvers'; readonly name: string; readonly resolvers: ResolversConfig }
  | { readonly kind: 'skip'; readonly name: string }; // an unsupported or broken section: lines ignored

/**
 * Builds a Config from lines, whatever they come from (files, the object form). Lines are word
 * arrays with their location; the builder applies sections, defaults inheritance and keywords.
 */
export class ConfigBuilder {
  readonly diagnostics = new Diagnostics();
  readonly global: GlobalConfig = emptyGlobal();
  readonly defaults: DefaultsConfig[] = [];
  readonly proxies: ProxyConfig[] = [];
  readonly resolvers: ResolversConfig[] = [];
  readonly files: string[] = [];
  private section: Section | null = null;
  private lastDefaults: DefaultsConfig | null = null;
  /** Defaults sections used through `from`, and used implicitly (as the last one). */
  private readonly explicitlyUsed = new Set<DefaultsConfig>();
  private readonly implicitlyUsed = new Set<DefaultsConfig>();

  constructor(private readonly readPatternFile: ((path: string) => string) | undefined) {}

  /** The name HAProxy gives `.SECTION`: the section's name, or its keyword. */
  get sectionName(): string {
    return this.section?.name ?? '';
  }

  /** A new file starts outside any section (a section ends with its file). */
  beginFile(name: string): void {
    this.files.push(name);
    this.section = null;
  }

  endFile(): void {
    this.section = null;
  }

  /** Feeds one line (its words, quotes resolved). Never throws. */
  line(words: readonly string[], where: Where): void {
    try {
      this.dispatch(words, where);
    } catch (error) {
      // Never crash on input: an exception here is a bug in epoxy, reported as such.
      this.diagnostics.alert(where, words[0] ?? '', `internal error while parsing '${words.join(' ')}': ${(error as Error).message} (please report this bug)`);
    }
  }

  private dispatch(rawWords: readonly string[], where: Where): void {
    let words = rawWords;
    let modifier: Modifier = 'std';
    if (words[0] === 'no' || words[0] === 'default') {
      modifier = words[0] === 'no' ? 'no' : 'default';
      words = words.slice(1);
      if (!MODIFIABLE.has(words[0] ?? '')) {
        this.diagnostics.alert(
          where,
          words[0] ?? rawWords[0]!,
          'negation/default currently supported only for options, log, busy-polling, set-dumpable, strict-limits, insecure-fork-wanted and numa-cpu-mapping.',
          'line',
        );
        return;
      }
    }
    const ctx = new LineContext(words, where, modifier, this.diagnostics, this.readPatternFile);
    const keyword = ctx.keyword;

    if (SECTION_KEYWORDS.includes(keyword)) {
      this.startSection(ctx);
      return;
    }
    const refusedSection = UNSUPPORTED_SECTIONS[keyword];
    if (refusedSection !== undefined) {
      ctx.alert(`'${keyword}' section ${refusedSection.kind === 'yet' ? 'is not supported yet' : 'is not applicable to epoxy'} (${refusedSection.reason}).`);
      this.section = { kind: 'skip', name: ctx.arg(1) || keyword };
      return;
    }
    const section = this.section;
    if (section === null) {
      ctx.alert(`unknown keyword '${keyword}' out of section.`);
      return;
    }
    if (section.kind === 'global') parseGlobalLine(ctx, this.global);
    else if (section.kind === 'proxy') parseProxyLine(ctx, section.state);
    else if (section.kind === 'resolvers') parseResolversLine(ctx, section.resolvers);
  }

  private startSection(ctx: LineContext): void {
    const keyword = ctx.keyword;
    if (keyword === 'global') {
      ctx.tooMany(0);
      this.section = { kind: 'global', name: 'global' };
      return;
    }
    if (keyword === 'defaults') {
      this.startDefaults(ctx);
      return;
    }
    if (keyword === 'resolvers') {
      this.startResolvers(ctx);
      return;
    }
    this.startProxy(ctx, keyword as ProxyKind);
  }

  /**
   * `resolvers <id>`. HAProxy stops reading the configuration on a missing or invalid name or a
   * duplicate section; epoxy reports it and skips the section's lines.
   */
  private startResolvers(ctx: LineContext): void {
    const name = ctx.arg(1);
    this.section = { kind: 'skip', name: name || 'resolvers' };
    if (name === '') {
      ctx.alert('missing name for resolvers section.');
      return;
    }
    const bad = invalidNameChar(name);
    if (bad !== null) {
      ctx.alert(`character '${bad}' is not permitted in 'resolvers' name '${name}'.`);
      return;
    }
    const clash = this.resolvers.find((r) => r.name === name);
    if (clash !== undefined) {
      ctx.alert(
        `Parsing [${ctx.where.path ?? `${ctx.where.file}:${ctx.where.line}`}]: resolvers '${name}' has same name as another resolvers ` +
          `(declared at ${clash.where.file}:${clash.where.line}).`,
        'resolvers',
        'plain',
      );
      return;
    }
    if (ctx.tooMany(1)) return;
    const resolvers = newResolvers(name, ctx.where);
    this.resolvers.push(resolvers);
    this.section = { kind: 'resolvers', name, resolvers };
  }

  /** Finds the defaults section a `from` names, reporting HAProxy's errors. */
  private findDefaults(ctx: LineContext, name: string, label: string, proxyName: string): DefaultsConfig | null {
    const found = this.defaults.filter((d) => d.name === name);
    const first = found[0];
    if (first === undefined) {
      ctx.alert(`defaults section '${name}' not found for ${label} '${proxyName}'.`);
      return null;
    }
    const second = found[1];
    if (second !== undefined) {
      ctx.alert(
        `ambiguous defaults section name '${name}' referenced by ${label} '${proxyName}' exists at least at ` +
          `${first.where.file}:${first.where.line} and ${second.where.file}:${second.where.line}.`,
      );
    }
    const bad = invalidNameChar(name);
    if (bad !== null) {
      ctx.alert(
        `character '${bad}' is not permitted in defaults section name '${name}' when designated by its name ` +
          `(section found at ${first.where.file}:${first.where.line}).`,
      );
    }
    return first;
  }

  private noteUse(ctx: LineContext, used: DefaultsConfig | null, explicit: boolean): void {
    if (used === null) return;
    (explicit ? this.explicitlyUsed : this.implicitlyUsed).add(used);
    if (this.explicitlyUsed.has(used) && this.implicitlyUsed.has(used)) {
      ctx.warn(
        `defaults section '${used.name}' (declared at ${used.where.file}:${used.where.line}) is explicitly referenced by another proxy ` +
          "and implicitly used here. To avoid any ambiguity don't mix both usage. Add a last defaults section not explicitly used " +
          'or always use explicit references.',
      );
    }
  }

  private startDefaults(ctx: LineContext): void {
    let name = ctx.arg(1);
    let fromName: string | null = null;
    if (name === 'from' && ctx.arg(2) !== '' && ctx.arg(3) === '') {
      name = '';
      fromName = ctx.arg(2);
    } else if (ctx.arg(2) !== '') {
      if (ctx.arg(2) !== 'from' || ctx.arg(3) === '') {
        ctx.alert(`'defaults' cannot handle unexpected argument '${ctx.arg(2)}'.`);
      } else {
        fromName = ctx.arg(3);
        ctx.tooMany(3);
      }
    }
    let base: DefaultsConfig | null = null;
    if (fromName !== null) {
      base = this.findDefaults(ctx, fromName, 'proxy', name);
      if (base === null) {
        this.section = { kind: 'skip', name: name || 'defaults' };
        return;
      }
      this.noteUse(ctx, base, true);
      if (base.tcpRequestConnection.length > 0 || base.tcpRequestContent.length > 0) {
        ctx.alert(
          `a defaults section cannot inherit from a defaults section defining TCP/HTTP rules (defaults section at ${base.where.file}:${base.where.line}).`,
          'defaults',
          'line',
        );
      }
    }
    const target: DefaultsConfig = {
      ...(base === null ? builtinSettings() : inheritSettings(base)),
      kind: 'defaults',
      name,
      from: fromName,
      acls: new Map(),
      tcpRequestConnection: [],
      tcpRequestContent: [],
      where: ctx.where,
    };
    this.defaults.push(target);
    this.lastDefaults = target;
    this.section = { kind: 'proxy', name: name || 'defaults', state: { target, setHere: new Set() } };
  }

  private startProxy(ctx: LineContext, kind: ProxyKind): void {
    const name = ctx.arg(1);
    if (name === '') {
      ctx.alert(`'${kind}' expects an <id> argument`);
      this.section = { kind: 'skip', name: kind };
      return;
    }
    const bad = invalidNameChar(name);
    if (bad !== null) ctx.alert(`character '${bad}' is not permitted in '${kind}' name '${name}'.`);
    const label = kind === 'listen' ? 'proxy' : kind;
    const clash = this.proxies.find(
      (p) => p.name === name && (p.kind === 'listen' || kind === 'listen' || p.kind === kind),
    );
    if (clash !== undefined) {
      ctx.alert(
        `Parsing [${ctx.where.path ?? `${ctx.where.file}:${ctx.where.line}`}]: ${label} '${name}' has the same name as ` +
          `${sectionLabel(clash)} '${clash.name}' declared at ${clash.where.file}:${clash.where.line}.`,
        kind,
        'plain',
      );
    }
    let fromName: string | null = null;
    if (ctx.arg(2) !== '') {
      if (ctx.arg(2) !== 'from' || ctx.arg(3) === '') {
        ctx.alert(
          `'${kind}' cannot handle unexpected argument '${ctx.arg(2)}'.` +
            (kind !== 'backend' ? " Please use the 'bind' keyword for listening addresses." : ''),
        );
      } else if (!ctx.tooMany(3)) {
        fromName = ctx.arg(3);
      }
    }
    let base: DefaultsConfig | null;
    if (fromName !== null) {
      base = this.findDefaults(ctx, fromName, label, name);
      if (base === null) {
        this.section = { kind: 'skip', name };
        return;
      }
      this.noteUse(ctx, base, true);
    } else {
      base = this.lastDefaults;
      this.noteUse(ctx, base, false);
    }
    let inheritRules = true;
    if (base !== null && base.tcpRequestConnection.length > 0) {
      const at = `${base.where.file}:${base.where.line}`;
      if (kind === 'listen') {
        ctx.alert('a listen section cannot inherit from a defaults section defining TCP/HTTP rules.', kind, 'line');
        inheritRules = false;
      } else if (kind === 'backend') {
        ctx.alert(
          `a backend section cannot inherit from a defaults section defining 'tcp-request connection' or 'tcp-request session' rules (defaults section at ${at}).`,
          kind,
          'line',
        );
        inheritRules = false;
      }
    }
    const target: ProxyConfig = {
      ...(base === null ? builtinSettings() : inheritSettings(base)),
      kind,
      name,
      defaults: base === null ? null : base.name,
      id: null,
      description: null,
      binds: [],
      acls: new Map(),
      // Rules of the defaults section run first (HAProxy's proxy_ref_defaults()).
      tcpRequestConnection: base !== null && inheritRules ? [...base.tcpRequestConnection] : [],
      tcpRequestContent: base !== null && inheritRules ? [...base.tcpRequestContent] : [],
      useBackend: [],
      servers: [],
      stickTable: null,
      stickRules: [],
      useServer: [],
      service: null,
      statsPage: null,
      where: ctx.where,
    };
    this.proxies.push(target);
    this.section = { kind: 'proxy', name, state: { target, setHere: new Set() } };
  }

  /** The configuration built so far. */
  build(): Config {
    return { global: this.global, defaults: this.defaults, proxies: this.proxies, resolvers: this.resolversInUse(), files: this.files };
  }

  /**
   * The resolvers sections, and HAProxy's implicit `default` one (from /etc/resolv.conf) when a
   * server names it and the configuration has none. HAProxy always makes it; epoxy only when it
   * is used, so that a configuration without resolution does not depend on /etc/resolv.conf.
   */
  private resolversInUse(): ResolversConfig[] {
    if (this.resolvers.some((r) => r.name === 'default')) return this.resolvers;
    const usesDefault = this.proxies.some((p) => p.servers.some((s) => s.resolvers === 'default'));
    return usesDefault ? [...this.resolvers, implicitDefaultResolvers(this.readPatternFile)] : this.resolvers;
  }
}

// ---------------------------------------------------------------------------------------------
// Files


/** Byte-wise comparison, as alphasort() under the C locale. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * Expands `-f` arguments: files stay, directories become their `*.cfg` regular files in byte
 * order (names starting with '.' skipped; like HAProxy, the first '.cfg' of the name must end it).
 */
export function expandConfigPaths(paths: readonly string[]): { files: string[]; diagnostics: Diagnostic[] } {
  const files: string[] = [];
  const diagnostics: Diagnostic[] = [];
  const nowhere = (path: string): Where => ({ file: path, line: 0, column: 0 });
  for (const path of paths) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(path).isDirectory();
    } catch (error) {
      diagnostics.push(makeDiagnostic('alert', nowhere(path), '', `Cannot open configuration file/directory ${path} : ${errnoText(error)}`, 'plain'));
      continue;
    }
    if (!isDirectory) {
      files.push(path);
      continue;
    }
    let names: string[];
    try {
      names = readdirSync(path).sort(byteOrder);
    } catch (error) {
      diagnostics.push(makeDiagnostic('alert', nowhere(path), '', `Cannot open configuration directory ${path} : ${errnoText(error)}`, 'plain'));
      continue;
    }
    for (const name of names) {
      const ext = name.indexOf('.cfg');
      if (name.startsWith('.') || ext < 0 || ext !== name.length - 4) continue;
      const file = `${path.replace(/\/+$/, '')}/${name}`;
      try {
        if (statSync(file).isFile()) files.push(file);
      } catch (error) {
        diagnostics.push(makeDiagnostic('alert', nowhere(file), '', `Cannot open configuration file ${file} : ${errnoText(error)}`, 'plain'));
      }
    }
  }
  return { files, diagnostics };
}

/** One level of `.if` nesting. */
interface Conditional {
  /** Lines are taken in the current branch. */
  taking: boolean;
  /** A branch was already taken (later .elif/.else are skipped). */
  taken: boolean;
  /** The enclosing level drops everything. */
  parentDropping: boolean;
  /** `.else` was seen. */
  sawElse: boolean;
}

/**
 * Reads one file's text into the builder. `strictEnd`: a file read from disk must end with a
 * newline (HAProxy: "Missing LF on last line"); in-memory text need not.
 */
function feedText(builder: ConfigBuilder, name: string, text: string, env: Readonly<Record<string, string | undefined>>, strictEnd: boolean): void {
  const d = builder.diagnostics;
  builder.beginFile(name);
  const lines = text.split('\n');
  // A final newline leaves an empty last element: not a line.
  const count = lines.length > 0 && lines[lines.length - 1] === '' ? lines.length - 1 : lines.length;
  const missingLf = text.length > 0 && !text.endsWith('\n');
  const stack: Conditional[] = [];
  const startAlerts = d.alertCount;
  let aborted = false; // HAProxy's ERR_ABORT: stop here, without the end-of-file checks
  const at = (line: number, column = 0): Where => ({ file: name, line, column });

  for (let index = 0; index < count; index++) {
    const lineNumber = index + 1;
    let raw = lines[index]!;
    if (d.alertCount - startAlerts >= MAX_FATAL_PER_FILE) {
      d.alert(at(lineNumber), '', `too many fatal errors (${d.alertCount - startAlerts}), stopping now.`, 'line');
      break;
    }
    const nul = raw.indexOf('\0');
    let strayNul = false;
    if (nul >= 0) {
      raw = raw.slice(0, nul);
      strayNul = index + 1 < count || !missingLf;
    }
    if (raw.length > MAX_LINE_LENGTH) {
      d.alert(at(lineNumber), '', `line too long (${raw.length} characters, at most ${MAX_LINE_LENGTH}): '${raw.trimStart().slice(0, 48)}...' not parsed.`, 'line');
      continue;
    }
    const leading = /^[ \t\v\f\r]*/.exec(raw)![0].length;
    if (raw[leading] === '[') {
      d.alert(at(lineNumber, leading + 1), '', "configuration scopes ('[scope]' lines) are not supported yet.", 'line');
      continue;
    }
    const tokenized = tokenizeLine(raw, { env, file: name, line: lineNumber, section: builder.sectionName });
    if (tokenized.error !== null) {
      d.alert(at(lineNumber, tokenized.error.column), '', describeTokenizeError(raw, tokenized.error), 'line');
    } else if (tokenized.words.length > 0) {
      const words = tokenized.words.map((w) => w.text);
      const where = at(lineNumber, tokenized.words[0]!.column);
      const empty = words.indexOf('');
      const dropping = stack.length > 0 && (!stack[stack.length - 1]!.taking || stack[stack.length - 1]!.parentDropping);
      const first = words[0]!;
      if (first.startsWith('.') && ['.if', '.elif', '.else', '.endif'].includes(first)) {
        if (!handleConditional(d, stack, words, where, env)) {
          aborted = true;
          break;
        }
      } else if (dropping) {
        // masked out by a condition
      } else if (empty >= 0) {
        const column = tokenized.words[empty]!.column;
        d.alert(
          at(lineNumber, column),
          first,
          `argument number ${empty} at position ${column} is empty and marks the end of the argument list:\n${caretLines(raw, column)}\n` +
            'If this is caused by an environment variable expansion, please have a look at section 2.3 of the configuration manual to find solutions to address this.',
          'line',
        );
      } else if (first.startsWith('.')) {
        if (!handleDirective(d, words, where)) {
          aborted = true;
          break;
        }
      } else {
        builder.line(words, where);
      }
    }
    if (strayNul) {
      d.alert(at(lineNumber, nul + 1), '', `Stray NUL character at position ${nul + 1}.`, 'line');
      break;
    }
  }
  if (aborted) {
    builder.endFile();
    return;
  }
  if (strictEnd && missingLf && count > 0) {
    const last = lines[count - 1]!;
    const position = (last.includes('\0') ? last.indexOf('\0') : last.length) + 1;
    d.alert(at(count, position), '', `Missing LF on last line, file might have been truncated at position ${position}.`, 'line');
  }
  if (stack.length > 0) d.alert(at(count), '.if', "non-terminated '.if' block.", 'line');
  builder.endFile();
}

/** `.if` / `.elif` / `.else` / `.endif`. Returns false when reading must stop (HAProxy aborts). */
function handleConditional(
  d: Diagnostics,
  stack: Conditional[],
  words: readonly string[],
  where: Where,
  env: Readonly<Record<string, string | undefined>>,
): boolean {
  const directive = words[0]!;
  const top = stack[stack.length - 1];
  const evaluate = (): boolean | null => {
    const text = words.slice(1).join(' ');
    const result = evaluateCondition(text, env);
    if (!result.ok) {
      d.alert(where, directive, `${result.reason} in '${directive}' at position 1:\n  ${directive} ${text}\n  ${' '.repeat(directive.length + 1)}^`, 'line');
      return null;
    }
    return result.value;
  };
  if (directive === '.if') {
    if (stack.length + 1 >= MAX_NESTED_CONDITIONS) {
      d.alert(where, directive, `too many nested '.if', max is ${MAX_NESTED_CONDITIONS}.`, 'line');
      return false;
    }
    const parentDropping = top !== undefined && (!top.taking || top.parentDropping);
    if (parentDropping) {
      stack.push({ taking: false, taken: true, parentDropping: true, sawElse: false });
      return true;
    }
    const value = evaluate();
    if (value === null) return false;
    stack.push({ taking: value, taken: value, parentDropping: false, sawElse: false });
    return true;
  }
  if (directive === '.elif') {
    if (top === undefined) {
      d.alert(where, directive, "lone '.elif' with no matching '.if'.", 'line');
      return false;
    }
    if (top.sawElse) {
      d.alert(where, directive, "'.elif' after '.else' is not permitted.", 'line');
      return false;
    }
    if (top.taken || top.parentDropping) {
      top.taking = false;
      return true;
    }
    const value = evaluate();
    if (value === null) return false;
    top.taking = value;
    top.taken = value;
    return true;
  }
  // .else / .endif take no argument.
  if (words[1] !== undefined) {
    d.alert(where, directive, `Unexpected argument '${words[1]}' for '${directive}'.`, 'line');
    return false;
  }
  if (top === undefined) {
    d.alert(where, directive, `lone '${directive}' with no matching '.if'.`, 'line');
    return false;
  }
  if (directive === '.else') {
    if (top.sawElse) {
      d.alert(where, directive, "'.else' after '.else' is not permitted.", 'line');
      return false;
    }
    top.sawElse = true;
    top.taking = !top.taken;
    top.taken = true;
    return true;
  }
  stack.pop();
  return true;
}

/** `.alert`, `.warning`, `.notice`, `.diag`. Returns false when reading must stop. */
function handleDirective(d: Diagnostics, words: readonly string[], where: Where): boolean {
  const directive = words[0]!;
  const known = ['.alert', '.warning', '.notice', '.diag'];
  if (!known.includes(directive)) {
    d.alert(where, directive, `unknown directive '${directive}'.`, 'line');
    return true;
  }
  if (words[2] !== undefined) {
    d.alert(where, directive, `Unexpected argument '${words[2]}' for '${directive}'. Use quotes if the message should contain spaces.`, 'line');
    return true;
  }
  const message = `'${words[1] ?? ''}'.`;
  if (directive === '.alert') {
    d.alert(where, directive, message, 'line');
    return false;
  }
  if (directive === '.warning') d.warning(where, directive, message, 'line');
  else if (directive === '.notice') d.add(makeDiagnostic('notice', where, directive, message, 'line'));
  // .diag: only shown in diagnostic mode (-dD), which epoxy does not have.
  return true;
}

// ---------------------------------------------------------------------------------------------
// Entry points

/**
 * Reads configuration files, directories or in-memory texts, checks the result, and reports
 * everything. Never throws.
 */
export function readConfig(sources: readonly ConfigSource[], options: ParseOptions = {}): ConfigResult {
  const env = options.env ?? process.env;
  const readFile = options.readFile ?? ((path: string) => readBoundedFile(path, MAX_PATTERN_FILE_BYTES));
  const builder = new ConfigBuilder(readFile);
  const d = builder.diagnostics;
  for (const source of sources) {
    if (typeof source !== 'string') {
      feedText(builder, source.name, source.text, env, false);
      continue;
    }
    const expanded = expandConfigPaths([source]);
    for (const diagnostic of expanded.diagnostics) d.add(diagnostic);
    for (const file of expanded.files) {
      let text: string;
      try {
        text = readBoundedFile(file, MAX_CONFIG_FILE_BYTES);
      } catch (error) {
        d.add(makeDiagnostic('alert', { file, line: 0, column: 0 }, '', `Could not open configuration file ${file} : ${(error as Error).message}`, 'plain'));
        continue;
      }
      feedText(builder, file, text, env, true);
    }
  }
  return finish(builder);
}

/** Runs the semantic checks and packs the result. */
export function finish(builder: ConfigBuilder): ConfigResult {
  const config = builder.build();
  const d = builder.diagnostics;
  try {
    for (const diagnostic of checkConfig(config)) d.add(diagnostic);
  } catch (error) {
    d.alert({ file: '', line: 0, column: 0 }, '', `internal error while checking the configuration: ${(error as Error).message} (please report this bug)`, 'plain');
  }
  if (config.global.zeroWarning && d.list.some((x) => x.severity === 'warning')) {
    const where = config.global.origin['zero-warning'] ?? { file: '', line: 0, column: 0 };
    d.alert(where, 'zero-warning', "Some warnings were found and 'zero-warning' is set. Aborting.", 'plain');
  }
  const errorsAsDiagnostics = d.alerts;
  const warnings = d.warnings;
  const errors = errorsAsDiagnostics.map((x) => new ConfigError(x));
  return { config, errors, warnings, diagnostics: [...d.list] };
}

/**
 * Reads and checks a configuration; throws a ConfigError listing every problem when there is
 * any (its `warnings` holds the warnings). A configuration that passes may still have warnings:
 * readConfig() returns them.
 */
export function parseConfig(sources: readonly ConfigSource[], options: ParseOptions = {}): Config {
  const result = readConfig(sources, options);
  const error = ConfigError.fromDiagnostics(result.diagnostics);
  if (error !== null) throw error;
  return result.config;
}
