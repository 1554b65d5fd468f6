// Hooks fired by a real run: once per event with their DISPATCH_* variables; failing, missing
// and hanging hooks never fatal; the run returns after its runners and their hooks.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readStateOf, tempDir, dispatchIn } from './helpers.js';
import { NODE, engineProject, logOf, pidAlive, waitFor } from './fixtures/engine.js';
import { agent, historyOf, attemptLog, esc } from './fixtures/unattended.js';

const run = (dir: string, ...args: string[]) => dispatchIn(dir, args);

/** A custom agent running a stand-in script; the trace goes to the project's trace.jsonl (agents run in the project). */

describe('hooks', () => {
  // Writes the DISPATCH_* part of its environment as one JSON line to the file it is given.
  const RECORD = "require('fs').appendFileSync(process.argv[1], JSON.stringify(Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('DISPATCH_')))) + '\\n')";

  it('each hook fires once per event with its DISPATCH_* variables', async () => {
    const dir = tempDir();
    const file = join(dir, 'hooks.jsonl');
    const hook = [NODE, '-e', RECORD, file];
    engineProject({
      dir,
      specs: [
        { id: '001', name: 'good', wave: 1 },
        { id: '002', name: 'broken', wave: 1, agent: 'bad' },
        { id: '003', name: 'limited', wave: 1, agent: 'rl' },
      ],
      agents: { rl: agent('ratelimit-claude', ['1', 'API Error: 429 Too Many Requests']) },
      extra: {
        retry: { maxAttempts: 1, backoffSeconds: 0.3 },
        hooks: { onSpecDone: hook, onSpecFailed: hook, onRateLimited: hook, onWaveComplete: hook, onRunComplete: hook, timeoutSeconds: 10 },
      },
    });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(r.stderr).not.toMatch(/hook/);
    const fired = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    const of = (event: string) => fired.filter((e) => e.DISPATCH_EVENT === event);
    const logPath = (id: string, n: number) => attemptLog(dir, id, n);
    const base = { DISPATCH_PROJECT: 'demo', DISPATCH_WAVE: '1' };
    expect(of('onSpecDone').sort((a, b) => a.DISPATCH_SPEC_ID.localeCompare(b.DISPATCH_SPEC_ID))).toEqual([
      { ...base, DISPATCH_EVENT: 'onSpecDone', DISPATCH_SPEC_ID: '001', DISPATCH_SPEC_NAME: 'good', DISPATCH_AGENT: 'ok', DISPATCH_STATE: 'done', DISPATCH_KIND: 'done', DISPATCH_ATTEMPT: '1', DISPATCH_EXIT_CODE: '0', DISPATCH_LOG: logPath('001', 1) },
      { ...base, DISPATCH_EVENT: 'onSpecDone', DISPATCH_SPEC_ID: '003', DISPATCH_SPEC_NAME: 'limited', DISPATCH_AGENT: 'rl', DISPATCH_STATE: 'done', DISPATCH_KIND: 'done', DISPATCH_ATTEMPT: '2', DISPATCH_EXIT_CODE: '0', DISPATCH_LOG: logPath('003', 2) },
    ]);
    expect(of('onSpecFailed')).toEqual([
      { ...base, DISPATCH_EVENT: 'onSpecFailed', DISPATCH_SPEC_ID: '002', DISPATCH_SPEC_NAME: 'broken', DISPATCH_AGENT: 'bad', DISPATCH_STATE: 'failed', DISPATCH_KIND: 'agent-failed', DISPATCH_REASON: 'agent exited with code 3: fail: cannot build 002', DISPATCH_ATTEMPT: '1', DISPATCH_EXIT_CODE: '3', DISPATCH_LOG: logPath('002', 1) },
    ]);
    const [limited] = of('onRateLimited');
    expect(of('onRateLimited')).toHaveLength(1);
    expect(limited).toEqual({
      ...base, DISPATCH_EVENT: 'onRateLimited', DISPATCH_SPEC_ID: '003', DISPATCH_SPEC_NAME: 'limited', DISPATCH_AGENT: 'rl', DISPATCH_STATE: 'rate-limited', DISPATCH_KIND: 'rate-limited',
      DISPATCH_REASON: 'rate-limited: API Error: 429 Too Many Requests', DISPATCH_ATTEMPT: '1', DISPATCH_EXIT_CODE: '1', DISPATCH_LOG: logPath('003', 1), DISPATCH_RETRY_AT: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    // retry.backoffSeconds after the attempt ended.
    const retryIn = Date.parse(limited.DISPATCH_RETRY_AT) - Date.parse(historyOf(dir, '003')[0].endedAt);
    expect(retryIn).toBeGreaterThanOrEqual(300);
    expect(retryIn).toBeLessThan(2000); // plus the wait for the state lock
    const runId = historyOf(dir, '001')[0].runId;
    expect(of('onWaveComplete')).toEqual([
      { DISPATCH_EVENT: 'onWaveComplete', DISPATCH_PROJECT: 'demo', DISPATCH_WAVE: '1', DISPATCH_RUN_ID: runId, DISPATCH_STATE: 'incomplete', DISPATCH_DONE: '001,003', DISPATCH_FAILED: '002', DISPATCH_TOKENS: '0' },
    ]);
    expect(of('onRunComplete')).toEqual([
      { DISPATCH_EVENT: 'onRunComplete', DISPATCH_PROJECT: 'demo', DISPATCH_RUN_ID: runId, DISPATCH_STATE: 'failed', DISPATCH_DONE: '001,003', DISPATCH_FAILED: '002', DISPATCH_TOKENS: '0' },
    ]);
    expect(fired).toHaveLength(6);
  });

  it('a failing, a missing and a hanging hook are reported and never fatal; the hanging one is stopped at timeoutSeconds', async () => {
    const dir = tempDir();
    const pidFile = join(dir, 'hook.pid');
    engineProject({
      dir,
      specs: [{ id: '001', name: 'good', wave: 1 }],
      extra: {
        hooks: {
          // Hooks in sh (a Node start can take half a second on a loaded machine); the timeout leaves them room.
          onSpecDone: ['sh', '-c', 'echo "notify: no display" >&2; exit 1'],
          onWaveComplete: [join(dir, 'no-such-notifier')],
          onRunComplete: ['sh', '-c', 'echo $$ > "$1"; exec sleep 1000', 'sh', pidFile],
          timeoutSeconds: 2,
        },
      },
    });
    const started = Date.now();
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(r.stdout).toBe('1 launched · 1 done · 0 failed\n');
    expect(r.stderr).toMatch(new RegExp(`^hook onWaveComplete failed: could not start '${esc(join(dir, 'no-such-notifier'))}': .+$`, 'm'));
    expect(r.stderr).toContain('hook onRunComplete failed: timed out after 2 s\n');
    expect(readFileSync(logOf(dir, '001'), 'utf8')).toContain('── dispatch: hook onSpecDone failed: exited with code 1: notify: no display\n');
    expect(readStateOf(dir).completed).toEqual(['001']);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    await waitFor('the hanging hook to be stopped', () => !pidAlive(pid), 5000);
  });

  it('run returns after the runners: a slow onSpecDone hook has finished when run says the run is over', async () => {
    const dir = engineProject({
      specs: [{ id: '001', name: 'good', wave: 1 }, { id: '002', name: 'also', wave: 1 }],
      // The runner writes the verdict, then runs the hook: this one takes 1.5 s after the verdict is on record.
      extra: { hooks: { onSpecDone: ['sh', '-c', 'sleep 1.5; echo "$DISPATCH_SPEC_ID" >> hooked.txt'], timeoutSeconds: 10 } },
    });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(dir, 'hooked.txt'), 'utf8').split('\n').filter(Boolean).sort()).toEqual(['001', '002']);
  });

  it("onRunComplete comes after the specs' own hooks, and a relaunch does not leave the first attempt's hook behind", async () => {
    const dir = engineProject({
      specs: [{ id: '001', name: 'twice', wave: 1, agent: 'second' }],
      // Fails its first attempt, passes its second at once: the first runner is still in its slow hook then.
      agents: { second: { command: [NODE, '-e', 'process.exit(process.env.DISPATCH_ATTEMPT === "1" ? 3 : 0)'], prompt: 'none' } },
      extra: {
        retry: { maxAttempts: 2 },
        hooks: {
          onSpecFailed: ['sh', '-c', 'sleep 1.5; echo "failed $DISPATCH_ATTEMPT" >> hooked.txt'],
          onSpecDone: ['sh', '-c', 'echo "done $DISPATCH_ATTEMPT" >> hooked.txt'],
          onRunComplete: ['sh', '-c', 'echo "run $DISPATCH_STATE" >> hooked.txt'],
          timeoutSeconds: 10,
        },
      },
    });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    const lines = readFileSync(join(dir, 'hooked.txt'), 'utf8').split('\n').filter(Boolean);
    expect([...lines].sort()).toEqual(['done 2', 'failed 1', 'run done']);
    expect(lines.at(-1)).toBe('run done');
    // Each closed attempt names the runner that closed it.
    expect(historyOf(dir, '001').map((h) => Number.isInteger(h.runner) && h.runner > 0)).toEqual([true, true]);
  });
});
