// Git worktrees for isolated specs. dispatch records what it created and
// only ever removes that: never a worktree or branch it did not make.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ResolvedConfig, ResolvedSpec } from '../config/types.js';
import { DispatchError } from '../errors.js';
import { capture, type Argv } from '../proc/launch.js';
import { branchOf, worktreePath } from './paths.js';

export interface WorktreeRecord {
  path: string;
  branch: string;
  createdBy: 'dispatch';
  /** Made on this SSH host (`path` is there); only its branch, fetched back, is here. */
  host?: string;
}

const git = (root: string, ...args: string[]): Argv => ['git', '-C', root, ...args];
/** git's first meaningful line: errors stay one line. */
const firstLine = (s: string) => s.split('\n').map((l) => l.trim()).find(Boolean) ?? 'no message';

async function gitOk(root: string, ...args: string[]) {
  // No timeout: a big checkout or a pre-commit hook may take minutes, and a killed git leaves a mess.
  const r = await capture(git(root, ...args), { timeoutMs: 0 });
  if (r.failedToStart) throw new DispatchError(`cannot run git: ${r.failedToStart}`, { hint: 'install git' });
  return r;
}

/**
 * Undoes the merge dispatch started (`git merge --no-ff`, not committed) and checks it is gone:
 * undefined when it is, else what stands in the way. `git merge --abort` refuses when a file of the
 * merge was changed since (a check that formats the tree): those files, and only those, are then put
 * back as they were at `before` (git merged only over a clean index and files it could overwrite),
 * and the abort tried again. Changes of the user's to other files are kept.
 */
async function undoMerge(root: string, before: string): Promise<string | undefined> {
  // Undone: no merge in progress, HEAD where it was, nothing staged against it.
  const undone = async () =>
    (await gitOk(root, 'rev-parse', '--verify', '--quiet', 'MERGE_HEAD')).exitCode !== 0 &&
    (await gitOk(root, 'rev-parse', '--verify', '--quiet', 'HEAD')).stdout.trim() === before &&
    (await gitOk(root, 'diff', '--cached', '--quiet', before)).exitCode === 0;
  const abort = await gitOk(root, 'merge', '--abort');
  if (abort.exitCode === 0 && (await undone())) return undefined;
  let why = firstLine(abort.stderr || abort.stdout);
  const top = (await gitOk(root, 'rev-parse', '--show-toplevel')).stdout.trim();
  if (before && top) {
    // Paths from the top of the repository (the project may be a folder of it), taken literally.
    const paths = (await gitOk(top, 'diff', '--cached', '--name-only', '-z', before)).stdout.split('\0').filter(Boolean);
    if (paths.length) {
      const had = new Set((await gitOk(top, 'ls-tree', '-r', '-z', '--name-only', before)).stdout.split('\0'));
      const literal = (ps: string[]) => ps.map((p) => `:(literal)${p}`);
      const inBefore = paths.filter((p) => had.has(p));
      const reset = await gitOk(top, 'reset', '-q', before, '--', ...literal(paths));
      const back = inBefore.length ? await gitOk(top, 'checkout', before, '--', ...literal(inBefore)) : reset;
      // Files the merge added did not exist before it (git never merges over an untracked file).
      if (reset.exitCode === 0 && back.exitCode === 0) {
        for (const p of paths) {
          if (had.has(p)) continue;
          try {
            rmSync(join(top, p), { force: true });
          } catch {
            // said below: the tree is checked as a whole
          }
        }
      } else why = firstLine(reset.stderr || back.stderr || why);
    }
  }
  const again = await gitOk(root, 'merge', '--abort');
  if (await undone()) return undefined;
  return again.exitCode !== 0 ? firstLine(again.stderr || again.stdout || why) : why;
}

/** The merge could not be undone: what state the project is in, and how to get out of it. */
export function notAbortedError(root: string, branch: string, what: string, why: string): DispatchError {
  return new DispatchError(`${what}, and the merge could not be aborted (git: ${why}): ${root} is still mid-merge with ${branch}'s changes staged`, {
    hint: `in ${root}, run 'git merge --abort' (or 'git reset --merge'), check 'git status', then merge again; the worktree and branch are kept`,
  });
}

/** Creates `<worktreesDir>/<id>` on a new branch `dispatch/<id>` from HEAD; reuses one dispatch made before. */
export async function ensureWorktree(config: ResolvedConfig, spec: ResolvedSpec, existing?: WorktreeRecord): Promise<WorktreeRecord> {
  const path = worktreePath(config, spec.id);
  const branch = branchOf(spec.id);
  if (existing?.createdBy === 'dispatch' && existing.path === path && existsSync(path)) return existing;
  const inRepo = await gitOk(config.rootDir, 'rev-parse', '--verify', 'HEAD');
  if (inRepo.exitCode !== 0) {
    throw new DispatchError(`spec ${spec.id} is isolated but ${config.rootDir} is not a git repository with a commit`, {
      hint: "run 'git init' and commit once, or set mode: 'direct'",
    });
  }
  if (existsSync(path)) throw new DispatchError(`spec ${spec.id}: ${path} already exists and dispatch did not create it`, { hint: 'move it away, or set worktreesDir elsewhere' });
  const br = await gitOk(config.rootDir, 'rev-parse', '--verify', '--quiet', `refs/heads/${branch}`);
  if (br.exitCode === 0) throw new DispatchError(`spec ${spec.id}: branch ${branch} already exists and dispatch did not create it`, { hint: `delete or rename it ('git branch -m ${branch} other-name')` });
  mkdirSync(dirname(path), { recursive: true });
  const r = await gitOk(config.rootDir, 'worktree', 'add', '-b', branch, path, 'HEAD');
  if (r.exitCode !== 0) throw new DispatchError(`git worktree add failed for spec ${spec.id}: ${r.stderr.trim() || `exit ${r.exitCode}`}`, { hint: `check 'git worktree list' and the branch ${branch}` });
  return { path, branch, createdBy: 'dispatch' };
}

export interface MergeResult {
  merged: boolean;
  committed: boolean;
  conflicts: string[];
  removed: boolean;
  /** `merge --verify`: the check that failed on the merged tree (the merge was aborted, unless `notAborted`). */
  verifyFailed?: string;
  /** The merge dispatch started could not be undone: what git said; the project is left mid-merge. */
  notAborted?: string;
}

export interface MergeOptions {
  /** `Dispatch-*: value` lines for the merge commit's message (provenance). */
  trailers?: string[];
  /** Run on the merged tree before committing: a failure aborts the merge (everything kept). */
  verify?: () => Promise<string | undefined>;
}

/**
 * Throws away a worktree and branch dispatch made (`reset --spec ID --discard`):
 * the work in them is lost. Returns what was removed.
 */
export async function discardWorktree(config: ResolvedConfig, wt: WorktreeRecord): Promise<{ worktree: boolean; branch: boolean }> {
  if (wt.createdBy !== 'dispatch') throw new DispatchError(`the worktree ${wt.path} was not made by dispatch`, { hint: 'remove it by hand if you mean to' });
  let worktree = false;
  if (!wt.host && existsSync(wt.path)) {
    const rm = await gitOk(config.rootDir, 'worktree', 'remove', '--force', wt.path);
    if (rm.exitCode !== 0) throw new DispatchError(`git worktree remove failed for ${wt.path}: ${(rm.stderr || rm.stdout).trim()}`, { hint: "check 'git worktree list'" });
    worktree = true;
  }
  const has = await gitOk(config.rootDir, 'rev-parse', '--verify', '--quiet', `refs/heads/${wt.branch}`);
  let branch = false;
  if (has.exitCode === 0) {
    const d = await gitOk(config.rootDir, 'branch', '-D', wt.branch);
    if (d.exitCode !== 0) throw new DispatchError(`git branch -D ${wt.branch} failed: ${(d.stderr || d.stdout).trim()}`, { hint: 'is it checked out somewhere?' });
    branch = true;
  }
  return { worktree, branch };
}

/** Commits what the agent left in the worktree, merges --no-ff, removes the worktree and branch it created. */
export async function mergeWorktree(config: ResolvedConfig, spec: ResolvedSpec, wt: WorktreeRecord, opts: MergeOptions = {}): Promise<MergeResult> {
  let committed = false;
  if (!wt.host && existsSync(wt.path)) {
    const dirty = await gitOk(wt.path, 'status', '--porcelain');
    if (dirty.stdout.trim()) {
      await gitOk(wt.path, 'add', '-A');
      // One line: a name holding newlines must not write trailers (Signed-off-by…) into the commit.
      const c = await gitOk(wt.path, 'commit', '-q', '-m', `dispatch: ${spec.id}-${spec.name.replace(/\s+/g, ' ')}`);
      if (c.exitCode !== 0) throw new DispatchError(`could not commit the work left in ${wt.path}: ${(c.stderr || c.stdout).trim() || `exit ${c.exitCode}`}`, { hint: 'commit it there by hand (a pre-commit hook may have refused it), then merge again' });
      committed = true;
    }
  }
  const message = ['-m', `Merge ${wt.branch} (${spec.id}-${spec.name})`, ...(opts.trailers?.length ? ['-m', opts.trailers.join('\n')] : [])];
  const before = (await gitOk(config.rootDir, 'rev-parse', '--verify', '--quiet', 'HEAD')).stdout.trim();
  // With checks: merged without a commit first, so a failing check can abort it.
  const m = await gitOk(config.rootDir, 'merge', '--no-ff', ...(opts.verify ? ['--no-commit'] : message), wt.branch);
  if (m.exitCode !== 0) {
    const u = await gitOk(config.rootDir, 'diff', '--name-only', '--diff-filter=U');
    const conflicts = u.stdout.split('\n').filter(Boolean);
    // Only abort a merge we started: with no conflicts git may have refused before starting (dirty tree).
    if (!conflicts.length) throw new DispatchError(`git merge of ${wt.branch} failed: ${firstLine(m.stderr || m.stdout)}`, { hint: "commit or stash your changes (or move the untracked files in the way), then merge again; 'git status' shows them" });
    const notAborted = await undoMerge(config.rootDir, before);
    return { merged: false, committed, conflicts, removed: false, ...(notAborted ? { notAborted } : {}) };
  }
  if (opts.verify) {
    const failed = await opts.verify();
    if (failed) {
      const notAborted = await undoMerge(config.rootDir, before);
      return { merged: false, committed, conflicts: [], removed: false, verifyFailed: failed, ...(notAborted ? { notAborted } : {}) };
    }
    // "Already up to date": a branch with nothing new leaves no merge to commit; that is merged.
    const pending = await gitOk(config.rootDir, 'rev-parse', '--verify', '--quiet', 'MERGE_HEAD');
    const c = pending.exitCode === 0 ? await gitOk(config.rootDir, 'commit', '--no-edit', ...message) : { exitCode: 0, stdout: '', stderr: '' };
    if (c.exitCode !== 0) {
      const notAborted = await undoMerge(config.rootDir, before);
      if (notAborted) throw notAbortedError(config.rootDir, wt.branch, `could not commit the merge of ${wt.branch} (${firstLine(c.stderr || c.stdout)})`, notAborted);
      throw new DispatchError(`could not commit the merge of ${wt.branch}: ${firstLine(c.stderr || c.stdout)}`, { hint: 'the merge was aborted, nothing was merged; see git status' });
    }
  }
  let removed = false;
  if (!wt.host && existsSync(wt.path)) {
    const rm = await gitOk(config.rootDir, 'worktree', 'remove', wt.path);
    removed = rm.exitCode === 0;
  }
  await gitOk(config.rootDir, 'branch', '-d', wt.branch);
  return { merged: true, committed, conflicts: [], removed };
}
