// The harness's scenarios as definition objects: what load each one puts on a target, what it
// measures, which epoxy/HAProxy ratios it reports and which targets of issue 5 it is judged by.
// run.mjs owns the processes and the rounds; report.mjs turns the numbers into markdown.
//
// A scenario:
//   name, title         key for --scenarios, heading of its section
//   needs               'loadgen' (our fixed-rate/idle client, built before the runs); either
//                       backend (nginx, the native responder) serves every scenario
//   fresh               true: each run starts its own backend and proxy (run.mjs freshTarget())
//   load(ctx)           one sentence: the load it puts on each target
//   run(ctx, target, seconds)  one measured run → a flat object of numbers (see COMMON_METRICS)
//   answered(m)         whether the target answered at all in that run (false fails the bench)
//   smokeOk(m)          --quick: whether the run counts as clean (default: no errors)
//   metrics, ratios     [key, label, digits] rows of its table, [key, label] epoxy/HAProxy rows
//   goals               targets of the issue: [key, label, '<=' | '>=', bound]
//   svg                 [key, label, digits] the chart's panels (headline metrics)
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CLK_TCK, SCHEDSTAT, machineTicks, readActivity, reapedChildTicks, runToEnd, startChild, selfTicks, slabBytes, socketFds, tcpSockstat, treeCpu, treeRssBytes, treeTicks,
  waitFor,
} from './lib.mjs';

const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// CPU around a run.

/**
 * Opens a CPU window on a target: returns end(), which gives the CPU each party used since.
 * The proxy's and the backend's CPU come from schedstat (ns) when the kernel has it, else from
 * /proc/<pid>/stat ticks; the client (reaped: wrk, loadgen), this process and the machine are in
 * ticks, which is all /proc offers for them.
 */
export function cpuWindow(ctx, target) {
  const others = ctx.proxies.filter((p) => p !== target.proc);
  const snap = () => ({
    proxy: target.proc ? treeCpu(target.proc.pid) : null,
    backend: treeCpu(target.backend.pid),
    client: reapedChildTicks(),
    self: selfTicks(),
    others: others.map((p) => (p.exited ? 0 : treeTicks(p.pid))),
    machine: machineTicks(),
    t: process.hrtime.bigint(),
  });
  const before = snap();
  return () => {
    const after = snap();
    const wall = Number(after.t - before.t) / 1e9;
    const usPerTick = 1e6 / CLK_TCK;
    const us = (a, b) => (SCHEDSTAT ? (a.ns - b.ns) / 1e3 : (a.ticks - b.ticks) * usPerTick);
    const proxyTicks = target.proc ? after.proxy.ticks - before.proxy.ticks : 0;
    const backendTicks = after.backend.ticks - before.backend.ticks;
    const clientTicks = after.client - before.client;
    const machineBusy = after.machine.cpu.busy - before.machine.cpu.busy;
    const ours = proxyTicks + backendTicks + clientTicks + (after.self - before.self) +
      after.others.reduce((a, x, i) => a + x - before.others[i], 0);
    const cpuBusy = (key) => {
      const a = after.machine[key];
      const b = before.machine[key];
      return a && b && a.total > b.total ? (100 * (a.busy - b.busy)) / (a.total - b.total) : NaN;
    };
    return {
      wall,
      proxyUs: target.proc ? us(after.proxy, before.proxy) : NaN,
      proxyUsTicks: target.proc ? proxyTicks * usPerTick : NaN,
      backendUs: us(after.backend, before.backend),
      clientUs: clientTicks * usPerTick,
      machineUs: machineBusy * usPerTick,
      otherUs: (machineBusy - ours) * usPerTick,
      cpu0BusyPct: cpuBusy('cpu0'),
      cpu1BusyPct: cpuBusy('cpu1'),
    };
  };
}

/** The rows every CPU-measured scenario shares, from a cpuWindow() result. */
function commonCpu(c, clientUs = c.clientUs) {
  const pct = (us) => (100 * us / 1e6) / c.wall; // % of one core
  return {
    proxyCpuPct: pct(c.proxyUs),
    clientCpuPct: pct(clientUs),
    backendCpuPct: pct(c.backendUs),
    otherCpuPct: pct(c.otherUs),
    cpu0BusyPct: c.cpu0BusyPct,
    cpu1BusyPct: c.cpu1BusyPct,
  };
}

export const COMMON_METRICS = [
  ['proxyCpuPct', 'proxy % core', 0],
  ['clientCpuPct', 'client % core', 0],
  ['backendCpuPct', 'backend % core', 0],
  ['otherCpuPct', 'other % (not ours)', 0],
  ['cpu0BusyPct', 'CPU0 busy %', 0],
  ['cpu1BusyPct', 'CPU1 busy %', 0],
  ['errors', 'errors', 0],
];

function assertAlive(target) {
  for (const p of [target.backend, target.proc].filter(Boolean)) {
    if (p.exited) throw new Error(`${p.name} exited (${p.code}) during the run:\n${p.output()}`);
  }
}

// ---------------------------------------------------------------------------------------------
// wrk.

function parseDuration(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * { us: 1e-3, ms: 1, s: 1e3, m: 60e3 }[m[2]];
}

export function parseWrk(out) {
  const num = (re) => { const m = re.exec(out); return m ? Number(m[1]) : NaN; };
  const lat = (p) => { const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out); return m ? parseDuration(m[1]) : NaN; };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  // printed by SUMMARY_LUA: exact body+header bytes and wrk's own run time
  const exact = /^bench-summary bytes=(\d+) duration_us=(\d+)$/m.exec(out);
  return {
    requests: num(/(\d+) requests in/),
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    p50ms: lat(50),
    p99ms: lat(99),
    bytes: exact ? Number(exact[1]) : NaN,
    durationUs: exact ? Number(exact[2]) : NaN,
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/) || 0,
    socketErrors: sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    socketErrorText: sock ? sock[0] : '',
  };
}

// wrk prints Transfer/sec with 3 significant digits; its done() hook has the exact byte count.
// A script with only done() keeps wrk on its static request: no Lua runs per request.
const SUMMARY_LUA = `done = function(summary, latency, requests)
  io.write(string.format("bench-summary bytes=%d duration_us=%d\\n", summary.bytes, summary.duration))
end
`;

export function writeWrkScript(dir) {
  const path = join(dir, 'summary.lua');
  writeFileSync(path, SUMMARY_LUA);
  return path;
}

// ---------------------------------------------------------------------------------------------
// Syscalls (perf) and the JS heap (epoxy's `show activity`) around a run.

/**
 * Starts counting the syscalls of every thread of process `pid` with the kernel's
 * raw_syscalls:sys_enter tracepoint (`perf stat -p`, as bench/relay-syscalls.mjs does); resolves
 * stop(), which detaches perf and resolves the count. Enabling the tracepoint sends every
 * syscall of the machine through the slow tracing path, so runs that count syscalls are extra
 * runs whose CPU is not reported with the others (bench/README.md).
 */
export async function startSyscallCount(ctx, pid) {
  const out = join(ctx.tmp, `perf-${pid}-${Date.now()}.txt`);
  const child = startChild('perf', ctx.perf.bin, ['stat', '-x', ',', '-e', 'raw_syscalls:sys_enter', '-p', String(pid), '-o', out]);
  // perf prints nothing once its counters are open: give it time (the proxy is idle meanwhile,
  // so the wait adds a handful of timer wake-ups to a count of tens of thousands)
  await new Promise((r) => setTimeout(r, 500));
  if (child.exited) throw new Error(`perf exited (${child.code}): ${child.output().trim()}`);
  return async () => {
    const exited = new Promise((r) => (child.exited ? r() : child.proc.once('exit', r)));
    child.proc.kill('SIGINT');
    await exited;
    const text = readFileSync(out, 'utf8');
    rmSync(out, { force: true });
    const line = text.split('\n').find((l) => l.split(',')[2] === 'raw_syscalls:sys_enter');
    const n = line ? Number(line.split(',')[0]) : NaN;
    if (!Number.isFinite(n)) throw new Error(`perf counted nothing: ${text.trim()}`);
    return n;
  };
}

/** epoxy's heap and GC counters, or null (HAProxy, direct: no JS; or the socket did not answer). */
async function heapFigures(target) {
  if (!target.statsSocket) return null;
  try {
    return await readActivity(target.statsSocket);
  } catch {
    return null;
  }
}

/** Per-request JS heap figures between two `show activity` reads (NaN when either is missing). */
function heapPer(h0, h1, requests) {
  const d = (k) => (h0 && h1 && Number.isFinite(h0[k]) && Number.isFinite(h1[k]) ? h1[k] - h0[k] : NaN);
  return {
    heapBytesPerReq: d('heapAllocatedBytes') / requests,
    scavengesPer10k: (1e4 * d('gcScavenges')) / requests,
    markCompactsPer10k: (1e4 * d('gcMarkCompacts')) / requests,
    gcPauseUsPerReq: d('gcPauseUs') / requests,
  };
}

async function runWrk(ctx, target, seconds, { connections, path = '/', headers = [], timeout = '2s', script = false, syscalls = false }) {
  const args = ['-t', '1', '-c', String(connections), '-d', `${seconds}s`, '--timeout', timeout, '--latency',
    ...headers, ...(script ? ['-s', ctx.wrkScript] : []), `http://127.0.0.1:${target.port}${path}`];
  const [cmd, cmdArgs] = ctx.pinned(ctx.LOAD_CPU, ctx.tools.wrk, args);
  const h0 = await heapFigures(target); // outside the CPU window: the read costs epoxy a little
  const stopCount = syscalls ? await startSyscallCount(ctx, target.proc.pid) : null;
  const end = cpuWindow(ctx, target);
  const { code, output } = await runToEnd('wrk', cmd, cmdArgs);
  const c = end();
  const syscallCount = stopCount ? await stopCount() : NaN;
  const h1 = await heapFigures(target);
  if (code !== 0) throw new Error(`wrk failed (exit ${code}) against ${target.name}:\n${output}`);
  assertAlive(target);
  const w = parseWrk(output);
  return {
    w, c, syscallCount, heap: heapPer(h0, h1, w.requests),
    base: {
      seconds, wall: c.wall, requests: w.requests, rps: w.rps, p50ms: w.p50ms, p99ms: w.p99ms,
      errors: w.non2xx + w.socketErrors,
      errorText: [w.non2xx ? `non-2xx ${w.non2xx}` : '', w.socketErrors ? w.socketErrorText : ''].filter(Boolean).join('; '),
      ...commonCpu(c),
    },
  };
}

function requestScenario(name, title, headers, perLabel) {
  return {
    name,
    title,
    needs: [],
    load: (ctx) => `wrk -t 1 -c ${ctx.connections} -d ${ctx.duration}s --latency${headers.length ? ` ${headers.map((h) => (h.includes(' ') ? `'${h}'` : h)).join(' ')}` : ''}, ${ctx.bodyBytes}-byte body`,
    async run(ctx, target, seconds, { syscalls = false } = {}) {
      const { c, base, heap, syscallCount } = await runWrk(ctx, target, seconds, { connections: ctx.connections, headers, syscalls });
      const cpu = {
        proxyUsPerReq: c.proxyUs / base.requests,
        proxyUsPerReqTicks: c.proxyUsTicks / base.requests,
        machineUsPerReq: c.machineUs / base.requests,
      };
      // A syscall-counting run (run.mjs: one extra per proxy after the rounds) reports only the
      // count and, apart, the CPU it took under perf: its CPU is not mixed with the rounds'.
      if (syscalls) {
        return {
          kind: 'syscalls', seconds, requests: base.requests, errors: base.errors, errorText: base.errorText,
          syscalls: syscallCount, syscallsPerReq: syscallCount / base.requests,
          perfProxyUsPerReq: cpu.proxyUsPerReq,
        };
      }
      return { ...base, ...cpu, ...heap };
    },
    // counted in an extra run per proxy while perf is attached (run.mjs)
    syscalls: true,
    answered: (m) => m.requests > 0,
    metrics: [
      ['rps', 'req/s', 0],
      ['proxyUsPerReq', `proxy CPU µs/${perLabel}`, 2],
      ['machineUsPerReq', `machine CPU µs/${perLabel}`, 2],
      ['p50ms', 'p50 ms', 2],
      ['p99ms', 'p99 ms', 2],
      ['syscallsPerReq', `proxy syscalls/${perLabel} (perf run)`, 2],
      ['perfProxyUsPerReq', `proxy CPU µs/${perLabel} while perf counted`, 2],
      ['heapBytesPerReq', `JS heap bytes/${perLabel}`, 0],
      ['scavengesPer10k', `scavenges per 10k ${perLabel === 'req' ? 'requests' : 'connections'}`, 2],
      ['markCompactsPer10k', `mark-compacts per 10k ${perLabel === 'req' ? 'requests' : 'connections'}`, 2],
      ['gcPauseUsPerReq', `GC pause µs/${perLabel}`, 3],
    ],
    ratios: [
      ['rps', 'req/s'],
      ['proxyUsPerReq', `proxy CPU µs/${perLabel}`],
      ['machineUsPerReq', `machine CPU µs/${perLabel}`],
      ['p99ms', 'p99 latency (saturated)'],
      ['syscallsPerReq', `proxy syscalls/${perLabel}`],
    ],
    svg: [['rps', 'req/s (higher is better)', 0], ['proxyUsPerReq', `proxy CPU µs/${perLabel} (lower is better)`, 1]],
  };
}

// ---------------------------------------------------------------------------------------------
// Bulk: the backend (nginx, or the native responder) sends a file with sendfile, wrk reads it
// through the target.

// 1 MiB: 10 connections keep the pipe full with many transfers a second. 100 MiB: 2 connections,
// each transfer takes tens of ms on loopback, so even a 1 s run holds several of them.
export const BULK_FILES = { bulk1m: { path: '/bulk/1m', bytes: MiB, connections: 10 }, bulk100m: { path: '/bulk/100m', bytes: 100 * MiB, connections: 2 } };

function bulkScenario(name, title) {
  const f = BULK_FILES[name];
  return {
    name,
    title,
    needs: [],
    load: (ctx) => `wrk -t 1 -c ${f.connections} -d ${ctx.duration}s --timeout 10s GET ${f.path} (${f.bytes / MiB} MiB file, ${ctx.backend === 'native' ? 'native responder' : 'nginx'} sendfile)`,
    async run(ctx, target, seconds) {
      const { w, c, base } = await runWrk(ctx, target, seconds, { connections: f.connections, path: f.path, timeout: '10s', script: true });
      if (!Number.isFinite(w.bytes)) throw new Error(`wrk printed no byte count against ${target.name}`);
      // bytes wrk read (bodies and headers, partial transfers at the end included) over wrk's own
      // run time; headers are ~250 bytes a response, nothing next to 1 MiB
      const mib = w.bytes / MiB;
      return {
        ...base,
        bytes: w.bytes,
        gbps: (w.bytes * 8) / (w.durationUs * 1e3),
        proxyUsPerMiB: c.proxyUs / mib,
        proxyUsPerMiBTicks: c.proxyUsTicks / mib,
        machineUsPerMiB: c.machineUs / mib,
      };
    },
    answered: (m) => m.bytes > 0,
    metrics: [
      ['gbps', 'Gbit/s', 2],
      ['rps', 'transfers/s', 1],
      ['proxyUsPerMiB', 'proxy CPU µs/MiB', 1],
      ['machineUsPerMiB', 'machine CPU µs/MiB', 1],
      ['p50ms', 'p50 ms per transfer', 1],
      ['p99ms', 'p99 ms per transfer', 1],
    ],
    ratios: [
      ['gbps', 'Gbit/s'],
      ['proxyUsPerMiB', 'proxy CPU µs/MiB'],
      ['machineUsPerMiB', 'machine CPU µs/MiB'],
    ],
    goals: [
      ['proxyUsPerMiB', 'proxy CPU per MiB', '<=', 0.8],
      ['gbps', 'throughput (Gbit/s)', '>=', 1.0],
    ],
    svg: [['gbps', 'Gbit/s (higher is better)', 2], ['proxyUsPerMiB', 'proxy CPU µs/MiB (lower is better)', 0]],
  };
}

// ---------------------------------------------------------------------------------------------
// Fixed-rate latency: loadgen rate (open loop, latency from the scheduled send time).

/**
 * The latency scenario at one rate: `rate` null takes ctx.rate (the single-rate scenario,
 * 'latency'); a number makes 'latency-<rate>', one per rate of `--rate a,b,c` (run.mjs).
 */
export function latencyAt(fixedRate = null) {
  const rateOf = (ctx) => fixedRate ?? ctx.rate;
  return {
  name: fixedRate === null ? 'latency' : `latency-${fixedRate}`,
  title: fixedRate === null ? 'latency at a fixed rate (keep-alive, below saturation)' : `latency at ${fixedRate.toLocaleString('en-US')} req/s (keep-alive, fixed rate)`,
  latency: true,
  rateOf,
  needs: ['loadgen'],
  load: (ctx) => `loadgen rate: ${rateOf(ctx).toLocaleString('en-US')} req/s on ${ctx.connections} keep-alive connections for ${ctx.duration} s, open loop (latency from the scheduled send time), ${ctx.bodyBytes}-byte body`,
  async run(ctx, target, seconds) {
    const h0 = await heapFigures(target); // outside the CPU window
    const end = cpuWindow(ctx, target);
    // loadgen's own warm-up is off: the harness's warm-up runs do that, and the CPU window must
    // cover exactly the requests counted
    const r = await ctx.loadgen.runLoadgen(ctx.loadgenBin, 'rate',
      { port: target.port, rate: rateOf(ctx), duration: seconds, connections: ctx.connections, warmup: 0 },
      { cpu: ctx.pin ? ctx.LOAD_CPU : undefined });
    const c = end();
    const h1 = await heapFigures(target);
    assertAlive(target);
    const us = (x) => x / 1000;
    return {
      seconds, wall: c.wall,
      requests: r.completed, sent: r.sent, achievedRate: r.achievedRate,
      p50ms: us(r.p50us), p90ms: us(r.p90us), p99ms: us(r.p99us), p999ms: us(r.p999us), maxms: us(r.maxus),
      errors: r.errors, errorText: r.errors ? `${r.errors} loadgen errors` : '',
      proxyUsPerReq: c.proxyUs / r.completed,
      proxyUsPerReqTicks: c.proxyUsTicks / r.completed,
      machineUsPerReq: c.machineUs / r.completed,
      ...heapPer(h0, h1, r.completed),
      // loadgen's own CPU (it reports it), the reaped ticks would say the same at 10 ms resolution
      ...commonCpu(c, Number.isFinite(r.cpuUs) ? r.cpuUs : c.clientUs),
    };
  },
  answered: (m) => m.requests > 0,
  // loadgen counts answers still missing when its drain time runs out as errors: on a starved
  // machine that is slowness, not breakage, so the smoke only wants most requests answered
  smokeOk: (m) => m.requests >= 0.5 * m.sent,
  metrics: [
    ['achievedRate', 'achieved req/s', 0],
    ['p50ms', 'p50 ms', 3],
    ['p90ms', 'p90 ms', 3],
    ['p99ms', 'p99 ms', 3],
    ['p999ms', 'p99.9 ms', 3],
    ['maxms', 'max ms', 2],
    ['proxyUsPerReq', 'proxy CPU µs/req', 2],
    ['machineUsPerReq', 'machine CPU µs/req', 2],
    ['heapBytesPerReq', 'JS heap bytes/req', 0],
    ['scavengesPer10k', 'scavenges per 10k requests', 2],
    ['markCompactsPer10k', 'mark-compacts per 10k requests', 2],
    ['gcPauseUsPerReq', 'GC pause µs/req', 3],
  ],
  ratios: [
    ['p50ms', 'p50 latency'],
    ['p99ms', 'p99 latency'],
    ['p999ms', 'p99.9 latency'],
    ['proxyUsPerReq', 'proxy CPU µs/req'],
  ],
  goals: [['p99ms', 'p99 latency', '<=', 1.0]],
  svg: [['p99ms', 'p99 latency ms (lower is better)', 3]],
  };
}
const latency = latencyAt();

// ---------------------------------------------------------------------------------------------
// Idle connections: memory each held connection costs.

const idle = {
  name: 'idle',
  title: 'idle connections held open (memory per connection)',
  needs: ['loadgen'],
  fresh: true,
  load: (ctx) => `loadgen idle: ${ctx.idleConnections.toLocaleString('en-US')} connections opened through the target, one request answered on each, then held; fresh backend and proxy for every run`,
  async run(ctx, target) {
    const n = ctx.idleConnections;
    // the process that holds the far end of the client's connections, and how many sockets it
    // holds for each: a proxy two per session (one session per pass), the backend one
    const holder = target.proc ?? target.backend;
    const holderSockets = target.proc ? (ctx.chain ? 4 : 2) : 1;
    const fds0 = socketFds(holder.pid);
    const before = {
      proxy: target.proc ? treeRssBytes(target.proc.pid) : NaN,
      backend: treeRssBytes(target.backend.pid),
      sock: tcpSockstat(),
      slab: slabBytes(),
    };
    const t0 = Date.now();
    const held = await ctx.loadgen.startIdle(ctx.loadgenBin, { port: target.port, connections: n, request: true },
      { cpu: ctx.pin ? ctx.LOAD_CPU : undefined });
    ctx.holding.add(held);
    try {
      const r = held.result;
      // every connection answered its request, so the path through the proxy is complete; still,
      // make sure the holder has all its sockets before the memory is read
      await waitFor(() => socketFds(holder.pid) - fds0 >= holderSockets * r.established, 5000, 50);
      assertAlive(target);
      const after = {
        proxy: target.proc ? treeRssBytes(target.proc.pid) : NaN,
        backend: treeRssBytes(target.backend.pid),
        sock: tcpSockstat(),
        slab: slabBytes(),
      };
      const per = r.established || NaN;
      return {
        seconds: (Date.now() - t0) / 1000,
        requests: r.established,
        established: r.established,
        failed: r.failed,
        openMs: r.ms,
        errors: r.failed,
        errorText: r.failed ? `${r.failed} connections failed` : '',
        proxyRssPerConn: (after.proxy - before.proxy) / per,
        backendRssPerConn: (after.backend - before.backend) / per,
        kernelBufPerConn: (after.sock.memBytes - before.sock.memBytes) / per,
        kernelSlabPerConn: (after.slab - before.slab) / per,
        kernelPerConn: (after.sock.memBytes - before.sock.memBytes + after.slab - before.slab) / per,
        // What an idle connection costs the machine because of the proxy: its own RSS plus the
        // kernel's (which also holds the client's and backend's sockets: the same for any proxy).
        memPerConn: ((after.proxy - before.proxy) + (after.sock.memBytes - before.sock.memBytes) + (after.slab - before.slab)) / per,
        socketsPerConn: (after.sock.inuse - before.sock.inuse) / per,
        clientCpuUs: r.cpuUs,
      };
    } finally {
      ctx.holding.delete(held);
      await held.stop();
    }
  },
  answered: (m) => m.established > 0,
  metrics: [
    ['established', 'connections held', 0],
    ['memPerConn', 'memory bytes/conn (proxy RSS + kernel)', 0],
    ['proxyRssPerConn', 'proxy RSS bytes/conn', 0],
    ['kernelPerConn', 'kernel memory bytes/conn (buffers + slab, all sockets)', 0],
    ['kernelBufPerConn', 'of which TCP buffers (sockstat mem)', 0],
    ['kernelSlabPerConn', 'of which slab (meminfo Slab)', 0],
    ['socketsPerConn', 'TCP sockets/conn (machine)', 2],
    ['backendRssPerConn', 'backend RSS bytes/conn', 0],
    ['openMs', 'ms to open all', 0],
    ['errors', 'failed connections', 0],
  ],
  ratios: [
    ['memPerConn', 'memory/conn (RSS + kernel)'],
    ['proxyRssPerConn', 'proxy RSS/conn'],
    ['kernelPerConn', 'kernel memory/conn'],
  ],
  // One goal, on what the issue names (memory per idle connection, RSS delta and kernel
  // socket memory): the kernel's part is the same sockets for any proxy, so alone its ratio is
  // 1.0 plus the noise of a machine-wide counter.
  goals: [['memPerConn', 'memory per idle connection (proxy RSS + kernel)', '<=', 1.0]],
  svg: [['proxyRssPerConn', 'proxy RSS bytes per idle connection (lower is better)', 0]],
  common: false,
};

// ---------------------------------------------------------------------------------------------

const keepalive = requestScenario('keepalive', 'keep-alive, small requests', [], 'req');
keepalive.goals = [['proxyUsPerReq', 'proxy CPU per request', '<=', 0.9]];
const close = requestScenario('close', 'new connection per request (Connection: close)', ['-H', 'Connection: close'], 'connection');
close.goals = [['proxyUsPerReq', 'proxy CPU per connection', '<=', 1.0]];

export const SCENARIOS = {
  keepalive,
  close,
  bulk1m: bulkScenario('bulk1m', 'bulk transfer, 1 MiB responses'),
  bulk100m: bulkScenario('bulk100m', 'bulk transfer, 100 MiB responses'),
  latency,
  idle,
};
