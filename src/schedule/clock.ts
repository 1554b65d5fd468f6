// Time comes from outside the scheduler: the real clock at the edge, a simulated one in
// `dispatch simulate` and in the engine's tests.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

export interface Clock {
  now(): number;
  /**
   * Waits until `deadline` (ms since the epoch) or until something may have changed.
   * The real clock wakes when the state file is replaced (a runner's verdict) or at each
   * poll; a simulated clock jumps straight to the next thing that happens.
   */
  wait(deadline: number, signal: AbortSignal): Promise<void>;
  /** Lets go of what it holds (a file watch). */
  close?(): void;
}

/**
 * The real clock. With `stateFile`, a wait also ends as soon as that file is replaced:
 * a dependent launches when its dependency's verdict lands, not at the next poll.
 * The poll stays, for what a watch cannot see (a runner that died, a file on NFS).
 */
export function realClock(pollMs = 150, stateFile?: string): Clock {
  let watcher: FSWatcher | undefined;
  let wake: (() => void) | undefined;
  if (stateFile) {
    try {
      const name = basename(stateFile);
      watcher = watch(dirname(stateFile), { persistent: false }, (_event, file) => {
        if (file === name) wake?.();
      });
      // A watch that fails later (the folder removed) leaves the poll to do the work.
      watcher.on('error', () => watcher?.close());
    } catch {
      watcher = undefined;
    }
  }
  return {
    now: () => Date.now(),
    wait: (deadline, signal) =>
      new Promise<void>((resolve) => {
        const ms = Math.max(1, Math.min(pollMs, deadline - Date.now()));
        if (signal.aborted) return resolve();
        const done = () => {
          clearTimeout(t);
          wake = undefined;
          signal.removeEventListener('abort', done);
          resolve();
        };
        const t = setTimeout(done, ms);
        wake = done;
        signal.addEventListener('abort', done, { once: true });
      }),
    close: () => watcher?.close(),
  };
}
