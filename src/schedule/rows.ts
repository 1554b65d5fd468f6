// The live table's rows: what `run` shows for each spec it follows.
import type { ResolvedConfig } from '../config/types.js';
import { specById } from '../config/spec-index.js';
import { stateOf, type StateDoc } from '../state/doc.js';
import { quietSeconds, stallSeconds } from '../attempt/stall.js';
import type { LiveRow } from './events.js';

export function rowsFor(config: ResolvedConfig, doc: StateDoc, ids: Iterable<string>, now = Date.now()): LiveRow[] {
  const byId = specById(config);
  return [...ids].map((id) => {
    const s = byId.get(id)!;
    const st = stateOf(doc, id);
    const rec = doc.dispatch?.specs[id];
    const run = doc.dispatch?.running[id];
    const last = rec?.history?.at(-1);
    let state: string = st;
    if (st === 'running' && run?.pid === 0) state = 'launching';
    else if (st === 'running' && quietSeconds(config, s, run?.startedAt, now) > stallSeconds(config, s)) state = 'stalled';
    else if (st === 'done' && rec?.awaitingMerge) state = 'awaiting merge';
    return {
      id,
      name: s.name,
      agent: s.agent,
      state,
      ...(run?.startedAt ? { startedAt: run.startedAt } : {}),
      ...(rec?.reason && (st === 'failed' || st === 'rate-limited') ? { reason: rec.reason } : {}),
      ...(st === 'rate-limited' ? { until: doc.dispatch?.waiting?.[id]?.until } : {}),
      ...(run?.attempt ?? last?.n ? { attempt: run?.attempt ?? last!.n } : {}),
      ...(!run && last?.endedAt ? { durationSeconds: Math.max(0, Math.round((Date.parse(last.endedAt) - Date.parse(last.startedAt)) / 1000)) } : {}),
    };
  });
}
