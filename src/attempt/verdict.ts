// The runner's verdict as pure decisions: facts in (how the agent ended, the
// evidence, what it printed, what the state says), a decision out. The runner
// gathers the facts (processes, git, files, the clock) and records the result.
import { backoffSeconds, detectQuotaExhausted, detectRateLimit, type RateLimitHit } from '../agents/rate-limit.js';
import type { QaOutcome } from '../agents/auto-claude-qa.js';
import type { RetryConfig } from '../config/schema.js';
import type { VerdictKind } from '../state/doc.js';

export type Verdict = 'done' | 'failed' | 'rate-limited';

/** What an attempt came to, before the state is consulted. */
export interface Outcome {
  ok: boolean;
  kind: VerdictKind;
  reason?: string;
}

/** An abort signal that fired: its reason is what `dispatch` caught (SIGHUP: the pane closed). */
export interface Abort {
  reason: unknown;
}

/** How the agent ended, as the runner saw it. */
export interface AgentExit {
  /** Set when the run was interrupted by the time the agent had exited. */
  abort?: Abort;
  /** The failure the agent's events reported (Codex's `turn.failed`): a failure even on exit 0. */
  codexFailure?: string;
  /** What that event is called in the reason (default `turn.failed`, Codex's). */
  failureLabel?: string;
  exitCode: number | null;
  signal?: string;
  /** Why, in the agent's words: its last error line, else its last stderr line, else its last stdout line. */
  errorLine?: string;
  lastStderr?: string;
  lastStdout?: string;
}

/** The agent's exit and the evidence gathered after it; absent evidence was not gathered. */
export interface Facts {
  agent: AgentExit;
  /** Auto-Claude's QA sign-off (read only for Auto-Claude, and only when it exited cleanly). */
  qa?: Pick<QaOutcome, 'approved' | 'status' | 'detail'>;
  /** What git saw; `shared`: another direct spec worked in the same tree meanwhile. */
  git?: { changed: boolean; shared?: boolean };
  requireChanges?: boolean;
  /** The verify commands' result; `abort` when the run was interrupted by the time they ended. */
  verify?: { failed: boolean; reason?: string; abort?: Abort };
}

const signalOf = (a: Abort) => String(a.reason ?? 'signal');

/** What the agent's exit alone says. */
export function agentOutcome(f: AgentExit): Outcome {
  if (f.abort) {
    return { ok: false, kind: 'interrupted', reason: `interrupted (${signalOf(f.abort)}${f.abort.reason === 'SIGHUP' ? ': pane closed' : ''})` };
  }
  if (f.codexFailure) return { ok: false, kind: 'agent-failed', reason: `${f.failureLabel ?? 'turn.failed'}: ${f.codexFailure}` };
  if (f.exitCode === 0) return { ok: true, kind: 'done' };
  if (f.signal) return { ok: false, kind: 'agent-failed', reason: `agent killed by ${f.signal}` };
  const why = (f.errorLine || f.lastStderr || f.lastStdout || '').trim();
  return { ok: false, kind: 'agent-failed', reason: `agent exited with code ${f.exitCode}${why ? `: ${why.slice(0, 300)}` : ''}` };
}

/**
 * The exit, then each piece of evidence in turn; the first that fails decides.
 * An exit code is a claim: QA, git and the checks can only turn a success into a failure.
 */
export function judge(f: Facts): Outcome {
  const o = agentOutcome(f.agent);
  if (!o.ok) return o;
  // Auto-Claude exits 0 whatever its QA concluded: its sign-off is the evidence.
  if (f.qa && !f.qa.approved) {
    return { ok: false, kind: 'verify-failed', reason: `Auto-Claude's QA did not sign the work off (qa_signoff.status: ${f.qa.status})${f.qa.detail ? `: ${f.qa.detail}` : ''}` };
  }
  // A tree another spec changed meanwhile proves nothing either way.
  if (f.git && !f.git.changed && !f.git.shared && f.requireChanges) {
    return { ok: false, kind: 'no-changes', reason: 'no changes: the agent exited 0 but left the commit and the working tree as they were (requireChanges)' };
  }
  if (f.verify?.failed) {
    // A check killed by the interrupt did not fail on the work's merits.
    if (f.verify.abort) return { ok: false, kind: 'interrupted', reason: `interrupted (${signalOf(f.verify.abort)}) while verifying` };
    return { ok: false, kind: 'verify-failed', reason: f.verify.reason };
  }
  return o;
}

export interface LimitFacts {
  /** Interrupted by the time the verdict is taken. */
  aborted: boolean;
  exitCode: number | null;
  /** What the agent said last (for Codex, what failed its turn). */
  said: string;
  /** The agent's own rate-limit patterns (config). */
  patterns: string[];
  now: Date;
}

/**
 * A failure the agent blamed on its quota (final) or on a rate limit (the
 * spec waits). Only the agent's own failure: a failed check, an unchanged
 * tree or an interrupt is never a limit, whatever the agent printed.
 */
export function blameLimit(o: Outcome, f: LimitFacts): { outcome: Outcome; limit?: RateLimitHit } {
  if (o.ok || o.kind !== 'agent-failed' || f.aborted || f.exitCode === null) return { outcome: o };
  // Billing or quota exhausted: waiting does not fix it.
  const quota = detectQuotaExhausted(f.said);
  if (quota) return { outcome: { ok: false, kind: 'quota-exhausted', reason: `quota exhausted: ${quota.message}` } };
  const limit = detectRateLimit(f.said, f.patterns, f.now);
  return limit ? { outcome: o, limit } : { outcome: o };
}

export interface SettleFacts {
  /** The rate limit `blameLimit` found. */
  limit?: RateLimitHit;
  /** Earlier launches of the spec that were rate-limited. */
  rateLimits: number;
  retry: Pick<RetryConfig, 'maxRateLimitAttempts' | 'backoffSeconds' | 'maxBackoffSeconds'>;
  /** Recorded by whoever stopped the runner (a stall, `dispatch stop`). */
  stopReason?: unknown;
  stopKind?: VerdictKind;
  now: Date;
}

export interface Settled {
  verdict: Verdict;
  kind: VerdictKind;
  reason?: string;
  /** When a rate-limited spec may be relaunched. */
  until?: Date;
}

/** The verdict recorded in the state. */
export function settle(o: Outcome, f: SettleFacts): Settled {
  let { kind, reason } = o;
  const verdict: Verdict = o.ok ? 'done' : 'failed';
  // A stop explains a failure; work that succeeded anyway stays done.
  if (!o.ok && typeof f.stopReason === 'string') {
    reason = f.stopReason;
    kind = f.stopKind ?? 'interrupted';
  }
  if (!f.limit) return { verdict, kind, reason };
  const rateLimits = f.rateLimits + 1;
  // Limited again and again: no longer worth waiting for.
  if (rateLimits >= f.retry.maxRateLimitAttempts) return { verdict, kind: 'quota-exhausted', reason: `rate-limited ${rateLimits} times; last: ${f.limit.message}` };
  const until = f.limit.resetAt ?? new Date(f.now.getTime() + backoffSeconds(rateLimits, f.retry.backoffSeconds, f.retry.maxBackoffSeconds) * 1000);
  return { verdict: 'rate-limited', kind: 'rate-limited', reason: `rate-limited: ${f.limit.message}`, until };
}
