import { z } from 'zod';

// Ids and project names end up in file names, pane names and signal files.
const SAFE_ID = /^[A-Za-z0-9._-]+$/;

const specIdSchema = z
  .string()
  .regex(SAFE_ID, { message: 'letters, digits, ".", "_" and "-" only' })
  .refine((s) => !s.includes('..'), { message: 'must not contain ".."' });

/** One row of the spec table. */
export const specSchema = z.strictObject({
  /** Spec id as a string, e.g. '011' (matches the `011-name` folder). */
  id: specIdSchema,
  /** Folder slug: the spec lives in `<specsDir>/<id>-<name>/`. */
  name: z
    .string()
    .min(1)
    .refine((s) => !/[/\\\0]/.test(s) && s !== '.' && s !== '..', { message: 'no path separators' }),
  /** Wave (dependency order, 0–N). Computed from `dependsOn` when omitted. */
  wave: z.int().min(0).optional(),
  /** 1 trivial, 2 small, 3 medium, 4 complex: drives the cooldown after launch. */
  cost: z.int().min(1).max(4),
  /** 'codex', 'ac' (Auto-Claude) or the name of an agent defined under `agents`. */
  agent: z.string().min(1),
  /** 'direct' writes to the repo; 'isolated' works in a git worktree that needs a merge. */
  mode: z.enum(['direct', 'isolated']).default('direct'),
  /** Ids of specs that must be done first (they must sit in earlier waves). */
  dependsOn: z.array(specIdSchema).default([]),
  /** Human title shown in listings. */
  title: z.string().optional(),
});

/** Pre-planning through Ollama. */
export const plannerSchema = z.strictObject({
  /** Ollama model used to write plan.md. */
  model: z.string().min(1).default('qwen3-coder:480b-cloud'),
  /** Ollama server; OLLAMA_HOST overrides it when set. */
  host: z.string().min(1).default('http://127.0.0.1:11434'),
  /** Specs planned at once. */
  concurrency: z.int().min(1).max(64).default(4),
  /** Per-request timeout in seconds. */
  timeoutSeconds: z.number().positive().default(600),
  /** Retries on connection refused, 5xx and 429, with exponential backoff. */
  retries: z.int().min(0).max(10).default(3),
  /** Options passed to Ollama (temperature, num_ctx, ...). */
  options: z.record(z.string(), z.unknown()).default({ temperature: 0.2 }),
});

/** The whole `specs.config.ts`. */
export const configSchema = z.strictObject({
  /** Short project name: used in pane names and signal files. */
  project: z.string().regex(SAFE_ID, { message: 'letters, digits, ".", "_" and "-" only' }),
  /** Multiplexer session (default: the project name). */
  session: z.string().min(1).optional(),
  /** Where spec folders live, relative to the config file. */
  specsDir: z.string().min(1).default('.auto-claude/specs'),
  /** Where state, lock, journal and logs live, relative to the config file. */
  stateDir: z.string().min(1).default('.codex'),
  /** Where signal files (`<project>-done-<id>`) go; default: the OS temp folder. */
  signalDir: z.string().min(1).optional(),
  /** Ollama pre-planning settings. */
  planner: plannerSchema.default(plannerSchema.parse({})),
  /** The spec table. */
  specs: z.array(specSchema),
});

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type SpecInput = z.input<typeof specSchema>;
export type PlannerConfig = z.output<typeof plannerSchema>;
