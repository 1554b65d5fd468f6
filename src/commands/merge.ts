import type { Ctx } from '../context.js';
import { DispatchError, UsageError, EXIT } from '../errors.js';

/** `dispatch merge <id>`: merge an isolated spec's work into the current branch. */
export async function run(args: { _: [string]; verify?: boolean }, ctx: Ctx): Promise<number> {
  const config = await ctx.config();
  const { findSpec } = await import('../specs/lookup.js');
  const { readState, withState } = await import('../state/store.js');
  const { stateOf } = await import('../state/doc.js');
  const spec = findSpec(config, args._[0]);
  if (spec.mode !== 'isolated') throw new UsageError(`spec ${spec.id} is not isolated (mode: ${spec.mode}): its work is already in the project`, "only specs with mode: 'isolated' have a branch to merge");
  const doc = readState(config.stateDir);
  const state = stateOf(doc, spec.id);
  if (state !== 'done') throw new DispatchError(`spec ${spec.id} is ${state}, not done: nothing to merge yet`, { hint: "see 'dispatch status'" });
  const rec = doc.dispatch?.specs[spec.id];
  const merged = rec?.merged as { at?: string; branch?: string } | undefined;
  // Merging twice is not a failure: the work is in, there is nothing left to do.
  if (!rec?.awaitingMerge && !rec?.worktree && (merged || spec.agent !== 'ac')) {
    ctx.err(
      merged
        ? `${spec.id} is already merged${typeof merged.branch === 'string' ? ` (${merged.branch})` : ''}; nothing to do\n`
        : `${spec.id} has no worktree waiting to be merged (already merged, or done without one); nothing to do\n`,
    );
    return EXIT.ok;
  }

  if (spec.agent === 'ac') {
    // Auto-Claude made the worktree: its own --merge merges it (--no-ff, aborts on conflicts).
    const { capture } = await import('../proc/launch.js');
    const { autoClaudeDir, expandHome } = await import('../agents/command.js');
    const { join } = await import('node:path');
    const a = config.agents.ac;
    const { locateSpec } = await import('../specs/lookup.js');
    const folder = (await import('node:path')).basename(locateSpec(config.specsDir, spec).dir);
    const r = await capture([expandHome(a.python), join(autoClaudeDir(config), 'apps', 'backend', 'run.py'), '--spec', folder, '--project-dir', config.rootDir, '--merge'], { cwd: config.rootDir, env: a.env, timeoutMs: 600_000 });
    ctx.err(r.stdout + r.stderr);
    if (r.exitCode !== 0) throw new DispatchError(`Auto-Claude could not merge spec ${spec.id}${r.failedToStart ? `: ${r.failedToStart}` : ` (exit ${r.exitCode})`}`, { hint: 'see its output above; nothing was removed' });
  } else {
    const wt = rec?.worktree as import('../run/worktree.js').WorktreeRecord | undefined;
    if (!wt || wt.createdBy !== 'dispatch') throw new DispatchError(`spec ${spec.id} has no worktree made by dispatch`, { hint: 'merge its branch by hand' });
    const { mergeWorktree } = await import('../run/worktree.js');
    const { mergeTrailers } = await import('../run/provenance.js');
    let verify: (() => Promise<string | undefined>) | undefined;
    if (args.verify) {
      const { runVerify, verifyCommandsOf } = await import('../run/verify.js');
      if (!verifyCommandsOf(config, spec).length) throw new UsageError(`no verify commands for ${spec.id}`, 'add verify: [[...command]] to the config (or the spec), or merge without --verify; nothing was merged');
      const { locateSpec } = await import('../specs/lookup.js');
      const { runDirOf } = await import('../run/paths.js');
      const files = locateSpec(config.specsDir, spec);
      const c = (await import('../ui/style.js')).palette(ctx.color);
      verify = async () => {
        ctx.err(c.dim(`checking the merged tree in ${config.rootDir}\n`));
        const v = await runVerify(config, spec, { paths: { specDir: files.dir, specFile: files.specFile, planFile: files.planFile, runDir: runDirOf(config, spec.id), cwd: config.rootDir }, attempt: rec?.history?.at(-1)?.n ?? 0, signal: ctx.signal, say: (t) => ctx.err(c.dim(t)) });
        return v.reason;
      };
    }
    const m = await mergeWorktree(config, spec, wt, { trailers: mergeTrailers(config, spec, rec), ...(verify ? { verify } : {}) });
    if (m.verifyFailed) {
      throw new DispatchError(`the merged tree failed its check (${m.verifyFailed}); the merge was aborted and the worktree and branch are kept`, {
        hint: `fix it in ${wt.path}, then 'dispatch merge ${spec.id} --verify' again`,
      });
    }
    if (!m.merged) {
      throw new DispatchError(`merging ${wt.branch} conflicts in ${m.conflicts.join(', ')}; the merge was aborted and the worktree and branch are kept`, {
        hint: `resolve by hand: 'git merge --no-ff ${wt.branch}', fix, commit, then 'dispatch merge ${spec.id}' again`,
      });
    }
    if (m.committed) ctx.err(`committed the changes the agent left in ${wt.path}\n`);
    ctx.out(`merged ${wt.branch} into the current branch${m.removed ? `; removed ${wt.path} and the branch` : ''}\n`);
  }
  const branch = (rec?.worktree as { branch?: string } | undefined)?.branch;
  await withState(config.stateDir, { command: 'merge' }, (d) => {
    const r = d.dispatch?.specs[spec.id];
    if (r) {
      delete r.awaitingMerge;
      delete r.worktree;
      // So that merging again says "already merged"; going back to pending drops it with the rest.
      r.merged = { at: new Date().toISOString(), ...(branch ? { branch } : {}) };
    }
  });
  return EXIT.ok;
}
