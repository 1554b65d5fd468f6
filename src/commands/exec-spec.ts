import type { Ctx } from '../context.js';
import { EXIT } from '../errors.js';

/** Internal: what runs in a pane. Exit 0 when the spec ended done, 1 otherwise. */
export async function run(args: { _: [string] }, ctx: Ctx): Promise<number> {
  const config = await ctx.config();
  const { execSpec } = await import('../run/runner.js');
  // The pane may vanish under us: output errors must not kill the runner before it records the verdict.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  const r = await execSpec(config, args._[0], { signal: ctx.signal });
  return r.state === 'done' ? EXIT.ok : EXIT.failure;
}
