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
  /** -db: stay in the foreground and debug (accepted; epoxy never daemonizes yet). */
  debug: boolean;
  /** -n: maxconn override; -N: default per-proxy maxconn. */
  maxconn: number | null;
  defaultMaxconn: number | null;
}

/** Flags HAProxy has that need the process-model work (master/worker, daemon, pidfile, CLI). */
const PROCESS_MODEL_FLAGS: Record<string, string> = {
  '-D': 'daemon mode',
  '-p': 'pidfile',
  '-W': 'master-worker mode',
  '-Ws': 'master-worker mode with systemd notify',
  '-S': 'the master CLI socket',
  '-sf': 'soft-finish of old processes (reload)',
  '-st': 'hard-termination of old processes (reload)',
  '-x': 'fetching listening sockets from an old process',
};

export const USAGE = `Usage: epoxy [-f <cfgfile|cfgdir>]* [-c] [-q] [-V] [-v | -vv] [-de] [-dp] [-db] [-n maxconn] [-N maxconn]
  -f <file|dir>  configuration file, or directory of *.cfg files (repeatable; read in order)
  -c             check the configuration and exit (0 valid, 1 invalid)
  -q             quiet mode: no warnings or notices
  -V             verbose mode: print every startup error, even retryable ones
  -v, -vv        print the version (-vv: and the addon's build and capabilities)
  -de, -dp       disable the epoll (-de) or poll (-dp) poller
  -db            debug: stay in the foreground (epoxy does not daemonize yet anyway)
  -n <n>         global maxconn
  -N <n>         default maxconn of proxies
  --help         this help
Not supported yet (process model): ${Object.keys(PROCESS_MODEL_FLAGS).join(' ')}
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
        const what = PROCESS_MODEL_FLAGS[arg];
        if (what) throw usageError(`'${arg}' (${what}) is not supported yet: it comes with the master/worker process model`);
        throw usageError(`unknown option '${arg}'`);
      }
    }
  }
  return options;
}
