// When a spec may start: after every earlier wave (waves), or after its own dependencies (eager).
import type { ResolvedConfig, ResolvedSpec } from '../config/types.js';
import { own, stateOf, type StateDoc } from '../state/doc.js';
import { isComplete } from '../state/doc.js';
import { specById } from '../config/spec-index.js';
import type { BlockedSpec, Blocker } from './events.js';

export function blockerOf(doc: StateDoc, s: Pick<ResolvedSpec, 'id' | 'wave'>): Blocker {
  const st = stateOf(doc, s.id);
  const rec = own(doc.dispatch?.specs, s.id);
  return { id: s.id, wave: s.wave, state: st === 'done' && rec?.awaitingMerge ? 'awaiting merge' : st, ...(rec?.reason ? { reason: rec.reason } : {}) };
}

/** Specs of earlier waves that are not complete (done and merged, or skipped). */
export function blockersBefore(config: ResolvedConfig, doc: StateDoc, wave: number): Blocker[] {
  return config.specs.filter((s) => s.wave < wave && !isComplete(doc, s.id)).map((s) => blockerOf(doc, s));
}

/** For `--spec`: the unfinished specs before `wave` that these specs depend on. */
export function dependencyBlockers(config: ResolvedConfig, doc: StateDoc, specs: { dependsOn: string[] }[], wave: number): Blocker[] {
  const deps = new Set(specs.flatMap((s) => s.dependsOn));
  return blockersBefore(config, doc, wave).filter((b) => deps.has(b.id));
}

/** The first dependency of `spec` that is not complete (done and merged, or skipped). */
export function firstIncomplete(doc: StateDoc, spec: ResolvedSpec): string | undefined {
  return spec.dependsOn.find((d) => !isComplete(doc, d));
}

/** Eager: every dependency complete. */
export function depsComplete(doc: StateDoc, spec: ResolvedSpec): boolean {
  return firstIncomplete(doc, spec) === undefined;
}

/**
 * Eager: why each of `ids` could not start — the unfinished specs at the root of its
 * dependencies (a failed one, one awaiting merge, one this run could not launch),
 * not every pending spec in between.
 */
export function blockedRoots(config: ResolvedConfig, doc: StateDoc, ids: string[]): BlockedSpec[] {
  const byId = specById(config);
  const roots = new Map<string, Blocker[]>();
  const rootsOf = (id: string): Blocker[] => {
    const known = roots.get(id);
    if (known) return known;
    roots.set(id, []); // a table has no cycles; this only guards the walk
    const spec = byId.get(id)!;
    const found = new Map<string, Blocker>();
    for (const d of spec.dependsOn) {
      if (isComplete(doc, d)) continue;
      const dep = byId.get(d)!;
      const st = stateOf(doc, d);
      // A pending dependency that is itself waiting passes the blame on to what it waits for.
      const upstream = st === 'pending' && !depsComplete(doc, dep) ? rootsOf(d) : [];
      if (upstream.length) for (const b of upstream) found.set(b.id, b);
      else found.set(d, blockerOf(doc, dep));
    }
    const list = [...found.values()];
    roots.set(id, list);
    return list;
  };
  return ids.map((id) => ({ id, wave: byId.get(id)!.wave, by: rootsOf(id) }));
}

/** Tokens agents reported for this run (and this wave). */
export function tokensUsed(doc: StateDoc, runId: string, wave?: number): number {
  let sum = 0;
  for (const rec of Object.values(doc.dispatch?.specs ?? {})) {
    for (const h of rec.history ?? []) if (h.runId === runId && (wave === undefined || h.wave === wave)) sum += h.tokens?.total ?? 0;
  }
  return sum;
}

/** Tokens of this run by wave, in one pass over the history. */
export function tokensByWave(doc: StateDoc, runId: string): Map<number, number> {
  const m = new Map<number, number>();
  for (const rec of Object.values(doc.dispatch?.specs ?? {})) {
    for (const h of rec.history ?? []) if (h.runId === runId && h.wave !== undefined) m.set(h.wave, (m.get(h.wave) ?? 0) + (h.tokens?.total ?? 0));
  }
  return m;
}
