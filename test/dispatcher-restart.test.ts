// The dispatcher killed and started again: `run` adopts live runners, relaunches lost ones,
// and watch-handoff resumes. Real runner and agent processes.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readStateOf, tempDir } from './helpers.js';
import { configPathOf, engineProject, journal, live, pidAlive, starts, waitFor } from './fixtures/engine.js';
import { agent, historyOf, startsOf } from './fixtures/unattended.js';

/** A custom agent running a stand-in script; the trace goes to the project's trace.jsonl (agents run in the project). */

/** Changes the project's JSON config in place. */
function setConfig(dir: string, change: (config: any) => void) {
  const config = JSON.parse(readFileSync(configPathOf(dir), 'utf8'));
  change(config);
  writeFileSync(configPathOf(dir), JSON.stringify(config, null, 2));
}

describe('the dispatcher dies and is started again', () => {
  const resumeProject = (specs: { id: string; name: string; wave: number; cost?: number; agent?: string }[]) => {
    const dir = tempDir();
    return engineProject({
      dir,
      specs,
      agents: { silent: agent('silent-hang', ['999', join(dir, 'release')]) },
      // Cost 1 waits 5 s after its launch: the spec after it is still pending when the dispatcher dies.
      extra: { pacing: { cooldownSeconds: { 1: 5, 2: 0, 3: 0, 4: 0 } } },
    });
  };
  /** Starts `run`, waits until `ready`, SIGKILLs the dispatcher (not its runners). */
  async function killMidWave(dir: string, args: string[], ready: () => boolean) {
    const p = live(dir, args);
    await waitFor('the wave to be under way', ready);
    const runner = readStateOf(dir).dispatch.running['002']?.pid ?? readStateOf(dir).dispatch.running['001']?.pid;
    p.child.kill('SIGKILL');
    const r = await p.done;
    expect(r.signal).toBe('SIGKILL');
    expect(pidAlive(runner)).toBe(true);
    return runner as number;
  }

  it('`run` again adopts the live runner (no second start), relaunches a lost one by the retry policy, launches what was pending, re-runs nothing done', async () => {
    const dir = resumeProject([
      { id: '001', name: 'done-before', wave: 1, cost: 2 },
      { id: '002', name: 'long', wave: 1, cost: 2, agent: 'silent' },
      { id: '003', name: 'lost', wave: 1, cost: 1, agent: 'silent' },
      { id: '004', name: 'pending', wave: 1, cost: 2 },
    ]);
    const runner = await killMidWave(dir, ['run', '--yes', '--no-plan'], () => {
      const s = readStateOf(dir);
      return !!s?.completed.includes('001') && s.dispatch.running['002']?.pid > 0 && s.dispatch.running['003']?.pid > 0 && starts(dir).length === 3;
    });
    expect(readStateOf(dir).dispatch.running['004']).toBeUndefined();
    // 003's runner dies too (and its agent with it): lost.
    const lostRunner = readStateOf(dir).dispatch.running['003'].pid;
    process.kill(lostRunner, 'SIGKILL');
    process.kill(startsOf(dir, '003')[0]!.pid, 'SIGKILL');
    await waitFor('the lost runner to be gone', () => !pidAlive(lostRunner));
    setConfig(dir, (c) => (c.pacing.cooldownSeconds = { 1: 0, 2: 0, 3: 0, 4: 0 }));
    const again = live(dir, ['run', '--yes', '--no-plan']);
    await waitFor('the pending spec to be done and the lost one relaunched', () => readStateOf(dir)?.completed.includes('004') && startsOf(dir, '003').length === 2);
    expect(readStateOf(dir).dispatch.running['002'].pid).toBe(runner);
    writeFileSync(join(dir, 'release'), '');
    const r = await again.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^dispatch: taking over a stale run lock \(pid \d+ is gone, 'run' since \S+\)$/m);
    expect(r.stderr).toContain('lost 003: lost (runner died)\n');
    // The adopted spec's verdict counts in this run's summary.
    expect(r.stdout).toBe('2 launched · 3 done · 0 failed\n');
    expect(r.stderr).toMatch(/^done 002$/m);
    expect(startsOf(dir, '001')).toHaveLength(1);
    expect(startsOf(dir, '002')).toHaveLength(1);
    expect(startsOf(dir, '003').map((e) => e.attempt)).toEqual(['1', '2']);
    expect(startsOf(dir, '004')).toHaveLength(1);
    expect(readStateOf(dir).completed.sort()).toEqual(['001', '002', '003', '004']);
    expect(historyOf(dir, '002')).toHaveLength(1);
    expect(historyOf(dir, '003').map((h) => [h.state, h.reason])).toEqual([['failed', 'lost (runner died)'], ['done', undefined]]);
    expect(journal(dir).filter((e) => e.spec === '001' && e.to === 'running')).toHaveLength(1);
  });

  it('an adopted runner that then fails fails the resumed run', async () => {
    const dir = resumeProject([
      { id: '001', name: 'long', wave: 1, cost: 1, agent: 'silent' },
      { id: '002', name: 'pending', wave: 1, cost: 1 },
    ]);
    setConfig(dir, (c) => (c.retry = { maxAttempts: 1 }));
    await killMidWave(dir, ['run', '--yes', '--no-plan'], () => readStateOf(dir)?.dispatch.running['001']?.pid > 0 && startsOf(dir, '001').length === 1);
    const again = live(dir, ['run', '--yes', '--no-plan']);
    await waitFor('the pending spec to be done', () => readStateOf(dir)?.completed.includes('002'));
    process.kill(startsOf(dir, '001')[0]!.pid, 'SIGTERM'); // the agent gives up: exit 143
    const r = await again.done;
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toBe('1 launched · 1 done · 1 failed\n  failed 001: agent exited with code 143\n');
    expect(readStateOf(dir).failed).toEqual(['001']);
  });

  it('`watch-handoff` resumes the wave whose run was killed, then starts the next wave', async () => {
    const dir = resumeProject([
      { id: '001', name: 'long', wave: 1, cost: 1, agent: 'silent' },
      { id: '002', name: 'pending', wave: 1, cost: 1 },
      { id: '003', name: 'next-wave', wave: 2, cost: 1 },
    ]);
    await killMidWave(dir, ['run', '--wave', '1', '--yes', '--no-plan'], () => readStateOf(dir)?.dispatch.running['001']?.pid > 0 && startsOf(dir, '001').length === 1);
    const w = live(dir, ['watch-handoff', '--from-wave', '1', '--to-wave', '2', '--yes', '--no-plan']);
    await waitFor('the pending spec of wave 1 to be done', () => readStateOf(dir)?.completed.includes('002'));
    expect(startsOf(dir, '003')).toEqual([]);
    writeFileSync(join(dir, 'release'), '');
    const r = await w.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('nobody is running wave 1 any more: resuming it\n');
    expect(r.stderr).toContain('wave 1 is complete: starting wave 2\n');
    expect(starts(dir).map((e) => e.id)).toEqual(['001', '002', '003']);
    expect(readStateOf(dir).completed.sort()).toEqual(['001', '002', '003']);
    expect(historyOf(dir, '001')).toHaveLength(1);
  });
});
