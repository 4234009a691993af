/**
 * Options of accepted sockets set once on the listening socket (tune.rcvbuf/sndbuf.client,
 * TCP_NODELAY, TCP_NOTSENT_LOWAT, option tcp-smart-accept's TCP_QUICKACK 0): first the kernel
 * behaviour this relies on (a connection accepted from a listener carries the listener's value),
 * then bindListener() with each BindConf field, read back on accepted loopback connections.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SocketAddress } from '../../src/address.js';
import { ERR_NONE, bindListener, createListener, parseBindOptions, unbindListener, type BindConf, type Listener } from '../../src/listener/index.js';
import { native, type SocketOptionName } from '../../src/native.js';
import { closeAll, listenLoopback, tcpSocket, waitFor } from '../helpers/sockets.js';

const fds: number[] = [];
const listeners: Listener[] = [];
afterEach(() => {
  for (const l of listeners.splice(0)) unbindListener(l);
  closeAll(fds.splice(0));
});

/** Connects to the listening `fd` and returns the accepted socket. */
async function acceptOne(listenFd: number): Promise<number> {
  const address = SocketAddress.fromBytes(native.getsockname(listenFd));
  const client = tcpSocket();
  fds.push(client);
  native.connect(client, address.bytes);
  const out = new Int32Array(2);
  await waitFor(() => native.accept(listenFd, out, null) > 0, 'accept');
  fds.push(out[0]!);
  return out[0]!;
}

function bound(extra: Partial<BindConf>): Listener {
  const l = createListener({ ...parseBindOptions([], '127.0.0.1:0'), ...extra }, SocketAddress.parse('127.0.0.1:0'));
  listeners.push(l);
  const result = bindListener(l, { maxsock: 1 << 20 });
  expect(result).toEqual({ err: ERR_NONE, msg: '' });
  return l;
}

describe('Linux: accepted sockets inherit these options from the listener', () => {
  const cases: Array<[SocketOptionName, number | boolean, number | boolean]> = [
    // The kernel doubles buffer sizes to account for its bookkeeping (socket(7)).
    ['SO_RCVBUF', 65536, 131072],
    ['SO_SNDBUF', 65536, 131072],
    ['TCP_NODELAY', true, true],
    ['TCP_NOTSENT_LOWAT', 16384, 16384],
    ['TCP_QUICKACK', false, false],
  ];
  for (const [name, set, expected] of cases) {
    it(name, async () => {
      const { fd } = listenLoopback();
      fds.push(fd);
      native.setsockopt(fd, name, set as never);
      const accepted = await acceptOne(fd);
      expect(native.getsockopt(accepted, name)).toBe(expected);
    });
  }

  it('and without them an accepted socket has Nagle on and quick ACKs (the defaults)', async () => {
    const { fd } = listenLoopback();
    fds.push(fd);
    const accepted = await acceptOne(fd);
    expect(native.getsockopt(accepted, 'TCP_NODELAY')).toBe(false);
    expect(native.getsockopt(accepted, 'TCP_QUICKACK')).toBe(true);
    expect(native.getsockopt(accepted, 'TCP_NOTSENT_LOWAT')).toBe(0);
  });
});

describe('bindListener() sets them on the listening socket', () => {
  it('rcvbuf, sndbuf, noDelay, notSentLowat, smartAccept reach accepted sockets', async () => {
    const l = bound({ rcvbuf: 16384, sndbuf: 1 << 20, noDelay: true, notSentLowat: 16384, smartAccept: true });
    const accepted = await acceptOne(l.fd);
    expect(native.getsockopt(accepted, 'SO_RCVBUF')).toBe(2 * 16384);
    expect(native.getsockopt(accepted, 'SO_SNDBUF')).toBe(2 * (1 << 20));
    expect(native.getsockopt(accepted, 'TCP_NODELAY')).toBe(true);
    expect(native.getsockopt(accepted, 'TCP_NOTSENT_LOWAT')).toBe(16384);
    expect(native.getsockopt(accepted, 'TCP_QUICKACK')).toBe(false);
  });

  it('leaves the kernel defaults when none is configured', async () => {
    const plain = listenLoopback();
    fds.push(plain.fd);
    const l = bound({});
    const accepted = await acceptOne(l.fd);
    expect(native.getsockopt(accepted, 'SO_RCVBUF')).toBe(native.getsockopt(plain.fd, 'SO_RCVBUF'));
    expect(native.getsockopt(accepted, 'TCP_NODELAY')).toBe(false);
    expect(native.getsockopt(accepted, 'TCP_QUICKACK')).toBe(true);
  });

  it('resets TCP_NODELAY and TCP_QUICKACK an inherited socket carries from an older configuration', async () => {
    const { fd } = listenLoopback();
    native.setsockopt(fd, 'TCP_NODELAY', true);
    native.setsockopt(fd, 'TCP_QUICKACK', false);
    const l = createListener({ ...parseBindOptions([], '127.0.0.1:0'), noDelay: false, smartAccept: false }, SocketAddress.fromBytes(native.getsockname(fd)));
    l.fd = fd;
    listeners.push(l);
    expect(bindListener(l, { maxsock: 1 << 20 }).err).toBe(ERR_NONE);
    expect(native.getsockopt(fd, 'TCP_NODELAY')).toBe(false);
    expect(native.getsockopt(fd, 'TCP_QUICKACK')).toBe(true);
  });

  it('warns, and still listens, when the kernel refuses a value', () => {
    // A value above INT_MAX is refused (the kernel takes an int).
    const refused = createListener({ ...parseBindOptions([], '127.0.0.1:0'), notSentLowat: -1 >>> 0 }, SocketAddress.parse('127.0.0.1:0'));
    listeners.push(refused);
    const result = bindListener(refused, { maxsock: 1 << 20 });
    expect(result.err & 0x07).toBe(0);
    expect(result.msg).toMatch(/^cannot set TCP_NOTSENT_LOWAT \(.+\) \[127\.0\.0\.1:0\]$/);
    expect(refused.fd).toBeGreaterThanOrEqual(0);
  });
});
