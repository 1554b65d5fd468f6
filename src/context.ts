import type { ResolvedConfig } from './config/load.js';

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
  out(text: string): void;
  /** A result as pretty JSON on stdout: the one shape every `--json` takes. */
  outJson(value: unknown): void;
  err(text: string): void;
  config(): Promise<ResolvedConfig>;
}

export function createCtx(opts: { config?: string; json?: boolean; color?: boolean }, signal: AbortSignal = new AbortController().signal): Ctx {
  let loaded: Promise<ResolvedConfig> | undefined;
  const color = opts.color !== false && !process.env.NO_COLOR && (process.stdout.isTTY === true || !!process.env.FORCE_COLOR && process.env.FORCE_COLOR !== '0');
  return {
    cwd: process.cwd(),
    configPath: opts.config,
    json: !!opts.json,
    color,
    interactive: !!process.stdin.isTTY && !!process.stdout.isTTY,
    signal,
    out: (t) => void process.stdout.write(t),
    outJson: (v) => void process.stdout.write(`${JSON.stringify(v, null, 2)}\n`),
    err: (t) => void process.stderr.write(t),
    config() {
      loaded ??= import('./config/load.js').then((m) => m.loadConfig({ cwd: process.cwd(), configPath: opts.config }));
      return loaded;
    },
  };
}
