/** Running fixture scripts (test/fixtures/*.mjs, which import the compiled dist/) in children. */
import { spawn, type SpawnOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface FixtureOptions {
  /** Flags for node itself (e.g. --expose-gc); vitest's own execArgv is never inherited. */
  nodeArgs?: string[];
  spawn?: SpawnOptions;
}

/** Runs `node test/fixtures/<name> ...args` and collects its output. */
export function runFixture(name: string, args: string[] = [], options: FixtureOptions = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), `${ROOT}test/fixtures/${name}`, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...options.spawn,
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
