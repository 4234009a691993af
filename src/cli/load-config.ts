/**
 * Reading and checking the configuration files the way `epoxy -f` does before it runs them, for
 * the first start and for every reload of a master: the same alerts, the same refusals
 * (unresolvable servers, no listener, zero-warning), and the messages kept so that a reload
 * refused on the master CLI can answer with them.
 */
import { readConfig } from '../config/parser.js';
import { listenerCount, type Config } from '../config/model.js';
import type { ProxyLog } from '../proxy/proxy-types.js';
import { resolutionError, resolveServers } from '../runtime/build.js';

export type LoadedConfig =
  | { ok: true; config: Config; listens: boolean }
  /** `code`: the exit status `epoxy -c` gives (1 invalid; 2 valid but nothing to listen on is only for -c). */
  | { ok: false; code: number; alerts: string[]; noConfig?: boolean };

export interface LoadOptions {
  quiet: boolean;
  /** -c prints warnings even with -q. */
  checkOnly: boolean;
  log: ProxyLog;
}

export async function loadConfig(files: readonly string[], options: LoadOptions): Promise<LoadedConfig> {
  const { log } = options;
  const alerts: string[] = [];
  const alert = (message: string): void => {
    alerts.push(message);
    log.alert(message);
  };
  const result = readConfig(files);
  if (result.config.files.length === 0 && result.errors.length === 0) {
    // Only directories without a .cfg file: HAProxy 2.6 then has no configuration at all and
    // prints its usage, exit 1.
    alert(`No configuration file found in ${files.join(', ')} (a directory contributes its '*.cfg' files).`);
    return { ok: false, code: 1, alerts, noConfig: true };
  }
  if (!options.quiet || options.checkOnly) for (const warning of result.warnings) log.warning(warning.message);
  for (const error of result.errors) alert(error.message);
  if (result.errors.length > 0) {
    alert('Fatal errors found in configuration.');
    return { ok: false, code: 1, alerts };
  }
  if (result.config.global.zeroWarning && result.warnings.some((w) => w.severity === 'warning')) {
    alert("Some warnings were found and 'zero-warning' is set. Please fix them.");
    return { ok: false, code: 1, alerts };
  }
  // What the run would refuse, -c refuses too: host names that do not resolve (HAProxy 2.6's
  // words and exit codes).
  const resolved = await resolveServers(result.config);
  if (resolved.failures.length > 0) {
    for (const line of resolutionError(resolved.failures).message.split('\n')) alert(line);
    return { ok: false, code: 1, alerts };
  }
  return { ok: true, config: result.config, listens: listenerCount(result.config) > 0 };
}
