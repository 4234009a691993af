/**
 * socketInNetns() and getOriginalDst() need a network stack of their own: a namespace with NAT
 * REDIRECT rules. Skipped with the reason printed when not root or without ip/nft.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SocketAddress } from '../../src/address.js';
import { EpoxySystemError } from '../../src/errors.js';
import { native } from '../../src/native.js';
import { createNetns, netnsUnavailableReason, type Netns } from '../helpers/netns.js';
import { AF_INET, AF_INET6, SOCK_NONBLOCK, SOCK_STREAM, closeAll, listenLoopback, tcpSocket, waitFor } from '../helpers/sockets.js';

const reason = netnsUnavailableReason(['ip', 'nft']);
if (reason) console.log(`skipping network-namespace tests: ${reason}`);

function thrownCode(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(EpoxySystemError);
    return (error as EpoxySystemError).code;
  }
  throw new Error('expected a throw');
}

describe.skipIf(reason !== null)('in a network namespace', () => {
  let ns: Netns;
  const fds: number[] = [];
  beforeAll(() => {
    ns = createNetns();
    // Locally generated connections to port 9 are redirected to port 9009, in both families.
    ns.exec('nft', ['-f', '-'], `
      table ip nat {
        chain out {
          type nat hook output priority -100;
          tcp dport 9 redirect to :9009
        }
      }
      table ip6 nat {
        chain out {
          type nat hook output priority -100;
          tcp dport 9 redirect to :9009
        }
      }
    `);
  });
  afterAll(() => {
    closeAll(fds);
    ns?.destroy();
  });

  const nsSocket = (family: number): number => {
    const fd = native.socketInNetns(ns.path, family, SOCK_STREAM | SOCK_NONBLOCK);
    fds.push(fd);
    return fd;
  };

  it('socketInNetns creates the socket in the other stack', () => {
    // Our own stack holds the port; the namespace's loopback is a different one, so no EADDRINUSE.
    const { fd, address } = listenLoopback();
    fds.push(fd);
    const inside = nsSocket(AF_INET);
    native.bind(inside, address.bytes);
    native.listen(inside, 4);
    expect(SocketAddress.fromBytes(native.getsockname(inside)).toString()).toBe(address.toString());
    // and later sockets of ours are back in our own namespace
    const again = tcpSocket();
    fds.push(again);
    expect(thrownCode(() => native.bind(again, address.bytes))).toBe('EADDRINUSE');
  });

  it('socketInNetns fails with ENOENT for a namespace that does not exist', () => {
    expect(thrownCode(() => native.socketInNetns('/var/run/netns/epoxy-no-such-ns', AF_INET, SOCK_STREAM))).toBe('ENOENT');
  });

  for (const [family, loopback] of [[AF_INET, '127.0.0.1'], [AF_INET6, '[::1]']] as const) {
    it(`getOriginalDst returns the pre-REDIRECT destination (${family === AF_INET ? 'IPv4' : 'IPv6'})`, async () => {
      const listener = nsSocket(family);
      native.bind(listener, SocketAddress.parse(`${loopback}:9009`).bytes);
      native.listen(listener, 4);
      const client = nsSocket(family);
      native.connect(client, SocketAddress.parse(`${loopback}:9`).bytes);
      const out = new Int32Array(2);
      await waitFor(() => native.accept(listener, out, null) > 0, 'redirected connection');
      fds.push(out[0]!);
      const original = SocketAddress.fromBytes(native.getOriginalDst(out[0]!));
      expect(original.toString()).toBe(`${loopback}:9`);
      expect(SocketAddress.fromBytes(native.getsockname(out[0]!)).port).toBe(9009);
    });
  }
});

describe('getOriginalDst without NAT', () => {
  it('fails on a connection that was not redirected, and with EBADF on a bad fd', async () => {
    const { fd, address } = listenLoopback();
    const client = tcpSocket();
    try {
      native.connect(client, address.bytes);
      const out = new Int32Array(2);
      await waitFor(() => native.accept(fd, out, null) > 0, 'accept');
      // ENOENT when conntrack tracks the flow without NAT; ENOPROTOOPT-like codes when the
      // conntrack module is not loaded at all. Either way: a coded error, not a bogus address.
      let caught: unknown;
      try {
        native.getOriginalDst(out[0]!);
      } catch (error) {
        caught = error;
      } finally {
        native.close(out[0]!);
      }
      expect(caught).toBeInstanceOf(EpoxySystemError);
      expect((caught as EpoxySystemError).syscall).toBe('getsockopt(SO_ORIGINAL_DST)');
      expect(['ENOENT', 'ENOPROTOOPT', 'EOPNOTSUPP']).toContain((caught as EpoxySystemError).code);
    } finally {
      native.close(client);
      native.close(fd);
    }
    expect(thrownCode(() => native.getOriginalDst(-1))).toBe('EBADF');
  });
});
