import { rmSync } from 'node:fs';
import type { Ctx } from '../context.js';
import { DispatchError, UsageError, EXIT } from '../errors.js';
import { readRunLock } from '../state/run-lock.js';
import { visible } from '../util/visible.js';

// A lock written by hand or by an older dispatch may lack fields: say so rather than print "undefined".
// A lock file is anyone's text: what it says is shown, not obeyed.
const shown = (v: unknown) => (v === undefined || v === null || v === '' ? 'unknown' : visible(String(v)));

/** `dispatch lock [--clear] [--force]`: show or remove the run lock. */
export async function run(args: { clear?: boolean; force?: boolean }, ctx: Ctx): Promise<number> {
  if (args.force && !args.clear) throw new UsageError('--force only goes with --clear', "to remove a live lock: 'dispatch lock --clear --force'");
  const config = await ctx.config();
  const view = readRunLock(config.stateDir);
  const alive = view.alive === undefined ? (view.lock ? 'unknown (other host)' : undefined) : view.alive;
  if (args.clear) {
    if (!view.lock && !view.unreadable) {
      ctx.out('no run lock\n');
      return EXIT.ok;
    }
    if (view.lock && view.alive !== false && !args.force) {
      throw new DispatchError(`the run lock is held by a live process (pid ${shown(view.lock.pid)} on ${shown(view.lock.host)}, '${shown(view.lock.command)}')`, {
        hint: 'stop that dispatch first, or pass --force to remove the lock anyway',
      });
    }
    rmSync(view.path, { force: true, recursive: !!view.unreadable });
    ctx.out(`removed ${view.lock ? `the ${view.alive === false ? 'stale ' : ''}run lock of pid ${shown(view.lock.pid)}` : 'an unreadable run lock'} (${visible(view.path)})\n`);
    return EXIT.ok;
  }
  if (ctx.json) {
    ctx.outJson({ path: view.path, held: !!view.lock, ...(view.lock ? { ...view.lock, alive: view.alive ?? null } : {}), ...(view.unreadable ? { unreadable: view.unreadable } : {}) });
    return EXIT.ok;
  }
  if (view.unreadable) {
    ctx.out(`run lock ${visible(view.path)} is unreadable (${visible(view.unreadable)}); remove it with 'dispatch lock --clear'\n`);
    return EXIT.ok;
  }
  if (!view.lock) {
    ctx.out('no run lock: no dispatch run is active\n');
    return EXIT.ok;
  }
  const l = view.lock;
  ctx.out(
    `run lock ${visible(view.path)}\n  pid      ${shown(l.pid)}\n  host     ${shown(l.host)}\n  command  ${shown(l.command)}\n  wave     ${l.wave === null || l.wave === undefined ? 'all' : shown(l.wave)}\n  started  ${shown(l.started)}\n  alive    ${alive}\n` +
      (view.alive === false ? `the process is gone: remove the stale lock with 'dispatch lock --clear'\n` : ''),
  );
  return EXIT.ok;
}
