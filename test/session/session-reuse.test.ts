/**
 * Closed sessions are reused for new connections (SessionEngine's pool): `reuse()` must leave a
 * session exactly as the constructor makes one, or a new connection would inherit a closed one's
 * backend, queue place, tracked entries or variables.
 */
import { describe, expect, it } from 'vitest';
import type { Listener } from '../../src/listener/listener-types.js';
import { PeerAddresses } from '../../src/session/peer-addresses.js';
import { Session } from '../../src/session/session.js';
import type { FrontendRuntime } from '../../src/session/session-types.js';

const frontend = (name: string) => ({ name }) as unknown as FrontendRuntime;
const listener = (id: number) => ({ id }) as unknown as Listener;

describe('Session.reuse', () => {
  it('gives every field the value a new session has', () => {
    const peers = new PeerAddresses<Session>();
    const fresh = new Session(frontend('new'), listener(2), 5, 1234, peers);
    const used = new Session(frontend('old'), listener(1), 9, 1, peers);
    // Every field dirtied, as a long session through queues, tables and variables leaves it.
    const kept = new Set(['peers', 'task']);
    const record = used as unknown as Record<string, unknown>;
    for (const key of Object.keys(used)) if (!kept.has(key)) record[key] = Symbol(`dirty ${key}`);
    used.reuse(frontend('new'), listener(2), 5, 1234);

    const freshRecord = fresh as unknown as Record<string, unknown>;
    expect(Object.keys(used)).toEqual(Object.keys(fresh));
    for (const key of Object.keys(fresh)) {
      if (kept.has(key) || key === 'serial' || key === 'frontend' || key === 'listener') continue;
      expect([key, record[key]]).toEqual([key, freshRecord[key]]);
    }
    expect([used.frontend.name, (used.listener as unknown as { id: number }).id]).toEqual(['new', 2]);
    expect(used.serial).toBeGreaterThan(fresh.serial); // a new number for show sess
  });
});
