// Where dispatch keeps a project's runs on an SSH host, under
// `<dir>/.dispatch/<project>`: one folder per run (named by its label), one
// worktree per spec. Everything under it is dispatch's own.
import { join } from 'node:path';
import type { ResolvedConfig } from '../../config/types.js';
import type { SpecRecord } from '../../state/doc.js';

/**
 * The host's tmux server for dispatch's runners: its own socket (`-L dispatch`), never the user's sessions.
 * DISPATCH_REMOTE_TMUX_SOCKET names another, on the hosts (for their runners) and here (for `attach`) alike:
 * two dispatchers whose runs must not see each other's sessions (two test suites on one machine).
 */
export function remoteTmuxSocket(env: NodeJS.ProcessEnv = process.env): string {
  const s = env.DISPATCH_REMOTE_TMUX_SOCKET;
  return s && /^[A-Za-z0-9._-]{1,64}$/.test(s) ? s : 'dispatch';
}

export const runsDir = (base: string) => join(base, 'runs');
export const runDir = (base: string, label: string) => join(runsDir(base), label);
export const worktreeOf = (base: string, id: string) => join(base, 'worktrees', id);
/** The spec's branch on a host: per project, as several projects may share one checkout there. */
export const hostBranchOf = (project: string, id: string) => `dispatch-remote/${project}/${id}`;
/**
 * Left by `remote stop` for a run, before it looks for the run: a start that comes after it (a slow host, a
 * launch still on its way) finds it and starts nothing; a runner that starts after it runs no agent.
 */
export const stopMarkOf = (base: string, label: string) => join(base, 'stopped', label);
export const jobFile = (run: string) => join(run, 'job.json');
export const resultFile = (run: string) => join(run, 'result.json');
export const runnerPidFile = (run: string) => join(run, 'runner.pid');
/** The tmux session this run's runner was started in, written once it was: the only session stop and clean may end. */
export const sessionFile = (run: string) => join(run, 'session');

/** What the dispatcher sends to start a run (on ssh's stdin). */
export interface StartPayload {
  label: string;
  /** The tmux session to start it in (injective over projects and ids; recorded by the dispatcher). */
  session?: string;
  id: string;
  attempt: number;
  runId?: string;
  /** The SSH host's name, as the dispatcher calls it. */
  host: string;
  /** The commit the spec starts from (already on the host). */
  base: string;
  startedAt: string;
  /** The dispatcher's config; the host points its paths at the run's folder and worktree. */
  config: ResolvedConfig;
  /** The spec's record, its launches so far (the retry prompt and rate-limit count read them). */
  record: SpecRecord;
  files: { spec: string; plan?: string; previousLog?: { n: number; text: string } };
  /** Only the variables the config forwards: written to a 0600 file the runner deletes as it reads it. */
  env: Record<string, string>;
}

/** What a run kept on the host (job.json): the payload without its environment. */
export interface Job {
  label: string;
  id: string;
  attempt: number;
  runId?: string;
  host: string;
  base: string;
  project: string;
  /** The spec's branch here (older versions: `hostBranchOf(project, id)`). */
  branch?: string;
  worktree: string;
  config: ResolvedConfig;
}

/** What a finished run leaves (result.json), for the dispatcher to collect. */
export interface RunResult {
  id: string;
  attempt: number;
  runId?: string;
  state: 'done' | 'failed' | 'rate-limited';
  kind: string;
  reason?: string;
  /** Rate-limited: when it may be relaunched. */
  until?: string;
  /** The attempt's history entry: times, evidence, tokens. */
  entry?: Record<string, unknown>;
  /** The branch's commit after the work was committed (done only). */
  head?: string;
  endedAt: string;
}

/** A run as `remote poll` reports it. */
export interface PolledRun {
  label: string;
  id: string;
  attempt: number;
  runId?: string;
  /** Its runner lives; undefined while it has not started yet. */
  alive?: boolean;
  pid?: number;
  logSize: number;
  result?: RunResult;
  /** When the run's folder was made (ms). */
  since: number;
  /** `poll --collect`, finished runs: the sizes of the log and the bundle that follow the JSON line. */
  blob?: { log: number; bundle: number };
}
