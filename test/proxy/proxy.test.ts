/** start_proxies semantics, pause/resume and soft stop, on real sockets and real signals. */
import { connect as netConnect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SocketAddress } from '../../src/address.js';
import { parseBindOptions } from '../../src/listener/bind-parser.js';
import { createListener } from '../../src/listener/listener.js';
import {
  ERR_ABORT,
  ERR_ALERT,
  ERR_FATAL,
  ERR_NONE,
  ERR_RETRYABLE,
  ListenerState,
  type BindContext,
} from '../../src/listener/listener-types.js';
import { unbindListener } from '../../src/listener/tcp-bind.js';
import { Loop } from '../../src/loop/loop.js';
import { native } from '../../src/native.js';
import { enableProxies, registerProxySignals, startProxies } from '../../src/proxy/index.js';
import { ProxyState, type Proxy, type ProxyType } from '../../src/proxy/proxy-types.js';
import { fdCount, listenLoopback, waitFor } from '../helpers/sockets.js';
import { recorder } from '../helpers/log.js';

const made: Proxy[] = [];
const loops: Loop[] = [];
const held: number[] = [];
afterEach(() => {
  for (const p of made.splice(0)) for (const l of p.listeners) unbindListener(l);
  for (const loop of loops.splice(0)) loop.close();
  for (const fd of held.splice(0)) native.close(fd);
});

function proxy(name: string, addresses: string[], type: ProxyType = 'frontend'): Proxy {
  const p: Proxy = {
    name,
    type,
    state: ProxyState.NEW,
    listeners: addresses.map((a) => createListener(parseBindOptions([], a), SocketAddress.parse(a))),
  };
  made.push(p);
  return p;
}


const CTX: BindContext = { maxsock: 1 << 20 };

/** Tries a TCP connection with Node's own client: 'connected' or the error code. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = netConnect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}

describe('startProxies', () => {
  it('binds every listener, marks proxies READY and logs "Proxy <name> started."', () => {
    const log = recorder();
    const a = proxy('a', ['127.0.0.1:0', '[::1]:0']);
    const b = proxy('b', ['127.0.0.1:0'], 'listen');
    expect(startProxies([a, b], { verbose: false, log, bind: CTX })).toBe(ERR_NONE);
    expect([a.state, b.state]).toEqual([ProxyState.READY, ProxyState.READY]);
    for (const l of [...a.listeners, ...b.listeners]) {
      expect(l.state).toBe(ListenerState.LISTEN);
      expect(native.getsockopt(l.fd, 'SO_ACCEPTCONN')).toBe(true);
    }
    expect(log.lines).toEqual(['[NOTICE] Proxy a started.', '[NOTICE] Proxy b started.']);
    // a second call starts nothing twice
    expect(startProxies([a, b], { verbose: true, log, bind: CTX })).toBe(ERR_NONE);
    expect(log.lines.length).toBe(2);
  });

  it('port in use: RETRYABLE|ALERT, that proxy not READY, the walk goes on; printed only when verbose', () => {
    const { fd: holder, address } = listenLoopback();
    held.push(holder);
    for (const verbose of [false, true]) {
      const log = recorder();
      const a = proxy('a', ['127.0.0.1:0']);
      const b = proxy('b', ['127.0.0.1:0', address.toString()]);
      const c = proxy('c', ['127.0.0.1:0']);
      const err = startProxies([a, b, c], { verbose, log, bind: CTX });
      expect(err).toBe(ERR_RETRYABLE | ERR_ALERT);
      expect([a.state, b.state, c.state]).toEqual([ProxyState.READY, ProxyState.NEW, ProxyState.READY]);
      // b's other listener did bind: a retry only has to bind what failed
      expect(b.listeners.map((l) => l.state)).toEqual([ListenerState.LISTEN, ListenerState.ASSIGNED]);
      const alert = `[ALERT] Starting frontend b: cannot bind socket (Address already in use) [${address.address}:${address.port}]`;
      if (verbose) expect(log.lines).toContain(alert);
      else expect(log.lines.some((l) => l.startsWith('[ALERT]'))).toBe(false);
      expect(log.lines).not.toContain('[NOTICE] Proxy b started.');
    }
  });

  it('a retry after the port is freed completes the proxy', () => {
    const { fd: holder, address } = listenLoopback();
    const log = recorder();
    const b = proxy('b', [address.toString()]);
    expect(startProxies([b], { verbose: false, log, bind: CTX }) & ERR_RETRYABLE).toBeTruthy();
    native.close(holder);
    b.state = ProxyState.NEW; // the caller retries proxies that did not become READY
    expect(startProxies([b], { verbose: true, log, bind: CTX })).toBe(ERR_NONE);
    expect(b.state).toBe(ProxyState.READY);
  });

  it('too few sockets (maxsock): FATAL|ABORT, always printed, later proxies not started, no fd leaked', () => {
    const log = recorder();
    const a = proxy('a', ['127.0.0.1:0']);
    const b = proxy('b', ['127.0.0.1:0']);
    const before = fdCount();
    const err = startProxies([a, b], { verbose: false, log, bind: { maxsock: 3 } });
    expect(err & (ERR_FATAL | ERR_ABORT | ERR_ALERT)).toBe(ERR_FATAL | ERR_ABORT | ERR_ALERT);
    expect([a.state, b.state]).toEqual([ProxyState.NEW, ProxyState.NEW]);
    expect(b.listeners[0]!.state).toBe(ListenerState.ASSIGNED); // never tried
    expect(log.lines).toEqual([
      "[ALERT] Starting frontend a: not enough free sockets (raise '-n' parameter) [127.0.0.1:0]",
    ]);
    expect(fdCount()).toBe(before);
  });
});

describe('proxies in the loop', () => {
  it('accepts; SIGTTOU pauses, SIGTTIN resumes, SIGUSR1 soft-stops and the loop ends with the last session', async () => {
    const loop = new Loop();
    loops.push(loop);
    const log = recorder();
    let sessions = 0;
    const accepted = new Int32Array(16);
    const buf = new Uint8Array(64);
    const ctx: BindContext = {
      maxsock: 1 << 20,
      poll: loop.fdtab,
      accept: (fd) => {
        const n = native.accept(fd, accepted, null);
        for (let i = 0; i < n; i++) {
          const conn = accepted[2 * i]!;
          sessions++;
          loop.jobs++; // a session is a job: the loop runs until it ends
          loop.fdtab.insert(conn, {}, (cfd) => {
            const n = native.recv(cfd, buf);
            if (n === 0 || (n < 0 && native.errnoName(n) !== 'EAGAIN')) {
              loop.fdtab.remove(cfd);
              native.close(cfd);
              loop.jobs--;
            }
          });
          loop.fdtab.wantRecv(conn);
        }
      },
    };
    const fe = proxy('fe', ['127.0.0.1:0']);
    expect(startProxies([fe], { verbose: true, log, bind: ctx })).toBe(ERR_NONE);
    enableProxies([fe], loop);
    expect(loop.jobs).toBe(1);
    const port = fe.listeners[0]!.boundAddr!.port;
    registerProxySignals(loop, [fe], log);
    const done = loop.run();

    // A session that stays open across the soft stop.
    const session = await new Promise<import('node:net').Socket>((resolve) => {
      const s = netConnect(port, '127.0.0.1', () => resolve(s));
    });
    await waitFor(() => sessions === 1, 'first session accepted');

    process.kill(process.pid, 'SIGTTOU');
    await waitFor(() => fe.state === ProxyState.PAUSED, 'paused');
    expect(await tryConnect(port)).toBe('ECONNREFUSED');

    process.kill(process.pid, 'SIGTTIN');
    await waitFor(() => fe.state === ProxyState.READY, 'resumed');
    expect(await tryConnect(port)).toBe('connected');
    await waitFor(() => sessions === 2 && loop.jobs === 2, 'second session accepted and ended');

    process.kill(process.pid, 'SIGUSR1');
    await waitFor(() => fe.state === ProxyState.STOPPED, 'soft stop');
    expect(await tryConnect(port)).toBe('ECONNREFUSED');
    expect(loop.isRunning).toBe(true); // the open session still holds a job
    expect(loop.jobs).toBe(1);

    session.end();
    await done;
    expect(loop.jobs).toBe(0);
    expect(log.lines).toEqual(
      expect.arrayContaining([
        '[NOTICE] Proxy fe started.',
        '[NOTICE] Proxy fe paused.',
        '[NOTICE] Proxy fe resumed.',
        '[NOTICE] Proxy fe stopped.',
      ]),
    );
  });
});
