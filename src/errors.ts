import { visible, visibleText } from './util/visible.js';

/** Exit codes shared by every command: 0 ok, 1 operational failure, 2 usage or config error, 130 interrupted. */
export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

/**
 * The one error type deeper code throws. Only the entry point turns it into
 * output and an exit code, so helpers stay testable without exit mocks.
 */
export class DispatchError extends Error {
  readonly exitCode: number;
  readonly hint?: string;
  /** Extra lines (e.g. one per config problem) printed under the message. */
  readonly details: string[];
  constructor(message: string, opts: { exitCode?: number; hint?: string; details?: string[] } = {}) {
    super(message);
    this.name = 'DispatchError';
    this.exitCode = opts.exitCode ?? EXIT.failure;
    this.hint = opts.hint;
    this.details = opts.details ?? [];
  }
}

/** Bad flags, unknown ids, missing arguments: exit 2. */
export class UsageError extends DispatchError {
  constructor(message: string, hint?: string) {
    super(message, { exitCode: EXIT.usage, hint });
    this.name = 'UsageError';
  }
}

/** A wave the table does not have, asked for by `flag` (--wave, --from-wave...). */
export function noSuchWave(wave: number, waves: number[], flag?: string): UsageError {
  return new UsageError(`${flag ? `${flag}: ` : ''}there is no wave ${wave} — the waves are ${waves.join(', ') || 'none'}`, "see 'dispatch plan'");
}

/** No config, a config that fails to load or validate: exit 2. */
export class ConfigError extends DispatchError {
  constructor(message: string, opts: { hint?: string; details?: string[] } = {}) {
    super(message, { exitCode: EXIT.usage, ...opts });
    this.name = 'ConfigError';
  }
}

/** Ctrl-C or a terminating signal: exit 130. */
export class InterruptedError extends DispatchError {
  constructor(message = 'interrupted') {
    super(message, { exitCode: EXIT.interrupted });
    this.name = 'InterruptedError';
  }
}

const OS_REASONS: Record<string, [string, string]> = {
  ENOSPC: ['no space left on the device', 'free some space and try again'],
  EDQUOT: ['disk quota exceeded', 'free some space and try again'],
  EROFS: ['the file system is read-only', 'run dispatch where the project can be written'],
  EACCES: ['permission denied', 'check the permissions of the file and its folder'],
  EPERM: ['operation not permitted', 'check the permissions of the file and its folder'],
  EISDIR: ['a folder is in the way', 'move the folder aside'],
  ENOTEMPTY: ['a folder is in the way', 'move the folder aside'],
  ENOTDIR: ['a file is in the way of a folder on the path', 'move that file aside'],
  ENAMETOOLONG: ['the name is too long for the file system', 'use shorter names'],
  ELOOP: ['a symbolic link is in the way (dispatch does not write through links)', 'replace the link with a regular file'],
  EIO: ['an input/output error', 'check the disk'],
  EMFILE: ['too many open files', 'raise the limit (ulimit -n)'],
};

/** What the system said, in words, with its code: `no space left on the device (ENOSPC)`. */
export function osReason(err: NodeJS.ErrnoException): string {
  const code = err.code ?? 'EIO';
  return `${OS_REASONS[code]?.[0] ?? err.message.replace(/^[A-Z]+: /, '').replace(/, \w+ .*$/, '')} (${code})`;
}

/** A file operation the system refused: one line naming the file and the OS's reason (ENOSPC, EROFS...), exit 1. */
export class FsError extends DispatchError {
  readonly code: string;
  constructor(verb: string, file: string, readonly errno: NodeJS.ErrnoException) {
    const err = errno;
    const code = err.code ?? 'EIO';
    super(`cannot ${verb} ${file}: ${osReason(err)}`, { exitCode: EXIT.failure, hint: OS_REASONS[code]?.[1] ?? 'check the file and its folder' });
    this.name = 'FsError';
    this.code = code;
  }
}

/** An error from the file system (it has a code and a path), as opposed to a bug. */
export function isFsError(err: unknown): err is NodeJS.ErrnoException & { path: string } {
  const e = err as NodeJS.ErrnoException;
  return !!e && typeof e === 'object' && typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code) && typeof e.path === 'string';
}

// Where warnings go while a command runs: its stderr. One command runs at a time in a
// process (an in-process caller awaits each), so a module-level sink is enough.
let diagnostics: (s: string) => void = (s) => void process.stderr.write(s);

/** Runs `fn` with warnings sent to `sink`, then puts the previous sink back. */
export async function withDiagnostics<T>(sink: (s: string) => void, fn: () => Promise<T>): Promise<T> {
  const before = diagnostics;
  diagnostics = sink;
  try {
    return await fn();
  } finally {
    diagnostics = before;
  }
}

/** A diagnostic that does not stop the command: one line on stderr. */
export function warn(line: string): void {
  diagnostics(`dispatch: warning: ${visible(line)}\n`);
}

/**
 * Renders any thrown value for stderr; returns the exit code to use. A message
 * quotes config values, paths and what hosts said: each line is shown, not obeyed.
 */
export function renderError(err: unknown, write: (s: string) => void): number {
  const debug = process.env.DISPATCH_DEBUG === '1';
  if (err instanceof DispatchError) {
    write(`dispatch: ${visible(err.message)}${err.hint ? ` — ${visible(err.hint)}` : ''}\n`);
    for (const d of err.details) write(`  ${visible(d)}\n`);
    if (debug && err.stack) write(`${visibleText(err.stack)}\n`);
    return err.exitCode;
  }
  // A refusal of the system (full disk, read-only folder) anywhere: its own line, not "a bug".
  if (isFsError(err)) {
    const sc = err.syscall ?? '';
    const verb = sc === 'open' ? 'open' : /^(read|scandir|stat|lstat|access)/.test(sc) ? 'read' : 'write';
    return renderError(new FsError(verb, err.path, err), write);
  }
  // commander reports its own usage errors with a code; they are usage errors.
  const e = err as { code?: string; message?: string; stack?: string };
  write(`dispatch: internal error: ${visible(e?.message ?? String(err))} — this is a bug, please report it with the output of DISPATCH_DEBUG=1\n`);
  if (e?.stack) write(`${visibleText(e.stack)}\n`);
  return EXIT.failure;
}
