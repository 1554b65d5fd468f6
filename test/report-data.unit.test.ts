// The report's figures at their edges (src/report/data.ts): the union of intervals, which runs the
// journal holds, choosing a run and refusing an unknown one, checks' spans, rate-limit waits,
// attempts cut off or still running, and the per-wave summary.
import { describe, expect, it } from 'vitest';
import { resolveConfig, type ResolvedConfig } from '../src/config/load.js';
import { buildReport, unionMs, type JournalLine } from '../src/report/data.js';
import type { AttemptRecord, StateDoc } from '../src/state/doc.js';

const MIN = 60_000;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (min: number) => new Date(T0 + min * MIN).toISOString();

async function config(rows: { id: string; wave: number; agent?: string }[], extra: Record<string, unknown> = {}): Promise<ResolvedConfig> {
  return resolveConfig(
    { project: 'rep', specsDir: 'specs', pricing: { 'gpt-5.3-codex': { input: 1, output: 10 } }, ...extra, specs: rows.map((r) => ({ name: `n${r.id}`, cost: 1, agent: 'codex', ...r })) },
    '/proj/specs.config.ts',
  );
}
const att = (n: number, from: number, to: number | undefined, rest: Partial<AttemptRecord> = {}): AttemptRecord =>
  ({ n, startedAt: at(from), ...(to !== undefined ? { endedAt: at(to) } : {}), runId: 'r1', ...rest }) as AttemptRecord;
function state(specs: Record<string, AttemptRecord[]>, lists: { completed?: string[]; failed?: string[] } = {}, extra: Record<string, unknown> = {}): StateDoc {
  return {
    completed: lists.completed ?? [], failed: lists.failed ?? [], skipped: [],
    dispatch: { version: 1, running: {}, specs: Object.fromEntries(Object.entries(specs).map(([id, history]) => [id, { history, attempts: history.length, ...(extra[id] as object) }])), ...(extra.dispatch as object) },
  } as StateDoc;
}
const runLines = (id: string, from: number, to?: number, schedule = 'waves'): JournalLine[] => [
  { time: at(from), event: 'run-start', run: id, schedule },
  ...(to !== undefined ? [{ time: at(to), event: 'run-end', run: id, outcome: 'done' }] : []),
];

describe('unionMs', () => {
  it('adds disjoint intervals, merges overlapping and touching ones, in any order', () => {
    expect(unionMs([{ from: 50, until: 60 }, { from: 0, until: 10 }])).toBe(20);
    expect(unionMs([{ from: 0, until: 10 }, { from: 5, until: 20 }, { from: 20, until: 25 }])).toBe(25);
    expect(unionMs([{ from: 0, until: 100 }, { from: 10, until: 20 }])).toBe(100);
  });

  it('clips each interval to [lo, hi] and leaves out empty and backward ones', () => {
    expect(unionMs([{ from: 0, until: 100 }], 20, 50)).toBe(30);
    expect(unionMs([{ from: 10, until: 10 }, { from: 30, until: 20 }])).toBe(0);
    expect(unionMs([{ from: 0, until: 10 }], 20, 50)).toBe(0);
    expect(unionMs([{ from: -50, until: -10 }, { from: -5, until: 5 }])).toBe(50);
  });
});

describe('which run', () => {
  it('runs come from run-start lines, ended by their run-end; lines without a run or a readable time are left out', async () => {
    const c = await config([{ id: 'a', wave: 0 }]);
    const journal: JournalLine[] = [
      ...runLines('r1', 0, 10, 'eager'),
      { time: at(11), event: 'run-end', run: 'never-started' },
      { time: at(12), event: 'run-start' },
      { time: 'yesterday', event: 'run-start', run: 'bad-time' },
      { time: '1970-01-02T00:00:00Z', event: 'run-start', run: 'too-old' },
      { time: at(20), event: 'run-start', run: 'r2' },
      { time: at(30), event: 'run-end', run: 'r2' },
    ];
    const r = buildReport(c, state({}), journal, { now: T0 + 99 * MIN });
    expect(r.runs).toEqual([
      { id: 'r1', start: T0, schedule: 'eager', end: T0 + 10 * MIN, outcome: 'done' },
      { id: 'r2', start: T0 + 20 * MIN, end: T0 + 30 * MIN },
    ]);
    expect(r.scope).toEqual({ run: 'r2', all: false });
  });

  it('--run and --all together, and a run that never was, are usage errors naming the runs there are (the last 5)', async () => {
    const c = await config([{ id: 'a', wave: 0 }]);
    const many = Array.from({ length: 7 }, (_, i) => runLines(`r${i}`, i * 10, i * 10 + 5)).flat();
    expect(() => buildReport(c, state({}), many, { run: 'r1', all: true, now: T0 })).toThrow('--run and --all do not go together');
    expect(() => buildReport(c, state({}), many, { run: 'nope', now: T0 })).toThrow('there is no run "nope" — the runs are r2, r3, r4, r5, r6 (the last 5)');
    expect(() => buildReport(c, state({}), many.slice(0, 4), { run: 'nope', now: T0 })).toThrow(/^there is no run "nope" — the runs are r0, r1$/);
    expect(() => buildReport(c, state({}), [], { run: 'nope', now: T0 })).toThrow('there is no run "nope" — nothing has run yet');
  });

  it('a run named only by attempts (its journal lines gone) is still a run to show', async () => {
    const c = await config([{ id: 'a', wave: 0 }]);
    const r = buildReport(c, state({ a: [att(1, 0, 5, { runId: 'lost-journal', state: 'done' })] }), [], { run: 'lost-journal', now: T0 });
    expect(r.specs[0]!.attempts.map((a) => a.n)).toEqual([1]);
    expect(r.scope).toEqual({ run: 'lost-journal', all: false });
  });
});

describe('attempts', () => {
  it('a done spec awaiting its merge shows as awaiting-merge', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }]);
    const doc = state({ a: [att(1, 0, 5, { state: 'done' })], b: [att(1, 0, 5, { state: 'done' })] }, { completed: ['a', 'b'] }, { a: { awaitingMerge: true } });
    expect(buildReport(c, doc, [], { all: true, now: T0 }).specs.map((s) => s.state)).toEqual(['awaiting-merge', 'done']);
  });

  it('an attempt without an end: running (until now) when its runner is on record for it, else cut off where it began', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }]);
    const doc = state({ a: [att(1, 0, undefined)], b: [att(1, 0, undefined)] });
    doc.dispatch!.running = { a: { pid: 1, host: 'h', startedAt: at(0), attempt: 1 } } as never;
    const r = buildReport(c, doc, [], { all: true, now: T0 + 7 * MIN });
    const [a, b] = r.specs.map((s) => s.attempts[0]!);
    expect([a!.state, a!.ongoing, a!.end]).toEqual(['running', true, T0 + 7 * MIN]);
    expect([b!.state, b!.ongoing, b!.end]).toEqual(['failed', false, T0]);
    expect(r.inProgress).toBe(true);
    expect(r.end).toBe(T0 + 7 * MIN);
  });

  it("an attempt's wave is the one it ran in; its unknown state is failed", async () => {
    const c = await config([{ id: 'a', wave: 3 }]);
    const r = buildReport(c, state({ a: [att(1, 0, 5, { wave: 1, state: 'weird' as never }), att(2, 5, 6, { state: 'done' })] }), [], { all: true, now: T0 });
    expect(r.specs[0]!.attempts.map((a) => [a.wave, a.state])).toEqual([[1, 'failed'], [3, 'done']]);
  });

  it("checks' span: from the journal's verify line when there is one, else the checks' seconds before the attempt's end", async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 0 }]);
    const verify = [{ argv: ['t'], ok: true, seconds: 30 }, { argv: ['u'], ok: false, seconds: -4 }, { argv: ['v'], ok: true, seconds: Number.NaN }];
    const doc = state({ a: [att(1, 0, 10, { state: 'failed', verify })], b: [att(1, 0, 10, { state: 'failed', verify })] });
    const journal: JournalLine[] = [
      { time: at(8), event: 'verify', spec: 'a', attempt: 1, from: at(8), until: at(9) },
      { time: at(8), event: 'verify', spec: 'b', attempt: 1, from: 'garbled', until: at(9) },
      { time: at(8), event: 'verify', attempt: 1, from: at(1), until: at(2) },
    ];
    const r = buildReport(c, doc, journal, { all: true, now: T0 });
    const [a, b] = r.specs.map((s) => s.attempts[0]!);
    expect(a!.verify).toEqual({ passed: 2, total: 3, seconds: 30, ok: false });
    expect(a!.verifySpan).toEqual({ from: T0 + 8 * MIN, until: T0 + 9 * MIN });
    expect(b!.verifySpan).toEqual({ from: T0 + 10 * MIN - 30_000, until: T0 + 10 * MIN });
  });
});

describe('waits and the summary', () => {
  it("rate-limit waits of the run in scope, with their spec and agent; a wait without a readable end is left out", async () => {
    const c = await config([{ id: 'a', wave: 0 }]);
    const journal: JournalLine[] = [
      ...runLines('r1', 0, 30),
      { time: at(1), event: 'rate-limit-wait', run: 'r1', spec: 'a', agent: 'codex', until: at(4) },
      { time: at(2), event: 'rate-limit-wait', run: 'r1', until: at(3) },
      { time: at(5), event: 'rate-limit-wait', run: 'r1', spec: 'a', agent: 'codex', until: 'soon' },
      { time: at(6), event: 'rate-limit-wait', run: 'r0', spec: 'a', agent: 'codex', until: at(9) },
    ];
    const r = buildReport(c, state({ a: [att(1, 0, 30, { state: 'done' })] }), journal, { now: T0 });
    expect(r.rateLimitWaits).toEqual([
      { from: T0 + MIN, until: T0 + 4 * MIN, spec: 'a', agent: 'codex' },
      { from: T0 + 2 * MIN, until: T0 + 3 * MIN, spec: '', agent: '' },
    ]);
    expect(r.figures.rateLimitWaitMs).toBe(3 * MIN);
  });

  it('per wave, in wave order: specs, done, attempts, tokens, and money only when every priced attempt has a price', async () => {
    const c = await config([{ id: 'w2', wave: 2 }, { id: 'w1', wave: 1 }, { id: 'w1b', wave: 1 }]);
    const tok = { input: 1_000_000, cachedInput: 0, output: 100_000, total: 1_100_000 };
    const doc = state({
      w2: [att(1, 0, 60, { state: 'failed' })],
      w1: [att(1, 0, 30, { state: 'done', tokens: tok })],
      w1b: [att(1, 0, 10, { state: 'failed' }), att(2, 10, 30, { state: 'done' })],
    });
    const f = buildReport(c, doc, [], { all: true, now: T0 }).figures;
    expect(f.perWave).toEqual([
      { wave: 1, specs: 2, done: 2, attempts: 3, tokens: 1_100_000, cost: 2 },
      { wave: 2, specs: 1, done: 0, attempts: 1, tokens: 0 },
    ]);
    // Two done in one hour.
    expect(f.donePerHour).toBe(2);
    expect(f.cost).toBe(2);
  });
});
