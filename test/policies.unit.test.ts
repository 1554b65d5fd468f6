// The run's policies, in-process, as a user would notice them:
//   a stale lock from a crash is broken (and a fresh one kept);
//   a spec failed by hand is never relaunched by the retry policy;
//   Codex's reasoning effort by cost is low, medium, high, xhigh;
//   a run that used exactly its token budget launches no more;
//   a launch that fails tells onSpecFailed its reason (DISPATCH_REASON);
//   rate-limited specs come back when their limit resets.
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, resolveConfig, type ResolvedConfig } from '../src/config/load.js';
import { lockState, LockTimeoutError } from '../src/state/lock.js';
import { readState } from '../src/state/store.js';
import { markSpecs } from '../src/services/mark.js';
import { canRelaunch } from '../src/attempt/policy.js';
import { agentCommand } from '../src/agents/command.js';
import { runSchedule } from '../src/schedule/loop.js';
import { SimWorld } from '../src/schedule/sim.js';
import { runWaves } from '../src/run/engine.js';
import type { Executor } from '../src/executors/types.js';
import { headlessMux } from '../src/executors/headless.js';
import { makeProject, tempDir } from './helpers.js';

const MIN = 60_000;

async function tableIn(dir: string, rows: { id: string; wave?: number; cost?: number; agent?: string }[], extra: Record<string, unknown> = {}): Promise<ResolvedConfig> {
  return resolveConfig(
    {
      project: 'beh',
      specsDir: 'specs',
      agents: { a: { command: ['true'] } },
      pacing: { cooldownSeconds: { 1: 0, 2: 0, 3: 0, 4: 0 }, batch: { every: 4, pauseSeconds: 0, fromWave: 0 } },
      ...extra,
      specs: rows.map((r) => ({ name: `n${r.id}`, cost: 1, agent: 'a', ...r })),
    },
    join(dir, 'specs.config.ts'),
  );
}

describe('a stale lock left by a crash', () => {
  const foreign = (since: string) => `${JSON.stringify({ pid: 4242, host: 'another-host.invalid', since, nonce: 'n' })}\n`;
  const age = (path: string, ms: number) => {
    const t = new Date(Date.now() - ms);
    utimesSync(path, t, t);
  };

  it("a holder on another host whose heartbeat stopped long ago is taken over at once", async () => {
    const file = join(tempDir(), 'dispatch-state.json');
    writeFileSync(`${file}.lock`, foreign('2026-01-01T00:00:00Z'));
    age(`${file}.lock`, 10 * MIN);
    const t0 = Date.now();
    const release = await lockState(file, { waitLimitMs: 2000 });
    // Generous bound: it is taken at once, not after the 2 s wait limit.
    expect(Date.now() - t0).toBeLessThan(1900);
    expect(JSON.parse(readFileSync(`${file}.lock`, 'utf8')).pid).toBe(process.pid);
    await release();
  });

  it('a holder on another host with a fresh heartbeat is waited for, never broken', async () => {
    const file = join(tempDir(), 'dispatch-state.json');
    const held = foreign(new Date().toISOString());
    writeFileSync(`${file}.lock`, held);
    await expect(lockState(file, { waitLimitMs: 300 })).rejects.toBeInstanceOf(LockTimeoutError);
    expect(readFileSync(`${file}.lock`, 'utf8')).toBe(held);
  });

  it("an older dispatch's lock folder: broken when its heartbeat is old, kept while fresh", async () => {
    const dir = tempDir();
    const file = join(dir, 'dispatch-state.json');
    mkdirSync(`${file}.lock`);
    await expect(lockState(file, { waitLimitMs: 300 })).rejects.toThrow(/older dispatch's lock folder/);
    age(`${file}.lock`, 5 * MIN);
    const release = await lockState(file, { waitLimitMs: 2000 });
    expect(JSON.parse(readFileSync(`${file}.lock`, 'utf8')).pid).toBe(process.pid);
    await release();
  });
});

describe('a spec failed by hand', () => {
  async function afterOneAttempt(fail: (c: ResolvedConfig) => Promise<void>) {
    const dir = tempDir();
    const c = await tableIn(dir, [{ id: 'x', wave: 0 }], { retry: { maxAttempts: 3 } });
    mkdirSync(c.stateDir, { recursive: true });
    // One attempt on record, failed by the agent: the policy would relaunch it.
    writeFileSync(join(c.stateDir, 'dispatch-state.json'), JSON.stringify({
      completed: [], failed: ['x'], skipped: [],
      dispatch: { version: 1, running: {}, specs: { x: { attempts: 1, kind: 'agent-failed', reason: 'exit 1', history: [{ n: 1, startedAt: new Date(0).toISOString(), endedAt: new Date(MIN).toISOString(), state: 'failed', kind: 'agent-failed' }] } } },
    }));
    await fail(c);
    const doc = readState(c.stateDir);
    const world = new SimWorld(c.specs, { doc, start: 0, durationOf: () => MIN });
    await runSchedule(c, world, world, { schedule: 'waves', scope: c.specs, wait: true, signal: new AbortController().signal, rows: false });
    return { relaunched: world.attempts.length, policy: canRelaunch(c, doc, 'x') };
  }

  it('is not relaunched by the next run (the agent\'s own failure is)', async () => {
    expect(await afterOneAttempt(async () => {})).toEqual({ relaunched: 1, policy: true });
    expect(await afterOneAttempt(async (c) => void (await markSpecs(c, 'mark-failed', ['x'], 'broken by design')))).toEqual({ relaunched: 0, policy: false });
  });
});

describe("Codex's reasoning effort by cost", () => {
  it('is low, medium, high and xhigh for costs 1 to 4; the config overrides one cost', async () => {
    const dir = tempDir();
    const paths = { cwd: dir, runDir: dir, specDir: dir, specFile: join(dir, 'spec.md'), planFile: join(dir, 'plan.md') };
    const effortOf = (c: ResolvedConfig, cost: number) => {
      const argv = agentCommand(c, c.specs.find((s) => s.cost === cost)!, paths).argv;
      return argv[argv.indexOf('-c') + 1];
    };
    const rows = [1, 2, 3, 4].map((cost) => ({ id: `c${cost}`, cost, agent: 'codex', wave: 0 }));
    const c = await tableIn(dir, rows);
    expect([1, 2, 3, 4].map((k) => effortOf(c, k))).toEqual(['model_reasoning_effort=low', 'model_reasoning_effort=medium', 'model_reasoning_effort=high', 'model_reasoning_effort=xhigh']);
    const custom = await tableIn(dir, rows, { agents: { codex: { effort: { 3: 'minimal' } } } });
    expect([1, 2, 3, 4].map((k) => effortOf(custom, k))).toEqual(['model_reasoning_effort=low', 'model_reasoning_effort=medium', 'model_reasoning_effort=minimal', 'model_reasoning_effort=xhigh']);
  });
});

describe('a token budget used exactly', () => {
  for (const schedule of ['waves', 'eager'] as const) {
    it(`${schedule}: per run — at 100 of 100 tokens no spec launches; at 99 the next launches`, async () => {
      const dir = tempDir();
      const c = await tableIn(dir, [{ id: 'p', wave: 0 }, { id: 'q', wave: 0 }, { id: 'later', wave: 0 }], { pacing: { cooldownSeconds: { 1: 120 } }, budget: { tokensPerRun: 100 } });
      const launched = async (tokens: number) => {
        const world = new SimWorld(c.specs, { start: 0, durationOf: () => MIN, tokensOf: () => tokens });
        const out = await runSchedule(c, world, world, { schedule, scope: c.specs, wait: true, signal: new AbortController().signal, rows: false });
        return { ids: world.attempts.map((a) => a.id), stop: out.budgetStop };
      };
      expect(await launched(50)).toEqual({ ids: ['p', 'q'], stop: 'token budget reached: 100 tokens used of 100 per run' });
      expect((await launched(49.5)).ids).toEqual(['p', 'q', 'later']);
    });
  }

  it('per wave — a wave that used exactly its budget launches no more of that wave', async () => {
    const dir = tempDir();
    const c = await tableIn(dir, [{ id: 'p', wave: 0 }, { id: 'q', wave: 0 }, { id: 'later', wave: 0 }], { pacing: { cooldownSeconds: { 1: 120 } }, budget: { tokensPerWave: 100 } });
    const world = new SimWorld(c.specs, { start: 0, durationOf: () => MIN, tokensOf: () => 50 });
    const out = await runSchedule(c, world, world, { schedule: 'waves', scope: c.specs, wait: true, signal: new AbortController().signal, rows: false });
    expect(world.attempts.map((a) => a.id)).toEqual(['p', 'q']);
    expect(out.budgetStop).toBe('token budget reached: 100 tokens used of 100 for wave 0');
  });
});

describe('a launch that fails', () => {
  it('tells onSpecFailed why: DISPATCH_KIND launch-error and DISPATCH_REASON "launch failed: …"', async () => {
    const out = join(tempDir(), 'hook.json');
    const dir = makeProject({
      format: 'json',
      specs: [{ id: '001', name: 'one', wave: 0, cost: 1, agent: 'codex' }],
      extra: {
        multiplexer: 'headless',
        retry: { maxAttempts: 1 },
        hooks: { onSpecFailed: [process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify({ kind: process.env.DISPATCH_KIND, reason: process.env.DISPATCH_REASON, id: process.env.DISPATCH_SPEC_ID }))`], timeoutSeconds: 20 },
      },
    });
    const config = await loadConfig({ cwd: dir });
    // The headless executor whose every pane fails to open.
    const refuses: Executor = {
      ...headlessMux('beh', config),
      open: async () => {
        throw new Error('no pane today');
      },
    };
    const outcome = await runWaves(config, { mux: refuses, scope: config.specs, wait: true, signal: new AbortController().signal, pollMs: 20, merge: async () => ({ ok: true }) });
    expect(outcome.failed).toEqual([{ id: '001', kind: 'launch-error', reason: 'launch failed: no pane today' }]);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual({ id: '001', kind: 'launch-error', reason: 'launch failed: no pane today' });
    expect(readState(config.stateDir).dispatch?.specs['001']).toMatchObject({ kind: 'launch-error', reason: 'launch failed: no pane today' });
  }, 30_000);
});

describe('the retry policy', () => {
  const doc = (state: 'failed' | 'done' | 'pending', attempts: number | undefined, kind?: string) => ({
    completed: state === 'done' ? ['x'] : [], failed: state === 'failed' ? ['x'] : [], skipped: [],
    dispatch: { version: 1 as const, running: {}, specs: attempts === undefined ? {} : { x: { attempts, ...(kind ? { kind } : {}) } } },
  }) as never;

  it('relaunches a retryable failure while attempts are left: 1 and 2 of 3, not 3, not 0', async () => {
    const c = await tableIn(tempDir(), [{ id: 'x', wave: 0 }], { retry: { maxAttempts: 3 } });
    expect([0, 1, 2, 3].map((n) => canRelaunch(c, doc('failed', n, 'agent-failed'), 'x'))).toEqual([false, true, true, false]);
    // No record at all (failed by an older tool, no attempts counted): not the policy's to relaunch.
    expect(canRelaunch(c, doc('failed', undefined), 'x')).toBe(false);
    expect(canRelaunch(c, doc('done', 1, 'done'), 'x')).toBe(false);
    expect(canRelaunch(c, doc('pending', 1), 'x')).toBe(false);
  });

  it('by kind: the agent\'s own failures and lost runners yes; decisions by hand, interruptions, launch errors, quotas, conflicts no; stalls as configured', async () => {
    const c = await tableIn(tempDir(), [{ id: 'x', wave: 0 }], { retry: { maxAttempts: 3 } });
    const kinds = ['agent-failed', 'verify-failed', 'no-changes', 'lost', 'manual', 'interrupted', 'launch-error', 'quota-exhausted', 'merge-conflict', 'stalled'];
    expect(kinds.filter((k) => canRelaunch(c, doc('failed', 1, k), 'x'))).toEqual(['agent-failed', 'verify-failed', 'no-changes', 'lost']);
    const restart = await tableIn(tempDir(), [{ id: 'x', wave: 0 }], { retry: { maxAttempts: 3 }, stall: { action: 'restart' } });
    expect(kinds.filter((k) => canRelaunch(restart, doc('failed', 1, k), 'x'))).toEqual(['agent-failed', 'verify-failed', 'no-changes', 'lost', 'stalled']);
    // A failure with no kind on record counts as the agent's (the default kind of 'failed').
    expect(canRelaunch(c, doc('failed', 1), 'x')).toBe(true);
  });
});

describe('rate-limited specs coming back', () => {
  const simRun = async (c: ResolvedConfig, endOf: (id: string, n: number) => { state: 'done' } | { state: 'rate-limited'; waitMs: number }, doc?: import('../src/state/doc.js').StateDoc) => {
    const world = new SimWorld(c.specs, { start: 0, durationOf: () => MIN, endOf: (s, n) => endOf(s.id, n), ...(doc ? { doc } : {}) });
    await runSchedule(c, world, world, { schedule: 'waves', scope: c.specs, wait: true, signal: new AbortController().signal, rows: false });
    return world.attempts.map((a) => [a.id, a.start / MIN]);
  };

  it('in a sequential wave, the rate-limited spec is relaunched when its limit resets, then the next goes', async () => {
    const c = await tableIn(tempDir(), [{ id: 'x', wave: 0 }, { id: 'y', wave: 0 }], { waves: { 0: { sequential: true } } });
    // x ends at 1 min, limited for 5: back at 6, done at 7; then y.
    expect(await simRun(c, (id, n) => (id === 'x' && n === 1 ? { state: 'rate-limited', waitMs: 5 * MIN } : { state: 'done' }))).toEqual([['x', 0], ['x', 6], ['y', 7]]);
  });

  it('two limits that reset together are relaunched a cooldown apart, without spinning meanwhile', async () => {
    const c = await tableIn(tempDir(), [{ id: 'x', wave: 0 }, { id: 'y', wave: 0, agent: 'b' }], { agents: { a: { command: ['true'] }, b: { command: ['true'] } }, pacing: { cooldownSeconds: { 1: 60 }, batch: { every: 4, pauseSeconds: 0, fromWave: 0 } } });
    const { emptyState, markRateLimited } = await import('../src/state/doc.js');
    const doc = emptyState();
    markRateLimited(doc, 'y', { until: new Date(5 * MIN).toISOString(), agent: 'b', reason: 'limit', at: new Date(0).toISOString() });
    // x (0 → 1 min) is limited until 5, as y already is: both are due at 5, the second a cooldown later
    // (x's cooldown, widened to 2 min by its agent's rate limit).
    expect(await simRun(c, (id, n) => (id === 'x' && n === 1 ? { state: 'rate-limited', waitMs: 4 * MIN } : { state: 'done' }), doc)).toEqual([['x', 0], ['x', 5], ['y', 7]]);
  });
});
