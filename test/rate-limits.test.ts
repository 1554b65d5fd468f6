// Rate limits end to end: every kind of limit message leaves its spec rate-limited with a
// relaunch at the reset, and pauses only that agent. Real runners and stand-in agents.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readStateOf, dispatchIn } from './helpers.js';
import { engineProject, launchTimes, live, waitFor } from './fixtures/engine.js';
import { agent, CODEX, statusJson, historyOf, startsOf, esc } from './fixtures/unattended.js';

const run = (dir: string, ...args: string[]) => dispatchIn(dir, args);

/** A custom agent running a stand-in script; the trace goes to the project's trace.jsonl (agents run in the project). */

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
