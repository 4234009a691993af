/**
 * Descriptor accounting: 10,000 cycles through every fd-creating path of the addon — success and
 * failure — leave the process with exactly the fds it had.
 */
import { describe, expect, it } from 'vitest';
import { SocketAddress } from '../../src/address.js';
import { constants, native } from '../../src/native.js';
import { AF_INET, AF_INET6, AF_UNIX, SOCK_NONBLOCK, SOCK_STREAM, fdCount, listenLoopback, tcpSocket } from '../helpers/sockets.js';

const CYCLES = 10_000;

describe('fd leaks', () => {
  it(`${CYCLES} open/close cycles leave /proc/self/fd unchanged`, () => {
    const { fd: busy, address: busyAddress } = listenLoopback();
    const out = new Int32Array(2);
    const addrs = new Uint8Array(constants.ADDR_SLOT_SIZE);
    const before = fdCount();
    let accepted = 0;
    for (let i = 0; i < CYCLES; i++) {
      // a listener of each family, bound, listening, registered in a poller, all closed
      const family = [AF_INET, AF_INET6, AF_UNIX][i % 3]!;
      const fd = native.socket(family, SOCK_STREAM | SOCK_NONBLOCK);
      const address = family === AF_UNIX ? SocketAddress.parse(`abns@epoxy-leak-${process.pid}-${i}`)
        : SocketAddress.parse(family === AF_INET ? '127.0.0.1:0' : '[::1]:0');
      native.bind(fd, address.bytes);
      native.listen(fd, 4);
      const poller = new native.Poller(4);
      expect(poller.add(fd, constants.EPOLLIN)).toBe(0);

      // every 10th cycle: a real connection, accepted and reset (linger 0 avoids TIME_WAIT)
      if (i % 10 === 0) {
        const client = native.socket(family, SOCK_STREAM | SOCK_NONBLOCK);
        native.connect(client, native.getsockname(fd));
        let n = 0;
        while ((n = native.accept(fd, out, addrs)) === -11) poller.wait(100);
        expect(n).toBe(1);
        accepted++;
        if (family !== AF_UNIX) native.setsockopt(out[0]!, 'SO_LINGER', { enabled: true, seconds: 0 });
        expect(native.close(out[0]!)).toBe(0);
        expect(native.close(client)).toBe(0);
      }
      poller.close();
      expect(native.close(fd)).toBe(0);

      // failure paths must not leak either
      const loser = tcpSocket();
      expect(() => native.bind(loser, busyAddress.bytes)).toThrow();
      native.close(loser);
    }
    expect(accepted).toBe(CYCLES / 10);
    expect(fdCount()).toBe(before);
    native.close(busy);
  });
});
