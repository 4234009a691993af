import { describe, expect, it } from 'vitest';
import { parseAddress } from '../../src/address.js';
import { candidates, createBalancer, hashBytes } from '../../src/backend/balance.js';
import type { Server } from '../../src/backend/server-types.js';

function server(name: string, options: Partial<Server> = {}, id = 0): Server {
  return {
    name,
    id: options.id ?? id,
    address: null,
    weight: 1,
    maxconn: 0,
    maxqueue: 0,
    backup: false,
    admin: 'ready',
    health: 'up',
    unresolved: false,
    cur: 0,
    ...options,
  };
}

function farm(weights: number[]): Server[] {
  return weights.map((weight, i) => server(String.fromCharCode(97 + i), { weight, id: i + 1 }));
}

function picks(n: number, pick: () => Server | null): string {
  return Array.from({ length: n }, () => pick()?.name ?? '-').join('');
}

function counts(n: number, pick: () => Server | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const name = pick()?.name ?? '-';
    out[name] = (out[name] ?? 0) + 1;
  }
  return out;
}

describe('which servers compete', () => {
  it('actives first; then the first backup, or all backups with allbackups', () => {
    const servers = [server('a'), server('b', { backup: true }), server('c', { backup: true })];
    expect(candidates(servers, false).map((s) => s.name)).toEqual(['a']);
    servers[0]!.admin = 'maint';
    expect(candidates(servers, false).map((s) => s.name)).toEqual(['b']);
    expect(candidates(servers, true).map((s) => s.name)).toEqual(['b', 'c']);
  });

  it('weight 0 and disabled servers take no new traffic', () => {
    const servers = [server('a', { weight: 0 }), server('b', { admin: 'maint' }), server('c')];
    const rr = createBalancer({ kind: 'roundrobin' }, servers);
    expect(picks(4, () => rr.pick())).toBe('cccc');
  });

  it('no usable server: null', () => {
    const rr = createBalancer({ kind: 'roundrobin' }, [server('a', { health: 'down' })]);
    expect(rr.pick()).toBeNull();
  });
});

describe('roundrobin (smooth, dynamic weights)', () => {
  it('spreads picks in proportion to weight without bunching', () => {
    const rr = createBalancer({ kind: 'roundrobin' }, farm([5, 1, 1]));
    expect(picks(7, () => rr.pick())).toBe('aabacaa');
    expect(counts(700, () => rr.pick())).toEqual({ a: 500, b: 100, c: 100 });
  });

  it('follows weight changes at run time', () => {
    const servers = farm([1, 1]);
    const rr = createBalancer({ kind: 'roundrobin' }, servers);
    expect(counts(100, () => rr.pick())).toEqual({ a: 50, b: 50 });
    servers[1]!.weight = 3;
    rr.update();
    expect(counts(400, () => rr.pick())).toEqual({ a: 100, b: 300 });
  });

  it('skips a server at maxconn while another has a slot', () => {
    const servers = farm([1, 1]);
    servers[0]!.maxconn = 1;
    servers[0]!.cur = 1;
    const rr = createBalancer({ kind: 'roundrobin' }, servers);
    expect(picks(3, () => rr.pick())).toBe('bbb');
  });
});

describe('static-rr', () => {
  it('cycles a map fixed by the startup weights', () => {
    const servers = farm([2, 1]);
    const srr = createBalancer({ kind: 'static-rr' }, servers);
    expect(picks(6, () => srr.pick())).toBe('abaaba');
    servers[1]!.weight = 5; // ignored: static
    srr.update();
    expect(counts(30, () => srr.pick())).toEqual({ a: 20, b: 10 });
  });
});

describe('leastconn', () => {
  it('picks the fewest connections relative to weight, round-robin among equals', () => {
    const servers = farm([1, 2, 1]);
    const lc = createBalancer({ kind: 'leastconn' }, servers);
    servers[0]!.cur = 3;
    servers[1]!.cur = 4; // (4+1)/2 = 2.5 < 4
    servers[2]!.cur = 5;
    expect(lc.pick()!.name).toBe('b');
    servers[0]!.cur = servers[1]!.cur = servers[2]!.cur = 0;
    servers[1]!.weight = 1;
    const sequence = picks(6, () => lc.pick());
    expect([...sequence.slice(0, 3)].sort().join('')).toBe('abc'); // each equal server once…
    expect(sequence.slice(3)).toBe(sequence.slice(0, 3)); // …in a repeating order
  });
});

describe('first', () => {
  it('fills servers in id order up to their maxconn', () => {
    const servers = [server('b', { id: 2, maxconn: 2 }), server('a', { id: 1, maxconn: 1 })];
    const first = createBalancer({ kind: 'first' }, servers);
    const taken: string[] = [];
    for (let i = 0; i < 3; i++) {
      const s = first.pick()!;
      s.cur++;
      taken.push(s.name);
    }
    expect(taken).toEqual(['a', 'b', 'b']);
    expect(first.pick()!.name).toBe('a'); // all full: the first, the caller queues
  });
});

describe('source', () => {
  const clients = Array.from({ length: 2000 }, (_, i) => ({ src: parseAddress(`198.51.${i >> 8}.${i & 255}:${1024 + i}`) }));

  for (const hashType of ['map-based', 'consistent'] as const) {
    it(`${hashType}: a client always lands on the same server, whatever its port`, () => {
      const lb = createBalancer({ kind: 'source', hashType }, farm([1, 1, 1]));
      const a = lb.pick({ src: parseAddress('203.0.113.9:1000') })!;
      expect(lb.pick({ src: parseAddress('203.0.113.9:2000') })).toBe(a);
      const spread = counts(clients.length, (() => {
        let i = 0;
        return () => lb.pick(clients[i++]);
      })());
      for (const n of Object.values(spread)) expect(n).toBeGreaterThan(2000 / 3 / 2); // roughly even
    });
  }

  it('consistent hashing moves only the clients of a server that leaves', () => {
    const servers = farm([1, 1, 1, 1]);
    const lb = createBalancer({ kind: 'source', hashType: 'consistent' }, servers);
    const before = clients.map((c) => lb.pick(c)!);
    servers[3]!.health = 'down';
    lb.update();
    const after = clients.map((c) => lb.pick(c)!);
    before.forEach((server, i) => {
      if (server !== servers[3]) expect(after[i]).toBe(server);
      else expect(after[i]).not.toBe(server);
    });
  });

  it('map-based hashing moves most clients when the set changes (why consistent exists)', () => {
    const servers = farm([1, 1, 1, 1]);
    const lb = createBalancer({ kind: 'source', hashType: 'map-based' }, servers);
    const before = clients.map((c) => lb.pick(c)!);
    servers[3]!.health = 'down';
    lb.update();
    const moved = clients.filter((c, i) => lb.pick(c) !== before[i] && before[i] !== servers[3]).length;
    expect(moved).toBeGreaterThan(clients.length / 4);
  });

  it('hashBytes is stable across runs (a master and its workers agree)', () => {
    expect(hashBytes(new Uint8Array([192, 0, 2, 1]))).toBe(hashBytes(new Uint8Array([192, 0, 2, 1])));
    expect(hashBytes(new Uint8Array([1, 2, 3]))).not.toBe(hashBytes(new Uint8Array([1, 2, 4])));
  });
});

describe('random(N)', () => {
  it('with two draws, prefers the less loaded of the two', () => {
    const servers = farm([1, 1]);
    servers[0]!.cur = 10;
    const sequence = [0.1, 0.9]; // draws a, then b
    let i = 0;
    const lb = createBalancer({ kind: 'random', draws: 2 }, servers, { random: () => sequence[i++ % 2]! });
    expect(lb.pick()!.name).toBe('b');
  });

  it('draws by weight', () => {
    let seed = 1;
    const random = (): number => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const lb = createBalancer({ kind: 'random', draws: 1 }, farm([3, 1]), { random });
    const c = counts(4000, () => lb.pick());
    expect(c.a! / c.b!).toBeGreaterThan(2.5);
    expect(c.a! / c.b!).toBeLessThan(3.5);
  });
});
