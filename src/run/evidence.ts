// What an attempt did to the code, as git sees it: the commit before and
// after, and a diff summary. Read-only: dispatch never stages or commits here.
import { createHash } from 'node:crypto';
import { capture } from '../proc/launch.js';

/** The tree as the agent found it. */
export interface GitBefore {
  commit?: string;
  /** A fingerprint of `git status` (uncommitted and untracked files). */
  status: string;
  /** Untracked files already there: not counted as the agent's. */
  untracked: Set<string>;
}

/** Kept in the attempt's history entry. */
export interface GitEvidence {
  before?: string;
  after?: string;
  /** Files that differ from the commit before (tracked changes, committed or not, plus new untracked files). */
  files: number;
  insertions: number;
  deletions: number;
  /** Anything changed at all: a commit, or the working tree. */
  changed: boolean;
  /** Other direct specs ran in the same tree meanwhile: the changes may be theirs. */
  shared?: boolean;
}

const git = (cwd: string, ...args: string[]) => capture(['git', '-C', cwd, ...args], { timeoutMs: 60_000 });

async function statusPrint(cwd: string): Promise<string | undefined> {
  const st = await git(cwd, 'status', '--porcelain=v1', '--untracked-files=all', '-z');
  if (st.exitCode !== 0) return undefined;
  return createHash('sha1').update(st.stdout).digest('hex');
}

async function untrackedOf(cwd: string): Promise<Set<string>> {
  const r = await git(cwd, 'ls-files', '--others', '--exclude-standard', '-z');
  return new Set(r.stdout.split('\0').filter(Boolean));
}

/** Undefined when `cwd` is not in a git repository (or git is missing): no evidence, no judgement. */
export async function gitBefore(cwd: string): Promise<GitBefore | undefined> {
  const status = await statusPrint(cwd);
  if (status === undefined) return undefined;
  const head = await git(cwd, 'rev-parse', '--verify', '--quiet', 'HEAD');
  return { ...(head.exitCode === 0 ? { commit: head.stdout.trim() } : {}), status, untracked: await untrackedOf(cwd) };
}

export async function gitAfter(cwd: string, before: GitBefore): Promise<GitEvidence | undefined> {
  const status = await statusPrint(cwd);
  if (status === undefined) return undefined;
  const head = await git(cwd, 'rev-parse', '--verify', '--quiet', 'HEAD');
  const after = head.exitCode === 0 ? head.stdout.trim() : undefined;
  let files = 0;
  let insertions = 0;
  let deletions = 0;
  if (before.commit) {
    // Against the commit before: what the agent committed and what it left uncommitted, together.
    const d = await git(cwd, 'diff', '--numstat', '-z', before.commit);
    for (const rec of d.stdout.split('\0')) {
      const m = /^(\d+|-)\t(\d+|-)\t/.exec(rec);
      if (!m) continue;
      files++;
      insertions += m[1] === '-' ? 0 : Number(m[1]);
      deletions += m[2] === '-' ? 0 : Number(m[2]);
    }
  }
  for (const f of await untrackedOf(cwd)) if (!before.untracked.has(f)) files++;
  return { ...(before.commit ? { before: before.commit } : {}), ...(after ? { after } : {}), files, insertions, deletions, changed: after !== before.commit || status !== before.status };
}
