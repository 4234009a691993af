// Syscalls per forwarded keep-alive request/response, counted by strace on the relay process.
//
//   npm run build && node bench/relay-syscalls.mjs [--round-trips 20000] [--clients 1]
//       [--request 100] [--response 200] [--threads main|all] [--tracer strace|perf|none]
//       [--loop-metrics on|off] [--buffer-size N] [--bulk-mib N] [--per-connection] [--relay-thread]
//
// --relay-thread runs the relay on its own thread (the Relay's thread mode, what start() uses);
// every thread of the relay process is traced then (--threads all).
//
// --per-connection opens a new connection for every round trip (request, response, then the
// client's FIN and the server's), so the counts include accept, connect, relay.add, the end of
// the pair and both closes: syscalls per connection rather than per keep-alive request.
//
// --bulk-mib N replaces the ping-pong with one-way bulk transfers (N MiB per client, to a sink),
// and reports syscalls and the relay process's CPU time per MiB.
//
// Processes: this one runs the clients and an echo server (node:net, on loopback); a child
// process runs only the relay (native listener, native connect, native.Relay), so strace can
// attach to it alone. After a warm-up, `strace -c -p <relay pid>` is attached (`-f` as well with
// --threads all, which also counts Node's background threads), the round trips run, and strace is
// detached with SIGINT: its summary covers the measured round trips only. docs/relay.md records
// the results.
//
// strace stops the relay at every syscall, which slows it down more than its peers: events then
// tend to be waiting already when libuv polls, which hides one epoll_pwait per wake-up (see
// docs/relay.md). --tracer perf counts the same syscalls with the kernel's tracepoints instead
// (`perf stat -e syscalls:sys_enter_...`), at no cost to the relay.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    role: { type: 'string', default: 'bench' },
    upstream: { type: 'string' },
    'round-trips': { type: 'string', default: '20000' },
    clients: { type: 'string', default: '1' },
    request: { type: 'string', default: '100' },
    response: { type: 'string', default: '200' },
    threads: { type: 'string', default: 'main' },
    tracer: { type: 'string', default: 'strace' },
    'loop-metrics': { type: 'string', default: 'on' },
    'bulk-mib': { type: 'string' },
    'buffer-size': { type: 'string' },
    'per-connection': { type: 'boolean', default: false },
    'relay-thread': { type: 'boolean', default: false },
  },
});


// ---------------------------------------------------------------------------------------------
// The relay process: accepts clients, connects each to the upstream, relays the pair. No JS runs
// per message; JS only runs to accept, connect and close.

async function runRelay() {
  const { native, constants } = await import('../dist/native.js');
  const { AF_INET, SOCK_STREAM, SOCK_NONBLOCK, EPOLLIN, EPOLLOUT, SIGTERM } = constants;
  native.setParentDeathSignal(SIGTERM); // never outlive the bench
  // off: libuv polls once per wake-up instead of twice (native.setLoopIdleMetrics, docs/relay.md)
  if (opts['loop-metrics'] === 'off' && !native.setLoopIdleMetrics(false)) {
    throw new Error('this libuv cannot turn loop idle metrics off');
  }
  const [host, port] = opts.upstream.split(':');
  const upstream = native.addrPack('ipv4', host, Number(port));
  const listener = native.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
  native.setsockopt(listener, 'SO_REUSEADDR', true);
  native.bind(listener, native.addrPack('ipv4', '127.0.0.1', 0));
  native.listen(listener, 1024);
  const poller = new native.Poller(256);
  poller.add(listener, EPOLLIN);
  const connecting = new Map(); // upstream fd -> client fd
  const relay = new native.Relay({
    ...(opts['buffer-size'] ? { bufferSize: Number(opts['buffer-size']) } : {}),
    thread: opts['relay-thread'],
    onEnd(count) {
      for (let i = 0; i < count; i++) {
        const id = relay.ended[3 * i];
        // the pair's fds are ours: the bench remembers them by id
        for (const fd of pairs.get(id) ?? []) native.close(fd);
        pairs.delete(id);
      }
    },
  });
  const pairs = new Map();
  const accepted = new Int32Array(2 * 64);
  poller.start((count) => {
    for (let i = 0; i < count; i++) {
      const fd = poller.events[2 * i];
      if (fd === listener) {
        let n;
        while ((n = native.accept(listener, accepted, null)) > 0) {
          for (let k = 0; k < n; k++) {
            const client = accepted[2 * k];
            const up = native.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
            native.setsockopt(client, 'TCP_NODELAY', true);
            native.setsockopt(up, 'TCP_NODELAY', true);
            native.connect(up, upstream); // 0 or -EINPROGRESS; completion shows as EPOLLOUT
            poller.add(up, EPOLLOUT);
            connecting.set(up, client);
          }
        }
      } else if (connecting.has(fd)) {
        const client = connecting.get(fd);
        connecting.delete(fd);
        poller.remove(fd);
        if (native.getsockopt(fd, 'SO_ERROR') !== 0) {
          native.close(fd);
          native.close(client);
          continue;
        }
        const id = relay.add(client, fd);
        if (id < 0) throw new Error(`relay.add: ${native.errnoName(id)}`);
        pairs.set(id, [client, fd]);
      }
    }
  });
  const address = native.addrUnpack(native.getsockname(listener));
  process.stdout.write(`ready ${address.port} ${process.pid}\n`);
  process.on('SIGTERM', () => {
    relay.close();
    poller.close();
    process.exit(0);
  });
}

// ---------------------------------------------------------------------------------------------
// The bench: echo server and clients in this process, the relay in a child, strace on the child.

async function runBench() {
  const roundTrips = Number(opts['round-trips']);
  const clients = Number(opts.clients);
  const requestSize = Number(opts.request);
  const responseSize = Number(opts.response);
  const request = Buffer.alloc(requestSize, 'q');
  const response = Buffer.alloc(responseSize, 'r');

  const bulkBytes = opts['bulk-mib'] ? Number(opts['bulk-mib']) * 1048576 : 0;
  let sunk = 0;
  let onSunk = () => {};
  // Echo server: one response per complete request (a sink in bulk mode).
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    let pending = 0;
    socket.on('data', (chunk) => {
      if (bulkBytes > 0) {
        sunk += chunk.length;
        onSunk();
        return;
      }
      pending += chunk.length;
      while (pending >= requestSize) {
        pending -= requestSize;
        socket.write(response);
      }
    });
    socket.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const upstreamPort = server.address().port;

  const child = spawn(
    process.execPath,
    [new URL(import.meta.url).pathname, '--role', 'relay', '--upstream', `127.0.0.1:${upstreamPort}`,
      '--loop-metrics', opts['loop-metrics'], ...(opts['buffer-size'] ? ['--buffer-size', opts['buffer-size']] : []),
      ...(opts['relay-thread'] ? ['--relay-thread'] : [])],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [relayPort, relayPid] = await new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`relay exited with ${code}`)));
    createInterface({ input: child.stdout }).once('line', (line) => {
      const [, p, pid] = line.split(' ');
      resolve([Number(p), Number(pid)]);
    });
  });

  // Clients: each sends a request, waits for the whole response, sends the next.
  const sockets = await Promise.all(
    Array.from({ length: clients }, () => new Promise((resolve, reject) => {
      const s = net.connect(relayPort, '127.0.0.1', () => resolve(s));
      s.setNoDelay(true);
      s.on('error', reject);
    })),
  );
  const run = (count) => Promise.all(sockets.map((socket, i) => new Promise((resolve) => {
    let left = Math.floor(count / clients) + (i < count % clients ? 1 : 0);
    if (left === 0) return resolve();
    let received = 0;
    const onData = (chunk) => {
      received += chunk.length;
      while (received >= responseSize) {
        received -= responseSize;
        if (--left === 0) {
          socket.off('data', onData);
          return resolve();
        }
        socket.write(request);
      }
    };
    socket.on('data', onData);
    socket.write(request);
  })));

  // One connection per round trip: connect, request, whole response, FIN, wait for the close.
  const once = () => new Promise((resolve, reject) => {
    const s = net.connect(relayPort, '127.0.0.1');
    s.setNoDelay(true);
    let received = 0;
    s.on('connect', () => s.write(request));
    s.on('data', (chunk) => {
      received += chunk.length;
      if (received >= responseSize) s.end();
    });
    s.on('error', reject);
    s.on('close', resolve);
  });
  const perConnection = opts['per-connection'];
  const runConnections = (count) => Promise.all(Array.from({ length: clients }, async (_, i) => {
    let left = Math.floor(count / clients) + (i < count % clients ? 1 : 0);
    while (left-- > 0) await once();
  }));

  // Bulk: each client writes `bytes` as fast as the relay takes them; done when all are sunk.
  const chunk = Buffer.alloc(1 << 20, 'b');
  const bulk = (bytes) => new Promise((resolve) => {
    const target = sunk + bytes * clients;
    onSunk = () => {
      if (sunk >= target) resolve();
    };
    for (const socket of sockets) {
      let left = bytes;
      const write = () => {
        while (left > 0) {
          const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
          left -= piece.length;
          if (!socket.write(piece)) return socket.once('drain', write);
        }
      };
      write();
    }
  });
  const relayCpuMs = () => {
    // utime and stime, fields 14 and 15 of /proc/<pid>/stat, in clock ticks (100 per second)
    const fields = readFileSync(`/proc/${relayPid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  };

  // warm-up: JIT, connection setup, buffer sizes settle
  if (bulkBytes > 0) await bulk(16 << 20);
  else if (perConnection) await runConnections(Math.min(2000, roundTrips));
  else await run(Math.min(2000, roundTrips));

  let tracer;
  const output = `${tmpdir()}/relay-syscalls-${process.pid}.txt`;
  const all = opts.threads === 'all' || opts['relay-thread'];
  if (opts.tracer === 'strace') {
    const args = ['-c', ...(all ? ['-f'] : []), '-p', String(relayPid), '-o', output];
    tracer = spawn('strace', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    // strace reports on stderr once it has attached ("Process N attached").
    await new Promise((resolve, reject) => {
      let text = '';
      tracer.stderr.on('data', (chunk) => {
        text += chunk;
        if (text.includes('attached')) resolve();
      });
      tracer.on('exit', (code) => reject(new Error(`strace exited with ${code}: ${text}`)));
    });
    tracer.removeAllListeners('exit');
  } else if (opts.tracer === 'perf') {
    const events = ['raw_syscalls:sys_enter', ...PERF_SYSCALLS.map((name) => `syscalls:sys_enter_${name}`)];
    const args = ['stat', '-x', ',', '-e', events.join(','), all ? '-p' : '-t', String(relayPid), '-o', output];
    tracer = spawn('perf', args, { stdio: ['ignore', 'ignore', 'inherit'] });
    // perf prints nothing when it has opened its counters: give it time (the relay is idle now,
    // blocked in epoll_pwait, so the wait adds nothing to the counts).
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }

  const started = process.hrtime.bigint();
  const cpuBefore = relayCpuMs();
  if (bulkBytes > 0) await bulk(bulkBytes);
  else if (perConnection) await runConnections(roundTrips);
  else await run(roundTrips);
  const elapsedNs = Number(process.hrtime.bigint() - started);
  const cpuMs = relayCpuMs() - cpuBefore;
  // per-unit divisor: round trips, or MiB moved in bulk mode
  const units = bulkBytes > 0 ? (bulkBytes * clients) / 1048576 : roundTrips;

  const result = bulkBytes > 0
    ? {
        mib: units,
        clients,
        bufferSize: Number(opts['buffer-size'] ?? 16384),
        loopMetrics: opts['loop-metrics'],
        mibPerSecond: +(units / (elapsedNs / 1e9)).toFixed(1),
        relayCpuMsPerMib: +(cpuMs / units).toFixed(3),
      }
    : {
        roundTrips,
        perConnection,
        clients,
        requestSize,
        responseSize,
        loopMetrics: opts['loop-metrics'],
        usPerRoundTrip: +(elapsedNs / 1000 / roundTrips).toFixed(2),
        relayCpuUsPerRoundTrip: +((cpuMs * 1000) / roundTrips).toFixed(2),
      };
  if (tracer) {
    const exited = new Promise((resolve) => tracer.on('exit', resolve));
    tracer.kill('SIGINT'); // detach; the counts cover the measured round trips only
    await exited;
    const text = readFileSync(output, 'utf8');
    rmSync(output, { force: true });
    const table = opts.tracer === 'strace' ? parseStraceSummary(text) : parsePerfStat(text);
    result.tracer = opts.tracer;
    result.threads = all ? 'all' : 'main';
    result.command = opts.tracer === 'strace'
      ? `strace -c ${all ? '-f ' : ''}-p <relay pid>`
      : `perf stat -e raw_syscalls:sys_enter,syscalls:sys_enter_{${PERF_SYSCALLS.join(',')}} ${all ? '-p' : '-t'} <relay pid>`;
    result[bulkBytes > 0 ? 'perMib' : 'perRoundTrip'] = Object.fromEntries(
      table.filter(({ calls }) => calls > 0).map(({ syscall, calls }) => [syscall, +(calls / units).toFixed(3)]),
    );
    result.calls = Object.fromEntries(table.map(({ syscall, calls }) => [syscall, calls]));
    // strace only: calls that failed (epoll_ctl's ENOENT, connect's EINPROGRESS, recv's EAGAIN...)
    const failed = table.filter(({ errors }) => errors > 0);
    if (failed.length > 0) result.errors = Object.fromEntries(failed.map(({ syscall, errors }) => [syscall, errors]));
  }
  console.log(JSON.stringify(result, null, 2));

  for (const s of sockets) s.destroy();
  child.kill('SIGTERM');
  await new Promise((resolve) => child.on('exit', resolve));
  server.close();
}

// Syscalls counted one by one under --tracer perf (raw_syscalls:sys_enter gives the total).
const PERF_SYSCALLS = ['epoll_pwait', 'epoll_wait', 'epoll_ctl', 'recvfrom', 'sendto', 'read', 'write',
  'readv', 'writev', 'shutdown', 'setsockopt', 'getsockopt', 'clock_gettime', 'futex', 'ioctl',
  'accept4', 'socket', 'connect', 'close'];

// perf stat -x, lines: "count,unit,event,..." ("<not counted>" when the event never fired).
function parsePerfStat(text) {
  const rows = [];
  for (const line of text.split('\n')) {
    const fields = line.split(',');
    if (fields.length < 3 || line.startsWith('#')) continue;
    const event = fields[2] ?? '';
    const calls = Number(fields[0]) || 0;
    if (event === 'raw_syscalls:sys_enter') rows.push({ syscall: 'total', calls });
    else if (event.startsWith('syscalls:sys_enter_')) rows.push({ syscall: event.slice(19), calls });
  }
  return rows;
}

// strace -c's table: "% time seconds usecs/call calls [errors] syscall", then a "total" row.
function parseStraceSummary(text) {
  const rows = [];
  for (const line of text.split('\n')) {
    const tokens = line.trim().split(/\s+/);
    if (tokens.length < 5 || !/^[\d.]+$/.test(tokens[0] ?? '')) continue;
    const syscall = tokens[tokens.length - 1];
    // an errors column sits between calls and the name when any call of the table failed
    rows.push({ syscall, calls: Number(tokens[3]), errors: tokens.length === 6 ? Number(tokens[4]) : 0 });
  }
  return rows;
}

if (opts.role === 'relay') await runRelay();
else await runBench();
