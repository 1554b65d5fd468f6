import { readdirSync, readFileSync } from 'node:fs';
import type { ResolvedConfig, ResolvedSpec } from '../config/types.js';
import { locateSpec, type SpecFolders } from '../specs/lookup.js';
import type { ChatMessage as ChatMessageLike } from './ollama.js';
import { SECTIONS } from './plan-file.js';
import { specById, specsOfWave } from '../config/spec-index.js';

const SYSTEM = `You are a senior engineer pre-planning a task for a coding agent (Codex CLI or Auto-Claude) that will implement it unattended.
Read the spec and answer in Markdown with exactly these four level-2 headings, in this order, and nothing before the first one:
## Risk register
The top 5 risks, each as a bullet with its mitigation.
## File order
The files to create or change, in the order the agent should touch them, one line each with why.
## Crate audit
The APIs, crates and packages the agent must verify (exist, signatures, versions) before writing code.
## Gotchas
Known pitfalls for this kind of task in this project.
Be specific to this project and this spec; no generic advice, no code longer than a few lines.`;

/** The first non-heading line of a spec: "what it was about" for dependants' prompts. */
function summary(text: string): string {
  const line = text.split('\n').map((l) => l.trim()).find((l) => l && !l.startsWith('#'));
  return (line ?? '').slice(0, 200);
}

export function topLevelFiles(rootDir: string): string[] {
  try {
    return readdirSync(rootDir, { withFileTypes: true })
      .filter((d) => d.name !== 'node_modules' && d.name !== '.git')
      .map((d) => (d.isDirectory() ? `${d.name}/` : d.name))
      .sort()
      .slice(0, 80);
  } catch {
    return [];
  }
}

/** The messages for one spec: the spec itself, its place in the table and the project's top-level files. */
export function buildPrompt(config: ResolvedConfig, spec: ResolvedSpec, specText: string, files = topLevelFiles(config.rootDir), folders?: SpecFolders): ChatMessageLike[] {
  const byId = specById(config);
  const deps = spec.dependsOn.map((id) => {
    const d = byId.get(id)!;
    let about = d.title ?? '';
    try {
      about ||= summary(readFileSync(locateSpec(config.specsDir, d, folders).specFile, 'utf8'));
    } catch {
      // a dependency without spec.md still has its name
    }
    return `- ${d.id}-${d.name} (wave ${d.wave})${about ? `: ${about}` : ''}`;
  });
  const sameWave = specsOfWave(config, spec.wave).filter((s) => s.id !== spec.id).map((s) => `${s.id}-${s.name}`);
  const user = [
    `Project: ${config.project}`,
    `Spec: ${spec.id}-${spec.name}${spec.title ? ` — ${spec.title}` : ''}`,
    `Wave ${spec.wave} of ${config.waves.length ? Math.max(...config.waves) : 0}; cost ${spec.cost}/4; agent ${spec.agent}; mode ${spec.mode}.`,
    deps.length ? `It builds on (already done before it starts):\n${deps.join('\n')}` : 'It depends on no other spec.',
    sameWave.length ? `Running alongside it in the same wave: ${sameWave.slice(0, 30).join(', ')}` : '',
    `Top-level files of the project: ${files.join(', ') || '(none yet)'}`,
    `--- spec.md ---\n${specText.trim()}\n--- end of spec.md ---`,
    `Write the plan now with the four headings: ${SECTIONS.join(', ')}.`,
  ].filter(Boolean);
  return [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: user.join('\n\n') },
  ];
}

export function correctiveMessage(missing: string[]): ChatMessageLike {
  return {
    role: 'user',
    content: `Your answer is missing the section${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"## ${m}"`).join(', ')}. Reply again with the complete plan, using exactly these four level-2 headings in order: ${SECTIONS.map((s) => `## ${s}`).join(', ')}.`,
  };
}
