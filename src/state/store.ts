import { closeSync, constants, existsSync, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DispatchError, EXIT, FsError, warn } from '../errors.js';
import { lockState } from './lock.js';
import { writeFileAtomic } from '../util/write-atomic.js';
import { boundReason, emptyState, extra, idsInState, normalize, own, shapeProblem, stateOf, type SpecState, type StateDoc, type VerdictKind } from './doc.js';

export const STATE_FILE = 'dispatch-state.json';
export const EVENTS_FILE = 'dispatch-events.jsonl';

export interface StateEvent {
  /** Numbers every event; the state file carries the last one, so the two can be reconciled after a crash. */
  seq: number;
  time: string;
  pid: number;
  command: string;
  spec: string;
  from: SpecState;
  to: SpecState;
  kind?: VerdictKind;
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
export const eventsPath = (stateDir: string) => join(stateDir, EVENTS_FILE);

/** Parses the state file; a missing file is an empty state. Throws CorruptStateError (or FsError when it cannot be read). */
export function readState(stateDir: string): StateDoc {
  const file = statePath(stateDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return emptyState();
    if (code === 'EISDIR') throw new CorruptStateError(file, 'a folder, not a file');
    throw new FsError('read', file, err as NodeJS.ErrnoException);
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

export interface WithStateOptions {
  /** Recorded in the journal (e.g. 'mark-done'). */
  command: string;
  /** Reason recorded for every change this call makes. */
  reason?: string;
  /** Kind recorded in the journal for changes that carry none of their own (a reset by hand: 'manual'). */
  kind?: VerdictKind;
  /** Lets `reset --yes` replace a corrupt file instead of stopping. */
  onCorrupt?: (err: CorruptStateError) => StateDoc;
  /** Abandons waiting for the lock (Ctrl-C). */
  signal?: AbortSignal;
  /** Run-level lines for the journal (a run's start and end, pauses, verify spans), numbered with the spec events. */
  runEvents?: Record<string, unknown>[];
}

/** A run-level journal line: not a spec's move but a moment of a run, for drawing its timeline. */
export type RunLevelEvent = { seq: number; time: string; pid: number; command: string; event: string } & Record<string, unknown>;

/** Writes one run-level event to the journal, numbered (and reconciled after a crash) like the spec events. */
export async function journalRunEvent(stateDir: string, e: { event: string } & Record<string, unknown>, command = 'run'): Promise<void> {
  await withState(stateDir, { command, runEvents: [e] }, () => {});
}

/**
 * The only way to change state: lock, read, validate, change, write
 * atomically, journal, unlock. `change` mutates the document in place.
 * Nothing is written when `change` throws or changes nothing.
 */
export async function withState<T>(stateDir: string, opts: WithStateOptions, change: (doc: StateDoc) => T | Promise<T>): Promise<T> {
  const file = statePath(stateDir);
  try {
    mkdirSync(stateDir, { recursive: true });
  } catch (err) {
    throw new FsError('create', stateDir, err as NodeJS.ErrnoException);
  }
  let release: () => Promise<void>;
  try {
    release = await lockState(file, { command: opts.command, signal: opts.signal });
  } catch (err) {
    // Said of the state file: the lock beside it is ours to worry about.
    if (err instanceof FsError) throw new FsError('lock', file, err.errno);
    if (err instanceof DispatchError) throw err;
    throw new FsError('lock', file, err as NodeJS.ErrnoException);
  }
  try {
    let doc: StateDoc;
    let raw: string | undefined;
    try {
      doc = readState(stateDir);
      // A missing file is written by any change, even one that leaves the document empty.
      raw = existsSync(file) ? JSON.stringify(doc) : undefined;
    } catch (err) {
      if (err instanceof CorruptStateError && opts.onCorrupt) doc = opts.onCorrupt(err);
      else throw err;
    }
    // A writer killed between its state and its journal left events behind: the journal catches up first.
    const journalSeq = catchUpJournal(stateDir, doc);
    const before = snapshot(doc);
    const result = await change(doc);
    if (JSON.stringify(doc) !== raw || opts.runEvents?.length) {
      const events: (StateEvent | RunLevelEvent)[] = eventsOf(opts, before, doc, Math.max(journalSeq, doc.dispatch?.seq ?? 0));
      let seq = events.at(-1)?.seq ?? Math.max(journalSeq, doc.dispatch?.seq ?? 0);
      for (const e of opts.runEvents ?? []) events.push({ seq: ++seq, time: new Date().toISOString(), pid: process.pid, command: opts.command, ...boundFields(e) } as RunLevelEvent);
      if (events.length) {
        // The state carries its events: if we die before the journal line below, the next writer appends them.
        const x = extra(doc);
        x.seq = events.at(-1)!.seq;
        x.lastEvents = events as unknown as Record<string, unknown>[];
      }
      writeFileAtomic(file, `${JSON.stringify(doc, null, 2)}\n`);
      if (events.length) {
        // The change is saved and the state carries these events: a journal that cannot take them now
        // (a full disk) catches up on the next write. Said, not thrown: the command did what it was asked.
        try {
          appendJournal(stateDir, events);
        } catch (err) {
          warn(`${(err as Error).message}; the change is saved, and the journal catches up on the next change`);
        }
      }
    }
    return result;
  } finally {
    await release().catch(() => {});
  }
}

/**
 * Every journal line, oldest first: spec moves and run-level moments. A line that does not parse (a torn
 * last line, a hand edit) is skipped; a journal that is missing or unreadable is empty.
 */
export function readJournal(stateDir: string): (StateEvent | RunLevelEvent)[] {
  let text: string;
  try {
    text = readFileSync(eventsPath(stateDir), 'utf8');
  } catch {
    return [];
  }
  const out: (StateEvent | RunLevelEvent)[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const e = JSON.parse(line) as unknown;
      if (e && typeof e === 'object' && !Array.isArray(e) && typeof (e as { time?: unknown }).time === 'string') out.push(e as StateEvent);
    } catch {
      // torn or edited line
    }
  }
  return out;
}

/** Bytes read at once when walking the journal backwards; a window grows up to WINDOW_MAX over a long line. */
const WINDOW_MIN = 4096;
const WINDOW_MAX = 1024 * 1024;
/** How much of a line's start is searched for its `seq` (written first; a hand edit may put it later). */
const SEQ_PREFIX = 64 * 1024;

/**
 * The journal read backwards from its end, a window at a time, keeping the last window: finding a line's
 * start and then its seq reads each byte at most once, and memory stays bounded whatever a line's length.
 */
class BackwardReader {
  private buf = Buffer.alloc(0);
  /** File offset of buf[0]. */
  private at = 0;
  private window = WINDOW_MIN;
  constructor(private readonly fd: number) {}

  /** The offset of the last newline before `pos`, or -1 when there is none (back to the file's start). */
  newlineBefore(pos: number): number {
    for (;;) {
      // Buffer.lastIndexOf takes a negative offset as counted from the end: searched only inside the window.
      if (pos > this.at && pos <= this.at + this.buf.length) {
        const i = this.buf.lastIndexOf(10, pos - this.at - 1);
        if (i >= 0) return this.at + i;
        pos = this.at;
      }
      if (pos <= 0) return -1;
      const len = Math.min(pos, this.window);
      this.buf = Buffer.alloc(len);
      readSync(this.fd, this.buf, 0, len, pos - len);
      this.at = pos - len;
      this.window = Math.min(WINDOW_MAX, this.window * 2);
    }
  }

  /** Bytes [start, end) as latin1 text (enough to find ASCII keys and digits). */
  text(start: number, end: number): string {
    if (start >= this.at && end <= this.at + this.buf.length) return this.buf.toString('latin1', start - this.at, end - this.at);
    const b = Buffer.alloc(end - start);
    readSync(this.fd, b, 0, b.length, start);
    return b.toString('latin1');
  }
}

/**
 * The highest `seq` among the journal's last lines, after cutting off a torn last line (a writer killed
 * mid-append). Read backwards from the end, as far as needed: a last seq found too low would make the
 * next writer append again the events the state carries (a duplicate seq). Every write to the state runs
 * this under the lock, and the line it needs is almost always the last one, in the first 4 KB read.
 */
function journalTail(stateDir: string): number {
  const file = eventsPath(stateDir);
  let fd: number;
  try {
    // Never through a link: the journal is dispatch's own file.
    fd = openSync(file, constants.O_RDWR | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw new FsError('open', file, err as NodeJS.ErrnoException);
  }
  try {
    const size = fstatSync(fd).size;
    if (!size) return 0;
    const r = new BackwardReader(fd);
    // The torn end, however long, goes back to the last newline (all of it when there is none).
    let lineEnd = r.newlineBefore(size);
    if (lineEnd !== size - 1) ftruncateSync(fd, lineEnd + 1);
    // Whole lines, last first: each spans [start, lineEnd) and ends with the newline at lineEnd.
    while (lineEnd >= 0) {
      const start = r.newlineBefore(lineEnd) + 1;
      const m = /"seq":(\d+)/.exec(r.text(start, Math.min(lineEnd, start + SEQ_PREFIX)));
      if (m) return Number(m[1]);
      lineEnd = start - 1;
    }
    return 0;
  } finally {
    closeSync(fd);
  }
}

/** A run-level event whose texts are bounded like a reason: one journal line stays small. */
function boundFields(e: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(e).map(([k, v]) => [k, typeof v === 'string' ? boundReason(v) : v]));
}

/** Appends the events the state has and the journal lacks; returns the journal's last seq afterwards. */
function catchUpJournal(stateDir: string, doc: StateDoc): number {
  const seq = doc.dispatch?.seq ?? 0;
  const tail = journalTail(stateDir);
  if (seq <= tail) return tail;
  const missing = (doc.dispatch?.lastEvents ?? []).filter((e) => typeof e.seq === 'number' && e.seq > tail);
  if (missing.length) appendJournal(stateDir, missing as unknown as StateEvent[]);
  return seq;
}

function appendJournal(stateDir: string, events: (StateEvent | RunLevelEvent)[]): void {
  const file = eventsPath(stateDir);
  try {
    const fd = openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
    try {
      writeSync(fd, events.map((e) => `${JSON.stringify(e)}\n`).join(''));
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    // The state is written and carries these events: the next writer appends them.
    throw new FsError('append to', file, err as NodeJS.ErrnoException);
  }
}

interface Snap {
  state: SpecState;
  reason?: string;
  kind?: VerdictKind;
}

function snapshot(doc: StateDoc): Map<string, Snap> {
  const m = new Map<string, Snap>();
  for (const id of idsInState(doc)) {
    const rec = own(doc.dispatch?.specs, id);
    m.set(id, { state: stateOf(doc, id), reason: rec?.reason, kind: rec?.kind });
  }
  return m;
}

function eventsOf(opts: WithStateOptions, before: Map<string, Snap>, doc: StateDoc, lastSeq: number): StateEvent[] {
  const after = snapshot(doc);
  const ids = new Set([...before.keys(), ...after.keys()]);
  const time = new Date().toISOString();
  const events: StateEvent[] = [];
  let seq = lastSeq;
  for (const spec of ids) {
    const b = before.get(spec);
    const a = after.get(spec);
    const from = b?.state ?? 'pending';
    const to = a?.state ?? 'pending';
    if (from === to && b?.reason === a?.reason && b?.kind === a?.kind) continue;
    // One journal line holds at most REASON_MAX of a reason, as the state does.
    const reason = a?.reason ?? boundReason(opts.reason);
    // A verdict's own kind; a move back to pending (or a launch) carries the call's, if any.
    const kind = (to !== 'pending' && to !== 'running' && a?.kind) || opts.kind;
    events.push({ seq: ++seq, time, pid: process.pid, command: opts.command, spec, from, to, ...(kind ? { kind } : {}), ...(reason ? { reason } : {}) });
  }
  return events;
}
