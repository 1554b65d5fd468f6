import type { Ctx } from '../context.js';
import { DispatchError, UsageError, EXIT, noSuchWave } from '../errors.js';
import type { RunEvent, RunOutcome } from '../run/engine.js';
import type { WavePlan } from '../run/launch-plan.js';
import { showArgv } from '../proc/launch.js';
import { palette, type Palette } from '../ui/style.js';
import { own } from '../state/doc.js';
import { forPreflight, preflight, type Check, type PreflightItem } from '../run/preflight.js';
import { checkLine } from '../ui/checks.js';
import { visible, visibleAll } from '../ui/visible.js';

export interface RunArgs {
  wave?: number;
  spec?: string[];
  yes?: boolean;
  plan?: boolean;
  requirePlan?: boolean;
  mux?: 'auto' | 'zellij' | 'tmux' | 'headless';
  /** This run's schedule (default: the config's). */
  schedule?: 'waves' | 'eager';
  createSession?: boolean;
  dryRun?: boolean;
  wait?: boolean;
  /** Token budget for this run (overrides budget.tokensPerRun once). */
  budget?: number;
  /** watch-handoff: wait this long for the previous run to release the lock. */
  lockWaitSeconds?: number;
}

const secs = (n: number) => (n < 120 ? `${n} s` : `${Math.floor(n / 60)} min${n % 60 ? ` ${n % 60} s` : ''}`);

/** `dispatch run [--wave N] [--spec ID...] [--yes] [--dry-run] [--no-wait] [--no-plan] [--mux M]` */
export async function run(args: RunArgs, ctx: Ctx): Promise<number> {
  const config = await ctx.config();
  const { findSpecs, readSpecFolders } = await import('../specs/lookup.js');
  const { resolveExecutorKind, createMux } = await import('../executors/choose.js');
  const { readState } = await import('../state/store.js');
  const { planWave } = await import('../run/launch-plan.js');
  const c = palette(ctx.color);

  if (args.wave !== undefined && !config.waves.includes(args.wave)) {
    throw noSuchWave(args.wave, config.waves);
  }
  const only = args.spec?.length ? new Set(findSpecs(config, args.spec).map((s) => s.id)) : undefined;
  const waves = only ? [...new Set(config.specs.filter((s) => only.has(s.id)).map((s) => s.wave))].sort((a, b) => a - b) : args.wave !== undefined ? [args.wave] : ('all' as const);
  const schedule = args.schedule ?? config.schedule;
  const mux = await createMux(config, resolveExecutorKind(config, args.mux));

  if (!args.dryRun) {
    // A live run is named first: a second run is refused for that, whatever its waves.
    const { readRunLock, lockHeldError } = await import('../state/run-lock.js');
    const held = readRunLock(config.stateDir);
    if (held.lock && held.alive !== false && !args.lockWaitSeconds) throw lockHeldError(held.lock);
    // Runners that died hold their specs "running": record them as lost before judging the waves.
    const { reapLost } = await import('../run/liveness.js');
    for (const l of await reapLost(config, readState(config.stateDir), 'run')) ctx.err(`lost ${visible(l.id)}: ${visible(l.reason)}\n`);
  }
  // What would launch now, wave by wave (later waves as if earlier ones completed).
  const doc = readState(config.stateDir);
  // The spec folders are listed once for every wave's plan.
  const folders = readSpecFolders(config.specsDir);
  // A text dry run prints each wave as it is planned and keeps only what the preflight needs:
  // holding every launch of a 10,000-spec table until the end doubled its time in garbage collection.
  const dryText = !!args.dryRun && !ctx.json;
  const previews: WavePlan[] = [];
  const toCheck: PreflightItem[] = [];
  let firstPlanned: number | undefined;
  for (const w of waves === 'all' ? config.waves : waves) {
    const p = planWave(config, doc, mux, w, { only, folders });
    if (!p.items.length) continue;
    firstPlanned ??= p.wave;
    for (const i of p.items) toCheck.push(forPreflight(i));
    if (dryText) ctx.out(waveText(c, mux.kind, p));
    else previews.push(p);
  }

  // A wave whose earlier waves are not complete cannot start: say so before touching anything
  // (no session created, and --dry-run does not pretend it would launch).
  const { blockersBefore, dependencyBlockers } = await import('../run/engine.js');
  // The first wave with work: specs to launch, or live runners and rate-limited specs to adopt (a run
  // whose dispatcher was killed resumes there and carries on to the later waves).
  const adoptWave = config.specs
    .filter((s) => (waves === 'all' || waves.includes(s.wave)) && (!only || only.has(s.id)) && (own(doc.dispatch?.running, s.id) || own(doc.dispatch?.waiting, s.id)))
    .reduce((m, s) => Math.min(m, s.wave), Infinity);
  const first = Math.min(firstPlanned ?? Infinity, adoptWave);
  const firstWave = first === Infinity ? undefined : first;
  // Eager: no wave waits for another; what a dependency holds back is named when the run ends.
  const blocked = firstWave === undefined || schedule === 'eager' ? [] : only
    ? dependencyBlockers(config, doc, config.specs.filter((s) => only.has(s.id)), firstWave)
    : blockersBefore(config, doc, firstWave);
  // Everything the launches of this run need, checked before the first (a dry run shows it, a run refuses on it).
  const checks = await preflight(config, toCheck, mux, doc, { createSession: !!args.createSession });
  const failed = checks.filter((k) => k.status === 'fail');
  // A dry run shows what the wave would launch once the earlier ones are complete, and what blocks it now.
  if (args.dryRun) {
    const order = schedule === 'eager' ? await eagerOrder(config, doc, only, waves) : undefined;
    if (order && !ctx.json) ctx.out(eagerOrderText(c, visibleAll(order)));
    printDryRun(ctx, c, mux.kind, mux.session, previews, firstPlanned !== undefined, checks, blocked.length ? { wave: firstWave!, blockers: blocked } : undefined, order);
    return failed.length ? EXIT.failure : EXIT.ok;
  }
  if (blocked.length) throw blockedError(firstWave!, blocked);
  if (failed.length) throw preflightError(ctx, c, failed);
  for (const k of checks) if (k.status === 'warn') ctx.err(`${checkLine(c, k)}\n`);
  if (firstPlanned === undefined && !hasRunning(config, doc, waves)) {
    const scope = (waves === 'all' ? config.specs : config.specs.filter((s) => waves.includes(s.wave) && (!only || only.has(s.id))));
    const failed = scope.filter((s) => doc.failed.includes(s.id)).map((s) => s.id);
    ctx.err(`nothing to launch: ${waves === 'all' ? 'no wave has pending specs' : `no pending specs in ${only ? 'the given specs' : `wave ${args.wave}`}`}${failed.length ? `; failed: ${failed.join(', ')} — 'dispatch retry' puts them back to pending` : ''} (see 'dispatch status')\n`);
    return failed.length ? EXIT.failure : EXIT.ok;
  }
  if (!args.yes) {
    if (!ctx.interactive) throw new UsageError('refusing to launch agents without --yes when not on a terminal', 'add --yes, or look first with --dry-run');
    printSummary(ctx, c, mux.kind, mux.session, previews);
    const { confirm } = await import('../ui/prompt.js');
    if (!(await confirm('launch?'))) throw new DispatchError('run cancelled; nothing changed', { hint: "answer 'y' to go ahead, or pass --yes" });
  }

  const { acquireRunLock, releaseRunLock } = await import('../state/run-lock.js');
  const deadline = Date.now() + (args.lockWaitSeconds ?? 0) * 1000;
  let lock;
  for (;;) {
    try {
      lock = acquireRunLock(config.stateDir, { command: `run${args.wave !== undefined ? ` --wave ${args.wave}` : ''}`, wave: args.wave ?? null }, (old) =>
        ctx.err(`dispatch: taking over a stale run lock (pid ${old.pid} is gone, '${visible(String(old.command))}' since ${visible(String(old.started))})\n`),
      );
      break;
    } catch (err) {
      if (Date.now() > deadline || ctx.signal.aborted) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    const session = await mux.ensureSession(!!args.createSession);
    if (session.created) ctx.err(`created ${mux.kind} session '${mux.session}' (detached)\n`);
    const scope = config.specs.filter((s) => (only ? only.has(s.id) : waves === 'all' || waves.includes(s.wave)));
    const outcome = await execute(ctx, c, config, mux, scope, only, { ...args, schedule });
    return report(ctx, c, outcome, args.wait !== false, mux.kind);
  } finally {
    releaseRunLock(config.stateDir, lock);
  }
}

/** Specs a run adopts rather than launches: live runners, and rate-limited specs waiting for their relaunch. */
function hasRunning(config: Awaited<ReturnType<Ctx['config']>>, doc: import('../state/doc.js').StateDoc, waves: number[] | 'all'): boolean {
  return config.specs.some((s) => (waves === 'all' || waves.includes(s.wave)) && (own(doc.dispatch?.running, s.id) || own(doc.dispatch?.waiting, s.id)));
}

async function execute(ctx: Ctx, c: Palette, config: Awaited<ReturnType<Ctx['config']>>, mux: import('../executors/types.js').Mux, scope: import('../config/load.js').ResolvedSpec[], only: Set<string> | undefined, args: RunArgs & { schedule: 'waves' | 'eager' }): Promise<RunOutcome> {
  const { runWaves } = await import('../run/engine.js');
  const { renderLive, InPlace } = await import('../ui/live-table.js');
  const live = process.stderr.isTTY && !ctx.json;
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
        if (e.schedule === 'eager') log(c.bold(`eager: ${e.specs} spec${e.specs === 1 ? '' : 's'} in ${mux.kind}, each launched as soon as its dependencies are complete`));
        break;
      case 'wave-start':
        log(c.bold(`wave ${e.wave}: launching ${e.launches} spec${e.launches === 1 ? '' : 's'} in ${mux.kind}${e.sequential ? ' (sequential)' : ''}`));
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
  let ollamaDown = false;
  const beforeWave = async (_wave: number, specs: import('../config/load.js').ResolvedSpec[]) => {
    if (args.plan === false) return;
    const { planBeforeLaunch } = await import('../run/plan-step.js');
    const r = await planBeforeLaunch(config, specs, { require: !!args.requirePlan, signal: ctx.signal });
    // Said once a run: later waves try again in silence (Ollama may come back), and say so if it does.
    if (r.skipped) {
      if (!ollamaDown) log(c.yellow(`warning: ${r.skipped} — launching without plans (--require-plan to stop instead); later waves try again without saying so`));
      ollamaDown = true;
    } else if (r.needed.length) {
      log(`${ollamaDown ? 'Ollama answers again: ' : ''}planned ${r.planned.length} of ${r.needed.length} spec${r.needed.length === 1 ? '' : 's'} first`);
      ollamaDown = false;
    }
    for (const f of r.failed) log(c.yellow(`warning: no plan for ${f.id}: ${f.reason}`));
  };
  return runWaves(config, { mux, scope, ...(only ? { explicit: only } : {}), schedule: args.schedule, wait: args.wait !== false, signal: ctx.signal, onEvent, beforeWave, ...(args.budget ? { tokensPerRun: args.budget } : {}) });
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

function report(ctx: Ctx, c: Palette, outcome: RunOutcome, waited: boolean, kind: import('../executors/types.js').ExecutorKind): number {
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
    if (o.stillRunning.length) ctx.err(c.dim(`${waited ? 'stopped waiting' : 'not waiting'}: ${o.stillRunning.join(', ')} still running ${kind === 'headless' ? 'in the background' : kind === 'ssh' ? 'on their SSH hosts' : `in their ${kind} ${kind === 'tmux' ? 'windows' : 'panes'}`}; follow them with 'dispatch status' or 'dispatch logs <id>'\n`));
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

function printSummary(ctx: Ctx, c: Palette, kind: string, session: string, previews: WavePlan[]): void {
  // Headless runs have no session nor panes: the agents run in the background.
  ctx.err(`${c.bold('about to launch')} ${kind === 'headless' ? 'in the background (headless)' : kind === 'ssh' ? 'on the SSH hosts' : `in ${kind} session '${session}'`}:\n`);
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

/** `run --dry-run --schedule eager`: the launch order on the simulated clock, and what each spec waits for. */
async function eagerOrder(config: Awaited<ReturnType<Ctx['config']>>, doc: import('../state/doc.js').StateDoc, only: Set<string> | undefined, waves: number[] | 'all'): Promise<import('../services/simulate.js').Simulation> {
  const { simulate } = await import('../services/simulate.js');
  return simulate(config, doc, { schedule: 'eager', durations: 'history', ...(only ? { only } : waves === 'all' ? {} : { waves }) });
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
