import type { Ctx } from '../context.js';
import { EXIT } from '../errors.js';
import { span } from '../ui/duration.js';
import { visibleAll } from '../util/visible.js';

/** `dispatch simulate [--schedule eager|waves] [--durations history|cost] [--all] [--json]` */
export async function run(args: { schedule?: 'waves' | 'eager'; durations?: 'history' | 'cost'; all?: boolean }, ctx: Ctx): Promise<number> {
  const config = await ctx.config();
  const { readState } = await import('../state/store.js');
  const { simulate } = await import('../services/simulate.js');
  const simulation = await simulate(config, readState(config.stateDir), { schedule: args.schedule ?? config.schedule, durations: args.durations ?? 'history', ...(args.all ? { all: true } : {}) });
  if (ctx.json) {
    ctx.outJson(simulation);
    return EXIT.ok;
  }
  const sim = visibleAll(simulation);
  const { palette } = await import('../ui/style.js');
  const { renderTable } = await import('../ui/table.js');
  const c = palette(ctx.color);
  if (!sim.specs.length && !sim.blocked.length) {
    ctx.err(`nothing to simulate: every spec is complete${args.all ? '' : " (--all replays the whole table)"}\n`);
    return EXIT.ok;
  }
  const rows = [...sim.specs].sort((a, b) => a.startMs - b.startMs || a.wave - b.wave).map((s) => [
    `${s.id}-${s.name}`, String(s.wave), String(s.cost), s.agent, `t+${span(s.startMs)}`, `t+${span(s.endMs)}`,
    `${span(s.durationMs)}${s.estimateFrom === 'cost' ? c.dim(' (by cost)') : ''}`,
    s.waitsFor.length ? c.dim(`after ${s.waitsFor.join(', ')}`) : '',
  ]);
  let out = `${c.bold(`simulated ${sim.schedule} schedule`)} ${c.dim(`(durations: ${sim.durations === 'history' ? 'median of done attempts, else estimateMinutes by cost' : 'estimateMinutes by cost'}; nothing launched)`)}\n`;
  out += await renderTable(['spec', 'wave', 'cost', 'agent', 'start', 'end', 'takes', ''], rows, ctx.color);
  const lb = sim.lowerBound;
  const ratio = lb.ms > 0 ? ` — ${(sim.makespanMs / lb.ms).toFixed(2)}× the lower bound` : '';
  out += `\n${c.bold('makespan')}     ${span(sim.makespanMs)}${ratio}\n`;
  out += `${c.bold('lower bound')}  ${span(lb.ms)} (${lb.by})\n`;
  out += c.dim(`  critical path ${span(lb.criticalPathMs)}, work / maxParallel ${config.pacing.maxParallel ? span(lb.workMs) : 'n/a (no cap)'}, pacing ${span(lb.pacingMs)}${lb.sequentialMs ? `, sequential wave ${span(lb.sequentialMs)}` : ''}\n`);
  if (sim.criticalPath.ids.length) out += `${c.bold('critical path')} ${sim.criticalPath.ids.join(' → ')} (${span(sim.criticalPath.ms)})\n`;
  if (sim.blockedWave !== undefined) out += `${c.yellow('stops before wave')} ${sim.blockedWave}: an earlier wave would not be complete (a spec awaiting 'dispatch merge', or failed)\n`;
  for (const b of sim.blocked.slice(0, 20)) out += `${c.yellow('blocked')} ${b.id}: waits for ${b.by.map((x) => `${x.id} (${x.state})`).join(', ')}\n`;
  if (sim.blocked.length > 20) out += `${c.yellow('blocked')} and ${sim.blocked.length - 20} more\n`;
  ctx.out(out);
  return EXIT.ok;
}
