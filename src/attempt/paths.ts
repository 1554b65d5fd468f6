import { join, sep } from 'node:path';
import type { ResolvedConfig, ResolvedSpec } from '../config/types.js';
import { usesDispatchWorktree } from '../agents/command.js';

/** Where the logs are: each spec's latest (`<id>.log`) and each attempt's (`<id>.attempt-<n>.log`). */
export const logsDirOf = (config: Pick<ResolvedConfig, 'stateDir'>) => join(config.stateDir, 'logs');
export const logPath = (config: ResolvedConfig, id: string) => join(logsDirOf(config), `${id}.log`);
export const attemptLogPath = (config: ResolvedConfig, id: string, n: number) => join(logsDirOf(config), `${id}.attempt-${n}.log`);
// Concatenated: stateDir is resolved and an id is one plain name (validated), so join's normalising is not needed.
export const runDirOf = (config: ResolvedConfig, id: string) => `${config.stateDir}${sep}runs${sep}${id}`;
export const worktreePath = (config: ResolvedConfig, id: string) => join(config.worktreesDir, id);
export const branchOf = (id: string) => `dispatch/${id}`;
/** What the user sees in the multiplexer: `<project>-<id>`. */
export const paneNameOf = (config: ResolvedConfig, id: string) => `${config.project}-${id}`;

/** Where the agent works: the project, or the spec's own worktree. */
export function workDirOf(config: ResolvedConfig, spec: ResolvedSpec): string {
  return usesDispatchWorktree(spec) ? worktreePath(config, spec.id) : config.rootDir;
}
