// What dispatch does on an SSH host, asked over ssh by the dispatcher
// (`dispatch remote <verb>`): receive the commit to start from, set up and
// start a run in a tmux session, report the runs, stop, read and clean them.
// Each answer is JSON on stdout. The host never writes the project's state:
// a run's runner keeps a private one in its folder and leaves result.json.
import { existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { ResolvedConfig } from '../config/types.js';
import { DispatchError, UsageError } from '../errors.js';
import { capture, spawnDetached, type Argv } from '../proc/launch.js';
import { pidIs } from '../proc/identity.js';
import { stopGroup } from '../proc/group.js';
import { markRunning, own, requestStop, type StateDoc, type VerdictKind } from '../state/doc.js';
import { readState, withState } from '../state/store.js';
import { writeFileAtomic } from '../util/write-atomic.js';
import { sessionOf } from '../executors/ssh/hosts.js';
import { formatLiteral, tmuxArg } from '../executors/tmux.js';
import { remoteTmuxSocket, hostBranchOf, jobFile, resultFile, runDir, runnerPidFile, runsDir, sessionFile, stopMarkOf, worktreeOf, type Job, type PolledRun, type RunResult, type StartPayload } from '../executors/ssh/wire.js';
import { attemptLogPath, logsDirOf } from '../attempt/paths.js';

const LABEL = /^[A-Za-z0-9._-]+$/;
const SHA = /^[0-9a-f]{40,64}$/;
/** The last commit a dispatcher sent this checkout. */
const RECEIVED_REF = 'refs/dispatch/received';
const git = (dir: string, ...args: string[]): Argv => ['git', '-C', dir, ...args];

/** A run's folder name: never `.` or `..` (the runs folder itself, or the project's: a cleanup would remove it). */
const isLabel = (label: string | undefined): label is string => !!label && LABEL.test(label) && !/^\.+$/.test(label);

function checkLabel(label: string | undefined): string {
  if (!isLabel(label)) throw new UsageError(`not a run label: ${JSON.stringify(label)}`, 'labels are <project>-<id>-<attempt>');
  return label;
}

async function gitOk(dir: string, ...args: string[]): Promise<string> {
  const r = await capture(git(dir, ...args), { timeoutMs: 0 });
  if (r.exitCode !== 0) throw new DispatchError(`git ${args[0]} failed in ${dir}: ${(r.failedToStart ?? (r.stderr || r.stdout)).trim().split('\n')[0] || `exit ${r.exitCode}`}`);
  return r.stdout.trim();
}

/** The checkout exists (made with `git init` when missing); whether it has `sha`, and else its ref tips to send less. */
export async function prepare(dir: string, sha: string): Promise<{ have: boolean; tips: string[] }> {
  if (!SHA.test(sha)) throw new UsageError(`not a commit id: ${JSON.stringify(sha)}`);
  if (!existsSync(join(dir, '.git'))) {
    mkdirSync(dir, { recursive: true });
    await gitOk(dir, 'init', '-q');
  }
  const has = await capture(git(dir, 'cat-file', '-e', `${sha}^{commit}`));
  if (has.exitCode === 0) return { have: true, tips: [] };
  const refs = await capture(git(dir, 'for-each-ref', '--format=%(objectname)'));
  return { have: false, tips: [...new Set(refs.stdout.split('\n').filter((l) => SHA.test(l)))] };
}

/** Fetches the bundle on stdin (its one head is the commit to start from) into the checkout. */
export async function receive(dir: string, bundle: Buffer): Promise<{ received: string }> {
  const file = join(tmpdir(), `dispatch-bundle-${process.pid}-${Date.now()}`);
  writeFileSync(file, bundle, { mode: 0o600 });
  try {
    const heads = await gitOk(dir, 'bundle', 'list-heads', file);
    const sha = heads.split(/\s+/)[0] ?? '';
    await gitOk(dir, 'fetch', '-q', file, 'HEAD');
    // Kept reachable by a ref: `prepare` names ref tips to be sent only what comes after them, and
    // without one the next launch (its run's branch cleaned away) would be sent the whole history again.
    if (SHA.test(sha)) await gitOk(dir, 'update-ref', RECEIVED_REF, sha);
    return { received: sha };
  } finally {
    rmSync(file, { force: true });
  }
}

/** The run's own config: the dispatcher's, its paths in the run's folder, the spec working in its worktree. */
function jobConfig(p: StartPayload, run: string, worktree: string): ResolvedConfig {
  const spec = p.config.specs.find((s) => s.id === p.id);
  if (!spec) throw new UsageError(`spec ${p.id} is not in the config sent`);
  return {
    ...p.config,
    configPath: jobFile(run),
    rootDir: worktree,
    stateDir: join(run, 'state'),
    specsDir: join(run, 'specs'),
    signalDir: join(run, 'signals'),
    worktreesDir: join(run, 'worktrees'),
    // Hooks run where the verdict is recorded: on the dispatcher's machine.
    hooks: { timeoutSeconds: p.config.hooks.timeoutSeconds },
    // The worktree is the isolation: the agent works in it directly.
    specs: [{ ...spec, mode: 'direct' }],
  } as ResolvedConfig;
}

/** This dispatch, by absolute paths, as the runner's command. */
function selfArgv(): Argv {
  let script = process.argv[1]!;
  try {
    script = realpathSync(script);
  } catch {
    // as given
  }
  return [process.execPath, script];
}

const tmux = (...args: string[]): Argv => ['tmux', '-L', remoteTmuxSocket(), ...args];

/** Sets up a run (worktree at the base commit, its folder, the private state) and starts its runner. */
export async function start(base: string, dir: string, p: StartPayload): Promise<{ label: string; pane: string; worktree: string } | { need: string[] }> {
  const label = checkLabel(p.label);
  // '.' and ':' would make tmux read a window or pane in the name.
  if (p.session !== undefined && !/^[A-Za-z0-9_-]+$/.test(p.session)) throw new UsageError(`not a session name: ${JSON.stringify(p.session)}`);
  const session = p.session ?? sessionOf(label);
  // The commit to start from: when the host lacks it, it says what it has, to be sent only the rest.
  const commit = await prepare(dir, p.base);
  if (!commit.have) return { need: commit.tips };
  const run = runDir(base, label);
  if (existsSync(run)) throw new DispatchError(`run ${label} already exists on this host`, { hint: 'a launch is never repeated under the same attempt number' });
  const wt = worktreeOf(base, p.id);
  // Named by the project's folder here: two checkouts of one project never share a branch.
  const branch = hostBranchOf(basename(base), p.id);
  // A worktree an earlier attempt left here is dispatch's own (under .dispatch/): the new attempt starts afresh.
  if (existsSync(wt)) {
    await capture(git(dir, 'worktree', 'remove', '--force', wt), { timeoutMs: 0 });
    rmSync(wt, { recursive: true, force: true });
  }
  await capture(git(dir, 'worktree', 'prune'));
  mkdirSync(join(base, 'worktrees'), { recursive: true });
  await gitOk(dir, 'worktree', 'add', '-q', '-f', '-B', branch, wt, p.base);
  mkdirSync(run, { recursive: true, mode: 0o700 });
  const config = jobConfig(p, run, wt);
  const spec = config.specs[0]!;
  const job: Job = { label, id: p.id, attempt: p.attempt, ...(p.runId ? { runId: p.runId } : {}), host: p.host, base: p.base, project: p.config.project, branch, worktree: wt, config };
  writeFileAtomic(jobFile(run), JSON.stringify(job));
  const folder = join(config.specsDir, `${spec.id}-${spec.name}`);
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'spec.md'), p.files.spec);
  if (p.files.plan !== undefined) writeFileSync(join(folder, 'plan.md'), p.files.plan);
  if (p.files.previousLog) {
    mkdirSync(logsDirOf(config), { recursive: true });
    writeFileSync(attemptLogPath(config, p.id, p.files.previousLog.n), p.files.previousLog.text);
  }
  // The launch as the dispatcher recorded it: the runner finds it open, numbered, and takes it.
  await withState(config.stateDir, { command: 'remote-start' }, (doc: StateDoc) => {
    markRunning(doc, p.id, { pid: 0, host: p.host, startedAt: p.startedAt, attempt: p.attempt, ...(p.runId ? { runId: p.runId } : {}) });
    doc.dispatch!.specs[p.id] = { ...structuredClone(p.record) };
  });
  // Stopped while this start was on its way: nothing starts, and the run says so for the dispatcher to collect.
  const stopped = stopMarkIn(base, label);
  if (stopped) {
    writeFileAtomic(resultFile(run), JSON.stringify({ id: p.id, attempt: p.attempt, ...(p.runId ? { runId: p.runId } : {}), state: 'failed', kind: stopped.kind, reason: stopped.reason, endedAt: new Date().toISOString() } satisfies RunResult));
    throw new DispatchError(`run ${label} was stopped before it started (${stopped.reason})`);
  }
  const { writeRunnerEnvValues } = await import('../attempt/runner-env.js');
  writeRunnerEnvValues(config, p.id, p.env);
  const argv: Argv = [...selfArgv(), 'remote-run', '--', run];
  const has = await capture(['tmux', '-V']);
  if (has.exitCode === 0) {
    // tmux expands formats (`#(...)` runs a command) in -c: the folder goes through as a literal.
    let r = await capture(tmux('new-session', '-d', '-s', session, '-c', formatLiteral(wt), '--', ...argv.map(tmuxArg)));
    // A client that reaches the tmux server just as its last session closes is told "server exited
    // unexpectedly" and nothing starts: tried again (a few times, briefly) while the session is not there.
    for (let i = 0; i < 4 && r.exitCode !== 0 && (await capture(tmux('has-session', '-t', `=${session}`))).exitCode !== 0; i++) {
      await new Promise((res) => setTimeout(res, 100 * (i + 1)));
      r = await capture(tmux('new-session', '-d', '-s', session, '-c', formatLiteral(wt), '--', ...argv.map(tmuxArg)));
    }
    if (r.exitCode !== 0) throw new DispatchError(`tmux could not start run ${label}: ${(r.stderr || r.stdout).trim() || `exit ${r.exitCode}`}`);
    // Only now is the session known to be this run's: a name tmux refused (taken) is never recorded, so never ended.
    writeFileAtomic(sessionFile(run), session);
    return { label, pane: `tmux:${session}`, worktree: wt };
  }
  const pid = await spawnDetached(argv, { cwd: wt });
  return { label, pane: `pid:${pid}`, worktree: wt };
}

const readJson = <T>(file: string): T | undefined => {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
};

/** The runner of a run folder: alive, and truly ours (not a process that reused its pid). */
export function runnerOf(run: string): { pid: number; alive: boolean } | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(runnerPidFile(run), 'utf8').trim().split(' ')[0]);
  } catch {
    return undefined;
  }
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  // Its folder as the runner was given it, or the same folder reached another way (a link on the path).
  const real = realOr(run);
  return { pid, alive: pidIs(pid, (argv) => argv.includes('remote-run') && (argv.at(-1) === run || realOr(argv.at(-1) ?? '') === real)) };
}

/** The run's branch here (a run of an older version: named by the project alone). */
const branchOf = (job: Job) => job.branch ?? hostBranchOf(job.project, job.id);

const realOr = (p: string) => {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
};

const logOf = (job: Job) => attemptLogPath(job.config, job.id, job.attempt);

/** Every run of this project on the host. */
export function poll(base: string): { runs: PolledRun[] } {
  let labels: string[] = [];
  try {
    labels = readdirSync(runsDir(base)).filter(isLabel);
  } catch {
    return { runs: [] };
  }
  const runs: PolledRun[] = [];
  for (const label of labels) {
    const run = runDir(base, label);
    const job = readJson<Job>(jobFile(run));
    if (!job) continue;
    // Alive first, then the result: a runner writes its result before it exits, so "dead and no result" means it died.
    const runner = runnerOf(run);
    const result = readJson<RunResult>(resultFile(run));
    let logSize = 0;
    try {
      logSize = statSync(logOf(job)).size;
    } catch {
      // no output yet
    }
    let since = 0;
    try {
      since = statSync(run).mtimeMs;
    } catch {
      // removed meanwhile
    }
    runs.push({ label, id: job.id, attempt: job.attempt, ...(job.runId ? { runId: job.runId } : {}), ...(runner ? { alive: runner.alive, pid: runner.pid } : {}), logSize, ...(result ? { result } : {}), since });
  }
  return { runs };
}

function jobOf(base: string, label: string): { run: string; job: Job } {
  const run = runDir(base, checkLabel(label));
  const job = readJson<Job>(jobFile(run));
  if (!job) throw new DispatchError(`no run ${label} on this host`);
  return { run, job };
}

/**
 * Stops a run. `ask`: the runner is told why (kept in its private state, so its verdict says it) and
 * asked to stop; it stops its agent and records. `kill`: the agent's group and the runner end now.
 * `discard`: then its folder goes too (its result will never count).
 */
export async function stop(base: string, label: string, opts: { reason?: string; kind?: string; kill?: boolean; discard?: boolean }): Promise<{ stopped: boolean; started: boolean }> {
  checkLabel(label);
  // First the mark, then the look for the run: a start that makes its folder after this look finds the mark.
  if (!opts.discard) {
    mkdirSync(join(base, 'stopped'), { recursive: true });
    writeFileAtomic(stopMarkOf(base, label), JSON.stringify({ reason: opts.reason ?? STOPPED_REASON, kind: opts.kind ?? 'interrupted' }));
  }
  if (!existsSync(jobFile(runDir(base, label)))) {
    if (opts.discard) rmSync(stopMarkOf(base, label), { force: true });
    return { stopped: true, started: false };
  }
  const { run, job } = jobOf(base, label);
  if (opts.reason) {
    const reason = opts.reason;
    await withState(job.config.stateDir, { command: 'remote-stop' }, (doc) => {
      if (own(doc.dispatch?.specs, job.id)) requestStop(doc, job.id, reason, (opts.kind ?? 'interrupted') as VerdictKind);
    }).catch(() => undefined);
  }
  const runner = runnerOf(run);
  if (opts.kill) {
    // Decided while its runner still lives (ending the runner ends the session, and with it the proof).
    const session = await ownSession(run, label);
    const doc = readState(job.config.stateDir);
    const group = own(doc.dispatch?.running, job.id)?.agent;
    if (group) await stopGroup(group);
    const { agentOnFile } = await import('../attempt/agent-file.js');
    const onFile = runner ? agentOnFile(job.config, job.id, runner.pid) : undefined;
    if (onFile) await stopGroup(onFile);
    if (runner?.alive) {
      try {
        process.kill(runner.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    if (session) await capture(tmux('kill-session', '-t', `=${session}`));
  } else if (runner?.alive) {
    try {
      process.kill(runner.pid, 'SIGTERM');
    } catch {
      // gone
    }
  }
  if (opts.discard) await removeRun(run);
  return { stopped: true, started: true };
}

const STOPPED_REASON = 'interrupted: stopped by hand (dispatch stop)';
const KINDS = new Set(['interrupted', 'stalled', 'manual', 'lost']);

/** The stop left for a run (why, and as what kind), if any. */
export function stopMarkIn(base: string, label: string): { reason: string; kind: string } | undefined {
  const m = readJson<{ reason?: unknown; kind?: unknown }>(stopMarkOf(base, label));
  if (m === undefined) return existsSync(stopMarkOf(base, label)) ? { reason: STOPPED_REASON, kind: 'interrupted' } : undefined;
  const reason = typeof m.reason === 'string' && m.reason ? m.reason.slice(0, 4096) : STOPPED_REASON;
  return { reason, kind: typeof m.kind === 'string' && KINDS.has(m.kind) ? m.kind : 'interrupted' };
}

/** The run's log from byte `from` on, written raw to `write`. */
export async function log(base: string, label: string, from: number, write: (b: Buffer) => void): Promise<void> {
  const { job } = jobOf(base, label);
  const { readFileFrom } = await import('../executors/local.js');
  const r = await readFileFrom(logOf(job), from);
  if (r) write(r.chunk);
}

/** A bundle of the spec's branch, without what the dispatcher has (the base): exit 3 when the branch has nothing new. */
export async function bundle(base: string, label: string, write: (b: Buffer) => void): Promise<boolean> {
  return bundleOf(jobOf(base, label).job, write);
}

async function bundleOf(job: Job, write: (b: Buffer) => void): Promise<boolean> {
  const head = await gitOk(job.worktree, 'rev-parse', 'HEAD');
  if (head === job.base) return false;
  const file = join(tmpdir(), `dispatch-bundle-${process.pid}-${Date.now()}`);
  try {
    await gitOk(job.worktree, 'bundle', 'create', '-q', file, `refs/heads/${branchOf(job)}`, `^${job.base}`);
    write(readFileSync(file));
  } finally {
    rmSync(file, { force: true });
  }
  return true;
}

/** A finished run's log and (done, with commits beyond the base) a bundle of its branch. */
async function finished(base: string, label: string): Promise<{ log: Buffer; bundle: Buffer }> {
  const { job } = jobOf(base, label);
  let log = Buffer.alloc(0);
  try {
    log = readFileSync(logOf(job));
  } catch {
    // no output
  }
  const result = readJson<RunResult>(resultFile(runDir(base, label)));
  let bundle = Buffer.alloc(0);
  if (result?.state === 'done') {
    const chunks: Buffer[] = [];
    if (await bundleOf(job, (b) => chunks.push(b))) bundle = Buffer.concat(chunks);
  }
  return { log, bundle };
}

/**
 * The dispatcher's check, in one answer: a JSON line (every run, and for each finished one the sizes
 * of its log and bundle), then those bytes in the runs' order. A verdict comes home in one round trip.
 */
export async function pollCollect(base: string, write: (b: Buffer) => void, opts: { only?: string; limit?: number } = {}): Promise<void> {
  const runs = poll(base).runs.filter((r) => !opts.only || r.label === opts.only);
  const blobs: Buffer[] = [];
  let total = 0;
  for (const run of runs) {
    // Past the limit, a finished run's bytes are asked for on their own (a check stays quick).
    if (!run.result || total > (opts.limit ?? Infinity)) continue;
    const f = await finished(base, run.label).catch(() => ({ log: Buffer.alloc(0), bundle: Buffer.alloc(0) }));
    run.blob = { log: f.log.length, bundle: f.bundle.length };
    blobs.push(f.log, f.bundle);
    total += f.log.length + f.bundle.length;
  }
  write(Buffer.from(`${JSON.stringify({ runs })}\n`));
  for (const b of blobs) write(b);
}

/** Runs of this host to clean (`label`), with their worktree (`+label`), or to stop and discard (`!label`). */
export async function cleanAll(base: string, dir: string, what: string[]): Promise<void> {
  for (const w of what) {
    const label = w.replace(/^[+!]/, '');
    if (!isLabel(label) || !existsSync(runDir(base, label))) continue;
    // One run that cannot be cleaned does not keep the check from answering: it is found again by a later one.
    try {
      if (w.startsWith('!')) await stop(base, label, { kill: true, discard: true });
      else await clean(base, dir, label, { worktree: w.startsWith('+') });
    } catch (err) {
      process.stderr.write(`dispatch: could not clean ${label}: ${(err as Error).message}\n`);
    }
  }
}

/** Removes a run's folder, and with `worktree` the spec's worktree and branch too (its work was fetched). */
export async function clean(base: string, dir: string, label: string, opts: { worktree?: boolean }): Promise<{ cleaned: boolean }> {
  const run = runDir(base, checkLabel(label));
  const job = readJson<Job>(jobFile(run));
  if (job && opts.worktree && existsSync(job.worktree)) {
    await capture(git(dir, 'worktree', 'remove', '--force', job.worktree), { timeoutMs: 0 });
    await capture(git(dir, 'branch', '-D', branchOf(job)));
  }
  const session = await ownSession(run, label);
  if (session) await capture(tmux('kill-session', '-t', `=${session}`));
  await removeRun(run);
  return { cleaned: true };
}

/**
 * The tmux session this run was started in, when that can be proven: the name its start recorded, or (a run
 * started before names were recorded, under its label) a session whose pane is this run's live runner.
 * Never a session of the same name that another project or run started.
 */
async function ownSession(run: string, label: string): Promise<string | undefined> {
  try {
    return readFileSync(sessionFile(run), 'utf8').trim() || undefined;
  } catch {
    // not recorded: started by an older version, or never started
  }
  const name = sessionOf(label);
  const panes = await capture(tmux('list-panes', '-s', '-t', `=${name}`, '-F', '#{pane_pid}'));
  if (panes.exitCode !== 0) return undefined;
  const mine = (argv: string[]) => argv.includes('remote-run') && argv.at(-1) === run;
  return panes.stdout.split('\n').some((l) => /^\d+$/.test(l.trim()) && pidIs(Number(l.trim()), mine)) ? name : undefined;
}

/**
 * Removes a run folder once its runner has gone: a runner writes its result just before it exits, so a
 * cleanup can arrive while it is still ending, and a file it writes then would leave the folder behind.
 */
async function removeRun(run: string): Promise<void> {
  const runner = runnerOf(run);
  if (runner?.alive) {
    try {
      process.kill(runner.pid, 'SIGTERM');
    } catch {
      // gone
    }
    for (let i = 0; i < 50 && runnerOf(run)?.alive; i++) await new Promise((r) => setTimeout(r, 100));
    try {
      if (runnerOf(run)?.alive) process.kill(runner.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  rmSync(run, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  // The run is gone, and its label is never used again: its stop mark goes with it.
  const runs = dirname(run);
  rmSync(stopMarkOf(dirname(runs), basename(run)), { force: true });
}

/** What doctor asks a host: this dispatch's version, the tools, the checkout. */
export async function check(dir: string, bins: string[]): Promise<{ version: string; node: string; tmux: boolean; git: boolean; checkout: 'repo' | 'missing' | 'not-a-repo'; bins: Record<string, string | null> }> {
  const { onPath } = await import('../util/which.js');
  const { VERSION } = await import('../version.js');
  const checkout = !existsSync(dir) ? 'missing' : existsSync(join(dir, '.git')) ? 'repo' : 'not-a-repo';
  return {
    version: VERSION,
    node: process.version,
    tmux: !!onPath('tmux'),
    git: !!onPath('git'),
    checkout,
    bins: Object.fromEntries(bins.map((b) => [b, b.includes('/') ? (existsSync(b) ? b : null) : (onPath(b) ?? null)])),
  };
}

