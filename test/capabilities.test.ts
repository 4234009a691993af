/**
 * src/capabilities.ts: what `epoxy -vv` prints about this build and this process.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { capabilities, effectiveCapabilities, type Capabilities } from '../src/capabilities.js';
import { EpoxySystemError } from '../src/errors.js';
import { native } from '../src/native.js';
import { tcpSocket } from './helpers/sockets.js';
import { lastJsonLine, runFixtureAsNobody, unprivilegedUnavailableReason } from './helpers/unprivileged.js';

const CAP_NET_BIND_SERVICE = 10;
const CAP_NET_ADMIN = 12;
const CAP_NET_RAW = 13;

/** CapEff as /proc/self/status shows it, parsed independently of the module under test. */
function capEffText(): string {
  const line = readFileSync('/proc/self/status', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('CapEff:'));
  return (line ?? '').replace('CapEff:', '').trim();
}

describe('capabilities()', () => {
  it('lists every socket option of the table, read-only ones marked', () => {
    const caps = capabilities();
    expect(caps.socketOptions).toHaveLength(native.sockopts.length);
    for (const option of native.sockopts) {
      expect(caps.socketOptions).toContain(option.readonly ? `${option.name} (read-only)` : option.name);
    }
    expect(caps.socketOptions).toContain('SO_ERROR (read-only)');
    expect(caps.socketOptions).toContain('TCP_CONGESTION');
    expect(caps.socketOptions.filter((name) => name.endsWith(' (read-only)'))).toHaveLength(4);
  });

  it('describes this build and this process', () => {
    const caps = capabilities();
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(caps.version).toBe(pkg.version);
    expect(caps.node).toBe(process.version);
    expect(caps.napiVersion).toBe(native.napiVersion);
    expect(caps.napiVersion).toBeGreaterThanOrEqual(8);
    expect(caps.pollers).toEqual(['epoll']);
    expect(caps.nofile).toEqual(native.getNofileLimit());
  });

  it('reads the effective capability set from /proc/self/status', () => {
    expect(effectiveCapabilities()).toBe(BigInt(`0x${capEffText()}`));
    const caps = capabilities();
    const has = (bit: number): boolean => (effectiveCapabilities() & (1n << BigInt(bit))) !== 0n;
    expect(caps.privileges).toEqual({
      netAdmin: has(CAP_NET_ADMIN),
      netRaw: has(CAP_NET_RAW),
      netBindService: has(CAP_NET_BIND_SERVICE),
    });
  });

  it('netAdmin says whether the kernel will let this process set SO_MARK', () => {
    const fd = tcpSocket();
    try {
      let refused: unknown;
      try {
        native.setsockopt(fd, 'SO_MARK', 7);
      } catch (error) {
        refused = error;
      }
      if (capabilities().privileges.netAdmin) {
        expect(refused).toBeUndefined();
        expect(native.getsockopt(fd, 'SO_MARK')).toBe(7);
      } else {
        expect(refused).toBeInstanceOf(EpoxySystemError);
        expect((refused as EpoxySystemError).code).toBe('EPERM');
      }
    } finally {
      native.close(fd);
    }
  });

  const fullRoot = process.getuid?.() === 0 && (effectiveCapabilities() & (1n << BigInt(CAP_NET_ADMIN))) !== 0n;
  if (!fullRoot) console.log('skipping the root privileges test: not root with CAP_NET_ADMIN in its effective set');
  it.skipIf(!fullRoot)('reports every network privilege when running as root with full capabilities', () => {
    expect(capabilities().privileges).toEqual({ netAdmin: true, netRaw: true, netBindService: true });
  });

  const nobodySkip = unprivilegedUnavailableReason();
  if (nobodySkip !== null) console.log(`skipping the unprivileged capabilities test: ${nobodySkip}`);
  it.skipIf(nobodySkip !== null)('reports no network privilege for an unprivileged process', async () => {
    const result = await runFixtureAsNobody('unprivileged-child.mjs', ['capabilities']);
    expect(result.code, result.stderr).toBe(0);
    const report = lastJsonLine<{ uid: number; capabilities: Capabilities }>(result);
    expect(report.uid).toBe(65534);
    expect(report.capabilities.privileges).toEqual({ netAdmin: false, netRaw: false, netBindService: false });
    expect(report.capabilities.socketOptions).toEqual(capabilities().socketOptions);
  });
});

describe('effectiveCapabilities()', () => {
  it('is a bitmask no wider than the kernel knows (cap_last_cap)', () => {
    const last = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
    expect(effectiveCapabilities() >> BigInt(last + 1)).toBe(0n);
  });
});
