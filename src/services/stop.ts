// `dispatch stop`: ends a running spec's runner and agent, under any
// executor (headless included, where no pane can be closed), and records it
// as interrupted — a decision by hand that the retry policy never reverses.
import { hostname } from 'node:os';
import type { ResolvedConfig } from '../config/load.js';
import { DispatchError } from '../errors.js';
import { stopGroup } from '../proc/group.js';
import { isRunner } from '../run/liveness.js';
import { runHook, specVars } from '../run/hooks.js';
import { removeRunnerEnv } from '../run/runner-env.js';
import { findSpecs } from '../specs/lookup.js';
import { own, setState, stateOf, type SpecState } from '../state/doc.js';
import { writeSignal } from '../state/signals.js';
import { readState, withState } from '../state/store.js';

export interface StopResult {
  id: string;
  /** What it was when asked. */
  from: SpecState;
  stopped: boolean;
  /** Not running, or on another machine: why nothing was done. */
  note?: string;
}

const REASON = 'interrupted: stopped by hand (dispatch stop)';

/** Stops each spec; waits (up to `waitMs`) for its runner to record the stop, then ends whatever is left. */
export async function stopSpecs(config: ResolvedConfig, ids: string[], opts: { waitMs?: number; signal?: AbortSignal } = {}): Promise<StopResult[]> {
  const specs = findSpecs(config, ids);
  const out: StopResult[] = [];
  for (const spec of specs) {
    const id = spec.id;
    const doc = readState(config.stateDir);
    const from = stateOf(doc, id);
    const r = own(doc.dispatch?.running, id);
    if (!r) {
      out.push({ id, from, stopped: false, note: `not running (${from})` });
      continue;
    }
    if (r.host && r.host !== hostname()) throw new DispatchError(`${id} runs on ${r.host}, not on this machine`, { hint: `stop it there with 'dispatch stop ${id}'` });
    // The runner records the stop with this reason and kind when it ends its agent.
    await withState(config.stateDir, { command: 'stop' }, (d) => {
      const rec = own(d.dispatch?.specs, id);
      if (rec && own(d.dispatch?.running, id)?.pid === r.pid) {
        rec.stopReason = REASON;
        rec.stopKind = 'interrupted';
      }
    });
    if (r.pid > 0 && isRunner(r.pid, id)) {
      try {
        process.kill(r.pid, 'SIGTERM');
      } catch {
        // gone meanwhile: handled below
      }
      const until = Date.now() + (opts.waitMs ?? 15_000);
      while (Date.now() < until && !opts.signal?.aborted) {
        const now = own(readState(config.stateDir).dispatch?.running, id);
        if (!now || now.pid !== r.pid) break;
        await new Promise((res) => setTimeout(res, 50));
      }
    }
    // The runner is gone (or never started, or did not answer): end its agent and record the stop ourselves.
    const left = own(readState(config.stateDir).dispatch?.running, id);
    if (left && left.pid === r.pid) {
      if (left.agent) await stopGroup(left.agent);
      if (r.pid > 0 && isRunner(r.pid, id)) {
        try {
          process.kill(r.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      removeRunnerEnv(config, id);
      const recorded = await withState(config.stateDir, { command: 'stop', reason: REASON }, (d) => {
        if (own(d.dispatch?.running, id)?.pid !== r.pid) return false;
        setState(d, id, 'failed', REASON, 'interrupted');
        const rec = own(d.dispatch?.specs, id)!;
        delete rec.stopReason;
        delete rec.stopKind;
        const h = rec.history?.at(-1);
        if (h && !h.endedAt) Object.assign(h, { endedAt: new Date().toISOString(), state: 'failed', kind: 'interrupted', reason: REASON });
        return true;
      });
      if (recorded) {
        writeSignal(config.signalDir, config.project, 'failed', id, `${REASON}\n`);
        await runHook(config, 'onSpecFailed', { ...specVars(id, spec), STATE: 'failed', KIND: 'interrupted', REASON });
      }
    }
    out.push({ id, from, stopped: true });
  }
  return out;
}
