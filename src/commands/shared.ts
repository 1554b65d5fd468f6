import type { Ctx } from '../context.js';
import { DispatchError } from '../errors.js';
import { visible } from '../util/visible.js';

/** Helpers for printing that several verbs share (no logic here: services hold that). */
export function warnUnknownIds(ctx: Ctx, ids: string[]): void {
  if (ids.length) ctx.err(`dispatch: warning: the state lists ${ids.length === 1 ? 'an id' : 'ids'} not in the spec table, kept as unknown: ${ids.map(visible).join(', ')}\n`);
}

/** The state is saved but a signal file could not be written: exit 1, saying both. */
export function throwSignalProblems(changes: { signalProblem?: string }[]): void {
  const problems = changes.map((c) => c.signalProblem).filter((p): p is string => !!p);
  if (!problems.length) return;
  throw new DispatchError(`the state is saved, but ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`, {
    hint: 'clear the way in the signal folder (signalDir), then run the command again',
  });
}
