// The branch an SSH run's work comes home to, `dispatch/<id>`. dispatch moves
// it only when it can prove the branch is its own: absent, or at the commit
// dispatch last set it to (kept in the spec's worktree record as `head`), and
// then atomically from that commit (git update-ref <new> <old>). A branch of
// the user's by that name is never moved: the preflight names it, a fetch
// refuses it.
import type { ResolvedConfig } from '../../config/types.js';
import type { Check } from '../types.js';
import { capture } from '../../proc/launch.js';
import { own, type StateDoc } from '../../state/doc.js';
import { branchOf } from '../../attempt/paths.js';

/** A spec's branch here, where its work comes home: the same branch a local isolated spec works on. */
export const homeBranchOf = branchOf;

/** The commit dispatch last set the spec's branch to (undefined: dispatch never set it, as far as the state shows). */
export function setByDispatch(doc: StateDoc, id: string): string | undefined {
  const wt = own(doc.dispatch?.specs, id)?.worktree as { createdBy?: string; branch?: string; head?: unknown } | undefined;
  return wt?.createdBy === 'dispatch' && wt.branch === homeBranchOf(id) && typeof wt.head === 'string' ? wt.head : undefined;
}

/** The specs among `ids` whose branch exists and is not where dispatch left it. */
async function clashes(config: ResolvedConfig, ids: string[], doc: StateDoc): Promise<string[]> {
  if (!ids.length) return [];
  const refs = await capture(['git', '-C', config.rootDir, 'for-each-ref', '--format=%(refname) %(objectname)', 'refs/heads/dispatch/']);
  const at = new Map(refs.stdout.split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]));
  return ids.filter((id) => {
    const tip = at.get(`refs/heads/${homeBranchOf(id)}`);
    return tip !== undefined && tip !== setByDispatch(doc, id);
  });
}

/** The preflight's line: branches in the way of work coming home, and how to free them. */
export async function branchCheck(config: ResolvedConfig, ids: string[], doc: StateDoc): Promise<Check> {
  const taken = await clashes(config, ids, doc);
  if (!taken.length) return { name: 'branches', status: 'ok', detail: 'each spec\'s work comes home to a branch dispatch/<id> of its own' };
  const shown = taken.slice(0, 5).map(homeBranchOf).join(', ') + (taken.length > 5 ? ` and ${taken.length - 5} more` : '');
  const one = taken.length === 1;
  return {
    name: 'branches',
    status: 'fail',
    detail: `branch${one ? '' : 'es'} ${shown} already ${one ? 'exists' : 'exist'} and dispatch did not make ${one ? 'it' : 'them'} (the work of SSH runs comes home there)`,
    fix: one ? `rename it ('git branch -m ${homeBranchOf(taken[0]!)} other-name') or delete it` : "rename them ('git branch -m dispatch/<id> other-name') or delete them",
  };
}

/**
 * Sets the spec's branch to `sha`, only from where dispatch left it (`from`; undefined: the branch must not
 * exist). Returns what went wrong, if anything (the branch is then as it was).
 */
export async function setHomeBranch(config: ResolvedConfig, id: string, sha: string, from: string | undefined): Promise<string | undefined> {
  const ref = `refs/heads/${homeBranchOf(id)}`;
  const set = (old: string) => capture(['git', '-C', config.rootDir, 'update-ref', '-m', `dispatch: the work of ${id}`, ref, sha, old]);
  let u = await set(from ?? '');
  if (u.exitCode === 0) return undefined;
  let now = await capture(['git', '-C', config.rootDir, 'rev-parse', '--verify', '--quiet', ref]);
  // Removed since dispatch set it: made again (nobody's branch is moved by that).
  if (now.exitCode !== 0 && from !== undefined) {
    u = await set('');
    if (u.exitCode === 0) return undefined;
    now = await capture(['git', '-C', config.rootDir, 'rev-parse', '--verify', '--quiet', ref]);
  }
  // Already there: a dispatcher stopped between moving it and recording that it did (the same run, collected again).
  if (now.exitCode === 0 && now.stdout.trim() === sha) return undefined;
  if (now.exitCode === 0 && now.stdout.trim() !== from) {
    return `the branch ${homeBranchOf(id)} is not dispatch's (it is at ${now.stdout.trim().slice(0, 12)}, where dispatch did not put it): rename it ('git branch -m ${homeBranchOf(id)} other-name') and retry`;
  }
  return u.stderr.trim().split('\n')[0] || `git update-ref exit ${u.exitCode}`;
}
