#!/usr/bin/env node
// An echo server written directly against epoxy's addon: one epoll set watched from Node's loop,
// batched accept, non-blocking recv/send returning -errno. It shows the boundary the proxy is
// built on; run it with `node examples/echo-server.mjs [address]` (default 127.0.0.1:7007) and
// try `socat - TCP:127.0.0.1:7007`.
import { native, constants, SocketAddress } from '../dist/index.js';

const { EPOLLIN, EPOLLRDHUP, AF_INET, AF_INET6, SOCK_STREAM, SOCK_NONBLOCK } = constants;
const address = SocketAddress.parse(process.argv[2] ?? '127.0.0.1:7007');

const listener = native.socket(address.family === 'ipv6' ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
native.setsockopt(listener, 'SO_REUSEADDR', true);
native.bind(listener, address.bytes);
native.listen(listener, 128);

const poller = new native.Poller(64);
poller.add(listener, EPOLLIN);
const connections = new Set();
const accepted = new Int32Array(2 * 16);
const buffer = new Uint8Array(16 * 1024);
const EAGAIN = -11;

function drop(fd) {
  poller.remove(fd);
  native.close(fd);
  connections.delete(fd);
}

poller.start((count) => {
  for (let i = 0; i < count; i++) {
    const fd = poller.events[2 * i];
    if (fd === listener) {
      const n = native.accept(listener, accepted, null);
      for (let j = 0; j < n; j++) {
        const conn = accepted[2 * j];
        native.setsockopt(conn, 'TCP_NODELAY', true);
        poller.add(conn, EPOLLIN | EPOLLRDHUP);
        connections.add(conn);
      }
      continue;
    }
    for (;;) {
      const n = native.recv(fd, buffer);
      if (n === EAGAIN) break;
      if (n <= 0) {
        drop(fd); // 0 = the client closed, < 0 = reset or other error
        break;
      }
      // A small echo never fills the send buffer; a real relay would wait for EPOLLOUT here.
      if (native.send(fd, buffer, 0, n) !== n) {
        drop(fd);
        break;
      }
    }
  }
});

const actual = SocketAddress.fromBytes(native.getsockname(listener));
console.log(`echo server listening on ${actual}`);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const fd of connections) drop(fd);
    poller.close();
    native.close(listener);
    console.log('echo server stopped');
  });
}
