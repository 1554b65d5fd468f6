import type { Ctx } from '../context.js';
import { palette } from '../ui/style.js';
import { EXIT } from '../errors.js';

/** `dispatch doctor [--mux M]`: one line per check with the fix; exit 1 if any check fails. */
export async function run(args: { mux?: 'auto' | 'zellij' | 'tmux' | 'headless' }, ctx: Ctx): Promise<number> {
  const config = await ctx.config();
  const { runChecks } = await import('../services/doctor.js');
  const checks = await runChecks(config, args.mux ?? config.multiplexer);
  if (ctx.json) ctx.outJson(checks);
  else {
    const c = palette(ctx.color);
    const { checkLine } = await import('../ui/checks.js');
    for (const k of checks) ctx.out(`${checkLine(c, k)}\n`);
  }
  return checks.some((k) => k.status === 'fail') ? EXIT.failure : EXIT.ok;
}
