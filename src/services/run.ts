// `dispatch run` as a service: what a run would launch and what stands in its
// way (prepareRun), then the run itself under the run lock (executeRun). It
// returns data and reports events; src/commands/run.ts only renders them.
import type { ResolvedConfig, ResolvedSpec } from '../config/types.js';
import type { Lost } from '../attempt/liveness.js';
import type { Check, Executor } from '../executors/types.js';
import type { WavePlan } from '../run/launch-plan.js';
import type { Blocker, RunEvent, RunOutcome } from '../run/engine.js';
import type { RunLock } from '../state/run-lock.js';
import { own, type StateDoc } from '../state/doc.js';
import type { PlanStepResult } from './plan-step.js';
import type { Simulation } from './simulate.js';

export interface RunRequest {
  wave?: number;
  /** Specs named with --spec (ids or names). */
  spec?: string[];
  mux?: ResolvedConfig['multiplexer'];
  /** This run's schedule (default: the config's). */
  schedule?: 'waves' | 'eager';
  createSession?: boolean;
  dryRun?: boolean;
  /** False: --no-plan. */
  plan?: boolean;
  requirePlan?: boolean;
  /** False: --no-wait. */
  wait?: boolean;
  /** Token budget for this run (overrides budget.tokensPerRun once). */
  budget?: number;
  /** watch-handoff: wait this long for the previous run to release the lock. */
  lockWaitSeconds?: number;
}

export interface RunPreparation {
  mux: Executor;
  schedule: 'waves' | 'eager';
  /** The specs named with --spec. */
  only: Set<string> | undefined;
  waves: number[] | 'all';
  doc: StateDoc;
  /** Each wave with something to launch (kept unless `onWave` took them as they were planned). */
  previews: WavePlan[];
  /** The first wave with specs to launch now, if any. */
  firstPlanned: number | undefined;
  /** The first wave with work: to launch, or runs to adopt. */
  firstWave: number | undefined;
  /** What holds that wave back (earlier waves not complete); empty under eager. */
  blocked: Blocker[];
  /** Everything the launches need, checked before the first. */
  checks: Check[];
  /** Nothing to launch nor adopt: the failed specs of the scope, which a retry would put back. */
  nothing?: { failed: string[] };
  /** The specs this run may launch or adopt, in table order. */
  scope: ResolvedSpec[];
}

/**
 * What a run would do, found without launching anything: runners that died are recorded lost first (not on a
 * dry run), then each wave is planned, the blockers and the preflight checks found.
 */
export async function prepareRun(config: ResolvedConfig, req: RunRequest, hooks: { onLost?: (l: Lost) => void; onWave?: (p: WavePlan, mux: Executor) => void } = {}): Promise<RunPreparation> {
  const { findSpecs, readSpecFolders } = await import('../specs/lookup.js');
  const { resolveExecutorKind, createMux } = await import('../executors/choose.js');
  const { readState } = await import('../state/store.js');
  const { planWave } = await import('../run/launch-plan.js');
  const { forPreflight, preflight } = await import('../run/preflight.js');
  const only = req.spec?.length ? new Set(findSpecs(config, req.spec).map((s) => s.id)) : undefined;
  const waves = only ? [...new Set(config.specs.filter((s) => only.has(s.id)).map((s) => s.wave))].sort((a, b) => a - b) : req.wave !== undefined ? [req.wave] : ('all' as const);
  const schedule = req.schedule ?? config.schedule;
  const mux = await createMux(config, resolveExecutorKind(config, req.mux));
  if (!req.dryRun) {
    // A live run is named first: a second run is refused for that, whatever its waves.
    const { readRunLock, lockHeldError } = await import('../state/run-lock.js');
    const held = readRunLock(config.stateDir);
    if (held.lock && held.alive !== false && !req.lockWaitSeconds) throw lockHeldError(held.lock);
    // Runners that died hold their specs "running": record them as lost before judging the waves.
    const { reapLost } = await import('../attempt/liveness.js');
    for (const l of await reapLost(config, readState(config.stateDir), 'run')) hooks.onLost?.(l);
  }
  // What would launch now, wave by wave (later waves as if earlier ones completed).
  const doc = readState(config.stateDir);
  // The spec folders are listed once for every wave's plan.
  const folders = readSpecFolders(config.specsDir);
  const previews: WavePlan[] = [];
  const toCheck = [];
  let firstPlanned: number | undefined;
  for (const w of waves === 'all' ? config.waves : waves) {
    const p = planWave(config, doc, mux, w, { only, folders });
    if (!p.items.length) continue;
    firstPlanned ??= p.wave;
    for (const i of p.items) toCheck.push(forPreflight(i));
    // A text dry run takes each wave as it is planned: holding every launch of a 10,000-spec table until the
    // end doubled its time in garbage collection.
    if (hooks.onWave) hooks.onWave(p, mux);
    else previews.push(p);
  }
  const inScope = (s: ResolvedSpec) => (waves === 'all' || waves.includes(s.wave)) && (!only || only.has(s.id));
  const adopts = (s: ResolvedSpec) => !!(own(doc.dispatch?.running, s.id) || own(doc.dispatch?.waiting, s.id));
  // The first wave with work: specs to launch, or live runners and rate-limited specs to adopt (a run whose
  // dispatcher was killed resumes there and carries on to the later waves).
  const adoptWave = config.specs.filter((s) => inScope(s) && adopts(s)).reduce((m, s) => Math.min(m, s.wave), Infinity);
  const first = Math.min(firstPlanned ?? Infinity, adoptWave);
  const firstWave = first === Infinity ? undefined : first;
  // A wave whose earlier waves are not complete cannot start. Eager: no wave waits for another; what a
  // dependency holds back is named when the run ends.
  const { blockersBefore, dependencyBlockers } = await import('../run/engine.js');
  const blocked = firstWave === undefined || schedule === 'eager' ? [] : only
    ? dependencyBlockers(config, doc, config.specs.filter((s) => only.has(s.id)), firstWave)
    : blockersBefore(config, doc, firstWave);
  const checks = await preflight(config, toCheck, mux, doc, { createSession: !!req.createSession });
  const scope = config.specs.filter((s) => (only ? only.has(s.id) : waves === 'all' || waves.includes(s.wave)));
  const adopting = config.specs.some((s) => (waves === 'all' || waves.includes(s.wave)) && adopts(s));
  const nothing = firstPlanned === undefined && !adopting
    ? { failed: (waves === 'all' ? config.specs : config.specs.filter(inScope)).filter((s) => doc.failed.includes(s.id)).map((s) => s.id) }
    : undefined;
  return { mux, schedule, only, waves, doc, previews, firstPlanned, firstWave, blocked, checks, scope, ...(nothing ? { nothing } : {}) };
}

/** `run --dry-run --schedule eager`: the launch order on the simulated clock, and what each spec waits for. */
export async function eagerOrder(config: ResolvedConfig, prep: Pick<RunPreparation, 'doc' | 'only' | 'waves'>): Promise<Simulation> {
  const { simulate } = await import('./simulate.js');
  return simulate(config, prep.doc, { schedule: 'eager', durations: 'history', ...(prep.only ? { only: prep.only } : prep.waves === 'all' ? {} : { waves: prep.waves }) });
}

export interface RunHooks {
  signal: AbortSignal;
  onEvent: (e: RunEvent) => void;
  /** A run lock left by a dispatcher that is gone, taken over. */
  onStaleLock?: (old: RunLock) => void;
  onSessionCreated?: () => void;
  /** Each wave's pre-planning, as it went (not called with --no-plan). */
  onPlanned?: (r: PlanStepResult) => void;
}

/** Runs what `prep` found, under the run lock (waited for up to --lock-wait), in the executor's session. */
export async function executeRun(config: ResolvedConfig, prep: RunPreparation, req: RunRequest, hooks: RunHooks): Promise<RunOutcome> {
  const { acquireRunLock, releaseRunLock } = await import('../state/run-lock.js');
  const deadline = Date.now() + (req.lockWaitSeconds ?? 0) * 1000;
  let lock;
  for (;;) {
    try {
      lock = acquireRunLock(config.stateDir, { command: `run${req.wave !== undefined ? ` --wave ${req.wave}` : ''}`, wave: req.wave ?? null }, (old) => hooks.onStaleLock?.(old));
      break;
    } catch (err) {
      if (Date.now() > deadline || hooks.signal.aborted) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    const session = await prep.mux.ensureSession(!!req.createSession);
    if (session.created) hooks.onSessionCreated?.();
    const { runWaves } = await import('../run/engine.js');
    const beforeWave = async (_wave: number, specs: ResolvedSpec[]) => {
      if (req.plan === false) return;
      const { planBeforeLaunch } = await import('./plan-step.js');
      hooks.onPlanned?.(await planBeforeLaunch(config, specs, { require: !!req.requirePlan, signal: hooks.signal }));
    };
    const merge = async (spec: ResolvedSpec) => {
      const { mergeSpec } = await import('./merge.js');
      try {
        const r = await mergeSpec(config, spec, { verify: 'if-configured', command: 'run', recordStop: true });
        return r.ok ? { ok: true } : { ok: false, stopped: true, reason: r.reason };
      } catch (err) {
        return { ok: false, reason: (err as Error).message };
      }
    };
    return await runWaves(config, {
      mux: prep.mux, scope: prep.scope, ...(prep.only ? { explicit: prep.only } : {}), schedule: prep.schedule, wait: req.wait !== false,
      signal: hooks.signal, onEvent: hooks.onEvent, beforeWave, merge, ...(req.budget ? { tokensPerRun: req.budget } : {}),
    });
  } finally {
    releaseRunLock(config.stateDir, lock);
  }
}
