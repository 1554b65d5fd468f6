// zod/mini rather than classic zod: the same schemas at 1/15 of the bundle,
// which is most of dispatch's start-up time.
import * as z from 'zod/mini';
import { MAX_COOLDOWN_SECONDS, MAX_ESTIMATE_MINUTES } from './limits.js';

// Ids and project names end up in file names, pane names and signal files.
const SAFE_ID = /^[A-Za-z0-9._-]+$/;
const SAFE_MSG = { message: 'letters, digits, ".", "_" and "-" only' };

// Ids name files (logs, signals), panes and branches: a file name has 255 bytes, and a log is `<id>.attempt-N.log`.
export const MAX_ID_LENGTH = 64;

/**
 * Whether an id can end the git branch name `dispatch/<id>` (git check-ref-format, for the characters
 * SAFE_ID lets through): refused here, it would pass every check and fail only at launch.
 */
const branchSafe = (s: string) => !s.startsWith('.') && !s.endsWith('.') && !s.includes('..') && !s.endsWith('.lock');

/** A spec id; `init` derives ids from folder names through this same schema. */
export const specIdSchema = z.string().check(
  z.regex(SAFE_ID, SAFE_MSG),
  z.maxLength(MAX_ID_LENGTH, { message: `at most ${MAX_ID_LENGTH} characters (ids name files, panes and branches)` }),
  z.refine(branchSafe, { message: 'must be usable in the git branch name dispatch/<id>: no "." at its start or end, no "..", no ".lock" at its end (write "-" or "_" there instead)' }),
);

/** A spec's folder slug; `init` derives names from folder names through this same schema. */
export const specNameSchema = z.string().check(
  z.minLength(1),
  z.refine((s) => !/[/\\\0]/.test(s) && s !== '.' && s !== '..', { message: 'no path separators' }),
);

/** A project name; `init` checks the one it derives through this same schema. */
export const projectNameSchema = z.string().check(
  z.regex(SAFE_ID, SAFE_MSG),
  // It names folders and branches on SSH hosts (`.dispatch/<project>-<key>`, `dispatch-remote/<project>-<key>/<id>`), signal files and panes.
  z.maxLength(MAX_ID_LENGTH, { message: `at most ${MAX_ID_LENGTH} characters (the project names files, panes and branches)` }),
  z.refine(branchSafe, { message: 'must be usable in a git branch name: no "." at its start or end, no "..", no ".lock" at its end (write "-" or "_" there instead)' }),
);

/** A check: an argument array (placeholders as for agents), never a shell string. */
export const verifyCommandSchema = z.array(z.string()).check(
  z.minLength(1, { message: 'a command needs at least its program: write it as an argument array, e.g. ["npm", "test"]' }),
  z.refine((a) => a[0] !== '', { message: 'the program (first word) must not be empty' }),
);

/** One row of the spec table. */
export const specSchema = z.strictObject({
  /** Spec id as a string, e.g. '011' (matches the `011-name` folder). */
  id: specIdSchema,
  /** Folder slug: the spec lives in `<specsDir>/<id>-<name>/`. */
  name: specNameSchema,
  /** Wave (dependency order, 0–N). Computed from `dependsOn` when omitted. */
  wave: z.optional(z.int().check(z.minimum(0))),
  /** 1 trivial, 2 small, 3 medium, 4 complex: drives the cooldown after launch. */
  cost: z.int().check(z.minimum(1), z.maximum(4)),
  /** 'codex', 'ac' (Auto-Claude), 'claude' (Claude Code) or the name of an agent defined under `agents`. */
  agent: z.string().check(z.minLength(1)),
  /** 'direct' writes to the repo; 'isolated' works in a git worktree that needs a merge. */
  mode: z._default(z.enum(['direct', 'isolated']), 'direct'),
  /** Ids of specs that must be done first (they must sit in earlier waves). */
  dependsOn: z._default(z.array(specIdSchema), []),
  /** Human title shown in listings. */
  title: z.optional(z.string()),
  /** This spec's checks, replacing the config's `verify` (`[]`: no checks for it). */
  verify: z.optional(z.array(verifyCommandSchema)),
  /** An attempt that changed nothing is `no-changes`, not done (overrides the config's). */
  requireChanges: z.optional(z.boolean()),
  /** With the SSH executor: the host this spec must run on (a `hosts[].name`, or its `host`). */
  runOn: z.optional(z.string().check(z.minLength(1))),
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

/** A number per cost 1–4, each at least 0 and at most `max` when given (`estimateMinutes.1: expected at most 10080, got 1e+308`). */
const costMap = (d: [number, number, number, number], max?: number) => {
  const n = () => z.optional(z.number().check(z.minimum(0), ...(max !== undefined ? [z.maximum(max)] : [])));
  return z._default(z.strictObject({ 1: n(), 2: n(), 3: n(), 4: n() }), {}).check(z.overwrite((m) => ({ 1: m[1] ?? d[0], 2: m[2] ?? d[1], 3: m[3] ?? d[2], 4: m[4] ?? d[3] })));
};

const effort = z.enum(['minimal', 'low', 'medium', 'high', 'xhigh']);
const claudeEffort = z.enum(['low', 'medium', 'high', 'xhigh', 'max']);
const envSchema = z._default(z.record(z.string(), z.string()), {});
const argsSchema = z._default(z.array(z.string()), []);

const price = z.number().check(z.minimum(0));
/** One model's prices, per million tokens: input (uncached), cached input (default: the input price), output. */
export const pricingSchema = z.strictObject({ input: price, cachedInput: z.optional(price), output: price });

/** The Codex CLI (`codex exec`). */
export const codexSchema = z.strictObject({
  /** Executable (default: `codex` on PATH). */
  bin: z._default(z.string().check(z.minLength(1)), 'codex'),
  /** Model passed with -m. */
  model: z._default(z.string().check(z.minLength(1)), 'gpt-5.3-codex'),
  /** Reasoning effort by spec cost (1 low, 2 medium, 3 high, 4 xhigh). */
  effort: z._default(
    z.strictObject({ 1: z.optional(effort), 2: z.optional(effort), 3: z.optional(effort), 4: z.optional(effort) }),
    {},
  ).check(z.overwrite((m) => ({ 1: m[1] ?? 'low', 2: m[2] ?? 'medium', 3: m[3] ?? 'high', 4: m[4] ?? 'xhigh' }))),
  /** Sandbox (-s): workspace-write replaces the removed --full-auto. */
  sandbox: z._default(z.enum(['read-only', 'workspace-write', 'danger-full-access']), 'workspace-write'),
  /** Extra arguments before the prompt, e.g. ['-c', 'model_provider=...', '--profile', 'x']. */
  extraArgs: argsSchema,
  /** Extra environment variables. */
  env: envSchema,
  /** More output patterns (regular expressions) that mean "rate limited", besides the built-in ones. */
  rateLimitPatterns: argsSchema,
});

/** Auto-Claude (`apps/backend/run.py`). */
export const acSchema = z.strictObject({
  /** Python interpreter. */
  python: z._default(z.string().check(z.minLength(1)), 'python3'),
  /** Auto-Claude checkout (default: $AUTO_CLAUDE_DIR or ~/Auto-Claude). */
  dir: z.optional(z.string().check(z.minLength(1))),
  /** Extra arguments for run.py, e.g. ['--model', 'opus']. */
  extraArgs: argsSchema,
  /** Extra environment variables. */
  env: envSchema,
  /** More output patterns (regular expressions) that mean "rate limited", besides the built-in ones. */
  rateLimitPatterns: argsSchema,
  /**
   * Pass --force: Auto-Claude (v2.7) blocks a build until a person approves the spec
   * ("BUILD BLOCKED - REVIEW REQUIRED"); in dispatch the spec table is that approval.
   */
  force: z._default(z.boolean(), true),
});

/** Claude Code (`claude -p --output-format stream-json`). */
export const claudeSchema = z.strictObject({
  /** Executable (default: `claude` on PATH). */
  bin: z._default(z.string().check(z.minLength(1)), 'claude'),
  /** Model by spec cost (`--model`; an alias such as 'sonnet' or a full name). Unset: Claude Code's own choice. */
  model: z._default(z.strictObject({ 1: z.optional(z.string().check(z.minLength(1))), 2: z.optional(z.string().check(z.minLength(1))), 3: z.optional(z.string().check(z.minLength(1))), 4: z.optional(z.string().check(z.minLength(1))) }), {}),
  /** Effort by spec cost (`--effort`: 1 low, 2 medium, 3 high, 4 xhigh). */
  effort: z._default(
    z.strictObject({ 1: z.optional(claudeEffort), 2: z.optional(claudeEffort), 3: z.optional(claudeEffort), 4: z.optional(claudeEffort) }),
    {},
  ).check(z.overwrite((m) => ({ 1: m[1] ?? 'low', 2: m[2] ?? 'medium', 3: m[3] ?? 'high', 4: m[4] ?? 'xhigh' }))),
  /**
   * `--permission-mode`. The default, acceptEdits, lets it edit files in its working folder and nothing
   * else; the commands it may run are `allowedTools`. bypassPermissions lets it do anything.
   */
  permissionMode: z._default(z.enum(['acceptEdits', 'auto', 'bypassPermissions', 'dontAsk']), 'acceptEdits'),
  /** `--allowedTools`: tools allowed besides edits (default Bash: it runs the project's commands, builds and tests). */
  allowedTools: z._default(z.array(z.string().check(z.minLength(1))), ['Bash']),
  /** Extra arguments. */
  extraArgs: argsSchema,
  /** Extra environment variables (ANTHROPIC_BASE_URL, ...). */
  env: envSchema,
  /** More output patterns (regular expressions) that mean "rate limited", besides the built-in ones. */
  rateLimitPatterns: argsSchema,
});

/** Any other agent, as an argument array with placeholders. */
export const customAgentSchema = z.strictObject({
  /**
   * Argument array; placeholders: {id} {name} {specDir} {specFile} {planFile}
   * {promptFile} {model} {effort} {cwd} {project} {attempt}.
   */
  command: z.array(z.string()).check(z.minLength(1)),
  /** 'stdin' pipes the prompt (spec.md + plan.md) in; 'none' gives /dev/null. */
  prompt: z._default(z.enum(['stdin', 'none']), 'stdin'),
  /** Model for {model}. */
  model: z.optional(z.string()),
  /** Extra environment variables. */
  env: envSchema,
  /** Output is Codex-style JSONL (turn.failed counts as failure). */
  codexEvents: z._default(z.boolean(), false),
  /** Output patterns (regular expressions) that mean "rate limited", besides the built-in ones. */
  rateLimitPatterns: argsSchema,
});

/** What happens after a failure, a rate limit or a lost runner. */
export const retrySchema = z.strictObject({
  /** Launches per spec when attempts fail (1 = never relaunch automatically). */
  maxAttempts: z._default(z.int().check(z.minimum(1)), 2),
  /** Launches per spec when attempts are rate-limited. */
  maxRateLimitAttempts: z._default(z.int().check(z.minimum(1)), 6),
  /** First wait after a rate limit without a reset time; doubles each time. */
  backoffSeconds: z._default(z.number().check(z.minimum(0)), 60),
  /** Longest wait after a rate limit. */
  maxBackoffSeconds: z._default(z.number().check(z.minimum(0)), 3600),
  /** Cooldowns of an agent are multiplied by this after a rate limit (and narrow back after clean launches). */
  cooldownFactor: z._default(z.number().check(z.minimum(1)), 2),
});

/** A running spec whose log does not grow is stalled. */
export const stallSchema = z.strictObject({
  /** Minutes without output, by cost. */
  minutes: costMap([10, 15, 20, 30]),
  /** warn: show it; restart: stop it and relaunch as a new attempt; fail: stop it and mark it failed. */
  action: z._default(z.enum(['warn', 'restart', 'fail']), 'warn'),
});

/** Token budgets (Codex reports usage); when crossed, no new spec launches. */
export const budgetSchema = z.strictObject({
  tokensPerRun: z.optional(z.int().check(z.minimum(1))),
  tokensPerWave: z.optional(z.int().check(z.minimum(1))),
});

const hookCommand = z.optional(z.array(z.string()).check(z.minLength(1)));
/** Commands (argument arrays) run on events, with details in DISPATCH_* environment variables. */
export const hooksSchema = z.strictObject({
  onSpecDone: hookCommand,
  onSpecFailed: hookCommand,
  onRateLimited: hookCommand,
  onWaveComplete: hookCommand,
  onRunComplete: hookCommand,
  /** A hook still running after this is stopped (and reported). */
  timeoutSeconds: z._default(z.number().check(z.positive()), 30),
});

/** The agents' logs, one file per launch under `<stateDir>/logs`. */
export const logsSchema = z.strictObject({
  /** Launches whose log is kept per spec, the newest ones (unset: all). */
  keep: z.optional(z.int().check(z.minimum(1))),
});

/** Launch pacing, as in the original: a cooldown by cost and a pause every few launches. */
export const pacingSchema = z.strictObject({
  /** Seconds to wait after launching a spec of each cost (at most a day: 86400). */
  cooldownSeconds: costMap([15, 30, 60, 90], MAX_COOLDOWN_SECONDS),
  /** Pause `pauseSeconds` after every `every` launches, on waves ≥ fromWave. */
  batch: z._default(
    z.strictObject({
      every: z._default(z.int().check(z.minimum(1)), 4),
      pauseSeconds: z._default(z.number().check(z.minimum(0), z.maximum(MAX_COOLDOWN_SECONDS)), 120),
      fromWave: z._default(z.int().check(z.minimum(0)), 2),
    }),
    () => ({ every: 4, pauseSeconds: 120, fromWave: 2 }),
  ),
  /** At most this many specs running at once (unset: no cap). */
  maxParallel: z.optional(z.int().check(z.minimum(1))),
});

/** One machine of the SSH host pool. */
export const sshHostSchema = z.strictObject({
  /** What `ssh` is given: a name from ~/.ssh/config, `host`, or `user@host`. */
  host: z.string().check(z.minLength(1), z.refine((s) => !s.startsWith('-') && !/[\s\0]/.test(s), { message: 'a host name: no spaces, not starting with "-"' })),
  /** What dispatch calls it (in status and `runOn`); default: `host`, with `:port` when a port is set. */
  name: z.optional(z.string().check(z.regex(SAFE_ID, SAFE_MSG), z.maxLength(64, { message: 'at most 64 characters' }))),
  /** SSH port (default: what the ssh config says, usually 22). */
  port: z.optional(z.int().check(z.minimum(1), z.maximum(65535))),
  /** Agents this host runs at once. */
  slots: z._default(z.int().check(z.minimum(1)), 1),
  /** The project's git checkout on the host (created when missing); `~/` is the remote home. */
  dir: z.string().check(z.minLength(1)),
  /** Private key for this host (ssh -i). */
  identityFile: z.optional(z.string().check(z.minLength(1))),
  /** The dispatch command on the host: a program, or an argument array (e.g. ['node', '/opt/dispatch/dist/cli.js']). */
  dispatch: z._default(z.union([z.string().check(z.minLength(1)), z.array(z.string()).check(z.minLength(1))]), 'dispatch'),
  /** More ssh options, each `Key=Value` (ssh -o), e.g. 'UserKnownHostsFile=~/.ssh/agents_known_hosts'. */
  options: z._default(z.array(z.string().check(z.regex(/^[A-Za-z]+=/, { message: 'an ssh option as Key=Value' }))), []),
});

/** Where runners run: this machine (the multiplexer), or a pool of SSH hosts. */
export const executorSchema = z.strictObject({
  kind: z.literal('ssh'),
  hosts: z.array(sshHostSchema).check(z.minLength(1, { message: 'at least one host' })),
  /** Environment variables sent to the hosts (a trailing `*` matches a prefix); nothing else of yours leaves this machine. */
  forwardEnv: z._default(z.array(z.string().check(z.regex(/^[A-Za-z_][A-Za-z0-9_]*\*?$/, { message: 'a variable name, or a prefix ending in *' }))), ['OPENAI_API_KEY', 'CODEX_API_KEY', 'ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN', 'OLLAMA_API_KEY', 'DISPATCH_*']),
  /** Seconds between checks of the hosts' runs. */
  checkSeconds: z._default(z.number().check(z.positive()), 5),
  /** A host that fails this many checks in a row is down: its specs are lost (and retried elsewhere). */
  lostAfterChecks: z._default(z.int().check(z.minimum(1)), 3),
  /** Seconds an ssh command may take before the check counts as failed. */
  timeoutSeconds: z._default(z.number().check(z.positive()), 20),
});

/** The whole `specs.config.ts`. */
export const configSchema = z.strictObject({
  /** Short project name: used in pane names and signal files. */
  project: projectNameSchema,
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
  /** Agents by name: `codex`, `ac`, `claude`, or your own. */
  // prefault: the empty default is parsed, so codex/ac get their own defaults.
  agents: z.prefault(
    z.catchall(
      z.strictObject({
        codex: z._default(codexSchema, () => codexSchema.parse({})),
        ac: z._default(acSchema, () => acSchema.parse({})),
        // An `agents.claude` of the config's own (a command) is used instead of the built-in (doctor says so).
        claude: z._default(z.union([customAgentSchema, claudeSchema]), () => claudeSchema.parse({})),
      }),
      customAgentSchema,
    ),
    {},
  ),
  /** Where panes open: zellij, tmux, headless, or auto (zellij if inside/installed, else tmux, else headless). */
  multiplexer: z._default(z.enum(['auto', 'zellij', 'tmux', 'headless']), 'auto'),
  /** Run agents elsewhere: { kind: 'ssh', hosts: [...] } (default: on this machine, in `multiplexer`). */
  executor: z.optional(executorSchema),
  /** tmux server socket name (tmux -L); default: the user's default server. */
  tmuxSocket: z.optional(z.string().check(z.minLength(1))),
  /** Launch pacing. */
  pacing: z._default(pacingSchema, () => pacingSchema.parse({})),
  /** Per-wave settings, e.g. { 1: { sequential: true } }. */
  waves: z._default(z.record(z.string().check(z.regex(/^\d+$/)), z.strictObject({ sequential: z._default(z.boolean(), false) })), {}),
  /** Where isolated specs get their git worktrees, relative to the config file. */
  worktreesDir: z._default(z.string().check(z.minLength(1)), '.codex/worktrees'),
  /** Automatic relaunches after failures and rate limits. */
  retry: z.prefault(retrySchema, {}),
  /** Stalled agents (no output for a while). */
  stall: z.prefault(stallSchema, {}),
  /** Token budgets. */
  budget: z.prefault(budgetSchema, {}),
  /** Commands run on spec, wave and run events. */
  hooks: z.prefault(hooksSchema, {}),
  /** Agents' logs: how many launches to keep per spec. */
  logs: z.prefault(logsSchema, {}),
  /** Seconds a launched runner may take to start before the spec counts as failed. */
  startTimeoutSeconds: z._default(z.number().check(z.positive()), 60),
  /** Checks run after an agent exits 0, in its working folder: all must pass for the spec to be done. */
  verify: z._default(z.array(verifyCommandSchema), []),
  /** Each check's time limit (at most 2147483 s, about 24 days: the longest timer Node can set). */
  verifyTimeoutSeconds: z._default(z.number().check(z.positive(), z.lte(2_147_483)), 600),
  /** An attempt that changed nothing (same commit, clean tree) is `no-changes`, not done. */
  requireChanges: z._default(z.boolean(), false),
  /** 'waves' (default): a wave starts when every earlier wave is complete; 'eager': a spec starts as soon as its own dependencies are complete. */
  schedule: z._default(z.enum(['waves', 'eager']), 'waves'),
  /** Isolated specs: 'manual' (default) waits for 'dispatch merge'; 'auto' merges a verified one as soon as it is done. */
  merge: z._default(z.enum(['manual', 'auto']), 'manual'),
  /**
   * Prices per model, in dollars per million tokens, for `dispatch report`'s cost figures,
   * e.g. { 'gpt-5.3-codex': { input: 1.25, cachedInput: 0.125, output: 10 } } (without: tokens only).
   */
  pricing: z._default(z.record(z.string().check(z.minLength(1)), pricingSchema), {}),
  /** Minutes a spec of each cost is expected to take, for 'dispatch simulate' and eager priorities when it has no done attempt yet (at most a week: 10080). */
  estimateMinutes: costMap([5, 15, 30, 60], MAX_ESTIMATE_MINUTES),
  /** The spec table. */
  specs: z.array(specSchema),
});

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type SpecInput = z.input<typeof specSchema>;
export type PlannerConfig = z.output<typeof plannerSchema>;
export type CodexConfig = z.output<typeof codexSchema>;
export type AcConfig = z.output<typeof acSchema>;
export type CustomAgentConfig = z.output<typeof customAgentSchema>;
export type ClaudeConfig = z.output<typeof claudeSchema>;
export type PacingConfig = z.output<typeof pacingSchema>;
export type RetryConfig = z.output<typeof retrySchema>;
export type StallConfig = z.output<typeof stallSchema>;
export type LogsConfig = z.output<typeof logsSchema>;
export type BudgetConfig = z.output<typeof budgetSchema>;
export type HooksConfig = z.output<typeof hooksSchema>;
export type ExecutorConfig = z.output<typeof executorSchema>;
export type SshHostConfig = z.output<typeof sshHostSchema>;
export type AgentsConfig = Config['agents'];
