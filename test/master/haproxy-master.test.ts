/**
 * epoxy's master next to HAProxy 2.6's (`haproxy -W -S <sock> -db`), same configuration shape:
 * the `show proc` layout, and the master's lines for a reload and for a killed worker. One
 * difference is on purpose: HAProxy's master exits when its worker dies ("exit-on-failure"),
 * epoxy's respawns it. Skipped when haproxy is not installed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cli, configText, echoServer, startMaster, tempDir, workerPids, writeFile, type Cleanup, type MasterProcess } from '../helpers/master.js';
import { freePort, waitFor } from '../helpers/sockets.js';

const available = spawnSync('haproxy', ['-v'], { encoding: 'utf8' }).status === 0;

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** haproxy -W in the foreground, with its stderr. */
async function startHaproxy(file: string, sock: string): Promise<{ pid: number; stderr: () => string; exited: Promise<number | null> }> {
  const child = spawn('haproxy', ['-W', '-S', sock, '-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  await waitFor(() => stderr.includes('Loading success.') || child.exitCode !== null, `haproxy to start (${stderr})`, 15_000);
  return { pid: child.pid!, stderr: () => stderr, exited };
}

/** Lines with the pids and times replaced, so that both processes' answers compare. */
function shape(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.replace(/^\d+\s+/, '<pid> ').replace(/\d+d\d\dh\d\dm\d\ds/, '<uptime>').replace(/\(\d+\)/g, '(<pid>)').trimEnd());
}

describe.skipIf(!available)('the master next to HAProxy 2.6', () => {
  it('show proc, the reload and the killed-worker lines read the same', async () => {
    const upstream = await echoServer(cleanups);
    const dir = tempDir(cleanups);
    const body = (port: number): string[] => ['listen echo', `    bind 127.0.0.1:${port}`, `    server s1 127.0.0.1:${upstream}`];
    const haproxyFile = writeFile(dir, 'haproxy.cfg', configText(['maxconn 100'], body(await freePort())));
    const epoxyFile = writeFile(dir, 'epoxy.cfg', configText(['maxconn 100'], body(await freePort())));
    const haproxySock = join(dir, 'haproxy.sock');
    const epoxySock = join(dir, 'epoxy.sock');
    const haproxy = await startHaproxy(haproxyFile, haproxySock);
    const epoxy: MasterProcess = await startMaster(cleanups, ['-W', '-S', epoxySock, '-f', epoxyFile]);

    // show proc: the same columns and sections; epoxy adds <generation> as a last column.
    const theirs = shape(await cli(haproxySock, 'show proc'));
    const ours = shape(await cli(epoxySock, 'show proc'));
    expect(theirs[0]).toBe('#<PID>          <type>          <reloads>       <uptime>        <version>');
    expect(ours[0]).toBe(`${theirs[0]}       <generation>`);
    expect(theirs[1]).toMatch(/^<pid> master          0 \[failed: 0\]   <uptime>     \S+$/);
    expect(ours[1]).toMatch(/^<pid> master          0 \[failed: 0\]   <uptime>     \S+\s+1$/);
    expect(theirs.filter((l) => l.startsWith('#')).slice(1)).toEqual(['# workers', '# programs']);
    expect(ours.filter((l) => l.startsWith('#')).slice(1)).toEqual(['# workers', '# old workers', '# programs']);

    // A reload: the former worker's exit, word for word.
    for (const pid of [haproxy.pid, epoxy.pid]) process.kill(pid, 'SIGUSR2');
    const formerLine = /\[WARNING\] +\(\d+\) : Former worker \(\d+\) exited with code 0 \(Exit\)/;
    await waitFor(() => formerLine.test(haproxy.stderr()), `haproxy's former worker line (${haproxy.stderr()})`, 15_000);
    await epoxy.waitForLog(formerLine);

    // A worker killed: the same alert; then HAProxy's master leaves, epoxy's respawns.
    for (const pid of [haproxy.pid, epoxy.pid]) process.kill(workerPids(pid)[0]!, 'SIGKILL');
    const killedLine = /\[ALERT\] +\(\d+\) : Current worker \(\d+\) exited with code 137 \(Killed\)/;
    await waitFor(() => killedLine.test(haproxy.stderr()), `haproxy's killed worker line (${haproxy.stderr()})`, 15_000);
    await epoxy.waitForLog(killedLine);
    await haproxy.exited;
    expect(haproxy.stderr()).toContain('exit-on-failure: killing every processes with SIGTERM');
    await epoxy.waitForLog('Respawning worker 1 of generation 2.');
    expect(epoxy.alive()).toBe(true);
  });
});
