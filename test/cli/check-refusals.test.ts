/**
 * `epoxy -c` refuses what a run would refuse (issue 11, item 7), side by side with HAProxy 2.6:
 * an empty file and a configuration without a listener, a directory without a '*.cfg' file, and
 * a server name that does not resolve. The unresolvable name has a 64-character label: the C
 * library rejects it before asking any DNS server, so the test never leaves the machine (a plain
 * `.invalid` name is sent to the configured nameserver: checked with strace).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/child.js';

const haproxyMissing = spawnSync('sh', ['-c', 'command -v haproxy']).status !== 0;
if (haproxyMissing) console.log('running the -c refusals without HAProxy beside them: haproxy is not installed (apt-get install haproxy)');

const dir = mkdtempSync(join(tmpdir(), 'epoxy-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const UNRESOLVABLE = `${'a'.repeat(64)}.invalid`;

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function proxyConfig(server: string): string {
  return (
    'global\n    maxconn 100\n\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\n' +
    `listen l\n    bind 127.0.0.1:10999\n    server s1 ${server}\n`
  );
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

const epoxy = (args: string[]): Run => {
  const r = spawnSync(process.execPath, [`${ROOT}bin/epoxy`, ...args], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};
const haproxy = (args: string[]): Run => {
  const r = spawnSync('haproxy', args, { cwd: dir, encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};
/** Both, HAProxy only when installed. */
function both(args: string[]): { epoxy: Run; haproxy: Run | null } {
  return { epoxy: epoxy(args), haproxy: haproxyMissing ? null : haproxy(args) };
}

describe('-c and a run refuse a configuration that would not listen', () => {
  const empty = file('empty.cfg', '');
  const noProxy = file('global-only.cfg', 'global\n    maxconn 100\n');
  const backendOnly = file(
    'backend-only.cfg',
    'global\n    maxconn 100\nbackend be\n    mode tcp\n    timeout connect 1s\n    timeout server 1s\n    server s 127.0.0.1:1\n',
  );

  it.each([
    ['an empty file', 'empty.cfg'],
    ['a global section alone', 'global-only.cfg'],
    ['a backend alone', 'backend-only.cfg'],
  ])('-c on %s: exit 2 with HAProxy\'s line on stdout', (_, name) => {
    const runs = both(['-c', '-f', name]);
    const expected = 'Configuration file has no error but will not start (no listener) => exit(2).\n';
    expect({ status: runs.epoxy.status, stdout: runs.epoxy.stdout }).toEqual({ status: 2, stdout: expected });
    if (runs.haproxy) expect({ status: runs.haproxy.status, stdout: runs.haproxy.stdout }).toEqual({ status: 2, stdout: expected });
  });

  it.each([empty, noProxy, backendOnly])('a run of %s exits 1 saying there is no listener', (path) => {
    const runs = both(['-f', path]);
    const line = /\[ALERT\] +\(\d+\) : .*No enabled listener found \(check for 'bind' directives\) ! Exiting\./;
    expect(runs.epoxy.status).toBe(1);
    expect(runs.epoxy.stderr).toMatch(line);
    if (runs.haproxy) {
      expect(runs.haproxy.status).toBe(1);
      expect(runs.haproxy.stderr).toMatch(line);
    }
  });
});

describe('a directory without a .cfg file', () => {
  mkdirSync(join(dir, 'conf.d'));
  file('conf.d/readme.txt', 'not a configuration\n');

  it.each([['-c', 'with -c'], ['-f', 'for a run']])('is refused with the usage, exit 1, %s', (flag) => {
    const runs = both(flag === '-c' ? ['-c', '-f', 'conf.d'] : ['-f', 'conf.d']);
    expect(runs.epoxy.status).toBe(1);
    expect(runs.epoxy.stderr).toContain("No configuration file found in conf.d (a directory contributes its '*.cfg' files).");
    expect(runs.epoxy.stderr).toContain('Usage: epoxy');
    if (runs.haproxy) {
      expect(runs.haproxy.status).toBe(1);
      expect(runs.haproxy.stderr).toContain('Usage : haproxy');
    }
  });
});

describe('server names are resolved by -c as by a run', () => {
  file('unresolvable.cfg', proxyConfig(`${UNRESOLVABLE}:80`));
  file('two.cfg', proxyConfig(`${UNRESOLVABLE}:80\n    server s2 localhost:81\n    server s3 b${UNRESOLVABLE}:82`));
  file('localhost.cfg', proxyConfig('localhost:80'));

  it('-c refuses a name that does not resolve, in HAProxy\'s words, exit 1', () => {
    const runs = both(['-c', '-f', 'unresolvable.cfg']);
    const lines = [
      new RegExp(`\\[ALERT\\] +\\(\\d+\\) : (config : )?\\[unresolvable\\.cfg:12\\] : 'server l/s1' : could not resolve address '${UNRESOLVABLE}'\\.\\n`),
      /\[ALERT\] +\(\d+\) : (config : )?Failed to initialize server\(s\) addr\.\n/,
    ];
    expect(runs.epoxy.status).toBe(1);
    for (const line of lines) expect(runs.epoxy.stderr).toMatch(line);
    expect(runs.epoxy.stdout).toBe('');
    if (runs.haproxy) {
      expect(runs.haproxy.status).toBe(1);
      for (const line of lines) expect(runs.haproxy.stderr).toMatch(line);
    }
  });

  it('names every server that does not resolve, in order, then the closing line', () => {
    const r = epoxy(['-c', '-f', 'two.cfg']);
    expect(r.status).toBe(1);
    const alerts = r.stderr.split('\n').filter((l) => l.includes('[ALERT]')).map((l) => l.replace(/^.*?\) : /, ''));
    expect(alerts).toEqual([
      `[two.cfg:12] : 'server l/s1' : could not resolve address '${UNRESOLVABLE}'.`,
      `[two.cfg:14] : 'server l/s3' : could not resolve address 'b${UNRESOLVABLE}'.`,
      'Failed to initialize server(s) addr.',
    ]);
  });

  it('a run refuses it the same way', () => {
    const r = epoxy(['-f', 'unresolvable.cfg']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`[unresolvable.cfg:12] : 'server l/s1' : could not resolve address '${UNRESOLVABLE}'.`);
    expect(r.stderr).toContain('Failed to initialize server(s) addr.');
  });

  it('-c accepts a name that resolves (localhost, from /etc/hosts)', () => {
    const runs = both(['-c', '-f', 'localhost.cfg']);
    expect({ status: runs.epoxy.status, stderr: runs.epoxy.stderr }).toEqual({ status: 0, stderr: '' });
    if (runs.haproxy) expect(runs.haproxy.status).toBe(0);
  });
});
