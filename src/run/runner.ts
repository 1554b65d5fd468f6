// What runs inside a pane: `dispatch exec-spec <id>`. It owns the verdict,
// so a pane that dies still leaves the truth in the state (never a shell
// one-liner `agent && mark-done || mark-failed`).
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { agentCommand, buildPrompt, usesDispatchWorktree } from '../agents/command.js';
import type { ResolvedConfig } from '../config/load.js';
import { DispatchError } from '../errors.js';
import { spawnAgent } from '../proc/launch.js';
import { findSpec, locateSpec } from '../specs/lookup.js';
import { extra, markRunning, setState, stateOf } from '../state/doc.js';
import { writeSignal } from '../state/signals.js';
import { withState } from '../state/store.js';
import { runnerPidFile } from './liveness.js';
import { logPath, runDirOf, workDirOf } from './paths.js';

export interface RunnerResult {
  id: string;
  state: 'done' | 'failed';
  reason?: string;
  exitCode: number | null;
}

export interface RunnerOptions {
  attempt?: number;
  pane?: string;
  signal: AbortSignal;
  /** Where the agent's output is shown besides the log (the pane). */
  echo?: (chunk: Buffer | string) => void;
}

/** Codex JSONL: `turn.failed` makes a run fail even when the process exits 0. */
export class CodexEvents {
  failure?: string;
  lastError?: string;
  private rest = '';
  push(chunk: string): void {
    const lines = (this.rest + chunk).split('\n');
    this.rest = lines.pop() ?? '';
    for (const l of lines) this.line(l);
  }
  end(): void {
    if (this.rest) this.line(this.rest);
    this.rest = '';
  }
  private line(l: string): void {
    if (!l.startsWith('{')) return;
    let ev: any;
    try {
      ev = JSON.parse(l);
    } catch {
      return;
    }
    if (ev?.type === 'turn.failed') this.failure = String(ev.error?.message ?? 'turn failed');
    else if (ev?.type === 'error' && ev.message) this.lastError = String(ev.message);
  }
}

export async function execSpec(config: ResolvedConfig, id: string, opts: RunnerOptions): Promise<RunnerResult> {
  const spec = findSpec(config, id);
  const files = locateSpec(config.specsDir, spec);
  const cwd = workDirOf(config, spec);
  const runDir = runDirOf(config, id);
  const log = logPath(config, id);
  mkdirSync(runDir, { recursive: true });
  mkdirSync(dirname(log), { recursive: true });
  writeFileSync(runnerPidFile(config.stateDir, id), `${process.pid} ${new Date().toISOString()}\n`);
  // Zellij names panes terminal_N (what `zellij run` printed and `close-pane -p` takes); its env has only N.
  const zellijPane = process.env.ZELLIJ_PANE_ID ? `terminal_${process.env.ZELLIJ_PANE_ID}` : undefined;
  const pane = opts.pane ?? zellijPane ?? process.env.TMUX_PANE ?? `pid:${process.pid}`;

  const attempt = await withState(config.stateDir, { command: 'exec-spec' }, (doc) => {
    const prev = doc.dispatch?.running[id];
    const n = opts.attempt ?? prev?.attempt ?? (doc.dispatch?.specs[id]?.attempts ?? 0) + 1;
    markRunning(doc, id, { pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), pane, attempt: n });
    extra(doc).specs[id]!.attempts = n;
    return n;
  });

  const out = createWriteStream(log, { flags: 'w' });
  const echo = opts.echo ?? ((c) => void process.stdout.write(c));
  const say = (text: string) => {
    out.write(text);
    echo(text);
  };
  say(`── dispatch: ${config.project} ${id}-${spec.name} · agent ${spec.agent} · attempt ${attempt} · ${new Date().toISOString()}\n`);

  let reason: string | undefined;
  let exitCode: number | null = null;
  let ok = false;
  try {
    if (usesDispatchWorktree(spec) && !existsSync(cwd)) throw new DispatchError(`worktree ${cwd} is missing`);
    if (!existsSync(files.specFile)) throw new DispatchError(`no spec.md at ${files.specFile}`);
    const cmd = agentCommand(config, spec, { specDir: files.dir, specFile: files.specFile, planFile: files.planFile, runDir, cwd }, attempt);
    const plan = existsSync(files.planFile) ? readFileSync(files.planFile, 'utf8') : undefined;
    const prompt = buildPrompt(spec, readFileSync(files.specFile, 'utf8'), plan);
    writeFileSync(join(runDir, 'prompt.md'), prompt);
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      ...cmd.env,
      DISPATCH_SPEC_ID: id,
      DISPATCH_PROJECT: config.project,
      DISPATCH_ATTEMPT: String(attempt),
    };
    let child;
    try {
      child = await spawnAgent(cmd.argv, { cwd: cmd.cwd, env, input: cmd.promptOnStdin ? prompt : undefined });
    } catch (err) {
      throw new DispatchError(`cannot start '${cmd.argv[0]}': ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (err as Error).message}`);
    }
    const events = cmd.codexEvents ? new CodexEvents() : undefined;
    // The line that says why: CLIs (clap, argparse) end with "try --help" after their `error:` line.
    let lastStderr = '';
    let errorLine = '';
    // clap-style CLIs (codex) end with usage lines; the `error:` line says what went wrong.
    let lastErrorLine = '';
    child.stdout!.on('data', (c: Buffer) => {
      out.write(c);
      echo(c);
      events?.push(c.toString('utf8'));
    });
    child.stderr!.on('data', (c: Buffer) => {
      out.write(c);
      echo(c);
      const lines = c.toString('utf8').split('\n').map((l) => l.trim()).filter(Boolean);
      if (lines.length) lastStderr = lines.at(-1)!;
      const errLine = lines.filter((l) => /^(error|fatal)\b/i.test(l)).at(-1);
      if (errLine) lastErrorLine = errLine;
    });
    // The pane closed (SIGHUP) or someone stopped us: stop the agent, then record it.
    const stop = () => {
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 3000).unref();
    };
    opts.signal.addEventListener('abort', stop, { once: true });
    const [code, sig] = await new Promise<[number | null, NodeJS.Signals | null]>((res) => child.on('close', (c, s) => res([c, s])));
    opts.signal.removeEventListener('abort', stop);
    events?.end();
    exitCode = code;
    if (opts.signal.aborted) reason = `interrupted (${String(opts.signal.reason ?? 'signal')}${opts.signal.reason === 'SIGHUP' ? ': pane closed' : ''})`;
    else if (events?.failure) reason = `turn.failed: ${events.failure}`;
    else if (code === 0) ok = true;
    else if (sig) reason = `agent killed by ${sig}`;
    else {
      const why = lastErrorLine || lastStderr;
      reason = `agent exited with code ${code}${why ? `: ${why.slice(0, 300)}` : ''}`;
    }
  } catch (err) {
    reason = (err as Error).message;
  }

  const state = ok ? 'done' : 'failed';
  await withState(config.stateDir, { command: 'exec-spec', reason }, (doc) => {
    const running = doc.dispatch?.running[id];
    // Another runner took this spec over (relaunched after we were given up for lost): its verdict counts.
    if (running && running.pid !== process.pid && running.pid !== 0 && stateOf(doc, id) === 'running') return;
    setState(doc, id, state, reason);
    // Auto-Claude's --isolated builds in its own worktree: that work waits for `dispatch merge` just the same.
    if (ok && spec.mode === 'isolated') extra(doc).specs[id]!.awaitingMerge = true;
  });
  writeSignal(config.signalDir, config.project, state, id, reason ? `${reason}\n` : '');
  say(`── dispatch: ${id} ${state}${reason ? `: ${reason}` : ''}\n`);
  await new Promise<void>((res) => out.end(res));
  return { id, state, reason, exitCode };
}
