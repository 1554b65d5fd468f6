import type { Argv } from '../proc/launch.js';

export type MuxKind = 'zellij' | 'tmux' | 'headless';

export interface PaneRequest {
  /** `<project>-<id>`: what the user sees in the multiplexer. */
  name: string;
  cwd: string;
  /** The runner: absolute node + absolute dispatch script + exec-spec. */
  argv: Argv;
}

/** Whether the multiplexer can be used now, found without changing anything. */
export type MuxProbe =
  | { installed: false; detail: string; fix: string }
  | { installed: true; running: boolean; /** How to start a missing session when the run will not create it. */ startHint?: string };

export interface Mux {
  kind: MuxKind;
  session: string;
  /** The exact commands `open` runs, for --dry-run and confirmations. */
  openCommands(req: PaneRequest): Argv[];
  /** Installed? Session running? Asked by preflight and doctor, and by ensureSession. */
  probe(): Promise<MuxProbe>;
  /** Resolves when the session is there; creates it when allowed, else throws a DispatchError saying how. */
  ensureSession(create: boolean): Promise<{ created: boolean; commands: Argv[] }>;
  /** Opens the pane and returns an id for it (zellij terminal_N, tmux %N, headless pid:N). */
  open(req: PaneRequest): Promise<string>;
}
