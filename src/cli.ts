/**
 * The `epoxy` command. Until the TCP proxy lands it reports the version and what the addon and
 * this process can do; the HAProxy-compatible flags (-f, -c, -d*) arrive with the proxy.
 */
import { capabilities } from './capabilities.js';
import { VERSION } from './version.js';

const USAGE = `Usage: epoxy [-v | -vv | --help]
  -v      print the version
  -vv     print the version and the capabilities of the addon and of this process
  --help  print this help
With no argument, prints the version and the capabilities (the proxy itself is not built yet).
`;

export function main(argv: readonly string[]): number {
  const args = argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (args.length === 1 && args[0] === '-v') {
    process.stdout.write(`epoxy version ${VERSION}\n`);
    return 0;
  }
  const unknown = args.filter((a) => a !== '-vv');
  if (unknown.length > 0) {
    process.stderr.write(`epoxy: unknown argument '${unknown[0]}'\n${USAGE}`);
    return 1;
  }
  const caps = capabilities();
  const lines = [
    `epoxy version ${caps.version} (node ${caps.node}, N-API ${caps.napiVersion})`,
    `pollers: ${caps.pollers.join(', ')}`,
    `socket options: ${caps.socketOptions.join(', ')}`,
    `privileges: CAP_NET_ADMIN=${caps.privileges.netAdmin} CAP_NET_RAW=${caps.privileges.netRaw}` +
      ` CAP_NET_BIND_SERVICE=${caps.privileges.netBindService}`,
    `open files: soft ${caps.nofile.soft}, hard ${caps.nofile.hard}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
