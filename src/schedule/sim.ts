// A simulated world and clock for the scheduler: `dispatch simulate` replays a
// table with it, and the engine's tests drive the very same scheduler with it.
// Specs end when their duration has passed on the simulated clock; nothing runs.
import type { ResolvedSpec } from '../config/types.js';
import type { HookName } from '../attempt/hooks.js';
import { claimLaunch, closeLaunch, emptyState, extra, markRateLimited, nextLaunchNumber, own, setState, stateOf, type LaunchBasis, type StateDoc, type VerdictKind } from '../state/doc.js';
import type { Clock } from './clock.js';
import type { LaunchResult, MergeOutcome, RunJournalEvent, World } from './world.js';

/** How a simulated attempt ends. */
export type SimEnd =
  | { state: 'done' }
  | { state: 'failed'; kind?: VerdictKind; reason?: string }
  /** Rate-limited: waits `waitMs` before it may be relaunched. */
  | { state: 'rate-limited'; waitMs: number; reason?: string };

export interface SimOptions {
  /** The state to start from (default: empty, the table from scratch). */
  doc?: StateDoc;
  /** Start of the simulated clock (ms since the epoch). */
  start?: number;
  /** How long an attempt takes. */
  durationOf: (spec: ResolvedSpec, attempt: number) => number;
  /** How an attempt ends (default: done). */
  endOf?: (spec: ResolvedSpec, attempt: number) => SimEnd;
  /** A launch that fails at once (a missing program): its reason. */
  launchErrorOf?: (spec: ResolvedSpec, attempt: number) => string | undefined;
  /** merge: 'auto' — an isolated spec's merge conflicts (default: it merges). */
  conflictOf?: (spec: ResolvedSpec) => boolean;
  /** Tokens an attempt reports (budgets). */
  tokensOf?: (spec: ResolvedSpec, attempt: number) => number;
  /** Record hook calls (default true). */
  recordHooks?: boolean;
  /** Specs running at the start (adopted from a real state): when they end. */
  runningEndsAt?: ReadonlyMap<string, number>;
}

export interface SimAttempt {
  id: string;
  attempt: number;
  start: number;
  end: number;
  state: SimEnd['state'];
}

interface Pending {
  at: number;
  spec: ResolvedSpec;
  attempt: number;
  end: SimEnd;
}

export class SimWorld implements World, Clock {
  readonly doc: StateDoc;
  private t: number;
  private ends: Pending[] = [];
  private still = 0;
  readonly attempts: SimAttempt[] = [];
  private byAttempt = new Map<string, SimAttempt>();
  readonly hooks: { name: HookName; vars: Record<string, string | number | undefined>; at: number }[] = [];
  readonly journalled: RunJournalEvent[] = [];
  readonly merges: { id: string; at: number; ok: boolean }[] = [];
  readonly prepared: { wave: number; ids: string[]; at: number }[] = [];

  /** Hooks are recorded (the tests read them) unless `recordHooks` is false (simulate has no use for them). */
  readonly hook?: (name: HookName, vars: Record<string, string | number | undefined>) => Promise<void>;

  constructor(specs: readonly ResolvedSpec[], private o: SimOptions) {
    if (o.recordHooks !== false) this.hook = async (name, vars) => void this.hooks.push({ name, vars, at: this.t });
    this.doc = o.doc ? structuredClone(o.doc) : emptyState();
    this.t = o.start ?? 0;
    const byId = new Map(specs.map((s) => [s.id, s]));
    for (const [id, at] of o.runningEndsAt ?? []) {
      const spec = byId.get(id);
      const attempt = own(this.doc.dispatch?.running, id)?.attempt ?? 1;
      if (spec) this.schedule({ at: Math.max(this.t, at), spec, attempt, end: { state: 'done' } });
    }
  }

  now(): number {
    return this.t;
  }

  /** Ends are kept sorted by time: the next one is the first. */
  private schedule(p: Pending): void {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ends[mid]!.at <= p.at) lo = mid + 1;
      else hi = mid;
    }
    this.ends.splice(lo, 0, p);
  }

  /** Jumps to the deadline or to the next end, whichever comes first. */
  async wait(deadline: number): Promise<void> {
    const next = Math.min(deadline, this.ends[0]?.at ?? Infinity);
    if (next === Infinity) throw new Error('simulation cannot go on: nothing runs and nothing is due (a bug in the scheduler)');
    // A scheduler that waits without time passing would spin for ever: said, not hung.
    this.still = next > this.t ? 0 : this.still + 1;
    if (this.still > 1000) throw new Error(`simulation stuck at ${new Date(this.t).toISOString()}: the scheduler keeps waiting for a time already past (a bug)`);
    this.t = Math.max(this.t, next);
  }

  read(): StateDoc {
    let n = 0;
    while (n < this.ends.length && this.ends[n]!.at <= this.t) n++;
    const due = n ? this.ends.splice(0, n) : [];
    for (const e of due) this.finish(e);
    return this.doc;
  }

  private finish(e: Pending): void {
    const id = e.spec.id;
    const iso = new Date(e.at).toISOString();
    const rec = this.byAttempt.get(`${id}\0${e.attempt}`);
    if (rec) {
      rec.end = e.at;
      rec.state = e.end.state;
    }
    // Someone decided while it ran (not in a simulation, but the same rule as a runner's).
    if (stateOf(this.doc, id) !== 'running') return;
    if (e.end.state === 'rate-limited') {
      markRateLimited(this.doc, id, { until: new Date(e.at + e.end.waitMs).toISOString(), agent: e.spec.agent, reason: e.end.reason ?? 'rate-limited', at: iso });
      closeLaunch(this.doc, id, e.attempt, { endedAt: iso, state: 'rate-limited', kind: 'rate-limited' });
      return;
    }
    const kind: VerdictKind = e.end.state === 'done' ? 'done' : (e.end.kind ?? 'agent-failed');
    const reason = e.end.state === 'failed' ? (e.end.reason ?? 'failed') : undefined;
    setState(this.doc, id, e.end.state, reason, kind);
    if (e.end.state === 'done' && e.spec.mode === 'isolated') extra(this.doc).specs[id]!.awaitingMerge = true;
    const total = this.o.tokensOf?.(e.spec, e.attempt);
    closeLaunch(this.doc, id, e.attempt, { endedAt: iso, state: e.end.state, kind, ...(reason ? { reason } : {}), ...(total !== undefined ? { tokens: { input: total, cachedInput: 0, output: 0, total } } : {}) });
  }

  async housekeep(): Promise<void> {}

  async launch(spec: ResolvedSpec, runId: string, recorded: (at: number) => void, basis: LaunchBasis): Promise<LaunchResult> {
    const id = spec.id;
    const attempt = nextLaunchNumber(this.doc, id);
    const startedAt = new Date(this.t).toISOString();
    const refused = claimLaunch(this.doc, id, basis, { pid: 1, host: 'simulated', startedAt, attempt, runId }, spec.wave);
    if (refused) return { ok: false, attempt, pane: '', refused: { kind: 'decided', state: refused } };
    recorded(this.t);
    const error = this.o.launchErrorOf?.(spec, attempt);
    if (error) {
      setState(this.doc, id, 'failed', `launch failed: ${error}`, 'launch-error');
      closeLaunch(this.doc, id, attempt, { endedAt: startedAt, state: 'failed', kind: 'launch-error', reason: error });
      return { ok: false, attempt, pane: '', reason: `launch failed: ${error}` };
    }
    const ms = Math.max(0, this.o.durationOf(spec, attempt));
    this.schedule({ at: this.t + ms, spec, attempt, end: this.o.endOf?.(spec, attempt) ?? { state: 'done' } });
    const a: SimAttempt = { id, attempt, start: this.t, end: this.t + ms, state: 'done' };
    this.attempts.push(a);
    this.byAttempt.set(`${id}\0${attempt}`, a);
    return { ok: true, attempt, pane: `sim:${id}` };
  }

  async prepare(wave: number, specs: ResolvedSpec[]): Promise<void> {
    this.prepared.push({ wave, ids: specs.map((s) => s.id), at: this.t });
  }

  async merge(spec: ResolvedSpec): Promise<MergeOutcome> {
    const conflict = this.o.conflictOf?.(spec) ?? false;
    this.merges.push({ id: spec.id, at: this.t, ok: !conflict });
    const rec = own(this.doc.dispatch?.specs, spec.id);
    if (conflict) {
      setState(this.doc, spec.id, 'failed', 'merge conflict (simulated)', 'merge-conflict');
      return { ok: false, stopped: true, reason: 'merge conflict (simulated)' };
    }
    if (rec) delete rec.awaitingMerge;
    return { ok: true };
  }


  async journal(e: RunJournalEvent): Promise<void> {
    this.journalled.push(e);
  }
}
