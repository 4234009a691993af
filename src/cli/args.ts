/**
 * Command-line arguments, HAProxy's flags (haproxy.c's usage): what an HAProxy user types works,
 * and what epoxy does not do yet is refused by name rather than ignored.
 */
import { EpoxyError, ErrorCodes } from '../errors.js';

export interface CliOptions {
  /** -f: configuration files and directories, in order. */
  files: string[];
  /** -c: check the configuration and exit (0 valid, 1 invalid). */
  checkOnly: boolean;
  /** -q: quiet (no warnings, no startup notices). */
  quiet: boolean;
  /** -V: verbose (print retryable startup errors on every attempt). */
  verbose: boolean;
  /** -v: version; -vv: version and build/capabilities. */
  version: 0 | 1 | 2;
  help: boolean;
  /** -de / -dp: pollers disabled on the command line. */
  disabledPollers: string[];
  /** -db: stay in the foreground (overrides `daemon` and -D). */
  debug: boolean;
  /** -D: daemonize (a master with its workers, detached; exits once they serve). */
  daemon: boolean;
  /** -W / -Ws: master-worker mode (-Ws also speaks sd_notify, as does any NOTIFY_SOCKET). */
  masterWorker: boolean;
  /** -p: pidfile (the master's pid, or the single process's). */
  pidfile: string | null;
  /** -S: the master CLI's socket: a unix path or ip:port, with optional ',mode 600' style settings. */
  masterCli: string | null;
  /** -n: maxconn override; -N: default per-proxy maxconn. */
  maxconn: number | null;
  defaultMaxconn: number | null;
}

/**
 * HAProxy's flags for reloading by starting a new process next to the old one. epoxy reloads
 * inside its master instead (SIGUSR2, or `reload` on the master CLI), which keeps the sockets.
 */
const OLD_STYLE_RELOAD_FLAGS: Record<string, string> = {
  '-sf': 'soft-finish of old processes',
  '-st': 'hard-termination of old processes',
  '-x': 'fetching listening sockets from an old process',
};

export const USAGE = `Usage: epoxy [-f <cfgfile|cfgdir>]* [-c] [-q] [-V] [-v | -vv] [-de] [-dp] [-db] [-n maxconn] [-N maxconn]
             [-W | -Ws] [-D] [-p <pidfile>] [-S <path|ip:port>[,mode <octal>]]
  -f <file|dir>  configuration file, or directory of *.cfg files (repeatable; read in order)
  -c             check the configuration and exit (0 valid, 1 invalid)
  -q             quiet mode: no warnings or notices
  -V             verbose mode: print every startup error, even retryable ones
  -v, -vv        print the version (-vv: and the addon's build and capabilities)
  -de, -dp       disable the epoll (-de) or poll (-dp) poller
  -db            debug: stay in the foreground even with 'daemon' in the configuration
  -n <n>         global maxconn
  -N <n>         default maxconn of proxies
  -W             master-worker mode: a master binds, runs 'nbthread' workers, respawns and reloads them
  -Ws            master-worker mode with systemd notification (sd_notify is used whenever NOTIFY_SOCKET is set)
  -D             daemon: detach, and exit 0 once the workers serve (non-zero with the error otherwise)
  -p <file>      write the master's pid to <file> once it serves; removed at exit
  -S <addr>      master CLI on a unix socket path or ip:port ('show proc', 'reload', '@1 <command>')
  --help         this help
Reload: SIGUSR2 or SIGHUP to the master, or 'reload' on its CLI (${Object.keys(OLD_STYLE_RELOAD_FLAGS).join(' ')} are not used).
`;

function usageError(message: string): EpoxyError {
  return new EpoxyError(message, ErrorCodes.INVALID_ARG);
}

function positiveInt(flag: string, value: string | undefined): number {
  if (value === undefined || !/^\d+$/.test(value) || Number(value) === 0) {
    throw usageError(`'${flag}' expects a positive integer`);
  }
  return Number(value);
}

export function parseArgs(argv: readonly string[]): CliOptions {
  const options: CliOptions = {
    files: [],
    checkOnly: false,
    quiet: false,
    verbose: false,
    version: 0,
    help: false,
    disabledPollers: [],
    debug: false,
    daemon: false,
    masterWorker: false,
    pidfile: null,
    masterCli: null,
    maxconn: null,
    defaultMaxconn: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    switch (arg) {
      case '-f': {
        const file = argv[++i];
        if (file === undefined) throw usageError("'-f' expects a file or directory");
        options.files.push(file);
        break;
      }
      case '-c':
        options.checkOnly = true;
        break;
      case '-q':
        options.quiet = true;
        break;
      case '-V':
        options.verbose = true;
        break;
      case '-v':
        options.version = 1;
        break;
      case '-vv':
        options.version = 2;
        break;
      case '-h':
      case '--help':
        options.help = true;
        break;
      case '-de':
        options.disabledPollers.push('epoll');
        break;
      case '-dp':
        options.disabledPollers.push('poll');
        break;
      case '-db':
        options.debug = true;
        break;
      case '-D':
        options.daemon = true;
        break;
      case '-W':
      case '-Ws':
        options.masterWorker = true;
        break;
      case '-p': {
        const file = argv[++i];
        if (file === undefined || file === '') throw usageError("'-p' expects a file name");
        options.pidfile = file;
        break;
      }
      case '-S': {
        const where = argv[++i];
        if (where === undefined || where === '') throw usageError("'-S' expects a unix socket path or ip:port");
        options.masterCli = where;
        break;
      }
      case '-n':
        options.maxconn = positiveInt('-n', argv[++i]);
        break;
      case '-N':
        options.defaultMaxconn = positiveInt('-N', argv[++i]);
        break;
      case '--':
        // HAProxy: everything after -- is a configuration file.
        options.files.push(...argv.slice(i + 1));
        i = argv.length;
        break;
      default: {
        const what = OLD_STYLE_RELOAD_FLAGS[arg];
        if (what) throw usageError(`'${arg}' (${what}) is not used by epoxy: run with -W and reload with SIGUSR2 to the master, or 'reload' on its CLI (-S)`);
        throw usageError(`unknown option '${arg}'`);
      }
    }
  }
  return options;
}
