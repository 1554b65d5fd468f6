// Brings SSH runs' verdicts home. One `remote poll` per host reports its runs;
// each finished run's log and branch are fetched, then its verdict recorded
// here — this machine is the state's only writer. A host that stops answering
// loses its specs after a few failed checks; when it answers again, what it
// still holds of attempts no longer current is stopped and discarded.
import { closeSync, fstatSync, linkSync, mkdirSync, mkdtempSync, openSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { ResolvedConfig } from '../../config/types.js';
import { warn } from '../../errors.js';
import { capture, type CaptureResult } from '../../proc/launch.js';
import { bare, endOutlived, extra, failLaunch, noteRunner, own, recheckDone, recordVerdict, recordWorktree, type AttemptRecord, type RunnerInfo, type StateDoc, type VerdictKind } from '../../state/doc.js';
import { LockTimeoutError, lockState } from '../../state/lock.js';
import { readState, withState } from '../../state/store.js';
import { hostBranchOf, type PolledRun, type RunResult } from './wire.js';
import { hostKey, runLabel, sessionOf, type SshHost } from './hosts.js';
import { HOST_ANSWER_MAX, sameRun, sshEntries, sshProblem, unreachable, type SshExecutor } from './pool.js';
import { AnswerError, parseAnswer, pollAnswerSchema, polledEntry, type PolledEntry } from './answers.js';
import { homeBranchOf, setByDispatch, setHomeBranch } from './branch.js';
import { attemptLogPath, logPath } from '../../attempt/paths.js';
import { evidenceVars } from '../../attempt/evidence-line.js';

import type { CollectEvent, CollectOptions } from '../types.js';
export type { CollectEvent, CollectOptions } from '../types.js';

/**
 * A place to check: a configured host, or a place only running entries record (their host renamed or
 * removed in the config), with the entries that are there. `name` keys health and cleanups.
 */
interface Target {
  name: string;
  h: SshHost;
  base: string;
  key: string;
  entries: [string, RunnerInfo][];
  /** Runs decided by hand while they went on (`dispatch.outlived`): still collected, their spec's state never changed. */
  outlived: [string, RunnerInfo][];
}

/** A place no configured host is at, named apart from every name taken (configured names have no spaces). */
function nameApart(host: string, h: SshHost, taken: Set<string>): string {
  const at = `${h.cfg.host}${h.cfg.port ? `:${h.cfg.port}` : ''}`;
  let name = `${host} (${at}, not in the config)`;
  for (let i = 2; taken.has(name); i++) name = `${host} (${at} #${i}, not in the config)`;
  return name;
}

/**
 * A finished run's bytes fetched on their own into a temp file (too big for a check's answer; a log may be any
 * size), for as long as the host keeps sending; `use` reads them while the file is there.
 */
async function fetchAlone<T>(ex: SshExecutor, t: Target, label: string, opts: CollectOptions, use: (parts: { log: Part; bundle: Part } | undefined, got: CaptureResult) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'dispatch-collect-'));
  try {
    const got = await ex.onHost(t.h, 'collect', ['--base', t.base, '--', label], { idle: true, stdoutTo: join(dir, 'answer'), ...(opts.until ? { timeoutMs: opts.until - Date.now() } : {}) });
    return await use(got.exitCode === 0 ? splitPollFile(join(dir, 'answer'))?.blobs.get(label) : undefined, got);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The places to check and what runs at each; `nowhere`: older entries whose host the config no longer names. */
function targetsOf(config: ResolvedConfig, ex: SshExecutor, doc: StateDoc): { targets: Target[]; nowhere: [string, RunnerInfo][] } {
  const byKey = new Map<string, Target>();
  for (const h of ex.hosts) {
    const key = hostKey(config, h);
    if (!byKey.has(key)) byKey.set(key, { name: h.name, h, base: ex.reach.get(h.name)?.base ?? '', key, entries: [], outlived: [] });
  }
  const nowhere: [string, RunnerInfo][] = [];
  const names = new Set(ex.hosts.map((h) => h.name));
  const all: [string, RunnerInfo, boolean][] = [...sshEntries(doc).map(([id, r]): [string, RunnerInfo, boolean] => [id, r, false]), ...outlivedEntries(doc).map(([id, r]): [string, RunnerInfo, boolean] => [id, r, true])];
  for (const [id, r, outlived] of all) {
    const w = ex.where(id, r);
    if (!w) {
      // An older entry decided by hand on a host no longer named: nothing to reach it by.
      if (!outlived) nowhere.push([id, r]);
      continue;
    }
    let t = byKey.get(w.key);
    if (!t) {
      // Named apart from every configured host (those names have no spaces): its health and cleanups are its own.
      const configured = ex.hosts.some((h) => h.name === w.h.name);
      const name = configured ? `${w.h.name} (older runs)` : nameApart(r.host, w.h, names);
      names.add(name);
      t = { name, h: w.h, base: w.base, key: w.key, entries: [], outlived: [] };
      byKey.set(w.key, t);
    }
    (outlived ? t.outlived : t.entries).push([id, r]);
  }
  // Places given up while away that no configured host is at: checked until they answer (their stale runs stopped).
  for (const { host, place } of Object.values(doc.dispatch?.recheck ?? {})) {
    const w = ex.where('', { pid: 0, host, startedAt: '', place });
    if (!w || byKey.has(w.key)) continue;
    const name = nameApart(host, w.h, names);
    names.add(name);
    byKey.set(w.key, { name, h: w.h, base: w.base, key: w.key, entries: [], outlived: [] });
  }
  for (const t of byKey.values()) ex.reach.set(t.name, { h: t.h, base: t.base });
  return { targets: [...byKey.values()], nowhere };
}

/** Failed fetches of a finished run's result, by host and label: after lostAfterChecks of them its spec is lost. */
const fetchFailures = new Map<string, number>();

/** Log growth per run, for stall checks: the size last seen and when it last grew. */
const growth = new Map<string, { size: number; at: number }>();

/** Per executor: each host's collect under way, events of ones that ended after their caller stopped waiting, hosts that answered. */
const underWay = new WeakMap<SshExecutor, { hosts: Map<string, Promise<void>>; later: CollectEvent[]; answered: Set<string> }>();

/** The longest a reader (`status`) spends on one host's collect. */
const READER_LIMIT_SECONDS = 8;

/** How long a reader (`status`) waits for another dispatcher's collect of a host: then it shows what the state has. */
export const READER_WAIT_MS = 2000;

/**
 * Collects what the hosts hold. Each host on its own (its own lock, calls with time limits): one that hangs
 * holds no other. The run's own checks (`judge`) wait for them up to checkSeconds; a host still answering
 * then goes on in the background, and its events come with a later call. Other calls wait for every host.
 */
export async function collectRemote(config: ResolvedConfig, ex: SshExecutor, opts: CollectOptions): Promise<CollectEvent[]> {
  // A command about one run waits on its place only.
  const onlyKey = opts.only ? (ex.where(opts.only.id, opts.only.r)?.key ?? '\0') : undefined;
  const now = opts.now ?? Date.now();
  const every = (config.executor?.checkSeconds ?? 5) * 1000;
  let w = underWay.get(ex);
  if (!w) underWay.set(ex, (w = { hosts: new Map(), later: [], answered: new Set() }));
  const mine = w;
  // The configured hosts, and the places running entries record that no configured host is at.
  const configured = new Set(ex.hosts.map((h) => h.name));
  const due = targetsOf(config, ex, readState(config.stateDir)).targets.filter((t) =>
    (opts.force || now - (ex.health.checkedAt.get(t.name) ?? 0) >= every)
    // A place only checked again (nothing on record runs there) is the run's to check: a reader never waits on it.
    && (opts.judge || configured.has(t.name) || t.entries.length > 0 || t.outlived.length > 0)
    && (!onlyKey || t.key === onlyKey));
  const events: CollectEvent[] = [];
  const waits = due.map((t) => {
    const going = mine.hosts.get(t.name);
    if (going) return going;
    ex.health.checkedAt.set(t.name, now);
    const task = collectOne(config, ex, t, opts, now)
      .catch((err: Error): CollectEvent[] => [{ type: 'error', host: t.name, message: err.message }])
      .then((ev) => void mine.later.push(...ev))
      .finally(() => mine.hosts.delete(t.name));
    mine.hosts.set(t.name, task);
    return task;
  });
  if (opts.judge && !opts.force) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(waits), new Promise<void>((r) => (timer = setTimeout(r, every)))]);
    clearTimeout(timer);
  } else await Promise.all([...mine.hosts.values()]);
  events.push(...mine.later.splice(0));
  // Older entries on a host the config no longer names, once every configured host has answered without holding
  // them: never waited on forever. Not retried either (kind interrupted): their runner may still work where
  // dispatch cannot reach, and a second one must not start.
  if (opts.judge && ex.hosts.every((h) => mine.answered.has(h.name))) {
    for (const [id, r] of targetsOf(config, ex, readState(config.stateDir)).nowhere) events.push(...(await loseOne(config, r.host, id, r, unreachable(id, r).message, 'interrupted')));
  }
  return events;
}

/** SSH runs decided by hand while they went on. */
const outlivedEntries = (doc: StateDoc): [string, RunnerInfo][] => Object.entries(doc.dispatch?.outlived ?? {}).filter(([, r]) => r.executor === 'ssh');

/** The outlived runs at a place, as the state is now. */
const outlivedAt = (config: ResolvedConfig, ex: SshExecutor, doc: StateDoc, key: string) => targetsOf(config, ex, doc).targets.find((x) => x.key === key)?.outlived ?? [];

/** The running entries at a place, as the state is now. */
const entriesAt = (config: ResolvedConfig, ex: SshExecutor, doc: StateDoc, key: string) => targetsOf(config, ex, doc).targets.find((x) => x.key === key)?.entries ?? [];

/** The lock of one host's collect (two dispatchers never fetch one host's runs at once). */
// Named by a readable beginning of the place's name and a hash of all of it: a name of any length makes a
// file name well under NAME_MAX, with the lock's own suffixes.
const lockOf = (config: ResolvedConfig, name: string) => join(config.stateDir, `remote-collect-${name.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40)}-${createHash('sha256').update(name).digest('hex').slice(0, 12)}`);

async function collectOne(config: ResolvedConfig, ex: SshExecutor, t: Target, opts: CollectOptions, now: number): Promise<CollectEvent[]> {
  const { h } = t;
  let release: () => Promise<void>;
  try {
    release = await lockState(lockOf(config, t.name), { command: opts.command, ...(opts.judge ? {} : { waitLimitMs: READER_WAIT_MS }) });
  } catch (err) {
    // Another dispatcher is collecting this host now: a reader shows what the state has rather than wait.
    if (!opts.judge && err instanceof LockTimeoutError) return [];
    throw err;
  }
  try {
    ex.health.checkedAt.set(t.name, now);
    // A reader's calls to one host share one time limit, shorter than a run's: it reports what it has within it,
    // and one host that hangs does not make `status` wait as long as a call may.
    if (!opts.judge) opts = { ...opts, until: Date.now() + Math.min(config.executor?.timeoutSeconds ?? 20, READER_LIMIT_SECONDS) * 1000 };
    const clean = ex.cleanups.get(t.name) ?? [];
    // A check's answer past HOST_ANSWER_MAX is used as far as it is whole: the runs cut off are collected on their own.
    const r = await ex.onHost(h, 'poll', ['--collect', '--base', t.base, '--dir', h.cfg.dir, ...(clean.length ? ['--', ...clean] : [])], { raw: true, partial: true, ...(opts.until ? { timeoutMs: opts.until - Date.now() } : {}) });
    if ((r.exitCode === 0 || r.tooLarge) && clean.length) ex.cleanups.set(t.name, (ex.cleanups.get(t.name) ?? []).filter((c) => !clean.includes(c)));
    const answer = r.exitCode === 0 || r.tooLarge ? splitPoll(r.stdoutRaw ?? Buffer.alloc(0)) : { problem: sshProblem(r), silent: true };
    if ('problem' in answer) {
      underWay.get(ex)?.answered.delete(t.name);
      if (!opts.judge) return [];
      const events: CollectEvent[] = [];
      if (ex.health.fail(t.name)) events.push({ type: 'host-down', host: t.name, problem: answer.problem });
      // A host that answers what does not fit is as good as one that does not answer: said as what it is.
      const why = 'silent' in answer ? `not answering: ${answer.problem}` : `answered what dispatch cannot use: ${answer.problem}`;
      if (ex.health.isDown(t.name)) events.push(...(await loseHost(config, ex, t, `lost (host ${t.name} ${why})`)));
      return events;
    }
    const back = ex.health.ok(t.name);
    underWay.get(ex)?.answered.add(t.name);
    const events = await collectHost(config, ex, t, answer, opts, back);
    // Answered, and what it held of attempts no longer current was stopped: no need to come back.
    if (own(readState(config.stateDir).dispatch?.recheck, t.key)) {
      await withState(config.stateDir, { command: opts.command }, (d) => recheckDone(d, t.key));
    }
    return events;
  } finally {
    await release();
  }
}

/** Every running entry on a host that is down: lost, so the retry policy relaunches it elsewhere. */
async function loseHost(config: ResolvedConfig, ex: SshExecutor, t: Target, reason: string): Promise<CollectEvent[]> {
  const lost = await withState(config.stateDir, { command: 'run', reason }, (doc) => {
    const ids: string[] = [];
    const here = entriesAt(config, ex, doc, t.key);
    for (const [id] of here) {
      failLaunch(doc, id, reason, 'lost');
      ids.push(id);
    }
    // Runs decided by hand there: their attempts end as lost; their specs keep the state given by hand.
    const away = outlivedAt(config, ex, doc, t.key);
    for (const [id, o] of away) endOutlived(doc, id, o.attempt, { state: 'failed', kind: 'lost', reason });
    // A place no configured host is at would never be checked again once nothing runs there on record:
    // it is, until it answers, so that what it still runs of these attempts is stopped.
    const place = [...here, ...away].find(([, r]) => r.place)?.[1];
    if (place?.place && !ex.hosts.some((h) => hostKey(config, h) === t.key)) (extra(doc).recheck ??= bare(undefined))[t.key] = { host: place.host, place: place.place };
    return ids;
  });
  for (const id of lost) await tell(config, id, 'failed', 'lost', reason);
  return lost.map((id) => ({ type: 'lost' as const, id, host: t.name, reason }));
}

/** Bytes of a host's answer: in memory (a check's), or in a file (one run's, fetched on its own whatever its size). */
interface Part {
  length: number;
  /** Writes them to `file` (made with `mode`). */
  writeTo(file: string, mode?: number): void;
}

type Blobs = Map<string, { log: Part; bundle: Part }>;

const inMemory = (b: Buffer): Part => ({ length: b.length, writeTo: (file, mode) => writeFileSync(file, b, mode === undefined ? {} : { mode }) });

/** A check's answer: its runs that fit, the entries that do not (and whose they are), each finished run's bytes. */
interface PollAnswer {
  runs: PolledRun[];
  bad: BadEntry[];
  blobs: Blobs;
}
type BadEntry = Extract<PolledEntry, { bad: string }>;

/** `remote poll --collect`'s answer: the runs, and each finished one's log and bundle. */
function splitPoll(b: Buffer): PollAnswer | { problem: string } {
  const nl = b.indexOf(10);
  if (nl < 0) return { problem: b.length ? 'its answer has no end of line' : 'its answer was empty' };
  const head = runsOf(b.subarray(0, nl));
  if ('problem' in head) return head;
  const blobs: Blobs = new Map();
  let at = nl + 1;
  for (const run of head.runs) {
    if (!run.blob) continue;
    const log = b.subarray(at, at + run.blob.log);
    const bundle = b.subarray(at + run.blob.log, at + run.blob.log + run.blob.bundle);
    at += run.blob.log + run.blob.bundle;
    // A short answer (cut mid-way): what is whole is used, the rest waits for the next check.
    if (log.length === run.blob.log && bundle.length === run.blob.bundle) blobs.set(run.label, { log: inMemory(log), bundle: inMemory(bundle) });
  }
  return { ...head, blobs };
}

/**
 * The JSON line, checked. The runs' bytes follow in their order: after an entry that does not fit, where
 * they lie is unknown, so the runs after it carry none (fetched on their own, `collect <label>`).
 */
function runsOf(line: Buffer): { runs: PolledRun[]; bad: BadEntry[] } | { problem: string } {
  let entries: unknown[];
  try {
    entries = parseAnswer(pollAnswerSchema, line.toString('utf8')).runs;
  } catch (err) {
    if (err instanceof AnswerError) return { problem: err.message };
    throw err;
  }
  const runs: PolledRun[] = [];
  const bad: BadEntry[] = [];
  for (const e of entries) {
    const p = polledEntry(e);
    if ('bad' in p) bad.push(p);
    else runs.push(bad.length ? { ...p.run, blob: undefined } : p.run);
  }
  return { runs, bad };
}

/** `remote collect <label>`'s answer, kept in `file`: the same form, read a piece at a time. */
function splitPollFile(file: string): PollAnswer | undefined {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    // The JSON line: read until its end, up to what a host's answer may hold.
    const chunks: Buffer[] = [];
    let nl = -1;
    let read = 0;
    while (nl < 0 && read < Math.min(size, HOST_ANSWER_MAX)) {
      const c = Buffer.alloc(Math.min(64 * 1024, size - read));
      const n = readSync(fd, c, 0, c.length, read);
      if (!n) break;
      const i = c.subarray(0, n).indexOf(10);
      if (i >= 0) nl = read + i;
      chunks.push(c.subarray(0, n));
      read += n;
    }
    if (nl < 0) return undefined;
    const head = runsOf(Buffer.concat(chunks).subarray(0, nl));
    if ('problem' in head) return undefined;
    const { runs, bad } = head;
    const blobs: Blobs = new Map();
    let at = nl + 1;
    const inFile = (start: number, length: number): Part => ({ length, writeTo: (dest, mode) => copyRange(file, start, length, dest, mode) });
    for (const run of runs) {
      if (!run.blob) continue;
      const { log, bundle } = run.blob;
      if (at + log + bundle <= size) blobs.set(run.label, { log: inFile(at, log), bundle: inFile(at + log, bundle) });
      at += log + bundle;
    }
    return { runs, bad, blobs };
  } finally {
    closeSync(fd);
  }
}

/** Copies `length` bytes of `src` from `start` into `dest`, a megabyte at a time. */
function copyRange(src: string, start: number, length: number, dest: string, mode?: number): void {
  const from = openSync(src, 'r');
  try {
    const to = openSync(dest, 'w', mode);
    try {
      const buf = Buffer.alloc(Math.min(length, 1024 * 1024));
      for (let done = 0; done < length;) {
        const n = readSync(from, buf, 0, Math.min(buf.length, length - done), start + done);
        if (!n) throw new Error(`${src} ended early`);
        writeSync(to, buf, 0, n);
        done += n;
      }
    } finally {
      closeSync(to);
    }
  } finally {
    closeSync(from);
  }
}

async function collectHost(config: ResolvedConfig, ex: SshExecutor, t: Target, answer: PollAnswer, opts: CollectOptions, back: boolean): Promise<CollectEvent[]> {
  const { runs, bad, blobs } = answer;
  const events: CollectEvent[] = [];
  const { h, base } = t;
  const name = t.name;
  // As the state is now (the poll took a while): the entries at this place, matched by address whatever their host's name.
  let doc = readState(config.stateDir);
  // An older entry whose host was renamed in the config: found by its run (label, id, attempt) where it is, and kept there.
  for (const [id, e] of targetsOf(config, ex, doc).nowhere) {
    const label = runLabel(config, id, e.attempt ?? 0);
    if (runs.some((x) => x.label === label && x.id === id && x.attempt === e.attempt)) await recordPlace(config, id, e, t, label);
  }
  doc = readState(config.stateDir);
  const entries = entriesAt(config, ex, doc, t.key);
  const labelOf = (id: string, r: RunnerInfo) => r.place?.label ?? runLabel(config, id, r.attempt ?? 0);
  // Current if any running entry is this launch: the same folder may be reached under another spelling of its host.
  const onRecord = new Set([...sshEntries(doc), ...outlivedEntries(doc)].map(([id, r]) => `${id}\n${r.attempt}\n${labelOf(id, r)}`));
  const current = (run: { id: string; attempt: number; label: string }) => onRecord.has(`${run.id}\n${run.attempt}\n${run.label}`);
  const discarded: string[] = [];
  // Runs of attempts that are no longer current here (given up while the host was away, or already recorded):
  // stopped, and their results never count.
  const queued = new Set((ex.cleanups.get(name) ?? []).map((c) => c.replace(/^[+!]/, '')));
  // What the host said of a run that does not fit is never recorded: its spec is lost, with what was wrong.
  for (const b of bad) {
    const owner = b.owner;
    if (!owner) continue;
    const entry = entries.find(([id, r]) => id === owner.id && r.attempt === owner.attempt);
    if (entry) events.push(...(await loseOne(config, name, entry[0], entry[1], `lost (host ${name} answered what dispatch cannot use for ${entry[0]} attempt ${owner.attempt}: ${b.bad})`)));
  }
  const lostNow = new Set(events.filter((e) => e.type === 'lost').map((e) => (e as { id: string }).id));
  // Runs no longer current whose entry does not fit otherwise: stopped and discarded like any other.
  const stale = [...runs, ...bad.flatMap((b) => (b.owner?.label && !lostNow.has(b.owner.id) ? [{ ...b.owner, label: b.owner.label }] : []))];
  for (const run of stale) {
    if (current(run) || ex.opening.has(run.id) || queued.has(run.label)) continue;
    // Given up while its host was away (or recorded by a dispatcher that stopped before cleaning): stopped and discarded now.
    const r = await ex.onHost(h, 'stop', ['--base', base, '--kill', '--discard', '--', run.label]);
    if (r.exitCode === 0) discarded.push(run.label);
  }
  if (back || discarded.length) events.push({ type: 'host-back', host: name, discarded });
  for (const [id, r] of entries) {
    if (lostNow.has(id)) continue;
    const run = runs.find((x) => x.id === id && x.attempt === r.attempt && x.label === labelOf(id, r));
    // An older entry found where it runs: its place is recorded now, so a later rename of its host keeps it reachable.
    if (run && !r.place) await recordPlace(config, id, r, t, run.label);
    if (run?.result) {
      const inAnswer = blobs.get(run.label);
      if (inAnswer) {
        events.push(await applyResult(config, ex, t, r, run, run.result, inAnswer));
        continue;
      }
      // Too big for the check's answer: fetched on its own.
      if (opts.until && opts.until - Date.now() < 1000) continue;
      const result = run.result;
      await fetchAlone(ex, t, run.label, opts, async (blob, got) => {
        const key = `${name}\n${run.label}`;
        if (blob) {
          fetchFailures.delete(key);
          events.push(await applyResult(config, ex, t, r, run, result, blob));
        } else if (opts.judge && (fetchFailures.set(key, (fetchFailures.get(key) ?? 0) + 1).get(key) ?? 0) >= (config.executor?.lostAfterChecks ?? 3)) {
          // A host that reports a verdict it never delivers would hold its spec for ever: judged like a host that does not answer.
          fetchFailures.delete(key);
          events.push(...(await loseOne(config, name, id, r, `lost (its result could not be fetched from ${name}: ${got.exitCode === 0 ? 'its answer does not fit' : sshProblem(got)})`)));
        }
      });
      continue;
    }
    if (run?.alive) {
      if (r.pid !== run.pid && run.pid) {
        // Adopted: the runner is on record with its pid on its host.
        const pid = run.pid;
        await withState(config.stateDir, { command: opts.command }, (d) => {
          noteRunner(d, id, (cur) => sameRun(cur, r), { pid });
        });
        events.push({ type: 'adopted', id, host: name, pid });
      }
      const stall = stallOf(config, id, r, run.logSize, opts.now ?? Date.now());
      if (stall) events.push(stall);
      continue;
    }
    if (!opts.judge || ex.opening.has(id)) continue;
    const startedAt = Date.parse(r.startedAt);
    if (run && run.alive === false) {
      // Its runner died without a verdict: what it left running ends, then it is lost.
      await ex.onHost(h, 'stop', ['--base', base, '--kill', '--', run.label]);
      events.push(...(await loseOne(config, name, id, r, `lost (runner died on ${name})`)));
    } else if ((opts.now ?? Date.now()) - startedAt > config.startTimeoutSeconds * 1000 && (!run || run.alive === undefined)) {
      events.push(...(await loseOne(config, name, id, r, `lost (runner never started on ${name} within ${config.startTimeoutSeconds} s)`)));
    }
  }
  for (const [id, o] of t.outlived) events.push(...(await collectOutlived(config, ex, t, id, o, runs.find((x) => x.id === id && x.attempt === o.attempt && x.label === labelOf(id, o)), blobs, opts)));
  return events;
}

/** An outlived run's result home: its log kept, its work fetched (done), its attempt closed; the spec's state untouched. */
async function closeOutlived(config: ResolvedConfig, ex: SshExecutor, t: Target, id: string, o: RunnerInfo, run: PolledRun, res: RunResult, parts: { log: Part; bundle: Part }, opts: CollectOptions): Promise<CollectEvent[]> {
  keepLog(config, id, run.attempt, parts.log);
  let fetched: string | undefined;
  let problem: string | undefined;
  if (res.state === 'done') {
    const f = await fetchBranch(config, t.base, run, parts.bundle, setByDispatch(readState(config.stateDir), id));
    if ('problem' in f) problem = f.problem;
    else fetched = f.head;
  }
  const state = res.state === 'rate-limited' ? 'failed' : res.state;
  const reason = problem ? `its work could not be fetched from ${t.name}: ${problem}` : res.reason;
  const entry = (res.entry ?? {}) as Partial<AttemptRecord>;
  const { n: _n, startedAt: _s, ...rest } = entry;
  const closed = await withState(config.stateDir, { command: opts.command }, (d) => {
    // Where dispatch set the branch is kept: only from there will it move it again.
    if (fetched) recordWorktree(d, id, { path: `${t.base}/worktrees/${id}`, branch: homeBranchOf(id), createdBy: 'dispatch', host: t.h.name, head: fetched });
    return endOutlived(d, id, o.attempt, { ...rest, endedAt: entry.endedAt ?? res.endedAt, state: problem ? 'failed' : state, kind: problem ? 'lost' : (res.kind as VerdictKind), ...(reason ? { reason } : {}) } as Omit<AttemptRecord, 'n' | 'startedAt'>);
  });
  const list = ex.cleanups.get(t.name) ?? [];
  list.push(`${fetched ? '+' : ''}${run.label}`);
  ex.cleanups.set(t.name, list);
  return closed ? [{ type: 'closed', id, host: t.name, state: problem ? 'failed' : state, ...(fetched ? { fetched: homeBranchOf(id) } : {}), ...(reason ? { reason } : {}) }] : [];
}

/**
 * A run decided by hand while it went on: when it ends, its log is kept, its work fetched (done) and its
 * attempt closed, as a local runner does after a decision by hand. The spec's state is the person's word.
 */
async function collectOutlived(config: ResolvedConfig, ex: SshExecutor, t: Target, id: string, o: RunnerInfo, run: PolledRun | undefined, blobs: Blobs, opts: CollectOptions): Promise<CollectEvent[]> {
  const end = async (e: Omit<AttemptRecord, 'n' | 'startedAt'>) => withState(config.stateDir, { command: opts.command }, (d) => endOutlived(d, id, o.attempt, e));
  if (run?.result) {
    const res = run.result;
    const inAnswer = blobs.get(run.label);
    if (inAnswer) return closeOutlived(config, ex, t, id, o, run, res, inAnswer, opts);
    // Too big for the check's answer: fetched on its own, as a running entry's is.
    if (opts.until && opts.until - Date.now() < 1000) return [];
    return fetchAlone(ex, t, run.label, opts, async (parts) => (parts ? closeOutlived(config, ex, t, id, o, run, res, parts, opts) : []));
  }
  // Its end judged by any caller (its spec's state is already decided): a run that died, or that never started.
  if (run?.alive || ex.opening.has(id)) return [];
  if (run && run.alive === false) {
    await ex.onHost(t.h, 'stop', ['--base', t.base, '--kill', '--', run.label]);
    return (await end({ state: 'failed', kind: 'lost', reason: `lost (runner died on ${t.name})` })) ? [{ type: 'closed', id, host: t.name, state: 'failed', reason: `lost (runner died on ${t.name})` }] : [];
  }
  if (!run && Date.now() - Date.parse(o.startedAt) > config.startTimeoutSeconds * 1000) {
    const reason = `lost (runner never started on ${t.name} within ${config.startTimeoutSeconds} s)`;
    return (await end({ state: 'failed', kind: 'lost', reason })) ? [{ type: 'closed', id, host: t.name, state: 'failed', reason }] : [];
  }
  return [];
}

/** Records where an older entry's run was found (the names that version used), if the entry is still that launch. */
async function recordPlace(config: ResolvedConfig, id: string, r: RunnerInfo, t: Target, label: string): Promise<void> {
  const c = t.h.cfg;
  const place = {
    host: c.host, ...(c.port ? { port: c.port } : {}), ...(c.identityFile ? { identityFile: c.identityFile } : {}), ...(c.options.length ? { options: [...c.options] } : {}),
    dispatch: c.dispatch as string | string[], dir: c.dir, base: t.base, label, session: sessionOf(label),
  };
  await withState(config.stateDir, { command: 'run' }, (d) => {
    noteRunner(d, id, (cur) => sameRun(cur, r), { place });
  });
  r.place = place;
}

async function loseOne(config: ResolvedConfig, host: string, id: string, r: RunnerInfo, reason: string, kind: VerdictKind = 'lost'): Promise<CollectEvent[]> {
  const done = await withState(config.stateDir, { command: 'run', reason }, (doc) => {
    if (!sameRun(own(doc.dispatch?.running, id), r)) return false;
    failLaunch(doc, id, reason, kind);
    return true;
  });
  if (!done) return [];
  await tell(config, id, 'failed', kind, reason);
  return [{ type: 'lost', id, host, reason }];
}

function stallOf(config: ResolvedConfig, id: string, r: RunnerInfo, size: number, now: number): CollectEvent | undefined {
  const key = `${id}:${r.attempt}`;
  const g = growth.get(key);
  if (!g || size !== g.size) {
    growth.set(key, { size, at: g ? now : Math.max(Date.parse(r.startedAt) || now, now - 1) });
    return undefined;
  }
  const spec = config.specs.find((s) => s.id === id);
  const limit = (config.stall.minutes[spec?.cost ?? 1] ?? 15) * 60;
  const quiet = (now - g.at) / 1000;
  if (quiet <= limit) return undefined;
  // Said once per quiet spell: it is said again only after the log grows and stops again.
  growth.set(key, { size, at: Number.POSITIVE_INFINITY });
  return { type: 'stalled', id, quietSeconds: Math.round(quiet) };
}

/** Fetches the run's log and (done) its branch, records its verdict, then cleans the run off the host. */
async function applyResult(config: ResolvedConfig, ex: SshExecutor, t: Target, entry0: RunnerInfo, run: PolledRun, res: RunResult, parts: { log: Part; bundle: Part }): Promise<CollectEvent> {
  const id = run.id;
  const { h, base } = t;
  keepLog(config, id, run.attempt, parts.log);
  let state = res.state;
  let kind = res.kind as VerdictKind;
  let reason = res.reason;
  let fetched: string | undefined;
  if (state === 'done') {
    const f = await fetchBranch(config, t.base, run, parts.bundle, setByDispatch(readState(config.stateDir), id));
    if ('problem' in f) {
      state = 'failed';
      kind = 'lost';
      reason = `lost (its work could not be fetched from ${h.name}: ${f.problem})`;
    } else fetched = f.head;
  }
  const wtPath = `${base}/worktrees/${id}`;
  // The attempt's history entry as its runner wrote it there (times, evidence, tokens).
  const entry = (res.entry ?? {}) as Partial<AttemptRecord>;
  const { n: _n, startedAt: _s, state: _st, kind: _k, reason: _r, ...rest } = entry;
  const applied = await withState(config.stateDir, { command: 'run', ...(reason ? { reason } : {}) }, (doc) => {
    // Where dispatch set the branch is kept whatever else happens: only from there will it move it again.
    if (fetched) recordWorktree(doc, id, { path: wtPath, branch: homeBranchOf(id), createdBy: 'dispatch', host: h.name, head: fetched });
    if (!sameRun(own(doc.dispatch?.running, id), entry0)) return false;
    const spec = config.specs.find((s) => s.id === id);
    // Its work came home to dispatch/<id>: done waits for a merge, whatever the spec's mode.
    recordVerdict(doc, id, run.attempt, { state, kind, ...(reason ? { reason } : {}), ...(res.until ? { until: res.until } : {}), agent: spec?.agent ?? '', awaitingMerge: true }, { ...rest, endedAt: entry.endedAt ?? res.endedAt });
    return true;
  });
  // Recorded (or decided meanwhile): the run leaves the host with its next check; with its work fetched, its worktree too.
  const list = ex.cleanups.get(t.name) ?? [];
  list.push(`${fetched ? '+' : ''}${run.label}`);
  ex.cleanups.set(t.name, list);
  // What a local runner's hook gets: the evidence, and the attempt's log (kept here now).
  if (applied) {
    await tell(config, id, state === 'rate-limited' ? 'rate-limited' : state, kind, reason, {
      ATTEMPT: run.attempt, HOST: entry0.host, RETRY_AT: res.until, ...evidenceVars(rest), LOG: attemptLogPath(config, id, run.attempt),
    });
  }
  return { type: 'collected', id, host: t.name, state, ...(reason ? { reason } : {}) };
}

/** The run's whole log, kept here as the attempt's log (and the spec's latest). */
function keepLog(config: ResolvedConfig, id: string, attempt: number, log: Part): void {
  const file = attemptLogPath(config, id, attempt);
  const latest = logPath(config, id);
  try {
    mkdirSync(dirname(file), { recursive: true });
    log.writeTo(file);
    const tmp = `${latest}.${process.pid}.tmp`;
    rmSync(tmp, { force: true });
    linkSync(file, tmp);
    renameSync(tmp, latest);
  } catch (err) {
    warn(`could not keep the log of ${id} attempt ${attempt}: ${(err as Error).message}`);
  }
}

/**
 * Fetches the spec's branch (the bundle from its host) into `dispatch/<id>` here, moving that branch only
 * from `from` (where dispatch last set it; undefined: it must not exist). Returns the commit, or what went wrong.
 */
async function fetchBranch(config: ResolvedConfig, base: string, run: PolledRun, bundle: Part, from: string | undefined): Promise<{ head: string } | { problem: string }> {
  // The branch its host made for it: named by the project's folder there (older versions: by the project alone).
  const theirs = `refs/heads/${hostBranchOf(basename(base), run.id)}`;
  let head = run.result?.head;
  if (!bundle.length) {
    // Nothing new on the branch: it is the base, which this repository has.
    if (!head) return { problem: 'the host did not say which commit the branch is at' };
  } else {
    const file = join(tmpdir(), `dispatch-fetch-${process.pid}-${Date.now()}.bundle`);
    try {
      bundle.writeTo(file, 0o600);
      // Into no branch: the objects come in, and the branch moves below only if it is dispatch's.
      const heads = await capture(['git', '-C', config.rootDir, 'bundle', 'list-heads', file, theirs]);
      head = heads.stdout.split('\n').map((l) => l.split(' ')).find((w) => w[1] === theirs)?.[0];
      if (heads.exitCode !== 0 || !head) return { problem: `the bundle from the host has no ${theirs}` };
      const f = await capture(['git', '-C', config.rootDir, 'fetch', '-q', file, theirs], { timeoutMs: 0 });
      if (f.exitCode !== 0) return { problem: (f.stderr || f.stdout).trim().split('\n')[0] || `git fetch exit ${f.exitCode}` };
    } finally {
      rmSync(file, { force: true });
    }
  }
  const problem = await setHomeBranch(config, run.id, head, from);
  return problem ? { problem } : { head };
}

/** What a runner would have said on its own machine: the signal file and the hook. */
async function tell(config: ResolvedConfig, id: string, state: 'done' | 'failed' | 'rate-limited', kind: string, reason: string | undefined, more: Record<string, string | number | undefined> = {}): Promise<void> {
  const { announceVerdict } = await import('../../attempt/hooks.js');
  const h = await announceVerdict(config, id, { state, kind, reason }, more);
  if (h && !h.ok) warn(`hook ${h.hook} failed: ${h.error ?? ''}`);
}

export { runLabel };
