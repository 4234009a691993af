/**
 * The loop's per-turn overhead. Run: npx vitest bench --run bench/loop.bench.ts
 *
 * One op = 1,000 turns of a loop; divide the mean by 1,000 for the cost of one turn.
 * - "idle turns": busy-polling with nothing to do: wake/run/signal/stop-check/poll bookkeeping,
 *   one epoll_wait(0) and one setImmediate hop per turn;
 * - "one task per turn": a task that re-wakes itself, so each turn also runs a handler;
 * - "one fd event per turn": a socket that stays readable (level-triggered), so each turn also
 *   dispatches one event through the fd table.
 */
import { bench, describe } from 'vitest';
import { Loop } from '../src/loop/loop.js';
import { native, constants } from '../src/native.js';
import { SocketAddress } from '../src/address.js';
import { TASK_WOKEN_OTHER } from '../src/task/task-types.js';

const TURNS = 1_000;

function runTurns(loop: Loop): Promise<void> {
  const stopAt = loop.activity.get('loops') + TURNS;
  loop.jobs = 1;
  const check = loop.scheduler.taskNew((t) => {
    if (loop.activity.get('loops') >= stopAt) {
      loop.jobs = 0;
      return null;
    }
    loop.scheduler.taskWakeup(t, TASK_WOKEN_OTHER);
    return t;
  }, null);
  loop.scheduler.taskWakeup(check, TASK_WOKEN_OTHER);
  return loop.run();
}

describe('loop turns', () => {
  const idle = new Loop({ busyPolling: true });
  bench('1,000 turns with one task per turn', async () => {
    await runTurns(idle);
  });

  const withFd = new Loop({ busyPolling: true });
  const { AF_INET, SOCK_STREAM, SOCK_NONBLOCK } = constants;
  const listener = native.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
  native.bind(listener, SocketAddress.parse('127.0.0.1:0').bytes);
  native.listen(listener, 4);
  const client = native.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
  native.connect(client, native.getsockname(listener));
  // The pending connection keeps the listener readable: one event every turn, never accepted.
  let events = 0;
  withFd.fdtab.insert(listener, {}, () => events++);
  withFd.fdtab.wantRecv(listener);
  bench('1,000 turns with one task and one fd event per turn', async () => {
    await runTurns(withFd);
  });
});
