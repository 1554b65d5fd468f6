// Where merged work came from, written into the merge commit as git trailers
// (`git log --format=%(trailers)` reads them back).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ResolvedConfig, ResolvedSpec } from '../config/types.js';
import { locateSpec } from '../specs/lookup.js';
// One rule for the model, the report's and the trailer's: the driver's (a `-m` in extraArgs counts).
import { modelOf } from '../agents/command.js';
import type { SpecRecord } from '../state/doc.js';


export function mergeTrailers(config: ResolvedConfig, spec: ResolvedSpec, rec: SpecRecord | undefined): string[] {
  const last = rec?.history?.filter((h) => h.state === 'done').at(-1) ?? rec?.history?.at(-1);
  let planSha: string | undefined;
  try {
    planSha = createHash('sha256').update(readFileSync(locateSpec(config.specsDir, spec).planFile)).digest('hex');
  } catch {
    // no plan.md: no trailer
  }
  const model = modelOf(config, spec);
  // Every value on one line: a newline in a name or a model must not add trailers of its own.
  const one = (v: string | number) => String(v).replace(/\s+/g, ' ');
  return [
    // One line each: a name holding a newline must not start a trailer of its own.
    `Dispatch-Spec: ${one(`${spec.id}-${spec.name}`)}`,
    `Dispatch-Agent: ${one(spec.agent)}`,
    ...(model ? [`Dispatch-Model: ${one(model)}`] : []),
    ...(last ? [`Dispatch-Attempt: ${last.n}`] : []),
    ...(last?.tokens ? [`Dispatch-Tokens: ${last.tokens.total}`] : []),
    ...(planSha ? [`Dispatch-Plan-Sha256: ${planSha}`] : []),
  ];
}
