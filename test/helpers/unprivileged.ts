/**
 * Running a fixture as an unprivileged user (nobody, 65534:65534), to observe what the kernel
 * refuses a process without capabilities (EPERM for SO_MARK, IP_TRANSPARENT, raising a hard
 * rlimit...). Only root can switch to another uid, so callers skip when this is not root.
 *
 * The child must be able to read the fixture, dist/, node-gyp-build and the addon as nobody. On
 * a checkout that nobody cannot traverse (a repository under /root with mode 0700, say), the
 * minimal package tree the fixture needs is copied to a world-readable temporary directory and
 * run from there, so the test still runs instead of being skipped:
 *   package.json (for "type": "module"), dist/, node_modules/node-gyp-build/, build/Release/
 *   epoxy.node, test/fixtures/<name>.
 * EPOXY_TEST_NOBODY_COPY=1 forces that copy (to test the fallback itself).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, runFixture, type ChildResult } from './child.js';

export const NOBODY = 65534;

/** Why an unprivileged child cannot be started here, or null when it can. */
export function unprivilegedUnavailableReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root to start a child as nobody (uid 65534)';
  return null;
}

/** The files (relative to the package root) a fixture loading dist/ reads. */
function neededFiles(fixture: string): string[] {
  return [
    'package.json',
    'dist/native.js',
    'dist/index.js',
    'node_modules/node-gyp-build/index.js',
    'build/Release/epoxy.node',
    `test/fixtures/${fixture}`,
  ];
}

/** Whether uid 65534 can enter `root` and read every file the fixture needs, asked of the kernel. */
function nobodyCanRead(root: string, fixture: string): boolean {
  const files = neededFiles(fixture).map((file) => join(root, file));
  const probe =
    `const fs = require('node:fs');` +
    `for (const f of ${JSON.stringify(files)}) fs.accessSync(f, fs.constants.R_OK);` +
    `fs.readdirSync(${JSON.stringify(join(root, 'build/Release'))});`;
  const result = spawnSync(process.execPath, ['-e', probe], {
    cwd: '/',
    uid: NOBODY,
    gid: NOBODY,
    stdio: 'ignore',
  });
  return result.status === 0;
}

/** Copies what the fixture needs to a fresh directory every user can read; returns its path. */
function copyForNobody(fixture: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'epoxy-nobody-'));
  chmodSync(dir, 0o755);
  for (const part of ['package.json', 'dist', 'node_modules/node-gyp-build', 'build/Release/epoxy.node', `test/fixtures/${fixture}`]) {
    cpSync(join(ROOT, part), join(dir, part), { recursive: true });
  }
  // cpSync keeps modes; directories it creates get the umask's mode, make sure all are enterable.
  spawnSync('chmod', ['-R', 'a+rX', dir]);
  return dir;
}

export interface UnprivilegedResult extends ChildResult {
  /** 'repo' when the fixture ran from the checkout, 'copy' when from a temporary copy. */
  ranFrom: 'repo' | 'copy';
}

/**
 * Runs `node test/fixtures/<fixture> ...args` as nobody. spawn() (unlike fork()) never passes
 * vitest's execArgv on, and libuv drops the supplementary groups along with the uid, so the child
 * has no capabilities at all.
 */
export async function runFixtureAsNobody(fixture: string, args: string[] = []): Promise<UnprivilegedResult> {
  const forceCopy = process.env.EPOXY_TEST_NOBODY_COPY === '1';
  if (!forceCopy && nobodyCanRead(ROOT, fixture)) {
    const result = await runFixture(fixture, args, { spawn: { uid: NOBODY, gid: NOBODY } });
    return { ...result, ranFrom: 'repo' };
  }
  const dir = copyForNobody(fixture);
  try {
    const env = { ...process.env };
    // An EPOXY_ADDON override would point back into the unreadable tree: use the copy.
    delete env.EPOXY_ADDON;
    const script = join(dir, 'test/fixtures', fixture);
    if (!existsSync(script)) throw new Error(`fixture copy missing: ${script}`);
    const result = await spawnAsNobody(script, args, dir, env);
    return { ...result, ranFrom: 'copy' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function spawnAsNobody(script: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd,
      env,
      uid: NOBODY,
      gid: NOBODY,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Parses the last line of a fixture's stdout as JSON, with its stderr in the error otherwise. */
export function lastJsonLine<T>(result: ChildResult): T {
  const lines = result.stdout.trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  try {
    return JSON.parse(last) as T;
  } catch {
    throw new Error(`fixture printed no JSON (exit ${result.code}, signal ${result.signal}):\n${result.stdout}\n${result.stderr}`);
  }
}
