/** The epoll poller plug-in (src/poller/epoll.ts) through an FdTable on real sockets. */
import { describe, expect, it } from 'vitest';
import { FD_EV_ERR_RW, FD_EV_PRI, FD_EV_READY_R, FD_EV_READY_W, FD_EV_SHUT_R, FD_EV_SHUT_RW } from '../../src/fd/fd-types.js';
import { constants } from '../../src/native.js';
import { epollPollerFactory, epollToFdEvents } from '../../src/poller/epoll.js';
import { describePoller } from './poller-suite.js';

describePoller(epollPollerFactory);

describe('epollToFdEvents', () => {
  it('maps each epoll bit to its FD_EV_* bit', () => {
    const { EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLHUP, EPOLLERR, EPOLLPRI } = constants;
    expect(epollToFdEvents(EPOLLIN)).toBe(FD_EV_READY_R);
    expect(epollToFdEvents(EPOLLOUT)).toBe(FD_EV_READY_W);
    expect(epollToFdEvents(EPOLLRDHUP)).toBe(FD_EV_SHUT_R);
    expect(epollToFdEvents(EPOLLHUP)).toBe(FD_EV_SHUT_RW);
    expect(epollToFdEvents(EPOLLERR)).toBe(FD_EV_ERR_RW);
    expect(epollToFdEvents(EPOLLPRI)).toBe(FD_EV_PRI);
    expect(epollToFdEvents(EPOLLIN | EPOLLOUT | EPOLLRDHUP)).toBe(FD_EV_READY_R | FD_EV_READY_W | FD_EV_SHUT_R);
    expect(epollToFdEvents(0)).toBe(0);
  });
});
