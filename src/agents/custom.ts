// An agent defined in the config (`agents.<name> = { command: [...] }`): an
// argument array with placeholders, its prompt on stdin or none, its output
// Codex-style events when it says so.
import type { ResolvedConfig } from '../config/types.js';
import type { CustomAgentConfig } from '../config/schema.js';
import type { AgentDriver } from './types.js';
import { fillPlaceholders, placeholderValues } from './command-parts.js';
import { CodexEvents } from './codex.js';

/** The config's own definition of `name`, if it has one (an object with a command). */
export function customAgentOf(config: ResolvedConfig, name: string): CustomAgentConfig | undefined {
  const a = Object.hasOwn(config.agents, name) ? (config.agents as Record<string, unknown>)[name] : undefined;
  return a && typeof a === 'object' && Array.isArray((a as { command?: unknown }).command) ? (a as CustomAgentConfig) : undefined;
}

export function customDriver(name: string, def: CustomAgentConfig): AgentDriver {
  return {
    kind: name,
    program: name,
    // A custom agent gets the prompt (spec and plan) when it asks for it on stdin, and {planFile} otherwise.
    readsPlan: true,
    installHint: `install it, or fix agents.${name}.command in the config`,
    command(config, spec, paths, attempt) {
      const argv = fillPlaceholders(def.command, placeholderValues(config, spec, paths, attempt, def.model ?? ''));
      return { argv, cwd: paths.cwd, env: def.env, promptOnStdin: def.prompt === 'stdin', ...(def.codexEvents ? { events: () => new CodexEvents() } : {}) };
    },
    model: () => def.model || undefined,
    rateLimitPatterns: () => def.rateLimitPatterns,
  };
}
