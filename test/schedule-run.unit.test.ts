// The scheduler driven in-process on a simulated clock and world (as in
// schedule-eager.unit.test.ts), checked by what a user sees: the events the run
// reports, the hooks and journal lines it writes, exact launch times and the
// outcome. Times are in minutes (or seconds) from the run's start.
import { describe, expect, it } from 'vitest';
import type { ResolvedConfig, ResolvedSpec } from '../src/config/load.js';
import { runSchedule, type ScheduleOptions } from '../src/schedule/loop.js';
import { SimWorld, type SimEnd, type SimOptions } from '../src/schedule/sim.js';
import type { RunEvent } from '../src/schedule/events.js';
import type { LaunchResult, MergeOutcome, World } from '../src/schedule/world.js';
import type { LaunchBasis } from '../src/state/doc.js';
import { AgentPacing } from '../src/schedule/pacing.js';
import { blockedRoots, blockerOf, blockersBefore, dependencyBlockers, tokensByWave, tokensUsed } from '../src/schedule/readiness.js';
import { bottomLevels, criticalPath, estimateDurations, lowerBound, median } from '../src/schedule/estimate.js';
import { emptyState, markRateLimited, markRunning, setState, stateOf, type StateDoc } from '../src/state/doc.js';
import { tableConfig, type Row } from './fixtures/table.js';
import { HandWorldBase } from './fixtures/hand-world.js';

const MIN = 60_000;
const SEC = 1000;

const config = (rows: Row[], extra: Record<string, unknown> = {}): Promise<ResolvedConfig> => tableConfig(rows, extra, 'mut');

/** The simulated world, with people acting on the state, an executor's slots and a merge that may refuse. */
class HandWorld extends HandWorldBase {
  slots?: (spec: ResolvedSpec, doc: StateDoc) => string | undefined;
  mergeReplies?: MergeOutcome[];
  launchReason?: 'drop';
  /** A pane that takes this long to be on record, and as long again to answer. */
  launchDelayMs = 0;

  slotWait(spec: ResolvedSpec, doc: StateDoc): string | undefined {
    return this.slots?.(spec, doc);
  }

  async merge(spec: ResolvedSpec): Promise<MergeOutcome> {
    const reply = this.mergeReplies?.shift();
    if (!reply) return super.merge(spec);
    this.merges.push({ id: spec.id, at: this.now(), ok: reply.ok });
    if (reply.ok) delete this.doc.dispatch!.specs[spec.id]!.awaitingMerge;
    return reply;
  }

  async launch(spec: ResolvedSpec, runId: string, recorded: (at: number) => void, basis: LaunchBasis): Promise<LaunchResult> {
    const self = this as unknown as { t: number };
    self.t += this.launchDelayMs;
    const r = await super.launch(spec, runId, recorded, basis);
    self.t += this.launchDelayMs;
    if (this.launchReason === 'drop' && !r.ok) return { ok: false, attempt: r.attempt, pane: '' };
    return r;
  }
}

interface Sim {
  minutes?: Record<string, number>;
  /** Durations in ms, over `minutes`. */
  ms?: Record<string, number>;
  endOf?: (spec: ResolvedSpec, attempt: number) => SimEnd;
  schedule?: 'waves' | 'eager';
  opts?: Partial<ScheduleOptions>;
  world?: Partial<SimOptions>;
  setup?: (w: HandWorld) => void;
  durations?: boolean;
  /** Use this world instead (a bare World over the simulation). */
  wrap?: (w: HandWorld) => World;
}

async function sim(c: ResolvedConfig, s: Sim) {
  const dur = (id: string) => s.ms?.[id] ?? (s.minutes?.[id] ?? 1) * MIN;
  const world = new HandWorld(c.specs, { start: 0, durationOf: (spec) => dur(spec.id), ...(s.endOf ? { endOf: s.endOf } : {}), ...s.world });
  s.setup?.(world);
  const events: RunEvent[] = [];
  const when: number[] = [];
  const durations = new Map(c.specs.map((spec) => [spec.id, { ms: dur(spec.id), from: 'cost' as const }]));
  const outcome = await runSchedule(c, s.wrap ? s.wrap(world) : world, world, {
    schedule: s.schedule ?? 'eager', scope: c.specs, wait: true, signal: new AbortController().signal, rows: false,
    ...(s.durations === false ? {} : { durations }), runId: 'R', onEvent: (e) => void (events.push(e), when.push(world.now())), ...s.opts,
  });
  const starts = (id: string) => world.attempts.filter((a) => a.id === id).map((a) => a.start / MIN);
  const start = (id: string) => starts(id)[0];
  const order = () => world.attempts.map((a) => a.id);
  /** The events a user reads, without the live table's ticks. */
  const said = () => events.filter((e) => e.type !== 'tick');
  /** The live table's ticks, compact: [minute, wave, row ids, next launch (minute), what it waits for]. */
  const ticks = () =>
    events.flatMap((e, i) => (e.type === 'tick' ? [[when[i]! / MIN, e.wave, e.rows.map((x) => x.id).join(), e.nextLaunchAt === undefined ? undefined : e.nextLaunchAt / MIN, e.waitingFor]] : []));
  const hooks = (name = 'onWaveComplete') => world.hooks.filter((h) => h.name === name).map((h) => ({ ...h.vars, at: h.at / MIN }) as Record<string, string | number | undefined> & { at: number });
  return { outcome, world, events, said, ticks, start, starts, order, hooks };
}

const failing = (ids: string[], reason = 'tests fail'): ((s: ResolvedSpec, n: number) => SimEnd) => (s) => (ids.includes(s.id) ? { state: 'failed', reason } : { state: 'done' });

function runningDoc(entries: Record<string, { attempt?: number; record?: boolean }>, base: StateDoc = emptyState()): StateDoc {
  const doc = structuredClone(base);
  for (const [id, e] of Object.entries(entries)) {
    markRunning(doc, id, { pid: 42, host: 'h', startedAt: new Date(0).toISOString(), attempt: e.attempt ?? 1, runId: 'old' });
    if (e.record === false) delete doc.dispatch!.specs[id];
  }
  return doc;
}

describe('what a run says: events, hooks and journal', () => {
  it('reports each launch, verdict and retry, in order, with the retry counted against the policy', async () => {
    const c = await config([{ id: 'flaky', wave: 0 }, { id: 'next', dependsOn: ['flaky'] }], { retry: { maxAttempts: 3 } });
    const r = await sim(c, { minutes: { flaky: 3, next: 2 }, endOf: (s, n) => (s.id === 'flaky' && n < 3 ? { state: 'failed', reason: `boom ${n}` } : { state: 'done' }) });
    expect(r.said()).toEqual([
      { type: 'run-start', runId: 'R', schedule: 'eager', specs: 2 },
      { type: 'launched', id: 'flaky', pane: 'sim:flaky', at: 0, attempt: 1 },
      { type: 'finished', id: 'flaky', state: 'failed', kind: 'agent-failed', reason: 'boom 1' },
      { type: 'relaunch', id: 'flaky', why: 'retry 1 of 2 after: boom 1' },
      { type: 'launched', id: 'flaky', pane: 'sim:flaky', at: 3 * MIN, attempt: 2 },
      { type: 'finished', id: 'flaky', state: 'failed', kind: 'agent-failed', reason: 'boom 2' },
      { type: 'relaunch', id: 'flaky', why: 'retry 2 of 2 after: boom 2' },
      { type: 'launched', id: 'flaky', pane: 'sim:flaky', at: 6 * MIN, attempt: 3 },
      { type: 'finished', id: 'flaky', state: 'done', kind: 'done', reason: undefined },
      { type: 'launched', id: 'next', pane: 'sim:next', at: 9 * MIN, attempt: 1 },
      { type: 'finished', id: 'next', state: 'done', kind: 'done', reason: undefined },
    ]);
    expect(r.outcome).toStrictEqual({
      runId: 'R', schedule: 'eager', launched: ['flaky', 'next'], done: ['flaky', 'next'], failed: [], stillRunning: [], rateLimited: [],
      tokens: 0, interrupted: false, startedAt: 0, endedAt: 11 * MIN,
    });
    expect(r.hooks('onRunComplete')).toEqual([{ RUN_ID: 'R', STATE: 'done', DONE: 'flaky,next', FAILED: '', TOKENS: 0, REASON: undefined, at: 11 }]);
    expect(r.world.journalled).toEqual([
      { event: 'run-start', run: 'R', schedule: 'eager', specs: 2 },
      { event: 'run-end', run: 'R', outcome: 'done', done: 2, failed: 0 },
    ]);
  });

  it('names a run by its start time and process when no id is given', async () => {
    const c = await config([{ id: 'x', wave: 0 }]);
    const world = new SimWorld(c.specs, { start: 123_456_789, durationOf: () => MIN });
    const events: RunEvent[] = [];
    const o = await runSchedule(c, world, world, { schedule: 'waves', scope: c.specs, wait: true, signal: new AbortController().signal, rows: false, onEvent: (e) => events.push(e) });
    const id = `run-${(123_456_789).toString(36)}-${process.pid}`;
    expect(o.runId).toBe(id);
    expect(events[0]).toEqual({ type: 'run-start', runId: id, schedule: 'waves', specs: 1 });
    expect(world.attempts.map((a) => a.id)).toEqual(['x']);
  });

  it('a retry of a failure recorded without a reason says so; a lost runner is retried', async () => {
    const c = await config([{ id: 'x', wave: 0 }]);
    const r = await sim(c, {
      minutes: { x: 5 },
      setup: (w) => w.actions.push({ at: 2 * MIN, whenWatching: 'x', act: (doc) => setState(doc, 'x', 'failed', undefined, 'lost') }),
    });
    expect(r.said().filter((e) => e.type === 'finished' || e.type === 'relaunch')).toEqual([
      { type: 'finished', id: 'x', state: 'failed', kind: 'lost', reason: undefined },
      { type: 'relaunch', id: 'x', why: 'retry 1 of 1 after: failure' },
      { type: 'finished', id: 'x', state: 'done', kind: 'done', reason: undefined },
    ]);
    expect(r.starts('x')).toEqual([0, 2]);
  });

  it('under waves, says when each wave starts and is done, and fires the wave hooks with what happened', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }, { id: 'c', dependsOn: ['a'] }, { id: 'd', dependsOn: ['b'] }], { waves: { 1: { sequential: true } }, retry: { maxAttempts: 1 } });
    const r = await sim(c, { schedule: 'waves', minutes: { a: 2, b: 3, c: 1, d: 1 }, endOf: failing(['d']) });
    expect(r.said().filter((e) => e.type === 'wave-start' || e.type === 'wave-done')).toEqual([
      { type: 'wave-start', wave: 0, launches: 2, sequential: false },
      { type: 'wave-done', wave: 0 },
      { type: 'wave-start', wave: 1, launches: 2, sequential: true },
      { type: 'wave-done', wave: 1 },
    ]);
    expect(r.hooks()).toEqual([
      { WAVE: 0, RUN_ID: 'R', STATE: 'complete', DONE: 'a,b', FAILED: '', TOKENS: 0, at: 3 },
      { WAVE: 1, RUN_ID: 'R', STATE: 'incomplete', DONE: 'c', FAILED: 'd', TOKENS: 0, at: 5 },
    ]);
    expect(r.hooks('onRunComplete')).toEqual([{ RUN_ID: 'R', STATE: 'failed', DONE: 'a,b,c', FAILED: 'd', TOKENS: 0, REASON: undefined, at: 5 }]);
    expect(r.outcome.launched).toEqual(['a', 'b', 'c', 'd']);
    expect(r.outcome.failed).toEqual([{ id: 'd', kind: 'agent-failed', reason: 'tests fail' }]);
    expect(r.world.journalled.at(-1)).toEqual({ event: 'run-end', run: 'R', outcome: 'failed', done: 3, failed: 1 });
    expect(r.world.prepared).toEqual([{ wave: 0, ids: ['a', 'b'], at: 0 }, { wave: 1, ids: ['c', 'd'], at: 3 * MIN }]);
  });

  it('a launch that fails at once is said, counted as failed, and not waited for', async () => {
    const c = await config([{ id: 'bad', wave: 0 }, { id: 'ok', wave: 0 }]);
    for (const schedule of ['eager', 'waves'] as const) {
      const r = await sim(c, { schedule, minutes: { bad: 5, ok: 2 }, world: { launchErrorOf: (s) => (s.id === 'bad' ? 'no such program' : undefined) } });
      expect(r.said().filter((e) => e.type !== 'wave-start' && e.type !== 'wave-done')).toEqual([
        { type: 'run-start', runId: 'R', schedule, specs: 2 },
        { type: 'launch-failed', id: 'bad', reason: 'launch failed: no such program' },
        { type: 'launched', id: 'ok', pane: 'sim:ok', at: 0, attempt: 1 },
        { type: 'finished', id: 'ok', state: 'done', kind: 'done', reason: undefined },
      ]);
      expect(r.outcome.launched).toEqual(['ok']);
      expect(r.outcome.done).toEqual(['ok']);
      expect(r.outcome.failed).toEqual([{ id: 'bad', kind: 'launch-error', reason: 'launch failed: no such program' }]);
      expect(r.outcome.endedAt).toBe(2 * MIN);
      expect(r.world.journalled.at(-1)).toEqual({ event: 'run-end', run: 'R', outcome: 'failed', done: 1, failed: 1 });
    }
  });

  it('a launch that fails without a reason is said as "launch failed"', async () => {
    const c = await config([{ id: 'bad', wave: 0 }]);
    const r = await sim(c, { world: { launchErrorOf: () => 'x' }, setup: (w) => (w.launchReason = 'drop') });
    expect(r.said()).toEqual([{ type: 'run-start', runId: 'R', schedule: 'eager', specs: 1 }, { type: 'launch-failed', id: 'bad', reason: 'launch failed' }]);
    expect(r.hooks('onRunComplete')).toEqual([{ RUN_ID: 'R', STATE: 'failed', DONE: '', FAILED: 'bad', TOKENS: 0, REASON: undefined, at: 0 }]);
  });

  it('a run with nothing to do fires no run hook and ends "done"', async () => {
    const c = await config([{ id: 'x', wave: 0 }, { id: 'y', dependsOn: ['x'] }]);
    const doc = { completed: ['x', 'y'], failed: [], skipped: [] };
    for (const schedule of ['eager', 'waves'] as const) {
      const r = await sim(c, { schedule, world: { doc } });
      expect(r.world.attempts).toEqual([]);
      expect(r.world.hooks).toEqual([]);
      expect(r.said().map((e) => e.type)).toEqual(['run-start']);
      expect(r.world.journalled.at(-1)).toEqual({ event: 'run-end', run: 'R', outcome: 'done', done: 0, failed: 0 });
    }
  });

  it('works with a world that keeps no journal, runs no hooks and plans nothing', async () => {
    const c = await config([{ id: 'r', wave: 0 }, { id: 's', wave: 0 }, { id: 't', wave: 0 }], { pacing: { cooldownSeconds: { 1: 60 }, batch: { every: 2, pauseSeconds: 60, fromWave: 0 } } });
    const r = await sim(c, {
      minutes: { r: 1, s: 1, t: 1 },
      endOf: (s, n) => (s.id === 'r' && n === 1 ? { state: 'rate-limited', waitMs: MIN } : { state: 'done' }),
      wrap: (w) => ({ read: () => w.read(), housekeep: (x) => w.housekeep(x), launch: (s, id, rec, basis) => w.launch(s, id, rec, basis) }),
    });
    expect(r.outcome.done.sort()).toEqual(['r', 's', 't']);
    expect(r.world.journalled).toEqual([]);
    expect(r.world.prepared).toEqual([]);
    expect(r.world.hooks).toEqual([]);
  });
});

describe('how a run ends', () => {
  it('adopts specs still running or rate-limited from an earlier run, and reports them with --no-wait', async () => {
    const c = await config([{ id: 'run', wave: 0 }, { id: 'rl', wave: 0 }, { id: 'new', wave: 0, agent: 'b' }, { id: 'after', dependsOn: ['run'] }]);
    const doc = runningDoc({ run: { record: false } });
    markRateLimited(doc, 'rl', { until: new Date(50 * MIN).toISOString(), agent: 'a', reason: 'slow down', at: new Date(0).toISOString() });
    for (const schedule of ['eager', 'waves'] as const) {
      const r = await sim(c, { schedule, opts: { wait: false }, world: { doc, runningEndsAt: new Map([['run', 10 * MIN]]) } });
      expect(r.order()).toEqual(['new']);
      expect(r.outcome.stillRunning.sort()).toEqual(['new', 'run']);
      expect(r.outcome.rateLimited).toEqual(['rl']);
      expect(r.outcome.launched).toEqual(['new']);
      expect(r.outcome.failed).toEqual([]);
      expect(r.outcome.blocked).toBeUndefined();
      expect(r.outcome.blockedSpecs).toBeUndefined();
      expect(r.said().filter((e) => e.type === 'rate-limited')).toEqual([{ type: 'rate-limited', id: 'rl', agent: 'a', until: new Date(50 * MIN).toISOString(), reason: 'slow down' }]);
      expect(r.said().some((e) => e.type === 'wave-done')).toBe(false);
    }
  });

  it('follows an adopted runner to its end, and what waits on it starts then', async () => {
    const c = await config([{ id: 'run', wave: 0 }, { id: 'new', wave: 0 }, { id: 'after', dependsOn: ['run'] }]);
    const doc = runningDoc({ run: { record: false } });
    for (const schedule of ['eager', 'waves'] as const) {
      const r = await sim(c, { schedule, minutes: { new: 1 }, world: { doc, runningEndsAt: new Map([['run', 10 * MIN]]) } });
      expect(r.order()).toEqual(['new', 'after']);
      expect(r.start('after')).toBe(10);
      expect(r.outcome.done.sort()).toEqual(['after', 'new', 'run']);
      expect(r.said().filter((e) => e.type === 'finished').map((e) => (e as { id: string }).id)).toEqual(['new', 'run', 'after']);
      if (schedule === 'waves') expect(r.said().find((e) => e.type === 'wave-start')).toEqual({ type: 'wave-start', wave: 0, launches: 1, sequential: false });
      if (schedule === 'waves') expect(r.world.prepared[0]).toEqual({ wave: 0, ids: ['new'], at: 0 });
    }
  });

  it('a wave with only an adopted runner is waited for, not skipped', async () => {
    const c = await config([{ id: 'run', wave: 0 }, { id: 'after', dependsOn: ['run'] }]);
    const r = await sim(c, { schedule: 'waves', world: { doc: runningDoc({ run: {} }), runningEndsAt: new Map([['run', 4 * MIN]]) } });
    expect(r.start('after')).toBe(4);
    expect(r.said().filter((e) => e.type === 'wave-start')).toEqual([
      { type: 'wave-start', wave: 0, launches: 0, sequential: false },
      { type: 'wave-start', wave: 1, launches: 1, sequential: false },
    ]);
  });

  it('an adopted spec that ended before the run looked says nothing new', async () => {
    const c = await config([{ id: 'old', wave: 0 }, { id: 'new', wave: 0 }]);
    const r = await sim(c, {
      minutes: { new: 2 },
      world: { doc: runningDoc({ old: {} }) },
      setup: (w) => w.actions.push({ at: 0, whenWatching: 'old', act: (doc) => setState(doc, 'old', 'done') }),
    });
    expect(r.said().filter((e) => e.type === 'finished')).toEqual([{ type: 'finished', id: 'new', state: 'done', kind: 'done', reason: undefined }]);
    expect(r.outcome.done.sort()).toEqual(['new', 'old']);
  });

  it('a running spec skipped by hand lets its dependents start, and is neither done nor failed', async () => {
    const c = await config([{ id: 'x', wave: 0 }, { id: 'y', dependsOn: ['x'] }]);
    const r = await sim(c, {
      minutes: { x: 10, y: 1 },
      setup: (w) => w.actions.push({ at: 3 * MIN, whenWatching: 'x', act: (doc) => setState(doc, 'x', 'skipped', 'not needed') }),
    });
    expect(r.start('y')).toBe(3);
    expect(r.said().filter((e) => e.type === 'finished')).toEqual([
      { type: 'finished', id: 'x', state: 'skipped', kind: 'manual', reason: 'not needed' },
      { type: 'finished', id: 'y', state: 'done', kind: 'done', reason: undefined },
    ]);
    expect(r.outcome.done).toEqual(['y']);
    expect(r.outcome.failed).toEqual([]);
    expect(r.hooks()).toEqual([
      { WAVE: 0, RUN_ID: 'R', STATE: 'complete', DONE: '', FAILED: '', TOKENS: 0, at: 3 },
      { WAVE: 1, RUN_ID: 'R', STATE: 'complete', DONE: 'y', FAILED: '', TOKENS: 0, at: 4 },
    ]);
  });

  it('a running spec put back to pending by hand is launched again by the run, which then ends (never waits on it)', async () => {
    const c = await config([{ id: 'x', wave: 0 }]);
    const r = await sim(c, {
      minutes: { x: 10 },
      setup: (w) => w.actions.push({ at: 3 * MIN, whenWatching: 'x', act: (doc) => setState(doc, 'x', 'pending') }),
    });
    expect(r.said().filter((e) => e.type === 'relaunch')).toEqual([{ type: 'relaunch', id: 'x', why: 'put back to pending by hand' }]);
    expect(r.outcome.done).toEqual(['x']);
  });

  it('an interrupted run says so; a spec put back to pending meanwhile counts as interrupted', async () => {
    const c = await config([{ id: 'x', wave: 0 }, { id: 'y', wave: 0 }, { id: 'z', dependsOn: ['x'] }]);
    const ac = new AbortController();
    const r = await sim(c, {
      minutes: { x: 10, y: 10 },
      opts: { signal: ac.signal },
      world: { doc: runningDoc({ y: { record: false } }), runningEndsAt: new Map([['y', 10 * MIN]]) },
      setup: (w) => w.actions.push({ at: 2 * MIN, whenWatching: 'x', act: (doc) => {
        setState(doc, 'y', 'pending');
        ac.abort();
      } }),
    });
    expect(r.outcome.interrupted).toBe(true);
    // The simulated clock does not stop for the abort: x ends while the last wait runs out.
    expect(r.outcome.done).toEqual(['x']);
    expect(r.outcome.failed).toEqual([{ id: 'y', kind: 'interrupted', reason: 'pending' }]);
    expect(r.said().filter((e) => e.type === 'finished')).toEqual([]);
    expect(r.hooks('onRunComplete')).toEqual([{ RUN_ID: 'R', STATE: 'interrupted', DONE: 'x', FAILED: 'y', TOKENS: 0, REASON: undefined, at: 10 }]);
    expect(r.world.journalled.at(-1)).toEqual({ event: 'run-end', run: 'R', outcome: 'interrupted', done: 1, failed: 1 });
    expect(r.world.hooks.filter((h) => h.name === 'onWaveComplete')).toEqual([]);
  });

  it('waves: an unfinished spec of an earlier wave outside the run blocks the next wave, and the run says which', async () => {
    const c = await config([{ id: 'out', wave: 0 }, { id: 'x', wave: 0 }, { id: 'y', dependsOn: ['x', 'out'] }, { id: 'z', dependsOn: ['y'] }]);
    const scope = c.specs.filter((s) => s.id !== 'out');
    const r = await sim(c, { schedule: 'waves', opts: { scope } });
    expect(r.order()).toEqual(['x']);
    expect(r.outcome.blocked).toEqual({ wave: 1, blockers: [{ id: 'out', wave: 0, state: 'pending' }] });
    expect(r.hooks('onRunComplete')).toEqual([{ RUN_ID: 'R', STATE: 'failed', DONE: 'x', FAILED: '', TOKENS: 0, REASON: 'wave 1 blocked', at: 1 }]);
    expect(r.world.journalled.at(-1)).toEqual({ event: 'run-end', run: 'R', outcome: 'blocked', done: 1, failed: 0 });
  });

  it('eager: specs whose dependencies never complete are named, and the run ends blocked', async () => {
    const c = await config([{ id: 'out', wave: 0 }, { id: 'x', wave: 0 }, { id: 'y', dependsOn: ['out'] }]);
    const scope = c.specs.filter((s) => s.id !== 'out');
    const r = await sim(c, { opts: { scope } });
    expect(r.order()).toEqual(['x']);
    expect(r.outcome.blockedSpecs).toEqual([{ id: 'y', wave: 1, by: [{ id: 'out', wave: 0, state: 'pending' }] }]);
    expect(r.hooks('onRunComplete')).toEqual([{ RUN_ID: 'R', STATE: 'failed', DONE: 'x', FAILED: '', TOKENS: 0, REASON: '1 specs blocked', at: 1 }]);
    expect(r.world.journalled.at(-1)).toEqual({ event: 'run-end', run: 'R', outcome: 'blocked', done: 1, failed: 0 });
  });

  it('eager: waves left unfinished hear about it at the end, in wave order, and only those the run touched', async () => {
    const c = await config(
      [
        { id: 'bad', wave: 0 }, { id: 'ok', wave: 0 },
        { id: 'g2a', dependsOn: ['m1ok'] }, { id: 'g2b', dependsOn: ['m1bad'] },
        { id: 'm1ok', dependsOn: ['ok'] }, { id: 'm1bad', dependsOn: ['bad'] },
        { id: 'h3', dependsOn: ['g2b'] },
      ],
      { retry: { maxAttempts: 1 } },
    );
    const r = await sim(c, { minutes: { bad: 2 }, endOf: failing(['bad']) });
    expect(r.hooks()).toEqual([
      { WAVE: 0, RUN_ID: 'R', STATE: 'incomplete', DONE: 'ok', FAILED: 'bad', TOKENS: 0, at: 2 },
      { WAVE: 1, RUN_ID: 'R', STATE: 'incomplete', DONE: 'm1ok', FAILED: '', TOKENS: 0, at: 3 },
      { WAVE: 2, RUN_ID: 'R', STATE: 'incomplete', DONE: 'g2a', FAILED: '', TOKENS: 0, at: 3 },
    ]);
    expect(r.outcome.blockedSpecs?.map((b) => [b.id, b.by.map((x) => x.id)])).toEqual([['m1bad', ['bad']], ['g2b', ['bad']], ['h3', ['bad']]]);
  });

  it('eager: waves that complete together hear about it in wave order', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }, { id: 'c', dependsOn: ['a'] }], { pacing: { cooldownSeconds: { 1: 60 } } });
    const r = await sim(c, { minutes: { a: 1, b: 2, c: 3 } });
    expect([r.start('a'), r.start('c'), r.start('b')]).toEqual([0, 1, 2]);
    expect(r.hooks().map((h) => [h.WAVE, h.STATE, h.at])).toEqual([[0, 'complete', 4], [1, 'complete', 4]]);
  });
});

describe('budgets', () => {
  it('waves: a run budget reached exactly stops the next wave; the budget is said once and is the run hook reason', async () => {
    const c = await config([{ id: 'p', wave: 0 }, { id: 'q', wave: 0 }, { id: 'n', dependsOn: ['p'] }], { budget: { tokensPerRun: 100 } });
    const r = await sim(c, { schedule: 'waves', minutes: { p: 1, q: 2 }, world: { tokensOf: () => 50 } });
    const msg = 'token budget reached: 100 tokens used of 100 per run';
    expect(r.order()).toEqual(['p', 'q']);
    expect(r.said().filter((e) => e.type === 'budget')).toEqual([{ type: 'budget', message: msg }]);
    expect(r.outcome.budgetStop).toBe(msg);
    expect(r.outcome.tokens).toBe(100);
    expect(r.outcome.failed).toEqual([]);
    expect(r.hooks('onRunComplete')).toEqual([{ RUN_ID: 'R', STATE: 'failed', DONE: 'p,q', FAILED: '', TOKENS: 100, REASON: msg, at: 2 }]);
    expect(r.world.journalled.at(-1)).toEqual({ event: 'run-end', run: 'R', outcome: 'budget', done: 2, failed: 0 });
  });

  it('eager: once the budget is crossed nothing new launches, what runs finishes, and nothing counts as blocked', async () => {
    const c = await config([{ id: 'p', wave: 0 }, { id: 'q', wave: 0 }, { id: 'later', wave: 0 }, { id: 'dep', dependsOn: ['p'] }], { budget: { tokensPerRun: 60 }, pacing: { cooldownSeconds: { 1: 60 } } });
    const r = await sim(c, { minutes: { p: 2, q: 3, later: 1, dep: 1 }, durations: false, world: { tokensOf: () => 60 } });
    // p (0-2) crosses the budget: q (1-4) still runs to its end, later and dep never start.
    expect(r.order()).toEqual(['p', 'q']);
    expect(r.outcome.endedAt).toBe(4 * MIN);
    expect(r.outcome.done).toEqual(['p', 'q']);
    expect(r.outcome.failed).toEqual([]);
    expect(r.outcome.blockedSpecs).toBeUndefined();
    expect(r.said().filter((e) => e.type === 'budget')).toEqual([{ type: 'budget', message: 'token budget reached: 60 tokens used of 60 per run' }]);
    expect(r.hooks().map((h) => h.WAVE)).toEqual([]);
  });

  it('a budget stop leaves a rate-limited spec waiting, and ends the run', async () => {
    const c = await config([{ id: 'p', wave: 0 }, { id: 'rl', wave: 0 }], { budget: { tokensPerRun: 10 } });
    const r = await sim(c, {
      minutes: { p: 2, rl: 1 },
      world: { tokensOf: () => 10 },
      endOf: (s) => (s.id === 'rl' ? { state: 'rate-limited', waitMs: 30 * MIN } : { state: 'done' }),
    });
    expect(r.outcome.rateLimited).toEqual(['rl']);
    expect(r.outcome.done).toEqual(['p']);
    expect(r.outcome.endedAt).toBe(2 * MIN);
  });

  it('a run given an id whose tokens already reach the budget launches nothing', async () => {
    const c = await config([{ id: 'x', wave: 0 }, { id: 'y', wave: 0 }], { budget: { tokensPerRun: 5 } });
    const doc = emptyState();
    setState(doc, 'x', 'done');
    doc.dispatch!.specs.x!.history = [{ n: 1, startedAt: new Date(0).toISOString(), endedAt: new Date(0).toISOString(), state: 'done', runId: 'R', wave: 0, tokens: { input: 5, cachedInput: 0, output: 0, total: 5 } }];
    const r = await sim(c, { world: { doc } });
    expect(r.order()).toEqual([]);
    expect(r.outcome.budgetStop).toBe('token budget reached: 5 tokens used of 5 per run');
  });

  it('a wave budget counts the wave driven under waves, and any wave under eager', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }, { id: 'c', wave: 0 }, { id: 'd', dependsOn: ['a'] }], { budget: { tokensPerWave: 80 }, pacing: { cooldownSeconds: { 1: 60 } } });
    for (const schedule of ['eager', 'waves'] as const) {
      const r = await sim(c, { schedule, durations: false, minutes: { a: 1, b: 1, c: 1 }, world: { tokensOf: () => 40 } });
      expect(r.order()).toEqual(['a', 'b']);
      expect(r.outcome.budgetStop).toBe('token budget reached: 80 tokens used of 80 for wave 0');
      expect(r.said().filter((e) => e.type === 'budget')).toHaveLength(1);
    }
  });
});

describe('what the live table says the run waits for', () => {
  it('waves: the cooldown, then the batch pause, with the wave and the rows followed', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }, { id: 'c', wave: 0 }], { pacing: { cooldownSeconds: { 1: 60 }, batch: { every: 2, pauseSeconds: 600, fromWave: 0 } } });
    const r = await sim(c, { schedule: 'waves', minutes: { a: 10, b: 10, c: 10 }, opts: { rows: true } });
    expect(r.ticks()).toEqual([
      [0, 0, 'a,b,c', 1, undefined],
      [1, 0, 'a,b,c', 12, 'batch pause'],
      [10, 0, 'a,b,c', 12, 'batch pause'],
      [11, 0, 'a,b,c', 12, 'batch pause'],
      [12, 0, 'a,b,c', undefined, undefined],
      [22, 0, 'a,b,c', undefined, undefined],
    ]);
  });

  it('eager: a free slot under maxParallel, with no wave', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }, { id: 'c', wave: 0 }], { pacing: { maxParallel: 2 } });
    const r = await sim(c, { minutes: { a: 1, b: 2, c: 1 }, durations: false, opts: { rows: true } });
    expect(r.ticks()).toEqual([
      [0, undefined, 'a,b,c', undefined, 'a free slot (maxParallel 2)'],
      [1, undefined, 'a,b,c', undefined, undefined],
      [2, undefined, 'a,b,c', undefined, undefined],
    ]);
  });

  it('a sequential wave waits for the previous spec, under both schedules', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }], { waves: { 0: { sequential: true } } });
    for (const schedule of ['waves', 'eager'] as const) {
      const r = await sim(c, { schedule, minutes: { a: 1, b: 1 }, opts: { rows: true } });
      const wave = schedule === 'waves' ? 0 : undefined;
      expect(r.ticks()).toEqual([
        [0, wave, 'a,b', undefined, 'the previous spec to finish (sequential wave)'],
        [1, wave, 'a,b', undefined, undefined],
        [2, wave, 'a,b', undefined, undefined],
      ]);
    }
  });

  it('agents paused by rate limits: the one that comes off first is named, and when', async () => {
    const c = await config([{ id: 'ra', wave: 0 }, { id: 'rb', wave: 0, agent: 'b' }, { id: 'pa', wave: 0 }, { id: 'pb', wave: 0, agent: 'b' }], { pacing: { maxParallel: 2 } });
    const r = await sim(c, {
      durations: false, opts: { rows: true },
      endOf: (s, n) => (n > 1 ? { state: 'done' } : s.id === 'ra' ? { state: 'rate-limited', waitMs: 9 * MIN } : s.id === 'rb' ? { state: 'rate-limited', waitMs: 4 * MIN } : { state: 'done' }),
    });
    expect(r.ticks()).toEqual([
      [0, undefined, 'ra,rb,pa,pb', undefined, 'a free slot (maxParallel 2)'],
      [1, undefined, 'ra,rb,pa,pb', 5, 'b to come off its rate limit'],
      [5, undefined, 'ra,rb,pb,pa', 10, 'a to come off its rate limit'],
      [6, undefined, 'ra,rb,pb,pa', 10, 'a to come off its rate limit'],
      [10, undefined, 'ra,rb,pb,pa', undefined, undefined],
      [11, undefined, 'ra,rb,pb,pa', undefined, undefined],
    ]);
    expect(r.world.attempts.map((a) => [a.id, a.start / MIN])).toEqual([['ra', 0], ['rb', 0], ['rb', 5], ['pb', 5], ['ra', 10], ['pa', 10]]);
  });

  it('agents paused until the same time: the first queued is named', async () => {
    const c = await config([{ id: 'ra', wave: 0 }, { id: 'rb', wave: 0, agent: 'b' }, { id: 'pa', wave: 0 }, { id: 'pb', wave: 0, agent: 'b' }], { pacing: { maxParallel: 2 } });
    const r = await sim(c, { durations: false, opts: { rows: true }, endOf: (s, n) => (n === 1 && s.id.startsWith('r') ? { state: 'rate-limited', waitMs: 4 * MIN } : { state: 'done' }) });
    expect(r.ticks()[1]).toEqual([1, undefined, 'ra,rb,pa,pb', 5, 'a to come off its rate limit']);
  });

  it('waves: maxParallel 1 waits for a free slot, not for a sequential wave', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }], { pacing: { maxParallel: 1 } });
    const r = await sim(c, { schedule: 'waves', opts: { rows: true } });
    expect(r.ticks()[0]).toEqual([0, 0, 'a,b', undefined, 'a free slot (maxParallel 1)']);
  });

  it("an executor without room for a spec: others go meanwhile, and it goes when there is room (also with --no-wait)", async () => {
    const c = await config([{ id: 'y', wave: 0 }, { id: 'x', wave: 0 }, { id: 'z', wave: 0, agent: 'b' }]);
    for (const wait of [true, false]) {
      const r = await sim(c, {
        minutes: { y: 5, x: 1, z: 1 }, durations: false, opts: { rows: true, wait },
        setup: (w) => (w.slots = (spec, doc) => (spec.id === 'x' && stateOf(doc, 'y') === 'running' ? 'a free slot on host h1' : undefined)),
      });
      expect([r.start('y'), r.start('x'), r.start('z')]).toEqual([0, 5, 0]);
      expect(r.ticks().slice(0, 3)).toEqual([
        [0, undefined, 'y,z,x', undefined, 'a free slot on host h1'],
        [1, undefined, 'y,z,x', undefined, 'a free slot on host h1'],
        [5, undefined, 'y,z,x', undefined, undefined],
      ]);
    }
  });

  it('no ticks when the caller wants no rows', async () => {
    const c = await config([{ id: 'a', wave: 0 }]);
    const r = await sim(c, {});
    expect(r.ticks()).toEqual([]);
  });
});

describe('pacing and rate limits', () => {
  it("a rate limit widens its agent's cooldown, and a clean run narrows it back", async () => {
    const c = await config([{ id: 'r', wave: 0 }, { id: 's', wave: 0 }, { id: 't', wave: 0 }], { pacing: { cooldownSeconds: { 1: 60 }, maxParallel: 1 } });
    const r = await sim(c, { durations: false, endOf: (s, n) => (s.id === 'r' && n === 1 ? { state: 'rate-limited', waitMs: MIN } : { state: 'done' }) });
    // r is relaunched at 2 with a doubled cooldown (next launch at 4); it ends clean at 3, so s's cooldown is 1 minute again.
    expect(r.world.attempts.map((a) => [a.id, a.start / MIN])).toEqual([['r', 0], ['r', 2], ['s', 4], ['t', 5]]);
    expect(r.said().filter((e) => e.type === 'rate-limited' || e.type === 'relaunch')).toEqual([
      { type: 'rate-limited', id: 'r', agent: 'a', until: new Date(2 * MIN).toISOString(), reason: 'rate-limited' },
      { type: 'relaunch', id: 'r', why: 'the rate limit has reset' },
    ]);
    expect(r.world.journalled.filter((e) => e.event === 'rate-limit-wait')).toEqual([{ event: 'rate-limit-wait', run: 'R', agent: 'a', spec: 'r', until: new Date(2 * MIN).toISOString() }]);
  });

  it('a failure does not narrow a widened cooldown', async () => {
    const c = await config([{ id: 'r', wave: 0 }, { id: 'f', wave: 0 }, { id: 's', wave: 0 }, { id: 't', wave: 0 }], { pacing: { cooldownSeconds: { 1: 60 }, maxParallel: 2 }, retry: { maxAttempts: 1 } });
    const r = await sim(c, {
      durations: false,
      endOf: (s, n) => (s.id === 'r' && n === 1 ? { state: 'rate-limited', waitMs: MIN } : s.id === 'f' ? { state: 'failed' } : { state: 'done' }),
      world: { durationOf: (s, n) => (s.id === 'r' ? (n === 1 ? 3 : 10) : s.id === 'f' ? 2 : 1) * MIN },
    });
    // r's limit at 3 doubles the cooldown and f fails then too (no narrowing): r's relaunch at 4 and s's launch keep the 2-minute cooldown.
    expect(r.world.attempts.map((a) => [a.id, a.start / MIN])).toEqual([['r', 0], ['f', 1], ['r', 4], ['s', 6], ['t', 8]]);
  });

  it('a rate-limited spec frees its slot for a spec of another agent', async () => {
    const c = await config([{ id: 'x', wave: 0 }, { id: 'y', wave: 0, agent: 'b' }], { pacing: { maxParallel: 1 } });
    const r = await sim(c, { durations: false, minutes: { x: 1, y: 3 }, endOf: (s, n) => (s.id === 'x' && n === 1 ? { state: 'rate-limited', waitMs: 10 * MIN } : { state: 'done' }) });
    expect(r.world.attempts.map((a) => [a.id, a.start / MIN])).toEqual([['x', 0], ['y', 1], ['x', 11]]);
  });

  it('in a sequential wave a rate-limited spec keeps its place: the next waits until it is settled', async () => {
    const c = await config([{ id: 'x', wave: 0 }, { id: 'y', wave: 0, agent: 'b' }], { waves: { 0: { sequential: true } } });
    for (const schedule of ['waves', 'eager'] as const) {
      const r = await sim(c, {
        schedule,
        endOf: (s, n) => (s.id === 'x' && n === 1 ? { state: 'rate-limited', waitMs: 5 * MIN } : { state: 'done' }),
        setup: (w) => w.actions.push({ at: 3 * MIN, act: (doc) => setState(doc, 'x', 'skipped', 'by hand') }),
      });
      expect(r.world.attempts.map((a) => [a.id, a.start / MIN])).toEqual([['x', 0], ['y', 3]]);
    }
  });

  it('waves: specs whose limits reset together are relaunched in table order', async () => {
    const c = await config([{ id: 'x', wave: 0 }, { id: 'y', wave: 0, agent: 'b' }]);
    const doc = emptyState();
    markRateLimited(doc, 'y', { until: new Date(5 * MIN).toISOString(), agent: 'b', reason: 'limit', at: new Date(0).toISOString() });
    const r = await sim(c, { schedule: 'waves', world: { doc }, endOf: (s, n) => (s.id === 'x' && n === 1 ? { state: 'rate-limited', waitMs: 4 * MIN } : { state: 'done' }) });
    expect(r.world.attempts.map((a) => [a.id, a.start / MIN])).toEqual([['x', 0], ['x', 5], ['y', 5]]);
    expect(r.said().filter((e) => e.type === 'relaunch')).toEqual([
      { type: 'relaunch', id: 'x', why: 'the rate limit has reset' },
      { type: 'relaunch', id: 'y', why: 'the rate limit has reset' },
    ]);
  });
});

describe('AgentPacing', () => {
  it('pauses an agent until the latest limit, widens its cooldowns up to 16x, and narrows them back to 1x', () => {
    const p = new AgentPacing(2);
    expect([p.pausedUntil('a'), p.factorOf('a')]).toEqual([0, 1]);
    p.rateLimited('a', 100);
    expect([p.pausedUntil('a'), p.factorOf('a')]).toEqual([100, 2]);
    p.rateLimited('a', 50);
    expect([p.pausedUntil('a'), p.factorOf('a')]).toEqual([100, 4]);
    for (let i = 0; i < 3; i++) p.rateLimited('a', 200);
    expect([p.pausedUntil('a'), p.factorOf('a')]).toEqual([200, 16]);
    expect([p.pausedUntil('b'), p.factorOf('b')]).toEqual([0, 1]);
    p.clean('a');
    expect(p.factorOf('a')).toBe(8);
    for (let i = 0; i < 4; i++) p.clean('a');
    expect(p.factorOf('a')).toBe(1);
    const q = new AgentPacing(3);
    q.rateLimited('a', 1);
    expect(q.factorOf('a')).toBe(3);
  });
});

describe("merge: 'auto'", () => {
  it('waits while an agent works in the project tree, then merges and the dependent starts', async () => {
    const c = await config([{ id: 'iso', wave: 0, mode: 'isolated' }, { id: 'dir', wave: 0 }, { id: 'dep', dependsOn: ['iso'] }], { merge: 'auto' });
    const r = await sim(c, { minutes: { iso: 4, dir: 10 } });
    expect(r.world.merges).toEqual([{ id: 'iso', at: 10 * MIN, ok: true }]);
    expect(r.start('dep')).toBe(10);
    expect(r.said().filter((e) => e.type === 'merged')).toEqual([{ type: 'merged', id: 'iso', ok: true }]);
  });

  it('a merge refused for a reason that may pass is tried again a minute on', async () => {
    const c = await config([{ id: 'q', wave: 0 }, { id: 'iso', wave: 0, mode: 'isolated' }, { id: 'long', dependsOn: ['q'], mode: 'isolated' }, { id: 'dep', dependsOn: ['iso'] }], { merge: 'auto' });
    const r = await sim(c, { minutes: { q: 0.5, iso: 4, long: 30 }, setup: (w) => (w.mergeReplies = [{ ok: false, reason: 'the tree is dirty' }, { ok: true }]) });
    expect(r.world.merges).toEqual([{ id: 'iso', at: 4 * MIN, ok: false }, { id: 'iso', at: 5 * MIN, ok: true }, { id: 'long', at: 30.5 * MIN, ok: true }]);
    expect(r.start('dep')).toBe(5);
    expect(r.said().filter((e) => e.type === 'merged')).toEqual([
      { type: 'merged', id: 'iso', ok: false, reason: 'the tree is dirty' },
      { type: 'merged', id: 'iso', ok: true },
      { type: 'merged', id: 'long', ok: true },
    ]);
    // Wave 0 is over for this run at 4 (the merge waits): its hook fires once, not again when the merge goes through.
    expect(r.hooks().map((h) => [h.WAVE, h.STATE, h.at])).toEqual([[0, 'incomplete', 4], [1, 'complete', 30.5]]);
  });

  it('a refused merge is not waited for once nothing else can happen', async () => {
    const c = await config([{ id: 'iso', wave: 0, mode: 'isolated' }, { id: 'dep', dependsOn: ['iso'] }], { merge: 'auto' });
    const r = await sim(c, { minutes: { iso: 4 }, setup: (w) => (w.mergeReplies = [{ ok: false, reason: 'busy' }]) });
    expect(r.world.merges).toEqual([{ id: 'iso', at: 4 * MIN, ok: false }]);
    expect(r.outcome.endedAt).toBe(4 * MIN);
    expect(r.outcome.blockedSpecs).toEqual([{ id: 'dep', wave: 1, by: [{ id: 'iso', wave: 0, state: 'awaiting merge' }] }]);
  });

  it('a conflict is said as a failed verdict; failed and direct specs are not merged', async () => {
    const c = await config([{ id: 'iso', wave: 0, mode: 'isolated' }, { id: 'isoBad', wave: 0, mode: 'isolated' }, { id: 'dir', wave: 0 }], { merge: 'auto', retry: { maxAttempts: 1 } });
    const r = await sim(c, { minutes: { iso: 2, isoBad: 1, dir: 1 }, endOf: failing(['isoBad']), world: { conflictOf: (s) => s.id === 'iso' } });
    expect(r.world.merges).toEqual([{ id: 'iso', at: 2 * MIN, ok: false }]);
    expect(r.said().filter((e) => e.type === 'merged' || (e.type === 'finished' && e.id === 'iso'))).toEqual([
      { type: 'finished', id: 'iso', state: 'done', kind: 'done', reason: undefined },
      { type: 'merged', id: 'iso', ok: false, reason: 'merge conflict (simulated)' },
      { type: 'finished', id: 'iso', state: 'failed', kind: 'merge-conflict', reason: 'merge conflict (simulated)' },
    ]);
    expect(r.outcome.failed).toEqual([{ id: 'iso', kind: 'merge-conflict', reason: 'merge conflict (simulated)' }, { id: 'isoBad', kind: 'agent-failed', reason: 'tests fail' }]);
  });
});

describe('the state changed by others', () => {
  it('in a world others change, a held spec starts when its dependency is completed by hand', async () => {
    const c = await config([{ id: 'parent', wave: 0 }, { id: 'parent2', wave: 0 }, { id: 'long', wave: 0 }, { id: 'child', dependsOn: ['parent'] }, { id: 'other', dependsOn: ['parent2'] }]);
    const scope = c.specs.filter((s) => ['long', 'child', 'other'].includes(s.id));
    for (const external of [true, false]) {
      const r = await sim(c, {
        minutes: { long: 10 }, opts: { scope },
        setup: (w) => {
          w.external = external;
          w.actions.push({ at: 2 * MIN, act: (doc) => setState(doc, 'parent', 'skipped', 'by hand') });
        },
      });
      expect(r.order()).toEqual(external ? ['long', 'child'] : ['long']);
      if (external) expect(r.start('child')).toBe(2);
      expect(r.outcome.blockedSpecs).toEqual([{ id: 'other', wave: 1, by: [{ id: 'parent2', wave: 0, state: 'pending' }] }]);
    }
  });

  it('housekeeping runs about once a second, on the specs followed', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }, { id: 'c', wave: 0 }, { id: 'd', wave: 0 }]);
    const r = await sim(c, { ms: { a: 500, b: 1000, c: 1500, d: 2500 }, durations: false });
    expect(r.world.housekept).toEqual([
      { at: 0, watched: [] },
      { at: 0, watched: [] },
      { at: 1000, watched: ['a', 'b', 'c', 'd'] },
      { at: 2500, watched: ['a', 'b', 'c', 'd'] },
    ]);
  });

  it('waves: what was complete when a wave started is not looked at again by this run', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', dependsOn: ['a'] }, { id: 'c', dependsOn: ['b'] }]);
    const r = await sim(c, {
      schedule: 'waves', minutes: { b: 3 },
      setup: (w) => w.actions.push({ at: 2 * MIN, act: (doc) => setState(doc, 'a', 'failed', 'marked failed by hand', 'manual') }),
    });
    expect(r.world.attempts.map((a) => [a.id, a.start / MIN])).toEqual([['a', 0], ['b', 1], ['c', 4]]);
    expect(r.outcome.blocked).toBeUndefined();
  });
});

describe('order of launches', () => {
  it('eager: a sequential wave keeps table order even when a later spec is ready first', async () => {
    const c = await config([{ id: 'slow', wave: 0 }, { id: 'fast', wave: 0 }, { id: 's1', dependsOn: ['slow'] }, { id: 's2', dependsOn: ['fast'] }], { waves: { 1: { sequential: true } } });
    const r = await sim(c, { minutes: { slow: 5, fast: 1 } });
    expect(r.world.attempts.map((a) => [a.id, a.start / MIN])).toEqual([['slow', 0], ['fast', 0], ['s1', 5], ['s2', 6]]);
  });

  it('waves: a retry in a sequential wave goes before the specs after it; elsewhere after them', async () => {
    for (const sequential of [true, false]) {
      const c = await config([{ id: 'x', wave: 0 }, { id: 'y', wave: 0 }, { id: 'z', wave: 0 }], sequential ? { waves: { 0: { sequential: true } } } : { pacing: { maxParallel: 1 } });
      const r = await sim(c, { schedule: 'waves', endOf: (s, n) => (s.id === 'x' && n === 1 ? { state: 'failed' } : { state: 'done' }) });
      expect(r.order()).toEqual(sequential ? ['x', 'x', 'y', 'z'] : ['x', 'y', 'z', 'x']);
      expect(r.outcome.launched).toEqual(['x', 'y', 'z']);
    }
  });

  it('eager: a spec released by its dependency goes before queued specs with less work behind them', async () => {
    const c = await config([{ id: 'x', wave: 0 }, { id: 'y', wave: 0 }, { id: 'z', wave: 0 }, { id: 'k', dependsOn: ['x'] }, { id: 'k2', dependsOn: ['k'] }], { pacing: { maxParallel: 1 } });
    const r = await sim(c, {});
    // k (two specs behind it) goes before y and z; k2 ties with them and the table decides.
    expect(r.order()).toEqual(['x', 'k', 'y', 'z', 'k2']);
  });

  it('eager without expected durations goes in table order', async () => {
    const c = await config([{ id: 'p', wave: 0 }, { id: 'q', wave: 0 }, { id: 'r', wave: 0 }, { id: 's', wave: 0 }], { pacing: { maxParallel: 1 } });
    const r = await sim(c, { durations: false, minutes: { p: 1, q: 2, r: 3, s: 4 } });
    expect(r.order()).toEqual(['p', 'q', 'r', 's']);
  });

  it('waves go in wave order whatever the order of the scope', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', dependsOn: ['a'] }, { id: 'c', dependsOn: ['b'] }]);
    const r = await sim(c, { schedule: 'waves', opts: { scope: [...c.specs].reverse() } });
    expect(r.world.attempts.map((a) => [a.id, a.start / MIN])).toEqual([['a', 0], ['b', 1], ['c', 2]]);
    expect(r.said().filter((e) => e.type === 'wave-start').map((e) => (e as { wave: number }).wave)).toEqual([0, 1, 2]);
  });

  it('the cooldown counts from when a launch is on record, not from when its pane answered', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }], { pacing: { cooldownSeconds: { 1: 60 } } });
    const r = await sim(c, { durations: false, setup: (w) => (w.launchDelayMs = 10 * SEC) });
    // a is on record at 0:10 and answers at 0:20; b is on record at 1:10.
    expect(r.world.attempts.map((a) => a.start / SEC)).toEqual([10, 80]);
    expect(r.said().filter((e) => e.type === 'launched').map((e) => (e as { at: number }).at / SEC)).toEqual([20, 90]);
  });
});

describe('which specs a run launches', () => {
  const rows: Row[] = [{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }, { id: 'c', dependsOn: ['a'] }];

  it('--spec waits only on its own dependencies', async () => {
    const c = await config(rows);
    const scope = c.specs.filter((s) => s.id === 'c');
    const blockedDoc = emptyState();
    setState(blockedDoc, 'a', 'failed', 'broken', 'agent-failed');
    const blocked = await sim(c, { schedule: 'waves', opts: { scope, explicit: new Set(['c']) }, world: { doc: blockedDoc } });
    expect(blocked.order()).toEqual([]);
    expect(blocked.outcome.blocked).toEqual({ wave: 1, blockers: [{ id: 'a', wave: 0, state: 'failed', reason: 'broken' }] });
    const ok = await sim(c, { schedule: 'waves', opts: { scope, explicit: new Set(['c']) }, world: { doc: { completed: ['a'], failed: [], skipped: [] } } });
    expect(ok.order()).toEqual(['c']);
  });

  it('a failed spec named with --spec is launched again whatever the policy; a done one is not', async () => {
    const c = await config(rows);
    const doc = emptyState();
    setState(doc, 'a', 'failed', 'marked failed', 'manual');
    setState(doc, 'b', 'done');
    for (const schedule of ['waves', 'eager'] as const) {
      const named = await sim(c, { schedule, opts: { scope: c.specs.filter((s) => s.wave === 0), explicit: new Set(['a', 'b']) }, world: { doc } });
      expect(named.order()).toEqual(['a']);
      const policy = await sim(c, { schedule, opts: { scope: c.specs.filter((s) => s.wave === 0) }, world: { doc } });
      expect(policy.order()).toEqual([]);
    }
  });

  it('a failure the retry policy allows is relaunched by the next run; a done spec is not', async () => {
    const c = await config(rows);
    const doc = emptyState();
    setState(doc, 'a', 'failed', 'tests fail', 'agent-failed');
    doc.dispatch!.specs.a!.attempts = 1;
    setState(doc, 'b', 'done');
    for (const schedule of ['waves', 'eager'] as const) {
      const r = await sim(c, { schedule, world: { doc } });
      expect(r.order()).toEqual(['a', 'c']);
      expect(r.outcome.done).toEqual(['a', 'c']);
      if (schedule === 'waves') expect(r.world.prepared).toEqual([{ wave: 0, ids: ['a'], at: 0 }, { wave: 1, ids: ['c'], at: MIN }]);
    }
  });
});

describe('readiness', () => {
  const at = new Date(0).toISOString();
  async function table() {
    return config([
      { id: 'a', wave: 0 }, { id: 'b', wave: 0 }, { id: 'iso', wave: 0, mode: 'isolated' },
      { id: 'c', dependsOn: ['a'] }, { id: 'd', dependsOn: ['b', 'iso'] },
      { id: 'e', dependsOn: ['c', 'd'] },
    ]);
  }

  it('names a blocker by its state, awaiting merge, and its reason', () => {
    const doc = emptyState();
    setState(doc, 'a', 'failed', 'tests fail');
    setState(doc, 'iso', 'done');
    doc.dispatch!.specs.iso!.awaitingMerge = true;
    setState(doc, 'b', 'done');
    expect(blockerOf(doc, { id: 'a', wave: 0 })).toEqual({ id: 'a', wave: 0, state: 'failed', reason: 'tests fail' });
    expect(blockerOf(doc, { id: 'iso', wave: 0 })).toEqual({ id: 'iso', wave: 0, state: 'awaiting merge' });
    expect(blockerOf(doc, { id: 'b', wave: 0 })).toEqual({ id: 'b', wave: 0, state: 'done' });
    const marked = emptyState();
    marked.dispatch = { version: 1, running: {}, specs: { x: { awaitingMerge: true } } };
    expect(blockerOf(marked, { id: 'x', wave: 0 })).toEqual({ id: 'x', wave: 0, state: 'pending' });
    expect(blockerOf(emptyState(), { id: 'x', wave: 3 })).toEqual({ id: 'x', wave: 3, state: 'pending' });
    // A file of the original tool: done, with no record of dispatch's own.
    expect(blockerOf({ completed: ['x'], failed: [], skipped: [] }, { id: 'x', wave: 1 })).toEqual({ id: 'x', wave: 1, state: 'done' });
  });

  it('lists the unfinished specs of earlier waves, and for --spec only its own dependencies', async () => {
    const c = await table();
    const doc = emptyState();
    setState(doc, 'a', 'done');
    setState(doc, 'b', 'failed', 'broken');
    expect(blockersBefore(c, doc, 1)).toEqual([{ id: 'b', wave: 0, state: 'failed', reason: 'broken' }, { id: 'iso', wave: 0, state: 'pending' }]);
    expect(blockersBefore(c, doc, 2).map((b) => b.id)).toEqual(['b', 'iso', 'c', 'd']);
    expect(blockersBefore(c, doc, 0)).toEqual([]);
    const c1 = c.specs.find((s) => s.id === 'c')!;
    const d1 = c.specs.find((s) => s.id === 'd')!;
    expect(dependencyBlockers(c, doc, [c1], 1)).toEqual([]);
    expect(dependencyBlockers(c, doc, [d1], 1).map((b) => b.id)).toEqual(['b', 'iso']);
    expect(dependencyBlockers(c, doc, [c1, d1], 1).map((b) => b.id)).toEqual(['b', 'iso']);
  });

  it('blames the root of a chain of waiting specs, once each', async () => {
    const c = await table();
    const doc = emptyState();
    setState(doc, 'a', 'failed', 'tests fail');
    setState(doc, 'b', 'skipped');
    setState(doc, 'iso', 'done');
    doc.dispatch!.specs.iso!.awaitingMerge = true;
    expect(blockedRoots(c, doc, ['e', 'c', 'd'])).toEqual([
      { id: 'e', wave: 2, by: [{ id: 'a', wave: 0, state: 'failed', reason: 'tests fail' }, { id: 'iso', wave: 0, state: 'awaiting merge' }] },
      { id: 'c', wave: 1, by: [{ id: 'a', wave: 0, state: 'failed', reason: 'tests fail' }] },
      { id: 'd', wave: 1, by: [{ id: 'iso', wave: 0, state: 'awaiting merge' }] },
    ]);
    // A failed dependency (not pending) is the blocker itself, whatever it waits on.
    const failedMid = emptyState();
    setState(failedMid, 'c', 'failed', 'own failure');
    setState(failedMid, 'd', 'done');
    expect(blockedRoots(c, failedMid, ['e'])).toEqual([{ id: 'e', wave: 2, by: [{ id: 'c', wave: 1, state: 'failed', reason: 'own failure' }] }]);
    // A pending dependency whose own dependencies are complete is the blocker (it could not start).
    const ready = emptyState();
    setState(ready, 'a', 'done');
    setState(ready, 'd', 'done');
    expect(blockedRoots(c, ready, ['e'])).toEqual([{ id: 'e', wave: 2, by: [{ id: 'c', wave: 1, state: 'pending' }] }]);
  });

  it('counts the tokens of this run, per wave', () => {
    const doc = emptyState();
    doc.dispatch = {
      version: 1, running: {},
      specs: {
        x: { history: [
          { n: 1, startedAt: at, runId: 'R', wave: 0, tokens: { input: 0, cachedInput: 0, output: 0, total: 10 } },
          { n: 2, startedAt: at, runId: 'old', wave: 0, tokens: { input: 0, cachedInput: 0, output: 0, total: 1000 } },
          { n: 3, startedAt: at, runId: 'R', wave: 0 },
        ] },
        y: { history: [{ n: 1, startedAt: at, runId: 'R', wave: 1, tokens: { input: 0, cachedInput: 0, output: 0, total: 5 } }, { n: 2, startedAt: at, runId: 'R', tokens: { input: 0, cachedInput: 0, output: 0, total: 7 } }] },
        z: {},
      },
    };
    expect(tokensUsed(doc, 'R')).toBe(22);
    expect(tokensUsed(doc, 'R', 0)).toBe(10);
    expect(tokensUsed(doc, 'R', 1)).toBe(5);
    expect(tokensUsed(doc, 'nobody')).toBe(0);
    expect(tokensUsed(emptyState(), 'R')).toBe(0);
    expect(tokensByWave(doc, 'R')).toEqual(new Map([[0, 10], [1, 5]]));
    expect(tokensByWave(emptyState(), 'R')).toEqual(new Map());
  });
});

describe('estimates', () => {
  const iso = (m: number) => new Date(Date.UTC(2026, 0, 1, 0, m)).toISOString();

  it('takes the median of the done attempts that have a sane duration, or the estimate by cost', async () => {
    const c = await config([{ id: 'h', wave: 0 }, { id: 'none', wave: 0, cost: 2 }, { id: 'zero', wave: 0 }]);
    const doc = emptyState();
    doc.dispatch = {
      version: 1, running: {},
      specs: {
        h: { history: [
          { n: 1, startedAt: iso(0), endedAt: iso(12), state: 'done' },
          { n: 2, startedAt: iso(20), endedAt: iso(22), state: 'done' },
          { n: 3, startedAt: iso(30), endedAt: iso(20), state: 'done' },
          { n: 4, startedAt: 'garbage', endedAt: iso(20), state: 'done' },
          { n: 5, startedAt: iso(30), state: 'done' },
          { n: 6, startedAt: iso(30), endedAt: iso(90), state: 'failed' },
        ] },
        zero: { history: [{ n: 1, startedAt: iso(5), endedAt: iso(5), state: 'done' }] },
      },
    };
    const d = estimateDurations(c, doc, c.specs);
    expect(d.get('h')).toEqual({ ms: 7 * MIN, from: 'history' });
    expect(d.get('none')).toEqual({ ms: 15 * MIN, from: 'cost' });
    expect(d.get('zero')).toEqual({ ms: 0, from: 'history' });
    expect(estimateDurations(c, doc, c.specs, 'cost').get('h')).toEqual({ ms: 5 * MIN, from: 'cost' });
    expect(estimateDurations(c, emptyState(), c.specs).get('h')).toEqual({ ms: 5 * MIN, from: 'cost' });
    // Only a nonsensical duration on record (ended before it started): the estimate by cost.
    const bad = { completed: [], failed: [], skipped: [], dispatch: { version: 1 as const, running: {}, specs: { h: { history: [{ n: 1, startedAt: iso(30), endedAt: iso(20), state: 'done' as const }] } } } };
    expect(estimateDurations(c, bad, c.specs).get('h')).toEqual({ ms: 5 * MIN, from: 'cost' });
  });

  it('median sorts numerically and averages the middle pair', () => {
    expect(median([30, 4, 100])).toBe(30);
    expect(median([10, 2, 40, 8])).toBe(9);
    expect(median([3, 1])).toBe(2);
    expect(median([5])).toBe(5);
  });

  it('bottom levels and the critical path follow the longest chain of dependents in scope', async () => {
    const c = await config([
      { id: 'a', wave: 0 }, { id: 'b', wave: 0 }, { id: 'c', dependsOn: ['a'] }, { id: 'd', dependsOn: ['a', 'b'] }, { id: 'e', dependsOn: ['d'] },
    ]);
    const d = new Map([['a', 1], ['b', 10], ['c', 20], ['d', 2], ['e', 3]].map(([id, m]) => [id as string, { ms: (m as number) * MIN, from: 'cost' as const }]));
    expect(bottomLevels(c.specs, d)).toEqual(new Map([['e', 3 * MIN], ['c', 20 * MIN], ['d', 5 * MIN], ['a', 21 * MIN], ['b', 15 * MIN]]));
    expect(criticalPath(c.specs, d)).toEqual({ ms: 21 * MIN, ids: ['a', 'c'] });
    // Out of scope, c does not count: a's chain goes through d.
    const noC = c.specs.filter((s) => s.id !== 'c');
    expect(bottomLevels(noC, d).get('a')).toBe(6 * MIN);
    expect(criticalPath(noC, d)).toEqual({ ms: 15 * MIN, ids: ['b', 'd', 'e'] });
    // A spec without an estimate counts as nothing.
    expect(bottomLevels(c.specs, new Map()).get('a')).toBe(0);
    expect(criticalPath([], d)).toEqual({ ms: 0, ids: [] });
    // Ties keep the first in table order.
    const tie = new Map(c.specs.map((s) => [s.id, { ms: MIN, from: 'cost' as const }]));
    expect(criticalPath(c.specs, tie)).toEqual({ ms: 3 * MIN, ids: ['a', 'd', 'e'] });
    // Dependents with equal chains: the first in table order.
    const twins = await config([{ id: 'r', wave: 0 }, { id: 't1', dependsOn: ['r'] }, { id: 't2', dependsOn: ['r'] }]);
    expect(criticalPath(twins.specs, new Map(twins.specs.map((s) => [s.id, { ms: MIN, from: 'cost' as const }]))).ids).toEqual(['r', 't1']);
  });

  it('the lower bound counts cooldowns and batch pauses per wave under waves and over the run under eager', async () => {
    const rows: Row[] = [{ id: 'a', wave: 0 }, { id: 'b', wave: 0, cost: 2 }, { id: 'c', wave: 0 }, { id: 'd', dependsOn: ['a'] }, { id: 'e', dependsOn: ['a'] }, { id: 'f', dependsOn: ['a'] }];
    const c = await config(rows, { pacing: { cooldownSeconds: { 1: 60, 2: 120 }, batch: { every: 2, pauseSeconds: 600, fromWave: 1 } } });
    const d = new Map(c.specs.map((s) => [s.id, { ms: (s.id === 'f' ? 3 : 4) * MIN, from: 'cost' as const }]));
    // eager: cooldowns 1+2+1+1+1+1 less the longest (2) = 5 min; 3 launches from wave 1 → one pause (10 min); then the shortest spec (3 min).
    expect(lowerBound(c, c.specs, d, 'eager')).toEqual({ ms: 18 * MIN, by: 'pacing', criticalPathMs: 8 * MIN, workMs: 0, pacingMs: 18 * MIN, sequentialMs: 0 });
    // waves: wave 0 cooldowns 1+2+1 less 2, wave 1 1+1+1 less 1 = 4 min; one pause in wave 1; 3 min.
    expect(lowerBound(c, c.specs, d, 'waves')).toEqual({ ms: 17 * MIN, by: 'pacing', criticalPathMs: 8 * MIN, workMs: 0, pacingMs: 17 * MIN, sequentialMs: 0 });
    // Batches counted from wave 0: eager 5 launches after the first → 2 pauses; waves 1 pause in each wave.
    const c0 = await config(rows, { pacing: { cooldownSeconds: { 1: 0, 2: 0 }, batch: { every: 2, pauseSeconds: 60, fromWave: 0 } } });
    expect(lowerBound(c0, c0.specs, d, 'eager').pacingMs).toBe(5 * MIN);
    expect(lowerBound(c0, c0.specs, d, 'waves').pacingMs).toBe(5 * MIN);
    const c3 = await config(rows, { pacing: { cooldownSeconds: { 1: 0, 2: 0 }, batch: { every: 3, pauseSeconds: 60, fromWave: 0 } } });
    expect(lowerBound(c3, c3.specs, d, 'eager').pacingMs).toBe(4 * MIN);
    expect(lowerBound(c3, c3.specs, d, 'waves').pacingMs).toBe(3 * MIN);
  });

  it('the lower bound of a sequential wave is its specs one after another; of nothing, zero', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }, { id: 'c', dependsOn: ['a'] }, { id: 'x', dependsOn: ['a'] }], { waves: { 1: { sequential: true }, 0: { sequential: true } } });
    const d = new Map([['a', 2], ['b', 3], ['c', 6], ['x', 7]].map(([id, m]) => [id as string, { ms: (m as number) * MIN, from: 'cost' as const }]));
    expect(lowerBound(c, c.specs, d, 'eager')).toEqual({ ms: 13 * MIN, by: 'sequential wave', criticalPathMs: 9 * MIN, workMs: 0, pacingMs: 2 * MIN, sequentialMs: 13 * MIN });
    // A spec without an estimate counts as nothing.
    expect(lowerBound(c, c.specs, new Map([['a', { ms: MIN, from: 'cost' as const }]]), 'eager').sequentialMs).toBe(MIN);
    expect(lowerBound(c, [], d, 'waves')).toEqual({ ms: 0, by: 'critical path', criticalPathMs: 0, workMs: 0, pacingMs: 0, sequentialMs: 0 });
    const one = await config([{ id: 'a', wave: 0 }], { pacing: { maxParallel: 1 } });
    expect(lowerBound(one, one.specs, new Map([['a', { ms: MIN, from: 'cost' }]]), 'eager')).toEqual({ ms: MIN, by: 'critical path', criticalPathMs: MIN, workMs: MIN, pacingMs: MIN, sequentialMs: 0 });
  });
});

describe('what a run says, in its corners', () => {
  it('the hooks list every failed spec, comma-separated, for the wave and for the run', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }, { id: 'c', wave: 0 }], { retry: { maxAttempts: 1 } });
    const r = await sim(c, { schedule: 'waves', minutes: { a: 1, b: 2, c: 3 }, endOf: failing(['a', 'c']) });
    expect(r.hooks()).toEqual([{ WAVE: 0, RUN_ID: 'R', STATE: 'incomplete', DONE: 'b', FAILED: 'a,c', TOKENS: 0, at: 3 }]);
    expect(r.hooks('onRunComplete')).toEqual([{ RUN_ID: 'R', STATE: 'failed', DONE: 'b', FAILED: 'a,c', TOKENS: 0, REASON: undefined, at: 3 }]);
  });

  it("an agent's quota exhausted with no reason given is said as 'quota exhausted', and its other specs wait for a later run", async () => {
    const c = await config([{ id: 'x', wave: 0 }, { id: 'y', wave: 0 }, { id: 'z', wave: 0, agent: 'b' }], { pacing: { maxParallel: 1 } });
    const r = await sim(c, {
      minutes: { x: 5, y: 1, z: 1 }, durations: false,
      // A runner that said only its kind (an older one, or one cut short).
      setup: (w) => w.actions.push({ at: MIN, whenWatching: 'x', act: (doc) => setState(doc, 'x', 'failed', undefined, 'quota-exhausted') }),
    });
    expect(r.said().filter((e) => e.type === 'quota-exhausted')).toEqual([{ type: 'quota-exhausted', agent: 'a', id: 'x', reason: 'quota exhausted' }]);
    expect(r.order()).toEqual(['x', 'z']);
    expect(stateOf(r.world.doc, 'y')).toBe('pending');
  });
});

describe('a run that stops between waves', () => {
  it('a budget crossed in one wave: the next wave is neither started nor reported blocked', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }, { id: 'c', wave: 1 }], { budget: { tokensPerRun: 50 }, pacing: { maxParallel: 1 } });
    const r = await sim(c, { schedule: 'waves', durations: false, world: { tokensOf: () => 60 } });
    expect(r.order()).toEqual(['a']);
    expect(r.outcome.budgetStop).toBe('token budget reached: 60 tokens used of 50 per run');
    expect(r.outcome.blocked).toBeUndefined();
    // b was never launched: not a failure of this run, it waits for the next one.
    expect(r.outcome.done).toEqual(['a']);
    expect(r.outcome.failed).toEqual([]);
    expect(r.said().filter((e) => e.type === 'wave-start').map((e) => (e as { wave: number }).wave)).toEqual([0]);
  });

  it('Ctrl-C during a wave: the next wave is neither started nor reported blocked', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 1 }]);
    const ac = new AbortController();
    const r = await sim(c, {
      schedule: 'waves', minutes: { a: 5 }, opts: { signal: ac.signal },
      setup: (w) => w.actions.push({ at: MIN, whenWatching: 'a', act: () => ac.abort() }),
    });
    expect(r.order()).toEqual(['a']);
    expect(r.outcome.interrupted).toBe(true);
    expect(r.outcome.blocked).toBeUndefined();
    expect(r.said().filter((e) => e.type === 'wave-start').map((e) => (e as { wave: number }).wave)).toEqual([0]);
  });
});

describe('--no-wait still launches everything it may, as room comes', () => {
  it('a free slot under maxParallel', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }], { pacing: { maxParallel: 1 } });
    const r = await sim(c, { minutes: { a: 2, b: 1 }, durations: false, opts: { wait: false } });
    expect([r.start('a'), r.start('b')]).toEqual([0, 2]);
  });

  it('the previous spec of a sequential wave', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }], { waves: { 0: { sequential: true } } });
    for (const schedule of ['waves', 'eager'] as const) {
      const r = await sim(c, { schedule, minutes: { a: 2, b: 1 }, opts: { wait: false } });
      expect([r.start('a'), r.start('b')], schedule).toEqual([0, 2]);
    }
  });

  it("the end of its agent's rate limit: the queued spec of that agent goes then (and the limited one, now due, first)", async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0, agent: 'b' }, { id: 'c', wave: 0 }], { pacing: { maxParallel: 2 } });
    const r = await sim(c, { durations: false, opts: { wait: false }, endOf: (s, n) => (s.id === 'a' && n === 1 ? { state: 'rate-limited', waitMs: 4 * MIN } : { state: 'done' }), ms: { a: 10 * SEC, b: 10 * MIN, c: MIN } });
    expect(r.order()).toEqual(['a', 'b', 'a', 'c']);
    expect(r.starts('a')[1]).toBeCloseTo(4 + 10 / 60);
    expect(r.start('c')).toBeGreaterThanOrEqual(4 + 10 / 60);
  });
});

describe('the order of launches when several may go', () => {
  it('eager: a retry goes before a spec of the same priority that comes later in the table', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }], { pacing: { maxParallel: 1 }, retry: { maxAttempts: 2 } });
    const r = await sim(c, { minutes: { a: 1, b: 1 }, endOf: (s, n) => (s.id === 'a' && n === 1 ? { state: 'failed', reason: 'flaky' } : { state: 'done' }) });
    expect(r.order()).toEqual(['a', 'a', 'b']);
  });

  it('waves: specs whose rate limits end together go again in table order', async () => {
    const zero = { 1: 0, 2: 0, 3: 0, 4: 0 };
    const c = await config([{ id: 'b', wave: 0 }, { id: 'a', wave: 0, agent: 'b' }], { pacing: { cooldownSeconds: zero } });
    const r = await sim(c, { schedule: 'waves', minutes: { a: 1, b: 1 }, endOf: (_s, n) => (n === 1 ? { state: 'rate-limited', waitMs: 2 * MIN } : { state: 'done' }) });
    expect(r.order()).toEqual(['b', 'a', 'b', 'a']);
  });

  it('after the last launch of a batch there is nothing to pause for: the live table says so', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }], { pacing: { cooldownSeconds: { 1: 60 }, batch: { every: 2, pauseSeconds: 600, fromWave: 0 } } });
    const r = await sim(c, { schedule: 'waves', minutes: { a: 5, b: 5 }, opts: { rows: true } });
    expect(r.ticks()[1]).toEqual([1, 0, 'a,b', undefined, undefined]);
    expect(r.ticks().filter((t) => t[4] === 'batch pause')).toEqual([]);
  });
});

describe("merge: 'auto', in its corners", () => {
  it('a refused merge is said once, as refused: the spec stays done, never reported failed', async () => {
    const c = await config([{ id: 'iso', wave: 0, mode: 'isolated' }, { id: 'other', wave: 0, mode: 'isolated' }, { id: 'long', wave: 0, mode: 'isolated' }], { merge: 'auto', pacing: { cooldownSeconds: { 1: 0 } } });
    const r = await sim(c, { minutes: { iso: 4, other: 4.5, long: 10 }, durations: false, setup: (w) => (w.mergeReplies = [{ ok: false, reason: 'the tree is dirty' }]) });
    // Tried again a minute on, not at the next thing that happens (other's end at 4.5).
    expect(r.world.merges.map((m) => [m.id, m.at / MIN, m.ok])).toEqual([['iso', 4, false], ['other', 4.5, true], ['iso', 5, true], ['long', 10, true]]);
    expect(r.said().filter((e) => e.type === 'finished' && e.id === 'iso')).toEqual([{ type: 'finished', id: 'iso', state: 'done', kind: 'done', reason: undefined }]);
  });

  it('a direct spec waiting out a rate limit does not hold a merge back (its agent is not at work in the tree)', async () => {
    const c = await config([{ id: 'iso', wave: 0, mode: 'isolated' }, { id: 'dir', wave: 0, agent: 'b' }], { merge: 'auto' });
    const r = await sim(c, { ms: { iso: 2 * MIN, dir: 30 * SEC }, durations: false, endOf: (s, n) => (s.id === 'dir' && n === 1 ? { state: 'rate-limited', waitMs: 10 * MIN } : { state: 'done' }) });
    expect(r.world.merges[0]).toEqual({ id: 'iso', at: 2 * MIN, ok: true });
  });
});

describe('eager: what is reported blocked', () => {
  it('a spec skipped by hand while its dependency ran is not reported blocked when that dependency fails', async () => {
    const c = await config([{ id: 'parent', wave: 0 }, { id: 'child', dependsOn: ['parent'] }, { id: 'kid', dependsOn: ['parent'] }], { retry: { maxAttempts: 1 } });
    const r = await sim(c, {
      minutes: { parent: 3 }, endOf: failing(['parent']),
      setup: (w) => w.actions.push({ at: MIN, act: (doc) => setState(doc, 'child', 'skipped', 'not needed') }),
    });
    expect(r.outcome.blockedSpecs).toEqual([{ id: 'kid', wave: 1, by: [{ id: 'parent', wave: 0, state: 'failed', reason: 'tests fail' }] }]);
  });
});
