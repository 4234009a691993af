/** The poll(2) poller plug-in (src/poller/poll.ts) through an FdTable on real sockets. */
import { describe, expect, it } from 'vitest';
import { FD_EV_ERR_RW, FD_EV_PRI, FD_EV_READY_R, FD_EV_READY_W, FD_EV_SHUT_R, FD_EV_SHUT_RW } from '../../src/fd/fd-types.js';
import { FdTable } from '../../src/fd/fdtab.js';
import { pollConstants } from '../../src/native.js';
import { PollPoller, pollPollerFactory, pollToFdEvents } from '../../src/poller/poll.js';
import { describePoller } from './poller-suite.js';

describePoller(pollPollerFactory);

describe('pollToFdEvents', () => {
  it('maps each poll(2) bit to its FD_EV_* bit; POLLNVAL is an error', () => {
    const { POLLIN, POLLOUT, POLLRDHUP, POLLHUP, POLLERR, POLLPRI, POLLNVAL } = pollConstants;
    expect(pollToFdEvents(POLLIN)).toBe(FD_EV_READY_R);
    expect(pollToFdEvents(POLLOUT)).toBe(FD_EV_READY_W);
    expect(pollToFdEvents(POLLRDHUP)).toBe(FD_EV_SHUT_R);
    expect(pollToFdEvents(POLLHUP)).toBe(FD_EV_SHUT_RW);
    expect(pollToFdEvents(POLLERR)).toBe(FD_EV_ERR_RW);
    expect(pollToFdEvents(POLLPRI)).toBe(FD_EV_PRI);
    expect(pollToFdEvents(POLLNVAL)).toBe(FD_EV_ERR_RW);
    expect(pollToFdEvents(POLLIN | POLLRDHUP)).toBe(FD_EV_READY_R | FD_EV_SHUT_R);
    expect(pollToFdEvents(0)).toBe(0);
  });
});

describe('PollPoller', () => {
  it('reports an owned fd that was closed without leaving the table as an error (POLLNVAL)', () => {
    const poller = new PollPoller();
    const fdtab = new FdTable(16);
    poller.init(fdtab);
    try {
      const seen: number[] = [];
      const fd = 999_999; // a number no open fd has
      fdtab.insert(fd, {}, (_fd, ev) => seen.push(ev));
      fdtab.wantRecv(fd);
      expect(poller.poll()).toBe(1);
      expect(seen).toEqual([FD_EV_ERR_RW]);
    } finally {
      poller.term();
    }
  });
});
