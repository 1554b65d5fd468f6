// What counts as a rate limit in an agent's output, and when it may try
// again. Times are local (as the agents print them), so every "now" is built
// with the local-time Date constructor and the tests hold in any time zone.
// A time printed to the minute means the end of that minute: 3:45 PM is 15:46:00.
import { describe, expect, it } from 'vitest';
import { backoffSeconds, detectQuotaExhausted, detectRateLimit, parseResetTime } from '../src/agents/rate-limit.js';

// Thursday 15 January 2026, 10:00 local time.
const NOW = new Date(2026, 0, 15, 10, 0, 0);
const at = (h: number, m = 0, day = 15) => new Date(2026, 0, day, h, m, 0, 0);
const plus = (seconds: number) => new Date(NOW.getTime() + seconds * 1000);
// Eight hours after NOW in epoch seconds: in the future whatever the time zone.
const EPOCH = Math.floor(NOW.getTime() / 1000) + 8 * 3600;

describe('detectRateLimit: what the agents print when they are throttled', () => {
  it('Codex: HTTP 429 from the Responses API', () => {
    const hit = detectRateLimit('stream error: exceeded retry limit, last status: 429 Too Many Requests', [], NOW);
    expect(hit).toEqual({ message: 'stream error: exceeded retry limit, last status: 429 Too Many Requests' });
  });

  it('Codex: retries used up on 429, bare or with a request id, gives no reset time', () => {
    for (const line of ['exceeded retry limit, last status: 429 Too Many Requests', 'exceeded retry limit, last status: 429 Too Many Requests, request id: req_123']) {
      expect(detectRateLimit(`working\n${line}\n`, [], NOW)).toEqual({ message: line });
    }
  });

  it('Codex: the usage limit, with the time it may try again (end of that minute)', () => {
    const line = "You've hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro) or try again at 3:45 PM.";
    expect(detectRateLimit(line, [], NOW)).toEqual({ message: line, resetAt: at(15, 46) });
  });

  it('Codex 0.171: the usage limit with a date, when the reset is not today', () => {
    const line = "You've hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit https://chatgpt.com/codex/settings/usage to purchase more credits or try again at Dec 3rd, 2026 1:07 AM.";
    expect(detectRateLimit(line, [], NOW)).toEqual({ message: line, resetAt: new Date(2026, 11, 3, 1, 8) });
    expect(detectQuotaExhausted(line)).toBeUndefined(); // it resets: a rate limit, not out of quota
  });

  it('Codex: the generic usage-limit wording, capitalised "Try again at"', () => {
    const line = "You've hit your usage limit. Try again at Jan 16th, 2026 12:08 AM.";
    expect(detectRateLimit(line, [], NOW)).toEqual({ message: line, resetAt: new Date(2026, 0, 16, 0, 9) });
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
    expect(detectRateLimit('Limit reached · resets 9:30am', [], NOW)).toEqual({ message: 'Limit reached · resets 9:30am', resetAt: at(9, 31, 16) });
  });

  it('Claude Code: "Claude AI usage limit reached|<epoch seconds>"', () => {
    expect(detectRateLimit(`Claude AI usage limit reached|${EPOCH}`, [], NOW)).toEqual({
      message: `Claude AI usage limit reached|${EPOCH}`,
      resetAt: new Date(EPOCH * 1000),
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
      ['Codex: out of quota (billing, not a wait)', 'Quota exceeded. Check your plan and billing details.'],
      ['OpenAI: 429 insufficient_quota', 'unexpected status 429 Too Many Requests: You exceeded your current quota, please check your plan and billing details.'],
      ['Claude: out of credit', 'Credit balance is too low'],
      ['a spec about quotas', 'AssertionError: expected error "quota exceeded", got 200'],
      ['nothing at all', ''],
    ];
    for (const [what, text] of notLimits) it(what, () => expect(detectRateLimit(text, [], NOW)).toBeUndefined());
  });
});

describe('parseResetTime', () => {
  it('clock times: the next such time, today or tomorrow', () => {
    expect(parseResetTime('resets 6pm', NOW)).toEqual(at(18));
    expect(parseResetTime('resets at 18:30', NOW)).toEqual(at(18, 31));
    expect(parseResetTime('try again at 3:45 PM', NOW)).toEqual(at(15, 46));
    expect(parseResetTime('available again at 10:30', NOW)).toEqual(at(10, 31));
    // Already past today: tomorrow.
    expect(parseResetTime('resets 9am', NOW)).toEqual(at(9, 0, 16));
    // 10:00 printed to the minute is 10:00:00-10:00:59: not over yet at 10:00:00.
    expect(parseResetTime('resets 10:00', NOW)).toEqual(at(10, 1));
    // 12am is midnight, 12pm noon.
    expect(parseResetTime('resets 12am', NOW)).toEqual(at(0, 0, 16));
    expect(parseResetTime('resets 12pm', NOW)).toEqual(at(12));
    expect(parseResetTime('resets 13pm', NOW)).toBeUndefined();
  });

  it('precision: a minute is rounded up to its end, an hour or a second is exact', () => {
    // Codex prints 12:08 AM for a reset at 00:08:52; relaunching at 00:08:00 would be too early.
    const late = new Date(2026, 0, 15, 23, 50);
    expect(parseResetTime('try again at 12:08 AM', late)).toEqual(new Date(2026, 0, 16, 0, 9));
    const during = new Date(2026, 0, 16, 0, 8, 30);
    expect(parseResetTime('try again at 12:08 AM', during)).toEqual(new Date(2026, 0, 16, 0, 9));
    expect(parseResetTime('resets 6pm', NOW)).toEqual(at(18));
    expect(parseResetTime('resets at 18:30:15', NOW)).toEqual(new Date(2026, 0, 15, 18, 30, 15));
  });

  it('a clock time that just passed means now; longer ago, tomorrow', () => {
    const now = new Date(2026, 0, 15, 10, 0, 30);
    expect(parseResetTime('try again at 9:59 AM', now)).toEqual(now); // ended 10:00:00, 30 s ago
    expect(parseResetTime('resets 10am', NOW)).toEqual(NOW); // exactly now
    expect(parseResetTime('try again at 9:58 AM', now)).toEqual(new Date(2026, 0, 16, 9, 59));
  });

  it('Codex dates: month name, day with ordinal, year, 12-hour time', () => {
    expect(parseResetTime('or try again at Dec 3rd, 2026 1:07 AM.', NOW)).toEqual(new Date(2026, 11, 3, 1, 8));
    expect(parseResetTime('Try again at Mar 2nd, 2026 11:59 PM.', NOW)).toEqual(new Date(2026, 2, 3, 0, 0));
    expect(parseResetTime('try again at Apr 11th, 2026 12:00 PM', NOW)).toEqual(new Date(2026, 3, 11, 12, 1));
    expect(parseResetTime('try again at Feb 21st, 2027 12:30 AM', NOW)).toEqual(new Date(2027, 1, 21, 0, 31));
    // Across a year end: Dec 31 23:59 ends at 00:00 on Jan 1.
    expect(parseResetTime('try again at Dec 31st, 2026 11:59 PM', NOW)).toEqual(new Date(2027, 0, 1, 0, 0));
  });

  it('dates in other shapes: long month names, 24-hour time, "at", no time', () => {
    expect(parseResetTime('resets December 3, 2026 at 13:07', NOW)).toEqual(new Date(2026, 11, 3, 13, 8));
    expect(parseResetTime('available again on September 3rd, 2026 at 9am', NOW)).toEqual(new Date(2026, 8, 3, 9, 0));
    expect(parseResetTime('resets Sept. 3 2026 9:00:30 PM', NOW)).toEqual(new Date(2026, 8, 3, 21, 0, 30));
    expect(parseResetTime('resets on Jun 1st, 2026', NOW)).toEqual(new Date(2026, 5, 1, 0, 0));
  });

  it('a date without a year: the next such date, today included', () => {
    expect(parseResetTime('try again at Feb 1st 9:00 PM', NOW)).toEqual(new Date(2026, 1, 1, 21, 1));
    expect(parseResetTime('resets Jan 15 11:30 AM', NOW)).toEqual(at(11, 31));
    expect(parseResetTime('try again at Jan 14th, 9:00 AM', NOW)).toEqual(new Date(2027, 0, 14, 9, 1));
  });

  it('a dated reset in the past gives nothing (the caller backs off); within the last minute, now', () => {
    expect(parseResetTime('try again at Dec 3rd, 2025 1:07 AM', NOW)).toBeUndefined();
    expect(parseResetTime('resets Jan 15 9:30 AM', NOW)).toBeUndefined(); // today, already past
    const now = new Date(2026, 0, 15, 10, 0, 30);
    expect(parseResetTime('try again at Jan 15th, 2026 9:59 AM', now)).toEqual(now);
    expect(parseResetTime('try again at Jan 15th, 2026 9:58 AM', now)).toBeUndefined();
  });

  it('impossible dates give nothing', () => {
    expect(parseResetTime('try again at Feb 30th, 2026 1:00 AM', NOW)).toBeUndefined();
    expect(parseResetTime('try again at Dec 3rd, 2026 13:07 PM', NOW)).toBeUndefined();
    expect(parseResetTime('try again at Dec 3rd, 2026 at 5', NOW)).toBeUndefined(); // a bare number is not a time
  });

  it('ISO 8601: with a zone the instant is absolute; without, local; seconds are exact, minutes rounded up', () => {
    expect(parseResetTime('resets at 2026-12-03T01:07:00Z', NOW)).toEqual(new Date(Date.UTC(2026, 11, 3, 1, 7, 0)));
    expect(parseResetTime('resets at 2026-12-03T01:07:00+01:00', NOW)).toEqual(new Date(Date.UTC(2026, 11, 3, 0, 7, 0)));
    expect(parseResetTime('resets at 2026-12-03T01:07:00-0530', NOW)).toEqual(new Date(Date.UTC(2026, 11, 3, 6, 37, 0)));
    expect(parseResetTime('resets at 2026-12-03T01:07Z', NOW)).toEqual(new Date(Date.UTC(2026, 11, 3, 1, 8, 0)));
    expect(parseResetTime('resets at 2026-12-03 01:07', NOW)).toEqual(new Date(2026, 11, 3, 1, 8));
    expect(parseResetTime('try again at 2026-12-03T01:07:30', NOW)).toEqual(new Date(2026, 11, 3, 1, 7, 30));
    expect(parseResetTime('{"error":"rate_limited","resets_at":"2026-12-03T01:07:00.500Z"}', NOW)).toEqual(new Date(Date.UTC(2026, 11, 3, 1, 7, 0, 500)));
    expect(parseResetTime('resets on 2026-12-03', NOW)).toEqual(new Date(2026, 11, 3));
  });

  it('ISO 8601: past or impossible gives nothing; a log timestamp is not a reset time', () => {
    expect(parseResetTime('resets at 2025-12-03T01:07:00Z', NOW)).toBeUndefined();
    expect(parseResetTime('resets at 2026-02-30T01:07:00Z', NOW)).toBeUndefined();
    expect(parseResetTime('resets at 2026-12-03T25:07:00Z', NOW)).toBeUndefined();
    expect(parseResetTime('2026-12-03T01:07:00Z WARN rate limit exceeded', NOW)).toBeUndefined();
  });

  it('tomorrow: at the time given, else at 00:00', () => {
    expect(parseResetTime('resets tomorrow at 9am', NOW)).toEqual(at(9, 0, 16));
    expect(parseResetTime('try again tomorrow', NOW)).toEqual(at(0, 0, 16));
    expect(parseResetTime('Try again tomorrow.', NOW)).toEqual(at(0, 0, 16));
    expect(parseResetTime('available again tomorrow at 14:30', NOW)).toEqual(at(14, 31, 16));
    // Later today, but it says tomorrow.
    expect(parseResetTime('try again at 11am tomorrow', NOW)).toEqual(at(11, 0, 16));
    // Across a month and a year end.
    expect(parseResetTime('try again tomorrow at 1:00 AM', new Date(2026, 11, 31, 22, 0))).toEqual(new Date(2027, 0, 1, 1, 1));
    expect(parseResetTime('resets tomorrow at 9', NOW)).toBeUndefined(); // a bare number is not a time
  });

  it('relative waits, in any mix of units', () => {
    expect(parseResetTime('try again in 1m30s', NOW)).toEqual(plus(90));
    expect(parseResetTime('Please try again in 1m 30s.', NOW)).toEqual(plus(90));
    expect(parseResetTime('try again in 1.5s', NOW)).toEqual(plus(1.5));
    expect(parseResetTime('retry after 20 seconds', NOW)).toEqual(plus(20));
    expect(parseResetTime('try again in 2 hours and 5 minutes', NOW)).toEqual(plus(2 * 3600 + 300));
    expect(parseResetTime('resets in 1d 2h', NOW)).toEqual(plus(86400 + 7200));
  });

  it('epoch seconds after a bar (Claude Code) or a reset key', () => {
    const t = new Date(EPOCH * 1000);
    expect(parseResetTime(`Claude AI usage limit reached|${EPOCH}`, NOW)).toEqual(t);
    expect(parseResetTime(`{"type":"rate_limit","resets_at":${EPOCH}}`, NOW)).toEqual(t);
    expect(parseResetTime(`reset_at: ${EPOCH}`, NOW)).toEqual(t);
    expect(parseResetTime(`"resetsAt": "${EPOCH}"`, NOW)).toEqual(t);
    expect(parseResetTime(`preset=${EPOCH}`, NOW)).toBeUndefined(); // a word that ends in "reset" is not the key
  });

  it('epoch seconds in the past, or milliseconds, give nothing', () => {
    expect(parseResetTime(`usage limit reached|${EPOCH - 9 * 3600}`, NOW)).toBeUndefined();
    expect(parseResetTime(`"resets_at":${EPOCH}000`, NOW)).toBeUndefined();
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

describe('detectQuotaExhausted: out of credit or quota, which waiting does not fix', () => {
  const quota: [string, string][] = [
    ['Codex', 'Quota exceeded. Check your plan and billing details.'],
    ['OpenAI API error code', 'ERROR: {"error":{"message":"...","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}'],
    ['OpenAI API message', 'unexpected status 429 Too Many Requests: You exceeded your current quota, please check your plan and billing details.'],
    ['OpenAI billing hard limit', 'Error code: 400 - billing_hard_limit_reached'],
    ['OpenAI billing hard limit, in words', 'Billing hard limit has been reached'],
    ['Claude Code', 'Credit balance is too low'],
    ['Anthropic API', 'API Error: 400 {"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}}'],
    ['any case', 'CREDIT BALANCE IS TOO LOW'],
  ];
  for (const [who, line] of quota) {
    it(`${who}: quota exhausted, and not a rate limit`, () => {
      expect(detectQuotaExhausted(`working\n  ${line}  \n`)).toEqual({ message: line });
      expect(detectRateLimit(line, [], NOW)).toBeUndefined();
    });
  }

  it('the last line that says so wins, trimmed and at most 300 characters', () => {
    const text = ['insufficient_quota', 'retrying', `Credit balance is too low ${'x'.repeat(400)}`, 'bye'].join('\n');
    expect(detectQuotaExhausted(text)).toEqual({ message: `Credit balance is too low ${'x'.repeat(274)}` });
  });

  it('configured patterns count too; a broken one is ignored', () => {
    expect(detectQuotaExhausted('provider: wallet empty')).toBeUndefined();
    expect(detectQuotaExhausted('provider: wallet empty', ['(unclosed', 'wallet empty'])).toEqual({ message: 'provider: wallet empty' });
  });

  it('out of quota after a rate limit: no rate limit (waiting will not help); a rate limit after it counts', () => {
    expect(detectRateLimit('HTTP 429 Too Many Requests\nQuota exceeded. Check your plan and billing details.', [], NOW)).toBeUndefined();
    expect(detectRateLimit('Credit balance is too low\nrate limit exceeded, try again in 10s', [], NOW)).toEqual({ message: 'rate limit exceeded, try again in 10s', resetAt: plus(10) });
  });

  describe('must not count', () => {
    const notQuota: [string, string][] = [
      ['a full disk', 'write out/db.sqlite: Disk quota exceeded'],
      ['a spec about quotas', 'FAIL test/quota.test.ts > rejects the request when the quota is exceeded'],
      ['a quota error being built', 'AssertionError: expected error "quota exceeded", got 200'],
      ['a spec about credit balances', 'expected credit balance 100 to equal 90'],
      ['Codex usage limit (it resets)', "You've hit your usage limit. Visit https://chatgpt.com/codex/settings/usage to purchase more credits or try again later."],
      ['a rate limit', 'stream error: exceeded retry limit, last status: 429 Too Many Requests'],
      ['nothing at all', ''],
    ];
    for (const [what, text] of notQuota) it(what, () => expect(detectQuotaExhausted(text)).toBeUndefined());
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
