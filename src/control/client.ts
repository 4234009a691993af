/**
 * A client of the runtime API, for programs (JSON-RPC: structured results, errors as
 * exceptions with the server's code) and for people (`text()`: the text protocol's answer, as
 * socat would print it). One connection per call: the socket closes idle connections anyway.
 */
import { connect, type Socket } from 'node:net';
import { EpoxyError, ErrorCodes } from '../errors.js';

/** Where the socket is: a unix socket path, or `host:port` / `[v6]:port`. */
export type ControlAddress = string;

/** A JSON-RPC error from the socket, with its code (-32000 permission denied, -32001 failed, -32601 unknown command). */
export class ControlError extends EpoxyError {
  constructor(
    message: string,
    readonly rpcCode: number,
  ) {
    super(message, ErrorCodes.CONTROL);
  }
}

export interface ControlAnswer<T = unknown> {
  /** The text answer, as on the text protocol. */
  readonly text: string;
  /** The structured answer, for commands that have one. */
  readonly data?: T;
}

function open(address: ControlAddress): Socket {
  const tcp = /^\[?([^\]]*?)\]?:(\d+)$/.exec(address);
  return tcp && !address.startsWith('/') ? connect(Number(tcp[2]), tcp[1] || '127.0.0.1') : connect(address);
}

/** Sends `payload` and reads until the server closes (text) or one line arrives (JSON-RPC). */
function exchange(address: ControlAddress, payload: string, untilLine: boolean, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = open(address);
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new EpoxyError(`no answer from ${address} within ${timeoutMs} ms`, ErrorCodes.CONTROL));
    }, timeoutMs);
    socket.on('connect', () => socket.end(payload));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8');
      if (untilLine && received.includes('\n')) socket.destroy();
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received);
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

export class ControlClient {
  private nextId = 1;

  constructor(
    readonly address: ControlAddress,
    private readonly timeoutMs = 10_000,
  ) {}

  /** Runs `commandLine` (';' separates several) on the text protocol; resolves with the answer. */
  text(commandLine: string): Promise<string> {
    return exchange(this.address, `${commandLine}\n`, false, this.timeoutMs);
  }

  /** Calls one command by JSON-RPC: `call('set server', ['be/s1', 'state', 'drain'])`. */
  async call<T = unknown>(method: string, params: readonly (string | number)[] = []): Promise<ControlAnswer<T>> {
    const id = this.nextId++;
    const line = await exchange(this.address, `${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`, true, this.timeoutMs);
    let answer: { id?: unknown; result?: ControlAnswer<T>; error?: { code: number; message: string } };
    try {
      answer = JSON.parse(line.trim());
    } catch {
      throw new EpoxyError(`not a JSON-RPC answer from ${this.address}: ${line.slice(0, 200)}`, ErrorCodes.CONTROL);
    }
    if (answer.error) throw new ControlError(answer.error.message, answer.error.code);
    return answer.result!;
  }
}
