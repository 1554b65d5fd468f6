// Every process dispatch involves — the dispatcher (`run`), the runner
// (`exec-spec`) and the agent — killed (SIGKILL) or paused (SIGSTOP, then
// SIGCONT) at a random moment, 50 times. Counted: specs that do not end done,
// orphans (an agent or its helper alive after everything ended), duplicates
// (two agents of one spec alive at once), and journal/state disagreements.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, dispatch, readStateOf } from '../helpers.js';
import { AGENTS, NODE, engineProject, pidAlive, trace, tracePath } from '../fixtures/engine.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function start(dir: string, args: string[]) {
  const child = spawn(NODE, [BIN, ...args], { cwd: dir, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; stderr: string }>((res) => child.on('close', (code) => res({ code, stderr })));
  return { child, done };
}

/**
 * Trial t strikes one of three processes in turn, killing it (SIGKILL) or
 * pausing it (SIGSTOP, then SIGCONT a random moment later) every other round.
 */
async function strike(victims: Record<string, number>, t: number, seen: Record<string, number>): Promise<void> {
  const names = Object.keys(victims);
  const who = names[t % names.length]!;
  const how = Math.floor(t / names.length) % 2 === 0 ? 'SIGKILL' : 'SIGSTOP';
  seen[`${who} ${how}`] = (seen[`${who} ${how}`] ?? 0) + 1;
  const pid = victims[who]!;
  if (!pid || !pidAlive(pid)) return;
  process.kill(pid, how);
  if (how === 'SIGSTOP') {
    await sleep(300 + Math.random() * 1200);
    process.kill(pid, 'SIGCONT');
  }
}

function journalAgrees(dir: string): boolean {
  const f = join(dir, '.codex', 'dispatch-events.jsonl');
  const ev = existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
  let at = 'pending';
  for (const [i, e] of ev.entries()) {
    if (e.seq !== i + 1) return false;
    // Run-level lines (a run's start and end, verify spans) are numbered with the spec events but move no spec.
    if (typeof e.event === 'string') continue;
    if (e.from !== at) return false;
    at = e.to;
  }
  const doc = readStateOf(dir);
  const now = doc.completed.includes('001') ? 'done' : doc.failed.includes('001') ? 'failed' : doc.dispatch?.running?.['001'] ? 'running' : 'pending';
  return at === now && (doc.dispatch?.seq ?? 0) === ev.length;
}

describe('the dispatcher, the runner and the agent, killed or paused at random moments', () => {
  it('50 trials: every spec ends done, 0 orphans, 0 duplicate agents, the journal agrees', async () => {
    const trials = 50;
    const tally = { notDone: 0, orphans: 0, duplicates: 0, journal: 0 };
    const seen: Record<string, number> = {};
    for (let t = 0; t < trials; t++) {
      const dir = engineProject({
        specs: [{ id: '001', name: 'slow', wave: 0, agent: 'slow' }],
        extra: { retry: { maxAttempts: 6 } },
        agents: { slow: { command: [NODE, join(AGENTS, 'slow.mjs'), '__TRACE__', '800'], prompt: 'none' } },
      });
      // engineProject cannot know the trace path before it makes the folder.
      const cfg = join(dir, 'specs.config.json');
      const text = readFileSync(cfg, 'utf8').replace('__TRACE__', tracePath(dir).replace(/\\/g, '\\\\'));
      (await import('node:fs')).writeFileSync(cfg, text);

      const runs = [start(dir, ['run', '--yes', '--no-plan'])];
      const agents = () => trace(dir).filter((e) => e.event === 'start');
      let dup = false;
      let watching = true;
      const watch = (async () => {
        while (watching) {
          if (agents().filter((a) => pidAlive(a.pid)).length > 1) dup = true;
          await sleep(15);
        }
      })();
      // Wait for the runner and its agent, then strike at a random moment.
      const t0 = Date.now();
      let runner = 0;
      while (Date.now() - t0 < 20_000 && !(runner && agents().length)) {
        runner = readStateOf(dir)?.dispatch?.running?.['001']?.pid ?? 0;
        await sleep(10);
      }
      await sleep(Math.random() * 900);
      const victims = { dispatcher: runs[0]!.child.pid!, runner, agent: agents().at(-1)?.pid ?? 0 };
      await strike(victims, t, seen);
      const first = await runs[0]!.done;
      // A killed dispatcher is started again, as a user would: it resumes.
      if (first.code !== 0) {
        const again = start(dir, ['run', '--yes', '--no-plan']);
        await again.done;
      }
      dispatch(dir, ['status']);
      watching = false;
      await watch;
      const st = readStateOf(dir);
      if (!st.completed.includes('001')) tally.notDone++;
      const left = agents().flatMap((a) => [a.pid, (a as { helper?: number }).helper ?? 0]).filter((p) => p && pidAlive(p));
      tally.orphans += left.length;
      if (dup) tally.duplicates++;
      if (!journalAgrees(dir)) tally.journal++;
      for (const p of left) process.kill(p, 'SIGKILL');
    }
    console.log(`processes: ${trials} trials (${Object.entries(seen).map(([k, v]) => `${k} ×${v}`).join(', ')}): ${tally.notDone} not done, ${tally.orphans} orphans, ${tally.duplicates} duplicates, ${tally.journal} journal disagreements`);
    expect(tally).toEqual({ notDone: 0, orphans: 0, duplicates: 0, journal: 0 });
  });
});

describe('a verify command at work when its runner, its dispatcher or itself is killed or paused', () => {
  it('50 trials: the spec ends done, 0 orphan checks, 0 checks running twice at once', async () => {
    const trials = 50;
    const tally = { notDone: 0, orphans: 0, duplicates: 0, journal: 0 };
    const seen: Record<string, number> = {};
    // A check that takes 800 ms and says when it starts (pid) in checks.jsonl.
    const check = [NODE, '-e', "require('fs').appendFileSync('checks.jsonl', JSON.stringify({ pid: process.pid }) + '\\n'); setTimeout(() => {}, 800)"];
    for (let t = 0; t < trials; t++) {
      const dir = engineProject({ specs: [{ id: '001', name: 'checked', wave: 0 }], extra: { retry: { maxAttempts: 6 }, verify: [check] } });
      const checks = (): number[] => (existsSync(join(dir, 'checks.jsonl')) ? readFileSync(join(dir, 'checks.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).pid as number) : []);
      const runs = [start(dir, ['run', '--yes', '--no-plan'])];
      let dup = false;
      let watching = true;
      const watch = (async () => {
        while (watching) {
          if (checks().filter((p) => pidAlive(p)).length > 1) dup = true;
          await sleep(15);
        }
      })();
      const t0 = Date.now();
      while (Date.now() - t0 < 20_000 && !checks().length) await sleep(10);
      await sleep(Math.random() * 700);
      const runner = readStateOf(dir)?.dispatch?.running?.['001']?.pid ?? 0;
      const victims = { dispatcher: runs[0]!.child.pid!, runner, check: checks().at(-1) ?? 0 };
      await strike(victims, t, seen);
      const first = await runs[0]!.done;
      if (first.code !== 0) await start(dir, ['run', '--yes', '--no-plan']).done;
      dispatch(dir, ['status']);
      watching = false;
      await watch;
      if (!readStateOf(dir).completed.includes('001')) tally.notDone++;
      const left = checks().filter((p) => pidAlive(p));
      tally.orphans += left.length;
      if (dup) tally.duplicates++;
      if (!journalAgrees(dir)) tally.journal++;
      for (const p of left) process.kill(p, 'SIGKILL');
    }
    console.log(`verify: ${trials} trials (${Object.entries(seen).map(([k, v]) => `${k} ×${v}`).join(', ')}): ${tally.notDone} not done, ${tally.orphans} orphan checks, ${tally.duplicates} duplicates, ${tally.journal} journal disagreements`);
    expect(tally).toEqual({ notDone: 0, orphans: 0, duplicates: 0, journal: 0 });
  });
});
