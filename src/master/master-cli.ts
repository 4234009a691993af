/**
 * The master CLI (`-S <path|ip:port>`), HAProxy's text protocol so that `socat` works as with
 * HAProxy: one or more commands separated by ';' on a line, each answered, then the connection
 * closes, unless `prompt` made it interactive ("master> " after each answer, `quit` to leave).
 *
 *   show proc              pid, type, reloads, uptime, version and generation of every process
 *   reload                 'Success=1', or 'Success=0', '--' and the errors (HAProxy 2.7's answer)
 *   show counters [json]   per-proxy and per-server counters summed over every worker
 *   @<n> <command>         the command for worker n of the current generation; @!<pid> by pid
 *                          (workers answer `show counters`, `show health`, `show pid`)
 *
 * It is the master's own socket: workers are reached through their IPC channel, never directly.
 */
import { chmodSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { EpoxyError, ErrorCodes } from '../errors.js';
import { countersCsv, countersJson } from './counters.js';
import type { Master } from './master.js';

/** Longest command line read; a longer one closes the connection (it is not a command). */
const MAX_LINE = 64 * 1024;

const HELP = `The following commands are valid at this level:
  @!<pid>                                 : send a command to the <pid> process
  @<relative pid>                         : send a command to the <relative pid> process
  @master                                 : send a command to the master process
  reload                                  : reload epoxy
  show counters [json]                    : counters per frontend, backend and server, summed over the workers
  show proc                               : show processes status
  show version                            : show version of the current process
  help                                    : list commands
  prompt                                  : toggle interactive mode with prompt
  quit                                    : disconnect
`;

export interface MasterCliAddress {
  path?: string;
  host?: string;
  port?: number;
  mode?: number;
}

/** `-S` argument: '/run/epoxy-master.sock[,mode 600]', 'unix@/path', '127.0.0.1:9999', 'ipv4@127.0.0.1:9999'. */
export function parseMasterCliAddress(text: string): MasterCliAddress {
  const [where = '', ...settings] = text.split(',');
  const address: MasterCliAddress = {};
  for (const setting of settings) {
    const match = /^mode\s+([0-7]{3,4})$/.exec(setting.trim());
    if (!match) throw new EpoxyError(`-S: unsupported setting '${setting}' (only 'mode <octal>')`, ErrorCodes.INVALID_ARG);
    address.mode = parseInt(match[1]!, 8);
  }
  const bare = where.replace(/^(unix|ipv4|ipv6)@/, '');
  if (where.startsWith('unix@') || bare.startsWith('/') || bare.startsWith('.')) {
    address.path = bare;
    return address;
  }
  const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(bare);
  if (!match || Number(match[2]) > 65535) throw new EpoxyError(`-S: '${where}' is neither a unix socket path nor ip:port`, ErrorCodes.INVALID_ARG);
  address.host = match[1] === '' ? '0.0.0.0' : match[1]!;
  address.port = Number(match[2]);
  return address;
}

export class MasterCli {
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly master: Master,
    private readonly path: string | null,
  ) {}

  /** Listens on `text` (-S); rejects with the listen error (EADDRINUSE...). */
  static async listen(text: string, master: Master, version: string): Promise<MasterCli> {
    const address = parseMasterCliAddress(text);
    if (address.path !== undefined) {
      try {
        unlinkSync(address.path);
      } catch {
        // No stale socket there.
      }
    }
    // Half-open: `echo cmd | socat` sends its FIN before the answer of a command that waits on
    // the workers is ready; the answer must still go out.
    const server = createServer({ allowHalfOpen: true });
    const cli = new MasterCli(server, master, address.path ?? null);
    server.on('connection', (socket) => cli.serve(socket, version));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const ready = (): void => {
        server.off('error', reject);
        resolve();
      };
      if (address.path !== undefined) server.listen(address.path, ready);
      else server.listen(address.port, address.host, ready);
    });
    if (address.path !== undefined && address.mode !== undefined) chmodSync(address.path, address.mode);
    return cli;
  }

  close(): void {
    this.server.close();
    for (const socket of this.sockets) socket.destroy();
    if (this.path !== null) {
      try {
        unlinkSync(this.path);
      } catch {
        // Already removed.
      }
    }
  }

  private serve(socket: Socket, version: string): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = '';
    let interactive = false;
    let busy = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      if (buffered.length > MAX_LINE) {
        socket.destroy();
        return;
      }
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline).replace(/\r$/, '');
        buffered = buffered.slice(newline + 1);
        busy = busy.then(async () => {
          if (socket.destroyed) return;
          const { text, quit, prompt } = await this.runLine(line, version, interactive);
          if (prompt !== undefined) interactive = prompt;
          if (text !== '') socket.write(text);
          if (quit || !interactive) socket.end();
          else socket.write('\nmaster> ');
        });
      }
    });
  }

  private async runLine(line: string, version: string, interactive: boolean): Promise<{ text: string; quit?: boolean; prompt?: boolean }> {
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
      text += await this.run(command, version);
    }
    return prompt === undefined ? { text } : { text, prompt };
  }

  private async run(command: string, version: string): Promise<string> {
    const target = /^@(!?)(\S+)\s*(.*)$/.exec(command);
    if (target) {
      const [, bang, who, rest] = target;
      if (who === 'master') return rest === '' ? '' : this.run(rest!, version);
      const n = Number(who);
      if (!Number.isInteger(n) || n <= 0) return `Can't find the target process '${who}'.\n`;
      const answer = await this.master.forward(bang === '!' ? { pid: n } : { slot: n }, rest ?? '');
      return answer ?? `Can't find the target process '${bang}${who}'.\n`;
    }
    const words = command.split(/\s+/);
    switch (words.join(' ')) {
      case 'help':
        return HELP;
      case 'show proc':
        return this.master.showProc();
      case 'show version':
        return `${version}\n`;
      case 'show counters':
        return countersCsv(await this.master.counters());
      case 'show counters json':
        return countersJson(await this.master.counters());
      case 'reload': {
        const result = await this.master.reload('master CLI');
        return result.ok ? 'Success=1\n' : `Success=0\n--\n${result.messages.join('\n')}\n`;
      }
      default:
        return `Unknown command: '${command}'\n${HELP}`;
    }
  }
}
