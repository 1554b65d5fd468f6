import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DispatchError, UsageError } from '../errors.js';
import type { ResolvedConfig, ResolvedSpec } from '../config/load.js';
import { closest } from '../config/waves.js';

export interface SpecFiles {
  /** The folder found, or where it is expected when missing. */
  dir: string;
  found: boolean;
  specFile: string;
  planFile: string;
}

/** Folder names under specsDir, read once (listing 1,000 specs must not stat 1,000 paths). */
export function readSpecFolders(specsDir: string): Set<string> {
  try {
    return new Set(readdirSync(specsDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name));
  } catch {
    return new Set();
  }
}

/**
 * Auto-Claude's lookup: the exact `<id>-<name>` folder first, then the one
 * folder starting with `<id>-`. Several candidates and no exact match is an error.
 */
export function locateSpec(specsDir: string, spec: Pick<ResolvedSpec, 'id' | 'name'>, folders = readSpecFolders(specsDir)): SpecFiles {
  const exact = `${spec.id}-${spec.name}`;
  let name = exact;
  let found = folders.has(exact);
  if (!found) {
    const prefixed = [...folders].filter((f) => f.startsWith(`${spec.id}-`));
    if (prefixed.length === 1) {
      name = prefixed[0];
      found = true;
    } else if (prefixed.length > 1) {
      throw new DispatchError(`spec ${spec.id}: several folders match in ${specsDir}: ${prefixed.join(', ')}`, {
        hint: `rename the folder to ${exact} or remove the extra ones`,
      });
    }
  }
  const dir = join(specsDir, name);
  return { dir, found, specFile: join(dir, 'spec.md'), planFile: join(dir, 'plan.md') };
}

/** The spec with this id, or a usage error suggesting the closest ids. */
export function findSpec(config: ResolvedConfig, id: string): ResolvedSpec {
  const spec = config.specs.find((s) => s.id === id);
  if (!spec) {
    const ids = config.specs.map((s) => s.id);
    throw new UsageError(`unknown spec id '${id}'${closest(id, ids)}`, "see 'dispatch list' for the ids in the table");
  }
  return spec;
}

/** Checks all ids first so a typo in one changes nothing for the others. */
export function findSpecs(config: ResolvedConfig, ids: string[]): ResolvedSpec[] {
  const known = new Map(config.specs.map((s) => [s.id, s]));
  const unknown = ids.filter((id) => !known.has(id));
  if (unknown.length) {
    const all = [...known.keys()];
    const parts = unknown.map((id) => `'${id}'${closest(id, all)}`);
    throw new UsageError(`unknown spec id${unknown.length > 1 ? 's' : ''} ${parts.join(', ')}`, "see 'dispatch list' for the ids in the table; nothing was changed");
  }
  return [...new Set(ids)].map((id) => known.get(id)!);
}
