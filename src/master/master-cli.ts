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
import { ControlServer } from '../control/control-server.js';
import { EpoxyError, ErrorCodes } from '../errors.js';
import { countersCsv, countersJson } from './counters.js';
import type { Master } from './master.js';

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
  private constructor(
    private readonly control: ControlServer,
  ) {}

  /** Listens on `text` (-S); rejects with the listen error (EADDRINUSE...). */
  static async listen(text: string, master: Master, version: string): Promise<MasterCli> {
    const address = parseMasterCliAddress(text);
    const commands = new MasterCommands(master, version);
    const control = await ControlServer.listen(
      {
        path: address.path ?? null,
        ...(address.path === undefined && { host: address.host!, port: address.port! }),
        mode: address.mode ?? null,
        level: 'admin',
        // The master CLI is the operator's own: no idle timeout, no JSON, answers as HAProxy's master CLI gives them.
        timeoutMs: 0,
        prompt: '\nmaster> ',
        emptyLineAfterAnswers: false,
        jsonRpc: false,
      },
      { run: async (command) => ({ text: await commands.run(command) }) },
    );
    return new MasterCli(control);
  }

  close(): void {
    this.control.close();
  }
}

/** What the master CLI's commands do. */
class MasterCommands {
  constructor(
    private readonly master: Master,
    private readonly version: string,
  ) {}

  async run(command: string): Promise<string> {
    const target = /^@(!?)(\S+)\s*(.*)$/.exec(command);
    if (target) {
      const [, bang, who, rest] = target;
      if (who === 'master') return rest === '' ? '' : this.run(rest!);
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
        return `${this.version}\n`;
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
