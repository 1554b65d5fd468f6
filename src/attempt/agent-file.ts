// The agent's process group, written by its runner the moment the agent
// exists — before the runner waits for the state lock to put it in the state.
// A runner killed in between still leaves its agent findable: whoever finds
// the runner lost stops that group. Killed even before that (between the
// spawn and the write), it has left a random token, written before the spawn
// and given to the agent in its environment: the group is found by it.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ResolvedConfig } from '../config/types.js';
import type { AgentGroup, RunnerInfo } from '../state/doc.js';
import { runDirOf } from './paths.js';
import { groupAlive, groupByToken } from '../proc/group.js';

const agentFile = (config: ResolvedConfig, id: string) => join(runDirOf(config, id), 'agent.json');

let token: string | undefined;

/** Written before the agent starts: the token its environment will carry (AGENT_TOKEN_VAR). */
export function agentToken(config: ResolvedConfig, id: string): string {
  token = randomBytes(12).toString('hex');
  try {
    writeFileSync(agentFile(config, id), `${JSON.stringify({ runner: process.pid, token })}\n`);
  } catch {
    // no run folder: the state gets the group a moment after the start
  }
  return token;
}

export function writeAgentFile(config: ResolvedConfig, id: string, group: AgentGroup): void {
  try {
    writeFileSync(agentFile(config, id), `${JSON.stringify({ runner: process.pid, ...(token ? { token } : {}), ...group })}\n`);
  } catch {
    // the state gets the same record a moment later
  }
}

/** The group the runner `runnerPid` recorded for its agent, if that runner wrote one. */
export function agentOnFile(config: ResolvedConfig, id: string, runnerPid: number): AgentGroup | undefined {
  try {
    const a = JSON.parse(readFileSync(agentFile(config, id), 'utf8')) as { runner?: number; pgid?: number; start?: number; token?: unknown };
    if (a.runner !== runnerPid) return undefined;
    if (!Number.isInteger(a.pgid)) return typeof a.token === 'string' && /^[0-9a-f]{24}$/.test(a.token) ? groupByToken(a.token) : undefined;
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
