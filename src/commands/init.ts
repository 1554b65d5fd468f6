import { existsSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Ctx } from '../context.js';
import { DispatchError, UsageError, EXIT } from '../errors.js';
import { CONFIG_NAMES } from '../config/find.js';
import { projectNameSchema, specIdSchema } from '../config/schema.js';
import { compareCompleted, renderInitConfig, scanSpecFolders } from '../services/init.js';
import { setState } from '../state/doc.js';
import { readState, withState } from '../state/store.js';


/** `dispatch init`: write specs.config.ts from the spec folders found, and the state file. */
export async function run(args: { project?: string; session?: string; specsDir: string; completed?: string }, ctx: Ctx): Promise<number> {
  const existing = CONFIG_NAMES.map((n) => join(ctx.cwd, n)).find((p) => existsSync(p));
  if (existing) throw new DispatchError(`${existing} already exists; init never overwrites a config`, { hint: 'edit it, or remove it first' });
  const project = args.project ?? basename(ctx.cwd).replace(/[^A-Za-z0-9._-]+/g, '-');
  // The config's own rules, so that init never writes what the config then refuses.
  if (!projectNameSchema.safeParse(project).success) throw new UsageError(`--project '${project}' may only hold letters, digits, ".", "_" and "-"`, 'pick a short name like triz');
  const completed = (args.completed ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const bad = completed.filter((id) => !specIdSchema.safeParse(id).success);
  if (bad.length) throw new UsageError(`--completed has invalid id${bad.length > 1 ? 's' : ''} ${bad.map((b) => `'${b}'`).join(', ')}`, 'give comma-separated ids like 001,002');

  const specsDir = resolve(ctx.cwd, args.specsDir);
  const found = scanSpecFolders(specsDir);
  const known = new Set(found.specs.map((f) => f.id));
  const unknown = completed.filter((id) => !known.has(id));
  if (unknown.length) {
    const noSpecFile = new Map(found.withoutSpecFile.map((f) => [f.id, `${f.id}-${f.name}`]));
    const named = unknown.map((id) => (noSpecFile.has(id) ? `${id} (${noSpecFile.get(id)} has no spec.md)` : id)).join(', ');
    throw new UsageError(`--completed names ${unknown.length > 1 ? 'ids' : 'an id'} with no spec in ${args.specsDir}: ${named}`, `give only ids of folders <id>-<name> holding a spec.md${known.size ? ` (found: ${[...known].slice(0, 10).join(', ')}${known.size > 10 ? `… ${known.size} in all` : ''})` : ' (none found)'}`);
  }
  const stateDir = join(ctx.cwd, '.codex');
  const statePath = join(stateDir, 'dispatch-state.json');
  const hadState = existsSync(statePath);
  // Read now: a state file that cannot be read stops init before it writes anything.
  if (hadState) readState(stateDir);
  const configPath = join(ctx.cwd, 'specs.config.ts');
  writeFileSync(configPath, renderInitConfig({ project, session: args.session, specsDir: args.specsDir, specs: found.specs, withoutSpecFile: found.withoutSpecFile }), { flag: 'wx' });
  if (found.refused.length) {
    const n = found.refused.length;
    ctx.err(`dispatch: warning: ${n} folder${n === 1 ? '' : 's'} in ${args.specsDir} left out of specs.config.ts, ${n === 1 ? 'its name' : 'their names'} cannot be a spec's <id>-<name>: ${found.refused.map((r) => `${JSON.stringify(r.folder)} (${r.why})`).join('; ')} — rename ${n === 1 ? 'it' : 'them'} and add ${n === 1 ? 'it' : 'them'} by hand\n`);
  }
  if (found.withoutSpecFile.length) {
    const n = found.withoutSpecFile.length;
    ctx.err(`dispatch: warning: ${n} folder${n === 1 ? '' : 's'} in ${args.specsDir} ${n === 1 ? 'has' : 'have'} no spec.md and ${n === 1 ? 'is' : 'are'} left commented out in specs.config.ts: ${found.withoutSpecFile.map((f) => `${f.id}-${f.name}`).join(', ')}\n`);
  }
  const { before, after } = await withState(stateDir, { command: 'init' }, (doc) => {
    const held = [...doc.completed];
    const done = new Set(held);
    // Only what is not done yet: a spec already done keeps its record as it is.
    for (const id of completed) if (!done.has(id)) setState(doc, id, 'done', 'seeded by init', 'manual');
    return { before: held, after: [...doc.completed] };
  });
  ctx.out(`wrote ${configPath} (${found.specs.length ? `${found.specs.length} spec${found.specs.length === 1 ? '' : 's'} found in ${args.specsDir}` : found.withoutSpecFile.length ? `no spec.md found in ${args.specsDir}` : 'a commented template: no spec folders found'})\n`);
  const { onlyHeld, onlyGiven } = compareCompleted(completed, before);
  if (hadState && completed.length && (onlyHeld.length || onlyGiven.length)) {
    // The state file is the record of what was done: init adds to it and never drops what it holds.
    const parts = [...(onlyHeld.length ? [`kept ${onlyHeld.join(', ')} (done in the state file, not in --completed)`] : []), ...(onlyGiven.length ? [`marked ${onlyGiven.join(', ')} done (not done in the state file)`] : [])];
    ctx.err(`dispatch: warning: the existing state file's completed ids differ from --completed: ${parts.join('; ')}\n`);
  }
  const list = ` (completed: ${after.length ? after.join(', ') : 'none'})`;
  ctx.out(hadState ? `${before.length === after.length ? 'kept' : 'updated'} the existing ${statePath}${list}\n` : `wrote ${statePath}${after.length ? list : ''}\n`);
  ctx.out(`next: set waves, costs and agents in specs.config.ts, then 'dispatch plan'\n`);
  return EXIT.ok;
}
