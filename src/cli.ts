/**
 * The `epoxy` command, with HAProxy's flags: `epoxy -f haproxy.cfg` runs the proxy, `-c` checks
 * the configuration (exit 0 valid, 1 invalid), `-v`/`-vv` print the version. Signals mean what
 * they mean to HAProxy 2.6 without master-worker: SIGINT and SIGTERM stop it at once (sessions
 * are cut); SIGUSR1 stops it softly (listeners close, sessions drain); SIGTTOU/SIGTTIN pause and
 * resume listening; SIGHUP logs the servers' states; SIGQUIT logs memory and activity figures;
 * SIGUSR2 (and SIGALRM) are ignored. A library's start() does none of this unless asked: the
 * command asks for signals and for messages on stderr.
 */
import { capabilities } from './capabilities.js';
import { parseArgs, USAGE, type CliOptions } from './cli/args.js';
import { readConfig } from './config/parser.js';
import { listenerCount } from './config/model.js';
import { EpoxyError } from './errors.js';
import { BindError } from './runtime/bind-error.js';
import { resolutionError, resolveServers } from './runtime/build.js';
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
export async function main(argv: readonly string[]): Promise<number> {
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

  const result = readConfig(options.files);
  if (result.config.files.length === 0 && result.errors.length === 0) {
    // Only directories without a .cfg file: HAProxy 2.6 then has no configuration at all and
    // prints its usage, exit 1.
    log.alert(`No configuration file found in ${options.files.join(', ')} (a directory contributes its '*.cfg' files).`);
    process.stderr.write(USAGE);
    return 1;
  }
  if (!options.quiet || options.checkOnly) for (const warning of result.warnings) log.warning(warning.message);
  for (const error of result.errors) log.alert(error.message);
  if (result.errors.length > 0) {
    log.alert(`Fatal errors found in configuration.`);
    return 1;
  }
  if (result.config.global.zeroWarning && result.warnings.some((w) => w.severity === 'warning')) {
    log.alert("Some warnings were found and 'zero-warning' is set. Please fix them.");
    return 1;
  }
  // What the run would refuse, -c refuses too: host names that do not resolve, and a
  // configuration that would not listen anywhere (HAProxy 2.6's words and exit codes).
  const resolved = await resolveServers(result.config);
  if (resolved.failures.length > 0) {
    for (const line of resolutionError(resolved.failures).message.split('\n')) log.alert(line);
    return 1;
  }
  const listens = listenerCount(result.config) > 0;
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

  try {
    const running = await start(result.config, {
      quiet: options.quiet,
      verbose: true,
      disabledPollers: options.disabledPollers,
      maxconn: options.maxconn ?? undefined,
      log,
      signals: true,
    });
    for (const [name, addresses] of running.addresses) {
      if (!options.quiet) log.notice(`${name} listening on ${addresses.join(', ')} (poller: ${running.loop.poller.name})`);
    }
    await running.done;
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
