import { describe, expect, it } from 'vitest';
import { runFixture } from '../helpers/child.js';

describe('running out of descriptors', () => {
  it('socket() and epoll_create1() fail with EMFILE under a lowered RLIMIT_NOFILE, then recover', async () => {
    const result = await runFixture('emfile.mjs');
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({
      socket: 'EMFILE socket',
      poller: 'EMFILE epoll_create1',
      after: true,
    });
  });
});
