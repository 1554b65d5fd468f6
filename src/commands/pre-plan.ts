import type { Ctx } from '../context.js';
import { EXIT } from '../errors.js';
import { prePlan, type PlanResult, type PrePlanEvent } from '../services/pre-plan.js';
import { palette } from '../ui/style.js';
import { visible, visibleAll } from '../util/visible.js';

/** `dispatch pre-plan [--spec ID...] [--wave N] [--force] [--concurrency N] [--model NAME]` */
export async function run(args: { spec?: string[]; wave?: number; force?: boolean; concurrency?: number; model?: string }, ctx: Ctx): Promise<number> {
  const config = await ctx.config();
  const c = palette(ctx.color);
  const live = !ctx.json && !!process.stderr.isTTY;
  const inFlight = new Set<string>();
  let total = 0;
  let finished = 0;
  const progress = () => {
    if (!live) return;
    const flying = [...inFlight].slice(0, 6).join(', ') + (inFlight.size > 6 ? ', …' : '');
    ctx.err(`\r\x1b[2K${c.dim(`planning ${finished}/${total}${flying ? ` · in flight: ${flying}` : ''}`)}`);
  };
  const clear = () => live && ctx.err('\r\x1b[2K');
  const line = (r: PlanResult) => {
    const secs = r.ms ? c.dim(` (${(r.ms / 1000).toFixed(1)}s)`) : '';
    switch (r.status) {
      case 'planned':
        return `${c.green('planned')}     ${r.id}-${r.name}${secs}`;
      case 'up-to-date':
        return `${c.gray('up to date')}  ${r.id}-${r.name}`;
      case 'interrupted':
        return `${c.yellow('interrupted')} ${r.id}-${r.name}`;
      default:
        return `${c.red('failed')}      ${r.id}-${r.name}: ${r.reason}`;
    }
  };
  const onEvent = (event: PrePlanEvent) => {
    // Names, Ollama's errors and hosts come from outside: shown, not obeyed.
    const e = visibleAll(event);
    if (e.type === 'start') {
      total = e.total;
      if (e.toPlan && !ctx.json) ctx.err(`planning ${e.toPlan} of ${e.total} spec${e.total === 1 ? '' : 's'} with ${visible(args.model ?? config.planner.model)}\n`);
    } else if (e.type === 'begin') inFlight.add(e.id);
    else if (e.type === 'unreachable') {
      ctx.err(c.dim(`cannot reach Ollama at ${e.host} (${e.error}); trying again in ${(e.delayMs / 1000).toFixed(1)} s (${e.attempt} of ${e.retries})\n`));
    }
    else if (e.type === 'retry') {
      clear();
      ctx.err(c.dim(`retrying ${e.id} in ${(e.delayMs / 1000).toFixed(1)}s (attempt ${e.attempt + 1}): ${e.reason}\n`));
    } else {
      inFlight.delete(e.result.id);
      finished++;
      clear();
      if (!ctx.json) ctx.out(`${line(e.result)}\n`);
    }
    progress();
  };
  const results = await prePlan(config, { ids: args.spec, wave: args.wave, force: args.force, concurrency: args.concurrency, model: args.model, signal: ctx.signal, onEvent });
  clear();
  const count = (s: PlanResult['status']) => results.filter((r) => r.status === s).length;
  const failed = count('failed');
  if (ctx.json) {
    ctx.outJson({ results, summary: { planned: count('planned'), upToDate: count('up-to-date'), failed, interrupted: count('interrupted') } });
  } else {
    ctx.err(`${count('planned')} planned, ${count('up-to-date')} up to date, ${failed ? c.red(`${failed} failed`) : '0 failed'}${count('interrupted') ? `, ${count('interrupted')} interrupted` : ''}\n`);
  }
  if (ctx.signal.aborted) return EXIT.interrupted;
  return failed ? EXIT.failure : EXIT.ok;
}
