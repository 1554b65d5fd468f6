import { DispatchError } from '../errors.js';
import { capture, type Argv } from '../proc/launch.js';
import type { Mux, PaneRequest } from './types.js';

const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

/** Zellij 0.45 grammar: `zellij --session S run --name N --close-on-exit --cwd DIR -- CMD...` */
export function zellijMux(session: string, bin = 'zellij'): Mux {
  const openCommands = (req: PaneRequest): Argv[] => [
    [bin, '--session', session, 'run', '--name', req.name, '--close-on-exit', '--cwd', req.cwd, '--', ...req.argv],
  ];
  return {
    kind: 'zellij',
    session,
    openCommands,
    async ensureSession(create) {
      const createCmd: Argv = [bin, 'attach', session, '--create-background'];
      const ls = await capture([bin, 'list-sessions', '-n']);
      if (ls.failedToStart) throw new DispatchError(`cannot run zellij: ${ls.failedToStart}`, { hint: "install zellij, or use '--mux tmux' / '--mux headless'" });
      // Lines: `NAME [Created 3m ago] (current)` or `... (EXITED - attach to resurrect)`.
      const live = strip(ls.stdout)
        .split('\n')
        .filter((l) => l.trim() && !l.includes('EXITED'))
        .map((l) => l.trim().split(/\s+/)[0]);
      if (live.includes(session)) return { created: false, commands: [] };
      if (!create) {
        throw new DispatchError(`zellij session '${session}' is not running`, {
          hint: `start it with 'zellij attach ${session} --create-background' (or open it: 'zellij -s ${session}'), or pass --create-session`,
        });
      }
      const r = await capture(createCmd);
      if (r.exitCode !== 0 && !/already exists/i.test(r.stderr + r.stdout)) {
        throw new DispatchError(`could not create zellij session '${session}': ${strip(r.stderr || r.stdout).trim() || `exit ${r.exitCode}`}`);
      }
      return { created: true, commands: [createCmd] };
    },
    async open(req) {
      const r = await capture(openCommands(req)[0]);
      if (r.exitCode !== 0) {
        throw new DispatchError(`zellij could not open pane ${req.name}: ${strip(r.stderr || r.stdout).trim() || `exit ${r.exitCode}`}`);
      }
      // Since 0.44 `run` prints the new pane id (terminal_N).
      return /terminal_\d+/.exec(r.stdout)?.[0] ?? req.name;
    },
  };
}
