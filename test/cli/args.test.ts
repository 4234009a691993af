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

  it('refuses process-model flags by name until that work lands', () => {
    expect(refused(['-D'])).toMatch(/'-D' \(daemon mode\) is not supported yet/);
    expect(refused(['-W'])).toMatch(/master-worker/);
    expect(refused(['-p', '/run/x.pid'])).toMatch(/pidfile/);
    expect(refused(['-S', '/run/x.sock'])).toMatch(/master CLI/);
  });

  it('refuses unknown flags and missing values', () => {
    expect(refused(['-z'])).toBe("unknown option '-z'");
    expect(refused(['-f'])).toMatch(/'-f' expects/);
    expect(refused(['-n', 'many'])).toMatch(/positive integer/);
  });
});
