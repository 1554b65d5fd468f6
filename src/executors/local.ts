// What the local executors (zellij, tmux, headless) share: the runner is a
// process on this machine, found by its pid and command line, its log a file
// in the state folder.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ResolvedConfig } from '../config/load.js';
import { stopGroup } from '../proc/group.js';
import type { RunnerInfo } from '../state/doc.js';
import type { Attach, Executor } from './types.js';

type Runtime = Pick<Executor, 'place' | 'alive' | 'stop' | 'readLog' | 'list' | 'attach'>;

/** A running entry recorded on this machine (an SSH host's entry is never one). */
export const isLocal = (r: RunnerInfo) => !r.host || r.host === hostname();

export function localRuntime(config: ResolvedConfig, attach: (id: string, r: RunnerInfo) => Attach): Runtime {
  return {
    place: () => ({ host: hostname() }),
    async alive(id, r) {
      if (!isLocal(r)) return undefined;
      const { isRunner, runnerPidOf } = await import('../run/liveness.js');
      const pid = r.pid > 0 ? r.pid : runnerPidOf(config.stateDir, id)?.pid;
      return pid !== undefined && isRunner(pid, id);
    },
    async stop(id, r, how) {
      if (!isLocal(r) || r.pid <= 0) return;
      const { isRunner } = await import('../run/liveness.js');
      if (how === 'kill') {
        const { agentGroupOf } = await import('../run/agent-file.js');
        const group = agentGroupOf(config, id, r);
        if (group) await stopGroup(group);
      }
      // Only if that pid still is our runner: never signal a process dispatch did not start.
      if (!isRunner(r.pid, id)) return;
      try {
        process.kill(r.pid, how === 'kill' ? 'SIGKILL' : 'SIGTERM');
      } catch {
        // gone meanwhile
      }
    },
    async readLog(id, _r, from) {
      const { logPath } = await import('../run/paths.js');
      return readFileFrom(logPath(config, id), from);
    },
    async list() {
      const { isRunner, runnerPidOf } = await import('../run/liveness.js');
      const runs = join(config.stateDir, 'runs');
      let ids: string[] = [];
      try {
        ids = readdirSync(runs);
      } catch {
        return [];
      }
      const host = hostname();
      return ids.flatMap((id) => {
        const p = runnerPidOf(config.stateDir, id);
        return p ? [{ id, host, pid: p.pid, alive: isRunner(p.pid, id) }] : [];
      });
    },
    attach,
  };
}

/** A file's bytes from `from` on (all of it again when it shrank: a new attempt started it over). */
export async function readFileFrom(file: string, from: number): Promise<{ size: number; chunk: Buffer } | undefined> {
  if (!existsSync(file)) return undefined;
  const size = statSync(file).size;
  const start = size < from ? 0 : from;
  if (size === start) return { size, chunk: Buffer.alloc(0) };
  const { open } = await import('node:fs/promises');
  const fh = await open(file, 'r');
  try {
    const chunk = Buffer.alloc(size - start);
    const { bytesRead } = await fh.read(chunk, 0, chunk.length, start);
    return { size: start + bytesRead, chunk: chunk.subarray(0, bytesRead) };
  } finally {
    await fh.close();
  }
}
