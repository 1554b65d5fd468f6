// Everything the scheduler does to the world goes through this: the real one
// (the state file, panes, runners, git) in `run`, a simulated one in `simulate`
// and in the engine's tests. The scheduler itself decides only what and when.
import type { ResolvedSpec } from '../config/types.js';
import type { HookName } from '../attempt/hooks.js';
import type { LaunchBasis, StateDoc } from '../state/doc.js';
import type { LaunchRefusal } from './events.js';

/** A run-level line of the journal (beside the spec events): what a run's timeline is drawn from. */
export type RunJournalEvent =
  | { event: 'run-start'; run: string; schedule: 'waves' | 'eager'; specs: number }
  | { event: 'run-end'; run: string; outcome: 'done' | 'failed' | 'interrupted' | 'blocked' | 'budget'; done: number; failed: number }
  | { event: 'batch-pause'; run: string; from: string; until: string }
  | { event: 'rate-limit-wait'; run: string; agent: string; spec: string; until: string };

export interface LaunchResult {
  ok: boolean;
  attempt: number;
  pane: string;
  reason?: string;
  /** Not launched, nothing recorded: the spec is no longer what it was chosen as (see claimLaunch). */
  refused?: LaunchRefusal;
}

export interface MergeOutcome {
  ok: boolean;
  /** The merge conflicted or its checks failed: recorded as `merge-conflict`, everything kept. */
  stopped?: boolean;
  reason?: string;
}

export interface World {
  /** Others may change the state too (people, runners of an earlier run): held specs are looked at again now and then. */
  readonly external?: boolean;
  /** The state as it is now. */
  read(): StateDoc;
  /** About once a second: lost runners and stalled agents (nothing to do in a simulation). */
  housekeep(watched: ReadonlySet<string>): Promise<void>;
  /** What a ready spec waits for before it may launch (a free slot on a host), if anything. */
  slotWait?(spec: ResolvedSpec, doc: StateDoc): string | undefined;
  /**
   * Launches a spec chosen on `basis` (what it was when chosen), claimed with claimLaunch under the state
   * lock; calls `recorded` the moment the launch is on record (pacing counts from there).
   */
  launch(spec: ResolvedSpec, runId: string, recorded: (at: number) => void, basis: LaunchBasis): Promise<LaunchResult>;
  /** Before the first launch of a wave's specs (pre-planning). */
  prepare?(wave: number, specs: ResolvedSpec[]): Promise<void>;
  /** merge: 'auto' — merges a done isolated spec into the project. */
  merge?(spec: ResolvedSpec): Promise<MergeOutcome>;
  hook?(name: HookName, vars: Record<string, string | number | undefined>): Promise<void>;
  /** Before the run's end: waits for the runners that gave a verdict since `sinceMs` to finish their own hooks. */
  settle?(ids: ReadonlySet<string>, sinceMs: number): Promise<void>;
  journal?(e: RunJournalEvent): Promise<void>;
}
