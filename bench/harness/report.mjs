// From the runs of a harness invocation to summaries (median, min, max per target and metric),
// epoxy/HAProxy ratios per round, the issue's targets met or not, and the markdown that goes to
// stdout and BENCHMARKS.md.
import { summary } from './lib.mjs';
import { COMMON_METRICS } from './scenarios.mjs';

/** The rows of a scenario's table: its own metrics, then the CPU/error rows they all share. */
export function metricRows(scenario) {
  return scenario.common === false ? scenario.metrics : [...scenario.metrics, ...COMMON_METRICS];
}

export function buildReport(runs, scenarios, targetNames, rounds) {
  const report = {};
  for (const sc of scenarios) {
    const mine = runs.filter((r) => r.scenario === sc.name);
    const perTarget = {};
    for (const t of targetNames) {
      const rs = mine.filter((r) => r.target === t);
      perTarget[t] = Object.fromEntries(metricRows(sc).map(([k]) => [k, summary(rs.map((r) => r[k]))]));
    }
    const ratios = {};
    for (const [k] of sc.ratios) {
      const perRound = [];
      // Metrics measured in an extra run outside the rounds (syscalls: round 0) have one ratio.
      const extra = mine.some((x) => x.round === 0 && Number.isFinite(x[k]));
      for (let r = extra ? 0 : 1; r <= (extra ? 0 : rounds); r++) {
        const e = mine.find((x) => x.round === r && x.target === 'epoxy');
        const h = mine.find((x) => x.round === r && x.target === 'haproxy');
        perRound.push(e && h ? e[k] / h[k] : NaN);
      }
      ratios[k] = { perRound, ...summary(perRound) };
    }
    const goals = (sc.goals ?? []).map(([k, label, op, bound]) => {
      const { median, perRound } = ratios[k] ?? summary([]);
      const met = Number.isFinite(median) ? (op === '<=' ? median <= bound : median >= bound) : null;
      // A proxy-CPU goal is shown next to the whole machine's CPU in the same unit: work a proxy
      // pushes into softirq, kernel threads or its peers shows there (bench/experiments/).
      const machineKey = k.startsWith('proxyUs') ? k.replace('proxyUs', 'machineUs') : null;
      const machineMedian = machineKey && ratios[machineKey] ? ratios[machineKey].median : NaN;
      return { key: k, label, op, bound, median, perRound: perRound ?? [], met, machineMedian };
    });
    report[sc.name] = { perTarget, ratios, goals };
  }
  return report;
}

export function fmt(x, digits) {
  if (!Number.isFinite(x)) return '–';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Notes under a scenario's table: what limited each target, and the scenario's caveats. */
function limitNotes(sc, perTarget, info) {
  const notes = [];
  if (sc.common !== false) {
    const limits = Object.entries(perTarget).map(([n, t]) => {
      const l = [];
      if (t.cpu0BusyPct.median >= 95) l.push(info.pin ? `CPU ${info.LOAD_CPU} (client + backend) saturated` : 'the machine is saturated');
      if (t.proxyCpuPct.median >= 95) l.push('proxy saturated (one core)');
      if (t.otherCpuPct.max >= 10) l.push(`up to ${fmt(t.otherCpuPct.max, 0)}% of a core used by other processes (noisy)`);
      if (t.errors.max > 0) l.push(`${t.errors.max} errors in a run`);
      return l.length ? `${n}: ${l.join(', ')}` : '';
    }).filter(Boolean);
    if (limits.length) {
      notes.push(`Limits (saturation: medians ≥ 95%): ${limits.join('; ')}. Where the load side is saturated, throughput ` +
        'compares the load generator more than the proxies: read the proxy CPU rows.');
    }
  }
  if (sc.latency) {
    const rate = sc.rateOf(info);
    const short = Object.entries(perTarget).filter(([, t]) => t.achievedRate.median < 0.95 * rate).map(([n]) => n);
    if (short.length) notes.push(`${short.join(', ')}: did not hold ${fmt(rate, 0)} req/s (saturated): its latency includes queueing.`);
  }
  if (sc.name === 'idle') {
    notes.push('Memory: proxy RSS is the sum of VmRSS over the proxy\'s process tree (/proc/<pid>/status), after the ' +
      'connections are open minus before, ÷ connections. Kernel memory is machine-wide, after minus before: the TCP ' +
      'buffer pages of /proc/net/sockstat (`mem`, charged in per-CPU batches of up to 1 MiB, and released by sockets ' +
      'whose queues are empty, so near 0 for idle connections) plus /proc/meminfo `Slab` (socket structures, inodes, ' +
      `files, epoll items; also anything else the machine allocates meanwhile). It counts every socket of a connection (${info.chain ? '6 when chained, ' : ''}` +
      '4 through a proxy, 2 direct: see the sockets row).');
    if (info.idleNote) notes.push(info.idleNote);
  }
  if (sc.syscalls) {
    notes.push(info.perf?.ok
      ? 'Syscalls: every syscall of the proxy\'s threads (perf stat -e raw_syscalls:sys_enter -p <pid>) over one extra run per proxy after the rounds, ÷ the requests wrk ' +
        'counted in it; tracing slows every syscall, so that run\'s CPU (the "while perf counted" row) is kept out of the other rows. ' +
        'JS heap and GC rows: epoxy\'s `show activity` counters (heapAllocatedBytes, gcScavenges, gcMarkCompacts, gcPauseUs), read before and after each measured run, ÷ its requests (HAProxy has no JS heap).' +
        (info.perfNote ? ` ${info.perfNote}.` : '')
      : `Syscalls: not counted (${info.perf?.why ?? 'perf unavailable'}). JS heap and GC rows: epoxy's \`show activity\` counters read before and after each measured run, ÷ its requests.`);
  }
  if (sc.name === 'close') notes.push('Every request is a new connection (client→proxy and proxy→backend), so CPU per request is CPU per connection.');
  return notes;
}

export function renderMarkdown({ report, scenarios, machine, date, command, jsonRel, info, failures }) {
  const lines = [];
  lines.push(`Run of ${date}: \`${command}\` (every run in \`${jsonRel}\`)`);
  lines.push('');
  lines.push(`Machine: ${machine.nproc} CPUs (${machine.cpuModel}), Linux ${machine.kernel}, Node ${machine.node}, ` +
    `${machine.haproxy}, ${machine.wrk.split(' [')[0]}, backend ${machine.backend}.`);
  lines.push(`Pinning: ${machine.pinning}. ${info.rounds} round(s) × ${info.duration} s per target and scenario, order rotated ` +
    `each round, ${info.warmup > 0 ? `${info.warmup} s warm-up per target` : 'no warm-up'}` +
    `${scenarios.some((sc) => sc.fresh) ? ' (idle: fresh backend and proxy for each run, no warm-up)' : ''}. ` +
    `${info.chain ? '**Chained**: client → proxy → the same proxy again → backend (a second frontend/backend pair), so each proxy figure covers two passes through the proxy. ' : ''}` +
    `CPU: ${machine.cpuSource}. Machine ${fmt(machine.busyBeforePct, 0)}% busy in the second before the run` +
    (info.waitIdle ? '; each run waits for the machine to be under 10% busy, and is redone (twice at most) ' +
      `when other processes took > 15% of a core during it (${machine.redone} redone)` : '') + '. Cells: median (min–max).');

  const goals = scenarios.flatMap((sc) => report[sc.name].goals.map((g) => ({ sc, ...g })));
  if (goals.length) {
    lines.push('');
    lines.push('### Targets (epoxy / HAProxy, median of the per-round ratios)');
    lines.push('');
    lines.push('| scenario | target | goal | measured | per round | | machine CPU, same unit |');
    lines.push('| --- | --- | ---: | ---: | --- | --- | ---: |');
    for (const g of goals) {
      const verdict = g.met === null ? 'not measured' : g.met ? 'met' : '**not met**';
      lines.push(`| ${g.sc.name} | ${g.label} | ${g.op === '<=' ? '≤' : '≥'} ${fmt(g.bound, 1)} | **${fmt(g.median, 3)}** | ` +
        `${g.perRound.map((x) => fmt(x, 2)).join(', ')} | ${verdict} | ${Number.isFinite(g.machineMedian) ? fmt(g.machineMedian, 3) : ''} |`);
    }
  }

  for (const sc of scenarios) {
    const { perTarget, ratios } = report[sc.name];
    lines.push('');
    lines.push(`### ${sc.title}`);
    lines.push('');
    lines.push(`Load: ${sc.load(info)}.`);
    lines.push('');
    const names = Object.keys(perTarget);
    lines.push(`| metric | ${names.join(' | ')} |`);
    lines.push(`| --- | ${names.map(() => '---:').join(' | ')} |`);
    for (const [k, label, d] of metricRows(sc)) {
      const cells = names.map((n) => {
        const s = perTarget[n][k];
        if (!Number.isFinite(s.median)) return '–';
        // one sample (the syscall rows: one perf run per proxy) has no range to show
        return info.rounds > 1 && s.n > 1 ? `${fmt(s.median, d)} (${fmt(s.min, d)}–${fmt(s.max, d)})` : fmt(s.median, d);
      });
      lines.push(`| ${label} | ${cells.join(' | ')} |`);
    }
    for (const note of limitNotes(sc, perTarget, info)) {
      lines.push('');
      lines.push(note);
    }
    lines.push('');
    lines.push('| epoxy / HAProxy | median | min | max | per round |');
    lines.push('| --- | ---: | ---: | ---: | --- |');
    for (const [k, label] of sc.ratios) {
      const s = ratios[k];
      lines.push(`| ${label} | **${fmt(s.median, 2)}** | ${fmt(s.min, 2)} | ${fmt(s.max, 2)} | ${s.perRound.map((x) => fmt(x, 2)).join(', ')} |`);
    }
  }
  if (failures.length) {
    lines.push('');
    lines.push('### Failed runs');
    lines.push('');
    for (const f of failures) lines.push(`- ${f.scenario} round ${f.round} ${f.target}: ${f.error.split('\n').filter((l) => l.trim()).slice(0, 4).join(' / ')}`);
  }
  return lines.join('\n');
}
