// The SSH host pool against real OpenSSH: two sshd on loopback ports are two
// hosts, each with its own checkout. Runners run there in tmux, agents are the
// stand-in scripts; this machine stays the only writer of the state.
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatch, dispatchAsync, readStateOf } from './helpers.js';
import { engineProject, starts, trace, writeSpecBody } from './fixtures/engine.js';
import { GIT_ENV, git } from './fixtures/git.js';
import { sshAvailable, startPool, type SshPool } from './fixtures/sshd.js';

const env = { ...GIT_ENV };
let pool: SshPool;

beforeAll(async () => {
  if (sshAvailable) pool = await startPool(2, { slots: [2, 1] });
}, 60_000);
afterAll(() => {
  pool?.stop();
  // Only the sessions of our projects on the hosts' tmux server.
  const ls = spawnSync('tmux', ['-L', 'dispatch', 'list-sessions', '-F', '#{session_name}'], { encoding: 'utf8' });
  for (const s of ls.stdout?.split('\n') ?? []) if (s.startsWith('sshp')) spawnSync('tmux', ['-L', 'dispatch', 'kill-session', '-t', `=${s}`]);
});

/** A git project whose specs run on the pool. */
function sshProject(project: string, specs: Parameters<typeof engineProject>[0]['specs'], extra: Record<string, unknown> = {}, hosts = pool.hosts.map((h) => h.entry)): string {
  const dir = engineProject({
    specs,
    extra: { project, executor: { kind: 'ssh', hosts, checkSeconds: 0.3, lostAfterChecks: 2, timeoutSeconds: 5 }, ...extra },
  });
  writeFileSync(join(dir, '.gitignore'), '.codex/\ntrace.jsonl\n');
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'start');
  return dir;
}

const run = (dir: string, args: string[] = []) => dispatchAsync(dir, ['run', '--yes', '--no-plan', ...args], { env });

describe.skipIf(!sshAvailable)('SSH host pool (real OpenSSH)', () => {
  it('spreads a wave over both hosts within their slots, fetches each branch back and merges it', async () => {
    const specs = Array.from({ length: 6 }, (_, i) => ({ id: `00${i + 1}`, name: `s${i + 1}`, wave: 1, cost: 1 as const, body: `sleep 1200\nwrite out/${i + 1}.txt made by ${i + 1}\n` }));
    const dir = sshProject('sshp1', specs, { merge: 'auto' });
    const r = await run(dir);
    expect(r.stderr).not.toMatch(/Error|bug/);
    expect(r.code, r.stderr).toBe(0);
    const st = readStateOf(dir);
    expect(st.completed.sort()).toEqual(specs.map((s) => s.id));
    // Every branch came back and was merged: the files are in the project's tree.
    for (let i = 1; i <= 6; i++) expect(readFileSync(join(dir, 'out', `${i}.txt`), 'utf8')).toBe(`made by ${i}\n`);
    // Where each ran: the hosts' worktrees, never the project itself.
    const ends = starts(dir);
    expect(ends).toHaveLength(6);
    const hostOf = (cwd: string) => pool.hosts.find((h) => cwd.startsWith(h.dir))?.name;
    const byHost = new Map<string, number>();
    for (const s of ends) byHost.set(hostOf(s.cwd!)!, (byHost.get(hostOf(s.cwd!)!) ?? 0) + 1);
    expect([...byHost.keys()].sort()).toEqual(['h1', 'h2']);
    // Slots: at no moment more agents on a host than it has slots (h1: 2, h2: 1).
    const tr = trace(dir);
    for (const h of pool.hosts) {
      let now = 0;
      let max = 0;
      for (const e of tr) {
        if (!e.cwd && e.event === 'start') continue;
        const on = e.event === 'start' ? hostOf(e.cwd!) : hostOf(tr.find((s) => s.event === 'start' && s.pid === e.pid)?.cwd ?? '');
        if (on !== h.name) continue;
        now += e.event === 'start' ? 1 : e.event === 'end' ? -1 : 0;
        max = Math.max(max, now);
      }
      expect(max, h.name).toBeLessThanOrEqual(h.entry.slots as number);
    }
    // Logs came home; the runs left the hosts.
    expect(readFileSync(join(dir, '.codex', 'logs', '001.log'), 'utf8')).toMatch(/succeed: all done/);
    for (const h of pool.hosts) expect(readdirSync(join(h.dir, '.dispatch', 'sshp1', 'runs'))).toEqual([]);
  }, 120_000);
});
