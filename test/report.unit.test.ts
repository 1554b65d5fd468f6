// The report's data from a state and journal with known attempts: every figure
// is checked exactly. Then the page (escaping, one bar per attempt, the data
// block) and the graph's layout and text formats.
import { describe, expect, it } from 'vitest';
import { resolveConfig, type ResolvedConfig } from '../src/config/load.js';
import { buildReport, unionMs, actualCriticalPath, type JournalLine } from '../src/report/data.js';
import { renderReport } from '../src/report/html.js';
import { crossings, layoutGraph } from '../src/report/layout.js';
import { graphText } from '../src/services/graph.js';
import type { AttemptRecord, StateDoc } from '../src/state/doc.js';

const MIN = 60_000;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (min: number) => new Date(T0 + min * MIN).toISOString();

type Row = { id: string; name?: string; wave: number; agent?: string; dependsOn?: string[] };

async function config(rows: Row[], extra: Record<string, unknown> = {}): Promise<ResolvedConfig> {
  return resolveConfig(
    {
      project: 'rep',
      specsDir: 'specs',
      agents: { x: { command: ['true'], model: 'm-x' } },
      pacing: { cooldownSeconds: { 1: 0, 2: 0, 3: 0, 4: 0 }, batch: { every: 4, pauseSeconds: 0, fromWave: 0 } },
      pricing: { 'gpt-5.3-codex': { input: 1, cachedInput: 0.5, output: 10 } },
      ...extra,
      specs: rows.map((r) => ({ name: `n${r.id}`, cost: 1, agent: 'codex', ...r })),
    },
    '/proj/specs.config.ts',
  );
}

const tok = (input: number, cachedInput: number, output: number) => ({ input, cachedInput, output, total: input + output });
const att = (n: number, from: number, to: number | undefined, rest: Partial<AttemptRecord> = {}): AttemptRecord =>
  ({ n, startedAt: at(from), ...(to !== undefined ? { endedAt: at(to) } : {}), runId: 'r1', ...rest }) as AttemptRecord;

function state(specs: Record<string, AttemptRecord[]>, lists: Partial<Pick<StateDoc, 'completed' | 'failed'>>, running: StateDoc['dispatch'] extends infer D ? D extends { running: infer R } ? R : never : never = {}): StateDoc {
  return {
    completed: lists.completed ?? [], failed: lists.failed ?? [], skipped: [],
    dispatch: { version: 1, running, specs: Object.fromEntries(Object.entries(specs).map(([id, history]) => [id, { history, attempts: history.length }])) },
  } as StateDoc;
}

const rows: Row[] = [
  { id: 'a', wave: 0 },
  { id: 'b', wave: 0 },
  { id: 'c', wave: 1, dependsOn: ['a'] },
  { id: 'd', wave: 1, agent: 'x' },
];

// Two runs. r0, a day before: one interrupted attempt of a. r1 (waves), minutes from T0:
//   a: #2 0→10 agent-failed (1,100 tokens), #3 10→20 done (2,200 tokens, 1,000 cached), verify 60 s ok
//   b: #1 0→15 verify-failed (checks 30 s + 30 s, one failed), #2 15→25 done, verify 45 s ok
//   c: #1 20→50 done (1,000 tokens)
//   d: #1 25→60 lost (500 tokens, model m-x has no price)
const history = {
  a: [
    { n: 1, startedAt: at(-1440), endedAt: at(-1430), state: 'failed', kind: 'interrupted', runId: 'r0' } as AttemptRecord,
    att(2, 0, 10, { state: 'failed', kind: 'agent-failed', reason: 'exit 1', tokens: tok(1000, 0, 100) }),
    att(3, 10, 20, { state: 'done', kind: 'done', tokens: tok(2000, 1000, 200), verify: [{ argv: ['npm', 'test'], ok: true, seconds: 60 }] }),
  ],
  b: [
    att(1, 0, 15, { state: 'failed', kind: 'verify-failed', verify: [{ argv: ['lint'], ok: false, seconds: 30 }, { argv: ['test'], ok: true, seconds: 30 }] }),
    att(2, 15, 25, { state: 'done', kind: 'done', verify: [{ argv: ['test'], ok: true, seconds: 45 }] }),
  ],
  c: [att(1, 20, 50, { state: 'done', kind: 'done', tokens: tok(800, 0, 200) })],
  d: [att(1, 25, 60, { state: 'failed', kind: 'lost', reason: 'lost (runner died)', tokens: tok(400, 0, 100) })],
};
const journal: JournalLine[] = [
  { time: at(-1441), event: 'run-start', run: 'r0', schedule: 'waves', specs: 4 },
  { time: at(-1430), event: 'run-end', run: 'r0', outcome: 'interrupted' },
  { time: at(0), event: 'run-start', run: 'r1', schedule: 'waves', specs: 4 },
  { time: at(19), event: 'verify', run: 'r1', spec: 'a', attempt: 3, from: at(19), until: at(20), ok: true },
  { time: at(21), event: 'rate-limit-wait', run: 'r1', agent: 'x', spec: 'd', until: at(25) },
  { time: at(22), event: 'batch-pause', run: 'r1', from: at(22), until: at(24) },
  { time: at(23), event: 'rate-limit-wait', run: 'r1', agent: 'codex', spec: 'c', until: at(26) },
  { time: at(30), event: 'rate-limit-wait', run: 'r0', agent: 'codex', spec: 'c', until: at(40) },
  { time: at(60), event: 'run-end', run: 'r1', outcome: 'failed' },
  { time: 'not a time', event: 'batch-pause', run: 'r1', from: 'x', until: 'y' },
];
const doc = state(history, { completed: ['a', 'b', 'c'], failed: ['d'] });

describe('report data', () => {
  it('the latest run by default: every figure exact', async () => {
    const c = await config(rows);
    const r = buildReport(c, doc, journal, { now: T0 + 999 * MIN });
    expect(r.scope).toEqual({ run: 'r1', all: false });
    expect(r.runs.map((x) => x.id)).toEqual(['r0', 'r1']);
    expect([r.start, r.end, r.inProgress]).toEqual([T0, T0 + 60 * MIN, false]);
    expect(r.specs.map((s) => [s.id, s.attempts.map((a) => a.n)])).toEqual([['a', [2, 3]], ['b', [1, 2]], ['c', [1]], ['d', [1]]]);
    const f = r.figures;
    expect(f).toMatchObject({
      makespanMs: 60 * MIN, specs: 4, launched: 4, done: 3, failed: 1, running: 0, donePerHour: 3, attempts: 6,
      rateLimitWaitMs: 5 * MIN, batchPauseMs: 2 * MIN, verifyMs: 165_000, verify: { passed: 2, total: 3 },
      tokens: { input: 4200, cachedInput: 1000, output: 600, total: 4800 }, tokensPerSpec: 1200, unpricedModels: ['m-x'],
    });
    expect(f.retryRate).toBeCloseTo(2 / 6, 12);
    expect(f.verify.rate).toBeCloseTo(2 / 3, 12);
    // m-x has no price: no total in money, and none for wave 1 either.
    expect(f.cost).toBeUndefined();
    expect(f.perWave).toEqual([
      { wave: 0, specs: 2, done: 2, attempts: 4, tokens: 3300, cost: expect.closeTo(0.0055, 12) },
      { wave: 1, specs: 2, done: 1, attempts: 2, tokens: 1500 },
    ]);
    // Lower bound: a then c (10 + 30 min of their last attempts) beats d's 35.
    expect([f.lowerBoundMs, f.lowerBoundBy]).toEqual([40 * MIN, 'critical path']);
    // The spec that ended last (d, at 60) waited for wave 0, whose last spec (b) ended at 25.
    expect(r.criticalPath).toEqual(['b', 'd']);
    expect(r.specs.flatMap((s) => s.attempts.filter((a) => a.critical).map((a) => `${a.id}#${a.n}`))).toEqual(['b#1', 'b#2', 'd#1']);
    expect(r.failures).toEqual([{ id: 'd', name: 'nd', n: 1, kind: 'lost', reason: 'lost (runner died)', log: '/proj/.codex/logs/d.attempt-1.log' }]);
    const a3 = r.specs[0]!.attempts[1]!;
    expect(a3.cost).toBeCloseTo(0.0035, 12);
    expect(a3.verifySpan).toEqual({ from: T0 + 19 * MIN, until: T0 + 20 * MIN });
    // Without a journal span, verify time sits at the end of the attempt.
    expect(r.specs[1]!.attempts[0]!.verifySpan).toEqual({ from: T0 + 15 * MIN - 60_000, until: T0 + 15 * MIN });
  });

  it('with a price for every model, the cost in money per run, wave and in all', async () => {
    const c = await config(rows, { pricing: { 'gpt-5.3-codex': { input: 1, cachedInput: 0.5, output: 10 }, 'm-x': { input: 2, output: 20 } } });
    const f = buildReport(c, doc, journal, { now: T0 }).figures;
    // a#2 0.002 + a#3 0.0035 + c 0.0028 + d (400×2 + 100×20)/1e6 = 0.0028
    expect(f.cost).toBeCloseTo(0.0111, 12);
    expect(f.unpricedModels).toEqual([]);
    expect(f.perWave[1]!.cost).toBeCloseTo(0.0056, 12);
    expect(f.perRun).toEqual([{ run: 'r1', attempts: 6, done: 3, tokens: 4800, cost: expect.closeTo(0.0111, 12) }]);
  });

  it('--run picks an older run, --all every launch; unknown runs and both flags are usage errors', async () => {
    const c = await config(rows);
    const r0 = buildReport(c, doc, journal, { run: 'r0', now: T0 });
    expect(r0.figures.attempts).toBe(1);
    expect([r0.start, r0.end]).toEqual([T0 - 1441 * MIN, T0 - 1430 * MIN]);
    // r0's rate-limit wait falls outside its span: clipped to nothing.
    expect(r0.figures.rateLimitWaitMs).toBe(0);
    const all = buildReport(c, doc, journal, { all: true, now: T0 });
    expect(all.scope).toEqual({ all: true });
    expect(all.figures.attempts).toBe(7);
    expect(all.figures.perRun.map((p) => [p.run, p.attempts])).toEqual([['r0', 1], ['r1', 6]]);
    expect(() => buildReport(c, doc, journal, { run: 'nope', now: T0 })).toThrow(/there is no run "nope" — the runs are r0, r1/);
    expect(() => buildReport(c, doc, journal, { run: 'r1', all: true, now: T0 })).toThrow(/--run and --all do not go together/);
    try {
      buildReport(c, doc, journal, { run: 'nope', now: T0 });
    } catch (err) {
      expect((err as { exitCode: number }).exitCode).toBe(2);
    }
  });

  it('a run in progress: its running attempt ends now, and the run is marked in progress', async () => {
    const c = await config(rows);
    const live = state({ a: [att(1, 0, undefined)] }, {}, { a: { pid: 1, host: 'h', startedAt: at(0), attempt: 1, runId: 'r1' } });
    const r = buildReport(c, live, [{ time: at(0), event: 'run-start', run: 'r1', schedule: 'waves', specs: 4 }], { now: T0 + 7 * MIN });
    expect(r.inProgress).toBe(true);
    expect(r.specs[0]!.attempts[0]).toMatchObject({ ongoing: true, state: 'running', end: T0 + 7 * MIN });
    expect(r.figures).toMatchObject({ makespanMs: 7 * MIN, running: 1, done: 0 });
  });

  it('a project that never ran: every spec, no attempts, no figures to divide by zero', async () => {
    const c = await config(rows);
    const r = buildReport(c, state({}, {}), [], { now: T0 });
    expect(r.scope).toEqual({ all: true });
    expect(r.specs).toHaveLength(4);
    expect(r.figures).toMatchObject({ attempts: 0, donePerHour: 0, retryRate: 0, tokensPerSpec: 0, makespanMs: 0 });
    expect(r.criticalPath).toEqual([]);
  });

  it('a run whose dispatcher died (no end line) is over when its attempts are; times that are not ISO or before 2000 are skipped', async () => {
    const c = await config(rows);
    const d = state({ a: [att(1, 0, 5, { state: 'done', kind: 'done' })], b: [{ n: 1, startedAt: '0001-01-01T00:00:00Z', endedAt: at(3), state: 'done', runId: 'r1' } as AttemptRecord], c: [{ n: 1, startedAt: '5', endedAt: at(3), state: 'done', runId: 'r1' } as AttemptRecord] }, { completed: ['a', 'b', 'c'] });
    const r = buildReport(c, d, [{ time: at(0), event: 'run-start', run: 'r1', schedule: 'waves', specs: 4 }, { time: '0001-01-01T00:00:00Z', event: 'batch-pause', run: 'r1', from: '0001-01-01T00:00:00Z', until: at(1) }], { now: T0 + 60 * MIN });
    expect(r.inProgress).toBe(false);
    expect([r.start, r.end]).toEqual([T0, T0 + 5 * MIN]);
    expect(r.figures.attempts).toBe(1);
    expect(r.batchPauses).toEqual([]);
    const html = renderReport(r);
    expect(Buffer.byteLength(html)).toBeLessThan(50_000);
  });

  it('its ratio is the makespan over the lower bound: a chain of 10 + 20 min that took 40 min is 1.33×', async () => {
    const c = await config([{ id: 'a', wave: 0 }, { id: 'b', wave: 1, dependsOn: ['a'] }]);
    const d = state({ a: [att(1, 0, 10, { state: 'done', kind: 'done' })], b: [att(1, 20, 40, { state: 'done', kind: 'done' })] }, { completed: ['a', 'b'] });
    const r = buildReport(c, d, [{ time: at(0), event: 'run-start', run: 'r1', schedule: 'waves', specs: 2 }, { time: at(40), event: 'run-end', run: 'r1', outcome: 'done' }], { now: T0 + 50 * MIN });
    expect(r.figures.makespanMs).toBe(40 * MIN);
    expect(r.figures.lowerBoundMs).toBe(30 * MIN);
    expect(renderReport(r)).toContain('1.33× the lower bound');
  });

  it('the union of waits counts an overlap once, and clips to the run', () => {
    expect(unionMs([{ from: 0, until: 10 }, { from: 5, until: 12 }, { from: 20, until: 25 }])).toBe(17);
    expect(unionMs([{ from: 0, until: 10 }], 4, 8)).toBe(4);
    expect(unionMs([{ from: 10, until: 5 }])).toBe(0);
  });

  it('eager: the critical path follows dependencies only', async () => {
    const spec = (id: string, wave: number, s: number, e: number, dependsOn: string[] = []) => ({
      id, name: id, wave, cost: 1, agent: 'codex', state: 'done' as const, dependsOn,
      attempts: [{ id, n: 1, wave, start: s, end: e, ongoing: false, state: 'done' as const, critical: false, log: '' }],
    });
    // z waits for y, which waits for x; w (wave 0) ends late but nothing waits for it.
    const specs = [spec('x', 0, 0, 10), spec('w', 0, 0, 30), spec('y', 1, 10, 20, ['x']), spec('z', 2, 20, 40, ['y'])];
    expect(actualCriticalPath(specs, 'eager')).toEqual(['x', 'y', 'z']);
    // Under waves, y's wave waited for w (ended at 30) only if y started after it: it did not, so x still.
    expect(actualCriticalPath(specs, 'waves')).toEqual(['x', 'y', 'z']);
  });
});

describe('the page', () => {
  const hostile = [
    // Names cannot hold "/" (they name folders): the closing tag travels in a reason instead.
    { id: 'h1', name: '<script>alert(1)<script>', wave: 0 },
    { id: 'h2', name: `it's "q" $(touch pwned) #{x} #(y) <img src=x onerror=alert(3)>`, wave: 1, dependsOn: ['h1'] },
  ];

  it('escapes every name and reason; the data block parses; one bar per attempt', async () => {
    const c = await config(hostile);
    const d = state(
      { h1: [att(1, 0, 5, { state: 'failed', kind: 'agent-failed', reason: '</script><img src=x onerror=alert(2)>' }), att(2, 5, 9, { state: 'done', kind: 'done' })], h2: [att(1, 9, 12, { state: 'done', kind: 'done' })] },
      { completed: ['h1', 'h2'] },
    );
    const html = renderReport(buildReport(c, d, [{ time: at(0), event: 'run-start', run: 'r1', schedule: 'waves', specs: 2 }, { time: at(12), event: 'run-end', run: 'r1', outcome: 'done' }], { now: T0 + 20 * MIN }));
    expect(html).not.toMatch(/<script>alert|<img src=x/);
    expect(html.match(/<script[\s>]/g)).toHaveLength(2);
    expect(html).toContain('&#60;script&#62;alert(1)&#60;script&#62;');
    const block = /<script id="data" type="application\/json">([\s\S]*?)<\/script>/.exec(html)![1]!;
    const tips = JSON.parse(block) as string[][];
    expect(tips.some((t) => t.includes('</script><img src=x onerror=alert(2)>'))).toBe(true);
    expect(html.match(/data-a="/g)).toHaveLength(3);
    expect(html.match(/data-s="/g)).toHaveLength(2);
    // Nothing from elsewhere: no src or href to load.
    expect(html).not.toMatch(/\b(src|href)=["']?(https?:)?\/\//);
  });

  it('control characters never reach the page; labels are cut between characters, not inside an emoji', async () => {
    const c = await config([{ id: 'e1', name: `ctrl\x1b]0;PWNED\x07-${'😀'.repeat(40)}`, wave: 0 }]);
    const html = renderReport(buildReport(c, state({ e1: [att(1, 0, 1, { state: 'failed', kind: 'agent-failed', reason: `bad\x1b[31m ${'😀'.repeat(400)}` })] }, { failed: ['e1'] }), [], { now: T0 }));
    expect(html).not.toMatch(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/);
    expect(html).not.toMatch(/\uFFFD|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
  });

  it('a timeline over years still has about ten ticks', async () => {
    const c = await config([{ id: 'y', wave: 0 }]);
    const html = renderReport(buildReport(c, state({ y: [att(1, 0, 3 * 365 * 1440, { state: 'done', kind: 'done' })] }, { completed: ['y'] }), [], { now: T0 }));
    expect(html.match(/class="grid"/g)!.length).toBeLessThanOrEqual(12);
  });

  it('1,000 specs: the page stays under 1 MB', async () => {
    const many: Row[] = Array.from({ length: 1000 }, (_, i) => ({ id: `s${i}`, name: `spec-number-${i}`, wave: Math.floor(i / 100), ...(i >= 100 ? { dependsOn: [`s${i - 100}`, `s${(i * 7) % 100 + Math.floor(i / 100 - 1) * 100}`] } : {}) }));
    const c = await config(many);
    const hist = Object.fromEntries(many.map((r, i) => [r.id, i % 10 === 0 ? [att(1, r.wave * 10, r.wave * 10 + 4, { state: 'failed', kind: 'agent-failed', reason: 'exit 1' }), att(2, r.wave * 10 + 4, r.wave * 10 + 9, { state: 'done', kind: 'done', tokens: tok(5000, 1000, 800) })] : [att(1, r.wave * 10, r.wave * 10 + 8, { state: 'done', kind: 'done', tokens: tok(5000, 1000, 800) })]]));
    const html = renderReport(buildReport(c, state(hist, { completed: many.map((r) => r.id) }), [{ time: at(0), event: 'run-start', run: 'r1', schedule: 'waves', specs: 1000 }], { now: T0 + 200 * MIN }));
    expect(Buffer.byteLength(html)).toBeLessThan(1024 * 1024);
    expect(html.match(/data-a="/g)).toHaveLength(1100);
  });
});

describe('graph layout and text', () => {
  it('orders each wave to remove the crossings the table order makes', () => {
    // Table order crosses every edge: a→d, b→c.
    const specs = [
      { id: 'a', wave: 0, dependsOn: [] }, { id: 'b', wave: 0, dependsOn: [] },
      { id: 'c', wave: 1, dependsOn: ['b'] }, { id: 'd', wave: 1, dependsOn: ['a'] },
    ];
    expect(crossings(layoutGraph(specs, 0))).toBe(1);
    expect(crossings(layoutGraph(specs))).toBe(0);
    const l = layoutGraph(specs);
    expect(new Set(l.nodes.map((n) => n.x)).size).toBe(2);
    expect(l.edges).toHaveLength(2);
  });

  it('mermaid and dot: one cluster per wave, each edge once, hostile names kept inside their labels', async () => {
    const c = await config([
      { id: 'a', name: 'plain', wave: 0 },
      { id: 'b', name: 'q"uo]te #x <b> `tick` (p) {c} |p|', wave: 1, dependsOn: ['a'] },
      { id: 'c', name: 'dq "x" \t tab', wave: 1, dependsOn: ['a'] },
    ]);
    const d = state({}, { completed: ['a'] });
    const m = graphText(c, d, 'mermaid');
    expect(m.split('\n')[0]).toBe('flowchart LR');
    expect(m.match(/subgraph wave/g)).toHaveLength(2);
    expect(m.match(/-->/g)).toHaveLength(2);
    // Inside each label, no character that could end it: only entity codes.
    for (const label of m.match(/\["(.*)"\]/g)!) expect(label.slice(2, -2)).not.toMatch(/["[\]<>`(){}|]/);
    expect(m).toContain('s1["b q#34;uo#93;te #35;x #60;b#62; #96;tick#96; #40;p#41; #123;c#125; #124;p#124;"]:::pending');
    expect(m).toContain('s0["a plain"]:::done');
    const dot = graphText(c, d, 'dot');
    expect(dot).toContain('"c" [label="c dq \\"x\\"   tab", fillcolor="#ffffff", tooltip="pending"];');
    expect(dot.match(/subgraph cluster_wave/g)).toHaveLength(2);
    const amp = await config([{ id: 'a', name: 'x &lt;b&gt; \x1b[31m', wave: 0 }]);
    expect(graphText(amp, d, 'dot')).toContain('label="a x &amp;lt;b&amp;gt;  [31m"');
    expect(graphText(amp, d, 'mermaid')).not.toContain('\x1b');
    expect(dot.match(/ -> /g)).toHaveLength(2);
    expect(graphText(c, d, 'dot', 1)).not.toContain('"a"');
  });
});
