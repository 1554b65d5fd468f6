// Recognises "rate limited" in what an agent printed, and when it may try
// again. Rate limits are not failures: the spec waits and is relaunched.

// What Codex, Claude/Auto-Claude and HTTP APIs say when they throttle.
// Narrow enough that a failing spec about rate limiting (rate-limit.test.ts, a rate limiter),
// a compiler error on line 429 or a full disk is a failure, not a wait.
const BUILTIN = [
  /(?<![\w/.-])rate[ _-]?limit(?!er|ing|[\w-]*\.[a-z]{1,4}\b)/i,
  /\b(?:http|status|code)\W{0,3}(?:code\W{0,3})?429\b|\b429\W{0,3}too many\b|error\W{0,3}429\W{0,3}(?:too|rate|from)\b/i,
  /too many requests/i,
  /usage limit/i,
  /high demand/i,
  /\b(?:usage|rate|request|message|session|weekly|daily|\d+[- ]?hour)s? limit (?:reached|exceeded)\b/i,
  /\blimit reached\b.*\bresets?\b/i,
  /(?<!disk )quota (?:exceeded|exhausted)/i,
  /\b(?:server|model|api|service|engine|system)s? (?:is |are )?(?:currently |temporarily )?overloaded\b|\boverloaded_error\b/i,
];

export interface RateLimitHit {
  /** The line that said so. */
  message: string;
  /** When the agent said the limit resets, if it did. */
  resetAt?: Date;
}

function compile(patterns: string[]): RegExp[] {
  return patterns.flatMap((p) => {
    try {
      return [new RegExp(p, 'i')];
    } catch {
      return [];
    }
  });
}

/** The last line of `text` that reports a rate limit, with the reset time when one is given. */
export function detectRateLimit(text: string, extraPatterns: string[] = [], now = new Date()): RateLimitHit | undefined {
  const patterns = [...BUILTIN, ...compile(extraPatterns)];
  const lines = text.split('\n').filter((l) => l.trim());
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (patterns.some((p) => p.test(line))) {
      const message = line.trim().slice(0, 300);
      const resetAt = parseResetTime(line, now) ?? parseResetTime(lines.slice(i, i + 3).join(' '), now);
      return resetAt ? { message, resetAt } : { message };
    }
  }
  return undefined;
}

const UNIT: Record<string, number> = { s: 1, sec: 1, secs: 1, second: 1, seconds: 1, m: 60, min: 60, mins: 60, minute: 60, minutes: 60, h: 3600, hr: 3600, hrs: 3600, hour: 3600, hours: 3600, d: 86400, day: 86400, days: 86400 };

/**
 * "resets 6pm", "resets at 18:30", "try again at 3:45 PM", "try again in 1m30s",
 * "retry after 20 seconds", "usage limit reached|1767225600" (epoch seconds).
 */
export function parseResetTime(text: string, now = new Date()): Date | undefined {
  const epoch = /\|(\d{10})\b/.exec(text);
  if (epoch) return new Date(Number(epoch[1]) * 1000);
  const rel = /(?:in|after)\s+((?:\d+(?:\.\d+)?\s*(?:days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)(?![a-z])[\s,]*(?:and\s+)?)+)/i.exec(text);
  if (rel) {
    let secs = 0;
    for (const m of rel[1]!.matchAll(/(\d+(?:\.\d+)?)\s*([a-z]+)/gi)) secs += Number(m[1]) * (UNIT[m[2]!.toLowerCase()] ?? 0);
    if (secs > 0) return new Date(now.getTime() + secs * 1000);
  }
  const at = /(?:resets?|try again|available again|until)\s+(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*(am|pm)?\b/i.exec(text);
  if (at) {
    let hour = Number(at[1]);
    const minute = Number(at[2] ?? 0);
    const ampm = at[3]?.toLowerCase();
    if (!ampm && at[2] === undefined) return undefined; // a bare number is not a time
    if (ampm === 'pm' && hour < 12) hour += 12;
    if (ampm === 'am' && hour === 12) hour = 0;
    if (hour > 23 || minute > 59) return undefined;
    const d = new Date(now);
    d.setHours(hour, minute, 0, 0);
    // The next such time: 6pm said at 7pm means tomorrow.
    if (d.getTime() <= now.getTime()) d.setDate(d.getDate() + 1);
    return d;
  }
  return undefined;
}

/** Wait after the n-th rate limit (1-based) when the agent gave no reset time. */
export function backoffSeconds(n: number, base: number, max: number): number {
  return Math.min(max, base * 2 ** Math.max(0, n - 1));
}
