// Panes in real multiplexers: the zellij stand-in (test/fixtures/bin/zellij,
// strict about zellij 0.45's grammar, put first on PATH) and real tmux on a
// private server socket that only these tests use and kill.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dispatchAsync, readStateOf, ROOT, tempDir, dispatchIn } from './helpers.js';
import {
  AGENTS,
  NODE,
  STANDIN_BIN,
  engineProject,
  expectUsageError,
  lockPath,
  runnerArgv,
  shown,
  snapshotTree,
  starts,
  stateBytes,
  trace,
  tracePath,
  waitFor,
} from './fixtures/engine.js';

const errLines = (s: string) => s.trimEnd().split('\n');
const NASTY = `it's "quoted" $(touch pwned); echo owned > owned`;

function expectNoPwned(dir: string) {
  for (const where of [dir, tmpdir(), ROOT, homedir(), process.cwd()]) {
    expect(existsSync(join(where, 'pwned')), where).toBe(false);
    expect(existsSync(join(where, 'owned')), where).toBe(false);
  }
}

// ---------------------------------------------------------------- zellij ----

/** A fresh stand-in world and the env that puts the stand-in first on PATH. */
function zellijWorld() {
  const zdir = tempDir('zellij-standin-');
  const env = { PATH: `${STANDIN_BIN}:${process.env.PATH}`, ZELLIJ_STANDIN_DIR: zdir };
  const z = (...args: string[]) => spawnSync(join(STANDIN_BIN, 'zellij'), args, { env: { ...process.env, ...env }, encoding: 'utf8' });
  const calls = (): string[][] =>
    existsSync(join(zdir, 'calls.jsonl')) ? readFileSync(join(zdir, 'calls.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).argv) : [];
  const panes = (session: string): any[] =>
    existsSync(join(zdir, 'panes', session))
      ? readdirSync(join(zdir, 'panes', session)).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(zdir, 'panes', session, f), 'utf8')))
      : [];
  return { zdir, env, z, calls, panes };
}

describe('the zellij stand-in itself (guards the tests below)', () => {
  it('accepts the real grammar and rejects what zellij 0.45 rejects', async () => {
    const { z } = zellijWorld();
    expect(z('list-sessions', '-n').stderr).toBe('No active zellij sessions found.\n');
    expect(z('attach', 's', '--create-background').status).toBe(0);
    expect(z('attach', 's', '--create-background')).toMatchObject({ status: 1, stderr: 'Session already exists\n' });
    expect(z('list-sessions', '-n').stdout).toMatch(/^s \[Created \d+s ago\] \n$/);
    const ok = z('--session', 's', 'run', '--name', 'x', '--close-on-exit', '--cwd', tmpdir(), '--', NODE, '-e', '0');
    expect(ok).toMatchObject({ status: 0, stdout: 'terminal_1\n' });
    for (const bad of [
      ['--session', 's', 'run', '--name', 'x', '--', ], // no command
      ['--session', 's', 'run', '--name', 'x', NODE, '-e', '0'], // no --
      ['--session', 's', 'run', '--full-auto', '--', NODE], // unknown option
      ['--session', 's', 'run', '--direction', 'up', '--', NODE],
      ['--session', 's', 'launch', '--', NODE],
    ]) {
      const r = z(...bad);
      expect(r.status, bad.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^error: /);
    }
    expect(z('--session', 'nope', 'run', '--', NODE)).toMatchObject({ status: 1, stderr: "Session 'nope' not found. The following sessions are active:\ns\n" });
  });
});

describe('zellij', () => {
  it('a missing session is an error that says how to create it; nothing is launched', async () => {
    const w = zellijWorld();
    // Another session runs, and ours exists only as EXITED: neither will do.
    w.z('attach', 'other', '--create-background');
    w.z('attach', 'demo', '--create-background');
    w.z('kill-session', 'demo');
    const before = w.calls().length;
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1 }], extra: { multiplexer: 'zellij' } });
    const r = await dispatchIn(dir, ['run', '--yes', '--no-plan'], { env: w.env });
    expect(r.code).toBe(1);
    expect(errLines(r.stderr)).toEqual([
      "dispatch: zellij session 'demo' is not running — start it with 'zellij attach demo --create-background' (or open it: 'zellij -s demo'), or pass --create-session",
    ]);
    expect(w.calls().slice(before)).toEqual([['list-sessions', '-n']]);
    expect(readStateOf(dir)).toBeUndefined();
    expect(existsSync(lockPath(dir))).toBe(false);
    expect(trace(dir)).toEqual([]);
  });

  it('--create-session creates it detached, then opens a pane per spec with the exact zellij grammar', async () => {
    const w = zellijWorld();
    const dir = engineProject({
      specs: [{ id: '001', name: 'a', wave: 1, body: 'write out/a.txt a\n' }, { id: '002', name: 'b', wave: 2, body: 'need out/a.txt\n' }],
      extra: { multiplexer: 'zellij' },
    });
    const r = await dispatchIn(dir, ['run', '--yes', '--no-plan', '--create-session'], { env: w.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("created zellij session 'demo' (detached)\n");
    expect(r.stderr).toMatch(/^launched 001 \(terminal_1\)$/m);
    expect(r.stdout).toBe('2 launched · 2 done · 0 failed\n');
    expect(w.calls()).toEqual([
      ['list-sessions', '-n'], // preflight
      ['list-sessions', '-n'],
      ['attach', 'demo', '--create-background'],
      ['--session', 'demo', 'run', '--name', 'demo-001', '--close-on-exit', '--cwd', dir, '--', ...runnerArgv(dir, '001')],
      ['--session', 'demo', 'run', '--name', 'demo-002', '--close-on-exit', '--cwd', dir, '--', ...runnerArgv(dir, '002')],
    ]);
    // The agent ran inside the pane: zellij's env, the pane's cwd.
    const s1 = starts(dir).find((e) => e.id === '001')!;
    expect(s1.env).toMatchObject({ ZELLIJ: '0', ZELLIJ_SESSION_NAME: 'demo', ZELLIJ_PANE_ID: '1' });
    expect(s1.cwd).toBe(dir);
    // What the pane showed is the agent's output, teed, as in the log.
    const pane = w.panes('demo').find((p) => p.id === 'terminal_1');
    expect(readFileSync(pane.log, 'utf8')).toContain('succeed: all done\n── dispatch: 001 done\n');
    expect(readStateOf(dir).completed).toEqual(['001', '002']);
  });

  it('uses a session that is already running, without creating one', async () => {
    const w = zellijWorld();
    expect(w.z('attach', 'work', '--create-background').status).toBe(0);
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1 }], extra: { multiplexer: 'zellij', session: 'work' } });
    const r = await dispatchIn(dir, ['run', '--yes', '--no-plan'], { env: w.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/created/);
    expect(w.calls().filter((c) => c[0] === 'attach')).toHaveLength(1); // only ours
    expect(w.panes('work').map((p) => p.name)).toEqual(['demo-001']);
  });

  it('--dry-run prints the exact zellij and agent commands and only asks zellij for its sessions', async () => {
    const w = zellijWorld();
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1 }], extra: { multiplexer: 'zellij' } });
    const before = snapshotTree(dir);
    // No session: the preflight check fails, so the dry run exits 1, naming it.
    const missing = await dispatchIn(dir, ['run', '--dry-run'], { env: w.env });
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(/^ {2}FAIL {2}multiplexer {2}zellij session 'demo' is not running — start it with 'zellij attach demo --create-background'/m);
    expect(w.calls()).toEqual([['list-sessions', '-n']]);
    const created = await dispatchIn(dir, ['run', '--dry-run', '--create-session'], { env: w.env });
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^ {2}ok {4}multiplexer {2}zellij session 'demo' will be created \(detached\)$/m);
    expect(w.calls()).toEqual([['list-sessions', '-n'], ['list-sessions', '-n']]);
    w.z('attach', 'demo', '--create-background');
    const r = await dispatchIn(dir, ['run', '--dry-run'], { env: w.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`    zellij: ${shown(['zellij', '--session', 'demo', 'run', '--name', 'demo-001', '--close-on-exit', '--cwd', dir, '--', ...runnerArgv(dir, '001')])}\n`);
    expect(r.stdout).toContain(`    agent: ${shown([NODE, join(AGENTS, 'succeed.mjs'), tracePath(dir), join(dir, '.auto-claude/specs/001-a/spec.md')])}\n`);
    expect(w.calls().slice(3)).toEqual([['list-sessions', '-n']]);
    expect(snapshotTree(dir)).toEqual(before);
  });

  it('auto picks zellij when it is installed', async () => {
    const w = zellijWorld();
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1 }], extra: { multiplexer: 'auto' } });
    const r = await dispatchIn(dir, ['run', '--dry-run'], { env: w.env });
    expect(r.stdout).toMatch(/^ {4}zellij: zellij --session demo run /m);
  });

  it('a pane closed mid-run (SIGHUP to the runner) fails the spec as interrupted', async () => {
    const w = zellijWorld();
    w.z('attach', 'demo', '--create-background');
    const dir = engineProject({ specs: [{ id: '001', name: 'h', wave: 1, agent: 'hang' }, { id: '002', name: 'n', wave: 2 }], extra: { multiplexer: 'zellij' } });
    const p = dispatchAsync(dir, ['run', '--yes', '--no-plan'], { env: w.env });
    await waitFor('the agent to start', () => starts(dir).length > 0);
    await waitFor('the runner to report in', () => readStateOf(dir)?.dispatch?.running['001']?.pid > 0);
    // The pane as zellij names it, on record; `status` shows how long it has run instead.
    expect(readStateOf(dir).dispatch.running['001'].pane).toBe('terminal_1');
    expect((await dispatchIn(dir, ['status'], { env: w.env })).stdout).toMatch(/^\s+001\s+h\s+running \d+ (s|min)\s+pid \d+$/m);
    const close = w.z('--session', 'demo', 'action', 'close-pane', '-p', 'terminal_1');
    expect(close.status, close.stderr).toBe(0);
    const r = await p;
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('  failed 001: interrupted (SIGHUP: pane closed)\n');
    expect(errLines(r.stderr).at(-1)).toMatch(/^dispatch: wave 2 cannot start: 001 \(wave 1: failed — interrupted \(SIGHUP: pane closed\)\)/);
    const state = readStateOf(dir);
    expect(state.failed).toEqual(['001']);
    expect(state.dispatch.specs['001'].reason).toContain('interrupted');
    expect(trace(dir).some((e) => e.event === 'signal')).toBe(true);
  });

  it('spec names with quotes, $() and ; reach the agent literally through zellij', async () => {
    const w = zellijWorld();
    const dir = engineProject({
      dir: tempDir(`zj $(touch pwned); 'q" `),
      specs: [{ id: '001', name: NASTY, wave: 1 }],
      extra: { multiplexer: 'zellij' },
      agents: { ok: { command: [NODE, join(AGENTS, 'succeed.mjs'), '{cwd}/trace.jsonl', '{specFile}', '{name}'], prompt: 'none' } },
    });
    const r = await dispatchIn(dir, ['run', '--yes', '--no-plan', '--create-session'], { env: w.env });
    expect(r.code, r.stderr).toBe(0);
    expect(w.calls().at(-1)).toEqual(['--session', 'demo', 'run', '--name', 'demo-001', '--close-on-exit', '--cwd', dir, '--', ...runnerArgv(dir, '001')]);
    expect(starts(dir)[0]!.argv).toEqual([join(dir, 'trace.jsonl'), join(dir, '.auto-claude', 'specs', `001-${NASTY}`, 'spec.md'), NASTY]);
    expect(starts(dir)[0]!.stdin).toBe('');
    expectNoPwned(dir);
  });

  it('zellij not installed: exit 1 saying so and what to use instead', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1 }], extra: { multiplexer: 'zellij' } });
    const r = await dispatchIn(dir, ['run', '--yes', '--no-plan'], { env: { PATH: tempDir() } });
    expect(r.code).toBe(1);
    expect(errLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^dispatch: zellij is not installed — install zellij, or use --mux tmux \/ --mux headless$/m);
    expect(readStateOf(dir)).toBeUndefined();
  });

  it('doctor reports the zellij session', async () => {
    const w = zellijWorld();
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1 }], extra: { multiplexer: 'zellij', planner: { host: 'http://127.0.0.1:9' } } });
    const missing = await dispatchIn(dir, ['doctor'], { env: w.env });
    expect(missing.code).toBe(0);
    expect(missing.stdout).toMatch(/^warn\s+multiplexer\s+zellij session 'demo' is not running — start it with 'zellij attach demo --create-background'/m);
    w.z('attach', 'demo', '--create-background');
    const ok = await dispatchIn(dir, ['doctor'], { env: w.env });
    expect(ok.stdout).toMatch(/^ok\s+multiplexer\s+zellij session 'demo' is running$/m);
  });
});

// ------------------------------------------------------------------ tmux ----

const SOCKET = `dispatch-test-${process.pid}`;
const tmux = (...args: string[]) => spawnSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
afterAll(() => {
  // Only our private server: never the user's.
  tmux('kill-server');
});

let sessions = 0;
const tmuxProject = (specs: Parameters<typeof engineProject>[0]['specs'], opts: { dir?: string; agents?: Record<string, unknown> } = {}) => {
  const session = `mux-${++sessions}`;
  return { session, dir: engineProject({ dir: opts.dir, specs, agents: opts.agents, extra: { multiplexer: 'tmux', tmuxSocket: SOCKET, session } }) };
};
const windows = (session: string) => {
  const r = tmux('list-windows', '-t', `=${session}`, '-F', '#{window_name}');
  return r.status === 0 ? r.stdout.trim().split('\n') : [];
};

describe('tmux (real, private socket)', () => {
  it('creates the session detached and opens a window named <project>-<id> per spec', async () => {
    const { session, dir } = tmuxProject([{ id: '001', name: 'a', wave: 1, body: 'sleep 1500\nwrite out/a.txt a\n' }, { id: '002', name: 'b', wave: 1, body: 'sleep 1500\n' }]);
    const p = dispatchAsync(dir, ['run', '--yes', '--no-plan']);
    await waitFor('both agents to start', () => starts(dir).length === 2);
    expect(windows(session)).toEqual(expect.arrayContaining(['demo-001', 'demo-002']));
    const r = await p;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`created tmux session '${session}' (detached)\n`);
    expect(r.stderr).toMatch(/^launched 001 \(%\d+\)$/m);
    expect(r.stdout).toBe('2 launched · 2 done · 0 failed\n');
    const s = starts(dir);
    expect(s[0]!.env!.TMUX_PANE).toMatch(/^%\d+$/);
    expect(s[0]!.cwd).toBe(dir);
    expect(readFileSync(join(dir, 'out/a.txt'), 'utf8')).toBe('a\n');
    // The windows close with their runner.
    await waitFor('the windows to close', () => !windows(session).some((w) => w.startsWith('demo-')));
  });

  it('a window killed mid-run fails the spec as interrupted', async () => {
    const { session, dir } = tmuxProject([{ id: '001', name: 'h', wave: 1, agent: 'hang' }]);
    const p = dispatchAsync(dir, ['run', '--yes', '--no-plan']);
    await waitFor('the agent to start', () => starts(dir).length > 0);
    await waitFor('the runner to report in', () => readStateOf(dir)?.dispatch?.running['001']?.pid > 0);
    expect(readStateOf(dir).dispatch.running['001'].pane).toMatch(/^%\d+$/);
    const k = tmux('kill-window', '-t', `=${session}:=demo-001`);
    expect(k.status, k.stderr).toBe(0);
    const r = await p;
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^ {2}failed 001: interrupted \(SIGHUP: pane closed\)$/m);
    const state = readStateOf(dir);
    expect(state.failed).toEqual(['001']);
    expect(state.dispatch.specs['001'].reason).toMatch(/interrupted/);
    await waitFor('the agent to be gone', () => {
      try {
        process.kill(starts(dir)[0]!.pid, 0);
        return false;
      } catch {
        return true;
      }
    });
  });

  it('--dry-run prints the exact tmux and agent commands, starts no server and changes nothing', async () => {
    const session = 'never';
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1 }], extra: { multiplexer: 'tmux', tmuxSocket: `${SOCKET}-dry`, session } });
    const before = snapshotTree(dir);
    const r = await dispatchIn(dir, ['run', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      `    tmux: ${shown(['tmux', '-L', `${SOCKET}-dry`, 'new-window', '-d', '-t', '=never:', '-n', 'demo-001', '-c', dir, '-P', '-F', '#{pane_id}', '--', ...runnerArgv(dir, '001')])}\n`,
    );
    expect(r.stdout).toContain(`    agent: ${shown([NODE, join(AGENTS, 'succeed.mjs'), tracePath(dir), join(dir, '.auto-claude/specs/001-a/spec.md')])}\n`);
    expect(snapshotTree(dir)).toEqual(before);
    expect(spawnSync('tmux', ['-L', `${SOCKET}-dry`, 'list-sessions'], { encoding: 'utf8' }).status).not.toBe(0);
  });

  it('spec names with quotes, $() and ; reach the agent literally through tmux', async () => {
    const parent = tempDir(`tm $(touch pwned); 'q" `);
    mkdirSync(parent, { recursive: true });
    const { dir } = tmuxProject([{ id: '001', name: NASTY, wave: 1 }], {
      dir: parent,
      agents: { ok: { command: [NODE, join(AGENTS, 'succeed.mjs'), '{cwd}/trace.jsonl', '{specFile}', '{name}'], prompt: 'stdin' } },
    });
    const r = await dispatchIn(dir, ['run', '--yes', '--no-plan']);
    expect(r.code, r.stderr).toBe(0);
    expect(starts(dir)[0]!.argv).toEqual([join(dir, 'trace.jsonl'), join(dir, '.auto-claude', 'specs', `001-${NASTY}`, 'spec.md'), NASTY]);
    expect(starts(dir)[0]!.cwd).toBe(dir);
    expectNoPwned(dir);
  });

  it('doctor names the tmux session state', async () => {
    const { session, dir } = tmuxProject([{ id: '001', name: 'a', wave: 1 }]);
    const r = await dispatchIn(dir, ['doctor']);
    expect(r.stdout).toContain(`ok    multiplexer  tmux session '${session}' will be created (detached)\n`);
  });

  it('--mux on the command line overrides the config', async () => {
    const { dir } = tmuxProject([{ id: '001', name: 'a', wave: 1 }]);
    const r = await dispatchIn(dir, ['run', '--dry-run', '--mux', 'headless']);
    expect(r.stdout).toContain(`    headless: ${shown(runnerArgv(dir, '001'))}\n`);
    expect(r.stdout).not.toMatch(/tmux:/);
    expectUsageError(await dispatchIn(dir, ['run', '--dry-run', '--mux', 'screen']), /screen/);
    expect(stateBytes(dir)).toBeNull();
  });
});
