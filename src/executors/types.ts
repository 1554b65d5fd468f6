// Where a spec's runner runs. Everything that depends on it — starting the
// runner, telling whether it lives, stopping it, its log, attaching to it,
// finding the runs it holds — goes through this one interface. Each executor
// is one file, listed in registry.ts.
import type { ResolvedSpec } from '../config/types.js';
import type { Argv } from '../proc/launch.js';
import type { RunPlace, RunnerInfo, SpecState, StateDoc } from '../state/doc.js';

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

/** One line of preflight (and doctor): what was checked, how it went, how to fix it. */
export interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  fix?: string;
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
  /** A remote run that has ended: the verdict it left there, not yet brought home (a local runner records its own). */
  result?: { state: 'done' | 'failed' | 'rate-limited'; kind: string; reason?: string };
}

/** How to watch a run: a command to hand the terminal to, or why there is none. */
export type Attach = { argv: Argv } | { hint: string };

/** What a collection brings home from runs that live elsewhere, said to the run or command that asked. */
export type CollectEvent =
  | { type: 'collected'; id: string; host: string; state: string; reason?: string }
  | { type: 'lost'; id: string; host: string; reason: string }
  | { type: 'host-down'; host: string; problem: string }
  | { type: 'host-back'; host: string; discarded: string[] }
  | { type: 'adopted'; id: string; host: string; pid: number }
  | { type: 'stalled'; id: string; quietSeconds: number }
  /** A run decided by hand while it went on has ended: its attempt is closed (and done, its work fetched); the spec's state stays. */
  | { type: 'closed'; id: string; host: string; state: string; fetched?: string; reason?: string }
  /** A host's collect that failed here (not the host's answer): said, and tried again at the next check. */
  | { type: 'error'; host: string; message: string };

export interface CollectOptions {
  command: string;
  /** Only the dispatcher of a run judges hosts (lost after failed checks, runners that never started); `status` only collects. */
  judge?: boolean;
  /** Poll every host now, whatever checkSeconds says. */
  force?: boolean;
  /** Set here for a caller that does not judge (`status`): when its calls to a host must be done by (ms). */
  until?: number;
  /** Only the place of this run: a command about one run waits on no other host. */
  only?: { id: string; r: RunnerInfo };
  now?: number;
}

/** What an executor answers about a run that lives elsewhere, asked before a decision by hand. */
export interface RemoteRun {
  r: RunnerInfo;
  /** Decided by hand while it went on (`dispatch.outlived`), not a running entry. */
  outlived: boolean;
  /** False only when its run is gone there (ended, verdict-less or collected); undefined when it could not be asked. */
  alive: boolean | undefined;
}

/** Where a launch goes: the machine (recorded as `running.<id>.host`) and what the entry records of its place. */
export type Placement = { host: string; record?: Pick<RunnerInfo, 'executor' | 'place'> } | { wait: string };

/** What the launches of a run need of the executor, for its own checks. */
export interface CheckRequest {
  /** The agents' programs (as the runner starts them). */
  programs: string[];
  /** The specs to launch. */
  ids: string[];
  doc: StateDoc;
  /** `run --create-session`: a missing session is fine. */
  createSession?: boolean;
  /** doctor: a missing session is a warning (a run can be told to create it). */
  doctor?: boolean;
}

export interface Executor {
  kind: ExecutorKind;
  session: string;
  /**
   * Runs are on other machines: their runners never write our state; the dispatcher collects their verdicts
   * (`collect`), and their agents, checks and spec files are checked there (`checks`), not here.
   */
  remote: boolean;
  /** Panes start with their server's environment, not ours: the runner is handed ours in a private file. */
  needsRunnerEnv: boolean;
  /** Where launches go and runs go on, as a sentence ends: "in tmux session 'x'", "on their SSH hosts". */
  describe: { launchesIn: string; stillRunningIn: string };
  /** The exact commands `open` runs, for --dry-run and confirmations. */
  openCommands(req: PaneRequest): Argv[];
  /** Installed? Session running? Asked by preflight and doctor, and by ensureSession. */
  probe(): Promise<MuxProbe>;
  /** Its own preflight lines: the multiplexer and its session, or each host (reachable, same dispatch, agents there). */
  checks(req: CheckRequest): Promise<Check[]>;
  /** Resolves when the session is there; creates it when allowed, else throws a DispatchError saying how. */
  ensureSession(create: boolean): Promise<{ created: boolean; commands: Argv[] }>;
  /** Where the next launch of `spec` (as attempt `attempt`) goes, or what it waits for ("no slot now"). */
  place(spec: ResolvedSpec, doc: StateDoc, attempt?: number): Placement;
  /** Starts the runner and returns an id for its pane (zellij terminal_N, tmux %N, headless pid:N, ssh host:label). */
  open(req: PaneRequest): Promise<string>;
  /** Whether the runner of a running entry lives: undefined when this executor cannot tell (another machine). */
  alive(id: string, r: RunnerInfo): Promise<boolean | undefined>;
  /** Why a running entry cannot be reached at all (nowhere known), or undefined. */
  unreachable(id: string, r: RunnerInfo): Error | undefined;
  /**
   * Asks the runner to stop (it records why); `kill` ends it and its agent without asking. `started` is false
   * for a run not on its machine yet: its start, when it comes, starts nothing.
   */
  stop(id: string, r: RunnerInfo, how: 'ask' | 'kill'): Promise<{ started: boolean }>;
  /**
   * The run's log from `cursor` on (0: the start), and where to read on from (`size`); undefined when there is
   * none (yet). The cursor counts the bytes of the run's log read so far, wherever it is: a remote run's log
   * comes home whole when it is collected, and reading goes on in the copy here from the same count.
   */
  readLog(id: string, r: RunnerInfo | undefined, cursor: number): Promise<{ size: number; chunk: Buffer } | undefined>;
  /** How to watch the run live. */
  attach(id: string, r: RunnerInfo): Attach;
  /** The runs it holds, by label, with whether each lives. */
  list(): Promise<HeldRun[]>;
  /** Brings home what runs elsewhere decided (verdicts, logs, lost hosts); nothing to do for runs on this machine. */
  collect(opts: CollectOptions): Promise<CollectEvent[]>;
  /** Asks the machines of the remote runs of the specs `pick` takes whether each still works (local runs: judged by pid, not here). */
  ask(pick: (id: string, state: SpecState) => boolean): Promise<Map<string, RemoteRun>>;
  /** Before this process ends: what is still owed to the runs' machines (a last check, cleanups). */
  finish(opts: { lastCheck: boolean }): Promise<void>;
}

/** Kept for the local multiplexers' files: a multiplexer is an executor. */
export type Mux = Executor;
