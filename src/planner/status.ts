import { readFileSync } from 'node:fs';
import { hashSpec, readPlanHeader } from './plan-file.js';

export type PlanStatus = 'planned' | 'stale' | 'missing';

/**
 * planned: plan.md matches the spec.md it was made from (or was written by
 * hand, without our header); stale: the spec changed since; missing: none.
 */
export function planStatus(specFile: string, planFile: string): PlanStatus {
  const header = readPlanHeader(planFile);
  if (header === null) return 'missing';
  if (header === undefined) return 'planned';
  let spec: string;
  try {
    spec = readFileSync(specFile, 'utf8');
  } catch {
    return 'stale';
  }
  return hashSpec(spec) === header.specSha256 ? 'planned' : 'stale';
}
