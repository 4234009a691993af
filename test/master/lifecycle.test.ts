/**
 * The rest of the master's life: hard-stop-after and mworker-max-reloads cut old generations
 * that would live forever, SIGTTOU/SIGTTIN reach every worker, the master CLI on TCP and in
 * interactive mode.
 */
import { join } from 'node:path';
import { connect as netConnect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LongTransfer, echoOnce } from '../helpers/load.js';
import { cli, configText, echoServer, parseShowProc, startMaster, tempDir, workerPids, writeFile, type Cleanup } from '../helpers/master.js';
import { freePort, waitFor } from '../helpers/sockets.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(global: string[]): Promise<{ file: string; port: number; sock: string }> {
  const upstream = await echoServer(cleanups);
  const port = await freePort();
  const dir = tempDir(cleanups);
  const file = writeFile(dir, 'epoxy.cfg', configText(global, ['listen echo', `    bind 127.0.0.1:${port}`, `    server s1 127.0.0.1:${upstream}`]));
  return { file, port, sock: join(dir, 'master.sock') };
}

describe('old generations', () => {
  it('hard-stop-after closes the sessions an old generation still holds', async () => {
    const { file, port, sock } = await setup(['nbthread 1', 'hard-stop-after 300ms']);
    const master = await startMaster(cleanups, ['-W', '-S', sock, '-f', file]);
    const [old] = workerPids(master.pid);
    const transfer = new LongTransfer(port, 3);
    await transfer.connected;
    await waitFor(() => transfer.receivedBytes > 0, 'the session to relay');
    expect(await cli(sock, 'reload')).toBe('Success=1\n');
    await master.waitForLog('hard-stop-after (300 ms) reached for generation 1: closing the sessions of 1 worker(s).');
    await master.waitForLog(`Former worker (${old}) exited with code 0 (Exit)`);
    const result = await transfer.finish();
    // Cut, not finished: what came back is a strict prefix of what was sent.
    expect(result.receivedBytes).toBeLessThan(result.sentBytes);
    expect(parseShowProc(await cli(sock, 'show proc')).filter((r) => r.old)).toEqual([]);
  });

  it('mworker-max-reloads terminates a worker that lived through more reloads than that', async () => {
    const { file, port, sock } = await setup(['nbthread 1', 'mworker-max-reloads 1']);
    const master = await startMaster(cleanups, ['-W', '-S', sock, '-f', file]);
    const [first] = workerPids(master.pid);
    const transfer = new LongTransfer(port, 4);
    await transfer.connected;
    await waitFor(() => transfer.receivedBytes > 0, 'the session to relay');
    expect(await cli(sock, 'reload')).toBe('Success=1\n');
    // Reloaded once: it may stay, holding the session.
    expect(parseShowProc(await cli(sock, 'show proc')).filter((r) => r.old).map((r) => r.pid)).toEqual([first]);
    expect(await cli(sock, 'reload')).toBe('Success=1\n');
    await master.waitForLog(`Former worker (${first}) survived 2 reloads, more than mworker-max-reloads (1): sending SIGTERM.`);
    await master.waitForLog(`Former worker (${first}) exited`);
    await transfer.finish();
  });
});

describe('signals passed on to the workers', () => {
  it('SIGTTOU pauses every worker (connections wait in the queue), SIGTTIN resumes them', async () => {
    const { file, port } = await setup(['nbthread 2']);
    const master = await startMaster(cleanups, ['-W', '-f', file]);
    master.child.kill('SIGTTOU');
    await master.waitForLog('Proxy echo paused.', 2);
    // Accepted by the kernel, answered by nobody while paused.
    const socket = netConnect(port, '127.0.0.1');
    let echoed = '';
    socket.on('data', (c: Buffer) => (echoed += c.toString()));
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write('queued\n');
    cleanups.push(() => void socket.destroy());
    master.child.kill('SIGTTIN');
    await waitFor(() => echoed === 'queued\n', 'the queued connection to be served after SIGTTIN');
    await echoOnce(port, Buffer.from('resumed\n'));
  });
});

describe('the master CLI', () => {
  it('listens on ip:port too, runs several commands split by ;, and has an interactive prompt', async () => {
    const { file } = await setup(['nbthread 1']);
    const cliPort = await freePort();
    await startMaster(cleanups, ['-W', '-S', `127.0.0.1:${cliPort}`, '-f', file]);
    const answer = await cli(`127.0.0.1:${cliPort}`, 'show version; @1 show pid');
    const [version, pid] = answer.trim().split('\n');
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
    expect(Number(pid)).toBeGreaterThan(0);
    expect(await cli(`127.0.0.1:${cliPort}`, '@9 show pid')).toBe("Can't find the target process '9'.\n");
    expect(await cli(`127.0.0.1:${cliPort}`, 'show nothing')).toMatch(/^Unknown command: 'show nothing'\nThe following commands are valid/);

    const session = netConnect(cliPort, '127.0.0.1');
    let text = '';
    session.on('data', (c: Buffer) => (text += c.toString()));
    await new Promise<void>((resolve) => session.once('connect', resolve));
    cleanups.push(() => void session.destroy());
    session.write('prompt\n');
    await waitFor(() => text.endsWith('\nmaster> '), 'the prompt');
    session.write('show version\n');
    await waitFor(() => text.split('master> ').length === 3, 'the second prompt');
    expect(text).toMatch(/^\nmaster> \d+\.\d+\.\d+\n\nmaster> $/);
    session.write('quit\n');
    await new Promise<void>((resolve) => session.once('close', () => resolve()));
  });
});
