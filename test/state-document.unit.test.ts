// The state document (src/state/doc.ts) and its lock (src/state/lock.ts), in-process, checked
// as a user would notice them: the exact message naming a wrong field, the exact state and kind
// a spec is left in, launch numbers, and the exact decision the lock makes about its holder.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import {
  closeLaunch, emptyState, extra, failLaunch, inferKind, kindOf, markRateLimited, markRunning, nextLaunchNumber, normalize,
  setState, shapeProblem, stateOf, type StateDoc,
} from '../src/state/doc.js';
import { LockTimeoutError, lockState, pollDelay } from '../src/state/lock.js';
import { DispatchError } from '../src/errors.js';
import { procStat } from '../src/proc/identity.js';
import { tempDir } from './helpers.js';

const KINDS_LIST = 'done, agent-failed, verify-failed, no-changes, rate-limited, quota-exhausted, launch-error, interrupted, lost, stalled, manual, merge-conflict';

/** A state document using every optional field, each with a right value. */
function validDoc(): Record<string, any> {
  return {
    completed: ['001'],
    failed: [],
    skipped: [],
    nushellKey: { kept: true },
    dispatch: {
      version: 1,
      seq: 0,
      lastEvents: [
        { seq: 1, spec: '001', from: 'pending', to: 'running', time: '2026-01-01T00:00:00Z', command: 'run' },
        { seq: 2, event: 'run-start', time: '2026-01-01T00:00:00Z', command: 'run' },
      ],
      running: {
        '003': { pid: 0, startedAt: '2026-01-01T00:00:00Z', host: 'h', pane: '%1', runId: 'r1', executor: 'ssh', attempt: 2, agent: { pgid: 5, start: 3 } },
      },
      specs: {
        '001': {
          reason: 'ok', kind: 'done', updatedAt: '2026-01-01T00:00:00Z', stopReason: 's', stopKind: 'stalled', attempts: 2, awaitingMerge: true,
          worktree: { path: '/w' },
          history: [{
            n: 1, startedAt: '2026-01-01T00:00:00Z', endedAt: '2026-01-01T00:01:00Z', state: 'done', kind: 'done', reason: 'ok', runId: 'r1',
            tokens: { input: 10 }, exit: { code: 0 }, git: { files: 1 }, verify: [{ argv: ['npm', 'test'], ok: true, seconds: 1 }], runner: 4242,
          }],
        },
      },
      waiting: { '002': { until: '2026-01-01T01:00:00Z', agent: 'codex', reason: 'rate-limited', at: '2026-01-01T00:00:00Z' } },
    },
  };
}

/** validDoc with `edit` applied to it. */
function docWith(edit: (d: Record<string, any>) => void): Record<string, any> {
  const d = validDoc();
  edit(d);
  return d;
}
const hist = (d: Record<string, any>) => d.dispatch.specs['001'].history[0];

describe('shapeProblem names the first wrong field, exactly', () => {
  it('accepts a document with every optional field right, and the original tool\'s bare file', () => {
    expect(shapeProblem(validDoc())).toBeUndefined();
    expect(shapeProblem({ completed: ['a'], failed: [], skipped: [] })).toBeUndefined();
    expect(shapeProblem({})).toBeUndefined();
    expect(shapeProblem({ dispatch: { version: 1, running: {}, specs: {} } })).toBeUndefined();
    // a runner still launching (pid 0), tokens of which only some are known, an empty history
    expect(shapeProblem(docWith((d) => { d.dispatch.specs['001'].history = []; }))).toBeUndefined();
    expect(shapeProblem(docWith((d) => { hist(d).tokens = { input: 1, cachedInput: 0, output: 2, total: 3, lowerBound: true }; }))).toBeUndefined();
    expect(shapeProblem(docWith((d) => { d.dispatch.seq = 12; }))).toBeUndefined();
  });

  const cases: [string, unknown, string][] = [
    ['null', null, 'expected a JSON object'],
    ['an array', [], 'expected a JSON object'],
    ['a string', 'x', 'expected a JSON object'],
    ['completed not an array', { completed: 'a' }, '"completed" must be an array of id strings'],
    ['failed holding a number', { failed: [1] }, '"failed" must be an array of id strings'],
    ['skipped holding null', { skipped: [null] }, '"skipped" must be an array of id strings'],
    ['dispatch a number', { dispatch: 5 }, '"dispatch" must be an object'],
    ['dispatch an array', { dispatch: [] }, '"dispatch" must be an object'],
    ['running a string', docWith((d) => { d.dispatch.running = 'x'; }), '"dispatch.running" must be an object'],
    ['specs a number', docWith((d) => { d.dispatch.specs = 5; }), '"dispatch.specs" must be an object'],
    ['waiting an array', docWith((d) => { d.dispatch.waiting = []; }), '"dispatch.waiting" must be an object'],
    ['seq negative', docWith((d) => { d.dispatch.seq = -1; }), '"dispatch.seq" must be a whole number'],
    ['seq a fraction', docWith((d) => { d.dispatch.seq = 1.5; }), '"dispatch.seq" must be a whole number'],
    ['seq a string', docWith((d) => { d.dispatch.seq = '3'; }), '"dispatch.seq" must be a whole number'],
    ['seq past safe integers', docWith((d) => { d.dispatch.seq = 2 ** 53; }), '"dispatch.seq" must be a whole number'],
    ['lastEvents an object', docWith((d) => { d.dispatch.lastEvents = {}; }), '"dispatch.lastEvents" must be an array of events'],
    ['an event that is a number', docWith((d) => { d.dispatch.lastEvents = [5]; }), '"dispatch.lastEvents[0]" must be an event (seq, time, command, and spec, from, to or a run\'s event)'],
    ['an event without seq', docWith((d) => { delete d.dispatch.lastEvents[0].seq; }), '"dispatch.lastEvents[0]" must be an event (seq, time, command, and spec, from, to or a run\'s event)'],
    ['a transition without to', docWith((d) => { delete d.dispatch.lastEvents[0].to; }), '"dispatch.lastEvents[0]" must be an event (seq, time, command, and spec, from, to or a run\'s event)'],
    ['a transition with a numeric spec', docWith((d) => { d.dispatch.lastEvents[0].spec = 1; }), '"dispatch.lastEvents[0]" must be an event (seq, time, command, and spec, from, to or a run\'s event)'],
    ['a run event without command', docWith((d) => { delete d.dispatch.lastEvents[1].command; }), '"dispatch.lastEvents[1]" must be an event (seq, time, command, and spec, from, to or a run\'s event)'],

    ['a runner that is a number', docWith((d) => { d.dispatch.running['003'] = 5; }), '"dispatch.running.003" must be an object (a runner: pid, startedAt)'],
    ['a runner under an id that is not a plain word', docWith((d) => { d.dispatch.running['a b'] = 5; }), '"dispatch.running["a b"]" must be an object (a runner: pid, startedAt)'],
    ['a runner under a dotted id', docWith((d) => { d.dispatch.running['x.y'] = 5; }), '"dispatch.running["x.y"]" must be an object (a runner: pid, startedAt)'],
    ['a second runner that is wrong', docWith((d) => { d.dispatch.running['004'] = { startedAt: 't' }; }), '"dispatch.running.004.pid" must be a whole number'],
    ['a negative pid', docWith((d) => { d.dispatch.running['003'].pid = -1; }), '"dispatch.running.003.pid" must be a whole number'],
    ['a fractional pid', docWith((d) => { d.dispatch.running['003'].pid = 1.5; }), '"dispatch.running.003.pid" must be a whole number'],
    ['a pid string', docWith((d) => { d.dispatch.running['003'].pid = '7'; }), '"dispatch.running.003.pid" must be a whole number'],
    ['no startedAt', docWith((d) => { delete d.dispatch.running['003'].startedAt; }), '"dispatch.running.003.startedAt" must be a time string'],
    ['a numeric host', docWith((d) => { d.dispatch.running['003'].host = 1; }), '"dispatch.running.003.host" must be a string'],
    ['a numeric pane', docWith((d) => { d.dispatch.running['003'].pane = 1; }), '"dispatch.running.003.pane" must be a string'],
    ['a numeric runId', docWith((d) => { d.dispatch.running['003'].runId = 1; }), '"dispatch.running.003.runId" must be a string'],
    ['a numeric executor', docWith((d) => { d.dispatch.running['003'].executor = 1; }), '"dispatch.running.003.executor" must be one of "ssh"'],
    ['an executor whose runs are not remote', docWith((d) => { d.dispatch.running['003'].executor = 'tmux'; }), '"dispatch.running.003.executor" must be one of "ssh"'],
    ['an attempt string', docWith((d) => { d.dispatch.running['003'].attempt = '2'; }), '"dispatch.running.003.attempt" must be a number'],
    ['an agent that is a number', docWith((d) => { d.dispatch.running['003'].agent = 5; }), '"dispatch.running.003.agent" must be an object with a numeric pgid'],
    ['an attempt whose runner is not a pid', docWith((d) => { d.dispatch.specs['001'].history[0].runner = 'x'; }), '"dispatch.specs.001.history[0].runner" must be a process id'],
    ['an agent with a string pgid', docWith((d) => { d.dispatch.running['003'].agent = { pgid: 'x' }; }), '"dispatch.running.003.agent" must be an object with a numeric pgid'],

    ['a spec record that is a string', docWith((d) => { d.dispatch.specs['001'] = 'x'; }), '"dispatch.specs.001" must be an object'],
    ['a second spec record that is wrong', docWith((d) => { d.dispatch.specs['005'] = { attempts: 'x' }; }), '"dispatch.specs.005.attempts" must be a number'],
    ['a numeric reason', docWith((d) => { d.dispatch.specs['001'].reason = 1; }), '"dispatch.specs.001.reason" must be a string'],
    ['a numeric kind', docWith((d) => { d.dispatch.specs['001'].kind = 1; }), '"dispatch.specs.001.kind" must be a string'],
    ['a numeric updatedAt', docWith((d) => { d.dispatch.specs['001'].updatedAt = 1; }), '"dispatch.specs.001.updatedAt" must be a string'],
    ['a numeric stopReason', docWith((d) => { d.dispatch.specs['001'].stopReason = 1; }), '"dispatch.specs.001.stopReason" must be a string'],
    ['a numeric stopKind', docWith((d) => { d.dispatch.specs['001'].stopKind = 1; }), '"dispatch.specs.001.stopKind" must be a string'],
    ['an unknown kind', docWith((d) => { d.dispatch.specs['001'].kind = 'bogus'; }), `"dispatch.specs.001.kind" must be one of ${KINDS_LIST}`],
    ['an unknown stopKind', docWith((d) => { d.dispatch.specs['001'].stopKind = 'bogus'; }), `"dispatch.specs.001.stopKind" must be one of ${KINDS_LIST}`],
    ['attempts a string', docWith((d) => { d.dispatch.specs['001'].attempts = '2'; }), '"dispatch.specs.001.attempts" must be a number'],
    ['awaitingMerge a string', docWith((d) => { d.dispatch.specs['001'].awaitingMerge = 'yes'; }), '"dispatch.specs.001.awaitingMerge" must be true or false'],
    ['worktree a string', docWith((d) => { d.dispatch.specs['001'].worktree = '/w'; }), '"dispatch.specs.001.worktree" must be an object'],
    ['history an object', docWith((d) => { d.dispatch.specs['001'].history = {}; }), '"dispatch.specs.001.history" must be an array of attempts'],
    ['an attempt that is a number', docWith((d) => { d.dispatch.specs['001'].history = [5]; }), '"dispatch.specs.001.history[0]" must be an attempt (n, startedAt)'],
    ['an attempt with a fractional n', docWith((d) => { hist(d).n = 1.5; }), '"dispatch.specs.001.history[0]" must be an attempt (n, startedAt)'],
    ['an attempt without startedAt', docWith((d) => { delete hist(d).startedAt; }), '"dispatch.specs.001.history[0]" must be an attempt (n, startedAt)'],
    ['a second attempt without n', docWith((d) => { d.dispatch.specs['001'].history.push({ startedAt: 't' }); }), '"dispatch.specs.001.history[1]" must be an attempt (n, startedAt)'],
    ['an attempt with a numeric endedAt', docWith((d) => { hist(d).endedAt = 1; }), '"dispatch.specs.001.history[0].endedAt" must be a string'],
    ['an attempt with a numeric state', docWith((d) => { hist(d).state = 1; }), '"dispatch.specs.001.history[0].state" must be a string'],
    ['an attempt with a numeric kind', docWith((d) => { hist(d).kind = 1; }), '"dispatch.specs.001.history[0].kind" must be a string'],
    ['an attempt with a numeric reason', docWith((d) => { hist(d).reason = 1; }), '"dispatch.specs.001.history[0].reason" must be a string'],
    ['an attempt with a numeric runId', docWith((d) => { hist(d).runId = 1; }), '"dispatch.specs.001.history[0].runId" must be a string'],
    ['an attempt with an unknown kind', docWith((d) => { hist(d).kind = 'bogus'; }), `"dispatch.specs.001.history[0].kind" must be one of ${KINDS_LIST}`],
    ['tokens a number', docWith((d) => { hist(d).tokens = 5; }), '"dispatch.specs.001.history[0].tokens" must be an object of token counts'],
    ['a token count string', docWith((d) => { hist(d).tokens = { input: '5' }; }), '"dispatch.specs.001.history[0].tokens" must be an object of token counts'],
    ['an infinite token count', docWith((d) => { hist(d).tokens = { total: Infinity }; }), '"dispatch.specs.001.history[0].tokens" must be an object of token counts'],
    ['a cachedInput count string', docWith((d) => { hist(d).tokens = { input: 1, cachedInput: 'x' }; }), '"dispatch.specs.001.history[0].tokens" must be an object of token counts'],
    ['an output count string', docWith((d) => { hist(d).tokens = { output: 'x' }; }), '"dispatch.specs.001.history[0].tokens" must be an object of token counts'],
    ['exit a number', docWith((d) => { hist(d).exit = 1; }), '"dispatch.specs.001.history[0].exit" must be an object'],
    ['git a string', docWith((d) => { hist(d).git = 'x'; }), '"dispatch.specs.001.history[0].git" must be an object'],
    ['verify an object', docWith((d) => { hist(d).verify = {}; }), '"dispatch.specs.001.history[0].verify" must be a list of checks'],
    ['a check that is a number', docWith((d) => { hist(d).verify = [5]; }), '"dispatch.specs.001.history[0].verify" must be a list of checks'],
    ['a second check whose argv is a string', docWith((d) => { hist(d).verify.push({ argv: 'npm test' }); }), '"dispatch.specs.001.history[0].verify" must be a list of checks'],

    ['a wait that is a number', docWith((d) => { d.dispatch.waiting['002'] = 5; }), '"dispatch.waiting.002" must be an object (until, agent, reason)'],
    ['a second wait that is wrong', docWith((d) => { d.dispatch.waiting['006'] = { until: 'soon' }; }), '"dispatch.waiting.006.until" must be a time string'],
    ['a wait without until', docWith((d) => { delete d.dispatch.waiting['002'].until; }), '"dispatch.waiting.002.until" must be a time string'],
    ['a wait until a number (a year, to Date.parse)', docWith((d) => { d.dispatch.waiting['002'].until = 2026; }), '"dispatch.waiting.002.until" must be a time string'],
    ['a wait until no time', docWith((d) => { d.dispatch.waiting['002'].until = 'soon'; }), '"dispatch.waiting.002.until" must be a time string'],
    ['a numeric wait agent', docWith((d) => { d.dispatch.waiting['002'].agent = 1; }), '"dispatch.waiting.002.agent" must be a string'],
    ['a numeric wait reason', docWith((d) => { d.dispatch.waiting['002'].reason = 1; }), '"dispatch.waiting.002.reason" must be a string'],
    ['a numeric wait at', docWith((d) => { d.dispatch.waiting['002'].at = 1; }), '"dispatch.waiting.002.at" must be a string'],
  ];
  it.each(cases)('%s', (_name, doc, message) => {
    expect(shapeProblem(doc)).toBe(message);
  });
});

describe('normalize', () => {
  it('fills in the missing arrays and keeps keys it does not know', () => {
    const doc = normalize({ completed: ['a'], other: 1 });
    expect(doc).toEqual({ completed: ['a'], failed: [], skipped: [], other: 1 });
    expect(Object.keys(doc)).toEqual(['completed', 'other', 'failed', 'skipped']);
  });

  it('gives the maps keyed by id no prototype, and adds no map the file did not have', () => {
    const withAll = normalize(JSON.parse('{"dispatch":{"version":1,"running":{"001":{"pid":1,"startedAt":"t"}},"specs":{"001":{}},"waiting":{"002":{"until":"2026-01-01T00:00:00Z","agent":"a","reason":"r","at":"t"}}}}'));
    expect(Object.getPrototypeOf(withAll.dispatch!.running)).toBeNull();
    expect(Object.getPrototypeOf(withAll.dispatch!.specs)).toBeNull();
    expect(Object.getPrototypeOf(withAll.dispatch!.waiting)).toBeNull();
    expect(Object.keys(withAll.dispatch!.running)).toEqual(['001']);
    expect(Object.keys(withAll.dispatch!.waiting!)).toEqual(['002']);
    const bareDispatch = normalize(JSON.parse('{"dispatch":{"version":1}}'));
    expect(Object.keys(bareDispatch.dispatch!)).toEqual(['version']);
  });

  it("a spec named constructor gets its own record (not Object's)", () => {
    const doc = normalize(JSON.parse('{"completed":[],"failed":[],"skipped":[],"dispatch":{"version":1,"running":{},"specs":{}}}'));
    expect(setState(doc, 'constructor', 'failed', 'boom')).toBe(true);
    expect(JSON.parse(JSON.stringify(doc)).dispatch.specs.constructor).toMatchObject({ reason: 'boom', kind: 'agent-failed' });
  });

  it('infers the kinds an older dispatch wrote without, and keeps the ones it has', () => {
    const doc = normalize(JSON.parse(JSON.stringify({
      completed: ['d'], failed: ['f', 'k', 'q'], skipped: [],
      dispatch: {
        version: 1, running: {},
        specs: {
          d: { reason: 'finished' },
          f: { reason: 'stalled: no output for 30m', history: [{ n: 1, startedAt: 't', state: 'failed', reason: 'lost: runner gone' }, { n: 2, startedAt: 't', state: 'failed', kind: 'manual', reason: 'lost' }, { n: 3, startedAt: 't' }] },
          k: { reason: 'whatever', kind: 'verify-failed' },
          q: { updatedAt: 't' },
          p: { reason: 'left over' },
        },
      },
    })));
    const specs = doc.dispatch!.specs;
    expect(specs.d!.kind).toBe('done');
    expect(specs.f!.kind).toBe('stalled');
    expect(specs.f!.history!.map((h) => h.kind)).toEqual(['lost', 'manual', undefined]);
    expect('kind' in specs.f!.history![2]!).toBe(false);
    expect(specs.k!.kind).toBe('verify-failed');
    // no reason: nothing to infer from
    expect('kind' in specs.q!).toBe(false);
    // pending: no kind at all
    expect('kind' in specs.p!).toBe(false);
  });
});

describe('inferKind reads an old reason once', () => {
  it.each([
    ['done', undefined, 'done'],
    ['skipped', 'x', 'manual'],
    ['rate-limited', 'x', 'rate-limited'],
    ['pending', 'x', undefined],
    [undefined, 'interrupted', undefined],
    ['failed', undefined, 'agent-failed'],
    ['failed', 'interrupted by Ctrl-C', 'interrupted'],
    ['failed', 'run was interrupted', 'agent-failed'],
    ['failed', 'launch failed: no tmux', 'launch-error'],
    ['failed', 'cannot start codex', 'launch-error'],
    ['failed', 'no spec.md in specs/001', 'launch-error'],
    ['failed', 'no specXmd', 'agent-failed'],
    ['failed', 'worktree /w/001 is missing', 'launch-error'],
    ['failed', 'worktree  is missing', 'launch-error'],
    ['failed', 'the launch failed', 'agent-failed'],
    ['failed', 'marked failed by hand', 'manual'],
    ['failed', 'it was marked failed', 'agent-failed'],
    ['failed', 'stalled: no output', 'stalled'],
    ['failed', 'agent stalled', 'agent-failed'],
    ['failed', 'lost: runner gone', 'lost'],
    ['failed', 'runner lost', 'agent-failed'],
    ['failed', 'rate-limited 3 times', 'quota-exhausted'],
    ['failed', 'rate-limited 12 times', 'quota-exhausted'],
    ['failed', 'rate-limited x times', 'agent-failed'],
    ['failed', 'was rate-limited 3 times', 'agent-failed'],
    ['failed', 'exit code 1', 'agent-failed'],
  ] as [string | undefined, string | undefined, string | undefined][])('%s / %s → %s', (state, reason, kind) => {
    expect(inferKind(state, reason)).toBe(kind);
  });
});

describe('stateOf with long arrays', () => {
  it('finds ids in arrays of 32 and more, after pushes and after the array is replaced', () => {
    const ids = Array.from({ length: 40 }, (_, i) => `s${i}`);
    const doc: StateDoc = { completed: [...ids], failed: ids.map((i) => `f${i}`), skipped: [] };
    expect(stateOf(doc, 's39')).toBe('done');
    expect(stateOf(doc, 'fs0')).toBe('failed');
    expect(stateOf(doc, 'x')).toBe('pending');
    doc.completed.push('x', 'y');
    expect(stateOf(doc, 'y')).toBe('done');
    expect(stateOf(doc, 'x')).toBe('done');
    expect(setState(doc, 's5', 'failed', 'broke')).toBe(true);
    expect(stateOf(doc, 's5')).toBe('failed');
    expect(doc.completed).toHaveLength(41);
    expect(stateOf(doc, 's6')).toBe('done');
  });
});

describe('setState', () => {
  const failedDoc = (): StateDoc => ({ completed: ['d'], failed: ['f'], skipped: ['s', 't'], dispatch: { version: 1, running: {}, specs: { f: { reason: 'exit 1', kind: 'agent-failed', attempts: 2 } } } });

  it('copies only the array that held the spec', () => {
    const doc = failedDoc();
    const { completed, failed, skipped } = doc;
    setState(doc, 's', 'done');
    expect(doc.completed).toBe(completed);
    expect(doc.failed).toBe(failed);
    expect(doc.skipped).not.toBe(skipped);
    expect(doc.completed).toEqual(['d', 's']);
    expect(doc.skipped).toEqual(['t']);
    const before = doc.skipped;
    setState(doc, 'd', 'failed', 'x');
    expect(doc.skipped).toBe(before);
    expect(doc.completed).toEqual(['s']);
    expect(doc.failed).toEqual(['f', 'd']);
  });

  it('a same-state call without a new reason changes nothing, and keeps the old reason', () => {
    const doc = failedDoc();
    const before = JSON.stringify(doc);
    expect(setState(doc, 'f', 'failed')).toBe(false);
    expect(setState(doc, 'f', 'failed', 'exit 1')).toBe(false);
    expect(setState(doc, 'f', 'failed', undefined, 'manual')).toBe(false);
    expect(JSON.stringify(doc)).toBe(before);
    expect(setState(doc, 'f', 'failed', 'exit 2')).toBe(true);
    expect(doc.dispatch!.specs.f).toMatchObject({ reason: 'exit 2', kind: 'agent-failed' });
  });

  it('done without a reason drops the old one; the state gives the kind', () => {
    const doc = failedDoc();
    expect(setState(doc, 'f', 'done')).toBe(true);
    const rec = doc.dispatch!.specs.f!;
    expect('reason' in rec).toBe(false);
    expect(rec.kind).toBe('done');
    expect(kindOf(doc, 'f')).toBe('done');
    setState(doc, 'd', 'skipped');
    expect(doc.dispatch!.specs.d!.kind).toBe('manual');
  });

  it('back to pending forgets reason, kind and count, keeping the history and worktree', () => {
    const doc = failedDoc();
    doc.dispatch!.specs.f!.history = [{ n: 1, startedAt: 't' }];
    doc.dispatch!.specs.f!.worktree = { path: '/w' };
    expect(setState(doc, 'f', 'pending', 'reset by hand', 'manual')).toBe(true);
    expect(stateOf(doc, 'f')).toBe('pending');
    expect(doc.dispatch!.specs.f).toEqual({ history: [{ n: 1, startedAt: 't' }], worktree: { path: '/w' } });
    expect(kindOf(doc, 'f')).toBeUndefined();

    const onlyWorktree = failedDoc();
    onlyWorktree.dispatch!.specs.f!.worktree = { path: '/w' };
    onlyWorktree.dispatch!.specs.f!.history = [];
    setState(onlyWorktree, 'f', 'pending');
    expect(onlyWorktree.dispatch!.specs.f).toEqual({ worktree: { path: '/w' } });

    const nothingKept = failedDoc();
    setState(nothingKept, 'f', 'pending');
    expect('f' in nothingKept.dispatch!.specs).toBe(false);
    expect(nothingKept.failed).toEqual([]);
  });

  it('a running spec given a new reason stays running; running carries no kind', () => {
    const doc = emptyState();
    markRunning(doc, 'r', { pid: 0, host: 'h', startedAt: '2026-01-01T00:00:00Z' });
    expect(setState(doc, 'r', 'running', 'launching', 'agent-failed')).toBe(true);
    expect(stateOf(doc, 'r')).toBe('running');
    expect(doc.dispatch!.running.r).toEqual({ pid: 0, host: 'h', startedAt: '2026-01-01T00:00:00Z' });
    expect('kind' in doc.dispatch!.specs.r!).toBe(false);
    expect(doc.dispatch!.specs.r!.reason).toBe('launching');
    expect(setState(doc, 'r', 'failed', 'gone', 'lost')).toBe(true);
    expect(doc.dispatch!.running).toEqual({});
    expect(kindOf(doc, 'r')).toBe('lost');
  });

  it('leaving rate-limited ends the wait (and drops the empty map); a new reason while waiting keeps it', () => {
    const doc = emptyState();
    const info = { until: '2026-01-01T01:00:00Z', agent: 'codex', reason: 'rate-limited until 1am', at: '2026-01-01T00:00:00Z' };
    markRateLimited(doc, 'w', info);
    markRateLimited(doc, 'v', { ...info, reason: 'other' });
    expect(stateOf(doc, 'w')).toBe('rate-limited');
    expect(doc.dispatch!.specs.w).toMatchObject({ reason: 'rate-limited until 1am', kind: 'rate-limited' });
    expect(setState(doc, 'w', 'rate-limited', 'still limited')).toBe(true);
    expect(stateOf(doc, 'w')).toBe('rate-limited');
    expect(doc.dispatch!.waiting!.w).toEqual(info);
    setState(doc, 'w', 'done');
    expect(Object.keys(doc.dispatch!.waiting!)).toEqual(['v']);
    setState(doc, 'v', 'failed', 'quota', 'quota-exhausted');
    expect('waiting' in doc.dispatch!).toBe(false);
    expect(stateOf(doc, 'v')).toBe('failed');
  });

  it('awaitingMerge stays while done, and goes when it leaves done', () => {
    const doc: StateDoc = { completed: ['m'], failed: [], skipped: [], dispatch: { version: 1, running: {}, specs: { m: { reason: 'ok', kind: 'done', awaitingMerge: true } } } };
    expect(setState(doc, 'm', 'done', 'ok, merged later')).toBe(true);
    expect(doc.dispatch!.specs.m!.awaitingMerge).toBe(true);
    setState(doc, 'm', 'failed', 'merge conflict', 'merge-conflict');
    expect('awaitingMerge' in doc.dispatch!.specs.m!).toBe(false);
  });

  it('marking a rate-limited spec again with the same reason leaves its record as it was', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
      const doc = emptyState();
      const info = { until: '2026-01-01T01:00:00Z', agent: 'codex', reason: 'limited', at: '2026-01-01T00:00:00Z' };
      markRateLimited(doc, 'w', info);
      expect(doc.dispatch!.specs.w!.updatedAt).toBe('2026-01-01T00:00:00.000Z');
      vi.setSystemTime(new Date('2026-01-01T00:05:00Z'));
      markRateLimited(doc, 'w', { ...info, until: '2026-01-01T02:00:00Z' });
      expect(doc.dispatch!.specs.w!.updatedAt).toBe('2026-01-01T00:00:00.000Z');
      expect(doc.dispatch!.waiting!.w!.until).toBe('2026-01-01T02:00:00Z');
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('kindOf', () => {
  it('is undefined while pending or running, even with a stale kind on record', () => {
    const doc: StateDoc = {
      completed: [], failed: [], skipped: [],
      dispatch: { version: 1, running: { r: { pid: 1, host: 'h', startedAt: 't' } }, specs: { r: { kind: 'agent-failed' }, p: { kind: 'done' } } },
    };
    expect(kindOf(doc, 'r')).toBeUndefined();
    expect(kindOf(doc, 'p')).toBeUndefined();
    expect(kindOf(doc, 'p', 'failed')).toBe('done');
  });

  it("reads the original tool's file (no dispatch key, no records) by the plain meaning", () => {
    const doc: StateDoc = { completed: ['a'], failed: ['b'], skipped: ['c'] };
    expect(kindOf(doc, 'a')).toBe('done');
    expect(kindOf(doc, 'b')).toBe('agent-failed');
    expect(kindOf(doc, 'c')).toBe('manual');
    extra(doc);
    expect(kindOf(doc, 'b')).toBe('agent-failed');
  });
});

describe('extra', () => {
  it('adds the dispatch key with version 1 to a file without one', () => {
    const doc = emptyState();
    const x = extra(doc);
    expect(doc.dispatch).toBe(x);
    expect(JSON.parse(JSON.stringify(doc))).toEqual({ completed: [], failed: [], skipped: [], dispatch: { version: 1, running: {}, specs: {} } });
  });
});

describe('launch numbers and closing launches', () => {
  const withHistory = (history: object[], running?: object): StateDoc => ({
    completed: [], failed: [], skipped: [],
    dispatch: { version: 1, running: running ? { a: running as never } : {}, specs: { a: { history: history as never } } },
  });

  it('the next launch is one past the highest on record, never reused', () => {
    expect(nextLaunchNumber(emptyState(), 'a')).toBe(1);
    expect(nextLaunchNumber(withHistory([]), 'a')).toBe(1);
    expect(nextLaunchNumber(withHistory([{ n: 3, startedAt: 't' }, { n: 1, startedAt: 't' }]), 'a')).toBe(4);
  });

  it('closes only the open launch with that number; a closed one keeps its first verdict', () => {
    const doc = withHistory([
      { n: 1, startedAt: 't', endedAt: 'e1', state: 'failed', kind: 'lost', reason: 'lost' },
      { n: 2, startedAt: 't' },
      { n: 3, startedAt: 't' },
    ]);
    closeLaunch(doc, 'a', 2, { state: 'done', kind: 'done' });
    closeLaunch(doc, 'a', 1, { state: 'done', kind: 'done' });
    const h = doc.dispatch!.specs.a!.history!;
    expect(h[0]).toEqual({ n: 1, startedAt: 't', endedAt: 'e1', state: 'failed', kind: 'lost', reason: 'lost' });
    expect(h[1]).toMatchObject({ n: 2, state: 'done', kind: 'done' });
    expect(typeof h[1]!.endedAt).toBe('string');
    expect(h[2]).toEqual({ n: 3, startedAt: 't' });
  });

  it('does nothing where there is no history to close', () => {
    const plain = emptyState();
    expect(() => closeLaunch(plain, 'a', 1, { state: 'done' })).not.toThrow();
    expect(plain).toEqual(emptyState());
    const noRecord: StateDoc = { ...emptyState(), dispatch: { version: 1, running: {}, specs: {} } };
    expect(() => closeLaunch(noRecord, 'a', 1, { state: 'done' })).not.toThrow();
    const noHistory: StateDoc = { ...emptyState(), dispatch: { version: 1, running: {}, specs: { a: { reason: 'r' } } } };
    closeLaunch(noHistory, 'a', 1, { state: 'done' });
    expect(noHistory.dispatch!.specs.a).toEqual({ reason: 'r' });
  });

  it('failLaunch fails a running spec and closes the launch the runner had', () => {
    const doc = withHistory([{ n: 1, startedAt: 't', endedAt: 'e' }, { n: 2, startedAt: 't' }, { n: 3, startedAt: 't' }], { pid: 9, host: 'h', startedAt: 't', attempt: 2 });
    failLaunch(doc, 'a', 'lost: runner gone', 'lost');
    expect(stateOf(doc, 'a')).toBe('failed');
    expect(kindOf(doc, 'a')).toBe('lost');
    expect(doc.dispatch!.specs.a!.reason).toBe('lost: runner gone');
    const h = doc.dispatch!.specs.a!.history!;
    expect(h[1]).toMatchObject({ n: 2, state: 'failed', kind: 'lost', reason: 'lost: runner gone' });
    expect(h[2]).toEqual({ n: 3, startedAt: 't' });
    expect(h[0]).toEqual({ n: 1, startedAt: 't', endedAt: 'e' });
  });

  it('failLaunch without a runner closes the last launch on record', () => {
    const doc = withHistory([{ n: 1, startedAt: 't', endedAt: 'e' }, { n: 2, startedAt: 't', endedAt: 'e' }, { n: 3, startedAt: 't' }]);
    failLaunch(doc, 'a', 'launch failed: no pane', 'launch-error');
    expect(stateOf(doc, 'a')).toBe('failed');
    const h = doc.dispatch!.specs.a!.history!;
    expect(h[2]).toMatchObject({ n: 3, state: 'failed', kind: 'launch-error', reason: 'launch failed: no pane' });
    expect(h[1]).toEqual({ n: 2, startedAt: 't', endedAt: 'e' });
  });

  it('failLaunch on a spec with no launch on record just fails it', () => {
    const plain = emptyState();
    failLaunch(plain, 'a', 'stopped by hand', 'manual');
    expect(plain.failed).toEqual(['a']);
    expect(plain.dispatch!.specs.a).toMatchObject({ reason: 'stopped by hand', kind: 'manual' });
    const empty = withHistory([]);
    failLaunch(empty, 'a', 'stopped by hand', 'manual');
    expect(empty.dispatch!.specs.a!.history).toEqual([]);
    const noRecord: StateDoc = { ...emptyState(), dispatch: { version: 1, running: {}, specs: {} } };
    failLaunch(noRecord, 'a', 'stopped', 'manual');
    expect(stateOf(noRecord, 'a')).toBe('failed');
    const noHistory: StateDoc = { ...emptyState(), dispatch: { version: 1, running: {}, specs: { a: { reason: 'r' } } } };
    failLaunch(noHistory, 'a', 'stopped', 'manual');
    expect(noHistory.dispatch!.specs.a).toMatchObject({ reason: 'stopped', kind: 'manual' });
    expect('history' in noHistory.dispatch!.specs.a!).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// The state lock.

const lockFile = () => join(tempDir('dispatch-lock-'), 'dispatch-state.json');
const holderText = (o: Record<string, unknown>) => `${JSON.stringify({ since: '2026-01-01T00:00:00Z', nonce: 'n1', ...o })}\n`;
const ageBy = (path: string, ms: number) => {
  const t = new Date(Date.now() - ms);
  utimesSync(path, t, t);
};
const heldByUs = (file: string) => JSON.parse(readFileSync(`${file}.lock`, 'utf8')).pid === process.pid;
async function rejection(p: Promise<unknown>): Promise<DispatchError> {
  try {
    await p;
  } catch (err) {
    return err as DispatchError;
  }
  throw new Error('expected the lock to be refused');
}

const started: number[] = [];
afterAll(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

describe('how often a waiter tries the lock', () => {
  it('1 ms at first, half again each try, never more than 25 ms; jitter from half to one and a half', () => {
    expect(pollDelay(0, 0.5)).toBe(1);
    expect(pollDelay(1, 0.5)).toBe(1.5);
    expect(pollDelay(2, 0.5)).toBe(2.25);
    expect(pollDelay(8, 0.5)).toBe(25); // 1.5^8 ≈ 25.6
    expect(pollDelay(50, 0.5)).toBe(25);
    expect(pollDelay(0, 0)).toBe(0.5);
    expect(pollDelay(0, 0.999)).toBeCloseTo(1.499);
    expect(pollDelay(50, 0)).toBe(12.5);
    expect(pollDelay(50, 0.999)).toBeCloseTo(37.475);
  });
});

describe('the state lock', () => {
  afterEach(() => {
    delete process.env.DISPATCH_LOCK_WAIT_SECONDS;
  });

  it('writes its holder (with the command) and removes only its own lock on release', async () => {
    const file = lockFile();
    const release = await lockState(file, { command: 'dispatch run' });
    const h = JSON.parse(readFileSync(`${file}.lock`, 'utf8'));
    expect(h).toMatchObject({ pid: process.pid, host: hostname(), command: 'dispatch run' });
    await release();
    expect(existsSync(`${file}.lock`)).toBe(false);

    const again = await lockState(file);
    expect('command' in JSON.parse(readFileSync(`${file}.lock`, 'utf8'))).toBe(false);
    // A hand replaced it meanwhile: release leaves what is there.
    const other = holderText({ pid: 1, host: 'elsewhere.invalid' });
    writeFileSync(`${file}.lock`, other);
    await again();
    expect(readFileSync(`${file}.lock`, 'utf8')).toBe(other);
  });

  it.each([
    ['garbage', 'hello'],
    ['null', 'null\n'],
    ['a number', '5\n'],
    ['a holder without a whole pid, naming another host', holderText({ pid: 'x', host: 'elsewhere.invalid' })],
  ])('a lock file holding %s holds nobody: taken at once', async (_n, content) => {
    const file = lockFile();
    writeFileSync(`${file}.lock`, content);
    const release = await lockState(file, { waitLimitMs: 5000 });
    expect(heldByUs(file)).toBe(true);
    await release();
  });

  it('a live holder is named at the wait limit, with its command and since', async () => {
    const file = lockFile();
    writeFileSync(`${file}.lock`, holderText({ pid: process.pid, host: hostname() }));
    const err = await rejection(lockState(file, { waitLimitMs: 150 }));
    expect(err).toBeInstanceOf(LockTimeoutError);
    expect(err.message).toBe(`could not lock ${file}: pid ${process.pid} has held it since 2026-01-01T00:00:00Z; nothing was changed`);
    expect(err.hint).toBe('wait for it to finish and try again');
    expect(err.exitCode).toBe(1);
  });

  it('a stopped holder is named as stopped, with how to resume it', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    started.push(child.pid!);
    process.kill(child.pid!, 'SIGSTOP');
    for (let i = 0; i < 200 && procStat(child.pid!)?.state !== 'T'; i++) await new Promise((r) => setTimeout(r, 5));
    const file = lockFile();
    writeFileSync(`${file}.lock`, holderText({ pid: child.pid, host: hostname(), start: procStat(child.pid!)!.start, command: 'dispatch run' }));
    const err = await rejection(lockState(file, { waitLimitMs: 150 }));
    expect(err).toBeInstanceOf(LockTimeoutError);
    expect(err.message).toBe(`could not lock ${file}: pid ${child.pid} (stopped: resume it with kill -CONT, or end it) ('dispatch run') has held it since 2026-01-01T00:00:00Z; nothing was changed`);
    expect(err.hint).toBe('resume or end that process, then try again');
    expect(err.exitCode).toBe(1);
    process.kill(child.pid!, 'SIGKILL');
  });

  it('a holder on another host: waited for while fresh, taken over once silent past 30 s', async () => {
    const file = lockFile();
    const held = holderText({ pid: 4242, host: 'elsewhere.invalid' });
    writeFileSync(`${file}.lock`, held);
    ageBy(`${file}.lock`, 20_000);
    const err = await rejection(lockState(file, { waitLimitMs: 150 }));
    expect(err.message).toBe(`could not lock ${file}: pid 4242 on elsewhere.invalid has held it since 2026-01-01T00:00:00Z; nothing was changed`);
    expect(readFileSync(`${file}.lock`, 'utf8')).toBe(held);
    ageBy(`${file}.lock`, 40_000);
    const release = await lockState(file, { waitLimitMs: 5000 });
    expect(heldByUs(file)).toBe(true);
    await release();
  });

  it("an older dispatch's lock folder: waited for while kept fresh, taken over once stale", async () => {
    const file = lockFile();
    mkdirSync(`${file}.lock`);
    writeFileSync(join(`${file}.lock`, 'inside'), 'x');
    ageBy(`${file}.lock`, 5_000);
    const err = await rejection(lockState(file, { waitLimitMs: 150 }));
    expect(err).not.toBeInstanceOf(LockTimeoutError);
    expect(err.message).toBe(`could not lock ${file}: an older dispatch's lock folder ${file}.lock is still being kept fresh; nothing was changed`);
    expect(err.hint).toBe('stop that older dispatch, or remove the folder if none runs');
    expect(err.exitCode).toBe(1);
    expect(statSync(`${file}.lock`).isDirectory()).toBe(true);
    ageBy(`${file}.lock`, 15_000);
    const release = await lockState(file, { waitLimitMs: 5000 });
    expect(heldByUs(file)).toBe(true);
    await release();
  });

  it('an abandoned wait (Ctrl-C) gives up with exit 130', async () => {
    const file = lockFile();
    writeFileSync(`${file}.lock`, holderText({ pid: process.pid, host: hostname() }));
    const err = await rejection(lockState(file, { waitLimitMs: 2000, signal: AbortSignal.abort() }));
    expect(err).not.toBeInstanceOf(LockTimeoutError);
    expect(err.message).toBe(`gave up waiting for the lock on ${file}`);
    expect(err.exitCode).toBe(130);
  });

  it('a queue of holders that keep changing is waited out; the limit counts from the last change', async () => {
    const file = lockFile();
    const path = `${file}.lock`;
    let i = 0;
    writeFileSync(path, holderText({ pid: process.pid, host: hostname(), nonce: `q${i}` }));
    const change = setInterval(() => {
      i++;
      if (i >= 12) {
        clearInterval(change);
        writeFileSync(path, ''); // an empty file holds nobody: the waiter takes it
        return;
      }
      writeFileSync(path, holderText({ pid: process.pid, host: hostname(), nonce: `q${i}` }));
    }, 50);
    try {
      const release = await lockState(file, { waitLimitMs: 400 });
      expect(i).toBeGreaterThanOrEqual(12);
      expect(heldByUs(file)).toBe(true);
      await release();
    } finally {
      clearInterval(change);
    }
  });

  it('DISPATCH_LOCK_WAIT_SECONDS sets the wait limit in seconds', async () => {
    const file = lockFile();
    writeFileSync(`${file}.lock`, holderText({ pid: process.pid, host: hostname() }));
    process.env.DISPATCH_LOCK_WAIT_SECONDS = '0.2';
    // The abort only guards against a limit that did not take: the limit must come first.
    const err = await rejection(lockState(file, { signal: AbortSignal.timeout(3000) }));
    expect(err).toBeInstanceOf(LockTimeoutError);
  });

  it('DISPATCH_LOCK_WAIT_SECONDS counts seconds, not milliseconds', async () => {
    const file = lockFile();
    writeFileSync(`${file}.lock`, holderText({ pid: process.pid, host: hostname() }));
    process.env.DISPATCH_LOCK_WAIT_SECONDS = '5';
    setTimeout(() => writeFileSync(`${file}.lock`, ''), 150);
    const release = await lockState(file);
    expect(heldByUs(file)).toBe(true);
    await release();
  });

  it('DISPATCH_LOCK_WAIT_SECONDS=0 leaves the default limit (a minute), not none', async () => {
    const file = lockFile();
    writeFileSync(`${file}.lock`, holderText({ pid: process.pid, host: hostname() }));
    process.env.DISPATCH_LOCK_WAIT_SECONDS = '0';
    const err = await rejection(lockState(file, { signal: AbortSignal.timeout(200) }));
    expect(err).not.toBeInstanceOf(LockTimeoutError);
    expect(err.message).toBe(`gave up waiting for the lock on ${file}`);
  });

  it('while held, the heartbeat keeps the lock fresh for other hosts', async () => {
    const file = lockFile();
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    try {
      vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
      const release = await lockState(file);
      ageBy(`${file}.lock`, 3600_000);
      vi.advanceTimersByTime(2000);
      expect(Math.round(statSync(`${file}.lock`).mtimeMs / 1000) * 1000).toBe(Date.parse('2030-01-01T00:00:02Z'));
      await release();
    } finally {
      vi.useRealTimers();
    }
  });
});
