import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type SignalKind = 'done' | 'failed';

/** `<signalDir>/<project>-done-<id>`, as the original tool wrote for cross-script coordination. */
export function signalPath(signalDir: string, project: string, kind: SignalKind, id: string): string {
  return join(signalDir, `${project}-${kind}-${id}`);
}

/** Writes the signal for the spec's new state and removes the opposite one. */
export function writeSignal(signalDir: string, project: string, kind: SignalKind, id: string, body = ''): void {
  mkdirSync(signalDir, { recursive: true });
  writeFileSync(signalPath(signalDir, project, kind, id), body || `${new Date().toISOString()}\n`);
  rmSync(signalPath(signalDir, project, kind === 'done' ? 'failed' : 'done', id), { force: true });
}

export function clearSignals(signalDir: string, project: string, id: string): void {
  rmSync(signalPath(signalDir, project, 'done', id), { force: true });
  rmSync(signalPath(signalDir, project, 'failed', id), { force: true });
}
