/**
 * Handing chosen fds to a child process at known numbers — how a master gives its listening
 * sockets to a new worker (seed 003, and HAProxy's reload with inherited listeners).
 *
 * Node's spawn() already does the hard part safely: each integer in its `stdio` array is dup2()'d
 * in the child to that array index, which also clears FD_CLOEXEC on the copy, after fork and
 * before exec. Our sockets are all created close-on-exec, so nothing else leaks into the child.
 */
import type { StdioOptions } from 'node:child_process';

/** First fd number handed-over fds land at in the child (after stdin, stdout, stderr). */
export const FIRST_INHERITED_FD = 3;

/** Environment variable telling the child how many fds it received from FIRST_INHERITED_FD. */
export const INHERITED_FDS_ENV = 'EPOXY_INHERITED_FDS';

export interface InheritedFdsPlan {
  /** Pass as spawn()'s `stdio`. */
  stdio: StdioOptions;
  /** Merge into spawn()'s `env`. */
  env: Record<string, string>;
  /** fd number each parent fd will have in the child, in the order given. */
  childFds: number[];
}

/**
 * Plans a spawn() that gives `fds` to the child at 3, 4, 5…; stdin/stdout/stderr as `std`
 * (default: inherited).
 */
export function planInheritedFds(
  fds: readonly number[],
  std: StdioOptions = ['inherit', 'inherit', 'inherit'],
): InheritedFdsPlan {
  // Exactly three entries before the handed-over fds, or they would land at the wrong numbers
  // (a short `std` array would make the first one the child's stdout).
  const given = Array.isArray(std) ? std.slice(0, 3) : [std, std, std];
  const base = [...given, 'ignore', 'ignore', 'ignore'].slice(0, 3);
  const stdio = [...base, ...fds] as StdioOptions;
  const childFds = fds.map((_, i) => FIRST_INHERITED_FD + i);
  return { stdio, env: { [INHERITED_FDS_ENV]: String(fds.length) }, childFds };
}

/** In the child: the fd numbers the parent handed over, read from the environment. */
export function inheritedFds(env: NodeJS.ProcessEnv = process.env): number[] {
  const count = Number(env[INHERITED_FDS_ENV] ?? '0');
  if (!Number.isInteger(count) || count < 0) return [];
  return Array.from({ length: count }, (_, i) => FIRST_INHERITED_FD + i);
}
