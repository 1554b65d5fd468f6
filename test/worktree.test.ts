// Isolated specs with real git: a worktree per spec on its own branch, the
// "awaiting merge" gate between waves, `dispatch merge` (--no-ff, then
// cleanup), conflicts, and never touching what dispatch did not create.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readStateOf, tempDir, dispatchIn } from './helpers.js';
import { FAKE_CODEX, engineProject, snapshotTree, starts, type EngineSpec } from './fixtures/engine.js';
import { GIT_ENV, git, gitOk, commitAll } from './fixtures/git.js';


const run = (dir: string, ...args: string[]) => dispatchIn(dir, args, { env: GIT_ENV });
const errLines = (s: string) => s.trimEnd().split('\n');
const codexTrace = (dir: string): any[] =>
  existsSync(join(dir, 'codex.jsonl')) ? readFileSync(join(dir, 'codex.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];

/** A committed git repo holding the project; dispatch's own files are ignored. */
function repoProject(specs: EngineSpec[]): string {
  const dir = engineProject({ specs, agents: { codex: { bin: FAKE_CODEX, env: { CODEX_FAKE_TRACE: '' } } } });
  const cfgFile = join(dir, 'specs.config.json');
  const cfg = JSON.parse(readFileSync(cfgFile, 'utf8'));
  cfg.agents.codex.env.CODEX_FAKE_TRACE = join(dir, 'codex.jsonl');
  writeFileSync(cfgFile, JSON.stringify(cfg, null, 2));
  writeFileSync(join(dir, 'README.md'), 'project\n');
  commitAll(dir, ['codex.jsonl']);
  return dir;
}

const wtOf = (dir: string, id: string) => join(dir, '.codex', 'worktrees', id);
const branchExists = (dir: string, b: string) => gitOk(dir, 'rev-parse', '--verify', '--quiet', `refs/heads/${b}`);
const worktrees = (dir: string) => git(dir, 'worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree ')).map((l) => l.slice(9));

describe('isolated specs in git worktrees', () => {
  it('get <worktreesDir>/<id> on dispatch/<id>, block the next wave until merged, and merge --no-ff with cleanup', async () => {
    const dir = repoProject([
      { id: '001', name: 'feature', wave: 1, agent: 'codex', mode: 'isolated', body: 'write feature.txt from codex\n' },
      { id: '003', name: 'docs', wave: 1, agent: 'ok', mode: 'isolated', body: 'write docs.txt from a custom agent\n' },
      { id: '002', name: 'after', wave: 2, dependsOn: ['001', '003'], body: 'need feature.txt\nneed docs.txt\nwrite after.txt saw both\n' },
    ]);
    const head = git(dir, 'rev-parse', 'HEAD').trim();
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('2 launched · 2 done · 0 failed · 15 tokens\n');
    expect(errLines(r.stderr).at(-1)).toBe(
      "dispatch: wave 2 cannot start: 001 (wave 1: awaiting merge), 003 (wave 1: awaiting merge) — merge isolated specs with 'dispatch merge <id>'; failed ones: 'dispatch retry'",
    );
    expect(starts(dir).map((e) => e.id)).toEqual(['003']); // 002 never started

    // The agents worked in their worktrees, on their branches, from HEAD; the project is untouched.
    for (const id of ['001', '003']) {
      const wt = wtOf(dir, id);
      expect(git(wt, 'rev-parse', '--abbrev-ref', 'HEAD').trim()).toBe(`dispatch/${id}`);
      expect(git(dir, 'merge-base', 'HEAD', `dispatch/${id}`).trim()).toBe(head);
    }
    expect(codexTrace(dir)[0]!.cwd).toBe(wtOf(dir, '001'));
    expect(starts(dir)[0]!.cwd).toBe(wtOf(dir, '003'));
    expect(readFileSync(join(wtOf(dir, '001'), 'feature.txt'), 'utf8')).toBe('from codex\n');
    expect(existsSync(join(dir, 'feature.txt'))).toBe(false);
    expect(git(dir, 'status', '--porcelain')).toBe('');

    // status says what waits for a merge.
    const st = await run(dir, 'status');
    expect(st.stdout).toMatch(/awaiting merge:\n\s+001\s+feature\s+wave 1\n\s+003\s+docs\s+wave 1\n/);
    expect(readStateOf(dir).dispatch.specs['001']).toMatchObject({ awaitingMerge: true, worktree: { path: wtOf(dir, '001'), branch: 'dispatch/001', createdBy: 'dispatch' } });

    const m = await run(dir, 'merge', '001');
    expect(m.code, m.stderr).toBe(0);
    expect(m.stdout).toBe(`merged dispatch/001 into the current branch; removed ${wtOf(dir, '001')} and the branch\n`);
    expect(m.stderr).toBe(`committed the changes the agent left in ${wtOf(dir, '001')}\n`);
    expect(readFileSync(join(dir, 'feature.txt'), 'utf8')).toBe('from codex\n');
    // --no-ff: a merge commit with two parents, on main.
    expect(git(dir, 'log', '-1', '--format=%P').trim().split(' ')).toHaveLength(2);
    expect(git(dir, 'log', '-1', '--format=%s').trim()).toBe('Merge dispatch/001 (001-feature)');
    expect(git(dir, 'rev-parse', '--abbrev-ref', 'HEAD').trim()).toBe('main');
    expect(existsSync(wtOf(dir, '001'))).toBe(false);
    expect(worktrees(dir)).not.toContain(wtOf(dir, '001'));
    expect(branchExists(dir, 'dispatch/001')).toBe(false);
    const rec = readStateOf(dir).dispatch.specs['001'];
    expect(rec.awaitingMerge).toBeUndefined();
    expect(rec.worktree).toBeUndefined();

    // One still waits: wave 2 stays blocked, naming only it.
    const still = await run(dir, 'run', '--yes', '--no-plan');
    expect(still.code).toBe(1);
    expect(errLines(still.stderr).at(-1)).toMatch(/^dispatch: wave 2 cannot start: 003 \(wave 1: awaiting merge\) — /);

    expect((await run(dir, 'merge', '003')).code).toBe(0);
    const after = await run(dir, 'run', '--yes', '--no-plan');
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toBe('1 launched · 1 done · 0 failed\n');
    expect(readFileSync(join(dir, 'after.txt'), 'utf8')).toBe('saw both\n');
    expect(worktrees(dir)).toEqual([dir]);
  });

  it('a conflicting merge exits 1 naming the file, aborts, and keeps the worktree and branch', async () => {
    const dir = repoProject([
      { id: '001', name: 'clash', wave: 1, agent: 'codex', mode: 'isolated', body: 'write shared.txt from the agent\n' },
      { id: '002', name: 'next', wave: 2, dependsOn: ['001'] },
    ]);
    expect((await run(dir, 'run', '--wave', '1', '--yes', '--no-plan')).code).toBe(0);
    // Meanwhile, someone commits the same file on main.
    writeFileSync(join(dir, 'shared.txt'), 'from main\n');
    git(dir, 'add', 'shared.txt');
    git(dir, 'commit', '-q', '-m', 'main side');
    const mainHead = git(dir, 'rev-parse', 'HEAD').trim();

    const m = await run(dir, 'merge', '001');
    expect(m.code).toBe(1);
    expect(errLines(m.stderr).at(-1)).toMatch(/^dispatch: merging dispatch\/001 conflicts in shared\.txt; the merge was aborted and the worktree and branch are kept — resolve by hand: 'git merge --no-ff dispatch\/001'/);
    expect(m.stderr).not.toMatch(/^\s+at /m);
    expect(m.stdout).toBe('');
    // Aborted: main as it was, no merge in progress; everything dispatch made is still there.
    expect(git(dir, 'rev-parse', 'HEAD').trim()).toBe(mainHead);
    expect(git(dir, 'status', '--porcelain')).toBe('');
    expect(existsSync(join(dir, '.git', 'MERGE_HEAD'))).toBe(false);
    expect(readFileSync(join(dir, 'shared.txt'), 'utf8')).toBe('from main\n');
    expect(existsSync(wtOf(dir, '001'))).toBe(true);
    expect(branchExists(dir, 'dispatch/001')).toBe(true);
    expect(readStateOf(dir).dispatch.specs['001']).toMatchObject({ awaitingMerge: true });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(errLines(r.stderr).at(-1)).toMatch(/001 \(wave 1: awaiting merge\)/);
  });

  it('a branch dispatch/<id> that dispatch did not create is never used or deleted', async () => {
    const dir = repoProject([{ id: '001', name: 'mine', wave: 1, agent: 'codex', mode: 'isolated', body: 'write x.txt x\n' }]);
    git(dir, 'switch', '-q', '-c', 'dispatch/001');
    writeFileSync(join(dir, 'user-work.txt'), 'precious\n');
    git(dir, 'add', 'user-work.txt');
    git(dir, 'commit', '-q', '-m', 'the user\'s own work');
    const userTip = git(dir, 'rev-parse', 'HEAD').trim();
    git(dir, 'switch', '-q', 'main');

    const r = await run(dir, 'run', '--yes', '--no-plan');
    // Refused by the preflight, before anything is launched or recorded.
    expect(r.code).toBe(1);
    expect(errLines(r.stderr)).toEqual(["dispatch: branch dispatch/001 already exists and dispatch did not make it (spec 001) — delete or rename it ('git branch -m dispatch/001 other-name')"]);
    expect(r.stdout).toBe('');
    expect(readStateOf(dir)).toBeUndefined();
    expect(existsSync(wtOf(dir, '001'))).toBe(false);
    expect(codexTrace(dir)).toEqual([]);

    const m = await run(dir, 'merge', '001');
    expect(m.code).toBe(1);
    expect(m.stderr).toMatch(/^dispatch: spec 001 is pending, not done: nothing to merge yet/);
    expect(git(dir, 'rev-parse', 'dispatch/001').trim()).toBe(userTip);
    expect(worktrees(dir)).toEqual([dir]);
  });

  it('a folder already at the worktree path is refused and left as it was', async () => {
    const dir = repoProject([{ id: '001', name: 'a', wave: 1, agent: 'codex', mode: 'isolated' }]);
    mkdirSync(wtOf(dir, '001'), { recursive: true });
    writeFileSync(join(wtOf(dir, '001'), 'keep.txt'), 'mine\n');
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(errLines(r.stderr)).toEqual([`dispatch: ${wtOf(dir, '001')} already exists and dispatch did not make it (worktree of spec 001) — move it away, or set worktreesDir elsewhere`]);
    expect(readFileSync(join(wtOf(dir, '001'), 'keep.txt'), 'utf8')).toBe('mine\n');
    expect(branchExists(dir, 'dispatch/001')).toBe(false);
    expect(readStateOf(dir)).toBeUndefined();
  });

  it('an isolated spec outside a git repository is refused before anything launches, saying how to fix it', async () => {
    // The isolated spec is in wave 2: the problem is said before wave 1 runs, not when wave 2 comes.
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1 }, { id: '002', name: 'b', wave: 2, agent: 'codex', mode: 'isolated' }], agents: { codex: { bin: FAKE_CODEX } } });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(errLines(r.stderr)).toEqual([`dispatch: ${dir} is not a git repository with a commit (isolated: 002) — run 'git init' and commit once, or set mode: 'direct'`]);
    expect(readStateOf(dir)).toBeUndefined();
    expect(starts(dir)).toEqual([]);
  });

  it('an agent script that is not committed is named before launching: the worktree, a checkout of HEAD, would not have it', async () => {
    const dir = repoProject([{ id: '001', name: 'a', wave: 1, agent: 'script', mode: 'isolated' }, { id: '002', name: 'b', wave: 1, agent: 'script', mode: 'isolated' }]);
    const cfgFile = join(dir, 'specs.config.json');
    const cfg = JSON.parse(readFileSync(cfgFile, 'utf8'));
    cfg.agents.script = { command: ['tools/agent.sh', '{specFile}'], prompt: 'none' };
    writeFileSync(cfgFile, JSON.stringify(cfg, null, 2));
    mkdirSync(join(dir, 'tools'));
    writeFileSync(join(dir, 'tools', 'agent.sh'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(errLines(r.stderr)).toEqual(['dispatch: the agent script tools/agent.sh is not committed, so the worktrees of 001, 002 will not have it — commit tools/agent.sh']);
    expect(readStateOf(dir)).toBeUndefined();
    expect(worktrees(dir)).toEqual([dir]);
    git(dir, 'add', 'tools/agent.sh');
    git(dir, 'commit', '-q', '-m', 'agent script');
    const d = await run(dir, 'run', '--dry-run');
    expect(d.code, d.stdout).toBe(0);
    expect(d.stdout).toMatch(/^ {2}ok {4}git {10}repository with a commit \(2 isolated specs\)$/m);
  });

  it('--dry-run shows the worktree it would make, and makes none', async () => {
    const dir = repoProject([{ id: '001', name: 'a', wave: 1, agent: 'codex', mode: 'isolated' }]);
    const before = snapshotTree(dir, ['.git']);
    const r = await run(dir, 'run', '--dry-run');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`    worktree: git worktree add -b dispatch/001 ${wtOf(dir, '001')} HEAD\n`);
    expect(r.stdout).toMatch(/agent: \S+codex\.mjs exec -s workspace-write -m gpt-5\.3-codex -c model_reasoning_effort=low --json -o \S+\/\.codex\/runs\/001\/last-message\.md -\n/);
    expect(snapshotTree(dir, ['.git'])).toEqual(before);
    expect(branchExists(dir, 'dispatch/001')).toBe(false);
    expect(worktrees(dir)).toEqual([dir]);
  });

  it('merge of an isolated spec that is not done yet changes nothing', async () => {
    const dir = repoProject([{ id: '001', name: 'a', wave: 1, agent: 'codex', mode: 'isolated' }]);
    const r = await run(dir, 'merge', '001');
    expect(r.code).toBe(1);
    expect(errLines(r.stderr)).toEqual([/* one line */ expect.stringMatching(/^dispatch: spec 001 is pending, not done: nothing to merge yet — /)]);
    expect(readStateOf(dir)).toBeUndefined();
  });
});

describe('merge: provenance and --verify', () => {
  it('the merge commit carries Dispatch-* trailers', async () => {
    const dir = repoProject([{ id: '001', name: 'feature', wave: 1, agent: 'codex', mode: 'isolated', body: 'write feature.txt hello\n' }]);
    writeFileSync(join(dir, '.auto-claude', 'specs', '001-feature', 'plan.md'), '# plan\n');
    expect((await run(dir, 'run', '--yes', '--no-plan')).code).toBe(0);
    const m = await run(dir, 'merge', '001');
    expect(m.code, m.stderr).toBe(0);
    const trailers = git(dir, 'log', '-1', '--format=%(trailers)').trim().split('\n');
    expect(trailers).toEqual([
      'Dispatch-Spec: 001-feature',
      'Dispatch-Agent: codex',
      'Dispatch-Model: gpt-5.3-codex',
      'Dispatch-Attempt: 1',
      expect.stringMatching(/^Dispatch-Tokens: \d+$/),
      `Dispatch-Plan-Sha256: ${createHash('sha256').update('# plan\n').digest('hex')}`,
    ]);
  });

  it('--verify checks the merged tree before committing: a failure aborts the merge and keeps everything; then it merges', async () => {
    const dir = repoProject([{ id: '001', name: 'feature', wave: 1, agent: 'codex', mode: 'isolated', body: 'write feature.txt hello\n' }]);
    const cfgFile = join(dir, 'specs.config.json');
    const cfg = JSON.parse(readFileSync(cfgFile, 'utf8'));
    // Passes in the worktree (the agent wrote feature.txt); on the merged tree it also needs approved.txt.
    cfg.specs[0].verify = [[process.execPath, '-e', "const fs = require('fs'); process.exit(fs.existsSync('feature.txt') && (process.cwd().includes('worktrees') || fs.existsSync('approved.txt')) ? 0 : 1)"]];
    writeFileSync(cfgFile, JSON.stringify(cfg, null, 2));
    git(dir, 'commit', '-q', '-am', 'checks');
    expect((await run(dir, 'run', '--yes', '--no-plan')).code).toBe(0);
    const head = git(dir, 'rev-parse', 'HEAD').trim();
    const bad = await run(dir, 'merge', '001', '--verify');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^dispatch: the merged tree failed its check \(verify failed: .* exited 1\); the merge was aborted and the worktree and branch are kept/m);
    expect(git(dir, 'rev-parse', 'HEAD').trim()).toBe(head);
    expect(git(dir, 'status', '--porcelain')).toBe('');
    expect(existsSync(wtOf(dir, '001'))).toBe(true);
    expect(readStateOf(dir).dispatch.specs['001'].awaitingMerge).toBe(true);
    writeFileSync(join(dir, 'approved.txt'), 'yes\n');
    git(dir, 'add', 'approved.txt');
    git(dir, 'commit', '-q', '-m', 'approve');
    const good = await run(dir, 'merge', '001', '--verify');
    expect(good.code, good.stderr).toBe(0);
    expect(git(dir, 'log', '-1', '--format=%s').trim()).toBe('Merge dispatch/001 (001-feature)');
    expect(git(dir, 'log', '-1', '--format=%(trailers)')).toContain('Dispatch-Spec: 001-feature');
    expect(existsSync(join(dir, 'feature.txt'))).toBe(true);
  });
});

describe('merge and verify --mark, attacked', () => {
  /** The spec's own verify commands, committed (the worktree is made from HEAD). */
  function withChecks(dir: string, verify: string[][]): void {
    const cfgFile = join(dir, 'specs.config.json');
    const cfg = JSON.parse(readFileSync(cfgFile, 'utf8'));
    cfg.specs[0].verify = verify;
    writeFileSync(cfgFile, JSON.stringify(cfg, null, 2));
    git(dir, 'commit', '-q', '-am', 'checks');
  }

  it('a plain merge (no --verify) runs no check: the merge lands even where the check would fail', async () => {
    const dir = repoProject([{ id: '001', name: 'feature', wave: 1, agent: 'codex', mode: 'isolated', body: 'write feature.txt hello\n' }]);
    const seen = join(tempDir('checks-'), 'ran.log');
    // Passes in the worktree only, and notes each time it runs (in a folder of its own, outside the repository).
    withChecks(dir, [[process.execPath, '-e', `require('fs').appendFileSync(${JSON.stringify(seen)}, process.cwd() + '\\n'); process.exit(process.cwd().includes('worktrees') ? 0 : 1)`]]);
    expect((await run(dir, 'run', '--yes', '--no-plan')).code).toBe(0);
    const afterRun = readFileSync(seen, 'utf8');
    expect(afterRun.trim().split('\n')).toHaveLength(1);
    const m = await run(dir, 'merge', '001');
    expect(m.code, m.stderr).toBe(0);
    expect(readFileSync(seen, 'utf8')).toBe(afterRun);
    expect(readFileSync(join(dir, 'feature.txt'), 'utf8')).toBe('hello\n');
  });

  it('merge --verify of a branch with nothing new is merged, as plain merge is', async () => {
    const dir = repoProject([{ id: '001', name: 'idle', wave: 1, agent: 'codex', mode: 'isolated' }]);
    withChecks(dir, [['true']]);
    expect((await run(dir, 'run', '--yes', '--no-plan')).code).toBe(0);
    const m = await run(dir, 'merge', '001', '--verify');
    expect(m.code, m.stderr).toBe(0);
    expect(readStateOf(dir).dispatch.specs['001'].awaitingMerge).toBeUndefined();
  });

  it('verify --mark of an isolated spec whose worktree is still there keeps it awaiting merge', async () => {
    const dir = repoProject([{ id: '001', name: 'feature', wave: 1, agent: 'codex', mode: 'isolated', body: 'write feature.txt hello\n' }]);
    withChecks(dir, [['true']]);
    expect((await run(dir, 'run', '--yes', '--no-plan')).code).toBe(0);
    expect((await run(dir, 'verify', '001', '--mark')).code).toBe(0);
    expect(readStateOf(dir).dispatch.specs['001'].awaitingMerge).toBe(true);
    expect((await run(dir, 'status')).stdout).toMatch(/awaiting merge/);
  });

  it('a model or a name holding newlines cannot add trailers to the commits dispatch makes', async () => {
    const dir = repoProject([{ id: '001', name: 'x', wave: 1, agent: 'script', mode: 'isolated' }]);
    const cfgFile = join(dir, 'specs.config.json');
    const cfg = JSON.parse(readFileSync(cfgFile, 'utf8'));
    cfg.agents.script = { command: ['sh', '-c', 'echo work > work.txt'], prompt: 'none', model: 'm1\nDispatch-Injected: yes' };
    writeFileSync(cfgFile, JSON.stringify(cfg, null, 2));
    git(dir, 'commit', '-q', '-am', 'agent');
    expect((await run(dir, 'run', '--yes', '--no-plan')).code).toBe(0);
    expect((await run(dir, 'merge', '001')).code).toBe(0);
    const trailers = git(dir, 'log', '-1', '--format=%(trailers)');
    expect(trailers).not.toMatch(/^Dispatch-Injected/m);
    expect(trailers).toContain('Dispatch-Model: m1 Dispatch-Injected: yes\n');
  });
});
