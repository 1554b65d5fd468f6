import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempName } from './owned-file.js';

export type SignalKind = 'done' | 'failed';

/** `<signalDir>/<project>-done-<id>`, as the original tool wrote for cross-script coordination. */
export function signalPath(signalDir: string, project: string, kind: SignalKind, id: string): string {
  return join(signalDir, `${project}-${kind}-${id}`);
}

/**
 * Creates `file` without following a link at its name (the signal folder is
 * often the shared temp folder): an exclusive create of a fresh temp name
 * never opens an existing file or link, and rename replaces a link itself.
 */
function createFile(file: string, body: string): void {
  const tmp = tempName(file);
  try {
    writeFileSync(tmp, body, { flag: 'wx', mode: 0o644 });
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Why a signal file could not be written or removed, in one line naming it; undefined when all went well. */
export type SignalProblem = string | undefined;

function problem(file: string, err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return `the signal file ${file} could not be written: ${e.code === 'EISDIR' || e.code === 'ENOTEMPTY' ? 'a folder is in the way' : e.code === 'ENOTDIR' ? 'a file is in the way of its folder' : e.message.replace(/^[A-Z]+: /, '').replace(/, \w+ .*$/, '')} (${e.code ?? 'error'})`;
}

/**
 * Writes the signal for the spec's new state and removes the opposite one.
 * Signals come after the state is saved: a failure here is reported, never
 * thrown half-way (the state already says what happened).
 */
export function writeSignal(signalDir: string, project: string, kind: SignalKind, id: string, body = ''): SignalProblem {
  const file = signalPath(signalDir, project, kind, id);
  const opposite = signalPath(signalDir, project, kind === 'done' ? 'failed' : 'done', id);
  try {
    // The opposite goes first: never both at once, even if this one cannot be written.
    rmSync(opposite, { force: true });
  } catch (err) {
    return problem(opposite, err);
  }
  try {
    mkdirSync(signalDir, { recursive: true });
    createFile(file, body || `${new Date().toISOString()}\n`);
    return undefined;
  } catch (err) {
    return problem(file, err);
  }
}

export function clearSignals(signalDir: string, project: string, id: string): SignalProblem {
  for (const kind of ['done', 'failed'] as const) {
    const file = signalPath(signalDir, project, kind, id);
    try {
      rmSync(file, { force: true });
    } catch (err) {
      return problem(file, err).replace('could not be written', 'could not be removed');
    }
  }
  return undefined;
}
