// zod/mini rather than classic zod: the same schemas at 1/15 of the bundle,
// which is most of dispatch's start-up time.
import * as z from 'zod/mini';

// Ids and project names end up in file names, pane names and signal files.
const SAFE_ID = /^[A-Za-z0-9._-]+$/;
const SAFE_MSG = { message: 'letters, digits, ".", "_" and "-" only' };

const specIdSchema = z.string().check(
  z.regex(SAFE_ID, SAFE_MSG),
  z.refine((s) => !s.includes('..'), { message: 'must not contain ".."' }),
);

/** One row of the spec table. */
export const specSchema = z.strictObject({
  /** Spec id as a string, e.g. '011' (matches the `011-name` folder). */
  id: specIdSchema,
  /** Folder slug: the spec lives in `<specsDir>/<id>-<name>/`. */
  name: z.string().check(
    z.minLength(1),
    z.refine((s) => !/[/\\\0]/.test(s) && s !== '.' && s !== '..', { message: 'no path separators' }),
  ),
  /** Wave (dependency order, 0–N). Computed from `dependsOn` when omitted. */
  wave: z.optional(z.int().check(z.minimum(0))),
  /** 1 trivial, 2 small, 3 medium, 4 complex: drives the cooldown after launch. */
  cost: z.int().check(z.minimum(1), z.maximum(4)),
  /** 'codex', 'ac' (Auto-Claude) or the name of an agent defined under `agents`. */
  agent: z.string().check(z.minLength(1)),
  /** 'direct' writes to the repo; 'isolated' works in a git worktree that needs a merge. */
  mode: z._default(z.enum(['direct', 'isolated']), 'direct'),
  /** Ids of specs that must be done first (they must sit in earlier waves). */
  dependsOn: z._default(z.array(specIdSchema), []),
  /** Human title shown in listings. */
  title: z.optional(z.string()),
});

/** Pre-planning through Ollama. */
export const plannerSchema = z.strictObject({
  /** Ollama model used to write plan.md. */
  model: z._default(z.string().check(z.minLength(1)), 'qwen3-coder:480b-cloud'),
  /** Ollama server; OLLAMA_HOST overrides it when set. */
  host: z._default(z.string().check(z.minLength(1)), 'http://127.0.0.1:11434'),
  /** Specs planned at once. */
  concurrency: z._default(z.int().check(z.minimum(1), z.maximum(64)), 4),
  /** Per-request timeout in seconds. */
  timeoutSeconds: z._default(z.number().check(z.positive()), 600),
  /** Retries on connection refused, 5xx and 429, with exponential backoff. */
  retries: z._default(z.int().check(z.minimum(0), z.maximum(10)), 3),
  /** First retry delay in seconds; it doubles on each further retry. */
  backoffSeconds: z._default(z.number().check(z.minimum(0)), 1),
  /** Options passed to Ollama (temperature, num_ctx, ...). */
  options: z._default(z.record(z.string(), z.unknown()), { temperature: 0.2 }),
});

/** The whole `specs.config.ts`. */
export const configSchema = z.strictObject({
  /** Short project name: used in pane names and signal files. */
  project: z.string().check(z.regex(SAFE_ID, SAFE_MSG)),
  /** Multiplexer session (default: the project name). */
  session: z.optional(z.string().check(z.minLength(1))),
  /** Where spec folders live, relative to the config file. */
  specsDir: z._default(z.string().check(z.minLength(1)), '.auto-claude/specs'),
  /** Where state, lock, journal and logs live, relative to the config file. */
  stateDir: z._default(z.string().check(z.minLength(1)), '.codex'),
  /** Where signal files (`<project>-done-<id>`) go; default: the OS temp folder. */
  signalDir: z.optional(z.string().check(z.minLength(1))),
  /** Ollama pre-planning settings. */
  planner: z._default(plannerSchema, () => plannerSchema.parse({})),
  /** The spec table. */
  specs: z.array(specSchema),
});

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type SpecInput = z.input<typeof specSchema>;
export type PlannerConfig = z.output<typeof plannerSchema>;
