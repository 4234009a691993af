/**
 * The runtime API's socket (`stats socket`): HAProxy's text protocol, so that `socat` and the
 * scripts written for HAProxy work unchanged, and JSON-RPC 2.0 for programs, told apart by the
 * first byte a connection sends ('{' or '[' is JSON). Seed 004's unixctl server is the model for
 * the second: commands registered by name, one JSON request per line, one answer each.
 *
 * Text: one or more commands separated by ';' on a line; each answer is followed by an empty
 * line, then the connection closes, unless `prompt` made it interactive ("> " after each line,
 * `quit` to leave). An idle connection closes after `stats timeout`.
 *
 * JSON-RPC: `{"jsonrpc":"2.0","id":1,"method":"set server","params":["be/s1","state","drain"]}`,
 * a method being a command's words and the params its arguments; the result is
 * `{"text": <the text answer>, "data": <the same, structured, where the command has it>}`, and a
 * refused or failed command is an error (-32000 permission denied, -32001 the command's message).
 */
import { chmodSync, chownSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { ControlLevel, StatsSocket } from '../config/model.js';
import { EpoxyError, ErrorCodes } from '../errors.js';
import type { CommandResult } from './commands.js';

/** Longest line read; a longer one closes the connection (it is not a command). */
const MAX_LINE = 64 * 1024;

/** What serves the commands of one socket. */
export interface ControlHandler {
  /** Runs one command (a single one: ';' is the protocol's), as a connection at `level`. */
  run(command: string, level: ControlLevel): Promise<CommandResult>;
}

export interface ControlListen {
  readonly path: string | null;
  readonly host?: string;
  readonly port?: number;
  readonly mode?: number | null;
  readonly uid?: number | null;
  readonly gid?: number | null;
  readonly level: ControlLevel;
  /** An idle connection is closed after this many ms (0: never). */
  readonly timeoutMs: number;
  /** The interactive prompt ("> " for a stats socket). */
  readonly prompt?: string;
  /** End every answer with an empty line, as a stats socket does (default true; the master CLI does not). */
  readonly emptyLineAfterAnswers?: boolean;
  /** Answer JSON-RPC when the first byte says so (default true). */
  readonly jsonRpc?: boolean;
}

/** JSON-RPC 2.0 error codes (the spec's, and the two of this API). */
const RPC_PARSE_ERROR = -32700;
const RPC_INVALID_REQUEST = -32600;
const RPC_METHOD_NOT_FOUND = -32601;
const RPC_PERMISSION_DENIED = -32000;
const RPC_COMMAND_FAILED = -32001;

interface RpcRequest {
  jsonrpc?: unknown;
  id?: unknown;
  method?: unknown;
  params?: unknown;
}

export class ControlServer {
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly options: ControlListen,
  ) {}

  /** Listens as `options` say; rejects with the listen error (EADDRINUSE, EACCES...). */
  static async listen(options: ControlListen, handler: ControlHandler): Promise<ControlServer> {
    if (options.path !== null) {
      try {
        unlinkSync(options.path);
      } catch {
        // No stale socket there.
      }
    }
    // Half-open: `echo cmd | socat` sends its FIN before the answer of a command that waits on
    // the workers is ready; the answer must still go out.
    const server = createServer({ allowHalfOpen: true });
    const control = new ControlServer(server, options);
    server.on('connection', (socket) => control.serve(socket, handler));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const ready = (): void => {
        server.off('error', reject);
        resolve();
      };
      if (options.path !== null) server.listen(options.path, ready);
      else server.listen(options.port, options.host, ready);
    });
    if (options.path !== null) {
      if (options.mode !== null && options.mode !== undefined) chmodSync(options.path, options.mode);
      if ((options.uid ?? null) !== null || (options.gid ?? null) !== null) chownSync(options.path, options.uid ?? -1, options.gid ?? -1);
    }
    return control;
  }

  /** The TCP port listened on (tests listen on port 0), or 0 for a unix socket. */
  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  close(): void {
    this.server.close();
    for (const socket of this.sockets) socket.destroy();
    if (this.options.path !== null) {
      try {
        unlinkSync(this.options.path);
      } catch {
        // Already removed.
      }
    }
  }

  private serve(socket: Socket, handler: ControlHandler): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    if (this.options.timeoutMs > 0) socket.setTimeout(this.options.timeoutMs, () => socket.destroy());
    let buffered = '';
    let json: boolean | null = null;
    let interactive = false;
    let busy = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      if (buffered.length > MAX_LINE) {
        socket.destroy();
        return;
      }
      if (this.options.jsonRpc === false) json = false;
      json ??= buffered.trimStart().startsWith('{') || buffered.trimStart().startsWith('[') ? true : buffered.trim() === '' ? null : false;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline).replace(/\r$/, '');
        buffered = buffered.slice(newline + 1);
        const asJson = json === true;
        busy = busy.then(async () => {
          if (socket.destroyed) return;
          if (asJson) {
            if (line.trim() !== '') socket.write(`${await this.rpcLine(line, handler)}\n`);
            return;
          }
          const { text, quit, prompt } = await this.textLine(line, handler, interactive);
          if (prompt !== undefined) interactive = prompt;
          if (text !== '') socket.write(text);
          if (quit || !interactive) socket.end();
          else socket.write(this.options.prompt ?? '> ');
        });
      }
    });
    // A JSON client that half-closes after its last request still gets every answer.
    socket.on('end', () => void busy.then(() => json === true && socket.end()));
  }

  private async textLine(line: string, handler: ControlHandler, interactive: boolean): Promise<{ text: string; quit?: boolean; prompt?: boolean }> {
    let text = '';
    let prompt: boolean | undefined;
    for (const raw of line.split(';')) {
      const command = raw.trim();
      if (command === '') continue;
      if (command === 'quit') return { text, quit: true };
      if (command === 'prompt') {
        prompt = !(prompt ?? interactive);
        continue;
      }
      const result = await handler.run(command, this.options.level);
      // HAProxy ends every answer with an empty line, so a reader knows where it stops.
      text += this.options.emptyLineAfterAnswers === false ? result.text : `${result.text}\n`;
    }
    return prompt === undefined ? { text } : { text, prompt };
  }

  private async rpcLine(line: string, handler: ControlHandler): Promise<string> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: RPC_PARSE_ERROR, message: 'Parse error' } });
    }
    if (Array.isArray(parsed)) {
      const answers = [];
      for (const request of parsed) answers.push(await this.rpcRequest(request as RpcRequest, handler));
      return JSON.stringify(answers);
    }
    return JSON.stringify(await this.rpcRequest(parsed as RpcRequest, handler));
  }

  private async rpcRequest(request: RpcRequest, handler: ControlHandler): Promise<object> {
    const id = typeof request?.id === 'string' || typeof request?.id === 'number' ? request.id : null;
    const params = request?.params ?? [];
    if (request?.jsonrpc !== '2.0' || typeof request.method !== 'string' || !Array.isArray(params) || !params.every((p) => typeof p === 'string' || typeof p === 'number')) {
      return { jsonrpc: '2.0', id, error: { code: RPC_INVALID_REQUEST, message: 'Invalid Request: expects {"jsonrpc":"2.0","id":..,"method":"<command words>","params":[<arguments>]}' } };
    }
    const method = request.method.trim();
    if (method === '' || /[;\n]/.test(method) || params.some((p) => /[\s;]/.test(String(p)))) {
      return { jsonrpc: '2.0', id, error: { code: RPC_INVALID_REQUEST, message: 'Invalid Request: a method is one command, and each parameter one word' } };
    }
    const result = await handler.run([method, ...params.map(String)].join(' '), this.options.level);
    if (result.failed) {
      const denied = result.text.startsWith('Permission denied');
      const unknown = result.text.startsWith('Unknown command');
      const code = denied ? RPC_PERMISSION_DENIED : unknown ? RPC_METHOD_NOT_FOUND : RPC_COMMAND_FAILED;
      return { jsonrpc: '2.0', id, error: { code, message: result.text.trim() } };
    }
    return { jsonrpc: '2.0', id, result: result.data === undefined ? { text: result.text } : { text: result.text, data: result.data } };
  }
}

/**
 * Listens on one `stats socket` line, serving `handler`. A socket that cannot be opened is a
 * startup error naming the line, as HAProxy's "cannot bind UNIX socket" is.
 */
export async function openStatsSocket(socket: StatsSocket, timeoutMs: number, handler: ControlHandler): Promise<ControlServer> {
  try {
    return await ControlServer.listen(
      {
        path: socket.path,
        ...(socket.address !== null && { host: socket.address.address, port: socket.address.port }),
        mode: socket.mode,
        uid: socket.uid,
        gid: socket.gid,
        level: socket.level,
        timeoutMs,
      },
      handler,
    );
  } catch (error) {
    const where = socket.path ?? socket.address!.toString();
    const code = (error as { code?: string }).code ?? 'error';
    throw new EpoxyError(`[${socket.where.file}:${socket.where.line}] : 'stats socket' : cannot listen on '${where}' (${code}: ${(error as Error).message}).`, ErrorCodes.CONFIG);
  }
}
