import type { Ctx } from '../context.js';
import { DispatchError, UsageError, EXIT } from '../errors.js';
import { visible, visibleText } from '../util/visible.js';

/** `dispatch merge <id> [--verify]`: merge an isolated spec's work into the current branch. */
export async function run(args: { _: [string]; verify?: boolean }, ctx: Ctx): Promise<number> {
  const config = await ctx.config();
  const { findSpec } = await import('../specs/lookup.js');
  const spec = findSpec(config, args._[0]);
  if (spec.mode !== 'isolated') throw new UsageError(`spec ${spec.id} is not isolated (mode: ${spec.mode}): its work is already in the project`, "only specs with mode: 'isolated' have a branch to merge");
  const { driverOf } = await import('../agents/registry.js');
  // An agent that isolates itself merges its own work: its output is shown as it is.
  const own = !!driverOf(config, spec.agent, spec.id).ownIsolation;
  if (args.verify && !own) {
    const { verifyCommandsOf } = await import('../attempt/verify.js');
    if (!verifyCommandsOf(config, spec).length) throw new UsageError(`no verify commands for ${spec.id}`, 'add verify: [[...command]] to the config (or the spec), or merge without --verify; nothing was merged');
  }
  const { mergeSpec } = await import('../services/merge.js');
  const c = (await import('../ui/style.js')).palette(ctx.color);
  const r = await mergeSpec(config, spec, { verify: args.verify ? 'yes' : 'no', command: 'merge', signal: ctx.signal, say: (t) => ctx.err(own ? visibleText(t) : c.dim(visibleText(t))) });
  if (!r.ok) throw new DispatchError(r.reason, { hint: r.hint });
  if (r.already) {
    ctx.err(`${visible(r.already)}; nothing to do\n`);
    return EXIT.ok;
  }
  if (r.committed) ctx.err(`committed the changes the agent left in ${visible(String(r.path))}\n`);
  if (r.branch) ctx.out(`merged ${visible(r.branch)} into the current branch${r.removed ? `; removed ${visible(String(r.path))} and the branch` : ''}\n`);
  return EXIT.ok;
}
