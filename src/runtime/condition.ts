/**
 * Compiles a configuration `if`/`unless` condition (an OR of AND-ed ACL terms) into a function
 * over the connection's facts. ACL patterns were parsed once, so matching is byte compares,
 * integer ranges and string compares of the few content samples: no parsing per connection.
 *
 * Content fetches read the client's buffered bytes, which may still grow: as in HAProxy, a test
 * whose answer could change with more bytes is a MISS (neither true nor false) until the bytes
 * are final (inspect-delay expired, the client closed, the buffer is full); a rule meeting a MISS
 * waits. With final bytes, or outside content inspection, a fetch lacking data does not match.
 */
import type { SocketAddress } from '../address.js';
import type { Acl, Condition as ConditionConfig, IpPattern } from '../config/model.js';
import { compileExpression, evaluateExpression, type CompiledExpr, type SampleScope } from '../sample/expression.js';
import { NOT_YET } from '../sample/fetches.js';
import { ipInNetwork, sampleMatches } from '../sample/match.js';
import { addressSample, type Sample } from '../sample/sample-types.js';
import type { SampleMatch } from '../config/model.js';
import type { Condition, ConnectionFacts, ContentCondition } from '../session/session-types.js';

/** Three-valued results, as HAProxy's ACL_TEST_*: AND is `&`, OR is `|`. */
export const FAIL = 0;
export const MISS = 1;
export const PASS = 3;
export type TestResult = typeof FAIL | typeof MISS | typeof PASS;

/** Whether a socket address is in `pattern` (IPv4-mapped IPv6 addresses match IPv4 patterns). */
export function ipMatches(pattern: IpPattern, address: SocketAddress): boolean {
  const sample = addressSample(address);
  return sample !== null && sample.type === 'ip' && ipInNetwork(pattern, sample.family, sample.bytes);
}

/** An ACL test ready to run: its expression with names resolved, and its patterns. */
interface CompiledTest {
  readonly expr: CompiledExpr;
  readonly match: SampleMatch;
}

interface CompiledAcl {
  readonly tests: readonly CompiledTest[];
}

interface CompiledCondition {
  readonly suites: readonly (readonly { readonly negate: boolean; readonly acl: CompiledAcl }[])[];
}

/**
 * One test: PASS when a sample matches. Without a sample, a MISS if it may still come (NOT_YET);
 * with a sample that does not match, a MISS if it may still change (req.len, a growing payload)
 * and the bytes are not final (HAProxy's SMP_F_MAY_CHANGE); otherwise FAIL.
 */
function testResult(test: CompiledTest, facts: ConnectionFacts): TestResult {
  const output = evaluateExpression(test.expr, facts);
  if (output === NOT_YET) return MISS;
  if (output === null) return FAIL;
  if (Array.isArray(output)) {
    for (const sample of output as readonly Sample[]) if (sampleMatches(test.match, sample)) return PASS;
  } else if (sampleMatches(test.match, output as Sample)) {
    return PASS;
  }
  return test.expr.grows && facts.content != null && !facts.content.final ? MISS : FAIL;
}

/** An ACL passes when any of its tests does (several `acl` lines with one name are OR-ed). */
function aclResult(acl: CompiledAcl, facts: ConnectionFacts): TestResult {
  let result: number = FAIL;
  for (const test of acl.tests) {
    result |= testResult(test, facts);
    if (result === PASS) break;
  }
  return result as TestResult;
}

/** The condition's result before `unless` is applied: PASS, FAIL or MISS (wait for bytes). */
function conditionResult(condition: CompiledCondition, facts: ConnectionFacts): TestResult {
  let result: number = FAIL;
  for (const suite of condition.suites) {
    let suiteResult: number = PASS;
    for (const term of suite) {
      let r: number = aclResult(term.acl, facts);
      // Negation leaves a MISS a MISS: 3 - r swaps PASS and FAIL only.
      if (term.negate) r = 3 - r;
      suiteResult &= r;
      if (suiteResult === FAIL) break;
    }
    result |= suiteResult;
    if (result === PASS) break;
  }
  return result as TestResult;
}

/**
 * Resolves the names the condition's expressions use (`scope`: the proxy it belongs to, the
 * runtime's proxies), once. Shared ACLs are compiled once per condition.
 */
function compile(condition: ConditionConfig, scope?: SampleScope): CompiledCondition {
  const acls = new Map<Acl, CompiledAcl>();
  const compileAcl = (acl: Acl): CompiledAcl => {
    let compiled = acls.get(acl);
    if (compiled === undefined) {
      compiled = { tests: acl.tests.map((test) => ({ expr: compileExpression(test.expr, test.where, scope), match: test.match })) };
      acls.set(acl, compiled);
    }
    return compiled;
  };
  return { suites: condition.suites.map((suite) => suite.map((term) => ({ negate: term.negate, acl: compileAcl(term.acl) }))) };
}

/** For routing and connection rules: a MISS there (no bytes inspected) is a non-match. */
export function compileCondition(condition: ConditionConfig, scope?: SampleScope): Condition {
  const unless = condition.polarity === 'unless';
  const compiled = compile(condition, scope);
  return (facts) => (conditionResult(compiled, facts) === PASS) !== unless;
}

/** For content rules: MISS means "wait for more bytes"; otherwise PASS or FAIL with `unless` applied. */
export function compileContentCondition(condition: ConditionConfig, scope?: SampleScope): ContentCondition {
  const unless = condition.polarity === 'unless';
  const compiled = compile(condition, scope);
  return (facts) => {
    const result = conditionResult(compiled, facts);
    if (result === MISS) return MISS;
    return (result === PASS) !== unless ? PASS : FAIL;
  };
}
