/** Minimal shape wave computation needs; the full spec type extends it. */
export interface WaveInput {
  /** Position in the config's table, when it differs from the position in the list given. */
  index?: number;
  id: string;
  wave?: number;
  dependsOn: string[];
}

/**
 * Gives every spec a wave: explicit waves are kept, the others get one more
 * than their highest dependency (0 with none). Returns the problems found
 * (duplicates, unknown deps, cycles, deps not in an earlier wave), each
 * naming the specs involved; waves are only trustworthy when it is empty.
 */
export function computeWaves(specs: WaveInput[]): { waves: Map<string, number>; problems: string[] } {
  const problems: string[] = [];
  const byId = new Map<string, WaveInput>();
  const duplicates: WaveInput[] = [];
  specs.forEach((s, i) => {
    if (byId.has(s.id)) {
      problems.push(`specs[${s.index ?? i}].id: duplicate id '${s.id}' — each spec needs its own id`);
      duplicates.push(s);
    } else byId.set(s.id, s);
  });
  for (const s of [...byId.values(), ...duplicates]) {
    for (const d of s.dependsOn) {
      if (d === s.id) problems.push(`spec ${s.id} depends on itself`);
      else if (!byId.has(d)) problems.push(`spec ${s.id} depends on unknown spec '${d}'${closest(d, [...byId.keys()])}`);
    }
  }

  const waves = new Map<string, number>();
  const visiting = new Set<string>();
  const reported = new Set<string>();
  const visit = (id: string, stack: string[]): number => {
    const known = waves.get(id);
    if (known !== undefined) return known;
    const s = byId.get(id)!;
    if (visiting.has(id)) {
      const cycle = [...stack.slice(stack.indexOf(id)), id];
      const key = [...cycle].sort().join(',');
      if (!reported.has(key)) {
        reported.add(key);
        problems.push(`dependency cycle: ${cycle.join(' → ')}`);
      }
      return s.wave ?? 0;
    }
    visiting.add(id);
    let w = 0;
    for (const d of s.dependsOn) {
      if (!byId.has(d) || d === id) continue;
      w = Math.max(w, visit(d, [...stack, id]) + 1);
    }
    visiting.delete(id);
    const wave = s.wave ?? w;
    waves.set(id, wave);
    return wave;
  };
  // Iterative order over the table keeps the report stable.
  for (const id of byId.keys()) visit(id, []);

  for (const s of byId.values()) {
    for (const d of s.dependsOn) {
      const dw = waves.get(d);
      const sw = waves.get(s.id)!;
      if (dw !== undefined && d !== s.id && dw >= sw && s.wave !== undefined) {
        problems.push(`spec ${s.id} (wave ${sw}) depends on ${d} (wave ${dw}) — a dependency must sit in an earlier wave`);
      }
    }
  }
  return { waves, problems };
}

/** " (did you mean '011'?)" for the nearest ids, or "". */
export function closest(id: string, ids: string[], n = 3): string {
  const scored = ids
    .map((c) => ({ c, d: distance(id, c) - (c.startsWith(id) || id.startsWith(c) ? 1 : 0) }))
    .filter((x) => x.d <= Math.max(2, Math.floor(id.length / 2)))
    .sort((a, b) => a.d - b.d || a.c.localeCompare(b.c))
    .slice(0, n)
    .map((x) => `'${x.c}'`);
  return scored.length ? ` (did you mean ${scored.join(', ')}?)` : '';
}

function distance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(tmp + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}
