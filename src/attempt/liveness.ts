// A spec left "running" whose runner is gone (killed, machine rebooted) is
// marked failed — the rescue the original tool needed `mark-failed` for.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ResolvedConfig } from '../config/types.js';
import { failLaunch, isRemote, own, type StateDoc } from '../state/doc.js';
import { stopGroup } from '../proc/group.js';
import { removeRunnerEnv } from './runner-env.js';
import { agentGroupOf } from './agent-file.js';
import { pidIs } from '../proc/identity.js';
import { withState } from '../state/store.js';
import { announceVerdict } from './hooks.js';

export interface Lost {
  id: string;
  /** What happened to the runner ("runner died"); the reason recorded is `lost (<why>)`. */
  why: string;
  reason: string;
}

const lostOf = (id: string, why: string): Lost => ({ id, why, reason: `lost (${why})` });

/** The runner of spec `id` (`... exec-spec -- <id>`), alive — not some process that reused its pid. */
export function isRunner(pid: number, id: string): boolean {
  return pidIs(pid, (argv) => argv.includes('exec-spec') && argv.at(-1) === id);
}

/** The pid a runner writes at its very start, before it waits for the state lock. */
export const runnerPidFile = (stateDir: string, id: string) => join(stateDir, 'runs', id, 'runner.pid');

/** What a spec's runner pid file says: its pid and when it started (undefined when there is none). */
export function runnerPidOf(stateDir: string, id: string): { pid: number; at: number } | undefined {
  try {
    const [pid, at] = readFileSync(runnerPidFile(stateDir, id), 'utf8').trim().split(' ');
    const n = Number(pid);
    return Number.isSafeInteger(n) && n > 0 ? { pid: n, at: Date.parse(at ?? '') } : undefined;
  } catch {
    return undefined;
  }
}

function startedRunner(stateDir: string, id: string, since: number): number | undefined {
  const r = runnerPidOf(stateDir, id);
  return r && r.at >= since - 1000 ? r.pid : undefined;
}

/** Running entries on this host whose runner is dead, or that never reported in. */
export function findLost(doc: StateDoc, stateDir: string, startTimeoutSeconds: number, now = Date.now()): Lost[] {
  const lost: Lost[] = [];
  const host = hostname();
  for (const [id, r] of Object.entries(doc.dispatch?.running ?? {})) {
    // Another machine's runner cannot be checked from here (an SSH host's are judged by collecting them).
    if ((r.host && r.host !== host) || isRemote(r)) continue;
    if (r.pid > 0) {
      if (!isRunner(r.pid, id)) lost.push(lostOf(id, 'runner died'));
    } else if (now - Date.parse(r.startedAt) > startTimeoutSeconds * 1000) {
      // Started but still queued for the state lock (a busy machine): not lost while it lives.
      const pid = startedRunner(stateDir, id, Date.parse(r.startedAt));
      if (pid && isRunner(pid, id)) continue;
      lost.push(lostOf(id, `runner never started within ${startTimeoutSeconds} s${r.pane ? ` in ${r.pane}` : ''}`));
    }
  }
  return lost;
}

/**
 * Marks lost specs failed (kind `lost`), after stopping what their dead
 * runner left running: the agent's process group, recorded when it started.
 * A spec whose agent cannot be stopped stays running — relaunching it would
 * put a second agent in the same folder. Takes the state lock only when there
 * is something to mark.
 */
export async function reapLost(config: ResolvedConfig, doc: StateDoc, command: string, opts: { stop?: typeof stopGroup } = {}): Promise<Lost[]> {
  const seen = findLost(doc, config.stateDir, config.startTimeoutSeconds);
  if (!seen.length) return [];
  const stuck = new Set<string>();
  const stop = opts.stop ?? stopGroup;
  for (const l of seen) {
    const r = own(doc.dispatch?.running, l.id);
    const g = r && agentGroupOf(config, l.id, r);
    if (g && !(await stop(g))) stuck.add(l.id);
    removeRunnerEnv(config, l.id);
  }
  const lost = await withState(config.stateDir, { command }, (fresh) => {
    // Re-check under the lock: a runner may have finished in between.
    const now = findLost(fresh, config.stateDir, config.startTimeoutSeconds).filter((l) => !stuck.has(l.id) && seen.some((s) => s.id === l.id));
    for (const l of now) {
      // The launch the dead runner (or the one that never started) had is closed as lost too.
      failLaunch(fresh, l.id, l.reason, 'lost');
    }
    return now;
  });
  for (const l of lost) {
    // A runner that died cannot tell anyone: the one who noticed does it for it.
    await announceVerdict(config, l.id, { state: 'failed', kind: 'lost', reason: l.reason });
  }
  return lost;
}

/**
 * Waits (at most `timeoutMs`) for the runners that gave a verdict since `sinceMs` to exit: a runner
 * writes the verdict first, then its signal file, its hook and the end of its log. A run ends after
 * them, so what a spec's hook does is there when the run says it is over. Each closed attempt names
 * its runner; an attempt still open (its spec decided by hand while the agent works) names none.
 */
export async function settleRunners(doc: StateDoc, ids: Iterable<string>, sinceMs: number, timeoutMs: number): Promise<void> {
  let pending: { id: string; pid: number }[] = [];
  for (const id of ids) {
    for (const h of own(doc.dispatch?.specs, id)?.history ?? []) {
      if (h.runner && h.endedAt && Date.parse(h.endedAt) >= sinceMs) pending.push({ id, pid: h.runner });
    }
  }
  const until = Date.now() + timeoutMs;
  while ((pending = pending.filter((p) => isRunner(p.pid, p.id))).length && Date.now() < until) {
    await new Promise((res) => setTimeout(res, 25));
  }
}
