import type { Ctx } from '../context.js';
import { noSuchWave, EXIT } from '../errors.js';
import { buildOverview } from '../services/overview.js';
import { readState } from '../state/store.js';
import { paintState, palette } from '../ui/style.js';
import { visibleAll } from '../util/visible.js';
import { warnUnknownIds } from './shared.js';

/** `dispatch list [--wave N]` */
export async function run(args: { wave?: number }, ctx: Ctx): Promise<number> {
  const config = await ctx.config();
  const overview = buildOverview(config, readState(config.stateDir), { wave: args.wave });
  warnUnknownIds(ctx, overview.unknownIds);
  if (ctx.json) {
    ctx.outJson({ project: overview.project, specs: overview.rows, unknownIds: overview.unknownIds });
    return EXIT.ok;
  }
  if (!overview.rows.length) {
    if (args.wave !== undefined) throw noSuchWave(args.wave, config.waves);
    ctx.err('the spec table is empty\n');
    return EXIT.ok;
  }
  const c = palette(ctx.color);
  const { renderTable } = await import('../ui/table.js');
  const rows = visibleAll(overview.rows).map((r) => [
    r.id, r.name, String(r.wave), String(r.cost), r.agent, r.mode, paintState(c, r.awaitingMerge ? 'awaiting-merge' : r.state), r.plan === 'planned' ? c.green(r.plan) : r.plan === 'stale' ? c.yellow(r.plan) : c.gray(r.plan),
  ]);
  ctx.out(await renderTable(['id', 'name', 'wave', 'cost', 'agent', 'mode', 'state', 'plan'], rows, ctx.color));
  return EXIT.ok;
}
