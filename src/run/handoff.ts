import type { ResolvedConfig } from '../config/types.js';
import { stateOf, type StateDoc } from '../state/doc.js';
import { readState } from '../state/store.js';
import { isComplete } from '../state/doc.js';
import { reapLost } from '../attempt/liveness.js';
import { canRelaunch } from '../attempt/policy.js';
import { readRunLock } from '../state/run-lock.js';
import { specsOfWave } from '../config/spec-index.js';

// A run that ended normally leaves no lock; give a new one time to start before taking over its work.
const LOCK_GRACE_MS = 10_000;

/**
 * Waits until every spec of `wave` is complete (done and merged, or skipped).
 * Polls the state file — which mark-done, the runners and the old tool's
 * signal-writing commands all update — several times a second.
 */
export async function waitForWave(
  config: ResolvedConfig,
  wave: number,
  opts: {
    signal: AbortSignal;
    stopOnFailure: boolean;
    pollMs?: number;
    /** --dry-run: change nothing (no lost runners marked) and never resume. */
    readOnly?: boolean;
    /** The situation of the last resume: not resumed again until something changes. */
    resumedAt?: string;
    onFailed?: (f: { id: string; reason?: string }[]) => void;
    onLost?: (ids: string[]) => void;
    /** What it waits for, said again whenever that changes. */
    onWaiting?: (text: string) => void;
  },
): Promise<{ verdict: 'complete' | 'failed' | 'interrupted' } | { verdict: 'resume'; situation: string }> {
  const ids = specsOfWave(config, wave).map((s) => s.id);
  let reported = '';
  let lastReap = 0;
  let lockGoneSince: number | undefined;
  let lastWaiting = '';
  while (!opts.signal.aborted) {
    let doc = readState(config.stateDir);
    if (!opts.readOnly && Date.now() - lastReap > 1000) {
      lastReap = Date.now();
      // Runs on other machines are collected wherever they are on record (a pool since removed from the config too).
      const { collectRecorded } = await import('../executors/recorded.js');
      if ((await collectRecorded(config, 'watch-handoff').catch(() => [])).length) doc = readState(config.stateDir);
      const lost = await reapLost(config, doc, 'watch-handoff');
      if (lost.length) {
        opts.onLost?.(lost.map((l) => l.id));
        doc = readState(config.stateDir);
      }
    }
    if (ids.every((id) => isComplete(doc, id))) return { verdict: 'complete' };
    // Nobody is driving the wave any more (its run was killed, or ended with work left to
    // relaunch): resume it rather than wait forever — once per situation, and only when there
    // is something to launch or adopt.
    const lock = readRunLock(config.stateDir);
    const states = ids.map((id) => stateOf(doc, id));
    const situation = `${lock.lock?.pid ?? '-'}:${states.join(',')}`;
    const started = states.some((s) => s !== 'pending');
    const work = ids.some((id, i) => ['pending', 'running', 'rate-limited'].includes(states[i]!) || canRelaunch(config, doc, id));
    const relaunchable = ids.some((id, i) => states[i] === 'rate-limited' || canRelaunch(config, doc, id));
    lockGoneSince = lock.lock ? undefined : (lockGoneSince ?? Date.now());
    if (!opts.readOnly && situation !== opts.resumedAt) {
      if (lock.lock && lock.alive === false && started && work) return { verdict: 'resume', situation };
      if (relaunchable && lockGoneSince !== undefined && Date.now() - lockGoneSince > LOCK_GRACE_MS) return { verdict: 'resume', situation };
    }
    const waiting = describeWait(doc, wave, ids, lock.lock && lock.alive !== false ? lock.lock.pid : undefined);
    if (waiting !== lastWaiting) {
      lastWaiting = waiting;
      opts.onWaiting?.(waiting);
    }
    const failed = ids.filter((id) => stateOf(doc, id) === 'failed').map((id) => ({ id, reason: doc.dispatch?.specs[id]?.reason }));
    const key = failed.map((f) => f.id).join(',');
    if (failed.length && key !== reported) {
      // Said once per new set of failures, not on every poll.
      reported = key;
      if (opts.stopOnFailure) return { verdict: 'failed' };
      opts.onFailed?.(failed);
    }
    if (!failed.length) reported = '';
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 150));
  }
  return { verdict: 'interrupted' };
}

/**
 * `waiting for wave 1: 1 pending (002), nobody is running it — start it with …`:
 * the wave's unfinished specs by state, and who (if anyone) drives it.
 */
export function describeWait(doc: StateDoc, wave: number, ids: string[], runPid: number | undefined): string {
  const groups = new Map<string, string[]>();
  for (const id of ids) {
    if (isComplete(doc, id)) continue;
    const st = stateOf(doc, id);
    const label = st === 'done' ? 'awaiting merge' : st;
    groups.set(label, [...(groups.get(label) ?? []), id]);
  }
  const show = (list: string[]) => (list.length > 5 ? `${list.slice(0, 5).join(', ')}, …` : list.join(', '));
  const parts = [...groups].map(([st, list]) => `${list.length} ${st} (${show(list)})`);
  const running = (groups.get('running')?.length ?? 0) + (groups.get('rate-limited')?.length ?? 0);
  const who = runPid
    ? `run pid ${runPid} is driving it`
    : running
      ? 'its runners are at work, no run is watching them'
      : groups.has('pending')
        ? `nobody is running it — start it with 'dispatch run --wave ${wave} --yes'`
        : groups.has('failed')
          ? `nobody is running it — 'dispatch retry' puts failed specs back, then 'dispatch run --wave ${wave} --yes'`
          : groups.has('awaiting merge')
          ? "merge them with 'dispatch merge <id>'"
          : 'nobody is running it';
  return `waiting for wave ${wave}: ${parts.join(', ')}, ${who}`;
}
