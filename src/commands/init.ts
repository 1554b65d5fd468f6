import { existsSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Ctx } from '../context.js';
import { DispatchError, UsageError } from '../errors.js';
import { CONFIG_NAMES } from '../config/find.js';
import { renderInitConfig, scanSpecFolders } from '../services/init.js';
import { setState } from '../state/doc.js';
import { withState } from '../state/store.js';

const SAFE = /^[A-Za-z0-9._-]+$/;

/** `dispatch init`: write specs.config.ts from the spec folders found, and the state file. */
export async function run(args: { project?: string; session?: string; specsDir: string; completed?: string }, ctx: Ctx): Promise<number> {
  const existing = CONFIG_NAMES.map((n) => join(ctx.cwd, n)).find((p) => existsSync(p));
  if (existing) throw new DispatchError(`${existing} already exists; init never overwrites a config`, { hint: 'edit it, or remove it first' });
  const project = args.project ?? basename(ctx.cwd).replace(/[^A-Za-z0-9._-]+/g, '-');
  if (!SAFE.test(project)) throw new UsageError(`--project '${project}' may only hold letters, digits, ".", "_" and "-"`, 'pick a short name like triz');
  const completed = (args.completed ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const bad = completed.filter((id) => !SAFE.test(id) || id.includes('..'));
  if (bad.length) throw new UsageError(`--completed has invalid id${bad.length > 1 ? 's' : ''} ${bad.map((b) => `'${b}'`).join(', ')}`, 'give comma-separated ids like 001,002');

  const specsDir = resolve(ctx.cwd, args.specsDir);
  const found = scanSpecFolders(specsDir);
  const configPath = join(ctx.cwd, 'specs.config.ts');
  writeFileSync(configPath, renderInitConfig({ project, session: args.session, specsDir: args.specsDir, specs: found }), { flag: 'wx' });
  const stateDir = join(ctx.cwd, '.codex');
  await withState(stateDir, { command: 'init' }, (doc) => {
    for (const id of completed) setState(doc, id, 'done', 'seeded by init', 'manual');
  });
  ctx.out(`wrote ${configPath} (${found.length ? `${found.length} spec${found.length === 1 ? '' : 's'} found in ${args.specsDir}` : 'a commented template: no spec folders found'})\n`);
  ctx.out(`wrote ${join(stateDir, 'dispatch-state.json')}${completed.length ? ` (completed: ${completed.join(', ')})` : ''}\n`);
  ctx.out(`next: set waves, costs and agents in specs.config.ts, then 'dispatch plan'\n`);
  return 0;
}
