import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DispatchError } from '../errors.js';

export const RUN_LOCK_FILE = 'dispatch-lock.json';

export interface RunLock {
  pid: number;
  host: string;
  command: string;
  wave?: number | null;
  started: string;
}

export interface RunLockView {
  path: string;
  lock?: RunLock;
  /** true/false on this host; undefined when held on another host (cannot tell). */
  alive?: boolean;
  /** The file exists but is not a lock we understand. */
  unreadable?: string;
}

export const runLockPath = (stateDir: string) => join(stateDir, RUN_LOCK_FILE);

/** A process's argument list (Linux /proc); undefined where that cannot be read. */
export function cmdlineOf(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
}

/**
 * Alive, and still the process we think it is: after a reboot an old pid may belong to
 * anything. `looksLike` checks its argument list where the system shows it.
 */
export function pidIs(pid: number, looksLike: (argv: string[]) => boolean): boolean {
  if (!pidAlive(pid)) return false;
  const argv = cmdlineOf(pid);
  return argv === undefined || looksLike(argv);
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function readRunLock(stateDir: string): RunLockView {
  const path = runLockPath(stateDir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return { path };
  }
  try {
    const lock = JSON.parse(text) as RunLock;
    if (typeof lock !== 'object' || lock === null || typeof lock.pid !== 'number') return { path, unreadable: 'no pid in it' };
    const alive = lock.host && lock.host !== hostname() ? undefined : pidIs(lock.pid, (argv) => argv.some((a) => a === 'run' || a === 'watch-handoff'));
    return { path, lock, alive };
  } catch (err) {
    return { path, unreadable: (err as Error).message };
  }
}

/**
 * Takes the run lock. A live holder is refused (naming it); a dead one is
 * taken over and reported through `onTakeover`. `wx` makes creation atomic.
 */
export function acquireRunLock(stateDir: string, info: Omit<RunLock, 'pid' | 'host' | 'started'>, onTakeover?: (old: RunLock) => void): RunLock {
  const lock: RunLock = { pid: process.pid, host: hostname(), started: new Date().toISOString(), ...info };
  const path = runLockPath(stateDir);
  mkdirSync(stateDir, { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    // Written whole to a temp file, then linked into place: link fails if the lock exists, and
    // nobody ever sees a half-written lock (which would look unreadable and be removed).
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(lock, null, 2)}\n`);
    try {
      linkSync(tmp, path);
      return lock;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      rmSync(tmp, { force: true });
    }
    const view = readRunLock(stateDir);
    if (view.lock && view.alive !== false) throw lockHeldError(view.lock);
    if (view.lock) onTakeover?.(view.lock);
    rmSync(path, { force: true });
  }
  throw new DispatchError(`could not take the run lock ${path}`, { hint: "check it with 'dispatch lock'" });
}

/** Removes the lock only if it is still ours: never clean up what we did not create. */
export function releaseRunLock(stateDir: string, lock: RunLock): void {
  const view = readRunLock(stateDir);
  if (view.lock && view.lock.pid === lock.pid && view.lock.started === lock.started) rmSync(view.path, { force: true });
}

export function lockHeldError(lock: RunLock): DispatchError {
  return new DispatchError(
    `another dispatch holds the run lock: pid ${lock.pid} on ${lock.host}, '${lock.command}'${lock.wave != null ? ` (wave ${lock.wave})` : ''}, since ${lock.started}`,
    { hint: "wait for it to finish, or check it with 'dispatch lock'" },
  );
}
