// The runner of an SSH run, on the host (`dispatch remote-run <run folder>`):
// the same runner as on the dispatcher's machine, against the run's private
// state; its verdict goes to result.json for the dispatcher to collect.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { capture } from '../proc/launch.js';
import { own, stateOf } from '../state/doc.js';
import { readState } from '../state/store.js';
import { writeFileAtomic } from '../util/write-atomic.js';
import { jobFile, resultFile, runnerPidFile, type Job, type RunResult } from '../executors/ssh/wire.js';

/** Commits what the agent left in the worktree, so its branch carries all of the work. */
async function commitLeftovers(job: Job, say: (t: string) => void): Promise<string | undefined> {
  const wt = job.worktree;
  const dirty = await capture(['git', '-C', wt, 'status', '--porcelain']);
  if (dirty.stdout.trim()) {
    await capture(['git', '-C', wt, 'add', '-A']);
    const spec = job.config.specs[0]!;
    const msg = `dispatch: ${spec.id}-${spec.name.replace(/\s+/g, ' ')}`;
    let c = await capture(['git', '-C', wt, 'commit', '-q', '-m', msg], { timeoutMs: 0 });
    // A host with no git identity: the commit is dispatch's.
    if (c.exitCode !== 0 && /user\.(email|name)|who you are/i.test(c.stderr)) {
      c = await capture(['git', '-C', wt, '-c', 'user.name=dispatch', '-c', 'user.email=dispatch@localhost', 'commit', '-q', '-m', msg], { timeoutMs: 0 });
    }
    if (c.exitCode !== 0) {
      say(`── dispatch: could not commit the work in ${wt}: ${(c.stderr || c.stdout).trim()}\n`);
      return undefined;
    }
  }
  const head = await capture(['git', '-C', wt, 'rev-parse', 'HEAD']);
  return head.exitCode === 0 ? head.stdout.trim() : undefined;
}

export async function remoteRun(run: string, signal: AbortSignal): Promise<RunResult> {
  writeFileSync(runnerPidFile(run), `${process.pid} ${new Date().toISOString()}\n`);
  const job = JSON.parse(readFileSync(jobFile(run), 'utf8')) as Job;
  const say = (t: string) => void process.stdout.write(t);
  // Stopped before this runner was on record (its pid file, written above): no agent starts. A stop after
  // the pid file was written finds this runner and asks it to stop the usual way.
  const { stopMarkIn } = await import('./host.js');
  const stopped = stopMarkIn(dirname(dirname(run)), basename(run));
  if (stopped && !existsSync(resultFile(run))) {
    say(`── dispatch: ${job.id} was stopped before its agent started (${stopped.reason})\n`);
    const result: RunResult = { id: job.id, attempt: job.attempt, ...(job.runId ? { runId: job.runId } : {}), state: 'failed', kind: stopped.kind, reason: stopped.reason, endedAt: new Date().toISOString() };
    writeFileAtomic(resultFile(run), JSON.stringify(result));
    return result;
  }
  const { execSpec } = await import('../run/runner.js');
  let result: RunResult;
  try {
    const r = await execSpec(job.config, job.id, { signal });
    const doc = readState(job.config.stateDir);
    const state = stateOf(doc, job.id);
    const rec = own(doc.dispatch?.specs, job.id);
    const entry = rec?.history?.find((h) => h.n === job.attempt) as Record<string, unknown> | undefined;
    const verdict = state === 'done' || state === 'rate-limited' ? state : 'failed';
    result = {
      id: job.id, attempt: job.attempt, ...(job.runId ? { runId: job.runId } : {}),
      state: verdict, kind: r.kind, ...(r.reason ? { reason: r.reason } : {}),
      ...(verdict === 'rate-limited' ? { until: own(doc.dispatch?.waiting, job.id)?.until } : {}),
      ...(entry ? { entry } : {}),
      endedAt: new Date().toISOString(),
    };
    if (verdict === 'done') {
      const head = await commitLeftovers(job, say);
      if (head) result.head = head;
      else result = { ...result, state: 'failed', kind: 'agent-failed', reason: `the work in ${job.worktree} could not be committed for the dispatcher to fetch` };
    }
  } catch (err) {
    result = { id: job.id, attempt: job.attempt, ...(job.runId ? { runId: job.runId } : {}), state: 'failed', kind: 'launch-error', reason: (err as Error).message, endedAt: new Date().toISOString() };
  }
  // Atomic: the dispatcher never reads half a verdict.
  writeFileAtomic(resultFile(run), JSON.stringify(result));
  return result;
}
