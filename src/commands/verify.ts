import { existsSync } from 'node:fs';
import type { Ctx } from '../context.js';
import { DispatchError, EXIT, UsageError } from '../errors.js';
import { palette } from '../ui/style.js';
import { visible, visibleText } from '../util/visible.js';

/** `dispatch verify <id...> [--mark]`: a spec's checks, run now (after a fix by hand, say). */
export async function run(args: { _: [string[]]; mark?: boolean }, ctx: Ctx): Promise<number> {
  const config = await ctx.config();
  const { findSpecs, readSpecFolders, locateSpec } = await import('../specs/lookup.js');
  const { runVerify, verifyCommandsOf, endedAs } = await import('../attempt/verify.js');
  const { workDirOf, runDirOf } = await import('../attempt/paths.js');
  const { readState } = await import('../state/store.js');
  const { own, stateOf } = await import('../state/doc.js');
  const { showArgv } = await import('../proc/launch.js');
  const c = palette(ctx.color);
  const specs = findSpecs(config, args._[0]);
  // Checked for all before any runs: a spec without checks is a config matter, not a failure.
  const without = specs.filter((s) => !verifyCommandsOf(config, s).length);
  if (without.length) {
    throw new UsageError(`no verify commands for ${without.map((s) => s.id).join(', ')}`, "add verify: [[...command]] to the config (or to the spec); nothing was run");
  }
  const doc = readState(config.stateDir);
  if (args.mark) {
    const live = specs.filter((s) => stateOf(doc, s.id) === 'running');
    if (live.length) throw new DispatchError(`${live.map((s) => s.id).join(', ')} ${live.length === 1 ? 'is' : 'are'} running; nothing was run`, { hint: 'wait for it, or stop it first with \'dispatch stop\'' });
  }
  const folders = readSpecFolders(config.specsDir);
  const results: { id: string; ok: boolean; cwd: string; checks: import('../attempt/verify.js').VerifyResult[]; reason?: string }[] = [];
  for (const spec of specs) {
    // An isolated spec is checked in its worktree while it has one; merged, in the project.
    const wt = workDirOf(config, spec);
    const cwd = existsSync(wt) ? wt : config.rootDir;
    const files = locateSpec(config.specsDir, spec, folders);
    const attempt = own(doc.dispatch?.specs, spec.id)?.history?.at(-1)?.n ?? 0;
    ctx.err(c.dim(`${spec.id}: checking in ${visible(cwd)}\n`));
    const v = await runVerify(config, spec, {
      paths: { specDir: files.dir, specFile: files.specFile, planFile: files.planFile, runDir: runDirOf(config, spec.id), cwd },
      attempt,
      signal: ctx.signal,
      // The checks' own output is diagnostics; the results are on stdout.
      say: (t) => ctx.err(c.dim(visibleText(t))),
    });
    results.push({ id: spec.id, ok: !v.failed, cwd, checks: v.ran, ...(v.reason ? { reason: v.reason } : {}) });
    if (ctx.signal.aborted) break;
  }
  if (ctx.json) ctx.outJson(results);
  else {
    for (const r of results) {
      for (const k of r.checks) ctx.out(`${r.id}  ${k.ok ? c.green('ok  ') : c.red('FAIL')}  ${showArgv(k.argv)}${k.ok ? '' : ` — ${visible(endedAs(k, config.verifyTimeoutSeconds))}`} (${k.seconds} s)\n`);
    }
  }
  if (args.mark && !ctx.signal.aborted) {
    const { withState } = await import('../state/store.js');
    const { recordChecked } = await import('../state/doc.js');
    const { writeSignal } = await import('../state/signals.js');
    const { usesDispatchWorktree } = await import('../agents/command.js');
    await withState(config.stateDir, { command: 'verify' }, (d) => {
      // Asked again under the lock: a run may have launched one of them while the checks ran.
      const launched = results.filter((r) => stateOf(d, r.id) === 'running').map((r) => r.id);
      if (launched.length) throw new DispatchError(`${launched.join(', ')} started running while the checks ran; nothing was recorded`, { hint: "wait for it to end, then run 'dispatch verify --mark' again" });
      for (const r of results) {
        // Done work still in a worktree dispatch made is still to be merged.
        const wt = own(d.dispatch?.specs, r.id)?.worktree as { createdBy?: string; path?: string } | undefined;
        const spec = specs.find((s) => s.id === r.id)!;
        recordChecked(d, r.id, r.ok, r.reason, usesDispatchWorktree(spec) && wt?.createdBy === 'dispatch' && !!wt.path && existsSync(wt.path));
      }
    });
    for (const r of results) {
      const p = writeSignal(config.signalDir, config.project, r.ok ? 'done' : 'failed', r.id, r.reason ? `${r.reason}\n` : '');
      if (p) ctx.err(`dispatch: warning: ${visible(p)}\n`);
      ctx.err(`${r.id}: recorded ${r.ok ? 'done' : 'failed (verify-failed)'}\n`);
    }
  }
  if (ctx.signal.aborted) return EXIT.interrupted;
  return results.every((r) => r.ok) ? EXIT.ok : EXIT.failure;
}
