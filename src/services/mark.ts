import type { ResolvedConfig } from '../config/types.js';
import { boundReason, decideByHand, idsInState, isRemote, own, setState, stateOf, type SpecState } from '../state/doc.js';
import { DispatchError } from '../errors.js';
import { isRunner, runnerPidOf } from '../attempt/liveness.js';
import { clearSignals, writeSignal } from '../state/signals.js';
import { withState, type WithStateOptions } from '../state/store.js';
import { findSpecs } from '../specs/lookup.js';
import { askRecorded, endedThere, outlivedOf } from '../executors/recorded.js';
import type { RemoteRun } from '../executors/types.js';

export type MarkVerb = 'mark-done' | 'mark-failed' | 'skip';
export interface Change {
  id: string;
  from: SpecState;
  to: SpecState;
  changed: boolean;
  /** The state is saved, but its signal file could not be written (why). */
  signalProblem?: string;
}

const TARGET: Record<MarkVerb, SpecState> = { 'mark-done': 'done', 'mark-failed': 'failed', skip: 'skipped' };

/** Marks specs in one locked transaction, then writes the signal files the original tool wrote. */
export async function markSpecs(config: ResolvedConfig, verb: MarkVerb, ids: string[], reason?: string): Promise<Change[]> {
  const specs = findSpecs(config, ids);
  const to = TARGET[verb];
  // Kept whole, a reason pasted by hand (a whole log) would be read by every later `status`.
  reason = boundReason(reason);
  const changes = await withState(config.stateDir, { command: verb, reason, kind: 'manual' }, (doc) =>
    specs.map((s): Change => {
      const from = stateOf(doc, s.id);
      const changed = decideByHand(doc, s.id, to as 'done' | 'failed' | 'skipped', reason ?? (to === 'failed' ? `marked failed by hand` : undefined));
      return { id: s.id, from, to, changed };
    }),
  );
  for (const ch of changes) {
    const p =
      to === 'done' ? writeSignal(config.signalDir, config.project, 'done', ch.id)
      : to === 'failed' ? writeSignal(config.signalDir, config.project, 'failed', ch.id, reason ? `${reason}\n` : '')
      : clearSignals(config.signalDir, config.project, ch.id);
    if (p) ch.signalProblem = p;
  }
  return changes;
}

/** Specs back to pending: one (`--spec`), the failed ones (`retry`), or all. */
export async function resetSpecs(
  config: ResolvedConfig,
  command: string,
  pick: (id: string, state: SpecState) => boolean,
  opts: { reason?: string; onCorrupt?: WithStateOptions['onCorrupt'] } = {},
): Promise<Change[]> {
  // Remote runs (SSH) are asked about on their hosts, outside the lock (a host may take its time limit to answer);
  // what is found under the lock is judged against those answers, and a run not asked about counts as live.
  const asked = await askRecorded(config, command, pick).catch(() => new Map<string, RemoteRun>());
  const changes = await withState(config.stateDir, { command, reason: opts.reason, kind: 'manual', onCorrupt: opts.onCorrupt }, (doc) => {
    const ids = new Set([...config.specs.map((s) => s.id), ...idsInState(doc)]);
    // Decided by hand while its agent works on an SSH host: its work still comes home, and no second agent starts.
    const away = [...ids].filter((id) => {
      const o = outlivedOf(doc, id);
      const st = stateOf(doc, id);
      return !!o && st !== 'pending' && st !== 'running' && pick(id, st) && !endedThere(asked, id, o);
    });
    if (away.length) {
      const where = away.map((id) => outlivedOf(doc, id)!.host);
      const silent = away.filter((id) => asked.get(id)?.alive === undefined);
      throw new DispatchError(`${away.join(', ')} ${away.length === 1 ? 'was' : 'were'} decided by hand while ${away.length === 1 ? 'its agent' : 'their agents'} still ${silent.length ? 'may work' : away.length === 1 ? 'works' : 'work'} on SSH host ${[...new Set(where)].join(', ')}${silent.length ? ` (${[...new Set(silent.map((id) => outlivedOf(doc, id)!.host))].join(', ')} did not answer)` : ''}; nothing was changed`, {
        hint: `a relaunch would start a second agent beside it: wait until it ends (its work is fetched then), or end it with 'dispatch stop ${away.join(' ')}'`,
      });
    }
    // Back to pending while its agent still works would let the next run start a second agent beside it.
    // A runner outlives a decision by hand (mark-done or skip while its agent works): its pid file still names it.
    const live = [...ids].filter((id) => {
      const r = own(doc.dispatch?.running, id);
      if (isRemote(r)) return pick(id, 'running') && ((r.pid === 0 && launching(config, id, r.startedAt)) || !endedThere(asked, id, r));
      if (r) return pick(id, 'running') && (r.pid > 0 ? isRunner(r.pid, id) : launching(config, id, r.startedAt));
      const st = stateOf(doc, id);
      if (st === 'pending' || !pick(id, st)) return false;
      // Its launch still open: the runner has not given its verdict (one that has is only finishing up).
      if (own(doc.dispatch?.specs, id)?.history?.at(-1)?.endedAt !== undefined) return false;
      const pid = runnerPidOf(config.stateDir, id)?.pid;
      return pid !== undefined && isRunner(pid, id);
    });
    // Decided by hand while its runner still works: `dispatch stop` no longer sees it as running.
    const outlived = live.filter((id) => !own(doc.dispatch?.running, id));
    if (outlived.length) {
      const pids = outlived.map((id) => runnerPidOf(config.stateDir, id)?.pid);
      throw new DispatchError(`${outlived.join(', ')} ${outlived.length === 1 ? 'was' : 'were'} decided by hand while ${outlived.length === 1 ? 'its runner (pid ' + pids[0] + ') is' : 'their runners (pids ' + pids.join(', ') + ') are'} still at work; nothing was changed`, {
        hint: `a relaunch would start a second agent beside it: wait until it ends, or end it with 'kill ${pids.join(' ')}' (its agent stops with it)`,
      });
    }
    if (live.length) {
      throw new DispatchError(`${live.join(', ')} ${live.length === 1 ? 'is' : 'are'} running; nothing was changed`, { hint: `stop ${live.length === 1 ? 'it' : 'them'} first with 'dispatch stop ${live.join(' ')}'` });
    }
    const out: Change[] = [];
    for (const id of ids) {
      const from = stateOf(doc, id);
      if (from === 'pending' || !pick(id, from)) continue;
      setState(doc, id, 'pending');
      out.push({ id, from, to: 'pending', changed: true });
    }
    return out;
  });
  for (const ch of changes) {
    const p = clearSignals(config.signalDir, config.project, ch.id);
    if (p) ch.signalProblem = p;
  }
  return changes;
}

/**
 * Claimed by a run whose runner has not reported in yet (pid 0): still launching while within the start
 * time limit, or while a runner started for it lives. Put back to pending then, the runner would find
 * nothing to run and the run would watch it for ever; past the limit, the run counts it lost anyway.
 */
function launching(config: ResolvedConfig, id: string, startedAt: string, now = Date.now()): boolean {
  const since = Date.parse(startedAt);
  if (!(now - since > config.startTimeoutSeconds * 1000)) return true;
  const r = runnerPidOf(config.stateDir, id);
  return !!r && r.at >= since - 1000 && isRunner(r.pid, id);
}
