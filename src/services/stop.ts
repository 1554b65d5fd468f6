// `dispatch stop`: ends a running spec's runner and agent, under any
// executor (headless included, where no pane can be closed), and records it
// as interrupted — a decision by hand that the retry policy never reverses.
import { hostname } from 'node:os';
import type { ResolvedConfig } from '../config/types.js';
import { DispatchError, warn } from '../errors.js';
import { isRunner } from '../attempt/liveness.js';
import { announceVerdict } from '../attempt/hooks.js';
import { removeRunnerEnv } from '../attempt/runner-env.js';
import { findSpecs } from '../specs/lookup.js';
import { endOutlived, failLaunch, isRemote, kindOf, own, recheckLater, requestStop, stateOf, type RunnerInfo, type SpecState } from '../state/doc.js';
import { readState, withState } from '../state/store.js';

export interface StopResult {
  id: string;
  /** What it was when asked. */
  from: SpecState;
  stopped: boolean;
  /** Not running, or on another machine: why nothing was done. */
  note?: string;
  /** It ended on its own (this state) before the stop reached it. */
  ended?: SpecState;
  /** Its host did not answer: recorded here as stopped, and what still runs there is stopped when it answers again (why). */
  givenUp?: string;
}

const REASON = 'interrupted: stopped by hand (dispatch stop)';

/** Marks the spec stopped by hand, closing its open attempt. */
function recordStop(d: import('../state/doc.js').StateDoc, id: string): void {
  failLaunch(d, id, REASON, 'interrupted');
  const rec = own(d.dispatch?.specs, id)!;
  delete rec.stopReason;
  delete rec.stopKind;
}

const gone = (pid: number, id: string) => pid <= 0 || !isRunner(pid, id);

/**
 * Stops each spec. Decided under the state lock, against the entry as it is
 * then: a spec still launching (no runner has reported in) is recorded
 * stopped at once, and its runner, when it starts, finds it decided and
 * starts nothing. A running one's runner is asked to stop (it ends its agent
 * and records the stop); what does not answer within `waitMs` is ended here.
 */
export async function stopSpecs(config: ResolvedConfig, ids: string[], opts: { waitMs?: number; signal?: AbortSignal } = {}): Promise<StopResult[]> {
  const specs = findSpecs(config, ids);
  const out: StopResult[] = [];
  for (const spec of specs) {
    const id = spec.id;
    const seen = await withState(config.stateDir, { command: 'stop', reason: REASON }, (d) => {
      const from = stateOf(d, id);
      const r = own(d.dispatch?.running, id);
      const o = own(d.dispatch?.outlived, id);
      if (!r) return o ? { from, outlived: o } : { from };
      if (isRemote(r)) {
        // Its runner is told why where it runs; the verdict comes home with the next collection.
        requestStop(d, id, REASON, 'interrupted');
        return { from, runner: r, recorded: false, remote: true };
      }
      if (r.host && r.host !== hostname()) return { from, elsewhere: r.host };
      if (r.pid === 0) {
        recordStop(d, id);
        return { from, runner: r, recorded: true };
      }
      requestStop(d, id, REASON, 'interrupted');
      return { from, runner: r, recorded: false };
    });
    if ('outlived' in seen && seen.outlived) {
      out.push(await stopOutlived(config, id, seen.from, seen.outlived));
      continue;
    }
    if (!seen.runner) {
      if (seen.elsewhere) throw new DispatchError(`${id} runs on ${seen.elsewhere}, not on this machine`, { hint: `stop it there with 'dispatch stop ${id}'` });
      out.push({ id, from: seen.from, stopped: false, note: `not running (${seen.from})` });
      continue;
    }
    const r = seen.runner;
    if ('remote' in seen && seen.remote) {
      out.push(await stopRemote(config, id, r, opts));
      continue;
    }
    let recordedHere = !!seen.recorded;
    if (!seen.recorded) {
      const { executorForEntry } = await import('../executors/recorded.js');
      const ex = await executorForEntry(config, r);
      await ex.stop(id, r, 'ask');
      // Until its runner has recorded the stop and is gone.
      const until = Date.now() + (opts.waitMs ?? 15_000);
      while (Date.now() < until && !opts.signal?.aborted) {
        const now = own(readState(config.stateDir).dispatch?.running, id);
        if ((!now || now.pid !== r.pid) && gone(r.pid, id)) break;
        await new Promise((res) => setTimeout(res, 50));
      }
      // The runner is gone or did not answer: end its agent and record the stop ourselves.
      const left = own(readState(config.stateDir).dispatch?.running, id);
      if (left && left.pid === r.pid) {
        // Its agent's group (recorded by the runner) and the runner itself, ended now.
        await ex.stop(id, left, 'kill');
        recordedHere = await withState(config.stateDir, { command: 'stop', reason: REASON }, (d) => {
          if (own(d.dispatch?.running, id)?.pid !== r.pid) return false;
          recordStop(d, id);
          return true;
        });
      }
    }
    removeRunnerEnv(config, id);
    const st = readState(config.stateDir);
    const end = outcome(st, id, recordedHere);
    // What the runner would have done had it recorded the stop itself.
    if (recordedHere) {
      await announceVerdict(config, id, { state: 'failed', kind: 'interrupted', reason: REASON });
    }
    out.push({ id, from: seen.from, ...end, ...(stateOf(st, id) === 'running' ? { note: `still running (runner pid ${r.pid} did not stop)` } : {}) });
  }
  return out;
}

/**
 * Ends a remote run decided by hand while it went on: its agent is ended on its host and its attempt closed
 * as interrupted. The spec keeps the state it was given by hand.
 */
async function stopOutlived(config: ResolvedConfig, id: string, from: SpecState, o: RunnerInfo): Promise<StopResult> {
  const { executorForEntry } = await import('../executors/recorded.js');
  const ex = await executorForEntry(config, o);
  const nowhere = ex.unreachable(id, o);
  if (nowhere) throw nowhere;
  // A host that does not answer would hold the spec for ever: the run is given up here, and stopped there when it answers.
  const givenUp = await ex.stop(id, o, 'kill').then(() => undefined, (err: Error) => `${err.message}; what still runs there is stopped when it answers again`);
  const ended = await withState(config.stateDir, { command: 'stop', reason: REASON }, (d) => {
    const cur = own(d.dispatch?.outlived, id);
    if (!cur || cur.attempt !== o.attempt || cur.host !== o.host) return false;
    if (givenUp) recheckLater(d, o);
    return endOutlived(d, id, o.attempt, { state: 'failed', kind: 'interrupted', reason: givenUp ? `${REASON}; given up: ${givenUp}` : REASON });
  });
  // Its run leaves the host with the next check (its attempt is no longer current anywhere).
  if (!ended) return { id, from, stopped: false, note: `not running (${from}; its run on ${o.host} had already ended)` };
  return { id, from, stopped: true, note: givenUp ? `given up: ${givenUp}` : `its agent on ${o.host} was ended; it stays ${from}, as decided by hand`, ...(givenUp ? { givenUp } : {}) };
}

/** Stops a remote run: asked on its host, collected; what does not answer in time is killed there and recorded here. */
async function stopRemote(config: ResolvedConfig, id: string, r: RunnerInfo, opts: { waitMs?: number; signal?: AbortSignal }): Promise<StopResult> {
  const { executorForEntry } = await import('../executors/recorded.js');
  const ex = await executorForEntry(config, r);
  const nowhere = ex.unreachable(id, r);
  if (nowhere) {
    // Nowhere dispatch can reach: nothing was stopped, so nothing is recorded (and no stop is left pending).
    await withState(config.stateDir, { command: 'stop' }, (d) => {
      const rec = own(d.dispatch?.specs, id);
      if (rec && own(d.dispatch?.running, id)?.attempt === r.attempt) {
        delete rec.stopReason;
        delete rec.stopKind;
      }
    });
    throw nowhere;
  }
  const same = () => {
    const now = own(readState(config.stateDir).dispatch?.running, id);
    return !!now && now.host === r.host && now.attempt === r.attempt;
  };
  let asked: { started: boolean };
  try {
    asked = await ex.stop(id, r, 'ask');
  } catch (err) {
    // Its host does not answer: the stop is recorded here (a spec must not wait for ever on a host that may
    // never answer), and the place is checked again until it answers, when what still runs there is stopped.
    return recordRemoteStop(config, id, r, `${(err as Error).message}; what still runs there is stopped when it answers again`);
  }
  // Not on its host yet (a launch still on its way): the host keeps the stop, and its start will start nothing.
  if (!asked.started) return recordRemoteStop(config, id, r);
  try {
    const until = Date.now() + (opts.waitMs ?? 15_000);
    while (same() && Date.now() < until && !opts.signal?.aborted) {
      await new Promise((res) => setTimeout(res, 300));
      // Its own host only: another that hangs does not hold this stop.
      await ex.collect({ command: 'stop', force: true, only: { id, r } });
    }
    if (same()) await ex.stop(id, r, 'kill');
    await ex.finish({ lastCheck: false });
  } catch (err) {
    warn(`${(err as Error).message}: recording the stop here`);
  }
  return recordRemoteStop(config, id, r);
}

/** The stop recorded here, if the spec is still that very launch (else what happened to it stands). */
async function recordRemoteStop(config: ResolvedConfig, id: string, r: RunnerInfo, givenUp?: string): Promise<StopResult> {
  let recordedHere = false;
  if (own(readState(config.stateDir).dispatch?.running, id)?.attempt === r.attempt) {
    recordedHere = await withState(config.stateDir, { command: 'stop', reason: REASON }, (d) => {
      const cur = own(d.dispatch?.running, id);
      if (!cur || cur.host !== r.host || cur.attempt !== r.attempt) return false;
      if (givenUp) recheckLater(d, cur);
      recordStop(d, id);
      return true;
    });
  }
  if (recordedHere) {
    await announceVerdict(config, id, { state: 'failed', kind: 'interrupted', reason: REASON });
  }
  return { id, from: 'running', ...outcome(readState(config.stateDir), id, recordedHere), ...(recordedHere && givenUp ? { givenUp } : {}) };
}

/**
 * Whether the stop is what ended it: recorded here, or by its runner as asked (interrupted). A spec whose
 * run ended on its own first (its verdict came home before the stop reached it) was not stopped: it says so.
 */
function outcome(doc: import('../state/doc.js').StateDoc, id: string, recordedHere: boolean): Pick<StopResult, 'stopped' | 'ended'> {
  const st = stateOf(doc, id);
  if (st === 'running') return { stopped: false };
  if (recordedHere || kindOf(doc, id, st) === 'interrupted') return { stopped: true };
  return { stopped: false, ended: st };
}
