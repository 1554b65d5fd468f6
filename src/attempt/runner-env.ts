// The dispatcher's environment, passed to a runner in a pane. Panes of tmux and zellij are
// started by their server, with the server's environment: without this, an OPENAI_API_KEY
// or PATH set where `dispatch run` was typed would not reach the agent.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ResolvedConfig } from '../config/types.js';
import { runDirOf } from './paths.js';

const envFile = (config: ResolvedConfig, id: string) => join(runDirOf(config, id), 'env.json');

export function writeRunnerEnv(config: ResolvedConfig, id: string): void {
  // What describes the dispatcher's own terminal is the pane's business, not ours. The user's
  // DISPATCH_* variables pass, as in a headless runner; the runner sets the spec's own after these.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(TMUX|ZELLIJ|TERM|STY|WINDOWID|COLUMNS|LINES)/.test(k))) as Record<string, string>;
  writeRunnerEnvValues(config, id, env);
}

/** Writes exactly these variables for the spec's runner (an SSH host gets only the forwarded ones). */
export function writeRunnerEnvValues(config: ResolvedConfig, id: string, env: Record<string, string>): void {
  mkdirSync(runDirOf(config, id), { recursive: true });
  rmSync(envFile(config, id), { force: true });
  // 0600: it may hold secrets. The runner deletes it once read.
  writeFileSync(envFile(config, id), JSON.stringify(env), { mode: 0o600 });
}

/** The environment `run` left for this spec's runner, removed as it is read. */
export function takeRunnerEnv(config: ResolvedConfig, id: string): Record<string, string> {
  const file = envFile(config, id);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return {};
  } finally {
    // Gone from the disk whatever follows.
    removeQuietly(file);
  }
  try {
    return JSON.parse(text) as Record<string, string>;
  } catch {
    return {};
  }
}

/** Removes the environment left for a runner that never started (a pane that failed to open, a lost launch). */
export function removeRunnerEnv(config: ResolvedConfig, id: string): void {
  removeQuietly(envFile(config, id));
}

function removeQuietly(file: string): void {
  try {
    rmSync(file, { force: true });
  } catch {
    // its folder is not there (a file in the way): then neither is the file
  }
}
