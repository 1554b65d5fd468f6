// The user's own cache folder ($XDG_CACHE_HOME/dispatch, else ~/.cache/dispatch): the one place
// where dispatch keeps what it runs without compiling it (the V8 code cache) and the key that
// signs the caches it leaves in a project. Trust comes from ownership, not from the content: only
// this user (or root) can make a file owned by this user, so a file that is ours and that nobody
// else may write was written by dispatch running as us. A folder another user can write in, or a
// file of theirs, is never read. Shared by the loader (src/boot.ts): no imports beyond node:fs.
import { chmodSync, closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readSync, type Stats } from 'node:fs';
import { join } from 'node:path';

/** Group or others may write: such a file or folder is not only ours. */
const SHARED_WRITE = 0o022;

const uid = () => (typeof process.getuid === 'function' ? process.getuid() : -1);

/** Ours and private to write: owned by this user and writable by nobody else. */
export function isOursAlone(st: Stats): boolean {
  return st.uid === uid() && (st.mode & SHARED_WRITE) === 0;
}

/**
 * The folder, made (mode 0700) if missing; undefined when there is no absolute home for it, it
 * cannot be made, or it is not a real folder of ours (a symlink, another user's folder).
 */
export function privateCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const base = env.XDG_CACHE_HOME || (env.HOME ? join(env.HOME, '.cache') : '');
  if (!base.startsWith('/')) return undefined;
  const dir = join(base, 'dispatch');
  try {
    // Two levels by hand: Node 20's recursive mkdir never returns under /proc (it retries ENOENT forever).
    if (!makeDir(dir) && !(makeDir(base) && makeDir(dir))) return undefined;
    const st = lstatSync(dir);
    if (!st.isDirectory() || st.uid !== uid()) return undefined;
    // Ours but open to others (made under `umask 000` by an older build): closed again. What others
    // may have put in it meanwhile is theirs, and readOwnFile never reads it.
    if (!isOursAlone(st)) chmodSync(dir, 0o700);
    return dir;
  } catch {
    return undefined;
  }
}

/** True when the folder is there now (made, or already). */
function makeDir(dir: string): boolean {
  try {
    mkdirSync(dir, { mode: 0o700 });
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EEXIST';
  }
}

// Never through a symlink (another user's link to a file of ours, or to one they can read), and never
// waiting: a FIFO planted where a file goes would block open() beyond the reach of Ctrl-C.
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * A file's bytes, only when it is a regular file of ours that nobody else may write and that has no
 * other name (a hard link another user made to someone's file), checked on the open descriptor (a
 * name swapped between a check and the read cannot slip in), and no larger than `max`. Anything
 * else reads as missing.
 */
export function readOwnFile(file: string, max: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, READ_FLAGS);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || !isOursAlone(st) || st.nlink !== 1 || st.size > max) return undefined;
    const buf = Buffer.allocUnsafe(st.size);
    let got = 0;
    while (got < st.size) {
      const n = readSync(fd, buf, got, st.size - got, got);
      if (n === 0) break;
      got += n;
    }
    return got === st.size ? buf : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * A folder that only this user (or root) can change: a real folder, owned by us or root, not writable
 * by group or others. What dispatch imports or trusts must sit in one: from a folder others can write,
 * a file checked a moment ago can be swapped for theirs before it is read again.
 */
export function isGuardedDir(dir: string): boolean {
  try {
    const st = lstatSync(dir);
    return st.isDirectory() && (st.uid === uid() || st.uid === 0) && (st.mode & SHARED_WRITE) === 0;
  } catch {
    return false;
  }
}
