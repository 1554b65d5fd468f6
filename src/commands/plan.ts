import type { Ctx } from '../context.js';
import { findDriver } from '../agents/registry.js';
import { noSuchWave, EXIT } from '../errors.js';
import { buildOverview } from '../services/overview.js';
import { groupWaves } from '../services/waves-view.js';
import { readState } from '../state/store.js';
import { paintState, palette, columns } from '../ui/style.js';
import { visibleAll } from '../util/visible.js';
import { warnUnknownIds } from './shared.js';

/** `dispatch plan [--wave N] [--graph mermaid|dot]`: the waves in order with their specs, or their dependency graph. */
export async function run(args: { wave?: number; graph?: 'mermaid' | 'dot' }, ctx: Ctx): Promise<number> {
  const config = await ctx.config();
  if (args.graph) {
    if (args.wave !== undefined && !config.specs.some((s) => s.wave === args.wave)) throw noSuchWave(args.wave, config.waves);
    const { graphText } = await import('../services/graph.js');
    ctx.out(graphText(config, readState(config.stateDir), args.graph, args.wave));
    return EXIT.ok;
  }
  const overview = buildOverview(config, readState(config.stateDir), { wave: args.wave });
  warnUnknownIds(ctx, overview.unknownIds);
  const waves = groupWaves(overview.rows, config.waveOptions);
  if (ctx.json) {
    ctx.outJson({ project: config.project, waves });
    return EXIT.ok;
  }
  if (!waves.length) {
    if (args.wave !== undefined) throw noSuchWave(args.wave, config.waves);
    ctx.err('the spec table is empty\n');
    return EXIT.ok;
  }
  const c = palette(ctx.color);
  let text = '';
  for (const w of visibleAll(waves)) {
    const counts = Object.entries(w.counts).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ');
    text += `${c.bold(`Wave ${w.wave}`)}${w.sequential ? ` ${c.yellow('(sequential)')}` : ''}  ${c.dim(`(${w.specs.length} spec${w.specs.length === 1 ? '' : 's'}: ${counts})`)}\n`;
    text += columns(
      w.specs.map((r) => [
        `  ${r.id}`, r.name, r.agent, r.mode, `cost ${r.cost}`, paintState(c, r.awaitingMerge ? 'awaiting-merge' : r.state),
        // An agent that reads no plan.md (Auto-Claude: only its own files in the spec folder) is shown so.
        findDriver(config, r.agent)?.readsPlan === false ? c.dim(`plan n/a (${r.agent})`) : `plan ${r.plan === 'planned' ? c.green(r.plan) : r.plan === 'stale' ? c.yellow(r.plan) : c.gray(r.plan)}`,
        r.dependsOn.length ? c.dim(`after ${r.dependsOn.join(', ')}`) : '',
      ]),
    );
  }
  ctx.out(text);
  return EXIT.ok;
}
