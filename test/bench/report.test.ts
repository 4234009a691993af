/**
 * The harness's report: per-round epoxy/HAProxy ratios, the targets met or not, and the
 * machine's CPU shown next to each proxy-CPU target (synthetic runs, no processes).
 */
import { describe, expect, it } from 'vitest';
import { buildReport, type BenchRun } from '../../bench/harness/report.mjs';
import { SCENARIOS } from '../../bench/harness/scenarios.mjs';

function run(target: string, round: number, proxyUsPerReq: number, machineUsPerReq: number): BenchRun {
  return { scenario: 'keepalive', target, round, proxyUsPerReq, machineUsPerReq, rps: 50_000 };
}

describe('buildReport', () => {
  it('judges a target on the median per-round ratio and gives the machine CPU ratio beside it', () => {
    const runs = [
      // round 1: 0.8 proxy, 1.0 machine; round 2: 0.85 / 1.1; round 3: 1.2 / 0.9
      run('epoxy', 1, 8, 30), run('haproxy', 1, 10, 30),
      run('epoxy', 2, 8.5, 33), run('haproxy', 2, 10, 30),
      run('epoxy', 3, 12, 27), run('haproxy', 3, 10, 30),
      run('direct', 1, NaN, 15), run('direct', 2, NaN, 15), run('direct', 3, NaN, 15),
    ];
    const report = buildReport(runs, [SCENARIOS.keepalive], ['epoxy', 'haproxy', 'direct'], 3);
    const [goal] = report.keepalive!.goals;
    expect(goal!.perRound.map((x) => Number(x.toFixed(3)))).toEqual([0.8, 0.85, 1.2]);
    expect(goal!.median).toBeCloseTo(0.85, 10);
    expect(goal!.met).toBe(true); // ≤ 0.9
    expect(goal!.machineMedian).toBeCloseTo(1.0, 10);
  });

  it('takes the syscall ratio from the extra perf run (round 0) and keeps its CPU out of the rounds', () => {
    const runs: BenchRun[] = [
      run('epoxy', 1, 8, 30), run('haproxy', 1, 10, 30),
      { scenario: 'keepalive', target: 'epoxy', round: 0, kind: 'syscalls', syscallsPerReq: 5, perfProxyUsPerReq: 9 },
      { scenario: 'keepalive', target: 'haproxy', round: 0, kind: 'syscalls', syscallsPerReq: 4, perfProxyUsPerReq: 11 },
    ];
    const report = buildReport(runs, [SCENARIOS.keepalive], ['epoxy', 'haproxy'], 1);
    expect(report.keepalive!.ratios.syscallsPerReq!.perRound).toEqual([1.25]);
    expect(report.keepalive!.perTarget.epoxy!.proxyUsPerReq!.median).toBe(8); // not the perf run's 9
    expect(report.keepalive!.perTarget.epoxy!.syscallsPerReq!.median).toBe(5);
    expect(report.keepalive!.ratios.proxyUsPerReq!.perRound).toEqual([0.8]);
  });

  it('leaves a target unmeasured when a round lacks HAProxy, and gives non-CPU targets no machine ratio', () => {
    const report = buildReport([run('epoxy', 1, 8, 30)], [SCENARIOS.keepalive, SCENARIOS.latency], ['epoxy', 'haproxy'], 1);
    expect(report.keepalive!.goals[0]!.met).toBe(null);
    expect(Number.isNaN(report.latency!.goals[0]!.machineMedian)).toBe(true);
  });
});
