/**
 * Compiles a configuration `if`/`unless` condition (an OR of AND-ed ACL terms) into a function
 * over the connection's two ends. ACL patterns were parsed once, so matching is byte compares
 * and integer ranges: no string work per connection.
 */
import type { SocketAddress } from '../address.js';
import type { Acl, AclTest, Condition as ConditionConfig, IpPattern } from '../config/model.js';
import type { Condition, ConnectionFacts } from '../session/session-types.js';

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

function testMatches(test: AclTest, facts: ConnectionFacts): boolean {
  switch (test.fetch) {
    case 'src':
      return test.patterns.some((p) => ipMatches(p, facts.src));
    case 'dst':
      return test.patterns.some((p) => ipMatches(p, facts.dst));
    case 'src_port':
      return test.patterns.some((r) => facts.src.port >= r.low && facts.src.port <= r.high);
    case 'dst_port':
      return test.patterns.some((r) => facts.dst.port >= r.low && facts.dst.port <= r.high);
    case 'always_true':
      return true;
    case 'always_false':
      return false;
  }
}

/** An ACL matches when any of its tests does (several `acl` lines with one name are OR-ed). */
function aclMatches(acl: Acl, facts: ConnectionFacts): boolean {
  return acl.tests.some((test) => testMatches(test, facts));
}

export function compileCondition(condition: ConditionConfig): Condition {
  const suites = condition.suites;
  const unless = condition.polarity === 'unless';
  return (facts) => {
    const result = suites.some((suite) => suite.every((term) => aclMatches(term.acl, facts) !== term.negate));
    return unless ? !result : result;
  };
}
