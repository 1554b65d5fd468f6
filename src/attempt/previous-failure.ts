// A relaunch's prompt says what went wrong before, so the agent does not start blind.
import { readFileSync } from 'node:fs';
import type { ResolvedConfig } from '../config/types.js';
import { showArgv } from '../proc/launch.js';
import type { AttemptRecord } from '../state/doc.js';
import { attemptLogPath } from './paths.js';

/**
 * What the previous attempt left, for the prompt of an automatic relaunch: its reason and the END of its
 * log (the last 40 lines: where an agent's failure is), or the output of the check that failed.
 */
export function previousFailure(config: ResolvedConfig, id: string, history: AttemptRecord[]): { reason: string; logTail: string; check?: { command: string; tail: string } } | undefined {
  const prev = history.at(-1);
  if (!prev || prev.state !== 'failed' || !prev.reason) return undefined; // a rate limit is not the agent's failure
  if (prev.kind === 'interrupted' || prev.kind === 'manual' || prev.kind === 'launch-error') return undefined;
  let logTail = '';
  try {
    logTail = readFileSync(attemptLogPath(config, id, prev.n), 'utf8').trim().split('\n').slice(-40).join('\n');
  } catch {
    // no log kept
  }
  // A check that failed: its own output says more than the agent's log.
  const failed = prev.kind === 'verify-failed' ? prev.verify?.find((v) => !v.ok) : undefined;
  if (failed) return { reason: prev.reason, logTail: '', check: { command: showArgv(failed.argv), tail: failed.tail ?? '' } };
  return { reason: prev.reason, logTail };
}
