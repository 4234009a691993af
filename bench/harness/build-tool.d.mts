// Types of bench/harness/build-tool.mjs, for the TypeScript tests that use it.

export const CFLAGS: readonly string[];

/** The absolute path of an executable on PATH (plus the sbin directories), or null. */
export function which(name: string): Promise<string | null>;

/** Runs a command to completion (never rejects for an exit code). */
export function run(cmd: string, args: readonly string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;

/**
 * Compiles bench/tools/<name>.c once per source version into a cache directory and resolves the
 * binary's path. Rejects with an Error whose code is 'ENOCOMPILER' when there is no C compiler.
 */
export function buildTool(name: 'loadgen' | 'responder'): Promise<string>;
