/**
 * The behaviour every poller plug-in owes the loop, run against each one (test/poller/epoll.test.ts,
 * test/poller/poll.test.ts): a poller driven through an FdTable on real loopback sockets.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FD_EV_READY_R, FD_EV_READY_W, FD_EV_SHUT_R } from '../../src/fd/fd-types.js';
import { FdTable } from '../../src/fd/fdtab.js';
import { constants, native, pollConstants } from '../../src/native.js';
import type { Poller, PollerFactory } from '../../src/poller/poller-types.js';
import { closeAll, tcpSocket, waitFor, connectedPair } from '../helpers/sockets.js';

export interface Harness {
  poller: Poller;
  fdtab: FdTable;
  /** fd -> every FD_EV_* mask its iocb received, in order. */
  events: Map<number, number[]>;
  /** Puts `fd` in the table with an iocb that records into `events` (and runs `also`). */
  own(fd: number, also?: (fd: number, ev: number) => void): void;
  /** Events `fd` has received so far. */
  of(fd: number): number[];
}

/** A setInterval(1ms) tick counter: proof that Node's loop keeps turning. */
export function ticker(intervals: NodeJS.Timeout[]): { readonly ticks: number } {
  const state = { ticks: 0 };
  intervals.push(setInterval(() => state.ticks++, 1));
  return state;
}

export async function ticks(t: { readonly ticks: number }, n: number, what: string): Promise<void> {
  const target = t.ticks + n;
  await waitFor(() => t.ticks >= target, what);
}

export function describePoller(factory: PollerFactory): void {
  const fds: number[] = [];
  const pollers: Poller[] = [];
  const intervals: NodeJS.Timeout[] = [];
  afterEach(() => {
    for (const i of intervals.splice(0)) clearInterval(i);
    for (const p of pollers.splice(0)) p.term();
    closeAll(fds.splice(0));
  });

  function harness(): Harness {
    const poller = factory.create();
    const fdtab = new FdTable(64);
    poller.init(fdtab);
    pollers.push(poller);
    const events = new Map<number, number[]>();
    const of = (fd: number): number[] => {
      let list = events.get(fd);
      if (!list) events.set(fd, (list = []));
      return list;
    };
    return {
      poller,
      fdtab,
      events,
      of,
      own(fd, also) {
        fdtab.insert(fd, { fd }, (f, ev) => {
          of(f).push(ev);
          also?.(f, ev);
        });
      },
    };
  }

  /** A connected loopback pair [client, server]; the listener is closed. */
  const pair = (): Promise<[number, number]> => connectedPair(fds);

  /** Polls on every loop turn until `condition` holds. */
  async function pollUntil(h: Harness, condition: () => boolean, what: string): Promise<void> {
    await waitFor(() => {
      h.poller.poll();
      return condition();
    }, what);
  }

  describe(`${factory.name} poller (pref ${factory.pref})`, () => {
    it('is named and preferred as its factory says, and works here', () => {
      const poller = factory.create();
      expect(poller.name).toBe(factory.name);
      expect(poller.pref).toBe(factory.pref);
      expect(poller.test()).toBe(true);
    });

    it('wantRecv: the iocb gets FD_EV_READY_R once the peer has sent, not before', async () => {
      const h = harness();
      const [client, server] = await pair();
      h.own(server);
      h.fdtab.wantRecv(server);
      h.poller.poll();
      expect(h.of(server)).toEqual([]);
      native.send(client, new Uint8Array([1]));
      await pollUntil(h, () => h.of(server).length > 0, 'READY_R');
      expect(h.of(server)[0]).toBe(FD_EV_READY_R);
      expect(h.fdtab.polledOf(server)).toBe(h.fdtab.wantedOf(server));
    });

    it('stopRecv: no more events, although the data is still unread', async () => {
      const h = harness();
      const [client, server] = await pair();
      h.own(server);
      h.fdtab.wantRecv(server);
      native.send(client, new Uint8Array([1]));
      await pollUntil(h, () => h.of(server).length > 0, 'READY_R');
      h.fdtab.stopRecv(server);
      h.events.clear();
      for (let i = 0; i < 5; i++) h.poller.poll();
      expect(h.of(server)).toEqual([]);
      h.fdtab.wantRecv(server); // and back: the unread byte is reported again
      h.poller.poll();
      expect(h.of(server)).toEqual([FD_EV_READY_R]);
    });

    it('wantSend: FD_EV_READY_W on a connected socket; stopSend ends it', async () => {
      const h = harness();
      const [client] = await pair();
      h.own(client);
      h.fdtab.wantSend(client);
      h.poller.poll();
      expect(h.of(client)).toEqual([FD_EV_READY_W]);
      h.fdtab.stopSend(client);
      h.events.clear();
      h.poller.poll();
      expect(h.of(client)).toEqual([]);
    });

    it('a peer FIN: FD_EV_SHUT_R (with READY_R, the EOF being readable)', async () => {
      const h = harness();
      const [client, server] = await pair();
      h.own(server);
      h.fdtab.wantRecv(server);
      native.shutdown(client, constants.SHUT_WR);
      await pollUntil(h, () => h.of(server).length > 0, 'SHUT_R');
      expect(h.of(server)[0]).toBe(FD_EV_READY_R | FD_EV_SHUT_R);
    });

    it('counts pollDead for an event whose fd left the table before its dispatch', async () => {
      const h = harness();
      const [clientA, serverA] = await pair();
      const [clientB, serverB] = await pair();
      // Whichever is dispatched first removes the other, whose event is already collected.
      const removeOther = (fd: number): void => h.fdtab.remove(fd === serverA ? serverB : serverA);
      h.own(serverA, removeOther);
      h.own(serverB, removeOther);
      h.fdtab.wantRecv(serverA);
      h.fdtab.wantRecv(serverB);
      h.poller.poll();
      native.send(clientA, new Uint8Array([1]));
      native.send(clientB, new Uint8Array([1]));
      const dead = h.poller.activity.pollDead;
      const { POLLIN } = pollConstants;
      const bothReady = new Int32Array([serverA, POLLIN, 0, serverB, POLLIN, 0]);
      await waitFor(() => native.pollOnce(bothReady, 2, 0) === 2, 'both readable');
      expect(h.poller.poll()).toBe(2);
      expect(h.events.size).toBe(1);
      expect(h.poller.activity.pollDead).toBe(dead + 1);
      // the removed fd's interest is dropped from the kernel on the next poll: no more events
      h.events.clear();
      const survivor = h.fdtab.entry(serverA) ? serverA : serverB;
      h.fdtab.remove(survivor);
      h.poller.poll();
      expect(h.poller.poll()).toBe(0);
      expect(h.poller.activity.pollDead).toBe(dead + 1);
    });

    it('drops (and counts) an interest change for an fd nobody owns', () => {
      const h = harness();
      const fd = tcpSocket();
      fds.push(fd);
      h.fdtab.wantRecv(fd);
      h.poller.poll();
      expect(h.poller.activity.pollDrop).toBe(1);
    });

    it('interest toggled several times in a turn costs at most one syscall', async () => {
      const h = harness();
      const [client, server] = await pair();
      h.own(server);
      h.own(client);
      const ctl = h.poller.activity.ctlCalls;
      for (let i = 0; i < 5; i++) {
        h.fdtab.wantRecv(server);
        h.fdtab.stopRecv(server);
        h.fdtab.wantSend(server);
        h.fdtab.stopSend(server);
      }
      h.fdtab.wantRecv(server);
      // and toggled back to where it was: no syscall at all
      h.fdtab.wantSend(client);
      h.fdtab.stopSend(client);
      h.poller.poll();
      const spent = h.poller.activity.ctlCalls - ctl;
      expect(spent).toBeLessThanOrEqual(1);
      // epoll pays one epoll_ctl per changed fd; poll(2) takes the whole set each call, nothing
      expect(spent).toBe(factory.name === 'poll' ? 0 : 1);
      expect(h.fdtab.polledOf(server)).toBe(h.fdtab.wantedOf(server));
      expect(h.fdtab.polledOf(client)).toBe(0);
    });

    it('keeps many fds apart as interest comes and goes in the middle of the set', async () => {
      const h = harness();
      const pairs: Array<[number, number]> = [];
      for (let i = 0; i < 8; i++) pairs.push(await pair());
      const clients = pairs.map(([c]) => c);
      for (const c of clients) {
        h.own(c);
        h.fdtab.wantSend(c);
      }
      h.poller.poll();
      expect([...h.events.keys()].sort()).toEqual([...clients].sort());
      // drop every other one, then bring one back
      for (let i = 0; i < clients.length; i += 2) h.fdtab.stopSend(clients[i]!);
      h.fdtab.wantSend(clients[2]!);
      h.events.clear();
      h.poller.poll();
      const expected = clients.filter((_, i) => i % 2 === 1 || i === 2);
      expect([...h.events.keys()].sort()).toEqual([...expected].sort());
      for (const list of h.events.values()) expect(list).toEqual([FD_EV_READY_W]);
    });

    it('watch(): onWake is called from Node’s loop (which keeps ticking), and stays quiet when idle', async () => {
      const h = harness();
      const [client, server] = await pair();
      const buf = new Uint8Array(64);
      h.own(server, (fd) => {
        while (native.recv(fd, buf) > 0);
      });
      h.fdtab.wantRecv(server);
      const t = ticker(intervals);
      let wakes = 0;
      h.poller.watch(() => {
        wakes++;
        h.poller.poll();
      });
      expect(wakes).toBe(0); // never called synchronously
      h.poller.poll(); // the loop's turn: interest changes reach the kernel before it sleeps
      await ticks(t, 10, 'ticks while watching an idle fd');
      expect(h.of(server)).toEqual([]);
      for (let round = 0; round < 3; round++) {
        const ticksAtSend = t.ticks;
        const seen = h.of(server).length;
        native.send(client, new Uint8Array([round]));
        await waitFor(() => h.of(server).length > seen && t.ticks > ticksAtSend, `round ${round}`);
      }
      expect(wakes).toBeGreaterThanOrEqual(1);
      // Idle again (everything read): no wake while the timer ticks on.
      const quietFrom = wakes;
      await ticks(t, 20, 'twenty idle ticks');
      expect(wakes).toBe(quietFrom);
    });

    it('unwatch() stops the wakes and watch() resumes them', async () => {
      const h = harness();
      const [client, server] = await pair();
      h.own(server);
      h.fdtab.wantRecv(server);
      let wakes = 0;
      h.poller.watch(() => {
        wakes++;
        h.poller.poll();
      });
      h.poller.poll();
      native.send(client, new Uint8Array([1]));
      await waitFor(() => h.of(server).length > 0, 'event through the watcher');
      h.poller.unwatch();
      const t = ticker(intervals);
      await ticks(t, 5, 'a few ticks');
      const stoppedAt = wakes;
      native.send(client, new Uint8Array([2]));
      await ticks(t, 20, 'twenty ticks while unwatched');
      expect(wakes).toBe(stoppedAt);
      h.poller.setKeepAlive(false);
      h.poller.watch(() => {
        wakes++;
        h.poller.poll();
      });
      await waitFor(() => wakes > stoppedAt, 'wake after watching again');
      h.poller.unwatch();
    });

    it('term() releases the kernel objects and init() starts afresh', async () => {
      const h = harness();
      h.poller.term();
      expect(() => h.poller.poll()).toThrow();
      const fdtab = new FdTable(64);
      h.poller.init(fdtab);
      const [client] = await pair();
      const seen: number[] = [];
      fdtab.insert(client, {}, (_fd, ev) => seen.push(ev));
      fdtab.wantSend(client);
      h.poller.poll();
      expect(seen).toEqual([FD_EV_READY_W]);
    });

    it('an fd number reused after remove() and close() is registered afresh', async () => {
      const h = harness();
      const [first] = await pair();
      h.own(first);
      h.fdtab.wantSend(first);
      h.poller.poll();
      expect(h.of(first)).toEqual([FD_EV_READY_W]);
      h.fdtab.remove(first);
      native.close(first);
      fds.splice(fds.indexOf(first), 1);
      // The kernel hands out the lowest free number: the one just closed.
      const [second] = await pair();
      expect(second).toBe(first);
      h.events.clear();
      h.own(second);
      h.fdtab.wantSend(second);
      h.poller.poll();
      expect(h.of(second)).toEqual([FD_EV_READY_W]);
    });

    it('re-registers the interest already in the table after term() and init()', async () => {
      const h = harness();
      const [client] = await pair();
      h.own(client);
      h.fdtab.wantSend(client);
      h.poller.poll();
      expect(h.of(client)).toEqual([FD_EV_READY_W]);
      // A fresh kernel object knows nothing of the fd: the table's polled bits must not say it does.
      h.poller.term();
      h.poller.init(h.fdtab);
      h.poller.poll();
      expect(h.of(client)).toEqual([FD_EV_READY_W, FD_EV_READY_W]);
    });
  });
}
