import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { FsError } from '../errors.js';

/**
 * The most of a spec.md (or plan.md) dispatch reads: no agent works from a longer one, and a
 * read of a few hundred MB into one string fails in node itself (ERR_STRING_TOO_LONG).
 */
export const SPEC_TEXT_MAX = 10 * 1024 * 1024;

export type SpecText = { text: string } | { missing: true } | { tooLarge: number };

/** A spec folder's text file, read with a bound; missing and too large are answers, other refusals throw FsError. */
export function readSpecText(file: string, max = SPEC_TEXT_MAX): SpecText {
  let fd: number;
  try {
    // Non-blocking: a FIFO named spec.md must not hang the command (it is then not a file, below).
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { missing: true };
    throw new FsError('read', file, err as NodeJS.ErrnoException);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { missing: true };
    if (st.size > max) return { tooLarge: st.size };
    // The size seen, plus one byte: a file that grew since is caught, not read without end.
    const buf = Buffer.alloc(st.size + 1);
    let n = 0;
    for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, null)) > 0; ) n += r;
    if (n > st.size) return { tooLarge: n };
    return { text: buf.toString('utf8', 0, n) };
  } catch (err) {
    throw new FsError('read', file, err as NodeJS.ErrnoException);
  } finally {
    closeSync(fd);
  }
}

/** `600 MB`, `12 KB`: sizes in messages. */
export function showSize(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${Math.round(bytes / (1024 * 1024))} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} bytes`;
}
