// What `dispatch report` shows, as data: every attempt of every spec in scope
// (one run, or every launch), the waits the journal recorded (rate limits,
// batch pauses, verify spans), the critical path the run actually took, and
// the figures. Pure: the state, the journal and the clock come in; tests check
// the figures exactly.
import type { ResolvedConfig, ResolvedSpec } from '../config/types.js';
import { UsageError } from '../errors.js';
import { own, stateIndex, type AttemptRecord, type SpecState, type StateDoc, type VerdictKind } from '../state/doc.js';
import { lowerBound, type Estimate } from '../schedule/estimate.js';
import { modelOf } from '../agents/command.js';
import { attemptLogPath } from '../attempt/paths.js';

export type JournalLine = { time: string; event?: string; seq?: number } & Record<string, unknown>;

import type { Tokens } from '../agents/types.js';

export type { Tokens };

export interface ReportAttempt {
  id: string;
  n: number;
  wave: number;
  /** Epoch milliseconds; an attempt still running ends "now". */
  start: number;
  end: number;
  ongoing: boolean;
  state: 'done' | 'failed' | 'rate-limited' | 'running';
  kind?: VerdictKind;
  reason?: string;
  tokens?: Tokens;
  /** In dollars, where `pricing` has the spec's model. */
  cost?: number;
  verify?: { passed: number; total: number; seconds: number; ok: boolean };
  /** When its checks ran (from the journal, else the checks' seconds before its end). */
  verifySpan?: { from: number; until: number };
  runId?: string;
  critical: boolean;
  log: string;
}

export interface ReportSpec {
  id: string;
  name: string;
  title?: string;
  wave: number;
  cost: number;
  agent: string;
  state: SpecState | 'awaiting-merge';
  dependsOn: string[];
  attempts: ReportAttempt[];
}

export interface ReportRun {
  id: string;
  start: number;
  end?: number;
  schedule?: string;
  outcome?: string;
}

export interface Interval {
  from: number;
  until: number;
}

export interface Figures {
  makespanMs: number;
  /** `simulate`'s lower bound over the same specs, with each one's actual (last) duration. */
  lowerBoundMs: number;
  lowerBoundBy: string;
  specs: number;
  launched: number;
  done: number;
  failed: number;
  running: number;
  donePerHour: number;
  attempts: number;
  /** Launches beyond each spec's first, over all launches. */
  retryRate: number;
  rateLimitWaitMs: number;
  batchPauseMs: number;
  verifyMs: number;
  verify: { passed: number; total: number; rate?: number };
  tokens: Tokens;
  /** Mean tokens per launched spec. */
  tokensPerSpec: number;
  /** Dollars, when every attempt with tokens has a price; `partial` lists the models without one. */
  cost?: number;
  unpricedModels: string[];
  perWave: { wave: number; specs: number; done: number; attempts: number; tokens: number; cost?: number }[];
  perRun: { run: string; attempts: number; done: number; tokens: number; cost?: number }[];
}

export interface ReportData {
  project: string;
  generatedAt: number;
  /** What the report covers: one run, or every launch. */
  scope: { run?: string; all: boolean };
  runs: ReportRun[];
  start: number;
  end: number;
  inProgress: boolean;
  specs: ReportSpec[];
  rateLimitWaits: (Interval & { spec: string; agent: string })[];
  batchPauses: Interval[];
  criticalPath: string[];
  figures: Figures;
  failures: { id: string; name: string; n: number; kind?: VerdictKind; reason?: string; log: string }[];
}

export interface ReportOptions {
  run?: string;
  all?: boolean;
  now: number;
}

// Times as dispatch writes them (ISO 8601, from 2000 on): Date.parse would also read "5" as May 2001, and a
// year-1 date would stretch the timeline over two thousand years.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;
const EARLIEST = Date.UTC(2000, 0, 1);
const ms = (iso: unknown) => {
  if (typeof iso !== 'string' || !ISO_TIME.test(iso)) return Number.NaN;
  const t = Date.parse(iso);
  return t >= EARLIEST ? t : Number.NaN;
};
const STATES = new Set(['done', 'failed', 'rate-limited']);

/** The length of a union of intervals, each clipped to [lo, hi]. */
export function unionMs(intervals: readonly Interval[], lo = -Infinity, hi = Infinity): number {
  const xs = intervals
    .map((i) => ({ from: Math.max(lo, i.from), until: Math.min(hi, i.until) }))
    .filter((i) => i.until > i.from)
    .sort((a, b) => a.from - b.from);
  let total = 0;
  let curFrom = -Infinity;
  let curUntil = -Infinity;
  for (const i of xs) {
    if (i.from > curUntil) {
      if (curUntil > curFrom) total += curUntil - curFrom;
      curFrom = i.from;
      curUntil = i.until;
    } else curUntil = Math.max(curUntil, i.until);
  }
  if (curUntil > curFrom) total += curUntil - curFrom;
  return total;
}

function runsOf(journal: readonly JournalLine[]): ReportRun[] {
  const runs = new Map<string, ReportRun>();
  for (const e of journal) {
    if (typeof e.run !== 'string') continue;
    if (e.event === 'run-start') runs.set(e.run, { id: e.run, start: ms(e.time), ...(typeof e.schedule === 'string' ? { schedule: e.schedule } : {}) });
    else if (e.event === 'run-end') {
      const r = runs.get(e.run);
      if (r) Object.assign(r, { end: ms(e.time), ...(typeof e.outcome === 'string' ? { outcome: e.outcome } : {}) });
    }
  }
  return [...runs.values()].filter((r) => Number.isFinite(r.start));
}

/** Dollars for these tokens at this model's prices (input counts cached input, as Codex reports it). */
function priced(config: ResolvedConfig, model: string | undefined, t: Tokens): number | undefined {
  const p = model && Object.hasOwn(config.pricing, model) ? config.pricing[model] : undefined;
  if (!p) return undefined;
  const cached = Math.min(t.cachedInput, t.input);
  return ((t.input - cached) * p.input + cached * (p.cachedInput ?? p.input) + t.output * p.output) / 1e6;
}

export function buildReport(config: ResolvedConfig, doc: StateDoc, journal: readonly JournalLine[], o: ReportOptions): ReportData {
  const runs = runsOf(journal);
  if (o.run !== undefined && o.all) throw new UsageError('--run and --all do not go together', 'pick one run (--run ID) or every launch (--all)');
  const hasRunIds = new Set<string>();
  for (const rec of Object.values(doc.dispatch?.specs ?? {})) for (const h of rec?.history ?? []) if (h.runId) hasRunIds.add(h.runId);
  if (o.run !== undefined && !runs.some((r) => r.id === o.run) && !hasRunIds.has(o.run)) {
    const known = runs.map((r) => r.id);
    throw new UsageError(`there is no run ${JSON.stringify(o.run)}${known.length ? ` — the runs are ${known.slice(-5).join(', ')}${known.length > 5 ? ' (the last 5)' : ''}` : ' — nothing has run yet'}`, "'dispatch report' shows the latest run, 'dispatch report --all' every launch");
  }
  // Default: the latest run; a project whose launches carry no run (or never ran) shows every launch.
  const runId = o.all ? undefined : (o.run ?? runs.at(-1)?.id);
  const inScope = (h: AttemptRecord) => runId === undefined || h.runId === runId;
  const state = stateIndex(doc);
  const running = doc.dispatch?.running ?? {};

  const specs: ReportSpec[] = [];
  const attempts: ReportAttempt[] = [];
  const verifySpans = new Map<string, Interval>();
  for (const e of journal) {
    if (e.event !== 'verify' || typeof e.spec !== 'string') continue;
    const from = ms(e.from);
    const until = ms(e.until);
    if (Number.isFinite(from) && Number.isFinite(until)) verifySpans.set(`${e.spec}#${e.attempt}`, { from, until });
  }
  for (const s of config.specs) {
    const rec = own(doc.dispatch?.specs, s.id);
    const st = state(s.id);
    const row: ReportSpec = {
      id: s.id, name: s.name, ...(s.title ? { title: s.title } : {}), wave: s.wave, cost: s.cost, agent: s.agent,
      state: st === 'done' && rec?.awaitingMerge ? 'awaiting-merge' : st, dependsOn: s.dependsOn, attempts: [],
    };
    const model = modelOf(config, s);
    for (const h of rec?.history ?? []) {
      if (!inScope(h)) continue;
      const start = ms(h.startedAt);
      if (!Number.isFinite(start)) continue;
      const live = !h.endedAt && own(running, s.id)?.attempt === h.n;
      // An attempt with no end that is not running now was cut off (a crash before its verdict): it ends where it began.
      const end = h.endedAt ? ms(h.endedAt) : live ? o.now : start;
      const a: ReportAttempt = {
        id: s.id, n: h.n, wave: h.wave ?? s.wave, start, end: Math.max(start, Number.isFinite(end) ? end : start), ongoing: live,
        state: live ? 'running' : STATES.has(h.state as string) ? h.state! : 'failed', ...(h.kind ? { kind: h.kind } : {}), ...(h.reason ? { reason: h.reason } : {}),
        ...(h.runId ? { runId: h.runId } : {}), critical: false, log: attemptLogPath(config, s.id, h.n),
      };
      if (h.tokens) {
        a.tokens = { input: h.tokens.input ?? 0, cachedInput: h.tokens.cachedInput ?? 0, output: h.tokens.output ?? 0, total: h.tokens.total ?? 0 };
        const cost = priced(config, model, a.tokens);
        if (cost !== undefined) a.cost = cost;
      }
      if (h.verify?.length) {
        const passed = h.verify.filter((v) => v.ok).length;
        const seconds = h.verify.reduce((t, v) => t + (Number.isFinite(v.seconds) && v.seconds > 0 ? v.seconds : 0), 0);
        a.verify = { passed, total: h.verify.length, seconds, ok: passed === h.verify.length };
        a.verifySpan = verifySpans.get(`${s.id}#${h.n}`) ?? { from: Math.max(a.start, a.end - seconds * 1000), until: a.end };
      }
      row.attempts.push(a);
      attempts.push(a);
    }
    specs.push(row);
  }

  const run = runId === undefined ? undefined : runs.find((r) => r.id === runId);
  // Reduced, not spread: a table of thousands of attempts would overflow the call stack.
  const first = attempts.reduce((m, a) => Math.min(m, a.start), run?.start ?? Infinity);
  // In progress while an attempt runs: a run whose dispatcher died without its end line is over when its attempts are.
  const inProgress = attempts.some((a) => a.ongoing) || (run !== undefined && run.end === undefined && !attempts.length);
  const lastEnd = attempts.reduce((m, a) => Math.max(m, a.end), run?.end ?? -Infinity);
  const start = Number.isFinite(first) ? first : o.now;
  const end = inProgress ? Math.max(o.now, lastEnd) : Number.isFinite(lastEnd) ? lastEnd : start;
  const inRun = (e: JournalLine) => runId === undefined || e.run === runId;
  const rateLimitWaits = journal
    .filter((e) => e.event === 'rate-limit-wait' && inRun(e))
    .map((e) => ({ from: ms(e.time), until: ms(e.until), spec: String(e.spec ?? ''), agent: String(e.agent ?? '') }))
    .filter((w) => Number.isFinite(w.from) && Number.isFinite(w.until));
  const batchPauses = journal
    .filter((e) => e.event === 'batch-pause' && inRun(e))
    .map((e) => ({ from: ms(e.from), until: ms(e.until) }))
    .filter((w) => Number.isFinite(w.from) && Number.isFinite(w.until));

  const schedule = (run?.schedule === 'eager' || run?.schedule === 'waves' ? run.schedule : config.schedule) as 'waves' | 'eager';
  const criticalPath = actualCriticalPath(specs, schedule);
  const onPath = new Set(criticalPath);
  for (const a of attempts) a.critical = onPath.has(a.id);

  return {
    project: config.project,
    generatedAt: o.now,
    scope: { ...(runId !== undefined ? { run: runId } : {}), all: runId === undefined },
    runs,
    start,
    end,
    inProgress,
    specs,
    rateLimitWaits,
    batchPauses,
    criticalPath,
    figures: figuresOf(config, specs, attempts, { start, end, schedule, rateLimitWaits, batchPauses, runs }),
    failures: specs.flatMap((s) => {
      const last = s.attempts.at(-1);
      return last && last.state === 'failed' && s.state === 'failed' ? [{ id: s.id, name: s.name, n: last.n, ...(last.kind ? { kind: last.kind } : {}), ...(last.reason ? { reason: last.reason } : {}), log: last.log }] : [];
    }),
  };
}

/**
 * The chain that set the run's length: from the spec that ended last, back through whatever it waited
 * for (its dependencies, and under waves every spec of the waves before it), each time to the one that
 * ended last before it started.
 */
export function actualCriticalPath(specs: readonly ReportSpec[], schedule: 'waves' | 'eager'): string[] {
  const launched = specs.filter((s) => s.attempts.length);
  if (!launched.length) return [];
  const span = new Map(launched.map((s) => [s.id, { start: s.attempts[0]!.start, end: s.attempts.reduce((m, a) => Math.max(m, a.end), -Infinity) }]));
  const byId = new Map(launched.map((s) => [s.id, s]));
  const waves = [...new Set(launched.map((s) => s.wave))].sort((a, b) => a - b);
  const prevWave = new Map(waves.slice(1).map((w, i) => [w, waves[i]!]));
  // Under waves, the latest-ending spec of each wave is what the next wave waited for.
  const lastOfWave = new Map<number, string>();
  for (const s of launched) {
    const cur = lastOfWave.get(s.wave);
    if (cur === undefined || span.get(s.id)!.end > span.get(cur)!.end) lastOfWave.set(s.wave, s.id);
  }
  let cur = launched.reduce((best, s) => (span.get(s.id)!.end > span.get(best.id)!.end ? s : best)).id;
  const path = [cur];
  const seen = new Set(path);
  for (;;) {
    const me = byId.get(cur)!;
    const startAt = span.get(cur)!.start;
    const candidates = me.dependsOn.filter((d) => byId.has(d));
    if (schedule === 'waves') {
      const before = prevWave.get(me.wave);
      if (before !== undefined) candidates.push(lastOfWave.get(before)!);
    }
    let next: string | undefined;
    for (const c of candidates) {
      const e = span.get(c)!.end;
      if (seen.has(c) || e > startAt) continue;
      if (next === undefined || e > span.get(next)!.end) next = c;
    }
    if (next === undefined) break;
    path.push(next);
    seen.add(next);
    cur = next;
  }
  return path.reverse();
}

function sumTokens(xs: readonly ReportAttempt[]): Tokens {
  const t: Tokens = { input: 0, cachedInput: 0, output: 0, total: 0 };
  for (const a of xs) {
    if (!a.tokens) continue;
    t.input += a.tokens.input;
    t.cachedInput += a.tokens.cachedInput;
    t.output += a.tokens.output;
    t.total += a.tokens.total;
  }
  return t;
}

/** Dollars over these attempts, or undefined when one of them used tokens at no known price. */
function costOf(xs: readonly ReportAttempt[]): number | undefined {
  let total = 0;
  for (const a of xs) {
    if (!a.tokens?.total) continue;
    if (a.cost === undefined) return undefined;
    total += a.cost;
  }
  return total;
}

function figuresOf(
  config: ResolvedConfig, specs: readonly ReportSpec[], attempts: readonly ReportAttempt[],
  w: { start: number; end: number; schedule: 'waves' | 'eager'; rateLimitWaits: Interval[]; batchPauses: Interval[]; runs: ReportRun[] },
): Figures {
  const launched = specs.filter((s) => s.attempts.length);
  const last = (s: ReportSpec) => s.attempts.at(-1)!;
  const makespanMs = Math.max(0, w.end - w.start);
  const durations = new Map<string, Estimate>(launched.map((s) => [s.id, { ms: last(s).end - last(s).start, from: 'history' }]));
  const scoped = new Set(launched.map((s) => s.id));
  const lb = lowerBound(config, config.specs.filter((s: ResolvedSpec) => scoped.has(s.id)), durations, w.schedule);
  const done = launched.filter((s) => s.attempts.some((a) => a.state === 'done')).length;
  const withVerify = attempts.filter((a) => a.verify);
  const passed = withVerify.filter((a) => a.verify!.ok).length;
  const tokens = sumTokens(attempts);
  const unpriced = new Set<string>();
  for (const s of launched) {
    if (!s.attempts.some((a) => a.tokens?.total && a.cost === undefined)) continue;
    unpriced.add(modelOf(config, s) ?? `(${s.agent}: model unknown)`);
  }
  const cost = costOf(attempts);
  const byWave = new Map<number, ReportSpec[]>();
  for (const s of specs) (byWave.get(s.wave) ?? byWave.set(s.wave, []).get(s.wave)!).push(s);
  const waves = [...byWave.keys()].sort((a, b) => a - b);
  const byRun = new Map<string, ReportAttempt[]>();
  for (const a of attempts) (byRun.get(a.runId ?? '') ?? byRun.set(a.runId ?? '', []).get(a.runId ?? '')!).push(a);
  const runIds = [...byRun.keys()];
  return {
    makespanMs,
    lowerBoundMs: lb.ms,
    lowerBoundBy: lb.by,
    specs: specs.length,
    launched: launched.length,
    done,
    failed: launched.filter((s) => s.state === 'failed').length,
    running: attempts.filter((a) => a.ongoing).length,
    donePerHour: makespanMs > 0 ? done / (makespanMs / 3_600_000) : 0,
    attempts: attempts.length,
    retryRate: attempts.length ? (attempts.length - launched.length) / attempts.length : 0,
    rateLimitWaitMs: unionMs(w.rateLimitWaits, w.start, w.end),
    batchPauseMs: unionMs(w.batchPauses, w.start, w.end),
    verifyMs: attempts.reduce((t, a) => t + (a.verify ? a.verify.seconds * 1000 : 0), 0),
    verify: { passed, total: withVerify.length, ...(withVerify.length ? { rate: passed / withVerify.length } : {}) },
    tokens,
    tokensPerSpec: launched.length ? tokens.total / launched.length : 0,
    ...(cost !== undefined && tokens.total > 0 ? { cost } : {}),
    unpricedModels: [...unpriced].sort(),
    perWave: waves.map((wave) => {
      const ss = byWave.get(wave)!;
      const xs = ss.flatMap((s) => s.attempts);
      const c = costOf(xs);
      return { wave, specs: ss.length, done: ss.filter((s) => s.attempts.some((a) => a.state === 'done')).length, attempts: xs.length, tokens: sumTokens(xs).total, ...(c !== undefined && xs.some((a) => a.tokens?.total) ? { cost: c } : {}) };
    }),
    perRun: runIds.map((run) => {
      const xs = byRun.get(run)!;
      const c = costOf(xs);
      return { run: run || '(by hand)', attempts: xs.length, done: new Set(xs.filter((a) => a.state === 'done').map((a) => a.id)).size, tokens: sumTokens(xs).total, ...(c !== undefined && xs.some((a) => a.tokens?.total) ? { cost: c } : {}) };
    }),
  };
}
