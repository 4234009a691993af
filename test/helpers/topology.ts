/**
 * A routed three-host network on one machine, for the transparent-proxy tests: three network
 * namespaces joined by veth pairs, documentation-range addresses only.
 *
 *   client ──── eth0 ⇄ gw-c ──── gateway (epoxy) ──── gw-s ⇄ eth0 ──── server
 *   192.0.2.2/24          192.0.2.1/24        198.51.100.1/24          198.51.100.2/24
 *   2001:db8:1::2/64      2001:db8:1::1/64    2001:db8:2::1/64         2001:db8:2::2/64
 *
 * The client and the server route everything through the gateway (default routes), so the
 * server's replies to a spoofed client address (`usesrc clientip`) come back through it. The
 * gateway forwards (ip_forward, IPv6 forwarding), has rp_filter off, and can be given the TPROXY
 * recipe (nftables `tproxy` + `socket transparent` marking, `ip rule fwmark 1 lookup 100`,
 * `ip route add local 0.0.0.0/0 dev lo table 100`, and the IPv6 equivalents) or a NAT REDIRECT.
 * See docs/transparent.md for what each rule does.
 *
 * Namespaces come from createNetns() (epoxy-t-<pid>-<n>): ones left by a test process that died
 * are swept the next time any test creates one. destroy() kills the children started through
 * the topology and deletes the namespaces; it also runs when the test process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createNetns, netnsUnavailableReason, type Netns } from './netns.js';
import { ROOT } from './child.js';
import { waitFor } from './sockets.js';

export const ADDRESSES = {
  client: { ipv4: '192.0.2.2', ipv6: '2001:db8:1::2' },
  gatewayClientSide: { ipv4: '192.0.2.1', ipv6: '2001:db8:1::1' },
  gatewayServerSide: { ipv4: '198.51.100.1', ipv6: '2001:db8:2::1' },
  server: { ipv4: '198.51.100.2', ipv6: '2001:db8:2::2' },
} as const;

export type Family = 'ipv4' | 'ipv6';

/** A process started inside a namespace, its output collected as it comes. */
export interface NsProcess {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  /** Resolves with the exit code (null after a signal). */
  readonly exited: Promise<number | null>;
  /** Sends SIGTERM (then SIGKILL after `graceMs`) and waits for the exit. */
  stop(graceMs?: number): Promise<number | null>;
}

export interface Topology {
  readonly client: Netns;
  readonly gateway: Netns;
  readonly server: Netns;
  /** Loads an nftables ruleset (text for `nft -f -`) in the gateway. */
  nft(ruleset: string): void;
  /**
   * The TPROXY recipe in the gateway: TCP from the client side to `dport` is diverted to a
   * transparent listener on `listenPort`; packets of existing transparent sockets (the diverted
   * connections, and the server's replies to a spoofed client address) are marked and delivered
   * locally through table 100. Can be called for several ports (one table per port).
   */
  enableTproxy(options: { dport: number; listenPort: number }): void;
  /** NAT interception instead: TCP from the client side to `dport` is REDIRECTed to `listenPort`. */
  enableRedirect(options: { dport: number; listenPort: number }): void;
  /** Starts `command args` inside `ns`; killed by destroy() at the latest. */
  spawn(ns: Netns, command: string, args: string[], options?: { cwd?: string }): NsProcess;
  /** Starts test/fixtures/transparent-server.mjs in the server namespace and waits for it. */
  startServer(port: number, name?: string): Promise<NsProcess>;
  /** Runs test/fixtures/transparent-client.mjs in the client namespace: its JSON result. */
  runClient(host: string, port: number, timeoutMs?: number): Promise<ClientResult>;
  destroy(): Promise<void>;
}

export interface ClientResult {
  ok: boolean;
  data: string;
  local: string;
  error?: string;
}

const TOOLS = ['ip', 'nft'];
let probed: string | null | undefined;

/**
 * Why the topology cannot be built here (not root, no ip/nft, a kernel without nft's tproxy or
 * socket expressions), or null. Probed once, in a throw-away namespace.
 */
export function topologyUnavailableReason(): string | null {
  if (probed !== undefined) return probed;
  probed = netnsUnavailableReason(TOOLS);
  if (probed !== null) return probed;
  let ns: Netns | null = null;
  try {
    ns = createNetns();
    ns.exec('nft', ['-f', '-'], tproxyRuleset(1, 2));
    ns.exec('nft', ['-f', '-'], redirectRuleset(1, 2));
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? String(error);
    probed = `the kernel or nft lacks tproxy/socket/nat support (nft said: ${stderr.trim().split('\n')[0]})`;
  } finally {
    try {
      ns?.destroy();
    } catch {
      // swept later
    }
  }
  return probed;
}

function tproxyRuleset(dport: number, listenPort: number): string {
  const table = (family: 'ip' | 'ip6'): string => `
    table ${family} epoxy_tproxy_${dport} {
      chain prerouting {
        type filter hook prerouting priority mangle; policy accept;
        # packets of a connection that already has a transparent socket here (the diverted client
        # connection, and the server's replies to a spoofed client address): mark them so that
        # policy routing delivers them locally instead of forwarding them
        meta l4proto tcp socket transparent 1 meta mark set 0x1 accept
        # new connections through the gateway to the intercepted port: hand them to the
        # transparent listener, marked for the same local delivery
        iifname "gw-c" meta l4proto tcp tcp dport ${dport} tproxy to :${listenPort} meta mark set 0x1 accept
      }
    }`;
  return `${table('ip')}\n${table('ip6')}\n`;
}

function redirectRuleset(dport: number, listenPort: number): string {
  const table = (family: 'ip' | 'ip6'): string => `
    table ${family} epoxy_nat_${dport} {
      chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        iifname "gw-c" tcp dport ${dport} redirect to :${listenPort}
      }
    }`;
  return `${table('ip')}\n${table('ip6')}\n`;
}

const live = new Set<Topology>();
let exitHook = false;

/** Builds the three namespaces, their links, addresses, routes and the gateway's forwarding. */
export function createTopology(): Topology {
  if (!exitHook) {
    exitHook = true;
    // An interrupted run (SIGINT to vitest, a crash) still removes what it can; anything left
    // is swept by the next run (namespaces are named after the pid that made them).
    process.once('exit', () => {
      for (const topology of live) destroySync(topology);
    });
  }
  const made: Netns[] = [];
  const processes = new Set<NsProcess>();
  try {
    const client = createNetns();
    made.push(client);
    const gateway = createNetns();
    made.push(gateway);
    const server = createNetns();
    made.push(server);
    const ipIn = (ns: Netns, ...args: string[]): void => {
      ns.exec('ip', args);
    };
    const sysctl = (ns: Netns, ...settings: string[]): void => {
      ns.exec('sysctl', ['-q', '-w', ...settings]);
    };

    // veth pairs, created inside the gateway with the peer moved straight into the other
    // namespace: nothing appears in the host's own namespace, even for a moment.
    ipIn(gateway, 'link', 'add', 'gw-c', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', client.name);
    ipIn(gateway, 'link', 'add', 'gw-s', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', server.name);

    sysctl(
      gateway,
      'net.ipv4.ip_forward=1',
      'net.ipv6.conf.all.forwarding=1',
      'net.ipv4.conf.all.rp_filter=0',
      'net.ipv4.conf.default.rp_filter=0',
    );
    for (const ns of [client, server]) sysctl(ns, 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0');
    for (const dev of ['gw-c', 'gw-s']) sysctl(gateway, `net.ipv4.conf.${dev}.rp_filter=0`);

    const address = (ns: Netns, dev: string, v4: string, v6: string, v4len: number): void => {
      ipIn(ns, 'addr', 'add', `${v4}/${v4len}`, 'dev', dev);
      // nodad: usable at once, no duplicate address detection delay
      ipIn(ns, '-6', 'addr', 'add', `${v6}/64`, 'dev', dev, 'nodad');
      ipIn(ns, 'link', 'set', dev, 'up');
    };
    address(client, 'eth0', ADDRESSES.client.ipv4, ADDRESSES.client.ipv6, 24);
    address(gateway, 'gw-c', ADDRESSES.gatewayClientSide.ipv4, ADDRESSES.gatewayClientSide.ipv6, 24);
    address(gateway, 'gw-s', ADDRESSES.gatewayServerSide.ipv4, ADDRESSES.gatewayServerSide.ipv6, 24);
    address(server, 'eth0', ADDRESSES.server.ipv4, ADDRESSES.server.ipv6, 24);
    ipIn(client, 'route', 'add', 'default', 'via', ADDRESSES.gatewayClientSide.ipv4);
    ipIn(client, '-6', 'route', 'add', 'default', 'via', ADDRESSES.gatewayClientSide.ipv6);
    ipIn(server, 'route', 'add', 'default', 'via', ADDRESSES.gatewayServerSide.ipv4);
    ipIn(server, '-6', 'route', 'add', 'default', 'via', ADDRESSES.gatewayServerSide.ipv6);

    let policyRouting = false;
    const topology: Topology = {
      client,
      gateway,
      server,
      nft(ruleset) {
        gateway.exec('nft', ['-f', '-'], ruleset);
      },
      enableTproxy({ dport, listenPort }) {
        topology.nft(tproxyRuleset(dport, listenPort));
        if (policyRouting) return;
        policyRouting = true;
        // marked packets are routed by table 100, whose only route says "every address is local"
        ipIn(gateway, 'rule', 'add', 'fwmark', '1', 'lookup', '100');
        ipIn(gateway, 'route', 'add', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', '100');
        ipIn(gateway, '-6', 'rule', 'add', 'fwmark', '1', 'lookup', '100');
        ipIn(gateway, '-6', 'route', 'add', 'local', '::/0', 'dev', 'lo', 'table', '100');
      },
      enableRedirect({ dport, listenPort }) {
        topology.nft(redirectRuleset(dport, listenPort));
      },
      spawn(ns, command, args, options = {}) {
        const child = spawn('ip', ['netns', 'exec', ns.name, command, ...args], {
          cwd: options.cwd ?? ROOT,
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        const proc: NsProcess = {
          child,
          stdout: '',
          stderr: '',
          exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
          async stop(graceMs = 3000) {
            if (child.exitCode === null && child.signalCode === null) {
              child.kill('SIGTERM');
              const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
              const code = await proc.exited;
              clearTimeout(timer);
              processes.delete(proc);
              return code;
            }
            processes.delete(proc);
            return proc.exited;
          },
        };
        child.stdout!.on('data', (c: Buffer) => (proc.stdout += c.toString()));
        child.stderr!.on('data', (c: Buffer) => (proc.stderr += c.toString()));
        child.stdin!.on('error', () => {});
        child.on('error', (error) => (proc.stderr += `spawn error: ${String(error)}\n`));
        processes.add(proc);
        return proc;
      },
      async startServer(port, name = 'server') {
        const proc = topology.spawn(server, process.execPath, [`${ROOT}test/fixtures/transparent-server.mjs`, String(port), name]);
        await waitFor(
          () => proc.stdout.includes('ready') || proc.child.exitCode !== null,
          `the test server in ${server.name} (stderr: ${proc.stderr})`,
        );
        if (!proc.stdout.includes('ready')) throw new Error(`the test server did not start: ${proc.stderr}`);
        return proc;
      },
      async runClient(host, port, timeoutMs = 5000) {
        const proc = topology.spawn(client, process.execPath, [`${ROOT}test/fixtures/transparent-client.mjs`, host, String(port), String(timeoutMs)]);
        proc.child.stdin!.end();
        const guard = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs + 5000);
        await proc.exited;
        clearTimeout(guard);
        processes.delete(proc);
        const line = proc.stdout.trim().split('\n').pop() ?? '';
        try {
          return JSON.parse(line) as ClientResult;
        } catch {
          throw new Error(`the test client printed no result (stdout: ${proc.stdout}, stderr: ${proc.stderr})`);
        }
      },
      async destroy() {
        live.delete(topology);
        await Promise.all([...processes].map((p) => p.stop(2000)));
        destroySync(topology);
      },
    };
    (topology as Topology & { [PROCESSES]: Set<NsProcess> })[PROCESSES] = processes;
    live.add(topology);
    return topology;
  } catch (error) {
    for (const ns of made.reverse()) {
      try {
        ns.destroy();
      } catch {
        // swept later
      }
    }
    throw error;
  }
}

const PROCESSES = Symbol('processes');

function destroySync(topology: Topology): void {
  live.delete(topology);
  const processes = (topology as Topology & { [PROCESSES]?: Set<NsProcess> })[PROCESSES];
  for (const proc of processes ?? []) {
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
  }
  processes?.clear();
  for (const ns of [topology.client, topology.gateway, topology.server]) {
    try {
      ns.destroy();
    } catch {
      // still busy or already gone: the next createNetns() sweeps it
    }
  }
}
