/**
 * Cross-check with HAProxy itself (2.6 on this machine; `.ci/run` installs it): every file epoxy
 * accepts must pass `haproxy -c`, so epoxy never accepts a file HAProxy would reject for the same
 * keywords, and HAProxy must reject the broken fixtures too. Skipped when haproxy is absent.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/child.js';
import { readConfig } from '../../src/config/index.js';

const haproxy = spawnSync('haproxy', ['-v'], { encoding: 'utf8' });
const available = haproxy.status === 0;

function haproxyCheck(file: string): { status: number | null; output: string } {
  const result = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const ACCEPTED = [
  'test/fixtures/config/realistic-tcp.cfg',
  'test/fixtures/config/health-checks.cfg',
  'test/fixtures/config/all-keywords.cfg',
  'examples/epoxy.cfg',
  'examples/sni-routing.cfg',
  'examples/rate-limit.cfg',
];
const REFUSED = [
  'test/fixtures/config/broken-keywords.cfg',
  'test/fixtures/config/broken-values.cfg',
  'test/fixtures/config/broken-references.cfg',
  'test/fixtures/config/broken-syntax.cfg',
];

describe.skipIf(!available)(`haproxy -c (${available ? haproxy.stdout.split('\n')[0] : 'not installed'})`, () => {
  for (const file of ACCEPTED) {
    it(`accepts ${file}, which epoxy accepts`, () => {
      expect(readConfig([`${ROOT}${file}`], { env: {} }).errors).toEqual([]);
      const result = haproxyCheck(`${ROOT}${file}`);
      expect(result.output).not.toMatch(/\[ALERT\]/);
      expect(result.status).toBe(0);
    });
  }

  for (const file of REFUSED) {
    it(`refuses ${file}, which epoxy refuses`, () => {
      expect(readConfig([`${ROOT}${file}`], { env: {} }).errors.length).toBeGreaterThan(0);
      expect(haproxyCheck(`${ROOT}${file}`).status).not.toBe(0);
    });
  }
});
