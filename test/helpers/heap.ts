/**
 * JS heap measurements for allocation tests (issue 16: "the steady-state relay path allocates no
 * JS objects"). Counts bytes allocated, not time: no timing assertion ever depends on it.
 *
 * `gc` is not exposed to test workers; `--expose-gc` set at run time still installs it on new
 * contexts, so a fresh vm context hands it over (a known trick; V8's own tests use the flag).
 */
import { GCProfiler, getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gcFn: (() => void) | null = null;

/** A full garbage collection, synchronous. */
export function fullGc(): void {
  if (gcFn === null) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (typeof exposed === 'function') {
      gcFn = exposed;
    } else {
      setFlagsFromString('--expose-gc');
      gcFn = runInNewContext('gc') as () => void;
    }
  }
  gcFn();
}

/** Bytes used in the JS heap now (all spaces, live and not yet collected). */
export function heapUsed(): number {
  return getHeapStatistics().used_heap_size;
}


/** What a synchronous run did to the heap. */
export interface HeapGrowth {
  /** used_heap_size after the run minus before it (from a fully collected heap). */
  bytes: number;
  /** Garbage collections during the run: a run that allocates nothing triggers none. */
  gcs: number;
}

/**
 * How much the JS heap grew while `run` ran (synchronously), from a collected heap. No GC runs
 * inside a synchronous run that allocates nothing, so `bytes` is what `run` allocated; a run that
 * does allocate enough to fill the young generation triggers a scavenge, which would shrink
 * `bytes` but shows in `gcs` (counted by v8.GCProfiler, which reports synchronously): a caller
 * asserts both.
 *
 * The run is repeated `repeats` times and the smallest growth kept: V8 allocates on its own now
 * and then (optimized code being installed, deoptimizations: up to ~0.4 MB in one run of 100,000
 * balancer picks, ~600 B in the next), while an allocation per iteration shows in every run.
 */
export function heapGrowth(run: () => void, repeats = 3): HeapGrowth {
  let least: HeapGrowth | null = null;
  for (let i = 0; i < repeats; i++) {
    fullGc();
    const profiler = new GCProfiler();
    profiler.start();
    const before = heapUsed();
    run();
    const after = heapUsed();
    const gcs = profiler.stop()?.statistics.length ?? 0;
    if (least === null || gcs < least.gcs || (gcs === least.gcs && after - before < least.bytes)) {
      least = { bytes: after - before, gcs };
    }
  }
  return least!;
}
