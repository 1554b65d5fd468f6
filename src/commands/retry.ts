import type { Ctx } from '../context.js';
import { resetSpecs } from '../services/mark.js';

/** `dispatch retry [--wave N]`: failed specs back to pending. */
export async function run(args: { wave?: number }, ctx: Ctx): Promise<number> {
  const config = await ctx.config();
  const wave = new Map(config.specs.map((s) => [s.id, s.wave]));
  const changes = await resetSpecs(config, 'retry', (id, state) => state === 'failed' && (args.wave === undefined || wave.get(id) === args.wave));
  if (!changes.length) {
    ctx.out(`no failed specs${args.wave !== undefined ? ` in wave ${args.wave}` : ''}\n`);
    return 0;
  }
  for (const ch of changes) ctx.out(`${ch.id}: failed → pending\n`);
  ctx.out(`${changes.length} spec${changes.length === 1 ? '' : 's'} re-queued; launch with 'dispatch run${args.wave !== undefined ? ` --wave ${args.wave}` : ''} --yes'\n`);
  return 0;
}
