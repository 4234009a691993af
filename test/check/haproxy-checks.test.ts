/**
 * epoxy's health-check lines next to HAProxy 2.6's, from one configuration: servers that refuse
 * connections go DOWN (a backup among them), the last one raises the "no server available" alert,
 * and one that starts listening comes UP. Only pids and check durations differ. Skipped without
 * haproxy.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { configText, startMaster, tempDir, writeFile, type Cleanup } from '../helpers/master.js';
import { freePort, waitFor } from '../helpers/sockets.js';

const available = spawnSync('haproxy', ['-v'], { encoding: 'utf8' }).status === 0;

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The check lines of a log, pids and durations replaced, in a stable order. */
function checkLines(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => / is (UP|DOWN), reason:|has no server available/.test(l))
    .map((l) => l.replace(/\(\d+\)/, '(<pid>)').replace(/check duration: \d+ms/, 'check duration: <n>ms'));
}

describe.skipIf(!available)('health-check lines next to HAProxy 2.6', () => {
  it('DOWN, Backup DOWN, the no-server alert and UP read the same', async () => {
    const dir = tempDir(cleanups);
    const ports = { s1: await freePort(), s2: await freePort(), b1: await freePort() };
    const body = (front: number): string[] => [
      'backend be',
      `    server s1 127.0.0.1:${ports.s1} check inter 200 rise 1 fall 1`,
      `    server s2 127.0.0.1:${ports.s2} check inter 200 rise 1 fall 1`,
      `    server b1 127.0.0.1:${ports.b1} check inter 200 backup`,
      'frontend fe',
      `    bind 127.0.0.1:${front}`,
      '    default_backend be',
    ];
    const haproxyFile = writeFile(dir, 'haproxy.cfg', configText(['maxconn 100'], body(await freePort())));
    const epoxyFile = writeFile(dir, 'epoxy.cfg', configText(['maxconn 100'], body(await freePort())));

    const haproxy = spawn('haproxy', ['-db', '-f', haproxyFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    let haproxyErr = '';
    haproxy.stderr!.on('data', (c: Buffer) => (haproxyErr += c.toString()));
    cleanups.push(() => void haproxy.kill('SIGKILL'));
    const epoxy = await startMaster(cleanups, ['-f', epoxyFile], { ready: 'listening on' });

    // Nothing listens: all three go down, then the alert.
    const down = (text: string): boolean => checkLines(text).some((l) => l.includes('has no server available'));
    await waitFor(() => down(haproxyErr) && down(epoxy.stderr()), `both to report every server down (haproxy: ${haproxyErr}; epoxy: ${epoxy.stderr()})`, 15_000);
    // s1 comes to life: UP in both.
    const s1 = createServer((s) => s.destroy());
    await new Promise<void>((resolve) => s1.listen(ports.s1, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => s1.close(() => resolve())));
    const up = (text: string): boolean => checkLines(text).some((l) => l.includes('be/s1 is UP'));
    await waitFor(() => up(haproxyErr) && up(epoxy.stderr()), 'both to report s1 UP', 15_000);

    const theirs = checkLines(haproxyErr);
    const ours = checkLines(epoxy.stderr());
    // The DOWN lines come in check order, which each spreads its own way, and their counts follow
    // that order: compare them as sets with the counts set apart, then the counts' wording.
    const counts = (l: string): string => l.replace(/\d+ active and \d+ backup servers left\.( Running on backup\.)?/, '<counts>');
    expect(new Set(ours.slice(0, 3).map(counts))).toEqual(new Set(theirs.slice(0, 3).map(counts)));
    for (const lines of [ours, theirs]) {
      for (const line of lines.slice(0, 3)) {
        const [, active, backups] = /(\d+) active and (\d+) backup servers left\./.exec(line)!;
        expect(line.includes('Running on backup.'), line).toBe(active === '0' && backups !== '0');
      }
    }
    expect(ours.slice(3)).toEqual(theirs.slice(3));
    expect(theirs.slice(3)).toEqual([
      "[ALERT]    (<pid>) : backend 'be' has no server available!",
      '[WARNING]  (<pid>) : Server be/s1 is UP, reason: Layer4 check passed, check duration: <n>ms. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.',
    ]);
  });
});
