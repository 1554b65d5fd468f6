// The SSH host pool: each spec's runner runs on one of the configured hosts,
// in a tmux session there, on a worktree of the project made from the commit
// dispatch pushed. This machine stays the only writer of the state: runners
// leave their verdict on the host, and `collect` brings it back.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResolvedConfig, ResolvedSpec } from '../../config/types.js';
import { DispatchError } from '../../errors.js';
import { capture, type Argv } from '../../proc/launch.js';
import { noteRunner, own, stateOf, type RunnerInfo, type StateDoc } from '../../state/doc.js';
import { readState, withState } from '../../state/store.js';
import { remoteTmuxSocket, type PolledRun, type StartPayload } from './wire.js';
import { AnswerError, parseAnswer, pollAnswerSchema, polledEntry, receiveAnswerSchema, startAnswerSchema, stopAnswerSchema } from './answers.js';
import type { HeldRun } from '../types.js';
import { HOST_ANSWER_MAX, forwardedEnv, isSshRun, sshEntries, sshProblem, unreachable, type SshExecutor } from './pool.js';
import { hostKey, hostsOf, placeOf, remoteBase, remoteDispatch, runLabel, sessionName, sshArgv, whereOf, type SshHost } from './hosts.js';
import { HostHealth } from './health.js';

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
    const { attemptLogPath } = await import('../../attempt/paths.js');
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

  const self: SshExecutor = {
    kind: 'ssh',
    remote: true,
    // The runner's environment is what the host's dispatch is given (forwardEnv), sent with its start.
    needsRunnerEnv: false,
    describe: { launchesIn: 'on the SSH hosts', stillRunningIn: 'on their SSH hosts' },
    session: remoteTmuxSocket(),
    hosts,
    health,
    opening,
    onHost: remote,
    cleanups,
    reach,
    where,
    busy: busyOf,
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
      return [sshArgv(h, [...remoteDispatch(h), 'remote', 'start', '--base', base(h), '--dir', h.cfg.dir]), sshArgv(h, ['tmux', '-L', remoteTmuxSocket(), 'new-session', '-d', '-s', session, '--', ...remoteDispatch(h), 'remote-run', '--', `${base(h)}/runs/${label}`])];
    },
    async probe() {
      return { installed: true, running: true };
    },
    async checks(req) {
      // The agents and checks run on the hosts: asked there, not here.
      const { hostChecks } = await import('./checks.js');
      const checks = await hostChecks(config, self, req.programs, req.doc);
      // Their work comes home to dispatch/<id>: a branch of that name dispatch did not set is never moved.
      if (req.ids.length) checks.push(await (await import('./branch.js')).branchCheck(config, req.ids, req.doc));
      return checks;
    },
    async ensureSession() {
      return { created: false, commands: [] };
    },
    place(spec, doc, attempt) {
      const busy = busyOf(doc);
      const wanted = spec.runOn ? hosts.filter((h) => h.name === spec.runOn || h.cfg.host === spec.runOn) : hosts;
      let best: { h: SshHost; free: number } | undefined;
      for (const h of wanted) {
        if (health.isDown(h.name)) continue;
        const free = h.cfg.slots - busy(h);
        if (free > 0 && (!best || free > best.free)) best = { h, free };
      }
      // A launch records where it really is (address, folder, session), not only the config's name for it.
      if (best) return { host: best.h.name, record: { executor: 'ssh', ...(attempt !== undefined ? { place: placeOf(config, best.h, spec.id, attempt) } : {}) } };
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
            if (cur?.place) noteRunner(d, req.spec!.id, (x) => x.attempt === req.attempt, { place: { ...cur.place, session: actual } });
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
    unreachable: (id, r) => (where(id, r) ? undefined : unreachable(id, r)),
    async stop(id, r, how) {
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
      return { argv: sshArgv(w.h, ['tmux', '-L', remoteTmuxSocket(), 'attach-session', '-t', `=${w.session}`], { tty: true }) as Argv };
    },
    async list() {
      const out: HeldRun[] = [];
      await Promise.all(hosts.map(async (h) => {
        const p = await remote(h, 'poll', ['--base', base(h)]);
        if (p.exitCode !== 0) return;
        for (const run of polledRuns(p.stdout) ?? []) {
          const res = run.result;
          out.push({ id: run.id, attempt: run.attempt, host: h.name, alive: !!run.alive, ...(run.pid ? { pid: run.pid } : {}), ...(res ? { result: { state: res.state, kind: res.kind, ...(res.reason ? { reason: res.reason } : {}) } } : {}) });
        }
      }));
      return out;
    },
    async collect(opts) {
      const { collectRemote } = await import('./collect.js');
      return collectRemote(config, self, opts);
    },
    async ask(pick) {
      const { askHosts } = await import('./liveness.js');
      return askHosts(config, self, pick);
    },
    async finish({ lastCheck }) {
      // A last check of every host: what was given up while a host was away is stopped and discarded if it
      // answers now, and the collected runs' folders leave their hosts (no later check would take them).
      if (lastCheck) await self.collect({ command: 'run', force: true }).catch(() => undefined);
      await self.flush().catch(() => undefined);
    },
  };
  return self;
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
