import { describe, expect, it } from 'vitest';
import { ServerEvents } from '../../src/backend/server-events.js';
import type { BackendRuntime, ServerRuntime } from '../../src/session/session-types.js';

const backend = { name: 'be' } as BackendRuntime;
const server = { name: 's1' } as ServerRuntime;

describe('ServerEvents', () => {
  it('tells every listener, in the order they came, until each stops listening', () => {
    const events = new ServerEvents();
    const heard: string[] = [];
    const stopFirst = events.on((b, s, change) => heard.push(`first ${b.name}/${s.name} ${change}`));
    events.on((_b, _s, change) => heard.push(`second ${change}`));
    events.emit(backend, server, 'health');
    stopFirst();
    stopFirst(); // twice is harmless
    events.emit(backend, server, 'address');
    expect(heard).toEqual(['first be/s1 health', 'second health', 'second address']);
  });

  it('a listener added or removed while an emit runs takes effect from the next emit', () => {
    const events = new ServerEvents();
    const heard: string[] = [];
    let stopLate: (() => void) | null = null;
    const stopSelf = events.on(() => {
      heard.push('self');
      stopSelf();
      stopLate = events.on(() => heard.push('late'));
    });
    events.on(() => heard.push('other'));
    events.emit(backend, server, 'admin');
    expect(heard).toEqual(['self', 'other']);
    events.emit(backend, server, 'admin');
    expect(heard).toEqual(['self', 'other', 'other', 'late']);
    stopLate!();
  });
});
