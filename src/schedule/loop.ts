// The scheduler: which spec launches when. One implementation serves `run`
// (real clock, real world) and `simulate` (simulated clock and world).
//
// waves: a wave starts when every earlier wave is complete, as in the original tool.
// eager: a spec starts as soon as each of its dependencies is complete, whatever its wave;
//        a failure blocks only what depends on it, and the ready spec with the most work
//        behind it goes first.
// Both keep the cooldown by cost (widened per agent after a rate limit), the batch pause,
// maxParallel, sequential waves, rate-limit pauses, budgets and the retry policy.
import type { ResolvedConfig, ResolvedSpec } from '../config/types.js';
import { claimRefusal, kindOf, launchBasis, own, stateOf, type LaunchBasis, type StateDoc, type VerdictKind } from '../state/doc.js';
import { isComplete } from '../state/doc.js';
import { canRelaunch } from '../attempt/policy.js';
import type { Clock } from './clock.js';
import type { BlockedSpec, LaunchRefusal, RunEvent, RunOutcome } from './events.js';
import { bottomLevels, type Estimate } from './estimate.js';
import { specsOfWave } from '../config/spec-index.js';
import { AgentPacing } from './pacing.js';
import { blockedRoots, blockerOf, dependencyBlockers, depsComplete, firstIncomplete, tokensByWave, tokensUsed } from './readiness.js';
import type { World } from './world.js';
import { rowsFor } from './rows.js';

export interface ScheduleOptions {
  schedule: 'waves' | 'eager';
  /** The specs this run may launch or adopt, in table order. */
  scope: readonly ResolvedSpec[];
  /** Named with --spec: a failed one is launched again, whatever the retry policy says. */
  explicit?: ReadonlySet<string>;
  wait: boolean;
  signal: AbortSignal;
  onEvent?: (e: RunEvent) => void;
  tokensPerRun?: number;
  /** Expected durations: under eager, the ready spec with the longest chain of work behind it goes first. */
  durations?: ReadonlyMap<string, Estimate>;
  runId?: string;
  /** Live rows in ticks (the run's table); a simulation has no use for them. */
  rows?: boolean;
}

const CHECK_EVERY_MS = 1000;

interface RunCtx {
  config: ResolvedConfig;
  world: World;
  clock: Clock;
  o: ScheduleOptions;
  emit: (e: RunEvent) => void;
  runId: string;
  pacing: AgentPacing;
  /** Agents whose quota or billing is exhausted: waiting does not fix it, so they launch nothing more in this run. */
  exhausted: Map<string, string>;
  budgetStop?: string;
  /** Waves whose specs have been prepared (planned) for launch. */
  prepared: Set<number>;
  /** Eager: waves whose onWaveComplete hook has fired. */
  wavesDone: Set<number>;
  /** Specs chosen but not launched: decided while they waited, or gone from the table. */
  notLaunched: Set<string>;
  /** Batch pauses: launches counted (eager over the run, waves within each wave). */
  batchCount: number;
  nextLaunchAt: number;
}

/** A spec this run may launch now by the state alone: pending, or failed and relaunched by the policy (or named). */
function startable(rc: RunCtx, doc: StateDoc, id: string): boolean {
  const st = stateOf(doc, id);
  return st === 'pending' || (st === 'failed' && (!!rc.o.explicit?.has(id) || canRelaunch(rc.config, doc, id)));
}

export async function runSchedule(config: ResolvedConfig, world: World, clock: Clock, o: ScheduleOptions): Promise<RunOutcome> {
  const emit = (e: RunEvent) => o.onEvent?.(e);
  const startedAt = clock.now();
  const rc: RunCtx = {
    config, world, clock, o, emit,
    runId: o.runId ?? `run-${startedAt.toString(36)}-${process.pid}`,
    pacing: new AgentPacing(config.retry.cooldownFactor),
    exhausted: new Map(),
    prepared: new Set(),
    wavesDone: new Set(),
    notLaunched: new Set(),
    batchCount: 0,
    nextLaunchAt: 0,
  };
  const outcome: RunOutcome = { runId: rc.runId, schedule: o.schedule, launched: [], done: [], failed: [], stillRunning: [], rateLimited: [], tokens: 0, interrupted: false, startedAt, endedAt: startedAt };
  // Specs this run launched or adopted, launched or not: one that failed to launch failed the run.
  const attempted = new Set<string>();
  await world.journal?.({ event: 'run-start', run: rc.runId, schedule: o.schedule, specs: o.scope.length });
  emit({ type: 'run-start', runId: rc.runId, schedule: o.schedule, specs: o.scope.length });

  if (o.schedule === 'waves') await byWaves(rc, outcome, attempted);
  else await eager(rc, outcome, attempted);
  // A spec's runner runs its hook after its verdict: the run (and onRunComplete) comes after those.
  if (o.wait && !o.signal.aborted) await world.settle?.(attempted, startedAt);

  const finalDoc = world.read();
  for (const id of attempted) {
    const st = stateOf(finalDoc, id);
    if (st === 'done') outcome.done.push(id);
    else if (st === 'running') outcome.stillRunning.push(id);
    else if (st === 'rate-limited') outcome.rateLimited.push(id);
    // Skipped by hand meanwhile: a decision, not a failure.
    else if (st === 'skipped') continue;
    else outcome.failed.push({ id, kind: kindOf(finalDoc, id, st) ?? 'interrupted', reason: own(finalDoc.dispatch?.specs, id)?.reason ?? st });
  }
  outcome.tokens = tokensUsed(finalDoc, rc.runId);
  if (rc.budgetStop) outcome.budgetStop = rc.budgetStop;
  outcome.interrupted = o.signal.aborted;
  const blocked = !!outcome.blocked || !!outcome.blockedSpecs?.length;
  if (attempted.size) {
    await world.hook?.('onRunComplete', {
      RUN_ID: rc.runId,
      STATE: outcome.interrupted ? 'interrupted' : blocked || outcome.failed.length || rc.budgetStop ? 'failed' : 'done',
      DONE: outcome.done.join(','), FAILED: outcome.failed.map((f) => f.id).join(','), TOKENS: outcome.tokens,
      REASON: rc.budgetStop ?? (outcome.blocked ? `wave ${outcome.blocked.wave} blocked` : outcome.blockedSpecs?.length ? `${outcome.blockedSpecs.length} specs blocked` : undefined),
    });
  }
  outcome.endedAt = clock.now();
  await world.journal?.({
    event: 'run-end', run: rc.runId,
    outcome: outcome.interrupted ? 'interrupted' : rc.budgetStop ? 'budget' : blocked ? 'blocked' : outcome.failed.length ? 'failed' : 'done',
    done: outcome.done.length, failed: outcome.failed.length,
  });
  return outcome;
}

/** The original order: each wave after every earlier one is complete. */
async function byWaves(rc: RunCtx, outcome: RunOutcome, attempted: Set<string>): Promise<void> {
  const { config, world, o } = rc;
  const waves = [...new Set(o.scope.map((s) => s.wave))].sort((a, b) => a - b);
  // Earlier waves are checked once each: what was complete when a wave started stays so in this run
  // (only dispatch moves it back, by hand, and that is looked at again by the next run).
  let checkedBelow = -1;
  const earlier: ResolvedSpec[] = [];
  for (const wave of waves) {
    if (o.signal.aborted || rc.budgetStop) break;
    await world.housekeep(new Set());
    const doc = world.read();
    const specs = scopeOfWave(rc, wave);
    for (const w of config.waves) if (w > checkedBelow && w < wave) earlier.push(...specsOfWave(config, w));
    checkedBelow = Math.max(checkedBelow, wave - 1);
    // --spec waits only on its own dependencies; a wave on every earlier wave.
    const blockers = o.explicit ? dependencyBlockers(config, doc, specs, wave) : earlier.filter((s) => !isComplete(doc, s.id)).map((s) => blockerOf(doc, s));
    // Past this point every earlier spec is complete (a blocker ends the run here).
    earlier.length = 0;
    if (blockers.length) {
      outcome.blocked = { wave, blockers };
      break;
    }
    const toLaunch = specs.filter((s) => startable(rc, doc, s.id)).map((s) => s.id);
    // Runners still alive from a dispatcher that died, and rate-limited specs: adopted, not relaunched.
    const adopted = specs.filter((s) => ['running', 'rate-limited'].includes(stateOf(doc, s.id))).map((s) => s.id);
    if (!toLaunch.length && !adopted.length) continue;
    const sequential = !!config.waveOptions[String(wave)]?.sequential;
    rc.emit({ type: 'wave-start', wave, launches: toLaunch.length, sequential });
    await prepare(rc, specs.filter((s) => toLaunch.includes(s.id)));
    for (const id of adopted) attempted.add(id);
    rc.batchCount = 0;
    rc.nextLaunchAt = 0;
    const launched = await drive(rc, { queue: toLaunch, watched: new Set(adopted), cap: sequential ? 1 : (config.pacing.maxParallel ?? Infinity), wave, gate: () => true });
    for (const id of launched) attempted.add(id);
    const after = world.read();
    for (const id of toLaunch) if (stateOf(after, id) === 'failed' && !rc.notLaunched.has(id)) attempted.add(id);
    for (const id of launched) if (!outcome.launched.includes(id)) outcome.launched.push(id);
    if (!o.wait || o.signal.aborted) break;
    rc.emit({ type: 'wave-done', wave });
    await waveHook(rc, wave, after);
  }
}

/** Each spec as soon as its own dependencies are complete. */
async function eager(rc: RunCtx, outcome: RunOutcome, attempted: Set<string>): Promise<void> {
  const { config, world, o } = rc;
  await world.housekeep(new Set());
  const doc = world.read();
  // The ready spec with the most work behind it first; table order between equals.
  const level = o.durations ? bottomLevels(o.scope, o.durations) : new Map<string, number>();
  const index = new Map(o.scope.map((s, i) => [s.id, i]));
  const priority = (a: string, b: string) => (level.get(b) ?? 0) - (level.get(a) ?? 0) || index.get(a)! - index.get(b)!;
  const toLaunch = o.scope.filter((s) => startable(rc, doc, s.id)).map((s) => s.id).sort(priority);
  const adopted = o.scope.filter((s) => ['running', 'rate-limited'].includes(stateOf(doc, s.id))).map((s) => s.id);
  for (const id of adopted) attempted.add(id);
  const launched = await drive(rc, {
    queue: toLaunch, watched: new Set(adopted), cap: config.pacing.maxParallel ?? Infinity, priority,
    gate: (spec, d) => depsComplete(d, spec),
    settled: async (doc, waves, open) => {
      // A wave is over for this run when none of its specs is queued, held or at work: its hook fires then.
      for (const w of [...waves].sort((a, b) => a - b)) {
        if (rc.wavesDone.has(w)) continue;
        const specs = scopeOfWave(rc, w);
        if (!specs.some((s) => open(s.id))) await waveHook(rc, w, doc);
      }
    },
  });
  for (const id of launched) attempted.add(id);
  const after = world.read();
  for (const id of toLaunch) if (stateOf(after, id) === 'failed' && !rc.notLaunched.has(id)) attempted.add(id);
  outcome.launched.push(...launched);
  if (!o.wait || o.signal.aborted || rc.budgetStop) return;
  // What never started because something it depends on did not complete.
  const started = new Set(launched);
  const waiting = toLaunch.filter((id) => startable(rc, after, id) && !started.has(id) && !depsComplete(after, specOf(rc, id)));
  if (waiting.length) outcome.blockedSpecs = blockedRoots(config, after, waiting);
  // Waves that ended without completing (a failure or a block in them) still hear about it.
  for (const w of [...new Set(o.scope.map((s) => s.wave))].sort((a, b) => a - b)) if (!rc.wavesDone.has(w) && o.scope.some((s) => s.wave === w && attempted.has(s.id))) await waveHook(rc, w, after);
}

const specIndex = new WeakMap<RunCtx, Map<string, [ResolvedSpec, number]>>();
function entry(rc: RunCtx, id: string): [ResolvedSpec, number] {
  let m = specIndex.get(rc);
  if (!m) specIndex.set(rc, (m = new Map(rc.o.scope.map((s, i) => [s.id, [s, i]]))));
  return m.get(id)!;
}
const specOf = (rc: RunCtx, id: string): ResolvedSpec => entry(rc, id)[0];
const byWave = new WeakMap<RunCtx, Map<number, ResolvedSpec[]>>();
/** This run's specs of a wave, grouped once. */
function scopeOfWave(rc: RunCtx, wave: number): ResolvedSpec[] {
  let m = byWave.get(rc);
  if (!m) {
    m = new Map();
    for (const s of rc.o.scope) (m.get(s.wave) ?? m.set(s.wave, []).get(s.wave)!).push(s);
    byWave.set(rc, m);
  }
  return m.get(wave) ?? [];
}
/** Its place in the table. */
const indexOf = (rc: RunCtx, id: string): number => entry(rc, id)[1];

async function prepare(rc: RunCtx, specs: ResolvedSpec[]): Promise<void> {
  const waves = [...new Set(specs.map((s) => s.wave))].filter((w) => !rc.prepared.has(w));
  for (const w of waves) {
    rc.prepared.add(w);
    await rc.world.prepare?.(w, specs.filter((s) => s.wave === w));
  }
}

async function waveHook(rc: RunCtx, wave: number, doc: StateDoc): Promise<void> {
  rc.wavesDone.add(wave);
  if (!rc.world.hook) return;
  const ids = specsOfWave(rc.config, wave).map((s) => s.id);
  await rc.world.hook?.('onWaveComplete', {
    WAVE: wave, RUN_ID: rc.runId,
    STATE: ids.every((id) => isComplete(doc, id)) ? 'complete' : 'incomplete',
    DONE: ids.filter((id) => stateOf(doc, id) === 'done').join(','),
    FAILED: ids.filter((id) => stateOf(doc, id) === 'failed').join(','),
    TOKENS: tokensUsed(doc, rc.runId, wave),
  });
}

interface DriveInput {
  /** Ids to launch, in order. */
  queue: string[];
  /** Launched or adopted specs, followed until they end. */
  watched: Set<string>;
  cap: number;
  /** Waves: the wave driven (ticks, the wave's token budget). */
  wave?: number;
  /** Whether a queued spec may start now (eager: its dependencies are complete). */
  gate: (spec: ResolvedSpec, doc: StateDoc) => boolean;
  /** Eager: where a relaunched spec goes in the queue (waves: at its end). */
  priority?: (a: string, b: string) => number;
  /** Eager: told which waves saw a spec end, and whether a spec is still queued, held or at work. */
  settled?: (doc: StateDoc, waves: ReadonlySet<number>, open: (id: string) => boolean) => Promise<void>;
}

/**
 * Launches the queue, paced and capped, and follows every launched spec until it
 * ends, relaunching what the retry policy allows. Returns the ids it launched.
 */
async function drive(rc: RunCtx, d: DriveInput): Promise<string[]> {
  const { config, world, clock, o, emit } = rc;
  const launched: string[] = [];
  const launchedSet = new Set<string>();
  const seqOf = (w: number) => !!config.waveOptions[String(w)]?.sequential;
  // Eager: a queued spec whose dependencies are not complete is held apart, keyed by what it waits on,
  // and moves to the queue when that completes: each look at the state costs what changed, not the table.
  const held = new Map<string, string>(); // held id → the dependency it waits on
  const heldOn = new Map<string, Set<string>>(); // dependency → held ids
  const hold = (id: string, dep: string) => {
    held.set(id, dep);
    (heldOn.get(dep) ?? heldOn.set(dep, new Set()).get(dep)!).add(id);
  };
  const queue: string[] = [];
  const queued = new Set<string>();
  // What each queued or held spec was when it was chosen: its launch is claimed only while that stands.
  const basis = new Map<string, LaunchBasis>();
  const enqueue = (id: string, front = false, doc?: StateDoc) => {
    if (doc) basis.set(id, launchBasis(doc, id));
    if (queued.has(id)) return;
    queued.add(id);
    if (front) queue.unshift(id);
    else if (d.priority) {
      const at = queue.findIndex((q) => d.priority!(id, q) < 0);
      queue.splice(at < 0 ? queue.length : at, 0, id);
    } else queue.push(id);
  };
  const dequeue = (id: string) => {
    queued.delete(id);
    const i = queue.indexOf(id);
    if (i >= 0) queue.splice(i, 1);
  };
  /** Queue it, or hold it while a dependency is incomplete (sequential waves keep their order in the queue). */
  const admit = (id: string, doc: StateDoc, front = false) => {
    const spec = specOf(rc, id);
    const dep = d.priority && !seqOf(spec.wave) ? firstIncomplete(doc, spec) : undefined;
    if (dep) hold(id, dep);
    else enqueue(id, front);
  };
  /** A spec completed (or something outside changed): what waited on it is looked at again. */
  const release = (dep: string, doc: StateDoc) => {
    const ids = heldOn.get(dep);
    if (!ids) return;
    heldOn.delete(dep);
    for (const id of ids) {
      held.delete(id);
      admit(id, doc);
    }
  };
  /**
   * Not launched and not recorded (decided meanwhile, gone from the table): said once and dropped. It counts
   * for what waits on it as its state says — done or skipped by hand lets its dependents go, failed holds them.
   */
  const notLaunched = (id: string, refused: LaunchRefusal, doc: StateDoc) => {
    basis.delete(id);
    rc.notLaunched.add(id);
    emit({ type: 'not-launched', id, refused });
    if (isComplete(doc, id)) release(id, doc);
    notLaunchedWaves.add(specOf(rc, id).wave);
  };
  const notLaunchedWaves = new Set<number>();
  const start = world.read();
  // Chosen on an earlier look at the state: what was decided since then is not queued.
  for (const id of d.queue) {
    if (!startable(rc, start, id)) {
      notLaunched(id, { kind: 'decided', state: stateOf(start, id) }, start);
      continue;
    }
    basis.set(id, launchBasis(start, id));
    admit(id, start);
  }
  // Followed specs still at work (running, rate-limited): a final one is looked at again only when dispatch acts on it.
  const live = new Set<string>();
  // One put back to pending by hand since it was adopted (while its wave was planned): launched again, as below.
  for (const id of d.watched) if (['running', 'rate-limited', 'pending'].includes(stateOf(start, id))) live.add(id);
  const recheck = new Set<string>();
  const last = new Map<string, string>();
  const batch = config.pacing.batch;
  let lastCheck = -Infinity;
  let changed = true;
  const merges = new Map<string, number>(); // merge: 'auto' — done isolated specs to merge, and when to try next

  while (!o.signal.aborted) {
    const now = clock.now();
    let doc = world.read();
    if (now - lastCheck >= CHECK_EVERY_MS) {
      lastCheck = now;
      await world.housekeep(d.watched);
      doc = world.read();
      // Something outside this run may have completed a dependency (mark-done, skip, a runner of a dead dispatcher).
      if (world.external && held.size) for (const dep of [...heldOn.keys()]) if (isComplete(doc, dep)) release(dep, doc);
    }

    // What happened to the specs we follow (and the waves of specs not launched: their hooks may be due).
    const touched = new Set<number>(notLaunchedWaves);
    notLaunchedWaves.clear();
    for (const id of [...live, ...recheck]) {
      const st = stateOf(doc, id);
      const prev = last.get(id);
      if (st === prev) continue;
      last.set(id, st);
      changed = true;
      const spec = specOf(rc, id);
      touched.add(spec.wave);
      const reason = own(doc.dispatch?.specs, id)?.reason;
      if (st === 'running') live.add(id);
      else if (st === 'pending' && !o.signal.aborted) {
        // Put back to pending by hand while this run followed it (`reset` of a run that had ended, not yet
        // collected): no longer at work, so never waited on; this run launches it again, as it would any pending spec.
        live.delete(id);
        if (!queued.has(id)) {
          enqueue(id, seqOf(spec.wave) && !d.priority, doc);
          emit({ type: 'relaunch', id, why: 'put back to pending by hand' });
        }
      } else if (st === 'rate-limited') {
        live.add(id);
        const w = own(doc.dispatch?.waiting, id);
        const until = w ? Date.parse(w.until) : now;
        rc.pacing.rateLimited(spec.agent, until);
        const untilIso = w?.until ?? new Date(until).toISOString();
        emit({ type: 'rate-limited', id, agent: spec.agent, until: untilIso, reason });
        await world.journal?.({ event: 'rate-limit-wait', run: rc.runId, agent: spec.agent, spec: id, until: untilIso });
      } else if (st === 'done' || st === 'failed' || st === 'skipped') {
        live.delete(id);
        if (prev === undefined && !launchedSet.has(id)) continue; // adopted in a final state: nothing new
        if (st === 'done') rc.pacing.clean(spec.agent);
        const kind = kindOf(doc, id, st);
        emit({ type: 'finished', id, state: st, kind, reason });
        if (kind === 'quota-exhausted' && !rc.exhausted.has(spec.agent)) {
          rc.exhausted.set(spec.agent, reason ?? 'quota exhausted');
          emit({ type: 'quota-exhausted', agent: spec.agent, id, reason: reason ?? 'quota exhausted' });
        }
        if (st === 'done' && own(doc.dispatch?.specs, id)?.awaitingMerge && config.merge === 'auto' && world.merge) merges.set(id, now);
        if (isComplete(doc, id)) release(id, doc);
        if (st === 'failed' && canRelaunch(config, doc, id) && !queued.has(id)) {
          // A sequential wave keeps its order: the retry goes before the specs after it.
          enqueue(id, seqOf(spec.wave) && !d.priority, doc);
          // Numbered as the retry policy counts: retries since the spec was last put back to pending.
          emit({ type: 'relaunch', id, why: `retry ${own(doc.dispatch?.specs, id)?.attempts ?? 1} of ${config.retry.maxAttempts - 1} after: ${reason ?? 'failure'}` });
        }
      }
    }
    recheck.clear();
    // Rate-limited specs whose wait is over go first, among themselves by priority (eager) or table order.
    const due: string[] = [];
    for (const id of live) {
      const w = own(doc.dispatch?.waiting, id);
      if (w && Date.parse(w.until) <= now && !queued.has(id)) due.push(id);
    }
    due.sort(d.priority ?? ((a, b) => indexOf(rc, a) - indexOf(rc, b)));
    for (const id of [...due].reverse()) enqueue(id, true, doc);
    for (const id of due) emit({ type: 'relaunch', id, why: 'the rate limit has reset' });

    // merge: 'auto' — not while an agent works in the project's own tree (git refuses a dirty tree).
    const treeBusy = merges.size > 0 && [...live].some((id) => stateOf(doc, id) === 'running' && specOf(rc, id).mode === 'direct');
    if (merges.size && !treeBusy) {
      for (const [id, at] of merges) {
        if (at > now) continue;
        const m = await world.merge!(specOf(rc, id));
        emit({ type: 'merged', id, ok: m.ok, ...(m.reason ? { reason: m.reason } : {}) });
        // Refused for a reason that may pass (the tree was busy): tried again a minute on.
        if (m.ok || m.stopped) merges.delete(id);
        else merges.set(id, now + 60_000);
        recheck.add(id);
        last.delete(id);
      }
      doc = world.read();
      for (const id of recheck) {
        last.set(id, stateOf(doc, id));
        if (isComplete(doc, id)) release(id, doc);
        else if (stateOf(doc, id) === 'failed') emit({ type: 'finished', id, state: 'failed', kind: kindOf(doc, id, 'failed'), reason: own(doc.dispatch?.specs, id)?.reason });
        touched.add(specOf(rc, id).wave);
      }
      recheck.clear();
    }

    if (touched.size) await d.settled?.(doc, touched, (id) => queued.has(id) || held.has(id) || live.has(id));

    if (changed) {
      // Budgets: once crossed, nothing new launches; what runs finishes. Tokens only change with a verdict.
      if (!rc.budgetStop) budgetCheck(rc, doc, d.wave);
      // An exhausted agent's specs are not launched: they stay pending for a later run.
      if (rc.exhausted.size) for (const id of [...queue]) if (rc.exhausted.has(specOf(rc, id).agent)) dequeue(id);
      changed = false;
    }

    // Launch the next spec when its time has come and there is room.
    const pick = pickNext(rc, d, doc, queue, live, now);
    if (pick.id && !rc.budgetStop && now >= rc.nextLaunchAt) {
      const id = pick.id;
      const spec = specOf(rc, id);
      // Decided while it waited, as far as this look at the state shows: not even prepared.
      const seen = claimRefusal(doc, id, basis.get(id)!);
      if (seen) {
        dequeue(id);
        notLaunched(id, { kind: 'decided', state: seen }, doc);
        continue;
      }
      // Planned with the rest of its wave that is waiting to launch, before the wave's first launch.
      if (!rc.prepared.has(spec.wave)) await prepare(rc, [...queue, ...held.keys()].map((q) => specOf(rc, q)).filter((s) => s.wave === spec.wave));
      dequeue(id);
      // Cooldowns count from the moment the launch is on record, not from when the pane answered.
      let recordedAt = clock.now();
      const r = await world.launch(spec, rc.runId, (t) => (recordedAt = t), basis.get(id)!);
      if (r.refused) {
        notLaunched(id, r.refused, world.read());
        continue;
      }
      if (r.ok) emit({ type: 'launched', id, pane: r.pane, at: clock.now(), attempt: r.attempt });
      else emit({ type: 'launch-failed', id, reason: r.reason ?? 'launch failed' });
      d.watched.add(id);
      last.set(id, r.ok ? 'running' : 'failed');
      if (r.ok) live.add(id);
      else touched.add(spec.wave);
      if (r.ok && !launchedSet.has(id)) {
        launchedSet.add(id);
        launched.push(id);
      }
      const counted = spec.wave >= batch.fromWave;
      if (counted) rc.batchCount++;
      const cooldown = (config.pacing.cooldownSeconds[spec.cost] ?? 0) * rc.pacing.factorOf(spec.agent);
      const pause = counted && rc.batchCount % batch.every === 0 ? batch.pauseSeconds : 0;
      rc.nextLaunchAt = recordedAt + (cooldown + pause) * 1000;
      if (pause) await world.journal?.({ event: 'batch-pause', run: rc.runId, from: new Date(recordedAt + cooldown * 1000).toISOString(), until: new Date(rc.nextLaunchAt).toISOString() });
      continue;
    }

    let running = 0;
    for (const id of live) if (stateOf(doc, id) === 'running') running++;
    const canLaunch = !!pick.id || pick.later;
    if (!o.wait && !canLaunch) break;
    // Merges refused for a passing reason are not waited for once nothing else can happen: they stay for 'dispatch merge'.
    if (!live.size && !canLaunch) break;
    // A budget stop leaves the queue and the rate-limited specs; wait only for what runs.
    if (rc.budgetStop && !running) break;
    const waitingFor = pick.waitingFor ?? (pick.id && now < rc.nextLaunchAt && rc.batchCount && rc.batchCount % batch.every === 0 ? 'batch pause' : undefined);
    // A spec ready now waits for its cooldown; one held by its agent's rate limit, for the limit's end;
    // one held by maxParallel or a sequential wave, for a spec to end (no time to wake at).
    const launchAt = rc.budgetStop ? Infinity : pick.id ? rc.nextLaunchAt : pick.readyAt !== undefined ? Math.max(rc.nextLaunchAt, pick.readyAt) : Infinity;
    if (o.rows !== false) {
      emit({
        type: 'tick',
        ...(d.wave !== undefined ? { wave: d.wave } : {}),
        rows: rowsFor(config, doc, new Set([...d.watched, ...queue, ...held.keys()])),
        ...(launchAt !== Infinity ? { nextLaunchAt: Math.max(launchAt, now) } : {}),
        ...(waitingFor ? { waitingFor } : {}),
      });
    }
    // Wake on time for the next launch, a rate limit's end or a merge to retry.
    let deadline = launchAt;
    for (const id of live) {
      const w = own(doc.dispatch?.waiting, id);
      // A wait already over is queued for its relaunch, paced like any launch: waking for it again would spin.
      if (w && Date.parse(w.until) > now) deadline = Math.min(deadline, Date.parse(w.until));
    }
    if (!treeBusy) for (const t of merges.values()) deadline = Math.min(deadline, t);
    await clock.wait(deadline, o.signal);
  }
  const doc = world.read();
  if (o.rows !== false) emit({ type: 'tick', ...(d.wave !== undefined ? { wave: d.wave } : {}), rows: rowsFor(config, doc, d.watched) });
  return launched;
}

/**
 * The next spec to launch, if one may go now. `later`: one is ready but its agent is
 * paused by a rate limit (or no slot is free) — the drive goes on waiting for it.
 */
function pickNext(rc: RunCtx, d: DriveInput, doc: StateDoc, queue: string[], live: ReadonlySet<string>, now: number): { id?: string; later: boolean; readyAt?: number; waitingFor?: string } {
  const { config } = rc;
  const busyBy = new Map<number, number>();
  let busy = 0;
  const queued = new Set(queue);
  for (const id of live) {
    // A rate-limited spec whose wait is over is queued to go again: it holds no place against itself.
    if (queued.has(id)) continue;
    const st = stateOf(doc, id);
    const w = specOf(rc, id).wave;
    // In a sequential wave a rate-limited spec still holds its place: the next one waits for it.
    if (st === 'running' || (st === 'rate-limited' && config.waveOptions[String(w)]?.sequential)) busyBy.set(w, (busyBy.get(w) ?? 0) + 1);
    if (st === 'running') busy++;
  }
  // A sequential wave goes in table order, whatever the queue's order (eager sorts by priority).
  const firstOfWave = new Map<number, string>();
  for (const id of queue) {
    const w = specOf(rc, id).wave;
    if (!config.waveOptions[String(w)]?.sequential) continue;
    const cur = firstOfWave.get(w);
    if (cur === undefined || indexOf(rc, id) < indexOf(rc, cur)) firstOfWave.set(w, id);
  }
  let paused: { agent: string; until: number } | undefined;
  let seqWait = false;
  let slotWait: string | undefined;
  for (const id of queue) {
    const spec = specOf(rc, id);
    const sequential = !!config.waveOptions[String(spec.wave)]?.sequential;
    // One at a time, in order: only the first queued spec of the wave, and only when none of it runs.
    if (sequential && firstOfWave.get(spec.wave) !== id) continue;
    if (!d.gate(spec, doc)) continue;
    if (sequential && (busyBy.get(spec.wave) ?? 0) > 0) {
      seqWait = true;
      continue;
    }
    const until = rc.pacing.pausedUntil(spec.agent);
    if (until > now) {
      if (!paused || until < paused.until) paused = { agent: spec.agent, until };
      continue;
    }
    if (busy >= d.cap) return { later: true, waitingFor: d.cap === 1 && d.wave !== undefined && config.waveOptions[String(d.wave)]?.sequential ? 'the previous spec to finish (sequential wave)' : `a free slot (maxParallel ${d.cap})` };
    // Its executor has no room for it now (a host's slots): another spec may still go elsewhere.
    const slot = rc.world.slotWait?.(spec, doc);
    if (slot) {
      slotWait ??= slot;
      continue;
    }
    return { id, later: false };
  }
  if (paused) return { later: true, readyAt: paused.until, waitingFor: `${paused.agent} to come off its rate limit` };
  if (slotWait) return { later: true, waitingFor: slotWait };
  if (seqWait) return { later: true, waitingFor: 'the previous spec to finish (sequential wave)' };
  return { later: false };
}

function budgetCheck(rc: RunCtx, doc: StateDoc, wave: number | undefined): void {
  const perRun = rc.o.tokensPerRun ?? rc.config.budget.tokensPerRun;
  const perWave = rc.config.budget.tokensPerWave;
  if (!perRun && !perWave) return;
  const byWave = perWave ? tokensByWave(doc, rc.runId) : new Map<number, number>();
  const usedRun = perRun ? tokensUsed(doc, rc.runId) : 0;
  if (perRun && usedRun >= perRun) rc.budgetStop = `token budget reached: ${usedRun} tokens used of ${perRun} per run`;
  else if (perWave) {
    for (const [w, used] of byWave) {
      if ((wave === undefined || w === wave) && used >= perWave) {
        rc.budgetStop = `token budget reached: ${used} tokens used of ${perWave} for wave ${w}`;
        break;
      }
    }
  }
  if (rc.budgetStop) rc.emit({ type: 'budget', message: rc.budgetStop });
}

export type { BlockedSpec, VerdictKind };
