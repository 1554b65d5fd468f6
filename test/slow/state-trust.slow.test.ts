// The state's promise under attack, counted over many trials: writers paused
// (SIGSTOP) and killed (SIGKILL) at random moments, hundreds at once, and two
// runs racing for a stale run lock. Each test prints its figure.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, dispatch, makeProject, statePathOf } from '../helpers.js';
import { engineProject, starts } from '../fixtures/engine.js';

const ids = (n: number, p = '') => Array.from({ length: n }, (_, i) => `${p}${String(i + 1).padStart(3, '0')}`);
const tableOf = (list: string[]) => list.map((id) => ({ id, name: `spec-${id}` }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lockFile = (dir: string) => `${statePathOf(dir)}.lock`;

/** A state file of ~1 MB: reading and writing it takes a while, so pauses and kills land mid-write. */
const bigState = () => ({ completed: [], failed: [], skipped: [], history: Array.from({ length: 12_000 }, (_, i) => ({ at: '2024-01-01T00:00:00Z', spec: `h${i}`, note: 'kept' })) });

interface Writer {
  child: ChildProcess;
  done: boolean;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

function writer(dir: string, args: string[], env: Record<string, string> = {}): Writer {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const w: Writer = { child, done: false, exited: undefined as never };
  w.exited = new Promise((res) => child.on('close', (code, signal) => ((w.done = true), res({ code, signal, stderr }))));
  return w;
}

const state = (dir: string) => JSON.parse(readFileSync(statePathOf(dir), 'utf8'));
const journal = (dir: string): any[] => {
  const f = join(dir, '.codex', 'dispatch-events.jsonl');
  return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
};
const stateOf = (doc: any, id: string) =>
  doc.completed.includes(id) ? 'done' : doc.failed.includes(id) ? 'failed' : doc.skipped.includes(id) ? 'skipped' : doc.dispatch?.running?.[id] ? 'running' : 'pending';

/**
 * The journal as an account of the state: numbered 1..N without gaps or
 * repeats, each event starting where the spec's previous one ended (a
 * transition journaled twice breaks the chain), and ending where the state is.
 */
function journalProblems(dir: string, specIds: string[]): string[] {
  const ev = journal(dir);
  const problems: string[] = [];
  ev.forEach((e, i) => e.seq !== i + 1 && problems.push(`event ${i + 1} has seq ${e.seq}`));
  const at = new Map<string, string>();
  for (const e of ev) {
    const prev = at.get(e.spec) ?? 'pending';
    if (e.from !== prev) problems.push(`seq ${e.seq}: ${e.spec} ${e.from}→${e.to} but it was ${prev}`);
    at.set(e.spec, e.to);
  }
  const doc = state(dir);
  for (const id of specIds) if ((at.get(id) ?? 'pending') !== stateOf(doc, id)) problems.push(`${id}: journal says ${at.get(id) ?? 'pending'}, state says ${stateOf(doc, id)}`);
  if ((doc.dispatch?.seq ?? 0) !== ev.length) problems.push(`state seq ${doc.dispatch?.seq} but ${ev.length} events`);
  return problems;
}

const leftovers = (dir: string) => readdirSync(join(dir, '.codex')).filter((n) => n.endsWith('.tmp') || n.includes('.break.'));

/**
 * Who holds the state lock now (pid), if anyone: the pid the lock names, or
 * the writer of a state temp file (`dispatch-state.json.<pid>.<x>.tmp`, how
 * the bug was first caught, and how to catch it in a version whose lock
 * names nobody).
 */
function lockHolder(dir: string): number | undefined {
  try {
    return JSON.parse(readFileSync(lockFile(dir), 'utf8')).pid;
  } catch {
    const tmp = readdirSync(join(dir, '.codex')).find((n) => /^dispatch-state\.json\.\d+\..*\.tmp$/.test(n));
    return tmp ? Number(tmp.split('.')[2]) : undefined;
  }
}

describe('a paused lock holder (SIGSTOP) is alive', () => {
  it('50 trials: a writer paused at a random moment, another writer beside it, then resumed — 0 updates lost, 0 locks broken', async () => {
    const trials = 50;
    const all = [...ids(trials, 'a'), ...ids(trials, 'b')];
    const dir = makeProject({ specs: tableOf(all), writeSpecFiles: false, format: 'json', state: bigState() });
    let lost = 0;
    let broken = 0;
    let pausedHolding = 0;
    const failures: string[] = [];
    for (let t = 0; t < trials; t++) {
      const [ida, idb] = [all[t]!, all[trials + t]!];
      const a = writer(dir, ['mark-done', ida]);
      // Half the trials pause it exactly while it holds the lock; the others at a random moment.
      if (t % 2 === 0) {
        const t0 = Date.now();
        while (lockHolder(dir) !== a.child.pid && !a.done && Date.now() - t0 < 10_000) await sleep(1);
      } else await sleep(Math.random() * 150);
      a.child.kill('SIGSTOP');
      const held = lockHolder(dir) === a.child.pid;
      if (held) pausedHolding++;
      const b = writer(dir, ['mark-done', idb]);
      // Paused while holding the lock: longer than any heartbeat-based stale limit (proper-lockfile's was 5 s).
      await sleep(held ? 5500 : 150 + Math.random() * 250);
      // While the holder is paused, nobody may take its lock.
      if (held && b.done) broken++;
      a.child.kill('SIGCONT');
      const [ra, rb] = await Promise.all([a.exited, b.exited]);
      const doc = state(dir);
      for (const [id, r] of [[ida, ra], [idb, rb]] as const) {
        if (r.code !== 0 || r.stderr) failures.push(`${id}: exit ${r.code} ${r.stderr.trim()}`);
        if (r.code === 0 && !doc.completed.includes(id)) lost++;
      }
    }
    console.log(`SIGSTOP: ${trials} trials (${pausedHolding} paused while holding the lock), ${lost} lost, ${broken} locks broken`);
    expect(failures).toEqual([]);
    expect(pausedHolding).toBeGreaterThanOrEqual(trials / 2 - 5);
    expect({ lost, broken }).toEqual({ lost: 0, broken: 0 });
    expect(journalProblems(dir, all)).toEqual([]);
    expect(leftovers(dir)).toEqual([]);
  });

  it('a writer queued behind a paused holder gives up after its wait limit: exit 1, names the stopped pid, changes nothing', async () => {
    const dir = makeProject({ specs: tableOf(['001', '002']), writeSpecFiles: false, format: 'json', state: bigState() });
    let a: Writer | undefined;
    for (let i = 0; i < 20; i++) {
      a = writer(dir, ['mark-done', '001']);
      const t0 = Date.now();
      while (lockHolder(dir) !== a.child.pid && !a.done && Date.now() - t0 < 10_000) await sleep(0);
      a.child.kill('SIGSTOP');
      if (lockHolder(dir) === a.child.pid) break;
      a.child.kill('SIGCONT');
      await a.exited;
      a = undefined;
    }
    expect(a, 'could not pause a writer while it held the lock').toBeDefined();
    const before = readFileSync(statePathOf(dir), 'utf8');
    const b = await writer(dir, ['mark-done', '002'], { DISPATCH_LOCK_WAIT_SECONDS: '1' }).exited;
    expect(b.code).toBe(1);
    expect(b.stderr.trim().split('\n')).toHaveLength(1);
    expect(b.stderr).toContain(`pid ${a!.child.pid}`);
    expect(b.stderr).toContain('stopped');
    expect(b.stderr).toContain('nothing was changed');
    expect(readFileSync(statePathOf(dir), 'utf8')).toBe(before);
    a!.child.kill('SIGCONT');
    expect((await a!.exited).code).toBe(0);
    expect(state(dir).completed).toEqual(['001']);
  });
});

describe('writers killed (SIGKILL) at random moments', () => {
  it('60 trials of mixed writers, one killed each time: the journal and the state agree, no temp file is left', async () => {
    const five = ids(5);
    const dir = makeProject({ specs: tableOf(five), writeSpecFiles: false, format: 'json', state: bigState() });
    const commands = (id: string): string[][] => [['mark-done', id], ['mark-failed', id, '--reason', `r ${id}`], ['skip', id], ['reset', '--spec', id], ['retry']];
    let killedMidWrite = 0;
    const trials = 60;
    const failures: string[] = [];
    for (let t = 0; t < trials; t++) {
      const ws = [0, 1, 2].map(() => {
        const id = five[Math.floor(Math.random() * 5)]!;
        const cmds = commands(id);
        return writer(dir, cmds[Math.floor(Math.random() * cmds.length)]!);
      });
      const victim = ws[t % 3]!;
      if (t % 2 === 0) {
        const t0 = Date.now();
        while (lockHolder(dir) !== victim.child.pid && !victim.done && Date.now() - t0 < 10_000) await sleep(0);
        if (lockHolder(dir) === victim.child.pid) killedMidWrite++;
      } else await sleep(Math.random() * 200);
      victim.child.kill('SIGKILL');
      const rs = await Promise.all(ws.map((w) => w.exited));
      rs.forEach((r, i) => ws[i] !== victim && (r.code !== 0 || r.stderr) && failures.push(`exit ${r.code}: ${r.stderr.trim()}`));
    }
    // The next writer reconciles what the last killed one left.
    expect(dispatch(dir, ['mark-done', '001']).code).toBe(0);
    console.log(`SIGKILL: ${trials} trials, ${killedMidWrite} killed while holding the lock; journal problems: ${journalProblems(dir, five).length}; leftovers: ${leftovers(dir).length}`);
    expect(failures).toEqual([]);
    expect(killedMidWrite).toBeGreaterThanOrEqual(10);
    expect(journalProblems(dir, five)).toEqual([]);
    expect(leftovers(dir)).toEqual([]);
    expect(existsSync(lockFile(dir))).toBe(false);
  });
});

describe('hundreds of writers at once', () => {
  it('200 mixed writers on 5 ids: all exit 0, none gives up on live holders, no transition journaled twice', async () => {
    const five = ids(5);
    const dir = makeProject({ specs: tableOf(five), writeSpecFiles: false, format: 'json' });
    const cmds = (i: number): string[] => {
      const id = five[i % 5]!;
      return [['mark-done', id], ['mark-failed', id], ['skip', id], ['reset', '--spec', id], ['retry']][Math.floor(i / 5) % 5]!;
    };
    const ws = Array.from({ length: 200 }, (_, i) => writer(dir, cmds(i)));
    const rs = await Promise.all(ws.map((w) => w.exited));
    const bad = rs.filter((r) => r.code !== 0 || r.stderr).map((r) => `exit ${r.code}: ${r.stderr.trim()}`);
    console.log(`200 writers: ${bad.length} failed, ${journal(dir).length} events, journal problems: ${journalProblems(dir, five).length}`);
    expect(bad).toEqual([]);
    expect(journalProblems(dir, five)).toEqual([]);
  });
});

describe('two runs racing for a stale run lock', () => {
  it('50 trials: exactly one takes it over, the spec is launched once', async () => {
    const trials = 50;
    let duplicates = 0;
    let takeovers = 0;
    const odd: string[] = [];
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    for (let t = 0; t < trials; t++) {
      const dir = engineProject({ specs: [{ id: '001', name: 'one', wave: 0 }] });
      mkdirSync(join(dir, '.codex'), { recursive: true });
      writeFileSync(join(dir, '.codex', 'dispatch-lock.json'), JSON.stringify({ pid: Number(dead), host: hostname(), command: 'run', started: '2026-01-01T00:00:00Z' }));
      const [r1, r2] = await Promise.all([writer(dir, ['run', '--yes', '--no-plan']).exited, writer(dir, ['run', '--yes', '--no-plan']).exited]);
      const n = starts(dir).length;
      if (n !== 1) duplicates++;
      takeovers += [r1, r2].filter((r) => r.stderr.includes('taking over a stale run lock')).length;
      const codes = [r1.code, r2.code].sort();
      // The loser is refused (the winner holds the lock) or, when the winner has already finished, finds nothing to launch.
      if (codes[0] !== 0 || !(codes[1] === 0 || codes[1] === 1)) odd.push(`${r1.code} ${r1.stderr} | ${r2.code} ${r2.stderr}`);
    }
    console.log(`stale run lock: ${trials} trials, ${duplicates} duplicate launches, ${takeovers} takeovers announced`);
    expect(odd).toEqual([]);
    expect(duplicates).toBe(0);
    expect(takeovers).toBe(trials);
  });
});
