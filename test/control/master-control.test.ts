/**
 * The runtime API under a master with two workers: the master serves the stats socket for the
 * whole process. A server set to maint gets no new session from either worker; `show sess`
 * lists the sessions of both; `shutdown session` cuts the one named, in whichever worker holds
 * it; `show servers state` and the checks' states come from the master; a reload keeps a state
 * set by a command.
 */
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/control/client.js';
import { cli, configText, startMaster, tempDir, writeFile, type Cleanup } from '../helpers/master.js';
import { firstAnswerOf, heldSession, holdingServer } from '../helpers/servers.js';
import { freePort, waitForAsync } from '../helpers/sockets.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});


describe('runtime API under a master', () => {
  it('one socket for the whole process: states reach every worker, sessions of all workers are listed and cut', async () => {
    const a = (await holdingServer(cleanups, 'a')).port;
    const b = (await holdingServer(cleanups, 'b')).port;
    const port = await freePort();
    const dir = tempDir(cleanups);
    const sock = join(dir, 'master.sock');
    const stats = join(dir, 'stats.sock');
    const file = writeFile(
      dir,
      'epoxy.cfg',
      configText(['nbthread 2', `stats socket ${stats} level admin`], ['listen app', `    bind 127.0.0.1:${port}`, `    server a 127.0.0.1:${a} check inter 200`, `    server b 127.0.0.1:${b}`]),
    );
    await startMaster(cleanups, ['-W', '-S', sock, '-f', file]);
    const admin = new ControlClient(stats);

    expect(await admin.text('set server app/a state maint')).toBe('\n');
    // Both workers have it (their own view, through the master CLI).
    const both = async (line: string): Promise<boolean> => (await cli(sock, '@1 show health; @2 show health')).split('\n').filter((l) => l === line).length === 2;
    await waitForAsync(() => both('app/a maint up'), 'both workers to have a in maint');
    const answers: string[] = [];
    for (let i = 0; i < 20; i++) answers.push(await firstAnswerOf(port));
    expect(answers).toEqual(Array(20).fill('b'));
    // The master's own view.
    expect(await admin.text('show servers state app')).toMatch(/\n1 app 1 a 127\.0\.0\.1 0 1 1 1 /);
    // Counters summed over both workers: every one of the 20 sessions, whichever worker took it.
    await waitForAsync(async () => {
      const row = (await admin.text('show stat')).split('\n').find((l) => l.startsWith('app,b,'));
      return row !== undefined && Number(row.split(',')[7]) >= 20;
    }, 'show stat to count the 20 sessions on b');

    // A reload keeps it: the new workers start from the master's copy.
    expect(await cli(sock, 'reload')).toBe('Success=1\n');
    for (let i = 0; i < 10; i++) expect(await firstAnswerOf(port)).toBe('b');
    expect(await admin.text('set server app/a state ready')).toBe('\n');
    await waitForAsync(() => both('app/a ready up'), 'both workers to have a ready');

    // Sessions held open until each worker has some: listed together, each cut by its id.
    const sessions: Array<{ socket: Socket; closed: Promise<void> }> = [];
    const pids = async (): Promise<Set<string>> => {
      const { data } = await admin.call<{ sessions: { id: string }[] }>('show sess');
      return new Set(data!.sessions.map((s) => s.id.slice(2, 10)));
    };
    await waitForAsync(async () => {
      sessions.push(await heldSession(cleanups, port));
      return (await pids()).size === 2;
    }, 'sessions in both workers');
    const listed = await admin.call<{ sessions: { id: string }[] }>('show sess');
    expect(listed.data!.sessions).toHaveLength(sessions.length);
    const [first] = listed.data!.sessions;
    expect(await admin.text(`shutdown session ${first!.id}`)).toBe('\n');
    const after = await admin.call<{ sessions: { id: string }[] }>('show sess');
    expect(after.data!.sessions.map((s) => s.id)).not.toContain(first!.id);
    expect(after.data!.sessions).toHaveLength(sessions.length - 1);
    expect(await admin.text(`shutdown session ${first!.id}`)).toBe("No such session (use 'show sess').\n\n");
  }, 60_000);
});
