/**
 * `epoxy -W` (or `master-worker`, `nbthread N`, `-D`): runs the master until it stops. Signals
 * mean what they mean to an HAProxy master: SIGUSR2 and SIGHUP reload, SIGUSR1 stops softly,
 * SIGTERM and SIGINT stop at once, SIGTTOU/SIGTTIN (and SIGQUIT's dump) go to the workers.
 */
import type { CliOptions } from '../cli/args.js';
import type { Config } from '../config/model.js';
import { EpoxyError } from '../errors.js';
import { native } from '../native.js';
import { daemonReady } from '../process/daemon.js';
import { removePidfile, writePidfile } from '../process/pidfile.js';
import { sdNotify } from '../process/sd-notify.js';
import type { ProxyLog } from '../proxy/proxy-types.js';
import { BindError } from '../runtime/bind-error.js';
import { VERSION } from '../version.js';
import { openStatsSocket, type ControlServer } from '../control/control-server.js';
import { MasterControl } from './master-control.js';
import { MasterCli } from './master-cli.js';
import { Master } from './master.js';

export interface RunMasterOptions {
  /** This process is the daemon (-D): detach stdio and answer the launcher once serving. */
  daemon: boolean;
  /** The worker command: script and arguments (default: this process's). */
  command?: readonly string[];
}

export async function runMaster(config: Config, cli: CliOptions, log: ProxyLog, options: RunMasterOptions): Promise<number> {
  const master = new Master({
    cli,
    command: options.command ?? process.argv.slice(1),
    log,
    workerStdio: options.daemon ? 'forward' : 'inherit',
  });
  const handlers: Array<[NodeJS.Signals, () => void]> = [
    ['SIGUSR2', () => void master.reload('SIGUSR2')],
    ['SIGHUP', () => void master.reload('SIGHUP')],
    ['SIGUSR1', () => master.softStop()],
    ['SIGTERM', () => master.hardStop('SIGTERM')],
    ['SIGINT', () => master.hardStop('SIGTERM')],
    ['SIGTTOU', () => master.forwardSignal('SIGTTOU')],
    ['SIGTTIN', () => master.forwardSignal('SIGTTIN')],
    ['SIGQUIT', () => master.forwardSignal('SIGQUIT')],
  ];
  for (const [signal, handler] of handlers) process.on(signal, handler);
  const unregister = (): void => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };

  let masterCli: MasterCli | null = null;
  if (cli.masterCli !== null) {
    try {
      masterCli = await MasterCli.listen(cli.masterCli, master, VERSION);
    } catch (error) {
      log.alert(`Cannot create the master CLI on '${cli.masterCli}': ${(error as Error).message}`);
      unregister();
      return 1;
    }
  }
  // The runtime API's sockets, served by the master for every worker (the first configuration's:
  // a reload does not move them). Opened before the workers start, as the master CLI is.
  const controlServers: ControlServer[] = [];
  const control = new MasterControl(master);
  try {
    for (const socket of config.global.statsSockets) controlServers.push(await openStatsSocket(socket, config.global.statsTimeout, control));
  } catch (error) {
    for (const line of (error as Error).message.split('\n')) log.alert(line);
    for (const server of controlServers) server.close();
    masterCli?.close();
    unregister();
    return 1;
  }
  try {
    await master.start(config);
  } catch (error) {
    if (error instanceof BindError) log.alert('Some protocols failed to start their listeners! Exiting.');
    else if (error instanceof EpoxyError) for (const line of error.message.split('\n')) log.alert(line);
    else throw error;
    masterCli?.close();
    for (const server of controlServers) server.close();
    unregister();
    return 1;
  }
  const pidfile = cli.pidfile ?? config.global.process.pidfile;
  if (pidfile !== null) {
    try {
      writePidfile(pidfile);
    } catch (error) {
      log.alert(`Cannot create pidfile ${pidfile}: ${(error as Error).message}`);
    }
  }
  log.notice('Loading success.');
  sdNotify(`READY=1\nMAINPID=${process.pid}`);
  if (options.daemon) daemonReady(() => native.detachStdio());

  const code = await master.done;
  unregister();
  masterCli?.close();
  for (const server of controlServers) server.close();
  if (pidfile !== null) removePidfile(pidfile);
  return code;
}
