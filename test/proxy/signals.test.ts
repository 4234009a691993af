/**
 * registerProxySignals() with real signals to this process: the dumps go to the log at their
 * level, SIGUSR2 and SIGALRM do nothing, and `reload` takes SIGHUP and SIGUSR2 over (what the
 * master-worker mode will plug in). test/cli/signals.test.ts runs them against a live proxy.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Loop } from '../../src/loop/loop.js';
import { registerProxySignals } from '../../src/proxy/index.js';
import { waitFor } from '../helpers/sockets.js';
import { recorder } from '../helpers/log.js';

const loops: Loop[] = [];
afterEach(() => {
  for (const loop of loops.splice(0)) loop.close();
});


/** A running loop held open by one job; `end()` lets it finish. */
function runningLoop(): { loop: Loop; end: () => Promise<void> } {
  const loop = new Loop();
  loops.push(loop);
  loop.jobs++;
  const done = loop.run();
  return {
    loop,
    end: () => {
      loop.jobs--;
      loop.requestTurn();
      return done;
    },
  };
}

describe('registerProxySignals', () => {
  it('SIGHUP logs the state dump as warnings, SIGQUIT the memory dump as notices, SIGUSR2 and SIGALRM nothing', async () => {
    const { loop, end } = runningLoop();
    const log = recorder();
    const unregister = registerProxySignals(loop, [], log, {
      dumpStates: () => ['states 1', 'states 2'],
      dumpMemory: () => ['memory'],
    });
    process.kill(process.pid, 'SIGUSR2');
    process.kill(process.pid, 'SIGALRM');
    process.kill(process.pid, 'SIGHUP');
    await waitFor(() => log.lines.length >= 2, 'the SIGHUP dump');
    process.kill(process.pid, 'SIGQUIT');
    await waitFor(() => log.lines.length >= 3, 'the SIGQUIT dump');
    expect(log.lines).toEqual(['[WARNING] states 1', '[WARNING] states 2', '[NOTICE] memory']);
    expect(loop.isRunning).toBe(true);
    unregister();
    await end();
  });

  it('`reload` takes SIGHUP and SIGUSR2 over', async () => {
    const { loop, end } = runningLoop();
    const log = recorder();
    const reloads: number[] = [];
    const unregister = registerProxySignals(loop, [], log, { reload: () => reloads.push(reloads.length), dumpStates: () => ['never'] });
    process.kill(process.pid, 'SIGHUP');
    await waitFor(() => reloads.length === 1, 'reload on SIGHUP');
    process.kill(process.pid, 'SIGUSR2');
    await waitFor(() => reloads.length === 2, 'reload on SIGUSR2');
    expect(log.lines).toEqual([]);
    unregister();
    await end();
  });

  it('SIGTERM says it stops hard (HAProxy prints nothing), never that it stops softly; SIGUSR1 says soft', async () => {
    for (const [signal, expected] of [['SIGTERM', 'hard stop'], ['SIGUSR1', 'soft stop']] as const) {
      const { loop, end } = runningLoop();
      const log = recorder();
      let killed = 0;
      const unregister = registerProxySignals(loop, [], log, { hardStop: () => killed++ });
      process.kill(process.pid, signal);
      await waitFor(() => log.lines.length >= 1, `the ${signal} line`);
      expect(log.lines[0]).toContain(`Stopping proxies (${expected})`);
      expect(killed).toBe(signal === 'SIGTERM' ? 1 : 0);
      unregister();
      await end();
    }
  });
});
