/** A ProxyLog that records every line with its level, for tests that assert what was said. */
import type { ProxyLog } from '../../src/proxy/proxy-types.js';

export function recorder(): ProxyLog & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    alert: (m) => lines.push(`[ALERT] ${m}`),
    warning: (m) => lines.push(`[WARNING] ${m}`),
    notice: (m) => lines.push(`[NOTICE] ${m}`),
  };
}
