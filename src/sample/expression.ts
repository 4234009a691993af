/**
 * Sample expressions: `<fetch>[(<args>)][,<converter>[(<args>)]]...` (HAProxy 2.6 section 7.3).
 * Parsed once when the configuration is read (arguments checked, map files loaded), then compiled
 * once per proxy when the runtime is built (proxy and server names resolved to their run-time
 * objects), so evaluating one per connection is a fetch and a few converter calls.
 */
import type { Parsed } from '../config/values.js';
import type { Where } from '../config/model.js';
import { EpoxyError, ErrorCodes } from '../errors.js';
import type { BackendRuntime, FrontendRuntime } from '../session/session-types.js';
import { CONVERTERS, findConverter, UNSUPPORTED_CONVERTERS, type ConverterDef, type ConverterEnv } from './converters.js';
import { findFetch, NOT_YET, UNSUPPORTED_FETCHES, type ArgSpec, type FetchDef, type FetchOutput, type ParsedArg, type ResolvedArg, type SampleContext } from './fetches.js';
import { canCast, castSample, type Sample, type SampleType } from './sample-types.js';

export interface ConverterCall {
  readonly def: ConverterDef;
  /** As written ('map' for map_str). */
  readonly written: string;
  readonly args: readonly ParsedArg[];
  /** What its prepare() made (a loaded map), or undefined. */
  readonly state: unknown;
}

/** A parsed sample expression. */
export interface SampleExpr {
  /** As written, for messages. */
  readonly text: string;
  readonly fetch: FetchDef;
  /** The fetch's name as written (an alias stays an alias in messages). */
  readonly written: string;
  readonly args: readonly ParsedArg[];
  readonly converters: readonly ConverterCall[];
  /** The type of what it gives: the last converter's output, else the fetch's. */
  readonly out: SampleType;
}

/** Splits `a,b(c,d),e` at the commas outside parentheses; null when they do not balance. */
export function splitTopLevel(text: string): string[] | null {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') {
      if (--depth < 0) return null;
    } else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) return null;
  parts.push(text.slice(start));
  return parts;
}

/** `name(args)` or `name`: the name and the argument texts (null: no parentheses). */
function splitCall(text: string): { name: string; args: string[] | null } | null {
  const match = /^([A-Za-z0-9_.-]+)(?:\((.*)\))?$/s.exec(text);
  if (match === null) return null;
  return { name: match[1]!, args: match[2] === undefined ? null : match[2] === '' ? [] : match[2].split(',') };
}

function parseArg(spec: ArgSpec, raw: string): ParsedArg | string {
  const text = raw.trim();
  switch (spec.kind) {
    case 'int': {
      if (!/^-?\d+$/.test(text) || Math.abs(Number(text)) > Number.MAX_SAFE_INTEGER) return `'${text}' is not an integer`;
      const value = Number(text);
      if (spec.min !== undefined && value < spec.min) return `'${text}' is below ${spec.min}`;
      return { kind: 'int', value };
    }
    case 'offset':
      if (!/^[+-]?\d+$/.test(text)) return `'${text}' is not an offset`;
      return { kind: 'offset', value: Number(text), relative: /^[+-]/.test(text) };
    case 'str':
      return { kind: 'str', value: text };
    case 'server': {
      const slash = text.indexOf('/');
      const backend = slash < 0 ? null : text.slice(0, slash);
      const name = slash < 0 ? text : text.slice(slash + 1);
      if (name === '' || backend === '') return `'${text}' is not a server name ([<backend>/]<server>)`;
      return { kind: 'server', backend, name };
    }
    default:
      return { kind: spec.kind, name: text === '' ? null : text };
  }
}

/** Arguments for `specs`: the parsed ones, or why not (the index of the bad one in the reason). */
function parseArgs(specs: readonly ArgSpec[], texts: readonly string[] | null): Parsed<ParsedArg[]> | { ok: false; reason: string; count: true } {
  const given = texts ?? [];
  const required = specs.filter((s) => s.optional !== true).length;
  if (given.length < required || given.length > specs.length) return { ok: false, reason: '', count: true };
  const args: ParsedArg[] = [];
  for (let i = 0; i < given.length; i++) {
    // An empty optional argument is an omitted one (HAProxy: `be_conn()`).
    if (given[i]!.trim() === '' && specs[i]!.optional === true && i === given.length - 1) break;
    const parsed = parseArg(specs[i]!, given[i]!);
    if (typeof parsed === 'string') return { ok: false, reason: parsed };
    args.push(parsed);
  }
  // An omitted proxy or table name is the current proxy's: kept as a null name, resolved later.
  for (let i = args.length; i < specs.length; i++) {
    const kind = specs[i]!.kind;
    if (kind === 'backend' || kind === 'frontend' || kind === 'table') args.push({ kind, name: null });
  }
  return { ok: true, value: args };
}

function usageOf(specs: readonly ArgSpec[]): string {
  if (specs.length === 0) return 'no argument';
  const names = specs.map((s) => `<${s.kind === 'server' ? '[backend/]server' : s.kind}>`);
  const required = specs.filter((s) => s.optional !== true).length;
  const optional = names.slice(required);
  return `(${names.slice(0, required).join(',')}${optional.length > 0 ? `[${required > 0 ? ',' : ''}${optional.join('][,')}]` : ''})`;
}

export interface ExpressionOptions extends ConverterEnv {
  /** What the expression is, in messages: 'ACL expression'. */
  readonly label: string;
}

/** Parses a sample expression; the reason names the fetch or converter at fault. */
export function parseExpression(text: string, options: ExpressionOptions): Parsed<SampleExpr> {
  const fail = (reason: string): Parsed<SampleExpr> => ({ ok: false, reason });
  const parts = splitTopLevel(text);
  const head = parts === null ? null : splitCall(parts[0]!);
  if (parts === null || head === null) {
    if (text === '') return fail(`missing fetch method in ${options.label} ''`);
    return fail(`invalid ${options.label} '${text}'`);
  }
  const written = head.name;
  const fetch = findFetch(written);
  if (fetch === undefined) {
    if (UNSUPPORTED_FETCHES.includes(written) || /^(req|res|ssl|sc\d?_|sc_|src_|hdr|path|url|method|cook|http|var|table_|bc_|be_|fe_|srv_)/.test(written)) {
      return fail(`fetch method '${written}' is not supported yet in ${options.label} '${text}' (docs/configuration.md lists the fetches epoxy evaluates)`);
    }
    return fail(`unknown fetch method '${written}' in ${options.label} '${text}'`);
  }
  if (fetch.args.length === 0 && head.args !== null && head.args.length > 0) return fail(`fetch method '${written}' takes no argument`);
  const args = parseArgs(fetch.args, head.args);
  if (!args.ok) {
    if (fetch.usage !== undefined && ('count' in args || !args.reason.endsWith('is not an offset'))) return fail(`fetch method '${written}' expects ${fetch.usage}`);
    if ('count' in args) return fail(`fetch method '${written}' expects ${usageOf(fetch.args)}`);
    return fail(`fetch method '${written}': ${args.reason}`);
  }
  const badArgs = fetch.argsCheck?.(args.value);
  if (badArgs !== undefined && badArgs !== null) return fail(`invalid args in fetch method '${written}' : ${badArgs} in ${options.label} '${text}'`);
  const invalid = fetch.validate?.(args.value, written);
  if (invalid !== undefined && invalid !== null) return fail(invalid);

  const converters: ConverterCall[] = [];
  let out: SampleType = fetch.out;
  let previous = written;
  for (const part of parts.slice(1)) {
    const call = splitCall(part.trim());
    if (call === null) return fail(`invalid converter '${part}' in ${options.label} '${text}'`);
    const def = findConverter(call.name);
    if (def === undefined) {
      if (UNSUPPORTED_CONVERTERS.includes(call.name)) return fail(`converter '${call.name}' is not supported yet in ${options.label} '${text}'`);
      return fail(`unknown converter '${call.name}' in ${options.label} '${text}'`);
    }
    const convArgs = parseArgs(def.args, call.args);
    if (!convArgs.ok) {
      if ('count' in convArgs) return fail(`converter '${call.name}' expects ${def.usage === '' ? 'no argument' : def.usage}`);
      return fail(`converter '${call.name}': ${convArgs.reason}`);
    }
    if (!canCast(out, def.in)) return fail(`converter '${call.name}' cannot be applied to the ${out} output of '${previous}'`);
    let state: unknown;
    if (def.prepare !== undefined) {
      const prepared = def.prepare(convArgs.value, options, call.name);
      if (!prepared.ok) return fail(prepared.reason);
      state = prepared.value;
    }
    converters.push({ def, written: call.name, args: convArgs.value, state });
    out = def.out;
    previous = call.name;
  }
  return { ok: true, value: { text, fetch, written, args: args.value, converters, out } };
}

// ---------------------------------------------------------------------------------------------
// Names: checked against the configuration, resolved against the runtime.

/** The names an expression's arguments refer to, with the current proxy filled in for omitted ones. */
export type Reference =
  | { readonly kind: 'backend' | 'frontend' | 'table'; readonly name: string }
  | { readonly kind: 'server'; readonly backend: string; readonly name: string };

export function references(expr: SampleExpr, proxy: string): Reference[] {
  const out: Reference[] = [];
  for (const arg of expr.args) {
    if (arg.kind === 'backend' || arg.kind === 'frontend' || arg.kind === 'table') out.push({ kind: arg.kind, name: arg.name ?? proxy });
    else if (arg.kind === 'server') out.push({ kind: 'server', backend: arg.backend ?? proxy, name: arg.name });
  }
  return out;
}

/** How compiling finds what names refer to: the proxy being built, and the run-time objects. */
export interface SampleScope {
  /** The proxy the expression is compiled for (what an omitted name means). */
  readonly proxy: string;
  backend(name: string): BackendRuntime | undefined;
  frontend(name: string): FrontendRuntime | undefined;
  /** Stick tables, by name (with the stick-table fetches). */
  table?(name: string): object | undefined;
}

/** An expression ready to evaluate. */
export interface CompiledExpr {
  readonly fetch: FetchDef;
  readonly args: readonly ResolvedArg[];
  readonly converters: readonly ConverterCall[];
  /** Its sample may still change while more bytes may come (FetchDef.grows). */
  readonly grows: boolean;
}

/**
 * Resolves the expression's names in `scope`. Without a scope (the stats page), names resolve to
 * null and their fetches give no sample. An unknown name throws: the configuration check reports
 * it first, so this guards hand-made configurations only.
 */
export function compileExpression(expr: SampleExpr, where: Where, scope?: SampleScope): CompiledExpr {
  const unknown = (what: string): never => {
    throw new EpoxyError(`[${where.file}:${where.line}] : '${expr.text}' : unknown ${what}`, ErrorCodes.CONFIG);
  };
  const args: ResolvedArg[] = expr.args.map((arg) => {
    switch (arg.kind) {
      case 'int':
      case 'str':
        return arg.value;
      case 'offset':
        return arg;
      case 'backend':
        if (scope === undefined) return null;
        return scope.backend(arg.name ?? scope.proxy) ?? unknown(`backend '${arg.name ?? scope.proxy}'`);
      case 'frontend':
        if (scope === undefined) return null;
        return scope.frontend(arg.name ?? scope.proxy) ?? unknown(`frontend '${arg.name ?? scope.proxy}'`);
      case 'table':
        if (scope === undefined || scope.table === undefined) return null;
        return scope.table(arg.name ?? scope.proxy) ?? unknown(`table '${arg.name ?? scope.proxy}'`);
      case 'server': {
        if (scope === undefined) return null;
        const backendName = arg.backend ?? scope.proxy;
        const backend = scope.backend(backendName) ?? unknown(`backend '${backendName}'`);
        return backend.servers.find((s) => s.name === arg.name) ?? unknown(`server '${backendName}/${arg.name}'`);
      }
    }
  });
  return { fetch: expr.fetch, args, converters: expr.converters, grows: expr.fetch.grows?.(expr.args) ?? false };
}

function convert(sample: Sample, converters: readonly ConverterCall[]): Sample | null {
  let current: Sample | null = sample;
  for (const call of converters) {
    current = castSample(current, call.def.in);
    if (current === null) return null;
    current = call.def.eval(current, call.args, call.state);
    if (current === null) return null;
  }
  return current;
}

/**
 * The expression's sample(s) for this connection, converters applied: one, several (each
 * converted; those that fail dropped), none, or NOT_YET. Never throws: a failure is no sample.
 */
export function evaluateExpression(expr: CompiledExpr, ctx: SampleContext): FetchOutput {
  try {
    const fetched = expr.fetch.eval(ctx, expr.args);
    if (fetched === null || fetched === NOT_YET || expr.converters.length === 0) return fetched;
    if (Array.isArray(fetched)) {
      const converted: Sample[] = [];
      for (const sample of fetched as readonly Sample[]) {
        const out = convert(sample, expr.converters);
        if (out !== null) converted.push(out);
      }
      return converted;
    }
    return convert(fetched as Sample, expr.converters);
  } catch {
    return null;
  }
}

/** The first sample of an evaluation (dynamic names), or null. */
export function firstSample(output: FetchOutput): Sample | null {
  if (output === null || output === NOT_YET) return null;
  if (Array.isArray(output)) return (output as readonly Sample[])[0] ?? null;
  return output as Sample;
}

/** Every converter name epoxy knows (for the documentation test). */
export const CONVERTER_NAMES: readonly string[] = CONVERTERS.map((c) => c.name);
