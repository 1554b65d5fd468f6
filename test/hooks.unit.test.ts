// User hooks in-process, with real commands: which hook a verdict runs, what
// it is told (DISPATCH_* variables), how its failure is worded, and the signal
// file beside it (none for a rate limit: the spec is not finished).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/load.js';
import { announceVerdict, hookFor, runHook, signalVerdict, verdictHook } from '../src/attempt/hooks.js';
import { signalPath } from '../src/state/signals.js';
import { tempDir } from './helpers.js';

const NODE = process.execPath;
async function config(hooks: Record<string, unknown>) {
  const dir = tempDir('hk');
  return resolveConfig({ project: 'hk', signalDir: join(dir, 'signals'), hooks, specs: [{ id: '001', name: 'alpha', wave: 2, cost: 1, agent: 'codex' }] }, join(dir, 'specs.config.ts'));
}
/** A hook that writes the DISPATCH_* variables it got to `out`. */
const recorder = (out: string) => [NODE, '-e', `const e = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('DISPATCH_'))); require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(e))`];

describe('hooks', () => {
  it('a verdict runs its own hook: done, failed, rate-limited', () => {
    expect([hookFor('done'), hookFor('failed'), hookFor('rate-limited')]).toEqual(['onSpecDone', 'onSpecFailed', 'onRateLimited']);
  });

  it("the hook is told the event, the project, the spec and the verdict's details; undefined ones are left out", async () => {
    const out = join(tempDir('hk-out'), 'env.json');
    const c = await config({ onSpecFailed: recorder(out) });
    const h = await verdictHook(c, '001', { state: 'failed', kind: 'verify-failed', reason: 'npm test failed' }, { ATTEMPT: 2, TOKENS: undefined });
    expect(h).toEqual({ hook: 'onSpecFailed', ok: true });
    const env = JSON.parse(readFileSync(out, 'utf8'));
    expect(env).toMatchObject({
      DISPATCH_EVENT: 'onSpecFailed', DISPATCH_PROJECT: 'hk', DISPATCH_SPEC_ID: '001', DISPATCH_SPEC_NAME: 'alpha', DISPATCH_WAVE: '2', DISPATCH_AGENT: 'codex',
      DISPATCH_STATE: 'failed', DISPATCH_KIND: 'verify-failed', DISPATCH_REASON: 'npm test failed', DISPATCH_ATTEMPT: '2',
    });
    expect(env.DISPATCH_TOKENS).toBeUndefined();
  });

  it('a spec no longer in the table (a run on record, its row removed) is still named by its id', async () => {
    const out = join(tempDir('hk-out'), 'env.json');
    const c = await config({ onSpecFailed: recorder(out) });
    expect(await verdictHook(c, 'gone', { state: 'failed', kind: 'lost', reason: 'lost (runner died)' })).toEqual({ hook: 'onSpecFailed', ok: true });
    const env = JSON.parse(readFileSync(out, 'utf8'));
    expect(env).toMatchObject({ DISPATCH_SPEC_ID: 'gone', DISPATCH_KIND: 'lost' });
    expect([env.DISPATCH_SPEC_NAME, env.DISPATCH_WAVE, env.DISPATCH_AGENT]).toEqual([undefined, undefined, undefined]);
  });

  it('no hook configured: nothing runs, nothing to report', async () => {
    expect(await runHook(await config({}), 'onSpecDone', {})).toBeUndefined();
  });

  it('a failing hook is reported in words: its exit code and last line, a kill, a timeout, a program not there', async () => {
    const c = await config({
      onSpecDone: [NODE, '-e', "console.error('first'); console.error('it broke'); process.exit(3)"],
      onSpecFailed: [NODE, '-e', "process.kill(process.pid, 'SIGKILL')"],
      onRateLimited: ['/nonexistent/hook'],
      timeoutSeconds: 1,
    });
    expect(await runHook(c, 'onSpecDone', {})).toEqual({ hook: 'onSpecDone', ok: false, error: 'exited with code 3: it broke' });
    expect(await runHook(c, 'onSpecFailed', {})).toEqual({ hook: 'onSpecFailed', ok: false, error: 'killed by SIGKILL' });
    const missing = await runHook(c, 'onRateLimited', {});
    expect(missing?.ok).toBe(false);
    expect(missing?.error).toMatch(/^could not start '\/nonexistent\/hook': /);
    const slow = await config({ onSpecDone: [NODE, '-e', 'setTimeout(() => {}, 10000)'], timeoutSeconds: 1 });
    expect(await runHook(slow, 'onSpecDone', {})).toEqual({ hook: 'onSpecDone', ok: false, error: 'timed out after 1 s' });
    const quiet = await config({ onSpecDone: [NODE, '-e', 'process.exit(1)'] });
    expect(await runHook(quiet, 'onSpecDone', {})).toEqual({ hook: 'onSpecDone', ok: false, error: 'exited with code 1' });
  });

  it('the signal file: done and failed write theirs with the reason; a rate limit writes none', async () => {
    const c = await config({});
    expect(await signalVerdict(c, '001', { state: 'rate-limited', kind: 'rate-limited', reason: '429' })).toBeUndefined();
    expect(existsSync(signalPath(c.signalDir, 'hk', 'done', '001')) || existsSync(signalPath(c.signalDir, 'hk', 'failed', '001'))).toBe(false);
    await signalVerdict(c, '001', { state: 'failed', kind: 'agent-failed', reason: 'exit 1' });
    expect(readFileSync(signalPath(c.signalDir, 'hk', 'failed', '001'), 'utf8')).toBe('exit 1\n');
    await signalVerdict(c, '001', { state: 'done', kind: 'done' });
    expect(existsSync(signalPath(c.signalDir, 'hk', 'done', '001'))).toBe(true);
    expect(existsSync(signalPath(c.signalDir, 'hk', 'failed', '001'))).toBe(false);
  });

  it('announceVerdict writes the signal and runs the hook, returning its result', async () => {
    const out = join(tempDir('hk-out'), 'env.json');
    const c = await config({ onSpecDone: recorder(out) });
    expect(await announceVerdict(c, '001', { state: 'done', kind: 'done' }, { HOST: 'h1' })).toEqual({ hook: 'onSpecDone', ok: true });
    expect(existsSync(signalPath(c.signalDir, 'hk', 'done', '001'))).toBe(true);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toMatchObject({ DISPATCH_STATE: 'done', DISPATCH_HOST: 'h1' });
  });
});
