// The runner (dispatch exec-spec) with real processes and small configured times: a decision made
// by hand wins over the runner, --spec across waves, the verdict taken at the agent's exit,
// stopping an agent's whole process group, no endless relaunch of a runner that never starts,
// resets that keep dispatch's worktree, a watch-handoff that does not spin, the dispatcher's
// environment in tmux panes, tmux session names with '.', and onSpecFailed for lost runners.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dispatch, dispatchAsync, readStateOf, tempDir, dispatchIn } from './helpers.js';
import { GIT_ENV, git, commitAll } from './fixtures/git.js';
import {
  live,
  AGENTS,
  FAKE_CODEX,
  NODE,
  deadPid,
  engineProject,
  journal,
  lockPath,
  logOf,
  stateBytes,
  starts,
  trace,
  tracePath,
  waitFor,
  type EngineSpec,
} from './fixtures/engine.js';

const run = (dir: string, ...args: string[]) => dispatchIn(dir, args);
const errLines = (s: string) => s.trimEnd().split('\n');
const statusJson = async (dir: string) => JSON.parse((await run(dir, '--json', 'status')).stdout);
const launchesOf = (dir: string, id: string) => journal(dir).filter((e) => e.command === 'run' && e.spec === id && e.to === 'running');

/** Alive and not a zombie (nobody may reap an orphan here: PID 1 is not an init). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
/** CPU time (user + system) a process has used, in clock ticks. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** Processes the tests start outside dispatch (background servers, agents' children): stopped at the end. */
const strays = new Set<number>();
function killStray(pid: number) {
  // Only if the pid is still one of the fixtures' `node -e` timers, not a pid reused since.
  let cmd = '';
  try {
    cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return;
  }
  if (!/set(Timeout|Interval)\(\(\) => \{\}/.test(cmd)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

afterAll(() => {
  for (const pid of strays) killStray(pid);
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the runner and decisions made by hand', () => {
  it('mark-done while the agent runs wins: the runner stopped afterwards (a closed pane) leaves the spec done and closes its attempt', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'h', wave: 1, agent: 'hang' }] });
    const p = dispatchAsync(dir, ['run', '--yes', '--no-plan']);
    await waitFor('the agent to start', () => starts(dir).length > 0);
    const runner = await waitFor('the runner to report in', () => readStateOf(dir)?.dispatch?.running['001']?.pid);
    const m = await run(dir, 'mark-done', '001');
    expect(m.code, m.stderr).toBe(0);
    expect(m.stdout).toBe('001: running → done\n');
    const r = await p;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('1 launched · 1 done · 0 failed\n');

    // The pane closes later: its runner stops the agent, and must not overrule the person.
    expect(running(runner)).toBe(true);
    process.kill(runner, 'SIGTERM');
    await waitFor('the runner to exit', () => !running(runner), 10_000);
    expect(trace(dir).find((e) => e.event === 'signal')?.signal).toBe('SIGTERM');
    const state = readStateOf(dir);
    expect(state.completed).toEqual(['001']);
    expect(state.failed).toEqual([]);
    expect(state.dispatch.running).toEqual({});
    expect(state.dispatch.specs['001'].reason).toBeUndefined();
    expect(existsSync(join(dir, 'signals', 'demo-failed-001'))).toBe(false);
    expect(existsSync(join(dir, 'signals', 'demo-done-001'))).toBe(true);
    const [attempt, ...more] = (await statusJson(dir)).attempts['001'];
    expect(more).toEqual([]);
    expect(attempt).toMatchObject({ n: 1, state: 'failed', reason: 'interrupted (SIGTERM)', endedAt: expect.any(String) });
    expect((await run(dir, 'status')).stdout).toMatch(/^demo: 1 done · 0 failed · 0 running/);
  });
});

describe('run --spec', () => {
  it('names specs of two waves (B depends on A): A runs, then B, both done', async () => {
    const dir = engineProject({
      specs: [
        { id: '001', name: 'a', wave: 1, body: 'write out/a.txt a\n' },
        { id: '002', name: 'other', wave: 1 },
        { id: '003', name: 'b', wave: 2, dependsOn: ['001'], body: 'need out/a.txt\nwrite out/b.txt b\n' },
      ],
    });
    const r = await run(dir, 'run', '--spec', '001', '003', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('2 launched · 2 done · 0 failed\n');
    expect(starts(dir).map((e) => e.id)).toEqual(['001', '003']);
    expect(readStateOf(dir).completed).toEqual(['001', '003']);
    expect(readFileSync(join(dir, 'out/b.txt'), 'utf8')).toBe('b\n');
  });
});

describe('the verdict is taken when the agent exits', () => {
  it('an agent that leaves a background process holding its output is done when it exits; what it left is ended after a short grace', async () => {
    const dir = tempDir();
    const pidFile = join(dir, 'bg.pid');
    engineProject({
      dir,
      specs: [{ id: '001', name: 'serve', wave: 1, agent: 'bg' }],
      agents: { bg: { command: [NODE, join(AGENTS, 'background.mjs'), tracePath(dir), pidFile, '30000'], prompt: 'none' } },
    });
    try {
      const started = Date.now();
      const r = await run(dir, 'run', '--yes', '--no-plan');
      const took = Date.now() - started;
      const bg = Number(readFileSync(pidFile, 'utf8'));
      strays.add(bg);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('1 launched · 1 done · 0 failed\n');
      expect(took).toBeLessThan(15_000); // not the 30 s the background process would hold it (generous: a loaded machine)
      // The verdict did not wait 30 s for the background process, and did not leave it running beside a relaunch.
      expect(running(bg)).toBe(false);
      expect(readStateOf(dir).completed).toEqual(['001']);
      const log = readFileSync(logOf(dir, '001'), 'utf8');
      expect(log).toContain(`background: server started (pid ${bg})\n`);
      expect(log.trimEnd().split('\n').at(-1)).toBe('── dispatch: 001 done');
    } finally {
      if (existsSync(pidFile)) killStray(Number(readFileSync(pidFile, 'utf8')));
    }
  });

  it('stopping a stalled agent (stall.action fail) stops the processes it started too', async () => {
    const dir = tempDir();
    const pidFile = join(dir, 'child.pid');
    engineProject({
      dir,
      specs: [{ id: '001', name: 'quiet', wave: 1, agent: 'parent' }],
      agents: { parent: { command: [NODE, join(AGENTS, 'child-hang.mjs'), tracePath(dir), pidFile], prompt: 'none' } },
      extra: { stall: { minutes: { 1: 0.02 }, action: 'fail' } }, // 1.2 s
    });
    try {
      const r = await run(dir, 'run', '--yes', '--no-plan');
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^1 launched · 0 done · 1 failed\n {2}failed 001: stalled: no output for \d+ s\n$/);
      const agentPid = starts(dir)[0]!.pid;
      const childPid = Number(readFileSync(pidFile, 'utf8'));
      strays.add(childPid);
      expect(trace(dir).filter((e) => e.event === 'signal').map((e) => e.signal)).toEqual(['SIGTERM']);
      await waitFor('the agent and its child to be gone', () => !running(agentPid) && !running(childPid), 5000);
    } finally {
      if (existsSync(pidFile)) killStray(Number(readFileSync(pidFile, 'utf8')));
    }
  });
});

describe('a runner that never starts', () => {
  it('is relaunched by the retry policy, not for ever: run ends (exit 1) after retry.maxAttempts launches in all', async () => {
    const at = new Date(Date.now() - 60_000).toISOString();
    const dir = engineProject({
      specs: [{ id: '001', name: 'fresh', wave: 1 }, { id: '002', name: 'retried', wave: 1 }, { id: '003', name: 'next', wave: 2 }],
      extra: { startTimeoutSeconds: 0.5, retry: { maxAttempts: 2 } },
      // 002 already used an attempt in an earlier run: one launch is left to it.
      state: {
        completed: [],
        failed: ['002'],
        skipped: [],
        dispatch: { version: 1, running: {}, specs: { '002': { attempts: 1, reason: 'agent exited with code 3', history: [{ n: 1, startedAt: at, endedAt: at, state: 'failed', reason: 'agent exited with code 3' }] } } },
      },
    });
    // Their runners cannot make their run folders (a file is in the way): they exit before reporting in.
    mkdirSync(join(dir, '.codex', 'runs'), { recursive: true });
    for (const id of ['001', '002']) writeFileSync(join(dir, '.codex', 'runs', id), 'in the way\n');
    const r = dispatch(dir, ['run', '--yes', '--no-plan'], { timeout: 20_000 });
    expect(r.signal).toBeNull();
    expect(r.code).toBe(1);
    for (const id of ['001', '002']) expect(r.stdout).toMatch(new RegExp(`^ {2}failed ${id}: lost \\(runner never started within 0\\.5 s in demo-${id}\\)$`, 'm'));
    expect(launchesOf(dir, '001')).toHaveLength(2);
    expect(launchesOf(dir, '002')).toHaveLength(1);
    expect(r.stderr.match(/^relaunching /gm)).toEqual(['relaunching ']);
    expect(errLines(r.stderr).at(-1)).toMatch(/^dispatch: wave 2 cannot start: 001 \(wave 1: failed — lost \(runner never started/);
    const state = readStateOf(dir);
    expect(state.failed.sort()).toEqual(['001', '002']);
    expect(state.dispatch.specs['001'].attempts).toBe(2);
    expect(state.dispatch.specs['002'].attempts).toBe(2);
    expect(state.dispatch.running).toEqual({});
    expect(starts(dir)).toEqual([]);
  });

  it('a relaunch whose spec folder became ambiguous meanwhile fails that spec, not the whole run', async () => {
    const dir = engineProject({
      specs: [{ id: '001', name: 'c', wave: 1, agent: 'spoil' }, { id: '002', name: 'slow', wave: 1, body: 'sleep 800\n' }],
      // On its first attempt the agent adds a second folder for 001 (its own is 001-a), then fails.
      agents: { spoil: { command: [NODE, '-e', "require('fs').mkdirSync('.auto-claude/specs/001-b', { recursive: true }); process.exit(3)"], prompt: 'none' } },
    });
    renameSync(join(dir, '.auto-claude', 'specs', '001-c'), join(dir, '.auto-claude', 'specs', '001-a'));
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    const why = `launch failed: spec 001: several folders match in ${join(dir, '.auto-claude', 'specs')}: 001-a, 001-b`;
    expect(r.stderr).toContain(`launch failed 001: ${why}\n`);
    // The wave went on to its end: 002 done, the summary printed.
    expect(r.stdout).toBe(`2 launched · 1 done · 1 failed\n  failed 001: ${why}\n`);
    const state = readStateOf(dir);
    expect(state.completed).toEqual(['002']);
    expect(state.failed).toEqual(['001']);
    expect(state.dispatch.running).toEqual({});
  });
});

// ------------------------------------------------------------------ git ----

const runGit = (dir: string, ...args: string[]) => dispatchIn(dir, args, { env: GIT_ENV });

/** A committed git repo holding the project (dispatch's own files ignored), its specs on the fake Codex. */
function repoProject(specs: EngineSpec[], extra: Record<string, unknown> = {}): string {
  const dir = engineProject({ specs, extra, agents: { codex: { bin: FAKE_CODEX } } });
  commitAll(dir);
  return dir;
}

describe('resets keep the worktree dispatch made', () => {
  it('`reset --spec` and `retry` of failed isolated specs: the next run reuses their worktrees, and merge works', async () => {
    const dir = repoProject(
      [
        { id: '001', name: 'one', wave: 1, agent: 'codex', mode: 'isolated', body: 'codex-fail the tests did not pass\n' },
        { id: '002', name: 'two', wave: 1, agent: 'codex', mode: 'isolated', body: 'codex-fail the tests did not pass\n' },
      ],
      { retry: { maxAttempts: 1 } },
    );
    const wt = (id: string) => join(dir, '.codex', 'worktrees', id);
    const first = await runGit(dir, 'run', '--yes', '--no-plan');
    expect(first.code).toBe(1);
    expect(readStateOf(dir).failed.sort()).toEqual(['001', '002']);
    expect(existsSync(wt('001')) && existsSync(wt('002'))).toBe(true);

    // The specs are fixed and committed; the failed attempts left their worktrees behind.
    for (const [id, name] of [['001', 'one'], ['002', 'two']]) {
      writeFileSync(join(dir, '.auto-claude', 'specs', `${id}-${name}`, 'spec.md'), `write ${name}.txt from ${id}\n`);
    }
    git(dir, 'commit', '-q', '-am', 'clearer specs');
    expect((await runGit(dir, 'reset', '--spec', '001')).stdout).toBe('001: failed → pending\n');
    expect((await runGit(dir, 'retry')).stdout).toMatch(/^002: failed → pending\n/);
    for (const id of ['001', '002']) {
      expect(readStateOf(dir).dispatch.specs[id].worktree).toEqual({ path: wt(id), branch: `dispatch/${id}`, createdBy: 'dispatch' });
    }

    const again = await runGit(dir, 'run', '--yes', '--no-plan');
    expect(again.stderr).not.toMatch(/already exists/);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe('2 launched · 2 done · 0 failed · 30 tokens\n');
    expect(readFileSync(join(wt('001'), 'one.txt'), 'utf8')).toBe('from 001\n');

    for (const id of ['001', '002']) {
      const m = await runGit(dir, 'merge', id);
      expect(m.code, m.stderr).toBe(0);
      expect(m.stdout).toBe(`merged dispatch/${id} into the current branch; removed ${wt(id)} and the branch\n`);
    }
    expect(readFileSync(join(dir, 'one.txt'), 'utf8')).toBe('from 001\n');
    expect(readFileSync(join(dir, 'two.txt'), 'utf8')).toBe('from 002\n');
    expect(git(dir, 'worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree '))).toEqual([`worktree ${dir}`]);
  });
});

// ------------------------------------------------------- watch-handoff ----

describe('watch-handoff does not spin', () => {
  const staleLock = (dir: string) => {
    writeFileSync(lockPath(dir), JSON.stringify({ pid: deadPid(), host: hostname(), command: 'run --wave 1', wave: 1, started: '2026-01-01T00:00:00.000Z' }));
  };

  it('a stale run lock with nothing left to launch in wave A (awaiting merge; failed, attempts used up): it waits quietly, and Ctrl-C exits 130', async () => {
    const dir = engineProject({
      specs: [{ id: '001', name: 'iso', wave: 1 }, { id: '002', name: 'spent', wave: 1 }, { id: '003', name: 'next', wave: 2 }],
      state: {
        completed: ['001'],
        failed: ['002'],
        skipped: [],
        dispatch: { version: 1, running: {}, specs: { '001': { awaitingMerge: true, attempts: 1 }, '002': { attempts: 2, reason: 'agent exited with code 3' } } },
      },
    });
    staleLock(dir);
    const before = stateBytes(dir);
    const w = live(dir, ['watch-handoff', '--from-wave', '1', '--to-wave', '2', '--yes', '--no-plan']);
    await waitFor('it to say 002 failed', () => w.stderr().includes('002 failed'), 5000);
    const t0 = cpuTicks(w.child.pid!);
    await sleep(2000);
    const used = (cpuTicks(w.child.pid!) - t0) / CLK_TCK;
    expect(w.child.exitCode).toBeNull();
    // Polling a few times a second costs a few ms; a resume loop burns the whole core.
    expect(used, `${used} s of CPU in 2 s`).toBeLessThan(0.3);
    expect(w.stderr()).not.toMatch(/resuming/);
    expect(w.stderr().match(/002 failed/g)).toHaveLength(1);
    const stopAt = Date.now();
    w.child.kill('SIGINT');
    const r = await w.done;
    expect(r.code).toBe(130);
    expect(Date.now() - stopAt).toBeLessThan(2000);
    expect(starts(dir)).toEqual([]);
    expect(stateBytes(dir)).toBe(before);
  });

  it('--dry-run never resumes and never changes the state, even with a lost runner and pending work', async () => {
    const dir = engineProject({
      specs: [{ id: '001', name: 'lost', wave: 1 }, { id: '002', name: 'todo', wave: 1 }, { id: '003', name: 'next', wave: 2 }],
      state: {
        completed: [],
        failed: [],
        skipped: [],
        dispatch: { version: 1, running: { '001': { pid: deadPid(), host: hostname(), startedAt: new Date().toISOString(), pane: 'pid:1', attempt: 1 } }, specs: { '001': { attempts: 1 } } },
      },
    });
    staleLock(dir);
    const before = stateBytes(dir);
    const lockBefore = readFileSync(lockPath(dir), 'utf8');
    const w = live(dir, ['watch-handoff', '--from-wave', '1', '--to-wave', '2', '--dry-run', '--no-plan']);
    await sleep(2000);
    expect(w.child.exitCode).toBeNull();
    const stopAt = Date.now();
    w.child.kill('SIGINT');
    const r = await w.done;
    expect(r.code).toBe(130);
    expect(Date.now() - stopAt).toBeLessThan(2000);
    expect(r.stderr).not.toMatch(/resuming|lost/);
    expect(stateBytes(dir)).toBe(before);
    expect(readFileSync(lockPath(dir), 'utf8')).toBe(lockBefore);
    expect(journal(dir)).toEqual([]);
    expect(starts(dir)).toEqual([]);
  });
});

// --------------------------------------------------------------- hooks ----

describe('lost runners and hooks', () => {
  // Writes the DISPATCH_* part of its environment as one JSON line to the file it is given.
  const RECORD = "require('fs').appendFileSync(process.argv[1], JSON.stringify(Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('DISPATCH_')))) + '\\n')";

  it('a runner that died fires onSpecFailed once, with DISPATCH_REASON "lost (runner died)", however many notice it', async () => {
    const dir = tempDir();
    const file = join(dir, 'hooks.jsonl');
    engineProject({
      dir,
      specs: [{ id: '001', name: 'h', wave: 1, agent: 'hang' }],
      extra: { retry: { maxAttempts: 1 }, hooks: { onSpecFailed: [NODE, '-e', RECORD, file], timeoutSeconds: 10 } },
    });
    expect((await run(dir, 'run', '--yes', '--no-wait', '--no-plan')).code).toBe(0);
    const runner = await waitFor('the runner to report in', () => readStateOf(dir)?.dispatch?.running['001']?.pid);
    await waitFor('the agent to start', () => starts(dir).length > 0);
    process.kill(runner, 'SIGKILL');
    await waitFor('the runner to die', () => !running(runner));
    process.kill(starts(dir)[0]!.pid, 'SIGKILL'); // the orphaned agent
    // Three commands notice it at once, then one more later.
    const seen = await Promise.all([0, 1, 2].map(() => dispatchAsync(dir, ['status'])));
    expect(seen.map((s) => s.code)).toEqual([0, 0, 0]);
    expect(seen.filter((s) => s.stderr.includes('runner died'))).toHaveLength(1);
    expect((await run(dir, 'status')).code).toBe(0);
    const fired = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(fired).toEqual([
      { DISPATCH_EVENT: 'onSpecFailed', DISPATCH_PROJECT: 'demo', DISPATCH_SPEC_ID: '001', DISPATCH_SPEC_NAME: 'h', DISPATCH_WAVE: '1', DISPATCH_AGENT: 'hang', DISPATCH_STATE: 'failed', DISPATCH_KIND: 'lost', DISPATCH_REASON: 'lost (runner died)' },
    ]);
    expect(readStateOf(dir).dispatch.specs['001'].reason).toBe('lost (runner died)');
  });
});

// ---------------------------------------------------------------- tmux ----

const SOCKET = `dispatch-review-${process.pid}`;
/** tmux on our private socket, from an environment without the test's secret or the caller's tmux. */
function tmux(...args: string[]) {
  const env = { ...process.env };
  delete env.TMUX;
  delete env.DISPATCH_TEST_SECRET;
  return spawnSync('tmux', ['-L', SOCKET, ...args], { env, encoding: 'utf8' });
}
afterAll(() => {
  // Only our private server: never the user's.
  tmux('kill-server');
});
const windows = (session: string) => {
  const r = tmux('list-windows', '-t', `=${session}`, '-F', '#{window_name}');
  return r.status === 0 ? r.stdout.trim().split('\n') : [];
};

describe('tmux panes (real, private socket)', () => {
  it("the dispatcher's environment reaches the agent, though the tmux server started without it; the env file is removed once read", async () => {
    // The server runs before dispatch, started from an environment without the secret.
    const started = tmux('new-session', '-d', '-s', 'before-dispatch');
    expect(started.status, started.stderr).toBe(0);
    const dir = tempDir();
    const seen = join(dir, 'env-seen.json');
    engineProject({
      dir,
      specs: [{ id: '001', name: 'env', wave: 1, agent: 'probe' }],
      extra: { multiplexer: 'tmux', tmuxSocket: SOCKET, session: 'env-test' },
      agents: {
        probe: {
          command: [NODE, '-e', "require('fs').writeFileSync(process.argv[1], JSON.stringify({ secret: process.env.DISPATCH_TEST_SECRET ?? null, pane: process.env.TMUX_PANE ?? null }))", seen],
          prompt: 'none',
        },
      },
    });
    const r = await dispatchIn(dir, ['run', '--yes', '--no-plan'], { env: { DISPATCH_TEST_SECRET: 'xyz' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("created tmux session 'env-test' (detached)\n");
    const got = JSON.parse(readFileSync(seen, 'utf8'));
    expect(got.pane).toMatch(/^%\d+$/); // really in a tmux pane
    expect(got.secret).toBe('xyz');
    expect(existsSync(join(dir, '.codex', 'runs', '001', 'env.json'))).toBe(false);
    // The server itself never had it: only the runner's file carried it.
    expect(tmux('show-environment', '-g', 'DISPATCH_TEST_SECRET').stdout).not.toContain('xyz');
  });

  it("a project named 'my.app' runs in session my_app, windows named my.app-<id>", async () => {
    const dir = engineProject({
      specs: [{ id: '001', name: 'a', wave: 1, body: 'sleep 1500\nwrite out/a.txt a\n' }],
      extra: { project: 'my.app', multiplexer: 'tmux', tmuxSocket: SOCKET },
    });
    const p = dispatchAsync(dir, ['run', '--yes', '--no-plan']);
    await waitFor('the agent to start', () => starts(dir).length > 0);
    expect(windows('my_app')).toContain('my.app-001');
    const r = await p;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("created tmux session 'my_app' (detached)\n");
    expect(r.stdout).toBe('1 launched · 1 done · 0 failed\n');
    expect(readFileSync(join(dir, 'out/a.txt'), 'utf8')).toBe('a\n');
    expect(readStateOf(dir).completed).toEqual(['001']);
  });
});
