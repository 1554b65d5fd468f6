// Before a wave launches: plan what has no up-to-date plan. Planning helps
// the agent but must not hold a wave hostage: an unreachable Ollama is a
// warning unless the user asked for --require-plan.
import type { ResolvedConfig, ResolvedSpec } from '../config/types.js';
import { DispatchError } from '../errors.js';
import { findDriver } from '../agents/registry.js';
import { locateSpec, readSpecFolders } from '../specs/lookup.js';

export interface PlanStepResult {
  needed: string[];
  planned: string[];
  failed: { id: string; reason: string }[];
  /** Set when planning was skipped as a whole (Ollama unreachable). */
  skipped?: string;
}

export async function planBeforeLaunch(config: ResolvedConfig, specs: ResolvedSpec[], opts: { require: boolean; signal: AbortSignal }): Promise<PlanStepResult> {
  const { planStatus } = await import('../planner/status.js');
  const folders = readSpecFolders(config.specsDir);
  // An agent that never reads plan.md (Auto-Claude): planning its specs would spend Ollama for nothing.
  const needed = specs.filter((s) => {
    if (findDriver(config, s.agent)?.readsPlan === false) return false;
    const f = locateSpec(config.specsDir, s, folders);
    return planStatus(f.specFile, f.planFile) !== 'planned';
  });
  const result: PlanStepResult = { needed: needed.map((s) => s.id), planned: [], failed: [] };
  if (!needed.length) return result;
  const { prePlan, OllamaUnreachableError } = await import('./pre-plan.js');
  let results;
  try {
    // Asked once, not with pre-plan's retries: an unreachable Ollama must not hold the wave back.
    results = await prePlan(config, { ids: result.needed, signal: opts.signal, reachRetries: 0 });
  } catch (err) {
    if (!(err instanceof OllamaUnreachableError)) throw err;
    if (opts.require) throw new DispatchError(`${err.message} and --require-plan is set`, { hint: err.hint });
    result.skipped = err.message;
    return result;
  }
  for (const r of results) {
    if (r.status === 'planned' || r.status === 'up-to-date') result.planned.push(r.id);
    else result.failed.push({ id: r.id, reason: r.reason ?? r.status });
  }
  if (opts.require && result.failed.length) {
    throw new DispatchError(`planning failed for ${result.failed.map((f) => `${f.id} (${f.reason})`).join(', ')} and --require-plan is set`, {
      hint: "fix the cause, or run without --require-plan; 'dispatch pre-plan' retries just the planning",
    });
  }
  return result;
}
