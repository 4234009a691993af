/**
 * The states, actions, options and statistics of a Reconnect (src/reconnect/reconnect.ts), apart
 * from the machine so that a caller that only reports or displays them needs no more.
 */

/**
 * Where a connection stands. Modelled on Open vSwitch's lib/reconnect.c; see docs/reconnect.md
 * for the diagram.
 */
export type ReconnectState =
  /** Disabled: nothing is attempted until enable(). Also where max tries runs out. */
  | 'VOID'
  /** Waiting `backoff` ms before the next attempt, so that a dead peer is not hammered. */
  | 'BACKOFF'
  /** An attempt is under way; it is given up after the connect timeout. */
  | 'CONNECTING'
  /** Connected, and the peer has shown life within the probe interval. */
  | 'ACTIVE'
  /** Connected, but silent for a probe interval: a probe went out, an answer is awaited. */
  | 'IDLE'
  /** forceReconnect() asked for the connection to be dropped; run() says so at once. */
  | 'RECONNECT'
  /** Passive mode: listening, for as long as it takes, for a peer to connect. */
  | 'LISTENING';

/** The states in which there is a connection (its time counts in the connected duration). */
export const CONNECTED_STATES: ReadonlySet<ReconnectState> = new Set(['ACTIVE', 'IDLE']);

/** What run() asks of the owner. */
export type ReconnectAction =
  /** Open the connection (passive: start listening), then report connecting/connected/connectFailed. */
  | 'connect'
  /** Close the connection or abandon the attempt, then report disconnected or connectFailed. */
  | 'disconnect'
  /** Send the peer something it must answer, then report the answer with received(). */
  | 'probe'
  /** Nothing to do before timeout() says to call run() again. */
  | 'none';

export interface ReconnectOptions {
  /** For whoever reports it: 'be/s1', 'log 127.0.0.1:514'. */
  name?: string;
  /** The first wait after a failure, in ms (default 1000). At least 1: a zero backoff would never double. */
  minBackoffMs?: number;
  /** The longest wait between attempts, in ms (default 8000; raised to minBackoffMs if below it). */
  maxBackoffMs?: number;
  /**
   * Silence after which a connected peer is probed, then dropped if it stays silent as long
   * again, in ms (default 5000; 0: never probe).
   */
  probeIntervalMs?: number;
  /** Attempts allowed, counting each enable() and each retry (default Infinity). */
  maxTries?: number;
  /** Listen for the peer instead of connecting to it (default false). */
  passive?: boolean;
  /**
   * The shortest time an attempt is given before run() says to abandon it, in ms (default 1000);
   * longer when the backoff is, so that a slow peer is not abandoned faster than it is retried.
   */
  minConnectTimeoutMs?: number;
}

/** What a Reconnect has seen, for reports; all times in the caller's clock, in ms. */
export interface ReconnectStats {
  name: string;
  state: ReconnectState;
  /** How long it has been in `state`. */
  stateElapsedMs: number;
  isConnected: boolean;
  /** When the Reconnect was created. */
  creationTime: number;
  /** The last proof of life of the peer (activity() or received()); the creation time if none. */
  lastActivity: number;
  /** When it last connected, or null if it never did. */
  lastConnected: number | null;
  /** When a connection last ended, or null if none did. */
  lastDisconnected: number | null;
  /** The current wait between attempts. */
  backoffMs: number;
  /**
   * Bumped on every change between connected and not connected, so that a caller can tell
   * "still the same connection" from "a new one" without watching every event.
   */
  seqno: number;
  /** Attempts that ended (connected, failed, timed out or abandoned); one under way is not yet counted. */
  attempts: number;
  /** Attempts that ended connected. */
  successes: number;
  /** Time spent connected, the current connection included. */
  totalConnectedMs: number;
  /** What the last failure or disconnection said, or null. */
  lastError: string | null;
}
