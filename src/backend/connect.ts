/**
 * Opening a connection to a server (HAProxy 2.6's tcp_connect_server()): a non-blocking socket,
 * its options, its `source` binding and the connect() itself. The session layer keeps the state
 * machine around it (timeouts, retries, redispatch) and hands in what only it knows: where the
 * client was going and whether bytes wait to go out at once.
 *
 * Nothing here throws. The addon's setup calls (socket, setsockopt, bind) throw their errno; they
 * are caught where they are made, and the caller sees an fd or -errno, which it counts as a
 * failed attempt so that retries apply.
 */
import { SocketAddress } from '../address.js';
import { constants, native, pollConstants, type SocketOptionName, type SocketOptionValues } from '../native.js';
import type { ServerRuntime } from '../session/session-types.js';

const { AF_INET, AF_INET6, AF_UNIX, SOCK_STREAM, SOCK_NONBLOCK } = constants;
const { POLLOUT, POLLERR, POLLHUP } = pollConstants;
/** Connects to a server not probed for completion after one that did not complete at once. */
const CONNECT_PROBE_SKIP = 64;
// Data-path calls return -errno; system errors carry a negative `errno` too.
const EINPROGRESS = -constants.errno.EINPROGRESS;
const EADDRINUSE = -constants.errno.EADDRINUSE;
const EADDRNOTAVAIL = -constants.errno.EADDRNOTAVAIL;
const EINVAL = -constants.errno.EINVAL;

/**
 * A socket option set as HAProxy sets them on a connection: best effort. A refusal (an option
 * the kernel or the socket type does not take, IP_BIND_ADDRESS_NO_PORT before 4.2, a value
 * above its limit, TCP_FASTOPEN_CONNECT without the client bit of net.ipv4.tcp_fastopen, a
 * socket already reset) costs what the option would have given, never the connection.
 */
export function trySet<K extends SocketOptionName>(fd: number, name: K, value: SocketOptionValues[K]): void {
  try {
    native.setsockopt(fd, name, value);
  } catch {
    // see above
  }
}

/** A thrown system error as -errno; `fallback` (a positive errno) when it carries none. */
function negativeErrno(error: unknown, fallback: number): number {
  return -Math.abs((error as { errno?: number }).errno ?? fallback);
}

/** `address` in `family`, unwrapping a v4-mapped IPv6 address (dual-stack listeners); else null. */
function sameFamily(address: SocketAddress, family: SocketAddress['family']): SocketAddress | null {
  if (address.family === family) return address;
  if (family === 'ipv4' && address.family === 'ipv6') {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address.address);
    if (mapped) return SocketAddress.from('ipv4', mapped[1]!, address.port);
  }
  return null;
}

/** What a connection to a server needs to know of the client it is for. */
export interface ConnectingClient {
  /** The client's address (after a PROXY header, the one it announced): `usesrc client` binds it. */
  readonly src: SocketAddress;
  /**
   * Where the client was going: a server at 0.0.0.0 connects there, a mapped port follows its
   * port. Only called for such servers (it may cost a syscall).
   */
  originalDestination(): SocketAddress;
  /** Client bytes read behind a PROXY header, sent as soon as the connection is up; or null. */
  readonly early: Uint8Array | null;
  /** Connection attempts so far, this one included. */
  readonly attempts: number;
}

/** Opens connections to servers; one per session engine (it keeps what it reported and a probe). */
export class ServerConnector {
  /**
   * Whether the fd the last connect() returned is connected already; if not, its connect() is in
   * progress: wait for it to be writable, then read SO_ERROR.
   */
  connected = false;
  /** The [fd, events, revents] triplet of connectedAtOnce(). */
  private readonly probe = new Int32Array(3);
  /** `source` failures already reported (server, what, errno): each is reported once. */
  private readonly sourceAlerts = new Set<string>();

  /** `alert`: where a `source` that cannot be bound is reported (once per server and reason). */
  constructor(private readonly alert: (message: string) => void) {}

  /**
   * Opens a non-blocking socket to `server` for `client` and starts connecting it. Returns the fd
   * (see `connected`), or -errno when the attempt failed before there was anything to wait for;
   * nothing is left open then. `keepAlive`: SO_KEEPALIVE (the backend's `option srvtcpka`).
   */
  connect(server: ServerRuntime, client: ConnectingClient, keepAlive: boolean): number {
    this.connected = false;
    const target = this.target(server, client);
    if (target === null) return EINVAL; // a mapped port out of range: a failed attempt
    const tcp = target.family !== 'unix';
    let fd: number;
    try {
      const family = target.family === 'ipv6' ? AF_INET6 : target.family === 'unix' ? AF_UNIX : AF_INET;
      fd = native.socket(family, SOCK_STREAM | SOCK_NONBLOCK);
    } catch (error) {
      return negativeErrno(error, constants.errno.EMFILE);
    }
    if (keepAlive && tcp) trySet(fd, 'SO_KEEPALIVE', true);
    if (server.socketOptions !== undefined || server.fastOpen === true) this.setSocketOptions(fd, server, client, tcp);
    let rc = server.source !== null && tcp ? this.bindSource(fd, server, client, target) : 0;
    if (rc === 0) rc = native.connect(fd, target.bytes);
    if (rc === EINPROGRESS) rc = this.connectedAtOnce(fd, server);
    if (rc === 0 || rc === EINPROGRESS) {
      this.connected = rc === 0;
      return fd;
    }
    native.close(fd);
    return rc;
  }

  /**
   * Where `server` is reached for `client`. A server at 0.0.0.0 (no address) connects to where
   * the client was going (transparent mode); a mapped port follows the client's original
   * destination port, shifted. Null when that shift leaves 1-65535.
   */
  target(server: ServerRuntime, client: ConnectingClient): SocketAddress | null {
    let target = server.address;
    if (target === null) {
      const original = client.originalDestination();
      const port = server.targetPort ?? 0;
      target = port > 0 && original.port !== port ? original.withPort(port) : original;
    }
    const offset = server.portOffset ?? null;
    if (offset === null) return target;
    const mappedPort = client.originalDestination().port + offset;
    return mappedPort >= 1 && mappedPort <= 65535 ? target.withPort(mappedPort) : null;
  }

  /**
   * The options of an outgoing socket, before connect() (HAProxy 2.6's tcp_connect_server()).
   * Each is best effort: a refusal costs the optimisation, never the connection.
   */
  private setSocketOptions(fd: number, server: ServerRuntime, client: ConnectingClient, tcp: boolean): void {
    const options = server.socketOptions;
    // Bytes that go out as soon as the connection is up: the send-proxy header, and client
    // bytes read behind a PROXY header (the session sends both in one send()).
    const hasData = server.sendProxy !== 0 || client.early !== null;
    if (options !== undefined) {
      if (options.sndbuf > 0) trySet(fd, 'SO_SNDBUF', options.sndbuf);
      if (options.rcvbuf > 0) trySet(fd, 'SO_RCVBUF', options.rcvbuf);
      if (tcp) {
        if (options.noDelay) trySet(fd, 'TCP_NODELAY', true);
        if (options.notSentLowat > 0) trySet(fd, 'TCP_NOTSENT_LOWAT', options.notSentLowat);
        // In pingpong mode the kernel holds back the ACK ending the handshake, and the first
        // data segment carries it: one packet fewer. Only worth it when data is ready to go.
        if (options.smartConnect && hasData) trySet(fd, 'TCP_QUICKACK', false);
      }
    }
    // With a cached cookie, connect() then returns 0 at once and the first send() carries the
    // SYN and the data; without one the kernel connects as usual and asks for a cookie. Never
    // without data (the SYN would wait for a send() that may not come: a server that speaks
    // first), and not on retries (HAProxy: the attempt may be what failed).
    if (tcp && server.fastOpen === true && hasData && client.attempts === 1) trySet(fd, 'TCP_FASTOPEN_CONNECT', true);
  }

  /**
   * A non-blocking connect() to a server on this host usually completes inside the call: the
   * kernel runs the whole handshake on loopback before returning EINPROGRESS. Asking at once with
   * a zero-timeout poll(2) then replaces registering the fd with the poller, a loop turn, an
   * SO_ERROR read and the deregistration (four syscalls and a turn) by one syscall. A server whose
   * connects do not complete at once (a remote one) is not asked again for a while, so it pays
   * the extra poll once per CONNECT_PROBE_SKIP connects only.
   * Returns 0 (connected), EINPROGRESS (still going: wait for it), or -errno (failed).
   */
  private connectedAtOnce(fd: number, server: ServerRuntime): number {
    if ((server.connectProbeSkip ?? 0) > 0) {
      server.connectProbeSkip!--;
      return EINPROGRESS;
    }
    const probe = this.probe;
    probe[0] = fd;
    probe[1] = POLLOUT;
    probe[2] = 0;
    if (native.pollOnce(probe, 1, 0) !== 1) {
      server.connectProbeSkip = CONNECT_PROBE_SKIP;
      return EINPROGRESS;
    }
    if ((probe[2]! & (POLLERR | POLLHUP)) === 0) return 0;
    let error = 0;
    try {
      error = native.getsockopt(fd, 'SO_ERROR');
    } catch {
      error = constants.errno.EBADF; // a failed attempt
    }
    return error === 0 ? 0 : -error;
  }

  /**
   * Binds an outgoing socket as `source` says, before connect(). Returns 0, or -errno when it
   * cannot: the caller counts a failed connection attempt, so retries apply.
   */
  private bindSource(fd: number, server: ServerRuntime, client: ConnectingClient, target: SocketAddress): number {
    const source = server.source!;
    const v6 = target.family === 'ipv6';
    let local: SocketAddress | null;
    let transparent = source.usesrc !== null;
    const usesrc = source.usesrc;
    if (usesrc === 'client' || usesrc === 'clientip') {
      local = sameFamily(client.src, target.family);
      if (local === null) return this.sourceError(server, target, `the client's address ${client.src.address} is not of the server's family`, constants.errno.EAFNOSUPPORT);
      if (usesrc === 'clientip') local = local.withPort(0);
    } else {
      const configured = usesrc ?? source.address;
      local = sameFamily(configured, target.family);
      if (local === null) return this.sourceError(server, target, `source address ${configured.address} is not of the server's family`, constants.errno.EAFNOSUPPORT);
    }
    try {
      if (source.interface !== null) native.setsockopt(fd, 'SO_BINDTODEVICE', source.interface);
      if (transparent) native.setsockopt(fd, v6 ? 'IPV6_TRANSPARENT' : 'IP_TRANSPARENT', true);
    } catch (error) {
      return this.sourceError(server, target, `cannot ${transparent ? 'make the server connection transparent' : 'bind it to its interface'}`, error);
    }
    const ranged = source.portRange !== null && usesrc !== 'client';
    const tries = ranged ? Math.min(source.portRange!.high - source.portRange!.low + 1, 16) : 1;
    let reuse = false;
    for (let attempt = 1; ; attempt++) {
      let address = local;
      if (ranged) {
        const range = source.portRange!;
        const span = range.high - range.low + 1;
        address = local.withPort(range.low + (source.nextPort % span));
        source.nextPort = (source.nextPort + 1) % span;
      }
      try {
        if (address.port === 0) {
          // The port is picked at connect() time, with the whole 4-tuple known: many more
          // connections fit than ephemeral ports (IP_BIND_ADDRESS_NO_PORT).
          trySet(fd, 'IP_BIND_ADDRESS_NO_PORT', true);
        } else if (!reuse) {
          trySet(fd, 'SO_REUSEADDR', true);
          reuse = true;
        }
        native.bind(fd, address.bytes);
        return 0;
      } catch (error) {
        const errno = (error as { errno?: number }).errno;
        if (errno === EADDRINUSE && attempt < tries) continue;
        if (errno === EADDRNOTAVAIL && !transparent) {
          // A foreign address without usesrc: binding it needs IP_TRANSPARENT.
          transparent = true;
          try {
            native.setsockopt(fd, v6 ? 'IPV6_TRANSPARENT' : 'IP_TRANSPARENT', true);
          } catch (again) {
            return this.sourceError(server, target, `cannot bind to foreign source address ${address.address}`, again);
          }
          attempt--;
          continue;
        }
        return this.sourceError(server, target, `cannot bind to source address ${address.toString()}`, error);
      }
    }
  }

  /**
   * Reports a `source` failure once per server and reason. `error`: a thrown system error, or a
   * positive errno. Returns it as -errno.
   */
  private sourceError(server: ServerRuntime, target: SocketAddress, what: string, error: unknown): number {
    const errno = typeof error === 'number' ? -error : negativeErrno(error, constants.errno.EINVAL);
    const code = typeof error === 'number' ? native.errnoName(errno) : ((error as { code?: string }).code ?? native.errnoName(errno));
    const key = `${server.name}\0${what}\0${code}`;
    if (!this.sourceAlerts.has(key)) {
      this.sourceAlerts.add(key);
      this.alert(`server '${server.name}' (connecting to ${target.toString()}): ${what} (${code}${code === 'EPERM' ? ': needs CAP_NET_ADMIN' : ''}); counted as connection failures, reported once.`);
    }
    return errno;
  }
}
