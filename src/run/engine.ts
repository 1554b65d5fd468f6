// The real world the scheduler drives in `run`: the state file, panes and
// runners, git worktrees, hooks and the journal. What launches when is decided
// in src/schedule/loop.ts, which `simulate` drives with a simulated world.
import { statSync } from 'node:fs';
import { hostname } from 'node:os';
import { warn } from '../errors.js';
import { loadConfig, type ResolvedConfig, type ResolvedSpec } from '../config/load.js';
import type { Executor as Mux } from '../executors/types.js';
import { remoteKindsOf } from '../executors/recorded.js';
import { createExecutor } from '../executors/registry.js';
import { claimLaunch, claimRefusal, failLaunch, recordWorktree, isRemote, requestStop, stallReason, nextLaunchNumber, own, stateOf, type LaunchBasis, type RunPlace, type SpecState, type StateDoc, type VerdictKind } from '../state/doc.js';
import { journalRunEvent, readState, statePath, withState } from '../state/store.js';
import { announceVerdict, runHook } from '../attempt/hooks.js';
import { launchItem, type LaunchItem } from './launch-plan.js';
import { isRunner, reapLost, settleRunners } from '../attempt/liveness.js';
import { quietSeconds, stallSeconds } from '../attempt/stall.js';
import { removeRunnerEnv, writeRunnerEnv } from '../attempt/runner-env.js';
import { ensureWorktree, type WorktreeRecord } from '../attempt/worktree.js';
import { readSpecFolders, type SpecFolders } from '../specs/lookup.js';
import { realClock } from '../schedule/clock.js';
import { runSchedule } from '../schedule/loop.js';
import { estimateDurations } from '../schedule/estimate.js';
import type { RunEvent, RunOutcome } from '../schedule/events.js';
import type { LaunchResult, MergeOutcome, World } from '../schedule/world.js';

export type { Blocker, BlockedSpec, LiveRow, RunEvent, RunOutcome } from '../schedule/events.js';
export { blockersBefore, dependencyBlockers, tokensUsed } from '../schedule/readiness.js';
export { rowsFor } from '../schedule/rows.js';

export interface EngineOptions {
  mux: Mux;
  /** The specs this run may launch or adopt, in table order. */
  scope: readonly ResolvedSpec[];
  /** Named with --spec: a failed one is launched again whatever the retry policy says. */
  explicit?: ReadonlySet<string>;
  schedule?: 'waves' | 'eager';
  wait: boolean;
  signal: AbortSignal;
  onEvent?: (e: RunEvent) => void;
  /** Called before each wave's first launch with the specs about to launch (pre-planning). */
  beforeWave?: (wave: number, specs: ResolvedSpec[]) => Promise<void>;
  /** Lands an isolated spec's work (merge: 'auto'): the merge step, given by the caller (services/merge.ts). */
  merge: (spec: ResolvedSpec) => Promise<MergeOutcome>;
  /** Overrides budget.tokensPerRun for this run. */
  tokensPerRun?: number;
  pollMs?: number;
}

const POLL_MS = 150;

export async function runWaves(config: ResolvedConfig, opts: EngineOptions): Promise<RunOutcome> {
  const schedule = opts.schedule ?? config.schedule;
  const emit = (e: RunEvent) => opts.onEvent?.(e);
  const world = new RealWorld(config, opts.mux, emit, opts.merge, opts.beforeWave);
  const durations = schedule === 'eager' ? estimateDurations(config, readState(config.stateDir), opts.scope) : undefined;
  const clock = realClock(opts.pollMs ?? POLL_MS, statePath(config.stateDir));
  try {
    return await runSchedule(config, world, clock, {
      schedule, scope: opts.scope, wait: opts.wait, signal: opts.signal, onEvent: opts.onEvent,
      ...(opts.explicit ? { explicit: opts.explicit } : {}),
      ...(opts.tokensPerRun ? { tokensPerRun: opts.tokensPerRun } : {}),
      ...(durations ? { durations } : {}),
    });
  } finally {
    clock.close?.();
    // What the executor still owes its machines (an SSH pool: a last check of every host, cleanups).
    if (!opts.signal.aborted) await opts.mux.finish({ lastCheck: true }).catch(() => undefined);
  }
}

class RealWorld implements World {
  readonly external = true;
  private stalled = new Set<string>();
  private folders: SpecFolders | undefined;
  private launched = new Set<string>();
  /** The executors of remote runs on record, made once a run (an SSH pool counts its hosts' failed checks). */
  private remotes = new Map<string, Mux>();
  constructor(
    private config: ResolvedConfig,
    private mux: Mux,
    private emit: (e: RunEvent) => void,
    private mergeStep: (spec: ResolvedSpec) => Promise<MergeOutcome>,
    private beforeWave?: (wave: number, specs: ResolvedSpec[]) => Promise<void>,
  ) {
    if (mux.remote) this.remotes.set(mux.kind, mux);
  }

  read(): StateDoc {
    return readState(this.config.stateDir);
  }

  async settle(ids: ReadonlySet<string>, sinceMs: number): Promise<void> {
    // An SSH run's hooks run here, as its result is collected: nothing to wait for on a host.
    if (this.mux.remote) return;
    let doc: StateDoc;
    try {
      doc = this.read();
    } catch {
      return; // a state that cannot be read now names no runner to wait for (the run says why)
    }
    await settleRunners(doc, ids, sinceMs, (this.config.hooks.timeoutSeconds + 10) * 1000);
  }

  async housekeep(watched: ReadonlySet<string>): Promise<void> {
    const lost = await reapLost(this.config, this.read(), 'run');
    if (lost.length) this.emit({ type: 'lost', lost });
    // Remote runs are collected even when the config no longer has their pool: their places are on record.
    for (const kind of remoteKindsOf(this.read())) if (!this.remotes.has(kind)) this.remotes.set(kind, await createExecutor(this.config, kind));
    for (const ex of this.remotes.values()) await this.collect(ex, watched);
    if (watched.size) await checkStalls(this.config, this.read(), watched, this.stalled, this.emit);
  }

  slotWait(spec: ResolvedSpec, doc: StateDoc): string | undefined {
    const p = this.mux.place(spec, doc);
    return 'wait' in p ? p.wait : undefined;
  }

  /** Remote runs: their verdicts brought home, lost hosts judged, stalls acted on. */
  private async collect(ex: Mux, watched: ReadonlySet<string>): Promise<void> {
    let events;
    try {
      events = await ex.collect({ command: 'run', judge: true });
    } catch (err) {
      this.emit({ type: 'host', host: 'ssh', message: `could not collect: ${(err as Error).message}` });
      return;
    }
    for (const e of events) {
      if (e.type === 'lost') this.emit({ type: 'lost', lost: [{ id: e.id, why: e.reason.replace(/^lost \(|\)$/g, ''), reason: e.reason }] });
      else if (e.type === 'host-down') this.emit({ type: 'host', host: e.host, message: `not answering (${e.problem}): its specs are lost and go elsewhere` });
      else if (e.type === 'error') this.emit({ type: 'host', host: e.host, message: `could not collect: ${e.message}` });
      else if (e.type === 'closed') this.emit({ type: 'host', host: e.host, message: `${e.id} (decided by hand while it ran) ended ${e.state}${e.fetched ? `; its work is on ${e.fetched}` : ''}${e.reason ? `: ${e.reason}` : ''}` });
      else if (e.type === 'host-back') this.emit({ type: 'host', host: e.host, message: `answering${e.discarded.length ? `; stopped and discarded ${e.discarded.join(', ')} (attempts no longer current)` : ''}` });
      else if (e.type === 'stalled' && watched.has(e.id)) {
        const action = this.config.stall.action;
        this.emit({ type: 'stalled', id: e.id, quietSeconds: e.quietSeconds, action });
        if (action === 'warn') continue;
        const r = own(this.read().dispatch?.running, e.id);
        if (!r) continue;
        await withState(this.config.stateDir, { command: 'run' }, (d) => {
          if (own(d.dispatch?.specs, e.id)) requestStop(d, e.id, stallReason(e.quietSeconds, action === 'restart'), 'stalled', (now) => now.attempt === r.attempt);
        });
        await ex.stop(e.id, r, 'ask').catch((err: Error) => this.emit({ type: 'host', host: r.host, message: err.message }));
      }
    }
  }

  async launch(spec: ResolvedSpec, runId: string, recorded: (at: number) => void, basis: LaunchBasis): Promise<LaunchResult> {
    // Its runner reads the table afresh: a spec no longer in it (or a table that no longer loads) would
    // never start and only be found lost a timeout later. Not launched, and nothing recorded.
    const refused = await tableRefusal(this.config, spec.id);
    if (refused) return { ok: false, attempt: 0, pane: '', refused };
    // The spec folders are listed once a run for first launches; a relaunch looks again (an attempt
    // may have added a folder that makes its spec ambiguous), as does a launch that finds nothing.
    this.folders ??= readSpecFolders(this.config.specsDir);
    const again = this.launched.has(spec.id);
    this.launched.add(spec.id);
    let item = launchItem(this.config, this.mux, spec, 0, false, again ? undefined : this.folders);
    if (item.error && !again) {
      this.folders = readSpecFolders(this.config.specsDir);
      item = launchItem(this.config, this.mux, spec, 0, false, this.folders);
    }
    return launchOne(this.config, item, this.mux, runId, basis, this.emit, recorded);
  }

  async prepare(wave: number, specs: ResolvedSpec[]): Promise<void> {
    await this.beforeWave?.(wave, specs);
  }

  merge(spec: ResolvedSpec): Promise<MergeOutcome> {
    return this.mergeStep(spec);
  }

  async hook(name: Parameters<NonNullable<World['hook']>>[0], vars: Record<string, string | number | undefined>): Promise<void> {
    const h = await runHook(this.config, name, vars);
    if (h && !h.ok) this.emit({ type: 'hook-failed', hook: h.hook, error: h.error ?? '' });
  }

  async journal(e: Parameters<NonNullable<World['journal']>>[0]): Promise<void> {
    try {
      await journalRunEvent(this.config.stateDir, e);
    } catch (err) {
      // A timeline line that cannot be written does not stop the run.
      warn(`could not journal ${e.event}: ${(err as Error).message}`);
    }
  }
}

/** Warns about, stops or restarts agents whose log has not grown for stall.minutes. */
async function checkStalls(config: ResolvedConfig, doc: StateDoc, watched: ReadonlySet<string>, seen: Set<string>, emit: (e: RunEvent) => void): Promise<void> {
  const action = config.stall.action;
  for (const id of watched) {
    const r = doc.dispatch?.running[id];
    // A remote run's log is on its host: its stalls are judged where it is collected.
    if (!r || r.pid <= 0 || isRemote(r)) continue;
    const key = `${id}:${r.pid}`;
    if (seen.has(key)) continue;
    const spec = config.specs.find((s) => s.id === id)!;
    const quiet = quietSeconds(config, spec, r.startedAt);
    if (quiet <= stallSeconds(config, spec)) continue;
    seen.add(key);
    emit({ type: 'stalled', id, quietSeconds: Math.round(quiet), action });
    if (action === 'warn' || (r.host && r.host !== hostname())) continue;
    await withState(config.stateDir, { command: 'run' }, (d) => {
      if (own(d.dispatch?.specs, id)) requestStop(d, id, stallReason(quiet, action === 'restart'), 'stalled', (now) => now.pid === r.pid);
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

/** The spec's place in the table as its runner will read it: gone, or a table that no longer loads, refuses the launch. */
async function tableRefusal(config: ResolvedConfig, id: string): Promise<LaunchResult['refused']> {
  try {
    return (await tableIds(config.configPath)).has(id) ? undefined : { kind: 'removed', configPath: config.configPath };
  } catch (err) {
    return { kind: 'config', problem: (err as Error).message };
  }
}

// The table's ids as last loaded, kept while the config file is unchanged: a run of 10,000 launches
// reads the table again only when someone edits it, not once per launch (which would be quadratic).
let table: { key: string; ids: Promise<Set<string>> } | undefined;
async function tableIds(configPath: string): Promise<Set<string>> {
  const st = statSync(configPath);
  const key = `${configPath}\0${st.mtimeMs}\0${st.ctimeMs}\0${st.size}\0${st.ino}`;
  if (table?.key !== key) table = { key, ids: loadConfig({ configPath }).then((c) => new Set(c.specs.map((s) => s.id))) };
  try {
    return await table.ids;
  } catch (err) {
    table = undefined;
    throw err;
  }
}

/**
 * Claims the launch, makes its worktree, opens its pane. A failure marks it failed with why; a spec
 * decided while it waited (see claimLaunch) is left as it is, and the result says so.
 */
async function launchOne(config: ResolvedConfig, item: LaunchItem, mux: Mux, runId: string, basis: LaunchBasis, emit: (e: RunEvent) => void, recorded?: (at: number) => void): Promise<LaunchResult> {
  const id = item.spec.id;
  let attempt = 1;
  let host = hostname();
  let place: RunPlace | undefined;
  let refused: SpecState | undefined;
  let claimed = false;
  try {
    if (item.error) throw new Error(item.error);
    let worktree: WorktreeRecord | undefined;
    if (item.worktree && !mux.remote) {
      const doc = readState(config.stateDir);
      // Decided already: no worktree is made for a launch that will not be claimed.
      refused = claimRefusal(doc, id, basis);
      if (refused) return { ok: false, attempt: 0, pane: '', refused: { kind: 'decided', state: refused } };
      worktree = await ensureWorktree(config, item.spec, doc.dispatch?.specs[id]?.worktree as WorktreeRecord | undefined);
    }
    await withState(config.stateDir, { command: 'run' }, (doc) => {
      attempt = nextLaunchNumber(doc, id);
      const startedAt = new Date().toISOString();
      refused = claimRefusal(doc, id, basis);
      if (refused) return;
      // The machine it runs on, chosen under the lock with every other running spec in view (a host's slots).
      const placed = mux.place(item.spec, doc, attempt);
      if ('wait' in placed) throw new Error(`no room for it: waiting for ${placed.wait}`);
      host = placed.host;
      // A remote run records where it really is (address, folder, session), not only the config's name for it.
      place = placed.record?.place;
      claimLaunch(doc, id, basis, { pid: 0, host, startedAt, pane: item.paneName, attempt, runId: runId, ...placed.record }, item.spec.wave);
      claimed = true;
      if (worktree) recordWorktree(doc, id, worktree);
    });
    if (refused) return { ok: false, attempt: 0, pane: '', refused: { kind: 'decided', state: refused } };
    // The launch is on record (and in the journal) now: the next one is paced from here.
    recorded?.(Date.now());
    // A tmux or zellij pane starts with the multiplexer server's environment, not ours: hand ours
    // (API keys, PATH, CODEX_HOME...) to the runner in a file only this user can read.
    if (mux.needsRunnerEnv) writeRunnerEnv(config, id);
    // The runner records its own pane id ($ZELLIJ_PANE_ID, $TMUX_PANE, its pid): no second write here.
    const pane = await mux.open({ name: item.paneName, cwd: item.cwd, argv: item.runnerArgv, spec: item.spec, attempt, runId, host, ...(place ? { place } : {}) });
    return { ok: true, attempt, pane };
  } catch (err) {
    let reason = `launch failed: ${(err as Error).message}`;
    let kind: VerdictKind = 'launch-error';
    // A runner that never started never took its environment: it does not stay on disk.
    removeRunnerEnv(config, id);
    const mine = await withState(config.stateDir, { command: 'run', reason }, (doc) => {
      // Decided meanwhile (stopped while its launch was on its way, marked by hand): that word stands.
      const cur = own(doc.dispatch?.running, id);
      if (claimed && cur?.attempt !== attempt) return false;
      // A stop asked for while it launched names its own reason and kind (as a runner's verdict would).
      ({ reason, kind } = failLaunch(doc, id, reason, kind, { answerStop: !!cur }));
      return true;
    });
    if (!mine) return { ok: false, attempt: 0, pane: '', refused: { kind: 'decided', state: stateOf(readState(config.stateDir), id) } };
    const h = await announceVerdict(config, id, { state: 'failed', kind, reason }, { ATTEMPT: attempt, RUN_ID: runId });
    if (h && !h.ok) emit({ type: 'hook-failed', hook: h.hook, error: h.error ?? '' });
    return { ok: false, attempt, pane: '', reason };
  }
}
