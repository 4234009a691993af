/** Choosing a poller (HAProxy's preference order, `noepoll`/`-de`, `nopoll`/`-dp`). */
import { describe, expect, it } from 'vitest';
import { EpoxyError, ErrorCodes } from '../../src/errors.js';
import { FdTable } from '../../src/fd/fdtab.js';
import { epollPollerFactory } from '../../src/poller/epoll.js';
import { pollPollerFactory } from '../../src/poller/poll.js';
import type { PollerFactory } from '../../src/poller/poller-types.js';
import { pollerFactories, pollerNames, selectPoller } from '../../src/poller/registry.js';

function expectNoPoller(call: () => unknown): EpoxyError {
  let caught: unknown;
  try {
    call();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(EpoxyError);
  expect((caught as EpoxyError).code).toBe(ErrorCodes.NO_POLLER);
  return caught as EpoxyError;
}

/** A factory whose poller is epoll's except for what test() answers. */
function fake(name: string, pref: number, works: boolean): PollerFactory {
  return {
    name,
    pref,
    create: () => Object.assign(epollPollerFactory.create(), { name, pref, test: () => works }),
  };
}

describe('poller registry', () => {
  it('knows epoll (300) and poll (200), highest preference first', () => {
    expect(pollerNames()).toEqual(['epoll', 'poll']);
    expect(pollerFactories.map((f) => [f.name, f.pref])).toEqual([['epoll', 300], ['poll', 200]]);
  });

  it('picks epoll by default', () => {
    expect(selectPoller()).toBe(epollPollerFactory);
    expect(selectPoller({ disabled: [] })).toBe(epollPollerFactory);
  });

  it('picks poll when epoll is disabled (noepoll / -de)', () => {
    expect(selectPoller({ disabled: ['epoll'] })).toBe(pollPollerFactory);
  });

  it('picks epoll when poll is disabled (nopoll / -dp), and ignores unknown names', () => {
    expect(selectPoller({ disabled: ['poll', 'kqueue'] })).toBe(epollPollerFactory);
  });

  it('throws ERR_EPOXY_NO_POLLER when both are disabled', () => {
    const error = expectNoPoller(() => selectPoller({ disabled: ['epoll', 'poll'] }));
    expect(error.message).toContain('epoll');
  });

  it('skips a poller whose test() fails, and throws when none works', () => {
    const broken = fake('broken', 500, false);
    expect(selectPoller({}, [broken, ...pollerFactories])).toBe(epollPollerFactory);
    expect(selectPoller({}, [fake('low', 1, true), fake('high', 2, true)]).name).toBe('high');
    expectNoPoller(() => selectPoller({}, [broken]));
    expectNoPoller(() => selectPoller({}, []));
    expect(pollerNames([fake('low', 1, true), fake('high', 2, true)])).toEqual(['high', 'low']);
  });

  it('hands out a factory whose poller initialises and polls', () => {
    for (const disabled of [[], ['epoll']]) {
      const poller = selectPoller({ disabled }).create();
      poller.init(new FdTable());
      try {
        expect(poller.poll()).toBe(0);
      } finally {
        poller.term();
      }
    }
  });
});
