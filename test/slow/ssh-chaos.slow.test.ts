// Every process of an SSH run — the dispatcher here, the runner and the agent
// on the host, the host's sshd itself — killed (SIGKILL) or paused (SIGSTOP,
// then SIGCONT) at a random moment, against real OpenSSH; and the world around
// it: a host whose answers turn hostile or huge for a while, a person deciding
// by hand (mark-done, mark-failed, skip, reset, stop) while a spec runs there,
// a host renamed in the config mid-run. Counted: specs not as they should end
// (done, or as decided by hand), done without their work fetched, verdicts
// counted twice, a launch repeated under one attempt number, agents of one spec
// alive at once while every host answered, state files `status` cannot read,
// runs that do not end within their time limits (stalls), and orphans
// (anything of the project still alive on a host once everything has ended).
import { spawn } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, dispatch, readStateOf } from '../helpers.js';
import { NODE, engineProject, pidAlive, trace } from '../fixtures/engine.js';
import { GIT_ENV, git } from '../fixtures/git.js';
import { baseOf, processesIn, sshAvailable, startPool, type SshPool } from '../fixtures/sshd.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let pool: SshPool;
/** Per host: while this file exists, the host's `dispatch remote poll` answers what it holds instead of the truth. */
const hostileFile = (name: string) => join(pool.root, `hostile-${name}`);
const hostileEntry = (h: SshPool['hosts'][number]) => ({ ...h.entry, dispatch: ['/bin/sh', join(pool.root, `dispatch-${h.name}`)] });

beforeAll(async () => {
  if (!sshAvailable) return;
  pool = await startPool(2, { slots: [2, 2] });
  for (const h of pool.hosts) {
    // A proxy in front of the host's dispatch: it rewrites poll answers while told to.
    const f = join(pool.root, `dispatch-${h.name}`);
    writeFileSync(f, `#!/bin/sh
if [ "$2" = poll ] && [ -f ${JSON.stringify(hostileFile(h.name))} ]; then
  if [ "$(head -c 4 ${JSON.stringify(hostileFile(h.name))})" = HUGE ]; then head -c 20000000 /dev/zero | tr '\\0' A; else cat ${JSON.stringify(hostileFile(h.name))}; fi
  exit 0
fi
exec ${JSON.stringify(NODE)} ${JSON.stringify(BIN)} "$@"
`);
    chmodSync(f, 0o755);
  }
}, 60_000);
afterAll(() => pool?.stop());

function start(dir: string) {
  const child = spawn(NODE, [BIN, 'run', '--yes', '--no-plan'], { cwd: dir, env: { ...process.env, ...GIT_ENV, NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; stderr: string }>((res) => child.on('close', (code) => res({ code, stderr })));
  return { child, done };
}

const signal = (pids: number[], sig: NodeJS.Signals) => {
  for (const p of pids) {
    try {
      process.kill(p, sig);
    } catch {
      // gone
    }
  }
};

/** The remote runners of a project: `dispatch remote-run` processes under its folder on the hosts. */
const runnersOf = (project: string) =>
  pool.hosts.flatMap((h) => processesIn(join(h.dir, '.dispatch', project))).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('remote-run');
    } catch {
      return false;
    }
  });

const KINDS = [
  'dispatcher SIGKILL', 'dispatcher SIGSTOP', 'runner SIGKILL', 'runner SIGSTOP', 'agent SIGKILL', 'agent SIGSTOP', 'host crash', 'host pause',
  'hostile answer', 'huge answer', 'mark-done', 'mark-failed', 'skip', 'reset', 'stop', 'rename',
] as const;

/** What a hostile host answers to `remote poll` (its runs' labels are made up: a host may say anything). */
const HOSTILE = [
  '{"runs":null}\n',
  '{"runs":[{"label":"x","id":"001","attempt":1,"logSize":0,"since":0,"result":{"id":"001","attempt":1,"state":"skipped","kind":"bogus","endedAt":"never"}}]}\n',
  '{"runs":[{"label":"__proto__","id":"__proto__","attempt":1,"logSize":-1,"since":0,"alive":true,"pid":"1; rm -rf /"}]}\n',
  '\u001b]0;pwned\u0007\u001b[2J{"runs":[]}\n',
  '{"runs":[]}\n',
  'not json at all\n',
];

/** What a decision by hand may leave a spec as: the decision when it was taken, else the run's own verdict. */
const DECIDED: Record<string, string[]> = { 'mark-done': ['done'], 'mark-failed': ['failed'], skip: ['skipped'], stop: ['failed'], reset: ['done', 'pending'] };

describe.skipIf(!sshAvailable)('an SSH run struck at random moments', () => {
  it('64 trials: every spec done (or as decided by hand) with its work fetched, 0 counted twice, 0 launched twice, 0 duplicates, 0 orphans, 0 invalid states, 0 stalls', async () => {
    const trials = Number(process.env.SSH_CHAOS_TRIALS ?? 64);
    const tally = { notDone: 0, notFetched: 0, countedTwice: 0, launchedTwice: 0, duplicates: 0, orphans: 0, invalidStates: 0, stalls: 0, openAttempts: 0 };
    const seen: Record<string, number> = {};
    let cutOffOverlaps = 0;
    for (let t = 0; t < trials; t++) {
      const kind = KINDS[t % KINDS.length]!;
      seen[kind] = (seen[kind] ?? 0) + 1;
      const project = `chaos${t}`;
      const dir = engineProject({
        specs: [
          { id: '001', name: 'a', wave: 0, body: 'sleep 1500\nwrite out/a.txt a\n' },
          { id: '002', name: 'b', wave: 0, body: 'sleep 1500\nwrite out/b.txt b\n' },
        ],
        extra: { project, retry: { maxAttempts: 6 }, executor: { kind: 'ssh', hosts: pool.hosts.map(hostileEntry), checkSeconds: 0.3, lostAfterChecks: 2, timeoutSeconds: 2 } },
      });
      writeFileSync(join(dir, '.gitignore'), '.codex/\ntrace.jsonl\n');
      git(dir, 'init', '-q', '-b', 'main');
      git(dir, 'add', '-A');
      git(dir, 'commit', '-q', '-m', 'start');

      const agents = () => trace(dir).filter((e) => e.event === 'start');
      let cutOff = false;
      const decided: Record<string, string[]> = {};
      let dup = false;
      let watching = true;
      const watch = (async () => {
        while (watching) {
          for (const id of ['001', '002']) {
            if (agents().filter((a) => a.id === id && pidAlive(a.pid)).length > 1) {
              if (cutOff) cutOffOverlaps++;
              else dup = true;
            }
          }
          await sleep(20);
        }
      })();
      const first = start(dir);
      const t0 = Date.now();
      while (Date.now() - t0 < 30_000 && agents().length < 2) await sleep(20);
      await sleep(Math.random() * 1200);
      const victimAgent = agents().at(-1);
      const victimHost = pool.hosts.find((h) => victimAgent?.cwd?.startsWith(h.dir)) ?? pool.hosts[0]!;
      switch (kind) {
        case 'dispatcher SIGKILL':
          signal([first.child.pid!], 'SIGKILL');
          break;
        case 'dispatcher SIGSTOP':
          signal([first.child.pid!], 'SIGSTOP');
          await sleep(300 + Math.random() * 2000);
          signal([first.child.pid!], 'SIGCONT');
          break;
        case 'runner SIGKILL':
        case 'runner SIGSTOP': {
          const r = runnersOf(project).slice(-1);
          signal(r, kind.endsWith('KILL') ? 'SIGKILL' : 'SIGSTOP');
          if (kind.endsWith('STOP')) {
            await sleep(300 + Math.random() * 2000);
            signal(r, 'SIGCONT');
          }
          break;
        }
        case 'agent SIGKILL':
        case 'agent SIGSTOP':
          if (victimAgent) signal([victimAgent.pid], kind.endsWith('KILL') ? 'SIGKILL' : 'SIGSTOP');
          if (victimAgent && kind.endsWith('STOP')) {
            await sleep(300 + Math.random() * 2000);
            signal([victimAgent.pid], 'SIGCONT');
          }
          break;
        case 'host crash':
          // The machine is gone: its sshd, and everything running on it.
          victimHost.crash();
          signal(processesIn(victimHost.dir), 'SIGKILL');
          await sleep(500 + Math.random() * 3000);
          await victimHost.restart();
          break;
        case 'host pause':
          // Cut off, then back: its runs go on meanwhile (and may be given up and relaunched elsewhere).
          cutOff = true;
          victimHost.pause();
          await sleep(1000 + Math.random() * 5000);
          victimHost.resume();
          break;
        case 'hostile answer':
        case 'huge answer':
          // Its runs are lost while it lies (and relaunched): what it says of them never counts.
          cutOff = true;
          writeFileSync(hostileFile(victimHost.name), kind === 'huge answer' ? 'HUGE' : HOSTILE[t % HOSTILE.length]!);
          await sleep(1000 + Math.random() * 3000);
          rmSync(hostileFile(victimHost.name), { force: true });
          break;
        case 'mark-done':
        case 'mark-failed':
        case 'skip':
        case 'reset':
        case 'stop': {
          const id = victimAgent?.id ?? '001';
          const r = dispatch(dir, [kind, ...(kind === 'reset' ? ['--spec'] : []), id], { env: GIT_ENV });
          if (r.code === 0) decided[id] = DECIDED[kind]!;
          else if (kind === 'reset' && !/is running; nothing was changed/.test(r.stderr)) console.log(`trial ${t} (${kind}): ${r.stderr.trim()}`);
          break;
        }
        case 'rename': {
          // The victim host renamed in the config mid-run (same address): its runs are the same runs.
          const cfgFile = join(dir, 'specs.config.json');
          const cfg = JSON.parse(readFileSync(cfgFile, 'utf8'));
          for (const h of cfg.executor.hosts) if (h.name === victimHost.name) h.name = `${h.name}-renamed`;
          writeFileSync(cfgFile, JSON.stringify(cfg, null, 2));
          break;
        }
      }
      // Every run ends within its time limits (a host that hangs or lies never holds it): past them, a stall.
      const bounded = async (p: ReturnType<typeof start>) => {
        const timer = setTimeout(() => {
          stalled = true;
          signal([p.child.pid!], 'SIGKILL');
        }, 180_000);
        const r = await p.done;
        clearTimeout(timer);
        return r;
      };
      let stalled = false;
      const r1 = await bounded(first);
      // A killed dispatcher is started again, as a user would: it adopts what still runs.
      if (r1.code !== 0 && !stalled) await bounded(start(dir));
      // Runs decided by hand while they went on come home with a later check (`status`), their attempts closed.
      const home = Date.now();
      while (readStateOf(dir).dispatch?.outlived && Date.now() - home < 60_000) {
        dispatch(dir, ['status'], { env: GIT_ENV });
        await sleep(300);
      }
      if (readStateOf(dir).dispatch?.outlived) {
        stalled = true;
        console.log(`trial ${t} (${kind}): still outlived ${JSON.stringify(readStateOf(dir).dispatch.outlived)}`);
      }
      if (stalled) tally.stalls++;
      watching = false;
      await watch;
      const status = dispatch(dir, ['status', '--json'], { env: GIT_ENV });
      if (status.code !== 0) {
        tally.invalidStates++;
        console.log(`trial ${t} (${kind}): status says ${status.stderr.trim()}`);
      }

      const st = readStateOf(dir);
      const stateOf = (id: string) => (st.completed.includes(id) ? 'done' : st.failed.includes(id) ? 'failed' : st.skipped.includes(id) ? 'skipped' : st.dispatch?.running?.[id] ? 'running' : 'pending');
      for (const id of ['001', '002']) {
        const hist = st.dispatch.specs[id]?.history ?? [];
        if (!(decided[id] ?? ['done']).includes(stateOf(id))) tally.notDone++;
        // Done by its own verdict, or an attempt that ended done after a decision by hand: its work is here.
        else if ((stateOf(id) === 'done' && !decided[id]) || hist.some((h: { state?: string }) => h.state === 'done')) {
          if (git(dir, 'show', `dispatch/${id}:out/${id === '001' ? 'a' : 'b'}.txt`).trim() !== (id === '001' ? 'a' : 'b')) tally.notFetched++;
        }
        if (hist.some((h: { endedAt?: string }) => !h.endedAt)) tally.openAttempts++;
        if (hist.filter((h: { state?: string }) => h.state === 'done').length > 1) tally.countedTwice++;
        const attempts = agents().filter((a) => a.id === id).map((a) => a.attempt);
        if (new Set(attempts).size !== attempts.length) tally.launchedTwice++;
      }
      if (dup) tally.duplicates++;
      // What of this project still lives on the hosts once the run has ended.
      await sleep(300);
      const left = pool.hosts.flatMap((h) => processesIn(join(h.dir, '.dispatch', project)));
      const leftAgents = agents().filter((a) => pidAlive(a.pid)).map((a) => a.pid);
      const orphans = [...new Set([...left, ...leftAgents])];
      if (orphans.length) console.log(`trial ${t} (${kind}): orphans ${orphans.map((p) => { try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ').slice(0, 120); } catch { return String(p); } }).join(' | ')}`);
      tally.orphans += orphans.length;
      signal(orphans, 'SIGKILL');
      if (['001', '002'].some((id) => !(decided[id] ?? ['done']).includes(stateOf(id)))) console.log(`trial ${t} (${kind}): ${JSON.stringify(st.dispatch.specs)} ${r1.stderr.slice(-600)}`);
      for (const h of pool.hosts) {
        const runs = join(baseOf(h.dir, project), 'runs');
        let leftRuns: string[] = [];
        try {
          leftRuns = readdirSync(runs);
        } catch {
          // never used
        }
        if (leftRuns.length && kind !== 'host crash') console.log(`trial ${t} (${kind}): run folders left on ${h.name}: ${leftRuns.join(', ')}`);
      }
    }
    console.log(`ssh chaos: ${trials} trials (${Object.entries(seen).map(([k, v]) => `${k} ×${v}`).join(', ')}): ${JSON.stringify(tally)}; agents alive at once while a host was cut off (expected, their results discarded): ${cutOffOverlaps > 0 ? 'seen' : 'none'}`);
    expect(tally).toEqual({ notDone: 0, notFetched: 0, countedTwice: 0, launchedTwice: 0, duplicates: 0, orphans: 0, invalidStates: 0, stalls: 0, openAttempts: 0 });
  }, 2_400_000);
});
