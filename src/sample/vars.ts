/**
 * Variables (HAProxy 2.6 section 2.8): `set-var(<name>[,<cond>...]) <expr>` and
 * `unset-var(<name>)` actions, the `var(<name>[,<default>])` fetch. A name is `<scope>.<name>`:
 *
 * - `proc`: one store for the process (under a master, each worker has its own, as each process
 *   of HAProxy with nbproc had);
 * - `sess`, `txn`, `req`, `res`: the session's own store. In TCP mode there is one transaction per
 *   session and no response processing, so all four live as long as the session (HAProxy clears
 *   `req`/`res` between HTTP requests only); each scope is its own namespace (`txn.a` is not
 *   `sess.a`).
 * - `check`: accepted as HAProxy accepts it, but health checks have no variables here, and in a
 *   session HAProxy finds no check store either: setting one does nothing, reading one gives no
 *   sample.
 *
 * A variable keeps the sample's type (an int stays an int). The session's store is a Map created
 * on the first set: sessions of proxies without variables allocate nothing.
 */
import type { FetchDef } from './fetches.js';
import { strSample, type Sample } from './sample-types.js';

export type VarScope = 'proc' | 'sess' | 'txn' | 'req' | 'res' | 'check';
const SCOPES: readonly string[] = ['proc', 'sess', 'txn', 'req', 'res', 'check'];

/** set-var's conditions (HAProxy's VF_COND_*). */
export type VarCondition = 'ifexists' | 'ifnotexists' | 'ifempty' | 'ifnotempty' | 'ifset' | 'ifnotset' | 'ifgt' | 'iflt';
export const VAR_CONDITIONS: readonly VarCondition[] = ['ifexists', 'ifnotexists', 'ifempty', 'ifnotempty', 'ifset', 'ifnotset', 'ifgt', 'iflt'];

/** A variable's name, checked: the full name is the key of its store. */
export interface VarName {
  readonly scope: VarScope;
  /** `txn.proto`, as written. */
  readonly full: string;
}

/**
 * Checks a variable name as HAProxy's vars_check_arg()/register_name() do; the reason is
 * HAProxy's message (checked with `haproxy -c`).
 */
export function parseVarName(text: string): VarName | string {
  if (text === '') return 'Empty variable name cannot be accepted';
  const dot = text.indexOf('.');
  const scope = dot < 0 ? text : text.slice(0, dot);
  if (dot <= 0 || dot === text.length - 1 || !SCOPES.includes(scope)) {
    return `invalid variable name '${text}'. A variable name must be start by its scope. The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'`;
  }
  const bad = /[^a-zA-Z0-9._]/.exec(text.slice(dot + 1));
  if (bad !== null) return `invalid syntax at char '${text.slice(dot + 1 + bad.index)}'`;
  return { scope: scope as VarScope, full: text };
}

/** The process's `proc.*` variables. */
const procVars = new Map<string, Sample>();

/** What holds a session's variables (a Session; tests may give a plain object). */
export interface VarHolder {
  vars?: Map<string, Sample> | null;
}

/** The variable's sample, or undefined when it is not set. */
export function readVar(holder: VarHolder | undefined, name: VarName): Sample | undefined {
  if (name.scope === 'proc') return procVars.get(name.full);
  if (name.scope === 'check') return undefined;
  return holder?.vars?.get(name.full);
}

function isEmpty(sample: Sample): boolean {
  return (sample.type === 'str' || sample.type === 'bin') && sample.value.length === 0;
}

/**
 * set-var: stores `sample` unless a condition says no (HAProxy 2.6's var_set(): ifexists and
 * ifset tell apart a variable that was never set from one unset; an unset-var removes a session
 * variable, so both read "no" for it; `proc` variables exist from the configuration on, so
 * ifexists is always true for them, ifnotexists never). ifgt/iflt compare integers only: with
 * another type on either side they are true.
 */
export function setVar(holder: VarHolder, name: VarName, sample: Sample, conditions: readonly VarCondition[]): void {
  if (name.scope === 'check') return;
  const current = readVar(holder, name);
  for (const condition of conditions) {
    switch (condition) {
      case 'ifexists':
        if (current === undefined && name.scope !== 'proc') return;
        break;
      case 'ifnotexists':
        if (current !== undefined || name.scope === 'proc') return;
        break;
      case 'ifset':
        if (current === undefined) return;
        break;
      case 'ifnotset':
        if (current !== undefined) return;
        break;
      case 'ifempty':
        if (!isEmpty(sample)) return;
        break;
      case 'ifnotempty':
        if (isEmpty(sample)) return;
        break;
      case 'ifgt':
      case 'iflt':
        if (current?.type === 'int' && sample.type === 'int') {
          if (condition === 'ifgt' ? !(current.value > sample.value) : !(current.value < sample.value)) return;
        }
        break;
    }
  }
  if (name.scope === 'proc') procVars.set(name.full, sample);
  else (holder.vars ??= new Map()).set(name.full, sample);
}

export function unsetVar(holder: VarHolder, name: VarName): void {
  if (name.scope === 'proc') procVars.delete(name.full);
  else holder.vars?.delete(name.full);
}

/** Forgets the process's variables (tests). */
export function clearProcVars(): void {
  procVars.clear();
}

/** Checked names, so a fetch does not parse its name per call. */
const names = new Map<string, VarName>();
function varNameOf(text: string): VarName | null {
  let name = names.get(text);
  if (name === undefined) {
    const parsed = parseVarName(text);
    if (typeof parsed === 'string') return null;
    name = parsed;
    names.set(text, name);
  }
  return name;
}

export const VAR_FETCHES: readonly FetchDef[] = [
  {
    name: 'var',
    args: [{ kind: 'str' }, { kind: 'str', optional: true }],
    // Any type: the one stored (HAProxy's SMP_T_ANY). 'str' here lets every converter and
    // matching method apply; an ACL must say which method (see src/config/acl.ts).
    out: 'str',
    anyType: true,
    usage: '(<var-name>[,<default>])',
    argsCheck: (args) => {
      const arg = args[0];
      if (arg?.kind !== 'str') return 'missing variable name';
      const name = parseVarName(arg.value);
      return typeof name === 'string' ? name : null;
    },
    summary: "the variable's sample, with the type it was stored with; not set: <default> as a string if given, else no sample",
    eval: (ctx, [text, fallback]) => {
      const name = varNameOf(text as string);
      const sample = name === null ? undefined : readVar(ctx, name);
      if (sample !== undefined) return sample;
      return typeof fallback === 'string' ? strSample(fallback) : null;
    },
  },
];
