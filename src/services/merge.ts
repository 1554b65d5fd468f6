// Merging an isolated spec's work into the project: `dispatch merge <id>` by hand,
// or the scheduler as soon as the spec is done (merge: 'auto'). Returns what happened;
// the caller says it.
import type { ResolvedConfig, ResolvedSpec } from '../config/types.js';
import { DispatchError } from '../errors.js';
import { kindOf, own, recordMerge, recordMergeStop, stateOf, type SpecRecord } from '../state/doc.js';
import { readState, withState } from '../state/store.js';
import type { WorktreeRecord } from '../attempt/worktree.js';

export interface MergeSpecOptions {
  /** Check the merged tree with the spec's verify commands before committing: always, only when some are configured, or never. */
  verify: 'yes' | 'if-configured' | 'no';
  /** Recorded in the journal. */
  command: string;
  /** A conflict or a failed check is recorded as the spec's verdict (`merge-conflict`, everything kept); by hand it is only said. */
  recordStop?: boolean;
  signal?: AbortSignal;
  /** Progress (the checks' output, Auto-Claude's). */
  say?: (text: string) => void;
}

export type MergeSpecResult =
  | { ok: true; already?: string; branch?: string; path?: string; committed?: boolean; removed?: boolean }
  | { ok: false; reason: string; hint: string };

/** A spec whose work waits to be merged: done and awaiting merge, or stopped by a conflict with its worktree kept. */
export function awaitingMerge(rec: SpecRecord | undefined, state: string, kind: string | undefined): boolean {
  return (state === 'done' && !!rec?.awaitingMerge) || (state === 'failed' && kind === 'merge-conflict');
}

export async function mergeSpec(config: ResolvedConfig, spec: ResolvedSpec, opts: MergeSpecOptions): Promise<MergeSpecResult> {
  const doc = readState(config.stateDir);
  const state = stateOf(doc, spec.id);
  const kind = kindOf(doc, spec.id, state);
  const rec = own(doc.dispatch?.specs, spec.id);
  if (state !== 'done' && kind !== 'merge-conflict') throw new DispatchError(`spec ${spec.id} is ${state}, not done: nothing to merge yet`, { hint: "see 'dispatch status'" });
  const merged = rec?.merged as { at?: string; branch?: string } | undefined;
  // Merging twice is not a failure: the work is in, there is nothing left to do.
  // An agent that isolates itself keeps its own worktree: only it knows whether one waits.
  const { driverOf } = await import('../agents/registry.js');
  const ownIsolation = driverOf(config, spec.agent, spec.id).ownIsolation;
  if (!rec?.awaitingMerge && !rec?.worktree && kind !== 'merge-conflict' && (merged || !ownIsolation)) {
    return { ok: true, already: merged ? `${spec.id} is already merged${typeof merged.branch === 'string' ? ` (${merged.branch})` : ''}` : `${spec.id} has no worktree waiting to be merged (already merged, or done without one)` };
  }
  const say = opts.say ?? (() => {});
  let result: MergeSpecResult;
  if (ownIsolation) {
    // The agent made the worktree: it merges it itself.
    result = await ownIsolation.merge(config, spec, say);
  } else {
    const wt = rec?.worktree as WorktreeRecord | undefined;
    if (!wt || wt.createdBy !== 'dispatch') throw new DispatchError(`spec ${spec.id} has no worktree made by dispatch`, { hint: 'merge its branch by hand' });
    const { mergeWorktree, notAbortedError } = await import('../attempt/worktree.js');
    const { mergeTrailers } = await import('../attempt/provenance.js');
    const { runVerify, verifyCommandsOf } = await import('../attempt/verify.js');
    const checks = verifyCommandsOf(config, spec).length > 0;
    let verify: (() => Promise<string | undefined>) | undefined;
    if (opts.verify === 'yes' || (opts.verify === 'if-configured' && checks)) {
      const { locateSpec } = await import('../specs/lookup.js');
      const { runDirOf } = await import('../attempt/paths.js');
      const files = locateSpec(config.specsDir, spec);
      verify = async () => {
        say(`checking the merged tree in ${config.rootDir}\n`);
        const v = await runVerify(config, spec, { paths: { specDir: files.dir, specFile: files.specFile, planFile: files.planFile, runDir: runDirOf(config, spec.id), cwd: config.rootDir }, attempt: rec?.history?.at(-1)?.n ?? 0, ...(opts.signal ? { signal: opts.signal } : {}), say });
        return v.reason;
      };
    }
    const m = await mergeWorktree(config, spec, wt, { trailers: mergeTrailers(config, spec, rec), ...(verify ? { verify } : {}) });
    if (m.notAborted) {
      // Said as it is: "aborted" only once git shows no merge left.
      const what = m.verifyFailed ? `the merged tree failed its check (${m.verifyFailed})` : `merging ${wt.branch} conflicts in ${m.conflicts.join(', ')}`;
      const e = notAbortedError(config.rootDir, wt.branch, what, m.notAborted);
      result = { ok: false, reason: e.message, hint: e.hint ?? '' };
    } else if (m.verifyFailed) {
      result = { ok: false, reason: `the merged tree failed its check (${m.verifyFailed}); the merge was aborted and the worktree and branch are kept`, hint: `fix it in ${wt.path}, then 'dispatch merge ${spec.id} --verify' again` };
    } else if (!m.merged) {
      result = { ok: false, reason: `merging ${wt.branch} conflicts in ${m.conflicts.join(', ')}; the merge was aborted and the worktree and branch are kept`, hint: `resolve by hand: 'git merge --no-ff ${wt.branch}', fix, commit, then 'dispatch merge ${spec.id}' again` };
    } else {
      result = { ok: true, branch: wt.branch, path: wt.path, committed: m.committed, removed: m.removed };
    }
  }
  const branch = (rec?.worktree as { branch?: string } | undefined)?.branch;
  if (result.ok) {
    await withState(config.stateDir, { command: opts.command }, (d) => recordMerge(d, spec.id, branch));
  } else if (opts.recordStop) {
    const reason = result.reason;
    // Failed with everything kept: the worktree record stays, so 'dispatch merge' can finish it later.
    await withState(config.stateDir, { command: opts.command }, (d) => recordMergeStop(d, spec.id, reason));
  }
  return result;
}
