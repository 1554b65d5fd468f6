// What the rest of dispatch asks of a spec's agent, answered by its driver
// (registry.ts). Pure: the runner executes the command, `run --dry-run`
// prints it, tests compare it with the real tools' grammar.
import type { ResolvedConfig, ResolvedSpec } from '../config/types.js';
import { builtinDriver, driverOf, findDriver } from './registry.js';
import type { AgentCommand, AgentPaths } from './types.js';

export type { AgentCommand, AgentPaths } from './types.js';
export { EFFORT_BY_COST, buildPrompt, expandHome, fillPlaceholders, placeholderValues } from './command-parts.js';
export { autoClaudeDir } from './auto-claude.js';

/** Isolation by git worktree is dispatch's job for every agent except one that isolates itself. */
export function usesDispatchWorktree(spec: Pick<ResolvedSpec, 'mode' | 'agent'>): boolean {
  // Only a built-in agent isolates itself (a config-defined one never does): the name says it, whatever the config.
  return spec.mode === 'isolated' && !builtinDriver(spec.agent)?.ownIsolation;
}

export function agentCommand(config: ResolvedConfig, spec: ResolvedSpec, paths: AgentPaths, attempt = 1): AgentCommand {
  return driverOf(config, spec.agent, spec.id).command(config, spec, paths, attempt);
}

/** The model a spec's agent runs on, as far as its config tells (the report's prices, the merge trailer). */
export function modelOf(config: ResolvedConfig, spec: { agent: string; cost?: number }): string | undefined {
  return findDriver(config, spec.agent)?.model(config, spec);
}
