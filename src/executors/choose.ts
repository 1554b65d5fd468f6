import { onPath } from '../util/which.js';
import type { ResolvedConfig } from '../config/types.js';
import type { Executor, ExecutorKind, MuxKind } from './types.js';

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
