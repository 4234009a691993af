// Types of bench/harness/loadgen.mjs, for the TypeScript tests that use it.

/** camelCase keys become --kebab-case flags; `true` a bare flag; false/null/undefined are left out. */
export type LoadgenOptions = Record<string, string | number | boolean | null | undefined>;

export interface LoadgenRunOptions {
  /** Run under `taskset -c <cpu>` when taskset exists. */
  cpu?: number;
}

/** Fields every mode's JSON carries; each mode adds its own (see bench/tools/loadgen.c). */
export interface LoadgenResult {
  mode: 'rate' | 'idle' | 'close';
  /** The tool's own user+system CPU time, microseconds. */
  cpuUs: number;
  [field: string]: unknown;
}

export interface RateResult extends LoadgenResult {
  mode: 'rate';
  rate: number;
  duration: number;
  connections: number;
  sent: number;
  completed: number;
  errors: number;
  achievedRate: number;
  p50us: number;
  p90us: number;
  p99us: number;
  p999us: number;
  maxus: number;
  meanus: number;
  /** --per-second: CLOCK_MONOTONIC ns of the measured schedule's start (process.hrtime's clock). */
  t0ns?: number;
  /** --per-second: one entry per second of the measured schedule, by scheduled time. */
  seconds?: RateSecond[];
}

export interface RateSecond {
  n: number;
  p50us: number;
  p99us: number;
  p999us: number;
  maxus: number;
}

export interface IdleResult extends LoadgenResult {
  mode: 'idle';
  established: number;
  failed: number;
  ms: number;
}

export interface CloseResult extends LoadgenResult {
  mode: 'close';
  duration: number;
  connections: number;
  completed: number;
  errors: number;
  rps: number;
  tfoUsed: number;
  p50us: number;
  p99us: number;
}

export interface IdleHandle {
  result: IdleResult;
  pid: number;
  /** Ends the tool's stdin and waits for its exit (SIGKILL after 10 s); rejects if it failed. */
  stop(): Promise<void>;
  /** Set by a successful stop(): held connections the other side closed. */
  closedByPeer: number | undefined;
}

export function buildLoadgen(): Promise<string>;
export function runLoadgen(bin: string, mode: 'rate', options: LoadgenOptions, run?: LoadgenRunOptions): Promise<RateResult>;
export function runLoadgen(bin: string, mode: 'close', options: LoadgenOptions, run?: LoadgenRunOptions): Promise<CloseResult>;
export function runLoadgen(bin: string, mode: 'idle', options: LoadgenOptions, run?: LoadgenRunOptions): Promise<IdleResult>;
export function runLoadgen(bin: string, mode: string, options: LoadgenOptions, run?: LoadgenRunOptions): Promise<LoadgenResult>;
export function startIdle(bin: string, options: LoadgenOptions, run?: LoadgenRunOptions): Promise<IdleHandle>;
