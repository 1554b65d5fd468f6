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
  /** The launch number: this launch's entry `n` in the spec's history (what logs --attempt, DISPATCH_ATTEMPT and {attempt} say). */
  attempt?: number;
  /** The `run` that launched it. */
  runId?: string;
  /** The agent's process group, recorded by the runner when it starts it: stopped when the runner dies. */
  agent?: AgentGroup;
  /** Set for a run on another machine (the SSH host `host`): the executor that launched it, and collects its verdict. */
  executor?: RemoteExecutor;
  /** SSH runs: where the run really is, so it stays reachable when its host is renamed or removed in the config. */
  place?: RunPlace;
}

/**
 * An SSH run's address as it was launched: how to reach its host, where the project's runs are there, and
 * the names it was started under. Written by versions that record it; older entries have none (see hosts.ts).
 */
export interface RunPlace {
  /** What `ssh` was given (`host`, `user@host`, an ssh config name). */
  host: string;
  port?: number;
  identityFile?: string;
  options?: string[];
  /** The dispatch command there. */
  dispatch: string | string[];
  /** The checkout on the host. */
  dir: string;
  /** The project's folder there (`<dir>/.dispatch/<project>`). */
  base: string;
  /** The run's folder name under `<base>/runs`. */
  label: string;
  /** The exact tmux session name it was started under. */
  session: string;
}

import type { AgentGroup } from '../proc/group.js';
export type { AgentGroup } from '../proc/group.js';

/**
 * What a verdict was, as data: the retry policy, the journal, hooks and
 * `status` decide by this, never by a reason's wording.
 */
export const VERDICT_KINDS = [
  'done', 'agent-failed', 'verify-failed', 'no-changes', 'rate-limited', 'quota-exhausted',
  'launch-error', 'interrupted', 'lost', 'stalled', 'manual', 'merge-conflict',
] as const;
export type VerdictKind = (typeof VERDICT_KINDS)[number];

/** One launch of a spec, kept for `status --json` and `logs --attempt N`. */
export interface AttemptRecord {
  /** 1, 2, ...: numbers every launch of the spec, across retries. */
  n: number;
  startedAt: string;
  endedAt?: string;
  state?: 'done' | 'failed' | 'rate-limited';
  kind?: VerdictKind;
  reason?: string;
  /** Tokens the agent reported (Codex turn.completed.usage). */
  /** `lowerBound`: a turn failed, and a failed Codex turn reports no usage: only the turns before it are counted. */
  tokens?: { input: number; cachedInput: number; output: number; total: number; lowerBound?: boolean };
  /** What the agent said the attempt cost, in dollars (Claude Code's total_cost_usd). */
  costUsd?: number;
  /** How the agent ended. */
  exit?: { code?: number; signal?: string };
  /** Each verify command as it ran (up to the first that failed). */
  verify?: { argv: string[]; exitCode?: number; signal?: string; timedOut?: boolean; error?: string; seconds: number; ok: boolean; tail?: string }[];
  /** Auto-Claude's own QA outcome (qa_signoff.status in its implementation_plan.json). */
  qa?: string;
  /** What the attempt did to the code, as git sees it (git projects only). */
  git?: { before?: string; after?: string; files: number; insertions: number; deletions: number; changed: boolean; shared?: boolean };
  /** The `run` that launched it (budgets count per run). */
  runId?: string;
  wave?: number;
  /** The pid of the runner that gave the verdict: its hook still runs after it, and `run` waits for that. */
  runner?: number;
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
  /** What the last verdict was (with `reason`, why). */
  kind?: VerdictKind;
  updatedAt?: string;
  /** Launches since the spec was last put back to pending (the retry policy counts these). */
  attempts?: number;
  history?: AttemptRecord[];
  /** Done isolated specs whose branch is not merged yet. */
  awaitingMerge?: boolean;
  /** Set before a runner is stopped (a stall, `dispatch stop`): the reason and kind the runner records. */
  stopReason?: string;
  stopKind?: VerdictKind;
  [key: string]: unknown;
}

export interface DispatchExtra {
  version: 1;
  running: Record<string, RunnerInfo>;
  /** Rate-limited specs waiting to be relaunched. */
  waiting?: Record<string, WaitingInfo>;
  specs: Record<string, SpecRecord>;
  /** Sequence number of the last journal event; the journal's lines carry theirs. */
  seq?: number;
  /** The last change's journal events, written with the state: a writer killed before its journal line is caught up by the next. */
  lastEvents?: Record<string, unknown>[];
  /**
   * SSH runs decided by hand (mark-done, mark-failed, skip) while they went on, by spec id: still reached,
   * collected and cleaned where they are. A local runner closes its own attempt; an SSH runner cannot write
   * here, so without this its run would count as no longer current and be discarded with its work.
   */
  outlived?: Record<string, RunnerInfo>;
  /**
   * Places no configured host is at whose runs were given up when they stopped answering, by place key:
   * checked again until they answer, so what they still run of those attempts is stopped there.
   */
  recheck?: Record<string, { host: string; place: RunPlace }>;
  [key: string]: unknown;
}

export type SpecState = 'done' | 'failed' | 'skipped' | 'running' | 'rate-limited' | 'pending';

export function emptyState(): StateDoc {
  return { completed: [], failed: [], skipped: [] };
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const optType = (o: Record<string, unknown>, k: string, t: 'string' | 'number' | 'boolean') => o[k] === undefined || typeof o[k] === t;
/** `dispatch.running.001`, or `dispatch.running["a b"]` when the id is not a plain word. */
const field = (base: string, key: string) => (/^[A-Za-z0-9_-]+$/.test(key) ? `${base}.${key}` : `${base}[${JSON.stringify(key)}]`);

/** The executors whose runs live elsewhere, as entries name them (`running.<id>.executor`). */
export const REMOTE_EXECUTORS = ['ssh'] as const;
export type RemoteExecutor = (typeof REMOTE_EXECUTORS)[number];

function runnerProblem(path: string, r: unknown): string | undefined {
  if (!isObj(r)) return `"${path}" must be an object (a runner: pid, startedAt)`;
  if (!Number.isInteger(r.pid) || (r.pid as number) < 0) return `"${path}.pid" must be a whole number`;
  if (typeof r.startedAt !== 'string') return `"${path}.startedAt" must be a time string`;
  for (const k of ['host', 'pane', 'runId']) if (!optType(r, k, 'string')) return `"${path}.${k}" must be a string`;
  if (r.executor !== undefined && !(REMOTE_EXECUTORS as readonly unknown[]).includes(r.executor)) return `"${path}.executor" must be one of ${REMOTE_EXECUTORS.map((k) => `"${k}"`).join(', ')}`;
  if (!optType(r, 'attempt', 'number')) return `"${path}.attempt" must be a number`;
  if (r.agent !== undefined && (!isObj(r.agent) || !Number.isInteger(r.agent.pgid))) return `"${path}.agent" must be an object with a numeric pgid`;
  return r.place === undefined ? undefined : placeProblem(`${path}.place`, r.place);
}

function placeProblem(path: string, p: unknown): string | undefined {
  if (!isObj(p)) return `"${path}" must be an object (host, dir, base, label, session)`;
  for (const k of ['host', 'dir', 'base', 'label', 'session']) if (typeof p[k] !== 'string' || !p[k]) return `"${path}.${k}" must be a string`;
  if (!optType(p, 'identityFile', 'string')) return `"${path}.identityFile" must be a string`;
  if (p.port !== undefined && !(Number.isInteger(p.port) && (p.port as number) > 0 && (p.port as number) < 65536)) return `"${path}.port" must be a port number`;
  const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (p.options !== undefined && !strings(p.options)) return `"${path}.options" must be a list of ssh options`;
  if (!(typeof p.dispatch === 'string' || (strings(p.dispatch) && (p.dispatch as string[]).length))) return `"${path}.dispatch" must be a command`;
  return undefined;
}

const KINDS: readonly string[] = VERDICT_KINDS;
const kindProblem = (path: string, v: unknown) => (v === undefined || KINDS.includes(v as string) ? undefined : `"${path}" must be one of ${VERDICT_KINDS.join(', ')}`);
const tokenProblem = (path: string, t: unknown) => {
  if (t === undefined) return undefined;
  if (!isObj(t) || !['input', 'cachedInput', 'output', 'total'].every((k) => t[k] === undefined || (typeof t[k] === 'number' && Number.isFinite(t[k])))) return `"${path}" must be an object of token counts`;
  return undefined;
};

function specRecordProblem(path: string, r: unknown): string | undefined {
  if (!isObj(r)) return `"${path}" must be an object`;
  for (const k of ['reason', 'kind', 'updatedAt', 'stopReason', 'stopKind']) if (!optType(r, k, 'string')) return `"${path}.${k}" must be a string`;
  const bad = kindProblem(`${path}.kind`, r.kind) ?? kindProblem(`${path}.stopKind`, r.stopKind);
  if (bad) return bad;
  if (!optType(r, 'attempts', 'number')) return `"${path}.attempts" must be a number`;
  if (!optType(r, 'awaitingMerge', 'boolean')) return `"${path}.awaitingMerge" must be true or false`;
  if (r.worktree !== undefined && !isObj(r.worktree)) return `"${path}.worktree" must be an object`;
  if (r.history !== undefined) {
    if (!Array.isArray(r.history)) return `"${path}.history" must be an array of attempts`;
    for (const [i, h] of r.history.entries()) {
      if (!isObj(h) || !Number.isInteger(h.n) || typeof h.startedAt !== 'string') return `"${path}.history[${i}]" must be an attempt (n, startedAt)`;
      for (const k of ['endedAt', 'state', 'kind', 'reason', 'runId']) if (!optType(h, k, 'string')) return `"${path}.history[${i}].${k}" must be a string`;
      const hb = kindProblem(`${path}.history[${i}].kind`, h.kind) ?? tokenProblem(`${path}.history[${i}].tokens`, h.tokens);
      if (hb) return hb;
      // Evidence: read by status, logs and retry prompts; a hand-edited wrong shape is named, not trusted.
      if (h.exit !== undefined && !isObj(h.exit)) return `"${path}.history[${i}].exit" must be an object`;
      if (h.runner !== undefined && !(Number.isInteger(h.runner) && (h.runner as number) > 0)) return `"${path}.history[${i}].runner" must be a process id`;
      if (h.git !== undefined && !isObj(h.git)) return `"${path}.history[${i}].git" must be an object`;
      if (h.verify !== undefined && (!Array.isArray(h.verify) || !h.verify.every((v) => isObj(v) && Array.isArray(v.argv)))) return `"${path}.history[${i}].verify" must be a list of checks`;
    }
  }
  return undefined;
}

function waitingProblem(path: string, w: unknown): string | undefined {
  if (!isObj(w)) return `"${path}" must be an object (until, agent, reason)`;
  if (typeof w.until !== 'string' || Number.isNaN(Date.parse(w.until))) return `"${path}.until" must be a time string`;
  for (const k of ['agent', 'reason', 'at']) if (!optType(w, k, 'string')) return `"${path}.${k}" must be a string`;
  return undefined;
}

/**
 * Returns why a parsed value is not a state document, naming the field, or
 * undefined when it is one. Everything dispatch later reads is checked here,
 * so no command meets a wrong shape halfway through.
 */
export function shapeProblem(v: unknown): string | undefined {
  if (!isObj(v)) return 'expected a JSON object';
  for (const k of ['completed', 'failed', 'skipped']) {
    if (v[k] === undefined) continue;
    if (!Array.isArray(v[k]) || !(v[k] as unknown[]).every((x) => typeof x === 'string')) return `"${k}" must be an array of id strings`;
  }
  const d = v.dispatch;
  if (d === undefined) return undefined;
  if (!isObj(d)) return '"dispatch" must be an object';
  for (const k of ['running', 'specs', 'waiting', 'outlived', 'recheck']) if (d[k] !== undefined && !isObj(d[k])) return `"dispatch.${k}" must be an object`;
  if (d.seq !== undefined && (!Number.isSafeInteger(d.seq) || (d.seq as number) < 0)) return '"dispatch.seq" must be a whole number';
  if (d.lastEvents !== undefined) {
    if (!Array.isArray(d.lastEvents)) return '"dispatch.lastEvents" must be an array of events';
    for (const [i, e] of d.lastEvents.entries()) {
      if (!isObj(e) || !Number.isSafeInteger(e.seq) || !(typeof e.event === 'string' ? ['time', 'command'] : ['spec', 'from', 'to', 'time', 'command']).every((k) => typeof e[k] === 'string')) return `"dispatch.lastEvents[${i}]" must be an event (seq, time, command, and spec, from, to or a run's event)`;
    }
  }
  for (const [id, r] of Object.entries((d.running ?? {}) as object)) {
    const p = runnerProblem(field('dispatch.running', id), r);
    if (p) return p;
  }
  for (const [k, r] of Object.entries((d.recheck ?? {}) as object)) {
    if (!isObj(r) || typeof r.host !== 'string') return `"${field('dispatch.recheck', k)}" must be an object (host, place)`;
    const p = placeProblem(`${field('dispatch.recheck', k)}.place`, r.place);
    if (p) return p;
  }
  for (const [id, r] of Object.entries((d.outlived ?? {}) as object)) {
    const p = runnerProblem(field('dispatch.outlived', id), r);
    if (p) return p;
    // Only a remote run outlives a decision by hand (decideByHand): one that names no executor is not one.
    if ((r as { executor?: unknown }).executor === undefined) return `"${field('dispatch.outlived', id)}.executor" must be one of ${REMOTE_EXECUTORS.map((k) => `"${k}"`).join(', ')}`;
  }
  for (const [id, r] of Object.entries((d.specs ?? {}) as object)) {
    const p = specRecordProblem(field('dispatch.specs', id), r);
    if (p) return p;
  }
  for (const [id, w] of Object.entries((d.waiting ?? {}) as object)) {
    const p = waitingProblem(field('dispatch.waiting', id), w);
    if (p) return p;
  }
  return undefined;
}

/** `map[key]` if it is the map's own entry: never an inherited `constructor` or `toString`. */
export function own<T>(map: Record<string, T> | undefined, key: string): T | undefined {
  return map && Object.prototype.hasOwnProperty.call(map, key) ? map[key] : undefined;
}

/** A copy without a prototype: an id such as `constructor` or `__proto__` must not find Object's. */
export function bare<T>(o: Record<string, T> | undefined): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  if (o) for (const k of Object.keys(o)) out[k] = o[k]!;
  return out;
}

/** Fills in missing arrays and gives every map keyed by id no prototype, so the rest of the code can rely on both. */
export function normalize(v: Record<string, unknown>): StateDoc {
  const doc = v as StateDoc;
  doc.completed ??= [];
  doc.failed ??= [];
  doc.skipped ??= [];
  const d = doc.dispatch;
  if (d) {
    if (d.running) d.running = bare(d.running);
    if (d.specs) d.specs = bare(d.specs);
    if (d.waiting) d.waiting = bare(d.waiting);
    if (d.outlived) d.outlived = bare(d.outlived);
    if (d.recheck) d.recheck = bare(d.recheck);
    // Written before verdicts had kinds: inferred once, here.
    if (d.specs) {
      const state = stateIndex(doc);
      for (const [id, rec] of Object.entries(d.specs)) {
        if (!rec.kind && rec.reason !== undefined) {
          const k = inferKind(state(id), rec.reason);
          if (k) rec.kind = k;
        }
        for (const h of rec.history ?? []) if (!h.kind && h.state) h.kind = inferKind(h.state, h.reason);
      }
    }
  }
  return doc;
}

/**
 * Every id the state document knows a state for: the one definition the
 * journal, `reset`/`retry` and the unknown-id listing use.
 */
export function idsInState(doc: StateDoc): Set<string> {
  return new Set([
    ...doc.completed, ...doc.failed, ...doc.skipped,
    ...Object.keys(doc.dispatch?.running ?? {}), ...Object.keys(doc.dispatch?.waiting ?? {}),
  ]);
}

export function extra(doc: StateDoc): DispatchExtra {
  doc.dispatch ??= { version: 1, running: bare<RunnerInfo>(undefined), specs: bare<SpecRecord>(undefined) };
  doc.dispatch.running ??= bare(undefined);
  doc.dispatch.specs ??= bare(undefined);
  return doc.dispatch;
}

// Membership of the original tool's arrays, by a set kept beside each array: asking for every spec of
// a 10,000-spec table must not scan 10,000 ids each time. The arrays only grow by push or are replaced
// (leaveArrays), so a set is fresh while its array is the same one with the same length.
const memberSets = new WeakMap<string[], { length: number; set: Set<string> }>();
function inArray(list: string[], id: string): boolean {
  if (list.length < 32) return list.includes(id);
  let m = memberSets.get(list);
  if (m && m.length < list.length) {
    // Pushed onto since: add the new tail only.
    for (let i = m.length; i < list.length; i++) m.set.add(list[i]!);
    m.length = list.length;
  } else if (!m || m.length !== list.length) {
    m = { length: list.length, set: new Set(list) };
    memberSets.set(list, m);
  }
  return m.set.has(id);
}

export function stateOf(doc: StateDoc, id: string): SpecState {
  if (inArray(doc.completed, id)) return 'done';
  if (inArray(doc.failed, id)) return 'failed';
  if (inArray(doc.skipped, id)) return 'skipped';
  if (own(doc.dispatch?.running, id)) return 'running';
  if (own(doc.dispatch?.waiting, id)) return 'rate-limited';
  return 'pending';
}

/** Lookups for listing many specs at once: stateOf itself answers from sets kept beside the arrays. */
export function stateIndex(doc: StateDoc): (id: string) => SpecState {
  return (id) => stateOf(doc, id);
}

/** Takes the spec out of the original tool's three arrays. */
function leaveArrays(doc: StateDoc, id: string): void {
  // Only the array that holds it is copied: marking 10,000 specs must not copy every array each time.
  if (inArray(doc.completed, id)) doc.completed = doc.completed.filter((i) => i !== id);
  if (inArray(doc.failed, id)) doc.failed = doc.failed.filter((i) => i !== id);
  if (inArray(doc.skipped, id)) doc.skipped = doc.skipped.filter((i) => i !== id);
}

/** Ends a rate-limited wait; an empty `waiting` is dropped so files without rate limits keep their shape. */
function stopWaiting(x: DispatchExtra, id: string): void {
  if (!x.waiting) return;
  delete x.waiting[id];
  if (!Object.keys(x.waiting).length) delete x.waiting;
}

/** The kind a verdict has when none is given: the state's plain meaning. */
const DEFAULT_KIND: Partial<Record<SpecState, VerdictKind>> = { done: 'done', failed: 'agent-failed', skipped: 'manual', 'rate-limited': 'rate-limited' };

/**
 * The kind of a spec's last verdict (undefined while pending or running).
 * A file of the original tool has no kinds: its states read as their plain meaning.
 */
export function kindOf(doc: StateDoc, id: string, state = stateOf(doc, id)): VerdictKind | undefined {
  if (state === 'pending' || state === 'running') return undefined;
  return own(doc.dispatch?.specs, id)?.kind ?? DEFAULT_KIND[state];
}

/**
 * What an older dispatch meant by a reason it wrote without a kind. The one
 * place that reads a reason's wording: once, when a state file without kinds
 * is read; everything after decides by the kind.
 */
export function inferKind(state: string | undefined, reason: string | undefined): VerdictKind | undefined {
  if (state !== 'failed') return DEFAULT_KIND[state as SpecState];
  const r = reason ?? '';
  if (/^interrupted/.test(r)) return 'interrupted';
  if (/^(launch failed|cannot start|no spec\.md|worktree .* is missing)/.test(r)) return 'launch-error';
  if (/^marked failed/.test(r)) return 'manual';
  if (/^stalled/.test(r)) return 'stalled';
  if (/^lost/.test(r)) return 'lost';
  if (/^rate-limited \d+ times/.test(r)) return 'quota-exhausted';
  return 'agent-failed';
}

/** How much of a reason (or any text from outside) the state and the journal keep: every `status` reads them whole. */
export const REASON_MAX = 4096;

/**
 * `text` cut to at most REASON_MAX characters, ending with a marker that says how long it was; short
 * text unchanged. Cutting again changes nothing, so every layer may bound what it is given.
 */
export function boundReason(text: string): string;
export function boundReason(text: string | undefined): string | undefined;
export function boundReason(text: string | undefined): string | undefined {
  if (text === undefined || text.length <= REASON_MAX) return text;
  const marker = `… [cut: ${text.length} characters in all]`;
  let end = REASON_MAX - marker.length;
  // Never half a surrogate pair: the cut text stays valid UTF-16 (and so valid JSON/UTF-8).
  if (/[\uD800-\uDBFF]/.test(text[end - 1]!)) end--;
  return `${text.slice(0, end)}${marker}`;
}

/** Moves a spec to a state with the verdict's kind; returns true when something changed. */
export function setState(doc: StateDoc, id: string, to: SpecState, reason?: string, kind?: VerdictKind): boolean {
  reason = boundReason(reason);
  const from = stateOf(doc, id);
  const prev = own(doc.dispatch?.specs, id);
  const newKind = to === 'pending' || to === 'running' ? undefined : (kind ?? DEFAULT_KIND[to]);
  // Decide before touching the doc: a no-op must leave the original tool's file byte for byte.
  const reasonChanged = reason !== undefined && prev?.reason !== reason;
  // A kind alone changes nothing: `mark-done` on a done spec stays a no-op.
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
  } else {
    if (reason !== undefined) rec.reason = reason;
    else delete rec.reason;
    if (newKind) rec.kind = newKind;
    else delete rec.kind;
  }
  if (to !== 'done') delete rec.awaitingMerge;
  return true;
}

/** The number the next launch of a spec gets: one past every launch on record, never reused. */
export function nextLaunchNumber(doc: StateDoc, id: string): number {
  let n = 0;
  for (const h of own(doc.dispatch?.specs, id)?.history ?? []) if (h.n > n) n = h.n;
  return n + 1;
}

/** Ends launch `n` in the spec's history, if it is still open (its first verdict stands). */
export function closeLaunch(doc: StateDoc, id: string, n: number, end: Omit<AttemptRecord, 'n' | 'startedAt'>): void {
  const rec = own(doc.dispatch?.specs, id);
  if (!rec?.history) return;
  if (end.reason !== undefined) end = { ...end, reason: boundReason(end.reason) };
  rec.history = rec.history.map((h) => (h.n === n && !h.endedAt ? { ...h, endedAt: new Date().toISOString(), ...end } : h));
}

/** An attempt's verdict as its runner (or the collector of a remote run) records it. */
export interface AttemptVerdict {
  state: 'done' | 'failed' | 'rate-limited';
  kind: VerdictKind;
  reason?: string;
  /** Rate-limited: when it may be relaunched (without it, a rate limit is recorded as a failure). */
  until?: string;
  /** Rate-limited: the agent that is paused. */
  agent?: string;
  /** Done by an isolated spec: its work waits for a merge. */
  awaitingMerge?: boolean;
}

/**
 * Records an attempt's verdict: the spec's state (or its wait for a rate limit), the attempt closed with its
 * evidence, and a stop asked of it answered. The one writer of a verdict, for local and remote runs alike.
 */
export function recordVerdict(doc: StateDoc, id: string, attempt: number, v: AttemptVerdict, end: Omit<AttemptRecord, 'n' | 'startedAt' | 'state' | 'kind' | 'reason'>): void {
  const rec = (extra(doc).specs[id] ??= {});
  delete rec.stopReason;
  delete rec.stopKind;
  const waits = v.state === 'rate-limited' && v.until !== undefined;
  if (waits) markRateLimited(doc, id, { until: v.until!, agent: v.agent ?? '', reason: v.reason ?? 'rate limited', at: end.endedAt ?? new Date().toISOString() });
  else setState(doc, id, v.state === 'rate-limited' ? 'failed' : v.state, v.reason, v.kind);
  if (v.state === 'done' && v.awaitingMerge) extra(doc).specs[id]!.awaitingMerge = true;
  closeLaunch(doc, id, attempt, { ...end, state: v.state === 'rate-limited' && !waits ? 'failed' : v.state, kind: v.kind, ...(v.reason ? { reason: v.reason } : {}) });
}

/**
 * Fails a running (or launching) spec from outside its runner — lost, stopped by hand, not launched —
 * and closes the launch it had in the history with the same verdict.
 */
export function failLaunch(doc: StateDoc, id: string, reason: string, kind: VerdictKind, opts: { answerStop?: boolean } = {}): { reason: string; kind: VerdictKind } {
  const rec = own(doc.dispatch?.specs, id);
  // A stop asked for meanwhile names its own reason and kind, as a runner's verdict would.
  if (opts.answerStop && rec?.stopReason) {
    reason = rec.stopReason;
    kind = rec.stopKind ?? 'interrupted';
    delete rec.stopReason;
    delete rec.stopKind;
  }
  const n = own(doc.dispatch?.running, id)?.attempt ?? rec?.history?.at(-1)?.n;
  setState(doc, id, 'failed', reason, kind);
  if (n !== undefined) closeLaunch(doc, id, n, { state: 'failed', kind, reason });
  return { reason, kind };
}

/**
 * A decision by hand (mark-done, mark-failed, skip): the spec's state is the person's word. An SSH run still
 * under way is kept as outlived, so its work is still fetched and its attempt closed when it ends (as a
 * local runner does on its own), and no second agent starts beside it.
 */
export function decideByHand(doc: StateDoc, id: string, to: 'done' | 'failed' | 'skipped', reason?: string): boolean {
  const r = own(doc.dispatch?.running, id);
  const changed = setState(doc, id, to, reason, 'manual');
  if (changed && isRemote(r)) (extra(doc).outlived ??= bare(undefined))[id] = r;
  return changed;
}

/**
 * Asks a running spec's runner to stop, naming why and as what (a stall, `dispatch stop`): the runner records
 * that verdict when it stops. Only while the spec runs and its entry is still `still` (that very launch).
 */
export function requestStop(doc: StateDoc, id: string, reason: string, kind: VerdictKind, still: (r: RunnerInfo) => boolean = () => true): boolean {
  const r = own(doc.dispatch?.running, id);
  if (!r || !still(r)) return false;
  const rec = (extra(doc).specs[id] ??= {});
  rec.stopReason = boundReason(reason);
  rec.stopKind = kind;
  return true;
}

/** The reason a stalled agent is stopped with. */
export const stallReason = (quietSeconds: number, restart: boolean) =>
  `stalled: no output for ${quietSeconds >= 120 ? `${Math.round(quietSeconds / 60)} min` : `${Math.round(quietSeconds)} s`}${restart ? ' (restarting)' : ''}`;

/** An outlived SSH run's end: its attempt closed with how it ended, and it is no longer watched. Only that very run. */
export function endOutlived(doc: StateDoc, id: string, attempt: number | undefined, end: Omit<AttemptRecord, 'n' | 'startedAt'>): boolean {
  const o = own(doc.dispatch?.outlived, id);
  if (!o || o.attempt !== attempt) return false;
  delete doc.dispatch!.outlived![id];
  if (!Object.keys(doc.dispatch!.outlived!).length) delete doc.dispatch!.outlived;
  if (attempt !== undefined) closeLaunch(doc, id, attempt, end);
  return true;
}

/** An SSH run's place to check again until it answers (then what it still runs of attempts no longer current is stopped). */
export function recheckLater(doc: StateDoc, r: RunnerInfo): void {
  const p = r.place;
  if (!p) return;
  (extra(doc).recheck ??= bare(undefined))[placeKey(p.host, p.port, p.base)] = { host: r.host, place: p };
}

/** A place to check again has answered (what it still ran of attempts no longer current was stopped). */
export function recheckDone(doc: StateDoc, key: string): void {
  const r = doc.dispatch?.recheck;
  if (!r || !own(r, key)) return;
  delete r[key];
  if (!Object.keys(r).length) delete doc.dispatch!.recheck;
}

/**
 * A running entry learns where its runner is (its pid once adopted, its place, the session its host really
 * started, its agent's group): only while the entry is still `still` (that very launch).
 */
export function noteRunner(doc: StateDoc, id: string, still: (r: RunnerInfo) => boolean, facts: Partial<Pick<RunnerInfo, 'pid' | 'place' | 'agent'>>): boolean {
  const r = own(doc.dispatch?.running, id);
  if (!r || !still(r)) return false;
  Object.assign(r, facts);
  return true;
}

/** A spec's work is on its branch here (`createdBy: 'dispatch'`: dispatch may move and remove it). */
export function recordWorktree(doc: StateDoc, id: string, worktree: object): void {
  (extra(doc).specs[id] ??= {}).worktree = worktree;
}

/** A place as an address (ssh host, port, project folder): equal keys are the same place whatever the config calls it. */
export const placeKey = (host: string, port: number | undefined, base: string) => JSON.stringify([host, port ?? null, base.replace(/\/+$/, '')]);

/**
 * Whether a run lives on another machine (its entry names the executor that launched it): its runner never
 * writes this state, and its verdict is brought home by collecting it.
 */
export const isRemote = (r: RunnerInfo | undefined): r is RunnerInfo & { executor: RemoteExecutor } => r?.executor !== undefined;

/** Whether the state holds anything on other machines to collect or check: remote running entries, outlived runs, places to check again. */
export function hasRemoteWork(doc: StateDoc): boolean {
  const d = doc.dispatch;
  if (!d) return false;
  if (d.outlived && Object.keys(d.outlived).length) return true;
  if (d.recheck && Object.keys(d.recheck).length) return true;
  for (const id in d.running) if (isRemote(d.running[id])) return true;
  return false;
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
  delete rec.kind;
  delete rec.awaitingMerge;
}

/**
 * What the scheduler saw of a spec when it chose to launch it: its state and when that state was
 * recorded. A launch is claimed only while what it was chosen for still stands.
 */
export interface LaunchBasis {
  state: SpecState;
  at?: string;
  kind?: VerdictKind;
}

export function launchBasis(doc: StateDoc, id: string): LaunchBasis {
  const rec = own(doc.dispatch?.specs, id);
  return { state: stateOf(doc, id), ...(rec?.updatedAt !== undefined ? { at: rec.updatedAt } : {}), ...(rec?.kind ? { kind: rec.kind } : {}) };
}

/**
 * The state that forbids claiming this launch now, or undefined when it may be claimed: the spec is
 * pending, or still the very failure or rate limit it was chosen to be relaunched after. Anything else
 * was decided since it was chosen (skipped, marked done or failed by hand, launched by another run,
 * a verdict of its own) and that decision stands.
 */
export function claimRefusal(doc: StateDoc, id: string, basis: LaunchBasis): SpecState | undefined {
  const st = stateOf(doc, id);
  if (st === 'pending') return undefined;
  const rec = own(doc.dispatch?.specs, id);
  // The kind too: a hand decision in the same millisecond as the verdict it overrides is still seen.
  if ((st === 'failed' || st === 'rate-limited') && st === basis.state && rec?.updatedAt === basis.at && rec?.kind === basis.kind) return undefined;
  return st;
}

/**
 * Claims a launch, to be called under the state lock: unless `claimRefusal` forbids it, the spec is
 * recorded launching (pid 0 until its runner reports in) with its launch numbered and opened in the
 * history (a runner that never starts still used it, and it counts for the retry policy). Returns the
 * refusing state instead, and changes nothing.
 */
export function claimLaunch(doc: StateDoc, id: string, basis: LaunchBasis, info: RunnerInfo & { attempt: number; runId: string }, wave: number): SpecState | undefined {
  const refused = claimRefusal(doc, id, basis);
  if (refused) return refused;
  markRunning(doc, id, info);
  const rec = extra(doc).specs[id]!;
  rec.attempts = (rec.attempts ?? 0) + 1;
  rec.history = [...(rec.history ?? []), { n: info.attempt, startedAt: info.startedAt, runId: info.runId, wave }];
  return undefined;
}

/** A rate-limited spec: not failed, waiting until `info.until` to be relaunched. */
export function markRateLimited(doc: StateDoc, id: string, info: WaitingInfo): void {
  info = { ...info, reason: boundReason(info.reason) };
  setState(doc, id, 'rate-limited', info.reason, 'rate-limited');
  const x = extra(doc);
  (x.waiting ??= bare(undefined))[id] = info;
}

/** Whether a spec no longer holds its dependents back: done and landed, or skipped. */
export function isComplete(doc: StateDoc, id: string): boolean {
  const s = stateOf(doc, id);
  return (s === 'done' && !doc.dispatch?.specs[id]?.awaitingMerge) || s === 'skipped';
}

/** An isolated spec's work landed in the project: done (a conflict resolved by hand included), and remembered as merged. */
export function recordMerge(doc: StateDoc, id: string, branch: string | undefined, at = new Date().toISOString()): void {
  if (stateOf(doc, id) === 'failed' && kindOf(doc, id) === 'merge-conflict') setState(doc, id, 'done', undefined, 'done');
  const r = own(doc.dispatch?.specs, id);
  if (!r) return;
  delete r.awaitingMerge;
  delete r.worktree;
  // So that merging again says "already merged"; going back to pending drops it with the rest.
  r.merged = { at, ...(branch ? { branch } : {}) };
}

/** A merge that could not land (a conflict, failed checks): the spec fails, its worktree record kept for a merge by hand. */
export function recordMergeStop(doc: StateDoc, id: string, reason: string): void {
  if (stateOf(doc, id) === 'done') setState(doc, id, 'failed', reason, 'merge-conflict');
}

/** The spec's worktree is gone (discarded by `reset --discard`): no record of it stays. */
export function forgetWorktree(doc: StateDoc, id: string): void {
  const rec = own(doc.dispatch?.specs, id);
  if (rec) delete rec.worktree;
}

/** `verify --mark`: the project's checks decided, by hand; done work still in its worktree waits for a merge. */
export function recordChecked(doc: StateDoc, id: string, ok: boolean, reason: string | undefined, inWorktree: boolean): void {
  setState(doc, id, ok ? 'done' : 'failed', reason, ok ? 'done' : 'verify-failed');
  const rec = own(doc.dispatch?.specs, id);
  if (ok && rec && inWorktree) rec.awaitingMerge = true;
}

/** The runner started its agent: its process group is on record, for whoever finds the runner dead to stop it. */
export function recordAgentGroup(doc: StateDoc, id: string, runnerPid: number, group: AgentGroup): void {
  noteRunner(doc, id, (r) => r.pid === runnerPid, { agent: group });
}
