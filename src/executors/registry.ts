// Every executor, by kind: adding one is its own file and one line here.
import type { ResolvedConfig } from '../config/types.js';
import type { Executor, ExecutorKind } from './types.js';

type Factory = (config: ResolvedConfig) => Promise<Executor>;

export const executors = {
  zellij: async (config) => (await import('./zellij.js')).zellijMux(config.session, 'zellij', config),
  tmux: async (config) => (await import('./tmux.js')).tmuxMux(config.session, { socket: config.tmuxSocket, rootDir: config.rootDir, config }),
  headless: async (config) => (await import('./headless.js')).headlessMux(config.session, config),
  ssh: async (config) => (await import('./ssh/executor.js')).sshExecutor(config),
} satisfies Record<ExecutorKind, Factory>;

export const createExecutor = (config: ResolvedConfig, kind: ExecutorKind): Promise<Executor> => executors[kind](config);
