/**
 * Network namespaces for tests that need their own network stack (NAT rules, TPROXY, addresses
 * of their own). Each namespace is named epoxy-t-<pid>-<n>; namespaces left behind by a test
 * process that died are removed the next time any test creates one.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const NETNS_DIR = '/var/run/netns';
let counter = 0;

function which(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Why namespace tests cannot run here, or null when they can. */
export function netnsUnavailableReason(tools: string[] = ['ip']): string | null {
  if (process.getuid?.() !== 0) return 'needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) to create network namespaces';
  for (const tool of tools) if (!which(tool)) return `needs the '${tool}' command (apt-get install ${tool === 'nft' ? 'nftables' : 'iproute2'})`;
  return null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function sweepStale(): void {
  if (!existsSync(NETNS_DIR)) return;
  for (const name of readdirSync(NETNS_DIR)) {
    const match = /^epoxy-t-(\d+)-\d+$/.exec(name);
    if (match && !alive(Number(match[1]))) execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  }
}

export interface Netns {
  name: string;
  /** Path to pass to socketInNetns(). */
  path: string;
  /** Runs a command inside the namespace and returns its stdout. */
  exec(command: string, args: string[], input?: string): string;
  destroy(): void;
}

/** Creates a namespace with its loopback up. */
export function createNetns(): Netns {
  sweepStale();
  const name = `epoxy-t-${process.pid}-${counter++}`;
  execFileSync('ip', ['netns', 'add', name]);
  const ns: Netns = {
    name,
    path: `${NETNS_DIR}/${name}`,
    exec(command, args, input) {
      return execFileSync('ip', ['netns', 'exec', name, command, ...args], {
        input,
        encoding: 'utf8',
        stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
    },
    destroy() {
      if (existsSync(ns.path)) execFileSync('ip', ['netns', 'del', name]);
    },
  };
  try {
    ns.exec('ip', ['link', 'set', 'lo', 'up']);
  } catch (error) {
    ns.destroy();
    throw error;
  }
  return ns;
}
