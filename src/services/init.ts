import { statSync } from 'node:fs';
import { join } from 'node:path';
import { readSpecFolders } from '../specs/lookup.js';
import { specIdSchema, specNameSchema } from '../config/schema.js';

export interface FoundSpec {
  id: string;
  name: string;
}

export interface SpecFolderScan {
  /** Folders `<id>-<name>` holding a spec.md, sorted by id. */
  specs: FoundSpec[];
  /** Folders `<id>-<name>` without a spec.md: not specs yet. */
  withoutSpecFile: FoundSpec[];
  /** Folders that look like `<id>-<name>` but that the config would refuse, with why: left out, and said. */
  refused: { folder: string; why: string }[];
}

const isFile = (p: string) => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
};

// C0, DEL, C1 and the line/paragraph separators: a name holding one would print as something else.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Why the config would refuse this id and name (the config's own schemas decide), or undefined. */
function refusal(id: string, name: string): string | undefined {
  if (CONTROL.test(name)) return 'its name holds a control character (a newline, a tab, an escape…)';
  const i = specIdSchema.safeParse(id);
  if (!i.success) return `id ${JSON.stringify(id)}: ${i.error.issues[0]!.message}`;
  const n = specNameSchema.safeParse(name);
  if (!n.success) return `name ${JSON.stringify(name)}: ${n.error.issues[0]!.message}`;
  return undefined;
}

/**
 * Spec folders named `<id>-<name>` (Auto-Claude's layout), split by whether they hold a spec.md.
 * Only what the config accepts is returned as a spec: init must never write a table its own
 * validator refuses. The rest is in `refused`, to be said.
 */
export function scanSpecFolders(specsDir: string): SpecFolderScan {
  const out: SpecFolderScan = { specs: [], withoutSpecFile: [], refused: [] };
  const all: (FoundSpec & { folder: string })[] = [];
  // The same listing every other command reads the spec folders through.
  for (const folder of readSpecFolders(specsDir).names) {
    // Dot-all: a name holding a newline is a candidate too, so that it is said rather than dropped.
    const m = /^([A-Za-z0-9._]+)-(.+)$/s.exec(folder);
    if (!m) continue;
    const why = refusal(m[1]!, m[2]!);
    if (why) out.refused.push({ folder, why });
    else all.push({ id: m[1]!, name: m[2]!, folder });
  }
  all.sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }) || a.name.localeCompare(b.name));
  const taken = new Map<string, string>();
  for (const f of all) {
    const hasSpec = isFile(join(specsDir, f.folder, 'spec.md'));
    // Two live rows with one id are refused as a table: the first folder keeps it.
    const first = taken.get(f.id);
    if (hasSpec && first !== undefined) {
      out.refused.push({ folder: f.folder, why: `id ${JSON.stringify(f.id)} is already ${first}'s` });
      continue;
    }
    if (hasSpec) taken.set(f.id, f.folder);
    (hasSpec ? out.specs : out.withoutSpecFile).push({ id: f.id, name: f.name });
  }
  out.refused.sort((a, b) => a.folder.localeCompare(b.folder));
  return out;
}

/** How `--completed` compares with the completed ids a state file already holds. */
export function compareCompleted(given: string[], held: string[]): { onlyHeld: string[]; onlyGiven: string[] } {
  const g = new Set(given);
  const h = new Set(held);
  return { onlyHeld: held.filter((id) => !g.has(id)), onlyGiven: given.filter((id) => !h.has(id)) };
}

// A JS string literal whatever the text holds (a session name given on the command line may hold anything).
const q = (s: string) => `'${s.replace(/[\\']/g, '\\$&').replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}'`;

export function renderInitConfig(o: { project: string; session?: string; specsDir: string; specs: FoundSpec[]; withoutSpecFile?: FoundSpec[] }): string {
  const row = (s: FoundSpec) => `{ id: ${q(s.id)}, name: ${q(s.name)}, cost: 2, agent: 'codex', mode: 'direct' },`;
  const waiting = o.withoutSpecFile ?? [];
  const rows = o.specs.length || waiting.length
    ? [
        ...o.specs.map((s) => `    ${row(s)}`),
        // Left out until they hold a spec.md: an agent would have nothing to work from.
        ...(waiting.length ? ['    // No spec.md yet: uncomment each once its spec.md is written.', ...waiting.map((s) => `    // ${row(s)}`)] : []),
      ].join('\n')
    : [
        "    // One row per spec folder <specsDir>/<id>-<name>/spec.md, for example:",
        "    // { id: '001', name: 'scaffold', wave: 0, cost: 1, agent: 'codex', mode: 'direct' },",
        "    // { id: '002', name: 'parser', cost: 3, agent: 'ac', mode: 'isolated', dependsOn: ['001'] },",
      ].join('\n');
  return `import { defineConfig } from 'dispatch';

// Spec table for dispatch. Waves are computed from dependsOn when omitted;
// cost 1-4 (trivial..complex) drives the cooldown after each launch;
// agent is 'codex' (Codex CLI) or 'ac' (Auto-Claude); mode 'isolated' uses a git worktree.
export default defineConfig({
  project: ${q(o.project)},
${o.session ? `  session: ${q(o.session)},\n` : ''}  specsDir: ${q(o.specsDir)},
  specs: [
${rows}
  ],
});
`;
}
