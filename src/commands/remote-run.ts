import type { Ctx } from '../context.js';
import { EXIT } from '../errors.js';

/** Internal: the runner of an SSH run, on its host, in its tmux session. */
export async function run(args: { _: [string] }, ctx: Ctx): Promise<number> {
  const { remoteRun } = await import('../remote/run.js');
  // The session may vanish under us: output errors must not kill the runner before it leaves its verdict.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  const r = await remoteRun(args._[0], ctx.signal);
  return r.state === 'done' ? EXIT.ok : EXIT.failure;
}
