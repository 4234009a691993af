// Builds and runs bench/tools/loadgen.c, the harness's own load client (fixed-rate latency, held
// idle connections, new connection per request with TCP Fast Open). node: built-ins only.
//
//   import { buildLoadgen, runLoadgen, startIdle } from './loadgen.mjs';
//   const bin = await buildLoadgen();            // compiled once per source version, then cached
//   const r = await runLoadgen(bin, 'rate', { port, rate: 5000, duration: 5, connections: 50 }, { cpu: 0 });
//   // r.p99us, r.achievedRate, r.cpuUs ...
//   const idle = await startIdle(bin, { port, connections: 10000, request: true });
//   // idle.result.established; measure the proxy's memory; then
//   await idle.stop();
//
// Options are camelCase keys turned into --kebab-case flags (`true` gives a bare flag, false,
// null and undefined are left out); see the comment header of loadgen.c for each mode's flags
// and JSON fields.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, readFile, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('../tools/loadgen.c', import.meta.url));
const CFLAGS = ['-O2', '-Wall', '-Wextra', '-Werror', '-std=gnu11'];
/** How long stop() waits for `loadgen idle` to close its connections before SIGKILL. */
const STOP_GRACE_MS = 10_000;

/** The absolute path of an executable on PATH (plus the sbin directories), or null. */
async function which(name) {
  const dirs = (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin', '/usr/local/sbin']);
  for (const dir of dirs) {
    if (!dir) continue;
    const full = join(dir, name);
    try {
      await access(full, fsConstants.X_OK);
      return full;
    } catch {
      // not in this directory
    }
  }
  return null;
}

/** Runs a command to completion: { code, signal, stdout, stderr } (never rejects for exit codes). */
function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/**
 * Compiles loadgen.c into os.tmpdir()/epoxy-loadgen-<sha1 of source and flags>/loadgen, or reuses
 * that binary. Throws an Error (code 'ENOCOMPILER') when neither cc nor gcc is on PATH, or an
 * Error carrying the compiler's output when compiling fails.
 */
export async function buildLoadgen() {
  const source = await readFile(SOURCE);
  const hash = createHash('sha1').update(CFLAGS.join(' ')).update('\0').update(source).digest('hex');
  const dir = join(os.tmpdir(), `epoxy-loadgen-${hash}`);
  const bin = join(dir, 'loadgen');
  try {
    await access(bin, fsConstants.X_OK);
    return bin;
  } catch {
    // not built yet
  }
  const compiler = (await which('cc')) ?? (await which('gcc'));
  if (!compiler) {
    const error = new Error('cannot build loadgen: no C compiler (neither cc nor gcc is on PATH; apt-get install gcc)');
    error.code = 'ENOCOMPILER';
    throw error;
  }
  await mkdir(dir, { recursive: true });
  // Compile to a private name and rename: a concurrent build never sees a half-written binary.
  const tmp = join(dir, `loadgen.${process.pid}.${Date.now()}.tmp`);
  const r = await run(compiler, [...CFLAGS, '-o', tmp, SOURCE]);
  if (r.code !== 0) {
    await rm(tmp, { force: true });
    throw new Error(`${compiler} failed to compile ${SOURCE} (exit ${r.code ?? r.signal}):\n${r.stdout}${r.stderr}`);
  }
  await rename(tmp, bin);
  return bin;
}

/** { port: 1, fastopen: true, holdSeconds: 2 } -> ['--port', '1', '--fastopen', '--hold-seconds', '2'] */
function toFlags(options) {
  const flags = [];
  for (const [key, value] of Object.entries(options ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    const flag = `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    if (value === true) flags.push(flag);
    else flags.push(flag, String(value));
  }
  return flags;
}

/** The command line, behind `taskset -c <cpu>` when a cpu is asked for and taskset exists. */
async function commandFor(bin, args, cpu) {
  if (cpu !== undefined && cpu !== null) {
    const taskset = await which('taskset');
    if (taskset) return { cmd: taskset, args: ['-c', String(cpu), bin, ...args] };
  }
  return { cmd: bin, args };
}

/** The last line of `text` that parses as a JSON object, or null. */
function lastJson(text) {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i].trim();
    if (!line.startsWith('{')) continue;
    try {
      return JSON.parse(line);
    } catch {
      // not JSON: keep looking
    }
  }
  return null;
}

/**
 * Runs `loadgen <mode>` to completion and resolves with its JSON result. Rejects, with the
 * tool's stderr in the message, on a nonzero exit or when stdout carries no JSON.
 */
export async function runLoadgen(bin, mode, options, { cpu } = {}) {
  const { cmd, args } = await commandFor(bin, [mode, ...toFlags(options)], cpu);
  const r = await run(cmd, args);
  const what = `loadgen ${[mode, ...toFlags(options)].join(' ')}`;
  if (r.code !== 0) {
    throw new Error(`${what} exited with ${r.code ?? r.signal}: ${r.stderr.trim() || '(no output)'}`);
  }
  const result = lastJson(r.stdout);
  if (!result) throw new Error(`${what} printed no JSON result: ${r.stdout.trim()} ${r.stderr.trim()}`);
  return result;
}

/**
 * Spawns `loadgen idle` and resolves once its connections are established (its JSON line):
 * { result, pid, stop() }. The connections stay open until stop(), which ends the tool's stdin
 * and waits for it to exit (SIGKILL after 10 s); stop() rejects if the tool failed or had to be
 * killed, and otherwise sets `closedByPeer`: how many held connections the other side closed.
 * Should this process die first, the tool sees stdin's EOF and exits too.
 */
export async function startIdle(bin, options, { cpu } = {}) {
  const { cmd, args } = await commandFor(bin, ['idle', ...toFlags(options)], cpu);
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let exit = null;
  const exited = new Promise((resolve) => {
    child.on('close', (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    });
  });
  // The tool exiting first closes the pipe: a write error then is expected, not a crash.
  child.stdin.on('error', () => {});
  child.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.length > 65536) stderr = stderr.slice(-65536);
  });

  const result = await new Promise((resolve, reject) => {
    const onData = (d) => {
      stdout += d;
      const json = lastJson(stdout);
      if (json) {
        child.stdout.off('data', onData);
        resolve(json);
      }
    };
    child.stdout.on('data', onData);
    child.on('error', reject);
    exited.then(({ code, signal }) => {
      reject(new Error(`loadgen idle exited with ${code ?? signal} before connecting: ${stderr.trim() || '(no output)'}`));
    });
  });
  // Keep draining stdout so the tool can never block on a full pipe.
  child.stdout.resume();

  let stopping = null;
  const handle = { result, pid: child.pid, stop: () => stop(), closedByPeer: undefined };
  const stop = () => {
    stopping ??= (async () => {
      if (!exit) child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      const { code, signal } = await exited;
      clearTimeout(timer);
      if (code !== 0) {
        throw new Error(`loadgen idle exited with ${code ?? signal}: ${stderr.trim() || '(no output)'}`);
      }
      const closed = /closedByPeer (\d+)/.exec(stderr);
      if (closed) handle.closedByPeer = Number(closed[1]);
    })();
    return stopping;
  };
  return handle;
}
