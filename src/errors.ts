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

/** Renders any thrown value for stderr; returns the exit code to use. */
export function renderError(err: unknown, write: (s: string) => void): number {
  const debug = process.env.DISPATCH_DEBUG === '1';
  if (err instanceof DispatchError) {
    write(`dispatch: ${err.message}${err.hint ? ` — ${err.hint}` : ''}\n`);
    for (const d of err.details) write(`  ${d}\n`);
    if (debug && err.stack) write(`${err.stack}\n`);
    return err.exitCode;
  }
  // commander reports its own usage errors with a code; they are usage errors.
  const e = err as { code?: string; message?: string; stack?: string };
  write(`dispatch: internal error: ${e?.message ?? String(err)} — this is a bug, please report it with the output of DISPATCH_DEBUG=1\n`);
  if (e?.stack) write(`${e.stack}\n`);
  return EXIT.failure;
}
