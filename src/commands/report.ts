import type { Ctx } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { visible } from '../util/visible.js';

/** `dispatch report [--run ID | --all] [--out FILE] [--open]`: one self-contained HTML page of a run. */
export async function run(args: { run?: string; all?: boolean; out?: string; open?: boolean }, ctx: Ctx): Promise<number> {
  if (args.out === '') throw new UsageError('--out needs a file name', "e.g. --out night.html, or --out - for stdout");
  const config = await ctx.config();
  const { writeReport } = await import('../services/report.js');
  const r = await writeReport(config, { ...(args.run !== undefined ? { run: args.run } : {}), ...(args.all ? { all: true } : {}), ...(args.out !== undefined ? { out: args.out } : {}) });
  const f = r.data.figures;
  if (ctx.json) ctx.outJson({ path: r.path, bytes: r.bytes, scope: r.data.scope, inProgress: r.data.inProgress, criticalPath: r.data.criticalPath, figures: f, failures: r.data.failures });
  else if (r.html !== undefined) ctx.out(r.html);
  else ctx.out(`${visible(r.path)}\n`);
  ctx.err(`report: ${r.data.scope.run ? `run ${visible(r.data.scope.run)}` : 'every launch'}, ${f.specs} spec${f.specs === 1 ? '' : 's'}, ${f.attempts} attempt${f.attempts === 1 ? '' : 's'}${r.data.inProgress ? ' (in progress)' : ''}; ${(r.bytes / 1024).toFixed(0)} KB\n`);
  if (args.open && r.html === undefined) {
    const { openInBrowser } = await import('../proc/open.js');
    const problem = await openInBrowser(r.path);
    if (problem) ctx.err(`could not open it (${visible(problem)}): open ${visible(r.path)} in a browser\n`);
  }
  return EXIT.ok;
}
