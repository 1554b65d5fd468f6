import type { ResolvedConfig } from '../config/load.js';
import { stateOf } from '../state/doc.js';
import { readState } from '../state/store.js';
import { isComplete } from './launch-plan.js';
import { reapLost } from './liveness.js';

/**
 * Waits until every spec of `wave` is complete (done and merged, or skipped).
 * Polls the state file — which mark-done, the runners and the old tool's
 * signal-writing commands all update — several times a second.
 */
export async function waitForWave(
  config: ResolvedConfig,
  wave: number,
  opts: { signal: AbortSignal; stopOnFailure: boolean; pollMs?: number; onFailed?: (f: { id: string; reason?: string }[]) => void; onLost?: (ids: string[]) => void },
): Promise<'complete' | 'failed' | 'interrupted'> {
  const ids = config.specs.filter((s) => s.wave === wave).map((s) => s.id);
  let reported = '';
  let lastReap = 0;
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
