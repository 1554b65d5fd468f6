// Reading a rate limit and its reset time (src/agents/rate-limit.ts) at its boundaries: where the
// message sits among the lines, clock times, dates, waits; and the waves a table makes
// (src/config/waves.ts) at theirs. Local times are built with the local Date constructor; the one
// test that needs a zone other than UTC sets TZ for itself and restores it.
import { afterEach, describe, expect, it } from 'vitest';
import { detectQuotaExhausted, detectRateLimit, parseResetTime } from '../src/agents/rate-limit.js';

const NOW = new Date(2026, 0, 15, 10, 0, 0);
const tz = process.env.TZ;
afterEach(() => {
  if (tz === undefined) delete process.env.TZ;
  else process.env.TZ = tz;
});

describe('where the message and its reset sit among the lines', () => {
  it('blank and blank-looking lines do not count: a reset two lines below is still read', () => {
    const text = 'rate limit reached\n   \n\n \ntry again in\n5 minutes\n';
    expect(detectRateLimit(text, [], NOW)).toEqual({ message: 'rate limit reached', resetAt: new Date(NOW.getTime() + 300_000) });
  });

  it('the message is trimmed and cut at 300 characters', () => {
    const long = `   429 Too Many Requests ${'x'.repeat(400)}   `;
    expect(detectRateLimit(long, [], NOW)!.message).toBe(long.trim().slice(0, 300));
    expect(detectQuotaExhausted(`  insufficient_quota ${'y'.repeat(400)}`)!.message).toBe(`insufficient_quota ${'y'.repeat(400)}`.slice(0, 300));
  });
});

describe('clock times', () => {
  it('am/pm hours run 1 to 12; 24-hour clocks to 23:59:59', () => {
    expect(parseResetTime('resets at 13pm', NOW)).toBeUndefined();
    expect(parseResetTime('resets at 0am', NOW)).toBeUndefined();
    expect(parseResetTime('resets at 12am', NOW)).toEqual(new Date(2026, 0, 16, 0, 0, 0));
    expect(parseResetTime('resets at 24:00', NOW)).toBeUndefined();
    expect(parseResetTime('resets at 18:60', NOW)).toBeUndefined();
    expect(parseResetTime('resets at 18:30:60', NOW)).toBeUndefined();
    expect(parseResetTime('resets at 18:30:59', NOW)).toEqual(new Date(2026, 0, 15, 18, 30, 59));
  });

  it('a time exactly a minute past still means now; a second more is tomorrow', () => {
    expect(parseResetTime('resets at 09:59:00', NOW)).toEqual(NOW);
    expect(parseResetTime('resets at 09:58:59', NOW)).toEqual(new Date(2026, 0, 16, 9, 58, 59));
  });
});

describe('dates', () => {
  it('a date that does not exist is no reset time', () => {
    expect(parseResetTime('resets at 2026-02-29', NOW)).toBeUndefined();
    expect(parseResetTime('resets at 2026-13-01', NOW)).toBeUndefined();
    expect(parseResetTime('resets at 2026-02-30T10:00Z', NOW)).toBeUndefined();
    expect(parseResetTime('resets at 2026-13-01T10:00Z', NOW)).toBeUndefined();
    expect(parseResetTime('resets at 2026-02-28', NOW)).toEqual(new Date(2026, 1, 28));
  });

  it('seconds, fractions and zones of an ISO time are kept', () => {
    expect(parseResetTime('resets at 2026-12-03T01:07:30Z', NOW)).toEqual(new Date(Date.UTC(2026, 11, 3, 1, 7, 30)));
    expect(parseResetTime('resets at 2026-12-03T01:07:30.5Z', NOW)).toEqual(new Date(Date.UTC(2026, 11, 3, 1, 7, 30, 500)));
    expect(parseResetTime('resets at 2026-12-03T01:07:30+05:30', NOW)).toEqual(new Date(Date.UTC(2026, 11, 2, 19, 37, 30)));
    expect(parseResetTime('resets at 2026-12-03T01:07:30-0800', NOW)).toEqual(new Date(Date.UTC(2026, 11, 3, 9, 7, 30)));
    expect(parseResetTime('resets at 2026-12-03T01:07:30+05', NOW)).toEqual(new Date(Date.UTC(2026, 11, 2, 20, 7, 30)));
    expect(parseResetTime('resets at 2026-12-03 01:07:30.25', NOW)).toEqual(new Date(2026, 11, 3, 1, 7, 30, 250));
  });

  it('an ISO time without a zone is local time, not UTC', () => {
    // Away from UTC where the process lets TZ change (worker threads may keep theirs): local and UTC then differ.
    process.env.TZ = 'America/New_York';
    const now = new Date(Date.UTC(2026, 0, 15, 15, 0, 0));
    expect(parseResetTime('resets at 2026-12-03 01:07:30', now)).toEqual(new Date(2026, 11, 3, 1, 7, 30));
  });

  it('a dated reset later this year stays this year; one already past is next year', () => {
    expect(parseResetTime('resets December 3 at 13:07:00', NOW)).toEqual(new Date(2026, 11, 3, 13, 7, 0));
    expect(parseResetTime('resets January 10 at 13:07:00', NOW)).toEqual(new Date(2027, 0, 10, 13, 7, 0));
  });

  it('a dated reset exactly a minute ago means now; older means nothing', () => {
    const secs = Math.floor(NOW.getTime() / 1000);
    expect(parseResetTime(`usage limit reached|${secs - 60}`, NOW)).toEqual(NOW);
    expect(parseResetTime(`usage limit reached|${secs - 61}`, NOW)).toBeUndefined();
  });
});

describe('waits', () => {
  it('fractions of a unit count whole: 1.25 hours is 75 minutes', () => {
    expect(parseResetTime('try again in 1.25 hours', NOW)).toEqual(new Date(NOW.getTime() + 4500_000));
  });
});

describe('waves from the table', () => {
  const waves = async (specs: { id: string; wave?: number; dependsOn: string[] }[]) => {
    const { computeWaves } = await import('../src/config/waves.js');
    const r = computeWaves(specs);
    return { waves: Object.fromEntries(r.waves), problems: r.problems };
  };

  it('a cycle is named from where it closes, once per cycle; two cycles are two problems', async () => {
    expect(await waves([{ id: 'x', dependsOn: ['a'] }, { id: 'a', dependsOn: ['b'] }, { id: 'b', dependsOn: ['a', 'a'] }])).toEqual({
      waves: { b: 1, a: 2, x: 3 },
      problems: ['dependency cycle: a → b → a'],
    });
    expect((await waves([{ id: 'a', dependsOn: ['b'] }, { id: 'b', dependsOn: ['c'] }, { id: 'c', dependsOn: ['a', 'b'] }])).problems).toEqual(['dependency cycle: a → b → c → a', 'dependency cycle: b → c → b']);
  });

  it('in a cycle, an explicit wave still counts for what depends on it', async () => {
    expect(await waves([{ id: 'a', wave: 3, dependsOn: ['b'] }, { id: 'b', dependsOn: ['a'] }])).toEqual({
      waves: { a: 3, b: 4 },
      problems: ['dependency cycle: a → b → a', 'spec a (wave 3) depends on b (wave 4) — a dependency must sit in an earlier wave'],
    });
  });

  it('a spec on itself is one problem; explicit waves out of order are named; computed ones never are', async () => {
    expect(await waves([{ id: 'a', dependsOn: ['a'] }])).toEqual({ waves: { a: 0 }, problems: ['spec a depends on itself'] });
    expect((await waves([{ id: 'a', wave: 1, dependsOn: [] }, { id: 'b', wave: 1, dependsOn: ['a'] }])).problems).toEqual(['spec b (wave 1) depends on a (wave 1) — a dependency must sit in an earlier wave']);
    expect((await waves([{ id: 'a', wave: 1, dependsOn: [] }, { id: 'b', wave: 2, dependsOn: ['a'] }, { id: 'c', dependsOn: ['b'] }]))).toEqual({ waves: { a: 1, b: 2, c: 3 }, problems: [] });
  });

  it('"did you mean": nearest first, prefixes nearer, up to half the id\'s length away', async () => {
    const { closest } = await import('../src/config/waves.js');
    expect(closest('abc', ['abb', 'abcz'])).toBe(" (did you mean 'abcz', 'abb'?)");
    expect(closest('abcd', ['abbd', 'abc'])).toBe(" (did you mean 'abc', 'abbd'?)");
    expect(closest('abcdefgh', ['abcdwxyz'])).toBe(" (did you mean 'abcdwxyz'?)");
    expect(closest('abcdefgh', ['abcvwxyz'])).toBe('');
    expect(closest('01', ['011', '012', '1', '999', '0'])).toBe(" (did you mean '0', '011', '012'?)");
    expect(closest('zz', ['aaaa'])).toBe('');
  });
});

describe('the specs of a wave', () => {
  it('in table order; a wave with none is empty; the same table answers the same', async () => {
    const { specsOfWave } = await import('../src/config/spec-index.js');
    const specs = [{ id: 'a', wave: 1 }, { id: 'b', wave: 0 }, { id: 'c', wave: 1 }] as never[];
    const config = { specs };
    expect(specsOfWave(config, 1).map((s: { id: string }) => s.id)).toEqual(['a', 'c']);
    expect(specsOfWave(config, 7)).toEqual([]);
    expect(specsOfWave(config, 0).map((s: { id: string }) => s.id)).toEqual(['b']);
  });
});

describe('a table, an old state file and a failure with no limit, at their edges', () => {
  it('a spec on itself with an explicit wave is one problem, not two', async () => {
    const { computeWaves } = await import('../src/config/waves.js');
    expect(computeWaves([{ id: 'a', wave: 2, dependsOn: ['a'] }]).problems).toEqual(['spec a depends on itself']);
  });

  it('a state file from the old tool (no dispatch section) relaunches nothing', async () => {
    const { canRelaunch } = await import('../src/attempt/policy.js');
    const { resolveConfig } = await import('../src/config/load.js');
    const c = await resolveConfig({ project: 'p', specsDir: 's', agents: { a: { command: ['true'] } }, specs: [{ id: 'x', name: 'x', cost: 1, agent: 'a' }] }, '/p/specs.config.ts');
    expect(canRelaunch(c, { completed: [], failed: ['x'], skipped: [] }, 'x')).toBe(false);
  });

  it("an agent's failure with no limit in its output stays that failure", async () => {
    const { blameLimit } = await import('../src/attempt/verdict.js');
    const o = { ok: false as const, kind: 'agent-failed' as const, reason: 'agent exited with code 1' };
    expect(blameLimit(o, { aborted: false, exitCode: 1, said: 'error: 3 tests failed\n', patterns: [], now: NOW })).toEqual({ outcome: o });
  });
});

describe('rate-limit detection in its corners', () => {
  it('with no patterns of its own, only the built-in ones count (whatever the text says)', () => {
    expect(detectRateLimit('undefined\nStryker was here\n')).toBeUndefined();
    expect(detectQuotaExhausted('undefined\nStryker was here\n')).toBeUndefined();
  });

  it("reads only the lines there are: a pattern that matches 'undefined' finds nothing in other text", () => {
    expect(detectRateLimit('all good\nnothing to see', ['undefined'])).toBeUndefined();
    expect(detectQuotaExhausted('all good\nnothing to see', ['undefined'])).toBeUndefined();
    expect(detectRateLimit('all good\nundefined behaviour', ['undefined'])).toEqual({ message: 'undefined behaviour' });
  });

  it('a date that does not exist (February 30) gives no reset time, with or without a year', () => {
    expect(parseResetTime('resets at 2027-02-30 10:00', NOW)).toBeUndefined();
    expect(parseResetTime('resets February 30 at 10:00', NOW)).toBeUndefined();
    expect(parseResetTime('resets February 30, 2027 at 10:00', NOW)).toBeUndefined();
  });
});
