// What a new user tripped over (issue 9, part B): small surprises in what the
// commands print and how they exit, judged by stdout, stderr and the exit code.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, dispatchAsync, makeProject, readStateOf, statePathOf, tempDir, dispatchIn } from './helpers.js';
import { NODE, deadPid, engineProject, expectUsageError, lockPath, starts, stateBytes, type EngineSpec } from './fixtures/engine.js';
import { GIT_ENV, git, commitAll } from './fixtures/git.js';

const run = (dir: string, ...args: string[]) => dispatchIn(dir, args);
const errLines = (s: string) => s.trimEnd().split('\n');

describe('lock: a lock without every field', () => {
  it("shows 'unknown' for a missing start time, never 'undefined'", async () => {
    const dir = makeProject();
    mkdirSync(join(dir, '.codex'), { recursive: true });
    writeFileSync(lockPath(dir), JSON.stringify({ pid: deadPid(), host: hostname(), command: 'run' }));
    const r = await run(dir, 'lock');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ {2}started {2}unknown$/m);
    expect(r.stdout).not.toContain('undefined');
  });
});

/** A committed git repo holding an engine project; dispatch's own files are ignored. */
function repoProject(specs: EngineSpec[]): string {
  const dir = engineProject({ specs });
  commitAll(dir);
  return dir;
}

describe('merge: merging twice', () => {
  it('says the spec is already merged, exit 0, and changes nothing', async () => {
    const dir = repoProject([{ id: '001', name: 'feature', wave: 1, mode: 'isolated', body: 'write feature.txt done\n' }]);
    const r = await dispatchIn(dir, ['run', '--yes', '--no-plan'], { env: GIT_ENV });
    expect(r.code, r.stderr).toBe(0);
    const first = await dispatchIn(dir, ['merge', '001'], { env: GIT_ENV });
    expect(first.code, first.stderr).toBe(0);
    const head = git(dir, 'rev-parse', 'HEAD');
    const state = stateBytes(dir);
    const again = await dispatchIn(dir, ['merge', '001'], { env: GIT_ENV });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe('');
    expect(again.stderr).toBe('001 is already merged (dispatch/001); nothing to do\n');
    expect(git(dir, 'rev-parse', 'HEAD')).toBe(head);
    expect(stateBytes(dir)).toBe(state);
  });

  it('a done isolated spec with no worktree on record (merged by an older dispatch, or marked done) has nothing to merge: exit 0', async () => {
    const dir = makeProject({ state: { completed: ['001', '003'], failed: [], skipped: [] } });
    const r = await run(dir, 'merge', '003');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('003 has no worktree waiting to be merged (already merged, or done without one); nothing to do\n');
  });
});

const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

/** The bin on a pseudo-terminal (util-linux `script`), answering the prompt with `answer`. */
function onTerminal(dir: string, args: string[], answer: string): Promise<{ code: number | null; out: string }> {
  const cmd = [NODE, BIN, ...args].map((a) => `'${a}'`).join(' ');
  return new Promise((res) => {
    const child = spawn('script', ['-qefc', cmd, '/dev/null'], { cwd: dir, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.stdin.end(answer);
    child.on('close', (code) => res({ code, out }));
  });
}

describe('reset: declining the prompt', () => {
  it.skipIf(!hasScript)('exits 1 with one error line saying nothing changed, and changes nothing', async () => {
    const dir = makeProject({ state: { completed: ['001'], failed: ['002'], skipped: [] } });
    const before = readFileSync(statePathOf(dir), 'utf8');
    const r = await onTerminal(dir, ['reset'], 'n\n');
    expect(r.out).toContain('Reset ALL 3 specs of demo to pending? [y/N]');
    expect(r.out).toMatch(/^dispatch: reset cancelled; nothing changed — answer 'y' to go ahead, or pass --yes\r?$/m);
    expect(r.code).toBe(1);
    expect(readFileSync(statePathOf(dir), 'utf8')).toBe(before);
  });
});

describe('run: declining the prompt', () => {
  it.skipIf(!hasScript)('exits 1 like reset, saying nothing changed, and launches nothing', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 0 }] });
    const r = await onTerminal(dir, ['run', '--no-plan'], 'n\n');
    expect(r.out).toContain('launch?');
    // A headless run has no session nor panes, and says so.
    expect(r.out).toMatch(/about to launch in the background \(headless\):/);
    expect(r.out).not.toMatch(/session/);
    expect(r.out).toMatch(/^dispatch: run cancelled; nothing changed — answer 'y' to go ahead, or pass --yes\r?$/m);
    expect(r.code).toBe(1);
    expect(readStateOf(dir)).toBeUndefined();
  });
});

describe('--mux with the multiplexer not installed', () => {
  // PATH holds an empty folder: neither zellij nor tmux can be found (node is run by its absolute path).
  it.each([
    ['zellij', 'dispatch: zellij is not installed — install zellij, or use --mux tmux / --mux headless'],
    ['tmux', 'dispatch: tmux is not installed — install tmux (apt-get install -y tmux), or use --mux headless'],
  ])('--mux %s says it is not installed, as doctor does, exit 1, launching nothing', async (mux, line) => {
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1 }] });
    const r = await dispatchIn(dir, ['run', '--mux', mux, '--yes', '--no-plan'], { env: { PATH: tempDir() } });
    expect(r.code).toBe(1);
    expect(errLines(r.stderr)).toContain(line);
    expect(r.stderr).not.toMatch(/ENOENT|spawn/);
    expect(readStateOf(dir)).toBeUndefined();
  });
});

describe('plan: sequential waves', () => {
  const project = () => makeProject({ extra: { waves: { '1': { sequential: true } } } });

  it('marks a sequential wave in the text', async () => {
    const r = await run(project(), 'plan');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Wave 1 \(sequential\) {2}\(2 specs: 2 pending\)$/m);
    expect(r.stdout).toMatch(/^Wave 0 {2}\(1 spec: 1 pending\)$/m);
  });

  it('--json gives each wave a sequential field', async () => {
    const r = await run(project(), '--json', 'plan');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).waves.map((w: { wave: number; sequential: boolean }) => [w.wave, w.sequential])).toEqual([[0, false], [1, true]]);
  });
});

describe('init: what it finds and what it is given', () => {
  function specFolders(withSpec: string[], without: string[] = []): string {
    const dir = tempDir();
    for (const f of [...withSpec, ...without]) mkdirSync(join(dir, '.auto-claude/specs', f), { recursive: true });
    for (const f of withSpec) writeFileSync(join(dir, '.auto-claude/specs', f, 'spec.md'), `# ${f}\n`);
    return dir;
  }

  it('refuses --completed ids that have no spec (exit 2), naming them, and writes nothing', async () => {
    const dir = specFolders(['001-a', '002-b'], ['003-draft']);
    const r = await run(dir, 'init', '--completed', '001,003,009');
    expectUsageError(r, /--completed names ids with no spec in \.auto-claude\/specs: 003 \(003-draft has no spec\.md\), 009 — .*found: 001, 002/);
    expect(r.stdout).toBe('');
    expect(readdirSync(dir)).toEqual(['.auto-claude']);
  });

  it('reports folders without spec.md on stderr and leaves them out of the table', async () => {
    const dir = specFolders(['001-a', '002-b'], ['003-draft']);
    const r = await run(dir, 'init');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('dispatch: warning: 1 folder in .auto-claude/specs has no spec.md and is left commented out in specs.config.ts: 003-draft\n');
    expect(r.stdout).toContain('(2 specs found in .auto-claude/specs)');
    const list = JSON.parse((await run(dir, '--json', 'list')).stdout);
    expect(list.specs.map((s: { id: string }) => s.id)).toEqual(['001', '002']);
    expect(readFileSync(join(dir, 'specs.config.ts'), 'utf8')).toContain("    // { id: '003', name: 'draft',");
  });

  it('an existing state file whose completed ids differ from --completed: says which differ, keeps what it holds', async () => {
    const dir = specFolders(['001-a', '002-b', '003-c']);
    mkdirSync(join(dir, '.codex'));
    writeFileSync(statePathOf(dir), '{"completed": ["001"], "failed": [], "skipped": []}');
    const r = await run(dir, 'init', '--completed', '002');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(
      "dispatch: warning: the existing state file's completed ids differ from --completed: kept 001 (done in the state file, not in --completed); marked 002 done (not done in the state file)\n",
    );
    expect(r.stdout).toContain(`updated the existing ${statePathOf(dir)} (completed: 001, 002)\n`);
    expect(readStateOf(dir).completed).toEqual(['001', '002']);
  });

  it('an existing state file that already holds --completed is kept byte for byte, said so', async () => {
    const dir = specFolders(['001-a', '002-b']);
    mkdirSync(join(dir, '.codex'));
    const before = '{"completed": ["001"], "failed": [], "skipped": []}';
    writeFileSync(statePathOf(dir), before);
    const r = await run(dir, 'init', '--completed', '001');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`kept the existing ${statePathOf(dir)} (completed: 001)\n`);
    expect(readFileSync(statePathOf(dir), 'utf8')).toBe(before);
  });
});

describe('status: running specs', () => {
  it('shows how long each has been running, not ISO times nor pane ids; --json keeps both', async () => {
    const dir = makeProject();
    // A stand-in runner: a live process whose command line ends in `exec-spec -- <id>`, as a runner's does.
    const fake = (id: string) => spawn(NODE, ['-e', 'setInterval(() => {}, 1e6)', 'exec-spec', '--', id], { stdio: 'ignore' });
    const runners = [fake('001'), fake('002')];
    try {
      const ago = (s: number) => new Date(Date.now() - s * 1000).toISOString();
      const startedAt = { '001': ago(3 * 60 + 30), '002': ago(2 * 3600 + 5 * 60 + 10) };
      const running = {
        '001': { pid: runners[0]!.pid, host: hostname(), startedAt: startedAt['001'], pane: 'terminal_7', attempt: 1 },
        '002': { pid: runners[1]!.pid, host: hostname(), startedAt: startedAt['002'], pane: '%12', attempt: 1 },
      };
      mkdirSync(join(dir, '.codex'), { recursive: true });
      writeFileSync(statePathOf(dir), JSON.stringify({ completed: [], failed: [], skipped: [], dispatch: { version: 1, running, specs: { '001': { attempts: 1 }, '002': { attempts: 1 } } } }));
      const r = await run(dir, 'status');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^\s+001\s+alpha\s+running 3 min\s+pid \d+$/m);
      expect(r.stdout).toMatch(/^\s+002\s+beta\s+running 2 h 05 min\s+pid \d+\s+stalled/m);
      for (const raw of ['terminal_7', '%12', startedAt['001'], startedAt['002'], 'since']) expect(r.stdout).not.toContain(raw);
      const j = JSON.parse((await run(dir, '--json', 'status')).stdout);
      expect(j.running.map((x: { id: string; pane: string; startedAt: string }) => [x.id, x.pane, x.startedAt])).toEqual([['001', 'terminal_7', startedAt['001']], ['002', '%12', startedAt['002']]]);
    } finally {
      for (const p of runners) p.kill('SIGKILL');
    }
  });
});


describe('run: planning before each wave', () => {
  it('plans what has no plan before launching, and says so; the agent gets the plan', async () => {
    const { startFakeOllama } = await import('./fixtures/fake-ollama.mjs');
    const f = await startFakeOllama();
    try {
      const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 0 }, { id: '002', name: 'b', wave: 1 }], extra: { planner: { host: f.host } } });
      const r = await dispatchAsync(dir, ['run', '--yes']);
      expect(r.code, r.stderr).toBe(0);
      expect(errLines(r.stderr).filter((l) => l.startsWith('planned'))).toEqual(['planned 1 of 1 spec first', 'planned 1 of 1 spec first']);
      expect(starts(dir).map((s) => s.stdin!.includes('# Implementation plan'))).toEqual([true, true]);
    } finally {
      await f.close();
    }
  });

  it('with Ollama unreachable, warns once for the whole run and launches without plans', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 0 }, { id: '002', name: 'b', wave: 1 }], extra: { planner: { host: 'http://127.0.0.1:9' } } });
    const r = await dispatchAsync(dir, ['run', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(errLines(r.stderr).filter((l) => l.includes('launching without plans'))).toEqual([
      "warning: cannot reach Ollama at http://127.0.0.1:9 — launching without plans (--require-plan to stop instead); later waves try again without saying so",
    ]);
    expect(readStateOf(dir).completed).toEqual(['001', '002']);
  });

  it('with Ollama unreachable and --require-plan, stops before launching: exit 1, one line, nothing launched', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 0 }], extra: { planner: { host: 'http://127.0.0.1:9' } } });
    const r = await dispatchAsync(dir, ['run', '--yes', '--require-plan']);
    expect(r.code).toBe(1);
    expect(errLines(r.stderr).at(-1)).toMatch(/^dispatch: cannot reach Ollama at http:\/\/127\.0\.0\.1:9 and --require-plan is set — is 'ollama serve' running\? \(or set planner.host \/ OLLAMA_HOST\)$/);
    expect(starts(dir)).toEqual([]);
  });
});

describe('plan: Auto-Claude specs', () => {
  it('shows that an ac spec has no plan to read (Auto-Claude reads no plan.md)', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 0, agent: 'ac' }, { id: '002', name: 'b', wave: 0 }] });
    const r = await run(dir, 'plan');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ {2}001\s+a\s+ac\s+direct\s+cost 1\s+pending\s+plan n\/a \(ac\)$/m);
    expect(r.stdout).toMatch(/^ {2}002\s+b\s+ok\s+direct\s+cost 1\s+pending\s+plan missing$/m);
  });
});
