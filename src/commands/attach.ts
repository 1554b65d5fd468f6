import type { Ctx } from '../context.js';
import { DispatchError, EXIT } from '../errors.js';

/** `dispatch attach <id> [--print]`: opens the running spec's pane (or its tmux session on its SSH host). */
export async function run(args: { _: [string]; print?: boolean }, ctx: Ctx): Promise<number> {
  const config = await ctx.config();
  const { findSpec } = await import('../specs/lookup.js');
  const { readState } = await import('../state/store.js');
  const { own, stateOf } = await import('../state/doc.js');
  const spec = findSpec(config, args._[0]);
  const doc = readState(config.stateDir);
  // A run decided by hand that goes on (outlived) still has its session to watch.
  const r = own(doc.dispatch?.running, spec.id) ?? own(doc.dispatch?.outlived, spec.id);
  if (!r) throw new DispatchError(`${spec.id} is not running (${stateOf(doc, spec.id)}): there is nothing to attach to`, { hint: `its output is in 'dispatch logs ${spec.id}'` });
  const { executorForEntry } = await import('../executors/recorded.js');
  const ex = await executorForEntry(config, r);
  const a = ex.attach(spec.id, r);
  if ('hint' in a) throw new DispatchError(a.hint);
  const { runInteractive, showArgv } = await import('../proc/launch.js');
  if (args.print || !ctx.interactive) {
    // Not a terminal (or asked): the command, to run by hand.
    ctx.out(`${showArgv(a.argv)}\n`);
    return EXIT.ok;
  }
  const res = await runInteractive(a.argv);
  if (res.notFound) throw new DispatchError(`'${a.argv[0]}' is not installed here`, { hint: `attach by hand: ${showArgv(a.argv)}` });
  return res.exitCode === 0 ? EXIT.ok : EXIT.failure;
}
