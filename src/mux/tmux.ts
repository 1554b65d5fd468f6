import { DispatchError } from '../errors.js';
import { capture, type Argv } from '../proc/launch.js';
import type { Mux, PaneRequest } from './types.js';

/** A window per spec. With more than one argument tmux execs the command directly: no shell. */
export function tmuxMux(wanted: string, opts: { socket?: string; rootDir: string; bin?: string }): Mux {
  // tmux turns '.' and ':' in a session name into '_' (they separate window and pane in targets).
  const session = wanted.replace(/[.:]/g, '_');
  const base: Argv = [opts.bin ?? 'tmux', ...(opts.socket ? ['-L', opts.socket] : [])];
  // `=` asks for this exact session, not one whose name merely starts the same.
  const target = `=${session}`;
  const openCommands = (req: PaneRequest): Argv[] => [
    [...base, 'new-window', '-d', '-t', `${target}:`, '-n', req.name, '-c', req.cwd, '-P', '-F', '#{pane_id}', '--', ...req.argv],
  ];
  return {
    kind: 'tmux',
    session,
    openCommands,
    // tmux sessions are created when missing (detached), whatever `create` says.
    async ensureSession() {
      const has = await capture([...base, 'has-session', '-t', target]);
      if (has.failedToStart) throw new DispatchError(`cannot run tmux: ${has.failedToStart}`, { hint: "install tmux (apt-get install -y tmux), or use '--mux headless'" });
      if (has.exitCode === 0) return { created: false, commands: [] };
      // The original created panes in a session the user had open; creating one
      // detached is harmless, and `tmux attach -t <session>` shows it.
      const createCmd: Argv = [...base, 'new-session', '-d', '-s', session, '-c', opts.rootDir];
      const r = await capture(createCmd);
      if (r.exitCode !== 0) throw new DispatchError(`could not create tmux session '${session}': ${(r.stderr || r.stdout).trim()}`);
      return { created: true, commands: [createCmd] };
    },
    async open(req) {
      const r = await capture(openCommands(req)[0]);
      if (r.exitCode !== 0) throw new DispatchError(`tmux could not open window ${req.name}: ${(r.stderr || r.stdout).trim() || `exit ${r.exitCode}`}`);
      return r.stdout.trim() || req.name;
    },
  };
}
