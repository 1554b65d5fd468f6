// `dispatch simulate`: the scheduler `run` uses, driven by a simulated clock and
// world, over the specs a run would launch. Returns when each spec would start and
// end, the makespan, the critical path and the lower bound.
import type { ResolvedConfig, ResolvedSpec } from '../config/types.js';
import { emptyState, own, stateOf, type StateDoc } from '../state/doc.js';
import { isComplete } from '../state/doc.js';
import { runSchedule } from '../schedule/loop.js';
import { SimWorld } from '../schedule/sim.js';
import { criticalPath, estimateDurations, lowerBound, type Estimate, type LowerBound } from '../schedule/estimate.js';
import type { BlockedSpec } from '../schedule/events.js';

export interface SimulateOptions {
  schedule: 'waves' | 'eager';
  durations: 'history' | 'cost';
  /** The whole table from scratch (default: from the current state: what is complete stays complete). */
  all?: boolean;
  /** Only these specs (run --spec) or these waves (run --wave). */
  only?: ReadonlySet<string>;
  waves?: number[];
}

export interface SimulatedSpec {
  id: string;
  name: string;
  wave: number;
  cost: number;
  agent: string;
  /** Offsets from the start of the simulated run. */
  startMs: number;
  endMs: number;
  durationMs: number;
  estimateFrom: Estimate['from'];
  /** Its dependencies that are not complete when the run starts. */
  waitsFor: string[];
}

export interface Simulation {
  schedule: 'waves' | 'eager';
  durations: 'history' | 'cost';
  makespanMs: number;
  lowerBound: LowerBound;
  criticalPath: { ms: number; ids: string[] };
  specs: SimulatedSpec[];
  /** Specs that would never start (a dependency awaiting a merge by hand, or blocked under waves). */
  blocked: BlockedSpec[];
  /** Waves: the wave the run would stop before. */
  blockedWave?: number;
}

export async function simulate(config: ResolvedConfig, real: StateDoc, o: SimulateOptions): Promise<Simulation> {
  const doc = o.all ? emptyState() : real;
  const scope = config.specs.filter((s) => (o.only ? o.only.has(s.id) : !o.waves || o.waves.includes(s.wave)));
  const durations = estimateDurations(config, real, config.specs, o.durations);
  const ms = (s: ResolvedSpec) => durations.get(s.id)!.ms;
  const start = Date.now();
  // A spec running now ends when its estimate says, counted from when it started.
  const runningEndsAt = new Map<string, number>();
  for (const s of scope) {
    const r = own(doc.dispatch?.running, s.id);
    // Never later than a fresh start would end: a start recorded in the future (a clock set wrong) is not believed.
    if (r) runningEndsAt.set(s.id, Math.min(start + ms(s), Math.max(start, (Date.parse(r.startedAt) || start) + ms(s))));
  }
  const world = new SimWorld(config.specs, { doc, start, durationOf: ms, runningEndsAt, recordHooks: false });
  const outcome = await runSchedule(config, world, world, {
    schedule: o.schedule, scope, wait: true, signal: new AbortController().signal, durations, rows: false, runId: 'simulated',
    ...(o.only ? { explicit: o.only } : {}),
  });
  const runsOf = new Map<string, typeof world.attempts>();
  for (const a of world.attempts) (runsOf.get(a.id) ?? runsOf.set(a.id, []).get(a.id)!).push(a);
  const remaining = scope.filter((s) => !isComplete(doc, s.id) || runsOf.has(s.id));
  const specs: SimulatedSpec[] = [];
  for (const s of scope) {
    const runs = runsOf.get(s.id) ?? [];
    const adopted = runningEndsAt.get(s.id);
    if (!runs.length && adopted === undefined) continue;
    const first = runs[0]?.start ?? start;
    const end = adopted ?? runs.at(-1)!.end;
    specs.push({
      id: s.id, name: s.name, wave: s.wave, cost: s.cost, agent: s.agent,
      startMs: first - start, endMs: end - start, durationMs: ms(s), estimateFrom: durations.get(s.id)!.from,
      waitsFor: s.dependsOn.filter((d) => !isComplete(doc, d)),
    });
  }
  const makespanMs = specs.reduce((m, s) => Math.max(m, s.endMs), 0);
  const todo = remaining.filter((s) => stateOf(doc, s.id) !== 'running' || runningEndsAt.has(s.id));
  return {
    schedule: o.schedule,
    durations: o.durations,
    makespanMs,
    lowerBound: lowerBound(config, todo, durations, o.schedule),
    criticalPath: criticalPath(todo, durations),
    specs,
    blocked: outcome.blockedSpecs ?? [],
    ...(outcome.blocked ? { blockedWave: outcome.blocked.wave } : {}),
  };
}
