// Does a sockmap data path cut the CPU per keep-alive request? (bench/experiments/README.md)
//
//   node bench/experiments/sockmap.mjs [--rounds 3] [--duration 5] [--connections 50]
//
// One nginx backend (fixed 128-byte body, bench/harness/lib.mjs's nginxConf) and four proxies
// in front of it, each measured with `wrk -t1 -cN -dDs`, alternating, over the rounds:
//   sockmap  bench/experiments/sockmap-relay --mode sockmap  (BPF sk_skb verdict redirect)
//   copy     bench/experiments/sockmap-relay --mode copy     (epoll + recv/send, same program)
//   epoxy    node bin/epoxy -f proxy.cfg
//   haproxy  haproxy -db -f proxy.cfg                        (the same file)
// Proxy on CPU 0, wrk and nginx on CPU 1 (taskset). Needs root (BPF), cc, nginx, wrk, haproxy.
// Per run: requests/s; proxy CPU per request (schedstat of the proxy's threads); CPU 0 (the
// proxy's core) and whole-machine busy time per request from /proc/stat, with the softirq share;
// kworker and ksoftirqd CPU (schedstat of those kernel threads). Prints a markdown table of
// medians (and every run) to stdout.
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

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '50' },
    targets: { type: 'string', default: 'sockmap,copy,epoxy,haproxy' },
  },
});
const rounds = Number(opts.rounds);
const duration = Number(opts.duration);
const warmup = Number(opts.warmup);
const connections = Number(opts.connections);
const targetNames = opts.targets.split(',');
const PROXY_CPU = 0;
const LOAD_CPU = 1;
const BODY_BYTES = 128;
// A run where more than this share of the machine's busy time is not ours is done again (up to
// MAX_ATTEMPTS times): the machine is shared with development work.
const MAX_OTHER_PCT = 5;
const MAX_ATTEMPTS = 4;

function fail(msg) {
  console.error(`sockmap.mjs: ${msg}`);
  process.exit(1);
}

const tools = { haproxy: which('haproxy'), wrk: which('wrk'), nginx: which('nginx'), taskset: which('taskset'), cc: which('cc') ?? which('gcc') };
for (const [k, v] of Object.entries(tools)) if (!v) fail(`${k} not found on PATH`);
if (!SCHEDSTAT) fail('this kernel has no schedstat (needed for ns CPU per thread)');
if (process.getuid?.() !== 0) fail('run as root (BPF_PROG_LOAD of an sk_skb program needs CAP_BPF + CAP_NET_ADMIN)');

let tmp = null;
process.on('exit', () => {
  killAllNow();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

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
// Setup.


async function main() {
  tmp = mkdtempSync(join(tmpdir(), 'epoxy-sockmap-'));
  // Build the relay.
  const relayBin = join(tmp, 'sockmap-relay');
  const cc = spawnSync(tools.cc, ['-O2', '-Wall', '-Wextra', '-Werror', '-o', relayBin, join(here, 'sockmap-relay.c')], { encoding: 'utf8' });
  if (cc.status !== 0) fail(`compiling sockmap-relay.c failed:\n${cc.stdout}${cc.stderr}`);
  if (targetNames.includes('epoxy') && !existsSync(join(root, 'dist/cli.js'))) {
    console.error('dist/ missing: npm run build');
    const b = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
    if (b.status !== 0) fail('npm run build failed');
  }

  // Backend.
  const backendPort = await freePort();
  writeFileSync(join(tmp, 'nginx.conf'), nginxConf({ dir: tmp, port: backendPort, bodyBytes: BODY_BYTES, generator: 'bench/experiments/sockmap.mjs' }));
  const [ncmd, nargs] = pinned(LOAD_CPU, tools.nginx, ['-p', tmp, '-c', join(tmp, 'nginx.conf'), '-e', join(tmp, 'nginx-error.log')]);
  const nginx = startChild('nginx', ncmd, nargs);
  await waitListening(nginx, backendPort);

  // Proxies.
  const cfg = join(tmp, 'proxy.cfg');
  // bench/harness/run.mjs's configuration for keep-alive (not chained), maxconn above wrk's 50.
  writeFileSync(cfg, proxyConfig({ maxconn: 4096, generator: 'bench/experiments/sockmap.mjs' }));
  const targets = [];
  for (const name of targetNames) {
    const port = await freePort();
    let cmd;
    let args;
    if (name === 'sockmap' || name === 'copy') [cmd, args] = pinned(PROXY_CPU, relayBin, ['--listen', String(port), '--backend', String(backendPort), '--mode', name]);
    else if (name === 'epoxy') [cmd, args] = pinned(PROXY_CPU, process.execPath, [join(root, 'bin/epoxy'), '-f', cfg]);
    else if (name === 'haproxy') [cmd, args] = pinned(PROXY_CPU, tools.haproxy, ['-db', '-f', cfg]);
    else fail(`unknown target ${name}`);
    const proc = startChild(name, cmd, args, { env: { PORT: String(port), BACKEND: String(backendPort) } });
    await waitListening(proc, port);
    const reply = await httpGet(port);
    if (!reply.startsWith('HTTP/1.1 200')) fail(`${name}: unexpected reply ${JSON.stringify(reply.slice(0, 100))}\n${proc.output()}`);
    targets.push({ name, port, proc, runs: [] });
  }
  console.error(`backend nginx on ${backendPort}; ${targets.map((t) => `${t.name} on ${t.port}`).join(', ')}`);

  // Runs.
  for (let round = 1; round <= rounds; round++) {
    for (const t of targets) {
      let m;
      for (let attempt = 1; ; attempt++) {
        await waitIdle();
        const url = `http://127.0.0.1:${t.port}/`;
        const wrk = (secs) => runToEnd('wrk', ...pinned(LOAD_CPU, tools.wrk, ['-t1', `-c${connections}`, `-d${secs}s`, url]));
        if (warmup > 0) await wrk(warmup);
        const w0 = reapedChildTicks() + selfTicks();
        const p0 = treeCpu(t.proc.pid).ns;
        const n0 = treeCpu(nginx.pid).ns;
        const k0 = kthreadNs();
        const s0 = procStat();
        const r = await wrk(duration);
        const s1 = procStat();
        const k1 = kthreadNs();
        const n1 = treeCpu(nginx.pid).ns;
        const p1 = treeCpu(t.proc.pid).ns;
        const w1 = reapedChildTicks() + selfTicks();
        if (r.code !== 0) fail(`wrk exited ${r.code}:\n${r.output}`);
        const reqs = Number(/(\d+) requests in/.exec(r.output)?.[1]);
        const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.output)?.[1]);
        const errors = /Socket errors:.*|Non-2xx.*/.exec(r.output)?.[0] ?? '';
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
        m.otherUs = m.machineUs - m.proxyUs - m.nginxUs - m.wrkUs - m.kworkerUs - m.ksoftirqdUs;
        m.otherPct = (100 * m.otherUs) / m.machineUs;
        if (m.otherPct <= MAX_OTHER_PCT || attempt === MAX_ATTEMPTS) break;
        console.error(`round ${round} ${t.name}: disturbed (${m.otherPct.toFixed(0)}% of the machine's CPU was other processes), again`);
      }
      t.runs.push(m);
      console.error(`round ${round} ${t.name.padEnd(8)} ${m.rps.toFixed(0)} req/s  proxy ${m.proxyUs.toFixed(2)} µs/req  cpu0 ${m.cpu0Us.toFixed(2)}  machine ${m.machineUs.toFixed(2)} µs/req` +
        `  (softirq ${m.softirqPct.toFixed(0)}%, kworker ${m.kworkerUs.toFixed(2)}, ksoftirqd ${m.ksoftirqdUs.toFixed(2)} µs/req; other ${m.otherPct.toFixed(0)}%; cpu0 ${m.cpu0Pct.toFixed(0)}% cpu1 ${m.cpu1Pct.toFixed(0)}%)${m.errors ? `  ERRORS ${m.errors}` : ''}`);
    }
  }

  for (const t of targets) {
    await stopChild(t.proc);
    if (t.name === 'sockmap' || t.name === 'copy') t.stats = t.proc.output().trim().split('\n').pop();
  }
  await stopChild(nginx);

  // Report.
  const cols = [
    ['rps', 'req/s', 0],
    ['proxyUs', 'proxy CPU µs/req', 2],
    ['cpu0Us', 'CPU 0 (proxy core) µs/req', 2],
    ['cpu1Us', 'CPU 1 (wrk+nginx core) µs/req', 2],
    ['machineUs', 'machine CPU µs/req', 2],
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
  lines.push(`Medians of ${rounds} rounds, \`wrk -t1 -c${connections} -d${duration}s\`, ${BODY_BYTES}-byte responses, proxy on CPU ${PROXY_CPU}, wrk+nginx on CPU ${LOAD_CPU}; ` +
    `kernel ${firstLine('uname', ['-r'])}, ${firstLine(tools.haproxy, ['-v'])}, ${firstLine(tools.nginx, ['-v'])}, node ${process.version}.`);
  lines.push('');
  lines.push(`| target | ${cols.map((c) => c[1]).join(' | ')} |`);
  lines.push(`|---|${cols.map(() => '---:').join('|')}|`);
  for (const t of targets) lines.push(`| ${t.name} | ${cols.map(([k, , d]) => med(t, k).toFixed(d)).join(' | ')} |`);
  if (ha) {
    lines.push('');
    lines.push('Ratios vs haproxy (medians):');
    lines.push('');
    const rc = [['rps', 'req/s'], ['proxyUs', 'proxy CPU/req'], ['cpu0Us', 'CPU 0/req'], ['machineUs', 'machine CPU/req']];
    lines.push(`| target | ${rc.map((c) => c[1]).join(' | ')} |`);
    lines.push(`|---|${rc.map(() => '---:').join('|')}|`);
    for (const t of targets) lines.push(`| ${t.name} | ${rc.map(([k]) => (med(t, k) / med(ha, k)).toFixed(2)).join(' | ')} |`);
  }
  lines.push('');
  lines.push('Every run (req/s; proxy / CPU 0 / machine µs per request; softirq %; kworker µs/req; unaccounted %):');
  lines.push('');
  for (const t of targets) {
    lines.push(`- ${t.name}: ${t.runs.map((r) => `${r.rps.toFixed(0)}; ${r.proxyUs.toFixed(2)} / ${r.cpu0Us.toFixed(2)} / ${r.machineUs.toFixed(2)}; ${r.softirqPct.toFixed(0)}%; ${r.kworkerUs.toFixed(2)}; ${r.otherPct.toFixed(0)}%${r.errors ? `; ${r.errors}` : ''}`).join(' · ')}`);
  }
  for (const t of targets) if (t.stats) lines.push(`- ${t.name} relay counters: ${t.stats.replace(/^sockmap-relay: /, '')}`);
  console.log(lines.join('\n'));
}

try {
  await main();
} catch (err) {
  console.error(`sockmap.mjs: ${err?.stack ?? err}`);
  process.exitCode = 1;
}
await stopAll();
