import { join } from 'node:path';
import type { ResolvedConfig, ResolvedSpec } from '../config/load.js';
import { usesDispatchWorktree } from '../agents/command.js';

export const logPath = (config: ResolvedConfig, id: string) => join(config.stateDir, 'logs', `${id}.log`);
export const attemptLogPath = (config: ResolvedConfig, id: string, n: number) => join(config.stateDir, 'logs', `${id}.attempt-${n}.log`);
export const runDirOf = (config: ResolvedConfig, id: string) => join(config.stateDir, 'runs', id);
export const worktreePath = (config: ResolvedConfig, id: string) => join(config.worktreesDir, id);
export const branchOf = (id: string) => `dispatch/${id}`;
/** What the user sees in the multiplexer: `<project>-<id>`. */
export const paneNameOf = (config: ResolvedConfig, id: string) => `${config.project}-${id}`;

/** Where the agent works: the project, or the spec's own worktree. */
export function workDirOf(config: ResolvedConfig, spec: ResolvedSpec): string {
  return usesDispatchWorktree(spec) ? worktreePath(config, spec.id) : config.rootDir;
}
