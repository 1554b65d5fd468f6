import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DispatchError } from '../errors.js';
import { createExclusive, nonce, readOwned, removeIfUnchanged } from './owned-file.js';
import { liveness, pidIs, selfId } from '../proc/identity.js';

export const RUN_LOCK_FILE = 'dispatch-lock.json';

export interface RunLock {
  pid: number;
  host: string;
  /** The holder's start time (/proc), so a reused pid is not taken for it. */
  start?: number;
  nonce?: string;
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
  /** The holder lives but is stopped (SIGSTOP). */
  stopped?: boolean;
}

export const runLockPath = (stateDir: string) => join(stateDir, RUN_LOCK_FILE);

export function readRunLock(stateDir: string): RunLockView {
  const path = runLockPath(stateDir);
  let text: string | undefined;
  try {
    text = readOwned(path);
  } catch (err) {
    return { path, unreadable: (err as Error).message };
  }
  if (text === undefined) return { path };
  return viewOf(path, text);
}

function viewOf(path: string, text: string): RunLockView & { text: string } {
  try {
    const lock = JSON.parse(text) as RunLock;
    if (typeof lock !== 'object' || lock === null || typeof lock.pid !== 'number') return { path, text, unreadable: 'no pid in it' };
    const state = liveness(lock);
    // An older lock has no start time: its pid must at least still be a dispatch run.
    const alive = state === 'unknown' ? undefined : state !== 'dead' && (lock.start !== undefined || pidIs(lock.pid, (argv) => argv.some((a) => a === 'run' || a === 'watch-handoff')));
    return { path, text, lock, alive, ...(state === 'stopped' ? { stopped: true } : {}) };
  } catch (err) {
    return { path, text, unreadable: (err as Error).message };
  }
}

/**
 * Takes the run lock. A live holder is refused (naming it); a dead one is
 * taken over — by exactly one of several runs starting at once — and
 * reported through `onTakeover`.
 */
export function acquireRunLock(stateDir: string, info: Omit<RunLock, 'pid' | 'host' | 'started'>, onTakeover?: (old: RunLock) => void): RunLock {
  const lock: RunLock = { ...selfId(), started: new Date().toISOString(), ...info, nonce: nonce() };
  const text = `${JSON.stringify(lock, null, 2)}\n`;
  const path = runLockPath(stateDir);
  mkdirSync(stateDir, { recursive: true });
  for (let attempt = 0; attempt < 50; attempt++) {
    if (createExclusive(path, text)) return lock;
    const seen = readOwned(path);
    if (seen === undefined) continue;
    const view = viewOf(path, seen);
    if (view.lock && view.alive !== false) throw lockHeldError(view.lock, view.stopped);
    // Dead, or unreadable: only the one who removes this very file takes over (see owned-file.ts).
    if (removeIfUnchanged(path, seen, { content: text, owner: (c) => viewOf(path, c).lock }) === 'removed') {
      if (view.lock) onTakeover?.(view.lock);
    }
  }
  throw new DispatchError(`could not take the run lock ${path}`, { hint: "check it with 'dispatch lock'" });
}

/** Removes the lock only if it is still ours: never clean up what we did not create. */
export function releaseRunLock(stateDir: string, lock: RunLock): void {
  const view = readRunLock(stateDir);
  if (view.lock && view.lock.pid === lock.pid && view.lock.started === lock.started && view.lock.nonce === lock.nonce) rmSync(view.path, { force: true });
}

/** A live run holds the run lock: callers that wait for it tell this one apart. */
export class RunLockHeldError extends DispatchError {
  constructor(readonly lock: RunLock, stopped = false) {
    super(
      `another dispatch holds the run lock: pid ${lock.pid} on ${lock.host}${stopped ? ' (stopped)' : ''}, '${lock.command}'${lock.wave != null ? ` (wave ${lock.wave})` : ''}, since ${lock.started}`,
      { hint: stopped ? 'resume it (kill -CONT) or end it' : "wait for it to finish, or check it with 'dispatch lock'" },
    );
    this.name = 'RunLockHeldError';
  }
}

export function lockHeldError(lock: RunLock, stopped = false): DispatchError {
  return new RunLockHeldError(lock, stopped);
}
