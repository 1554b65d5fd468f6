import { renameSync } from 'node:fs';
import type { Ctx } from '../context.js';
import { DispatchError, UsageError, EXIT } from '../errors.js';
import { resetSpecs } from '../services/mark.js';
import { emptyState } from '../state/doc.js';
import { clearSignals } from '../state/signals.js';
import { findSpec } from '../specs/lookup.js';
import { confirm } from '../ui/prompt.js';
import { throwSignalProblems } from './shared.js';
import { visible } from '../util/visible.js';

/** `dispatch reset --spec ID` or `dispatch reset [--yes]` (everything back to pending). */
export async function run(args: { spec?: string; yes?: boolean; discard?: boolean }, ctx: Ctx): Promise<number> {
  const config = await ctx.config();
  if (args.discard && args.spec === undefined) throw new UsageError('--discard goes with --spec ID', "e.g. 'dispatch reset --spec 012 --discard'");
  if (args.spec !== undefined) {
    const spec = findSpec(config, args.spec);
    const { readState, withState } = await import('../state/store.js');
    const { own, forgetWorktree } = await import('../state/doc.js');
    const wt = args.discard ? (own(readState(config.stateDir).dispatch?.specs, spec.id)?.worktree as import('../attempt/worktree.js').WorktreeRecord | undefined) : undefined;
    if (args.discard && wt?.createdBy === 'dispatch' && !args.yes) {
      if (!ctx.interactive) throw new UsageError(`discarding ${wt.path} and its branch ${wt.branch} needs confirmation`, 'pass --yes');
      if (!(await confirm(`Throw away ${visible(wt.path)} and the branch ${visible(wt.branch)}, with the work in them?`))) throw new DispatchError('reset cancelled; nothing changed', { hint: "answer 'y' to go ahead, or pass --yes" });
    }
    const changes = await resetSpecs(config, 'reset', (id) => id === spec.id);
    ctx.out(changes.length ? `${spec.id}: ${visible(changes[0]!.from)} → pending\n` : `${spec.id}: already pending\n`);
    if (args.discard) {
      if (wt?.createdBy !== 'dispatch') ctx.err(`${spec.id} has no worktree made by dispatch; nothing to discard\n`);
      else {
        const { discardWorktree } = await import('../attempt/worktree.js');
        const gone = await discardWorktree(config, wt);
        await withState(config.stateDir, { command: 'reset' }, (d) => forgetWorktree(d, spec.id));
        ctx.out(`${spec.id}: discarded${gone.worktree ? ` ${visible(wt.path)}` : ''}${gone.worktree && gone.branch ? ' and' : ''}${gone.branch ? ` the branch ${visible(wt.branch)}` : ''}\n`);
      }
    }
    throwSignalProblems(changes);
    return EXIT.ok;
  }
  if (!args.yes) {
    if (!ctx.interactive) throw new UsageError('reset of every spec needs confirmation', "pass --yes (or reset one spec with --spec ID)");
    // Declined: exit 1 through the one error path, worded as `run` words it.
    if (!(await confirm(`Reset ALL ${config.specs.length} specs of ${config.project} to pending?`))) throw new DispatchError('reset cancelled; nothing changed', { hint: "answer 'y' to go ahead, or pass --yes" });
  }
  let movedAside: string | undefined;
  const changes = await resetSpecs(config, 'reset', () => true, {
    reason: 'reset all',
    // A corrupt file is never overwritten: it is moved aside, then we start fresh.
    onCorrupt: (e) => {
      movedAside = `${e.file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      renameSync(e.file, movedAside);
      return emptyState();
    },
  });
  const cleared = config.specs.map((s) => ({ signalProblem: clearSignals(config.signalDir, config.project, s.id) }));
  if (movedAside) ctx.err(`dispatch: the corrupt state file was moved aside to ${visible(movedAside)}\n`);
  ctx.out(`reset ${changes.length} spec${changes.length === 1 ? '' : 's'} to pending\n`);
  throwSignalProblems([...changes, ...cleared]);
  return EXIT.ok;
}
