// The dispatch engine: launches a wave's specs in panes, paced by cost,
// waits for their runners' verdicts, and hands off to the next wave only
// when the previous one is complete.
import { hostname } from 'node:os';
import type { ResolvedConfig } from '../config/load.js';
import type { Mux } from '../mux/types.js';
import { extra, markRunning, setState, stateOf, type StateDoc } from '../state/doc.js';
import { writeSignal } from '../state/signals.js';
import { readState, withState } from '../state/store.js';
import { isComplete, planWave, type LaunchItem, type WavePlan } from './launch-plan.js';
import { reapLost, type Lost } from './liveness.js';
import { ensureWorktree, type WorktreeRecord } from './worktree.js';

export interface LiveRow {
  id: string;
  name: string;
  agent: string;
  state: string;
  startedAt?: string;
  reason?: string;
}

export type RunEvent =
  | { type: 'wave-start'; plan: WavePlan }
  | { type: 'launched'; id: string; pane: string; at: number }
  | { type: 'launch-failed'; id: string; reason: string }
  | { type: 'lost'; lost: Lost[] }
  | { type: 'finished'; id: string; state: string; reason?: string }
  | { type: 'tick'; wave: number; rows: LiveRow[]; nextLaunchAt?: number; waitingFor?: string }
  | { type: 'wave-done'; wave: number };

export interface Blocker {
  id: string;
  wave: number;
  state: string;
  reason?: string;
}

export interface RunOutcome {
  launched: string[];
  done: string[];
  failed: { id: string; reason?: string }[];
  /** Specs that stopped the run before a wave (failed, awaiting merge, unfinished). */
  blocked?: { wave: number; blockers: Blocker[] };
  /** Launched specs still running when we stopped waiting (--no-wait, Ctrl-C). */
  stillRunning: string[];
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
  pollMs?: number;
}

const POLL_MS = 150;
const REAP_EVERY_MS = 1000;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((res) => {
    if (signal.aborted || ms <= 0) return res();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      res();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Specs of earlier waves (or this one, for hand-off) that are not complete. */
export function blockersBefore(config: ResolvedConfig, doc: StateDoc, wave: number): Blocker[] {
  return config.specs
    .filter((s) => s.wave < wave && !isComplete(doc, s.id))
    .map((s) => {
      const st = stateOf(doc, s.id);
      const rec = doc.dispatch?.specs[s.id];
      return { id: s.id, wave: s.wave, state: st === 'done' && rec?.awaitingMerge ? 'awaiting merge' : st, ...(rec?.reason ? { reason: rec.reason } : {}) };
    });
}

function dependencyBlockers(config: ResolvedConfig, doc: StateDoc, only: Set<string>, wave: number): Blocker[] {
  const deps = new Set(config.specs.filter((s) => only.has(s.id) && s.wave === wave).flatMap((s) => s.dependsOn));
  return blockersBefore(config, doc, wave).filter((b) => deps.has(b.id));
}

export async function runWaves(config: ResolvedConfig, opts: EngineOptions): Promise<RunOutcome> {
  const emit = (e: RunEvent) => opts.onEvent?.(e);
  const outcome: RunOutcome = { launched: [], done: [], failed: [], stillRunning: [], interrupted: false };
  // Specs this run tried to launch, launched or not: one that failed to launch failed the run.
  const attempted: string[] = [];
  const waves = opts.waves === 'all' ? config.waves : opts.waves;
  for (const wave of waves) {
    if (opts.signal.aborted) break;
    let doc = readState(config.stateDir);
    const lost = await reapLost(config, doc, 'run');
    if (lost.length) {
      emit({ type: 'lost', lost });
      doc = readState(config.stateDir);
    }
    // --spec waits only on its own dependencies; a wave on every earlier wave.
    const blockers = opts.only ? dependencyBlockers(config, doc, opts.only, wave) : blockersBefore(config, doc, wave);
    if (blockers.length) {
      outcome.blocked = { wave, blockers };
      break;
    }
    const plan = planWave(config, doc, opts.mux, wave, { only: opts.only });
    const adopted = config.specs.filter((s) => s.wave === wave && stateOf(doc, s.id) === 'running').map((s) => s.id);
    if (!plan.items.length && !adopted.length) continue;
    emit({ type: 'wave-start', plan });
    if (plan.items.length) await opts.beforeWave?.(plan);
    const launched = await launchWave(config, plan, adopted, opts, emit);
    outcome.launched.push(...launched);
    const afterLaunch = readState(config.stateDir);
    attempted.push(...plan.items.map((i) => i.spec.id).filter((id) => launched.includes(id) || stateOf(afterLaunch, id) === 'failed'));
    if (!opts.wait) {
      outcome.stillRunning.push(...launched);
      break;
    }
    await waitForSpecs(config, wave, [...launched, ...adopted], opts, emit);
    if (opts.signal.aborted) break;
    emit({ type: 'wave-done', wave });
    // --spec runs just those; a single --wave stops here too.
    if (opts.only) break;
  }
  const finalDoc = readState(config.stateDir);
  for (const id of attempted) {
    const st = stateOf(finalDoc, id);
    if (st === 'done') outcome.done.push(id);
    else if (st === 'running') {
      if (!outcome.stillRunning.includes(id)) outcome.stillRunning.push(id);
    } else outcome.failed.push({ id, reason: finalDoc.dispatch?.specs[id]?.reason ?? st });
  }
  outcome.interrupted = opts.signal.aborted;
  return outcome;
}

function rowsFor(config: ResolvedConfig, doc: StateDoc, ids: string[]): LiveRow[] {
  return ids.map((id) => {
    const s = config.specs.find((x) => x.id === id)!;
    const st = stateOf(doc, id);
    const rec = doc.dispatch?.specs[id];
    const run = doc.dispatch?.running[id];
    return {
      id,
      name: s.name,
      agent: s.agent,
      state: st === 'running' && run?.pid === 0 ? 'launching' : st === 'done' && rec?.awaitingMerge ? 'awaiting merge' : st,
      ...(run?.startedAt ? { startedAt: run.startedAt } : {}),
      ...(rec?.reason && st === 'failed' ? { reason: rec.reason } : {}),
    };
  });
}

async function launchWave(config: ResolvedConfig, plan: WavePlan, adopted: string[], opts: EngineOptions, emit: (e: RunEvent) => void): Promise<string[]> {
  const launched: string[] = [];
  const cap = plan.sequential ? 1 : config.pacing.maxParallel ?? Infinity;
  const watched = () => [...adopted, ...launched, ...plan.items.map((i) => i.spec.id).filter((id) => !launched.includes(id))];
  const tick = (nextLaunchAt?: number, waitingFor?: string) => {
    emit({ type: 'tick', wave: plan.wave, rows: rowsFor(config, readState(config.stateDir), watched()), nextLaunchAt, waitingFor });
  };
  for (const [i, item] of plan.items.entries()) {
    if (opts.signal.aborted) break;
    // Room to launch: at most `cap` specs of this run at once (sequential waves: one).
    if (cap !== Infinity) {
      while (!opts.signal.aborted) {
        const doc = readState(config.stateDir);
        const busy = [...adopted, ...launched].filter((id) => stateOf(doc, id) === 'running').length;
        if (busy < cap) break;
        tick(undefined, plan.sequential ? 'the previous spec to finish (sequential wave)' : `a free slot (maxParallel ${cap})`);
        await sleep(opts.pollMs ?? POLL_MS, opts.signal);
      }
      if (opts.signal.aborted) break;
    }
    const ok = await launchOne(config, item, opts.mux, emit);
    if (ok) launched.push(item.spec.id);
    if (i < plan.items.length - 1 && item.waitAfter > 0) {
      const until = Date.now() + item.waitAfter * 1000;
      while (!opts.signal.aborted && Date.now() < until) {
        tick(until, item.batchPause ? 'batch pause' : undefined);
        await sleep(Math.min(until - Date.now(), 500), opts.signal);
      }
    }
  }
  tick();
  return launched;
}

/** Marks the spec launching, makes its worktree, opens its pane. A failure marks it failed with why. */
async function launchOne(config: ResolvedConfig, item: LaunchItem, mux: Mux, emit: (e: RunEvent) => void): Promise<boolean> {
  const id = item.spec.id;
  try {
    let worktree: WorktreeRecord | undefined;
    if (item.worktree) {
      const doc = readState(config.stateDir);
      worktree = await ensureWorktree(config, item.spec, doc.dispatch?.specs[id]?.worktree as WorktreeRecord | undefined);
    }
    await withState(config.stateDir, { command: 'run' }, (doc) => {
      const attempts = doc.dispatch?.specs[id]?.attempts ?? 0;
      markRunning(doc, id, { pid: 0, host: hostname(), startedAt: new Date().toISOString(), pane: item.paneName, attempt: attempts + 1 });
      if (worktree) extra(doc).specs[id]!.worktree = worktree;
    });
    // The runner records its own pane id ($ZELLIJ_PANE_ID, $TMUX_PANE, its pid): no second write here.
    const pane = await mux.open({ name: item.paneName, cwd: item.cwd, argv: item.runnerArgv });
    emit({ type: 'launched', id, pane, at: Date.now() });
    return true;
  } catch (err) {
    const reason = `launch failed: ${(err as Error).message}`;
    await withState(config.stateDir, { command: 'run', reason }, (doc) => void setState(doc, id, 'failed', reason));
    writeSignal(config.signalDir, config.project, 'failed', id, `${reason}\n`);
    emit({ type: 'launch-failed', id, reason });
    return false;
  }
}

/** Waits until none of `ids` is running, re-checking for lost runners as it goes. */
async function waitForSpecs(config: ResolvedConfig, wave: number, ids: string[], opts: EngineOptions, emit: (e: RunEvent) => void): Promise<void> {
  const seen = new Map<string, string>();
  let lastReap = 0;
  while (!opts.signal.aborted) {
    let doc = readState(config.stateDir);
    if (Date.now() - lastReap > REAP_EVERY_MS) {
      lastReap = Date.now();
      const lost = await reapLost(config, doc, 'run');
      if (lost.length) {
        emit({ type: 'lost', lost });
        doc = readState(config.stateDir);
      }
    }
    const rows = rowsFor(config, doc, ids);
    for (const r of rows) {
      if (r.state !== 'running' && r.state !== 'launching' && seen.get(r.id) !== r.state) {
        seen.set(r.id, r.state);
        emit({ type: 'finished', id: r.id, state: r.state, reason: r.reason });
      }
    }
    emit({ type: 'tick', wave, rows });
    if (rows.every((r) => r.state !== 'running' && r.state !== 'launching')) return;
    await sleep(opts.pollMs ?? POLL_MS, opts.signal);
  }
}
