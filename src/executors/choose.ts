import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { ResolvedConfig } from '../config/load.js';
import type { Executor, ExecutorKind, MuxKind } from './types.js';

/** Whether `file` exists and this user may execute it. */
export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Looks an executable up on PATH without starting a process. */
export function onPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** auto: zellij inside zellij or when installed, else tmux, else headless. */
export function resolveMuxKind(wanted: ResolvedConfig['multiplexer']): MuxKind {
  if (wanted !== 'auto') return wanted;
  if (process.env.ZELLIJ !== undefined || onPath('zellij')) return 'zellij';
  if (onPath('tmux')) return 'tmux';
  return 'headless';
}

/** The executor of this run: the SSH pool when the config has one (and no --mux asks for a local one), else the multiplexer. */
export function resolveExecutorKind(config: ResolvedConfig, muxFlag?: ResolvedConfig['multiplexer']): ExecutorKind {
  if (config.executor && !muxFlag) return config.executor.kind;
  return resolveMuxKind(muxFlag ?? config.multiplexer);
}

export async function createMux(config: ResolvedConfig, kind: ExecutorKind): Promise<Executor> {
  const { createExecutor } = await import('./registry.js');
  return createExecutor(config, kind);
}

/** The executor that holds a running entry: the SSH pool, or the multiplexer its pane id names (tmux %N, zellij terminal_N, else headless). */
export function executorForEntry(config: ResolvedConfig, r: { executor?: string; pane?: string }): Promise<Executor> {
  const kind: ExecutorKind = r.executor === 'ssh' ? 'ssh' : r.pane?.startsWith('%') ? 'tmux' : r.pane?.startsWith('terminal_') ? 'zellij' : 'headless';
  return createMux(config, kind);
}
