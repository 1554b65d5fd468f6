import { DispatchError } from '../errors.js';
import { capture, showArgv, type Argv } from '../proc/launch.js';
import type { ResolvedConfig } from '../config/types.js';
import { localRuntime, sessionCheck } from './local.js';
import type { Mux, PaneRequest } from './types.js';

const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

// clap reads a separate value starting with '-' as a flag; attached with '=' it is only a value.
const opt = (flag: string, value: string) => (value.startsWith('-') ? [`${flag}=${value}`] : [flag, value]);
// After `--` a word is only attach's session name: not a flag, nor its subcommand `options` or `help`.
const attachCmd = (bin: string, session: string): Argv =>
  session.startsWith('-') || session === 'options' || session === 'help' ? [bin, 'attach', '--create-background', '--', session] : [bin, 'attach', session, '--create-background'];

/** Zellij 0.45 grammar: `zellij --session S run --name N --close-on-exit --cwd DIR -- CMD...` */
export function zellijMux(session: string, bin: string, config: ResolvedConfig): Mux {
  const openCommands = (req: PaneRequest): Argv[] => [
    [bin, ...opt('--session', session), 'run', ...opt('--name', req.name), '--close-on-exit', ...opt('--cwd', req.cwd), '--', ...req.argv],
  ];
  const attach: Argv = [bin, 'attach', ...(session.startsWith('-') ? ['--', session] : [session])];
  return {
    ...localRuntime(config, () => ({ argv: attach })),
    kind: 'zellij',
    session,
    needsRunnerEnv: true,
    describe: { launchesIn: `in zellij session '${session}'`, stillRunningIn: 'in their zellij panes' },
    checks(req) {
      return sessionCheck(this, req, false);
    },
    openCommands,
    async probe() {
      const ls = await capture([bin, 'list-sessions', '-n']);
      // Worded as doctor words it.
      const fix = 'install zellij, or use --mux tmux / --mux headless';
      if (ls.notFound) return { installed: false, detail: `${bin} is not installed`, fix };
      if (ls.failedToStart) return { installed: false, detail: `cannot run ${bin}: ${ls.failedToStart}`, fix };
      // Lines: `NAME [Created 3m ago] (current)` or `... (EXITED - attach to resurrect)`; a name may hold spaces.
      const running = strip(ls.stdout)
        .split('\n')
        .some((l) => l.startsWith(`${session} [Created `) && !l.slice(session.length).includes('EXITED'));
      const open: Argv = [bin, ...(session.startsWith('-') ? [`--session=${session}`] : ['-s', session])];
      return { installed: true, running, startHint: `start it with '${showArgv(attachCmd(bin, session))}' (or open it: '${showArgv(open)}'), or pass --create-session` };
    },
    async ensureSession(create) {
      const createCmd = attachCmd(bin, session);
      const p = await this.probe();
      if (!p.installed) throw new DispatchError(p.detail, { hint: p.fix });
      if (p.running) return { created: false, commands: [] };
      if (!create) throw new DispatchError(`zellij session '${session}' is not running`, { hint: p.startHint });
      const r = await capture(createCmd);
      if (r.exitCode !== 0 && !/already exists/i.test(r.stderr + r.stdout)) {
        throw new DispatchError(`could not create zellij session '${session}': ${strip(r.stderr || r.stdout).trim() || `exit ${r.exitCode}`}`);
      }
      return { created: true, commands: [createCmd] };
    },
    async open(req) {
      const r = await capture(openCommands(req)[0]!);
      if (r.exitCode !== 0) {
        throw new DispatchError(`zellij could not open pane ${req.name}: ${strip(r.stderr || r.stdout).trim() || `exit ${r.exitCode}`}`);
      }
      // Since 0.44 `run` prints the new pane id (terminal_N).
      return /terminal_\d+/.exec(r.stdout)?.[0] ?? req.name;
    },
  };
}
