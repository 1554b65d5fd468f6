/**
 * The state document. The three arrays are the original Nushell tool's
 * format and stay readable by it; everything dispatch adds lives under the
 * `dispatch` key, and keys neither of us knows are carried through untouched.
 */
export interface StateDoc {
  completed: string[];
  failed: string[];
  skipped: string[];
  dispatch?: DispatchExtra;
  [key: string]: unknown;
}

export interface RunnerInfo {
  /** 0 while launching: the pane is opening and the runner has not reported in yet. */
  pid: number;
  host: string;
  startedAt: string;
  pane?: string;
  attempt?: number;
  /** The `run` that launched it. */
  runId?: string;
}

/** One launch of a spec, kept for `status --json` and `logs --attempt N`. */
export interface AttemptRecord {
  /** 1, 2, ...: numbers every launch of the spec, across retries. */
  n: number;
  startedAt: string;
  endedAt?: string;
  state?: 'done' | 'failed' | 'rate-limited';
  reason?: string;
  /** Tokens the agent reported (Codex turn.completed.usage). */
  tokens?: { input: number; cachedInput: number; output: number; total: number };
  /** The `run` that launched it (budgets count per run). */
  runId?: string;
  wave?: number;
}

export interface WaitingInfo {
  /** When it may be relaunched. */
  until: string;
  agent: string;
  reason: string;
  at: string;
}

export interface SpecRecord {
  reason?: string;
  updatedAt?: string;
  /** Launches since the spec was last put back to pending (the retry policy counts these). */
  attempts?: number;
  history?: AttemptRecord[];
  /** Done isolated specs whose branch is not merged yet. */
  awaitingMerge?: boolean;
  /** Set by `run` before it stops a stalled runner: the reason the runner records. */
  stopReason?: string;
  [key: string]: unknown;
}

export interface DispatchExtra {
  version: 1;
  running: Record<string, RunnerInfo>;
  /** Rate-limited specs waiting to be relaunched. */
  waiting?: Record<string, WaitingInfo>;
  specs: Record<string, SpecRecord>;
  [key: string]: unknown;
}

export type SpecState = 'done' | 'failed' | 'skipped' | 'running' | 'rate-limited' | 'pending';

export function emptyState(): StateDoc {
  return { completed: [], failed: [], skipped: [] };
}

/** Returns why a parsed value is not a state document, or undefined when it is one. */
export function shapeProblem(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'expected a JSON object';
  const o = v as Record<string, unknown>;
  for (const k of ['completed', 'failed', 'skipped']) {
    if (o[k] === undefined) continue;
    if (!Array.isArray(o[k]) || !(o[k] as unknown[]).every((x) => typeof x === 'string')) return `"${k}" must be an array of id strings`;
  }
  const d = o.dispatch;
  if (d !== undefined) {
    if (typeof d !== 'object' || d === null || Array.isArray(d)) return '"dispatch" must be an object';
    const dd = d as Record<string, unknown>;
    for (const k of ['running', 'specs']) {
      if (dd[k] !== undefined && (typeof dd[k] !== 'object' || dd[k] === null || Array.isArray(dd[k]))) return `"dispatch.${k}" must be an object`;
    }
  }
  return undefined;
}

/** Fills in missing arrays so the rest of the code can rely on them. */
export function normalize(v: Record<string, unknown>): StateDoc {
  const doc = v as StateDoc;
  doc.completed ??= [];
  doc.failed ??= [];
  doc.skipped ??= [];
  return doc;
}

export function extra(doc: StateDoc): DispatchExtra {
  doc.dispatch ??= { version: 1, running: {}, specs: {} };
  doc.dispatch.running ??= {};
  doc.dispatch.specs ??= {};
  return doc.dispatch;
}

export function stateOf(doc: StateDoc, id: string): SpecState {
  if (doc.completed.includes(id)) return 'done';
  if (doc.failed.includes(id)) return 'failed';
  if (doc.skipped.includes(id)) return 'skipped';
  if (doc.dispatch?.running?.[id]) return 'running';
  if (doc.dispatch?.waiting?.[id]) return 'rate-limited';
  return 'pending';
}

/** Fast lookups for listing many specs at once. */
export function stateIndex(doc: StateDoc): (id: string) => SpecState {
  const done = new Set(doc.completed);
  const failed = new Set(doc.failed);
  const skipped = new Set(doc.skipped);
  const running = doc.dispatch?.running ?? {};
  const waiting = doc.dispatch?.waiting ?? {};
  return (id) =>
    done.has(id) ? 'done' : failed.has(id) ? 'failed' : skipped.has(id) ? 'skipped' : running[id] ? 'running' : waiting[id] ? 'rate-limited' : 'pending';
}

/** Takes the spec out of the original tool's three arrays. */
function leaveArrays(doc: StateDoc, id: string): void {
  doc.completed = doc.completed.filter((i) => i !== id);
  doc.failed = doc.failed.filter((i) => i !== id);
  doc.skipped = doc.skipped.filter((i) => i !== id);
}

/** Ends a rate-limited wait; an empty `waiting` is dropped so files without rate limits keep their shape. */
function stopWaiting(x: DispatchExtra, id: string): void {
  if (!x.waiting) return;
  delete x.waiting[id];
  if (!Object.keys(x.waiting).length) delete x.waiting;
}

/** Moves a spec to a state; returns true when something changed. */
export function setState(doc: StateDoc, id: string, to: SpecState, reason?: string): boolean {
  const from = stateOf(doc, id);
  // Decide before touching the doc: a no-op must leave the original tool's file byte for byte.
  const reasonChanged = reason !== undefined && doc.dispatch?.specs?.[id]?.reason !== reason;
  if (from === to && !reasonChanged) return false;
  const x = extra(doc);
  const rec = (x.specs[id] ??= {});
  leaveArrays(doc, id);
  if (to !== 'running') delete x.running[id];
  if (to !== 'rate-limited') stopWaiting(x, id);
  if (to === 'done') doc.completed.push(id);
  if (to === 'failed') doc.failed.push(id);
  if (to === 'skipped') doc.skipped.push(id);
  rec.updatedAt = new Date().toISOString();
  if (to === 'pending') {
    // Back to pending starts the retry count afresh; the record of past attempts stays, and so
    // does the worktree dispatch made (so the next launch reuses it and `merge` still knows it).
    const keep = { ...(rec.history?.length ? { history: rec.history } : {}), ...(rec.worktree ? { worktree: rec.worktree } : {}) };
    if (Object.keys(keep).length) x.specs[id] = keep;
    else delete x.specs[id];
  } else if (reason !== undefined) rec.reason = reason;
  else delete rec.reason;
  if (to !== 'done') delete rec.awaitingMerge;
  return true;
}

/** Records a spec as running (launching: pid 0 until the runner reports in). */
export function markRunning(doc: StateDoc, id: string, info: RunnerInfo): void {
  leaveArrays(doc, id);
  const x = extra(doc);
  x.running[id] = info;
  stopWaiting(x, id);
  const rec = (x.specs[id] ??= {});
  rec.updatedAt = info.startedAt;
  delete rec.reason;
  delete rec.awaitingMerge;
}

/** A rate-limited spec: not failed, waiting until `info.until` to be relaunched. */
export function markRateLimited(doc: StateDoc, id: string, info: WaitingInfo): void {
  setState(doc, id, 'rate-limited', info.reason);
  const x = extra(doc);
  (x.waiting ??= {})[id] = info;
}
