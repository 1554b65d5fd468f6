// The agents dispatch knows, by the name specs give them. One module per
// built-in agent; an agent defined in the config (`agents.<name>.command`) is
// a driver made from its entry, and wins over a built-in of the same name.
import type { ResolvedConfig } from '../config/types.js';
import { ConfigError } from '../errors.js';
import type { AgentDriver } from './types.js';
import { codex } from './codex.js';
import { autoClaude } from './auto-claude.js';
import { claude } from './claude.js';
import { customAgentOf, customDriver } from './custom.js';

export type BuiltinAgent = 'codex' | 'ac' | 'claude';

const BUILTIN = { codex, ac: autoClaude, claude } satisfies Record<BuiltinAgent, AgentDriver>;

export const BUILTIN_AGENTS = Object.keys(BUILTIN) as BuiltinAgent[];

/** A built-in agent's driver by its name (own keys only: `constructor` is no agent). */
export const builtinDriver = (name: string): AgentDriver | undefined => (Object.hasOwn(BUILTIN, name) ? BUILTIN[name as BuiltinAgent] : undefined);

// Drivers of config-defined agents, made once per loaded config (10,000 specs ask 10,000 times).
const made = new WeakMap<ResolvedConfig, Map<string, AgentDriver | null>>();

/** The driver of agent `name` under this config, or undefined when it is neither defined nor built in. */
export function findDriver(config: ResolvedConfig, name: string): AgentDriver | undefined {
  let m = made.get(config);
  if (!m) made.set(config, (m = new Map()));
  let d = m.get(name);
  if (d === undefined) {
    const def = customAgentOf(config, name);
    d = (def ? customDriver(name, def) : builtinDriver(name)) ?? null;
    m.set(name, d);
  }
  return d ?? undefined;
}

export function driverOf(config: ResolvedConfig, name: string, specId?: string): AgentDriver {
  const d = findDriver(config, name);
  if (!d) throw new ConfigError(`${specId !== undefined ? `spec ${specId}: ` : ''}agent "${name}" is not defined`, { hint: `use ${BUILTIN_AGENTS.map((b) => `'${b}'`).join(', ')} or add agents.${name} = { command: [...] } to the config` });
  return d;
}

/** Built-in agents the config defines its own way (its definition is the one used). */
export const shadowedBuiltins = (config: ResolvedConfig): BuiltinAgent[] => BUILTIN_AGENTS.filter((b) => customAgentOf(config, b) !== undefined);
