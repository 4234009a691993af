// Types of bench/harness/report.mjs, for the TypeScript tests that use it.

/** One measured run: its scenario, target ('epoxy' | 'haproxy' | 'direct'), round and metrics. */
export interface BenchRun {
  scenario: string;
  target: string;
  round: number;
  [metric: string]: number | string;
}

export interface GoalResult {
  key: string;
  label: string;
  op: '<=' | '>=';
  bound: number;
  /** Median of the per-round epoxy/HAProxy ratios of the goal's metric. */
  median: number;
  perRound: number[];
  met: boolean | null;
  /** For a proxy-CPU goal, the median epoxy/HAProxy ratio of the machine's CPU in the same unit. */
  machineMedian: number;
}

export interface ScenarioReport {
  goals: GoalResult[];
  ratios: Record<string, { perRound: number[]; median: number; min: number; max: number }>;
  perTarget: Record<string, Record<string, { median: number; min: number; max: number; n: number }>>;
}

export function buildReport(runs: BenchRun[], scenarios: object[], targetNames: string[], rounds: number): Record<string, ScenarioReport>;
