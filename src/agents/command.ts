// Builds the exact command line each agent gets. Pure: the runner executes
// it, `run --dry-run` prints it, tests compare it with the real tools' grammar.
import { homedir } from 'node:os';
import { basename, join, sep } from 'node:path';
import type { ResolvedConfig, ResolvedSpec } from '../config/load.js';
import type { CustomAgentConfig } from '../config/schema.js';
import { ConfigError } from '../errors.js';
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

export interface AgentCommand {
  argv: Argv;
  cwd: string;
  /** Added to the runner's environment. */
  env: Record<string, string>;
  /** The prompt goes on stdin; otherwise stdin is /dev/null. */
  promptOnStdin: boolean;
  /** stdout is Codex JSONL: a `turn.failed` event fails the run even on exit 0. */
  codexEvents: boolean;
}

export const EFFORT_BY_COST = { 1: 'low', 2: 'medium', 3: 'high', 4: 'xhigh' } as const;

/** `~/x` as a shell would read it: configs are written by people who type `~`. */
export function expandHome(p: string): string {
  return p === '~' ? homedir() : p.startsWith('~/') ? join(homedir(), p.slice(2)) : p;
}

export function autoClaudeDir(config: ResolvedConfig): string {
  return expandHome(config.agents.ac.dir ?? process.env.AUTO_CLAUDE_DIR ?? join(homedir(), 'Auto-Claude'));
}

/** Isolation by git worktree is dispatch's job for every agent except Auto-Claude, which isolates itself. */
export function usesDispatchWorktree(spec: ResolvedSpec): boolean {
  return spec.mode === 'isolated' && spec.agent !== 'ac';
}

export function agentCommand(config: ResolvedConfig, spec: ResolvedSpec, paths: AgentPaths, attempt = 1): AgentCommand {
  if (spec.agent === 'codex') {
    const c = config.agents.codex;
    return {
      argv: [
        expandHome(c.bin), 'exec',
        '-s', c.sandbox,
        '-m', c.model,
        '-c', `model_reasoning_effort=${c.effort[spec.cost] ?? EFFORT_BY_COST[spec.cost]}`,
        '--json',
        // runDir is resolved and plain: concatenated (join's normalising showed in 10,000-spec dry runs).
        '-o', `${paths.runDir}${sep}last-message.md`,
        ...c.extraArgs,
        '-',
      ],
      cwd: paths.cwd,
      env: c.env,
      promptOnStdin: true,
      codexEvents: true,
    };
  }
  if (spec.agent === 'ac') {
    const a = config.agents.ac;
    return {
      argv: [
        expandHome(a.python), join(autoClaudeDir(config), 'apps', 'backend', 'run.py'),
        // The exact folder: given only the id, run.py takes whichever `<id>-*` folder it lists first.
        '--spec', basename(paths.specDir),
        '--project-dir', config.rootDir,
        '--auto-continue',
        spec.mode === 'isolated' ? '--isolated' : '--direct',
        ...(a.force ? ['--force'] : []),
        ...a.extraArgs,
      ],
      cwd: config.rootDir,
      env: a.env,
      // run.py may stop at input(): it must see end-of-file at once.
      promptOnStdin: false,
      codexEvents: false,
    };
  }
  const custom = (Object.hasOwn(config.agents, spec.agent) ? (config.agents as Record<string, unknown>)[spec.agent] : undefined) as CustomAgentConfig | undefined;
  if (!custom || !Array.isArray(custom.command)) {
    throw new ConfigError(`spec ${spec.id}: agent "${spec.agent}" is not defined`, { hint: `add agents.${spec.agent} = { command: [...] } to the config` });
  }
  const argv = fillPlaceholders(custom.command, placeholderValues(config, spec, paths, attempt, custom.model ?? ''));
  return { argv, cwd: paths.cwd, env: custom.env, promptOnStdin: custom.prompt === 'stdin', codexEvents: custom.codexEvents };
}

/** The value after `-m`/`--model` (or `--model=`) in extra arguments, which the agent takes over the configured one. */
function modelFlag(args: readonly string[]): string | undefined {
  let found: string | undefined;
  args.forEach((a, i) => {
    if ((a === '-m' || a === '--model') && args[i + 1] !== undefined) found = args[i + 1];
    else if (a.startsWith('--model=')) found = a.slice('--model='.length);
  });
  return found;
}

/** The model a spec's agent runs on, as far as its config tells (for prices in the report). */
export function modelOf(config: ResolvedConfig, spec: Pick<ResolvedSpec, 'agent'>): string | undefined {
  if (spec.agent === 'codex') return modelFlag(config.agents.codex.extraArgs) ?? config.agents.codex.model;
  if (spec.agent === 'ac') return modelFlag(config.agents.ac.extraArgs);
  const custom = (Object.hasOwn(config.agents, spec.agent) ? (config.agents as Record<string, unknown>)[spec.agent] : undefined) as CustomAgentConfig | undefined;
  return custom?.model;
}

/** What `{id}`, `{specFile}`, `{cwd}`… stand for in a custom agent's command and in verify commands. */
export function placeholderValues(config: ResolvedConfig, spec: ResolvedSpec, paths: AgentPaths, attempt: number, model = ''): Record<string, string> {
  return {
    id: spec.id,
    name: spec.name,
    specDir: paths.specDir,
    specFile: paths.specFile,
    planFile: paths.planFile,
    promptFile: join(paths.runDir, 'prompt.md'),
    model,
    effort: config.agents.codex.effort[spec.cost] ?? EFFORT_BY_COST[spec.cost],
    cwd: paths.cwd,
    project: config.project,
    attempt: String(attempt),
  };
}

/**
 * Placeholders are substituted inside each argument; the array is never re-split.
 * Own keys only: `{constructor}` is not a placeholder, and stays as written.
 */
export function fillPlaceholders(command: readonly string[], values: Record<string, string>): Argv {
  return command.map((arg) => arg.replace(/\{(\w+)\}/g, (m, k: string) => (Object.hasOwn(values, k) ? values[k]! : m))) as Argv;
}

/** The prompt an agent gets: the spec, then its pre-made plan when there is one. */
export function buildPrompt(spec: ResolvedSpec, specText: string, planText: string | undefined): string {
  let p = `# Spec ${spec.id}: ${spec.title ?? spec.name}\n\n${specText.trim()}\n`;
  if (planText?.trim()) p += `\n---\n\n# Implementation plan (made before you started; verify it as you go)\n\n${planText.trim()}\n`;
  return p;
}
