/**
 * bench/tools/loadgen.c through its wrapper bench/harness/loadgen.mjs, against node:http and
 * node:net servers on 127.0.0.1. Counts are asserted within loose bands and latencies only where
 * the server makes them long on purpose, so a busy machine slows these tests without failing them.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { buildLoadgen, runLoadgen, startIdle } from '../../bench/harness/loadgen.mjs';
import { native } from '../../src/native.js';
import { freePort, listenLoopback, waitFor } from '../helpers/sockets.js';

// Built once for the file; only a missing compiler skips, a compile error fails.
const built = await buildLoadgen().then(
  (bin) => ({ bin, reason: '' }),
  (error: Error & { code?: string }) => {
    if (error.code === 'ENOCOMPILER') return { bin: '', reason: error.message };
    throw error;
  },
);
const bin = built.bin;

const BODY = Buffer.alloc(128, 'x');

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** An HTTP server on 127.0.0.1 that counts accepted connections and tracks the open ones. */
async function httpServer(handler: Handler, listenOn?: { fd: number }) {
  const server = http.createServer(handler);
  // Held connections must outlive the test's waits; Node's default idle timeout is 5 s.
  server.keepAliveTimeout = 0;
  const open = new Set<net.Socket>();
  let accepted = 0;
  server.on('connection', (socket: net.Socket) => {
    accepted++;
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  });
  await new Promise<void>((resolve) => {
    if (listenOn) server.listen(listenOn, resolve);
    else server.listen(0, '127.0.0.1', resolve);
  });
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted: () => accepted,
    open: () => open.size,
    sockets: () => [...open],
  };
}

function ok(_req: http.IncomingMessage, res: http.ServerResponse) {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': BODY.length });
  res.end(BODY);
}

/** Calls fn once at least `ms` have passed on the monotonic clock (timers may fire a bit early). */
function after(ms: number, fn: () => void) {
  const start = process.hrtime.bigint();
  const check = () => {
    const left = ms - Number(process.hrtime.bigint() - start) / 1e6;
    if (left <= 0) fn();
    else setTimeout(check, Math.ceil(left));
  };
  setTimeout(check, ms);
}

function expectOrdered(r: { p50us: number; p99us: number; p999us: number; maxus: number }) {
  expect(r.p50us).toBeGreaterThan(0);
  expect(r.p50us).toBeLessThanOrEqual(r.p99us);
  expect(r.p99us).toBeLessThanOrEqual(r.p999us);
  expect(r.p999us).toBeLessThanOrEqual(r.maxus);
}

describe.skipIf(!bin)(bin ? 'loadgen' : `loadgen (skipped: ${built.reason})`, () => {
  describe('rate', () => {
    it('sends rate x duration requests on the schedule and answers in order', async () => {
      const server = await httpServer(ok);
      const r = await runLoadgen(bin, 'rate', { port: server.port, rate: 2000, duration: 1, warmup: 0 });
      expect(r.mode).toBe('rate');
      expect(r.errors).toBe(0);
      expect(r.sent).toBeGreaterThanOrEqual(1600);
      expect(r.sent).toBeLessThanOrEqual(2100);
      expect(r.completed).toBe(r.sent);
      expect(r.achievedRate).toBeGreaterThanOrEqual(1600);
      expect(r.connections).toBe(50);
      expect(server.accepted()).toBe(50);
      expectOrdered(r);
      expect(r.meanus).toBeGreaterThan(0);
      expect(r.cpuUs).toBeGreaterThan(0);
    });

    it('leaves the warm-up requests out of the counts', async () => {
      let served = 0;
      const server = await httpServer((req, res) => {
        served++;
        ok(req, res);
      });
      const r = await runLoadgen(bin, 'rate', { port: server.port, rate: 200, duration: 0.5, warmup: 0.5 });
      expect(r.errors).toBe(0);
      expect(served).toBe(200);
      expect(r.sent).toBe(100);
      expect(r.completed).toBe(100);
    });

    it('counts non-2xx answers as errors', async () => {
      const server = await httpServer((_req, res) => {
        res.writeHead(500, { 'Content-Length': 5 });
        res.end('oops\n');
      });
      const r = await runLoadgen(bin, 'rate', { port: server.port, rate: 500, duration: 0.5, warmup: 0 });
      expect(r.completed).toBe(0);
      expect(r.errors).toBe(r.sent);
      expect(r.errors).toBeGreaterThanOrEqual(200);
    });

    it('counts chunked responses as errors', async () => {
      // A write before end() and no Content-Length: node:http sends the body chunked.
      const server = await httpServer((_req, res) => {
        res.write('chunked ');
        res.end('body');
      });
      const r = await runLoadgen(bin, 'rate', { port: server.port, rate: 200, duration: 0.25, warmup: 0 });
      expect(r.completed).toBe(0);
      expect(r.errors).toBe(r.sent);
      expect(r.sent).toBeGreaterThan(0);
    });

    it('parses responses split into many small reads', async () => {
      // A raw server writing each response 3 bytes at a time, one write per loop turn, with
      // header names in odd case and a Connection: close on every 7th answer (the tool reconnects).
      let answered = 0;
      const server = net.createServer((socket) => {
        socket.setNoDelay(true);
        let pending = '';
        socket.on('data', (data) => {
          pending += data.toString('latin1');
          while (pending.includes('\r\n\r\n')) {
            pending = pending.slice(pending.indexOf('\r\n\r\n') + 4);
            const close = ++answered % 7 === 0;
            const body = 'y'.repeat(300);
            const text = `HTTP/1.1 200 OK\r\nX-Filler: ${'z'.repeat(100)}\r\ncontent-LENGTH:  ${body.length} \r\n` +
              `${close ? 'CONNECTION: Close\r\n' : ''}\r\n${body}`;
            let at = 0;
            const next = () => {
              if (socket.destroyed) return;
              socket.write(text.slice(at, at + 3), 'latin1');
              at += 3;
              if (at < text.length) setImmediate(next);
              else if (close) socket.end();
            };
            next();
          }
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
      const port = (server.address() as net.AddressInfo).port;
      const r = await runLoadgen(bin, 'rate', { port, rate: 100, duration: 0.5, connections: 5, warmup: 0 });
      expect(r.errors).toBe(0);
      expect(r.completed).toBe(50);
      expect(answered).toBe(50);
    });

    it('counts large bodies through to their end', async () => {
      const big = Buffer.alloc(4 << 20, 'b');
      const server = await httpServer((_req, res) => {
        res.writeHead(200, { 'Content-Length': big.length });
        res.end(big);
      });
      const r = await runLoadgen(bin, 'rate', { port: server.port, rate: 20, duration: 0.5, connections: 2, warmup: 0 });
      expect(r.errors).toBe(0);
      expect(r.completed).toBe(10);
    });

    it('measures the latency the server adds', async () => {
      const server = await httpServer((req, res) => after(20, () => ok(req, res)));
      const r = await runLoadgen(bin, 'rate', { port: server.port, rate: 200, duration: 1, warmup: 0 });
      expect(r.errors).toBe(0);
      expect(r.completed).toBeGreaterThanOrEqual(160);
      expect(r.p50us).toBeGreaterThanOrEqual(20_000);
      expectOrdered(r);
    });

    it('charges a stall to every request scheduled during it (no coordinated omission)', async () => {
      // One connection, 100 req/s, the first answer held 300 ms: the ~30 requests due meanwhile
      // wait in the queue, and their latency runs from when each was due, not from when it went out.
      let first = true;
      const server = await httpServer((req, res) => {
        if (first) {
          first = false;
          after(300, () => ok(req, res));
        } else {
          ok(req, res);
        }
      });
      const r = await runLoadgen(bin, 'rate', { port: server.port, rate: 100, duration: 1, connections: 1, warmup: 0 });
      expect(r.errors).toBe(0);
      expect(r.completed).toBe(100);
      expect(r.maxus).toBeGreaterThanOrEqual(300_000);
      // Measured from the send time, only 1 request in 100 would be slow and p90 would be ~0.1 ms.
      expect(r.p90us).toBeGreaterThanOrEqual(50_000);
      expect(r.p50us).toBeLessThan(r.p90us);
    });

    it('--per-second: a histogram per second of the schedule, placed by t0ns on CLOCK_MONOTONIC', async () => {
      // Answers to requests arriving 1.2 s or more after the first one are held 200 ms: only the
      // second second of the schedule is slow.
      let first = 0n;
      const server = await httpServer((req, res) => {
        const now = process.hrtime.bigint();
        if (first === 0n) first = now;
        if (now - first >= 1_200_000_000n) after(200, () => ok(req, res));
        else ok(req, res);
      });
      const before = process.hrtime.bigint();
      const r = await runLoadgen(bin, 'rate', { port: server.port, rate: 100, duration: 2, warmup: 0, perSecond: true });
      expect(r.errors).toBe(0);
      expect(BigInt(r.t0ns!)).toBeGreaterThan(before); // the same clock as process.hrtime
      expect(BigInt(r.t0ns!)).toBeLessThan(process.hrtime.bigint());
      const seconds = r.seconds!;
      expect(seconds.map((s) => s.n)).toEqual([100, 100]);
      expect(seconds[0]!.p99us).toBeLessThan(150_000);
      expect(seconds[1]!.p99us).toBeGreaterThanOrEqual(200_000);
      expect(seconds[1]!.maxus).toBe(r.maxus);
    });

    it('fails with exit 1 when nothing listens', async () => {
      const port = await freePort();
      await expect(runLoadgen(bin, 'rate', { port, rate: 10, duration: 1 })).rejects.toThrow(/cannot connect.*refused/i);
    });
  });

  describe('idle', () => {
    it('holds 300 answered connections open until stop()', async () => {
      const server = await httpServer(ok);
      const idle = await startIdle(bin, { port: server.port, connections: 300, request: true });
      cleanups.push(() => idle.stop().catch(() => {}));
      expect(idle.result).toMatchObject({ mode: 'idle', established: 300, failed: 0 });
      expect(idle.result.ms).toBeGreaterThan(0);
      expect(idle.result.cpuUs).toBeGreaterThan(0);
      expect(idle.pid).toBeGreaterThan(0);
      // Every connection was established and answered before the result was printed.
      expect(server.accepted()).toBe(300);
      expect(server.open()).toBe(300);
      await idle.stop();
      await waitFor(() => server.open() === 0, 'the held connections to close');
      expect(idle.closedByPeer).toBe(0);
    });

    it('reports held connections the server closed', async () => {
      const open = new Set<net.Socket>();
      const server = net.createServer((socket) => {
        open.add(socket);
        socket.on('close', () => open.delete(socket));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
      const port = (server.address() as net.AddressInfo).port;
      const idle = await startIdle(bin, { port, connections: 20 });
      cleanups.push(() => idle.stop().catch(() => {}));
      expect(idle.result).toMatchObject({ established: 20, failed: 0 });
      await waitFor(() => open.size === 20, 'the server to accept 20 connections');
      for (const socket of [...open].slice(0, 5)) socket.destroy();
      await waitFor(() => open.size === 15, 'the server to close 5');
      await idle.stop();
      expect(idle.closedByPeer).toBe(5);
      await waitFor(() => open.size === 0, 'the remaining connections to close');
    });

    it('ends on its own after --hold seconds', async () => {
      const server = await httpServer(ok);
      const r = await runLoadgen(bin, 'idle', { port: server.port, connections: 10, hold: 0.2 });
      expect(r).toMatchObject({ mode: 'idle', established: 10, failed: 0 });
      await waitFor(() => server.open() === 0, 'the held connections to close');
    });

    it('holds without reading a stdin that never ends (/dev/random: no busy loop)', async (ctx) => {
      const open = new Set<net.Socket>();
      const server = net.createServer((socket) => {
        open.add(socket);
        socket.on('close', () => open.delete(socket));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
      const port = (server.address() as net.AddressInfo).port;
      // /dev/random is always readable and never at its end: a hold loop that reads its stdin
      // spins there at 100% CPU, 64 KiB a turn.
      const random = openSync('/dev/random', 'r');
      const child = spawn(bin, ['idle', '--port', String(port), '--connections', '3'], { stdio: [random, 'pipe', 'pipe'] });
      closeSync(random);
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d) => { stdout += d; });
      child.stderr!.on('data', (d) => { stderr += d; });
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      cleanups.push(() => { child.kill('SIGKILL'); });
      await waitFor(() => stdout.includes('\n') || child.exitCode !== null, 'the JSON line');
      expect(JSON.parse(stdout)).toMatchObject({ established: 3, failed: 0 });
      await waitFor(() => open.size === 3, 'the server to accept 3 connections');
      const fds = () => readdirSync(`/proc/${child.pid}/fd`).length;
      const before = fds();
      // The tool closing its end of a connection the server closed proves its hold loop has run,
      // with stdin in its epoll set.
      [...open][0]!.destroy();
      await waitFor(() => fds() === before - 1, 'loadgen to close the connection the server closed');
      let io: string;
      try {
        io = readFileSync(`/proc/${child.pid}/io`, 'utf8');
      } catch (error) {
        return ctx.skip(`cannot read /proc/<pid>/io: ${(error as Error).message}`);
      }
      // rchar counts read(2)s (not recv(2)s): the loader's few KiB, no 64 KiB of /dev/random.
      expect(Number(/^rchar: (\d+)$/m.exec(io)![1])).toBeLessThan(65536);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stderr).toContain('closedByPeer 1');
    });

    it('takes a closed stdin as at its end (not its epoll set taking fd 0)', async () => {
      const server = await httpServer(ok);
      const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile('/bin/sh', ['-c', 'exec "$0" idle --port "$1" --connections 3 <&-', bin, String(server.port)],
          (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }));
      });
      expect(r.stderr).toBe('closedByPeer 0\n');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ mode: 'idle', established: 3, failed: 0 });
      await waitFor(() => server.open() === 0, 'the held connections to close');
    });

    it('refuses more connections than the open-files limit allows', () => {
      const hard = readFileSync('/proc/self/limits', 'utf8').match(/Max open files\s+\d+\s+(\d+)/);
      if (!hard) return;
      const r = spawnSync(bin, ['idle', '--port', '1', '--connections', String(Number(hard[1]))], { encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/RLIMIT_NOFILE/);
    });
  });

  describe('close', () => {
    it('opens one connection per request', async () => {
      const server = await httpServer(ok);
      const r = await runLoadgen(bin, 'close', { port: server.port, duration: 1, connections: 10 });
      expect(r.mode).toBe('close');
      expect(r.errors).toBe(0);
      expect(r.completed).toBeGreaterThan(50);
      expect(r.completed).toBe(server.accepted());
      expect(r.rps).toBeGreaterThan(0);
      expect(r.tfoUsed).toBe(0);
      expect(r.p50us).toBeLessThanOrEqual(r.p99us);
    });

    it('uses TCP Fast Open after the first connection fetched the cookie', async (ctx) => {
      // Bit 1: client TFO, bit 2: server TFO (both needed on one machine).
      const sysctl = '/proc/sys/net/ipv4/tcp_fastopen';
      const before = Number(readFileSync(sysctl, 'utf8').trim());
      if ((before & 3) !== 3) {
        if (process.getuid?.() !== 0) ctx.skip(`${sysctl} is ${before} (needs bits 1 and 2) and we are not root`);
        try {
          writeFileSync(sysctl, String(before | 3));
        } catch (error) {
          ctx.skip(`cannot enable TFO in ${sysctl}: ${(error as Error).message}`);
        }
        // Put it back only if it still holds our value: a concurrent benchmark may have set its own.
        cleanups.push(() => {
          if (Number(readFileSync(sysctl, 'utf8').trim()) === (before | 3)) writeFileSync(sysctl, String(before));
        });
      }
      const { fd } = listenLoopback();
      try {
        native.setsockopt(fd, 'TCP_FASTOPEN', 64);
      } catch (error) {
        native.close(fd);
        throw error;
      }
      const server = await httpServer(ok, { fd });
      // The kernel caches a server's TFO cookie per address (tcp_metrics), across runs: forget it
      // when we can (it is only a cache), so that the first connections must fetch it anew.
      const flush = spawnSync('ip', ['tcp_metrics', 'delete', '127.0.0.1'], { encoding: 'utf8' });
      const cookieForgotten = flush.status === 0 || /No such process/.test(flush.stderr ?? '');
      const r = await runLoadgen(bin, 'close', { port: server.port, duration: 1, connections: 4, fastopen: true });
      expect(r.errors).toBe(0);
      expect(r.completed).toBe(server.accepted());
      expect(r.tfoUsed).toBeGreaterThan(0);
      // Without a cookie the first connections (one per concurrent slot at most) send a plain SYN.
      if (cookieForgotten) expect(r.tfoUsed).toBeLessThan(r.completed);
      else expect(r.tfoUsed).toBeLessThanOrEqual(r.completed);
    });
  });

  describe('usage', () => {
    it.each([
      [['rate', '--port', '1', '--rate', 'fast', '--duration', '1'], '--rate'],
      [['rate', '--rate', '10', '--duration', '1'], '--port'],
      [['rate', '--port', '1', '--duration', '1'], '--rate'],
      [['close', '--port', '1'], '--duration'],
      [['idle', '--port', '1'], '--connections'],
      [['idle', '--port', '1', '--connections', '1', '--bogus'], '--bogus'],
      [['close', '--port', '1', '--duration', '1', '--rate', '5'], '--rate'],
      [['rate', '--port', '70000', '--rate', '1', '--duration', '1'], '--port'],
      [['idle', '--port', '1', '--connections', '1', '--host', 'localhost'], '--host'],
      [['idle', '--port', '1', '--connections'], '--connections'],
      [['sprint', '--port', '1'], 'sprint'],
    ])('%j exits 2 naming %s', (args, named) => {
      const r = spawnSync(bin, args, { encoding: 'utf8' });
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.split('\n')[0]).toContain(named);
    });

    it('runLoadgen rejects with the message', async () => {
      await expect(runLoadgen(bin, 'rate', { port: 1, duration: 1 })).rejects.toThrow(/exited with 2.*missing --rate/);
    });
  });
});
