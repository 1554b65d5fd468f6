import { spawnDetached } from '../proc/launch.js';
import type { Mux } from './types.js';

/** No multiplexer: the runner is a detached background process; its output is in the spec's log. */
export function headlessMux(session: string): Mux {
  return {
    kind: 'headless',
    session,
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
