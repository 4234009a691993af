/**
 * `user`, `group` and `chroot`: the master binds a port below 1024 as root; workers serve it as
 * the user, inside the root directory, with no capability left (none is needed without
 * transparent proxying; test/transparent/tproxy.test.ts covers the case that keeps two). A
 * single process (no master) drops the same way once its listeners are bound.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { CAP_NET_ADMIN, CAP_NET_RAW, privilegeDrop } from '../../src/process/privileges.js';
import { echoOnce } from '../helpers/load.js';
import { configText, echoServer, startMaster, tempDir, workerPids, writeFile, type Cleanup } from '../helpers/master.js';
import { waitFor } from '../helpers/sockets.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const root = process.getuid?.() === 0;

/** A free privileged port (below 1024) on 127.0.0.1. */
async function privilegedPort(): Promise<number> {
  for (let port = 1023; port > 600; port--) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port below 1024');
}

function status(pid: number): string {
  return readFileSync(`/proc/${pid}/status`, 'utf8');
}

describe('privilegeDrop()', () => {
  const config = (global: string[], bind = '127.0.0.1:1', server = '127.0.0.1:2'): ReturnType<typeof parseConfig> =>
    parseConfig([{ name: 't.cfg', text: configText(global, ['listen x', `    bind ${bind}`, `    server s ${server}`]) }], { env: {} });

  it('is null without user, group or chroot, and reduces the groups to the one chosen', () => {
    expect(privilegeDrop(config([]))).toBeNull();
    expect(privilegeDrop(config(['uid 1000', 'gid 1000', 'chroot /var/empty']))).toEqual({ uid: 1000, gid: 1000, groups: [1000], chroot: '/var/empty' });
  });

  it('keeps CAP_NET_ADMIN and CAP_NET_RAW only where transparent binds, usesrc or interfaces need them', () => {
    expect(privilegeDrop(config(['uid 1000'], '127.0.0.1:1 transparent'))?.keepCapabilities).toEqual([CAP_NET_ADMIN, CAP_NET_RAW]);
    expect(privilegeDrop(config(['uid 1000'], '127.0.0.1:1', '127.0.0.1:2 source 0.0.0.0 usesrc clientip'))?.keepCapabilities).toEqual([CAP_NET_ADMIN, CAP_NET_RAW]);
    expect(privilegeDrop(config(['uid 1000']))?.keepCapabilities).toBeUndefined();
  });
});

describe.skipIf(!root)('workers drop to the configured user and root directory', () => {
  it('user nobody and chroot: workers run as 65534 in the jail, serving a port below 1024 the master bound', async () => {
    const upstream = await echoServer(cleanups);
    const port = await privilegedPort();
    const dir = tempDir(cleanups);
    const jail = tempDir(cleanups, 'epoxy-jail-');
    const file = writeFile(dir, 'epoxy.cfg', configText(['nbthread 2', 'user nobody', 'group nogroup', `chroot ${jail}`], ['listen echo', `    bind 127.0.0.1:${port}`, `    server s1 127.0.0.1:${upstream}`]));
    const master = await startMaster(cleanups, ['-W', '-f', file]);
    await echoOnce(port, Buffer.from('below 1024\n'));
    expect(status(master.pid)).toMatch(/^Uid:\t0\t/m);
    const workers = workerPids(master.pid);
    expect(workers).toHaveLength(2);
    const nogroup = status(workers[0]!).match(/^Gid:\t(\d+)/m)![1];
    for (const worker of workers) {
      const text = status(worker);
      expect(text).toMatch(/^Uid:\t65534\t65534\t65534\t65534$/m);
      expect(text).toMatch(new RegExp(`^Groups:\\t${nogroup} ?$`, 'm'));
      expect(text).toMatch(/^CapEff:\t0000000000000000$/m);
      expect(text).toMatch(/^CapPrm:\t0000000000000000$/m);
      expect(readlinkSync(`/proc/${worker}/root`)).toBe(jail);
    }
    // A worker that dies is replaced by one that drops the same way.
    process.kill(workers[0]!, 'SIGKILL');
    await waitFor(() => workerPids(master.pid).length === 2 && !workerPids(master.pid).includes(workers[0]!), 'the replacement worker');
    await master.waitForLog('Loading success.', 1);
    await echoOnce(port, Buffer.from('after respawn\n'));
    for (const worker of workerPids(master.pid)) {
      await waitFor(() => /^Uid:\t65534\t/m.test(status(worker)), 'the replacement to drop to nobody');
      expect(readlinkSync(`/proc/${worker}/root`)).toBe(jail);
    }
  });

  it('a worker that cannot drop its privileges fails the start with the reason, and nothing is left', async () => {
    const dir = tempDir(cleanups);
    const port = await privilegedPort();
    const file = writeFile(dir, 'epoxy.cfg', configText(['nbthread 2', 'user nobody', `chroot ${dir}/missing`], ['listen echo', `    bind 127.0.0.1:${port}`, '    server s1 127.0.0.1:9']));
    const master = await startMaster(cleanups, ['-W', '-f', file], { ready: null });
    expect(await master.exited).toBe(1);
    expect(master.stderr()).toMatch(/cannot drop privileges: chroot ENOENT/);
    expect(master.stderr()).toMatch(/could not start/);
    // The port the master bound is free again.
    await new Promise<void>((resolve, reject) => {
      const probe = createServer();
      probe.once('error', reject);
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
    });
  });

  it('a single process (no master) drops after binding too', async () => {
    const upstream = await echoServer(cleanups);
    const port = await privilegedPort();
    const dir = tempDir(cleanups);
    const file = writeFile(dir, 'epoxy.cfg', configText(['user nobody'], ['listen echo', `    bind 127.0.0.1:${port}`, `    server s1 127.0.0.1:${upstream}`]));
    const single = await startMaster(cleanups, ['-f', file], { ready: 'listening on' });
    await echoOnce(port, Buffer.from('single\n'));
    expect(status(single.pid)).toMatch(/^Uid:\t65534\t65534\t65534\t65534$/m);
  });
});
