// The agent's process group, written by its runner the moment the agent
// exists — before the runner waits for the state lock to put it in the state.
// A runner killed in between still leaves its agent findable: whoever finds
// the runner lost stops that group.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ResolvedConfig } from '../config/load.js';
import type { AgentGroup, RunnerInfo } from '../state/doc.js';
import { runDirOf } from './paths.js';
import { groupAlive } from '../proc/group.js';

const agentFile = (config: ResolvedConfig, id: string) => join(runDirOf(config, id), 'agent.json');

export function writeAgentFile(config: ResolvedConfig, id: string, group: AgentGroup): void {
  try {
    writeFileSync(agentFile(config, id), `${JSON.stringify({ runner: process.pid, ...group })}\n`);
  } catch {
    // the state gets the same record a moment later
  }
}

/** The group the runner `runnerPid` recorded for its agent, if that runner wrote one. */
export function agentOnFile(config: ResolvedConfig, id: string, runnerPid: number): AgentGroup | undefined {
  try {
    const a = JSON.parse(readFileSync(agentFile(config, id), 'utf8')) as { runner?: number; pgid?: number; start?: number };
    if (a.runner !== runnerPid || !Number.isInteger(a.pgid)) return undefined;
    return { pgid: a.pgid!, ...(typeof a.start === 'number' ? { start: a.start } : {}) };
  } catch {
    return undefined;
  }
}

/** A running spec's agent group: in the state, or — if its runner died before it could say so there — in its run folder. */
export function agentGroupOf(config: ResolvedConfig, id: string, runner: RunnerInfo): AgentGroup | undefined {
  const onFile = runner.pid > 0 ? agentOnFile(config, id, runner.pid) : undefined;
  // The file is written last: after the agent, the runner's verify commands run in groups of their own,
  // and a runner killed during a check leaves that check's group there, alive, while the agent's is gone.
  if (onFile && runner.agent && onFile.pgid !== runner.agent.pgid && groupAlive(onFile)) return onFile;
  return runner.agent ?? onFile;
}
