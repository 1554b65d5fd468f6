// How long specs are expected to take, and what that means for a schedule: the
// critical path and the lower bound no schedule can beat. Used by `simulate` and
// by eager scheduling, which starts first the ready spec with the most work behind it.
import type { ResolvedConfig, ResolvedSpec } from '../config/types.js';
import { own, type StateDoc } from '../state/doc.js';
import { MAX_ESTIMATE_MINUTES } from '../config/limits.js';

export interface Estimate {
  ms: number;
  from: 'history' | 'cost';
}

/** Each spec's expected duration: the median of its done attempts, or else the config's estimate by cost. */
export function estimateDurations(config: Pick<ResolvedConfig, 'estimateMinutes'>, doc: StateDoc, specs: readonly ResolvedSpec[], source: 'history' | 'cost' = 'history'): Map<string, Estimate> {
  const m = new Map<string, Estimate>();
  for (const s of specs) {
    const past = source === 'history' ? doneDurations(doc, s.id) : [];
    m.set(s.id, past.length ? { ms: bounded(median(past)), from: 'history' } : { ms: bounded(config.estimateMinutes[s.cost] * 60_000), from: 'cost' });
  }
  return m;
}

/**
 * At most the config's bound on an estimate, whatever the state or the config held: a schedule of
 * such durations still ends within the dates a Date can hold (`simulate` prints them).
 */
function bounded(ms: number): number {
  return Number.isFinite(ms) ? Math.min(Math.max(0, ms), MAX_ESTIMATE_MINUTES * 60_000) : MAX_ESTIMATE_MINUTES * 60_000;
}

function doneDurations(doc: StateDoc, id: string): number[] {
  const out: number[] = [];
  for (const h of own(doc.dispatch?.specs, id)?.history ?? []) {
    if (h.state !== 'done' || !h.endedAt) continue;
    const ms = Date.parse(h.endedAt) - Date.parse(h.startedAt);
    if (Number.isFinite(ms) && ms >= 0) out.push(ms);
  }
  return out;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * For each spec, the longest chain of work from its start to the end of its last
 * dependent (its own duration included), over the dependencies among `specs`.
 */
export function bottomLevels(specs: readonly ResolvedSpec[], durations: ReadonlyMap<string, Estimate>): Map<string, number> {
  const inScope = new Set(specs.map((s) => s.id));
  const dependents = new Map<string, string[]>();
  for (const s of specs) for (const d of s.dependsOn) if (inScope.has(d)) (dependents.get(d) ?? dependents.set(d, []).get(d)!).push(s.id);
  const level = new Map<string, number>();
  // Dependencies sit in earlier waves: visiting the latest waves first sees every dependent before its dependency.
  const order = [...specs].sort((a, b) => b.wave - a.wave);
  for (const s of order) {
    let after = 0;
    for (const d of dependents.get(s.id) ?? []) after = Math.max(after, level.get(d) ?? 0);
    level.set(s.id, (durations.get(s.id)?.ms ?? 0) + after);
  }
  return level;
}

/** The longest chain of dependent specs, by expected duration. */
export function criticalPath(specs: readonly ResolvedSpec[], durations: ReadonlyMap<string, Estimate>): { ms: number; ids: string[] } {
  const level = bottomLevels(specs, durations);
  const inScope = new Set(specs.map((s) => s.id));
  const dependents = new Map<string, string[]>();
  for (const s of specs) for (const d of s.dependsOn) if (inScope.has(d)) (dependents.get(d) ?? dependents.set(d, []).get(d)!).push(s.id);
  let best: string | undefined;
  for (const s of specs) if (best === undefined || level.get(s.id)! > level.get(best)!) best = s.id;
  const ids: string[] = [];
  for (let cur = best; cur !== undefined; ) {
    ids.push(cur);
    let next: string | undefined;
    for (const d of dependents.get(cur) ?? []) if (next === undefined || level.get(d)! > level.get(next)!) next = d;
    cur = next;
  }
  return { ms: best === undefined ? 0 : level.get(best)!, ids };
}

export interface LowerBound {
  ms: number;
  /** Which of the bounds below is the largest. */
  by: 'critical path' | 'work / maxParallel' | 'pacing' | 'sequential wave';
  criticalPathMs: number;
  workMs: number;
  pacingMs: number;
  sequentialMs: number;
}

/**
 * No schedule finishes sooner than the largest of: the critical path; the total work
 * spread over maxParallel slots; the launches' own pacing (every cooldown but the
 * last, the batch pauses that must come before the last launch, then the shortest
 * spec); and the longest sequential wave run one spec after another.
 */
export function lowerBound(config: Pick<ResolvedConfig, 'pacing' | 'waveOptions'>, specs: readonly ResolvedSpec[], durations: ReadonlyMap<string, Estimate>, schedule: 'waves' | 'eager'): LowerBound {
  const ms = (id: string) => durations.get(id)?.ms ?? 0;
  const criticalPathMs = criticalPath(specs, durations).ms;
  const total = specs.reduce((t, s) => t + ms(s.id), 0);
  const cap = config.pacing.maxParallel;
  const workMs = cap ? total / cap : 0;
  let pacingMs = 0;
  if (specs.length) {
    const p = config.pacing;
    const cool = (s: ResolvedSpec) => (p.cooldownSeconds[s.cost] ?? 0) * 1000;
    // Every cooldown but the last delays a launch: over the run (eager), or within each wave (waves).
    const groups = new Map<number, number[]>();
    for (const s of specs) {
      const key = schedule === 'eager' ? 0 : s.wave;
      (groups.get(key) ?? groups.set(key, []).get(key)!).push(cool(s));
    }
    let cooldownMs = 0;
    for (const g of groups.values()) cooldownMs += g.reduce((a, b) => a + b, 0) - Math.max(...g);
    const batched = specs.filter((s) => s.wave >= p.batch.fromWave);
    // Batch pauses are counted over the whole run (eager) or afresh in each wave (waves).
    let pauses = 0;
    if (schedule === 'eager') pauses = Math.floor(Math.max(0, batched.length - 1) / p.batch.every);
    else {
      const perWave = new Map<number, number>();
      for (const s of batched) perWave.set(s.wave, (perWave.get(s.wave) ?? 0) + 1);
      for (const n of perWave.values()) pauses += Math.floor(Math.max(0, n - 1) / p.batch.every);
    }
    pacingMs = cooldownMs + pauses * p.batch.pauseSeconds * 1000 + Math.min(...specs.map((s) => ms(s.id)));
  }
  let sequentialMs = 0;
  const perWave = new Map<number, number>();
  for (const s of specs) if (config.waveOptions[String(s.wave)]?.sequential) perWave.set(s.wave, (perWave.get(s.wave) ?? 0) + ms(s.id));
  for (const v of perWave.values()) sequentialMs = Math.max(sequentialMs, v);
  const parts: [LowerBound['by'], number][] = [['critical path', criticalPathMs], ['work / maxParallel', workMs], ['pacing', pacingMs], ['sequential wave', sequentialMs]];
  const [by, best] = parts.reduce((a, b) => (b[1] > a[1] ? b : a));
  return { ms: best, by, criticalPathMs, workMs, pacingMs, sequentialMs };
}
