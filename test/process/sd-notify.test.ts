/**
 * sd_notify: the master tells systemd (NOTIFY_SOCKET) when it serves, reloads and stops; its
 * workers never do. The "systemd" here is a unix datagram socket the test binds.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SocketAddress } from '../../src/address.js';
import { constants, native } from '../../src/native.js';
import { sdNotify } from '../../src/process/sd-notify.js';
import { cli, configText, echoServer, startMaster, tempDir, writeFile, type Cleanup } from '../helpers/master.js';
import { freePort, waitFor } from '../helpers/sockets.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A bound unix datagram socket; messages() drains what arrived. */
function notifySocket(path: string): { messages: () => string[] } {
  const fd = native.socket(constants.AF_UNIX, constants.SOCK_DGRAM);
  cleanups.push(() => void native.close(fd));
  native.setNonBlocking(fd, true);
  native.bind(fd, SocketAddress.from('unix', path).bytes);
  const received: string[] = [];
  const buffer = Buffer.alloc(4096);
  return {
    messages: () => {
      for (;;) {
        const n = native.recv(fd, buffer);
        if (n <= 0) break;
        received.push(buffer.subarray(0, n).toString());
      }
      return received;
    },
  };
}

describe('sdNotify()', () => {
  it('sends one datagram to NOTIFY_SOCKET, abstract names included, and does nothing without it', () => {
    const name = `@epoxy-test-${process.pid}-${Date.now()}`;
    const socket = notifySocket(name);
    expect(sdNotify('READY=1', { NOTIFY_SOCKET: name })).toBe(true);
    expect(socket.messages()).toEqual(['READY=1']);
    expect(sdNotify('READY=1', {})).toBe(false);
    expect(sdNotify('READY=1', { NOTIFY_SOCKET: 'relative/path' })).toBe(false);
    expect(sdNotify('READY=1', { NOTIFY_SOCKET: '@nobody-listens-here-epoxy' })).toBe(false);
  });
});

describe('epoxy -Ws under a notify socket', () => {
  it('READY=1 once the workers serve, RELOADING=1 then READY=1 around a reload, STOPPING=1 at the end; workers say nothing', async () => {
    const dir = tempDir(cleanups);
    const path = join(dir, 'notify');
    const systemd = notifySocket(path);
    const upstream = await echoServer(cleanups);
    const port = await freePort();
    const file = writeFile(dir, 'epoxy.cfg', configText(['nbthread 2'], ['listen echo', `    bind 127.0.0.1:${port}`, `    server s1 127.0.0.1:${upstream}`]));
    const sock = join(dir, 'master.sock');
    const master = await startMaster(cleanups, ['-Ws', '-S', sock, '-f', file], { env: { NOTIFY_SOCKET: path } });
    await waitFor(() => systemd.messages().length >= 1, 'READY=1');
    expect(systemd.messages()).toEqual([`READY=1\nMAINPID=${master.pid}`]);
    expect(await cli(sock, 'reload')).toBe('Success=1\n');
    await waitFor(() => systemd.messages().length >= 3, 'the reload notifications');
    master.child.kill('SIGTERM');
    await master.exited;
    await waitFor(() => systemd.messages().length >= 4, 'STOPPING=1');
    expect(systemd.messages()).toEqual([`READY=1\nMAINPID=${master.pid}`, 'RELOADING=1', 'READY=1', 'STOPPING=1']);
  });
});
