import { appendFileSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DispatchError, EXIT } from '../errors.js';
import { lockState } from './lock.js';
import { emptyState, normalize, shapeProblem, stateOf, type SpecState, type StateDoc } from './doc.js';

export const STATE_FILE = 'dispatch-state.json';
export const EVENTS_FILE = 'dispatch-events.jsonl';

export interface StateEvent {
  time: string;
  pid: number;
  command: string;
  spec: string;
  from: SpecState;
  to: SpecState;
  reason?: string;
}

export class CorruptStateError extends DispatchError {
  constructor(readonly file: string, why: string) {
    super(`state file ${file} is corrupt (${why}); it was left untouched`, {
      exitCode: EXIT.failure,
      hint: "fix it by hand, or run 'dispatch reset --yes' to move it aside and start fresh",
    });
  }
}

export const statePath = (stateDir: string) => join(stateDir, STATE_FILE);

/** Parses the state file; a missing file is an empty state. Throws CorruptStateError. */
export function readState(stateDir: string): StateDoc {
  const file = statePath(stateDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
    throw new DispatchError(`cannot read ${file}: ${(err as Error).message}`, { hint: 'check its permissions' });
  }
  if (text.trim() === '') throw new CorruptStateError(file, 'empty file');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CorruptStateError(file, `bad JSON: ${(err as Error).message}`);
  }
  const problem = shapeProblem(value);
  if (problem) throw new CorruptStateError(file, problem);
  return normalize(value as Record<string, unknown>);
}

/** Writes via temp file + fsync + rename, so readers see the old or the new file, never a torn one. */
export function writeFileAtomic(file: string, data: string): void {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** writeFileAtomic off the main thread: eight planners writing at once must not stall each other's streams. */
export async function writeFileAtomicAsync(file: string, data: string): Promise<void> {
  const { open, rename } = await import('node:fs/promises');
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`;
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

export interface WithStateOptions {
  /** Recorded in the journal (e.g. 'mark-done'). */
  command: string;
  /** Reason recorded for every change this call makes. */
  reason?: string;
  /** Lets `reset --yes` replace a corrupt file instead of stopping. */
  onCorrupt?: (err: CorruptStateError) => StateDoc;
}

/**
 * The only way to change state: lock, read, validate, change, write
 * atomically, journal, unlock. `change` mutates the document in place; it may
 * run again on a fresher document, so it must not touch anything but `doc`.
 */
export async function withState<T>(stateDir: string, opts: WithStateOptions, change: (doc: StateDoc) => T | Promise<T>): Promise<T> {
  mkdirSync(stateDir, { recursive: true });
  const file = statePath(stateDir);
  let release: () => Promise<void>;
  try {
    release = await lockState(file);
  } catch (err) {
    if (err instanceof DispatchError) throw err;
    throw new DispatchError(`could not lock ${file}: ${(err as Error).message}`, {
      hint: `another dispatch may be stuck; if none runs, remove ${file}.lock`,
    });
  }
  try {
    for (let attempt = 1; ; attempt++) {
      const seen = stamp(file);
      let doc: StateDoc;
      let raw: string | undefined;
      try {
        doc = readState(stateDir);
        raw = existsSync(file) ? JSON.stringify(doc) : undefined;
      } catch (err) {
        if (err instanceof CorruptStateError && opts.onCorrupt) doc = opts.onCorrupt(err);
        else throw err;
      }
      const before = snapshot(doc);
      const result = await change(doc);
      const after = JSON.stringify(doc);
      if (after !== raw) {
        // Belt and braces: a holder frozen for longer than the stale limit loses its lock; if someone
        // replaced the file since we read it, redo the change on their version instead of overwriting it.
        if (stamp(file) !== seen && attempt < 5) continue;
        writeFileAtomic(file, `${JSON.stringify(doc, null, 2)}\n`);
        journal(stateDir, opts, before, doc);
      }
      return result;
    }
  } finally {
    await release().catch(() => {});
  }
}

/** Identity of the file's current version: every atomic write renames a new inode into place. */
function stamp(file: string): string {
  const st = statSync(file, { throwIfNoEntry: false });
  return st ? `${st.ino}:${st.size}:${st.mtimeMs}` : 'none';
}

function snapshot(doc: StateDoc): Map<string, { state: SpecState; reason?: string }> {
  const ids = new Set([...doc.completed, ...doc.failed, ...doc.skipped, ...Object.keys(doc.dispatch?.running ?? {})]);
  const m = new Map<string, { state: SpecState; reason?: string }>();
  for (const id of ids) m.set(id, { state: stateOf(doc, id), reason: doc.dispatch?.specs?.[id]?.reason });
  return m;
}

function journal(stateDir: string, opts: WithStateOptions, before: ReturnType<typeof snapshot>, doc: StateDoc): void {
  const after = snapshot(doc);
  const ids = new Set([...before.keys(), ...after.keys()]);
  const time = new Date().toISOString();
  let lines = '';
  for (const spec of ids) {
    const from = before.get(spec)?.state ?? 'pending';
    const to = after.get(spec)?.state ?? 'pending';
    const reason = after.get(spec)?.reason ?? opts.reason;
    if (from === to && before.get(spec)?.reason === after.get(spec)?.reason) continue;
    const ev: StateEvent = { time, pid: process.pid, command: opts.command, spec, from, to, ...(reason ? { reason } : {}) };
    lines += `${JSON.stringify(ev)}\n`;
  }
  if (lines) appendFileSync(join(stateDir, EVENTS_FILE), lines);
}
