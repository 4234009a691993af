/**
 * The pidfile (`pidfile` / -p): written once the process serves, so that whoever reads it finds
 * a pid that answers; removed at exit, but only while it still holds our pid (a newer instance
 * may have replaced it).
 */
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';

export function writePidfile(path: string, pid = process.pid): void {
  // Written aside and renamed: a reader never sees an empty or half-written file.
  const temp = `${path}.${pid}.tmp`;
  writeFileSync(temp, `${pid}\n`, { mode: 0o644 });
  renameSync(temp, path);
}

export function removePidfile(path: string, pid = process.pid): void {
  try {
    if (readFileSync(path, 'utf8').trim() === String(pid)) unlinkSync(path);
  } catch {
    // Gone already, or unreadable: nothing of ours to remove.
  }
}
