import type { Ctx } from '../context.js';
import { DispatchError, UsageError, EXIT, noSuchWave } from '../errors.js';
import type { RunArgs } from './run.js';
import { visible } from '../util/visible.js';

/** `dispatch watch-handoff --from-wave A --to-wave B [--yes] [--stop-on-failure]` and run's options. */
export async function run(args: RunArgs & { fromWave: number; toWave: number; stopOnFailure?: boolean }, ctx: Ctx): Promise<number> {
  const config = await ctx.config();
  for (const [flag, w] of [['--from-wave', args.fromWave], ['--to-wave', args.toWave]] as const) {
    if (!config.waves.includes(w)) throw noSuchWave(w, config.waves, flag);
  }
  if (args.toWave <= args.fromWave) throw new UsageError(`--to-wave (${args.toWave}) must come after --from-wave (${args.fromWave})`);
  // Ask now, not hours later when nobody is watching.
  if (!args.yes && !args.dryRun) {
    if (!ctx.interactive) throw new UsageError('refusing to hand off without --yes when not on a terminal', 'add --yes');
    const { confirm } = await import('../ui/prompt.js');
    if (!(await confirm(`launch wave ${args.toWave} as soon as wave ${args.fromWave} is complete?`))) return EXIT.ok;
  }
  const { waitForWave } = await import('../run/handoff.js');
  const { run: runWave } = await import('./run.js');
  let result;
  let resumedAt: string | undefined;
  for (;;) {
    result = await waitForWave(config, args.fromWave, {
      signal: ctx.signal,
      stopOnFailure: !!args.stopOnFailure,
      readOnly: !!args.dryRun,
      resumedAt,
      onFailed: (ids) => ctx.err(`wave ${args.fromWave}: ${ids.map((f) => `${f.id} failed${f.reason ? ` (${visible(f.reason)})` : ''}`).join(', ')} — still waiting (rescue: 'dispatch retry', then 'dispatch run --wave ${args.fromWave} --yes')\n`),
      onLost: (ids) => ctx.err(`lost runners marked failed: ${ids.map(visible).join(', ')}\n`),
      onWaiting: (text) => ctx.err(`${visible(text)}\n`),
    });
    if (result.verdict !== 'resume') break;
    resumedAt = result.situation;
    // The run of wave A died (or left relaunches behind): carry on with it, adopting live runners.
    ctx.err(`nobody is running wave ${args.fromWave} any more: resuming it\n`);
    try {
      await runWave({ ...args, wave: args.fromWave, yes: true, lockWaitSeconds: 5 }, ctx);
    } catch (err) {
      // Someone else started a run meanwhile: theirs drives the wave; keep watching.
      const { RunLockHeldError } = await import('../state/run-lock.js');
      if (!(err instanceof RunLockHeldError)) throw err;
    }
    if (ctx.signal.aborted) return EXIT.interrupted;
  }
  if (result.verdict === 'interrupted') return EXIT.interrupted;
  if (result.verdict === 'failed') throw new DispatchError(`wave ${args.fromWave} has failed specs; not starting wave ${args.toWave}`, { hint: "retry them with 'dispatch retry', then run the watch again" });
  ctx.err(`wave ${args.fromWave} is complete: starting wave ${args.toWave}\n`);
  // The run of wave A may still be releasing its lock: give it a moment.
  return runWave({ ...args, wave: args.toWave, yes: true, lockWaitSeconds: 30 }, ctx);
}
