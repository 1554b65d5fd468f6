// Files that say who holds something (the state lock, the run lock), created
// atomically and taken over only from a dead owner.
//
// Creating: the content is written whole to a temp file, then hard-linked to
// the name; link(2) fails when the name exists, so exactly one creator wins
// and nobody ever reads a half-written owner.
//
// Taking over a dead owner's file cannot be "check, then unlink": two waiters
// that both saw the dead owner would both unlink, the second removing the
// first's fresh file. Instead each incarnation of a file is named by its
// content (which carries a nonce), and only the creator of the marker
// `<name>.break.<token>` may remove that incarnation. A marker is itself an
// owned file: a breaker that dies holding it is broken the same way.
import { linkSync, lstatSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FsError } from '../errors.js';
import { isAlive, liveness } from '../proc/identity.js';
import { tempName } from '../util/temp-name.js';

/** Short, file-name-safe fingerprint of a file's content (FNV-1a, two rounds). */
export function tokenOf(content: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193;
  for (let i = 0; i < content.length; i++) {
    const c = content.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x5bd1e995) >>> 0;
  }
  return a.toString(36) + b.toString(36);
}

export { nonce, tempName } from '../util/temp-name.js';

export interface Claim {
  /** Links the content to the name: true when it is ours now, false when the name exists. */
  take(): boolean;
  /** Removes the temp file (the name, if taken, keeps the content). */
  drop(): void;
}

/**
 * A claim on `path`: `content` written once to a temp file, linked to the
 * name at each `take` — a waiter that tries a hundred times writes one file.
 * Errors name `path`, not the temp file.
 */
export function claim(path: string, content: string): Claim {
  const tmp = tempName(path);
  try {
    writeFileSync(tmp, content, { flag: 'wx', mode: 0o644 });
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new FsError('create', path, err as NodeJS.ErrnoException);
  }
  return {
    take() {
      try {
        linkSync(tmp, path);
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw new FsError('create', path, err as NodeJS.ErrnoException);
      }
    },
    drop: () => rmSync(tmp, { force: true }),
  };
}

/** Writes `content` to a temp file and links it to `path`. False when `path` exists. Other errors throw (with the temp removed). */
export function createExclusive(path: string, content: string): boolean {
  const c = claim(path, content);
  try {
    return c.take();
  } finally {
    c.drop();
  }
}

/** The file's content, or undefined when it is not there (or is a folder: an older version's lock). */
export function readOwned(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'EISDIR' && code !== 'ELOOP') throw err;
    // Not a file we can read, but something is there (a folder, a dangling link): named by what it is.
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st) return undefined;
    return `${st.isDirectory() ? 'dir' : 'other'}:${st.ino}:${st.mtimeMs}`;
  }
}

/** Milliseconds since the name itself (not what a link points at) last changed. */
export function ageOf(path: string): number {
  const st = lstatSync(path, { throwIfNoEntry: false });
  return st ? Date.now() - st.mtimeMs : 0;
}

/**
 * Removes `path` if its content is still `seen` — the incarnation the caller
 * judged dead. 'removed': we removed it (the caller took it over); 'gone':
 * someone else did first; 'busy': another breaker is at work (try again later).
 */
export function removeIfUnchanged(path: string, seen: string, marker: { content: string; owner: (content: string) => { pid: number; host?: string; start?: number } | undefined }, depth = 0): 'removed' | 'gone' | 'busy' {
  const mark = `${path}.break.${tokenOf(seen)}`;
  if (!createExclusive(mark, marker.content)) {
    // Someone is breaking it. A breaker that died there leaves its marker: break that the same way.
    const m = readOwned(mark);
    if (m === undefined) return 'busy';
    const who = marker.owner(m);
    if (depth < 4 && (!who || liveness(who) === 'dead')) removeIfUnchanged(mark, m, marker, depth + 1);
    return 'busy';
  }
  try {
    // Only the marker's creator may remove this incarnation: nothing can replace it between this read and the unlink.
    if (readOwned(path) !== seen) return 'gone';
    if (seen.startsWith('dir:')) rmSync(path, { recursive: true, force: true });
    else unlinkSync(path);
    return 'removed';
  } finally {
    rmSync(mark, { force: true });
  }
}

/**
 * Removes what dead processes left beside `path`: temp files
 * (`<name>[.lock].<pid>.<nonce>.tmp`) and break markers. Only a lock holder
 * calls this, so no live writer's temp file is in play.
 */
export function removeDeadLeftovers(path: string): void {
  const dir = dirname(path);
  const base = basename(path);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith(`${base}.`)) continue;
    const full = join(dir, n);
    if (n.endsWith('.tmp')) {
      const pid = Number(n.slice(base.length + 1).split('.').find((p) => /^\d+$/.test(p)));
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !isAlive({ pid })) rmSync(full, { force: true });
    } else if (n.includes('.break.')) {
      let owner: { pid?: unknown; host?: unknown; start?: unknown } | undefined;
      try {
        owner = JSON.parse(readFileSync(full, 'utf8'));
      } catch {
        continue;
      }
      if (owner && Number.isInteger(owner.pid) && liveness(owner as { pid: number }) === 'dead') rmSync(full, { force: true });
    }
  }
}
