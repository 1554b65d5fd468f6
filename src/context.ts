import type { ResolvedConfig } from './config/types.js';
import { jsonVisible, terminalSafe } from './util/visible.js';

/** Where a command's text goes: the process's streams, or an in-process caller's. */
export interface Io {
  /** Text, or bytes as they are (`logs --raw`, a host's answer to its dispatcher). */
  out(chunk: string | Uint8Array): void;
  err(text: string): void;
}

/** What every command gets: global flags, output streams and the lazily loaded config. */
export interface Ctx {
  cwd: string;
  configPath?: string;
  json: boolean;
  color: boolean;
  /** stdin and stdout are terminals: prompts and live views are allowed. */
  interactive: boolean;
  /** Aborted on Ctrl-C / SIGTERM: long-running verbs stop their work and return. */
  signal: AbortSignal;
  /** Text for stdout; any control it holds that is not one of dispatch's own colours is shown as an escape. */
  out(text: string): void;
  /** A result as pretty JSON on stdout: the one shape every `--json` takes. */
  outJson(value: unknown): void;
  /** Bytes for stdout as they are: `logs --raw`, and what `remote` answers the dispatcher. */
  outRaw(chunk: string | Uint8Array): void;
  /** Text for stderr, guarded as `out` is. */
  err(text: string): void;
  config(): Promise<ResolvedConfig>;
}

export function createCtx(
  opts: { config?: string; json?: boolean; color?: boolean; cwd?: string },
  signal: AbortSignal = new AbortController().signal,
  io: Io = { out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t) },
): Ctx {
  let loaded: Promise<ResolvedConfig> | undefined;
  // The folder the command is about: the process's, or the one a caller (an in-process test) gives.
  const cwd = opts.cwd ?? process.cwd();
  const color = opts.color !== false && !process.env.NO_COLOR && (process.stdout.isTTY === true || !!process.env.FORCE_COLOR && process.env.FORCE_COLOR !== '0');
  return {
    cwd,
    configPath: opts.config,
    json: !!opts.json,
    color,
    interactive: !!process.stdin.isTTY && !!process.stdout.isTTY,
    signal,
    out: (t) => io.out(terminalSafe(t)),
    outJson: (v) => io.out(`${jsonVisible(JSON.stringify(v, null, 2))}\n`),
    outRaw: (b) => io.out(b),
    err: (t) => io.err(terminalSafe(t)),
    config() {
      loaded ??= import('./config/load.js').then((m) => m.loadConfig({ cwd, configPath: opts.config }));
      return loaded;
    },
  };
}
