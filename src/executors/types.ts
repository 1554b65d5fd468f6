// Where a spec's runner runs. Everything that depends on it — starting the
// runner, telling whether it lives, stopping it, its log, attaching to it,
// finding the runs it holds — goes through this one interface. Each executor
// is one file, listed in registry.ts.
import type { ResolvedSpec } from '../config/load.js';
import type { Argv } from '../proc/launch.js';
import type { RunPlace, RunnerInfo, StateDoc } from '../state/doc.js';

export type ExecutorKind = 'zellij' | 'tmux' | 'headless' | 'ssh';
/** The local multiplexers (the `multiplexer` config key). */
export type MuxKind = Exclude<ExecutorKind, 'ssh'>;

export interface PaneRequest {
  /** `<project>-<id>`: what the user sees in the multiplexer. */
  name: string;
  cwd: string;
  /** The runner: absolute node + absolute dispatch script + exec-spec. */
  argv: Argv;
  /** Set for a real launch (absent for a dry run's commands). */
  spec?: ResolvedSpec;
  attempt?: number;
  runId?: string;
  /** The machine `place` chose. */
  host?: string;
  /** SSH: where the launch was recorded to be (its address and names). */
  place?: RunPlace;
}

/** Whether the executor can be used now, found without changing anything. */
export type MuxProbe =
  | { installed: false; detail: string; fix: string }
  | { installed: true; running: boolean; /** How to start a missing session when the run will not create it. */ startHint?: string };

/** A run an executor holds, found by its label (a restarted dispatcher adopts it). */
export interface HeldRun {
  id: string;
  attempt?: number;
  host: string;
  alive: boolean;
  pid?: number;
}

/** How to watch a run: a command to hand the terminal to, or why there is none. */
export type Attach = { argv: Argv } | { hint: string };

export interface Executor {
  kind: ExecutorKind;
  session: string;
  /** Runs are on other machines: their runners never write our state; the dispatcher collects their verdicts. */
  remote?: boolean;
  /** The exact commands `open` runs, for --dry-run and confirmations. */
  openCommands(req: PaneRequest): Argv[];
  /** Installed? Session running? Asked by preflight and doctor, and by ensureSession. */
  probe(): Promise<MuxProbe>;
  /** Resolves when the session is there; creates it when allowed, else throws a DispatchError saying how. */
  ensureSession(create: boolean): Promise<{ created: boolean; commands: Argv[] }>;
  /** Where the next launch of `spec` goes (the host recorded as `running.<id>.host`), or what it waits for. */
  place(spec: ResolvedSpec, doc: StateDoc): { host: string } | { wait: string };
  /** Starts the runner and returns an id for its pane (zellij terminal_N, tmux %N, headless pid:N, ssh host:label). */
  open(req: PaneRequest): Promise<string>;
  /** Whether the runner of a running entry lives: undefined when this executor cannot tell (another machine). */
  alive(id: string, r: RunnerInfo): Promise<boolean | undefined>;
  /** Asks the runner to stop (it records why); `kill` ends it and its agent without asking. */
  stop(id: string, r: RunnerInfo, how: 'ask' | 'kill'): Promise<void>;
  /** The run's log from byte `from` on, and its size; undefined when there is none (yet). */
  readLog(id: string, r: RunnerInfo | undefined, from: number): Promise<{ size: number; chunk: Buffer } | undefined>;
  /** How to watch the run live. */
  attach(id: string, r: RunnerInfo): Attach;
  /** The runs it holds, by label. */
  list(): Promise<HeldRun[]>;
}

/** Kept for the local multiplexers' files: a multiplexer is an executor. */
export type Mux = Executor;
