// The verdict a spec gets after its agent exits, as `status`, the journal and
// the hooks show it: done, failed (and why, and of which kind) or rate-limited
// (and until when). Pure functions: the facts go in, the verdict comes out.
import { describe, expect, it } from 'vitest';
import { agentOutcome, blameLimit, judge, settle, type AgentExit, type Facts, type Outcome, type SettleFacts } from '../src/attempt/verdict.js';

// Thursday 15 January 2026, 10:00 local time.
const NOW = new Date(2026, 0, 15, 10, 0, 0);
const RETRY = { maxRateLimitAttempts: 6, backoffSeconds: 60, maxBackoffSeconds: 3600 };
const exit = (over: Partial<AgentExit> = {}): AgentExit => ({ exitCode: 0, ...over });
const failed = (over: Partial<AgentExit> = {}): AgentExit => ({ exitCode: 1, ...over });

/** The whole pipeline as the runner runs it, for what the agent `said` last. */
function verdictOf(facts: Facts, said = '', state: Partial<SettleFacts> = {}) {
  const { outcome, limit } = blameLimit(judge(facts), { aborted: false, exitCode: facts.agent.exitCode, said, patterns: [], now: NOW });
  return settle(outcome, { limit, rateLimits: 0, retry: RETRY, now: NOW, ...state });
}

describe('agentOutcome: what the exit alone says', () => {
  it('exit 0 is done, with no reason', () => {
    expect(agentOutcome(exit())).toEqual({ ok: true, kind: 'done' });
    expect(verdictOf({ agent: exit() })).toEqual({ verdict: 'done', kind: 'done' });
  });

  it('exit code N: the reason quotes its error line, else its last stderr line, else its last stdout line', () => {
    const lines = { errorLine: 'error: no such file', lastStderr: "For more information, try '--help'.", lastStdout: 'working…' };
    expect(agentOutcome(failed({ exitCode: 2, ...lines }))).toEqual({ ok: false, kind: 'agent-failed', reason: 'agent exited with code 2: error: no such file' });
    expect(agentOutcome(failed({ ...lines, errorLine: '' })).reason).toBe("agent exited with code 1: For more information, try '--help'.");
    expect(agentOutcome(failed({ lastStdout: '  working…  ' })).reason).toBe('agent exited with code 1: working…');
    expect(agentOutcome(failed({ errorLine: '', lastStderr: '', lastStdout: '' })).reason).toBe('agent exited with code 1');
    expect(agentOutcome(failed({ errorLine: `Error: ${'x'.repeat(400)}` })).reason).toBe(`agent exited with code 1: Error: ${'x'.repeat(293)}`);
  });

  it('killed by a signal says which', () => {
    expect(agentOutcome({ exitCode: null, signal: 'SIGKILL', lastStderr: 'bye' })).toEqual({ ok: false, kind: 'agent-failed', reason: 'agent killed by SIGKILL' });
  });

  it('interrupted, whatever the agent did; SIGHUP means its pane was closed', () => {
    expect(agentOutcome(exit({ abort: { reason: 'SIGINT' } }))).toEqual({ ok: false, kind: 'interrupted', reason: 'interrupted (SIGINT)' });
    expect(agentOutcome(exit({ exitCode: null, signal: 'SIGTERM', abort: { reason: 'SIGHUP' } }))).toEqual({ ok: false, kind: 'interrupted', reason: 'interrupted (SIGHUP: pane closed)' });
    expect(agentOutcome(exit({ codexFailure: 'boom', abort: { reason: undefined } })).reason).toBe('interrupted (signal)');
  });

  it('Codex turn.failed fails the run even on exit 0, and outranks the exit code', () => {
    expect(agentOutcome(exit({ codexFailure: 'stream disconnected' }))).toEqual({ ok: false, kind: 'agent-failed', reason: 'turn.failed: stream disconnected' });
    expect(agentOutcome(failed({ exitCode: 1, codexFailure: 'stream disconnected', errorLine: 'error: x' })).reason).toBe('turn.failed: stream disconnected');
  });
});

describe('judge: the evidence can only turn a success into a failure', () => {
  it("Auto-Claude's QA not approved fails the work, with its status and why", () => {
    expect(judge({ agent: exit(), qa: { approved: false, status: 'rejected', detail: 'tests missing' } })).toEqual({
      ok: false, kind: 'verify-failed', reason: "Auto-Claude's QA did not sign the work off (qa_signoff.status: rejected): tests missing",
    });
    expect(judge({ agent: exit(), qa: { approved: false, status: 'missing' } }).reason).toBe("Auto-Claude's QA did not sign the work off (qa_signoff.status: missing)");
    expect(judge({ agent: exit(), qa: { approved: true, status: 'approved' } })).toEqual({ ok: true, kind: 'done' });
  });

  it('an unchanged tree is no-changes only with requireChanges and no other spec in the tree', () => {
    const unchanged = { changed: false };
    expect(judge({ agent: exit(), git: unchanged, requireChanges: true })).toEqual({
      ok: false, kind: 'no-changes', reason: 'no changes: the agent exited 0 but left the commit and the working tree as they were (requireChanges)',
    });
    expect(judge({ agent: exit(), git: { changed: false, shared: true }, requireChanges: true }).kind).toBe('done');
    expect(judge({ agent: exit(), git: unchanged, requireChanges: false }).kind).toBe('done');
    expect(judge({ agent: exit(), git: { changed: true }, requireChanges: true }).kind).toBe('done');
  });

  it('a failed check fails the work with the check’s reason', () => {
    const verify = { failed: true, reason: 'verify failed: `npm test` exited with code 1: 2 failing' };
    expect(judge({ agent: exit(), verify })).toEqual({ ok: false, kind: 'verify-failed', reason: verify.reason });
    expect(judge({ agent: exit(), verify: { failed: false } })).toEqual({ ok: true, kind: 'done' });
  });

  it('a check cut short by an interrupt is interrupted, not verify-failed', () => {
    expect(judge({ agent: exit(), verify: { failed: true, reason: 'verify failed: killed', abort: { reason: 'SIGTERM' } } })).toEqual({
      ok: false, kind: 'interrupted', reason: 'interrupted (SIGTERM) while verifying',
    });
  });

  it('the first failure decides: the exit, then QA, then the tree, then the checks', () => {
    const verify = { failed: true, reason: 'verify failed: `npm test`' };
    const qa = { approved: false, status: 'rejected' };
    const git = { changed: false };
    expect(judge({ agent: failed({ errorLine: 'error: x' }), qa, git, requireChanges: true, verify }).reason).toBe('agent exited with code 1: error: x');
    expect(judge({ agent: exit(), qa, git, requireChanges: true, verify }).reason).toMatch(/^Auto-Claude's QA/);
    expect(judge({ agent: exit(), git, requireChanges: true, verify }).kind).toBe('no-changes');
  });
});

describe('blameLimit and settle: rate limits, quotas and stops', () => {
  it('a rate limit with a reset time waits until then', () => {
    const v = verdictOf({ agent: failed() }, 'working\n5-hour limit reached ∙ resets 6pm\n');
    expect(v).toEqual({ verdict: 'rate-limited', kind: 'rate-limited', reason: 'rate-limited: 5-hour limit reached ∙ resets 6pm', until: new Date(2026, 0, 15, 18, 0, 0) });
  });

  it('a rate limit without one backs off, longer each time', () => {
    const said = 'exceeded retry limit, last status: 429 Too Many Requests';
    expect(verdictOf({ agent: failed() }, said).until).toEqual(new Date(NOW.getTime() + 60_000));
    expect(verdictOf({ agent: failed() }, said, { rateLimits: 2 }).until).toEqual(new Date(NOW.getTime() + 240_000));
    expect(verdictOf({ agent: failed() }, said, { rateLimits: 2 }).verdict).toBe('rate-limited');
  });

  it('the maxRateLimitAttempts-th rate limit in a row is quota-exhausted: failed, no more waiting', () => {
    const said = 'Too Many Requests';
    expect(verdictOf({ agent: failed() }, said, { rateLimits: 4 }).verdict).toBe('rate-limited');
    expect(verdictOf({ agent: failed() }, said, { rateLimits: 5 })).toEqual({ verdict: 'failed', kind: 'quota-exhausted', reason: 'rate-limited 6 times; last: Too Many Requests' });
  });

  it('an exhausted quota fails at once, never waits', () => {
    const said = 'error: insufficient_quota: You exceeded your current quota';
    expect(blameLimit(judge({ agent: failed() }), { aborted: false, exitCode: 1, said, patterns: [], now: NOW })).toEqual({
      outcome: { ok: false, kind: 'quota-exhausted', reason: `quota exhausted: ${said}` },
    });
    expect(verdictOf({ agent: failed() }, said)).toEqual({ verdict: 'failed', kind: 'quota-exhausted', reason: `quota exhausted: ${said}` });
  });

  it("the agent's own patterns count as rate limits", () => {
    const o = judge({ agent: failed() });
    expect(blameLimit(o, { aborted: false, exitCode: 1, said: 'slow down please', patterns: ['slow down'], now: NOW }).limit).toEqual({ message: 'slow down please' });
    expect(blameLimit(o, { aborted: false, exitCode: 1, said: 'slow down please', patterns: [], now: NOW }).limit).toBeUndefined();
  });

  it('only an agent that exited on its own, failing, can be rate-limited', () => {
    const said = 'HTTP 429 Too Many Requests';
    const o = judge({ agent: failed() });
    const facts = { aborted: false, exitCode: 1, said, patterns: [], now: NOW };
    expect(blameLimit(o, facts).limit).toEqual({ message: said });
    expect(blameLimit(o, { ...facts, aborted: true })).toEqual({ outcome: o });
    expect(blameLimit(o, { ...facts, exitCode: null })).toEqual({ outcome: o });
    expect(blameLimit({ ok: true, kind: 'done' }, facts)).toEqual({ outcome: { ok: true, kind: 'done' } });
    expect(blameLimit({ ok: false, kind: 'launch-error', reason: "cannot start 'codex': not found" }, facts).limit).toBeUndefined();
  });

  it('a failed check or an unchanged tree is never a rate limit, even when the output says 429', () => {
    const said = 'HTTP 429 Too Many Requests\ninsufficient_quota';
    const verify = { failed: true, reason: 'verify failed: `npm test` exited with code 1: expected status 429 Too Many Requests' };
    expect(verdictOf({ agent: exit(), verify }, said)).toEqual({ verdict: 'failed', kind: 'verify-failed', reason: verify.reason });
    expect(verdictOf({ agent: exit(), git: { changed: false }, requireChanges: true }, 'status 429 Too Many Requests').kind).toBe('no-changes');
  });

  it('a stop recorded by `dispatch stop` or a stall names the failure, but not a success', () => {
    const fail: Outcome = { ok: false, kind: 'agent-failed', reason: 'agent killed by SIGTERM' };
    const base = { rateLimits: 0, retry: RETRY, now: NOW };
    expect(settle(fail, { ...base, stopReason: 'stalled: no output for 900s', stopKind: 'stalled' })).toEqual({ verdict: 'failed', kind: 'stalled', reason: 'stalled: no output for 900s' });
    expect(settle(fail, { ...base, stopReason: 'stopped by dispatch stop' })).toEqual({ verdict: 'failed', kind: 'interrupted', reason: 'stopped by dispatch stop' });
    expect(settle({ ok: true, kind: 'done' }, { ...base, stopReason: 'stopped by dispatch stop', stopKind: 'manual' })).toEqual({ verdict: 'done', kind: 'done' });
    expect(settle(fail, base)).toEqual({ verdict: 'failed', kind: 'agent-failed', reason: 'agent killed by SIGTERM' });
  });
});
