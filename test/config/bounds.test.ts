/**
 * Bounded parsing: what a configuration makes epoxy read or echo has a ceiling, so a hostile or
 * mistaken input costs an error message, not the host's memory or minutes of CPU. Each case
 * reproduces a report: `acl x src -f /dev/zero` grew to 13.5 GB in 96 s, and a 1 MB unknown
 * keyword took 36 s to reject and was echoed whole.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readConfig } from '../../src/config/index.js';
import { MAX_PATTERN_FILE_BYTES } from '../../src/config/files.js';

const dir = mkdtempSync(join(tmpdir(), 'epoxy-bounds-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PROXY = (acl: string): string =>
  `defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n` +
  `frontend f\n    bind 127.0.0.1:1\n    ${acl}\n    default_backend b\nbackend b\n    server a 127.0.0.1:2\n`;

/** readConfig on a text, with the time it took. */
function timed(text: string, name = 't.cfg'): { messages: string[]; ms: number } {
  const started = performance.now();
  const result = readConfig([{ name, text }]);
  return { messages: result.errors.map((e) => e.message), ms: performance.now() - started };
}

describe('pattern files (acl ... -f)', () => {
  it('refuses /dev/zero at once: not a regular file', () => {
    const { messages, ms } = timed(PROXY('acl x src -f /dev/zero'));
    expect(messages).toEqual([
      "parsing [t.cfg:8] : error detected while parsing ACL 'x' : failed to open pattern file </dev/zero> (not a regular file).",
    ]);
    expect(ms).toBeLessThan(1000);
  });

  it('refuses a FIFO without waiting for a writer, and a file above the cap without reading it', () => {
    // Opening a FIFO for reading waits for a writer unless O_NONBLOCK: it must not hang.
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    expect(timed(PROXY(`acl x src -f ${fifo}`)).messages[0]).toContain(`failed to open pattern file <${fifo}> (not a regular file)`);
    const big = join(dir, 'big.lst');
    writeFileSync(big, '');
    truncateSync(big, MAX_PATTERN_FILE_BYTES + 1); // sparse: no disk used
    expect(timed(PROXY(`acl x src -f ${big}`)).messages[0]).toContain(`failed to open pattern file <${big}> (file too large (64 MiB, at most 64 MiB))`);
    expect(timed(PROXY(`acl x src -f ${dir}`)).messages[0]).toContain(`failed to open pattern file <${dir}> (not a regular file)`);
  });

  it('still reads a regular pattern file', () => {
    const list = join(dir, 'nets.lst');
    writeFileSync(list, '# blocked\n192.0.2.0/24\n198.51.100.7\n');
    expect(timed(PROXY(`acl x src -f ${list}`)).messages).toEqual([]);
  });
});

describe('long tokens and lines', () => {
  it('rejects a 1 MB unknown keyword in well under a second, without echoing it', () => {
    const { messages, ms } = timed(`global\n    ${'a'.repeat(1_000_000)}\n`);
    expect(ms).toBeLessThan(1000);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toBe(`parsing [t.cfg:2]: line too long (1000004 characters, at most 65536): '${'a'.repeat(48)}...' not parsed.`);
  });

  it('rejects a long unknown keyword below the line limit quickly, echoing its start and its length', () => {
    const { messages, ms } = timed(`global\n    ${'b'.repeat(60_000)}\n`);
    expect(ms).toBeLessThan(1000);
    expect(messages).toEqual([`parsing [t.cfg:2] : unknown keyword '${'b'.repeat(48)}... (60000 characters)' in 'global' section`]);
  });

  it('still suggests the keyword a typo meant', () => {
    expect(timed('global\n    maxconm 10\n').messages[0]).toContain("did you mean 'maxconn' maybe ?");
  });
});

describe('tune.bufsize', () => {
  it('refuses sizes the relay cannot use, with the line', () => {
    for (const [value, ok] of [['1', false], ['1023', false], ['1024', true], ['16384', true], ['67108864', true], ['67108865', false]] as const) {
      const messages = timed(`global\n    tune.bufsize ${value}\n`).messages;
      if (ok) expect(messages, value).toEqual([]);
      else expect(messages, value).toEqual([`parsing [t.cfg:2] : 'tune.bufsize' value ${value} is out of range (1024 to 67108864).`]);
    }
  });
});
