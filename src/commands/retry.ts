import type { Ctx } from '../context.js';
import { resetSpecs } from '../services/mark.js';
import { throwSignalProblems } from './shared.js';
import { EXIT } from '../errors.js';
import { visibleAll } from '../util/visible.js';

/** `dispatch retry [--wave N]`: failed (and rate-limited) specs back to pending, with fresh attempts. */
export async function run(args: { wave?: number }, ctx: Ctx): Promise<number> {
  const config = await ctx.config();
  const wave = new Map(config.specs.map((s) => [s.id, s.wave]));
  const changes = await resetSpecs(config, 'retry', (id, state) => (state === 'failed' || state === 'rate-limited') && (args.wave === undefined || wave.get(id) === args.wave));
  if (!changes.length) {
    ctx.out(`no failed or rate-limited specs${args.wave !== undefined ? ` in wave ${args.wave}` : ''}\n`);
    return EXIT.ok;
  }
  for (const ch of visibleAll(changes)) ctx.out(`${ch.id}: ${ch.from} → pending\n`);
  ctx.out(`${changes.length} spec${changes.length === 1 ? '' : 's'} re-queued; launch with 'dispatch run${args.wave !== undefined ? ` --wave ${args.wave}` : ''} --yes'\n`);
  throwSignalProblems(changes);
  return EXIT.ok;
}
