/**
 * docs/configuration.md and the parser's keyword tables say the same thing: every supported
 * keyword is documented in its section (and nothing else is documented as supported), every
 * refused keyword is listed with its reason, and test/fixtures/config/all-keywords.cfg uses every
 * supported keyword.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/child.js';
import { SUPPORTED_BIND_KEYWORDS, UNSUPPORTED_BIND_KEYWORDS } from '../../src/listener/index.js';
import { CONTENT_ACL_FETCHES } from '../../src/config/acl.js';
import {
  ACL_FETCHES,
  OPTIONS,
  PREDEFINED_ACLS,
  REMOVED_GLOBAL,
  SUPPORTED_GLOBAL_KEYWORDS,
  SUPPORTED_PROXY_KEYWORDS,
  SUPPORTED_RESOLVERS_KEYWORDS,
  SUPPORTED_SERVER_KEYWORDS,
  TIMEOUTS,
  UNSUPPORTED_GLOBAL,
  UNSUPPORTED_OPTIONS,
  UNSUPPORTED_PROXY,
  UNSUPPORTED_SECTIONS,
  UNSUPPORTED_SERVER,
  UNSUPPORTED_TCP_ACTIONS,
  UNSUPPORTED_TCP_REQUEST,
  UNSUPPORTED_TIMEOUTS,
  tokenizeLine,
} from '../../src/config/index.js';

const DOC = readFileSync(`${ROOT}docs/configuration.md`, 'utf8');

/** The text under a heading, up to the next heading of the same or a higher level. */
function section(title: string): string {
  const lines = DOC.split('\n');
  const start = lines.findIndex((l) => /^#+ /.test(l) && l.replace(/^#+ /, '') === title);
  if (start < 0) throw new Error(`docs/configuration.md has no section '${title}'`);
  const level = /^#+/.exec(lines[start]!)![0].length;
  let end = start + 1;
  while (end < lines.length && !(/^#+ /.test(lines[end]!) && /^#+/.exec(lines[end]!)![0].length <= level)) end++;
  return lines.slice(start + 1, end).join('\n');
}

/** Keywords named in the first cell of the section's table rows (`words` words of each code span). */
function documented(title: string, words = 1): Set<string> {
  const names = new Set<string>();
  for (const line of section(title).split('\n')) {
    if (!line.startsWith('| ') || line.startsWith('| ---')) continue;
    const cell = line.split(/(?<!\\)\|/)[1] ?? '';
    for (const span of cell.matchAll(/`([^`]+)`/g)) names.add(span[1]!.split(' ').slice(0, words).join(' '));
  }
  return names;
}

/** Code spans of a section. */
function spans(title: string): Set<string> {
  const text = section(title).replace(/^```[^]*?^```$/gm, '');
  return new Set([...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!));
}

describe('supported keywords are documented, and only they', () => {
  it('global', () => {
    const names = documented('Global section');
    expect([...SUPPORTED_GLOBAL_KEYWORDS].filter((k) => !names.has(k))).toEqual([]);
    expect([...names].filter((k) => !SUPPORTED_GLOBAL_KEYWORDS.includes(k))).toEqual([]);
  });

  it('proxy sections', () => {
    const names = documented('Proxy sections');
    names.delete('no'); // `no log`
    expect([...SUPPORTED_PROXY_KEYWORDS].filter((k) => !names.has(k))).toEqual([]);
    expect([...names].filter((k) => !SUPPORTED_PROXY_KEYWORDS.includes(k))).toEqual([]);
  });

  it('options and timeouts', () => {
    const options = documented('option', 2);
    expect(Object.keys(OPTIONS).map((o) => `option ${o}`).filter((k) => !options.has(k))).toEqual([]);
    expect([...options].filter((k) => !(k.replace('option ', '') in OPTIONS))).toEqual([]);
    const timeouts = documented('timeout', 2);
    expect(Object.keys(TIMEOUTS).map((t) => `timeout ${t}`).filter((k) => !timeouts.has(k))).toEqual([]);
    expect([...timeouts].filter((k) => !(k.replace('timeout ', '') in TIMEOUTS))).toEqual([]);
  });

  it('server options', () => {
    const names = documented('Servers');
    expect([...SUPPORTED_SERVER_KEYWORDS].filter((k) => !names.has(k))).toEqual([]);
    expect([...names].filter((k) => !SUPPORTED_SERVER_KEYWORDS.includes(k))).toEqual([]);
  });

  it('resolvers section', () => {
    const names = documented('Resolvers section');
    expect([...SUPPORTED_RESOLVERS_KEYWORDS].filter((k) => !names.has(k))).toEqual([]);
    expect([...names].filter((k) => !SUPPORTED_RESOLVERS_KEYWORDS.includes(k))).toEqual([]);
  });

  it('bind options', () => {
    const names = documented('Bind options');
    expect([...SUPPORTED_BIND_KEYWORDS].filter((k) => !names.has(k))).toEqual([]);
    expect([...names].filter((k) => !SUPPORTED_BIND_KEYWORDS.includes(k))).toEqual([]);
  });

  it('ACL criteria and predefined ACLs', () => {
    // Fetches with arguments are documented with them: `req.payload(<offset>,<length>)`.
    const names = new Set([...documented('ACLs')].map((n) => n.replace(/\(.*$/, '')));
    expect([...ACL_FETCHES, ...CONTENT_ACL_FETCHES].filter((k) => !names.has(k))).toEqual([]);
    const text = spans('ACLs');
    expect([...PREDEFINED_ACLS].filter((k) => !text.has(k))).toEqual([]);
  });
});

describe('refused keywords are listed with their reason', () => {
  const cases: [string, readonly string[], (k: string) => string][] = [
    ['Global keywords', Object.keys(UNSUPPORTED_GLOBAL), (k) => k],
    ['Proxy keywords', Object.keys(UNSUPPORTED_PROXY), (k) => k],
    ['Options', Object.keys(UNSUPPORTED_OPTIONS), (k) => k],
    ['Timeouts', Object.keys(UNSUPPORTED_TIMEOUTS), (k) => k],
    ['Server options', Object.keys(UNSUPPORTED_SERVER), (k) => k],
    ['Bind options', UNSUPPORTED_BIND_KEYWORDS, (k) => k],
    ['Sections', Object.keys(UNSUPPORTED_SECTIONS), (k) => k],
    ['tcp-request', Object.keys(UNSUPPORTED_TCP_REQUEST), (k) => `tcp-request ${k}`],
    ['tcp-request', Object.keys(UNSUPPORTED_TCP_ACTIONS), (k) => k],
  ];
  for (const [title, keywords, render] of cases) {
    it(title, () => {
      const refused = section('Refused keywords');
      const text = new Set([...refused.split(/^### /m).find((s) => s.startsWith(`${title}\n`))!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!));
      expect(keywords.map(render).filter((k) => !text.has(k))).toEqual([]);
    });
  }

  it("says what becomes of nbproc, which HAProxy 2.5 removed", () => {
    expect(Object.keys(REMOVED_GLOBAL)).not.toContain('nbproc');
    expect(section('Global section')).toContain('`nbproc <n>`');
  });
});

describe('test/fixtures/config/all-keywords.cfg', () => {
  // Keywords left out of the fixture because they make warnings (haproxy -c must pass it cleanly),
  // because HAProxy 2.6 does not know them (epoxy's bind, tune.epoxy.* and option extensions, HAProxy
  // 2.8's `timeout client-hs`), or because
  // HAProxy opens the network namespace while parsing (one cannot be created without privileges).
  const EXCEPT = new Set([
    'zero-warning', 'bind-process', 'bind nolinger', 'bind freebind', 'bind noreuseport', 'bind namespace',
    'tune.epoxy.nodelay', 'tune.epoxy.notsent-lowat.client', 'tune.epoxy.notsent-lowat.server', 'tune.epoxy.relay-thread',
    'timeout client-hs',
    // epoxy's own option (docs/logging.md), which HAProxy refuses.
    'option epoxy-log-start',
    // `uid`/`gid` say what `user`/`group` say (both is a warning); HAProxy 2.6 refuses `nbproc`.
    'uid', 'gid', 'nbproc',
    // It reads this machine's /etc/resolv.conf, which the fixture must not depend on.
    'parse-resolv-conf',
  ]); // prettier-ignore
  const lines = readFileSync(`${ROOT}test/fixtures/config/all-keywords.cfg`, 'utf8')
    .split('\n')
    .map((l) => tokenizeLine(l, { env: {} }).words.map((w) => w.text))
    .filter((w) => w.length > 0);
  const used = new Set<string>();
  for (const words of lines) {
    const w = words[0] === 'no' || words[0] === 'default' ? words.slice(1) : words;
    used.add(w[0]!);
    if (w[0] === 'option' || w[0] === 'timeout') used.add(`${w[0]} ${w[1]}`);
    if (w[0] === 'bind') for (const word of w.slice(2)) used.add(`bind ${word}`);
    if (w[0] === 'server' || w[0] === 'default-server' || w[0] === 'server-template') for (const word of w) used.add(`server ${word}`);
    if (w[0] === 'acl') used.add(`acl ${w[2]!.replace(/\(.*$/, '')}`);
    if (w[0] === 'balance') used.add(`balance ${w[1]!.replace(/\(.*$/, '')}`);
  }

  it('uses every supported keyword', () => {
    const wanted = [
      ...SUPPORTED_GLOBAL_KEYWORDS,
      ...SUPPORTED_PROXY_KEYWORDS,
      ...Object.keys(OPTIONS).map((o) => `option ${o}`),
      ...Object.keys(TIMEOUTS).map((t) => `timeout ${t}`),
      ...SUPPORTED_SERVER_KEYWORDS.map((k) => `server ${k}`),
      ...SUPPORTED_RESOLVERS_KEYWORDS,
      ...SUPPORTED_BIND_KEYWORDS.map((k) => `bind ${k}`),
      ...[...ACL_FETCHES, ...CONTENT_ACL_FETCHES].map((f) => `acl ${f}`),
      ...['roundrobin', 'static-rr', 'leastconn', 'first', 'source', 'random'].map((b) => `balance ${b}`),
    ];
    expect(wanted.filter((k) => !used.has(k) && !EXCEPT.has(k))).toEqual([]);
  });
});

describe('every sample fetch is documented', () => {
  it('names each registered fetch in docs/configuration.md (stick-table forms by their reading)', async () => {
    const { ALL_FETCHES } = await import('../../src/sample/fetches.js');
    const text = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    const named = (name: string): boolean => new RegExp(`\`${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[\`(]`).test(text);
    const missing = ALL_FETCHES.filter((f) => {
      const reading = /^(?:sc\d?|src)_(.+)$/.exec(f.name)?.[1];
      if (reading !== undefined && named(reading)) return false;
      return !named(f.name) && !named(f.name.replace(/^sc[0-2]_/, 'sc<n>_'));
    }).map((f) => f.name);
    expect(missing).toEqual([]);
  });
});
