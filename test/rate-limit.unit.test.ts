// What counts as a rate limit in an agent's output, and when it may try
// again. Times are local (as the agents print them), so every "now" is built
// with the local-time Date constructor and the tests hold in any time zone.
import { describe, expect, it } from 'vitest';
import { backoffSeconds, detectRateLimit, parseResetTime } from '../src/agents/rate-limit.js';

// Thursday 15 January 2026, 10:00 local time.
const NOW = new Date(2026, 0, 15, 10, 0, 0);
const at = (h: number, m = 0, day = 15) => new Date(2026, 0, day, h, m, 0, 0);
const plus = (seconds: number) => new Date(NOW.getTime() + seconds * 1000);

describe('detectRateLimit: what the agents print when they are throttled', () => {
  it('Codex: HTTP 429 from the Responses API', () => {
    const hit = detectRateLimit('stream error: exceeded retry limit, last status: 429 Too Many Requests', [], NOW);
    expect(hit).toEqual({ message: 'stream error: exceeded retry limit, last status: 429 Too Many Requests' });
  });

  it('Codex: the usage limit, with the time it may try again', () => {
    const line = "You've hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro) or try again at 3:45 PM.";
    expect(detectRateLimit(line, [], NOW)).toEqual({ message: line, resetAt: at(15, 45) });
  });

  it('Codex: high demand', () => {
    const line = "We're currently experiencing high demand, which may cause temporary errors.";
    expect(detectRateLimit(line, [], NOW)).toEqual({ message: line });
  });

  it('Codex/OpenAI: "Rate limit reached ... try again in 1m30s"', () => {
    const line = 'Rate limit reached for gpt-5.3-codex in organization org-abc on tokens per min (TPM): Limit 30000, Used 29500, Requested 2000. Please try again in 1m30s.';
    expect(detectRateLimit(line, [], NOW)).toEqual({ message: line, resetAt: plus(90) });
  });

  it('Claude: "5-hour limit reached ∙ resets 6pm"', () => {
    expect(detectRateLimit('5-hour limit reached ∙ resets 6pm', [], NOW)).toEqual({ message: '5-hour limit reached ∙ resets 6pm', resetAt: at(18) });
  });

  it('Claude/Auto-Claude: a bare "limit reached · resets <time>"', () => {
    expect(detectRateLimit('Limit reached · resets 9:30am', [], NOW)).toEqual({ message: 'Limit reached · resets 9:30am', resetAt: at(9, 30, 16) });
  });

  it('Claude Code: "Claude AI usage limit reached|<epoch seconds>"', () => {
    expect(detectRateLimit('Claude AI usage limit reached|1768500000', [], NOW)).toEqual({
      message: 'Claude AI usage limit reached|1768500000',
      resetAt: new Date(1768500000 * 1000),
    });
  });

  it('Anthropic API errors: rate_limit_error and overloaded_error', () => {
    expect(detectRateLimit('API Error: 429 {"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}', [], NOW)).toBeDefined();
    expect(detectRateLimit('API Error: 529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', [], NOW)).toBeDefined();
  });

  it('the reset time may come on a following line', () => {
    const text = 'Claude usage limit reached.\nYour limit will reset at 5pm.\n';
    expect(detectRateLimit(text, [], NOW)).toEqual({ message: 'Claude usage limit reached.', resetAt: at(17) });
  });

  it('the last line that says so wins, and the message is that line, trimmed and at most 300 characters', () => {
    const text = ['working', '  rate limit exceeded, try again in 10s  ', 'retrying', `HTTP 429: ${'x'.repeat(400)}`, 'giving up', ''].join('\n');
    const hit = detectRateLimit(text, [], NOW)!;
    expect(hit.message).toBe(`HTTP 429: ${'x'.repeat(290)}`);
    expect(hit.resetAt).toBeUndefined();
  });

  it('configured patterns count besides the built-in ones (case-insensitive); a broken one is ignored', () => {
    const line = 'provider says: SLOW DOWN, cowboy (try again in 20 seconds)';
    expect(detectRateLimit(line, [], NOW)).toBeUndefined();
    expect(detectRateLimit(line, ['slow down, cowboy'], NOW)).toEqual({ message: line, resetAt: plus(20) });
    expect(detectRateLimit(line, ['(unclosed', 'cow\\w+'], NOW)).toEqual({ message: line, resetAt: plus(20) });
    expect(() => detectRateLimit('anything', ['(unclosed'], NOW)).not.toThrow();
  });

  describe('must not count', () => {
    const notLimits: [string, string][] = [
      ['an ordinary failure', 'error: cannot find module ./db'],
      ['a compiler error on line 429', 'src/api.ts:429:7 - error TS2345: Argument of type string is not assignable'],
      ['429 as a count', '429 tests passed, 3 failed'],
      ['a failing test file about rate limiting', 'FAIL test/rate-limit.test.ts > rejects the sixth request'],
      ['a source file about rate limiting', 'Traceback: File "app/rate_limit.py", line 12'],
      ['a rate limiter being built', 'error: the rate limiter lets 7 requests through, expected 5'],
      ['another kind of limit', 'Error: Recursion limit reached without hitting a stop condition'],
      ['the context window', 'context limit reached: conversation too long'],
      ['a full disk', 'write out/db.sqlite: Disk quota exceeded'],
      ['the word "limit" alone', 'exceeded retry limit'],
      ['an overloaded C++ function', "error: call of overloaded 'f(int)' is ambiguous"],
      ['429 failures counted by a test runner', 'error: 429 tests failed'],
      ['the model context', 'token limit exceeded: context too long'],
      ['nothing at all', ''],
    ];
    for (const [what, text] of notLimits) it(what, () => expect(detectRateLimit(text, [], NOW)).toBeUndefined());
  });
});

describe('parseResetTime', () => {
  it('clock times: the next such time, today or tomorrow', () => {
    expect(parseResetTime('resets 6pm', NOW)).toEqual(at(18));
    expect(parseResetTime('resets at 18:30', NOW)).toEqual(at(18, 30));
    expect(parseResetTime('try again at 3:45 PM', NOW)).toEqual(at(15, 45));
    expect(parseResetTime('available again at 10:30', NOW)).toEqual(at(10, 30));
    // Already past today: tomorrow. Exactly now: tomorrow too.
    expect(parseResetTime('resets 9am', NOW)).toEqual(at(9, 0, 16));
    expect(parseResetTime('resets 10:00', NOW)).toEqual(at(10, 0, 16));
    // 12am is midnight, 12pm noon.
    expect(parseResetTime('resets 12am', NOW)).toEqual(at(0, 0, 16));
    expect(parseResetTime('resets 12pm', NOW)).toEqual(at(12));
  });

  it('relative waits, in any mix of units', () => {
    expect(parseResetTime('try again in 1m30s', NOW)).toEqual(plus(90));
    expect(parseResetTime('Please try again in 1m 30s.', NOW)).toEqual(plus(90));
    expect(parseResetTime('try again in 1.5s', NOW)).toEqual(plus(1.5));
    expect(parseResetTime('retry after 20 seconds', NOW)).toEqual(plus(20));
    expect(parseResetTime('try again in 2 hours and 5 minutes', NOW)).toEqual(plus(2 * 3600 + 300));
    expect(parseResetTime('resets in 1d 2h', NOW)).toEqual(plus(86400 + 7200));
  });

  it('epoch seconds after a bar (Claude Code)', () => {
    expect(parseResetTime('Claude AI usage limit reached|1768500000', NOW)).toEqual(new Date(1768500000 * 1000));
  });

  it('nothing that is not a time', () => {
    expect(parseResetTime('try again later', NOW)).toBeUndefined();
    expect(parseResetTime('until 5', NOW)).toBeUndefined(); // a bare number is not a time
    expect(parseResetTime('try again in 5', NOW)).toBeUndefined();
    expect(parseResetTime('resets 25:00', NOW)).toBeUndefined();
    expect(parseResetTime('resets 7:75', NOW)).toBeUndefined();
    expect(parseResetTime('in 0s', NOW)).toBeUndefined();
  });
});

describe('backoffSeconds', () => {
  it('doubles from the base on each rate limit, up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffSeconds(n, 60, 3600))).toEqual([60, 120, 240, 480, 960, 1920, 3600]);
    expect(backoffSeconds(0, 60, 3600)).toBe(60);
    expect(backoffSeconds(3, 0.25, 10)).toBe(1);
    expect(backoffSeconds(50, 1, 30)).toBe(30);
  });
});
