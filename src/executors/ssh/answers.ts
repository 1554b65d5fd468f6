// What an SSH host may answer, as zod schemas: a host is untrusted input. An
// answer is parsed here before anything of it is used; one that does not fit
// is refused with a line naming what was wrong, and nothing of it reaches the
// state (a state a host could make invalid would stop every later command).
import * as z from 'zod/mini';
import { describeIssue } from '../../config/issues.js';
import { VERDICT_KINDS } from '../../state/doc.js';
import type { PolledRun } from './wire.js';

// A run's folder name: never `.` or `..` (a cleanup of it would reach the runs or project folder).
const LABEL = /^(?!\.+$)[A-Za-z0-9._-]+$/;
const SHA = /^[0-9a-f]{40,64}$/;
const sha = z.string().check(z.regex(SHA, { message: 'expected a commit id' }));
const time = z.string().check(z.refine((s) => !Number.isNaN(Date.parse(s)), { message: 'expected a time' }));
const count = z.int().check(z.minimum(0));
const finite = z.number().check(z.refine(Number.isFinite, { message: 'expected a finite number' }));
const state = z.enum(['done', 'failed', 'rate-limited']);
const kind = z.enum(VERDICT_KINDS);

/**
 * Text a host sends that goes into the state, at most `max` characters: what a runner writes is far shorter
 * (a verify tail is 3,000 characters), and a host must not make the state file, which every command reads, huge.
 */
const text = (max: number) => z.string().check(z.maxLength(max, { message: `longer than ${max} characters, which no runner writes` }));

/** An attempt's history entry as a runner records it (the fields the state module reads). */
const attemptEntrySchema = z.object({
  n: z.optional(z.int()),
  startedAt: z.optional(time),
  endedAt: z.optional(time),
  state: z.optional(state),
  kind: z.optional(kind),
  reason: z.optional(z.string()),
  tokens: z.optional(z.object({ input: finite, cachedInput: finite, output: finite, total: finite, lowerBound: z.optional(z.boolean()) })),
  costUsd: z.optional(finite),
  exit: z.optional(z.object({ code: z.optional(z.int()), signal: z.optional(text(32)) })),
  verify: z.optional(z.array(z.object({
    argv: z.array(text(4096)).check(z.maxLength(256)), exitCode: z.optional(z.int()), signal: z.optional(text(32)), timedOut: z.optional(z.boolean()),
    error: z.optional(text(4096)), seconds: finite, ok: z.boolean(), tail: z.optional(text(8192)),
  })).check(z.maxLength(64))),
  qa: z.optional(text(200)),
  git: z.optional(z.object({
    before: z.optional(text(64)), after: z.optional(text(64)), files: count, insertions: count, deletions: count, changed: z.boolean(), shared: z.optional(z.boolean()),
  })),
  runId: z.optional(text(128)),
  wave: z.optional(z.int()),
  runner: z.optional(z.int().check(z.positive())),
});

/** What a finished run left (result.json). */
export const runResultSchema = z.object({
  id: text(256),
  attempt: z.int().check(z.positive()),
  runId: z.optional(text(128)),
  state,
  kind,
  reason: z.optional(z.string()),
  until: z.optional(time),
  entry: z.optional(attemptEntrySchema),
  head: z.optional(sha),
  endedAt: time,
});

/** `remote stop`'s answer: `started: false` when the run was not there yet (a host before this field always says it was). */
export const stopAnswerSchema = z.object({ stopped: z.boolean(), started: z.optional(z.boolean()) });

/** A run as `remote poll` reports it. */
export const polledRunSchema = z.object({
  label: z.string().check(z.regex(LABEL, { message: 'expected a run label' })),
  id: z.string(),
  attempt: z.int().check(z.positive()),
  runId: z.optional(z.string()),
  alive: z.optional(z.boolean()),
  pid: z.optional(z.int().check(z.positive())),
  logSize: count,
  result: z.optional(runResultSchema),
  since: finite,
  blob: z.optional(z.object({ log: count, bundle: count })),
});

/** Whose run an entry is, read from an entry that does not fit otherwise (to lose that spec, not guess). */
const runOwnerSchema = z.object({ id: z.string(), attempt: z.int().check(z.positive()), label: z.optional(z.string().check(z.regex(LABEL))) });

export const pollAnswerSchema = z.object({ runs: z.array(z.unknown()) });
export const startAnswerSchema = z.union([
  z.object({ label: z.string(), pane: z.string().check(z.minLength(1), z.maxLength(300)), worktree: z.string() }),
  z.object({ need: z.array(sha) }),
]);
export const receiveAnswerSchema = z.object({ received: sha });
export const checkAnswerSchema = z.object({
  version: z.string(),
  node: z.string(),
  tmux: z.boolean(),
  git: z.boolean(),
  checkout: z.enum(['repo', 'missing', 'not-a-repo']),
  bins: z.record(z.string(), z.nullable(z.string())),
});

/** The longest description of a misfit kept: the reason it goes into is read by every `status`. */
const PROBLEM_MAX = 300;
const cut = (s: string) => (s.length > PROBLEM_MAX ? `${s.slice(0, PROBLEM_MAX)}…` : s);

/** What is wrong with `value` for `schema`, in one line (the first two fields that do not fit), or undefined. */
export function misfit(schema: z.ZodMiniType, value: unknown): string | undefined {
  const r = schema.safeParse(value);
  if (r.success) return undefined;
  const lines = r.error.issues.slice(0, 2).map((i) => describeIssue(i, value).replace(/^\(config\): /, ''));
  return cut(lines.join('; '));
}

export class AnswerError extends Error {}

/** The answer's JSON, fitted to `schema`; else an AnswerError saying what was wrong (not JSON, or which field). */
export function parseAnswer<S extends z.ZodMiniType>(schema: S, text: string): z.infer<S> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    const shown = text.trim().split('\n')[0] ?? '';
    throw new AnswerError(shown ? `its answer is not JSON: ${cut(JSON.stringify(shown))}` : 'its answer was empty');
  }
  const r = schema.safeParse(value);
  if (!r.success) throw new AnswerError(`its answer does not fit: ${misfit(schema, value)}`);
  return r.data;
}

/** One polled run: the run, or (not fitting) what was wrong and, when it says so, whose run it is. */
export type PolledEntry = { run: PolledRun } | { bad: string; owner?: { id: string; attempt: number; label?: string } };

export function polledEntry(value: unknown): PolledEntry {
  const r = polledRunSchema.safeParse(value);
  if (r.success) {
    const run = r.data as PolledRun;
    // A result for another spec or attempt than its run's would be recorded against the wrong one.
    if (run.result && (run.result.id !== run.id || run.result.attempt !== run.attempt)) return { bad: `result: for ${cut(JSON.stringify(run.result.id))} attempt ${run.result.attempt}, in run ${cut(JSON.stringify(run.id))} attempt ${run.attempt}`, owner: { id: run.id, attempt: run.attempt, label: run.label } };
    return { run };
  }
  const owner = runOwnerSchema.safeParse(value);
  return { bad: misfit(polledRunSchema, value)!, ...(owner.success ? { owner: owner.data } : {}) };
}
