/**
 * epoxy's runtime-API answers next to HAProxy 2.6's, from one configuration and the same command
 * lines on each one's stats socket (admin, operator and user levels): refusals, errors and
 * silent successes must read the same, byte for byte, and `show servers state` and `show stat`
 * must have HAProxy's header and columns (and `show stat` its rows' names, pid, iid and sid). Skipped without haproxy.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/control/client.js';
import { haproxyAvailable, sideBySide } from '../helpers/haproxy.js';
import { tempDir, type Cleanup } from '../helpers/master.js';
import { freePort, waitForAsync } from '../helpers/sockets.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Commands whose answers must be the same, in order (state changes included: both follow them). */
const SCRIPT: ReadonlyArray<readonly ['admin' | 'op' | 'user', string]> = [
  ['user', 'disable server be/s1'],
  ['op', 'disable server be/s1'],
  ['user', 'set server be/s1 state maint'],
  ['user', 'clear counters'],
  ['op', 'clear counters all'],
  ['op', 'clear counters'],
  ['admin', 'clear counters all'],
  ['admin', 'disable server be/s1'],
  ['admin', 'disable server be/nope'],
  ['admin', 'disable server nope/s1'],
  ['admin', 'disable server be'],
  ['admin', 'enable server be/s1'],
  ['admin', 'set server be/s1 state drain'],
  ['admin', 'set server be/s1 state foo'],
  ['admin', 'set server be/s1 state ready'],
  ['admin', 'set server be/s1 weight 50'],
  ['admin', 'set server be/s1 weight 500'],
  ['admin', 'set server be/s1 weight 50%'],
  ['admin', 'set server be/s1 weight 1'],
  ['admin', 'set server be/s2 addr 127.0.0.1 port 18085'],
  ['admin', 'set server be/s2 addr 127.0.0.1'],
  ['admin', 'set server be/s2 addr nonsense'],
  ['admin', 'disable health be/s1'],
  ['admin', 'enable health be/s1'],
  ['admin', 'disable frontend nope'],
  ['admin', 'set maxconn server be/s1 10'],
  ['admin', 'set maxconn frontend fe 10'],
  ['admin', 'set maxconn frontend nope 10'],
  ['admin', 'set maxconn global 50'],
  ['admin', 'set maxconn global 500000'],
  ['admin', 'shutdown session 0x1234'],
  ['admin', 'shutdown sessions server be/s1'],
  ['admin', 'show servers state nope'],
];

describe.skipIf(!haproxyAvailable)('runtime-API answers next to HAProxy 2.6', () => {
  it('refusals, errors and silent successes read the same; show servers state has the same header', async () => {
    const dir = tempDir(cleanups, 'epoxy-control-');
    const ports = [await freePort(), await freePort()];
    let n = 0;
    const socketsOf = (): Record<string, string> => {
      const tag = n++ === 0 ? 'haproxy' : 'epoxy';
      return { admin: join(dir, `${tag}-admin.sock`), op: join(dir, `${tag}-op.sock`), user: join(dir, `${tag}-user.sock`) };
    };
    const sockets: Record<string, string>[] = [];
    await sideBySide(
      cleanups,
      (front) => {
        const s = socketsOf();
        sockets.push(s);
        return [
          'global',
          `    stats socket ${s.admin} level admin`,
          `    stats socket ${s.op}`,
          `    stats socket ${s.user} level user`,
          'frontend fe',
          `    bind 127.0.0.1:${front}`,
          '    default_backend be',
          'backend be',
          `    server s1 127.0.0.1:${ports[0]} check inter 1s`,
          `    server s2 127.0.0.1:${ports[1]}`,
        ];
      },
    );
    const [theirs, ours] = sockets.map((s) => Object.fromEntries(Object.entries(s).map(([level, path]) => [level, new ControlClient(path)])) as Record<string, ControlClient>);
    // HAProxy's socket may come up a moment after its process.
    await waitForAsync(
      async () =>
        theirs!
          .admin!.text('show servers state')
          .then(() => true)
          .catch(() => false),
      'haproxy to serve its stats socket',
    );
    for (const [level, command] of SCRIPT) {
      const expected = await theirs![level]!.text(command);
      expect(await ours![level]!.text(command), `${level}: ${command}`).toBe(expected);
    }
    const header = (text: string): string => text.split('\n').slice(0, 2).join('\n');
    expect(header(await ours!.admin!.text('show servers state'))).toBe(header(await theirs!.admin!.text('show servers state')));
    // show stat through the socket: HAProxy's header, and its rows' names, types and ids.
    const rows = (text: string): string[] => text.split('\n').map((l) => l.split(',').slice(0, 2).concat(l.split(',').slice(26, 29)).join(','));
    const ourStat = await ours!.user!.text('show stat');
    const theirStat = await theirs!.user!.text('show stat');
    expect(ourStat.split('\n')[0]).toBe(theirStat.split('\n')[0]);
    expect(rows(ourStat)).toEqual(rows(theirStat));
  }, 40_000);
});
