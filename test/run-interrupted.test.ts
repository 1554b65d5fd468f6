// Runners that die or are stopped (SIGTERM, SIGKILL, lost), watch-handoff picking up the next
// wave, and logs and doctor around a run. Real runner and agent processes.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dispatchAsync, readStateOf, tempDir, dispatchIn } from './helpers.js';
import {
  
  FAKE_CODEX,
  
  
  deadPid,
  engineProject,
  
  journal,
  launchTimes,
  
  logOf,
  
  pidAlive,
  
  
  
  
  starts,
  
  trace,
  
  
  waitFor,
} from './fixtures/engine.js';

const run = (dir: string, ...args: string[]) => dispatchIn(dir, args);
const errLines = (s: string) => s.trimEnd().split('\n');

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
