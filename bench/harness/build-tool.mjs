// Builds the harness's C tools, bench/tools/<name>.c (loadgen: the load client; responder: the
// native backend), once per source version, into a cache directory. node: built-ins only.
//
//   import { buildTool } from './build-tool.mjs';
//   const bin = await buildTool('responder');   // compiled on first use, then reused
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const TOOLS_DIR = fileURLToPath(new URL('../tools/', import.meta.url));
export const CFLAGS = ['-O2', '-Wall', '-Wextra', '-Werror', '-std=gnu11'];

/** The absolute path of an executable on PATH (plus the sbin directories), or null. */
export async function which(name) {
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
export function run(cmd, args) {
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
 * Compiles bench/tools/<name>.c into os.tmpdir()/epoxy-<name>-<sha1 of flags, source and the
 * shared headers>/<name>, or reuses that binary. Throws an Error (code 'ENOCOMPILER') when neither
 * cc nor gcc is on PATH, or an Error carrying the compiler's output when compiling fails.
 */
export async function buildTool(name) {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new Error(`buildTool: not a tool name: '${name}'`);
  const source = join(TOOLS_DIR, `${name}.c`);
  const hash = createHash('sha1').update(CFLAGS.join(' ')).update('\0').update(await readFile(source));
  // The headers next to it (common.h) are part of every tool's source.
  for (const header of (await readdir(TOOLS_DIR)).filter((f) => f.endsWith('.h')).sort()) {
    hash.update(`\0${header}\0`).update(await readFile(join(TOOLS_DIR, header)));
  }
  const dir = join(os.tmpdir(), `epoxy-${name}-${hash.digest('hex')}`);
  const bin = join(dir, name);
  try {
    await access(bin, fsConstants.X_OK);
    return bin;
  } catch {
    // not built yet
  }
  const compiler = (await which('cc')) ?? (await which('gcc'));
  if (!compiler) {
    const error = new Error(`cannot build ${name}: no C compiler (neither cc nor gcc is on PATH; apt-get install gcc)`);
    error.code = 'ENOCOMPILER';
    throw error;
  }
  await mkdir(dir, { recursive: true });
  // Compile to a private name and rename: a concurrent build never sees a half-written binary.
  const tmp = join(dir, `${name}.${process.pid}.${Date.now()}.tmp`);
  const r = await run(compiler, [...CFLAGS, '-o', tmp, source]);
  if (r.code !== 0) {
    await rm(tmp, { force: true });
    throw new Error(`${compiler} failed to compile ${source} (exit ${r.code ?? r.signal}):\n${r.stdout}${r.stderr}`);
  }
  await rename(tmp, bin);
  return bin;
}
