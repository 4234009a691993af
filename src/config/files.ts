/**
 * Reading the files a configuration names — configuration files and `acl ... -f` pattern files —
 * with bounds: a path that is not a regular file (a FIFO, /dev/zero, a terminal) or a file above
 * the cap is refused before a byte is read, so a typo or a hostile path costs an error message,
 * never the memory of the host (`acl x src -f /dev/zero` used to grow without end).
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/** Largest configuration file read (HAProxy has no cap; real ones are kilobytes). */
export const MAX_CONFIG_FILE_BYTES = 16 * 1024 * 1024;
/**
 * Largest pattern or map file read: room for a few hundred thousand networks or names, which is
 * what blocklists hold; every pattern is kept in memory.
 */
export const MAX_PATTERN_FILE_BYTES = 64 * 1024 * 1024;

/** Why a file was refused; the message is what the user reads after the file's name. */
export class FileRefused extends Error {
  constructor(
    message: string,
    /** The errno code when the kernel refused (ENOENT, EACCES...). */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'FileRefused';
  }
}

/** The C library's words for the errors opening a file can give, as HAProxy prints them. */
const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  ELOOP: 'Too many levels of symbolic links',
  EMFILE: 'Too many open files',
  ENAMETOOLONG: 'File name too long',
  ENXIO: 'No such device or address',
};

export function errnoText(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  return ERRNO_TEXT[code] ?? (code || (error as Error).message);
}

function mib(bytes: number): string {
  return `${Math.round((bytes / 1024 / 1024) * 10) / 10} MiB`;
}

/**
 * The text of `path` (UTF-8) if it is a regular file of at most `limit` bytes. O_NONBLOCK keeps
 * open() from waiting for a writer when the path is a FIFO; it changes nothing for a regular file.
 */
export function readBoundedFile(path: string, limit: number): string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new FileRefused(errnoText(error), (error as NodeJS.ErrnoException).code);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new FileRefused('not a regular file');
    if (stat.size > limit) throw new FileRefused(`file too large (${mib(stat.size)}, at most ${mib(limit)})`);
    const buffer = Buffer.allocUnsafe(stat.size);
    let filled = 0;
    // A file that grows while read is read up to the size it had: never past the cap.
    while (filled < buffer.length) {
      const n = readSync(fd, buffer, filled, buffer.length - filled, null);
      if (n === 0) break;
      filled += n;
    }
    return buffer.toString('utf8', 0, filled);
  } finally {
    closeSync(fd);
  }
}
