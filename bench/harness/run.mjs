// epoxy vs HAProxy, side by side, from one HAProxy-format configuration file (issue 5).
//
//   npm run bench [-- --quick] [--rounds 3] [--duration 5] [--warmup 1] [--connections 50]
//                 [--scenarios keepalive,close,bulk1m,bulk100m,latency,idle] [--rate 5000,10000,20000]
//                 [--idle-connections 10000] [--chain] [--no-pin] [--no-write] [--no-wait-idle]
//                 [--body-bytes 128] [--backend nginx|native] [--no-syscalls]
//                 [--epoxy-global 'tune.epoxy.relay-thread on' ...] (global lines for epoxy only)
//   npm run bench -- --sweep [...]   the socket-option sweep instead (bench/harness/sweep.mjs)
//   npm run bench -- --workers [...] 1 and 2 workers against HAProxy's 1 and 2 threads (bench/harness/workers.mjs)
//   npm run bench -- --reload [...]  p99 in the second of a reload against the other seconds (bench/harness/reload.mjs)
//
// Needs haproxy and wrk (`apt-get install haproxy wrk nginx-light`) and a C compiler for the
// latency/idle client (bench/tools/loadgen.c); nginx is the preferred backend, the native
// responder (bench/tools/responder.c: the small response and the bulk files too) stands in when
// it is absent. See bench/README.md for what is measured and how.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync, closeSync, existsSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  CLK_TCK, SCHEDSTAT, firstLine, freePort, nginxConf, httpGet, killAllNow, machineTicks, proxyConfig, startChild, stopAll,
  stopChild, waitListening, which,
} from './lib.mjs';
import { BULK_FILES, SCENARIOS, latencyAt, writeWrkScript } from './scenarios.mjs';
import { buildTool } from './build-tool.mjs';
import { buildReport, fmt, renderMarkdown } from './report.mjs';
import { renderSvg } from './svg.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');

// The other benchmarks hand over here, each with its own options, processes and report:
// `npm run bench -- --sweep [...]` (socket options), `--reload [...]` (latency across a reload),
// `--workers [...]` (master-worker scaling).
const MODES = [
  ['--sweep', './sweep.mjs', 'runSweep'],
  ['--reload', './reload.mjs', 'runReloadBench'],
  ['--workers', './workers.mjs', 'runWorkersBench'],
];
for (const [flag, module, entry] of MODES) {
  if (!process.argv.includes(flag)) continue;
  process.on('exit', killAllNow);
  const run = (await import(module))[entry];
  try {
    await run(process.argv.slice(2).filter((a) => a !== flag));
  } catch (err) {
    console.error(`bench ${flag}: ${err?.message ?? err}`);
    process.exitCode = 1;
  }
  await stopAll();
  process.exit();
}

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string', default: '50' },
    scenarios: { type: 'string', default: Object.keys(SCENARIOS).join(',') },
    rate: { type: 'string' },
    'idle-connections': { type: 'string' },
    chain: { type: 'boolean', default: false },
    'no-pin': { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    'no-wait-idle': { type: 'boolean', default: false },
    'no-syscalls': { type: 'boolean', default: false },
    'body-bytes': { type: 'string', default: '128' },
    backend: { type: 'string', default: 'nginx' },
    // A global line only epoxy reads (tune.epoxy.* are extensions HAProxy refuses), repeatable:
    // to measure an epoxy setting against HAProxy in the same run.
    'epoxy-global': { type: 'string', multiple: true, default: [] },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (opts.help) {
  console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(0, 12).join('\n'));
  process.exit(0);
}

function positive(name, text, { integer = true } = {}) {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) {
    console.error(`bench: --${name} wants a non-negative ${integer ? 'integer' : 'number'} (was '${text}')`);
    process.exit(2);
  }
  return n;
}

// --quick: every scenario, tiny: a smoke that the harness and every target still work.
const rounds = Math.max(1, positive('rounds', opts.rounds ?? (opts.quick ? '1' : '3')));
const duration = Math.max(1, Math.round(positive('duration', opts.duration ?? (opts.quick ? '1' : '5'), { integer: false })));
const warmup = Math.round(positive('warmup', opts.warmup ?? (opts.quick ? '0' : '1'), { integer: false })); // wrk takes whole seconds
const connections = Math.max(1, positive('connections', opts.connections));
const bodyBytes = Math.max(2, positive('body-bytes', opts['body-bytes']));
// `latency` runs once per rate: three by default (issue 16: percentiles at 5k, 10k and 20k
// req/s side by side), one with --quick
const rates = (opts.rate ?? (opts.quick ? '10000' : '5000,10000,20000')).split(',').map((r) => Math.max(1, positive('rate', r.trim())));
const rate = rates[0];
const idleRequested = Math.max(1, positive('idle-connections', opts['idle-connections'] ?? (opts.quick ? '200' : '10000')));

const scenarioNames = opts.scenarios.split(',').map((s) => s.trim()).filter(Boolean);
for (const s of scenarioNames) {
  if (!SCENARIOS[s]) {
    console.error(`unknown scenario '${s}' (known: ${Object.keys(SCENARIOS).join(', ')})`);
    process.exit(2);
  }
}

// ---------------------------------------------------------------------------------------------
// Cleanup: nothing we start outlives us.

let tmp = null;
let cleaning = null;
let interrupted = false;
const holding = new Set(); // idle-connection clients being held (loadgen idle)
async function cleanup() {
  cleaning ??= (async () => {
    await Promise.all([...holding].map((h) => h.stop().catch(() => {})));
    await stopAll();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  })();
  return cleaning;
}
process.on('exit', () => {
  for (const h of holding) {
    try { process.kill(h.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  killAllNow();
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    interrupted = true;
    console.error(`\n${sig}: stopping the processes started by the bench`);
    cleanup().finally(() => process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 })[sig]));
  });
}

// ---------------------------------------------------------------------------------------------
// Tools.

const tools = { haproxy: which('haproxy'), wrk: which('wrk'), nginx: which('nginx'), taskset: which('taskset'), perf: which('perf') };
const missing = ['haproxy', 'wrk'].filter((t) => !tools[t]);
if (missing.length) {
  console.error(`bench: missing required tool(s): ${missing.join(', ')}`);
  console.error('  install them with: apt-get install haproxy wrk nginx-light');
  process.exit(1);
}
if (!existsSync(join(root, 'dist/cli.js'))) {
  console.error('bench: dist/cli.js is missing: run `npm run build` (or `npm install`) first');
  process.exit(1);
}
if (opts.backend !== 'nginx' && opts.backend !== 'native') {
  console.error(`bench: --backend is nginx or native (was '${opts.backend}')`);
  process.exit(2);
}
if (opts.backend === 'nginx' && !tools.nginx) {
  console.error('bench: nginx not found, using the native responder (bench/tools/responder.c) as backend (apt-get install nginx-light for nginx)');
}
/**
 * Syscalls per request are counted with perf's raw_syscalls:sys_enter tracepoint: optional (the
 * rows say '–' and the report says why when perf is missing or may not trace).
 */
const perf = (() => {
  if (opts['no-syscalls']) return { bin: null, ok: false, why: '--no-syscalls' };
  if (!tools.perf) return { bin: null, ok: false, why: 'perf not found (apt-get install linux-perf, or linux-tools-$(uname -r))' };
  const r = spawnSync(tools.perf, ['stat', '-x', ',', '-e', 'raw_syscalls:sys_enter', '--', 'true'], { encoding: 'utf8' });
  if (r.status === 0 && /raw_syscalls:sys_enter/.test(r.stderr ?? '') && !/not supported|<not counted>/.test(r.stderr ?? '')) return { bin: tools.perf, ok: true, why: '' };
  return { bin: tools.perf, ok: false, why: `perf cannot count raw_syscalls:sys_enter here (${((r.stderr || r.error?.message || '').split('\n').find((l) => l.startsWith('Error:')) ?? (r.stderr || r.error?.message || '').trim().split('\n')[0]).replace(/^Error:\s*/, '')}; root or kernel.perf_event_paranoid ≤ -1 and tracefs are needed)` };
})();
if (!perf.ok) console.error(`bench: no syscall counts: ${perf.why}`);

/** 'nginx', or 'native': bench/tools/responder.c, built in main(). */
const backendKind = opts.backend === 'nginx' && tools.nginx ? 'nginx' : 'native';
let responderBin = null;

const ncpu = cpus().length;
const pin = !opts['no-pin'] && tools.taskset && ncpu >= 2;
const PROXY_CPU = 1;
const LOAD_CPU = 0;
/** Prefixes a command with taskset when pinning. */
function pinned(cpu, cmd, args) {
  return pin ? [tools.taskset, ['-c', String(cpu), cmd, ...args]] : [cmd, args];
}

// ---------------------------------------------------------------------------------------------
// Files: the nginx configuration and the ONE HAProxy-format configuration both proxies run.
// (The native responder needs no configuration: the same body and files from its options.)


/** nginx: the small fixed response on /, the bulk files under /bulk/ (sendfile: it is the backend). */
function backendConf(dir, port, { workerConnections = 4096, rlimit = 0 } = {}) {
  return nginxConf({ dir, port, bodyBytes, bulkRoot: `${tmp}/www`, workerConnections, rlimit, generator: 'bench/harness/run.mjs' });
}

const chain = opts.chain;
const MAIN_CFG = proxyConfig({ maxconn: 1000, chain, statsSocket: true });
const EPOXY_GLOBAL = opts['epoxy-global'];
/** The file epoxy runs: HAProxy's, plus the --epoxy-global lines at the top of `global`. */
function epoxyConfig(cfg) {
  if (EPOXY_GLOBAL.length === 0) return cfg;
  return cfg.replace(/^global\n/m, `global\n    # --epoxy-global\n${EPOXY_GLOBAL.map((l) => `    ${l}\n`).join('')}`);
}

/** Writes a file of `bytes` bytes in 1 MiB writes (the bulk bodies). */
function writeFileOfSize(path, bytes) {
  const chunk = Buffer.alloc(Math.min(bytes, 1 << 20), 'b');
  const fd = openSync(path, 'w');
  try {
    for (let left = bytes; left > 0;) left -= writeSync(fd, chunk, 0, Math.min(left, chunk.length));
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// Processes.

/**
 * The backend on 127.0.0.1:port, on the load CPU: nginx from a configuration in `dir`, or the
 * native responder (which raises its own open-files limit to the hard one: `conf` is nginx's).
 */
async function startBackend(dir, port, conf) {
  let child;
  if (backendKind === 'nginx') {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'nginx.conf'), backendConf(dir, port, conf));
    const [cmd, args] = pinned(LOAD_CPU, tools.nginx, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'nginx-error.log')]);
    child = startChild('nginx', cmd, args);
  } else {
    const [cmd, args] = pinned(LOAD_CPU, responderBin,
      ['--port', String(port), '--body-bytes', String(bodyBytes), '--root', join(tmp, 'www'), '--backlog', '4096']);
    child = startChild('responder', cmd, args);
  }
  await waitListening(child, port);
  return child;
}

async function startProxy(name, cfg, env) {
  const [cmd, args] = name === 'haproxy'
    ? pinned(PROXY_CPU, tools.haproxy, ['-db', '-f', cfg])
    : pinned(PROXY_CPU, process.execPath, [join(root, 'bin/epoxy'), '-f', cfg]);
  const child = startChild(name, cmd, args, { env });
  await waitListening(child, Number(env.PORT));
  return child;
}

async function checkAnswers(t) {
  const reply = await httpGet(t.port);
  if (!reply.startsWith('HTTP/1.1 200')) throw new Error(`${t.name}: unexpected reply: ${JSON.stringify(reply.slice(0, 200))}`);
}

// ---------------------------------------------------------------------------------------------
// Idle connections: the file-descriptor budget, and fresh processes per run.

const idleSetup = { n: idleRequested, note: '', cfg: '', maxconn: 0, ulimitN: 0 };

/**
 * Sizes the idle scenario: each proxy gets maxconn above the sessions it holds (two per client
 * connection when chained) and needs two fds per session; the harness raises its own
 * RLIMIT_NOFILE so every child it starts inherits room (HAProxy as root would raise its own from
 * maxconn, epoxy does from `ulimit-n`, nginx from worker_rlimit_nofile, loadgen not at all).
 * Without the privilege to raise the hard limit, the connections are scaled down to what fits
 * under it, and the report says so.
 */
async function prepareIdle() {
  const sessionsPerConn = chain ? 2 : 1;
  // listeners, the backend's and Node's own descriptors (epoll, eventfds, pipes, stdio)
  const spareFds = 200;
  const { native } = await import(pathToFileURL(join(root, 'dist/native.js')).href);
  let n = idleSetup.n;
  let maxconn = sessionsPerConn * n + 1000;
  let ulimitN = 2 * maxconn + 1000;
  const lim = native.getNofileLimit();
  const hard = lim.hard === -1 ? Infinity : lim.hard;
  try {
    native.setNofileLimit(ulimitN, Math.max(hard, ulimitN));
  } catch (err) {
    // Stay under the hard limit: HAProxy refuses to start when 2 × maxconn plus its own fds
    // exceed ulimit-n, so maxconn is what fits, and the connections keep a margin below it.
    ulimitN = hard;
    const fitMaxconn = Math.floor((hard - spareFds) / 2);
    const fit = Math.floor((fitMaxconn - 100) / sessionsPerConn);
    if (fit < 1) throw new Error(`RLIMIT_NOFILE hard limit ${hard} leaves no room for idle connections (${err.message})`);
    if (maxconn > fitMaxconn) maxconn = fitMaxconn;
    if (fit < n) {
      idleSetup.note = `The open-files limit could not be raised above its hard limit ${hard} (${err.code ?? err.message}): ` +
        `${fit.toLocaleString('en-US')} connections instead of ${n.toLocaleString('en-US')}.`;
      console.error(`bench: ${idleSetup.note}`);
      n = fit;
    }
    native.setNofileLimit(hard, hard);
  }
  const got = native.getNofileLimit();
  if (got.soft !== -1 && got.soft < 2 * sessionsPerConn * n + spareFds) throw new Error(`RLIMIT_NOFILE is ${got.soft} after raising it to ${ulimitN}`);
  Object.assign(idleSetup, { n, maxconn, ulimitN });
  // connections sit idle while measured: long timeouts so neither proxy closes them meanwhile
  idleSetup.cfg = proxyConfig({ maxconn, ulimitN, timeout: '10m', chain });
  writeFileSync(join(tmp, 'proxy-idle.cfg'), idleSetup.cfg);
  writeFileSync(join(tmp, 'proxy-idle-epoxy.cfg'), epoxyConfig(idleSetup.cfg));
}

/** A target whose backend and proxy are started for one run only (idle: memory from a clean start). */
async function freshTarget(name) {
  const started = [];
  const stop = async () => { for (const c of started.reverse()) await stopChild(c); };
  try {
    const backendPort = await freePort();
    const backend = await startBackend(join(tmp, 'idle-nginx'), backendPort,
      { workerConnections: idleSetup.maxconn, rlimit: idleSetup.ulimitN });
    started.push(backend);
    const t = { name, backend, proc: null, port: backendPort, stop };
    if (name !== 'direct') {
      const port = await freePort();
      t.proc = await startProxy(name, join(tmp, name === 'epoxy' ? 'proxy-idle-epoxy.cfg' : 'proxy-idle.cfg'), { PORT: String(port), BACKEND: String(backendPort), HOP: String(await freePort()) });
      started.push(t.proc);
      t.port = port;
    }
    await checkAnswers(t); // also runs each code path once before the baseline is taken
    return t;
  } catch (err) {
    await stop();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Measuring.

/** Waits (up to 120 s) until the machine is under 10% busy over half a second. */
async function waitIdle() {
  const start = Date.now();
  let warned = false;
  while (Date.now() - start < 120_000) {
    const a = machineTicks().cpu;
    await new Promise((r) => setTimeout(r, 500));
    const b = machineTicks().cpu;
    const busy = (100 * (b.busy - a.busy)) / (b.total - a.total);
    if (busy < 10) break;
    if (!warned) console.error(`  waiting for the machine to be idle (${busy.toFixed(0)}% busy now)…`);
    warned = true;
  }
}

function progress(sc, m) {
  const cells = sc.metrics.slice(0, 3).map(([k, label, d]) => `${label} ${fmt(m[k], d)}`);
  if (Number.isFinite(m.proxyCpuPct)) cells.push(`proxy ${fmt(m.proxyCpuPct, 0)}% core`);
  if (Number.isFinite(m.clientCpuPct)) cells.push(`client ${fmt(m.clientCpuPct, 0)}%`);
  if (Number.isFinite(m.backendCpuPct)) cells.push(`backend ${fmt(m.backendCpuPct, 0)}%`);
  return cells.join('  ') + (m.errors ? `  ERRORS: ${m.errorText}` : '');
}

// ---------------------------------------------------------------------------------------------
// Main.

const ctx = {
  tools, pin, pinned, PROXY_CPU, LOAD_CPU, proxies: [], holding,
  rounds, duration, warmup, connections, bodyBytes, rate, chain, // --quick is a smoke: its numbers are not read, so it does not wait for a quiet machine
  waitIdle: !opts['no-wait-idle'] && !opts.quick,
  idleConnections: idleSetup.n, idleNote: '', wrkScript: null, perf, tmp: null, loadgen: null, loadgenBin: null, backend: backendKind,
};

async function main() {
  tmp = mkdtempSync(join(tmpdir(), 'epoxy-bench-'));
  ctx.tmp = tmp;
  const failures = [];
  const scenarios = scenarioNames.flatMap((name) => (name === 'latency' && rates.length > 1 ? rates.map((r) => latencyAt(r)) : [SCENARIOS[name]]));

  ctx.wrkScript = writeWrkScript(tmp);
  mkdirSync(join(tmp, 'www/bulk'), { recursive: true }); // the native responder's --root, files or not
  for (const sc of scenarios.filter((s) => BULK_FILES[s.name])) {
    writeFileOfSize(join(tmp, `www${BULK_FILES[sc.name].path}`), BULK_FILES[sc.name].bytes);
  }
  if (scenarios.some((s) => s.needs.includes('loadgen'))) {
    ctx.loadgen = await import('./loadgen.mjs');
    ctx.loadgenBin = await ctx.loadgen.buildLoadgen();
  }
  if (backendKind === 'native') responderBin = await buildTool('responder');
  if (scenarios.some((s) => s.fresh)) {
    await prepareIdle();
    ctx.idleConnections = idleSetup.n;
    ctx.idleNote = idleSetup.note;
  }

  // The shared environment: one backend, both proxies from one file.
  let targets = [];
  const cfg = join(tmp, 'proxy.cfg');
  const cfgEpoxy = join(tmp, 'proxy-epoxy.cfg');
  if (scenarios.some((s) => !s.fresh)) {
    const backendPort = await freePort();
    const backend = await startBackend(join(tmp, 'nginx'), backendPort);
    writeFileSync(cfg, MAIN_CFG);
    writeFileSync(cfgEpoxy, epoxyConfig(MAIN_CFG));
    const ports = { haproxy: await freePort(), epoxy: await freePort() };
    // each proxy its own runtime API socket (the harness reads epoxy's heap and GC counters)
    const statsSocket = (name) => join(tmp, `${name}.sock`);
    const env = (name) => ({ PORT: String(ports[name]), BACKEND: String(backendPort), HOP: String(ports[`${name}Hop`]), STATS: statsSocket(name) });
    ports.haproxyHop = await freePort();
    ports.epoxyHop = await freePort();
    const haproxy = await startProxy('haproxy', cfg, env('haproxy'));
    const epoxy = await startProxy('epoxy', cfgEpoxy, env('epoxy'));
    ctx.proxies = [haproxy, epoxy];
    targets = [
      { name: 'epoxy', port: ports.epoxy, proc: epoxy, backend, statsSocket: statsSocket('epoxy') },
      { name: 'haproxy', port: ports.haproxy, proc: haproxy, backend },
      { name: 'direct', port: backendPort, proc: null, backend },
    ];
    for (const t of targets) await checkAnswers(t);
    console.error(`bench: backend on ${backendPort}, haproxy on ${ports.haproxy}, epoxy on ${ports.epoxy}${chain ? ' (chained)' : ''}, config ${cfg}`);
  }
  const targetNames = ['epoxy', 'haproxy', 'direct'];

  const machine = {
    nproc: ncpu,
    cpuModel: cpus()[0]?.model ?? '',
    kernel: release(),
    node: process.version,
    haproxy: firstLine(tools.haproxy, ['-v']),
    wrk: firstLine(tools.wrk, ['-v']),
    backend: backendKind === 'nginx'
      ? firstLine(tools.nginx, ['-v'])
      : `native responder bench/tools/responder.c (${firstLine(which('cc') ?? which('gcc'), ['--version'])})`,
    pinning: pin ? `taskset: proxy on CPU ${PROXY_CPU}; client and backend on CPU ${LOAD_CPU}` : `none (${tools.taskset ? (ncpu < 2 ? 'fewer than 2 CPUs' : '--no-pin') : 'taskset not found'})`,
    clkTck: CLK_TCK,
    cpuSource: SCHEDSTAT
      ? 'proxy and backend from schedstat (ns, /proc/<pid>/task/*/schedstat over the process tree), client and machine from /proc ticks ' +
        `(${1000 / CLK_TCK} ms)`
      : `/proc ticks (${1000 / CLK_TCK} ms) for everything (this kernel has no schedstat)`,
  };
  const command = `npm run bench${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  console.error(`bench: ${rounds} round(s) × ${duration} s per target, scenarios ${scenarios.map((s) => s.name).join(', ')}${chain ? ', chained' : ''}`);
  console.error(`bench: pinning: ${machine.pinning}; CPU: ${machine.cpuSource}`);

  const idle0 = machineTicks().cpu;
  await new Promise((r) => setTimeout(r, 1000));
  const idle1 = machineTicks().cpu;
  machine.busyBeforePct = (100 * (idle1.busy - idle0.busy)) / (idle1.total - idle0.total);
  if (machine.busyBeforePct > 5) {
    console.error(`bench: WARNING: the machine is ${machine.busyBeforePct.toFixed(0)}% busy before the run (other processes): results will be noisy`);
  }

  const runs = [];
  const measureOnce = async (sc, t, seconds) => {
    if (!sc.fresh) return sc.run(ctx, t, seconds);
    const ft = await freshTarget(t.name);
    try {
      return await sc.run(ctx, ft, seconds);
    } finally {
      await ft.stop();
    }
  };
  for (const sc of scenarios) {
    const scTargets = sc.fresh ? targetNames.map((name) => ({ name })) : targets;
    if (warmup > 0 && !sc.fresh) {
      for (const t of scTargets) {
        try {
          await measureOnce(sc, t, warmup); // warm-up, not recorded
        } catch (err) {
          failures.push({ scenario: sc.name, target: t.name, round: 0, error: String(err?.message ?? err) });
          console.error(`  ${sc.name} warm-up ${t.name}: FAILED: ${err?.message ?? err}`);
        }
      }
    }
    for (let r = 0; r < rounds; r++) {
      // rotate the order each round so no target always runs first (or after the same one)
      const order = scTargets.map((_, i) => scTargets[(i + r) % scTargets.length]);
      for (const t of order) {
        // Other processes on the machine skew every number: wait for it to be quiet, and redo a
        // run during which something else used more than 15% of a core (twice at most).
        let m;
        let redone = 0;
        try {
          for (;;) {
            if (ctx.waitIdle) await waitIdle();
            m = await measureOnce(sc, t, duration);
            if (!ctx.waitIdle || !(m.otherCpuPct > 15) || redone >= 2) break;
            redone++;
            console.error(`  ${sc.name} round ${r + 1} ${t.name}: ${m.otherCpuPct.toFixed(0)}% of a core used by other processes, run again`);
          }
        } catch (err) {
          failures.push({ scenario: sc.name, target: t.name, round: r + 1, error: String(err?.message ?? err) });
          console.error(`  ${sc.name} round ${r + 1} ${t.name.padEnd(7)} FAILED: ${err?.message ?? err}`);
          continue;
        }
        Object.assign(m, { target: t.name, scenario: sc.name, round: r + 1, redone });
        runs.push(m);
        if (!sc.answered(m)) failures.push({ scenario: sc.name, target: t.name, round: r + 1, error: `no answer (${m.errorText || 'nothing completed'})` });
        else if (opts.quick && !(sc.smokeOk ? sc.smokeOk(m) : !(m.errors > 0))) {
          failures.push({ scenario: sc.name, target: t.name, round: r + 1, error: m.errorText });
        }
        console.error(`  ${sc.name} round ${r + 1} ${t.name.padEnd(7)} ${progress(sc, m)}`);
      }
    }
    // Syscalls: one extra run per proxy with perf attached, after the rounds, so that tracing
    // (which slows every syscall on the machine) touches none of the CPU figures above.
    if (sc.syscalls && perf.ok) {
      for (const t of scTargets.filter((x) => x.proc)) {
        try {
          if (ctx.waitIdle) await waitIdle();
          const m = await sc.run(ctx, t, duration, { syscalls: true });
          Object.assign(m, { target: t.name, scenario: sc.name, round: 0, redone: 0 });
          runs.push(m);
          console.error(`  ${sc.name} syscalls ${t.name.padEnd(7)} ${fmt(m.syscallsPerReq, 2)} syscalls/req, ` +
            `proxy CPU ${fmt(m.perfProxyUsPerReq, 2)} µs/req under perf${m.errors ? `  ERRORS: ${m.errorText}` : ''}`);
        } catch (err) {
          // a missing count is a '–' in the report, not a failed bench
          ctx.perfNote = `${sc.name} ${t.name}: syscalls not counted: ${String(err?.message ?? err).split('\n')[0]}`;
          console.error(`  ${ctx.perfNote}`);
        }
      }
    }
  }

  machine.redone = runs.reduce((a, r) => a + (r.redone ?? 0), 0);
  const report = buildReport(runs, scenarios, targetNames, rounds);
  const date = new Date().toISOString();
  const stamp = date.replace(/[:.]/g, '-');
  const jsonRel = `bench/results/${stamp}.json`;
  const markdown = renderMarkdown({ report, scenarios, machine, date, command, jsonRel, info: ctx, failures });
  console.log(markdown);

  const resultsDir = join(root, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  const jsonPath = join(root, jsonRel);
  writeFileSync(jsonPath, JSON.stringify({
    date, command, machine, config: MAIN_CFG, epoxyGlobal: EPOXY_GLOBAL, idleConfig: idleSetup.cfg || null,
    perf: { available: perf.ok, why: perf.why },
    options: { rounds, duration, warmup, connections, bodyBytes, rate, rates, idleConnections: idleSetup.n, chain, scenarios: scenarios.map((s) => s.name) },
    runs, failures, report,
  }, null, 2) + '\n');
  console.error(`bench: wrote ${relative(root, jsonPath)}`);
  if (failures.length) {
    console.error(`bench: ${failures.length} run(s) failed (see "Failed runs"); BENCHMARKS.md and latest.svg left alone`);
    process.exitCode = 1;
    return;
  }
  // The chart goes with BENCHMARKS.md: one file, bench/results/latest.svg, replaced by full runs
  // (timestamped SVGs would pile up untracked; the JSON has everything to redraw one).
  if (!opts.quick && !opts['no-write']) {
    writeFileSync(join(resultsDir, 'latest.svg'), renderSvg(report, scenarios,
      `epoxy vs HAProxy ${machine.haproxy.split(' ')[2] ?? ''}${chain ? ' (chained)' : ''}, ${date.slice(0, 10)} (median, min–max)`));
    console.error('bench: wrote bench/results/latest.svg');
    writeBenchmarks(markdown);
    console.error('bench: updated BENCHMARKS.md (between the bench:begin/bench:end markers)');
  }
}

function writeBenchmarks(markdown) {
  const path = join(root, 'BENCHMARKS.md');
  const begin = '<!-- bench:begin (written by npm run bench) -->';
  const end = '<!-- bench:end -->';
  const block = `${begin}\n${markdown}\n${end}`;
  let text;
  if (existsSync(path)) {
    text = readFileSync(path, 'utf8');
    const a = text.indexOf(begin);
    const b = text.indexOf(end);
    text = a >= 0 && b > a ? text.slice(0, a) + block + text.slice(b + end.length) : `${text.trimEnd()}\n\n${block}\n`;
  } else {
    text = `# Benchmarks\n\nepoxy against HAProxy on the same machine, from \`npm run bench\` (see bench/README.md).\n\n## Latest run\n\n${block}\n`;
  }
  writeFileSync(path, text);
}

try {
  await main();
  await cleanup();
} catch (err) {
  if (!interrupted) console.error(`bench: ${err?.stack ?? err}`);
  await cleanup();
  process.exitCode = 1;
}
