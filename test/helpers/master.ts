/**
 * Running `bin/epoxy` in master-worker mode from a test: a configuration written to a temporary
 * directory, the master's stderr kept, its CLI spoken to over its unix socket, its workers found
 * in /proc, and everything killed at the end of the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './child.js';
import { waitFor } from './sockets.js';

export const BIN = `${ROOT}bin/epoxy`;

export type Cleanup = () => Promise<void> | void;

/** A temporary directory, removed by the cleanup pushed to `cleanups`. */
export function tempDir(cleanups: Cleanup[], prefix = 'epoxy-master-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A TCP echo server on 127.0.0.1; closed by the cleanup. */
export async function echoServer(cleanups: Cleanup[]): Promise<number> {
  const sockets = new Set<import('node:net').Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as { port: number }).port;
}

/** The usual TCP-mode configuration around `body` (global lines first). */
export function configText(global: string[], body: string[]): string {
  return [
    'global',
    ...global.map((l) => `    ${l}`),
    'defaults',
    '    mode tcp',
    '    timeout connect 2s',
    '    timeout client 60s',
    '    timeout server 60s',
    ...body,
    '',
  ].join('\n');
}

export interface MasterProcess {
  child: ChildProcess;
  pid: number;
  stderr: () => string;
  stdout: () => string;
  exited: Promise<number | null>;
  alive: () => boolean;
  /** Waits until `needle` appears `n` times in stderr (or the master exits: then it throws). */
  waitForLog: (needle: string | RegExp, n?: number) => Promise<void>;
}

function count(text: string, needle: string | RegExp): number {
  if (typeof needle === 'string') return text.split(needle).length - 1;
  return (text.match(new RegExp(needle.source, 'g')) ?? []).length;
}

/** Starts `bin/epoxy args`; resolves once `ready` appears in stderr (default: "Loading success."). */
export async function startMaster(
  cleanups: Cleanup[],
  args: string[],
  options: { env?: NodeJS.ProcessEnv; ready?: string | null } = {},
): Promise<MasterProcess> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      exitCode = code;
      resolve(code);
    }),
  );
  const pid = child.pid!;
  cleanups.push(async () => {
    const workers = workerPids(pid);
    if (exitCode === undefined) {
      child.kill('SIGKILL');
      await exited;
    }
    // The workers go with their master (parent-death signal); make sure of it for the next test.
    await waitFor(() => workers.every((w) => !processAlive(w)), 'workers to follow their master', 10_000).catch(() => {
      for (const w of workers) {
        try {
          process.kill(w, 'SIGKILL');
        } catch {
          // gone
        }
      }
    });
  });
  const running: MasterProcess = {
    child,
    pid,
    stderr: () => stderr,
    stdout: () => stdout,
    exited,
    alive: () => exitCode === undefined,
    waitForLog: async (needle, n = 1) => {
      await waitFor(() => count(stderr, needle) >= n || exitCode !== undefined, `${n}× ${String(needle)} (stderr: ${stderr})`, 30_000);
      if (count(stderr, needle) < n) throw new Error(`epoxy exited (${exitCode}) before ${String(needle)}:\n${stderr}`);
    },
  };
  const ready = options.ready === undefined ? 'Loading success.' : options.ready;
  if (ready !== null) await running.waitForLog(ready);
  return running;
}

/** Sends `command` to a master CLI unix socket (or host:port) and returns the whole answer. */
export function cli(where: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const colon = where.lastIndexOf(':');
    const socket = where.startsWith('/') ? netConnect(where) : netConnect(Number(where.slice(colon + 1)), where.slice(0, colon));
    let answer = '';
    socket.on('data', (c: Buffer) => (answer += c.toString()));
    socket.on('error', reject);
    socket.on('end', () => resolve(answer));
    socket.on('connect', () => socket.end(`${command}\n`));
  });
}

/** The parsed `show proc`: current and old workers with their generation. */
export interface ProcRow {
  pid: number;
  type: string;
  reloads: string;
  generation: number;
  old: boolean;
}

export function parseShowProc(text: string): ProcRow[] {
  const rows: ProcRow[] = [];
  let old = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('# old workers')) old = true;
    else if (line.startsWith('# programs')) old = false;
    if (line.startsWith('#') || line.trim() === '') continue;
    const cells = line.split(/\s{2,}|\s(?=\d+d\d\dh)/).map((c) => c.trim());
    const fields = line.trim().split(/\s+/);
    rows.push({ pid: Number(fields[0]), type: fields[1]!, reloads: cells[2] ?? '', generation: Number(fields[fields.length - 1]), old });
  }
  return rows;
}

/** Children of `pid` (/proc/<pid>/task/<tid>/children). */
export function workerPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text !== '') out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // The process is gone.
  }
  return out;
}

/** Whether `pid` exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** Writes `text` as `<dir>/<name>` and returns its path. */
export function writeFile(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

export { existsSync };
