import type { Ctx } from '../context.js';
import { DispatchError, EXIT } from '../errors.js';
import { visibleAll } from '../util/visible.js';

/** `dispatch stop <id...>`: stop running specs (runner and agent), recorded as interrupted. */
export async function run(args: { _: [string[]] }, ctx: Ctx): Promise<number> {
  const config = await ctx.config();
  const { stopSpecs } = await import('../services/stop.js');
  const results = await stopSpecs(config, args._[0], { signal: ctx.signal });
  const none = !results.some((r) => r.stopped);
  // --json answers in every case (a pipe into jq gets the results), and exits 1 as the text does.
  if (ctx.json) ctx.outJson(results);
  const why = (r: (typeof results)[number]) => (r.ended ? `${r.id} ended ${r.ended} before the stop reached it` : `${r.id} is ${r.note}`);
  if (none) throw new DispatchError(`nothing to stop: ${results.map(why).join(', ')}`, { hint: "see 'dispatch status'" });
  if (ctx.json) return EXIT.ok;
  for (const r of visibleAll(results)) {
    if (r.stopped && r.givenUp) ctx.out(`${r.id}: given up (interrupted): ${r.givenUp}\n`);
    else if (r.stopped && r.from !== 'running') ctx.out(`${r.id}: stopped (${r.note})\n`);
    else ctx.out(r.stopped ? `${r.id}: stopped (interrupted; 'dispatch retry' or 'dispatch reset --spec ${r.id}' to run it again)\n` : r.ended ? `${r.id}: ended ${r.ended} before the stop reached it\n` : `${r.id}: ${r.note}\n`);
  }
  return EXIT.ok;
}
