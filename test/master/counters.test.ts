/** Counters summed across workers: gone workers keep counting in the totals, their gauges do not. */
import { describe, expect, it } from 'vitest';
import { CounterTotals, countersCsv, countersJson } from '../../src/master/counters.js';
import { parseMasterCliAddress } from '../../src/master/master-cli.js';
import { exitText, uptimeText } from '../../src/master/master.js';
import { COUNTER_FIELDS } from '../../src/session/session-types.js';

const at = (field: (typeof COUNTER_FIELDS)[number]): number => COUNTER_FIELDS.indexOf(field);
function values(fields: Partial<Record<(typeof COUNTER_FIELDS)[number], number>>): number[] {
  const out = new Array<number>(COUNTER_FIELDS.length).fill(0);
  for (const [field, n] of Object.entries(fields)) out[at(field as (typeof COUNTER_FIELDS)[number])] = n;
  return out;
}

describe('CounterTotals', () => {
  it('adds live snapshots to what retired workers counted, without their gauges', () => {
    const totals = new CounterTotals();
    totals.retire({ 'frontend/fe': values({ sessions: 10, current: 3, bytesIn: 100 }) });
    const sum = totals.total([{ 'frontend/fe': values({ sessions: 5, current: 2, bytesIn: 50 }), 'backend/be': values({ sessions: 5 }) }, null]);
    expect(sum.get('frontend/fe')![at('sessions')]).toBe(15);
    expect(sum.get('frontend/fe')![at('bytesIn')]).toBe(150);
    // A process that is gone holds no session.
    expect(sum.get('frontend/fe')![at('current')]).toBe(2);
    expect([...sum.keys()]).toEqual(['frontend/fe', 'backend/be']);
    expect(countersCsv(sum).split('\n')[1]).toBe(`frontend,fe,${COUNTER_FIELDS.map((f) => ({ sessions: 15, current: 2, bytesIn: 150 })[f as string] ?? 0).join(',')}`);
    expect(JSON.parse(countersJson(sum))[1]).toMatchObject({ kind: 'backend', name: 'be', sessions: 5 });
  });
});

describe('master helpers', () => {
  it('reads -S addresses', () => {
    expect(parseMasterCliAddress('/run/epoxy.sock,mode 600')).toEqual({ path: '/run/epoxy.sock', mode: 0o600 });
    expect(parseMasterCliAddress('unix@/run/x.sock')).toEqual({ path: '/run/x.sock' });
    expect(parseMasterCliAddress('127.0.0.1:9999')).toEqual({ host: '127.0.0.1', port: 9999 });
    expect(parseMasterCliAddress('ipv6@[::1]:9999')).toEqual({ host: '::1', port: 9999 });
    expect(() => parseMasterCliAddress('localhost')).toThrow(/neither a unix socket path nor ip:port/);
    expect(() => parseMasterCliAddress('/x.sock,level admin')).toThrow(/unsupported setting/);
  });

  it("words exits and uptimes as HAProxy's master does", () => {
    expect(exitText(null, 'SIGKILL')).toBe('code 137 (Killed)');
    expect(exitText(null, 'SIGSEGV')).toBe('code 139 (Segmentation fault)');
    expect(exitText(0, null)).toBe('code 0 (Exit)');
    expect(exitText(1, null)).toBe('code 1 (Exit)');
    expect(uptimeText(((2 * 24 + 3) * 3600 + 4 * 60 + 5) * 1000)).toBe('2d03h04m05s');
  });
});
