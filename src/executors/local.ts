// What the local executors (zellij, tmux, headless) share: the runner is a
// process on this machine, found by its pid and command line, its log a file
// in the state folder.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ResolvedConfig } from '../config/types.js';
import { stopGroup } from '../proc/group.js';
import type { RunnerInfo } from '../state/doc.js';
import type { Attach, Check, CheckRequest, Executor } from './types.js';

type Runtime = Pick<Executor, 'remote' | 'place' | 'alive' | 'unreachable' | 'stop' | 'readLog' | 'list' | 'attach' | 'collect' | 'ask' | 'finish'>;

/** A running entry recorded on this machine (an SSH host's entry is never one). */
export const isLocal = (r: RunnerInfo) => !r.host || r.host === hostname();

export function localRuntime(config: ResolvedConfig, attach: (id: string, r: RunnerInfo) => Attach): Runtime {
  return {
    remote: false,
    place: () => ({ host: hostname() }),
    // A local run is always reachable, its verdict written by its own runner, its liveness a pid check under the lock.
    unreachable: () => undefined,
    collect: async () => [],
    ask: async () => new Map(),
    finish: async () => undefined,
    async alive(id, r) {
      if (!isLocal(r)) return undefined;
      const { isRunner, runnerPidOf } = await import('../attempt/liveness.js');
      const pid = r.pid > 0 ? r.pid : runnerPidOf(config.stateDir, id)?.pid;
      return pid !== undefined && isRunner(pid, id);
    },
    async stop(id, r, how) {
      const started = { started: true };
      if (!isLocal(r) || r.pid <= 0) return started;
      const { isRunner } = await import('../attempt/liveness.js');
      if (how === 'kill') {
        const { agentGroupOf } = await import('../attempt/agent-file.js');
        const group = agentGroupOf(config, id, r);
        if (group) await stopGroup(group);
      }
      // Only if that pid still is our runner: never signal a process dispatch did not start.
      if (!isRunner(r.pid, id)) return started;
      try {
        process.kill(r.pid, how === 'kill' ? 'SIGKILL' : 'SIGTERM');
      } catch {
        // gone meanwhile
      }
      return started;
    },
    async readLog(id, _r, from) {
      const { logPath } = await import('../attempt/paths.js');
      return readFileFrom(logPath(config, id), from);
    },
    async list() {
      const { isRunner, runnerPidOf } = await import('../attempt/liveness.js');
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

/**
 * A local multiplexer's preflight line: installed, and its session running or to be created. tmux creates a
 * missing session itself; zellij only with --create-session (doctor warns, a run refuses).
 */
export async function sessionCheck(mux: Pick<Executor, 'kind' | 'session' | 'probe'>, req: CheckRequest, createsItself: boolean): Promise<Check[]> {
  const p = await mux.probe();
  if (!p.installed) return [{ name: 'multiplexer', status: 'fail', detail: p.detail, fix: p.fix }];
  if (p.running) return [{ name: 'multiplexer', status: 'ok', detail: `${mux.kind} session '${mux.session}' is running` }];
  if (createsItself || req.createSession) return [{ name: 'multiplexer', status: 'ok', detail: `${mux.kind} session '${mux.session}' will be created (detached)` }];
  return [{ name: 'multiplexer', status: req.doctor ? 'warn' : 'fail', detail: `${mux.kind} session '${mux.session}' is not running`, fix: p.startHint ?? '' }];
}
