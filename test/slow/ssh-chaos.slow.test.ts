// Every process of an SSH run — the dispatcher here, the runner and the agent
// on the host, the host's sshd itself — killed (SIGKILL) or paused (SIGSTOP,
// then SIGCONT) at a random moment, 56 times, against real OpenSSH. Counted:
// specs not done (or done without their work fetched), verdicts counted twice,
// a launch repeated under one attempt number, agents of one spec alive at once
// while every host answered, and orphans (anything of the project still alive
// on a host once the run has ended).
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, readStateOf } from '../helpers.js';
import { NODE, engineProject, pidAlive, trace } from '../fixtures/engine.js';
import { GIT_ENV, git } from '../fixtures/git.js';
import { processesIn, sshAvailable, startPool, type SshPool } from '../fixtures/sshd.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let pool: SshPool;
beforeAll(async () => {
  if (sshAvailable) pool = await startPool(2, { slots: [2, 2] });
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

const KINDS = ['dispatcher SIGKILL', 'dispatcher SIGSTOP', 'runner SIGKILL', 'runner SIGSTOP', 'agent SIGKILL', 'agent SIGSTOP', 'host crash', 'host pause'] as const;

describe.skipIf(!sshAvailable)('an SSH run struck at random moments', () => {
  it('56 trials: every spec done with its work fetched, 0 counted twice, 0 launched twice, 0 duplicates, 0 orphans', async () => {
    const trials = 56;
    const tally = { notDone: 0, notFetched: 0, countedTwice: 0, launchedTwice: 0, duplicates: 0, orphans: 0 };
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
        extra: { project, retry: { maxAttempts: 6 }, executor: { kind: 'ssh', hosts: pool.hosts.map((h) => h.entry), checkSeconds: 0.3, lostAfterChecks: 2, timeoutSeconds: 2 } },
      });
      writeFileSync(join(dir, '.gitignore'), '.codex/\ntrace.jsonl\n');
      git(dir, 'init', '-q', '-b', 'main');
      git(dir, 'add', '-A');
      git(dir, 'commit', '-q', '-m', 'start');

      const agents = () => trace(dir).filter((e) => e.event === 'start');
      let cutOff = false;
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
      }
      const r1 = await first.done;
      // A killed dispatcher is started again, as a user would: it adopts what still runs.
      if (r1.code !== 0) await start(dir).done;
      watching = false;
      await watch;

      const st = readStateOf(dir);
      for (const id of ['001', '002']) {
        if (!st.completed.includes(id)) tally.notDone++;
        else if (!git(dir, 'show', `dispatch/${id}:out/${id === '001' ? 'a' : 'b'}.txt`).trim()) tally.notFetched++;
        const hist = st.dispatch.specs[id]?.history ?? [];
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
      if (st.completed.length !== 2) console.log(`trial ${t} (${kind}): ${JSON.stringify(st.dispatch.specs)} ${r1.stderr.slice(-600)}`);
      for (const h of pool.hosts) {
        const runs = join(h.dir, '.dispatch', project, 'runs');
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
    expect(tally).toEqual({ notDone: 0, notFetched: 0, countedTwice: 0, launchedTwice: 0, duplicates: 0, orphans: 0 });
  }, 2_400_000);
});
