// Automatic retries (attempt numbers, the reason and log tail in the next prompt, maxAttempts)
// and stalls (a log not growing for stall.minutes: warn, restart, fail). Real processes.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readStateOf, tempDir, dispatchIn } from './helpers.js';
import { engineProject, expectUsageError, live, logOf, trace, waitFor } from './fixtures/engine.js';
import { agent, statusJson, historyOf, attemptLog, startsOf } from './fixtures/unattended.js';

const run = (dir: string, ...args: string[]) => dispatchIn(dir, args);

/** A custom agent running a stand-in script; the trace goes to the project's trace.jsonl (agents run in the project). */

describe('automatic retries', () => {
  it('numbers every launch once: after a retry by hand the next launch is attempt 3 everywhere (agent, log, logs --attempt), and its relaunch is retry 1 of 1', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'bad', wave: 1, agent: 'bad' }], extra: { retry: { maxAttempts: 2 } } });
    const first = await run(dir, 'run', '--yes', '--no-plan');
    expect(first.code).toBe(1);
    expect(first.stderr).toMatch(/^relaunching 001: retry 1 of 1 after: /m);
    expect(startsOf(dir, '001').map((e) => e.attempt)).toEqual(['1', '2']);
    expect((await run(dir, 'retry')).code).toBe(0);
    const second = await run(dir, 'run', '--yes', '--no-plan');
    expect(second.code).toBe(1);
    // The retry count starts afresh after 'retry'; the launch numbers go on.
    expect(second.stderr).toMatch(/^relaunching 001: retry 1 of 1 after: /m);
    expect(startsOf(dir, '001').map((e) => e.attempt)).toEqual(['1', '2', '3', '4']);
    expect(historyOf(dir, '001').map((h) => h.n)).toEqual([1, 2, 3, 4]);
    const l3 = await run(dir, 'logs', '001', '--attempt', '3');
    expect(l3.stdout).toMatch(/^── dispatch: demo 001-bad · agent bad · attempt 3 · \S+\n/);
    expect((await run(dir, 'logs', '001')).stdout).toMatch(/^── dispatch: demo 001-bad · agent bad · attempt 4 · /);
    expect(readStateOf(dir).dispatch.specs['001'].attempts).toBe(2);
  });

  it('fails once, then succeeds: relaunched with the reason and the log tail in its prompt; every attempt kept', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'flaky', wave: 1, agent: 'flaky', body: 'Make the parser tests pass.\n' }], agents: { flaky: agent('fail-once') } });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('1 launched · 1 done · 0 failed\n');
    expect(r.stderr).toContain('failed 001: agent exited with code 1: error: 3 of 12 tests failed (attempt 1)\n');
    expect(r.stderr).toContain('relaunching 001: retry 1 of 1 after: agent exited with code 1: error: 3 of 12 tests failed (attempt 1)\n');
    const [one, two] = startsOf(dir, '001');
    expect([one!.attempt, two!.attempt]).toEqual(['1', '2']);
    expect(one!.stdin).toBe('# Spec 001: flaky\n\nMake the parser tests pass.\n');
    expect(two!.stdin).toMatch(/^# Spec 001: flaky\n\nMake the parser tests pass.\n/);
    expect(two!.stdin).toContain('The previous attempt failed because: agent exited with code 1: error: 3 of 12 tests failed (attempt 1)\n');
    // The tail of its log, so the agent sees what went wrong.
    expect(two!.stdin).toMatch(/The end of its output:\n\n```\n[^`]*fail-once: FAIL parser handles empty input\n[^`]*── dispatch: 001 failed: agent exited with code 1[^`]*```/);
    const state = readStateOf(dir);
    expect(state.completed).toEqual(['001']);
    expect(state.dispatch.specs['001'].attempts).toBe(2);

    // Every attempt's log, and <id>.log the latest (the same file).
    const l1 = await run(dir, 'logs', '001', '--attempt', '1');
    expect(l1.code, l1.stderr).toBe(0);
    expect(l1.stdout).toMatch(/^── dispatch: demo 001-flaky · agent flaky · attempt 1 · \S+\n/);
    expect(l1.stdout).toContain('error: 3 of 12 tests failed (attempt 1)\n');
    expect(l1.stdout.trimEnd().split('\n').at(-1)).toBe('── dispatch: 001 failed: agent exited with code 1: error: 3 of 12 tests failed (attempt 1)');
    const l2 = await run(dir, 'logs', '001', '--attempt', '2');
    expect(l2.code, l2.stderr).toBe(0);
    expect(l2.stdout).toMatch(/^── dispatch: demo 001-flaky · agent flaky · attempt 2 · \S+\n/);
    expect(l2.stdout).toContain('fail-once: all 12 tests pass\n');
    expect(l2.stdout).not.toContain('tests failed');
    expect(l2.stdout.trimEnd().split('\n').at(-1)).toBe('── dispatch: 001 done');
    expect((await run(dir, 'logs', '001')).stdout).toBe(l2.stdout);
    expect(statSync(logOf(dir, '001')).ino).toBe(statSync(attemptLog(dir, '001', 2)).ino);
    const l9 = await run(dir, 'logs', '001', '--attempt', '9');
    expectUsageError(l9, /^dispatch: spec 001 has no attempt 9 — its attempts are 1, 2$/);
    expect(l9.stdout).toBe('');

    const j = await statusJson(dir);
    const a = j.attempts['001'];
    expect(a).toHaveLength(2);
    expect(a[0]).toMatchObject({ n: 1, state: 'failed', reason: 'agent exited with code 1: error: 3 of 12 tests failed (attempt 1)' });
    expect(a[1]).toMatchObject({ n: 2, state: 'done' });
    expect(a[1].reason).toBeUndefined();
    for (const x of a) {
      expect(typeof x.durationSeconds).toBe('number');
      expect(x.durationSeconds).toBeGreaterThanOrEqual(0);
      expect(x.durationSeconds).toBeLessThan(30);
      expect(x.durationSeconds).toBeCloseTo((Date.parse(x.endedAt) - Date.parse(x.startedAt)) / 1000, 0);
    }
    expect(a[0].runId).toBe(a[1].runId);
  });

  it('retry.maxAttempts 1: a failure is not relaunched', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'flaky', wave: 1, agent: 'flaky' }], agents: { flaky: agent('fail-once') }, extra: { retry: { maxAttempts: 1 } } });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('1 launched · 0 done · 1 failed\n  failed 001: agent exited with code 1: error: 3 of 12 tests failed (attempt 1)\n');
    expect(r.stderr).not.toMatch(/relaunching/);
    expect(startsOf(dir, '001')).toHaveLength(1);
    expect((await statusJson(dir)).attempts['001'].map((x: any) => x.n)).toEqual([1]);
    expectUsageError(await run(dir, 'logs', '001', '--attempt', '2'), /^dispatch: spec 001 has no attempt 2 — its attempts are 1$/);
  });
});

describe('stalls (log not growing for stall.minutes)', () => {
  const stallProject = (action: string, hangAttempts = '999') => {
    const dir = tempDir();
    return engineProject({
      dir,
      specs: [{ id: '001', name: 'quiet', wave: 1, agent: 'silent' }],
      agents: { silent: agent('silent-hang', [hangAttempts, join(dir, 'release')]) },
      extra: { stall: { minutes: { 1: 0.02 }, action } }, // 1.2 s
    });
  };

  it('warn: said by `run` and `status`; the agent keeps running and finishes', async () => {
    const dir = stallProject('warn');
    const p = live(dir, ['run', '--yes', '--no-plan']);
    await waitFor('run to say it is stalled', () => /^stalled 001: no output for \d+ s$/m.test(p.stderr()), 10_000);
    const s = await run(dir, 'status');
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/^ {2}001\s+quiet\s+running \d+ (s|min)\s+pid \d+\s+stalled: no output for \d+ s$/m);
    const j = await statusJson(dir);
    expect(j.running).toHaveLength(1);
    expect(j.running[0]).toMatchObject({ id: '001', stalled: true });
    expect(j.running[0].quietSeconds).toBeGreaterThanOrEqual(1);
    writeFileSync(join(dir, 'release'), '');
    const r = await p.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('1 launched · 1 done · 0 failed\n');
    expect(r.stderr.match(/^stalled 001/gm)).toHaveLength(1);
    expect(trace(dir).filter((e) => e.event === 'signal')).toEqual([]);
    expect(startsOf(dir, '001')).toHaveLength(1);
    expect(readFileSync(logOf(dir, '001'), 'utf8')).toContain('silent-hang: released\n');
  });

  it('restart: the agent is stopped and relaunched as a new attempt whose reason says it stalled', async () => {
    const dir = stallProject('restart', '1');
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('1 launched · 1 done · 0 failed\n');
    expect(r.stderr).toMatch(/^stalled 001: no output for \d+ s — restarting it$/m);
    expect(r.stderr).toMatch(/^relaunching 001: retry 1 of 1 after: stalled: no output for \d+ s \(restarting\)$/m);
    expect(trace(dir).filter((e) => e.event === 'signal').map((e) => [e.attempt, e.signal])).toEqual([['1', 'SIGTERM']]);
    expect(startsOf(dir, '001').map((e) => e.attempt)).toEqual(['1', '2']);
    expect(startsOf(dir, '001')[1]!.stdin).toMatch(/The previous attempt failed because: stalled: no output for \d+ s \(restarting\)\n/);
    const h = historyOf(dir, '001');
    expect(h.map((x) => x.state)).toEqual(['failed', 'done']);
    expect(h[0].reason).toMatch(/^stalled: no output for \d+ s \(restarting\)$/);
    expect(readStateOf(dir).completed).toEqual(['001']);
  });

  it('fail: the agent is stopped and the spec failed, not relaunched', async () => {
    const dir = stallProject('fail');
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^1 launched · 0 done · 1 failed\n {2}failed 001: stalled: no output for \d+ s\n$/);
    expect(r.stderr).toMatch(/^stalled 001: no output for \d+ s — stopping it$/m);
    expect(r.stderr).not.toMatch(/relaunching/);
    expect(trace(dir).filter((e) => e.event === 'signal').map((e) => e.signal)).toEqual(['SIGTERM']);
    expect(startsOf(dir, '001')).toHaveLength(1);
    const state = readStateOf(dir);
    expect(state.failed).toEqual(['001']);
    expect(state.dispatch.specs['001'].reason).toMatch(/^stalled: no output for \d+ s$/);
    expect(state.dispatch.running).toEqual({});
  });
});
