// Recognises "rate limited" in what an agent printed, and when it may try
// again. Rate limits are not failures: the spec waits and is relaunched.
// Billing/quota exhaustion is not a rate limit: waiting does not fix it.

// What Codex, Claude/Auto-Claude and HTTP APIs say when they throttle.
// Narrow enough that a failing spec about rate limiting (rate-limit.test.ts, a rate limiter),
// a compiler error on line 429 or a full disk is a failure, not a wait.
// No bare "quota exceeded": the billing kind is QUOTA's, and a spec about quotas says it too.
const BUILTIN = [
  /(?<![\w/.-])rate[ _-]?limit(?!er|ing|[\w-]*\.[a-z]{1,4}\b)/i,
  /\b(?:http|status|code)\W{0,3}(?:code\W{0,3})?429\b|\b429\W{0,3}too many\b|error\W{0,3}429\W{0,3}(?:too|rate|from)\b/i,
  /too many requests/i,
  /usage limit/i,
  /high demand/i,
  /\b(?:usage|rate|request|message|session|weekly|daily|\d+[- ]?hour)s? limit (?:reached|exceeded)\b/i,
  /\blimit reached\b.*\bresets?\b/i,
  /\b(?:server|model|api|service|engine|system)s? (?:is |are )?(?:currently |temporarily )?overloaded\b|\boverloaded_error\b/i,
];

// Out of credit or over the plan's quota (OpenAI, Codex, Anthropic): no reset
// time, so the run should stop, not wait. Exact wordings only, so that a spec
// implementing quotas or credit balances is an ordinary failure.
const QUOTA = [
  /\binsufficient_quota\b/i,
  /\bbilling_hard_limit_reached\b|\bbilling hard limit (?:has been )?reached\b/i,
  /\bquota exceeded\.?\s+check your plan and billing\b/i,
  /\byou exceeded your current quota\b/i,
  /\bcredit balance is too low\b/i,
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

function nonEmptyLines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim());
}

/** The last line of `text` that reports a rate limit, with the reset time when one is given. */
export function detectRateLimit(text: string, extraPatterns: string[] = [], now = new Date()): RateLimitHit | undefined {
  const patterns = [...BUILTIN, ...compile(extraPatterns)];
  const lines = nonEmptyLines(text);
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    // Out of quota is the agent's last word: no wait will help, whatever came before.
    if (QUOTA.some((p) => p.test(line))) return undefined;
    if (patterns.some((p) => p.test(line))) {
      const message = line.trim().slice(0, 300);
      const resetAt = parseResetTime(line, now) ?? parseResetTime(lines.slice(i, i + 3).join(' '), now);
      return resetAt ? { message, resetAt } : { message };
    }
  }
  return undefined;
}

/**
 * The last line of `text` that says the account is out of credit or over its
 * billing quota ("insufficient_quota", "Quota exceeded. Check your plan and
 * billing details.", "Credit balance is too low"), trimmed to 300 characters.
 */
export function detectQuotaExhausted(text: string, extraPatterns: string[] = []): { message: string } | undefined {
  const patterns = [...QUOTA, ...compile(extraPatterns)];
  const lines = nonEmptyLines(text);
  for (let i = lines.length - 1; i >= 0; i--) {
    if (patterns.some((p) => p.test(lines[i]!))) return { message: lines[i]!.trim().slice(0, 300) };
  }
  return undefined;
}

const UNIT: Record<string, number> = { s: 1, sec: 1, secs: 1, second: 1, seconds: 1, m: 60, min: 60, mins: 60, minute: 60, minutes: 60, h: 3600, hr: 3600, hrs: 3600, hour: 3600, hours: 3600, d: 86400, day: 86400, days: 86400 };

// The words before a reset time, and what may sit between them and it:
// "resets 6pm", "try again at …", `"resets_at": "…"`, "reset_at=…", "available again on …".
const KEY = String.raw`\b(?:resets?(?:[_ -]?at)?|try again|available again|until|retry after)\b`;
const SEP = String.raw`["']?\s*[:=]?\s*["']?\s*(?:(?:at|on)\s+)?`;
// 6pm, 3:07 PM, 18:30, 18:30:15. A bare number is rejected later, in clock().
const TIME = String.raw`(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?(?!\d)(?:\s*([ap]m)\b)?`;
const MONTH = String.raw`(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?`;
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

const EPOCH_BAR = /\|(\d{10})(?!\d)/;
const EPOCH_KEY = new RegExp(String.raw`\bresets?(?:[_ -]?at)?\b${SEP}(\d{10})(?!\d)`, 'i');
const ISO = new RegExp(String.raw`${KEY}${SEP}(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(?:\s*(Z|[+-]\d{2}(?::?\d{2})?)(?![\w:]))?)?(?![\d:])`, 'i');
const DATED = new RegExp(String.raw`${KEY}${SEP}${MONTH}\s+(\d{1,2})(?:st|nd|rd|th)?(?!\d)(?:,?\s*(\d{4})(?!\d))?(?:,?\s+(?:at\s+)?${TIME})?`, 'i');
const TOMORROW = new RegExp(String.raw`${KEY}${SEP}tomorrow\b(?:,?\s+(?:at\s+)?${TIME})?`, 'i');
const RELATIVE = /(?:in|after)\s+((?:\d+(?:\.\d+)?\s*(?:days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)(?![a-z])[\s,]*(?:and\s+)?)+)/i;
const CLOCK = new RegExp(String.raw`${KEY}\s+(?:at\s+)?${TIME}(\s+tomorrow\b)?`, 'i');

// How far in the past a printed reset may be and still mean "now": the
// message was printed before the agent exited and this ran.
const SLACK_MS = 60_000;

interface Clock {
  hour: number;
  minute: number;
  second: number;
  /** Printed to the minute: the reset may be anywhere in that minute, so take its end. */
  minuteOnly: boolean;
}

function clock(h: string, m: string | undefined, s: string | undefined, ampm: string | undefined): Clock | undefined {
  if (!ampm && m === undefined) return undefined; // a bare number is not a time
  let hour = Number(h);
  const minute = Number(m ?? 0);
  const second = Number(s ?? 0);
  const half = ampm?.toLowerCase();
  if (half) {
    if (hour < 1 || hour > 12) return undefined;
    if (half === 'pm' && hour < 12) hour += 12;
    if (half === 'am' && hour === 12) hour = 0;
  }
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  return { hour, minute, second, minuteOnly: m !== undefined && s === undefined };
}

/** That local day at that clock time, rounded up to the end of a printed minute; undefined for Feb 30. */
function localTime(year: number, month: number, day: number, c: Clock | undefined): Date | undefined {
  const d = new Date(year, month, day, c?.hour ?? 0, c?.minute ?? 0, c?.second ?? 0, 0);
  if (d.getFullYear() !== year || d.getMonth() !== month || d.getDate() !== day) return undefined;
  return c?.minuteOnly ? new Date(d.getTime() + 60_000) : d;
}

/** A reset given with its date: never in the past (the caller then backs off instead). */
function future(d: Date | undefined, now: Date): Date | undefined {
  if (!d || Number.isNaN(d.getTime())) return undefined;
  if (d.getTime() > now.getTime()) return d;
  return now.getTime() - d.getTime() <= SLACK_MS ? new Date(now) : undefined;
}

function parseIso(m: RegExpExecArray): Date | undefined {
  const [year, month, day] = [Number(m[1]), Number(m[2]) - 1, Number(m[3])];
  const c = m[4] === undefined ? undefined : clock(m[4], m[5], m[6], undefined);
  if (m[4] !== undefined && !c) return undefined;
  const fraction = Number(m[7] ?? 0) * 1000;
  const zone = m[8];
  if (!zone) {
    const d = localTime(year, month, day, c);
    return d && new Date(d.getTime() + fraction);
  }
  // An explicit zone: the instant does not depend on the local one.
  const utc = new Date(Date.UTC(year, month, day, c?.hour ?? 0, c?.minute ?? 0, c?.second ?? 0) + fraction);
  if (utc.getUTCMonth() !== month || utc.getUTCDate() !== day) return undefined;
  const z = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone);
  const offsetMs = z ? (z[1] === '-' ? -1 : 1) * (Number(z[2]) * 60 + Number(z[3] ?? 0)) * 60_000 : 0;
  return new Date(utc.getTime() - offsetMs + (c?.minuteOnly ? 60_000 : 0));
}

function parseDated(m: RegExpExecArray, now: Date): Date | undefined {
  const month = MONTHS.indexOf(m[1]!.slice(0, 3).toLowerCase());
  const day = Number(m[2]);
  const c = m[4] === undefined ? undefined : clock(m[4], m[5], m[6], m[7]);
  if (m[4] !== undefined && !c) return undefined;
  let year = m[3] ? Number(m[3]) : now.getFullYear();
  if (!m[3]) {
    // No year: the next such date at or after today.
    const today = new Date(now.getFullYear(), now.getMonth(), now.getDate());
    const that = new Date(year, month, day);
    if (that.getMonth() === month && that.getTime() < today.getTime()) year += 1;
  }
  return localTime(year, month, day, c);
}

/**
 * When a rate limit resets, from what the agent printed:
 * - epoch seconds: "usage limit reached|1767225600", `"resets_at": 1767225600`;
 * - ISO 8601: "resets at 2026-12-03T01:07:00Z", "…+01:00", "2026-12-03 01:07" (local);
 * - a date: "try again at Dec 3rd, 2026 1:07 AM" (Codex), "resets December 3 at 13:07" (next Dec 3);
 * - "resets tomorrow at 9am", "try again tomorrow" (00:00);
 * - a wait: "try again in 1m30s", "retry after 20 seconds";
 * - a clock time, the next one: "resets 6pm", "resets at 18:30", "try again at 3:45 PM".
 * A time printed to the minute is the end of that minute (3:45 PM → 15:46:00): the
 * real reset is somewhere in it, and a relaunch before it wastes an attempt.
 * A dated reset more than a minute in the past gives undefined, never a past time.
 */
export function parseResetTime(text: string, now = new Date()): Date | undefined {
  const epoch = EPOCH_BAR.exec(text) ?? EPOCH_KEY.exec(text);
  if (epoch) return future(new Date(Number(epoch[1]) * 1000), now);
  const iso = ISO.exec(text);
  if (iso) return future(parseIso(iso), now);
  const dated = DATED.exec(text);
  if (dated) return future(parseDated(dated, now), now);
  const tomorrow = TOMORROW.exec(text);
  if (tomorrow) {
    const c = tomorrow[1] === undefined ? undefined : clock(tomorrow[1], tomorrow[2], tomorrow[3], tomorrow[4]);
    if (tomorrow[1] !== undefined && !c) return undefined;
    return tomorrowAt(now, c);
  }
  const rel = RELATIVE.exec(text);
  if (rel) {
    let secs = 0;
    for (const m of rel[1]!.matchAll(/(\d+(?:\.\d+)?)\s*([a-z]+)/gi)) secs += Number(m[1]) * (UNIT[m[2]!.toLowerCase()] ?? 0);
    if (secs > 0) return new Date(now.getTime() + secs * 1000);
  }
  const at = CLOCK.exec(text);
  if (at) {
    const c = clock(at[1]!, at[2], at[3], at[4]);
    if (!c) return undefined;
    if (at[5]) return tomorrowAt(now, c);
    const d = localTime(now.getFullYear(), now.getMonth(), now.getDate(), c)!;
    if (d.getTime() > now.getTime()) return d;
    // Just passed: it has reset. Longer ago: the next such time, 6pm said at 7pm is tomorrow.
    if (now.getTime() - d.getTime() <= SLACK_MS) return new Date(now);
    return tomorrowAt(now, c);
  }
  return undefined;
}

/** Tomorrow (local) at that clock time, or at 00:00; setDate rolls over month and year ends. */
function tomorrowAt(now: Date, c: Clock | undefined): Date {
  const d = new Date(now);
  d.setDate(d.getDate() + 1);
  d.setHours(c?.hour ?? 0, c?.minute ?? 0, c?.second ?? 0, 0);
  return c?.minuteOnly ? new Date(d.getTime() + 60_000) : d;
}

/** Wait after the n-th rate limit (1-based) when the agent gave no reset time. */
export function backoffSeconds(n: number, base: number, max: number): number {
  return Math.min(max, base * 2 ** Math.max(0, n - 1));
}
