// The dispatch engine: launches a wave's specs in panes, paced by cost,
// follows their runners' verdicts — relaunching rate-limited and retryable
// failures, stopping stalled agents, keeping to token budgets — and hands
// off to the next wave only when the previous one is complete.
import { hostname } from 'node:os';
import { warn } from '../errors.js';
import type { ResolvedConfig } from '../config/load.js';
import type { Mux } from '../mux/types.js';
import { extra, failLaunch, kindOf, markRunning, nextLaunchNumber, own, stateOf, type StateDoc, type VerdictKind } from '../state/doc.js';
import { writeSignal } from '../state/signals.js';
import { readState, withState } from '../state/store.js';
import { runHook, specVars, type HookResult } from './hooks.js';
import { isComplete, launchItem, planWave, type LaunchItem, type WavePlan } from './launch-plan.js';
import { isRunner, reapLost, type Lost } from './liveness.js';
import { quietSeconds, stallSeconds } from './stall.js';
import { removeRunnerEnv, writeRunnerEnv } from './runner-env.js';
import { canRelaunch } from './policy.js';
import { ensureWorktree, type WorktreeRecord } from './worktree.js';
import { sleep } from '../util/sleep.js';
import { specById, specsOfWave } from '../config/spec-index.js';

export interface LiveRow {
  id: string;
  name: string;
  agent: string;
  state: string;
  startedAt?: string;
  reason?: string;
  /** Rate-limited: when it will be relaunched. */
  until?: string;
  attempt?: number;
  /** Finished: how long its last launch ran (the table keeps it after the spec ends). */
  durationSeconds?: number;
}

export type RunEvent =
  | { type: 'wave-start'; plan: WavePlan }
  | { type: 'launched'; id: string; pane: string; at: number; attempt: number }
  | { type: 'quota-exhausted'; agent: string; id: string; reason: string }
  | { type: 'launch-failed'; id: string; reason: string }
  | { type: 'lost'; lost: Lost[] }
  | { type: 'finished'; id: string; state: string; kind?: VerdictKind; reason?: string }
  | { type: 'rate-limited'; id: string; agent: string; until: string; reason?: string }
  | { type: 'relaunch'; id: string; why: string }
  | { type: 'stalled'; id: string; quietSeconds: number; action: 'warn' | 'restart' | 'fail' }
  | { type: 'budget'; message: string }
  | { type: 'hook-failed'; hook: string; error: string }
  | { type: 'tick'; wave: number; rows: LiveRow[]; nextLaunchAt?: number; waitingFor?: string }
  | { type: 'wave-done'; wave: number };

export interface Blocker {
  id: string;
  wave: number;
  state: string;
  reason?: string;
}

export interface RunOutcome {
  runId: string;
  launched: string[];
  done: string[];
  failed: { id: string; kind?: VerdictKind; reason?: string }[];
  /** Specs that stopped the run before a wave (failed, awaiting merge, unfinished). */
  blocked?: { wave: number; blockers: Blocker[] };
  /** Launched specs still running when we stopped waiting (--no-wait, Ctrl-C). */
  stillRunning: string[];
  /** Rate-limited specs still waiting to be relaunched when we stopped. */
  rateLimited: string[];
  /** Set when a token budget stopped new launches. */
  budgetStop?: string;
  tokens: number;
  interrupted: boolean;
}

export interface EngineOptions {
  mux: Mux;
  /** Waves to run in order; `all` runs every wave with pending specs. */
  waves: number[] | 'all';
  only?: Set<string>;
  wait: boolean;
  signal: AbortSignal;
  onEvent?: (e: RunEvent) => void;
  /** Called before each wave's launches with the specs about to launch (pre-planning). */
  beforeWave?: (plan: WavePlan) => Promise<void>;
  /** Overrides budget.tokensPerRun for this run. */
  tokensPerRun?: number;
  pollMs?: number;
}

const POLL_MS = 150;
const CHECK_EVERY_MS = 1000;


/** Specs of earlier waves that are not complete (done and merged, or skipped). */
export function blockersBefore(config: ResolvedConfig, doc: StateDoc, wave: number): Blocker[] {
  return config.specs
    .filter((s) => s.wave < wave && !isComplete(doc, s.id))
    .map((s) => {
      const st = stateOf(doc, s.id);
      const rec = doc.dispatch?.specs[s.id];
      return { id: s.id, wave: s.wave, state: st === 'done' && rec?.awaitingMerge ? 'awaiting merge' : st, ...(rec?.reason ? { reason: rec.reason } : {}) };
    });
}

/** For `--spec`: the unfinished specs before `wave` that these specs depend on. */
export function dependencyBlockers(config: ResolvedConfig, doc: StateDoc, specs: { dependsOn: string[] }[], wave: number): Blocker[] {
  const deps = new Set(specs.flatMap((s) => s.dependsOn));
  return blockersBefore(config, doc, wave).filter((b) => deps.has(b.id));
}

/** Tokens agents reported for this run (and this wave). */
export function tokensUsed(doc: StateDoc, runId: string, wave?: number): number {
  let sum = 0;
  for (const rec of Object.values(doc.dispatch?.specs ?? {})) {
    for (const h of rec.history ?? []) if (h.runId === runId && (wave === undefined || h.wave === wave)) sum += h.tokens?.total ?? 0;
  }
  return sum;
}

/** Per-agent pacing: a rate limit pauses the agent and widens its cooldowns; clean runs narrow them back. */
class AgentPacing {
  private paused = new Map<string, number>();
  private factor = new Map<string, number>();
  constructor(private widen: number) {}
  pausedUntil(agent: string): number {
    return this.paused.get(agent) ?? 0;
  }
  factorOf(agent: string): number {
    return this.factor.get(agent) ?? 1;
  }
  rateLimited(agent: string, until: number): void {
    this.paused.set(agent, Math.max(this.pausedUntil(agent), until));
    this.factor.set(agent, Math.min(16, this.factorOf(agent) * this.widen));
  }
  clean(agent: string): void {
    this.factor.set(agent, Math.max(1, this.factorOf(agent) / this.widen));
  }
}

interface RunCtx {
  runId: string;
  pacing: AgentPacing;
  /** Agents whose quota or billing is exhausted: waiting does not fix it, so they launch nothing more in this run. */
  exhausted: Map<string, string>;
  budgetStop?: string;
  tokensPerRun?: number;
}

export async function runWaves(config: ResolvedConfig, opts: EngineOptions): Promise<RunOutcome> {
  const emit = (e: RunEvent) => opts.onEvent?.(e);
  const rc: RunCtx = { runId: `run-${Date.now().toString(36)}-${process.pid}`, pacing: new AgentPacing(config.retry.cooldownFactor), exhausted: new Map(), tokensPerRun: opts.tokensPerRun ?? config.budget.tokensPerRun };
  const outcome: RunOutcome = { runId: rc.runId, launched: [], done: [], failed: [], stillRunning: [], rateLimited: [], tokens: 0, interrupted: false };
  // Specs this run tried to launch, launched or not: one that failed to launch failed the run.
  const attempted = new Set<string>();
  const waves = opts.waves === 'all' ? config.waves : opts.waves;
  const hookFailed = (h: HookResult | undefined) => h && !h.ok && emit({ type: 'hook-failed', hook: h.hook, error: h.error ?? '' });
  for (const wave of waves) {
    if (opts.signal.aborted || rc.budgetStop) break;
    let doc = readState(config.stateDir);
    const lost = await reapLost(config, doc, 'run');
    if (lost.length) {
      emit({ type: 'lost', lost });
      doc = readState(config.stateDir);
    }
    // --spec waits only on its own dependencies; a wave on every earlier wave.
    const only = opts.only;
    const blockers = only ? dependencyBlockers(config, doc, specsOfWave(config, wave).filter((s) => only.has(s.id)), wave) : blockersBefore(config, doc, wave);
    if (blockers.length) {
      outcome.blocked = { wave, blockers };
      break;
    }
    const plan = planWave(config, doc, opts.mux, wave, { only: opts.only });
    // Runners still alive from a dispatcher that died, and rate-limited specs: adopted, not relaunched.
    const adopted = specsOfWave(config, wave)
      .filter((s) => !opts.only || opts.only.has(s.id))
      .filter((s) => ['running', 'rate-limited'].includes(stateOf(doc, s.id)))
      .map((s) => s.id);
    if (!plan.items.length && !adopted.length) continue;
    emit({ type: 'wave-start', plan });
    if (plan.items.length) await opts.beforeWave?.(plan);
    const watched = new Set(adopted);
    // What an adopted runner ends with is this run's outcome too (a failure fails the run).
    for (const id of adopted) attempted.add(id);
    const launched = await driveWave(config, plan, watched, opts, rc, emit);
    for (const id of launched) attempted.add(id);
    const afterWave = readState(config.stateDir);
    for (const it of plan.items) if (stateOf(afterWave, it.spec.id) === 'failed') attempted.add(it.spec.id);
    outcome.launched.push(...launched.filter((id) => !outcome.launched.includes(id)));
    if (!opts.wait || opts.signal.aborted) break;
    emit({ type: 'wave-done', wave });
    const after = afterWave;
    const ids = specsOfWave(config, wave).map((s) => s.id);
    hookFailed(await runHook(config, 'onWaveComplete', {
      WAVE: wave, RUN_ID: rc.runId,
      STATE: ids.every((id) => isComplete(after, id)) ? 'complete' : 'incomplete',
      DONE: ids.filter((id) => stateOf(after, id) === 'done').join(','),
      FAILED: ids.filter((id) => stateOf(after, id) === 'failed').join(','),
      TOKENS: tokensUsed(after, rc.runId, wave),
    }));
  }
  const finalDoc = readState(config.stateDir);
  for (const id of attempted) {
    const st = stateOf(finalDoc, id);
    if (st === 'done') outcome.done.push(id);
    else if (st === 'running') outcome.stillRunning.push(id);
    else if (st === 'rate-limited') outcome.rateLimited.push(id);
    else outcome.failed.push({ id, kind: kindOf(finalDoc, id, st) ?? 'interrupted', reason: own(finalDoc.dispatch?.specs, id)?.reason ?? st });
  }
  outcome.tokens = tokensUsed(finalDoc, rc.runId);
  if (rc.budgetStop) outcome.budgetStop = rc.budgetStop;
  outcome.interrupted = opts.signal.aborted;
  if (attempted.size) {
    hookFailed(await runHook(config, 'onRunComplete', {
      RUN_ID: rc.runId,
      STATE: outcome.interrupted ? 'interrupted' : outcome.blocked || outcome.failed.length || rc.budgetStop ? 'failed' : 'done',
      DONE: outcome.done.join(','), FAILED: outcome.failed.map((f) => f.id).join(','), TOKENS: outcome.tokens,
      REASON: rc.budgetStop ?? (outcome.blocked ? `wave ${outcome.blocked.wave} blocked` : undefined),
    }));
  }
  return outcome;
}

export function rowsFor(config: ResolvedConfig, doc: StateDoc, ids: Iterable<string>, now = Date.now()): LiveRow[] {
  const byId = specById(config);
  return [...ids].map((id) => {
    const s = byId.get(id)!;
    const st = stateOf(doc, id);
    const rec = doc.dispatch?.specs[id];
    const run = doc.dispatch?.running[id];
    const last = rec?.history?.at(-1);
    let state: string = st;
    if (st === 'running' && run?.pid === 0) state = 'launching';
    else if (st === 'running' && quietSeconds(config, s, run?.startedAt, now) > stallSeconds(config, s)) state = 'stalled';
    else if (st === 'done' && rec?.awaitingMerge) state = 'awaiting merge';
    return {
      id,
      name: s.name,
      agent: s.agent,
      state,
      ...(run?.startedAt ? { startedAt: run.startedAt } : {}),
      ...(rec?.reason && (st === 'failed' || st === 'rate-limited') ? { reason: rec.reason } : {}),
      ...(st === 'rate-limited' ? { until: doc.dispatch?.waiting?.[id]?.until } : {}),
      ...(run?.attempt ?? last?.n ? { attempt: run?.attempt ?? last!.n } : {}),
      ...(!run && last?.endedAt ? { durationSeconds: Math.max(0, Math.round((Date.parse(last.endedAt) - Date.parse(last.startedAt)) / 1000)) } : {}),
    };
  });
}

/**
 * One wave: a queue of launches, paced by cost (widened per agent after a
 * rate limit), capped by maxParallel or a sequential wave; watches every
 * launched spec until it ends, relaunching what the retry policy allows.
 */
async function driveWave(config: ResolvedConfig, plan: WavePlan, watched: Set<string>, opts: EngineOptions, rc: RunCtx, emit: (e: RunEvent) => void): Promise<string[]> {
  const launched: string[] = [];
  const queue: LaunchItem[] = [...plan.items];
  const cap = plan.sequential ? 1 : config.pacing.maxParallel ?? Infinity;
  const b = config.pacing.batch;
  const batchOn = plan.wave >= b.fromWave;
  const last = new Map<string, string>();
  const stalled = new Set<string>();
  let launches = 0;
  let nextLaunchAt = 0;
  let lastCheck = 0;
  let waitingFor: string | undefined;
  const byId = specById(config);
  const specOf = (id: string) => byId.get(id)!;
  const queued = (id: string) => queue.some((q) => q.spec.id === id);

  while (!opts.signal.aborted) {
    const now = Date.now();
    let doc = readState(config.stateDir);
    if (now - lastCheck > CHECK_EVERY_MS) {
      lastCheck = now;
      const lost = await reapLost(config, doc, 'run');
      if (lost.length) {
        emit({ type: 'lost', lost });
        doc = readState(config.stateDir);
      }
      await checkStalls(config, doc, watched, stalled, emit);
    }

    // What happened to the specs we follow.
    for (const id of watched) {
      const st = stateOf(doc, id);
      const prev = last.get(id);
      if (st === prev) continue;
      last.set(id, st);
      const spec = specOf(id);
      const reason = doc.dispatch?.specs[id]?.reason;
      if (st === 'rate-limited') {
        const w = doc.dispatch?.waiting?.[id];
        const until = w ? Date.parse(w.until) : now;
        rc.pacing.rateLimited(spec.agent, until);
        emit({ type: 'rate-limited', id, agent: spec.agent, until: w?.until ?? new Date(until).toISOString(), reason });
      } else if (st === 'done' || st === 'failed' || st === 'skipped') {
        if (prev === undefined && !launched.includes(id)) continue; // adopted in a final state: nothing new
        if (st === 'done') rc.pacing.clean(spec.agent);
        const kind = kindOf(doc, id, st);
        emit({ type: 'finished', id, state: st, kind, reason });
        if (kind === 'quota-exhausted' && !rc.exhausted.has(spec.agent)) {
          rc.exhausted.set(spec.agent, reason ?? 'quota exhausted');
          emit({ type: 'quota-exhausted', agent: spec.agent, id, reason: reason ?? 'quota exhausted' });
        }
        if (st === 'failed' && canRelaunch(config, doc, id) && !queued(id)) {
          // A sequential wave keeps its order: the retry goes before the specs after it.
          if (plan.sequential) queue.unshift(launchItem(config, opts.mux, spec));
          else queue.push(launchItem(config, opts.mux, spec));
          // Numbered as the retry policy counts: retries since the spec was last put back to pending.
          emit({ type: 'relaunch', id, why: `retry ${doc.dispatch?.specs[id]?.attempts ?? 1} of ${config.retry.maxAttempts - 1} after: ${reason ?? 'failure'}` });
        }
      }
    }
    // Rate-limited specs whose wait is over go first.
    for (const id of watched) {
      const w = doc.dispatch?.waiting?.[id];
      if (w && Date.parse(w.until) <= now && !queued(id)) {
        queue.unshift(launchItem(config, opts.mux, specOf(id)));
        emit({ type: 'relaunch', id, why: 'the rate limit has reset' });
      }
    }

    // Budgets: once crossed, nothing new launches; what runs finishes.
    if (!rc.budgetStop) {
      const perRun = rc.tokensPerRun;
      const perWave = config.budget.tokensPerWave;
      const usedRun = perRun ? tokensUsed(doc, rc.runId) : 0;
      const usedWave = perWave ? tokensUsed(doc, rc.runId, plan.wave) : 0;
      if (perRun && usedRun >= perRun) rc.budgetStop = `token budget reached: ${usedRun} tokens used of ${perRun} per run`;
      else if (perWave && usedWave >= perWave) rc.budgetStop = `token budget reached: ${usedWave} tokens used of ${perWave} for wave ${plan.wave}`;
      if (rc.budgetStop) emit({ type: 'budget', message: rc.budgetStop });
    }

    // Launch the next spec when its time has come and there is room.
    waitingFor = undefined;
    // An exhausted agent's specs are not launched: they stay pending for a later run.
    for (let i = queue.length - 1; i >= 0; i--) if (rc.exhausted.has(queue[i]!.spec.agent)) queue.splice(i, 1);
    if (queue.length && !rc.budgetStop && now >= nextLaunchAt) {
      // In a sequential wave a rate-limited spec still holds its place: the next one waits for it.
      const busy = [...watched].filter((id) => stateOf(doc, id) === 'running' || (plan.sequential && stateOf(doc, id) === 'rate-limited')).length;
      const idx = queue.findIndex((q) => rc.pacing.pausedUntil(q.spec.agent) <= now);
      if (busy >= cap) waitingFor = plan.sequential ? 'the previous spec to finish (sequential wave)' : `a free slot (maxParallel ${cap})`;
      else if (idx < 0) waitingFor = `${queue[0]!.spec.agent} to come off its rate limit`;
      else {
        const [item] = queue.splice(idx, 1);
        // Cooldowns count from the moment the launch is on record, not from when the pane answered.
        let launchStarted = Date.now();
        const ok = await launchOne(config, item!, opts.mux, rc, emit, (t) => (launchStarted = t));
        watched.add(item!.spec.id);
        last.set(item!.spec.id, ok ? 'running' : 'failed');
        if (ok && !launched.includes(item!.spec.id)) launched.push(item!.spec.id);
        launches++;
        const cooldown = (config.pacing.cooldownSeconds[item!.spec.cost] ?? 0) * rc.pacing.factorOf(item!.spec.agent);
        const pause = batchOn && launches % b.every === 0 ? b.pauseSeconds : 0;
        nextLaunchAt = launchStarted + (cooldown + pause) * 1000;
        if (pause) waitingFor = 'batch pause';
        continue;
      }
    }

    const active = [...watched].filter((id) => ['running', 'rate-limited'].includes(stateOf(doc, id)));
    const stillRunning = active.filter((id) => stateOf(doc, id) === 'running');
    if (!opts.wait && !queue.length) break;
    if (!queue.length && !active.length) break;
    // A budget stop leaves the queue and the rate-limited specs; wait only for what runs.
    if (rc.budgetStop && !stillRunning.length) break;
    emit({
      type: 'tick', wave: plan.wave, rows: rowsFor(config, doc, new Set([...watched, ...queue.map((q) => q.spec.id)])),
      ...(queue.length && !rc.budgetStop ? { nextLaunchAt: Math.max(nextLaunchAt, now) } : {}),
      ...(waitingFor ? { waitingFor } : {}),
    });
    // Wake on time for the next launch rather than at the next poll.
    const untilLaunch = queue.length && !rc.budgetStop ? nextLaunchAt - Date.now() : Infinity;
    await sleep(Math.max(1, Math.min(opts.pollMs ?? POLL_MS, untilLaunch)), opts.signal);
  }
  const doc = readState(config.stateDir);
  emit({ type: 'tick', wave: plan.wave, rows: rowsFor(config, doc, watched) });
  return launched;
}

/** Warns about, stops or restarts agents whose log has not grown for stall.minutes. */
async function checkStalls(config: ResolvedConfig, doc: StateDoc, watched: Set<string>, seen: Set<string>, emit: (e: RunEvent) => void): Promise<void> {
  const action = config.stall.action;
  for (const id of watched) {
    const r = doc.dispatch?.running[id];
    if (!r || r.pid <= 0) continue;
    const key = `${id}:${r.pid}`;
    if (seen.has(key)) continue;
    const spec = config.specs.find((s) => s.id === id)!;
    const quiet = quietSeconds(config, spec, r.startedAt);
    if (quiet <= stallSeconds(config, spec)) continue;
    seen.add(key);
    emit({ type: 'stalled', id, quietSeconds: Math.round(quiet), action });
    if (action === 'warn' || (r.host && r.host !== hostname())) continue;
    const mins = quiet >= 120 ? `${Math.round(quiet / 60)} min` : `${Math.round(quiet)} s`;
    const stopReason = `stalled: no output for ${mins}${action === 'restart' ? ' (restarting)' : ''}`;
    await withState(config.stateDir, { command: 'run' }, (d) => {
      const rec = own(d.dispatch?.specs, id);
      if (rec && own(d.dispatch?.running, id)?.pid === r.pid) {
        rec.stopReason = stopReason;
        rec.stopKind = 'stalled';
      }
    });
    // The runner (a process dispatch started) stops its agent and records the reason.
    // Only if that pid still is our runner: never signal a process dispatch did not start.
    if (!isRunner(r.pid, id)) continue;
    try {
      process.kill(r.pid, 'SIGTERM');
    } catch {
      // already gone: the lost-runner check takes it from here
    }
  }
}

/** Marks the spec launching, makes its worktree, opens its pane. A failure marks it failed with why. */
async function launchOne(config: ResolvedConfig, item: LaunchItem, mux: Mux, rc: RunCtx, emit: (e: RunEvent) => void, recorded?: (at: number) => void): Promise<boolean> {
  const id = item.spec.id;
  let attempt = 1;
  try {
    if (item.error) throw new Error(item.error);
    let worktree: WorktreeRecord | undefined;
    if (item.worktree) {
      const doc = readState(config.stateDir);
      worktree = await ensureWorktree(config, item.spec, doc.dispatch?.specs[id]?.worktree as WorktreeRecord | undefined);
    }
    await withState(config.stateDir, { command: 'run' }, (doc) => {
      // The launch gets its number and its history entry now: a runner that never starts still
      // used it (and counts for the retry policy), and the next launch never reuses it.
      attempt = nextLaunchNumber(doc, id);
      const startedAt = new Date().toISOString();
      markRunning(doc, id, { pid: 0, host: hostname(), startedAt, pane: item.paneName, attempt, runId: rc.runId });
      const rec = extra(doc).specs[id]!;
      rec.attempts = (rec.attempts ?? 0) + 1;
      rec.history = [...(rec.history ?? []), { n: attempt, startedAt, runId: rc.runId, wave: item.spec.wave }];
      if (worktree) rec.worktree = worktree;
    });
    // The launch is on record (and in the journal) now: the next one is paced from here.
    recorded?.(Date.now());
    // A tmux or zellij pane starts with the multiplexer server's environment, not ours: hand ours
    // (API keys, PATH, CODEX_HOME...) to the runner in a file only this user can read.
    if (mux.kind !== 'headless') writeRunnerEnv(config, id);
    // The runner records its own pane id ($ZELLIJ_PANE_ID, $TMUX_PANE, its pid): no second write here.
    const pane = await mux.open({ name: item.paneName, cwd: item.cwd, argv: item.runnerArgv });
    emit({ type: 'launched', id, pane, at: Date.now(), attempt });
    return true;
  } catch (err) {
    const reason = `launch failed: ${(err as Error).message}`;
    // A runner that never started never took its environment: it does not stay on disk.
    removeRunnerEnv(config, id);
    await withState(config.stateDir, { command: 'run', reason }, (doc) => {
      failLaunch(doc, id, reason, 'launch-error');
    });
    const signalProblem = writeSignal(config.signalDir, config.project, 'failed', id, `${reason}\n`);
    if (signalProblem) warn(signalProblem);
    emit({ type: 'launch-failed', id, reason });
    const h = await runHook(config, 'onSpecFailed', { ...specVars(id, item.spec), STATE: 'failed', KIND: 'launch-error', REASON: reason, ATTEMPT: attempt, RUN_ID: rc.runId });
    if (h && !h.ok) emit({ type: 'hook-failed', hook: h.hook, error: h.error ?? '' });
    return false;
  }
}
