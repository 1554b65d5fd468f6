// What several agents' command lines are made of: `~` as a shell reads it,
// effort by cost, the model flag in extra arguments, placeholders, the prompt.
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ResolvedConfig, ResolvedSpec } from '../config/types.js';
import type { Argv } from '../proc/launch.js';
import type { AgentPaths } from './types.js';

export const EFFORT_BY_COST = { 1: 'low', 2: 'medium', 3: 'high', 4: 'xhigh' } as const;

/** `~/x` as a shell would read it: configs are written by people who type `~`. */
export function expandHome(p: string): string {
  return p === '~' ? homedir() : p.startsWith('~/') ? join(homedir(), p.slice(2)) : p;
}

/** The value after `-m`/`--model` (or `--model=`) in extra arguments, which the agent takes over the configured one. */
export function modelFlag(args: readonly string[]): string | undefined {
  let found: string | undefined;
  args.forEach((a, i) => {
    if ((a === '-m' || a === '--model') && args[i + 1] !== undefined) found = args[i + 1];
    else if (a.startsWith('--model=')) found = a.slice('--model='.length);
  });
  return found;
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
