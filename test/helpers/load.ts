/**
 * Client load for process-model tests: short connections in a loop (each one a full echo round
 * trip, every failure kept with its error code), and long transfers whose bytes are checked end
 * to end. Bounded by the caller's stop(), on loopback only.
 */
import { createHash } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';

/** One connection: sends `payload`, waits for it to come back whole, closes. */
export function echoOnce(port: number, payload: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let length = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('ETIMEDOUT: no echo within 10 s'));
    }, 10_000);
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= payload.length) {
        clearTimeout(timer);
        const got = Buffer.concat(chunks);
        socket.end();
        if (got.equals(payload)) resolve();
        else reject(new Error('EBADMSG: echoed bytes differ'));
      }
    });
    socket.on('end', () => {
      if (length < payload.length) {
        clearTimeout(timer);
        reject(new Error(`ECONNABORTED: closed after ${length} of ${payload.length} bytes`));
      }
    });
    socket.on('connect', () => socket.write(payload));
  });
}

/** `parallel` loops of echoOnce() until stop(); counts successes and keeps every failure. */
export class ConnectionLoad {
  ok = 0;
  readonly failures: string[] = [];
  private running = true;
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly port: number,
    parallel = 4,
  ) {
    for (let i = 0; i < parallel; i++) this.loops.push(this.loop(i));
  }

  private async loop(index: number): Promise<void> {
    let n = 0;
    while (this.running) {
      const payload = Buffer.from(`connection ${index}/${n++} ${'x'.repeat(100)}\n`);
      try {
        await echoOnce(this.port, payload);
        this.ok++;
      } catch (error) {
        this.failures.push(`${(error as NodeJS.ErrnoException).code ?? ''} ${(error as Error).message}`);
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

/**
 * A long echo transfer: writes pseudo-random chunks while it runs (paced by the socket's drain),
 * then half-closes and waits for every byte back. finish() resolves with what was sent and what
 * came back, as hashes and lengths.
 */
export class LongTransfer {
  private readonly socket: Socket;
  private readonly sent = createHash('sha256');
  private readonly received = createHash('sha256');
  sentBytes = 0;
  receivedBytes = 0;
  private running = true;
  private error: Error | null = null;
  private readonly ended: Promise<void>;
  private readonly writer: Promise<void>;
  readonly connected: Promise<void>;

  constructor(port: number, seed: number) {
    this.socket = netConnect(port, '127.0.0.1');
    this.socket.on('error', (error) => (this.error = error));
    this.socket.on('data', (chunk: Buffer) => {
      this.received.update(chunk);
      this.receivedBytes += chunk.length;
    });
    this.ended = new Promise((resolve) => this.socket.on('close', () => resolve()));
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
    this.writer = this.write(seed);
  }

  private async write(seed: number): Promise<void> {
    await this.connected.catch(() => undefined);
    let state = seed >>> 0 || 1;
    while (this.running && this.error === null && !this.socket.destroyed) {
      const chunk = Buffer.alloc(16 * 1024);
      for (let i = 0; i < chunk.length; i += 4) {
        // xorshift32: cheap bytes that differ everywhere, so a lost or repeated chunk shows.
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        chunk.writeUInt32LE(state >>> 0, i);
      }
      this.sent.update(chunk);
      this.sentBytes += chunk.length;
      if (!this.socket.write(chunk) && !this.socket.destroyed) {
        // A connection cut by the proxy never drains: its close ends the wait too.
        await new Promise<void>((resolve) => {
          const done = (): void => {
            this.socket.off('drain', done);
            this.socket.off('close', done);
            resolve();
          };
          this.socket.once('drain', done);
          this.socket.once('close', done);
        });
      }
      if (this.socket.destroyed) break;
      // Keep it a trickle: a transfer that lasts through the reloads, not a bandwidth test.
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  /** Stops writing, half-closes, and waits for the echo to finish. */
  async finish(): Promise<{ sent: string; received: string; sentBytes: number; receivedBytes: number; error: Error | null }> {
    this.running = false;
    await this.writer;
    this.socket.end();
    await this.ended;
    return { sent: this.sent.digest('hex'), received: this.received.digest('hex'), sentBytes: this.sentBytes, receivedBytes: this.receivedBytes, error: this.error };
  }
}

/** Says '?' on a new connection to `port` and returns everything received until the end: who answered. */
export function answerOf(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1', () => socket.write('?'));
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}
