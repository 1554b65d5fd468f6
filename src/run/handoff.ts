import type { ResolvedConfig } from '../config/load.js';
import { stateOf } from '../state/doc.js';
import { readState } from '../state/store.js';
import { isComplete } from './launch-plan.js';
import { reapLost } from './liveness.js';
import { canRelaunch } from './policy.js';
import { readRunLock } from '../state/run-lock.js';

// A run that ended normally leaves no lock; give a new one time to start before taking over its work.
const LOCK_GRACE_MS = 10_000;

/**
 * Waits until every spec of `wave` is complete (done and merged, or skipped).
 * Polls the state file — which mark-done, the runners and the old tool's
 * signal-writing commands all update — several times a second.
 */
export async function waitForWave(
  config: ResolvedConfig,
  wave: number,
  opts: { signal: AbortSignal; stopOnFailure: boolean; pollMs?: number; onFailed?: (f: { id: string; reason?: string }[]) => void; onLost?: (ids: string[]) => void },
): Promise<'complete' | 'failed' | 'interrupted' | 'resume'> {
  const ids = config.specs.filter((s) => s.wave === wave).map((s) => s.id);
  let reported = '';
  let lastReap = 0;
  let lockGoneSince: number | undefined;
  while (!opts.signal.aborted) {
    let doc = readState(config.stateDir);
    if (Date.now() - lastReap > 1000) {
      lastReap = Date.now();
      const lost = await reapLost(config, doc, 'watch-handoff');
      if (lost.length) {
        opts.onLost?.(lost.map((l) => l.id));
        doc = readState(config.stateDir);
      }
    }
    if (ids.every((id) => isComplete(doc, id))) return 'complete';
    // Nobody is driving the wave any more (its run was killed, or ended with work left to
    // relaunch): resume it rather than wait forever.
    const lock = readRunLock(config.stateDir);
    const started = ids.some((id) => stateOf(doc, id) !== 'pending');
    if (lock.lock && lock.alive === false && started) return 'resume';
    lockGoneSince = lock.lock ? undefined : (lockGoneSince ?? Date.now());
    const relaunchable = ids.some((id) => stateOf(doc, id) === 'rate-limited' || canRelaunch(config, doc, id));
    if (relaunchable && lockGoneSince !== undefined && Date.now() - lockGoneSince > LOCK_GRACE_MS) return 'resume';
    const failed = ids.filter((id) => stateOf(doc, id) === 'failed').map((id) => ({ id, reason: doc.dispatch?.specs[id]?.reason }));
    const key = failed.map((f) => f.id).join(',');
    if (failed.length && key !== reported) {
      // Said once per new set of failures, not on every poll.
      reported = key;
      if (opts.stopOnFailure) return 'failed';
      opts.onFailed?.(failed);
    }
    if (!failed.length) reported = '';
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 150));
  }
  return 'interrupted';
}
