// What `run` will do, computed before anything happens: which specs, the
// exact commands, the pacing. `--dry-run` prints it; the engine executes it.
import { realpathSync } from 'node:fs';
import type { ResolvedConfig, ResolvedSpec } from '../config/types.js';
import { agentCommand, usesDispatchWorktree } from '../agents/command.js';
import type { Mux } from '../executors/types.js';
import type { Argv } from '../proc/launch.js';
import { locateSpec, readSpecFolders, type SpecFiles, type SpecFolders } from '../specs/lookup.js';
import { stateOf, type SpecState, type StateDoc } from '../state/doc.js';
import { branchOf, paneNameOf, runDirOf, workDirOf } from '../attempt/paths.js';
import { canRelaunch } from '../attempt/policy.js';
import { specsOfWave } from '../config/spec-index.js';

export interface LaunchItem {
  spec: ResolvedSpec;
  paneName: string;
  cwd: string;
  runnerArgv: Argv;
  /** What the multiplexer is asked to run (the runner inside). */
  muxCommands: Argv[];
  /** What the runner will start in the pane. */
  agentArgv: Argv;
  /** Seconds to wait after this launch (cooldown by cost, plus a batch pause). */
  waitAfter: number;
  batchPause: boolean;
  worktree?: { path: string; branch: string };
  /** The spec's folder as found when the launch was planned (absent when it could not be located). */
  files?: SpecFiles;
  /** A launch that cannot be prepared (its spec folder is ambiguous): preflight names it, and it fails at its launch. */
  error?: string;
}

export interface WavePlan {
  wave: number;
  sequential: boolean;
  items: LaunchItem[];
  /** Specs of the wave not launched, with why. */
  held: { id: string; state: SpecState }[];
  /** Seconds from the first launch to the last, by the pacing alone. */
  pacingSeconds: number;
}

/** The runner command: this very dispatch, by absolute paths (not whatever `dispatch` is on PATH). */
let ownScript: string | undefined;

/** Names the script runners start, for a caller whose process is not dispatch (an in-process test). */
export function useOwnScript(script: string): void {
  ownScript = script;
}

export function runnerArgv(config: ResolvedConfig, id: string): Argv {
  if (ownScript === undefined) {
    ownScript = process.argv[1]!;
    try {
      ownScript = realpathSync(ownScript);
    } catch {
      // keep as given
    }
  }
  const script = ownScript;
  // `--`: an id may start with '-' and must not be read as an option.
  return [process.execPath, script, '--config', config.configPath, 'exec-spec', '--', id];
}


export function planWave(config: ResolvedConfig, doc: StateDoc, mux: Mux, wave: number, opts: { only?: Set<string>; folders?: SpecFolders } = {}): WavePlan {
  const specs = specsOfWave(config, wave).filter((s) => !opts.only || opts.only.has(s.id));
  const held: WavePlan['held'] = [];
  const toLaunch: ResolvedSpec[] = [];
  for (const s of specs) {
    const st = stateOf(doc, s.id);
    // An explicitly named failed spec is relaunched; other failed ones when the retry policy allows.
    if (st === 'pending' || (st === 'failed' && (opts.only || canRelaunch(config, doc, s.id)))) toLaunch.push(s);
    else held.push({ id: s.id, state: st });
  }
  const p = config.pacing;
  const batchOn = wave >= p.batch.fromWave;
  let pacingSeconds = 0;
  const folders = toLaunch.length ? (opts.folders ?? readSpecFolders(config.specsDir)) : undefined;
  const items = toLaunch.map((spec, i): LaunchItem => {
    const last = i === toLaunch.length - 1;
    const batchPause = batchOn && !last && (i + 1) % p.batch.every === 0;
    // No wait after the last launch: nothing else of this wave is waiting on the rate limit.
    const waitAfter = last ? 0 : (p.cooldownSeconds[spec.cost] ?? 0) + (batchPause ? p.batch.pauseSeconds : 0);
    pacingSeconds += waitAfter;
    return launchItem(config, mux, spec, waitAfter, batchPause, folders);
  });
  return { wave, sequential: !!config.waveOptions[String(wave)]?.sequential, items, held, pacingSeconds };
}

/** One launch: the pane, the runner inside it and the agent the runner starts. Never throws: what cannot be prepared is `error`. */
export function launchItem(config: ResolvedConfig, mux: Mux, spec: ResolvedSpec, waitAfter = 0, batchPause = false, folders?: SpecFolders): LaunchItem {
  const cwd = workDirOf(config, spec);
  const argv = runnerArgv(config, spec.id);
  const paneName = paneNameOf(config, spec.id);
  const item: LaunchItem = { spec, paneName, cwd, runnerArgv: argv, muxCommands: [], agentArgv: [spec.agent], waitAfter, batchPause };
  if (usesDispatchWorktree(spec)) item.worktree = { path: cwd, branch: branchOf(spec.id) };
  try {
    const files = locateSpec(config.specsDir, spec, folders);
    item.agentArgv = agentCommand(config, spec, { specDir: files.dir, specFile: files.specFile, planFile: files.planFile, runDir: runDirOf(config, spec.id), cwd }).argv;
    item.muxCommands = mux.openCommands({ name: paneName, cwd, argv });
    item.files = files;
  } catch (err) {
    // Never opened: launchOne fails it with `error` first.
    item.error = (err as Error).message;
  }
  return item;
}
