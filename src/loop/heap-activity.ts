/**
 * Process-wide JS heap and GC counters for `show activity` (issue 16: "JS heap bytes and
 * scavenges per request"): what a benchmark reads before and after a run to divide by the
 * requests, without tracing the process.
 *
 * - GC counts by kind come from a `perf_hooks` observer of 'gc' entries (exact: one entry per GC).
 * - Bytes allocated need the heap's size before and after each GC (allocated = used now − used at
 *   start + Σ freed by GCs): a `v8.GCProfiler` records those in native memory from V8's GC
 *   callbacks (no JS runs per GC). Its records are folded into totals every FOLD_EVERY GCs (from
 *   the observer's callback) and whenever the figures are read, so its buffer stays small.
 *
 * Nothing here runs per request: only per GC, and per read. Folding parses the profiler's JSON
 * (a few KB per GC folded); a GC that happens during that parse is counted but its freed bytes
 * are missed (rare: a fold is short and runs once per FOLD_EVERY GCs).
 */
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { GCProfiler, getHeapStatistics } from 'node:v8';

export const HEAP_ACTIVITY_FIELDS = [
  'heapAllocatedBytes',
  'heapUsedBytes',
  'gcScavenges',
  'gcMarkCompacts',
  'gcIncremental',
  'gcWeakCallbacks',
  'gcPauseUs',
] as const;

export type HeapActivityField = (typeof HEAP_ACTIVITY_FIELDS)[number];

export const HEAP_ACTIVITY_HELP: Record<HeapActivityField, string> = {
  heapAllocatedBytes: 'bytes allocated in the JS heap since the counters started (process-wide)',
  heapUsedBytes: 'bytes used in the JS heap now (live and not yet collected)',
  gcScavenges: 'young-generation collections (scavenges, minor mark-compacts)',
  gcMarkCompacts: 'full collections (mark-sweep-compact)',
  gcIncremental: 'incremental marking steps',
  gcWeakCallbacks: 'weak-callback processing passes',
  gcPauseUs: 'time spent in the GCs the profiler saw, microseconds',
};

/** Records folded at most this many GCs apart (a record is ~3 KB of native JSON). */
const FOLD_EVERY = 32;

type Totals = Record<HeapActivityField, number>;

interface GcRecord {
  gcType: string;
  cost: number;
  beforeGC: { heapStatistics: { usedHeapSize: number } };
  afterGC: { heapStatistics: { usedHeapSize: number } };
}

class HeapCounters {
  private users = 0;
  private observer: PerformanceObserver | null = null;
  private profiler: GCProfiler | null = null;
  private sinceFold = 0;
  private usedAtStart = 0;
  private freed = 0;
  private readonly totals: Totals = Object.fromEntries(HEAP_ACTIVITY_FIELDS.map((f) => [f, 0])) as Totals;

  acquire(): void {
    if (this.users++ > 0) return;
    this.usedAtStart = getHeapStatistics().used_heap_size;
    this.freed = 0;
    for (const f of HEAP_ACTIVITY_FIELDS) this.totals[f] = 0;
    this.profiler = new GCProfiler();
    this.profiler.start();
    this.observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const kind = (entry as { detail?: { kind?: number } }).detail?.kind ?? 0;
        if (kind === constants.NODE_PERFORMANCE_GC_MINOR) this.totals.gcScavenges++;
        else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) this.totals.gcMarkCompacts++;
        else if (kind === constants.NODE_PERFORMANCE_GC_INCREMENTAL) this.totals.gcIncremental++;
        else if (kind === constants.NODE_PERFORMANCE_GC_WEAKCB) this.totals.gcWeakCallbacks++;
        this.sinceFold++;
      }
      if (this.sinceFold >= FOLD_EVERY) this.fold();
    });
    this.observer.observe({ entryTypes: ['gc'] });
  }

  release(): void {
    if (this.users === 0 || --this.users > 0) return;
    this.observer?.disconnect();
    this.observer = null;
    this.profiler?.stop();
    this.profiler = null;
  }

  /** Moves the profiler's records into the totals and starts a fresh one. */
  private fold(): void {
    this.sinceFold = 0;
    const profiler = this.profiler;
    if (profiler === null) return;
    const records = (profiler.stop() as { statistics?: GcRecord[] } | undefined)?.statistics ?? [];
    profiler.start();
    for (const r of records) {
      this.freed += r.beforeGC.heapStatistics.usedHeapSize - r.afterGC.heapStatistics.usedHeapSize;
      this.totals.gcPauseUs += r.cost;
    }
  }

  figures(): Totals {
    if (this.users > 0) this.fold();
    const used = getHeapStatistics().used_heap_size;
    return {
      ...this.totals,
      gcPauseUs: Math.round(this.totals.gcPauseUs),
      heapUsedBytes: used,
      heapAllocatedBytes: this.users > 0 ? Math.max(0, used - this.usedAtStart + this.freed) : 0,
    };
  }
}

const counters = new HeapCounters();

/**
 * Starts the process-wide counters (shared: several proxies in one process count once) and
 * returns a handle whose figures() reads them and whose stop() lets them go.
 */
export function startHeapActivity(): { figures(): Totals; stop(): void } {
  counters.acquire();
  let stopped = false;
  return {
    figures: () => counters.figures(),
    stop() {
      if (stopped) return;
      stopped = true;
      counters.release();
    },
  };
}
