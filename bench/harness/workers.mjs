// Scaling with workers (issue 12): epoxy in master-worker mode with 1 and 2 worker processes,
// next to HAProxy with 1 and 2 threads, from the same HAProxy-format configuration.
//
//   npm run bench -- --workers [--quick] [--rounds 3] [--duration 5] [--connections 50]
//
// Keep-alive (many requests per connection) and one connection per request (Connection:
// close), wrk with 2 threads against nginx, nothing pinned: two workers need both cores, and on
// this 2-core machine wrk and nginx share them, so requests/s with 2 workers shows what a second
// core buys while the load generator competes for it. CPU per request is the proxy's whole
// process tree (epoxy's master and workers, HAProxy's threads) over the requests answered.
// Prints a markdown table on stdout and writes bench/results/workers-<timestamp>.json.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  SCHEDSTAT, CLK_TCK, freePort, httpGet, killAllNow, median, writeResultsJson, nginxConf, proxyConfig, runToEnd, startChild, stopAll, stopChild, treeCpu,
  waitListening, which,
} from './lib.mjs';
import { parseWrk } from './scenarios.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');

export async function runWorkersBench(argv) {
  const { values: opts } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      connections: { type: 'string', default: '50' },
    },
  });
  const rounds = Math.max(1, Number(opts.rounds ?? (opts.quick ? 1 : 3)));
  const duration = Math.max(1, Number(opts.duration ?? (opts.quick ? 1 : 5)));
  const connections = Math.max(2, Number(opts.connections));
  const tools = { haproxy: which('haproxy'), wrk: which('wrk'), nginx: which('nginx') };
  const missing = Object.entries(tools).filter(([, path]) => !path).map(([name]) => name);
  if (missing.length) throw new Error(`missing tool(s): ${missing.join(', ')} (apt-get install haproxy wrk nginx-light)`);
  if (!existsSync(join(root, 'dist/cli.js'))) throw new Error('dist/cli.js is missing: run `npm run build` first');

  const tmp = mkdtempSync(join(tmpdir(), 'epoxy-bench-workers-'));
  try {
    const backendPort = await freePort();
    const nginxDir = join(tmp, 'nginx');
    mkdirSync(nginxDir, { recursive: true });
    writeFileSync(join(nginxDir, 'nginx.conf'), nginxConf({ dir: nginxDir, port: backendPort, bodyBytes: 128, generator: 'bench/harness/workers.mjs' }));
    const nginx = startChild('nginx', tools.nginx, ['-p', nginxDir, '-c', join(nginxDir, 'nginx.conf'), '-e', join(nginxDir, 'error.log')]);
    await waitListening(nginx, backendPort);

    const targets = [];
    for (const proxy of ['haproxy', 'epoxy']) {
      for (const n of [1, 2]) {
        const cfg = join(tmp, `${proxy}-${n}.cfg`);
        writeFileSync(cfg, proxyConfig({ maxconn: 1000, generator: 'bench/harness/workers.mjs' }).replace('    nbthread 1', `    nbthread ${n}`));
        const port = await freePort();
        const env = { PORT: String(port), BACKEND: String(backendPort) };
        const child = proxy === 'haproxy'
          ? startChild(`haproxy x${n}`, tools.haproxy, ['-db', '-f', cfg], { env })
          : startChild(`epoxy x${n}`, process.execPath, [join(root, 'bin/epoxy'), '-W', '-q', '-f', cfg], { env });
        await waitListening(child, port);
        const reply = await httpGet(port);
        if (!reply.startsWith('HTTP/1.1 200')) throw new Error(`${child.name}: unexpected reply ${JSON.stringify(reply.slice(0, 100))}`);
        targets.push({ name: child.name, proxy, workers: n, port, child });
      }
    }

    const scenarios = {
      keepalive: [],
      close: ['-H', 'Connection: close'],
    };
    const runs = [];
    for (let round = 1; round <= rounds; round++) {
      // Alternate the order each round, so neither side always runs on a warmer machine.
      const order = round % 2 ? targets : [...targets].reverse();
      for (const [scenario, headers] of Object.entries(scenarios)) {
        for (const t of order) {
          const before = treeCpu(t.child.pid);
          const start = process.hrtime.bigint();
          const { code, output } = await runToEnd('wrk', tools.wrk, ['-t', '2', '-c', String(connections), '-d', `${duration}s`, '--timeout', '2s', ...headers, `http://127.0.0.1:${t.port}/`]);
          const wall = Number(process.hrtime.bigint() - start) / 1e9;
          const after = treeCpu(t.child.pid);
          if (code !== 0) throw new Error(`wrk failed against ${t.name}:\n${output}`);
          if (t.child.exited) throw new Error(`${t.name} exited during the run:\n${t.child.output()}`);
          const w = parseWrk(output);
          const cpuUs = SCHEDSTAT ? (after.ns - before.ns) / 1e3 : ((after.ticks - before.ticks) * 1e6) / CLK_TCK;
          const run = {
            round, scenario, target: t.name, proxy: t.proxy, workers: t.workers,
            rps: w.rps, requests: w.requests, errors: w.non2xx + w.socketErrors,
            proxyCores: cpuUs / 1e6 / wall,
            proxyUsPerReq: cpuUs / w.requests,
          };
          runs.push(run);
          console.error(`round ${round} ${scenario.padEnd(9)} ${t.name.padEnd(10)} ${w.rps.toFixed(0).padStart(7)} req/s  ${run.proxyUsPerReq.toFixed(1).padStart(6)} µs/req  ${(100 * run.proxyCores).toFixed(0)}% of a core${run.errors ? `  ERRORS ${run.errors}` : ''}`);
        }
      }
    }

    const table = [];
    table.push(`Workers: ${rounds} round(s) of ${duration} s per target and scenario, wrk -t 2 -c ${connections}, nginx backend (128-byte body), nothing pinned, ${cpus().length} CPUs. Medians over rounds.`);
    table.push('');
    table.push('| scenario | target | req/s | proxy CPU µs/req | proxy cores busy | errors | req/s vs 1 worker/thread |');
    table.push('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
    const med = (scenario, name, key) => median(runs.filter((r) => r.scenario === scenario && r.target === name).map((r) => r[key]));
    for (const scenario of Object.keys(scenarios)) {
      for (const t of targets) {
        const one = targets.find((o) => o.proxy === t.proxy && o.workers === 1);
        const scale = med(scenario, t.name, 'rps') / med(scenario, one.name, 'rps');
        const errors = runs.filter((r) => r.scenario === scenario && r.target === t.name).reduce((a, r) => a + r.errors, 0);
        table.push(`| ${scenario} | ${t.name} | ${med(scenario, t.name, 'rps').toFixed(0)} | ${med(scenario, t.name, 'proxyUsPerReq').toFixed(1)} | ${med(scenario, t.name, 'proxyCores').toFixed(2)} | ${errors} | ${scale.toFixed(2)}× |`);
      }
    }
    const markdown = table.join('\n');
    console.log(markdown);
    const file = writeResultsJson(root, 'workers', { rounds, duration, connections, cpus: cpus().length, runs });
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
  runWorkersBench(process.argv.slice(2)).catch((err) => {
    console.error(`bench --workers: ${err?.message ?? err}`);
    process.exitCode = 1;
  });
}
