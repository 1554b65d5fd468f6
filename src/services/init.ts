import { readdirSync } from 'node:fs';

export interface FoundSpec {
  id: string;
  name: string;
}

/** Spec folders named `<id>-<name>` (Auto-Claude's layout), sorted by id. */
export function scanSpecFolders(specsDir: string): FoundSpec[] {
  let names: string[];
  try {
    names = readdirSync(specsDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
  return names
    .map((n) => /^([A-Za-z0-9._]+)-(.+)$/.exec(n))
    .filter((m): m is RegExpExecArray => !!m && !m[1].includes('..'))
    .map((m) => ({ id: m[1], name: m[2] }))
    .sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
}

const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export function renderInitConfig(o: { project: string; session?: string; specsDir: string; specs: FoundSpec[] }): string {
  const rows = o.specs.length
    ? o.specs.map((s) => `    { id: ${q(s.id)}, name: ${q(s.name)}, cost: 2, agent: 'codex', mode: 'direct' },`).join('\n')
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
