// Types of test/helpers/threads.mjs.

/** The name PollWatcher gives its poll(2) thread (kThreadName in native/pollset.h). */
export const POLL_THREAD_NAME: string;

/** How many threads of this process are named `name` (wait for the count after a join). */
export function threadsNamed(name: string): number;
