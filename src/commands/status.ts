import type { Ctx } from '../context.js';
import { summarizeStatus } from '../services/status.js';
import { readState } from '../state/store.js';
import { hasRemoteWork } from '../state/doc.js';
import { columns, palette } from '../ui/style.js';
import { visible, visibleAll } from '../util/visible.js';
import { warnUnknownIds } from './shared.js';
import { EXIT } from '../errors.js';

/** `dispatch status`: counts overall and per wave. Always exit 0 when it can read the state. */
export async function run(args: { usage?: boolean }, ctx: Ctx): Promise<number> {
  const config = await ctx.config();
  let doc = readState(config.stateDir);
  // Also with no pool in the config any more: the runs the state records are reached where they are.
  if (hasRemoteWork(doc)) {
    // Remote runs (SSH hosts) leave their verdicts where they run: brought home first.
    const { collectRecorded } = await import('../executors/recorded.js');
    const got = await collectRecorded(config, 'status').catch((err: Error) => {
      ctx.err(`dispatch: could not collect from the SSH hosts: ${visible(err.message)}\n`);
      return [];
    });
    if (got.length) doc = readState(config.stateDir);
  }
  if (Object.keys(doc.dispatch?.running ?? {}).length) {
    // A runner that died (killed, reboot) leaves "running" behind: say so, and record it as failed.
    const { reapLost } = await import('../attempt/liveness.js');
    const lost = await reapLost(config, doc, 'status');
    for (const l of lost) ctx.err(`dispatch: ${visible(l.id)} was running but ${visible(l.why)}: marked failed\n`);
    if (lost.length) doc = readState(config.stateDir);
  }
  const summary = summarizeStatus(config, doc);
  warnUnknownIds(ctx, summary.unknownIds);
  if (ctx.json) {
    ctx.outJson(summary);
    return EXIT.ok;
  }
  // Names, reasons and hosts come from the config, the state file and the hosts: shown, not obeyed
  // (every attempt of every spec is in the JSON only: not walked here).
  const s = visibleAll({ ...summary, attempts: {} });
  const c = palette(ctx.color);
  const k = s.counts;
  let text = `${c.bold(s.project)}: ${c.green(`${k.done} done`)} · ${k.failed ? c.red(`${k.failed} failed`) : '0 failed'} · ${k.running ? c.cyan(`${k.running} running`) : '0 running'}${k['rate-limited'] ? ` · ${c.yellow(`${k['rate-limited']} rate-limited`)}` : ''} · ${k.pending} pending · ${k.skipped} skipped  ${c.dim(`(${s.total} specs)`)}\n\n`;
  text += columns([
    ['wave', 'done', 'failed', 'running', 'pending', 'skipped', 'total', ''].map((h) => c.bold(h)),
    ...s.waves.map((w) => [
      String(w.wave), String(w.counts.done), w.counts.failed ? c.red(String(w.counts.failed)) : '0', String(w.counts.running),
      String(w.counts.pending), String(w.counts.skipped), String(w.total), w.complete ? c.green('complete') : '',
    ]),
  ]);
  if (s.running.length) {
    text += `\n${c.cyan('running:')}\n`;
    const now = Date.now();
    text += columns(
      s.running.map((r) => {
        const took = sinceText(r.startedAt, now);
        return [
          `  ${r.id}`, r.name, r.pid ? `running${took ? ` ${took}` : ''}` : `launching${took ? ` for ${took}` : ''}`, r.host ? c.dim(`on ${r.host}${r.pid ? ` (pid ${r.pid})` : ''}`) : r.pid ? c.dim(`pid ${r.pid}`) : '',
          r.attempt && r.attempt > 1 ? `attempt ${r.attempt}` : '', r.stalled ? c.yellow(`stalled: no output for ${r.quietSeconds} s`) : '',
        ];
      }),
    );
  }
  if (s.outlived.length) {
    text += `\n${c.cyan('decided by hand, agent still at work:')}\n`;
    const now = Date.now();
    text += columns(s.outlived.map((o) => [`  ${o.id}`, o.state, c.dim(`on ${o.host}${o.attempt ? `, attempt ${o.attempt}` : ''}${sinceText(o.startedAt, now) ? `, for ${sinceText(o.startedAt, now)}` : ''}`)]));
    text += c.dim(`  its log and work come home when it ends; 'dispatch stop <id>' ends it\n`);
  }
  if (s.rateLimited.length) {
    text += `\n${c.yellow('rate-limited:')}\n`;
    text += columns(s.rateLimited.map((r) => [`  ${r.id}`, r.name, r.agent ?? '', r.until ? `relaunch at ${new Date(r.until).toLocaleString()}` : '', r.reason ?? '']));
    text += c.dim(`  'dispatch run' (or a running one) relaunches them then\n`);
  }
  if (s.awaitingMerge.length) {
    text += `\n${c.yellow('awaiting merge:')}\n`;
    text += columns(s.awaitingMerge.map((m) => [`  ${m.id}`, m.name, `wave ${m.wave}`]));
    text += c.dim(`  merge each with 'dispatch merge <id>' before the next wave can start\n`);
  }
  if (s.failed.length) {
    text += `\n${c.red('failed:')}\n`;
    text += columns(s.failed.map((f) => [`  ${f.id}`, f.name, `wave ${f.wave}`, f.kind ?? '', f.reason ?? '']));
    text += c.dim(`  retry them with 'dispatch retry', or one with 'dispatch reset --spec <id>'\n`);
  }
  if (args.usage) text += usageText(s, c);
  ctx.out(text);
  return EXIT.ok;
}

/** Time since an ISO start, as a person says it: "42 s", "3 min", "2 h 05 min"; '' when unknown. */
function sinceText(startIso: string | undefined, now: number): string {
  const t = startIso ? Date.parse(startIso) : NaN;
  if (Number.isNaN(t)) return '';
  const s = Math.max(0, Math.floor((now - t) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

function usageText(s: ReturnType<typeof summarizeStatus>, c: ReturnType<typeof palette>): string {
  const u = s.usage;
  // "≥": a failed Codex turn reports no usage, so the figure counts only the turns before it.
  const n = (v: number, low: boolean) => (low ? `≥ ${v}` : String(v));
  const lowSpec = new Set(u.lowerBound.specs);
  const lowWave = new Set(u.lowerBound.waves);
  let t = `\n${c.bold('token usage')}: ${n(u.total, u.lowerBound.total)} in total\n`;
  if (!u.total && !u.lowerBound.total) return `${t}${c.dim('  no agent reported tokens yet (Codex reports them; Auto-Claude does not)\n')}`;
  const specs = Object.entries(u.bySpec);
  for (const id of lowSpec) if (!(id in u.bySpec)) specs.push([id, 0]);
  t += columns([['  spec', 'tokens'].map((h) => c.bold(h)), ...specs.sort((a, b) => b[1] - a[1]).map(([id, v]) => [`  ${id}`, n(v, lowSpec.has(id))])]);
  t += columns([['  wave', 'tokens'].map((h) => c.bold(h)), ...Object.entries(u.byWave).map(([w, v]) => [`  ${w}`, n(v, lowWave.has(w))])]);
  t += columns([['  run', 'started', 'tokens'].map((h) => c.bold(h)), ...u.byRun.map((r) => [`  ${r.runId}`, r.startedAt.slice(0, 16).replace('T', ' '), n(r.tokens, !!r.lowerBound)])]);
  if (u.lowerBound.total) t += c.dim('  ≥: a failed Codex turn reports no usage; those figures count only the turns before it\n');
  return t;
}
