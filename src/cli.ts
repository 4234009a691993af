/**
 * The `epoxy` command, with HAProxy's flags: `epoxy -f haproxy.cfg` runs the proxy, `-c` checks
 * the configuration (exit 0 valid, 1 invalid), `-v`/`-vv` print the version. Signals mean what
 * they mean to HAProxy 2.6 without master-worker: SIGINT and SIGTERM stop it at once (sessions
 * are cut); SIGUSR1 stops it softly (listeners close, sessions drain); SIGTTOU/SIGTTIN pause and
 * resume listening; SIGHUP logs the servers' states; SIGQUIT logs memory and activity figures;
 * SIGUSR2 (and SIGALRM) are ignored. A library's start() does none of this unless asked: the
 * command asks for signals and for messages on stderr.
 *
 * With -W (`master-worker`, `nbthread` above 1, -D or `daemon`) the command is a master
 * (src/master/run.ts) and the same command, started by it with EPOXY_WORKER in its environment,
 * is each worker (src/master/worker.ts); docs/operations.md says what the signals mean then.
 */
import { capabilities } from './capabilities.js';
import { ControlClient, ControlError } from './control/client.js';
import { findCommand } from './control/commands.js';
import { parseArgs, USAGE, type CliOptions } from './cli/args.js';
import { loadConfig } from './cli/load-config.js';
import { WORKER_ENV } from './master/messages.js';
import { runMaster } from './master/run.js';
import { parseManifest, runWorker } from './master/worker.js';
import { DAEMON_ENV, launchDaemon } from './process/daemon.js';
import { pollOncePerWakeup } from './process/loop-metrics.js';
import { removePidfile, writePidfile } from './process/pidfile.js';
import { dropPrivileges, privilegeDrop } from './process/privileges.js';
import { EpoxyError } from './errors.js';
import { BindError } from './runtime/bind-error.js';
import { start, stderrLog } from './runtime/start.js';
import { VERSION } from './version.js';

function printVersion(level: 1 | 2): void {
  process.stdout.write(`epoxy version ${VERSION} (HAProxy configuration format, TCP mode)\n`);
  if (level < 2) return;
  const caps = capabilities();
  process.stdout.write(
    [
      `Running on: Linux, node ${caps.node}, N-API ${caps.napiVersion}`,
      `Available pollers: ${caps.pollers.join(', ')}`,
      `Socket options: ${caps.socketOptions.join(', ')}`,
      `Privileges: CAP_NET_ADMIN=${caps.privileges.netAdmin} CAP_NET_RAW=${caps.privileges.netRaw} CAP_NET_BIND_SERVICE=${caps.privileges.netBindService}`,
      `Open files: soft ${caps.nofile.soft}, hard ${caps.nofile.hard}`,
    ].join('\n') + '\n',
  );
}

/** Returns the exit code; for a running proxy, once it has stopped. */
/**
 * `epoxy ctl [--json] <socket> <command...>`: one command line on a runtime-API socket (a unix
 * path or host:port), its answer on stdout. With --json the command goes by JSON-RPC and the
 * result (or error) is printed as JSON. Exit 0 unless the command failed or the socket did not
 * answer.
 */
async function ctl(args: readonly string[]): Promise<number> {
  const json = args[0] === '--json';
  const [address, ...words] = json ? args.slice(1) : args;
  if (address === undefined || words.length === 0) {
    process.stderr.write('usage: epoxy ctl [--json] <socket path|host:port> <command...>\n');
    return 1;
  }
  const client = new ControlClient(address);
  try {
    if (!json) {
      process.stdout.write(await client.text(words.join(' ')));
      return 0;
    }
    // JSON-RPC takes one command: its words name the method (the longest known), the rest are parameters.
    const found = findCommand(words);
    const method = found ? found.spec.words.join(' ') : words[0]!;
    const params = found ? found.args : words.slice(1);
    process.stdout.write(`${JSON.stringify(await client.call(method, params), null, 2)}\n`);
    return 0;
  } catch (error) {
    if (error instanceof ControlError) process.stdout.write(`${JSON.stringify({ error: { code: error.rpcCode, message: error.message } }, null, 2)}\n`);
    else process.stderr.write(`epoxy ctl: ${(error as Error).message}\n`);
    return 1;
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  if (argv[2] === 'ctl') return ctl(argv.slice(3));
  let options: CliOptions;
  try {
    options = parseArgs(argv.slice(2));
  } catch (error) {
    process.stderr.write(`epoxy: ${(error as Error).message}\n${USAGE}`);
    return 1;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (options.version > 0) {
    printVersion(options.version as 1 | 2);
    return 0;
  }
  const log = stderrLog(options.quiet);
  if (options.files.length === 0) {
    log.alert('No configuration file specified (use -f <file|dir>).');
    process.stderr.write(USAGE);
    return 1;
  }

  const manifestText = process.env[WORKER_ENV];
  const daemonChild = process.env[DAEMON_ENV] !== undefined;
  // A worker and a daemon read a configuration their master or launcher has just checked and
  // reported on: its warnings are not repeated.
  const loaded = await loadConfig(options.files, {
    quiet: options.quiet || manifestText !== undefined || daemonChild,
    checkOnly: options.checkOnly,
    log,
  });
  if (!loaded.ok) {
    if (loaded.noConfig) process.stderr.write(USAGE);
    return loaded.code;
  }
  const { config, listens } = loaded;
  if (options.checkOnly) {
    if (!listens) {
      process.stdout.write('Configuration file has no error but will not start (no listener) => exit(2).\n');
      return 2;
    }
    if (!options.quiet) process.stdout.write('Configuration file is valid\n');
    return 0;
  }
  if (!listens) {
    log.alert("[epoxy.main()] No enabled listener found (check for 'bind' directives) ! Exiting.");
    return 1;
  }

  if (manifestText !== undefined) return runWorker(config, options, parseManifest(manifestText), log);
  const processModel = config.global.process;
  const daemon = (options.daemon || processModel.daemon) && !options.debug;
  if (daemon && !daemonChild) return launchDaemon(process.argv.slice(1));
  if (daemon || options.masterWorker || processModel.masterWorker || config.global.nbthread > 1) {
    return runMaster(config, options, log, { daemon });
  }

  const drop = privilegeDrop(config);
  const pidfile = options.pidfile ?? processModel.pidfile;
  pollOncePerWakeup();
  try {
    const running = await start(config, {
      quiet: options.quiet,
      verbose: true,
      disabledPollers: options.disabledPollers,
      maxconn: options.maxconn ?? undefined,
      log,
      signals: true,
      ...(drop !== null && { beforeServe: () => dropPrivileges(drop) }),
    });
    for (const [name, addresses] of running.addresses) {
      if (!options.quiet) log.notice(`${name} listening on ${addresses.join(', ')} (poller: ${running.loop.poller.name})`);
    }
    if (pidfile !== null) {
      try {
        writePidfile(pidfile);
      } catch (error) {
        log.alert(`Cannot create pidfile ${pidfile}: ${(error as Error).message}`);
      }
    }
    await running.done;
    if (pidfile !== null) removePidfile(pidfile);
    return 0;
  } catch (error) {
    // Each listener that failed has had its alert already: close as HAProxy does.
    if (error instanceof BindError) {
      log.alert('Some protocols failed to start their listeners! Exiting.');
      return 1;
    }
    if (error instanceof EpoxyError) {
      for (const line of error.message.split('\n')) log.alert(line);
      return 1;
    }
    throw error;
  }
}
