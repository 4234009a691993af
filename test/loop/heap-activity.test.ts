/**
 * The JS heap and GC counters `show activity` prints (issue 16: heap bytes and scavenges per
 * request, read by the bench before and after a run). Counts, never times.
 */
import { describe, expect, it } from 'vitest';
import { HEAP_ACTIVITY_FIELDS, startHeapActivity } from '../../src/loop/heap-activity.js';

/** Allocates about `bytes` of short-lived objects (enough to fill the young generation). */
const ring: unknown[] = new Array(1024);
function churn(bytes: number): void {
  // kept in a ring so the optimizer cannot elide them; ~1 KiB each
  for (let i = 0; i < bytes / 1024; i++) ring[i & 1023] = new Array(120).fill(i);
}

async function settle(): Promise<void> {
  // the gc observer is called back after the GC, from the event loop
  await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('heap activity', () => {
  it('counts bytes allocated and scavenges, monotonically, across GCs', async () => {
    const heap = startHeapActivity();
    try {
      const a = heap.figures();
      expect(Object.keys(a).sort()).toEqual([...HEAP_ACTIVITY_FIELDS].sort());
      churn(64 << 20);
      await settle();
      const b = heap.figures();
      // 64 MiB of garbage cannot fit in the young generation: scavenges happened, and the bytes
      // they freed are counted (used_heap_size alone would have dropped back)
      expect(b.gcScavenges).toBeGreaterThan(a.gcScavenges);
      expect(b.heapAllocatedBytes - a.heapAllocatedBytes).toBeGreaterThan(32 << 20);
      expect(b.gcPauseUs).toBeGreaterThan(a.gcPauseUs);
      churn(8 << 20);
      await settle();
      const c = heap.figures();
      for (const f of ['heapAllocatedBytes', 'gcScavenges', 'gcMarkCompacts', 'gcIncremental', 'gcWeakCallbacks', 'gcPauseUs'] as const) {
        expect(c[f]).toBeGreaterThanOrEqual(b[f]);
      }
      expect(c.heapAllocatedBytes).toBeGreaterThan(b.heapAllocatedBytes);
    } finally {
      heap.stop();
    }
  });

  it('is shared: a second user sees the same process-wide counters, and stopping one keeps the other', async () => {
    const one = startHeapActivity();
    const two = startHeapActivity();
    try {
      churn(32 << 20);
      await settle();
      one.stop();
      const before = two.figures();
      churn(32 << 20);
      await settle();
      const after = two.figures();
      expect(after.gcScavenges).toBeGreaterThan(before.gcScavenges);
      expect(after.heapAllocatedBytes).toBeGreaterThan(before.heapAllocatedBytes);
    } finally {
      one.stop();
      two.stop();
    }
  });
});
