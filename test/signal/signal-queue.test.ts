/** The signal queue with real signals sent to this process (process.kill(process.pid, …)). */
import { afterEach, describe, expect, it } from 'vitest';
import { SignalQueue } from '../../src/signal/signal-queue.js';
import { waitFor } from '../helpers/sockets.js';

let queue: SignalQueue<string> | undefined;
afterEach(() => queue?.close());

function make(woken: string[] = [], onQueued?: () => void): SignalQueue<string> {
  queue = new SignalQueue<string>({ wakeTask: (task) => woken.push(task), onQueued });
  return queue;
}

describe('SignalQueue', () => {
  it('only queues on delivery; handlers run when the loop processes the queue', async () => {
    const calls: string[] = [];
    let turnsAsked = 0;
    const q = make([], () => turnsAsked++);
    q.registerFunction('SIGUSR2', (_r, count) => calls.push(`usr2x${count}`));
    process.kill(process.pid, 'SIGUSR2');
    await waitFor(() => q.pending === 1, 'SIGUSR2 queued');
    expect(calls).toEqual([]); // nothing ran at delivery time
    expect(turnsAsked).toBe(1);
    expect(q.process()).toBe(1);
    expect(calls).toEqual(['usr2x1']);
    expect(q.pending).toBe(0);
  });

  it('coalesces repeated deliveries into one call carrying the count', async () => {
    const calls: number[] = [];
    const q = make();
    q.registerFunction('SIGUSR1', (_r, count) => calls.push(count));
    for (let i = 0; i < 3; i++) process.kill(process.pid, 'SIGUSR1');
    await waitFor(() => q.stats.received === 3, 'three deliveries');
    expect(q.pending).toBe(1);
    expect(q.stats.coalesced).toBe(2);
    q.process();
    expect(calls).toEqual([3]);
  });

  it('keeps the order of first arrival across signals', async () => {
    const order: string[] = [];
    const q = make();
    for (const signal of ['SIGHUP', 'SIGUSR2', 'SIGUSR1', 'SIGTTIN'] as const) {
      q.registerFunction(signal, (record) => order.push(record.signal));
    }
    process.kill(process.pid, 'SIGUSR2');
    await waitFor(() => q.pending === 1, 'first');
    process.kill(process.pid, 'SIGHUP');
    await waitFor(() => q.pending === 2, 'second');
    process.kill(process.pid, 'SIGTTIN');
    process.kill(process.pid, 'SIGUSR2'); // already queued: coalesced, keeps its first place
    await waitFor(() => q.stats.received === 4, 'all four');
    q.process();
    expect(order).toEqual(['SIGUSR2', 'SIGHUP', 'SIGTTIN']);
  });

  it('wakes task handlers and calls function handlers for the same signal', async () => {
    const woken: string[] = [];
    const calls: string[] = [];
    const q = make(woken);
    q.registerTask('SIGHUP', 'reload-task');
    q.registerFunction('SIGHUP', () => calls.push('fn'));
    process.kill(process.pid, 'SIGHUP');
    await waitFor(() => q.pending === 1, 'queued');
    q.process();
    expect(woken).toEqual(['reload-task']);
    expect(calls).toEqual(['fn']);
  });

  it('handles, in the same pass, a signal raised by a handler', () => {
    const order: string[] = [];
    const q = make();
    q.registerFunction('SIGUSR1', () => {
      order.push('usr1');
      q.deliver('SIGUSR2'); // as if it arrived while we were processing
    });
    q.registerFunction('SIGUSR2', () => order.push('usr2'));
    q.deliver('SIGUSR1');
    expect(q.process()).toBe(2);
    expect(order).toEqual(['usr1', 'usr2']);
  });

  it('one-shot handlers are removed after their first delivery; unregister restores the default', async () => {
    const calls: string[] = [];
    const q = make();
    const keep = q.registerFunction('SIGUSR2', () => calls.push('keep'));
    q.registerFunction('SIGUSR2', () => calls.push('once'), true);
    q.deliver('SIGUSR2');
    q.process();
    q.deliver('SIGUSR2');
    q.process();
    expect(calls).toEqual(['keep', 'once', 'keep']);
    expect(process.listenerCount('SIGUSR2')).toBeGreaterThan(0);
    q.unregister(keep);
    // no listener of ours is left: SIGUSR2's default action (terminate) would apply again
    const before = process.listenerCount('SIGUSR2');
    expect(before).toBe(0);
  });

  it('refuses signals that cannot be caught', () => {
    const q = make();
    expect(() => q.registerFunction('SIGKILL', () => {})).toThrow(/cannot be caught/);
  });
});
