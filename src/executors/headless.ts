import { spawnDetached } from '../proc/launch.js';
import type { ResolvedConfig } from '../config/types.js';
import { localRuntime } from './local.js';
import type { Mux } from './types.js';

/** No multiplexer: the runner is a detached background process; its output is in the spec's log. */
export function headlessMux(session: string, config: ResolvedConfig): Mux {
  return {
    ...localRuntime(config, (id) => ({ hint: `${id} runs headless (no pane to attach to): follow it with 'dispatch logs ${id} --follow'` })),
    kind: 'headless',
    session,
    // A background process inherits ours.
    needsRunnerEnv: false,
    describe: { launchesIn: 'in the background (headless)', stillRunningIn: 'in the background' },
    checks: async () => [{ name: 'multiplexer', status: 'ok', detail: 'headless (background processes; output in .codex/logs)' }],
    openCommands: (req) => [req.argv],
    async probe() {
      return { installed: true, running: true };
    },
    async ensureSession() {
      return { created: false, commands: [] };
    },
    async open(req) {
      const pid = await spawnDetached(req.argv, { cwd: req.cwd });
      return `pid:${pid}`;
    },
  };
}
