import type { Ctx } from '../context.js';
import { markSpecs, type MarkVerb } from '../services/mark.js';
import { palette, paintState } from '../ui/style.js';
import { throwSignalProblems } from './shared.js';
import { EXIT } from '../errors.js';
import { visibleAll } from '../util/visible.js';
import { REASON_MAX } from '../state/doc.js';

/** `dispatch mark-done|mark-failed|skip ID... [--reason TEXT]` */
export async function run(args: { _: [string[]]; verb: MarkVerb; reason?: string }, ctx: Ctx): Promise<number> {
  const config = await ctx.config();
  const changes = await markSpecs(config, args.verb, args._[0], args.reason);
  const c = palette(ctx.color);
  for (const ch of visibleAll(changes)) {
    ctx.out(ch.changed ? `${ch.id}: ${ch.from} → ${paintState(c, ch.to)}\n` : `${ch.id}: already ${paintState(c, ch.to)}\n`);
  }
  if (args.reason !== undefined && args.reason.length > REASON_MAX) {
    ctx.err(`dispatch: warning: the reason is ${args.reason.length} characters long; the state, the journal and the signal file keep its first ${REASON_MAX} characters, marked as cut\n`);
  }
  throwSignalProblems(changes);
  return EXIT.ok;
}
