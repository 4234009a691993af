/**
 * What this build and this process can do: printed by `epoxy -vv` and `npm start` until the
 * proxy itself lands, and used by tests to explain why a privileged test is skipped.
 */
import { readFileSync } from 'node:fs';
import { native } from './native.js';
import { VERSION } from './version.js';

export interface Capabilities {
  version: string;
  node: string;
  napiVersion: number;
  pollers: string[];
  socketOptions: string[];
  /** Effective capabilities relevant to a proxy (CAP_NET_ADMIN for TPROXY/SO_MARK...). */
  privileges: { netAdmin: boolean; netRaw: boolean; netBindService: boolean };
  nofile: { soft: number; hard: number };
}

const CAP_NET_BIND_SERVICE = 10;
const CAP_NET_ADMIN = 12;
const CAP_NET_RAW = 13;

/** Reads CapEff from /proc/self/status; an unreadable file means no capabilities. */
export function effectiveCapabilities(): bigint {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const match = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
    return match?.[1] ? BigInt(`0x${match[1]}`) : 0n;
  } catch {
    return 0n;
  }
}

export function capabilities(): Capabilities {
  const caps = effectiveCapabilities();
  const has = (bit: number): boolean => (caps & (1n << BigInt(bit))) !== 0n;
  return {
    version: VERSION,
    node: process.version,
    napiVersion: native.napiVersion,
    pollers: ['epoll'],
    socketOptions: native.sockopts.map((o) => (o.readonly ? `${o.name} (read-only)` : o.name)),
    privileges: {
      netAdmin: has(CAP_NET_ADMIN),
      netRaw: has(CAP_NET_RAW),
      netBindService: has(CAP_NET_BIND_SERVICE),
    },
    nofile: native.getNofileLimit(),
  };
}
