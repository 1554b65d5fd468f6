// Token usage Codex reports (status --usage, --json) and the budgets that stop launches.
import { describe, expect, it } from 'vitest';
import { readStateOf, dispatchIn } from './helpers.js';
import { engineProject, starts, trace } from './fixtures/engine.js';
import { agent, CODEX, statusJson } from './fixtures/unattended.js';

const run = (dir: string, ...args: string[]) => dispatchIn(dir, args);
const errLines = (s: string) => s.trimEnd().split('\n');

/** A custom agent running a stand-in script; the trace goes to the project's trace.jsonl (agents run in the project). */

describe('token usage and budgets', () => {
  it('a failed Codex turn reports no usage: the earlier turns are kept, and status --usage says the figure is a lower bound', async () => {
    const dir = engineProject({
      specs: [{ id: '001', name: 'a', wave: 1, agent: 'ok120' }, { id: '002', name: 'b', wave: 1, agent: 'half' }],
      agents: { ok120: agent('usage', ['100', '20'], CODEX), half: agent('usage', ['20', '10', '1', '0', 'fail'], CODEX) },
      extra: { retry: { maxAttempts: 1 } },
    });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(readStateOf(dir).dispatch.specs['002'].history[0].tokens).toEqual({ input: 20, cachedInput: 10, output: 10, total: 30, lowerBound: true });
    const j = await statusJson(dir);
    expect(j.usage.lowerBound).toEqual({ total: true, specs: ['002'], waves: ['1'] });
    expect(j.attempts['002'][0]).toMatchObject({ tokens: 30, tokensLowerBound: true });
    expect(j.attempts['001'][0].tokensLowerBound).toBeUndefined();
    const usage = (await run(dir, 'status', '--usage')).stdout;
    expect(usage).toMatch(/^token usage: ≥ 150 in total$/m);
    expect(usage).toMatch(/^ {2}001\s+120$/m);
    expect(usage).toMatch(/^ {2}002\s+≥ 30$/m);
    expect(usage).toContain('≥: a failed Codex turn reports no usage; those figures count only the turns before it');
  });

  it('`status --usage` and `status --json` show the tokens Codex reported, per spec, wave and run', async () => {
    const dir = engineProject({
      specs: [
        { id: '001', name: 'a', wave: 1, agent: 'u120' },
        { id: '002', name: 'b', wave: 1, agent: 'u110' },
        { id: '003', name: 'c', wave: 2, agent: 'u40' },
      ],
      agents: {
        u120: agent('usage', ['100', '20'], CODEX),
        u110: agent('usage', ['50', '5', '2'], CODEX), // two turns
        u40: agent('usage', ['30', '10'], CODEX),
      },
    });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('3 launched · 3 done · 0 failed · 270 tokens\n');
    const j = await statusJson(dir);
    const runId = j.attempts['001'][0].runId;
    expect(runId).toMatch(/^run-/);
    expect(j.usage).toEqual({ total: 270, bySpec: { '001': 120, '002': 110, '003': 40 }, byWave: { '1': 230, '2': 40 }, byRun: [{ runId, startedAt: expect.any(String), tokens: 270 }], lowerBound: { total: false, specs: [], waves: [] } });
    expect(j.attempts['002'][0].tokens).toBe(110);
    expect(readStateOf(dir).dispatch.specs['002'].history[0].tokens).toEqual({ input: 100, cachedInput: 50, output: 10, total: 110 });
    const s = await run(dir, 'status', '--usage');
    expect(s.code).toBe(0);
    const usage = s.stdout.slice(s.stdout.indexOf('token usage'));
    expect(usage).toMatch(/^token usage: 270 in total\n/);
    expect(usage).toMatch(/^ {2}001\s+120$/m);
    expect(usage).toMatch(/^ {2}002\s+110$/m);
    expect(usage).toMatch(/^ {2}003\s+40$/m);
    expect(usage).toMatch(/^ {2}1\s+230$/m);
    expect(usage).toMatch(/^ {2}2\s+40$/m);
    // The run's start to the minute, not a raw ISO time.
    expect(usage).toMatch(new RegExp(`^ {2}${runId}\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d\\s+270$`, 'm'));
    expect((await run(dir, 'status')).stdout).not.toContain('token usage');
  });

  it('a budget crossed mid-wave: nothing new launches, running specs finish, exit 1 naming the budget; --budget overrides it once', async () => {
    const dir = engineProject({
      specs: [
        { id: '001', name: 'big', wave: 1, cost: 2, agent: 'u150' },
        { id: '002', name: 'slow', wave: 1, cost: 1, agent: 'slow' },
        { id: '003', name: 'queued', wave: 1, cost: 2, agent: 'u150' },
        { id: '004', name: 'next-wave', wave: 2, cost: 2, agent: 'u150' },
      ],
      agents: { u150: agent('usage', ['120', '30'], CODEX), slow: agent('usage', ['10', '5', '1', '2000'], CODEX) },
      // 002 (cost 1) holds the next launch back 3 s; 001's 150 tokens cross the budget well before.
      extra: { budget: { tokensPerRun: 100 }, pacing: { cooldownSeconds: { 1: 3, 2: 0, 3: 0, 4: 0 } } },
    });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('2 launched · 2 done · 0 failed · 165 tokens\n');
    expect(r.stderr).toContain('budget: token budget reached: 150 tokens used of 100 per run — no new specs launch; running ones finish\n');
    expect(errLines(r.stderr).at(-1)).toBe('dispatch: token budget reached: 150 tokens used of 100 per run — raise budget.tokensPerRun / tokensPerWave, or pass --budget <tokens> to allow more this once');
    expect(starts(dir).map((e) => e.id).sort()).toEqual(['001', '002']);
    // The running spec finished after the budget was crossed.
    const end = (id: string) => trace(dir).find((e) => e.id === id && e.event === 'end')!.t;
    expect(end('002')).toBeGreaterThan(end('001') + 1000);
    const state = readStateOf(dir);
    expect(state.completed.sort()).toEqual(['001', '002']);
    expect(state.dispatch.specs['003']).toBeUndefined();

    // 300 tokens: over the configured 100, within --budget 1000.
    const more = await run(dir, 'run', '--yes', '--no-plan', '--budget', '1000');
    expect(more.code, more.stderr).toBe(0);
    expect(more.stdout).toBe('2 launched · 2 done · 0 failed · 300 tokens\n');
    expect(more.stderr).not.toMatch(/budget/);
    expect(starts(dir).map((e) => e.id).sort()).toEqual(['001', '002', '003', '004']);
    expect((await statusJson(dir)).usage.byRun.map((x: any) => x.tokens)).toEqual([165, 300]);
  });

  it('a wave budget stops launches in that wave only once crossed, and the run stops there', async () => {
    const dir = engineProject({
      specs: [
        { id: '001', name: 'big', wave: 1, cost: 2, agent: 'u150' },
        { id: '002', name: 'queued', wave: 1, cost: 1, agent: 'u150' },
        { id: '003', name: 'next-wave', wave: 2, cost: 2, agent: 'u150' },
      ],
      agents: { u150: agent('usage', ['120', '30'], CODEX) },
      // 001 (cost 2) holds the next launch back 2 s; its 150 tokens cross the wave budget first.
      extra: { budget: { tokensPerWave: 100 }, pacing: { cooldownSeconds: { 1: 0, 2: 2, 3: 0, 4: 0 } } },
    });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('1 launched · 1 done · 0 failed · 150 tokens\n');
    expect(errLines(r.stderr).at(-1)).toMatch(/^dispatch: token budget reached: 150 tokens used of 100 for wave 1 — /);
    expect(starts(dir).map((e) => e.id)).toEqual(['001']);
  });
});
