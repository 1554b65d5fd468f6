// The scheduler `run` and `simulate` share, driven in-process on a simulated
// clock and world: no process starts and no real time passes, so each test
// checks exact launch times. Times below are in minutes from the run's start.
import { describe, expect, it } from 'vitest';
import type { ResolvedConfig, ResolvedSpec } from '../src/config/load.js';
import { runSchedule, type ScheduleOptions } from '../src/schedule/loop.js';
import { SimWorld, type SimEnd, type SimOptions } from '../src/schedule/sim.js';
import { estimateDurations, lowerBound, criticalPath } from '../src/schedule/estimate.js';
import { setState, stateOf, type SpecState } from '../src/state/doc.js';
import { simulate } from '../src/services/simulate.js';
import { tableConfig, type Row } from './fixtures/table.js';

const MIN = 60_000;

const config = (rows: Row[], extra: Record<string, unknown> = {}): Promise<ResolvedConfig> => tableConfig(rows, extra);

interface Sim {
  minutes: Record<string, number>;
  endOf?: (spec: ResolvedSpec, attempt: number) => SimEnd;
  schedule?: 'waves' | 'eager';
  opts?: Partial<ScheduleOptions>;
  world?: Partial<SimOptions>;
}

async function sim(c: ResolvedConfig, s: Sim) {
  const world = new SimWorld(c.specs, { start: 0, durationOf: (spec) => (s.minutes[spec.id] ?? 1) * MIN, ...(s.endOf ? { endOf: s.endOf } : {}), ...s.world });
  const durations = new Map(c.specs.map((spec) => [spec.id, { ms: (s.minutes[spec.id] ?? 1) * MIN, from: 'cost' as const }]));
  const outcome = await runSchedule(c, world, world, {
    schedule: s.schedule ?? 'eager', scope: c.specs, wait: true, signal: new AbortController().signal, rows: false, durations, ...s.opts,
  });
  const starts = (id: string) => world.attempts.filter((a) => a.id === id).map((a) => a.start / MIN);
  const start = (id: string) => starts(id)[0];
  /** Most specs running at once, over the whole run. */
  const peak = () => {
    const edges = world.attempts.flatMap((a) => [[a.start, 1], [a.end, -1]] as const).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    let n = 0;
    let m = 0;
    for (const [, d] of edges) m = Math.max(m, (n += d));
    return m;
  };
  return { outcome, world, start, starts, peak, end: outcome.endedAt / MIN };
}

// A skewed table: a long spec and a short one in wave 0, each with a dependent in wave 1.
const skewed: Row[] = [
  { id: 'long', wave: 0 },
  { id: 'short', wave: 0 },
  { id: 'afterShort', dependsOn: ['short'] },
  { id: 'afterLong', dependsOn: ['long'] },
];
const skewedMinutes = { long: 60, short: 5, afterShort: 10, afterLong: 10 };

describe('eager scheduling', () => {
  it('starts a spec as soon as its own dependencies are complete, whatever its wave', async () => {
    const c = await config(skewed);
    const eager = await sim(c, { minutes: skewedMinutes, schedule: 'eager' });
    expect(eager.start('afterShort')).toBe(5);
    expect(eager.start('afterLong')).toBe(60);
    expect(eager.end).toBe(70);
    const waves = await sim(c, { minutes: skewedMinutes, schedule: 'waves' });
    // The original barrier: wave 1 waits for the slowest spec of wave 0.
    expect(waves.start('afterShort')).toBe(60);
    expect(waves.end).toBe(70);
    expect(waves.outcome.done.sort()).toEqual(['afterLong', 'afterShort', 'long', 'short']);
  });

  it('lets a failure block only what depends on it, directly or not, and names the root', async () => {
    const c = await config(
      [{ id: 'bad', wave: 0 }, { id: 'ok', wave: 0 }, { id: 'child', dependsOn: ['bad'] }, { id: 'grandchild', dependsOn: ['child'] }, { id: 'other', dependsOn: ['ok'] }],
      { retry: { maxAttempts: 1 } },
    );
    const r = await sim(c, { minutes: { bad: 2 }, endOf: (s) => (s.id === 'bad' ? { state: 'failed', reason: 'tests fail' } : { state: 'done' }) });
    expect(r.outcome.done.sort()).toEqual(['ok', 'other']);
    expect(r.outcome.failed.map((f) => f.id)).toEqual(['bad']);
    expect(r.outcome.blockedSpecs).toEqual([
      { id: 'child', wave: 1, by: [{ id: 'bad', wave: 0, state: 'failed', reason: 'tests fail' }] },
      { id: 'grandchild', wave: 2, by: [{ id: 'bad', wave: 0, state: 'failed', reason: 'tests fail' }] },
    ]);
    expect(r.start('child')).toBeUndefined();
    // Under waves the same failure stops everything after wave 0.
    const w = await sim(c, { schedule: 'waves', minutes: { bad: 2 }, endOf: (s) => (s.id === 'bad' ? { state: 'failed' } : { state: 'done' }) });
    expect(w.outcome.blocked?.wave).toBe(1);
    expect(w.start('other')).toBeUndefined();
  });

  it('relaunches a failure the retry policy allows, and its dependents wait for the retry', async () => {
    const c = await config([{ id: 'flaky', wave: 0 }, { id: 'next', dependsOn: ['flaky'] }], { retry: { maxAttempts: 2 } });
    const r = await sim(c, { minutes: { flaky: 3, next: 1 }, endOf: (s, n) => (s.id === 'flaky' && n === 1 ? { state: 'failed' } : { state: 'done' }) });
    expect(r.starts('flaky')).toEqual([0, 3]);
    expect(r.start('next')).toBe(6);
    expect(r.outcome.failed).toEqual([]);
  });

  it('starts first the ready spec with the most work behind it', async () => {
    // Only one slot: which ready spec goes first decides the makespan.
    const c = await config([{ id: 'leaf', wave: 0 }, { id: 'root', wave: 0 }, { id: 'mid', dependsOn: ['root'] }, { id: 'tail', dependsOn: ['mid'] }], { pacing: { maxParallel: 1 } });
    const r = await sim(c, { minutes: { leaf: 10, root: 10, mid: 10, tail: 10 } });
    expect(r.start('root')).toBe(0);
    expect(r.start('leaf')).toBeGreaterThan(0);
    // Table order (waves) puts the leaf first.
    const w = await sim(c, { schedule: 'waves', minutes: { leaf: 10, root: 10, mid: 10, tail: 10 } });
    expect(w.start('leaf')).toBe(0);
  });

  it('launches under --wave only that wave, each spec when its own dependencies are complete', async () => {
    const c = await config(skewed);
    const scope = c.specs.filter((s) => s.wave === 1);
    // The dependencies are not complete and not in this run: nothing can start, and the run says why.
    const r = await sim(c, { minutes: skewedMinutes, opts: { scope } });
    expect(r.world.attempts).toEqual([]);
    expect(r.outcome.blockedSpecs?.map((b) => [b.id, b.by.map((x) => x.id)])).toEqual([['afterShort', ['short']], ['afterLong', ['long']]]);
  });

  it('relaunches rate-limited specs whose limit reset together by priority, not in reverse', async () => {
    const c = await config([{ id: 'q', wave: 0 }, { id: 'r', wave: 0 }, { id: 'r2', dependsOn: ['r'] }], { pacing: { cooldownSeconds: { 1: 60 } } });
    const r = await sim(c, {
      minutes: { q: 1, r: 1, r2: 30 },
      endOf: (s, n) => (n === 1 && s.id !== 'r2' ? { state: 'rate-limited', waitMs: 30 * MIN } : { state: 'done' }),
    });
    // r has r2 behind it: it goes first once both limits have reset.
    expect(r.starts('r')[1]!).toBeLessThan(r.starts('q')[1]!);
  });

  it('returns after the launches that can go now with --no-wait', async () => {
    const c = await config(skewed);
    const r = await sim(c, { minutes: skewedMinutes, opts: { wait: false } });
    expect(r.world.attempts.map((a) => a.id).sort()).toEqual(['long', 'short']);
    expect(r.outcome.stillRunning.sort()).toEqual(['long', 'short']);
  });
});

/** A simulated world where a person decides specs by hand at given minutes, while the run goes on. */
class DecidingWorld extends SimWorld {
  decisions: { at: number; id: string; to: Extract<SpecState, 'done' | 'skipped' | 'failed'>; reason?: string }[] = [];
  read() {
    const doc = super.read();
    const due = this.decisions.filter((d) => d.at <= this.now());
    this.decisions = this.decisions.filter((d) => d.at > this.now());
    for (const d of due) setState(doc, d.id, d.to, d.reason, 'manual');
    return doc;
  }
  async wait(deadline: number): Promise<void> {
    return super.wait(Math.min(deadline, ...this.decisions.map((d) => d.at)));
  }
}

async function decidedRun(c: ResolvedConfig, minutes: Record<string, number>, decisions: DecidingWorld['decisions'], schedule: 'waves' | 'eager', endOf?: Sim['endOf']) {
  const world = new DecidingWorld(c.specs, { start: 0, durationOf: (spec) => (minutes[spec.id] ?? 1) * MIN, ...(endOf ? { endOf } : {}) });
  world.decisions = decisions.map((d) => ({ ...d, at: d.at * MIN }));
  const events: string[] = [];
  const outcome = await runSchedule(c, world, world, {
    schedule, scope: c.specs, wait: true, signal: new AbortController().signal, rows: false,
    onEvent: (e) => void (e.type === 'not-launched' && events.push(`${e.id} ${e.refused.kind === 'decided' ? e.refused.state : e.refused.kind}`)),
  });
  return { outcome, events, starts: (id: string) => world.attempts.filter((a) => a.id === id).map((a) => a.start / MIN) };
}

describe('decisions by hand while a run waits', () => {
  it('eager: a spec skipped, marked done or failed while it waits is never launched; done or skipped lets its dependents go, failed holds them', async () => {
    const c = await config([
      { id: 'first', wave: 0 }, { id: 'skip', dependsOn: ['first'] }, { id: 'done', dependsOn: ['first'] }, { id: 'fail', dependsOn: ['first'] },
      { id: 'afterSkip', dependsOn: ['skip'] }, { id: 'afterDone', dependsOn: ['done'] }, { id: 'afterFail', dependsOn: ['fail'] },
    ]);
    const r = await decidedRun(c, { first: 10 }, [{ at: 2, id: 'skip', to: 'skipped' }, { at: 3, id: 'done', to: 'done' }, { at: 4, id: 'fail', to: 'failed', reason: 'not wanted' }], 'eager');
    for (const id of ['skip', 'done', 'fail', 'afterFail']) expect(r.starts(id), id).toEqual([]);
    // Told when their turn comes: once the dependency they were held on completes.
    expect(r.starts('afterSkip')).toEqual([10]);
    expect(r.starts('afterDone')).toEqual([10]);
    expect(r.events).toEqual(['skip skipped', 'done done', 'fail failed']);
    expect(r.outcome.launched.sort()).toEqual(['afterDone', 'afterSkip', 'first']);
    expect(r.outcome.failed).toEqual([]);
    expect(r.outcome.blockedSpecs).toEqual([{ id: 'afterFail', wave: 2, by: [{ id: 'fail', wave: 1, state: 'failed', reason: 'not wanted' }] }]);
  });

  it('a retry waiting for its cooldown is not relaunched once the spec is decided by hand, under both schedules', async () => {
    for (const schedule of ['waves', 'eager'] as const) {
      const c = await config([{ id: 'flaky', wave: 0, cost: 2 }, { id: 'after', dependsOn: ['flaky'] }], { retry: { maxAttempts: 3 }, pacing: { cooldownSeconds: { 1: 0, 2: 600, 3: 0, 4: 0 } } });
      const r = await decidedRun(c, { flaky: 1 }, [{ at: 5, id: 'flaky', to: 'done' }], schedule, (s) => (s.id === 'flaky' ? { state: 'failed', reason: 'boom' } : { state: 'done' }));
      expect(r.starts('flaky'), schedule).toEqual([0]);
      expect(r.events, schedule).toEqual(['flaky done']);
      expect(r.starts('after'), schedule).toEqual([10]);
      expect(r.outcome.done.sort(), schedule).toEqual(['after', 'flaky']);
    }
  });

  it('waves: a spec of the wave at work skipped before its turn is not launched', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }, { id: 'c', wave: 1 }], { pacing: { maxParallel: 1 } });
    const r = await decidedRun(c, { a: 10 }, [{ at: 2, id: 'b', to: 'skipped' }], 'waves');
    expect(r.starts('b')).toEqual([]);
    expect(r.starts('c')).toEqual([10]);
    expect(r.events).toEqual(['b skipped']);
  });
});

describe('pacing, caps and limits hold under both schedules', () => {
  for (const schedule of ['eager', 'waves'] as const) {
    it(`${schedule}: the cooldown by cost spaces launches, counted from each launch`, async () => {
      const c = await config([{ id: '1', wave: 0, cost: 2 }, { id: '2', wave: 0, cost: 1 }, { id: '3', wave: 0, cost: 1 }], { pacing: { cooldownSeconds: { 1: 60, 2: 120 } } });
      const r = await sim(c, { schedule, minutes: { 1: 30, 2: 30, 3: 30 } });
      expect(['1', '2', '3'].map(r.start)).toEqual([0, 2, 3]);
    });

    it(`${schedule}: maxParallel caps the specs running at once`, async () => {
      const c = await config(Array.from({ length: 6 }, (_, i) => ({ id: `s${i}`, wave: 0 })), { pacing: { maxParallel: 2 } });
      const r = await sim(c, { schedule, minutes: {} });
      expect(r.peak()).toBe(2);
      expect(r.end).toBe(3);
    });

    it(`${schedule}: a sequential wave runs one spec at a time, in table order`, async () => {
      const c = await config([{ id: 'x', wave: 0 }, { id: 'y', wave: 0 }, { id: 'z', wave: 0 }], { waves: { 0: { sequential: true } } });
      const r = await sim(c, { schedule, minutes: { x: 5, y: 1, z: 2 } });
      expect(['x', 'y', 'z'].map(r.start)).toEqual([0, 5, 6]);
    });

    it(`${schedule}: a rate limit pauses its agent, and the spec is relaunched when the limit resets`, async () => {
      const c = await config([{ id: 'r', wave: 0 }, { id: 'same', wave: 0 }, { id: 'other', wave: 0, agent: 'b' }], { pacing: { cooldownSeconds: { 1: 60 } } });
      const r = await sim(c, {
        schedule,
        minutes: { r: 1, same: 1, other: 1 },
        endOf: (s, n) => (s.id === 'r' && n === 1 ? { state: 'rate-limited', waitMs: 30 * MIN } : { state: 'done' }),
      });
      expect(r.starts('r')).toEqual([0, 31]);
      expect(r.outcome.done.sort()).toEqual(['other', 'r', 'same']);
      expect(r.world.journalled).toContainEqual(expect.objectContaining({ event: 'rate-limit-wait', agent: 'a', spec: 'r', until: new Date(31 * MIN).toISOString() }));
    });

    it(`${schedule}: a token budget stops new launches, and what runs finishes`, async () => {
      const c = await config([{ id: 'p', wave: 0 }, { id: 'q', wave: 0 }, { id: 'later', wave: 0 }], { pacing: { cooldownSeconds: { 1: 120 } }, budget: { tokensPerRun: 100 } });
      const r = await sim(c, { schedule, minutes: { p: 1, q: 1 }, world: { tokensOf: () => 60 } });
      expect(r.world.attempts.map((a) => a.id)).toEqual(['p', 'q']);
      expect(r.outcome.budgetStop).toBe('token budget reached: 120 tokens used of 100 per run');
    });

    it(`${schedule}: an exhausted quota stops that agent's launches only`, async () => {
      const c = await config([{ id: 'spent', wave: 0 }, { id: 'sameAgent', wave: 0 }, { id: 'otherAgent', wave: 0, agent: 'b' }], { pacing: { cooldownSeconds: { 1: 120 } } });
      const r = await sim(c, { schedule, minutes: { spent: 1 }, endOf: (s) => (s.id === 'spent' ? { state: 'failed', kind: 'quota-exhausted' } : { state: 'done' }) });
      expect(r.world.attempts.map((a) => a.id)).toEqual(['spent', 'otherAgent']);
      expect(stateOf(r.world.doc, 'sameAgent')).toBe('pending');
    });
  }

  it('eager: the batch pause counts launches over the run, from fromWave on, and is journaled', async () => {
    const rows: Row[] = [{ id: 'w0', wave: 0 }, { id: 'a1', wave: 1 }, { id: 'b1', wave: 1 }, { id: 'a2', wave: 2 }, { id: 'b2', wave: 2 }];
    const c = await config(rows, { pacing: { cooldownSeconds: { 1: 60 }, batch: { every: 2, pauseSeconds: 600, fromWave: 1 } } });
    // w0 has the most work behind it (5 min against 1): it goes first under eager too.
    const r = await sim(c, { minutes: { w0: 5 } });
    // Launches of wave ≥ 1: a1 (1st), b1 (2nd: pause after it), a2, b2 (4th).
    expect(['w0', 'a1', 'b1', 'a2', 'b2'].map(r.start)).toEqual([0, 1, 2, 13, 14]);
    expect(r.world.journalled.filter((e) => e.event === 'batch-pause')).toEqual([
      { event: 'batch-pause', run: r.outcome.runId, from: new Date(3 * MIN).toISOString(), until: new Date(13 * MIN).toISOString() },
      { event: 'batch-pause', run: r.outcome.runId, from: new Date(15 * MIN).toISOString(), until: new Date(25 * MIN).toISOString() },
    ]);
  });

  it('journals the run: start first, end last, with the outcome', async () => {
    const c = await config(skewed);
    const r = await sim(c, { minutes: skewedMinutes });
    expect(r.world.journalled[0]).toEqual({ event: 'run-start', run: r.outcome.runId, schedule: 'eager', specs: 4 });
    expect(r.world.journalled.at(-1)).toEqual({ event: 'run-end', run: r.outcome.runId, outcome: 'done', done: 4, failed: 0 });
  });
});

describe('hooks and planning under eager', () => {
  it("fires onWaveComplete once per wave, when the wave's last spec completes", async () => {
    const c = await config(skewed);
    const r = await sim(c, { minutes: skewedMinutes });
    const waves = r.world.hooks.filter((h) => h.name === 'onWaveComplete').map((h) => [h.vars.WAVE, h.vars.STATE, h.at / MIN]);
    // Wave 0 is complete when 'long' ends at 60, while wave 1's 'afterLong' still has 10 minutes to go.
    expect(waves).toEqual([[0, 'complete', 60], [1, 'complete', 70]]);
    expect(r.world.hooks.at(-1)?.name).toBe('onRunComplete');
  });

  it("plans a wave's waiting specs together, before the first of them launches", async () => {
    const c = await config(skewed);
    const r = await sim(c, { minutes: skewedMinutes });
    expect(r.world.prepared).toEqual([
      { wave: 0, ids: ['long', 'short'], at: 0 },
      { wave: 1, ids: ['afterShort', 'afterLong'], at: 5 * MIN },
    ]);
  });
});

describe("merge: 'auto'", () => {
  const rows: Row[] = [{ id: 'iso', wave: 0, mode: 'isolated' }, { id: 'dep', dependsOn: ['iso'] }];

  it('merges a done isolated spec at once, and its dependents start', async () => {
    const c = await config(rows, { merge: 'auto' });
    const r = await sim(c, { minutes: { iso: 4 } });
    expect(r.world.merges).toEqual([{ id: 'iso', at: 4 * MIN, ok: true }]);
    expect(r.start('dep')).toBe(4);
  });

  it('a conflict stops that spec as merge-conflict, and only its dependents wait', async () => {
    const c = await config([...rows, { id: 'free', wave: 0 }, { id: 'freeDep', dependsOn: ['free'] }], { merge: 'auto' });
    const r = await sim(c, { minutes: { iso: 4 }, world: { conflictOf: () => true } });
    expect(r.outcome.failed).toEqual([{ id: 'iso', kind: 'merge-conflict', reason: 'merge conflict (simulated)' }]);
    expect(r.outcome.blockedSpecs?.map((b) => [b.id, b.by[0]?.id])).toEqual([['dep', 'iso']]);
    expect(r.start('freeDep')).toBe(1);
  });

  it("with merge: 'manual' a dependent waits for the merge by hand", async () => {
    const c = await config(rows);
    const r = await sim(c, { minutes: { iso: 4 } });
    expect(r.world.merges).toEqual([]);
    expect(r.outcome.blockedSpecs).toEqual([{ id: 'dep', wave: 1, by: [{ id: 'iso', wave: 0, state: 'awaiting merge' }] }]);
  });
});

describe('simulate: makespan, critical path and the lower bound', () => {
  it('a chain is its own critical path, and eager reaches the bound', async () => {
    const c = await config(skewed, { estimateMinutes: { 1: 10 } });
    const durations = estimateDurations(c, { completed: [], failed: [], skipped: [] }, c.specs, 'cost');
    expect(criticalPath(c.specs, durations)).toEqual({ ms: 20 * MIN, ids: ['long', 'afterLong'] });
    const s = await simulate(c, { completed: [], failed: [], skipped: [] }, { schedule: 'eager', durations: 'cost' });
    expect(s.makespanMs).toBe(20 * MIN);
    expect(s.lowerBound).toMatchObject({ ms: 20 * MIN, by: 'critical path' });
    expect(s.specs.find((x) => x.id === 'afterShort')).toMatchObject({ startMs: 10 * MIN, endMs: 20 * MIN, waitsFor: ['short'], estimateFrom: 'cost' });
  });

  it('takes a spec duration from the median of its done attempts', async () => {
    const c = await config([{ id: 'h', wave: 0 }]);
    const at = (m: number) => new Date(Date.UTC(2026, 0, 1, 0, m)).toISOString();
    const doc = {
      completed: ['h'], failed: [], skipped: [],
      dispatch: { version: 1 as const, running: {}, specs: { h: { history: [
        { n: 1, startedAt: at(0), endedAt: at(7), state: 'done' as const },
        { n: 2, startedAt: at(10), endedAt: at(11), state: 'failed' as const },
        { n: 3, startedAt: at(20), endedAt: at(29), state: 'done' as const },
        { n: 4, startedAt: at(30), endedAt: at(41), state: 'done' as const },
      ] } } },
    };
    expect(estimateDurations(c, doc, c.specs).get('h')).toEqual({ ms: 9 * MIN, from: 'history' });
    const s = await simulate(c, doc, { schedule: 'eager', durations: 'history', all: true });
    expect(s.makespanMs).toBe(9 * MIN);
    const byCost = await simulate(c, doc, { schedule: 'eager', durations: 'cost', all: true });
    expect(byCost.makespanMs).toBe(5 * MIN);
  });

  it('bounds by the work over maxParallel and by the pacing when they are larger', async () => {
    const c = await config(Array.from({ length: 4 }, (_, i) => ({ id: `p${i}`, wave: 0 })), { pacing: { maxParallel: 2, cooldownSeconds: { 1: 0 } }, estimateMinutes: { 1: 10 } });
    const d = estimateDurations(c, { completed: [], failed: [], skipped: [] }, c.specs, 'cost');
    expect(lowerBound(c, c.specs, d, 'eager')).toMatchObject({ ms: 20 * MIN, by: 'work / maxParallel' });
    const paced = await config(Array.from({ length: 4 }, (_, i) => ({ id: `p${i}`, wave: 0 })), { pacing: { cooldownSeconds: { 1: 600 } }, estimateMinutes: { 1: 1 } });
    // Three cooldowns of 10 min before the last launch, then the last spec's minute.
    const dp = estimateDurations(paced, { completed: [], failed: [], skipped: [] }, paced.specs, 'cost');
    expect(lowerBound(paced, paced.specs, dp, 'eager')).toMatchObject({ ms: 31 * MIN, by: 'pacing' });
    const s = await simulate(paced, { completed: [], failed: [], skipped: [] }, { schedule: 'eager', durations: 'cost' });
    expect(s.makespanMs).toBe(31 * MIN);
  });
});
