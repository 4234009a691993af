/**
 * Running real HAProxy 2.6 next to epoxy, for tests that compare what both do (log lines,
 * states). Such tests skip themselves where haproxy is not installed (`.ci/run` installs it).
 */
import { spawn, spawnSync } from 'node:child_process';
import { configText, startMaster, tempDir, writeFile, type Cleanup, type MasterProcess } from './master.js';
import { freePort } from './sockets.js';

export const haproxyAvailable = spawnSync('haproxy', ['-v'], { encoding: 'utf8' }).status === 0;

/**
 * HAProxy (`-db`) and epoxy started on the same configuration (`body`, given each one's frontend
 * port), each with its stderr kept.
 */
export async function sideBySide(
  cleanups: Cleanup[],
  body: (front: number) => string[],
): Promise<{ haproxy: { stderr: () => string }; epoxy: MasterProcess; haproxyPort: number; epoxyPort: number }> {
  const dir = tempDir(cleanups);
  const haproxyPort = await freePort();
  const epoxyPort = await freePort();
  const haproxyFile = writeFile(dir, 'haproxy.cfg', configText(['maxconn 100'], body(haproxyPort)));
  const epoxyFile = writeFile(dir, 'epoxy.cfg', configText(['maxconn 100'], body(epoxyPort)));
  const child = spawn('haproxy', ['-db', '-f', haproxyFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  cleanups.push(() => void child.kill('SIGKILL'));
  const epoxy = await startMaster(cleanups, ['-f', epoxyFile], { ready: 'listening on' });
  return { haproxy: { stderr: () => stderr }, epoxy, haproxyPort, epoxyPort };
}
