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

/** Writes the signal for the spec's new state and removes the opposite one. */
export function writeSignal(signalDir: string, project: string, kind: SignalKind, id: string, body = ''): void {
  mkdirSync(signalDir, { recursive: true });
  createFile(signalPath(signalDir, project, kind, id), body || `${new Date().toISOString()}\n`);
  rmSync(signalPath(signalDir, project, kind === 'done' ? 'failed' : 'done', id), { force: true });
}

export function clearSignals(signalDir: string, project: string, id: string): void {
  rmSync(signalPath(signalDir, project, 'done', id), { force: true });
  rmSync(signalPath(signalDir, project, 'failed', id), { force: true });
}
