// Whether SSH runs still work, asked of their hosts, for decisions by hand
// (reset, retry) taken while they may run. A host's runner never writes our
// state, so only its host can say: what a local pid check says of a remote
// pid is meaningless.
import type { ResolvedConfig } from '../../config/types.js';
import { stateOf, type RunnerInfo, type SpecState, type StateDoc } from '../../state/doc.js';
import { readState } from '../../state/store.js';
import type { RemoteRun } from '../types.js';
import type { SshExecutor } from './pool.js';

/** The SSH runs of the specs `pick` takes: running entries, and runs decided by hand that went on. */
export function remoteRunsOf(doc: StateDoc, pick: (id: string, state: SpecState) => boolean): [string, RunnerInfo, boolean][] {
  const out: [string, RunnerInfo, boolean][] = [];
  for (const [id, r] of Object.entries(doc.dispatch?.running ?? {})) if (r.executor === 'ssh' && pick(id, 'running')) out.push([id, r, false]);
  for (const [id, r] of Object.entries(doc.dispatch?.outlived ?? {})) {
    const st = stateOf(doc, id);
    if (st !== 'running' && st !== 'pending' && pick(id, st)) out.push([id, r, true]);
  }
  return out;
}

/** Asks the hosts about the SSH runs of the specs `pick` takes (their verdicts already brought home: see askRecorded). */
export async function askHosts(config: ResolvedConfig, ex: SshExecutor, pick: (id: string, state: SpecState) => boolean): Promise<Map<string, RemoteRun>> {
  const asked = new Map<string, RemoteRun>();
  const left = remoteRunsOf(readState(config.stateDir), pick);
  if (!left.length) return asked;
  await Promise.all(left.map(async ([id, r, outlived]) => {
    const alive = ex.where(id, r) ? await ex.alive(id, r).catch(() => undefined) : undefined;
    asked.set(id, { r, outlived, alive });
  }));
  return asked;
}
