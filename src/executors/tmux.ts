import { DispatchError } from '../errors.js';
import { capture, type Argv } from '../proc/launch.js';
import type { ResolvedConfig } from '../config/types.js';
import { localRuntime, sessionCheck } from './local.js';
import type { Mux, PaneRequest } from './types.js';

// tmux expands formats (`#(...)` runs a shell command) in -n, -c and -s, not in
// -t nor after `--`. '##' reads as '#', but a run of '#' before '[' is kept as
// it is (a style), so that run is left single.
export const formatLiteral = (v: string) => v.replace(/#+/g, (run, at: number) => (v[at + run.length] === '[' ? run : run + run));

// tmux ends a command at any argument ending in ';' (even after `--`); `\;` is a literal ';'.
export const tmuxArg = (v: string) => (v.endsWith(';') ? `${v.slice(0, -1)}\\;` : v);

/**
 * The session name as tmux stores it: '.' and ':' separate window and pane in
 * targets, tmux rewrites '\', control characters and most '$' in names, and a
 * leading '$' reads as a session id. Ours has none of them, so `=<name>` finds it.
 */
export const tmuxSessionName = (wanted: string) => wanted.replace(/[.:\\$\x00-\x1f\x7f]/g, '_');

/** `tmux has-session` for this session, as tmux must receive it (doctor asks this too). */
export const hasSessionArgv = (wanted: string, socket?: string, bin = 'tmux'): Argv =>
  [bin, ...(socket ? ['-L', socket] : []), ...['has-session', '-t', `=${tmuxSessionName(wanted)}`].map(tmuxArg)];

/** A window per spec. With more than one argument tmux execs the command directly: no shell. */
export function tmuxMux(wanted: string, opts: { socket?: string; rootDir: string; bin?: string; config: ResolvedConfig }): Mux {
  const session = tmuxSessionName(wanted);
  const base: Argv = [opts.bin ?? 'tmux', ...(opts.socket ? ['-L', opts.socket] : [])];
  const tmux = (...args: string[]): Argv => [...base, ...args.map(tmuxArg)];
  // `=` asks for this exact session, not one whose name merely starts the same.
  const target = `=${session}`;
  const openCommands = (req: PaneRequest): Argv[] => [
    tmux('new-window', '-d', '-t', `${target}:`, '-n', formatLiteral(req.name), '-c', formatLiteral(req.cwd), '-P', '-F', '#{pane_id}', '--', ...req.argv),
  ];
  // The runner's pane (%N), made current, then the session attached.
  const attach = (pane: string | undefined) =>
    pane?.startsWith('%') ? { argv: tmux('select-window', '-t', pane, ';', 'select-pane', '-t', pane, ';', 'attach-session', '-t', pane) } : { argv: tmux('attach-session', '-t', target) };
  return {
    ...localRuntime(opts.config, (_id, r) => attach(r.pane)),
    kind: 'tmux',
    session,
    needsRunnerEnv: true,
    describe: { launchesIn: `in tmux session '${session}'`, stillRunningIn: 'in their tmux windows' },
    checks(req) {
      return sessionCheck(this, req, true);
    },
    openCommands,
    // tmux sessions are created when missing (detached), whatever `create` says.
    async probe() {
      const has = await capture(tmux('has-session', '-t', target));
      // Worded as doctor words it.
      const fix = 'install tmux (apt-get install -y tmux), or use --mux headless';
      if (has.notFound) return { installed: false, detail: `${base[0]} is not installed`, fix };
      if (has.failedToStart) return { installed: false, detail: `cannot run ${base[0]}: ${has.failedToStart}`, fix };
      return { installed: true, running: has.exitCode === 0 };
    },
    async ensureSession() {
      const p = await this.probe();
      if (!p.installed) throw new DispatchError(p.detail, { hint: p.fix });
      if (p.running) return { created: false, commands: [] };
      // The original created panes in a session the user had open; creating one
      // detached is harmless, and `tmux attach -t <session>` shows it.
      const createCmd = tmux('new-session', '-d', '-s', formatLiteral(session), '-c', formatLiteral(opts.rootDir));
      const r = await capture(createCmd);
      if (r.exitCode !== 0) throw new DispatchError(`could not create tmux session '${session}': ${(r.stderr || r.stdout).trim()}`);
      return { created: true, commands: [createCmd] };
    },
    async open(req) {
      const r = await capture(openCommands(req)[0]!);
      if (r.exitCode !== 0) throw new DispatchError(`tmux could not open window ${req.name}: ${(r.stderr || r.stdout).trim() || `exit ${r.exitCode}`}`);
      return r.stdout.trim() || req.name;
    },
  };
}
