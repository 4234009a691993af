/**
 * The poller plug-ins epoxy knows, and the choice among them (HAProxy's `init_pollers`): the
 * usable one with the highest preference that configuration has not disabled. HAProxy's switches
 * map to names here: `noepoll` / `-de` disable 'epoll', `nopoll` / `-dp` disable 'poll'.
 */
import { EpoxyError, ErrorCodes } from '../errors.js';
import { epollPollerFactory } from './epoll.js';
import { pollPollerFactory } from './poll.js';
import type { PollerFactory } from './poller-types.js';

/** Every poller, highest preference first. */
export const pollerFactories: readonly PollerFactory[] = [epollPollerFactory, pollPollerFactory].sort(
  (a, b) => b.pref - a.pref,
);

export interface PollerSelection {
  /** Names of pollers not to use ('epoll', 'poll'); unknown names are ignored. */
  disabled?: readonly string[];
}

/** Names of the known pollers, highest preference first. */
export function pollerNames(factories: readonly PollerFactory[] = pollerFactories): string[] {
  return [...factories].sort((a, b) => b.pref - a.pref).map((f) => f.name);
}

/**
 * The factory of the poller to use: not disabled, working here (its test() passes), highest
 * preference. Throws ERR_EPOXY_NO_POLLER when none is left. `factories` is for tests.
 */
export function selectPoller(
  selection: PollerSelection = {},
  factories: readonly PollerFactory[] = pollerFactories,
): PollerFactory {
  const disabled = new Set(selection.disabled ?? []);
  const unusable: string[] = [];
  for (const factory of [...factories].sort((a, b) => b.pref - a.pref)) {
    if (disabled.has(factory.name)) continue;
    if (factory.create().test()) return factory;
    unusable.push(factory.name);
  }
  const why = [
    disabled.size > 0 ? `disabled: ${[...disabled].join(', ')}` : '',
    unusable.length > 0 ? `not working here: ${unusable.join(', ')}` : '',
  ].filter(Boolean);
  throw new EpoxyError(`no poller left to use (${why.join('; ') || 'none registered'})`, ErrorCodes.NO_POLLER);
}
