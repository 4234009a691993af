/**
 * Sessions ended by epoxy's own timers, side by side with HAProxy 2.6 on the same file: the
 * termination state of the tcplog line and whether the client reads a FIN or an RST must be the
 * same. Cases: a connect timeout (sC), a server that stops reading while the client sends (sD:
 * the side that does not read is the one blamed), an idle session (cD), no usable server (SC)
 * and a PROXY header that never comes (no tcplog line, HAProxy's own wording). Skipped, saying
 * why, when haproxy is not installed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { native } from '../../src/native.js';
import { ROOT } from '../helpers/child.js';
import { freePort, waitFor } from '../helpers/sockets.js';

const haproxyMissing = spawnSync('sh', ['-c', 'command -v haproxy']).status !== 0;
if (haproxyMissing) console.log('skipping the HAProxy termination-state comparison: haproxy is not installed');

const CASES = ['ct', 'stall', 'hose', 'idle', 'nosrv', 'nobe', 'rej', 'hs'] as const;
type Case = (typeof CASES)[number];

const CONFIG = `
global
    maxconn 100
    log stdout format raw local0

defaults
    mode tcp
    log global
    option tcplog
    timeout connect 300ms
    timeout client 1s
    timeout server 1s
    retries 1

listen ct
    bind "127.0.0.1:\${P_ct}"
    server s "127.0.0.1:\${FULL}"

listen stall
    bind "127.0.0.1:\${P_stall}"
    server s "127.0.0.1:\${MUTE}"

listen idle
    bind "127.0.0.1:\${P_idle}"
    server s "127.0.0.1:\${MUTE}"

listen nosrv
    bind "127.0.0.1:\${P_nosrv}"
    server s "127.0.0.1:\${MUTE}" disabled

listen hs
    bind "127.0.0.1:\${P_hs}" accept-proxy
    server s "127.0.0.1:\${MUTE}"

listen hose
    bind "127.0.0.1:\${P_hose}"
    server s "127.0.0.1:\${HOSE}"

listen rej
    bind "127.0.0.1:\${P_rej}"
    tcp-request connection reject
    server s "127.0.0.1:\${MUTE}"

frontend nobe
    bind "127.0.0.1:\${P_nobe}"
    use_backend unused if FALSE

backend unused
    server s "127.0.0.1:\${MUTE}"
`;

function connectTo(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/**
 * Connects, sends what the case sends, and reports how the proxy ended it: FIN or RST. The
 * client of `hose` reads nothing until `logged` (its session has ended), then all of it.
 */
async function probe(port: number, what: Case, logged: Promise<unknown>): Promise<'FIN' | 'RST'> {
  let socket: Socket;
  try {
    socket = await connectTo(port);
  } catch {
    return 'RST'; // reset before the connect callback ran (an immediate reject)
  }
  socket.removeAllListeners('error');
  const ended = new Promise<'FIN' | 'RST'>((resolve) => {
    socket.once('end', () => resolve('FIN'));
    socket.once('error', () => resolve('RST'));
  });
  if (what === 'hose') await logged;
  socket.resume();
  if (what === 'ct' || what === 'nosrv' || what === 'nobe' || what === 'rej') socket.write('hello');
  // More than the server's and the proxy's buffers hold: the client is left with bytes unread.
  if (what === 'stall') socket.write(Buffer.alloc(16 * 1024 * 1024, 'x'));
  const how = await ended;
  socket.destroy();
  return how;
}

describe.skipIf(haproxyMissing)('sessions ended by timers: HAProxy and epoxy side by side', () => {
  it('log the same termination states and close the client with a FIN', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epoxy-edges-'));
    const file = join(dir, 'edges.cfg');
    writeFileSync(file, CONFIG);
    // A listener that never accepts, its queue already full: SYNs to it are dropped.
    const { SOCK_STREAM, SOCK_NONBLOCK, AF_INET } = native.constants;
    const full = native.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
    native.bind(full, native.addrPack('ipv4', '127.0.0.1', 0));
    native.listen(full, 0);
    const fillers: number[] = [];
    for (let i = 0; i < 3; i++) {
      const f = native.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
      native.connect(f, native.getsockname(full));
      fillers.push(f);
    }
    // A server that accepts and never reads.
    const held: Socket[] = [];
    const mute = createServer({ pauseOnConnect: true }, (s) => {
      s.on('error', () => {});
      held.push(s);
    });
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    // A server that sends more than any buffer holds, to a client that does not read.
    const hose = createServer((s) => {
      s.on('error', () => {});
      held.push(s);
      s.write(Buffer.alloc(16 * 1024 * 1024, 'y'));
    });
    await new Promise<void>((resolve) => hose.listen(0, '127.0.0.1', resolve));
    const children: ChildProcess[] = [];
    const seen: Record<string, Record<Case, { how: string; log: string; shape?: string }>> = {};
    try {
      const runs = [
        { name: 'haproxy', command: 'haproxy', args: ['-db', '-f', file] },
        { name: 'epoxy', command: process.execPath, args: [`${ROOT}bin/epoxy`, '-f', file] },
      ];
      for (const run of runs) {
        const env: Record<string, string> = {
          ...(process.env as Record<string, string>),
          FULL: String(native.addrUnpack(native.getsockname(full)).port),
          MUTE: String((mute.address() as { port: number }).port),
          HOSE: String((hose.address() as { port: number }).port),
        };
        for (const c of CASES) env[`P_${c}`] = String(await freePort());
        const child = spawn(run.command, run.args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(child);
        let output = '';
        child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
        child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
        // Up once the last listener takes a connection; only what follows is compared.
        for (const started = Date.now(); ; ) {
          if (child.exitCode !== null || Date.now() - started > 10_000) throw new Error(`${run.name} never listened: ${output}`);
          const up = await connectTo(Number(env.P_hs)).then(
            (s) => (s.destroy(), true),
            () => false,
          );
          if (up) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await waitFor(() => / hs\/1: /.test(output), `${run.name} logging the readiness probe`, 10_000);
        const since = output.length;
        const lineOf = (c: Case): string => {
          const lines = output.slice(since).split('\n');
          if (c === 'hs') return lines.filter((l) => / hs\/1: /.test(l)).at(-1) ?? '';
          return lines.find((l) => new RegExp(`\\] ${c} ${c}/`).test(l)) ?? '';
        };
        const hoseLogged = waitFor(() => lineOf('hose') !== '', `${run.name}'s hose line`, 10_000);
        const hows = await Promise.all(CASES.map((c) => probe(Number(env[`P_${c}`]), c, hoseLogged)));
        // HAProxy logs nothing for a connection refused by `tcp-request connection reject`.
        const logged = CASES.filter((c) => c !== 'rej');
        await waitFor(() => logged.every((c) => lineOf(c) !== ''), `${run.name}'s log lines:\n${output}`, 10_000);
        seen[run.name] = Object.fromEntries(
          CASES.map((c, i) => {
            const line = lineOf(c);
            const state = c === 'hs' ? line.replace(/^.* hs\/1: /, '') : (/ \d+ (\S\S) /.exec(line.replace(/^\S+ \[[^\]]*\] /, ''))?.[1] ?? line);
            // The line's shape (numbers blanked, the client's address and port included): the
            // date format (%t), the fields and their separators must be HAProxy's.
            const shape = line.replace(/-?\d+/g, 'N');
            return [c, { how: hows[i]!, log: state, shape }];
          }),
        ) as Record<Case, { how: string; log: string; shape?: string }>;
      }
      // What HAProxy 2.6.12 does, so that a difference names the side that moved.
      const shapes = (run: string): Record<string, string | undefined> =>
        Object.fromEntries(Object.entries(seen[run]!).map(([c, v]) => [c, v.shape]));
      expect(shapes('haproxy').ct).toMatch(/^N\.N\.N\.N:N \[N\/[A-Z][a-z]{2}\/N:N:N:N\.N\] ct ct\/\S+ N\/N\/N N sC N\/N\/N\/N\/N N\/N$/);
      expect(shapes('epoxy')).toEqual(shapes('haproxy'));
      for (const run of ['haproxy', 'epoxy']) for (const v of Object.values(seen[run]!)) delete v.shape;
      expect(seen.haproxy).toEqual({
        ct: { how: 'FIN', log: 'sC' },
        stall: { how: 'FIN', log: 'sD' },
        hose: { how: 'FIN', log: 'cD' },
        idle: { how: 'FIN', log: 'cD' },
        nosrv: { how: 'FIN', log: 'SC' },
        nobe: { how: 'FIN', log: 'SC' },
        rej: { how: 'RST', log: '' },
        hs: { how: 'FIN', log: 'Timeout while waiting for PROXY protocol header' },
      });
      expect(seen.epoxy).toEqual(seen.haproxy);
    } finally {
      for (const child of children) child.kill('SIGTERM');
      await Promise.all(children.map((c) => (c.exitCode !== null ? null : new Promise((resolve) => c.once('exit', resolve)))));
      for (const s of held) s.destroy();
      mute.close();
      hose.close();
      for (const fd of [...fillers, full]) native.close(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
