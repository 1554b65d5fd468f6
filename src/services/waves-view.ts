import type { SpecState } from '../state/doc.js';
import type { SpecRow } from './overview.js';

export type StateCounts = Record<SpecState, number>;

export interface WaveGroup {
  wave: number;
  specs: SpecRow[];
  counts: StateCounts;
  /** Every spec done or skipped: the next wave may start. */
  complete: boolean;
  /** Its specs run one at a time (config `waves: { N: { sequential: true } }`). */
  sequential: boolean;
}

export const zeroCounts = (): StateCounts => ({ done: 0, failed: 0, running: 0, 'rate-limited': 0, pending: 0, skipped: 0 });

export function countStates(rows: SpecRow[]): StateCounts {
  const c = zeroCounts();
  for (const r of rows) c[r.state]++;
  return c;
}

/** Rows grouped by wave, in wave order; `waveOptions` is the config's per-wave settings. */
export function groupWaves(rows: SpecRow[], waveOptions: Record<string, { sequential?: boolean }> = {}): WaveGroup[] {
  const by = new Map<number, SpecRow[]>();
  for (const r of rows) {
    const list = by.get(r.wave);
    if (list) list.push(r);
    else by.set(r.wave, [r]);
  }
  return [...by.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([wave, specs]) => {
      const counts = countStates(specs);
      return { wave, specs, counts, complete: counts.done + counts.skipped === specs.length && !specs.some((r) => r.awaitingMerge), sequential: !!waveOptions[String(wave)]?.sequential };
    });
}
