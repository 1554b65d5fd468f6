// Whether SSH runs still work, asked of their hosts, for decisions by hand
// (reset, retry) taken while they may run. A host's runner never writes our
// state, so only its host can say: what a local pid check says of a remote
// pid is meaningless.
import type { ResolvedConfig } from '../../config/load.js';
import { own, stateOf, type RunnerInfo, type SpecState, type StateDoc } from '../../state/doc.js';
import { readState } from '../../state/store.js';

export interface RemoteRun {
  r: RunnerInfo;
  /** Decided by hand while it went on (`dispatch.outlived`), not a running entry. */
  outlived: boolean;
  /** What its host answers: false only when its run is gone there (ended, verdict-less or collected); undefined when it could not be asked. */
  alive: boolean | undefined;
}

/** The SSH runs of the specs `pick` takes: running entries, and runs decided by hand that went on. */
export function remoteRunsOf(doc: StateDoc, pick: (id: string, state: SpecState) => boolean): [string, RemoteRun['r'], boolean][] {
  const out: [string, RunnerInfo, boolean][] = [];
  for (const [id, r] of Object.entries(doc.dispatch?.running ?? {})) if (r.executor === 'ssh' && pick(id, 'running')) out.push([id, r, false]);
  for (const [id, r] of Object.entries(doc.dispatch?.outlived ?? {})) {
    const st = stateOf(doc, id);
    if (st !== 'running' && st !== 'pending' && pick(id, st)) out.push([id, r, true]);
  }
  return out;
}

/**
 * Asks the hosts about the SSH runs of the specs `pick` takes. Their verdicts are brought home first (a
 * finished run is recorded, not thrown away by the decision); then each host is asked about what is left.
 */
export async function askHosts(config: ResolvedConfig, command: string, pick: (id: string, state: SpecState) => boolean): Promise<Map<string, RemoteRun>> {
  const asked = new Map<string, RemoteRun>();
  if (!remoteRunsOf(readState(config.stateDir), pick).length) return asked;
  const { collectForReader } = await import('./collect.js');
  await collectForReader(config, command);
  const left = remoteRunsOf(readState(config.stateDir), pick);
  if (!left.length) return asked;
  const { sshExecutor } = await import('./executor.js');
  const ex = sshExecutor(config);
  await Promise.all(left.map(async ([id, r, outlived]) => {
    const alive = ex.where(id, r) ? await ex.alive(id, r).catch(() => undefined) : undefined;
    asked.set(id, { r, outlived, alive });
  }));
  return asked;
}

/** Whether a run found under the lock is one the host said has ended (the very launch asked about). */
export function endedOnHost(asked: Map<string, RemoteRun>, id: string, r: RunnerInfo): boolean {
  const a = asked.get(id);
  return !!a && a.alive === false && a.r.attempt === r.attempt && a.r.host === r.host && JSON.stringify(a.r.place ?? null) === JSON.stringify(r.place ?? null);
}

/** The outlived SSH run of a spec, if any. */
export const outlivedOf = (doc: StateDoc, id: string) => own(doc.dispatch?.outlived, id);
