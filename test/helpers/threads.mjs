// Threads of this process by name, for tests that count the addon's own threads (plain JS: the
// child-process fixtures use it too).
import { readdirSync, readFileSync } from 'node:fs';

/** The name PollWatcher gives its poll(2) thread (kThreadName in native/pollset.h). */
export const POLL_THREAD_NAME = 'epoxy-poll';

/**
 * How many threads of this process are named `name`. pthread_join() returns once a thread has
 * cleared its tid, a moment before the kernel drops it from /proc/self/task, so counts after a
 * join are to be waited for, not read at once.
 */
export function threadsNamed(name) {
  return readdirSync('/proc/self/task').filter((tid) => {
    try {
      return readFileSync(`/proc/self/task/${tid}/comm`, 'utf8') === `${name}\n`;
    } catch {
      return false; // exited between readdir and read
    }
  }).length;
}
