// The state lock: `<state file>.lock`, a file naming its holder (pid, host,
// start time). A holder that is alive on this host keeps the lock however
// long it takes — stopped by SIGSTOP, starved on a loaded machine, paused by
// a suspended laptop: breaking its lock would let two writers in and lose an
// update. Only a dead holder's lock is taken over (for a holder on another
// host, which cannot be asked, one whose heartbeat stopped). proper-lockfile,
// used before, judges by the heartbeat alone, which is what lost updates.
import { rmSync, utimesSync } from 'node:fs';
import { DispatchError, EXIT } from '../errors.js';
import { ageOf, claim, nonce, readOwned, removeDeadLeftovers, removeIfUnchanged } from './owned-file.js';
import { describeOwner, liveness, selfId, type Liveness, type ProcessId } from '../proc/identity.js';

/** A holder on another host whose heartbeat is older than this is taken for dead. */
export const FOREIGN_STALE_MS = 30_000;
const HEARTBEAT_MS = 2000;
/** How long a waiter stays behind one holder that makes no progress (DISPATCH_LOCK_WAIT_SECONDS overrides it). */
export const WAIT_LIMIT_MS = 60_000;

export interface LockHolder extends ProcessId {
  since: string;
  command?: string;
  nonce: string;
}

export class LockTimeoutError extends DispatchError {
  constructor(readonly file: string, readonly holder: LockHolder, state: Liveness) {
    super(`could not lock ${file}: ${describeOwner(holder, state)}${holder.command ? ` ('${holder.command}')` : ''} has held it since ${holder.since}; nothing was changed`, {
      exitCode: EXIT.failure,
      hint: state === 'stopped' ? 'resume or end that process, then try again' : 'wait for it to finish and try again',
    });
  }
}

function parseHolder(content: string): LockHolder | undefined {
  let h: Partial<LockHolder> | null = null;
  try {
    h = JSON.parse(content) as Partial<LockHolder> | null;
  } catch {
    // not JSON: nobody's
  }
  return Number.isInteger(h?.pid) ? (h as LockHolder) : undefined;
}

/**
 * How long a waiter sleeps before its next try (`tries` made so far): holders keep the lock
 * for milliseconds, so it polls fast (1 ms), then slower, to 25 ms at most; jittered by
 * `rand` in [0, 1) to between half and one and a half of that, so 100 waiters do not move in step.
 */
export function pollDelay(tries: number, rand: number): number {
  return Math.min(25, 1.5 ** tries) * (0.5 + rand);
}

export interface LockOptions {
  command?: string;
  waitLimitMs?: number;
  /** Abandons the wait (Ctrl-C). */
  signal?: AbortSignal;
}

/** An older dispatch's lock folder (proper-lockfile) is kept fresh every second while held. */
const LEGACY_STALE_MS = 10_000;

/**
 * Whether the lock's holder is gone: dead on this host, or silent too long
 * on another. An older version's lock folder counts by its heartbeat; any
 * other content nobody can have written (dispatch links whole files), so it
 * holds nobody.
 */
function holderGone(path: string, content: string, holder: LockHolder | undefined): boolean {
  if (!holder) return content.startsWith('dir:') ? ageOf(path) > LEGACY_STALE_MS : true;
  const l = liveness(holder);
  if (l === 'unknown') return ageOf(path) > FOREIGN_STALE_MS;
  return l === 'dead';
}

/** Takes the lock on `file`; resolves to its release function. */
export async function lockState(file: string, opts: LockOptions = {}): Promise<() => Promise<void>> {
  const path = `${file}.lock`;
  const me: LockHolder = { ...selfId(), since: new Date().toISOString(), ...(opts.command ? { command: opts.command } : {}), nonce: nonce() };
  const mine = `${JSON.stringify(me)}\n`;
  const env = Number(process.env.DISPATCH_LOCK_WAIT_SECONDS);
  const limit = opts.waitLimitMs ?? (env > 0 ? env * 1000 : WAIT_LIMIT_MS);
  const marker = { content: mine, owner: parseHolder };
  let watching: string | undefined;
  let watchingSince = Date.now();
  let tries = 0;
  const ours = claim(path, mine);
  try {
    for (;;) {
      if (ours.take()) break;
      const seen = readOwned(path);
      if (seen === undefined) continue; // released between our link and our read
      const holder = parseHolder(seen);
      // Taken over, or gone meanwhile: try again at once. Another breaker at work: wait like anyone.
      if (holderGone(path, seen, holder) && removeIfUnchanged(path, seen, marker) !== 'busy') continue;
      // The wait limit counts from when the holder last changed: a queue of live, working holders is waited out.
      if (seen !== watching) {
        watching = seen;
        watchingSince = Date.now();
      } else if (Date.now() - watchingSince > limit) {
        if (holder) throw new LockTimeoutError(file, holder, liveness(holder));
        throw new DispatchError(`could not lock ${file}: an older dispatch's lock folder ${path} is still being kept fresh; nothing was changed`, {
          hint: 'stop that older dispatch, or remove the folder if none runs',
        });
      }
      if (opts.signal?.aborted) throw new DispatchError(`gave up waiting for the lock on ${file}`, { exitCode: EXIT.interrupted });
      await new Promise((r) => setTimeout(r, pollDelay(tries++, Math.random())));
    }
  } finally {
    ours.drop();
  }
  // Only the holder may clear what dead writers left (their temp files): nobody else writes now.
  removeDeadLeftovers(file);
  // The heartbeat only matters to other hosts sharing the folder (NFS): this host asks the kernel.
  const beat = setInterval(() => {
    try {
      const now = new Date();
      utimesSync(path, now, now);
    } catch {
      // gone: nothing to keep fresh
    }
  }, HEARTBEAT_MS);
  beat.unref();
  return async () => {
    clearInterval(beat);
    // Never remove a lock that is not ours (it cannot be, but a hand may have removed it).
    if (readOwned(path) === mine) rmSync(path, { force: true });
  };
}
