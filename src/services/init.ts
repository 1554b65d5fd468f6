import { statSync } from 'node:fs';
import { readSpecFolders } from '../specs/lookup.js';
import { join } from 'node:path';

export interface FoundSpec {
  id: string;
  name: string;
}

export interface SpecFolderScan {
  /** Folders `<id>-<name>` holding a spec.md, sorted by id. */
  specs: FoundSpec[];
  /** Folders `<id>-<name>` without a spec.md: not specs yet. */
  withoutSpecFile: FoundSpec[];
}

const isFile = (p: string) => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
};

/** Spec folders named `<id>-<name>` (Auto-Claude's layout), split by whether they hold a spec.md. */
export function scanSpecFolders(specsDir: string): SpecFolderScan {
  // The same listing every other command reads the spec folders through.
  const all = [...readSpecFolders(specsDir).names]
    .map((n) => /^([A-Za-z0-9._]+)-(.+)$/.exec(n))
    .filter((m): m is RegExpExecArray => !!m && !m[1]!.includes('..'))
    .map((m) => ({ id: m[1]!, name: m[2]! }))
    .sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
  const out: SpecFolderScan = { specs: [], withoutSpecFile: [] };
  for (const f of all) (isFile(join(specsDir, `${f.id}-${f.name}`, 'spec.md')) ? out.specs : out.withoutSpecFile).push(f);
  return out;
}

/** How `--completed` compares with the completed ids a state file already holds. */
export function compareCompleted(given: string[], held: string[]): { onlyHeld: string[]; onlyGiven: string[] } {
  const g = new Set(given);
  const h = new Set(held);
  return { onlyHeld: held.filter((id) => !g.has(id)), onlyGiven: given.filter((id) => !h.has(id)) };
}

const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

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
