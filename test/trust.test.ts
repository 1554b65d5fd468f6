// Regression tests for the trustworthy-state findings: each fails on the
// code as it was before its fix. The long counted loops live in test/slow.
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, lutimesSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dispatch, dispatchIn, makeProject, readStateOf, statePathOf, tempDir } from './helpers.js';
import {
  AGENTS, NODE, engineProject, expectUsageError, journal, live, pidAlive, starts, stateBytes, tracePath, waitFor,
} from './fixtures/engine.js';
import { markRateLimited } from '../src/state/doc.js';
import { withState } from '../src/state/store.js';

const run = (dir: string, ...args: string[]) => dispatchIn(dir, args);

describe('the journal knows every state (rate limits included)', () => {
  it('a rate limit is journaled as running → rate-limited, and retry of a rate-limited spec is journaled', async () => {
    const dir = makeProject({ specs: [{ id: '001', name: 'a' }], format: 'json' });
    const stateDir = join(dir, '.codex');
    await withState(stateDir, { command: 'run' }, (doc) => {
      doc.dispatch = { version: 1, running: Object.assign(Object.create(null), { '001': { pid: 0, host: hostname(), startedAt: new Date().toISOString() } }), specs: Object.create(null) };
    });
    await withState(stateDir, { command: 'exec-spec' }, (doc) =>
      markRateLimited(doc, '001', { until: new Date(Date.now() + 60_000).toISOString(), agent: 'codex', reason: 'rate-limited: 429', at: new Date().toISOString() }),
    );
    const r = await run(dir, 'retry');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('001: rate-limited → pending');
    expect(journal(dir).map((e) => [e.from, e.to, e.kind])).toEqual([
      ['pending', 'running', undefined],
      ['running', 'rate-limited', 'rate-limited'],
      ['rate-limited', 'pending', 'manual'],
    ]);
  });
});

describe('decisions by hand and failure kinds', () => {
  const failedOnce = () => {
    const at = new Date(Date.now() - 60_000).toISOString();
    return {
      completed: [], failed: ['001'], skipped: [],
      dispatch: { version: 1, running: {}, specs: { '001': { attempts: 1, kind: 'agent-failed', reason: 'agent exited with code 3', history: [{ n: 1, startedAt: at, endedAt: at, state: 'failed', kind: 'agent-failed' }] } } },
    };
  };

  it('a spec failed by hand with any --reason is never relaunched by the retry policy', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 0 }], extra: { retry: { maxAttempts: 3 } }, state: failedOnce() });
    // With attempts left, an agent failure would be relaunched: the reason's wording must not matter.
    expect((await run(dir, 'mark-failed', '001', '--reason', 'wrong approach')).code).toBe(0);
    expect(readStateOf(dir).dispatch.specs['001']).toMatchObject({ kind: 'manual', reason: 'wrong approach' });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('nothing to launch');
    expect(starts(dir)).toEqual([]);
  });

  it('an agent failure with attempts left is relaunched (the control case)', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 0 }], extra: { retry: { maxAttempts: 3 } }, state: failedOnce() });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    expect(starts(dir)).toHaveLength(1);
    expect(readStateOf(dir).dispatch.specs['001'].kind).toBe('done');
  });

  it('a state written before kinds existed still reads: kinds are inferred once, and decide', async () => {
    const at = new Date(Date.now() - 60_000).toISOString();
    const dir = engineProject({
      specs: [{ id: '001', name: 'a', wave: 0 }, { id: '002', name: 'b', wave: 0 }],
      extra: { retry: { maxAttempts: 3 } },
      state: {
        completed: [], failed: ['001', '002'], skipped: [],
        dispatch: { version: 1, running: {}, specs: {
          '001': { attempts: 1, reason: 'interrupted (SIGHUP: pane closed)', history: [{ n: 1, startedAt: at, endedAt: at, state: 'failed', reason: 'interrupted (SIGHUP: pane closed)' }] },
          '002': { attempts: 1, reason: 'agent exited with code 2', history: [{ n: 1, startedAt: at, endedAt: at, state: 'failed', reason: 'agent exited with code 2' }] },
        } },
      },
    });
    const s = JSON.parse((await run(dir, '--json', 'status')).stdout);
    expect(s.failed.map((f: any) => [f.id, f.kind])).toEqual([['001', 'interrupted'], ['002', 'agent-failed']]);
    expect(s.attempts['001'][0].kind).toBe('interrupted');
    const r = await run(dir, '--json', 'run', '--yes', '--no-plan');
    // The closed pane is a person's decision: only 002 is relaunched.
    expect(starts(dir).map((e) => e.id)).toEqual(['002']);
    expect(JSON.parse(r.stdout)).toMatchObject({ launched: ['002'], done: ['002'], failed: [] });
    expect(readStateOf(dir).dispatch.specs['001'].kind).toBe('interrupted');
  });
});

describe('dispatch stop', () => {
  it('stops a headless spec: runner and agent gone, recorded as interrupted, not relaunched by the next run', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'h', wave: 0, agent: 'hang' }], extra: { retry: { maxAttempts: 3 } } });
    expect((await run(dir, 'run', '--yes', '--no-wait', '--no-plan')).code).toBe(0);
    const runner = await waitFor('the runner', () => readStateOf(dir)?.dispatch?.running['001']?.pid);
    await waitFor('the agent group on record', () => readStateOf(dir)?.dispatch?.running['001']?.agent);
    const agent = (await waitFor('the agent', () => starts(dir)[0]))!.pid;
    const r = await run(dir, 'stop', '001');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^001: stopped \(interrupted/);
    expect(pidAlive(runner)).toBe(false);
    expect(pidAlive(agent)).toBe(false);
    const st = readStateOf(dir);
    expect(st.failed).toEqual(['001']);
    expect(st.dispatch.specs['001']).toMatchObject({ kind: 'interrupted', reason: 'interrupted: stopped by hand (dispatch stop)' });
    expect(st.dispatch.specs['001'].stopReason).toBeUndefined();
    const again = await run(dir, 'run', '--yes', '--no-plan');
    expect(again.stderr).toContain('nothing to launch');
    expect(starts(dir)).toHaveLength(1);
  });

  it('a spec that is not running: exit 1, one line, nothing changed; an unknown id: exit 2', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'h', wave: 0 }], state: { completed: ['001'], failed: [], skipped: [] } });
    const before = stateBytes(dir);
    expectUsageError(await run(dir, 'stop', '001'), /nothing to stop: 001 is not running \(done\)/, 1);
    expectUsageError(await run(dir, 'stop', 'nope'), /unknown spec id 'nope'/);
    expect(stateBytes(dir)).toBe(before);
    // --json still answers on stdout (a pipe into jq gets the result), with the same exit and error line.
    const json = await run(dir, '--json', 'stop', '001');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual([{ id: '001', from: 'done', stopped: false, note: 'not running (done)' }]);
    expect(json.stderr).toMatch(/nothing to stop/);
    expect(stateBytes(dir)).toBe(before);
  });
});

describe('never two agents on one spec', () => {
  it('a runner killed with its agent leader (a wrapper) but not the agent\'s child: the child is stopped before the relaunch', async () => {
    const dir = tempDir();
    const pidFile = join(dir, 'child.pid');
    engineProject({
      dir,
      specs: [{ id: '001', name: 'w', wave: 0, agent: 'parent' }],
      extra: { retry: { maxAttempts: 2 } },
      agents: { parent: { command: [NODE, join(AGENTS, 'child-hang.mjs'), tracePath(dir), pidFile], prompt: 'none' } },
    });
    expect((await run(dir, 'run', '--yes', '--no-wait', '--no-plan')).code).toBe(0);
    const runner = await waitFor('the runner', () => readStateOf(dir)?.dispatch?.running['001']?.pid);
    await waitFor('the agent group on record', () => readStateOf(dir)?.dispatch?.running['001']?.agent);
    const child = Number(await waitFor('the child', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8')));
    // Like the npm `codex` wrapper killed with its runner: the native binary (here, the child) lives on.
    // The child's pid file is written before the agent traces its start: wait for both.
    const leader = (await waitFor('the agent', () => starts(dir)[0]))!.pid;
    process.kill(runner, 'SIGKILL');
    process.kill(leader, 'SIGKILL');
    await waitFor('the runner to die', () => !pidAlive(runner));
    expect(pidAlive(child)).toBe(true);
    const r = await run(dir, 'run', '--yes', '--no-wait', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('lost 001: lost (runner died)');
    await waitFor('the relaunch', () => starts(dir).length === 2);
    expect(pidAlive(child)).toBe(false);
    expect(journal(dir).filter((e) => e.to === 'failed').map((e) => e.kind)).toEqual(['lost']);
    // The relaunched agent started a child of its own: `dispatch stop` ends both (no orphan outlives the test).
    const second = Number(await waitFor('the second child', () => existsSync(pidFile) && Number(readFileSync(pidFile, 'utf8')) !== child && readFileSync(pidFile, 'utf8')));
    await waitFor('the second agent group on record', () => readStateOf(dir)?.dispatch?.running['001']?.agent);
    expect((await run(dir, 'stop', '001')).code).toBe(0);
    await waitFor('the second child to be gone', () => !pidAlive(second));
  });
});

describe('many agents that exit at once', () => {
  it('40 specs launched together, each agent done before its runner has written it down: all done, none lost', async () => {
    const specs = Array.from({ length: 40 }, (_, i) => ({ id: String(i + 1).padStart(3, '0'), name: `s${i}`, wave: 0, agent: 'now' }));
    const dir = engineProject({ specs, agents: { now: { command: ['true'], prompt: 'none' } } });
    const r = dispatch(dir, ['run', '--yes', '--no-plan'], { timeout: 120_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toBe('40 launched · 40 done · 0 failed\n');
    expect(journal(dir).filter((e) => e.kind === 'lost')).toEqual([]);
  });
});

describe('run --yes resumes after its dispatcher is killed', () => {
  it('adopts the live runners of wave 0 and carries on to wave 1', async () => {
    const dir = engineProject({
      specs: [{ id: '000', name: 'slow', wave: 0, body: 'sleep 2500\n' }, { id: '001', name: 'next', wave: 1 }],
    });
    const first = live(dir, ['run', '--yes', '--no-plan']);
    await waitFor('wave 0 to start', () => starts(dir).length === 1);
    first.child.kill('SIGKILL');
    await first.done;
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    expect(readStateOf(dir).completed.sort()).toEqual(['000', '001']);
    // 000 ran once: adopted, not relaunched.
    expect(starts(dir).map((e) => e.id)).toEqual(['000', '001']);
  });
});

describe('secrets never stay on disk', () => {
  it('the environment handed to a runner in a pane is gone after a spec without spec.md (tmux)', async () => {
    const socket = `dispatch-trust-${process.pid}`;
    // The spec.md is there at the preflight, and removed by the wave before: the launch itself fails.
    const dir = engineProject({
      specs: [{ id: '000', name: 'remover', wave: 0, body: 'remove .auto-claude/specs/001-nospec/spec.md\n' }, { id: '001', name: 'nospec', wave: 1 }],
      extra: { multiplexer: 'tmux', tmuxSocket: socket, session: 'trust' },
    });
    try {
      const r = dispatch(dir, ['run', '--yes', '--no-plan'], { env: { OPENAI_API_KEY: 'sk-test-very-secret-0451' } });
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/failed 001: no spec\.md/);
      const found = execFileSync('grep', ['-rl', 'sk-test-very-secret-0451', join(dir, '.codex')], { encoding: 'utf8' }).trim();
      expect(found).toBe('');
    } catch (err) {
      // grep exits 1 when it finds nothing: that is the pass.
      if ((err as { status?: number }).status !== 1) throw err;
    } finally {
      try {
        execFileSync('tmux', ['-L', socket, 'kill-server'], { stdio: 'ignore' });
      } catch {
        // no server
      }
    }
    expect(existsSync(join(dir, '.codex', 'runs', '001', 'env.json'))).toBe(false);
  });

  it('the env file of a runner that never started is removed when it is found lost', async () => {
    const dir = engineProject({
      specs: [{ id: '001', name: 'a', wave: 0 }],
      state: { completed: [], failed: [], skipped: [], dispatch: { version: 1, running: { '001': { pid: 0, host: hostname(), startedAt: new Date(Date.now() - 120_000).toISOString() } }, specs: { '001': { attempts: 1 } } } },
    });
    const envFile = join(dir, '.codex', 'runs', '001', 'env.json');
    mkdirSync(join(envFile, '..'), { recursive: true });
    writeFileSync(envFile, JSON.stringify({ OPENAI_API_KEY: 'sk-left' }), { mode: 0o600 });
    const s = await run(dir, 'status');
    expect(s.stderr).toContain('never started');
    expect(existsSync(envFile)).toBe(false);
  });
});

describe('ids that are JavaScript property names', () => {
  const IDS = ['constructor', '__proto__', 'toString', 'valueOf'];

  it('are pending, launch, keep their reasons, and are literal as placeholders', async () => {
    const dir = tempDir();
    engineProject({
      dir,
      specs: IDS.map((id) => ({ id, name: 'x', wave: 0, agent: 'echo' })),
      agents: { echo: { command: [NODE, join(AGENTS, 'succeed.mjs'), tracePath(dir), '{specFile}', 'id={id}', 'odd={constructor}'], prompt: 'none' } },
    });
    const list = JSON.parse((await run(dir, '--json', 'list')).stdout);
    expect(list.specs.map((s: any) => [s.id, s.state])).toEqual(IDS.map((id) => [id, 'pending']));
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(readStateOf(dir).completed.sort()).toEqual([...IDS].sort());
    const argvs = starts(dir).map((e) => e.argv!.slice(2));
    for (const id of IDS) expect(argvs).toContainEqual([`id=${id}`, 'odd={constructor}']);
    expect((await run(dir, 'mark-failed', '__proto__', '--reason', 'kept')).code).toBe(0);
    const s = JSON.parse((await run(dir, '--json', 'status')).stdout);
    expect(s.failed).toEqual([{ id: '__proto__', name: 'x', wave: 0, kind: 'manual', reason: 'kept' }]);
    expect(s.counts).toMatchObject({ done: 3, failed: 1, running: 0 });
  });
});

describe('a state file of the wrong shape', () => {
  const cases: [string, unknown, RegExp][] = [
    ['a null runner', { dispatch: { running: { '001': null } } }, /"dispatch\.running\.001" must be an object/],
    ['a runner that is a number', { dispatch: { running: { '001': 5 } } }, /"dispatch\.running\.001" must be an object/],
    ['a history that is a string', { dispatch: { specs: { '001': { history: 'abc' } } } }, /"dispatch\.specs\.001\.history" must be an array/],
    ['a reason that is a number', { dispatch: { specs: { '001': { reason: 7 } } } }, /"dispatch\.specs\.001\.reason" must be a string/],
    ['a waiting entry without a time', { dispatch: { waiting: { '001': { agent: 'codex' } } } }, /"dispatch\.waiting\.001\.until" must be a time string/],
  ];
  for (const [what, state, field] of cases) {
    it(`${what}: every command says so in one line naming the field (exit 1), the file untouched`, async () => {
      const dir = makeProject({ specs: [{ id: '001', name: 'a' }], format: 'json', state: { completed: [], failed: [], skipped: [], ...(state as object) } });
      const before = stateBytes(dir);
      for (const args of [['status'], ['list'], ['mark-done', '001'], ['run', '--yes', '--no-plan', '--mux', 'headless']]) {
        const r = await run(dir, ...args);
        expectUsageError(r, field, 1);
        expect(r.stderr).toMatch(/is corrupt .* it was left untouched — .*dispatch reset --yes/);
      }
      expect(stateBytes(dir)).toBe(before);
      // reset --yes moves it aside and starts afresh.
      const reset = await run(dir, 'reset', '--yes');
      expect(reset.code, reset.stderr).toBe(0);
      expect(reset.stderr).toMatch(/moved aside to .*dispatch-state\.json\.corrupt-/);
    });
  }

  it('a folder where the state file should be: corrupt-state error, and reset --yes moves it aside', async () => {
    const dir = makeProject({ specs: [{ id: '001', name: 'a' }], format: 'json' });
    mkdirSync(statePathOf(dir), { recursive: true });
    expectUsageError(await run(dir, 'status'), /state file .*dispatch-state\.json is corrupt \(a folder, not a file\)/, 1);
    expectUsageError(await run(dir, 'mark-done', '001'), /is corrupt \(a folder, not a file\)/, 1);
    const reset = await run(dir, 'reset', '--yes');
    expect(reset.code, reset.stderr).toBe(0);
    // Started afresh: a file now, the folder kept aside.
    expect(statSync(statePathOf(dir)).isFile()).toBe(true);
    expect(readdirSync(join(dir, '.codex')).some((n) => n.startsWith('dispatch-state.json.corrupt-'))).toBe(true);
    expect((await run(dir, 'mark-done', '001')).code).toBe(0);
  });
});

describe('what the attack on the fixes found', () => {
  it('a runner killed before its agent is in the state: the agent is still found (its run folder) and stopped', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'h', wave: 0, agent: 'hang' }], extra: { retry: { maxAttempts: 1 } } });
    expect((await run(dir, 'run', '--yes', '--no-wait', '--no-plan')).code).toBe(0);
    const runner = await waitFor('the runner', () => readStateOf(dir)?.dispatch?.running['001']?.pid);
    const agent = (await waitFor('the agent', () => starts(dir)[0]))!.pid;
    await waitFor('the agent group on record', () => readStateOf(dir)?.dispatch?.running['001']?.agent);
    process.kill(runner, 'SIGKILL');
    await waitFor('the runner to die', () => !pidAlive(runner));
    // As if it had died while waiting for the state lock, before writing its agent there.
    const doc = readStateOf(dir);
    delete doc.dispatch.running['001'].agent;
    writeFileSync(statePathOf(dir), JSON.stringify(doc));
    expect(pidAlive(agent)).toBe(true);
    const s = await run(dir, 'status');
    expect(s.stderr).toContain('001 was running but runner died');
    expect(pidAlive(agent)).toBe(false);
  });

  it('dispatch stop on a spec still launching records it at once, and its runner then starts nothing', async () => {
    const dir = engineProject({
      specs: [{ id: '001', name: 'a', wave: 0, agent: 'hang' }],
      state: { completed: [], failed: [], skipped: [], dispatch: { version: 1, running: { '001': { pid: 0, host: hostname(), startedAt: new Date().toISOString(), attempt: 1 } }, specs: { '001': { attempts: 1 } } } },
    });
    const r = await run(dir, 'stop', '001');
    expect(r.code, r.stderr).toBe(0);
    expect(readStateOf(dir).dispatch.specs['001'].kind).toBe('interrupted');
    // The runner its pane would have started, arriving late.
    const late = dispatch(dir, ['--config', join(dir, 'specs.config.json'), 'exec-spec', '--', '001']);
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/not starting 001: it is failed now/);
    expect(starts(dir)).toEqual([]);
    expect(readStateOf(dir).failed).toEqual(['001']);
  });

  it('a signal file that cannot be written: exit 1 saying the state is saved and naming the signal, the opposite one gone', async () => {
    const dir = makeProject({ specs: [{ id: '001', name: 'a' }], format: 'json', state: { completed: [], failed: [], skipped: [] } });
    const signals = join(dir, 'signals');
    expect((await run(dir, 'mark-failed', '001')).code).toBe(0);
    mkdirSync(join(signals, 'demo-done-001', 'sub'), { recursive: true });
    const r = await run(dir, 'mark-done', '001');
    expect(r.stdout).toBe('001: failed → done\n');
    expectUsageError(r, /the state is saved, but the signal file .*signals\/demo-done-001 could not be written: a folder is in the way/, 1);
    expect(readStateOf(dir).completed).toEqual(['001']);
    expect(existsSync(join(signals, 'demo-failed-001'))).toBe(false);
  });

  it('a lock file nobody can have written (empty) holds nobody: taken over at once', async () => {
    const dir = makeProject({ specs: [{ id: '001', name: 'a' }], format: 'json', state: { completed: [], failed: [], skipped: [] } });
    writeFileSync(`${statePathOf(dir)}.lock`, '');
    const t0 = Date.now();
    const r = dispatch(dir, ['mark-done', '001'], { env: { DISPATCH_LOCK_WAIT_SECONDS: '3' } });
    expect(r.code, r.stderr).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('hand-edited journal fields of the wrong shape are a corrupt state, not copied into the journal', async () => {
    for (const [dispatchPart, field] of [
      [{ seq: 1e308 }, /"dispatch\.seq" must be a whole number/],
      [{ lastEvents: [{ seq: 5, spec: { x: 1 }, from: 7 }] }, /"dispatch\.lastEvents\[0\]" must be an event/],
      [{ specs: { '001': { kind: 'bogus' } } }, /"dispatch\.specs\.001\.kind" must be one of done, agent-failed/],
      [{ specs: { '001': { history: [{ n: 1, startedAt: 'x', tokens: { total: 'lots' } }] } } }, /"dispatch\.specs\.001\.history\[0\]\.tokens" must be an object of token counts/],
    ] as const) {
      const dir = makeProject({ specs: [{ id: '001', name: 'a' }], format: 'json', state: { completed: [], failed: [], skipped: [], dispatch: { version: 1, ...dispatchPart } } });
      expectUsageError(await run(dir, 'mark-done', '001'), field, 1);
    }
  });
});

describe('links and folders where dispatch\'s files should be', () => {
  it('a dangling link or an old lock folder at the lock path is taken over once stale, never followed', async () => {
    for (const kind of ['link', 'folder'] as const) {
      const dir = makeProject({ specs: [{ id: '001', name: 'a' }], format: 'json', state: { completed: [], failed: [], skipped: [] } });
      const lock = `${statePathOf(dir)}.lock`;
      const victim = join(dir, 'victim');
      if (kind === 'link') symlinkSync(victim, lock);
      else mkdirSync(lock);
      const old = new Date(Date.now() - 120_000);
      lutimesSync(lock, old, old);
      const r = await run(dir, 'mark-done', '001');
      expect(r.code, `${kind}: ${r.stderr}`).toBe(0);
      expect(existsSync(victim)).toBe(false);
      expect(lstatSync(lock, { throwIfNoEntry: false })).toBeUndefined();
      expect(readStateOf(dir).completed).toEqual(['001']);
    }
  });

  it('a link where the journal should be: exit 1 in one line, nothing written through it, the state unchanged', async () => {
    const dir = makeProject({ specs: [{ id: '001', name: 'a' }], format: 'json', state: { completed: [], failed: [], skipped: [] } });
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, join(dir, '.codex', 'dispatch-events.jsonl'));
    const before = stateBytes(dir);
    expectUsageError(await run(dir, 'mark-done', '001'), /dispatch-events\.jsonl: a symbolic link is in the way \(dispatch does not write through links\) \(ELOOP\)/, 1);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(stateBytes(dir)).toBe(before);
  });
});

describe('long ids and refusals of the disk', () => {
  it('an id longer than 64 characters is a config error (exit 2)', async () => {
    const dir = makeProject({ specs: [{ id: 'a'.repeat(65), name: 'long' }], format: 'json', writeSpecFiles: false });
    const r = await run(dir, 'list');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/specs\[0\]\.id: at most 64 characters/);
    expect((await run(makeProject({ specs: [{ id: 'a'.repeat(64), name: 'ok' }], format: 'json' }), 'list')).code).toBe(0);
  });

  // A small filesystem of our own: as root, permission bits prove nothing, a real full or read-only mount does.
  const mountTmpfs = (sizeKb: number): string | undefined => {
    const at = tempDir('dispatch-tmpfs-');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k`, 'tmpfs', at], { stdio: 'ignore' });
      return at;
    } catch {
      return undefined;
    }
  };
  const umount = (at: string) => {
    try {
      execFileSync('umount', ['-l', at], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  };
  const canMount = (() => {
    const at = mountTmpfs(64);
    if (at) umount(at);
    return !!at;
  })();
  if (!canMount) console.warn('skipping the full-disk and read-only tests: this machine does not let the tests mount a tmpfs (needs root)');

  it.skipIf(!canMount)('a full disk: one line naming the file and ENOSPC, exit 1, state unchanged, no temp file left', async () => {
    const at = mountTmpfs(256)!;
    try {
      const dir = join(at, 'p');
      mkdirSync(dir);
      makeProject({ dir, specs: [{ id: '001', name: 'a' }, { id: '002', name: 'b' }], format: 'json', writeSpecFiles: false, state: { completed: ['001'], failed: [], skipped: [], pad: 'x'.repeat(20_000) } });
      const before = stateBytes(dir);
      // A page kept aside, then everything else filled.
      writeFileSync(join(at, 'spare'), 'x'.repeat(4096));
      try {
        execFileSync('dd', ['if=/dev/zero', `of=${join(at, 'fill')}`, 'bs=4k'], { stdio: 'ignore' });
      } catch {
        // dd stops at ENOSPC
      }
      // Not even room for the lock.
      expectUsageError(await run(dir, 'mark-done', '002'), /cannot lock .*dispatch-state\.json: no space left on the device \(ENOSPC\)/, 1);
      expect(stateBytes(dir)).toBe(before);
      // Room for the lock (one page), not for the new state: the write fails, and leaves nothing behind.
      execFileSync('rm', [join(at, 'spare')]);
      const r = await run(dir, 'mark-done', '002');
      expectUsageError(r, /cannot write .*dispatch-state\.json: no space left on the device \(ENOSPC\)/, 1);
      expect(stateBytes(dir)).toBe(before);
      expect(readdirSync(join(dir, '.codex')).filter((n) => n.endsWith('.tmp'))).toEqual([]);
      expect(existsSync(`${statePathOf(dir)}.lock`)).toBe(false);
      // Reading still works.
      expect((await run(dir, 'status')).code).toBe(0);
    } finally {
      umount(at);
    }
  });

  it.skipIf(!canMount)('a journal that cannot be appended after the state is saved: exit 0 with a warning, caught up by the next change', async () => {
    const at = tempDir('dispatch-tmpfs-');
    try {
      // So few files that the state gets written but the journal cannot be created.
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,nr_inodes=4', 'tmpfs', at]);
    } catch {
      return;
    }
    try {
      const dir = makeProject({ specs: [{ id: '001', name: 'a' }, { id: '002', name: 'b' }], format: 'json', writeSpecFiles: false, extra: { stateDir: join(at, '.codex') } });
      mkdirSync(join(at, '.codex'));
      const r = await run(dir, 'mark-done', '001');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^dispatch: warning: cannot append to .*dispatch-events\.jsonl: no space left on the device \(ENOSPC\); the change is saved/);
      expect(JSON.parse(readFileSync(join(at, '.codex', 'dispatch-state.json'), 'utf8')).completed).toEqual(['001']);
      execFileSync('mount', ['-o', 'remount,nr_inodes=100', at]);
      expect((await run(dir, 'mark-done', '002')).code).toBe(0);
      const events = readFileSync(join(at, '.codex', 'dispatch-events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(events.map((e) => [e.seq, e.spec, e.to])).toEqual([[1, '001', 'done'], [2, '002', 'done']]);
    } finally {
      umount(at);
    }
  });

  it.skipIf(!canMount)('a read-only file system: one line naming the file and EROFS, exit 1; reading still works', async () => {
    const at = mountTmpfs(1024)!;
    try {
      const dir = join(at, 'p');
      mkdirSync(dir);
      makeProject({ dir, specs: [{ id: '001', name: 'a' }], format: 'json', writeSpecFiles: false, state: { completed: [], failed: [], skipped: [] } });
      execFileSync('mount', ['-o', 'remount,ro', at]);
      const r = await run(dir, 'mark-done', '001');
      expectUsageError(r, /cannot .*dispatch-state\.json.*: the file system is read-only \(EROFS\)/, 1);
      const s = await run(dir, 'status');
      expect(s.code, s.stderr).toBe(0);
    } finally {
      umount(at);
    }
  });
});

