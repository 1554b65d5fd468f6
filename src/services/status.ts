import type { ResolvedConfig } from '../config/load.js';
import type { StateDoc } from '../state/doc.js';
import { buildOverview } from './overview.js';
import { countStates, groupWaves, type StateCounts } from './waves-view.js';

export interface StatusSummary {
  project: string;
  total: number;
  counts: StateCounts;
  waves: { wave: number; total: number; counts: StateCounts; complete: boolean }[];
  /** Specs needing attention, with the recorded reason. */
  failed: { id: string; name: string; wave: number; reason?: string }[];
  running: { id: string; name: string; wave: number; pid?: number; pane?: string; startedAt?: string; attempt?: number }[];
  /** Isolated specs done in their worktree, waiting for `dispatch merge`. */
  awaitingMerge: { id: string; name: string; wave: number }[];
  unknownIds: string[];
}

export function summarizeStatus(config: ResolvedConfig, doc: StateDoc): StatusSummary {
  const { rows, unknownIds } = buildOverview(config, doc, { plans: false });
  const running = doc.dispatch?.running ?? {};
  return {
    project: config.project,
    total: rows.length,
    counts: countStates(rows),
    waves: groupWaves(rows).map((w) => ({ wave: w.wave, total: w.specs.length, counts: w.counts, complete: w.complete })),
    failed: rows.filter((r) => r.state === 'failed').map((r) => ({ id: r.id, name: r.name, wave: r.wave, ...(r.reason ? { reason: r.reason } : {}) })),
    running: rows
      .filter((r) => r.state === 'running')
      .map((r) => ({ id: r.id, name: r.name, wave: r.wave, pid: running[r.id]?.pid, pane: running[r.id]?.pane, startedAt: running[r.id]?.startedAt, attempt: running[r.id]?.attempt })),
    awaitingMerge: rows.filter((r) => r.state === 'done' && doc.dispatch?.specs[r.id]?.awaitingMerge).map((r) => ({ id: r.id, name: r.name, wave: r.wave })),
    unknownIds,
  };
}
