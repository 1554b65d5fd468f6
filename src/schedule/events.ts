// What the scheduler tells its caller while it runs, and what a run ends with.
import type { SpecState, VerdictKind } from '../state/doc.js';
import type { Lost } from '../attempt/liveness.js';

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

/**
 * Why a spec chosen for launch was not launched at all (nothing recorded, no runner started):
 * it was decided while it waited (by hand, or another run launched it), it left the table,
 * or the table no longer loads (its runner could not read it either).
 */
export type LaunchRefusal =
  | { kind: 'decided'; state: SpecState }
  | { kind: 'removed'; configPath: string }
  | { kind: 'config'; problem: string };

export type RunEvent =
  | { type: 'run-start'; runId: string; schedule: 'waves' | 'eager'; specs: number }
  | { type: 'wave-start'; wave: number; launches: number; sequential: boolean }
  | { type: 'launched'; id: string; pane: string; at: number; attempt: number }
  | { type: 'quota-exhausted'; agent: string; id: string; reason: string }
  | { type: 'launch-failed'; id: string; reason: string }
  | { type: 'not-launched'; id: string; refused: LaunchRefusal }
  | { type: 'lost'; lost: Lost[] }
  | { type: 'finished'; id: string; state: string; kind?: VerdictKind; reason?: string }
  | { type: 'merged'; id: string; ok: boolean; reason?: string }
  | { type: 'rate-limited'; id: string; agent: string; until: string; reason?: string }
  | { type: 'relaunch'; id: string; why: string }
  | { type: 'stalled'; id: string; quietSeconds: number; action: 'warn' | 'restart' | 'fail' }
  | { type: 'budget'; message: string }
  | { type: 'hook-failed'; hook: string; error: string }
  /** An SSH host went down, came back, or had leftovers of given-up attempts discarded. */
  | { type: 'host'; host: string; message: string }
  /** `wave` is absent under eager scheduling, where several waves run at once. */
  | { type: 'tick'; wave?: number; rows: LiveRow[]; nextLaunchAt?: number; waitingFor?: string }
  | { type: 'wave-done'; wave: number };

export interface Blocker {
  id: string;
  wave: number;
  state: string;
  reason?: string;
}

/** Eager scheduling: a spec that could not start, and the unfinished specs at the root of why. */
export interface BlockedSpec {
  id: string;
  wave: number;
  by: Blocker[];
}

export interface RunOutcome {
  runId: string;
  schedule: 'waves' | 'eager';
  launched: string[];
  done: string[];
  failed: { id: string; kind?: VerdictKind; reason?: string }[];
  /** Waves: the specs that stopped the run before a wave (failed, awaiting merge, unfinished). */
  blocked?: { wave: number; blockers: Blocker[] };
  /** Eager: specs that never started because a dependency did not complete. */
  blockedSpecs?: BlockedSpec[];
  /** Launched specs still running when we stopped waiting (--no-wait, Ctrl-C). */
  stillRunning: string[];
  /** Rate-limited specs still waiting to be relaunched when we stopped. */
  rateLimited: string[];
  /** Set when a token budget stopped new launches. */
  budgetStop?: string;
  tokens: number;
  interrupted: boolean;
  /** When the run started and ended (ms since the epoch, on the scheduler's clock). */
  startedAt: number;
  endedAt: number;
}
