// Unattended waves end to end, headless: rate limits, automatic retries,
// stalls, every attempt kept, a dispatcher killed and restarted, token usage
// and budgets, hooks, and the config keys for all of them. Real processes
// (the built bin, its runners, the stand-in agents in test/fixtures/agents);
// every wait is configured in fractions of a second.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readStateOf, tempDir, dispatchIn } from './helpers.js';
import { AGENTS, NODE, configPathOf, engineProject, expectUsageError, journal, launchTimes, live, logOf, pidAlive, starts, trace, tracePath, waitFor } from './fixtures/engine.js';

const run = (dir: string, ...args: string[]) => dispatchIn(dir, args);
const errLines = (s: string) => s.trimEnd().split('\n');
const statusJson = async (dir: string) => JSON.parse((await run(dir, '--json', 'status')).stdout);
const historyOf = (dir: string, id: string): any[] => readStateOf(dir).dispatch.specs[id].history;
const attemptLog = (dir: string, id: string, n: number) => join(dir, '.codex', 'logs', `${id}.attempt-${n}.log`);
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A custom agent running a stand-in script; the trace goes to the project's trace.jsonl (agents run in the project). */
const agent = (script: string, args: string[] = [], opts: { codexEvents?: boolean; rateLimitPatterns?: string[] } = {}) => ({
  command: [NODE, join(AGENTS, `${script}.mjs`), 'trace.jsonl', ...args],
  prompt: 'stdin',
  ...opts,
});
const CODEX = { codexEvents: true };


/** Changes the project's JSON config in place. */
function setConfig(dir: string, change: (config: any) => void) {
  const config = JSON.parse(readFileSync(configPathOf(dir), 'utf8'));
  change(config);
  writeFileSync(configPathOf(dir), JSON.stringify(config, null, 2));
}
const startsOf = (dir: string, id: string) => starts(dir).filter((e) => e.id === id);

describe('rate limits', () => {
  /** A clock time 1–2 hours ahead, as Claude prints it ("10pm"), and the moment it means. */
  function clockAhead() {
    const d = new Date(Date.now() + 2 * 3600_000);
    d.setMinutes(0, 0, 0);
    const h = d.getHours();
    return { text: `${h % 12 || 12}${h < 12 ? 'am' : 'pm'}`, at: d };
  }

  it('each kind of rate-limit message leaves its spec rate-limited (not failed) with a relaunch time; `run` relaunches it after the wait; after maxRateLimitAttempts it fails', async () => {
    const clock = clockAhead();
    const kinds: [string, string, Record<string, unknown>][] = [
      ['001', 'codex-rate', agent('ratelimit-codex', ['1', 'Rate limit reached for gpt-5.3-codex in organization org-test on tokens per min (TPM). Please try again in 1s.'], CODEX)],
      ['002', 'codex-429', agent('ratelimit-codex', ['1', 'exceeded retry limit, last status: 429 Too Many Requests'], CODEX)],
      ['003', 'codex-usage', agent('ratelimit-codex', ['1', "You've hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro) or try again later."], CODEX)],
      ['004', 'codex-demand', agent('ratelimit-codex', ['1', "We're currently experiencing high demand, which may cause temporary errors."], CODEX)],
      ['005', 'claude-clock', agent('ratelimit-claude', ['1', `5-hour limit reached ∙ resets ${clock.text}`])],
      ['006', 'claude-epoch', agent('ratelimit-claude', ['1', 'Claude AI usage limit reached|{epoch+5}'])],
      ['007', 'own-pattern', agent('ratelimit-claude', ['1', 'error: provider says slow down, cowboy'], { rateLimitPatterns: ['slow down, cowboy'] })],
      ['008', 'gives-up', agent('ratelimit-codex', ['99', 'exceeded retry limit, last status: 429 Too Many Requests'], CODEX)],
      // Not rate limits: a Codex turn failing for another reason (its agent message talks of 429s and rate limits),
      // and a plain agent whose failing test file is about rate limiting.
      ['009', 'codex-other', agent('ratelimit-codex', ['1', 'The model gpt-x does not exist'], CODEX)],
      ['010', 'rate-limiter', agent('ratelimit-claude', ['1', 'FAIL test/rate-limit.test.ts > rejects the sixth request'])],
    ];
    // One agent per spec: a rate limit pauses only its own agent.
    const dir = engineProject({
      specs: kinds.map(([id, name]) => ({ id, name, wave: 1, agent: `a${id}` })),
      agents: Object.fromEntries(kinds.map(([id, , a]) => [`a${id}`, a])),
      extra: { retry: { backoffSeconds: 0.5, maxBackoffSeconds: 5, maxRateLimitAttempts: 2 } },
    });
    // The agents hold their answer until every spec is launched: on a loaded machine a quick verdict
    // would otherwise reach the run while it still launches (and it would relaunch or count it).
    const gate = join(dir, 'agents-go');
    const first = await dispatchIn(dir, ['run', '--yes', '--no-wait', '--no-plan'], { env: { AGENT_GATE: gate } });
    expect(first.code, first.stderr).toBe(0);
    writeFileSync(gate, '');
    const state = await waitFor('every runner to give its verdict', () => {
      const s = readStateOf(dir);
      return s && Object.keys(s.dispatch.running).length === 0 && Object.keys(s.dispatch.waiting ?? {}).length + s.failed.length === 10 && s;
    });
    const limited = ['001', '002', '003', '004', '005', '006', '007', '008'];
    expect(Object.keys(state.dispatch.waiting).sort()).toEqual(limited);
    expect(state.failed.sort()).toEqual(['009', '010']);
    expect(state.dispatch.specs['009'].reason).toBe('turn.failed: The model gpt-x does not exist');
    // Its last line on stdout says why (it printed nothing on stderr).
    expect(state.dispatch.specs['010'].reason).toBe('agent exited with code 1: FAIL test/rate-limit.test.ts > rejects the sixth request');
    // Not failed: no failure signal for a rate-limited spec.
    expect(existsSync(join(dir, 'signals', 'demo-failed-001'))).toBe(false);
    const w = state.dispatch.waiting;
    const wait = (id: string) => Date.parse(w[id].until) - Date.parse(w[id].at);
    expect(w['001'].reason).toBe('rate-limited: Rate limit reached for gpt-5.3-codex in organization org-test on tokens per min (TPM). Please try again in 1s.');
    expect(wait('001')).toBeGreaterThan(800); // "try again in 1s"
    expect(wait('001')).toBeLessThanOrEqual(1000);
    for (const id of ['002', '003', '004', '007']) {
      expect(wait(id), id).toBeGreaterThanOrEqual(500); // retry.backoffSeconds, first rate limit
      expect(wait(id), id).toBeLessThan(2500); // (plus the wait for the state lock), not the default 60 s
    }
    expect(w['005'].until).toBe(clock.at.toISOString()); // "resets 10pm"
    const epoch = Number(/\|(\d{10})$/.exec(w['006'].reason)![1]);
    expect(w['006'].until).toBe(new Date(epoch * 1000).toISOString());
    expect(w['007'].reason).toBe('rate-limited: error: provider says slow down, cowboy');
    expect(w['002'].agent).toBe('a002');

    const s = await run(dir, 'status');
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout.split('\n')[0]).toBe('demo: 0 done · 2 failed · 0 running · 8 rate-limited · 0 pending · 0 skipped  (10 specs)');
    const section = s.stdout.slice(s.stdout.indexOf('rate-limited:\n'));
    for (const id of limited) {
      const name = kinds.find((k) => k[0] === id)![1];
      expect(section).toMatch(new RegExp(`^ {2}${id}\\s+${name}\\s+a${id}\\s+relaunch at ${esc(new Date(w[id].until).toLocaleString())}\\s+${esc(w[id].reason)}$`, 'm'));
    }
    expect(s.stdout).toMatch(/^ {2}009\s+codex-other\s+wave 1\s+agent-failed\s+turn\.failed: The model gpt-x does not exist$/m);
    const j = await statusJson(dir);
    expect(j.counts['rate-limited']).toBe(8);
    expect(j.rateLimited.map((r: any) => r.id)).toEqual(limited);
    expect(j.rateLimited.find((r: any) => r.id === '005')).toEqual({ id: '005', name: 'claude-clock', wave: 1, agent: 'a005', until: clock.at.toISOString(), reason: `rate-limited: 5-hour limit reached ∙ resets ${clock.text}` });

    // Everything but the spec that resets hours from now.
    const again = limited.filter((id) => id !== '005');
    const second = await run(dir, 'run', '--yes', '--no-plan', '--spec', ...again);
    expect(second.code, second.stderr).toBe(1);
    expect(second.stdout).toBe('7 launched · 6 done · 1 failed · 60 tokens\n  failed 008: rate-limited 2 times; last: exceeded retry limit, last status: 429 Too Many Requests\n');
    for (const id of again) expect(second.stderr).toContain(`relaunching ${id}: the rate limit has reset\n`);
    const after = readStateOf(dir);
    expect(after.completed.sort()).toEqual(['001', '002', '003', '004', '006', '007']);
    expect(after.failed.sort()).toEqual(['008', '009', '010']);
    expect(Object.keys(after.dispatch.waiting)).toEqual(['005']);
    for (const id of ['001', '002', '003', '004', '006', '007']) {
      // A relaunch is an attempt: the agent saw attempt 2, the state counts 2, the history keeps both.
      expect(startsOf(dir, id).map((e) => e.attempt), id).toEqual(['1', '2']);
      expect(after.dispatch.specs[id].attempts, id).toBe(2);
      expect(historyOf(dir, id).map((h) => h.state), id).toEqual(['rate-limited', 'done']);
      // A rate limit is not a failure: the relaunch gets the plain prompt, not "avoid that failure".
      expect(startsOf(dir, id)[1]!.stdin, id).not.toContain('previous attempt failed');
      // Not before the limit said it resets.
      expect(startsOf(dir, id)[1]!.t, id).toBeGreaterThanOrEqual(Date.parse(w[id].until));
    }
    // maxRateLimitAttempts 2: the second rate limit fails it, and it is not relaunched again.
    expect(startsOf(dir, '008')).toHaveLength(2);
    expect(after.dispatch.specs['008'].reason).toBe('rate-limited 2 times; last: exceeded retry limit, last status: 429 Too Many Requests');
    expect(historyOf(dir, '008').map((h) => h.state)).toEqual(['rate-limited', 'failed']);
    expect(startsOf(dir, '005')).toHaveLength(1);
    expect(startsOf(dir, '009')).toHaveLength(1);
  });

  it("a rate limit pauses that agent: its other specs wait while another agent's go on; its cooldowns widen, then narrow after a clean run", async () => {
    const dir = engineProject({
      specs: [
        { id: '001', name: 'limited', wave: 1, agent: 'rl' },
        { id: '002', name: 'same-agent', wave: 1, agent: 'rl', body: 'rate-limit-times 0\n' },
        { id: '003', name: 'other-agent', wave: 1, agent: 'ok' },
        { id: '004', name: 'narrowed', wave: 1, agent: 'rl', body: 'rate-limit-times 0\n' },
      ],
      agents: { rl: agent('ratelimit-claude', ['1', 'API Error: 429 {"type":"error","error":{"type":"rate_limit_error"}}']) },
      extra: { pacing: { cooldownSeconds: { 1: 1.5, 2: 0, 3: 0, 4: 0 } }, retry: { backoffSeconds: 2, cooldownFactor: 1.5 } },
    });
    const r = await live(dir, ['run', '--yes', '--no-plan']).done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('4 launched · 4 done · 0 failed\n');
    expect(r.stderr).toMatch(/^rate-limited 001: rate-limited: API Error: 429 .* — rl paused, relaunch at \d/m);
    const l = launchTimes(dir);
    expect(l.map((x) => x.spec), JSON.stringify(l)).toEqual(['001', '003', '001', '002', '004']);
    const [, other, relaunch, same, narrowed] = l.map((x) => x.t);
    const limitedAt = Date.parse(historyOf(dir, '001')[0].endedAt);
    // Paused for retry.backoffSeconds: neither the relaunch nor the agent's next spec before then.
    expect(other).toBeLessThan(limitedAt + 2000);
    expect(relaunch).toBeGreaterThanOrEqual(limitedAt + 2000);
    // The cooldown after the relaunch is widened by cooldownFactor (1.5 s × 1.5)...
    expect(same! - relaunch!).toBeGreaterThanOrEqual(2250 - 100);
    // ...and back to 1.5 s once the relaunched spec ran clean.
    expect(narrowed! - same!).toBeGreaterThanOrEqual(1500 - 100);
    expect(narrowed! - same!).toBeLessThan(2250 - 100);
    expect(startsOf(dir, '002').map((e) => e.attempt)).toEqual(['1']);
  });
});

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
