// The config keys of unattended runs (stall, retry, budget, hooks, rateLimitPatterns) and the
// flags --budget and --attempt: each bad value is exit 2, one line per field, nothing launched.
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readStateOf, dispatchIn } from './helpers.js';
import { engineProject, expectUsageError, tracePath } from './fixtures/engine.js';

const run = (dir: string, ...args: string[]) => dispatchIn(dir, args);
const errLines = (s: string) => s.trimEnd().split('\n');

describe('bad config for the new keys: exit 2, one line per field', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['stall.action', { stall: { action: 'explode' } }, /^ {2}stall\.action: expected one of "warn", "restart", "fail", got "explode"$/],
    ['stall.minutes', { stall: { minutes: { 1: -1 } } }, /^ {2}stall\.minutes\.1: .*-1/],
    ['retry.maxAttempts', { retry: { maxAttempts: 0 } }, /^ {2}retry\.maxAttempts: expected at least 1, got 0$/],
    ['retry.cooldownFactor', { retry: { cooldownFactor: 0.5 } }, /^ {2}retry\.cooldownFactor: .*0\.5/],
    ['a misspelt retry key', { retry: { backofSeconds: 1 } }, /^ {2}retry: unknown key "backofSeconds"/],
    ['budget.tokensPerRun', { budget: { tokensPerRun: -5 } }, /^ {2}budget\.tokensPerRun: .*-5/],
    ['hooks.onSpecDone as a string', { hooks: { onSpecDone: 'notify-send' } }, /^ {2}hooks\.onSpecDone: .*"notify-send"/],
    ['hooks.timeoutSeconds', { hooks: { timeoutSeconds: 0 } }, /^ {2}hooks\.timeoutSeconds: .*0/],
  ];
  for (const [what, extra, line] of cases) {
    it(what, async () => {
      const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1 }], extra });
      const r = await run(dir, 'run', '--dry-run');
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      const lines = errLines(r.stderr);
      expect(lines, r.stderr).toHaveLength(2);
      expect(lines[0]).toMatch(/^dispatch: invalid config .*specs\.config\.json \(1 problem\)/);
      expect(lines[1]).toMatch(line);
    });
  }

  it('agents.<name>.rateLimitPatterns must be a list', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1 }], agents: { codex: { rateLimitPatterns: 'quota' } } });
    const r = await run(dir, 'status');
    expect(r.code).toBe(2);
    expect(errLines(r.stderr).slice(1)).toEqual([expect.stringMatching(/^ {2}agents\.codex\.rateLimitPatterns: .*"quota"/)]);
  });

  it('all four at once: four lines, nothing launched', async () => {
    const dir = engineProject({
      specs: [{ id: '001', name: 'a', wave: 1 }],
      extra: { stall: { action: 'explode' }, retry: { maxAttempts: 0 }, budget: { tokensPerRun: -5 }, hooks: { onSpecDone: 'notify-send' } },
    });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    const lines = errLines(r.stderr);
    expect(lines[0]).toMatch(/\(4 problems\)/);
    expect(lines.slice(1).map((l) => l.trim().split(':')[0]).sort()).toEqual(['budget.tokensPerRun', 'hooks.onSpecDone', 'retry.maxAttempts', 'stall.action']);
    expect(existsSync(tracePath(dir))).toBe(false);
    expect(readStateOf(dir)).toBeUndefined();
  });

  it('--budget and --attempt take whole numbers ≥ 1', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1 }] });
    expectUsageError(await run(dir, 'run', '--yes', '--no-plan', '--budget', '0'), /--budget must be a whole number ≥ 1, got '0'/);
    expectUsageError(await run(dir, 'run', '--yes', '--no-plan', '--budget', 'lots'), /--budget/);
    expectUsageError(await run(dir, 'logs', '001', '--attempt', '0'), /--attempt must be a whole number ≥ 1, got '0'/);
    expect(readdirSync(dir)).not.toContain('trace.jsonl');
  });
});
