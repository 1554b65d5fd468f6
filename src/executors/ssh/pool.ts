// What the SSH pool's modules share: the executor's shape (what the pool offers
// beyond every executor's interface) and the small rules about hosts' answers.
import { DispatchError } from '../../errors.js';
import type { CaptureResult } from '../../proc/launch.js';
import { sizeOf } from '../../proc/launch.js';
import type { RunnerInfo, StateDoc } from '../../state/doc.js';
import type { Executor } from '../types.js';
import type { RunWhere, SshHost } from './hosts.js';
import type { HostHealth } from './health.js';

export interface SshExecutor extends Executor {
  hosts: SshHost[];
  health: HostHealth;
  /**
   * Runs `dispatch remote <verb>` on a host. Its answer is read whole up to HOST_ANSWER_MAX; a larger one is no
   * answer (sshProblem says so), unless `partial` (the caller uses its beginning), or it goes to a file (`stdoutTo`).
   */
  onHost(h: SshHost, verb: string, args: string[], opts?: HostCallOptions): Promise<CaptureResult>;
  /** Specs being launched by this process now (not yet to be judged by their host's runs). */
  opening: Set<string>;
  /** Runs collected here whose folders go with the host's next check (`+label`: with their worktree), by place name. */
  cleanups: Map<string, string[]>;
  /** Each place checked, by the name health and cleanups use: the configured hosts, and places only the state records. */
  reach: Map<string, { h: SshHost; base: string }>;
  /** Where a running entry is (its recorded place, or for an older entry its host's name); undefined: nowhere known. */
  where(id: string, r: RunnerInfo): RunWhere | undefined;
  /** Sends the cleanups still waiting (before this process ends). */
  flush(): Promise<void>;
  /** The runs each configured host holds now (by address, whatever name a run was recorded under). */
  busy(doc: StateDoc): (h: SshHost) => number;
}

export interface HostCallOptions {
  input?: string | Buffer;
  raw?: boolean;
  /** The call's time limit (executor.timeoutSeconds unless a longer one is derived for it; never none). */
  timeoutMs?: number;
  /** A transfer of unknown size: stopped when the host sends nothing for timeoutSeconds (and at `timeoutMs` if given). */
  idle?: boolean;
  /** An answer cut at HOST_ANSWER_MAX is still used (what is whole of it). */
  partial?: boolean;
  /** The answer goes to this file, whatever its size. */
  stdoutTo?: string;
}

/** The most of a host's answer read into memory: far more than any JSON answer of dispatch's, little enough to parse. */
export const HOST_ANSWER_MAX = 16 * 1024 * 1024;
/** The longest problem line taken from what ssh or the host printed. */
const PROBLEM_MAX = 300;

/** Whether a running entry is an SSH run (its `host` is a pool host). */
export const isSshRun = (r: RunnerInfo | undefined) => r?.executor === 'ssh';

/** The ssh failure in one line: ssh's own last line, or how it ended. */
export function sshProblem(r: CaptureResult): string {
  if (r.failedToStart) return r.notFound ? "'ssh' is not installed" : r.failedToStart;
  if (r.timedOut) return 'no answer (timed out)';
  if (r.tooLarge) return `its answer was larger than ${sizeOf(HOST_ANSWER_MAX)}, which no answer of dispatch's is`;
  if (r.writeError) return `its answer could not be written here: ${r.writeError}`;
  const line = r.stderr.trim().split('\n').filter(Boolean).at(-1)?.replace(/^dispatch: /, '');
  if (!line) return `exit ${r.exitCode}`;
  return line.length > PROBLEM_MAX ? `${line.slice(0, PROBLEM_MAX)}…` : line;
}

/** The environment a host receives: only the forwarded variables (a trailing `*` is a prefix). */
export function forwardedEnv(names: readonly string[], env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (names.some((n) => (n.endsWith('*') ? k.startsWith(n.slice(0, -1)) : k === n))) out[k] = v;
  }
  return out;
}

/** Running SSH entries. */
export const sshEntries = (doc: StateDoc): [string, RunnerInfo][] => Object.entries(doc.dispatch?.running ?? {}).filter(([, r]) => isSshRun(r));

/** The same launch, at the same place (a host renamed in the config is still the same place). */
export const sameRun = (a: RunnerInfo | undefined, b: RunnerInfo) =>
  !!a && a.host === b.host && a.attempt === b.attempt && JSON.stringify(a.place ?? null) === JSON.stringify(b.place ?? null);

/** Why an entry cannot be reached at all: an older dispatch's run (no address kept) on a host no longer in the config. */
export const unreachable = (id: string, r: RunnerInfo) =>
  new DispatchError(`${id} runs on SSH host ${r.host}, which is no longer in the config, and was launched by an older dispatch that did not record the host's address: it cannot be reached`, { hint: `put host ${r.host} back in executor.hosts (same host, port and dir) to stop or collect it` });
