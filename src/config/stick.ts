/**
 * Stick tables in the configuration (HAProxy 2.6's `stick-table`, `stick match|on|store-request`
 * and the `track-sc<n>` / `sc-*` actions of `tcp-request`): parsed here into the model, resolved
 * across proxies (tables may be declared after the rules naming them) by resolveStickTables().
 * Messages are HAProxy's own where it has one (checked with `haproxy -c`).
 */
import type { LineContext } from './context.js';
import { parseCondition } from './acl.js';
import type { Condition, ProxyConfig, Where, StickKey, StickKeyType, StickStore, StickTableConfig, TcpCounterRule, TcpTrackRule } from './model.js';
import { MAX_TIME_MS, parseTime } from './values.js';
import { parseStickKey } from '../stick/stick-key.js';
import { splitTopLevel } from '../sample/expression.js';

/** How each data type is kept: a cumulated counter, a current value, or a rate over a period. */
export type StickDataKind = 'counter' | 'gauge' | 'rate';

/**
 * The data types a table may store, in HAProxy's own order (its STKTABLE_DT_* enum), which is
 * the order `show table` prints them in. The http_* ones never move in TCP mode, as in HAProxy.
 */
export const STICK_DATA_TYPES: ReadonlyArray<{ readonly name: string; readonly kind: StickDataKind }> = [
  { name: 'server_id', kind: 'gauge' },
  { name: 'gpt0', kind: 'gauge' },
  { name: 'gpc0', kind: 'counter' },
  { name: 'gpc0_rate', kind: 'rate' },
  { name: 'conn_cnt', kind: 'counter' },
  { name: 'conn_rate', kind: 'rate' },
  { name: 'conn_cur', kind: 'gauge' },
  { name: 'sess_cnt', kind: 'counter' },
  { name: 'sess_rate', kind: 'rate' },
  { name: 'http_req_cnt', kind: 'counter' },
  { name: 'http_req_rate', kind: 'rate' },
  { name: 'http_err_cnt', kind: 'counter' },
  { name: 'http_err_rate', kind: 'rate' },
  { name: 'bytes_in_cnt', kind: 'counter' },
  { name: 'bytes_in_rate', kind: 'rate' },
  { name: 'bytes_out_cnt', kind: 'counter' },
  { name: 'bytes_out_rate', kind: 'rate' },
  { name: 'gpc1', kind: 'counter' },
  { name: 'gpc1_rate', kind: 'rate' },
  { name: 'http_fail_cnt', kind: 'counter' },
  { name: 'http_fail_rate', kind: 'rate' },
];

const DATA_KIND = new Map(STICK_DATA_TYPES.map((d) => [d.name, d.kind]));

/** HAProxy 2.6 types epoxy does not keep yet (arrays of counters and tags). */
const UNSUPPORTED_DATA = new Set(['gpc', 'gpc_rate', 'gpt', 'server_key']);

/** Highest stick counter: HAProxy's MAX_SESS_STKCTR - 1 with its default build (3 counters). */
export const MAX_STICK_COUNTER = 2;

/** Default `len` of string and binary keys. */
const DEFAULT_KEY_LENGTH = 32;

/** `size` with HAProxy's suffixes: k, m, g are 2^10, 2^20, 2^30. */
function parseSize(text: string): number | null {
  const match = /^(\d+)([kKmMgG]?)$/.exec(text);
  if (match === null) return null;
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[match[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  const value = Number(match[1]) * unit;
  return Number.isSafeInteger(value) ? value : null;
}

/** Largest table accepted: keeps the shared region's size arithmetic far from overflow. */
export const MAX_STICK_TABLE_SIZE = 16 * 1024 * 1024;

/**
 * `stick-table type {ip|ipv6|integer|string [len <n>]|binary [len <n>]} size <n> [expire <t>]
 * [nopurge] [store <type>[,<type>...]]*`. `peers`, `srvkey` and `write-to` are refused: there is
 * no peers protocol here, the table is shared by every worker through memory instead.
 */
export function parseStickTable(ctx: LineContext, target: ProxyConfig): void {
  if (target.stickTable !== null) {
    const w = target.stickTable.where;
    ctx.alert(`stick-table name '${target.name}' conflicts with table declared in ${target.kind} '${target.name}' at ${w.file}:${w.line}.`, 'stick-table', 'line');
    return;
  }
  const fail = (reason: string): void => ctx.alert(`stick-table: ${reason}.`, 'stick-table', 'line');
  let type: StickKeyType | null = null;
  let keyLength = 0;
  let size: number | null = null;
  let expire: number | null = null;
  let nopurge = false;
  const store: StickStore[] = [];
  const words = ctx.words;
  for (let i = 1; i < words.length; i++) {
    const word = words[i]!;
    if (word === 'type') {
      const name = words[++i] ?? '';
      if (name === 'ip' || name === 'ipv6' || name === 'integer') {
        type = name;
        keyLength = name === 'ipv6' ? 16 : 4;
      } else if (name === 'string' || name === 'binary') {
        type = name;
        keyLength = DEFAULT_KEY_LENGTH;
        if (words[i + 1] === 'len') {
          const len = words[i + 2] ?? '';
          // HAProxy reads a bad length as the type's own problem: "unknown type '0'".
          if (!/^\d+$/.test(len) || Number(len) < 1 || Number(len) > 1024) return fail(`unknown type '${len}'`);
          keyLength = Number(len);
          i += 2;
        }
      } else {
        return fail(name === '' ? 'missing type' : `unknown type '${name}'`);
      }
    } else if (word === 'size') {
      const text = words[++i] ?? '';
      size = parseSize(text);
      if (size === null || size < 1) return fail(`invalid size '${text}'`);
      if (size > MAX_STICK_TABLE_SIZE) return fail(`size '${text}' is above epoxy's limit of ${MAX_STICK_TABLE_SIZE} entries`);
    } else if (word === 'expire') {
      const text = words[++i] ?? '';
      const parsed = parseTime(text);
      if (!parsed.ok) {
        return fail(parsed.error.kind === 'over' ? `timer overflow in argument '${text}' to 'expire' (maximum value is ${MAX_TIME_MS} ms or ~24.8 days)` : `invalid expire value '${text}'`);
      }
      expire = parsed.value;
    } else if (word === 'nopurge') {
      nopurge = true;
    } else if (word === 'store') {
      const list = words[++i] ?? '';
      // `conn_cur,conn_rate(10s)`: commas inside parentheses do not split.
      const items = splitTopLevel(list);
      if (items === null) return fail(`unbalanced parentheses in store option '${list}'`);
      for (const item of items) {
        const parsed = parseStore(item);
        if (typeof parsed === 'string') return fail(parsed);
        if (store.some((s) => s.name === parsed.name)) ctx.warn(`stick-table: store option '${parsed.name}' already enabled, ignored.`, 'stick-table', 'line');
        else store.push(parsed);
      }
    } else if (word === 'peers' || word === 'srvkey' || word === 'write-to') {
      return fail(`'${word}' is not supported yet (epoxy shares one table between its workers through memory; there is no peers protocol)`);
    } else {
      return fail(`unknown argument '${word}'`);
    }
  }
  if (type === null) return fail('missing type');
  if (size === null) return fail('missing size');
  target.stickTable = { type, keyLength, size, expire, nopurge, store, where: ctx.where } satisfies StickTableConfig;
}

function parseStore(item: string): StickStore | string {
  const match = /^([a-z0-9_]+)(?:\(([^)]*)\))?$/.exec(item);
  const name = match?.[1] ?? item;
  const kind = DATA_KIND.get(name);
  if (match === null || kind === undefined) {
    if (UNSUPPORTED_DATA.has(name)) return `store option '${name}' is not supported yet`;
    return `unknown store option '${name}'`;
  }
  const arg = match[2];
  if (kind !== 'rate') {
    if (arg !== undefined) return `unexpected argument to store option '${name}'`;
    return { name, period: null };
  }
  if (arg === undefined || arg === '') return `missing argument to store option '${name}'`;
  const parsed = parseTime(arg);
  if (!parsed.ok || parsed.value === 0) return `invalid argument to store option '${name}' : '${arg}'`;
  return { name, period: parsed.value };
}

/** The words after `table <name>` and up to the condition: [key words, table, condition start]. */
function splitRuleWords(words: readonly string[], from: number): { keyWords: string[]; table: string | null; conditionAt: number; error: string | null } {
  const keyWords: string[] = [];
  let table: string | null = null;
  let i = from;
  for (; i < words.length; i++) {
    const word = words[i]!;
    if (word === 'if' || word === 'unless') break;
    if (word === 'table') {
      table = words[i + 1] ?? '';
      if (table === '') return { keyWords, table, conditionAt: i, error: "missing table name after 'table'" };
      i++;
      continue;
    }
    keyWords.push(word);
  }
  return { keyWords, table, conditionAt: i, error: null };
}

/** A key expression (`src`, `req.ssl_sni,lower`), parsed now for file:line errors. */
function parseKey(keyWords: readonly string[], ctx: LineContext, beforeContent: boolean): StickKey | string {
  if (keyWords.length === 0) return 'missing fetch method';
  const text = keyWords.join(' ');
  const parsed = parseStickKey(text, beforeContent, ctx.readPatternFile);
  if (!parsed.ok) return parsed.reason;
  return { text, expr: parsed.value, where: ctx.where };
}

function condition(ctx: LineContext, target: ProxyConfig | { acls: ProxyConfig['acls'] }, words: readonly string[], beforeContent: string | undefined): Condition | null | string {
  if (words.length === 0) return null;
  const parsed = parseCondition(words, target.acls, { where: ctx.where, readPatternFile: ctx.readPatternFile, beforeContent });
  if (!parsed.ok) return parsed.reason;
  for (const warning of parsed.value.warnings) ctx.warn(warning);
  return parsed.value.condition;
}

/**
 * The stick-counter actions of `tcp-request connection|content`: `track-sc<n> <key> [table <t>]`,
 * `sc-inc-gpc0(<n>)`, `sc-inc-gpc1(<n>)`, `sc-set-gpt0(<n>) <int>`. Returns the rule, a reason
 * (the caller prefixes the keyword), or null when `action` is none of them.
 */
export function parseStickAction(
  ctx: LineContext,
  acls: ProxyConfig['acls'],
  keyword: string,
  beforeContent: string | undefined,
): TcpTrackRule | TcpCounterRule | string | null {
  const action = ctx.arg(2);
  const track = /^track-sc(\d+)$/.exec(action);
  if (track !== null) {
    const counter = Number(track[1]);
    if (counter > MAX_STICK_COUNTER) return `${counter} track-sc number exceeding ${MAX_STICK_COUNTER} (MAX_SESS_STKCTR-1) value`;
    const split = splitRuleWords(ctx.words, 3);
    if (split.error !== null) return split.error;
    const key = parseKey(split.keyWords, ctx, beforeContent !== undefined);
    if (typeof key === 'string') return key;
    const cond = condition(ctx, { acls }, ctx.words.slice(split.conditionAt), beforeContent);
    if (typeof cond === 'string') return `error detected while parsing '${ctx.words[split.conditionAt]}' condition : ${cond}`;
    return { action: 'track-sc', counter, key, table: split.table, condition: cond, where: ctx.where };
  }
  const counterAction = /^(sc-inc-gpc0|sc-inc-gpc1|sc-set-gpt0)(?:\((\d+)\))?$/.exec(action);
  if (counterAction === null) return null;
  const name = counterAction[1] as TcpCounterRule['action'];
  if (counterAction[2] === undefined) return `expects a stick counter number between parentheses: '${name}(<sc-id>)'`;
  const counter = Number(counterAction[2]);
  if (counter > MAX_STICK_COUNTER) return `invalid stick table track ID '${counter}'. The max allowed ID is ${MAX_STICK_COUNTER}`;
  let at = 3;
  let value = 0;
  if (name === 'sc-set-gpt0') {
    const text = ctx.arg(3);
    if (!/^-?\d+$/.test(text)) return `expects an integer value (got '${text}')`;
    value = Math.max(0, Math.min(Number(text), 0xffffffff));
    at = 4;
  }
  const rest = ctx.words.slice(at);
  if (rest.length > 0 && rest[0] !== 'if' && rest[0] !== 'unless') return `unexpected '${rest[0]}': only 'if' or 'unless' may follow`;
  const cond = condition(ctx, { acls }, rest, beforeContent);
  if (typeof cond === 'string') return `error detected while parsing '${rest[0]}' condition : ${cond}`;
  void keyword;
  return { action: name, counter, value, condition: cond, where: ctx.where };
}

/** `stick match|on|store-request <key> [table <t>] [if|unless <cond>]` (backends and listen). */
export function parseStickRule(ctx: LineContext, target: ProxyConfig): void {
  const sub = ctx.arg(1);
  if (sub !== 'match' && sub !== 'on' && sub !== 'store-request') {
    const hint = sub === 'store-response' ? " ('store-response' needs HTTP responses; it is not supported yet)" : '';
    ctx.alert(`'stick' expects 'match', 'on' or 'store-request' (got '${sub}')${hint}.`);
    return;
  }
  const keyword = `stick ${sub}`;
  const split = splitRuleWords(ctx.words, 2);
  if (split.error !== null) {
    ctx.alert(`'${keyword}': ${split.error}.`, keyword);
    return;
  }
  const key = parseKey(split.keyWords, ctx, false);
  if (typeof key === 'string') {
    ctx.alert(`'${keyword}': ${key}.`, keyword);
    return;
  }
  const cond = condition(ctx, target, ctx.words.slice(split.conditionAt), undefined);
  if (typeof cond === 'string') {
    ctx.alert(`'${keyword}': error detected while parsing sticking condition : ${cond}.`, keyword);
    return;
  }
  const base = { key, table: split.table, condition: cond, where: ctx.where };
  if (sub !== 'store-request') target.stickRules.push({ kind: 'match', ...base });
  if (sub !== 'match') target.stickRules.push({ kind: 'store-request', ...base });
}

/** The table each rule names, resolved once every section is read (tables may come later). */
export function stickTableOf(proxies: readonly ProxyConfig[], holder: ProxyConfig, table: string | null): ProxyConfig | null {
  const name = table ?? holder.name;
  const proxy = proxies.find((p) => p.name === name && p.stickTable !== null);
  return proxy ?? null;
}

/** Alerts for rules naming a table that does not exist, in HAProxy's words, at the rule's line. */
export function checkStickReferences(proxies: readonly ProxyConfig[], alert: (where: Where, keyword: string, message: string) => void): void {
  for (const proxy of proxies) {
    for (const rule of [...proxy.tcpRequestConnection, ...proxy.tcpRequestContent]) {
      if (rule.action !== 'track-sc') continue;
      if (stickTableOf(proxies, proxy, rule.table) === null) {
        alert(rule.where, `track-sc${rule.counter}`, `Proxy '${proxy.name}': unable to find table '${rule.table ?? proxy.name}' referenced by track-sc${rule.counter}.`);
      }
    }
    for (const [i, rule] of proxy.stickRules.entries()) {
      // `stick on` made two rules of one line: one complaint for it.
      const previous = proxy.stickRules[i - 1];
      if (previous !== undefined && previous.where === rule.where) continue;
      if (stickTableOf(proxies, proxy, rule.table) === null) {
        alert(rule.where, `stick ${rule.kind}`, `Proxy '${proxy.name}': unable to find stick-table '${rule.table ?? proxy.name}'.`);
      }
    }
  }
}

/** The `store` list a table ends up with: server_id is added when a stick rule uses the table. */
export function effectiveStore(proxies: readonly ProxyConfig[], owner: ProxyConfig): StickStore[] {
  const store = [...owner.stickTable!.store];
  const usedForStickiness = proxies.some((p) => p.stickRules.some((r) => stickTableOf(proxies, p, r.table) === owner));
  if (usedForStickiness && !store.some((s) => s.name === 'server_id')) store.push({ name: 'server_id', period: null });
  return store;
}

export function stickDataKind(name: string): StickDataKind | undefined {
  return DATA_KIND.get(name);
}

export type { StickTableConfig };
