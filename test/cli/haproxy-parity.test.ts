/**
 * The same configuration file run by HAProxy and by epoxy, side by side: both must accept it and
 * behave the same way (here: round-robin alternation and the same answers). Skipped, with the
 * reason printed, when haproxy is not installed (.ci/run installs it).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/child.js';
import { freePort } from '../helpers/sockets.js';

const haproxyMissing = spawnSync('sh', ['-c', 'command -v haproxy']).status !== 0;
if (haproxyMissing) console.log('skipping the HAProxy side-by-side test: haproxy is not installed (apt-get install haproxy)');

const CONFIG = `
global
    maxconn 100

defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s

listen parity
    bind "127.0.0.1:\${PORT}"
    balance roundrobin
    server a "127.0.0.1:\${UP_A}"
    server b "127.0.0.1:\${UP_B}"
`;

async function listenOn(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

function ask(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1', () => socket.end('?'));
    let data = '';
    socket.on('data', (c) => (data += c.toString()));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
}

async function askUntilUp(port: number, child: ChildProcess, output: () => string): Promise<string> {
  for (const started = Date.now(); Date.now() - started < 10_000; ) {
    if (child.exitCode !== null) throw new Error(`exited early: ${output()}`);
    try {
      return await ask(port);
    } catch {
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  throw new Error(`never answered: ${output()}`);
}

describe.skipIf(haproxyMissing)('the same configuration under HAProxy and epoxy', () => {
  it('both accept it (-c) and alternate between the servers the same way', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epoxy-parity-'));
    const servers = [createServer((s) => s.resume().end('a')), createServer((s) => s.resume().end('b'))];
    const children: ChildProcess[] = [];
    try {
      const file = join(dir, 'parity.cfg');
      writeFileSync(file, CONFIG);
      const [upA, upB] = [await listenOn(servers[0]!), await listenOn(servers[1]!)];
      const runs = [
        { name: 'haproxy', command: 'haproxy', args: ['-db', '-f', file] },
        { name: 'epoxy', command: process.execPath, args: [`${ROOT}bin/epoxy`, '-f', file] },
      ];
      const answers: Record<string, string[]> = {};
      for (const run of runs) {
        const env = { ...process.env, PORT: String(await freePort()), UP_A: String(upA), UP_B: String(upB) };
        const check = spawnSync(run.command, [...run.args.filter((a) => a !== '-db'), '-c'], { env, encoding: 'utf8' });
        expect({ run: run.name, status: check.status, out: check.status === 0 ? '' : check.stdout + check.stderr }).toEqual({ run: run.name, status: 0, out: '' });
        const child = spawn(run.command, run.args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(child);
        let output = '';
        child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
        child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
        const port = Number(env.PORT);
        const first = await askUntilUp(port, child, () => output);
        answers[run.name] = [first];
        for (let i = 0; i < 3; i++) answers[run.name]!.push(await ask(port));
      }
      // Each starts its rotation independently; both must alternate.
      for (const name of ['haproxy', 'epoxy']) {
        const seq = answers[name]!;
        expect(new Set(seq)).toEqual(new Set(['a', 'b']));
        expect(seq[0]).not.toBe(seq[1]);
        expect(seq[2]).toBe(seq[0]);
        expect(seq[3]).toBe(seq[1]);
      }
    } finally {
      for (const child of children) child.kill('SIGTERM');
      await Promise.all(children.map((c) => (c.exitCode !== null ? null : new Promise((resolve) => c.once('exit', resolve)))));
      for (const s of servers) s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
