import { readdirSync } from 'node:fs';
import { sep } from 'node:path';
import { DispatchError, UsageError } from '../errors.js';
import type { ResolvedConfig, ResolvedSpec } from '../config/types.js';
import { closest } from '../config/waves.js';

export interface SpecFiles {
  /** The folder found, or where it is expected when missing. */
  dir: string;
  found: boolean;
  specFile: string;
  planFile: string;
}

/** The folders under specsDir, read once, with an index by id prefix (a table of 10,000 specs must not scan 10,000 names per spec). */
export interface SpecFolders {
  names: Set<string>;
  /** `<id>` → folders named `<id>-…`, for every '-' in each name (ids may hold '-' themselves). Built on first use. */
  byPrefix(): Map<string, string[]>;
}

export function readSpecFolders(specsDir: string): SpecFolders {
  let names: string[] = [];
  try {
    names = readdirSync(specsDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    // no folder yet: every spec is missing
  }
  // Most specs sit in their exact `<id>-<name>` folder: the prefix index is only built when one does not.
  let byPrefix: Map<string, string[]> | undefined;
  const index = () => {
    if (byPrefix) return byPrefix;
    byPrefix = new Map();
    for (const n of names) {
      for (let i = n.indexOf('-'); i > 0; i = n.indexOf('-', i + 1)) {
        const key = n.slice(0, i);
        const list = byPrefix.get(key);
        if (list) list.push(n);
        else byPrefix.set(key, [n]);
      }
    }
    return byPrefix;
  };
  return { names: new Set(names), byPrefix: index };
}

/**
 * Auto-Claude's lookup: the exact `<id>-<name>` folder first, then the one
 * folder starting with `<id>-`. Several candidates and no exact match is an error.
 */
export function locateSpec(specsDir: string, spec: Pick<ResolvedSpec, 'id' | 'name'>, folders = readSpecFolders(specsDir)): SpecFiles {
  const exact = `${spec.id}-${spec.name}`;
  let name = exact;
  let found = folders.names.has(exact);
  if (!found) {
    const prefixed = folders.byPrefix().get(spec.id) ?? [];
    if (prefixed.length === 1) {
      name = prefixed[0]!;
      found = true;
    } else if (prefixed.length > 1) {
      throw new DispatchError(`spec ${spec.id}: several folders match in ${specsDir}: ${prefixed.join(', ')}`, {
        hint: `rename the folder to ${exact} or remove the extra ones`,
      });
    }
  }
  // Plain concatenation, not join: specsDir is resolved and a folder name holds no separator
  // (ids and names are validated), and join's normalising was a tenth of a 10,000-spec dry run.
  const dir = `${specsDir}${sep}${name}`;
  return { dir, found, specFile: `${dir}${sep}spec.md`, planFile: `${dir}${sep}plan.md` };
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
