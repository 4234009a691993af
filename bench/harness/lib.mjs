// Helpers for bench/harness/run.mjs: tools on PATH, child processes that never outlive the run,
// CPU accounting from /proc, free ports, and readiness checks. Linux only.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { delimiter, join } from 'node:path';

/** The absolute path of `name` on PATH (plus the sbin directories), or null. */
export function which(name) {
  const dirs = (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin', '/usr/local/sbin']);
  for (const dir of dirs) {
    if (!dir) continue;
    const full = join(dir, name);
    if (existsSync(full)) return full;
  }
  return null;
}

/** First line of a command's stdout+stderr (versions). */
export function firstLine(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').find((l) => l.trim() !== '')?.trim() ?? '';
}

export const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

// ---------------------------------------------------------------------------------------------
// Children: every process we start is tracked and killed on exit, error or signal.

const children = new Set();

/**
 * Starts a long-lived child. Its stdout/stderr are kept (last 64 KiB) for error messages.
 * Returns { proc, pid, name, output() }.
 */
export function startChild(name, cmd, args, { env, cwd } = {}) {
  const proc = spawn(cmd, args, { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (chunk) => {
    out += chunk.toString();
    if (out.length > 65536) out = out.slice(-65536);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  const child = { name, proc, pid: proc.pid, exited: false, code: null, output: () => out };
  proc.on('exit', (code, signal) => {
    child.exited = true;
    child.code = code ?? signal;
    children.delete(child);
  });
  proc.on('error', (err) => {
    child.exited = true;
    child.code = err.message;
    children.delete(child);
  });
  children.add(child);
  return child;
}

/** Stops a child: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopChild(child, graceMs = 2000) {
  if (child.exited) return;
  const done = new Promise((resolve) => child.proc.once('exit', resolve));
  try { child.proc.kill('SIGTERM'); } catch { /* already gone */ }
  const timer = setTimeout(() => { try { child.proc.kill('SIGKILL'); } catch { /* gone */ } }, graceMs);
  await done;
  clearTimeout(timer);
}

export async function stopAll() {
  await Promise.all([...children].map((c) => stopChild(c)));
}

/** Synchronous last resort (process 'exit' handler): SIGKILL whatever is left. */
export function killAllNow() {
  for (const c of children) {
    try { c.proc.kill('SIGKILL'); } catch { /* gone */ }
  }
}

/** Runs a command to completion (wrk). Resolves { code, stdout, stderr }. Tracked like the others. */
export function runToEnd(name, cmd, args) {
  return new Promise((resolve, reject) => {
    const child = startChild(name, cmd, args);
    child.proc.once('error', reject);
    child.proc.once('exit', (code) => resolve({ code, output: child.output() }));
  });
}

// ---------------------------------------------------------------------------------------------
// CPU accounting from /proc (clock ticks, CLK_TCK per second).

function statFields(pid) {
  // /proc/<pid>/stat: "pid (comm) state ppid ... utime(14) stime(15) cutime(16) cstime(17) ..."
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state)
  return { ppid: Number(rest[1]), utime: Number(rest[11]), stime: Number(rest[12]), cutime: Number(rest[13]), cstime: Number(rest[14]) };
}

/** All live descendants of `pid`, with `pid` itself. */
export function processTree(pid) {
  const byParent = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const { ppid } = statFields(entry);
      if (!byParent.has(ppid)) byParent.set(ppid, []);
      byParent.get(ppid).push(Number(entry));
    } catch { /* exited meanwhile */ }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...(byParent.get(out[i]) ?? []));
  return out;
}

/**
 * utime+stime (ticks) of a process tree: every thread of every process (the stat of a process
 * sums its threads), plus the children it has already reaped (cutime/cstime).
 */
export function treeTicks(pid) {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const f = statFields(p);
      ticks += f.utime + f.stime + f.cutime + f.cstime;
    } catch { /* exited meanwhile */ }
  }
  return ticks;
}

/** Sum over the threads of `pid` of the first field of /proc/<pid>/task/<tid>/schedstat (ns on CPU). */
function schedstatNs(pid) {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch { /* thread exited meanwhile */ }
  }
  return ns;
}

/** Whether the kernel has schedstat (CONFIG_SCHED_INFO): ns-resolution CPU time per thread. */
export const SCHEDSTAT = (() => {
  try {
    return Number.isFinite(schedstatNs(process.pid));
  } catch {
    return false;
  }
})();

/**
 * CPU of a process tree two ways: `ticks` as treeTicks() (includes reaped children, 1/CLK_TCK
 * resolution), and `ns` from schedstat (ns resolution, NaN without schedstat). schedstat has no
 * counterpart of cutime, so the CPU of threads and children that exited is missing from `ns`:
 * fine for the proxies and nginx, whose threads live as long as they do.
 */
export function treeCpu(pid) {
  let ticks = 0;
  let ns = SCHEDSTAT ? 0 : NaN;
  for (const p of processTree(pid)) {
    try {
      const f = statFields(p);
      ticks += f.utime + f.stime + f.cutime + f.cstime;
      if (SCHEDSTAT) ns += schedstatNs(p);
    } catch { /* exited meanwhile */ }
  }
  return { ticks, ns };
}

/** Sum of VmRSS (bytes) over a process tree, from /proc/<pid>/status. */
export function treeRssBytes(pid) {
  let kib = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) kib += Number(m[1]);
    } catch { /* exited meanwhile */ }
  }
  return kib * 1024;
}

export const PAGE_SIZE = (() => {
  const r = spawnSync('getconf', ['PAGESIZE'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 4096;
})();

/**
 * The TCP line of /proc/net/sockstat (machine-wide): sockets in use, orphans, TIME_WAIT, and
 * `mem`, the pages the kernel has charged to TCP socket buffers (tcp_memory_allocated), in bytes.
 */
export function tcpSockstat() {
  const line = readFileSync('/proc/net/sockstat', 'utf8').split('\n').find((l) => l.startsWith('TCP:')) ?? '';
  const field = (name) => {
    const m = new RegExp(`\\b${name} (\\d+)`).exec(line);
    return m ? Number(m[1]) : NaN;
  };
  return { inuse: field('inuse'), orphan: field('orphan'), tw: field('tw'), memBytes: field('mem') * PAGE_SIZE };
}

/**
 * The kernel's slab memory (bytes, /proc/meminfo `Slab`, machine-wide): where socket structures,
 * their inodes and files, and epoll registrations live, none of which sockstat's `mem` counts.
 */
export function slabBytes() {
  const m = /^Slab:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Open socket descriptors of one process (/proc/<pid>/fd links reading `socket:[inode]`). */
export function socketFds(pid) {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
    } catch { /* closed meanwhile */ }
  }
  return n;
}

/** Ticks of the children this process has reaped (wrk, after it exited). */
export function reapedChildTicks() {
  const f = statFields(process.pid);
  return f.cutime + f.cstime;
}

/** This process's own utime+stime. */
export function selfTicks() {
  const f = statFields(process.pid);
  return f.utime + f.stime;
}

/** /proc/stat: per-CPU { busy, total } ticks; key 'cpu' is the whole machine. */
export function machineTicks() {
  const out = {};
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    if (!line.startsWith('cpu')) continue;
    const [key, ...nums] = line.trim().split(/\s+/);
    const v = nums.map(Number);
    // user nice system idle iowait irq softirq steal guest guest_nice; guest is inside user
    const total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + (v[7] ?? 0);
    const idle = v[3] + v[4];
    out[key] = { busy: total - idle, total, softirq: v[6] };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Ports and readiness.

/** A port free on 127.0.0.1 right now (the kernel picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function tryConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** Waits until 127.0.0.1:port accepts, or the child dies, or timeoutMs passes. */
export async function waitListening(child, port, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exited) throw new Error(`${child.name} exited (${child.code}) before listening on ${port}:\n${child.output()}`);
    if (await tryConnect(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${child.name} is not listening on 127.0.0.1:${port} after ${timeoutMs} ms:\n${child.output()}`);
}

/** One HTTP/1.1 GET over a raw socket; resolves the first response chunk (sanity check). */
export function httpGet(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let data = '';
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`no HTTP response on ${port}`)); }, 3000);
    s.on('connect', () => s.write('GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n'));
    s.on('data', (d) => { data += d; });
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
    s.on('close', () => { clearTimeout(timer); resolve(data); });
  });
}

// ---------------------------------------------------------------------------------------------
// Statistics.

export function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

export function summary(xs) {
  const v = xs.filter((x) => Number.isFinite(x));
  if (v.length === 0) return { min: NaN, median: NaN, max: NaN, n: 0 };
  return { min: Math.min(...v), median: median(v), max: Math.max(...v), n: v.length };
}

/** Sends one command to a runtime API socket (non-interactive: one answer, then the socket closes). */
export function controlCommand(path, command, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path);
    let out = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => { out += d; });
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(new Error(`${path}: no answer to '${command}' in ${timeoutMs} ms`));
    });
    socket.write(`${command}\n`);
  });
}

/** `show activity` as numbers by name (epoxy's counters; see docs/core.md). */
export async function readActivity(path) {
  const text = await controlCommand(path, 'show activity');
  const out = {};
  for (const m of text.matchAll(/^(\w+): (-?[\d.]+)$/gm)) out[m[1]] = Number(m[2]);
  return out;
}

/** Polls `cond` every `stepMs` until it is true (resolves true) or `timeoutMs` passes (false). */
export async function waitFor(cond, timeoutMs, stepMs = 20) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (cond()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/**
 * The nginx backend of the harness and of the sweep: one worker, no access log, keep-alive
 * without limit, `return 200` with a fixed body of `bodyBytes` on /, and (with `bulkRoot`) the
 * bulk files under /bulk/ sent with sendfile.
 */
export function nginxConf({ dir, port, bodyBytes, bulkRoot = null, workerConnections = 4096, rlimit = 0, generator }) {
  const bulk = bulkRoot === null ? '' : `
        location /bulk/ {
            root ${bulkRoot};
            default_type application/octet-stream;
            sendfile on;
            tcp_nopush on;
        }`;
  return `# generated by ${generator}
daemon off;
master_process off;
worker_processes 1;
${rlimit ? `worker_rlimit_nofile ${rlimit};\n` : ''}pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections ${workerConnections}; multi_accept on; }
http {
    access_log off;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 600s;
    server {
        listen 127.0.0.1:${port} backlog=4096;
        location / {
            default_type text/plain;
            return 200 "${'x'.repeat(bodyBytes - 1)}\\n";
        }${bulk}
    }
}
`;
}

/**
 * The configuration both proxies run. PORT (the frontend's port), BACKEND (the backend's port)
 * and, chained, HOP (the second frontend's port) come from the environment.
 */
export function proxyConfig({ maxconn, ulimitN = 0, timeout = '30s', chain = false, statsSocket = false, generator = 'bench/harness/run.mjs' }) {
  const hop = chain ? `
# --chain: the first pass goes back into this same process, then to the backend
frontend bench
    bind "127.0.0.1:\${PORT}"
    default_backend hop

backend hop
    server self "127.0.0.1:\${HOP}"

frontend bench_hop
    bind "127.0.0.1:\${HOP}"
    default_backend backend_servers
` : `
frontend bench
    bind "127.0.0.1:\${PORT}"
    default_backend backend_servers
`;
  return `# generated by ${generator}: run by HAProxy and by epoxy alike.
# PORT (the frontend's port) and BACKEND (the backend's port) come from the environment${chain ? ', and HOP (the second pass)' : ''}.
global
    maxconn ${maxconn}
${ulimitN ? `    ulimit-n ${ulimitN}\n` : ''}    nbthread 1
${statsSocket ? '    # read by the harness before and after each run (epoxy: JS heap and GC counters)\n    stats socket "${STATS}" level operator\n' : ''}
defaults
    mode tcp
    timeout connect 5s
    timeout client ${timeout}
    timeout server ${timeout}
${hop}
backend backend_servers
    server backend1 "127.0.0.1:\${BACKEND}"
`;
}

/** Writes `data` as bench/results/<prefix>-<timestamp>.json under `root`; returns the path. */
export function writeResultsJson(root, prefix, data) {
  const results = join(root, 'bench/results');
  mkdirSync(results, { recursive: true });
  const file = join(results, `${prefix}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(data, null, 2));
  return file;
}
