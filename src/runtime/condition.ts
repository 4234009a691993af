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
import type { Acl, AclTest, Condition as ConditionConfig, IntRange, IpPattern, SampleMatch } from '../config/model.js';
import type { ClientHelloFacts } from '../inspect/client-hello.js';
import { NEED_MORE } from '../inspect/client-hello.js';
import type { Condition, ConnectionFacts, ContentCondition, InspectedContent } from '../session/session-types.js';

/** Three-valued results, as HAProxy's ACL_TEST_*: AND is `&`, OR is `|`. */
export const FAIL = 0;
export const MISS = 1;
export const PASS = 3;
export type TestResult = typeof FAIL | typeof MISS | typeof PASS;

/** The address bytes (4 or 16) of a sockaddr; IPv4-mapped IPv6 addresses match IPv4 patterns. */
function addressBytes(address: SocketAddress): { family: 'ipv4' | 'ipv6'; bytes: Uint8Array } | null {
  const raw = address.bytes;
  if (address.family === 'ipv4') return { family: 'ipv4', bytes: raw.subarray(4, 8) };
  if (address.family === 'ipv6') {
    const bytes = raw.subarray(8, 24);
    const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
    return mapped ? { family: 'ipv4', bytes: bytes.subarray(12, 16) } : { family: 'ipv6', bytes };
  }
  return null;
}

export function ipMatches(pattern: IpPattern, address: SocketAddress): boolean {
  const value = addressBytes(address);
  if (!value || value.family !== pattern.family) return false;
  let bits = pattern.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((value.bytes[i]! & mask) !== (pattern.bytes[i]! & mask)) return false;
  }
  return true;
}

const inRanges = (ranges: readonly IntRange[], n: number): boolean => ranges.some((r) => n >= r.low && n <= r.high);

/** `-m dom`: the pattern is in the sample between delimiters ('.', '/', '?', ':') or its ends. */
function domainMatches(sample: string, pattern: string): boolean {
  const delimiter = (c: string | undefined): boolean => c === undefined || c === '.' || c === '/' || c === '?' || c === ':';
  for (let at = sample.indexOf(pattern); at >= 0; at = sample.indexOf(pattern, at + 1)) {
    if (delimiter(at === 0 ? undefined : sample[at - 1]) && delimiter(sample[at + pattern.length])) return true;
  }
  return false;
}

function sampleMatches(match: SampleMatch, raw: string): boolean {
  const sample = match.ignoreCase ? raw.toLowerCase() : raw;
  switch (match.method) {
    case 'str':
    case 'bin':
      return match.texts.includes(sample);
    case 'beg':
      return match.texts.some((t) => sample.startsWith(t));
    case 'end':
      return match.texts.some((t) => sample.endsWith(t));
    case 'sub':
      return match.texts.some((t) => sample.includes(t));
    case 'dom':
      return match.texts.some((t) => domainMatches(sample, t));
    case 'reg':
      return match.regexes.some((r) => r.test(raw));
    case 'len':
      return inRanges(match.lengths, raw.length);
    case 'found':
      return true;
  }
}

const latin1 = new TextDecoder('latin1');

/** req.payload / req.payload_lv: the block's text, null when it is not (yet) in the bytes. */
function payloadSample(test: Extract<AclTest, { fetch: 'req.payload' | 'req.payload_lv' }>, content: InspectedContent): string | null {
  const bytes = content.bytes;
  const have = content.length;
  let start = test.offset;
  let size = test.length;
  if (test.fetch === 'req.payload_lv') {
    if (test.offset + test.length > have) return null;
    size = 0;
    for (let i = 0; i < test.length; i++) size = size * 256 + bytes[test.offset + i]!;
    start = test.offset + test.length;
    if (test.blockOffset !== null) start = test.blockOffset.relative ? start + test.blockOffset.value : test.blockOffset.value;
    if (size === 0 || start < 0) return null;
  } else if (size === 0) {
    return start > have ? null : latin1.decode(bytes.subarray(start, have));
  }
  return start + size > have ? null : latin1.decode(bytes.subarray(start, start + size));
}

/** A fact of the ClientHello, as a test result: NEED_MORE is a MISS until the bytes are final. */
function helloResult<T>(fact: T | null | typeof NEED_MORE, final: boolean, matches: (value: T) => boolean): TestResult {
  if (fact === NEED_MORE) return final ? FAIL : MISS;
  if (fact === null) return FAIL;
  return matches(fact) ? PASS : FAIL;
}

function contentResult(test: AclTest, content: InspectedContent | null): TestResult {
  if (content === null) return FAIL;
  const final = content.final;
  const missing: TestResult = final ? FAIL : MISS;
  const hello = (): ClientHelloFacts => content.hello();
  switch (test.fetch) {
    case 'wait_end':
      return final ? PASS : MISS;
    case 'req.len':
      // The length matches or not now, and may still grow: a miss is not final.
      return test.patterns === null || inRanges(test.patterns, content.length) ? PASS : missing;
    case 'req.payload':
    case 'req.payload_lv': {
      const sample = payloadSample(test, content);
      if (sample === null) return missing;
      if (sampleMatches(test.match, sample)) return PASS;
      // A whole-buffer sample (length 0) still grows; a fixed block is final once in.
      return test.fetch === 'req.payload' && test.length === 0 ? missing : FAIL;
    }
    case 'req.ssl_sni':
      return helloResult(hello().sni, final, (sni) => sampleMatches(test.match, sni));
    case 'req.ssl_alpn':
      // Any offered protocol may match (observed with HAProxy 2.6: `h2,http/1.1` matches `http/1.1`).
      return helloResult(hello().alpn, final, (offered) => offered.some((alpn) => sampleMatches(test.match, alpn)));
    case 'req.ssl_hello_type':
      return helloResult(hello().helloType, final, (n) => test.patterns === null || inRanges(test.patterns, n));
    case 'req.ssl_ver':
      return helloResult(hello().version, final, (n) => test.patterns === null || inRanges(test.patterns, n));
    case 'req.ssl_ec_ext':
      return helloResult(hello().ecExt, final, (present) => present);
    default:
      return FAIL;
  }
}

function testResult(test: AclTest, facts: ConnectionFacts): TestResult {
  switch (test.fetch) {
    case 'src':
      return test.patterns.some((p) => ipMatches(p, facts.src)) ? PASS : FAIL;
    case 'dst':
      return test.patterns.some((p) => ipMatches(p, facts.dst)) ? PASS : FAIL;
    case 'src_port':
      return inRanges(test.patterns, facts.src.port) ? PASS : FAIL;
    case 'dst_port':
      return inRanges(test.patterns, facts.dst.port) ? PASS : FAIL;
    case 'always_true':
      return PASS;
    case 'always_false':
      return FAIL;
    default:
      return contentResult(test, facts.content ?? null);
  }
}

/** An ACL passes when any of its tests does (several `acl` lines with one name are OR-ed). */
function aclResult(acl: Acl, facts: ConnectionFacts): TestResult {
  let result: number = FAIL;
  for (const test of acl.tests) {
    result |= testResult(test, facts);
    if (result === PASS) break;
  }
  return result as TestResult;
}

/** The condition's result before `unless` is applied: PASS, FAIL or MISS (wait for bytes). */
function conditionResult(condition: ConditionConfig, facts: ConnectionFacts): TestResult {
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

/** For routing and connection rules: a MISS there (no bytes inspected) is a non-match. */
export function compileCondition(condition: ConditionConfig): Condition {
  const unless = condition.polarity === 'unless';
  return (facts) => (conditionResult(condition, facts) === PASS) !== unless;
}

/** For content rules: MISS means "wait for more bytes"; otherwise PASS or FAIL with `unless` applied. */
export function compileContentCondition(condition: ConditionConfig): ContentCondition {
  const unless = condition.polarity === 'unless';
  return (facts) => {
    const result = conditionResult(condition, facts);
    if (result === MISS) return MISS;
    return (result === PASS) !== unless ? PASS : FAIL;
  };
}
