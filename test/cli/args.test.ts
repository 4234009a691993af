import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/cli/args.js';
import { EpoxyError } from '../../src/errors.js';

function refused(argv: string[]): string {
  try {
    parseArgs(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(EpoxyError);
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('parseArgs (HAProxy flags)', () => {
  it('reads -f (repeatable), -c, -q, -V, -vv, pollers and limits', () => {
    const o = parseArgs(['-f', 'a.cfg', '-f', 'conf.d', '-c', '-q', '-V', '-vv', '-de', '-dp', '-db', '-n', '5000', '-N', '100']);
    expect(o).toMatchObject({
      files: ['a.cfg', 'conf.d'],
      checkOnly: true,
      quiet: true,
      verbose: true,
      version: 2,
      disabledPollers: ['epoll', 'poll'],
      debug: true,
      maxconn: 5000,
      defaultMaxconn: 100,
    });
  });

  it('takes everything after -- as configuration files', () => {
    expect(parseArgs(['-c', '--', 'x.cfg', '-q']).files).toEqual(['x.cfg', '-q']);
  });

  it('takes the process-model flags, and points old-style reload flags at the master', () => {
    expect(parseArgs(['-W', '-D', '-p', '/run/x.pid', '-S', '/run/x.sock,mode 600', '-f', 'a.cfg'])).toMatchObject({
      masterWorker: true,
      daemon: true,
      pidfile: '/run/x.pid',
      masterCli: '/run/x.sock,mode 600',
      files: ['a.cfg'],
    });
    expect(parseArgs(['-Ws']).masterWorker).toBe(true);
    expect(refused(['-p'])).toMatch(/'-p' expects a file name/);
    expect(refused(['-S'])).toMatch(/'-S' expects/);
    expect(refused(['-sf', '123'])).toMatch(/'-sf' .* not used by epoxy: run with -W and reload with SIGUSR2/);
    expect(refused(['-x', '/run/x.sock'])).toMatch(/not used by epoxy/);
  });

  it('refuses unknown flags and missing values', () => {
    expect(refused(['-z'])).toBe("unknown option '-z'");
    expect(refused(['-f'])).toMatch(/'-f' expects/);
    expect(refused(['-n', 'many'])).toMatch(/positive integer/);
  });
});
