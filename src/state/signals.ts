import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { FsError, osReason } from '../errors.js';
import { writeFileAtomic } from '../util/write-atomic.js';

export type SignalKind = 'done' | 'failed';

/** `<signalDir>/<project>-done-<id>`, as the original tool wrote for cross-script coordination. */
export function signalPath(signalDir: string, project: string, kind: SignalKind, id: string): string {
  return join(signalDir, `${project}-${kind}-${id}`);
}


/** Why a signal file could not be written or removed, in one line naming it; undefined when all went well. */
export type SignalProblem = string | undefined;

function problem(file: string, err: unknown, verb = 'written'): string {
  return `the signal file ${file} could not be ${verb}: ${osReason(err instanceof FsError ? err.errno : (err as NodeJS.ErrnoException))}`;
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
    // The signal folder is often the shared temp folder: a link at the name is replaced, never written through.
    writeFileAtomic(file, body || `${new Date().toISOString()}\n`, { sync: false });
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
      return problem(file, err, 'removed');
    }
  }
  return undefined;
}
