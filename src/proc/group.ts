// An agent's process group: what the runner started, so what dispatch may
// stop. A group id is not reused while any member lives; once all are gone a
// new leader may take the same number, so the leader's start time (Linux
// /proc) tells our group from a later one.
import { readdirSync, readFileSync } from 'node:fs';
import { canSignal, procStat } from './identity.js';

/** An agent's process group; `start` (its leader's start time) keeps a reused pid from being signalled. */
export interface AgentGroup {
  pgid: number;
  start?: number;
}

/** The group of a process the runner just started in a group of its own. */
export function groupOf(pid: number): AgentGroup {
  const st = procStat(pid);
  return { pgid: pid, ...(st ? { start: st.start } : {}) };
}

/** Members of the group still alive (not zombies), by /proc; undefined where /proc is not. */
function members(pgid: number, notBefore = 0): number[] | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return undefined;
  }
  const out: number[] = [];
  for (const p of pids) {
    const st = procStat(Number(p));
    if (st && st.pgrp === pgid && st.state !== 'Z' && st.state !== 'X' && st.start >= notBefore) out.push(Number(p));
  }
  return out;
}

/** Whether any process of this very group (not a later one with the same number) still runs. */
export function groupAlive(g: AgentGroup): boolean {
  if (!Number.isInteger(g.pgid) || g.pgid <= 1 || !canSignal(-g.pgid)) return false;
  const leader = procStat(g.pgid);
  const proc = leader !== undefined || procStat(process.pid) !== undefined;
  // Where /proc tells start times, a group recorded without one cannot be told from a later one: not ours.
  if (proc && g.start === undefined) return false;
  // The leader lives: it is ours if it started when ours did.
  if (leader && leader.state !== 'Z') return leader.start === g.start;
  // The leader is gone: its members keep the group (and its number) alive; only zombies left means none.
  const m = members(g.pgid, g.start);
  return m === undefined ? true : m.length > 0;
}

/** Signals the group if it is still ours. */
export function signalGroup(g: AgentGroup, signal: NodeJS.Signals): boolean {
  if (!groupAlive(g)) return false;
  try {
    process.kill(-g.pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Ends the group: SIGTERM, then SIGKILL for what is left after `graceMs`.
 * Resolves true once nothing of it runs (false if something survived SIGKILL's wait).
 */
export async function stopGroup(g: AgentGroup, graceMs = 2000, pollMs = 25): Promise<boolean> {
  if (!signalGroup(g, 'SIGTERM')) return true;
  const until = Date.now() + graceMs;
  while (Date.now() < until) {
    await new Promise((r) => setTimeout(r, pollMs));
    if (!groupAlive(g)) return true;
  }
  signalGroup(g, 'SIGKILL');
  const hard = Date.now() + 2000;
  while (Date.now() < hard) {
    await new Promise((r) => setTimeout(r, pollMs));
    if (!groupAlive(g)) return true;
  }
  return false;
}

/** The variable that marks every process of one agent launch (see run/agent-file.ts). */
export const AGENT_TOKEN_VAR = 'DISPATCH_AGENT_TOKEN';

/**
 * The group of the processes started with `<AGENT_TOKEN_VAR>=<token>` in their environment: an agent whose
 * runner died before it could write the group down. The token is random and written before the agent
 * starts, so what carries it was started by that launch; its start time is the earliest of those found.
 */
export function groupByToken(token: string): AgentGroup | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return undefined;
  }
  const mark = `${AGENT_TOKEN_VAR}=${token}`;
  let found: AgentGroup | undefined;
  for (const p of pids) {
    let env: string;
    try {
      env = readFileSync(`/proc/${p}/environ`, 'latin1');
    } catch {
      continue;
    }
    if (!env.split('\0').includes(mark)) continue;
    const st = procStat(Number(p));
    if (!st || st.state === 'Z' || st.state === 'X') continue;
    if (!found || (st.pgrp === found.pgid && st.start < found.start!)) found = { pgid: st.pgrp, start: st.start };
  }
  return found;
}
