// Eager scheduling and `dispatch simulate` through the built CLI: real runners
// and stand-in agents in headless mode, real git for merge: 'auto'. The exact
// timing rules are tested on a simulated clock in schedule-eager.unit.test.ts; these
// check what a user sees: who started before whom, what blocked what, the exit code.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readStateOf, dispatchIn } from './helpers.js';
import { engineProject, journal, trace, configPathOf } from './fixtures/engine.js';
import { commitAll, git, gitOk, GIT_ENV } from './fixtures/git.js';

const run = (dir: string, ...args: string[]) => dispatchIn(dir, args);

/** Two roots of very different lengths, each with a dependent in the next wave. */
function skewedProject(extra: Record<string, unknown> = {}) {
  return engineProject({
    specs: [
      { id: '001', name: 'long', wave: 0, body: 'sleep 3000\n' },
      { id: '002', name: 'short', wave: 0, body: 'sleep 50\n' },
      { id: '003', name: 'after-short', dependsOn: ['002'], body: 'sleep 50\n' },
      { id: '004', name: 'after-long', dependsOn: ['001'], body: 'sleep 50\n' },
    ],
    extra,
  });
}

const at = (dir: string, id: string, event: 'start' | 'end') => trace(dir).find((e) => e.id === id && e.event === event)?.t;

describe('run --schedule eager', () => {
  it("starts a spec when its own dependencies are done, not when its wave's slowest spec is", async () => {
    const dir = skewedProject();
    const r = await run(dir, 'run', '--yes', '--no-plan', '--schedule', 'eager');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('4 launched · 4 done · 0 failed\n');
    expect(r.stderr).toContain('eager: 4 specs in headless, each launched as soon as its dependencies are complete');
    // 003 started (and ended) while 001 was still at work; 004 only after 001.
    expect(at(dir, '003', 'end')!).toBeLessThan(at(dir, '001', 'end')!);
    expect(at(dir, '004', 'start')!).toBeGreaterThanOrEqual(at(dir, '001', 'end')!);
    expect(readStateOf(dir).completed.sort()).toEqual(['001', '002', '003', '004']);
    // The run's timeline is in the journal beside the spec events, numbered with them.
    const ev = journal(dir);
    expect(ev.map((e) => e.seq)).toEqual(ev.map((_, i) => i + 1));
    expect(ev[0]).toMatchObject({ event: 'run-start', schedule: 'eager', specs: 4 });
    expect(ev.at(-1)).toMatchObject({ event: 'run-end', outcome: 'done', done: 4, failed: 0 });
  });

  it('the config key schedule: eager does the same, and --schedule waves overrides it for one run', async () => {
    const dir = skewedProject({ schedule: 'waves' });
    const cfg = JSON.parse(readFileSync(configPathOf(dir), 'utf8'));
    writeFileSync(configPathOf(dir), JSON.stringify({ ...cfg, schedule: 'eager' }));
    expect((await run(dir, 'run', '--yes', '--no-plan', '--schedule', 'waves')).code).toBe(0);
    // Waves: 003 waited for the whole of wave 0.
    expect(at(dir, '003', 'start')!).toBeGreaterThanOrEqual(at(dir, '001', 'end')!);
  });

  it('a failure blocks only its dependents; the run ends naming them and what blocks them, exit 1', async () => {
    const dir = engineProject({
      specs: [
        { id: '001', name: 'broken', wave: 0, agent: 'bad' },
        { id: '002', name: 'fine', wave: 0 },
        { id: '003', name: 'needs-broken', dependsOn: ['001'] },
        { id: '004', name: 'needs-needs', dependsOn: ['003'] },
        { id: '005', name: 'needs-fine', dependsOn: ['002'] },
      ],
      extra: { retry: { maxAttempts: 1 }, schedule: 'eager' },
    });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('3 launched · 2 done · 1 failed\n');
    expect(r.stderr).toContain('dispatch: 2 specs blocked: 003 (waits for 001: failed — agent exited with code 3: fail: cannot build 001), 004 (waits for 001: failed — agent exited with code 3: fail: cannot build 001)');
    expect(r.stderr).toContain("retry failed specs with 'dispatch retry'");
    expect(r.stderr).not.toContain('at ');
    const s = readStateOf(dir);
    expect(s.completed.sort()).toEqual(['002', '005']);
    expect(s.failed).toEqual(['001']);
    expect(trace(dir).filter((e) => e.event === 'start').map((e) => e.id).sort()).toEqual(['001', '002', '005']);
  });

  it('--dry-run prints the launch order and what each spec waits for, and changes nothing', async () => {
    const dir = skewedProject();
    const r = await run(dir, 'run', '--dry-run', '--schedule', 'eager');
    expect(r.code).toBe(0);
    const order = r.stdout.split('\n').filter((l) => /^ {2}\d+\. t\+/.test(l));
    expect(order.map((l) => /(\d{3})-/.exec(l)?.[1])).toEqual(['001', '002', '003', '004']);
    expect(order[2]).toContain('after 002');
    expect(order[0]).toContain('ready now');
    expect(r.stdout).toContain('eager launch order');
    expect(readStateOf(dir)).toBeUndefined();
    const j = JSON.parse((await run(dir, '--json', 'run', '--dry-run', '--schedule', 'eager')).stdout);
    expect(j.schedule).toBe('eager');
    expect(j.eager.order.map((o: { id: string }) => o.id)).toEqual(['001', '002', '003', '004']);
    expect(j.eager.order[2]).toMatchObject({ id: '003', waitsFor: ['002'] });
  });

  it('rejects a schedule it does not know, exit 2, nothing launched', async () => {
    const dir = skewedProject();
    const r = await run(dir, 'run', '--yes', '--schedule', 'greedy');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/argument 'greedy' is invalid\. Allowed choices are waves, eager/);
    expect(readStateOf(dir)).toBeUndefined();
    const bad = engineProject({ specs: [{ id: '001', name: 'x', wave: 0 }], extra: { schedule: 'fast' } });
    const c = await run(bad, 'run', '--yes');
    expect(c.code).toBe(2);
    expect(c.stderr).toContain('schedule');
  });
});

describe('dispatch simulate', () => {
  it('prints each spec\'s start and end, the makespan, the critical path and the lower bound; --json gives the same', async () => {
    const dir = skewedProject({ estimateMinutes: { 1: 10 } });
    const r = await run(dir, 'simulate', '--schedule', 'eager', '--durations', 'cost');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/makespan {5}20 min — 1\.00× the lower bound/);
    expect(r.stdout).toContain('lower bound  20 min (critical path)');
    expect(r.stdout).toContain('critical path 001 → 004 (20 min)');
    const waves = await run(dir, '--json', 'simulate', '--schedule', 'waves', '--durations', 'cost');
    const j = JSON.parse(waves.stdout);
    expect(j.schedule).toBe('waves');
    expect(j.makespanMs).toBe(20 * 60_000);
    expect(j.specs.find((s: { id: string }) => s.id === '003')).toMatchObject({ startMs: 10 * 60_000, waitsFor: ['002'] });
    expect(readStateOf(dir)).toBeUndefined();
  });

  it('after a run, takes durations from the history; a finished project says so, and --all replays it', async () => {
    const dir = skewedProject();
    expect((await run(dir, 'run', '--yes', '--no-plan')).code).toBe(0);
    const done = await run(dir, 'simulate');
    expect(done.code).toBe(0);
    expect(done.stderr).toContain('nothing to simulate: every spec is complete (--all replays the whole table)');
    const all = JSON.parse((await run(dir, '--json', 'simulate', '--all', '--schedule', 'eager')).stdout);
    expect(all.specs.every((s: { estimateFrom: string }) => s.estimateFrom === 'history')).toBe(true);
    // 001 slept 3 s: the critical path goes through it.
    expect(all.criticalPath.ids).toEqual(['001', '004']);
    expect(all.makespanMs).toBeGreaterThanOrEqual(3000);
  });

  it('rejects bad options with exit 2', async () => {
    const dir = skewedProject();
    for (const args of [['simulate', '--durations', 'guess'], ['simulate', '--schedule', 'x'], ['simulate', 'extra']]) {
      const r = await run(dir, ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.split('\n').filter(Boolean).length, r.stderr).toBeLessThanOrEqual(3);
    }
  });
});

describe("merge: 'auto' with real git", () => {
  function repo(conflict: boolean) {
    const dir = engineProject({
      specs: [
        { id: '001', name: 'iso', wave: 0, mode: 'isolated', body: `sleep 1500\nwrite shared.txt from-iso\n` },
        { id: '002', name: 'next', dependsOn: ['001'], body: 'need shared.txt\n' },
        // The project moves on under the worktree (conflict: the same line, committed while 001 works).
        { id: '003', name: 'free', wave: 0, ...(conflict ? { agent: 'committer' } : { body: 'write free.txt ok\n' }) },
      ],
      extra: { merge: 'auto', schedule: 'eager' },
      agents: { committer: { command: ['sh', '-c', 'echo "changed in the project" > shared.txt && git commit -qam "project change"'], prompt: 'none' } },
    });
    writeFileSync(join(dir, 'shared.txt'), 'base\n');
    commitAll(dir);
    return dir;
  }

  it('merges a done isolated spec as soon as it is done, and its dependent starts on the merged tree', async () => {
    const dir = repo(false);
    const r = await dispatchIn(dir, ['run', '--yes', '--no-plan'], { env: GIT_ENV });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('merged 001 into the project (merge: auto)');
    expect(readFileSync(join(dir, 'shared.txt'), 'utf8')).toBe('from-iso\n');
    const s = readStateOf(dir);
    expect(s.completed.sort()).toEqual(['001', '002', '003']);
    expect(s.dispatch.specs['001'].awaitingMerge).toBeUndefined();
    expect(s.dispatch.specs['001'].merged.branch).toBe('dispatch/001');
    expect(gitOk(dir, 'rev-parse', '--verify', '--quiet', 'refs/heads/dispatch/001')).toBe(false);
  });

  it('a conflict stops that spec as merge-conflict with its worktree and branch kept; only its dependent waits', async () => {
    const dir = repo(true);
    const r = await dispatchIn(dir, ['run', '--yes', '--no-plan'], { env: GIT_ENV });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('not merged 001: merging dispatch/001 conflicts in shared.txt');
    expect(r.stdout).toContain('2 launched · 1 done · 1 failed\n');
    expect(r.stderr).toContain('1 spec blocked: 002 (waits for 001: failed — merging dispatch/001 conflicts in shared.txt');
    const s = readStateOf(dir);
    expect(s.failed).toEqual(['001']);
    expect(s.dispatch.specs['001'].kind).toBe('merge-conflict');
    expect(s.completed).toEqual(['003']);
    expect(gitOk(dir, 'rev-parse', '--verify', '--quiet', 'refs/heads/dispatch/001')).toBe(true);
    expect(existsSync(join(dir, '.codex', 'worktrees', '001', 'shared.txt'))).toBe(true);
    // The project's tree is as it was: the merge was aborted.
    expect(readFileSync(join(dir, 'shared.txt'), 'utf8')).toBe('changed in the project\n');
    expect(git(dir, 'status', '--porcelain', '--untracked-files=no')).toBe('');
  });
});
