/**
 * The variable actions of `tcp-request connection|content`: `set-var(<var-name>[,<cond>...])
 * <expr>` and `unset-var(<var-name>)` (src/sample/vars.ts runs them). Messages are HAProxy 2.6's
 * own, checked with `haproxy -c`.
 */
import { parseCondition } from './acl.js';
import type { LineContext } from './context.js';
import type { ProxyConfig, TcpVarRule } from './model.js';
import { parseExpression } from '../sample/expression.js';
import { parseVarName, VAR_CONDITIONS, type VarCondition } from '../sample/vars.js';

/**
 * The rule, an alert's whole text, or null when the action is neither set-var nor unset-var.
 * `inLabel`: "frontend 'fe'"; `beforeContent`: set for connection rules (no content fetch there).
 */
export function parseVarAction(
  ctx: LineContext,
  acls: ProxyConfig['acls'],
  keyword: string,
  inLabel: string,
  beforeContent: string | undefined,
): TcpVarRule | { readonly alert: string } | null {
  const action = ctx.arg(2);
  const head = /^(set-var|unset-var)\(/.exec(action);
  if (head === null) return null;
  const fail = (alert: string): { alert: string } => ({ alert });
  const kind = head[1] as 'set-var' | 'unset-var';
  const close = action.indexOf(')');
  if (close < 0 || close !== action.length - 1) {
    return fail(`incomplete argument after action '${action}'. Expects 'set-var(<var-name>)', 'set-var-fmt(<var-name>)' or 'unset-var(<var-name>)'`);
  }
  const inside = action.slice(head[0].length, close).split(',');
  const name = parseVarName(inside[0]!);
  if (typeof name === 'string') return fail(name);
  const conditions: VarCondition[] = [];
  if (inside.length > 1 && kind === 'unset-var') {
    return fail('unset-var does not expect parameters after the variable name. Only "set-var" and "set-var-fmt" manage conditions');
  }
  for (const word of inside.slice(1)) {
    if (!(VAR_CONDITIONS as readonly string[]).includes(word)) return fail(`unknown condition "${word}"`);
    conditions.push(word as VarCondition);
  }
  let at = 3;
  let expr = null;
  if (kind === 'set-var') {
    const text = ctx.arg(3);
    if (text === '' || text === 'if' || text === 'unless') return fail('missing fetch method');
    const parsed = parseExpression(text, { label: 'sample fetch expression', ...(ctx.readPatternFile !== undefined && { readFile: ctx.readPatternFile }) });
    if (!parsed.ok) return fail(parsed.reason);
    if (beforeContent !== undefined && parsed.value.fetch.content === true) {
      // HAProxy's words, which name the action where the fetch would be.
      return fail(`fetch method '${action}' extracts information from 'request buffer', none of which is available here`);
    }
    expr = parsed.value;
    at = 4;
  }
  const word = ctx.arg(at);
  let condition = null;
  if (word === 'if' || word === 'unless') {
    const parsed = parseCondition(ctx.words.slice(at), acls, { where: ctx.where, readPatternFile: ctx.readPatternFile, beforeContent });
    if (!parsed.ok) return fail(`'${keyword} ${action}' : error detected in ${inLabel} while parsing '${word}' condition : ${parsed.reason}`);
    for (const warning of parsed.value.warnings) ctx.warn(warning, keyword);
    condition = parsed.value.condition;
  } else if (word !== '') {
    return fail(`'${keyword} ${action}' only accepts 'if' or 'unless', in ${inLabel} (got '${word}')`);
  }
  if (expr === null) return { action: 'unset-var', name, condition, where: ctx.where };
  return { action: 'set-var', name, conditions, expr, condition, where: ctx.where };
}
