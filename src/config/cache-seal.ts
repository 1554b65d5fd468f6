// The config caches live in the project (.codex/cache, beside the config, so that its imports
// resolve), where a repository may commit them and other people may write. What dispatch reads
// back from there decides what code runs and which ids it trusts, so each cache file is sealed:
// an HMAC-SHA256 under a key that only this user can read (in the private cache folder, see
// src/util/private-cache.ts). A file dispatch did not write as this user fails the seal and is
// made again; with no private folder there is no key, and nothing is read from a cache.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, linkSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isGuardedDir, privateCacheDir, readOwnFile } from '../util/private-cache.js';

const KEY_BYTES = 32;
let key: Buffer | undefined | null = null;

/** This user's sealing key, made once (atomically: two first runs agree on one key). */
export function sealKey(): Buffer | undefined {
  if (key !== null) return key;
  const dir = privateCacheDir();
  key = dir ? readKey(join(dir, 'config-cache.key')) : undefined;
  return key;
}

function readKey(file: string): Buffer | undefined {
  const have = readOwnFile(file, KEY_BYTES);
  if (have?.length === KEY_BYTES) return have;
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, randomBytes(KEY_BYTES));
    } finally {
      closeSync(fd);
    }
    try {
      // link, not rename: a key another run made first is kept, and both use it.
      linkSync(tmp, file);
    } catch (err) {
      // Something there that is no key of ours (a link another user left, a short file): replaced.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && readOwnFile(file, KEY_BYTES)?.length !== KEY_BYTES) renameSync(tmp, file);
    }
  } catch {
    // no place for it
  } finally {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // nothing was written
    }
  }
  const made = readOwnFile(file, KEY_BYTES);
  return made?.length === KEY_BYTES ? made : undefined;
}

const mac = (k: Buffer, body: string) => createHmac('sha256', k).update(body).digest('hex');

/** The text to write: its seal on the first line, then the body. Undefined when there is no key. */
export function seal(body: string): string | undefined {
  const k = sealKey();
  return k ? `${mac(k, body)}\n${body}` : undefined;
}

/** The body of sealed text, when the seal is this user's; undefined otherwise. */
export function unseal(text: string): string | undefined {
  const k = sealKey();
  const nl = text.indexOf('\n');
  if (!k || nl !== 64) return undefined;
  const body = text.slice(65);
  return timingSafeEqual(Buffer.from(text.slice(0, 64), 'latin1'), Buffer.from(mac(k, body), 'latin1')) ? body : undefined;
}

export const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** Far above any real config cache file: a bigger one is not ours. */
const MAX_CACHE_FILE = 256 * 1024 * 1024;

/**
 * A file of the project's config cache, only from a cache folder that nobody but this user (or root)
 * can change, and only a regular file of ours (never a link, a FIFO or a device): otherwise missing.
 * From a folder others can write, a file checked now could be swapped before it is imported.
 */
export function readCacheFile(cacheDir: string, name: string): Buffer | undefined {
  if (!isGuardedDir(cacheDir) || !isGuardedDir(dirname(cacheDir))) return undefined;
  return readOwnFile(join(cacheDir, name), MAX_CACHE_FILE);
}
