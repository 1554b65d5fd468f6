// Which failures `run` relaunches by itself: decided by the verdict's kind,
// never by a reason's wording. A failure is retried while the spec has
// attempts left, unless a person (or the config) decided it.
import type { ResolvedConfig } from '../config/types.js';
import { kindOf, own, stateOf, type StateDoc, type VerdictKind } from '../state/doc.js';

/** Kinds the retry policy relaunches: the agent's own failures, and runners that vanished. */
export function retryableKind(config: ResolvedConfig, kind: VerdictKind | undefined): boolean {
  switch (kind) {
    case 'agent-failed':
    case 'verify-failed':
    case 'no-changes':
    case 'lost':
      return true;
    case 'stalled':
      // 'fail' stops a stalled agent for good; 'restart' stops it to start it again.
      return config.stall.action === 'restart';
    default:
      // manual (a decision by hand), interrupted, launch-error (cannot work), quota-exhausted,
      // merge-conflict: a person has to look. done and rate-limited are not failures.
      return false;
  }
}

/** A failed spec that the retry policy relaunches automatically. */
export function canRelaunch(config: ResolvedConfig, doc: StateDoc, id: string): boolean {
  if (stateOf(doc, id) !== 'failed') return false;
  const attempts = own(doc.dispatch?.specs, id)?.attempts ?? 0;
  return attempts > 0 && attempts < config.retry.maxAttempts && retryableKind(config, kindOf(doc, id, 'failed'));
}
