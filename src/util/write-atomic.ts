// The one way dispatch replaces a file: readers see the old or the new one, never a torn one.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { FsError } from '../errors.js';
import { tempName } from './temp-name.js';

/**
 * Writes via temp file + fsync + rename, so readers see the old or the new
 * file, never a torn one, and a link at `file` is replaced, never written
 * through. A refusal (full disk, read-only folder) leaves no temp file behind
 * and throws an FsError naming the file. `sync: false` skips the fsync, for
 * files whose loss in a power cut costs nothing (signal files).
 */
export function writeFileAtomic(file: string, data: string, opts: { sync?: boolean } = {}): void {
  const tmp = tempName(file);
  try {
    const fd = openSync(tmp, 'wx', 0o644);
    try {
      writeSync(fd, data);
      if (opts.sync !== false) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new FsError('write', file, err as NodeJS.ErrnoException);
  }
}

/** writeFileAtomic off the main thread: eight planners writing at once must not stall each other's streams. */
export async function writeFileAtomicAsync(file: string, data: string): Promise<void> {
  const { open, rename, rm } = await import('node:fs/promises');
  const tmp = tempName(file);
  try {
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new FsError('write', file, err as NodeJS.ErrnoException);
  }
}

