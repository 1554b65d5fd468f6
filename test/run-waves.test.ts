// dispatch run end to end, headless: whole projects wave by wave, --dry-run, the confirmation,
// the run lock and selection, and bad inputs. dispatch runs in-process; its runners
// (`dispatch exec-spec`) and the stand-in agents in test/fixtures/agents are real processes.
// Judged by what a user sees: exit codes, output, the state file, the journal, the logs.
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dispatchAsync, readStateOf, tempDir, dispatchIn } from './helpers.js';
import {
  AGENTS,
  FAKE_CODEX,
  NODE,
  
  deadPid,
  engineProject,
  expectUsageError,
  
  
  lockPath,
  logOf,
  
  
  runnerArgv,
  shown,
  snapshotTree,
  stateBytes,
  starts,
  standAgent,
  trace,
  tracePath,
  
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
