// Keep-alive small requests through several proxies: CPU per request, shared by sockmap.mjs
// and uring.mjs (bench/experiments/README.md). Not run directly: a driver calls
// keepaliveBench({ script, targets, syscalls }) and the command line can override those:
//
//   node bench/experiments/<driver>.mjs [--rounds 3] [--duration 5] [--connections 50]
//        [--targets a,b,...] [--syscalls SECS]
//
// One nginx backend (fixed 128-byte body, bench/harness/lib.mjs's nginxConf) and proxies in
// front of it (TARGETS below), each measured with `wrk -t1 -cN -dDs`, alternating, over the
// rounds. Proxy on CPU 0, wrk and nginx on CPU 1 (taskset). Needs cc, nginx, wrk, haproxy;
// root for the sockmap target (BPF) and for --syscalls (perf tracepoints); liburing for the
// uring targets.
// Per run: requests/s; proxy CPU per request (schedstat of the proxy's threads); CPU 0 (the
// proxy's core) and whole-machine busy time per request from /proc/stat, with the softirq share;
// kworker and ksoftirqd CPU (schedstat of those kernel threads). With --syscalls SECS, after the
// rounds, one more wrk run of SECS per target under `perf stat -e raw_syscalls:sys_enter -p`
// gives the proxy's syscalls per request (its CPU numbers are not used: perf costs some).
// Prints a markdown table of medians (and every run) to stdout.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  CLK_TCK, SCHEDSTAT, firstLine, freePort, httpGet, killAllNow, machineTicks, median, nginxConf, proxyConfig, reapedChildTicks,
  runToEnd, selfTicks, startChild, stopAll, stopChild, treeCpu, waitListening, which,
} from '../harness/lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');

const PROXY_CPU = 0;
const LOAD_CPU = 1;
const BODY_BYTES = 128;
// A run where more than this share of the machine's busy time is not ours is done again (up to
// MAX_ATTEMPTS times): the machine is shared with development work.
const MAX_OTHER_PCT = 5;
const MAX_ATTEMPTS = 4;

// The C relays in this directory, compiled into the temp dir when a target needs them.
const RELAYS = {
  'sockmap-relay': { src: 'sockmap-relay.c', libs: [] },
  'uring-relay': { src: 'uring-relay.c', libs: ['-luring'] },
};
// Targets: a relay with its arguments, or epoxy / haproxy with proxy.cfg.
const TARGETS = {
  sockmap: { relay: 'sockmap-relay', args: ['--mode', 'sockmap'], root: 'BPF_PROG_LOAD of an sk_skb program needs CAP_BPF + CAP_NET_ADMIN' },
  copy: { relay: 'sockmap-relay', args: ['--mode', 'copy'] },
  uring: { relay: 'uring-relay', args: [] }, // SINGLE_ISSUER | DEFER_TASKRUN
  'uring-fixed': { relay: 'uring-relay', args: ['--fixed'] },
  'uring-coop': { relay: 'uring-relay', args: ['--taskrun', 'coop'] },
  'uring-none': { relay: 'uring-relay', args: ['--taskrun', 'none'] },
  epoxy: {},
  haproxy: {},
};

let script = 'keepalive.mjs';
let tools = null;
let tmp = null;

function fail(msg) {
  console.error(`${script}: ${msg}`);
  process.exit(1);
}

const pinned = (cpu, cmd, args) => [tools.taskset, ['-c', String(cpu), cmd, ...args]];

// ---------------------------------------------------------------------------------------------
// CPU sources.

/** schedstat run time (ns) of every kernel thread whose comm starts with one of `prefixes`. */
function kthreadNs() {
  const out = { kworker: 0, ksoftirqd: 0 };
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8');
      const key = comm.startsWith('kworker') ? 'kworker' : comm.startsWith('ksoftirqd') ? 'ksoftirqd' : null;
      if (!key) continue;
      out[key] += Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
    } catch { /* exited meanwhile */ }
  }
  return out;
}

/** /proc/stat per CPU: busy (all but idle+iowait) and softirq, in ticks. */
function procStat() {
  const m = machineTicks();
  return { all: m.cpu, cpu0: m.cpu0, cpu1: m.cpu1 };
}

async function waitIdle() {
  for (let i = 0; i < 60; i++) {
    const a = machineTicks().cpu;
    await new Promise((r) => setTimeout(r, 500));
    const b = machineTicks().cpu;
    if ((100 * (b.busy - a.busy)) / (b.total - a.total) < 10) return;
  }
  console.error('  (machine not idle after 30 s, measuring anyway)');
}

// ---------------------------------------------------------------------------------------------
// Runs.

/** One measured wrk run through target t (after a warm-up); redone if the machine was disturbed. */
async function measure(t, nginx, o, label) {
  let m;
  for (let attempt = 1; ; attempt++) {
    await waitIdle();
    const url = `http://127.0.0.1:${t.port}/`;
    const wrk = (secs) => runToEnd('wrk', ...pinned(LOAD_CPU, tools.wrk, ['-t1', `-c${o.connections}`, `-d${secs}s`, url]));
    if (o.warmup > 0) await wrk(o.warmup);
    const w0 = reapedChildTicks() + selfTicks();
    const p0 = treeCpu(t.proc.pid).ns;
    const n0 = treeCpu(nginx.pid).ns;
    const k0 = kthreadNs();
    const s0 = procStat();
    const r = await wrk(o.duration);
    const s1 = procStat();
    const k1 = kthreadNs();
    const n1 = treeCpu(nginx.pid).ns;
    const p1 = treeCpu(t.proc.pid).ns;
    const w1 = reapedChildTicks() + selfTicks();
    const { reqs, rps, errors } = wrkResult(r);
    const usPerTick = 1e6 / CLK_TCK;
    m = {
      rps,
      reqs,
      errors,
      proxyUs: (p1 - p0) / 1000 / reqs,
      nginxUs: (n1 - n0) / 1000 / reqs,
      cpu0Us: ((s1.cpu0.busy - s0.cpu0.busy) * usPerTick) / reqs,
      cpu1Us: ((s1.cpu1.busy - s0.cpu1.busy) * usPerTick) / reqs,
      machineUs: ((s1.all.busy - s0.all.busy) * usPerTick) / reqs,
      softirqUs: ((s1.all.softirq - s0.all.softirq) * usPerTick) / reqs,
      softirqPct: (100 * (s1.all.softirq - s0.all.softirq)) / (s1.all.busy - s0.all.busy),
      cpu0Pct: (100 * (s1.cpu0.busy - s0.cpu0.busy)) / (s1.cpu0.total - s0.cpu0.total),
      cpu1Pct: (100 * (s1.cpu1.busy - s0.cpu1.busy)) / (s1.cpu1.total - s0.cpu1.total),
      kworkerUs: (k1.kworker - k0.kworker) / 1000 / reqs,
      ksoftirqdUs: (k1.ksoftirqd - k0.ksoftirqd) / 1000 / reqs,
      wrkUs: ((w1 - w0) * usPerTick) / reqs, // wrk (reaped child) + this script
    };
    // CPU nobody here accounts for: other processes on the machine (a disturbed run). Not
    // minus softirq: on this kernel a task's run time includes the softirqs it serves
    // (loopback: the receiver's TCP path runs in softirq on the sender's thread).
    // The same total from the tasks' own clocks (schedstat; wrk's utime+stime): /proc/stat's
    // busy time is sampled per tick, this is not.
    m.tasksUs = m.proxyUs + m.nginxUs + m.wrkUs + m.kworkerUs + m.ksoftirqdUs;
    m.otherUs = m.machineUs - m.tasksUs;
    m.otherPct = (100 * m.otherUs) / m.machineUs;
    if (m.otherPct <= MAX_OTHER_PCT || attempt === MAX_ATTEMPTS) break;
    console.error(`${label} ${t.name}: disturbed (${m.otherPct.toFixed(0)}% of the machine's CPU was other processes), again`);
  }
  console.error(`${label} ${t.name.padEnd(8)} ${m.rps.toFixed(0)} req/s  proxy ${m.proxyUs.toFixed(2)} µs/req  cpu0 ${m.cpu0Us.toFixed(2)}  machine ${m.machineUs.toFixed(2)} µs/req` +
    `  (softirq ${m.softirqPct.toFixed(0)}%, kworker ${m.kworkerUs.toFixed(2)}, ksoftirqd ${m.ksoftirqdUs.toFixed(2)} µs/req; other ${m.otherPct.toFixed(0)}%; cpu0 ${m.cpu0Pct.toFixed(0)}% cpu1 ${m.cpu1Pct.toFixed(0)}%)${m.errors ? `  ERRORS ${m.errors}` : ''}`);
  return m;
}

function wrkResult(r) {
  if (r.code !== 0) fail(`wrk exited ${r.code}:\n${r.output}`);
  return {
    reqs: Number(/(\d+) requests in/.exec(r.output)?.[1]),
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(r.output)?.[1]),
    errors: /Socket errors:.*|Non-2xx.*/.exec(r.output)?.[0] ?? '',
  };
}

/**
 * The proxy's syscalls per request: `perf stat -e raw_syscalls:sys_enter -p PID` (all its
 * threads) around a wrk run of `secs`, started 0.3 s after perf and ending ~0.3 s before it (an
 * idle relay makes no syscalls; epoxy's and HAProxy's timers add a few).
 */
async function syscallsPerRequest(t, o, secs) {
  await waitIdle();
  const url = `http://127.0.0.1:${t.port}/`;
  if (o.warmup > 0) wrkResult(await runToEnd('wrk', ...pinned(LOAD_CPU, tools.wrk, ['-t1', `-c${o.connections}`, `-d${o.warmup}s`, url])));
  const perf = runToEnd('perf', tools.perf, ['stat', '-x,', '-e', 'raw_syscalls:sys_enter', '-p', String(t.proc.pid), '--', 'sleep', String(secs + 0.6)]);
  await new Promise((r) => setTimeout(r, 300));
  const w = wrkResult(await runToEnd('wrk', ...pinned(LOAD_CPU, tools.wrk, ['-t1', `-c${o.connections}`, `-d${secs}s`, url])));
  const p = await perf;
  const line = p.output.split('\n').find((l) => l.includes('raw_syscalls:sys_enter'));
  const count = Number(line?.split(',')[0]);
  if (p.code !== 0 || !Number.isFinite(count)) fail(`perf stat failed (${p.code}):\n${p.output}`);
  const s = { syscallsPerReq: count / w.reqs, syscallRps: w.rps };
  console.error(`syscalls ${t.name.padEnd(8)} ${count} syscalls, ${w.reqs} requests: ${s.syscallsPerReq.toFixed(3)} per request (${w.rps.toFixed(0)} req/s under perf)`);
  return s;
}

function report(targets, o) {
  const cols = [
    ['rps', 'req/s', 0],
    ['proxyUs', 'proxy CPU µs/req', 2],
    ['cpu0Us', 'CPU 0 (proxy core) µs/req', 2],
    ['cpu1Us', 'CPU 1 (wrk+nginx core) µs/req', 2],
    ['machineUs', 'machine CPU µs/req', 2],
    ['tasksUs', 'tasks CPU µs/req', 2],
    ['softirqPct', 'softirq % of machine', 0],
    ['kworkerUs', 'kworker µs/req', 2],
    ['ksoftirqdUs', 'ksoftirqd µs/req', 2],
    ['nginxUs', 'nginx µs/req', 2],
    ['wrkUs', 'wrk µs/req', 2],
    ['otherPct', 'unaccounted % of machine', 0],
    ['cpu0Pct', 'CPU 0 busy %', 0],
    ['cpu1Pct', 'CPU 1 busy %', 0],
  ];
  const med = (t, k) => median(t.runs.map((r) => r[k]));
  const ha = targets.find((t) => t.name === 'haproxy');
  const lines = [];
  lines.push(`Medians of ${o.rounds} rounds, \`wrk -t1 -c${o.connections} -d${o.duration}s\`, ${BODY_BYTES}-byte responses, proxy on CPU ${PROXY_CPU}, wrk+nginx on CPU ${LOAD_CPU}; ` +
    `kernel ${firstLine('uname', ['-r'])}, ${firstLine(tools.haproxy, ['-v'])}, ${firstLine(tools.nginx, ['-v'])}, node ${process.version}.`);
  lines.push('');
  lines.push(`| target | ${cols.map((c) => c[1]).join(' | ')} |`);
  lines.push(`|---|${cols.map(() => '---:').join('|')}|`);
  for (const t of targets) lines.push(`| ${t.name} | ${cols.map(([k, , d]) => med(t, k).toFixed(d)).join(' | ')} |`);
  if (ha) {
    lines.push('');
    lines.push('Ratios vs haproxy (medians):');
    lines.push('');
    const rc = [['rps', 'req/s'], ['proxyUs', 'proxy CPU/req'], ['cpu0Us', 'CPU 0/req'], ['machineUs', 'machine CPU/req'], ['tasksUs', 'tasks CPU/req']];
    lines.push(`| target | ${rc.map((c) => c[1]).join(' | ')} |`);
    lines.push(`|---|${rc.map(() => '---:').join('|')}|`);
    for (const t of targets) lines.push(`| ${t.name} | ${rc.map(([k]) => (med(t, k) / med(ha, k)).toFixed(2)).join(' | ')} |`);
  }
  if (o.syscalls > 0) {
    lines.push('');
    lines.push(`Proxy syscalls per request (\`perf stat -e raw_syscalls:sys_enter -p\`, one separate ${o.syscalls} s run per target):`);
    lines.push('');
    lines.push('| target | syscalls/req | req/s under perf |');
    lines.push('|---|---:|---:|');
    for (const t of targets) lines.push(`| ${t.name} | ${t.sys.syscallsPerReq.toFixed(3)} | ${t.sys.syscallRps.toFixed(0)} |`);
  }
  lines.push('');
  lines.push('Every run (req/s; proxy / CPU 0 / machine µs per request; softirq %; kworker µs/req; unaccounted %):');
  lines.push('');
  for (const t of targets) {
    lines.push(`- ${t.name}: ${t.runs.map((r) => `${r.rps.toFixed(0)}; ${r.proxyUs.toFixed(2)} / ${r.cpu0Us.toFixed(2)} / ${r.machineUs.toFixed(2)}; ${r.softirqPct.toFixed(0)}%; ${r.kworkerUs.toFixed(2)}; ${r.otherPct.toFixed(0)}%${r.errors ? `; ${r.errors}` : ''}`).join(' · ')}`);
  }
  for (const t of targets) if (t.stats) lines.push(`- ${t.name} relay counters: ${t.stats.replace(/^[\w-]+-relay: /, '')}`);
  console.log(lines.join('\n'));
}

async function main(o) {
  tmp = mkdtempSync(join(tmpdir(), `epoxy-${script.replace(/\.mjs$/, '')}-`));
  const generator = `bench/experiments/${script}`;
  // Build the relays the targets need.
  const bins = {};
  for (const name of o.targets) {
    const relay = TARGETS[name].relay;
    if (!relay || bins[relay]) continue;
    bins[relay] = join(tmp, relay);
    const cc = spawnSync(tools.cc, ['-O2', '-Wall', '-Wextra', '-Werror', '-o', bins[relay], join(here, RELAYS[relay].src), ...RELAYS[relay].libs], { encoding: 'utf8' });
    if (cc.status !== 0) fail(`compiling ${RELAYS[relay].src} failed:\n${cc.stdout}${cc.stderr}`);
  }
  if (o.targets.includes('epoxy') && !existsSync(join(root, 'dist/cli.js'))) {
    console.error('dist/ missing: npm run build');
    const b = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
    if (b.status !== 0) fail('npm run build failed');
  }

  // Backend.
  const backendPort = await freePort();
  writeFileSync(join(tmp, 'nginx.conf'), nginxConf({ dir: tmp, port: backendPort, bodyBytes: BODY_BYTES, generator }));
  const [ncmd, nargs] = pinned(LOAD_CPU, tools.nginx, ['-p', tmp, '-c', join(tmp, 'nginx.conf'), '-e', join(tmp, 'nginx-error.log')]);
  const nginx = startChild('nginx', ncmd, nargs);
  await waitListening(nginx, backendPort);

  // Proxies.
  const cfg = join(tmp, 'proxy.cfg');
  // bench/harness/run.mjs's configuration for keep-alive (not chained), maxconn above wrk's 50.
  writeFileSync(cfg, proxyConfig({ maxconn: 4096, generator }));
  const targets = [];
  for (const name of o.targets) {
    const port = await freePort();
    const def = TARGETS[name];
    let cmd;
    let args;
    if (def.relay) [cmd, args] = pinned(PROXY_CPU, bins[def.relay], ['--listen', String(port), '--backend', String(backendPort), ...def.args]);
    else if (name === 'epoxy') [cmd, args] = pinned(PROXY_CPU, process.execPath, [join(root, 'bin/epoxy'), '-f', cfg]);
    else [cmd, args] = pinned(PROXY_CPU, tools.haproxy, ['-db', '-f', cfg]);
    const proc = startChild(name, cmd, args, { env: { PORT: String(port), BACKEND: String(backendPort) } });
    await waitListening(proc, port);
    const reply = await httpGet(port);
    if (!reply.startsWith('HTTP/1.1 200')) fail(`${name}: unexpected reply ${JSON.stringify(reply.slice(0, 100))}\n${proc.output()}`);
    targets.push({ name, port, proc, runs: [] });
  }
  console.error(`backend nginx on ${backendPort}; ${targets.map((t) => `${t.name} on ${t.port}`).join(', ')}`);

  for (let round = 1; round <= o.rounds; round++) {
    for (const t of targets) t.runs.push(await measure(t, nginx, o, `round ${round}`));
  }
  if (o.syscalls > 0) for (const t of targets) t.sys = await syscallsPerRequest(t, o, o.syscalls);

  for (const t of targets) {
    await stopChild(t.proc);
    if (TARGETS[t.name].relay) t.stats = t.proc.output().trim().split('\n').pop();
  }
  await stopChild(nginx);
  report(targets, o);
}

/**
 * Runs the measurement. `script` names the driver (messages, temp dir, generated files);
 * `targets` and `syscalls` are the defaults of --targets and --syscalls.
 */
export async function keepaliveBench({ script: name, targets: defaultTargets, syscalls: defaultSyscalls = 0 }) {
  script = name;
  const { values: opts } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      duration: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      connections: { type: 'string', default: '50' },
      targets: { type: 'string', default: defaultTargets.join(',') },
      syscalls: { type: 'string', default: String(defaultSyscalls) },
    },
  });
  const o = {
    rounds: Number(opts.rounds),
    duration: Number(opts.duration),
    warmup: Number(opts.warmup),
    connections: Number(opts.connections),
    targets: opts.targets.split(','),
    syscalls: Number(opts.syscalls),
  };
  for (const t of o.targets) if (!TARGETS[t]) fail(`unknown target ${t} (known: ${Object.keys(TARGETS).join(', ')})`);

  tools = { haproxy: which('haproxy'), wrk: which('wrk'), nginx: which('nginx'), taskset: which('taskset'), cc: which('cc') ?? which('gcc') };
  for (const [k, v] of Object.entries(tools)) if (!v) fail(`${k} not found on PATH`);
  if (o.syscalls > 0 && !(tools.perf = which('perf'))) fail('perf not found on PATH (needed for --syscalls)');
  if (!SCHEDSTAT) fail('this kernel has no schedstat (needed for ns CPU per thread)');
  const why = [...o.targets.map((t) => TARGETS[t].root), o.syscalls > 0 && 'perf tracepoints'].filter(Boolean);
  if (why.length && process.getuid?.() !== 0) fail(`run as root (${why.join('; ')})`);

  process.on('exit', () => {
    killAllNow();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

  try {
    await main(o);
  } catch (err) {
    console.error(`${script}: ${err?.stack ?? err}`);
    process.exitCode = 1;
  }
  await stopAll();
}
