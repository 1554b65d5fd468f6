// What runs inside a pane: `dispatch exec-spec <id>`. It owns the verdict,
// so a pane that dies still leaves the truth in the state (never a shell
// one-liner `agent && mark-done || mark-failed`).
import { createWriteStream, existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { buildPrompt } from '../agents/command.js';
import type { AgentEvents } from '../agents/types.js';
import type { QaOutcome } from '../agents/auto-claude-qa.js';
import { driverOf, findDriver } from '../agents/registry.js';
import type { ResolvedConfig, ResolvedSpec } from '../config/types.js';
import { DispatchError } from '../errors.js';
import { spawnAgent } from '../proc/launch.js';
import { specById } from '../config/spec-index.js';
import { gitAfter, gitBefore, type GitBefore, type GitEvidence } from '../attempt/evidence.js';
import { requireChangesOf, runVerify, verifyCommandsOf, type VerifyResult } from '../attempt/verify.js';
import { evidenceLine, evidenceVars } from '../attempt/evidence-line.js';
import { findSpec, locateSpec } from '../specs/lookup.js';
import { extra, markRunning, own, recordAgentGroup, recordVerdict, stateOf, type AgentGroup, type AttemptRecord, type StateDoc, type VerdictKind, closeLaunch, nextLaunchNumber } from '../state/doc.js';
import { AGENT_TOKEN_VAR, groupAlive, signalGroup, stopGroup } from '../proc/group.js';
import { readState, withState } from '../state/store.js';
import { signalVerdict, verdictHook } from '../attempt/hooks.js';
import { isRunner, runnerPidFile } from '../attempt/liveness.js';
import { takeRunnerEnv } from '../attempt/runner-env.js';
import { agentToken, writeAgentFile } from '../attempt/agent-file.js';
import { attemptLogPath, logPath, runDirOf, workDirOf } from '../attempt/paths.js';
import { previousFailure } from '../attempt/previous-failure.js';
import { usesDispatchWorktree } from '../agents/command.js';
import { agentOutcome, blameLimit, judge, settle, type AgentExit, type Verdict } from '../attempt/verdict.js';

export type { Verdict } from '../attempt/verdict.js';

export interface RunnerResult {
  id: string;
  state: Verdict;
  kind: VerdictKind;
  reason?: string;
  exitCode: number | null;
}

/** The runner was started for a spec that is no longer its to run (decided by hand, or another runner has it). */
export class NotMineError extends DispatchError {
  constructor(id: string, why: string) {
    super(`not starting ${id}: ${why}`, { hint: "see 'dispatch status'" });
    this.name = 'NotMineError';
  }
}

/** How long what an agent left behind (its process group) may outlive it before it is ended. */
const LEFTOVER_GRACE_MS = 1000;

export interface RunnerOptions {
  pane?: string;
  signal: AbortSignal;
  /** Where the agent's output is shown besides the log (the pane). */
  echo?: (chunk: Buffer | string) => void;
}

export type { Tokens } from '../agents/types.js';
export { CodexEvents } from '../agents/codex.js';

/** Keeps the last `max` characters of a stream of text. */
class Tail {
  text = '';
  constructor(private max = 64 * 1024) {}
  push(s: string): void {
    this.text += s;
    if (this.text.length > this.max * 2) this.text = this.text.slice(-this.max);
  }
  lines(n: number): string {
    return this.text.slice(-this.max).split('\n').slice(-n).join('\n');
  }
}

function rateLimitPatterns(config: ResolvedConfig, spec: ResolvedSpec): string[] {
  return findDriver(config, spec.agent)?.rateLimitPatterns(config) ?? [];
}

/** Other direct specs running in the project's tree now (their changes would mix with this one's). */
function othersInTree(config: ResolvedConfig, doc: StateDoc, id: string, since: string): boolean {
  const byId = specById(config);
  for (const other of Object.keys(doc.dispatch?.running ?? {})) if (other !== id && byId.get(other)?.mode === 'direct') return true;
  // And those that started and ended while this one ran (an open entry counts: it may still be at work).
  for (const [other, rec] of Object.entries(doc.dispatch?.specs ?? {})) {
    if (other === id || byId.get(other)?.mode !== 'direct') continue;
    if (rec.history?.some((h) => (h.endedAt ?? '9') >= since)) return true;
  }
  return false;
}

/** A failed Codex turn reports no usage: what the earlier turns reported is then a lower bound. */
function tokensOf(events: AgentEvents | undefined): Pick<AttemptRecord, 'tokens' | 'costUsd'> {
  if (!events || (!events.tokens && !events.failure)) return {};
  return {
    tokens: { ...(events.tokens ?? { input: 0, cachedInput: 0, output: 0, total: 0 }), ...(events.failure ? { lowerBound: true } : {}) },
    // What the agent itself says the work cost (Claude Code's total_cost_usd).
    ...(events.costUsd !== undefined ? { costUsd: events.costUsd } : {}),
  };
}

export async function execSpec(config: ResolvedConfig, id: string, opts: RunnerOptions): Promise<RunnerResult> {
  // First, before anything that can fail: the environment `run` left (it may hold API keys) leaves the disk.
  const passedEnv = takeRunnerEnv(config, id);
  const spec = findSpec(config, id);
  const files = locateSpec(config.specsDir, spec);
  const cwd = workDirOf(config, spec);
  const runDir = runDirOf(config, id);
  mkdirSync(runDir, { recursive: true });
  mkdirSync(dirname(logPath(config, id)), { recursive: true });
  writeFileSync(runnerPidFile(config.stateDir, id), `${process.pid} ${new Date().toISOString()}\n`);
  // Zellij names panes terminal_N (what `zellij run` printed and `close-pane -p` takes); its env has only N.
  const zellijPane = process.env.ZELLIJ_PANE_ID ? `terminal_${process.env.ZELLIJ_PANE_ID}` : undefined;
  const pane = opts.pane ?? zellijPane ?? process.env.TMUX_PANE ?? `pid:${process.pid}`;
  const startedAt = new Date().toISOString();

  const start = await withState(config.stateDir, { command: 'exec-spec' }, (doc) => {
    const prev = own(doc.dispatch?.running, id);
    // `run` marks a spec launching before it opens the pane. If it is not launching now, someone decided
    // meanwhile (mark-done, stop, reset): their word stands. A live runner already on it: never two agents.
    if (!prev) return { mine: false as const, why: `it is ${stateOf(doc, id)} now` };
    if (prev.pid > 0 && prev.pid !== process.pid && isRunner(prev.pid, id)) return { mine: false as const, why: `runner pid ${prev.pid} is already running it` };
    const x = extra(doc);
    const history = [...(x.specs[id]?.history ?? [])];
    // The launch `run` numbered and opened in the history; a runner started some other way (an older
    // dispatch, by hand) opens its own.
    const opened = prev.attempt !== undefined ? history.find((h) => h.n === prev.attempt && !h.endedAt) : undefined;
    const n = opened?.n ?? nextLaunchNumber(doc, id);
    const earlier = history.filter((h) => h.n !== n);
    const before = previousFailure(config, id, earlier);
    markRunning(doc, id, { pid: process.pid, host: hostname(), startedAt, pane, attempt: n, ...(prev?.runId ? { runId: prev.runId } : {}) });
    const rec = x.specs[id]!;
    if (!opened) {
      rec.attempts = (rec.attempts ?? 0) + 1;
      rec.history = [...history, { n, startedAt, ...(prev?.runId ? { runId: prev.runId } : {}), wave: spec.wave }];
    }
    return { mine: true as const, n, before, runId: prev?.runId, rateLimits: earlier.filter((h) => h.state === 'rate-limited').length };
  });
  if (!start.mine) throw new NotMineError(id, start.why);
  // Every launch is numbered once, in the spec's history: the log, the header, DISPATCH_ATTEMPT and {attempt} say that number.
  const { n, runId } = start;
  const attempt = n;

  // Every attempt keeps its own log; <id>.log is the latest (a hard link, so `logs` follows it live).
  const attemptLog = attemptLogPath(config, id, n);
  const out = createWriteStream(attemptLog, { flags: 'w' });
  await new Promise((res) => out.once('open', res));
  // A log that cannot be written (a full disk) must not take the runner, and with it the verdict, down:
  // the log stops, once, saying why in the pane, and the attempt goes on to its verdict.
  out.once('error', (e: NodeJS.ErrnoException) => {
    out.on('error', () => {});
    (opts.echo ?? ((c: string) => void process.stdout.write(c)))(`\n── dispatch: the log ${attemptLog} stopped here: ${e.code === 'ENOSPC' ? 'the disk is full' : e.message}\n`);
  });
  try {
    const tmp = `${logPath(config, id)}.${process.pid}.tmp`;
    rmSync(tmp, { force: true });
    linkSync(attemptLog, tmp);
    renameSync(tmp, logPath(config, id));
  } catch {
    // a file system without hard links: the attempt log is still there
  }
  // logs.keep: only the newest launches' logs stay (this one counts).
  const keep = config.logs.keep;
  if (keep) for (let k = n - keep; k >= 1; k--) rmSync(attemptLogPath(config, id, k), { force: true });
  const echo = opts.echo ?? ((c) => void process.stdout.write(c));
  const say = (text: string) => {
    out.write(text);
    echo(text);
  };
  say(`── dispatch: ${config.project} ${id}-${spec.name} · agent ${spec.agent} · attempt ${n} · ${startedAt}\n`);

  let reason: string | undefined;
  let kind: VerdictKind = 'agent-failed';
  let exitCode: number | null = null;
  let exitSignal: string | undefined;
  // Evidence for the verdict, kept in the attempt's history entry.
  let gitEv: GitEvidence | undefined;
  let verifyRan: VerifyResult[] | undefined;
  // When the checks ran: a span of the run's timeline, in the journal.
  let verifySpan: { from: string; until?: string; ok?: boolean } | undefined;
  let gitStart: GitBefore | undefined;
  let qaStatus: string | undefined;
  // What dispatch itself writes during an attempt: never counted as the agent's changes.
  const ownFiles = [config.stateDir, config.worktreesDir, config.signalDir];
  let ok = false;
  let events: AgentEvents | undefined;
  const stderrTail = new Tail();
  const stdoutTail = new Tail();
  let agentGroup: AgentGroup | undefined;
  try {
    kind = 'launch-error';
    if (usesDispatchWorktree(spec) && !existsSync(cwd)) throw new DispatchError(`worktree ${cwd} is missing`);
    if (!existsSync(files.specFile)) throw new DispatchError(`no spec.md at ${files.specFile}`);
    const driver = driverOf(config, spec.agent, spec.id);
    const cmd = driver.command(config, spec, { specDir: files.dir, specFile: files.specFile, planFile: files.planFile, runDir, cwd }, attempt);
    const plan = existsSync(files.planFile) ? readFileSync(files.planFile, 'utf8') : undefined;
    let prompt = buildPrompt(spec, readFileSync(files.specFile, 'utf8'), plan);
    if (start.before) {
      prompt += `\n---\n\n# The previous attempt failed\n\nThe previous attempt failed because: ${start.before.reason}\n`;
      const check = start.before.check;
      if (check) prompt += `\nThe previous attempt's work failed this check: \`${check.command}\`\n${check.tail ? `\n\`\`\`\n${check.tail}\n\`\`\`\n` : ''}`;
      if (start.before.logTail) prompt += `\nThe end of its output:\n\n\`\`\`\n${start.before.logTail}\n\`\`\`\n`;
      prompt += '\nAvoid that failure this time.\n';
    }
    writeFileSync(join(runDir, 'prompt.md'), prompt);
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      ...passedEnv,
      ...cmd.env,
      DISPATCH_SPEC_ID: id,
      DISPATCH_PROJECT: config.project,
      DISPATCH_ATTEMPT: String(attempt),
    };
    // The tree as the agent finds it (Auto-Claude's isolated builds happen in its own worktree: not ours to judge).
    if (!(spec.mode === 'isolated' && driver.ownIsolation)) gitStart = await gitBefore(cwd, ownFiles);
    let child;
    let spawned;
    // Refused if the pane was closed or the spec stopped while we prepared: no agent starts unwatched.
    if (opts.signal.aborted) {
      kind = 'interrupted';
      throw new DispatchError(`interrupted (${String(opts.signal.reason ?? 'signal')}) before the agent started`);
    }
    try {
      env[AGENT_TOKEN_VAR] = agentToken(config, id);
      spawned = await spawnAgent(cmd.argv, { cwd: cmd.cwd, env, input: cmd.promptOnStdin ? prompt : undefined, onGroup: (g) => writeAgentFile(config, id, g) });
      child = spawned.child;
    } catch (err) {
      throw new DispatchError(`cannot start '${cmd.argv[0]}': ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (err as Error).message}`);
    }
    kind = 'agent-failed';
    // Listened for before anything awaits: an agent that exits at once must not exit unheard.
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((res) => child.once('exit', (c, s) => res([c, s])));
    const closed = Promise.all([new Promise((r) => child.stdout!.once('close', r)), new Promise((r) => child.stderr!.once('close', r))]);
    agentGroup = spawned.group ?? { pgid: child.pid! };
    const group = agentGroup;
    events = cmd.events?.();
    // The line that says why: CLIs (clap, argparse) end with "try --help" after their `error:` line.
    let lastStderr = '';
    let lastStdout = '';
    let errorLine = '';
    // An error line, on either stream: Auto-Claude (and many scripts) print their errors on stdout.
    const ERROR_LINE = /^(error|fatal)\b|Error:|^\u2717|^\u274c/i; // ✗ ❌, escaped: one character beyond Latin-1 makes the whole bundle a two-byte string
    child.stdout!.on('data', (c: Buffer) => {
      out.write(c);
      echo(c);
      const t = c.toString('utf8');
      events?.push(t);
      if (events) return;
      stdoutTail.push(t);
      const lines = t.split('\n').map((l) => l.trim()).filter(Boolean);
      if (lines.length) lastStdout = lines.at(-1)!;
      errorLine = lines.filter((l) => ERROR_LINE.test(l)).at(-1) ?? errorLine;
    });
    child.stderr!.on('data', (c: Buffer) => {
      out.write(c);
      echo(c);
      const t = c.toString('utf8');
      stderrTail.push(t);
      const trimmed = t.trim();
      if (trimmed) {
        const lines = trimmed.split('\n');
        lastStderr = lines.at(-1)!;
        errorLine = lines.filter((l) => ERROR_LINE.test(l.trim())).at(-1) ?? errorLine;
      }
    });
    // The pane closed (SIGHUP) or someone stopped us: stop the agent, then record it.
    // Signalled through its recorded identity: 3 s on, the number may belong to someone else.
    const stop = () => {
      signalGroup(group, 'SIGTERM');
      setTimeout(() => signalGroup(group, 'SIGKILL'), 3000).unref();
    };
    if (opts.signal.aborted) stop();
    else opts.signal.addEventListener('abort', stop, { once: true });
    // On record now: if this runner dies, whoever notices stops the agent's whole group.
    await withState(config.stateDir, { command: 'exec-spec' }, (doc) => recordAgentGroup(doc, id, process.pid, group));
    // 'exit', not 'close': a background process the agent left behind (a dev server) may hold
    // its output open for ever. The pipes get a moment to drain, then the verdict is taken.
    const [code, sig] = await exited;
    exitSignal = sig ?? undefined;
    await Promise.race([
      closed,
      new Promise((r) => setTimeout(r, 500)),
    ]);
    child.stdout!.destroy();
    child.stderr!.destroy();
    opts.signal.removeEventListener('abort', stop);
    events?.end();
    exitCode = code;
    // What the agent left running (a dev server, a native binary behind a wrapper) ends before the verdict:
    // a relaunch must never find a second agent at work in the same folder.
    if (groupAlive(group)) {
      await new Promise((r) => setTimeout(r, LEFTOVER_GRACE_MS));
      if (!(await stopGroup(group))) say(`── dispatch: processes of process group ${group.pgid} did not stop\n`);
    }
    const agent: AgentExit = {
      ...(opts.signal.aborted ? { abort: { reason: opts.signal.reason } } : {}),
      codexFailure: events?.failure, ...(events?.failureLabel ? { failureLabel: events.failureLabel } : {}), exitCode: code, signal: exitSignal, errorLine, lastStderr, lastStdout,
    };
    // Decided now, not after the evidence: if gathering it throws, the verdict is the exit's.
    ({ ok, kind, reason } = agentOutcome(agent));
    // An exit code is a claim; what the tree and the checks say is the evidence.
    if (gitStart) {
      gitEv = await gitAfter(cwd, gitStart, ownFiles);
      // Shared: another direct spec ran in this tree at any moment of this attempt (not only at its start or end).
      if (gitEv && spec.mode === 'direct' && othersInTree(config, readState(config.stateDir), id, startedAt)) gitEv.shared = true;
    }
    // An agent with a sign-off of its own (Auto-Claude exits 0 whatever its QA concluded): that is the evidence.
    let qa: QaOutcome | undefined;
    if (ok && driver.signOff) {
      qa = driver.signOff(files.dir, Date.parse(startedAt));
      qaStatus = qa.status;
    }
    const requireChanges = requireChangesOf(config, spec);
    ({ ok, kind, reason } = judge({ agent, qa, git: gitEv, requireChanges }));
    if (ok && !gitStart && requireChanges) say(`── dispatch: changes not checked (requireChanges): ${cwd} is not in a git repository\n`);
    if (ok && verifyCommandsOf(config, spec).length) {
      verifySpan = { from: new Date().toISOString() };
      const v = await runVerify(config, spec, { paths: { specDir: files.dir, specFile: files.specFile, planFile: files.planFile, runDir, cwd }, attempt, env, signal: opts.signal, say, onGroup: (g) => writeAgentFile(config, id, g) });
      verifyRan = v.ran;
      verifySpan.until = new Date().toISOString();
      verifySpan.ok = !v.failed;
      const verify = { failed: !!v.failed, reason: v.reason, ...(opts.signal.aborted ? { abort: { reason: opts.signal.reason } } : {}) };
      ({ ok, kind, reason } = judge({ agent, qa, git: gitEv, requireChanges, verify }));
    }
  } catch (err) {
    reason = (err as Error).message;
  }

  // A failure the agent blamed on a rate limit waits and is relaunched instead; one blamed on its quota
  // is final (never relaunched, and the run stops launching that agent).
  // Codex speaks in events, so only its error events count (not code it printed): what failed the turn
  // first (an earlier transient `error` event may mention a 429 it survived).
  const said = events ? (events.failure ?? `${events.lastError ?? ''}\n${stderrTail.lines(20)}`) : `${stdoutTail.lines(30)}\n${stderrTail.lines(30)}`;
  const blamed = blameLimit({ ok, kind, reason }, { aborted: opts.signal.aborted, exitCode, said, patterns: rateLimitPatterns(config, spec), now: new Date() });
  ({ kind, reason } = blamed.outcome);
  const { limit } = blamed;

  let verdict = (ok ? 'done' : 'failed') as Verdict;
  let until: Date | undefined;
  const endedAt = new Date().toISOString();
  const evidence: Pick<AttemptRecord, 'exit' | 'verify' | 'git' | 'qa'> = {
    ...(exitCode !== null || exitSignal ? { exit: { ...(exitCode !== null ? { code: exitCode } : {}), ...(exitSignal ? { signal: exitSignal } : {}) } } : {}),
    ...(verifyRan ? { verify: verifyRan } : {}),
    ...(qaStatus ? { qa: qaStatus } : {}),
    ...(gitEv ? { git: gitEv } : {}),
  };
  const runEvents = verifySpan ? [{ event: 'verify', ...(runId ? { run: runId } : {}), spec: id, attempt: n, from: verifySpan.from, until: verifySpan.until ?? endedAt, ok: verifySpan.ok ?? false }] : undefined;
  const applied = await withState(config.stateDir, { command: 'exec-spec', reason, ...(runEvents ? { runEvents } : {}) }, (doc) => {
    const running = own(doc.dispatch?.running, id);
    // Someone decided while we ran (mark-done, skip, reset by hand) or another runner took over:
    // their word stands; this attempt is only closed in the history.
    if (running?.pid !== process.pid) {
      closeLaunch(doc, id, n, { endedAt, state: ok ? 'done' : 'failed', kind, ...(reason ? { reason } : {}) });
      return false;
    }
    const rec = own(doc.dispatch?.specs, id);
    // A stop asked for (a stalled agent by `run`, `dispatch stop` by hand) names its own reason and kind.
    ({ verdict, kind, reason, until } = settle({ ok, kind, reason }, {
      limit, rateLimits: start.rateLimits, retry: config.retry,
      stopReason: rec?.stopReason, stopKind: rec?.stopKind as VerdictKind | undefined, now: new Date(),
    }));
    recordVerdict(doc, id, n, { state: verdict, kind, ...(reason ? { reason } : {}), ...(until ? { until: until.toISOString() } : {}), agent: spec.agent, awaitingMerge: ok && spec.mode === 'isolated' }, {
      endedAt, ...tokensOf(events), ...evidence, runner: process.pid,
    });
    return true;
  });
  if (applied) {
    // Said when there is more to say than the exit code (checks, git, Auto-Claude's QA).
    if (evidence.verify || evidence.git || evidence.qa) say(`── dispatch: evidence: ${evidenceLine(evidence, config.verifyTimeoutSeconds)}\n`);
    const told = { state: verdict, kind, reason };
    const signalProblem = await signalVerdict(config, id, told);
    if (signalProblem) say(`── dispatch: ${signalProblem}\n`);
    // The verdict's line is in the log before its hook runs (a hook may read the log).
    say(`── dispatch: ${id} ${verdict}${reason ? `: ${reason}` : ''}${until ? ` — relaunch after ${until.toISOString()}` : ''}\n`);
    const h = await verdictHook(config, id, told, { ATTEMPT: attempt, ...evidenceVars({ ...evidence, ...tokensOf(events) }), LOG: attemptLog, RETRY_AT: until?.toISOString() });
    if (h && !h.ok) say(`── dispatch: hook ${h.hook} failed: ${h.error}\n`);
  }
  await new Promise<void>((res) => out.end(res));
  return { id, state: verdict, kind, reason, exitCode };
}


