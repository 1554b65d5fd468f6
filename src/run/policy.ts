// Which failures `run` relaunches by itself. A failure is retried while the
// spec has attempts left, unless a person (or the config) decided it: a pane
// closed by hand, a launch that cannot work, `mark-failed`, a stall set to fail.
import type { ResolvedConfig } from '../config/load.js';
import { stateOf, type StateDoc } from '../state/doc.js';

export function retryableReason(reason: string | undefined): boolean {
  if (!reason) return true;
  if (/^(interrupted|launch failed|marked failed)/.test(reason)) return false;
  if (reason.startsWith('stalled') && !reason.includes('(restarting)')) return false;
  if (reason.startsWith('rate-limited ') && /times;/.test(reason)) return false; // gave up after max rate limits
  return true;
}

/** A failed spec that the retry policy relaunches automatically. */
export function canRelaunch(config: ResolvedConfig, doc: StateDoc, id: string): boolean {
  if (stateOf(doc, id) !== 'failed') return false;
  const rec = doc.dispatch?.specs[id];
  return (rec?.attempts ?? 0) > 0 && (rec?.attempts ?? 0) < config.retry.maxAttempts && retryableReason(rec?.reason);
}
