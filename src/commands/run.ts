import type { Ctx } from '../context.js';
import { DispatchError, UsageError, EXIT, noSuchWave } from '../errors.js';
import type { RunEvent, RunOutcome } from '../run/engine.js';
import type { WavePlan } from '../run/launch-plan.js';
import type { Executor } from '../executors/types.js';
import type { RunRequest } from '../services/run.js';
import { showArgv } from '../proc/launch.js';
import { palette, type Palette } from '../ui/style.js';
import type { Check } from '../run/preflight.js';
import { checkLine } from '../ui/checks.js';
import { visible, visibleAll } from '../util/visible.js';

/** The service's request, and --yes (the confirmation is the command's). */
export type RunArgs = RunRequest & { yes?: boolean };

const secs = (n: number) => (n < 120 ? `${n} s` : `${Math.floor(n / 60)} min${n % 60 ? ` ${n % 60} s` : ''}`);

/** `dispatch run [--wave N] [--spec ID...] [--yes] [--dry-run] [--no-wait] [--no-plan] [--mux M]` */
export async function run(args: RunArgs, ctx: Ctx): Promise<number> {
  const config = await ctx.config();
  const { prepareRun, executeRun, eagerOrder } = await import('../services/run.js');
  const c = palette(ctx.color);
  if (args.wave !== undefined && !config.waves.includes(args.wave)) throw noSuchWave(args.wave, config.waves);
  // A text dry run prints each wave as it is planned.
  const dryText = !!args.dryRun && !ctx.json;
  const prep = await prepareRun(config, args, {
    onLost: (l) => ctx.err(`lost ${visible(l.id)}: ${visible(l.reason)}\n`),
    ...(dryText ? { onWave: (p: WavePlan, mux: Executor) => ctx.out(waveText(c, mux.kind, p)) } : {}),
  });
  const { mux, blocked, firstWave, checks } = prep;
  const failed = checks.filter((k) => k.status === 'fail');
  // A dry run shows what the wave would launch once the earlier ones are complete, and what blocks it now.
  if (args.dryRun) {
    const order = prep.schedule === 'eager' ? await eagerOrder(config, prep) : undefined;
    if (order && !ctx.json) ctx.out(eagerOrderText(c, visibleAll(order)));
    printDryRun(ctx, c, mux.kind, mux.session, prep.previews, prep.firstPlanned !== undefined, checks, blocked.length ? { wave: firstWave!, blockers: blocked } : undefined, order);
    return failed.length ? EXIT.failure : EXIT.ok;
  }
  // Said before touching anything: no session created.
  if (blocked.length) throw blockedError(firstWave!, blocked);
  if (failed.length) throw preflightError(ctx, c, failed);
  for (const k of checks) if (k.status === 'warn') ctx.err(`${checkLine(c, k)}\n`);
  if (prep.nothing) {
    const f = prep.nothing.failed;
    ctx.err(`nothing to launch: ${prep.waves === 'all' ? 'no wave has pending specs' : `no pending specs in ${prep.only ? 'the given specs' : `wave ${args.wave}`}`}${f.length ? `; failed: ${f.join(', ')} — 'dispatch retry' puts them back to pending` : ''} (see 'dispatch status')\n`);
    return f.length ? EXIT.failure : EXIT.ok;
  }
  if (!args.yes) {
    if (!ctx.interactive) throw new UsageError('refusing to launch agents without --yes when not on a terminal', 'add --yes, or look first with --dry-run');
    printSummary(ctx, c, mux.describe.launchesIn, prep.previews);
    const { confirm } = await import('../ui/prompt.js');
    if (!(await confirm('launch?'))) throw new DispatchError('run cancelled; nothing changed', { hint: "answer 'y' to go ahead, or pass --yes" });
  }
  const live = process.stderr.isTTY && !ctx.json;
  const show = await liveView(ctx, c, mux.kind, live);
  let ollamaDown = false;
  const outcome = await executeRun(config, prep, args, {
    signal: ctx.signal,
    onEvent: show.onEvent,
    onStaleLock: (old) => ctx.err(`dispatch: taking over a stale run lock (pid ${old.pid} is gone, '${visible(String(old.command))}' since ${visible(String(old.started))})\n`),
    onSessionCreated: () => ctx.err(`created ${mux.kind} session '${mux.session}' (detached)\n`),
    onPlanned: (r) => {
      // Said once a run: later waves try again in silence (Ollama may come back), and say so if it does.
      if (r.skipped) {
        if (!ollamaDown) show.log(c.yellow(`warning: ${r.skipped} — launching without plans (--require-plan to stop instead); later waves try again without saying so`));
        ollamaDown = true;
      } else if (r.needed.length) {
        show.log(`${ollamaDown ? 'Ollama answers again: ' : ''}planned ${r.planned.length} of ${r.needed.length} spec${r.needed.length === 1 ? '' : 's'} first`);
        ollamaDown = false;
      }
      for (const f of r.failed) show.log(c.yellow(`warning: no plan for ${f.id}: ${f.reason}`));
    },
  });
  return report(ctx, c, outcome, args.wait !== false, mux.describe.stillRunningIn);
}

/** The run's events as they come: one line each, or (on a terminal) a live table redrawn in place. */
async function liveView(ctx: Ctx, c: Palette, kind: string, live: boolean): Promise<{ onEvent: (e: RunEvent) => void; log: (line: string) => void }> {
  const { renderLive, InPlace } = await import('../ui/live-table.js');
  const screen = new InPlace((s) => ctx.err(s));
  let lastDraw = 0;
  let lastTick: Extract<RunEvent, { type: 'tick' }> | undefined;
  const log = (line: string) => {
    if (live) screen.done();
    ctx.err(`${line}\n`);
  };
  const onEvent = (event: RunEvent) => {
    // Reasons, hosts' messages and hook errors come from outside: shown, not obeyed (the live table's rows are made visible as it draws them).
    const e = event.type === 'tick' ? event : visibleAll(event);
    switch (e.type) {
      case 'run-start':
        if (e.schedule === 'eager') log(c.bold(`eager: ${e.specs} spec${e.specs === 1 ? '' : 's'} in ${kind}, each launched as soon as its dependencies are complete`));
        break;
      case 'wave-start':
        log(c.bold(`wave ${e.wave}: launching ${e.launches} spec${e.launches === 1 ? '' : 's'} in ${kind}${e.sequential ? ' (sequential)' : ''}`));
        break;
      case 'merged':
        log(e.ok ? `${c.green('merged')} ${e.id} into the project (merge: auto)` : `${c.yellow('not merged')} ${e.id}: ${e.reason ?? ''}`);
        break;
      case 'launched':
        if (!live) log(`launched ${e.id} (${e.pane.replace(/^pid:/, 'pid ')})${e.attempt > 1 ? ` attempt ${e.attempt}` : ''}`);
        break;
      case 'rate-limited':
        log(`${c.yellow('rate-limited')} ${e.id}: ${e.reason ?? ''} — ${e.agent} paused, relaunch at ${new Date(e.until).toLocaleTimeString()}`);
        break;
      case 'relaunch':
        log(`${c.cyan('relaunching')} ${e.id}: ${e.why}`);
        break;
      case 'stalled':
        log(`${c.yellow('stalled')} ${e.id}: no output for ${e.quietSeconds} s${e.action === 'warn' ? '' : e.action === 'restart' ? ' — restarting it' : ' — stopping it'}`);
        break;
      case 'budget':
        log(`${c.red('budget')}: ${e.message} — no new specs launch; running ones finish`);
        break;
      case 'hook-failed':
        log(`${c.yellow('hook')} ${e.hook} failed: ${e.error}`);
        break;
      case 'host':
        log(`${c.yellow('host')} ${e.host}: ${e.message}`);
        break;
      case 'quota-exhausted':
        log(`${c.red('quota exhausted')} for ${e.agent} (${e.id}: ${e.reason}) — no more ${e.agent} launches in this run; check the plan, credits or billing, then 'dispatch retry'`);
        break;
      case 'launch-failed':
        log(`${c.red('launch failed')} ${e.id}: ${e.reason}`);
        break;
      case 'not-launched':
        log(`${c.yellow('not launched')} ${e.id}: ${notLaunchedWhy(e.refused)}`);
        break;
      case 'lost':
        for (const l of e.lost) log(`${c.red('lost')} ${l.id}: ${l.reason}`);
        break;
      case 'finished':
        if (!live) log(`${e.state} ${e.id}${e.reason ? `: ${e.reason}` : ''}`);
        break;
      case 'wave-done':
        // The final picture of the wave stays on screen, whatever the throttle skipped.
        if (live && lastTick) screen.draw(renderLive(c, lastTick.wave ?? 'eager', lastTick.rows, ''));
        if (live) screen.done();
        break;
      case 'tick': {
        lastTick = e;
        if (!live || Date.now() - lastDraw < 250) break;
        lastDraw = Date.now();
        const footer = e.nextLaunchAt ? `next launch in ${Math.max(0, Math.ceil((e.nextLaunchAt - Date.now()) / 1000))} s${e.waitingFor ? ` (${visible(e.waitingFor)})` : ''}` : e.waitingFor ? `waiting for ${visible(e.waitingFor)}` : '';
        screen.draw(renderLive(c, e.wave ?? 'eager', e.rows, footer));
        break;
      }
    }
  };
  return { onEvent, log };
}

/** Why a chosen spec was not launched, as the run says it once. */
function notLaunchedWhy(r: import('../schedule/events.js').LaunchRefusal): string {
  switch (r.kind) {
    case 'decided':
      return r.state === 'running' ? 'another run launched it meanwhile' : `it is ${r.state} now, decided while it waited`;
    case 'removed':
      return `it is no longer in ${r.configPath}`;
    case 'config':
      return `its runner could not read the table: ${r.problem}`;
  }
}

function report(ctx: Ctx, c: Palette, outcome: RunOutcome, waited: boolean, stillRunningIn: string): number {
  const o = ctx.json ? outcome : visibleAll(outcome);
  if (ctx.json) {
    ctx.outJson(o);
  } else {
    const parts = [`${o.launched.length} launched`, c.green(`${o.done.length} done`), o.failed.length ? c.red(`${o.failed.length} failed`) : '0 failed'];
    if (o.stillRunning.length) parts.push(c.cyan(`${o.stillRunning.length} still running`));
    if (o.rateLimited.length) parts.push(c.yellow(`${o.rateLimited.length} rate-limited`));
    if (o.tokens) parts.push(`${o.tokens} tokens`);
    ctx.out(`${parts.join(' · ')}\n`);
    for (const f of o.failed) ctx.out(`  ${c.red('failed')} ${f.id}: ${f.reason ?? ''}\n`);
    if (o.rateLimited.length) ctx.err(c.dim(`rate-limited, not relaunched yet: ${o.rateLimited.join(', ')}; 'dispatch run' again relaunches them when their limit resets\n`));
    if (o.stillRunning.length) ctx.err(c.dim(`${waited ? 'stopped waiting' : 'not waiting'}: ${o.stillRunning.join(', ')} still running ${stillRunningIn}; follow them with 'dispatch status' or 'dispatch logs <id>'\n`));
  }
  if (o.blocked) throw blockedError(o.blocked.wave, o.blocked.blockers);
  if (o.blockedSpecs?.length) throw blockedSpecsError(o.blockedSpecs);
  if (o.interrupted) return EXIT.interrupted;
  if (o.budgetStop) throw new DispatchError(o.budgetStop, { hint: 'raise budget.tokensPerRun / tokensPerWave, or pass --budget <tokens> to allow more this once' });
  if (o.failed.length || o.rateLimited.length) return EXIT.failure;
  return EXIT.ok;
}

function schedule(p: WavePlan): string[] {
  let t = 0;
  return p.items.map((i) => {
    const line = `t+${secs(t)}  ${i.spec.id}-${visible(i.spec.name)} (cost ${i.spec.cost}, ${visible(i.spec.agent)}${i.spec.mode === 'isolated' ? ', isolated' : ''})${i.waitAfter ? ` → wait ${secs(i.waitAfter)}${i.batchPause ? ' incl. batch pause' : ''}` : ''}`;
    t += i.waitAfter;
    return line;
  });
}

/** A run refused by its preflight: every problem said at once, nothing launched. */
function preflightError(ctx: Ctx, c: Palette, failed: Check[]): DispatchError {
  const hint = "fix them, then run again ('dispatch run --dry-run' shows every check)";
  if (failed.length === 1) return new DispatchError(failed[0]!.detail, { hint: failed[0]!.fix ?? hint });
  for (const k of failed) ctx.err(`${checkLine(c, k)}\n`);
  return new DispatchError(`${failed.length} problems found before launching anything; nothing launched`, { hint });
}

/** One wave of a text dry run: its schedule, and each launch's exact commands. */
function waveText(c: Palette, kind: string, p: WavePlan): string {
  const lines = schedule(p);
  const muxLabel = c.dim(`${kind}:`);
  const agentLabel = c.dim('agent:');
  let out = `${c.bold(`wave ${p.wave}`)}${p.sequential ? ' (sequential)' : ''} — ${p.items.length} launch${p.items.length === 1 ? '' : 'es'}, pacing ${secs(p.pacingSeconds)}\n`;
  for (let n = 0; n < p.items.length; n++) {
    const i = p.items[n]!;
    out += `  ${lines[n]}\n`;
    if (i.worktree) out += `    ${c.dim('worktree:')} ${showArgv(['git', 'worktree', 'add', '-b', i.worktree.branch, i.worktree.path, 'HEAD'])}\n`;
    for (const m of i.muxCommands) out += `    ${muxLabel} ${showArgv(m)}\n`;
    out += `    ${agentLabel} ${showArgv(i.agentArgv)}\n`;
  }
  return out;
}

/** The end of a dry run (its waves are printed as they are planned, or here as JSON). */
function printDryRun(ctx: Ctx, c: Palette, kind: string, session: string, previews: WavePlan[], anyPlanned: boolean, checks: Check[], blocked?: { wave: number; blockers: import('../run/engine.js').Blocker[] }, order?: import('../services/simulate.js').Simulation): void {
  if (ctx.json) {
    const eager = order ? { order: [...order.specs].sort((a, b) => a.startMs - b.startMs).map((s) => ({ id: s.id, wave: s.wave, startMs: s.startMs, waitsFor: s.waitsFor })), blockedSpecs: order.blocked } : undefined;
    ctx.outJson({ multiplexer: kind, session, schedule: order ? 'eager' : 'waves', checks, ...(blocked ? { blocked } : {}), ...(eager ? { eager } : {}), waves: previews.map((p) => ({ wave: p.wave, sequential: p.sequential, pacingSeconds: p.pacingSeconds, launches: p.items.map((i) => ({ id: i.spec.id, pane: i.paneName, cwd: i.cwd, mux: i.muxCommands, agent: i.agentArgv, waitAfter: i.waitAfter, worktree: i.worktree })) })) });
    return;
  }
  let out = anyPlanned ? '' : 'nothing to launch\n';
  if (blocked) {
    const t = blockedText(blocked.wave, visibleAll(blocked.blockers));
    out += `${c.yellow('blocked now:')} ${t.what} — ${t.hint}\n`;
  }
  out += `${c.bold('checks')}\n`;
  for (const k of checks) out += `  ${checkLine(c, k)}\n`;
  ctx.out(out);
  ctx.err(c.dim('dry run: nothing launched, no state changed\n'));
}

function printSummary(ctx: Ctx, c: Palette, launchesIn: string, previews: WavePlan[]): void {
  ctx.err(`${c.bold('about to launch')} ${launchesIn}:\n`);
  for (const p of previews) {
    ctx.err(`wave ${p.wave}: ${p.items.length} spec${p.items.length === 1 ? '' : 's'}, pacing about ${secs(p.pacingSeconds)}\n`);
    for (const line of schedule(p)) ctx.err(`  ${line}\n`);
    for (const i of p.items) ctx.err(`    ${c.dim(showArgv(i.agentArgv))}\n`);
  }
}

/** What blocks a wave, and what to do about it: said by a dry run, thrown by a real one. */
function blockedText(wave: number, blockers: import('../run/engine.js').Blocker[]): { what: string; hint: string } {
  // A table of thousands must not print thousands of ids on one line.
  const shown = blockers.slice(0, 10).map((x) => `${x.id} (wave ${x.wave}: ${x.state}${x.reason ? ` — ${x.reason}` : ''})`).join(', ');
  const list = blockers.length > 10 ? `${shown} and ${blockers.length - 10} more` : shown;
  const states = new Set(blockers.map((x) => x.state));
  const earlier = [...new Set(blockers.map((x) => x.wave))].sort((a, b) => a - b);
  const hint = states.has('awaiting merge')
    ? "merge isolated specs with 'dispatch merge <id>'; failed ones: 'dispatch retry'"
    : states.has('failed')
      ? "retry failed specs with 'dispatch retry', skip them with 'dispatch skip <id>', or wait for running ones"
      : `run wave ${earlier[0]} first ('dispatch run --wave ${earlier[0]} --yes'), or wait for it to finish`;
  return { what: `wave ${wave} cannot start: ${list}`, hint };
}

function blockedError(wave: number, blockers: import('../run/engine.js').Blocker[]): DispatchError {
  const t = blockedText(wave, blockers);
  return new DispatchError(t.what, { hint: t.hint });
}

/** Eager: the specs that never started, each with the unfinished dependencies at the root of it. */
function blockedSpecsError(list: import('../run/engine.js').BlockedSpec[]): DispatchError {
  const one = (b: import('../run/engine.js').BlockedSpec) => `${b.id} (waits for ${b.by.map((x) => `${x.id}: ${x.state}${x.reason ? ` — ${x.reason}` : ''}`).join('; ')})`;
  const shown = list.slice(0, 10).map(one).join(', ');
  const states = new Set(list.flatMap((b) => b.by.map((x) => x.state)));
  return new DispatchError(`${list.length} spec${list.length === 1 ? '' : 's'} blocked: ${shown}${list.length > 10 ? ` and ${list.length - 10} more` : ''}`, {
    hint: states.has('awaiting merge')
      ? "merge isolated specs with 'dispatch merge <id>' (or set merge: 'auto'); failed ones: 'dispatch retry', then run again"
      : "retry failed specs with 'dispatch retry' (or skip them with 'dispatch skip <id>'), then run again",
  });
}

function eagerOrderText(c: Palette, sim: import('../services/simulate.js').Simulation): string {
  if (!sim.specs.length && !sim.blocked.length) return '';
  let out = `${c.bold('eager launch order')} (on the estimates of 'dispatch simulate'; finishes in about ${secs(Math.round(sim.makespanMs / 1000))})\n`;
  let n = 0;
  for (const s of [...sim.specs].sort((a, b) => a.startMs - b.startMs)) {
    const waits = s.waitsFor.length ? `after ${s.waitsFor.join(', ')}` : 'ready now';
    out += `  ${++n}. t+${secs(Math.round(s.startMs / 1000))}  ${s.id}-${s.name} (wave ${s.wave}, cost ${s.cost}, ${s.agent}) — ${waits}\n`;
  }
  for (const b of sim.blocked) out += `  ${c.yellow('blocked')} ${b.id}: waits for ${b.by.map((x) => `${x.id} (${x.state})`).join(', ')}\n`;
  return out;
}
