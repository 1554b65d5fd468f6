// The executors of the runs the state records. A run stays with the executor
// that launched it, whatever the config says now: an SSH run is collected even
// after the pool left the config, and a local command reaches it.
import type { ResolvedConfig } from '../config/types.js';
import { warn } from '../errors.js';
import { REMOTE_EXECUTORS, hasRemoteWork, isRemote, own, type RemoteExecutor, type RunnerInfo, type SpecState, type StateDoc } from '../state/doc.js';
import { readState } from '../state/store.js';
import { createExecutor } from './registry.js';
import type { CollectEvent, Executor, ExecutorKind, RemoteRun } from './types.js';

/** The executor that holds a running entry: the one it names, or the multiplexer its pane id names (tmux %N, zellij terminal_N, else headless). */
export function executorForEntry(config: ResolvedConfig, r: Pick<RunnerInfo, 'executor' | 'pane'>): Promise<Executor> {
  const kind: ExecutorKind = r.executor ?? (r.pane?.startsWith('%') ? 'tmux' : r.pane?.startsWith('terminal_') ? 'zellij' : 'headless');
  return createExecutor(config, kind);
}

/** The remote executors with something on record to collect or check (running or outlived runs, places to check again). */
export function remoteKindsOf(doc: StateDoc): RemoteExecutor[] {
  if (!hasRemoteWork(doc)) return [];
  const d = doc.dispatch!;
  const kinds = new Set<RemoteExecutor>();
  for (const r of [...Object.values(d.running ?? {}), ...Object.values(d.outlived ?? {})]) if (isRemote(r)) kinds.add(r.executor!);
  // Places to check again are where remote runs were given up: only the pool records places.
  if (d.recheck && Object.keys(d.recheck).length) kinds.add(REMOTE_EXECUTORS[0]);
  return [...kinds];
}

/** Those executors, made once; `current` (this run's executor) stands for its own kind. */
export async function recordedExecutors(config: ResolvedConfig, doc: StateDoc, current?: Executor): Promise<Executor[]> {
  const kinds = new Set<ExecutorKind>(remoteKindsOf(doc));
  if (current?.remote) kinds.add(current.kind);
  return Promise.all([...kinds].map((k) => (current?.kind === k ? current : createExecutor(config, k))));
}

/**
 * For commands that read the state (`status`, `logs`, `watch-handoff`, decisions by hand): the verdicts remote
 * runs left on their machines, brought home first, so `run --no-wait` ends with the right verdict at the next
 * `status`. A machine that does not answer is only reported: judging it lost is the run's dispatcher's job.
 */
export async function collectRecorded(config: ResolvedConfig, command: string): Promise<CollectEvent[]> {
  const out: CollectEvent[] = [];
  for (const ex of await recordedExecutors(config, readState(config.stateDir))) {
    const events = await ex.collect({ command, force: true });
    await ex.finish({ lastCheck: false });
    for (const e of events) if (e.type === 'error') warn(`could not collect from ${e.host}: ${e.message}`);
    out.push(...events.filter((e) => e.type !== 'error'));
  }
  return out;
}

/**
 * Asks where remote runs of the specs `pick` takes are whether they still work, their verdicts brought home
 * first (a finished run is recorded, not thrown away by a decision by hand).
 */
export async function askRecorded(config: ResolvedConfig, command: string, pick: (id: string, state: SpecState) => boolean): Promise<Map<string, RemoteRun>> {
  const asked = new Map<string, RemoteRun>();
  const doc = readState(config.stateDir);
  const mine = (d: StateDoc) => Object.entries(d.dispatch?.running ?? {}).some(([id, r]) => isRemote(r) && pick(id, 'running')) || Object.keys(d.dispatch?.outlived ?? {}).length > 0;
  if (!mine(doc)) return asked;
  await collectRecorded(config, command);
  for (const ex of await recordedExecutors(config, readState(config.stateDir))) for (const [id, a] of await ex.ask(pick)) asked.set(id, a);
  return asked;
}

/** Whether a run found under the lock is one its machine said has ended (the very launch asked about). */
export function endedThere(asked: Map<string, RemoteRun>, id: string, r: RunnerInfo): boolean {
  const a = asked.get(id);
  return !!a && a.alive === false && a.r.attempt === r.attempt && a.r.host === r.host && JSON.stringify(a.r.place ?? null) === JSON.stringify(r.place ?? null);
}

/** The run of a spec decided by hand while it went on elsewhere, if any. */
export const outlivedOf = (doc: StateDoc, id: string) => own(doc.dispatch?.outlived, id);
