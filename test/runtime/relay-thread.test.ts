/**
 * Where start() runs the relay: on a thread of its own by default, in Node's loop with
 * `tune.epoxy.relay-thread off`. Either way a proxy moves the same bytes; the thread is a real,
 * named thread of this process while the proxy runs, and is gone once it stops.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { start } from '../../src/runtime/start.js';
import { freePort } from '../helpers/sockets.js';

const body = randomBytes(2 << 20);
const digest = createHash('sha256').update(body).digest('hex');

/** Threads of this process named as the relay names its thread: their scheduling policies. */
function relayThreadPolicies(): number[] {
  const policies: number[] = [];
  for (const task of readdirSync('/proc/self/task')) {
    try {
      if (readFileSync(`/proc/self/task/${task}/comm`, 'utf8').trim() !== 'epoxy-relay') continue;
      // /proc/<pid>/task/<tid>/stat: the policy is field 41; fields after the ')' of comm.
      const stat = readFileSync(`/proc/self/task/${task}/stat`, 'utf8');
      policies.push(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[41 - 3]));
    } catch {
      // the task ended while listed
    }
  }
  return policies;
}

const relayThreads = (): number => relayThreadPolicies().length;
const SCHED_BATCH = 3;

async function proxyWith(global: string): Promise<{ thread: boolean; threadsWhileRunning: number; threadsAfter: number; answers: string[] }> {
  const server = createServer((s) => {
    s.once('data', () => s.end(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = await freePort();
  const text = `global\n    maxconn 100\n${global}defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n` +
    `listen px\n    bind 127.0.0.1:${port}\n    server s 127.0.0.1:${(server.address() as { port: number }).port}\n`;
  const before = relayThreads();
  const running = await start(parseConfig([{ name: 't.cfg', text }], { env: {} }), { quiet: true, signals: false });
  try {
    // a few clients at once, each a request and a 2 MiB answer
    const answers = await Promise.all(
      Array.from({ length: 4 }, () =>
        new Promise<string>((resolve, reject) => {
          const chunks: Buffer[] = [];
          const socket = netConnect(port, '127.0.0.1', () => socket.write('go'));
          socket.on('data', (c) => chunks.push(c));
          socket.on('end', () => resolve(createHash('sha256').update(Buffer.concat(chunks)).digest('hex')));
          socket.on('error', reject);
        }),
      ),
    );
    const threadsWhileRunning = relayThreads() - before;
    // the relay thread waits for a running thread of its core rather than preempting it
    for (const policy of relayThreadPolicies()) expect(policy).toBe(SCHED_BATCH);
    const thread = running.relay.thread;
    await running.stop();
    return { thread, threadsWhileRunning, threadsAfter: relayThreads() - before, answers };
  } finally {
    await running.stop();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('tune.epoxy.relay-thread', () => {
  it('on by default: one relay thread while the proxy runs', async () => {
    expect(await proxyWith('')).toEqual({ thread: true, threadsWhileRunning: 1, threadsAfter: 0, answers: Array(4).fill(digest) });
  });

  it('on: one relay thread while the proxy runs, none after it stops', async () => {
    expect(await proxyWith('    tune.epoxy.relay-thread on\n')).toEqual({ thread: true, threadsWhileRunning: 1, threadsAfter: 0, answers: Array(4).fill(digest) });
  });

  it('off: the relay runs in Node’s loop and starts no thread', async () => {
    expect(await proxyWith('    tune.epoxy.relay-thread off\n')).toEqual({ thread: false, threadsWhileRunning: 0, threadsAfter: 0, answers: Array(4).fill(digest) });
  });
});
