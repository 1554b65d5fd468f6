// The dispatch engine end to end, headless: the built bin launches real
// runner processes (`dispatch exec-spec`) that run the stand-in agents in
// test/fixtures/agents. Judged by what a user sees: exit codes, output, the
// state file, the journal, the logs, and the files the agents wrote.
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dispatchAsync, makeProject, readStateOf, ROOT, tempDir, dispatchIn } from './helpers.js';
import { commitAll } from './fixtures/git.js';
import {
  AGENTS,
  FAKE_CODEX,
  NODE,
  configPathOf,
  deadPid,
  engineProject,
  expectUsageError,
  journal,
  launchTimes,
  lockPath,
  logOf,
  maxOverlap,
  pidAlive,
  runnerArgv,
  shown,
  snapshotTree,
  stateBytes,
  starts,
  standAgent,
  trace,
  tracePath,
  track,
  waitFor,
} from './fixtures/engine.js';

const run = (dir: string, ...args: string[]) => dispatchIn(dir, args);
const errLines = (s: string) => s.trimEnd().split('\n');

describe('run: a whole project', () => {
  it('runs every wave in order with zero cooldowns; later waves see earlier waves\' work', async () => {
    const dir = engineProject({
      specs: [
        { id: '001', name: 'models', wave: 1, body: 'write out/models.txt models v1\n' },
        { id: '002', name: 'schema', wave: 1, cost: 2, body: 'write out/schema.txt schema v1\n' },
        { id: '003', name: 'api', wave: 2, dependsOn: ['001', '002'], body: 'need out/models.txt\nneed out/schema.txt\nwrite out/api.txt api v1\n' },
        { id: '004', name: 'ui', wave: 3, dependsOn: ['003'], body: 'need out/api.txt\nwrite out/ui.txt ui v1\n' },
      ],
    });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('4 launched · 4 done · 0 failed\n');
    // Waves announced in order, one line per launch and per verdict (not a terminal: no live table).
    const waveLines = errLines(r.stderr).filter((l) => l.startsWith('wave '));
    expect(waveLines).toEqual(['wave 1: launching 2 specs in headless', 'wave 2: launching 1 spec in headless', 'wave 3: launching 1 spec in headless']);
    expect(r.stderr).toMatch(/^launched 001 \(pid \d+\)$/m);
    expect(r.stderr).toMatch(/^done 004$/m);

    const state = readStateOf(dir);
    expect([...state.completed].sort()).toEqual(['001', '002', '003', '004']);
    expect(state.failed).toEqual([]);
    expect(state.dispatch.running).toEqual({});
    for (const [f, text] of [['models', 'models v1'], ['schema', 'schema v1'], ['api', 'api v1'], ['ui', 'ui v1']]) {
      expect(readFileSync(join(dir, 'out', `${f}.txt`), 'utf8')).toBe(`${text}\n`);
    }
    // Wave 2 started only after both wave-1 agents had ended; wave 3 after wave 2.
    const t = trace(dir);
    const at = (id: string, ev: string) => t.find((e) => e.id === id && e.event === ev)!.t;
    expect(at('003', 'start')).toBeGreaterThanOrEqual(Math.max(at('001', 'end'), at('002', 'end')));
    expect(at('004', 'start')).toBeGreaterThanOrEqual(at('003', 'end'));
    // Each agent got the prompt on stdin, its id and attempt, and ran in the project.
    const s1 = t.find((e) => e.id === '001' && e.event === 'start')!;
    expect(s1.stdin).toBe('# Spec 001: models\n\nwrite out/models.txt models v1\n');
    expect(s1.attempt).toBe('1');
    expect(s1.cwd).toBe(dir);
    // Logs and signal files, as the original tool left them.
    const log = readFileSync(logOf(dir, '001'), 'utf8');
    expect(log).toMatch(/^── dispatch: demo 001-models · agent ok · attempt 1 · \S+\n/);
    expect(log).toContain('succeed: working on 001\n');
    expect(log.trimEnd().split('\n').at(-1)).toBe('── dispatch: 001 done');
    expect(readdirSync(join(dir, 'signals')).sort()).toEqual(['demo-done-001', 'demo-done-002', 'demo-done-003', 'demo-done-004']);
    expect(existsSync(lockPath(dir))).toBe(false);
  });

  it('a failing spec fails the run (exit 1, listed with its reason) and the next wave is not started', async () => {
    const dir = engineProject({
      specs: [
        { id: '001', name: 'good', wave: 1, body: 'write out/good.txt ok\n' },
        { id: '002', name: 'broken', wave: 1, agent: 'bad' },
        { id: '003', name: 'later', wave: 2, dependsOn: ['001'], body: 'write out/later.txt ok\n' },
      ],
    });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('2 launched · 1 done · 1 failed\n  failed 002: agent exited with code 3: fail: cannot build 002\n');
    expect(r.stderr).toMatch(/^failed 002: agent exited with code 3: fail: cannot build 002$/m);
    // The blocked message names the spec that holds wave 2 back, and how to go on.
    const last = errLines(r.stderr).at(-1)!;
    expect(last).toMatch(/^dispatch: wave 2 cannot start: 002 \(wave 1: failed — agent exited with code 3: fail: cannot build 002\) — .*dispatch retry/);
    expect(r.stderr).not.toMatch(/^wave 2:/m);
    expect(r.stderr).not.toMatch(/^\s+at /m);

    const state = readStateOf(dir);
    expect(state.completed).toEqual(['001']);
    expect(state.failed).toEqual(['002']);
    expect(state.dispatch.specs['002'].reason).toBe('agent exited with code 3: fail: cannot build 002');
    // The retry policy (retry.maxAttempts, default 2) relaunched it once, telling the agent why.
    expect(starts(dir).map((e) => e.id).sort()).toEqual(['001', '002', '002']);
    expect(r.stderr).toMatch(/^relaunching 002: retry 1 of 1 after: agent exited with code 3/m);
    expect(starts(dir).filter((e) => e.id === '002')[1]!.stdin).toContain('The previous attempt failed because: agent exited with code 3: fail: cannot build 002');
    expect(state.dispatch.specs['002'].attempts).toBe(2);
    expect(existsSync(join(dir, 'out', 'later.txt'))).toBe(false);
    expect(readFileSync(join(dir, 'signals', 'demo-failed-002'), 'utf8')).toContain('code 3');
    expect(readFileSync(logOf(dir, '002'), 'utf8')).toContain('fail: cannot build 002\n');
  });

  it('a Codex-style agent whose turn failed is failed with the message even though it exited 0', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'tf', wave: 1, agent: 'tf' }] });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('  failed 001: turn.failed: stream disconnected before completion\n');
    const state = readStateOf(dir);
    expect(state.failed).toEqual(['001']);
    expect(state.dispatch.specs['001'].reason).toBe('turn.failed: stream disconnected before completion');
    expect(trace(dir).find((e) => e.event === 'end')!.code).toBe(0);
  });

  it('the same output from an agent not declared codexEvents is not parsed: exit 0 means done', async () => {
    const dir = engineProject({
      specs: [{ id: '001', name: 'plain', wave: 1, agent: 'plain' }],
      agents: { plain: standAgent('', 'turn-failed', ['ignored'], { codexEvents: false }) },
    });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(readStateOf(dir).completed).toEqual(['001']);
  });
});

describe('run: the codex agent', () => {
  const codexProject = (specs: { id: string; name: string; cost?: number; body?: string }[], codex: Record<string, unknown> = {}) =>
    engineProject({
      specs: specs.map((s) => ({ wave: 1, agent: 'codex', ...s })),
      agents: { codex: { bin: FAKE_CODEX, env: { CODEX_FAKE_TRACE: '' }, ...codex } },
    });
  const codexTrace = (dir: string) => (existsSync(join(dir, 'codex.jsonl')) ? readFileSync(join(dir, 'codex.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
  const withTrace = (dir: string) => {
    const cfg = JSON.parse(readFileSync(configPathOf(dir), 'utf8'));
    cfg.agents.codex.env.CODEX_FAKE_TRACE = join(dir, 'codex.jsonl');
    writeFileSync(configPathOf(dir), JSON.stringify(cfg));
    return dir;
  };

  it('gets exactly `exec -s workspace-write -m <model> -c model_reasoning_effort=<effort> --json -o <file> -` and the prompt on stdin', async () => {
    const dir = withTrace(codexProject([
      { id: '001', name: 'one', cost: 1, body: 'write out/one.txt 1\n' },
      { id: '002', name: 'four', cost: 4, body: 'write out/four.txt 4\n' },
    ]));
    writeFileSync(join(dir, '.auto-claude/specs/002-four/plan.md'), '1. write the file\n');
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const calls = codexTrace(dir);
    const of = (id: string) => calls.find((c) => c.id === id)!;
    expect(of('001').argv).toEqual(['exec', '-s', 'workspace-write', '-m', 'gpt-5.3-codex', '-c', 'model_reasoning_effort=low', '--json', '-o', join(dir, '.codex/runs/001/last-message.md'), '-']);
    expect(of('002').argv).toContain('model_reasoning_effort=xhigh');
    expect(of('001').cwd).toBe(dir);
    // spec.md, then plan.md when there is one.
    expect(of('001').prompt).toBe('# Spec 001: one\n\nwrite out/one.txt 1\n');
    expect(of('002').prompt).toMatch(/^# Spec 002: four\n\nwrite out\/four.txt 4\n\n---\n\n# Implementation plan[^\n]*\n\n1\. write the file\n$/);
    expect(readFileSync(join(dir, '.codex/runs/001/last-message.md'), 'utf8')).toBe('Done with spec 001.\n');
    expect(readFileSync(join(dir, 'out/four.txt'), 'utf8')).toBe('4\n');
    // The JSONL stream is in the log.
    expect(readFileSync(logOf(dir, '001'), 'utf8')).toContain('{"type":"turn.completed"');
  });

  it('a failed turn (exit 1) keeps codex\'s message as the reason', async () => {
    const dir = codexProject([{ id: '001', name: 'nomodel', body: 'codex-fail The model x does not exist\n' }]);
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('  failed 001: turn.failed: The model x does not exist\n');
    expect(readStateOf(dir).dispatch.specs['001'].reason).toBe('turn.failed: The model x does not exist');
  });

  it('extraArgs reach codex; one it rejects (the removed --full-auto) fails the spec with codex\'s error', async () => {
    const dir = codexProject([{ id: '001', name: 'x', body: 'write out/x.txt x\n' }], { extraArgs: ['--full-auto'] });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    const reason = readStateOf(dir).dispatch.specs['001'].reason as string;
    // The error line, not clap's closing "For more information, try '--help'.".
    expect(reason).toBe("agent exited with code 2: error: unexpected argument '--full-auto' found");
    expect(existsSync(join(dir, 'out/x.txt'))).toBe(false);
  });

  it('a missing codex binary is named before anything launches, with how to install it', async () => {
    const bin = join(tempDir(), 'no-codex-here');
    const dir = codexProject([{ id: '001', name: 'x' }], { bin });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(errLines(r.stderr)).toEqual([`dispatch: '${bin}' is not an executable file (used by 001) — npm install -g @openai/codex, or set agents.codex.bin`]);
    expect(readStateOf(dir)).toBeUndefined();
  });
});

describe('run: the Auto-Claude agent', () => {
  /** The stand-in Auto-Claude checkout (test/fixtures/auto-claude): run.py behaves as v2.7.5's does where dispatch depends on it. */
  const fakeAutoClaude = () => join(ROOT, 'test', 'fixtures', 'auto-claude');
  const acTrace = (dir: string) => readFileSync(join(dir, 'ac.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

  it('runs run.py --spec <id> --project-dir <project> --auto-continue --direct|--isolated [extra] with stdin from /dev/null', async () => {
    const acDir = fakeAutoClaude();
    const dir = engineProject({
      specs: [{ id: '001', name: 'direct', wave: 1, agent: 'ac' }, { id: '002', name: 'iso', wave: 1, agent: 'ac', mode: 'isolated' }],
      agents: { ac: { python: NODE, dir: acDir, extraArgs: ['--model', 'opus'], env: { AC_TRACE: '' } } },
    });
    const cfg = JSON.parse(readFileSync(configPathOf(dir), 'utf8'));
    cfg.agents.ac.env.AC_TRACE = join(dir, 'ac.jsonl');
    writeFileSync(configPathOf(dir), JSON.stringify(cfg));
    // Auto-Claude's --isolated builds in a git worktree of its own: the project must have a commit.
    commitAll(dir, ['ac.jsonl']);
    const runPy = join(acDir, 'apps', 'backend', 'run.py');
    const dry = await run(dir, 'run', '--dry-run');
    expect(dry.stdout).toContain(`    agent: ${shown([NODE, runPy, '--spec', '001-direct', '--project-dir', dir, '--auto-continue', '--direct', '--force', '--model', 'opus'])}\n`);
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const calls = acTrace(dir).sort((a, b) => a.argv[1].localeCompare(b.argv[1]));
    expect(calls.map((c) => c.argv)).toEqual([
      ['--spec', '001-direct', '--project-dir', dir, '--auto-continue', '--direct', '--force', '--model', 'opus'],
      // Auto-Claude isolates itself: no dispatch worktree.
      ['--spec', '002-iso', '--project-dir', dir, '--auto-continue', '--isolated', '--force', '--model', 'opus'],
    ]);
    expect(calls.every((c) => c.cwd === dir && c.stdin === '')).toBe(true);
    expect(readStateOf(dir).completed.sort()).toEqual(['001', '002']);
    expect(existsSync(join(dir, '.codex', 'worktrees'))).toBe(false);
  });

  it('an isolated Auto-Claude spec awaits merge; `dispatch merge` calls its --merge, then the next wave may start', async () => {
    const acDir = fakeAutoClaude();
    const dir = engineProject({
      specs: [{ id: '001', name: 'iso', wave: 1, agent: 'ac', mode: 'isolated' }, { id: '002', name: 'next', wave: 2, dependsOn: ['001'] }],
      agents: { ac: { python: NODE, dir: acDir, env: { AC_TRACE: '' } } },
    });
    const cfg = JSON.parse(readFileSync(configPathOf(dir), 'utf8'));
    cfg.agents.ac.env.AC_TRACE = join(dir, 'ac.jsonl');
    writeFileSync(configPathOf(dir), JSON.stringify(cfg));
    commitAll(dir, ['ac.jsonl']);
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(errLines(r.stderr).at(-1)).toMatch(/^dispatch: wave 2 cannot start: 001 \(wave 1: awaiting merge\) — merge isolated specs with 'dispatch merge <id>'/);
    expect(starts(dir)).toEqual([]);
    const m = await run(dir, 'merge', '001');
    expect(m.code, m.stderr).toBe(0);
    expect(acTrace(dir).at(-1).argv).toEqual(['--spec', '001-iso', '--project-dir', dir, '--merge']);
    expect(readStateOf(dir).dispatch.specs['001'].awaitingMerge).toBeUndefined();
    const next = await run(dir, 'run', '--yes', '--no-plan');
    expect(next.code, next.stderr).toBe(0);
    expect(starts(dir).map((e) => e.id)).toEqual(['002']);
  });

  it('a failing run.py fails the spec with its error line', async () => {
    const dir = engineProject({
      specs: [{ id: '001', name: 'x', wave: 1, agent: 'ac' }],
      agents: { ac: { python: NODE, dir: fakeAutoClaude(), env: { AC_FAIL: 'Error: No OAuth token found' } } },
    });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    // Auto-Claude prints its errors on stdout (print()): the reason comes from there.
    expect(readStateOf(dir).dispatch.specs['001'].reason).toBe('agent exited with code 1: Error: No OAuth token found');
  });

  it('passes --force by default (the spec table is the approval); agents.ac.force false lets its review block the build', async () => {
    const specs = [{ id: '001', name: 'x', wave: 1, agent: 'ac' }];
    const ok = engineProject({ specs, agents: { ac: { python: NODE, dir: fakeAutoClaude() } } });
    expect((await run(ok, 'run', '--yes', '--no-plan')).code).toBe(0);
    const blocked = engineProject({ specs, agents: { ac: { python: NODE, dir: fakeAutoClaude(), force: false } }, extra: { retry: { maxAttempts: 1 } } });
    expect((await run(blocked, 'run', '--yes', '--no-plan')).code).toBe(1);
    expect(readStateOf(blocked).dispatch.specs['001'].reason).toMatch(/^agent exited with code 1: .*--force/);
  });

  it('--spec gets the exact folder: with 090-alpha and 090-zeta present, spec 090-zeta builds 090-zeta', async () => {
    const dir = engineProject({
      specs: [{ id: '090', name: 'zeta', wave: 1, agent: 'ac' }],
      agents: { ac: { python: NODE, dir: fakeAutoClaude(), env: { AC_TRACE: '' } } },
    });
    mkdirSync(join(dir, '.auto-claude', 'specs', '090-alpha'));
    writeFileSync(join(dir, '.auto-claude', 'specs', '090-alpha', 'spec.md'), '# alpha\n');
    const cfg = JSON.parse(readFileSync(configPathOf(dir), 'utf8'));
    cfg.agents.ac.env.AC_TRACE = join(dir, 'ac.jsonl');
    writeFileSync(configPathOf(dir), JSON.stringify(cfg));
    expect((await run(dir, 'run', '--yes', '--no-plan')).code).toBe(0);
    expect(acTrace(dir)[0].argv.slice(0, 2)).toEqual(['--spec', '090-zeta']);
    expect(existsSync(join(dir, '.auto-claude', 'specs', '090-zeta', 'implementation_plan.json'))).toBe(true);
    expect(existsSync(join(dir, '.auto-claude', 'specs', '090-alpha', 'implementation_plan.json'))).toBe(false);
  });

  it("exits 0 without QA's sign-off: that is verify-failed, with QA's reason; a build whose QA never ran is too", async () => {
    for (const [qa, expected] of [
      ['rejected', "Auto-Claude's QA did not sign the work off (qa_signoff.status: rejected): login form accepts an empty password"],
      ['none', "Auto-Claude's QA did not sign the work off (qa_signoff.status: missing)"],
    ] as const) {
      const dir = engineProject({
        specs: [{ id: '001', name: 'x', wave: 1, agent: 'ac' }],
        agents: { ac: { python: NODE, dir: fakeAutoClaude(), env: { AC_QA: qa, AC_QA_ISSUE: 'login form accepts an empty password' } } },
        extra: { retry: { maxAttempts: 1 } },
      });
      const r = await run(dir, 'run', '--yes', '--no-plan');
      expect(r.code, qa).toBe(1);
      const rec = readStateOf(dir).dispatch.specs['001'];
      expect(rec, qa).toMatchObject({ kind: 'verify-failed', reason: expected });
      expect(rec.history[0].qa).toBe(qa === 'none' ? 'missing' : qa);
    }
  });

  it('an ac spec with a specsDir other than .auto-claude/specs is a config error (exit 2)', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'x', wave: 1, agent: 'ac' }], extra: { specsDir: 'specs' } });
    const r = await run(dir, 'list');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/"ac" reads its specs only from \.auto-claude\/specs, but specsDir is "specs"/);
  });
});

describe('run: pacing', () => {
  it('waits the cooldown of each launched spec\'s cost before the next launch, in table order', async () => {
    const dir = engineProject({
      specs: [
        { id: '001', name: 'a', wave: 1, cost: 1 },
        { id: '002', name: 'b', wave: 1, cost: 2 },
        { id: '003', name: 'c', wave: 1, cost: 1 },
      ],
      extra: { pacing: { cooldownSeconds: { 1: 1, 2: 0, 3: 0, 4: 0 } } },
    });
    const r = await run(dir, 'run', '--wave', '1', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    const l = launchTimes(dir);
    expect(l.map((x) => x.spec)).toEqual(['001', '002', '003']);
    const why = JSON.stringify(l);
    expect(l[1]!.t - l[0]!.t, why).toBeGreaterThanOrEqual(1000); // cost 1: 1 s
    expect(l[2]!.t - l[1]!.t, why).toBeLessThan(1000); // cost 2: no cooldown
    expect(starts(dir)).toHaveLength(3);
  });

  it('pauses after every `every` launches from `fromWave` on', async () => {
    const specs = ['001', '002', '003', '004'].map((id) => ({ id, name: `s${id}`, wave: 1 }));
    const dir = engineProject({ specs, extra: { pacing: { batch: { every: 2, pauseSeconds: 1, fromWave: 0 } } } });
    const dry = await run(dir, 'run', '--wave', '1', '--dry-run');
    expect(dry.stdout).toContain('wave 1 — 4 launches, pacing 1 s\n');
    expect(dry.stdout).toContain('  t+0 s  002-s002 (cost 1, ok) → wait 1 s incl. batch pause\n');
    const r = await run(dir, 'run', '--wave', '1', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    const l = launchTimes(dir);
    expect(l.map((x) => x.spec)).toEqual(['001', '002', '003', '004']);
    const gaps = l.slice(1).map((x, i) => x.t - l[i]!.t);
    expect(gaps[0], String(gaps)).toBeLessThan(1000);
    expect(gaps[1], String(gaps)).toBeGreaterThanOrEqual(1000);
    expect(gaps[2], String(gaps)).toBeLessThan(1000);
  });

  it('no batch pause on waves before fromWave', async () => {
    const specs = ['001', '002', '003'].map((id) => ({ id, name: `s${id}`, wave: 1 }));
    const dir = engineProject({ specs, extra: { pacing: { batch: { every: 1, pauseSeconds: 5, fromWave: 2 } } } });
    const started = Date.now();
    const r = await run(dir, 'run', '--wave', '1', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('maxParallel caps the specs running at once', async () => {
    const specs = ['001', '002', '003', '004', '005'].map((id) => ({ id, name: `s${id}`, wave: 1, body: 'sleep 1000\n' }));
    const dir = engineProject({ specs, extra: { pacing: { maxParallel: 2 } } });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    expect(readStateOf(dir).completed).toHaveLength(5);
    expect(maxOverlap(dir)).toBe(2);
  });

  it('without maxParallel the same wave runs side by side', async () => {
    const specs = ['001', '002', '003'].map((id) => ({ id, name: `s${id}`, wave: 1, body: 'sleep 1500\n' }));
    const dir = engineProject({ specs });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    expect(maxOverlap(dir)).toBe(3);
  });

  it('a sequential wave runs one spec at a time, in order', async () => {
    const specs = ['001', '002', '003'].map((id) => ({ id, name: `s${id}`, wave: 1, body: 'sleep 300\n' }));
    const dir = engineProject({ specs, extra: { waves: { '1': { sequential: true } } } });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('wave 1: launching 3 specs in headless (sequential)');
    expect(maxOverlap(dir)).toBe(1);
    const t = trace(dir);
    expect(t.map((e) => `${e.event} ${e.id}`)).toEqual(['start 001', 'end 001', 'start 002', 'end 002', 'start 003', 'end 003']);
  });
});

describe('run: --dry-run', () => {
  it('prints the exact runner and agent commands and the schedule, and changes nothing', async () => {
    const dir = engineProject({
      specs: [
        { id: '001', name: 'a', wave: 1, cost: 2 },
        { id: '002', name: 'b', wave: 1, agent: 'codex' },
        { id: '003', name: 'c', wave: 2, dependsOn: ['001'] },
      ],
      extra: { pacing: { cooldownSeconds: { 1: 15, 2: 30, 3: 60, 4: 90 } } },
      state: { completed: [], failed: [], skipped: [], notes: 'keep me' },
    });
    // `codex` as the config names it, found on PATH.
    const bin = tempDir('bin-');
    symlinkSync(FAKE_CODEX, join(bin, 'codex'));
    const before = snapshotTree(dir);
    const r = await dispatchIn(dir, ['run', '--dry-run'], { env: { PATH: `${bin}:${process.env.PATH}` } });
    expect(r.code, r.stderr).toBe(0);
    const spec1 = join(dir, '.auto-claude/specs/001-a/spec.md');
    expect(r.stdout).toBe(
      [
        'wave 1 — 2 launches, pacing 30 s',
        '  t+0 s  001-a (cost 2, ok) → wait 30 s',
        `    headless: ${shown(runnerArgv(dir, '001'))}`,
        `    agent: ${shown([NODE, join(AGENTS, 'succeed.mjs'), tracePath(dir), spec1])}`,
        '  t+30 s  002-b (cost 1, codex)',
        `    headless: ${shown(runnerArgv(dir, '002'))}`,
        `    agent: codex exec -s workspace-write -m gpt-5.3-codex -c model_reasoning_effort=low --json -o ${join(dir, '.codex/runs/002/last-message.md')} -`,
        'wave 2 — 1 launch, pacing 0 s',
        '  t+0 s  003-c (cost 1, ok)',
        `    headless: ${shown(runnerArgv(dir, '003'))}`,
        `    agent: ${shown([NODE, join(AGENTS, 'succeed.mjs'), tracePath(dir), join(dir, '.auto-claude/specs/003-c/spec.md')])}`,
        'checks',
        '  ok    multiplexer  headless (background processes; output in .codex/logs)',
        '  ok    spec files   3 specs to launch, each with its spec.md',
        `  ok    ok           ${NODE} (used by 001, 003)`,
        `  ok    codex        ${join(bin, 'codex')} (used by 002)`,
        '',
      ].join('\n'),
    );
    expect(r.stderr).toBe('dry run: nothing launched, no state changed\n');
    expect(snapshotTree(dir)).toEqual(before);
    expect(trace(dir)).toEqual([]);
  });

  it('--json dry run is machine-readable', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1 }] });
    const r = await run(dir, '--json', 'run', '--dry-run');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.multiplexer).toBe('headless');
    expect(j.waves[0].launches[0]).toMatchObject({ id: '001', pane: 'demo-001', cwd: dir, mux: [runnerArgv(dir, '001')] });
    expect(readStateOf(dir)).toBeUndefined();
  });
});

describe('run: confirmation, lock, selection', () => {
  it('refuses without --yes when not on a terminal (exit 2) and launches nothing', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1, body: 'write out/a.txt a\n' }] });
    const r = await run(dir, 'run', '--no-plan');
    expectUsageError(r, /refusing to launch agents without --yes when not on a terminal — add --yes/);
    expect(r.stdout).toBe('');
    expect(readStateOf(dir)).toBeUndefined();
    expect(existsSync(lockPath(dir))).toBe(false);
    expect(trace(dir)).toEqual([]);
  });

  it('a second run while one is live is refused, naming the holder\'s pid; the first finishes normally', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'slow', wave: 1, body: 'sleep 2500\n' }, { id: '002', name: 'next', wave: 2, dependsOn: ['001'] }] });
    const first = dispatchAsync(dir, ['run', '--yes', '--no-plan']);
    const lock = await waitFor('the run lock', () => existsSync(lockPath(dir)) && JSON.parse(readFileSync(lockPath(dir), 'utf8')));
    await waitFor('001 to start', () => starts(dir).length > 0);
    const before = stateBytes(dir);
    const second = await run(dir, 'run', '--yes', '--no-plan');
    expect(second.code).toBe(1);
    expect(errLines(second.stderr)).toHaveLength(1);
    expect(second.stderr).toContain(`dispatch: another dispatch holds the run lock: pid ${lock.pid} on ${hostname()}, 'run', since ${lock.started}`);
    expect(stateBytes(dir)).toBe(before);
    const r = await first;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('2 launched · 2 done · 0 failed\n');
    expect(existsSync(lockPath(dir))).toBe(false);
    expect(starts(dir).map((e) => e.id)).toEqual(['001', '002']);
  });

  it('a lock left by a dead process is reported and taken over', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1 }] });
    const pid = deadPid();
    mkdirSync(join(dir, '.codex'), { recursive: true });
    writeFileSync(lockPath(dir), JSON.stringify({ pid, host: hostname(), command: 'run --wave 1', wave: 1, started: '2026-01-01T00:00:00.000Z' }));
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`dispatch: taking over a stale run lock (pid ${pid} is gone, 'run --wave 1' since 2026-01-01T00:00:00.000Z)\n`);
    expect(readStateOf(dir).completed).toEqual(['001']);
    expect(existsSync(lockPath(dir))).toBe(false);
  });

  it('--spec ID launches just that spec', async () => {
    const dir = engineProject({ specs: ['001', '002', '003'].map((id) => ({ id, name: `s${id}`, wave: 1 })) });
    const r = await run(dir, 'run', '--spec', '002', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('1 launched · 1 done · 0 failed\n');
    expect(starts(dir).map((e) => e.id)).toEqual(['002']);
    expect(readStateOf(dir).completed).toEqual(['002']);
  });

  it('--spec of a spec whose dependency is not done is blocked, naming the dependency', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1 }, { id: '002', name: 'b', wave: 2, dependsOn: ['001'] }] });
    const r = await run(dir, 'run', '--spec', '002', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(errLines(r.stderr).at(-1)).toMatch(/^dispatch: wave 2 cannot start: 001 \(wave 1: pending\)/);
    expect(trace(dir)).toEqual([]);
  });

  it('--wave N runs only that wave', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1 }, { id: '002', name: 'b', wave: 2 }] });
    const r = await run(dir, 'run', '--wave', '1', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    expect(starts(dir).map((e) => e.id)).toEqual(['001']);
    expect(readStateOf(dir).completed).toEqual(['001']);
  });

  it('--no-wait returns after the last launch; the runner carries on and records the verdict', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1, body: 'sleep 1200\nwrite out/a.txt a\n' }] });
    const r = await run(dir, 'run', '--yes', '--no-wait', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('1 launched · 0 done · 0 failed · 1 still running\n');
    expect(r.stderr).toMatch(/^not waiting: 001 still running in the background; follow them with 'dispatch status' or 'dispatch logs <id>'$/m);
    expect(readStateOf(dir).dispatch.running['001']).toBeDefined();
    expect(existsSync(lockPath(dir))).toBe(false);
    await waitFor('001 to be done', () => readStateOf(dir)?.completed.includes('001'));
    expect(readFileSync(join(dir, 'out/a.txt'), 'utf8')).toBe('a\n');
  });

  it('nothing to launch is said, exit 0, no state written', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1 }], state: { completed: ['001'], failed: [], skipped: [] } });
    const before = stateBytes(dir);
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/nothing to launch/);
    expect(stateBytes(dir)).toBe(before);
  });
});

describe('the runner dies or is stopped', () => {
  it('a runner stopped (SIGTERM) mid-run stops its agent and marks the spec failed as interrupted', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'h', wave: 1, agent: 'hang' }] });
    const p = dispatchAsync(dir, ['run', '--yes', '--no-plan']);
    await waitFor('the agent to start', () => starts(dir).length > 0);
    const runner = await waitFor('the runner pid', () => readStateOf(dir)?.dispatch?.running['001']?.pid);
    process.kill(runner, 'SIGTERM');
    const r = await p;
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('  failed 001: interrupted (SIGTERM)\n');
    const state = readStateOf(dir);
    expect(state.failed).toEqual(['001']);
    expect(state.dispatch.specs['001'].reason).toMatch(/interrupted/);
    // The agent was stopped, not left behind.
    expect(trace(dir).find((e) => e.event === 'signal')?.signal).toBe('SIGTERM');
    await waitFor('the agent to be gone', () => !pidAlive(starts(dir)[0]!.pid));
    expect(readFileSync(logOf(dir, '001'), 'utf8')).toContain('── dispatch: 001 failed: interrupted (SIGTERM)');
  });

  it('a runner SIGKILLed is found lost: `dispatch status` stops its orphaned agent and marks it failed "lost (runner died)"', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'h', wave: 1, agent: 'hang' }, { id: '002', name: 'n', wave: 2 }] });
    const r = await run(dir, 'run', '--wave', '1', '--yes', '--no-wait', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    const runner = await waitFor('the runner pid', () => readStateOf(dir)?.dispatch?.running['001']?.pid);
    await waitFor('the agent to start', () => starts(dir).length > 0);
    // The runner records its agent's process group before anything else happens.
    const group = await waitFor('the agent group on record', () => readStateOf(dir)?.dispatch?.running['001']?.agent);
    const agent = starts(dir)[0]!.pid;
    expect(group.pgid).toBe(agent);
    process.kill(runner, 'SIGKILL');
    await waitFor('the runner to die', () => !pidAlive(runner));
    // Orphaned, the agent still runs: nothing but dispatch knows it is there.
    expect(pidAlive(agent)).toBe(true);
    const s = await run(dir, 'status');
    expect(s.code).toBe(0);
    expect(s.stderr).toBe('dispatch: 001 was running but runner died: marked failed\n');
    // The orphan was stopped before the spec was marked (and so before anything could relaunch it).
    expect(pidAlive(agent)).toBe(false);
    expect(trace(dir).find((e) => e.event === 'signal')?.signal).toBe('SIGTERM');
    expect(s.stdout).toMatch(/^demo: 0 done · 1 failed · 0 running · 1 pending · 0 skipped/);
    expect(s.stdout).toMatch(/^\s+001\s+h\s+wave 1\s+lost\s+lost \(runner died\)$/m);
    const state = readStateOf(dir);
    expect(state.failed).toEqual(['001']);
    expect(state.dispatch.specs['001'].reason).toBe('lost (runner died)');
    expect(state.dispatch.running).toEqual({});
    expect(state.dispatch.specs['001'].kind).toBe('lost');
    expect(readFileSync(join(dir, 'signals', 'demo-failed-001'), 'utf8')).toBe('lost (runner died)\n');
    // Said once: the next status has nothing more to reap.
    expect((await run(dir, 'status')).stderr).toBe('');
  });

  it('`dispatch run` finds a lost runner, marks it failed and does not start the next wave', async () => {
    // maxAttempts 1: a lost runner is not relaunched (the retry policy is tested on its own).
    const dir = engineProject({ specs: [{ id: '001', name: 'h', wave: 1, agent: 'hang' }, { id: '002', name: 'n', wave: 2 }], extra: { retry: { maxAttempts: 1 } } });
    expect((await run(dir, 'run', '--wave', '1', '--yes', '--no-wait', '--no-plan')).code).toBe(0);
    const runner = await waitFor('the runner pid', () => readStateOf(dir)?.dispatch?.running['001']?.pid);
    await waitFor('the agent to start', () => starts(dir).length > 0);
    process.kill(runner, 'SIGKILL');
    await waitFor('the runner to die', () => !pidAlive(runner));
    process.kill(starts(dir)[0]!.pid, 'SIGKILL');
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('lost 001: lost (runner died)\n');
    expect(errLines(r.stderr).at(-1)).toMatch(/^dispatch: wave 2 cannot start: 001 \(wave 1: failed — lost \(runner died\)\)/);
    const state = readStateOf(dir);
    expect(state.failed).toEqual(['001']);
    expect(state.dispatch.running).toEqual({});
    expect(journal(dir).at(-1)).toMatchObject({ spec: '001', from: 'running', to: 'failed', reason: 'lost (runner died)' });
    expect(starts(dir).map((e) => e.id)).toEqual(['001']);
  });
});

describe('spec names reach the agent as literal strings, never through a shell', () => {
  const NASTY = `it's "quoted" $(touch pwned); echo owned > owned \`touch pwned\``;

  it('a name with spaces, quotes, $() and ; in a folder whose path has them too', async () => {
    const parent = tempDir(`dispatch test $(touch pwned); 'q" `);
    const dir = engineProject({
      dir: parent,
      specs: [{ id: '001', name: NASTY, wave: 1, agent: 'echo', body: 'write out/ok.txt fine\n' }],
      agents: { echo: { command: [NODE, join(AGENTS, 'succeed.mjs'), tracePath(parent), '{specFile}', '{name}', '{id}', '{cwd}', '{specDir}', 'x {name} y'], prompt: 'stdin' } },
    });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const s = starts(dir)[0]!;
    const specDir = join(dir, '.auto-claude', 'specs', `001-${NASTY}`);
    expect(s.argv).toEqual([tracePath(dir), join(specDir, 'spec.md'), NASTY, '001', dir, specDir, `x ${NASTY} y`]);
    expect(s.stdin).toBe(`# Spec 001: ${NASTY}\n\nwrite out/ok.txt fine\n`);
    expect(readFileSync(join(dir, 'out/ok.txt'), 'utf8')).toBe('fine\n');
    for (const where of [dir, tmpdir(), ROOT, homedir(), process.cwd()]) {
      expect(existsSync(join(where, 'pwned')), where).toBe(false);
      expect(existsSync(join(where, 'owned')), where).toBe(false);
    }
  });

  it('an id with shell characters is refused by the config (exit 2) and runs nothing', async () => {
    const dir = track(makeProject({ format: 'json', specs: [{ id: '001;touch pwned', name: 'x', wave: 1, agent: 'codex' }], extra: { multiplexer: 'headless' } }));
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/specs\[0\]\.id/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
    expect(readStateOf(dir)).toBeUndefined();
  });
});

describe('watch-handoff', () => {
  const handoffProject = () =>
    engineProject({
      specs: [
        { id: '001', name: 'a', wave: 1 },
        { id: '002', name: 'b', wave: 1 },
        { id: '003', name: 'c', wave: 2, dependsOn: ['001'], body: 'write out/c.txt c\n' },
      ],
    });

  it('starts wave B within a second of wave A completing', async () => {
    const dir = handoffProject();
    expect((await run(dir, 'mark-done', '001')).code).toBe(0);
    const p = dispatchAsync(dir, ['watch-handoff', '--from-wave', '1', '--to-wave', '2', '--yes', '--no-plan']);
    await new Promise((r) => setTimeout(r, 1200));
    expect(starts(dir)).toEqual([]); // still waiting for 002
    expect((await run(dir, 'mark-done', '002')).code).toBe(0);
    const doneAt = Date.parse(journal(dir).find((e) => e.spec === '002' && e.to === 'done').time);
    const r = await p;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('wave 1 is complete: starting wave 2\n');
    expect(r.stdout).toBe('1 launched · 1 done · 0 failed\n');
    const launch = launchTimes(dir).find((l) => l.spec === '003')!;
    expect(launch.t - doneAt).toBeGreaterThanOrEqual(0);
    expect(launch.t - doneAt).toBeLessThan(1000);
    expect(readFileSync(join(dir, 'out/c.txt'), 'utf8')).toBe('c\n');
  });

  it('a failure in wave A is said once and it keeps waiting; a retry that ends done lets wave B start', async () => {
    const dir = handoffProject();
    expect((await run(dir, 'mark-done', '001')).code).toBe(0);
    const p = dispatchAsync(dir, ['watch-handoff', '--from-wave', '1', '--to-wave', '2', '--yes', '--no-plan']);
    await new Promise((r) => setTimeout(r, 400));
    expect((await run(dir, 'mark-failed', '002', '--reason', 'pane died')).code).toBe(0);
    await new Promise((r) => setTimeout(r, 900));
    expect((await run(dir, 'mark-done', '002')).code).toBe(0);
    const r = await p;
    expect(r.code, r.stderr).toBe(0);
    const said = r.stderr.split('\n').filter((l) => l.includes('002 failed (pane died)'));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/still waiting/);
    expect(starts(dir).map((e) => e.id)).toEqual(['003']);
  });

  it('--stop-on-failure exits 1 when a spec of wave A fails, and wave B never starts', async () => {
    const dir = handoffProject();
    const p = dispatchAsync(dir, ['watch-handoff', '--from-wave', '1', '--to-wave', '2', '--yes', '--stop-on-failure', '--no-plan']);
    await new Promise((r) => setTimeout(r, 400));
    expect((await run(dir, 'mark-failed', '001')).code).toBe(0);
    const r = await p;
    expect(r.code).toBe(1);
    expect(errLines(r.stderr).at(-1)).toMatch(/^dispatch: wave 1 has failed specs; not starting wave 2 — /);
    expect(starts(dir)).toEqual([]);
    expect(readStateOf(dir).dispatch.running).toEqual({});
  });

  it('finds lost runners of wave A while it waits', async () => {
    const pid = deadPid();
    const dir = engineProject({
      specs: [{ id: '001', name: 'a', wave: 1 }, { id: '002', name: 'b', wave: 2 }],
      state: { completed: [], failed: [], skipped: [], dispatch: { version: 1, running: { '001': { pid, host: hostname(), startedAt: new Date().toISOString(), pane: 'pid:1' } }, specs: {} } },
    });
    const r = await dispatchAsync(dir, ['watch-handoff', '--from-wave', '1', '--to-wave', '2', '--yes', '--stop-on-failure', '--no-plan']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('lost runners marked failed: 001\n');
    expect(readStateOf(dir).dispatch.specs['001'].reason).toBe('lost (runner died)');
  });
});

describe('logs and doctor', () => {
  it('`logs <id>` prints the spec\'s log; --follow follows a running spec to its end', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1, body: 'sleep 800\n' }, { id: '002', name: 'b', wave: 1 }] });
    const none = await run(dir, 'logs', '002');
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^dispatch: no log for spec 002 yet/);
    expect((await run(dir, 'run', '--spec', '001', '--yes', '--no-wait', '--no-plan')).code).toBe(0);
    const f = await dispatchAsync(dir, ['logs', '001', '--follow']);
    expect(f.code).toBe(0);
    expect(f.stdout).toMatch(/^── dispatch: demo 001-a · agent ok · attempt 1 · /);
    expect(f.stdout).toContain('succeed: all done\n── dispatch: 001 done\n');
    const l = await run(dir, 'logs', '001');
    expect(l.code).toBe(0);
    expect(l.stdout).toBe(readFileSync(logOf(dir, '001'), 'utf8'));
  });

  it('doctor (headless): one line per check, exit 0 with only warnings', async () => {
    const dir = engineProject({
      specs: [{ id: '001', name: 'a', wave: 1, agent: 'codex' }],
      agents: { codex: { bin: FAKE_CODEX } },
      extra: { planner: { host: 'http://127.0.0.1:9' } },
    });
    const r = await run(dir, 'doctor');
    expect(r.code, r.stdout).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ok\s+node\s+v\d+/);
    expect(lines).toContain('ok    multiplexer  headless (background processes; output in .codex/logs)');
    expect(lines).toContain('ok    codex        codex-cli 0.171.0 (model gpt-5.3-codex)');
    expect(lines.find((l) => l.includes('ollama'))).toMatch(/^warn\s+ollama\s+cannot reach Ollama at http:\/\/127\.0\.0\.1:9 — run 'ollama serve'/);
  });

  it('doctor fails (exit 1) naming the fix when an agent is missing', async () => {
    const dir = engineProject({
      specs: [{ id: '001', name: 'a', wave: 1, agent: 'codex' }, { id: '002', name: 'b', wave: 1, agent: 'ac' }],
      agents: { codex: { bin: join(tempDir(), 'nope-codex') }, ac: { dir: join(tempDir(), 'no-auto-claude') } },
      extra: { planner: { host: 'http://127.0.0.1:9' } },
    });
    const r = await run(dir, 'doctor');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAIL\s+codex\s+'.*nope-codex' is not an executable file \(used by 001\) — npm install -g @openai\/codex, or set agents.codex.bin$/m);
    expect(r.stdout).toMatch(/^FAIL\s+auto-claude\s+no .*no-auto-claude\/apps\/backend\/run\.py \(used by 002\) — /m);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});

describe('bad inputs: exit 2, one line, no stack, nothing changed', () => {
  const dirWithState = () =>
    engineProject({
      specs: [{ id: '001', name: 'a', wave: 1 }, { id: '002', name: 'b', wave: 2 }],
      state: { completed: ['001'], failed: [], skipped: [], notes: 'keep' },
    });
  const cases: [string, string[], RegExp][] = [
    ['run --wave 99', ['run', '--wave', '99', '--yes', '--no-plan'], /there is no wave 99 — the waves are 1, 2/],
    ['run --spec nope', ['run', '--spec', 'nope', '--yes', '--no-plan'], /unknown spec id 'nope'/],
    ['--mux bogus', ['run', '--mux', 'bogus', '--yes', '--no-plan'], /bogus/],
    ['watch-handoff without --to-wave', ['watch-handoff', '--from-wave', '1', '--yes'], /--to-wave/],
    ['watch-handoff to an earlier wave', ['watch-handoff', '--from-wave', '2', '--to-wave', '1', '--yes'], /--to-wave \(1\) must come after --from-wave \(2\)/],
    ['watch-handoff without --yes off a terminal', ['watch-handoff', '--from-wave', '1', '--to-wave', '2', '--no-plan'], /refusing to hand off without --yes when not on a terminal/],
    ['merge of a direct spec', ['merge', '001'], /spec 001 is not isolated/],
    ['logs of an unknown id', ['logs', 'nope'], /unknown spec id 'nope'/],
    ['exec-spec of an unknown id', ['exec-spec', 'nope'], /unknown spec id 'nope'/],
  ];
  for (const [title, args, what] of cases) {
    it(title, async () => {
      const dir = dirWithState();
      const before = snapshotTree(dir);
      const r = await run(dir, ...args);
      expectUsageError(r, what);
      expect(r.stdout).toBe('');
      expect(snapshotTree(dir)).toEqual(before);
      expect(trace(dir)).toEqual([]);
    });
  }

});
