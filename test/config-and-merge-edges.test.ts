// Edges where dispatch accepted something and failed later, or said something untrue: ids git
// cannot name a branch after, durations past any date, a huge spec.md, folder names init cannot
// write, and a `merge --verify` whose abort did not happen.
import { existsSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeProject, readStateOf, tempDir, dispatchIn } from './helpers.js';
import { FAKE_CODEX, engineProject, type EngineSpec } from './fixtures/engine.js';
import { GIT_ENV, commitAll, git, gitOk } from './fixtures/git.js';

const specs = (...ids: string[]) => ids.map((id, i) => ({ id, name: `s${i}`, cost: 1, agent: 'codex' }));

describe('ids that cannot name a git branch are refused in the config', () => {
  for (const [id, shown] of [['a.lock', '"a.lock"'], ['.b', '".b"'], ['c.', '"c."'], ['d..e', '"d..e"']] as const) {
    it(`id ${shown}: one line, exit 2, before anything runs`, async () => {
      const dir = makeProject({ specs: specs('001', id) });
      const r = await dispatchIn(dir, ['list']);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`specs[1].id: must be usable in the git branch name dispatch/<id>: no "." at its start or end, no "..", no ".lock" at its end (write "-" or "_" there instead), got ${shown}\n`);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }

  it('ids with dots inside (1.2, v1.0-a) are still accepted', async () => {
    const dir = makeProject({ specs: specs('1.2', 'v1.0-a') });
    expect((await dispatchIn(dir, ['list'])).code).toBe(0);
  });
});

describe('estimateMinutes is bounded, and simulate and report survive any duration', () => {
  it('estimateMinutes {1: 1e308} is refused with its path and the bound (exit 2), not an internal error', async () => {
    const dir = makeProject({ extra: { estimateMinutes: { 1: 1e308 } } });
    for (const verb of ['simulate', 'report']) {
      const r = await dispatchIn(dir, [verb]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('estimateMinutes.1: expected at most 10080, got 1e+308');
      expect(r.stderr).not.toMatch(/internal error|Invalid time value|\n\s+at /);
    }
  });

  it('a week per spec (the bound) simulates', async () => {
    const dir = makeProject({ extra: { estimateMinutes: { 1: 10080, 2: 10080, 3: 10080, 4: 10080 } } });
    const r = await dispatchIn(dir, ['simulate']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/makespan/);
  });

  it('done attempts as long as a Date allows (a hand-edited state) do not crash simulate or report', async () => {
    const attempt = (n: number) => ({ n, startedAt: '-271821-04-20T00:00:00.000Z', endedAt: '+275760-09-13T00:00:00.000Z', state: 'done', kind: 'done' });
    const state = { completed: ['001', '002', '003'], failed: [], skipped: [], dispatch: { version: 1, running: {}, specs: Object.fromEntries(['001', '002', '003'].map((id) => [id, { history: [attempt(1)] }])) } };
    const dir = makeProject({ state });
    const sim = await dispatchIn(dir, ['simulate', '--all']);
    expect(sim.code, sim.stderr).toBe(0);
    expect(sim.stderr).toBe('');
    const rep = await dispatchIn(dir, ['report', '--out', join(dir, 'r.html')]);
    expect(rep.stderr).not.toMatch(/internal error|Invalid time value/);
    expect(rep.code, rep.stderr).toBe(0);
  });
});

describe('review of a spec.md too large to read', () => {
  it('says it is too large (size and limit), not that it is missing', async () => {
    const dir = makeProject();
    // Sparse: 600 MB on disk costs nothing, and reading it whole into a string fails in node itself.
    truncateSync(join(dir, '.auto-claude', 'specs', '001-alpha', 'spec.md'), 600 * 1024 * 1024);
    const r = await dispatchIn(dir, ['review', '001']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`dispatch: spec 001's spec.md is too large to show (600 MB; the limit is 10 MB): ${join(dir, '.auto-claude', 'specs', '001-alpha', 'spec.md')} — open it in an editor; no agent works from a spec.md that long\n`);
  });

  it('a missing spec.md is still said to be missing', async () => {
    const dir = makeProject({ writeSpecFiles: false });
    const r = await dispatchIn(dir, ['review', '001']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^dispatch: spec 001 has no spec\.md/);
  });
});

describe('init writes only what the config accepts', () => {
  function folders(names: string[]): string {
    const dir = tempDir();
    for (const n of names) {
      mkdirSync(join(dir, 'specs', n), { recursive: true });
      writeFileSync(join(dir, 'specs', n, 'spec.md'), '# spec\n');
    }
    return dir;
  }

  it('folders whose id git refuses, whose name the config refuses, or whose name holds a newline are left out, each named in one warning; the config it writes loads', async () => {
    const dir = folders(['001-ok', 'a.lock-x', '.b-y', 'c.-z', '002-back\\slash', '003-new\nline', '004-tab\tname', '005-fine', '005-twin']);
    const r = await dispatchIn(dir, ['init', '--specs-dir', 'specs']);
    expect(r.code, r.stderr).toBe(0);
    const warning = r.stderr.split('\n').filter((l) => l.includes('left out of specs.config.ts'));
    expect(warning).toHaveLength(1);
    for (const shown of ['"a.lock-x"', '".b-y"', '"c.-z"', '"002-back\\\\slash"', '"003-new\\nline"', '"004-tab\\tname"', '"005-twin"']) expect(warning[0]).toContain(shown);
    expect(warning[0]).not.toContain('"001-ok"');
    const list = await dispatchIn(dir, ['--json', 'list']);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout).specs.map((s: { id: string; name: string }) => `${s.id}-${s.name}`)).toEqual(['001-ok', '005-fine']);
  });

  it('--completed refuses an id the config would refuse', async () => {
    const dir = folders(['001-ok']);
    const r = await dispatchIn(dir, ['init', '--specs-dir', 'specs', '--completed', 'a.lock']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^dispatch: --completed has invalid id 'a\.lock'/);
    expect(existsSync(join(dir, 'specs.config.ts'))).toBe(false);
  });
});

describe('merge --verify: a failed check really aborts the merge', () => {
  function repoProject(spec: EngineSpec, verify: string[][]): string {
    const dir = engineProject({ specs: [spec], agents: { codex: { bin: FAKE_CODEX, env: { CODEX_FAKE_TRACE: '' } } } });
    const cfgFile = join(dir, 'specs.config.json');
    const cfg = JSON.parse(readFileSync(cfgFile, 'utf8'));
    cfg.specs[0].verify = verify;
    writeFileSync(cfgFile, JSON.stringify(cfg, null, 2));
    writeFileSync(join(dir, 'README.md'), 'project\n');
    commitAll(dir);
    return dir;
  }

  it('a check that edits a merged file and fails: the merge is undone (no MERGE_HEAD, nothing staged) and the next merge works', async () => {
    // Passes in the worktree; on the merged tree it rewrites the file the merge brought, then fails.
    const check = [process.execPath, '-e', "const fs = require('fs'); if (process.cwd().includes('worktrees')) process.exit(0); fs.appendFileSync('feature.txt', 'formatted\\n'); process.exit(1)"];
    const dir = repoProject({ id: '001', name: 'feature', wave: 1, agent: 'codex', mode: 'isolated', body: 'write feature.txt hello\n' }, [check]);
    expect((await dispatchIn(dir, ['run', '--yes', '--no-plan'], { env: GIT_ENV })).code).toBe(0);
    const head = git(dir, 'rev-parse', 'HEAD').trim();
    const bad = await dispatchIn(dir, ['merge', '001', '--verify'], { env: GIT_ENV });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^dispatch: the merged tree failed its check \(verify failed: .* exited 1\); the merge was aborted and the worktree and branch are kept/m);
    expect(gitOk(dir, 'rev-parse', '--verify', '--quiet', 'MERGE_HEAD')).toBe(false);
    expect(git(dir, 'rev-parse', 'HEAD').trim()).toBe(head);
    expect(git(dir, 'status', '--porcelain')).toBe('');
    expect(existsSync(join(dir, 'feature.txt'))).toBe(false);
    expect(readStateOf(dir).dispatch.specs['001'].awaitingMerge).toBe(true);
    // The next merge is not refused with "You have not concluded your merge".
    const plain = await dispatchIn(dir, ['merge', '001'], { env: GIT_ENV });
    expect(plain.code, plain.stderr).toBe(0);
    expect(readFileSync(join(dir, 'feature.txt'), 'utf8')).toBe('hello\n');
  });

  it('a merge that cannot be undone (git locked by the check) is said to be in progress, with the way out, not "aborted"', async () => {
    const check = [process.execPath, '-e', "const fs = require('fs'); if (process.cwd().includes('worktrees')) process.exit(0); fs.writeFileSync('.git/index.lock', ''); process.exit(1)"];
    const dir = repoProject({ id: '001', name: 'feature', wave: 1, agent: 'codex', mode: 'isolated', body: 'write feature.txt hello\n' }, [check]);
    expect((await dispatchIn(dir, ['run', '--yes', '--no-plan'], { env: GIT_ENV })).code).toBe(0);
    const bad = await dispatchIn(dir, ['merge', '001', '--verify'], { env: GIT_ENV });
    expect(bad.code).toBe(1);
    const last = bad.stderr.trimEnd().split('\n').at(-1)!;
    expect(last).toMatch(/^dispatch: the merged tree failed its check \(verify failed: .* exited 1\), and the merge could not be aborted \(git: .*index\.lock.*\): .* is still mid-merge with dispatch\/001's changes staged — in .*, run 'git merge --abort' \(or 'git reset --merge'\), check 'git status', then merge again; the worktree and branch are kept$/);
    expect(bad.stderr).not.toContain('the merge was aborted');
    expect(gitOk(dir, 'rev-parse', '--verify', '--quiet', 'MERGE_HEAD')).toBe(true);
    // The way out it gives works.
    rmSync(join(dir, '.git', 'index.lock'));
    git(dir, 'merge', '--abort');
    expect(git(dir, 'status', '--porcelain')).toBe('');
  });

  it('user changes to files the merge does not touch are kept when the merge is undone', async () => {
    const check = [process.execPath, '-e', "const fs = require('fs'); if (process.cwd().includes('worktrees')) process.exit(0); fs.appendFileSync('feature.txt', 'formatted\\n'); process.exit(1)"];
    const dir = repoProject({ id: '001', name: 'feature', wave: 1, agent: 'codex', mode: 'isolated', body: 'write feature.txt hello\n' }, [check]);
    expect((await dispatchIn(dir, ['run', '--yes', '--no-plan'], { env: GIT_ENV })).code).toBe(0);
    writeFileSync(join(dir, 'README.md'), 'project, edited by hand\n');
    const bad = await dispatchIn(dir, ['merge', '001', '--verify'], { env: GIT_ENV });
    expect(bad.code).toBe(1);
    expect(gitOk(dir, 'rev-parse', '--verify', '--quiet', 'MERGE_HEAD')).toBe(false);
    expect(git(dir, 'status', '--porcelain')).toBe(' M README.md\n');
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toBe('project, edited by hand\n');
  });
});
