// The state lock: proper-lockfile's lock directory with its 1 s heartbeat,
// but dispatch breaks stale locks itself. proper-lockfile's own takeover is a
// stat, a remove and a mkdir: two waiters that see the same stale lock can
// both "take it over", the second removing the first's fresh lock — and one
// update is silently lost. Here only the holder of a second, short-lived
// "break" lock may remove a stale lock, after checking again that it is
// still stale, so a live lock is never removed.
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { DispatchError } from '../errors.js';

/** A lock whose heartbeat (mtime, refreshed every second) is older than this belongs to a dead process. */
export const STALE_MS = 5000;
const HEARTBEAT_MS = 1000;
// Far beyond STALE_MS: proper-lockfile must never take over on its own.
const LIBRARY_STALE_MS = 10 * 60_000;
const WAIT_LIMIT_MS = 60_000;

function ageMs(path: string): number | undefined {
  const st = statSync(path, { throwIfNoEntry: false });
  return st ? Date.now() - st.mtimeMs : undefined;
}

/** Removes `lockPath` if it is stale, serialised by `<lockPath>.break`. Returns true when it removed it. */
export function breakStaleLock(lockPath: string, staleMs = STALE_MS): boolean {
  const age = ageMs(lockPath);
  if (age === undefined || age < staleMs) return false;
  const breakPath = `${lockPath}.break`;
  try {
    mkdirSync(breakPath);
  } catch {
    // Someone else is breaking it. A break lock is held for microseconds: an old one is a crashed breaker's.
    const b = ageMs(breakPath);
    if (b !== undefined && b > staleMs * 2) rmSync(breakPath, { recursive: true, force: true });
    return false;
  }
  try {
    // Checked again under the break lock: it may have been broken and re-taken meanwhile.
    const again = ageMs(lockPath);
    if (again === undefined || again < staleMs) return false;
    rmSync(lockPath, { recursive: true, force: true });
    return true;
  } finally {
    rmSync(breakPath, { recursive: true, force: true });
  }
}

/** Takes the lock on `file` (lock directory `<file>.lock`); resolves to its release function. */
export async function lockState(file: string): Promise<() => Promise<void>> {
  const lockfile = await import('proper-lockfile');
  const lockPath = `${file}.lock`;
  const started = Date.now();
  let delay = 2;
  for (;;) {
    try {
      return await lockfile.lock(file, {
        realpath: false,
        lockfilePath: lockPath,
        retries: 0,
        stale: LIBRARY_STALE_MS,
        update: HEARTBEAT_MS,
        // Cannot happen while holders are alive (nobody breaks a fresh lock); nothing to undo if it does.
        onCompromised: () => {},
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
    }
    if (breakStaleLock(lockPath)) continue;
    if (Date.now() - started > WAIT_LIMIT_MS) {
      throw new DispatchError(`could not lock ${file}: another dispatch has held it for over ${WAIT_LIMIT_MS / 1000} s`, {
        hint: `if no dispatch is running, remove ${lockPath}`,
      });
    }
    // Holders keep the lock for milliseconds: poll fast, with jitter so 100 waiters do not move in step.
    await new Promise((r) => setTimeout(r, delay * (0.5 + Math.random())));
    delay = Math.min(40, delay * 1.3);
  }
}
