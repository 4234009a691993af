/**
 * `maxpipes` (global, HAProxy semantics): the cap on pipes the relay's splice(2) mode holds at
 * once, in both the file and the object form; `nosplice` and `tune.pipesize` alongside it.
 */
import { describe, expect, it } from 'vitest';
import { configFromObject, parseConfig, readConfig } from '../../src/config/index.js';

const parse = (text: string) => parseConfig([{ name: 't.cfg', text }], { env: {} });
const read = (text: string) => readConfig([{ name: 't.cfg', text }], { env: {} });

describe('maxpipes', () => {
  it('is unset by default', () => {
    expect(parse('global\n    maxconn 100\n').global.maxpipes).toBeNull();
  });

  it('reads a number with its origin, next to nosplice and tune.pipesize', () => {
    const g = parse('global\n    maxpipes 250\n    nosplice\n    tune.pipesize 131072\n').global;
    expect([g.maxpipes, g.noSplice, g.tune.pipesize]).toEqual([250, true, 131072]);
    expect(g.origin.maxpipes).toEqual({ file: 't.cfg', line: 2, column: 5 });
    expect(parse('global\n    maxpipes 0\n').global.maxpipes).toBe(0);
  });

  it('refuses a missing, negative or non-numeric value, and warns when given twice', () => {
    for (const value of ['', '-1', 'many']) {
      expect(read(`global\n    maxpipes ${value}\n`).errors.length).toBe(1);
    }
    const twice = read('global\n    maxpipes 10\n    maxpipes 20\n');
    expect(twice.errors).toEqual([]);
    expect(twice.warnings.map((w) => w.message)).toEqual(["parsing [t.cfg:3] : 'maxpipes' already specified. Continuing."]);
    expect(twice.config.global.maxpipes).toBe(10);
  });

  it('is a global property of the object form', () => {
    expect(configFromObject({ global: { maxpipes: 64, nosplice: true } }).global).toMatchObject({ maxpipes: 64, noSplice: true });
  });
});
