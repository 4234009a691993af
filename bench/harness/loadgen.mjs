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
import { buildTool, run, which } from './build-tool.mjs';

/** How long stop() waits for `loadgen idle` to close its connections before SIGKILL. */
const STOP_GRACE_MS = 10_000;

/**
 * Compiles loadgen.c (bench/harness/build-tool.mjs: once per source version, then cached) and
 * resolves its path. Rejects with code 'ENOCOMPILER' when there is no C compiler.
 */
export function buildLoadgen() {
  return buildTool('loadgen');
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
