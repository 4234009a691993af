// Bulk transfer through the native relay: CPU per MiB and throughput, splice 'auto' against 'off'.
//
//   npm run build && node bench/relay-bulk.mjs [--mib 1024] [--rounds 3] [--modes auto,off]
//       [--buffer-size N] [--pipe-size N] [--perf]
//
// Processes: this one runs only the relay (native listeners, native accept, native.Relay: no JS
// per transfer); a child process runs a writer and a reader (node:net) on loopback. The writer
// connects to one listener, the reader to the other, the relay joins the two accepted fds, and
// the writer sends --mib MiB (the same 1 MiB buffer over and over) then FIN; the reader counts
// and answers the FIN. The relay's CPU time (process.cpuUsage(): every thread of this process)
// and the wall time are taken from add() to the pair's end, which comes once both FINs were
// forwarded, so they cover exactly the transfer. Runs alternate between modes, round by round.
//
// --perf also counts the relay thread's syscalls during each transfer with the kernel's tracepoints
// (`perf stat -e raw_syscalls:sys_enter,syscalls:sys_enter_{splice,recvfrom,...} -t <pid>`),
// which cost the relay nothing, and reports them per MiB.
//
// Output: one line per run on stderr, then JSON on stdout (per mode: median MiB/s, relay CPU ms
// per MiB split user/system, the share of bytes spliced, the child's CPU per MiB).
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    role: { type: 'string', default: 'relay' },
    ports: { type: 'string' },
    mib: { type: 'string', default: '1024' },
    rounds: { type: 'string', default: '3' },
    modes: { type: 'string', default: 'auto,off' },
    'buffer-size': { type: 'string' },
    'pipe-size': { type: 'string' },
    perf: { type: 'boolean', default: false },
  },
});
const MIB = 1048576;

// ---------------------------------------------------------------------------------------------
// The child: a writer and a reader on node:net.

async function runPeers() {
  const [writePort, readPort] = opts.ports.split(',').map(Number);
  const total = Number(opts.mib) * MIB;
  const chunk = Buffer.alloc(MIB, 0x5a);
  const reader = net.connect(readPort, '127.0.0.1');
  const writer = net.connect(writePort, '127.0.0.1');
  await Promise.all([reader, writer].map((s) => new Promise((resolve) => s.once('connect', resolve))));
  let received = 0;
  reader.on('data', (data) => (received += data.length));
  const readerDone = new Promise((resolve) => reader.once('end', () => {
    reader.end();
    resolve();
  }));
  const writerDone = new Promise((resolve) => writer.once('end', resolve));
  writer.resume();
  // Wait for the relay's go (it has added the pair and taken its first CPU sample).
  await new Promise((resolve) => process.stdin.once('data', resolve));
  process.stdin.destroy(); // an open stdin would keep this process alive at the end
  const cpu0 = process.cpuUsage();
  let sent = 0;
  await new Promise((resolve) => {
    const write = () => {
      while (sent < total) {
        const n = Math.min(MIB, total - sent);
        sent += n;
        if (!writer.write(n === MIB ? chunk : chunk.subarray(0, n))) {
          writer.once('drain', write);
          return;
        }
      }
      writer.end();
      resolve();
    };
    write();
  });
  await Promise.all([readerDone, writerDone]);
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(`${JSON.stringify({ received, cpuUs: cpu.user + cpu.system })}\n`);
  writer.destroy();
  reader.destroy();
}

// ---------------------------------------------------------------------------------------------
// The relay process.

async function runBench() {
  const { native, constants, relayConstants } = await import('../dist/native.js');
  const { AF_INET, SOCK_STREAM, SOCK_NONBLOCK } = constants;
  const total = Number(opts.mib) * MIB;
  const rounds = Number(opts.rounds);
  const modes = opts.modes.split(',');
  const listen = () => {
    const fd = native.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
    native.bind(fd, native.addrPack('ipv4', '127.0.0.1', 0));
    native.listen(fd, 16);
    return fd;
  };
  const portOf = (fd) => {
    const address = native.getsockname(fd);
    return (address[2] << 8) | address[3]; // sockaddr_in: family (2 bytes), then the port, big-endian
  };
  const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

  const runs = [];
  for (let round = 0; round < rounds; round++) {
    for (const mode of modes) {
      let ended = null;
      let onEnded;
      const endedPromise = new Promise((resolve) => (onEnded = resolve));
      const relay = new native.Relay({
        splice: mode,
        ...(opts['buffer-size'] ? { bufferSize: Number(opts['buffer-size']) } : {}),
        ...(opts['pipe-size'] ? { pipeSize: Number(opts['pipe-size']) } : {}),
        onEnd(count) {
          for (let i = 0; i < count; i++) {
            const id = relay.ended[relayConstants.RECORD_INTS * i];
            ended = {
              reason: relay.ended[relayConstants.RECORD_INTS * i + 1],
              errno: relay.ended[relayConstants.RECORD_INTS * i + 2],
              bytes: relay.bytes[2 * id],
              cpu: process.cpuUsage(),
              at: process.hrtime.bigint(),
            };
          }
          onEnded();
        },
      });
      const writeListener = listen();
      const readListener = listen();
      const child = spawn(process.execPath, [
        new URL(import.meta.url).pathname, '--role', 'peers',
        '--ports', `${portOf(writeListener)},${portOf(readListener)}`, '--mib', opts.mib,
      ], { stdio: ['pipe', 'pipe', 'inherit'] });
      let childOut = '';
      child.stdout.on('data', (d) => (childOut += d));
      const exited = new Promise((resolve) => child.once('exit', resolve));
      const out = new Int32Array(2);
      const accept = async (fd) => {
        while (native.accept(fd, out, null) <= 0) await nextTurn();
        return out[0];
      };
      const ra = await accept(writeListener);
      const rb = await accept(readListener);
      native.close(writeListener);
      native.close(readListener);
      const id = relay.add(ra, rb);
      if (id < 0) throw new Error(`relay.add: ${native.errnoName(-id)}`);
      let perf = null;
      const perfOutput = `${tmpdir()}/relay-bulk-perf-${process.pid}.txt`;
      if (opts.perf) {
        const events = ['raw_syscalls:sys_enter', ...PERF_SYSCALLS.map((name) => `syscalls:sys_enter_${name}`)];
        perf = spawn('perf', ['stat', '-x', ',', '-e', events.join(','), '-t', String(process.pid), '-o', perfOutput], {
          stdio: ['ignore', 'ignore', 'inherit'],
        });
        // perf says nothing once its counters are open: give it time (nothing moves until 'go').
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      child.stdin.write('go\n');
      // Nothing runs in this process until the end but the relay (no polling from JS).
      await endedPromise;
      let syscallsPerMib;
      if (perf !== null) {
        const perfExited = new Promise((resolve) => perf.once('exit', resolve));
        perf.kill('SIGINT');
        await perfExited;
        syscallsPerMib = parsePerfStat(readFileSync(perfOutput, 'utf8'), total / MIB);
        rmSync(perfOutput, { force: true });
      }
      await exited;
      native.close(ra);
      native.close(rb);
      const peers = JSON.parse(childOut);
      if (ended.reason !== relayConstants.END_CLOSED || ended.bytes !== total || peers.received !== total) {
        throw new Error(`bad run: ${JSON.stringify({ ended, received: peers.received })}`);
      }
      const seconds = Number(ended.at - t0) / 1e9;
      const user = (ended.cpu.user - cpu0.user) / 1000;
      const system = (ended.cpu.system - cpu0.system) / 1000;
      const mib = total / MIB;
      const run = {
        mode,
        round,
        mibPerSecond: mib / seconds,
        relayCpuMsPerMib: (user + system) / mib,
        relayUserMsPerMib: user / mib,
        relaySystemMsPerMib: system / mib,
        splicedShare: relay.bytesSpliced / total,
        spliceFallbacks: relay.spliceFallbacks,
        peersCpuMsPerMib: peers.cpuUs / 1000 / mib,
        ...(syscallsPerMib ? { syscallsPerMib } : {}),
      };
      runs.push(run);
      relay.close();
      process.stderr.write(
        `${mode.padEnd(4)} round ${round}: ${run.mibPerSecond.toFixed(0)} MiB/s, relay ${run.relayCpuMsPerMib.toFixed(3)} ms CPU/MiB ` +
          `(user ${run.relayUserMsPerMib.toFixed(3)}, sys ${run.relaySystemMsPerMib.toFixed(3)}), spliced ${(run.splicedShare * 100).toFixed(1)}%, ` +
          `peers ${run.peersCpuMsPerMib.toFixed(3)} ms CPU/MiB` +
          (syscallsPerMib ? `, syscalls/MiB ${JSON.stringify(syscallsPerMib)}` : '') + '\n',
      );
    }
  }
  const median = (values) => {
    const sorted = [...values].sort((x, y) => x - y);
    const mid = sorted.length >> 1;
    return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };
  const summary = {};
  for (const mode of modes) {
    const of = runs.filter((r) => r.mode === mode);
    summary[mode] = Object.fromEntries(
      ['mibPerSecond', 'relayCpuMsPerMib', 'relayUserMsPerMib', 'relaySystemMsPerMib', 'splicedShare', 'peersCpuMsPerMib'].map((k) => [
        k,
        Number(median(of.map((r) => r[k])).toFixed(4)),
      ]),
    );
  }
  process.stdout.write(`${JSON.stringify({ mib: Number(opts.mib), rounds, bufferSize: opts['buffer-size'] ?? 'default', pipeSize: opts['pipe-size'] ?? 'default', summary, runs }, null, 2)}\n`);
}

// Syscalls counted one by one under --perf (raw_syscalls:sys_enter gives the total).
const PERF_SYSCALLS = ['splice', 'recvfrom', 'sendto', 'epoll_pwait', 'epoll_ctl', 'pipe2', 'fcntl', 'shutdown'];

// perf stat -x, lines: "count,unit,event,..." ("<not counted>" when the event never fired).
function parsePerfStat(text, mib) {
  const perMib = {};
  for (const line of text.split('\n')) {
    const fields = line.split(',');
    if (fields.length < 3 || line.startsWith('#')) continue;
    const event = fields[2] ?? '';
    const calls = Number(fields[0]) || 0;
    const name = event === 'raw_syscalls:sys_enter' ? 'total' : event.replace('syscalls:sys_enter_', '');
    if (calls > 0) perMib[name] = Number((calls / mib).toFixed(2));
  }
  return perMib;
}

if (opts.role === 'peers') {
  await runPeers();
} else {
  await runBench();
}
