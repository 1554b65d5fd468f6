// What an attempt did to the code, as git sees it: the commit before and
// after, and a diff summary of exactly what changed during the attempt.
//
// The working tree is snapshotted as a git tree object through a private copy
// of the index (GIT_INDEX_FILE): the user's index, branches and files are never
// touched. Comparing contents, not `git status` text, sees an edit to a file
// that was already modified, and the summary leaves out what was there before.
// (The snapshot writes unreferenced blobs into the object store; git's own gc
// prunes them.)
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { capture } from '../proc/launch.js';

/** The tree as the agent found it. */
export interface GitBefore {
  commit?: string;
  /** The working tree's content (tracked and untracked, .gitignore respected) as a tree id. */
  tree: string;
}

/** Kept in the attempt's history entry. */
export interface GitEvidence {
  before?: string;
  after?: string;
  /** Files changed during the attempt (committed or not, new ones included). */
  files: number;
  insertions: number;
  deletions: number;
  /** Anything changed at all: a commit, or the working tree's content. */
  changed: boolean;
  /** Other direct specs ran in the same tree meanwhile: the changes may be theirs. */
  shared?: boolean;
}

const git = (cwd: string, args: string[], env?: Record<string, string>) =>
  capture(['git', '-C', cwd, ...args], { timeoutMs: 120_000, ...(env ? { env: { ...(process.env as Record<string, string>), ...env } } : {}) });

/** The working tree's content as a tree id, through a throw-away copy of the index. */
async function snapshot(cwd: string, exclude: string[]): Promise<string | undefined> {
  const idx = await git(cwd, ['rev-parse', '--git-path', 'index']);
  if (idx.exitCode !== 0) return undefined;
  const real = idx.stdout.trim();
  const dir = mkdtempSync(join(tmpdir(), 'dispatch-index-'));
  const tmp = join(dir, 'index');
  try {
    // Seeded from the real index, `add` only rehashes what changed (a big repository stays fast).
    try {
      const from = isAbsolute(real) ? real : join(cwd, real);
      copyFileSync(from, tmp);
      // With the original's time: git rehashes a file whose time is not older than the index's (a "racily
      // clean" entry). A copy made now would vouch for a file edited within the same second as the last
      // `git add`, and an edit of the same size there would be missed.
      const st = statSync(from);
      utimesSync(tmp, st.atime, st.mtime);
    } catch {
      // no index yet (a fresh repository): start empty
    }
    const env = { GIT_INDEX_FILE: tmp };
    // dispatch's own files (state, logs, worktrees) change during every attempt: not the agent's work.
    const skip = exclude.map((p) => relative(cwd, p)).filter((r) => r && !r.startsWith('..') && !isAbsolute(r));
    const add = await git(cwd, ['add', '-A', '--', '.'], env);
    if (add.exitCode !== 0) return undefined;
    // Taken out afterwards, not excluded from `add`: git refuses a pathspec naming an ignored folder.
    if (skip.length) {
      const rm = await git(cwd, ['rm', '-r', '-q', '--cached', '--ignore-unmatch', '--', ...skip], env);
      if (rm.exitCode !== 0) return undefined;
    }
    const tree = await git(cwd, ['write-tree'], env);
    return tree.exitCode === 0 ? tree.stdout.trim() : undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function headOf(cwd: string): Promise<string | undefined> {
  const head = await git(cwd, ['rev-parse', '--verify', '--quiet', 'HEAD']);
  return head.exitCode === 0 ? head.stdout.trim() : undefined;
}

/** A `.git` in `cwd` or above it (or GIT_DIR set): found without starting git, which costs a process per attempt. */
function maybeInGit(cwd: string): boolean {
  if (process.env.GIT_DIR) return true;
  for (let d = resolve(cwd); ; d = dirname(d)) {
    // A repository's .git holds HEAD; a worktree's .git is a file pointing to it. An empty .git folder is neither.
    const dotGit = join(d, '.git');
    if (existsSync(join(dotGit, 'HEAD')) || (existsSync(dotGit) && statSync(dotGit).isFile())) return true;
    if (dirname(d) === d) return false;
  }
}

/** Undefined when `cwd` is not in a git repository (or git is missing): no evidence, no judgement. */
export async function gitBefore(cwd: string, exclude: string[] = []): Promise<GitBefore | undefined> {
  if (!maybeInGit(cwd)) return undefined;
  const tree = await snapshot(cwd, exclude);
  if (tree === undefined) return undefined;
  const commit = await headOf(cwd);
  return { ...(commit ? { commit } : {}), tree };
}

export async function gitAfter(cwd: string, before: GitBefore, exclude: string[] = []): Promise<GitEvidence | undefined> {
  const tree = await snapshot(cwd, exclude);
  if (tree === undefined) return undefined;
  const after = await headOf(cwd);
  let files = 0;
  let insertions = 0;
  let deletions = 0;
  if (tree !== before.tree) {
    // One summary line, whatever the size of the change (a list per file would be cut when long); in English.
    const d = await git(cwd, ['diff', '--shortstat', '--no-renames', before.tree, tree], { LC_ALL: 'C' });
    const count = (what: RegExp) => Number(what.exec(d.stdout)?.[1] ?? 0);
    files = count(/(\d+) files? changed/);
    insertions = count(/(\d+) insertions?\(\+\)/);
    deletions = count(/(\d+) deletions?\(-\)/);
  }
  return { ...(before.commit ? { before: before.commit } : {}), ...(after ? { after } : {}), files, insertions, deletions, changed: after !== before.commit || tree !== before.tree };
}
