// Decisions made by hand while a run works (skip, mark-done, mark-failed, a spec taken
// out of the table) are final for that run: the built CLI with real runners in headless
// mode, and agents that wait on a gate file so the decision lands while they work.
import { describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dispatchAsync, readStateOf, dispatchIn } from './helpers.js';
import { AGENTS, configPathOf, engineProject, journal, NODE, starts, trace, tracePath, waitFor } from './fixtures/engine.js';

const run = (dir: string, ...args: string[]) => dispatchIn(dir, args);

/** A project whose `gate` agent works until the test writes gates/<id> (or gates/all). */
function gatedProject(specs: Parameters<typeof engineProject>[0]['specs'], extra: Record<string, unknown> = {}) {
  const dir = engineProject({ specs, extra, agents: {} });
  const gates = join(dir, 'gates');
  mkdirSync(gates);
  const cfg = JSON.parse(readFileSync(configPathOf(dir), 'utf8'));
  cfg.agents.gate = { command: [NODE, join(AGENTS, 'gate.mjs'), tracePath(dir), gates], prompt: 'none' };
  writeFileSync(configPathOf(dir), JSON.stringify(cfg, null, 2));
  return { dir, open: (id = 'all') => writeFileSync(join(gates, id), '') };
}

/** Specs the run marked running: launches, from the journal. */
const launched = (dir: string) => journal(dir).filter((e) => e.to === 'running' && e.command === 'run').map((e) => e.spec as string);
const started = (dir: string) => starts(dir).map((e) => e.id);
const agentStarted = (dir: string, id: string) => waitFor(`${id}'s agent to start`, () => starts(dir).some((e) => e.id === id), 20_000);

describe('decisions by hand during an eager run', () => {
  it('skip, mark-done and mark-failed on waiting specs are honoured: none is launched, and each counts for its dependents as its state says', async () => {
    const { dir, open } = gatedProject(
      [
        { id: '001', name: 'first', wave: 0, agent: 'gate' },
        { id: '002', name: 'skipped', dependsOn: ['001'] },
        { id: '003', name: 'done-by-hand', dependsOn: ['001'] },
        { id: '004', name: 'failed-by-hand', dependsOn: ['001'] },
        { id: '005', name: 'after-done', dependsOn: ['003'] },
        { id: '006', name: 'after-failed', dependsOn: ['004'] },
        { id: '007', name: 'after-skipped', dependsOn: ['002'] },
      ],
      { schedule: 'eager', retry: { maxAttempts: 1 } },
    );
    const p = dispatchAsync(dir, ['run', '--yes', '--no-plan']);
    await agentStarted(dir, '001');
    expect((await run(dir, 'skip', '002')).code).toBe(0);
    expect((await run(dir, 'mark-done', '003')).code).toBe(0);
    expect((await run(dir, 'mark-failed', '004', '--reason', 'not wanted')).code).toBe(0);
    open();
    const r = await p;
    // 006 waits on 004, failed by hand: the run ends blocked, naming it.
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('006 (waits for 004: failed — not wanted)');
    // Each decision is said once, as what it is.
    expect(r.stderr.split('\n').filter((l) => l.startsWith('not launched'))).toEqual([
      'not launched 002: it is skipped now, decided while it waited',
      'not launched 003: it is done now, decided while it waited',
      'not launched 004: it is failed now, decided while it waited',
    ]);
    expect(launched(dir).sort()).toEqual(['001', '005', '007']);
    expect(started(dir).sort()).toEqual(['001', '005', '007']);
    expect(journal(dir).filter((e) => ['002', '003', '004'].includes(e.spec) && e.to === 'running')).toEqual([]);
    const s = readStateOf(dir);
    expect(s.completed.sort()).toEqual(['001', '003', '005', '007']);
    expect(s.skipped).toEqual(['002']);
    expect(s.failed).toEqual(['004']);
    expect(s.dispatch.specs['004']).toMatchObject({ reason: 'not wanted', kind: 'manual' });
    expect(s.dispatch.running).toEqual({});
  });

  it('a retry waiting for its cooldown is not relaunched once the spec is marked done by hand; its dependent then starts', async () => {
    const { dir, open } = gatedProject(
      [
        { id: '001', name: 'flaky', wave: 0, agent: 'gate', cost: 2 },
        { id: '002', name: 'after', dependsOn: ['001'] },
      ],
      { schedule: 'eager', retry: { maxAttempts: 3 }, pacing: { cooldownSeconds: { 1: 0, 2: 6, 3: 0, 4: 0 } } },
    );
    writeFileSync(join(dir, 'gates', '001.exit'), '1');
    open('001');
    const p = dispatchAsync(dir, ['run', '--yes', '--no-plan']);
    await waitFor('001 to fail once', () => readStateOf(dir)?.failed?.includes('001'), 20_000);
    expect((await run(dir, 'mark-done', '001')).code).toBe(0);
    const r = await p;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('relaunching 001: retry 1 of 2');
    expect(starts(dir).filter((e) => e.id === '001')).toHaveLength(1);
    expect(journal(dir).filter((e) => e.spec === '001' && e.to === 'running')).toHaveLength(1);
    expect(started(dir)).toEqual(['001', '002']);
    expect(readStateOf(dir).completed.sort()).toEqual(['001', '002']);
  });

  it('a spec taken out of the table while it waits is not launched: said once, and the run does not wait for a runner', async () => {
    const { dir, open } = gatedProject(
      [
        { id: '001', name: 'first', wave: 0, agent: 'gate' },
        { id: '002', name: 'removed', dependsOn: ['001'] },
        { id: '003', name: 'kept', dependsOn: ['001'] },
      ],
      { schedule: 'eager', startTimeoutSeconds: 60 },
    );
    const p = dispatchAsync(dir, ['run', '--yes', '--no-plan']);
    await agentStarted(dir, '001');
    const cfg = JSON.parse(readFileSync(configPathOf(dir), 'utf8'));
    cfg.specs = cfg.specs.filter((s: { id: string }) => s.id !== '002');
    writeFileSync(configPathOf(dir), JSON.stringify(cfg, null, 2));
    const t0 = Date.now();
    open();
    const r = await p;
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.split('\n').filter((l) => l.includes('002'))).toEqual([`not launched 002: it is no longer in ${configPathOf(dir)}`]);
    expect(r.stderr).not.toContain('lost');
    expect(launched(dir).sort()).toEqual(['001', '003']);
    expect(readStateOf(dir).completed.sort()).toEqual(['001', '003']);
    expect(trace(dir).some((e) => e.id === '002')).toBe(false);
  });
});

describe('decisions by hand during a run by waves', () => {
  it('a spec of the running wave skipped before its turn is not launched', async () => {
    const { dir, open } = gatedProject(
      [
        { id: '001', name: 'first', wave: 0, agent: 'gate' },
        { id: '002', name: 'second', wave: 0 },
        { id: '003', name: 'next-wave', wave: 1 },
      ],
      { schedule: 'waves', pacing: { maxParallel: 1 } },
    );
    const p = dispatchAsync(dir, ['run', '--yes', '--no-plan']);
    await agentStarted(dir, '001');
    expect((await run(dir, 'skip', '002')).code).toBe(0);
    open();
    const r = await p;
    expect(r.code, r.stderr).toBe(0);
    expect(launched(dir)).toEqual(['001', '003']);
    const s = readStateOf(dir);
    expect(s.skipped).toEqual(['002']);
    expect(s.completed.sort()).toEqual(['001', '003']);
  });
});
