// What every agent is to dispatch: a driver. A driver owns everything true of
// its agent — its command line, how its output is read, its own evidence, how
// its work is isolated and merged, whether it reads plan.md, its model, its
// checks. Nothing outside src/agents/ asks an agent's name.
import type { ResolvedConfig, ResolvedSpec } from '../config/types.js';
import type { Argv } from '../proc/launch.js';

export interface AgentPaths {
  specDir: string;
  specFile: string;
  planFile: string;
  /** Folder of this run's files (prompt, last message). */
  runDir: string;
  /** Where the agent works: the project, or the spec's worktree. */
  cwd: string;
}

export interface Tokens {
  input: number;
  cachedInput: number;
  output: number;
  total: number;
}

/**
 * An agent's structured output (JSONL events), read as it comes. What it says there decides over its
 * exit code and over text it printed (code it quoted may mention a 429 it never had).
 */
export interface AgentEvents {
  push(chunk: string): void;
  end(): void;
  /** Why its work failed, as it said (a failed turn, an error result): a failure even on exit 0. */
  failure?: string;
  /** What that failure is called in the reason (default: Codex's `turn.failed`). */
  failureLabel?: string;
  /** Its last error message that did not fail the work (a retry it survived). */
  lastError?: string;
  tokens?: Tokens;
  /** What it says the work cost (USD). */
  costUsd?: number;
  /** When it last said it is waiting on a limit and retrying by itself (ms): quiet then is not a stall. */
  waitingSince?: number;
}

export interface AgentCommand {
  argv: Argv;
  cwd: string;
  /** Added to the runner's environment. */
  env: Record<string, string>;
  /** The prompt goes on stdin; otherwise stdin is /dev/null. */
  promptOnStdin: boolean;
  /** Its output is events: a reader for them (undefined: plain text). */
  events?: () => AgentEvents;
}

/** A check preflight and doctor show (the same shape as theirs). */
export interface AgentCheck {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  fix?: string;
}

/** What merging an agent's own isolated work answers. */
export type AgentMerge = { ok: true } | { ok: false; reason: string; hint: string };

export interface AgentDriver {
  /** What specs name it (`agent: 'codex'`). */
  kind: string;
  /** Its program's name in checks (`python` for Auto-Claude). */
  program: string;
  command(config: ResolvedConfig, spec: ResolvedSpec, paths: AgentPaths, attempt: number): AgentCommand;
  /** The model a spec's agent runs on, as far as the config tells: one rule for the report and the merge trailer. */
  model(config: ResolvedConfig, spec: { agent: string; cost?: number }): string | undefined;
  /** It reads plan.md: planning its specs is worth an Ollama call. */
  readsPlan: boolean;
  /** Output patterns (regular expressions) that mean "rate limited", besides the built-in ones. */
  rateLimitPatterns(config: ResolvedConfig): string[];
  /** How to install it, when its program is missing. */
  installHint: string;
  /** doctor asks `<program> --version`; this says what else to show beside the version. */
  versionDetail?(config: ResolvedConfig, version: string): string;
  /** Checks of its own besides its program (Auto-Claude's run.py). */
  checks?(argv: readonly string[], users: string): AgentCheck[];
  /** The folder its specs must live in, when it reads them itself. */
  specsDir?: string;
  /**
   * It isolates an isolated spec itself (its own worktree and branch): dispatch makes none, does not judge its
   * tree, and merging is the agent's.
   */
  ownIsolation?: {
    merge(config: ResolvedConfig, spec: ResolvedSpec, say: (t: string) => void): Promise<AgentMerge>;
  };
  /** Its own word on the work after a clean exit (Auto-Claude's QA sign-off): not approved is a failure. */
  signOff?(specDir: string, since: number): { status: string; approved: boolean; detail?: string };
}
