// The SSH host pool: each spec's runner runs on one of the configured hosts,
// in a tmux session there, on a worktree of the project made from the commit
// dispatch pushed. This machine stays the only writer of the state: runners
// leave their verdict on the host, and `collect` brings it back.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResolvedConfig, ResolvedSpec } from '../../config/load.js';
import { DispatchError } from '../../errors.js';
import { capture, sizeOf, type Argv, type CaptureResult } from '../../proc/launch.js';
import { own, stateOf, type RunPlace, type RunnerInfo, type StateDoc } from '../../state/doc.js';
import { readState, withState } from '../../state/store.js';
import type { PolledRun, StartPayload } from '../../remote/layout.js';
import { AnswerError, parseAnswer, pollAnswerSchema, polledEntry, receiveAnswerSchema, startAnswerSchema, stopAnswerSchema } from './answers.js';
import type { Executor, HeldRun } from '../types.js';
import { REMOTE_TMUX_SOCKET, hostKey, hostsOf, placeOf, remoteBase, remoteDispatch, runLabel, sessionName, sshArgv, whereOf, type RunWhere, type SshHost } from './hosts.js';
import { HostHealth } from './health.js';

export interface SshExecutor extends Executor {
  hosts: SshHost[];
  health: HostHealth;
  /**
   * Runs `dispatch remote <verb>` on a host. Its answer is read whole up to HOST_ANSWER_MAX; a larger one is no
   * answer (sshProblem says so), unless `partial` (the caller uses its beginning), or it goes to a file (`stdoutTo`).
   */
  onHost(h: SshHost, verb: string, args: string[], opts?: HostCallOptions): Promise<CaptureResult>;
  /** Specs being launched by this process now (not yet to be judged by their host's runs). */
  opening: Set<string>;
  /** Runs collected here whose folders go with the host's next check (`+label`: with their worktree), by place name. */
  cleanups: Map<string, string[]>;
  /** Each place checked, by the name health and cleanups use: the configured hosts, and places only the state records. */
  reach: Map<string, { h: SshHost; base: string }>;
  /** Where a running entry is (its recorded place, or for an older entry its host's name); undefined: nowhere known. */
  where(id: string, r: RunnerInfo): RunWhere | undefined;
  /** The place a launch of `id` on host `name` records. */
  placeOf(id: string, name: string, attempt: number): RunPlace | undefined;
  /** Sends the cleanups still waiting (before this process ends). */
  flush(): Promise<void>;
  /** The runs each configured host holds now (by address, whatever name a run was recorded under). */
  busy(doc: StateDoc): (h: SshHost) => number;
  /** `stop`, saying whether the run was on its host yet (false: its start, when it comes, will start nothing). */
  stopRun(id: string, r: RunnerInfo, how: 'ask' | 'kill'): Promise<{ started: boolean }>;
}

export interface HostCallOptions {
  input?: string | Buffer;
  raw?: boolean;
  /** The call's time limit (executor.timeoutSeconds unless a longer one is derived for it; never none). */
  timeoutMs?: number;
  /** A transfer of unknown size: stopped when the host sends nothing for timeoutSeconds (and at `timeoutMs` if given). */
  idle?: boolean;
  /** An answer cut at HOST_ANSWER_MAX is still used (what is whole of it). */
  partial?: boolean;
  /** The answer goes to this file, whatever its size. */
  stdoutTo?: string;
}

/** The most of a host's answer read into memory: far more than any JSON answer of dispatch's, little enough to parse. */
export const HOST_ANSWER_MAX = 16 * 1024 * 1024;
/** The longest problem line taken from what ssh or the host printed. */
const PROBLEM_MAX = 300;

/** Whether a running entry is an SSH run (its `host` is a pool host). */
export const isSshRun = (r: RunnerInfo | undefined) => r?.executor === 'ssh';

/** The ssh failure in one line: ssh's own last line, or how it ended. */
export function sshProblem(r: CaptureResult): string {
  if (r.failedToStart) return r.notFound ? "'ssh' is not installed" : r.failedToStart;
  if (r.timedOut) return 'no answer (timed out)';
  if (r.tooLarge) return `its answer was larger than ${sizeOf(HOST_ANSWER_MAX)}, which no answer of dispatch's is`;
  if (r.writeError) return `its answer could not be written here: ${r.writeError}`;
  const line = r.stderr.trim().split('\n').filter(Boolean).at(-1)?.replace(/^dispatch: /, '');
  if (!line) return `exit ${r.exitCode}`;
  return line.length > PROBLEM_MAX ? `${line.slice(0, PROBLEM_MAX)}…` : line;
}

/** The environment a host receives: only the forwarded variables (a trailing `*` is a prefix). */
export function forwardedEnv(names: readonly string[], env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (names.some((n) => (n.endsWith('*') ? k.startsWith(n.slice(0, -1)) : k === n))) out[k] = v;
  }
  return out;
}

/** Running SSH entries. */
export const sshEntries = (doc: StateDoc): [string, RunnerInfo][] => Object.entries(doc.dispatch?.running ?? {}).filter(([, r]) => isSshRun(r));

/** The same launch, at the same place (a host renamed in the config is still the same place). */
export const sameRun = (a: RunnerInfo | undefined, b: RunnerInfo) =>
  !!a && a.host === b.host && a.attempt === b.attempt && JSON.stringify(a.place ?? null) === JSON.stringify(b.place ?? null);

/** Why an entry cannot be reached at all: an older dispatch's run (no address kept) on a host no longer in the config. */
export const unreachable = (id: string, r: RunnerInfo) =>
  new DispatchError(`${id} runs on SSH host ${r.host}, which is no longer in the config, and was launched by an older dispatch that did not record the host's address: it cannot be reached`, { hint: `put host ${r.host} back in executor.hosts (same host, port and dir) to stop or collect it` });

/** Defaults for a project whose config no longer has a pool, but whose state still records SSH runs. */
const NO_POOL = { kind: 'ssh', hosts: [], forwardEnv: [], checkSeconds: 5, lostAfterChecks: 3, timeoutSeconds: 20 } as const;

export function sshExecutor(config: ResolvedConfig): SshExecutor {
  // Without a pool in the config (removed mid-run), runs the state records are still reached by their places.
  const ex = config.executor ?? NO_POOL;
  const hosts = hostsOf(config);
  const health = new HostHealth(ex.lostAfterChecks);
  const timeoutMs = ex.timeoutSeconds * 1000;
  // A start sets up a worktree on the host: as long as a launch may take to start, at the least.
  const startMs = Math.max(timeoutMs, config.startTimeoutSeconds * 1000);
  const byName = (name: string) => hosts.find((h) => h.name === name);
  const remote: SshExecutor['onHost'] = async (h, verb, args, opts = {}) => {
    const r = await capture(sshArgv(h, [...remoteDispatch(h), 'remote', verb, ...args]), {
      // Every call has a limit, so a host that hangs never holds dispatch: a transfer of any size (`idle`) may
      // last as long as the host keeps sending; anything else has a time limit (0, "none", is not taken).
      ...(opts.idle ? { timeoutMs: opts.timeoutMs ?? 0, idleTimeoutMs: timeoutMs } : { timeoutMs: opts.timeoutMs || timeoutMs }),
      ...(opts.input !== undefined ? { input: opts.input } : {}),
      ...(opts.raw ? { raw: true } : {}),
      ...(opts.stdoutTo !== undefined ? { stdoutTo: opts.stdoutTo } : { wholeUpTo: HOST_ANSWER_MAX }),
    });
    // An answer cut short is no answer (whatever the exit code): callers read exitCode, sshProblem says why.
    return (r.tooLarge && !opts.partial) || r.writeError ? { ...r, exitCode: undefined } : r;
  };
  const opening = new Set<string>();
  const cleanups = new Map<string, string[]>();
  const base = (h: SshHost) => remoteBase(config, h);
  const reach = new Map(hosts.map((h) => [h.name, { h, base: base(h) }]));
  const where = (id: string, r: RunnerInfo) => whereOf(config, hosts, id, r);
  /** Running SSH entries per configured host (by address: an entry recorded under another name counts where it is). */
  const busyOf = (doc: StateDoc) => {
    const busy = new Map<string, number>();
    // A run decided by hand that goes on still takes its slot there.
    const outlived = Object.entries(doc.dispatch?.outlived ?? {}).filter(([, r]) => isSshRun(r));
    for (const [id, r] of [...sshEntries(doc), ...outlived]) {
      const named = byName(r.host);
      const k = where(id, r)?.key ?? (named && hostKey(config, named));
      if (k !== undefined) busy.set(k, (busy.get(k) ?? 0) + 1);
    }
    return (h: SshHost) => busy.get(hostKey(config, h)) ?? 0;
  };

  /** The commit to start from: HEAD here. */
  async function headCommit(): Promise<string> {
    const head = await capture(['git', '-C', config.rootDir, 'rev-parse', '--verify', 'HEAD^{commit}']);
    if (head.exitCode !== 0) throw new DispatchError(`SSH runs start from a commit, and ${config.rootDir} has none`, { hint: "commit once ('git init', 'git commit'): the hosts get the project through git" });
    return head.stdout.trim();
  }

  /** Sends the host the commits it lacks: a bundle of HEAD without what the host named (`tips`) and we know. */
  async function send(h: SshHost, tips: string[]): Promise<string> {
    const known = tips.length ? await capture(['git', '-C', config.rootDir, 'cat-file', '--batch-check'], { input: `${tips.join('\n')}\n` }) : undefined;
    // `<sha> commit <size>` for each tip this repository has as a commit (`<tip> missing` otherwise).
    const exclude = (known?.stdout ?? '').split('\n').map((l) => l.split(' ')).filter((w) => w[1] === 'commit' && /^[0-9a-f]{40,64}$/.test(w[0]!)).map((w) => `^${w[0]}`);
    const file = join(tmpdir(), `dispatch-send-${process.pid}-${Date.now()}.bundle`);
    try {
      const b = await capture(['git', '-C', config.rootDir, 'bundle', 'create', '-q', file, 'HEAD', ...exclude], { timeoutMs: 0 });
      if (b.exitCode !== 0) throw new DispatchError(`could not bundle the project for ${h.name}: ${(b.stderr || b.stdout).trim()}`);
      const bytes = readFileSync(file);
      // Its limit grows with what it carries: 64 KB/s at the least, on top of the usual one.
      const r = await remote(h, 'receive', ['--dir', h.cfg.dir], { input: bytes, timeoutMs: timeoutMs + Math.ceil(bytes.length / 64) });
      if (r.exitCode !== 0) throw new DispatchError(`${h.name} could not receive the project: ${sshProblem(r)}`);
      return answerOf(h, 'receive', receiveAnswerSchema, r.stdout).received;
    } finally {
      rmSync(file, { force: true });
    }
  }

  async function payloadFor(req: { spec: ResolvedSpec; attempt: number; runId?: string; host: string }, sha: string, label: string): Promise<StartPayload> {
    const { locateSpec } = await import('../../specs/lookup.js');
    const { attemptLogPath } = await import('../../run/paths.js');
    const files = locateSpec(config.specsDir, req.spec);
    const doc = readState(config.stateDir);
    const record = own(doc.dispatch?.specs, req.spec.id) ?? {};
    const running = own(doc.dispatch?.running, req.spec.id);
    const prev = record.history?.filter((h) => h.n < req.attempt).at(-1);
    let previousLog: { n: number; text: string } | undefined;
    if (prev && existsSync(attemptLogPath(config, req.spec.id, prev.n))) {
      previousLog = { n: prev.n, text: readFileSync(attemptLogPath(config, req.spec.id, prev.n), 'utf8').slice(-16_384) };
    }
    return {
      label, id: req.spec.id, attempt: req.attempt, ...(req.runId ? { runId: req.runId } : {}), host: req.host, base: sha,
      startedAt: running?.startedAt ?? new Date().toISOString(),
      config: { ...config, executor: undefined } as ResolvedConfig,
      record,
      files: { spec: readFileSync(files.specFile, 'utf8'), ...(existsSync(files.planFile) ? { plan: readFileSync(files.planFile, 'utf8') } : {}), ...(previousLog ? { previousLog } : {}) },
      env: forwardedEnv(ex.forwardEnv),
    };
  }

  return {
    kind: 'ssh',
    remote: true,
    session: REMOTE_TMUX_SOCKET,
    hosts,
    health,
    opening,
    onHost: remote,
    cleanups,
    reach,
    where,
    busy: busyOf,
    placeOf(id, name, attempt) {
      const h = byName(name);
      return h ? placeOf(config, h, id, attempt) : undefined;
    },
    async flush() {
      await Promise.all([...cleanups].map(async ([name, what]) => {
        const t = reach.get(name);
        if (!t || !what.length) return;
        const r = await remote(t.h, 'poll', ['--base', t.base, '--dir', t.h.cfg.dir, '--', ...what]);
        if (r.exitCode === 0) cleanups.delete(name);
      }));
    },
    openCommands(req) {
      // What a launch runs, for --dry-run: the runner in a tmux session on the chosen host.
      const h = (req.host && byName(req.host)) || hosts[0]!;
      const label = runLabel(config, req.spec?.id ?? req.name, req.attempt ?? 1);
      const session = sessionName(config, req.spec?.id ?? req.name, req.attempt ?? 1);
      return [sshArgv(h, [...remoteDispatch(h), 'remote', 'start', '--base', base(h), '--dir', h.cfg.dir]), sshArgv(h, ['tmux', '-L', REMOTE_TMUX_SOCKET, 'new-session', '-d', '-s', session, '--', ...remoteDispatch(h), 'remote-run', '--', `${base(h)}/runs/${label}`])];
    },
    async probe() {
      return { installed: true, running: true };
    },
    async ensureSession() {
      return { created: false, commands: [] };
    },
    place(spec, doc) {
      const busy = busyOf(doc);
      const wanted = spec.runOn ? hosts.filter((h) => h.name === spec.runOn || h.cfg.host === spec.runOn) : hosts;
      let best: { h: SshHost; free: number } | undefined;
      for (const h of wanted) {
        if (health.isDown(h.name)) continue;
        const free = h.cfg.slots - busy(h);
        if (free > 0 && (!best || free > best.free)) best = { h, free };
      }
      if (best) return { host: best.h.name };
      const up = wanted.filter((h) => !health.isDown(h.name));
      if (!up.length) return { wait: spec.runOn ? `${spec.runOn} to answer again (down)` : 'an SSH host to answer again (all down)' };
      return { wait: spec.runOn ? `a free slot on ${spec.runOn}` : `a free slot on an SSH host (${up.reduce((n, h) => n + h.cfg.slots, 0)} busy)` };
    },
    async open(req) {
      if (!req.spec || !req.host || req.attempt === undefined) throw new DispatchError('an SSH launch needs its spec, host and attempt');
      // Where the launch was recorded (its place), so that what it starts is where the state says it is.
      const place = req.place ?? (byName(req.host) ? placeOf(config, byName(req.host)!, req.spec.id, req.attempt) : undefined);
      const w = place && where(req.spec.id, { pid: 0, host: req.host, startedAt: '', attempt: req.attempt, place });
      if (!w) throw new DispatchError(`no SSH host ${req.host} in the config`);
      const { h, label } = w;
      opening.add(req.spec.id);
      try {
        let sha = await headCommit();
        const payload = { ...(await payloadFor({ spec: req.spec, attempt: req.attempt, host: h.name, ...(req.runId ? { runId: req.runId } : {}) }, sha, label)), session: w.session };
        const startArgs = ['--base', w.base, '--dir', h.cfg.dir];
        // One round trip when the host has the commit (every launch but its first); else the commits it lacks, then again.
        let r = await remote(h, 'start', startArgs, { input: JSON.stringify(payload), timeoutMs: startMs });
        if (r.exitCode === 3) {
          const asked = answerOf(h, 'start', startAnswerSchema, r.stdout);
          sha = await send(h, 'need' in asked ? asked.need : []);
          r = await remote(h, 'start', startArgs, { input: JSON.stringify({ ...payload, base: sha }), timeoutMs: startMs });
        }
        if (r.exitCode !== 0) throw new DispatchError(`${h.name} could not start ${req.spec.id}: ${sshProblem(r)}`);
        const started = answerOf(h, 'start', startAnswerSchema, r.stdout);
        if (!('pane' in started)) throw new DispatchError(`${h.name} could not start ${req.spec.id}: it still lacks the commit to start from`);
        // A host whose dispatch names sessions its own way (an older one) says which it started: that one is on record.
        const actual = /^tmux:([A-Za-z0-9_-]+)$/.exec(String(started.pane))?.[1];
        if (actual && actual !== w.session) {
          await withState(config.stateDir, { command: 'run' }, (d) => {
            const cur = own(d.dispatch?.running, req.spec!.id);
            if (cur?.place && cur.attempt === req.attempt) cur.place.session = actual;
          });
        }
        return `${h.name}:${started.pane}`;
      } finally {
        opening.delete(req.spec.id);
      }
    },
    async alive(id, r) {
      const w = where(id, r);
      if (!w || r.attempt === undefined) return undefined;
      const p = await remote(w.h, 'poll', ['--base', w.base]);
      if (p.exitCode !== 0) return undefined;
      // An answer that does not fit says nothing either way. A run that has finished but whose verdict is not
      // home yet still counts: a decision taken now would throw its verdict (and work) away.
      const runs = polledRuns(p.stdout);
      if (!runs) return undefined;
      const run = runs.find((x) => x.id === id && x.attempt === r.attempt);
      return !!run && ((run.alive ?? true) || !!run.result);
    },
    async stop(id, r, how) {
      await this.stopRun(id, r, how);
    },
    async stopRun(id, r, how) {
      const w = where(id, r);
      // Never "stopped" for a run that was not reached: the caller says so, and records nothing.
      if (!w) throw unreachable(id, r);
      const rec = own(readState(config.stateDir).dispatch?.specs, id);
      const args = ['--base', w.base, ...(rec?.stopReason ? ['--reason', rec.stopReason, '--kind', rec.stopKind ?? 'interrupted'] : []), ...(how === 'kill' ? ['--kill'] : []), '--', w.label];
      const s = await remote(w.h, 'stop', args);
      if (s.exitCode !== 0) throw new DispatchError(`${w.h.name} could not stop ${id}: ${sshProblem(s)}`);
      return { started: answerOf(w.h, 'stop', stopAnswerSchema, s.stdout).started !== false };
    },
    async readLog(id, r, from) {
      if (!r || !isSshRun(r) || r.attempt === undefined) return undefined;
      const w = where(id, r);
      if (!w) throw unreachable(id, r);
      // At most HOST_ANSWER_MAX at a time: the next read goes on from where this one ends.
      const l = await remote(w.h, 'log', ['--base', w.base, '--from', String(from), '--', w.label], { raw: true, partial: true });
      if (l.exitCode !== 0 && !l.tooLarge) return undefined;
      const chunk = l.stdoutRaw ?? Buffer.alloc(0);
      return { size: from + chunk.length, chunk };
    },
    attach(id, r) {
      const w = where(id, r);
      if (!w) return { hint: unreachable(id, r).message };
      return { argv: sshArgv(w.h, ['tmux', '-L', REMOTE_TMUX_SOCKET, 'attach-session', '-t', `=${w.session}`], { tty: true }) as Argv };
    },
    async list() {
      const out: HeldRun[] = [];
      await Promise.all(hosts.map(async (h) => {
        const p = await remote(h, 'poll', ['--base', base(h)]);
        if (p.exitCode !== 0) return;
        for (const run of polledRuns(p.stdout) ?? []) out.push({ id: run.id, attempt: run.attempt, host: h.name, alive: !!run.alive, ...(run.pid ? { pid: run.pid } : {}) });
      }));
      return out;
    },
  };
}

/** A host's answer fitted to its schema; else a DispatchError naming the host and what was wrong. */
function answerOf<S extends Parameters<typeof parseAnswer>[0]>(h: SshHost, verb: string, schema: S, text: string): ReturnType<typeof parseAnswer<S>> {
  try {
    return parseAnswer(schema, text);
  } catch (err) {
    if (err instanceof AnswerError) throw new DispatchError(`${h.name} answered '${verb}' with what dispatch cannot use: ${err.message}`);
    throw err;
  }
}

/** The runs of a `remote poll` answer that fit (undefined: the answer as a whole does not). */
function polledRuns(text: string): PolledRun[] | undefined {
  try {
    return parseAnswer(pollAnswerSchema, text).runs.flatMap((e) => {
      const p = polledEntry(e);
      return 'run' in p ? [p.run] : [];
    });
  } catch {
    return undefined;
  }
}

/** Whether the spec has a running SSH entry now. */
export const runsRemotely = (doc: StateDoc, id: string) => stateOf(doc, id) === 'running' && isSshRun(own(doc.dispatch?.running, id));
