import type { ResolvedConfig, ResolvedSpec } from '../config/types.js';
import { idsInState, stateIndex, type SpecState, type StateDoc } from '../state/doc.js';
import { locateSpec, readSpecFolders, type SpecFolders } from '../specs/lookup.js';

import { planStatus, type PlanStatus } from '../planner/status.js';
import { specsOfWave } from '../config/spec-index.js';

export type { PlanStatus };

export interface SpecRow {
  id: string;
  name: string;
  title?: string;
  wave: number;
  cost: number;
  agent: string;
  mode: 'direct' | 'isolated';
  dependsOn: string[];
  state: SpecState;
  /** Done in its worktree; `dispatch merge` brings it in. */
  awaitingMerge?: true;
  reason?: string;
  plan: PlanStatus;
  folder?: string;
}

export interface Overview {
  project: string;
  rows: SpecRow[];
  /** Ids the state file lists that the table does not have (kept, never dropped). */
  unknownIds: string[];
}

/** One row per spec, joined with its state and plan status. */
export function buildOverview(config: ResolvedConfig, doc: StateDoc, opts: { wave?: number; plans?: boolean } = {}): Overview {
  const state = stateIndex(doc);
  const folders = opts.plans === false ? undefined : readSpecFolders(config.specsDir);
  const specs = opts.wave === undefined ? config.specs : specsOfWave(config, opts.wave);
  const rows = specs.map((s) => row(config, s, state(s.id), doc, folders));
  const known = new Set(config.specs.map((s) => s.id));
  const unknownIds = [...idsInState(doc)].filter((id) => !known.has(id));
  return { project: config.project, rows, unknownIds };
}

function row(config: ResolvedConfig, s: ResolvedSpec, state: SpecState, doc: StateDoc, folders?: SpecFolders): SpecRow {
  const r: SpecRow = { id: s.id, name: s.name, wave: s.wave, cost: s.cost, agent: s.agent, mode: s.mode, dependsOn: s.dependsOn, state, plan: 'missing' };
  if (s.title) r.title = s.title;
  if (state === 'done' && doc.dispatch?.specs?.[s.id]?.awaitingMerge) r.awaitingMerge = true;
  const reason = doc.dispatch?.specs?.[s.id]?.reason;
  if (reason && state !== 'done' && state !== 'pending') r.reason = reason;
  if (folders) {
    try {
      const files = locateSpec(config.specsDir, s, folders);
      if (files.found) {
        r.folder = files.dir;
        r.plan = planStatus(files.specFile, files.planFile);
      }
    } catch {
      // Ambiguous folders surface when the spec is reviewed or run; a listing still shows the row.
    }
  }
  return r;
}
