// What an attempt did to the code, as git sees it (src/attempt/evidence.ts), against real
// repositories: what counts as a change, what is left out, and that the user's index is never touched.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitAfter, gitBefore } from '../src/attempt/evidence.js';
import { tempDir } from './helpers.js';
import { GIT_ENV, git } from './fixtures/git.js';

// The module runs git with the process's environment: no user config, a fixed identity (put back after).
const saved = Object.fromEntries(Object.keys(GIT_ENV).map((k) => [k, process.env[k]]));
beforeAll(() => void Object.assign(process.env, GIT_ENV));
afterAll(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

function repo(files: Record<string, string> = { 'a.txt': 'one\ntwo\nthree\n' }): string {
  const dir = tempDir('evidence-');
  git(dir, 'init', '-q', '-b', 'main');
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(join(dir, f, '..'), { recursive: true });
    writeFileSync(join(dir, f), text);
  }
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'start');
  return dir;
}

async function attempt(dir: string, work: () => void, exclude: string[] = []) {
  const before = await gitBefore(dir, exclude);
  expect(before).toBeDefined();
  work();
  return gitAfter(dir, before!, exclude);
}

describe('gitBefore', () => {
  it('is undefined outside a repository, and for an empty .git folder', async () => {
    const plain = tempDir('evidence-plain-');
    expect(await gitBefore(plain)).toBeUndefined();
    mkdirSync(join(plain, '.git'));
    expect(await gitBefore(plain)).toBeUndefined();
  });

  it('names the commit and the tree; a repository without a commit has a tree only', async () => {
    const dir = repo();
    const b = await gitBefore(dir);
    expect(b).toEqual({ commit: git(dir, 'rev-parse', 'HEAD').trim(), tree: expect.stringMatching(/^[0-9a-f]{40}$/) });
    const fresh = tempDir('evidence-fresh-');
    git(fresh, 'init', '-q');
    writeFileSync(join(fresh, 'x'), 'x\n');
    const f = await gitBefore(fresh);
    expect(f).toEqual({ tree: expect.stringMatching(/^[0-9a-f]{40}$/) });
  });

  it('finds the repository from a folder inside it, and from a worktree (whose .git is a file)', async () => {
    const dir = repo({ 'sub/deep/a.txt': 'a\n' });
    expect(await gitBefore(join(dir, 'sub', 'deep'))).toBeDefined();
    const wt = join(tempDir('evidence-wt-'), 'wt');
    git(dir, 'worktree', 'add', '-q', wt);
    expect((await gitBefore(wt))?.commit).toBe(git(dir, 'rev-parse', 'HEAD').trim());
  });

  it('a tree of the working files: an edit made before the attempt is in it', async () => {
    const dir = repo();
    const clean = await gitBefore(dir);
    writeFileSync(join(dir, 'a.txt'), 'changed before\n');
    const dirty = await gitBefore(dir);
    expect(dirty!.tree).not.toBe(clean!.tree);
    expect(dirty!.commit).toBe(clean!.commit);
  });
});

describe('gitAfter', () => {
  it('nothing done: no change, no counts, the same commit before and after', async () => {
    const dir = repo();
    const head = git(dir, 'rev-parse', 'HEAD').trim();
    expect(await attempt(dir, () => {})).toEqual({ before: head, after: head, files: 0, insertions: 0, deletions: 0, changed: false });
  });

  it('counts files, insertions and deletions of exactly what changed during the attempt (singular and plural)', async () => {
    const dir = repo({ 'a.txt': 'one\ntwo\nthree\n', 'b.txt': 'b\n' });
    const one = await attempt(dir, () => writeFileSync(join(dir, 'a.txt'), 'one\nTWO\nthree\n'));
    expect(one).toMatchObject({ files: 1, insertions: 1, deletions: 1, changed: true });
    const more = await attempt(dir, () => {
      writeFileSync(join(dir, 'new.txt'), 'x\ny\n');
      rmSync(join(dir, 'b.txt'));
    });
    expect(more).toMatchObject({ files: 2, insertions: 2, deletions: 1, changed: true });
    const onlyDeleted = await attempt(dir, () => writeFileSync(join(dir, 'a.txt'), 'one\n'));
    expect(onlyDeleted).toMatchObject({ files: 1, insertions: 0, deletions: 2, changed: true });
  });

  it('an edit to a file already modified before the attempt counts; what was there before does not', async () => {
    const dir = repo();
    writeFileSync(join(dir, 'a.txt'), 'one\ntwo\nthree\nfour (before the attempt)\n');
    const r = await attempt(dir, () => writeFileSync(join(dir, 'a.txt'), 'one\ntwo\nthree\nfour (before the attempt)\nfive\n'));
    expect(r).toMatchObject({ files: 1, insertions: 1, deletions: 0, changed: true });
  });

  it('a commit of work that was already in the tree: changed (a new commit), no lines counted', async () => {
    const dir = repo();
    writeFileSync(join(dir, 'a.txt'), 'edited\n');
    const before = await gitBefore(dir);
    git(dir, 'commit', '-q', '-am', 'the agent commits');
    const r = await gitAfter(dir, before!);
    expect(r).toMatchObject({ before: before!.commit, after: git(dir, 'rev-parse', 'HEAD').trim(), files: 0, changed: true });
    expect(r!.after).not.toBe(r!.before);
  });

  it("leaves out dispatch's own folders (given absolute), ignored files, and exclusions outside the tree", async () => {
    const dir = repo({ '.gitignore': 'build/\n', 'a.txt': 'a\n' });
    const own = join(dir, '.codex');
    mkdirSync(own);
    writeFileSync(join(own, 'state.json'), '{}');
    const r = await attempt(
      dir,
      () => {
        writeFileSync(join(own, 'state.json'), '{"changed": true}');
        writeFileSync(join(own, 'new.log'), 'log\n');
        mkdirSync(join(dir, 'build'));
        writeFileSync(join(dir, 'build', 'out.js'), 'x\n');
      },
      [own, '/elsewhere/entirely', join(dir, '..', 'sibling')],
    );
    expect(r).toMatchObject({ files: 0, insertions: 0, deletions: 0, changed: false });
    // The same writes without the exclusion are a change.
    const counted = await attempt(dir, () => writeFileSync(join(own, 'state.json'), '{"again": true}'));
    expect(counted).toMatchObject({ files: 1, changed: true });
  });

  it("never touches the user's index: staged and unstaged changes stay as they were", async () => {
    const dir = repo({ 'a.txt': 'a\n', 'b.txt': 'b\n' });
    writeFileSync(join(dir, 'a.txt'), 'staged\n');
    git(dir, 'add', 'a.txt');
    writeFileSync(join(dir, 'b.txt'), 'unstaged\n');
    const status = git(dir, 'status', '--porcelain');
    const index = readFileSync(join(dir, '.git', 'index'));
    const r = await attempt(dir, () => writeFileSync(join(dir, 'c.txt'), 'new\n'));
    expect(r).toMatchObject({ files: 1, insertions: 1, changed: true });
    expect(git(dir, 'status', '--porcelain')).toBe(`${status}?? c.txt\n`);
    expect(readFileSync(join(dir, '.git', 'index'))).toEqual(index);
  });

  it('a repository without a commit: no before or after, the new files counted', async () => {
    const dir = tempDir('evidence-fresh-');
    git(dir, 'init', '-q');
    const r = await attempt(dir, () => writeFileSync(join(dir, 'x.txt'), '1\n2\n'));
    expect(r).toEqual({ files: 1, insertions: 2, deletions: 0, changed: true });
  });

  it('undefined when the repository is gone by the end', async () => {
    const dir = repo();
    const before = await gitBefore(dir);
    rmSync(join(dir, '.git'), { recursive: true, force: true });
    expect(await gitAfter(dir, before!)).toBeUndefined();
  });

  it('counts in the tens: 12 files, 24 insertions, 12 deletions', async () => {
    const files = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`f${i}.txt`, 'old\n']));
    const dir = repo(files);
    const r = await attempt(dir, () => {
      for (const f of Object.keys(files)) writeFileSync(join(dir, f), 'new\nnewer\n');
    });
    expect(r).toMatchObject({ files: 12, insertions: 24, deletions: 12, changed: true });
  });

  it('leaves no copy of the index behind in the temporary folder', async () => {
    const dir = repo();
    const tmp = tempDir('evidence-tmp-');
    const before = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    try {
      await attempt(dir, () => writeFileSync(join(dir, 'a.txt'), 'x\n'));
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
    }
    expect(readdirSync(tmp)).toEqual([]);
  });
});

describe('GIT_DIR', () => {
  it('set, a folder outside any repository still has evidence: git is asked, not the folders above', async () => {
    const dir = repo();
    const outside = tempDir('evidence-outside-');
    const before = process.env.GIT_DIR;
    process.env.GIT_DIR = join(dir, '.git');
    try {
      expect((await gitBefore(outside))?.commit).toBe(git(dir, 'rev-parse', 'HEAD').trim());
    } finally {
      if (before === undefined) delete process.env.GIT_DIR;
      else process.env.GIT_DIR = before;
    }
    expect(await gitBefore(outside)).toBeUndefined();
  });
});
