import type { ResolvedConfig, ResolvedSpec } from './load.js';

const index = new WeakMap<ResolvedConfig['specs'], Map<number, ResolvedSpec[]>>();

/**
 * The specs of one wave, in table order. Grouped once per table: filtering all
 * specs for each of a hundred waves (or each spec's wave for each spec) made
 * commands quadratic on big tables.
 */
export function specsOfWave(config: Pick<ResolvedConfig, 'specs'>, wave: number): readonly ResolvedSpec[] {
  let byWave = index.get(config.specs);
  if (!byWave) {
    byWave = new Map();
    for (const s of config.specs) {
      const list = byWave.get(s.wave);
      if (list) list.push(s);
      else byWave.set(s.wave, [s]);
    }
    index.set(config.specs, byWave);
  }
  return byWave.get(wave) ?? [];
}

const byIdIndex = new WeakMap<ResolvedConfig['specs'], Map<string, ResolvedSpec>>();

/** The table's specs by id, built once per table. */
export function specById(config: Pick<ResolvedConfig, 'specs'>): ReadonlyMap<string, ResolvedSpec> {
  let m = byIdIndex.get(config.specs);
  if (!m) {
    m = new Map(config.specs.map((s) => [s.id, s]));
    byIdIndex.set(config.specs, m);
  }
  return m;
}
