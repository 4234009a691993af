/**
 * `epoxy -D`: the command exits only once the daemon serves (0) or has failed (non-zero, with the
 * error on stderr); the daemon runs in its own session with its stdio on /dev/null, writes the
 * master's pid to the pidfile, and its workers die with it.
 *
 * HAProxy 2.6 for comparison: `haproxy -D` exits 0 once its own startup is done, and 1 with
 * "[ALERT] ... Binding [cfg:N] for proxy x: cannot bind socket (Address already in use) for
 * [127.0.0.1:P]" and "[ALERT] ... Some protocols failed to start their listeners! Exiting." when
 * the port is taken by a socket without SO_REUSEPORT. (Two HAProxy processes, or two epoxy ones,
 * may share a port: both set SO_REUSEPORT.)
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/child.js';
import { echoOnce } from '../helpers/load.js';
import { BIN, configText, echoServer, existsSync, processAlive, tempDir, workerPids, writeFile, type Cleanup } from '../helpers/master.js';
import { freePort, waitFor } from '../helpers/sockets.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function daemon(args: string[]): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, [BIN, '-D', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stderr: result.stderr };
}

/** Kills the daemon whose pid is in `pidfile` (and so its workers) at the end of the test. */
function reap(pid: number): void {
  cleanups.push(async () => {
    const workers = workerPids(pid);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await waitFor(() => !processAlive(pid) && workers.every((w) => !processAlive(w)), 'the daemon and its workers to go');
  });
}

describe('epoxy -D', () => {
  it('exits 0 only once the port accepts; the pidfile holds the master; killing the master leaves no worker', async () => {
    const upstream = await echoServer(cleanups);
    const port = await freePort();
    const dir = tempDir(cleanups);
    const pidfile = join(dir, 'epoxy.pid');
    const file = writeFile(dir, 'epoxy.cfg', configText(['nbthread 2'], ['listen echo', `    bind 127.0.0.1:${port}`, `    server s1 127.0.0.1:${upstream}`]));
    const result = daemon(['-p', pidfile, '-f', file]);
    expect(result.status, result.stderr).toBe(0);
    // The command's exit is the readiness signal: no wait, no retry.
    const pid = Number(readFileSync(pidfile, 'utf8').trim());
    reap(pid);
    await echoOnce(port, Buffer.from('served at once\n'));
    expect(result.stderr).toContain('Loading success.');

    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // state ppid pgrp session: its own session (setsid), no longer the launcher's child.
    expect(Number(stat[3])).toBe(pid);
    expect(Number(stat[1])).not.toBe(process.pid);
    for (const fd of [0, 1, 2]) expect(readlinkSync(`/proc/${pid}/fd/${fd}`)).toBe('/dev/null');
    const workers = workerPids(pid);
    expect(workers).toHaveLength(2);

    process.kill(pid, 'SIGKILL');
    await waitFor(() => workers.every((w) => !processAlive(w)), 'the workers to follow their master');
  });

  it('exits non-zero with the message when the port is in use, leaving nothing behind', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => holder.close(() => resolve())));
    const port = (holder.address() as { port: number }).port;
    const dir = tempDir(cleanups);
    const pidfile = join(dir, 'epoxy.pid');
    const file = writeFile(dir, 'epoxy.cfg', configText([], ['listen echo', `    bind 127.0.0.1:${port}`, '    server s1 127.0.0.1:9']));
    const result = daemon(['-p', pidfile, '-f', file]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`Binding [${file}:8] for proxy echo: cannot bind socket (Address already in use) for [127.0.0.1:${port}]`);
    expect(result.stderr).toContain('Some protocols failed to start their listeners! Exiting.');
    expect(existsSync(pidfile)).toBe(false);
  });

  it('exits non-zero with file:line for an invalid configuration', () => {
    const dir = tempDir(cleanups);
    const file = writeFile(dir, 'epoxy.cfg', configText(['maxconn lots'], ['listen echo', '    bind 127.0.0.1:9', '    server s1 127.0.0.1:9']));
    const result = daemon(['-f', file]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`[${file}:2]`);
    expect(result.stderr).toContain('Fatal errors found in configuration.');
  });

  it("'daemon' in the configuration does the same, and -db keeps it in the foreground", async () => {
    const upstream = await echoServer(cleanups);
    const port = await freePort();
    const dir = tempDir(cleanups);
    const pidfile = join(dir, 'epoxy.pid');
    const file = writeFile(dir, 'epoxy.cfg', configText(['daemon', `pidfile ${pidfile}`], ['listen echo', `    bind 127.0.0.1:${port}`, `    server s1 127.0.0.1:${upstream}`]));
    const result = spawnSync(process.execPath, [BIN, '-f', file], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(result.status, result.stderr).toBe(0);
    const pid = Number(readFileSync(pidfile, 'utf8').trim());
    reap(pid);
    await echoOnce(port, Buffer.from('daemon keyword\n'));
    process.kill(pid, 'SIGTERM');
    await waitFor(() => !processAlive(pid), 'the daemon to stop on SIGTERM');
    expect(existsSync(pidfile)).toBe(false);
  });
});
