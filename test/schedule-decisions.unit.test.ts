// The scheduler on a simulated clock, where a decision (a person's, or the state's)
// meets the run: specs decided while their wave is planned, while queued, or between
// the look at the state and the launch's claim; specs put back to pending while the
// run follows them; --spec on a spec already done; the wait for runners' own hooks
// before the run ends; what the live table says after a budget stop. Times in minutes.
import { describe, expect, it } from 'vitest';
import type { ResolvedConfig, ResolvedSpec } from '../src/config/load.js';
import { runSchedule, type ScheduleOptions } from '../src/schedule/loop.js';
import type { SimEnd, SimOptions } from '../src/schedule/sim.js';
import type { RunEvent } from '../src/schedule/events.js';
import type { LaunchResult } from '../src/schedule/world.js';
import { emptyState, markRunning, setState, stateOf, type LaunchBasis, type StateDoc } from '../src/state/doc.js';
import { tableConfig, type Row } from './fixtures/table.js';
import { HandWorldBase } from './fixtures/hand-world.js';

const MIN = 60_000;

const config = (rows: Row[], extra: Record<string, unknown> = {}): Promise<ResolvedConfig> => tableConfig(rows, extra, 'dec');

/** The simulated world with people acting on the state: at given times, while a wave is planned, or just before a launch is claimed. */
class HandWorld extends HandWorldBase {
  /** Pre-planning a wave takes a while: what a person does meanwhile. */
  whilePreparing?: (wave: number, doc: StateDoc) => void;
  /** Between the scheduler's look at the state and the launch's claim under the lock. */
  beforeClaim?: (spec: ResolvedSpec, doc: StateDoc) => void;
  settled: { ids: string[]; since: number; at: number; hooksBefore: number }[] = [];

  async prepare(wave: number, specs: ResolvedSpec[]): Promise<void> {
    await super.prepare(wave, specs);
    this.whilePreparing?.(wave, this.doc);
  }

  async launch(spec: ResolvedSpec, runId: string, recorded: (at: number) => void, basis: LaunchBasis): Promise<LaunchResult> {
    this.beforeClaim?.(spec, this.doc);
    return super.launch(spec, runId, recorded, basis);
  }

  async settle(ids: ReadonlySet<string>, sinceMs: number): Promise<void> {
    this.settled.push({ ids: [...ids].sort(), since: sinceMs, at: this.now(), hooksBefore: this.hooks.length });
  }
}

interface Sim {
  minutes?: Record<string, number>;
  endOf?: (spec: ResolvedSpec, attempt: number) => SimEnd;
  schedule?: 'waves' | 'eager';
  opts?: Partial<ScheduleOptions>;
  world?: Partial<SimOptions>;
  setup?: (w: HandWorld) => void;
  durations?: boolean;
}

async function sim(c: ResolvedConfig, s: Sim) {
  const dur = (id: string) => (s.minutes?.[id] ?? 1) * MIN;
  const world = new HandWorld(c.specs, { start: 0, durationOf: (spec) => dur(spec.id), ...(s.endOf ? { endOf: s.endOf } : {}), ...s.world });
  s.setup?.(world);
  const events: RunEvent[] = [];
  const when: number[] = [];
  const durations = new Map(c.specs.map((spec) => [spec.id, { ms: dur(spec.id), from: 'cost' as const }]));
  const outcome = await runSchedule(c, world, world, {
    schedule: s.schedule ?? 'eager', scope: c.specs, wait: true, signal: new AbortController().signal, rows: false,
    ...(s.durations === false ? {} : { durations }), runId: 'R', onEvent: (e) => void (events.push(e), when.push(world.now())), ...s.opts,
  });
  /** Each attempt: [id, start minute]. */
  const attempts = () => world.attempts.map((a) => [a.id, a.start / MIN]);
  /** The events a user reads, without the live table's ticks. */
  const said = () => events.filter((e) => e.type !== 'tick');
  /** Said events of some types, each with the minute it was said at. */
  const saidAt = (...types: RunEvent['type'][]) => events.flatMap((e, i) => (types.includes(e.type) ? [[when[i]! / MIN, e]] : []));
  const ticks = () => events.flatMap((e, i) => (e.type === 'tick' ? [[when[i]! / MIN, e.rows.map((x) => x.id).join(), e.nextLaunchAt === undefined ? undefined : e.nextLaunchAt / MIN, e.waitingFor]] : []));
  return { outcome, world, events, said, saidAt, ticks, attempts };
}

describe('a spec decided before its launch', () => {
  it('waves: skipped by hand while its wave was being planned, it is said not launched at once, before any launch, and its dependents go', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }, { id: 'c', dependsOn: ['b'] }]);
    const r = await sim(c, {
      schedule: 'waves', minutes: { a: 2, c: 1 },
      setup: (w) => (w.whilePreparing = (wave, doc) => (wave === 0 ? setState(doc, 'b', 'skipped', 'not needed') : undefined)),
    });
    expect(r.said()).toEqual([
      { type: 'run-start', runId: 'R', schedule: 'waves', specs: 3 },
      { type: 'wave-start', wave: 0, launches: 2, sequential: false },
      { type: 'not-launched', id: 'b', refused: { kind: 'decided', state: 'skipped' } },
      { type: 'launched', id: 'a', pane: 'sim:a', at: 0, attempt: 1 },
      { type: 'finished', id: 'a', state: 'done', kind: 'done', reason: undefined },
      { type: 'wave-done', wave: 0 },
      { type: 'wave-start', wave: 1, launches: 1, sequential: false },
      { type: 'launched', id: 'c', pane: 'sim:c', at: 2 * MIN, attempt: 1 },
      { type: 'finished', id: 'c', state: 'done', kind: 'done', reason: undefined },
      { type: 'wave-done', wave: 1 },
    ]);
    expect(r.outcome.failed).toEqual([]);
    expect(r.outcome.done).toEqual(['a', 'c']);
  });

  it('waves: marked failed by hand while its wave was planned, it is said not launched, never retried, and holds the next wave', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }, { id: 'c', dependsOn: ['b'] }], { pacing: { cooldownSeconds: { 1: 60 } } });
    const r = await sim(c, {
      schedule: 'waves', minutes: { a: 2 },
      setup: (w) => (w.whilePreparing = (wave, doc) => (wave === 0 ? setState(doc, 'b', 'failed', 'wrong idea', 'manual') : undefined)),
    });
    expect(r.saidAt('not-launched', 'launched')).toEqual([
      [0, { type: 'not-launched', id: 'b', refused: { kind: 'decided', state: 'failed' } }],
      [0, { type: 'launched', id: 'a', pane: 'sim:a', at: 0, attempt: 1 }],
    ]);
    expect(r.attempts()).toEqual([['a', 0]]);
    expect(r.outcome.blocked).toEqual({ wave: 1, blockers: [{ id: 'b', wave: 0, state: 'failed', reason: 'wrong idea' }] });
  });

  it('eager: skipped by hand while it waited for a slot, it is said not launched when its turn comes, and its wave is never planned', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 1 }], { pacing: { maxParallel: 1 } });
    const r = await sim(c, {
      minutes: { a: 5 }, durations: false,
      setup: (w) => w.actions.push({ at: 2 * MIN, act: (doc) => setState(doc, 'b', 'skipped', 'not needed') }),
    });
    expect(r.attempts()).toEqual([['a', 0]]);
    expect(r.saidAt('not-launched')).toEqual([[5, { type: 'not-launched', id: 'b', refused: { kind: 'decided', state: 'skipped' } }]]);
    expect(r.world.prepared).toEqual([{ wave: 0, ids: ['a'], at: 0 }]);
  });

  it('skipped between the look at the state and the claim: refused, said not launched (not a failed launch), and its dependents go', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }, { id: 'c', dependsOn: ['b'] }]);
    for (const schedule of ['eager', 'waves'] as const) {
      const r = await sim(c, {
        schedule, minutes: { a: 3, c: 1 },
        setup: (w) => (w.beforeClaim = (spec, doc) => (spec.id === 'b' && stateOf(doc, 'b') === 'pending' ? setState(doc, 'b', 'skipped', 'not needed') : undefined)),
      });
      expect(r.saidAt('not-launched', 'launched', 'launch-failed'), schedule).toEqual([
        [0, { type: 'launched', id: 'a', pane: 'sim:a', at: 0, attempt: 1 }],
        [0, { type: 'not-launched', id: 'b', refused: { kind: 'decided', state: 'skipped' } }],
        [schedule === 'eager' ? 0 : 3, { type: 'launched', id: 'c', pane: 'sim:c', at: (schedule === 'eager' ? 0 : 3) * MIN, attempt: 1 }],
      ]);
      expect(r.outcome.failed, schedule).toEqual([]);
      expect(r.outcome.done, schedule).toEqual(['a', 'c']);
      expect(r.world.hooks.filter((h) => h.name === 'onRunComplete'), schedule).toEqual([
        { name: 'onRunComplete', vars: { RUN_ID: 'R', STATE: 'done', DONE: 'a,c', FAILED: '', TOKENS: 0, REASON: undefined }, at: (schedule === 'eager' ? 3 : 4) * MIN },
      ]);
    }
  });

  it('a spec already done, named with --spec, is neither launched nor said not launched', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }]);
    const doc = emptyState();
    setState(doc, 'a', 'failed', 'marked failed', 'manual');
    setState(doc, 'b', 'done');
    for (const schedule of ['waves', 'eager'] as const) {
      const r = await sim(c, { schedule, opts: { explicit: new Set(['a', 'b']) }, world: { doc } });
      expect(r.attempts(), schedule).toEqual([['a', 0]]);
      expect(r.said().filter((e) => e.type === 'not-launched' || e.type === 'wave-start'), schedule).toEqual(
        schedule === 'waves' ? [{ type: 'wave-start', wave: 0, launches: 1, sequential: false }] : [],
      );
    }
  });
});

describe('a spec put back to pending by hand while the run follows it', () => {
  it('waves: it goes again after the specs already waiting (not before them)', async () => {
    const c = await config([{ id: 'x', wave: 0 }, { id: 'y', wave: 0 }, { id: 'z', wave: 0 }], { pacing: { maxParallel: 1 } });
    const r = await sim(c, {
      schedule: 'waves', minutes: { x: 10 },
      setup: (w) => w.actions.push({ at: 3 * MIN, act: (doc) => setState(doc, 'x', 'pending') }),
    });
    expect(r.attempts()).toEqual([['x', 0], ['y', 3], ['z', 4], ['x', 5]]);
    expect(r.saidAt('relaunch')).toEqual([[3, { type: 'relaunch', id: 'x', why: 'put back to pending by hand' }]]);
    expect(r.outcome.done).toEqual(['x', 'y', 'z']);
  });

  it('eager: a spec of a sequential wave, reset or retried, goes by priority behind a spec with more work behind it', async () => {
    // q waits on parent (outside the run), completed by hand at 2; x holds the only slot until 3.
    const c = await config([{ id: 'parent', wave: 0 }, { id: 'x', wave: 0 }, { id: 'q', dependsOn: ['parent'] }], { waves: { 0: { sequential: true } }, pacing: { maxParallel: 1 }, retry: { maxAttempts: 2 } });
    const scope = c.specs.filter((s) => s.id !== 'parent');
    for (const how of ['reset', 'retry'] as const) {
      const r = await sim(c, {
        minutes: { x: how === 'reset' ? 10 : 3, q: 20 }, opts: { scope },
        endOf: (s, n) => (how === 'retry' && s.id === 'x' && n === 1 ? { state: 'failed', reason: 'flaky' } : { state: 'done' }),
        setup: (w) => {
          w.external = true;
          w.actions.push({ at: 2 * MIN, act: (doc) => setState(doc, 'parent', 'done') });
          if (how === 'reset') w.actions.push({ at: 3 * MIN, act: (doc) => setState(doc, 'x', 'pending') });
        },
      });
      expect(r.attempts(), how).toEqual([['x', 0], ['q', 3], ['x', 23]]);
      expect(r.said().filter((e) => e.type === 'relaunch'), how).toEqual([{ type: 'relaunch', id: 'x', why: how === 'reset' ? 'put back to pending by hand' : 'retry 1 of 1 after: flaky' }]);
    }
  });

  it('waves: an adopted runner put back to pending while its wave was planned is launched again, not reported failed', async () => {
    // Found by mutation testing: the run followed only what was still at work when its wave's drive began,
    // so it neither launched x nor waited for it, and reported it failed ('interrupted', reason 'pending').
    const c = await config([{ id: 'x', wave: 0 }, { id: 'n', wave: 0 }, { id: 'after', dependsOn: ['x'] }]);
    const doc = emptyState();
    markRunning(doc, 'x', { pid: 42, host: 'h', startedAt: new Date(0).toISOString(), attempt: 1, runId: 'old' });
    const r = await sim(c, {
      schedule: 'waves', minutes: { x: 2 },
      world: { doc, runningEndsAt: new Map([['x', 10 * MIN]]) },
      setup: (w) => (w.whilePreparing = (wave, d) => (wave === 0 ? setState(d, 'x', 'pending') : undefined)),
    });
    expect(r.saidAt('relaunch')).toEqual([[0, { type: 'relaunch', id: 'x', why: 'put back to pending by hand' }]]);
    expect(r.attempts()).toEqual([['n', 0], ['x', 0], ['after', 2]]);
    expect(r.outcome.failed).toEqual([]);
    expect(r.outcome.done).toEqual(['x', 'n', 'after']);
    expect(r.world.journalled.at(-1)).toEqual({ event: 'run-end', run: 'R', outcome: 'done', done: 3, failed: 0 });
  });

  it('a rate-limited spec already queued to go again, put back to pending meanwhile: launched once, said relaunched once', async () => {
    const c = await config([{ id: 'x', wave: 0 }, { id: 'y', wave: 0, agent: 'b' }], { pacing: { maxParallel: 1 } });
    const r = await sim(c, {
      minutes: { x: 1, y: 10 }, durations: false,
      endOf: (s, n) => (s.id === 'x' && n === 1 ? { state: 'rate-limited', waitMs: MIN } : { state: 'done' }),
      setup: (w) => w.actions.push({ at: 3 * MIN, act: (doc) => setState(doc, 'x', 'pending') }),
    });
    expect(r.attempts()).toEqual([['x', 0], ['y', 1], ['x', 11]]);
    expect(r.saidAt('relaunch')).toEqual([[2, { type: 'relaunch', id: 'x', why: 'the rate limit has reset' }]]);
    expect(r.outcome.done).toEqual(['x', 'y']);
  });
});

describe('the end of a run', () => {
  it('waits for the runners of what it launched or adopted to finish their own hooks, then fires onRunComplete', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }]);
    for (const schedule of ['waves', 'eager'] as const) {
      const r = await sim(c, { schedule, minutes: { a: 2, b: 3 }, world: { start: 7 * MIN } });
      expect(r.world.settled, schedule).toEqual([{ ids: ['a', 'b'], since: 7 * MIN, at: 10 * MIN, hooksBefore: r.world.hooks.length - 1 }]);
      expect(r.world.hooks.at(-1)?.name).toBe('onRunComplete');
    }
  });

  it('does not wait for them with --no-wait, nor when interrupted', async () => {
    const c = await config([{ id: 'a', wave: 0 }]);
    const noWait = await sim(c, { opts: { wait: false } });
    expect(noWait.outcome.stillRunning).toEqual(['a']);
    expect(noWait.world.settled).toEqual([]);
    const ac = new AbortController();
    const stopped = await sim(c, { minutes: { a: 5 }, opts: { signal: ac.signal }, setup: (w) => w.actions.push({ at: MIN, act: () => ac.abort() }) });
    expect(stopped.outcome.interrupted).toBe(true);
    expect(stopped.world.settled).toEqual([]);
  });
});

describe('the live table after a budget stop', () => {
  it('says no batch pause: nothing more launches, the run waits only for what runs', async () => {
    const c = await config([{ id: 'p', wave: 0 }, { id: 'q', wave: 0 }, { id: 'r', wave: 0 }], {
      budget: { tokensPerRun: 10 }, pacing: { maxParallel: 2, batch: { every: 2, pauseSeconds: 60, fromWave: 0 } },
    });
    const r = await sim(c, { minutes: { p: 1, q: 3 }, durations: false, opts: { rows: true }, world: { tokensOf: (s) => (s.id === 'p' ? 10 : 0) } });
    expect(r.attempts()).toEqual([['p', 0], ['q', 0]]);
    expect(r.outcome.budgetStop).toBe('token budget reached: 10 tokens used of 10 per run');
    expect(r.ticks()).toEqual([
      [0, 'p,q,r', undefined, 'a free slot (maxParallel 2)'],
      [1, 'p,q,r', undefined, undefined],
      [3, 'p,q', undefined, undefined],
    ]);
  });
});
