// Launch pacing: cooldowns by cost, batch pauses, maxParallel and sequential waves,
// measured from the launch times the stand-in agents record.
import { describe, expect, it } from 'vitest';
import { readStateOf, dispatchIn } from './helpers.js';
import {
  
  
  
  
  
  engineProject,
  
  
  launchTimes,
  
  
  maxOverlap,
  
  
  
  
  
  starts,
  
  trace,
  
  
  
} from './fixtures/engine.js';

const run = (dir: string, ...args: string[]) => dispatchIn(dir, args);

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
