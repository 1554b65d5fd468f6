import type { Ctx } from '../context.js';

/** Helpers for printing that several verbs share (no logic here: services hold that). */
export function warnUnknownIds(ctx: Ctx, ids: string[]): void {
  if (ids.length) ctx.err(`dispatch: warning: the state lists ${ids.length === 1 ? 'an id' : 'ids'} not in the spec table, kept as unknown: ${ids.join(', ')}\n`);
}
