// The named transitions every writer of the state goes through: a verdict
// (local and remote alike), a failed launch that answers a stop asked meanwhile,
// merges, hand checks, facts a running entry learns, places checked again.
import { describe, expect, it, vi } from 'vitest';
import {
  claimLaunch, emptyState, extra, failLaunch, forgetWorktree, hasRemoteWork, isComplete, isRemote, launchBasis, markRateLimited, markRunning, noteRunner,
  recheckDone, recheckLater, recordAgentGroup, recordChecked, recordMerge, recordMergeStop, recordVerdict, recordWorktree, requestStop, setState,
  stallReason, stateOf, type RunnerInfo, type StateDoc,
} from '../src/state/doc.js';

const AT = '2026-12-07T10:00:00.000Z';
const place = { host: '10.0.0.7', port: 2222, dispatch: 'dispatch', dir: '/srv/p', base: '/srv/p/.dispatch/p', label: 'p-001-2', session: 'p-001-2-abc' };

function running(r: Partial<RunnerInfo> = {}, id = '001'): StateDoc {
  const doc = emptyState();
  markRunning(doc, id, { pid: 4242, host: 'here', startedAt: AT, attempt: 2, ...r });
  extra(doc).specs[id]!.history = [{ n: 1, startedAt: AT, endedAt: AT, state: 'failed', kind: 'agent-failed' }, { n: 2, startedAt: AT }];
  return doc;
}
const rec = (doc: StateDoc, id = '001') => doc.dispatch!.specs[id]!;

describe('recordVerdict', () => {
  it('done: the spec is done, the attempt closed with its evidence, a pending stop answered', () => {
    const doc = running();
    requestStop(doc, '001', 'stop please', 'interrupted');
    recordVerdict(doc, '001', 2, { state: 'done', kind: 'done' }, { endedAt: '2026-12-07T10:05:00.000Z', exit: { code: 0 }, runner: 4242 });
    expect(stateOf(doc, '001')).toBe('done');
    expect(doc.completed).toEqual(['001']);
    expect(doc.dispatch!.running['001']).toBeUndefined();
    expect(rec(doc).stopReason).toBeUndefined();
    expect(rec(doc).stopKind).toBeUndefined();
    expect(rec(doc).awaitingMerge).toBeUndefined();
    expect(rec(doc).history![1]).toEqual({ n: 2, startedAt: AT, endedAt: '2026-12-07T10:05:00.000Z', state: 'done', kind: 'done', exit: { code: 0 }, runner: 4242 });
    // The earlier attempt is untouched.
    expect(rec(doc).history![0]!.state).toBe('failed');
  });

  it('done by an isolated spec waits for its merge; a failure never does', () => {
    const doc = running();
    recordVerdict(doc, '001', 2, { state: 'done', kind: 'done', awaitingMerge: true }, { endedAt: AT });
    expect(rec(doc).awaitingMerge).toBe(true);
    const other = running();
    recordVerdict(other, '001', 2, { state: 'failed', kind: 'verify-failed', reason: 'npm test failed', awaitingMerge: true }, { endedAt: AT });
    expect(rec(other).awaitingMerge).toBeUndefined();
    expect(stateOf(other, '001')).toBe('failed');
    expect(rec(other)).toMatchObject({ reason: 'npm test failed', kind: 'verify-failed' });
    expect(rec(other).history![1]).toMatchObject({ state: 'failed', kind: 'verify-failed', reason: 'npm test failed' });
  });

  it('rate-limited with a reset: the spec waits for it, paused for its agent', () => {
    const doc = running();
    recordVerdict(doc, '001', 2, { state: 'rate-limited', kind: 'rate-limited', reason: '429', until: '2026-12-07T11:00:00.000Z', agent: 'codex' }, { endedAt: '2026-12-07T10:01:00.000Z' });
    expect(stateOf(doc, '001')).toBe('rate-limited');
    expect(doc.dispatch!.waiting!['001']).toEqual({ until: '2026-12-07T11:00:00.000Z', agent: 'codex', reason: '429', at: '2026-12-07T10:01:00.000Z' });
    expect(rec(doc).history![1]).toMatchObject({ state: 'rate-limited', kind: 'rate-limited', reason: '429' });
  });

  it('rate-limited without a reset is a failure: nothing to wait for', () => {
    const doc = running();
    recordVerdict(doc, '001', 2, { state: 'rate-limited', kind: 'rate-limited', reason: '429' }, { endedAt: AT });
    expect(stateOf(doc, '001')).toBe('failed');
    expect(doc.dispatch!.waiting?.['001']).toBeUndefined();
    expect(rec(doc).history![1]).toMatchObject({ state: 'failed', kind: 'rate-limited', reason: '429' });
  });

  it('a rate limit with no reason or agent says so', () => {
    const doc = running();
    recordVerdict(doc, '001', 2, { state: 'rate-limited', kind: 'rate-limited', until: '2026-12-07T11:00:00.000Z' }, {});
    expect(doc.dispatch!.waiting!['001']).toMatchObject({ agent: '', reason: 'rate limited' });
    expect(rec(doc).history![1]!.reason).toBeUndefined();
  });
});

describe('failLaunch', () => {
  it('fails the launch with its own reason, closing the attempt on record', () => {
    const doc = running();
    expect(failLaunch(doc, '001', 'launch failed: no pane', 'launch-error')).toEqual({ reason: 'launch failed: no pane', kind: 'launch-error' });
    expect(rec(doc)).toMatchObject({ reason: 'launch failed: no pane', kind: 'launch-error' });
    expect(rec(doc).history![1]).toMatchObject({ state: 'failed', kind: 'launch-error', reason: 'launch failed: no pane' });
  });

  it('answering a stop asked while it launched: the stop names the reason and kind, and is cleared', () => {
    const doc = running();
    requestStop(doc, '001', 'interrupted: stopped by hand (dispatch stop)', 'interrupted');
    expect(failLaunch(doc, '001', 'launch failed: x', 'launch-error', { answerStop: true })).toEqual({ reason: 'interrupted: stopped by hand (dispatch stop)', kind: 'interrupted' });
    expect(rec(doc)).toMatchObject({ reason: 'interrupted: stopped by hand (dispatch stop)', kind: 'interrupted' });
    expect(rec(doc).stopReason).toBeUndefined();
    expect(rec(doc).stopKind).toBeUndefined();
  });

  it('a stop with no kind is an interruption; without answerStop the stop is left for its runner', () => {
    const doc = running();
    requestStop(doc, '001', 'stalled', 'stalled');
    delete rec(doc).stopKind;
    expect(failLaunch(doc, '001', 'x', 'launch-error', { answerStop: true }).kind).toBe('interrupted');
    const other = running();
    requestStop(other, '001', 'stalled', 'stalled');
    expect(failLaunch(other, '001', 'x', 'launch-error')).toEqual({ reason: 'x', kind: 'launch-error' });
    expect(rec(other).stopReason).toBe('stalled');
  });

  it('with no running entry, closes the last attempt of the history', () => {
    const doc = running();
    delete doc.dispatch!.running['001'];
    failLaunch(doc, '001', 'gone', 'lost');
    expect(rec(doc).history![1]).toMatchObject({ state: 'failed', kind: 'lost', reason: 'gone' });
  });
});

describe('merges and hand checks', () => {
  it('recordMerge: awaiting merge no more, its worktree forgotten, remembered as merged with its branch', () => {
    const doc = running();
    recordVerdict(doc, '001', 2, { state: 'done', kind: 'done', awaitingMerge: true }, {});
    recordWorktree(doc, '001', { path: '/w/001', branch: 'dispatch/001', createdBy: 'dispatch' });
    recordMerge(doc, '001', 'dispatch/001', AT);
    expect(rec(doc).awaitingMerge).toBeUndefined();
    expect(rec(doc).worktree).toBeUndefined();
    expect(rec(doc).merged).toEqual({ at: AT, branch: 'dispatch/001' });
    recordMerge(doc, '001', undefined, AT);
    expect(rec(doc).merged).toEqual({ at: AT });
  });

  it('recordMerge after a conflict resolved by hand makes the spec done; another failure stays failed', () => {
    const doc = running();
    recordVerdict(doc, '001', 2, { state: 'done', kind: 'done', awaitingMerge: true }, {});
    recordMergeStop(doc, '001', 'conflict in a.txt');
    expect(stateOf(doc, '001')).toBe('failed');
    expect(rec(doc)).toMatchObject({ kind: 'merge-conflict', reason: 'conflict in a.txt' });
    recordMerge(doc, '001', 'dispatch/001', AT);
    expect(stateOf(doc, '001')).toBe('done');
    expect(rec(doc).kind).toBe('done');
    const other = running();
    setState(other, '001', 'failed', 'agent exited 1', 'agent-failed');
    recordMerge(other, '001', 'dispatch/001', AT);
    expect(stateOf(other, '001')).toBe('failed');
  });

  it('recordMergeStop changes only a done spec', () => {
    const doc = running();
    recordMergeStop(doc, '001', 'conflict');
    expect(stateOf(doc, '001')).toBe('running');
  });

  it('recordMerge of a spec with no record changes nothing', () => {
    const doc = emptyState();
    recordMerge(doc, '009', 'dispatch/009', AT);
    expect(doc.dispatch?.specs['009']).toBeUndefined();
  });

  it('forgetWorktree drops the record only', () => {
    const doc = running();
    recordWorktree(doc, '001', { path: '/w/001', branch: 'dispatch/001', createdBy: 'dispatch' });
    forgetWorktree(doc, '001');
    expect(rec(doc).worktree).toBeUndefined();
    expect(rec(doc).history).toHaveLength(2);
    forgetWorktree(doc, 'nope');
  });

  it('recordChecked: pass is done (awaiting merge only with its worktree), failure is verify-failed', () => {
    const a = running();
    recordChecked(a, '001', true, undefined, true);
    expect(stateOf(a, '001')).toBe('done');
    expect(rec(a).awaitingMerge).toBe(true);
    const b = running();
    recordChecked(b, '001', true, undefined, false);
    expect(rec(b).awaitingMerge).toBeUndefined();
    const c = running();
    recordChecked(c, '001', false, 'npm test: exit 1', true);
    expect(stateOf(c, '001')).toBe('failed');
    expect(rec(c)).toMatchObject({ kind: 'verify-failed', reason: 'npm test: exit 1' });
    expect(rec(c).awaitingMerge).toBeUndefined();
  });
});

describe('what a running entry learns', () => {
  it('noteRunner sets facts only on that very launch', () => {
    const doc = running({ pid: 0, executor: 'ssh', place });
    expect(noteRunner(doc, '001', (r) => r.attempt === 1, { pid: 77 })).toBe(false);
    expect(doc.dispatch!.running['001']!.pid).toBe(0);
    expect(noteRunner(doc, '001', (r) => r.attempt === 2, { pid: 77 })).toBe(true);
    expect(doc.dispatch!.running['001']!.pid).toBe(77);
    expect(noteRunner(doc, 'nope', () => true, { pid: 1 })).toBe(false);
  });

  it('recordAgentGroup records the group only for the runner that asks', () => {
    const doc = running();
    recordAgentGroup(doc, '001', 1, { pgid: 9 });
    expect(doc.dispatch!.running['001']!.agent).toBeUndefined();
    recordAgentGroup(doc, '001', 4242, { pgid: 9, start: 5 });
    expect(doc.dispatch!.running['001']!.agent).toEqual({ pgid: 9, start: 5 });
  });

  it('isRemote: an entry naming its executor lives elsewhere', () => {
    expect(isRemote({ pid: 1, host: 'h1', startedAt: AT, executor: 'ssh' })).toBe(true);
    expect(isRemote({ pid: 1, host: 'here', startedAt: AT })).toBe(false);
    expect(isRemote(undefined)).toBe(false);
    expect(hasRemoteWork(running({ executor: 'ssh', place }))).toBe(true);
    expect(hasRemoteWork(running())).toBe(false);
  });

  it('recheckDone forgets one place, and the section once empty', () => {
    const doc = emptyState();
    recheckLater(doc, { pid: 0, host: 'h1', startedAt: AT, place });
    recheckLater(doc, { pid: 0, host: 'h2', startedAt: AT, place: { ...place, base: '/srv/q/.dispatch/q' } });
    const keys = Object.keys(doc.dispatch!.recheck!);
    expect(keys).toHaveLength(2);
    recheckDone(doc, 'not a key');
    expect(Object.keys(doc.dispatch!.recheck!)).toHaveLength(2);
    recheckDone(doc, keys[0]!);
    expect(Object.keys(doc.dispatch!.recheck!)).toEqual([keys[1]]);
    expect(hasRemoteWork(doc)).toBe(true);
    recheckDone(doc, keys[1]!);
    expect(doc.dispatch!.recheck).toBeUndefined();
    expect(hasRemoteWork(doc)).toBe(false);
    recheckDone(emptyState(), 'x');
  });
});

describe('transitions on what is missing from the file', () => {
  const nushell = (): StateDoc => ({ completed: ['001'], failed: ['002'], skipped: [] });

  it("the original tool's file: a check by hand that changes nothing leaves it as it was; nothing to forget or learn", () => {
    const doc = nushell();
    recordChecked(doc, '001', true, undefined, true);
    forgetWorktree(doc, '001');
    expect(noteRunner(doc, '001', () => true, { pid: 1 })).toBe(false);
    expect(doc).toEqual(nushell());
  });

  it('a failed launch answering a stop, for a spec with no record: its own reason and kind', () => {
    const doc = nushell();
    expect(failLaunch(doc, '003', 'launch failed: no pane', 'launch-error', { answerStop: true })).toEqual({ reason: 'launch failed: no pane', kind: 'launch-error' });
    expect(stateOf(doc, '003')).toBe('failed');
  });

  it('recordWorktree puts the worktree on record, for a spec with or without one', () => {
    const doc = running();
    const wt = { path: '/w/001', branch: 'dispatch/001', createdBy: 'dispatch' };
    recordWorktree(doc, '001', wt);
    expect(rec(doc).worktree).toEqual(wt);
    expect(rec(doc).history).toHaveLength(2);
    recordWorktree(doc, '005', { path: '/w/005' });
    expect(rec(doc, '005')).toEqual({ worktree: { path: '/w/005' } });
  });

  it('recordChecked: a pass is recorded as done, kind done', () => {
    const doc = running();
    recordChecked(doc, '001', true, 'checked by hand', false);
    expect(rec(doc)).toMatchObject({ reason: 'checked by hand', kind: 'done' });
  });

  it('recordMerge turns only a failed merge into done: a spec the original tool skipped stays skipped', () => {
    const doc: StateDoc = { completed: [], failed: [], skipped: ['001'], dispatch: { version: 1, running: {}, specs: { '001': { reason: 'conflict in a.txt', kind: 'merge-conflict' } } } };
    recordMerge(doc, '001', 'dispatch/001', AT);
    expect(stateOf(doc, '001')).toBe('skipped');
    expect(doc.skipped).toEqual(['001']);
  });
});

describe('recordVerdict: only a rate limit waits', () => {
  it('a failure that names a reset time is a failure, not a wait', () => {
    const doc = running();
    recordVerdict(doc, '001', 2, { state: 'failed', kind: 'quota-exhausted', reason: 'quota', until: '2026-12-07T11:00:00.000Z', agent: 'codex' }, { endedAt: AT });
    expect(stateOf(doc, '001')).toBe('failed');
    expect(doc.dispatch!.waiting).toBeUndefined();
    expect(rec(doc)).toMatchObject({ reason: 'quota', kind: 'quota-exhausted' });
  });
});

describe('a long reason is cut on the launch on record too', () => {
  const marker = (len: number) => `… [cut: ${len} characters in all]`;
  it('failLaunch and recordVerdict keep at most REASON_MAX characters of it, in the record and in the history', () => {
    const long = 'x'.repeat(9000);
    const cut = 'x'.repeat(4096 - marker(9000).length) + marker(9000);
    const a = running();
    failLaunch(a, '001', long, 'lost');
    expect(rec(a).reason).toBe(cut);
    expect(rec(a).history![1]!.reason).toBe(cut);
    const b = running();
    recordVerdict(b, '001', 2, { state: 'failed', kind: 'agent-failed', reason: long }, { endedAt: AT });
    expect(rec(b).history![1]!.reason).toBe(cut);
  });
});

describe('requestStop without a test of the launch', () => {
  it('asks the running spec to stop, keeping its record', () => {
    const doc = running();
    expect(requestStop(doc, '001', 'interrupted: stopped by hand (dispatch stop)', 'interrupted')).toBe(true);
    expect(rec(doc)).toMatchObject({ stopReason: 'interrupted: stopped by hand (dispatch stop)', stopKind: 'interrupted' });
    expect(rec(doc).history).toHaveLength(2);
    expect(rec(doc).updatedAt).toBe(AT);
  });

  it('the stall reason says minutes from exactly two minutes on', () => {
    expect(stallReason(120, false)).toBe('stalled: no output for 2 min');
    expect(stallReason(119, true)).toBe('stalled: no output for 119 s (restarting)');
  });
});

describe('recheckDone of a place not on record', () => {
  it('changes nothing, an empty section included', () => {
    const doc: StateDoc = { completed: [], failed: [], skipped: [], dispatch: { version: 1, running: {}, specs: {}, recheck: {} } };
    recheckDone(doc, '["h",22,"/srv/p"]');
    expect(doc.dispatch!.recheck).toEqual({});
  });
});

describe('isComplete', () => {
  it('a done spec with no record of its own is complete; one awaiting its merge is not', () => {
    const doc: StateDoc = { completed: ['001', '002'], failed: [], skipped: ['003'], dispatch: { version: 1, running: {}, specs: { '002': { kind: 'done', awaitingMerge: true } } } };
    expect(isComplete(doc, '001')).toBe(true);
    expect(isComplete(doc, '002')).toBe(false);
    expect(isComplete(doc, '003')).toBe(true);
    expect(isComplete(doc, '004')).toBe(false);
    expect(isComplete({ completed: ['001'], failed: [], skipped: [] }, '001')).toBe(true);
  });
});

describe('claiming a launch: only the very state it was chosen in', () => {
  const info = { pid: 0, host: 'h', startedAt: AT, attempt: 1, runId: 'R' };
  const at = (iso: string) => vi.setSystemTime(new Date(iso));

  it("a spec the original tool marked done meanwhile (no record of dispatch's) is refused; its failure on file is relaunched", () => {
    const doc: StateDoc = { completed: [], failed: ['002'], skipped: [] };
    const chosen = launchBasis(doc, '001');
    doc.completed.push('001');
    expect(claimLaunch(doc, '001', chosen, info, 0)).toBe('done');
    expect(doc.dispatch).toBeUndefined();
    expect(claimLaunch(doc, '002', launchBasis(doc, '002'), info, 0)).toBeUndefined();
    expect(stateOf(doc, '002')).toBe('running');
  });

  it('a spec seen running is never claimed again, even by a basis taken from that very launch', () => {
    const doc = emptyState();
    expect(claimLaunch(doc, '001', launchBasis(doc, '001'), info, 0)).toBeUndefined();
    expect(claimLaunch(doc, '001', launchBasis(doc, '001'), { ...info, attempt: 2 }, 0)).toBe('running');
    expect(rec(doc).history).toHaveLength(1);
  });

  it('a failure recorded again since, or a wait that became a failure in the same millisecond, is refused', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      at('2026-12-07T10:00:00.000Z');
      const doc = emptyState();
      setState(doc, '001', 'failed', 'tests red', 'agent-failed');
      const chosen = launchBasis(doc, '001');
      at('2026-12-07T10:00:05.000Z');
      setState(doc, '001', 'failed', 'tests red again', 'agent-failed');
      expect(claimLaunch(doc, '001', chosen, info, 0)).toBe('failed');

      at('2026-12-07T10:01:00.000Z');
      const waiting = emptyState();
      markRateLimited(waiting, '001', { until: '2026-12-07T11:00:00.000Z', agent: 'codex', reason: '429', at: AT });
      const chosenWaiting = launchBasis(waiting, '001');
      recordVerdict(waiting, '001', 1, { state: 'rate-limited', kind: 'rate-limited', reason: '429 again' }, {});
      expect(stateOf(waiting, '001')).toBe('failed');
      expect(claimLaunch(waiting, '001', chosenWaiting, info, 0)).toBe('failed');
    } finally {
      vi.useRealTimers();
    }
  });
});
