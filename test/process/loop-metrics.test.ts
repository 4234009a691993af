/**
 * The epoxy command's serving processes poll once per wake-up (src/process/loop-metrics.ts).
 * Checked in a child process: a main thread's loop, as the command's is (a test worker thread's
 * loop does not keep idle metrics to begin with).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));

/** Idle time eventLoopUtilization() sees while the loop sleeps ~100 ms, with or without pollOncePerWakeup(). */
function idleSeen(turnOff: boolean): Promise<{ turnedOff: boolean | null; idle: number }> {
  const script = `
    import { performance } from 'node:perf_hooks';
    import { pollOncePerWakeup } from '${DIST}process/loop-metrics.js';
    const turnedOff = ${turnOff} ? pollOncePerWakeup() : null;
    const from = performance.eventLoopUtilization();
    const started = Date.now();
    // Sleep in the loop until 100 ms have passed (each wake-up checks the clock).
    const wait = () => (Date.now() - started >= 100 ? done() : setTimeout(wait, 10));
    const done = () => process.stdout.write(JSON.stringify({ turnedOff, idle: performance.eventLoopUtilization(from).idle }));
    wait();
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child exited ${code}`))));
  });
}

describe('the epoxy command polls once per wake-up', () => {
  it("turns libuv's idle metrics off (a libuv the addon knows): eventLoopUtilization() then sees no idle time", async () => {
    const on = await idleSeen(false);
    expect(on.idle).toBeGreaterThan(0);
    const off = await idleSeen(true);
    expect(off.turnedOff).toBe(true);
    expect(off.idle).toBe(0);
  });
});
