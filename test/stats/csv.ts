/** A strict reader of `show stat` CSV for tests: every line ends with a comma, as HAProxy writes it. */
import { expect } from 'vitest';

export type StatLine = Record<string, string>;

export function parseCsv(text: string): StatLine[] {
  const lines = text.split('\n');
  expect(lines[0]!.startsWith('# ')).toBe(true);
  const header = lines[0]!.slice(2).split(',');
  expect(header.pop()).toBe('');
  const rows: StatLine[] = [];
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const cells = line.split(',');
    expect(cells.pop()).toBe('');
    expect(cells.length).toBe(header.length);
    rows.push(Object.fromEntries(header.map((name, i) => [name, cells[i]!])));
  }
  return rows;
}

export function rowOf(rows: StatLine[], proxy: string, name: string): StatLine {
  const row = rows.find((r) => r.pxname === proxy && r.svname === name);
  if (row === undefined) throw new Error(`no row ${proxy}/${name}`);
  return row;
}
