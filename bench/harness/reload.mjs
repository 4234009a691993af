// Latency across a reload (issue 16, part 4): epoxy and HAProxy in master-worker mode, each
// reloaded by SIGUSR2 to its master in the middle of a fixed-rate run, from the same file.
//
//   npm run bench -- --reload [--quick] [--rounds 3] [--duration 8] [--rate 10000] [--reload-at 4]
//
// loadgen (bench/tools/loadgen.c) drives `--rate` requests/s on 50 keep-alive connections for
// `--duration` measured seconds with --per-second, which keeps a latency histogram per second of
// the schedule; `--reload-at` seconds into it the harness signals the master. The second the
// signal fell in is found from loadgen's own clock (its t0, CLOCK_MONOTONIC like
// process.hrtime), and its p99 and max are set against the median p99 of the seconds without a
// reload. The proxy's process tree (master, old and new workers) is pinned to CPU 1, loadgen and
// nginx to CPU 0, as in the main bench: a reload has to find its CPU time on the proxy's core.
// Prints a markdown table on stdout and writes bench/results/reload-<timestamp>.json.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, httpGet, killAllNow, median, writeResultsJson, nginxConf, proxyConfig, startChild, stopAll, stopChild, waitListening, which } from './lib.mjs';
import { buildLoadgen, runLoadgen } from './loadgen.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const PROXY_CPU = 1;
const LOAD_CPU = 0;

export async function runReloadBench(argv) {
  const { values: opts } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      rate: { type: 'string', default: '10000' },
      'reload-at': { type: 'string' },
    },
  });
  const rounds = Math.max(1, Number(opts.rounds ?? (opts.quick ? 1 : 3)));
  const duration = Math.max(3, Number(opts.duration ?? (opts.quick ? 3 : 8)));
  const rate = Math.max(1, Number(opts.rate));
  const reloadAt = Number(opts['reload-at'] ?? Math.floor(duration / 2));
  if (!(reloadAt >= 1 && reloadAt < duration - 1)) throw new Error(`--reload-at must leave a second on each side (1 to ${duration - 1})`);
  const tools = { haproxy: which('haproxy'), nginx: which('nginx'), taskset: which('taskset') };
  const missing = ['haproxy', 'nginx'].filter((name) => !tools[name]);
  if (missing.length) throw new Error(`missing tool(s): ${missing.join(', ')} (apt-get install haproxy nginx-light)`);
  if (!existsSync(join(root, 'dist/cli.js'))) throw new Error('dist/cli.js is missing: run `npm run build` first');
  const pinned = (cpu, cmd, args) => (tools.taskset ? [tools.taskset, ['-c', String(cpu), cmd, ...args]] : [cmd, args]);
  const loadgen = await buildLoadgen();

  const tmp = mkdtempSync(join(tmpdir(), 'epoxy-bench-reload-'));
  try {
    const backendPort = await freePort();
    const nginxDir = join(tmp, 'nginx');
    mkdirSync(nginxDir, { recursive: true });
    writeFileSync(join(nginxDir, 'nginx.conf'), nginxConf({ dir: nginxDir, port: backendPort, bodyBytes: 128, generator: 'bench/harness/reload.mjs' }));
    const nginx = startChild('nginx', ...pinned(LOAD_CPU, tools.nginx, ['-p', nginxDir, '-c', join(nginxDir, 'nginx.conf'), '-e', join(nginxDir, 'error.log')]));
    await waitListening(nginx, backendPort);

    const cfg = join(tmp, 'proxy.cfg');
    writeFileSync(cfg, proxyConfig({ maxconn: 1000, generator: 'bench/harness/reload.mjs' }));
    const targets = [];
    for (const proxy of ['haproxy', 'epoxy']) {
      const port = await freePort();
      const env = { PORT: String(port), BACKEND: String(backendPort) };
      // -W: a master that re-reads the file and replaces its worker on SIGUSR2 (both proxies).
      const child = proxy === 'haproxy'
        ? startChild('haproxy', ...pinned(PROXY_CPU, tools.haproxy, ['-W', '-db', '-f', cfg]), { env })
        : startChild('epoxy', ...pinned(PROXY_CPU, process.execPath, [join(root, 'bin/epoxy'), '-W', '-q', '-f', cfg]), { env });
      await waitListening(child, port);
      const reply = await httpGet(port);
      if (!reply.startsWith('HTTP/1.1 200')) throw new Error(`${child.name}: unexpected reply ${JSON.stringify(reply.slice(0, 100))}`);
      targets.push({ name: proxy, port, child });
    }

    const runs = [];
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 ? targets : [...targets].reverse();
      for (const t of order) {
        // The master is the child itself, or taskset's exec'd process: the same pid either way.
        const running = runLoadgen(loadgen, 'rate', { port: t.port, rate, duration, warmup: 1, connections: 50, perSecond: true }, { cpu: LOAD_CPU });
        let signalledAt = 0n;
        // A point in time to act at, not a wait for a condition: where the reload falls is read
        // afterwards from loadgen's clock, so the timer's precision does not matter.
        const timer = setTimeout(() => {
          signalledAt = process.hrtime.bigint();
          process.kill(t.child.pid, 'SIGUSR2');
        }, (1 + reloadAt) * 1000 + 200);
        let r;
        try {
          r = await running;
        } finally {
          clearTimeout(timer);
        }
        if (t.child.exited) throw new Error(`${t.name} exited during the run:\n${t.child.output()}`);
        if (signalledAt === 0n) throw new Error(`${t.name}: the run ended before the reload was sent`);
        const second = Number((signalledAt - BigInt(r.t0ns)) / 1_000_000_000n);
        const quiet = r.seconds.filter((_, i) => i !== second && i !== second + 1);
        const run = {
          round, target: t.name, second, errors: r.errors, achievedRate: r.achievedRate,
          p99QuietMs: median(quiet.map((s) => s.p99us)) / 1e3,
          p99ReloadMs: (r.seconds[second]?.p99us ?? NaN) / 1e3,
          p99NextMs: (r.seconds[second + 1]?.p99us ?? NaN) / 1e3,
          maxReloadMs: Math.max(r.seconds[second]?.maxus ?? NaN, r.seconds[second + 1]?.maxus ?? 0) / 1e3,
          maxQuietMs: Math.max(...quiet.map((s) => s.maxus)) / 1e3,
          seconds: r.seconds,
        };
        runs.push(run);
        console.error(
          `round ${round} ${t.name.padEnd(8)} reload in second ${second}: p99 ${run.p99ReloadMs.toFixed(3)} ms (next ${run.p99NextMs.toFixed(3)}), ` +
            `max ${run.maxReloadMs.toFixed(2)} ms; other seconds p99 ${run.p99QuietMs.toFixed(3)} ms, max ${run.maxQuietMs.toFixed(2)} ms; errors ${r.errors}`,
        );
      }
    }

    const table = [];
    table.push(`Reload: ${rounds} round(s) of ${duration} s at ${rate} req/s (50 keep-alive connections, 128-byte body, nginx), SIGUSR2 to the master ${reloadAt} s in; proxy on CPU ${PROXY_CPU}, load on CPU ${LOAD_CPU}. Medians over rounds; "other seconds" excludes the reload's second and the next.`);
    table.push('');
    table.push('| target | p99 other seconds (ms) | p99 reload second (ms) | p99 next second (ms) | max reload + next second (ms) | max other seconds (ms) | errors |');
    table.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const t of targets) {
      const mine = runs.filter((r) => r.target === t.name);
      const med = (key) => median(mine.map((r) => r[key])).toFixed(3);
      table.push(`| ${t.name} | ${med('p99QuietMs')} | ${med('p99ReloadMs')} | ${med('p99NextMs')} | ${med('maxReloadMs')} | ${med('maxQuietMs')} | ${mine.reduce((a, r) => a + r.errors, 0)} |`);
    }
    const markdown = table.join('\n');
    console.log(markdown);
    const file = writeResultsJson(root, 'reload', { rounds, duration, rate, reloadAt, runs });
    console.error(`wrote ${file}`);
    for (const t of targets) await stopChild(t.child);
    await stopChild(nginx);
  } finally {
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.on('exit', killAllNow);
  runReloadBench(process.argv.slice(2)).catch((err) => {
    console.error(`bench --reload: ${err?.message ?? err}`);
    process.exitCode = 1;
  });
}
