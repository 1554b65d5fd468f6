// The SSH host pool against real OpenSSH: two sshd on loopback ports are two
// hosts, each with its own checkout. Runners run there in tmux, agents are the
// stand-in scripts; this machine stays the only writer of the state.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dispatch, dispatchAsync, readStateOf, tempDir } from '../helpers.js';
import { AGENTS, engineProject, starts, trace } from '../fixtures/engine.js';
import { GIT_ENV, git } from '../fixtures/git.js';
import { baseOf, sshAvailable, startPool, type SshPool } from '../fixtures/sshd.js';

const env = { ...GIT_ENV };
let pool: SshPool;
/** Put back after each test, pass or fail (a crashed host restarted). */
const onExit: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of onExit.splice(0)) await f();
});

beforeAll(async () => {
  if (sshAvailable) pool = await startPool(2, { slots: [2, 1] });
}, 60_000);
afterAll(() => {
  pool?.stop();
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
    const specs = Array.from({ length: 6 }, (_, i) => ({ id: `00${i + 1}`, name: `s${i + 1}`, wave: 1, cost: 1 as const, body: `sleep 4000\nwrite out/${i + 1}.txt made by ${i + 1}\n` }));
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
    for (const h of pool.hosts) expect(readdirSync(join(baseOf(h.dir, 'sshp1'), 'runs'))).toEqual([]);
  }, 120_000);

  it("a relaunch on a host is told what the attempt before it printed: its prompt quotes that attempt's failure", async () => {
    const dir = sshProject('sshpr', [{ id: '001', name: 'a', wave: 1, cost: 1, agent: 'flaky' }], { retry: { maxAttempts: 2 } });
    const cfgFile = join(dir, 'specs.config.json');
    const cfg = JSON.parse(readFileSync(cfgFile, 'utf8'));
    cfg.agents.flaky = { command: [process.execPath, join(AGENTS, 'fail-once.mjs'), join(dir, 'trace.jsonl')], prompt: 'stdin' };
    writeFileSync(cfgFile, JSON.stringify(cfg, null, 2));
    const r = await run(dir);
    expect(r.code, r.stderr).toBe(0);
    const [first, second] = starts(dir);
    expect(first!.stdin).not.toContain('3 of 12 tests failed');
    expect(second!.stdin).toContain('error: 3 of 12 tests failed (attempt 1)');
    expect(readStateOf(dir).dispatch.specs['001'].history.map((h: { state: string }) => h.state)).toEqual(['failed', 'done']);
  }, 120_000);

  it("a verdict collected from a host runs its hook with what a local runner's gets: the evidence and the log, kept here with its verdict line", async () => {
    const out = tempDir('ssh-hook-');
    const dir = sshProject('sshph', [{ id: '001', name: 'a', wave: 1, cost: 1, body: 'write out/1.txt one\n' }], {
      hooks: { onSpecDone: ['sh', '-c', `env | grep ^DISPATCH_ | sort > ${out}/env; cat "$DISPATCH_LOG" > ${out}/log`] },
    });
    const r = await run(dir);
    expect(r.code, r.stderr).toBe(0);
    const vars = readFileSync(join(out, 'env'), 'utf8');
    for (const v of ['KIND=done', 'STATE=done', 'ATTEMPT=1', 'EXIT_CODE=0', 'SPEC_ID=001', `LOG=${join(dir, '.codex', 'logs', '001.attempt-1.log')}`]) expect(vars).toContain(`DISPATCH_${v}\n`);
    expect(vars).toMatch(/^DISPATCH_HOST=h[12]$/m);
    expect(readFileSync(join(out, 'log'), 'utf8')).toMatch(/── dispatch: 001 done/);
  }, 120_000);
});

const hostOfCwd = (cwd: string | undefined) => pool.hosts.find((h) => (cwd ?? '').startsWith(h.dir))?.name;

/** Waits until `ok` holds, checking every 100 ms (generous bounds: a loaded machine is slow). */
async function waitFor(ok: () => boolean, ms = 60_000, what = 'condition', debug?: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${debug ? `: ${debug()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!sshAvailable)('SSH hosts that fail', () => {
  it('a host that crashes mid-run: its spec is lost after the failed checks and relaunched on the other host', async () => {
    const dir = sshProject('sshp2', [{ id: '001', name: 'long', wave: 1, cost: 1, body: 'sleep 6000\nwrite out/long.txt long\n' }]);
    const h1 = pool.hosts[0]!;
    const running = run(dir);
    await waitFor(() => starts(dir).some((s) => hostOfCwd(s.cwd) === 'h1'), 60_000, 'the agent on h1');
    h1.crash();
    onExit.push(() => h1.restart());
    // What ran there dies with it.
    const { processesIn } = await import('../fixtures/sshd.js');
    for (const p of processesIn(h1.dir)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // ended meanwhile
      }
    }
    const r = await running;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/host h1: not answering/);
    const st = readStateOf(dir);
    expect(st.completed).toEqual(['001']);
    const h = st.dispatch.specs['001'].history;
    expect(h).toHaveLength(2);
    expect(h[0]).toMatchObject({ state: 'failed', kind: 'lost' });
    expect(h[0].reason).toMatch(/host h1 not answering/);
    expect(h[1]).toMatchObject({ state: 'done' });
    expect(starts(dir).map((s) => hostOfCwd(s.cwd))).toEqual(['h1', 'h2']);
    // Done and awaiting merge (merge: 'manual'): the work is on the branch fetched back.
    expect(git(dir, 'show', 'dispatch/001:out/long.txt')).toBe('long\n');
    expect(st.dispatch.specs['001'].awaitingMerge).toBe(true);
  }, 180_000);

  it('a host cut off and back: its given-up run is stopped and its late result discarded, never counted', async () => {
    const dir = sshProject('sshp3', [
      { id: '001', name: 'cut', wave: 1, cost: 1, body: 'sleep 5000\nwrite out/cut.txt first\n' },
      { id: '002', name: 'keep', wave: 1, cost: 1, runOn: 'h2', body: 'sleep 9000\nwrite out/keep.txt keep\n' },
    ]);
    const h1 = pool.hosts[0]!;
    const running = run(dir);
    await waitFor(() => starts(dir).some((s) => hostOfCwd(s.cwd) === 'h1'), 60_000, 'the agent on h1', () => JSON.stringify(readStateOf(dir)));
    // Cut off: sshd frozen, its runner left working (it finishes and writes a result nobody may count).
    h1.pause();
    onExit.push(async () => h1.resume());
    await waitFor(() => readStateOf(dir).dispatch?.specs?.['001']?.history?.[0]?.kind === 'lost', 90_000, '001 lost');
    h1.resume();
    const r = await running;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/host h1: answering; stopped and discarded sshp3-001-1/);
    const st = readStateOf(dir);
    expect(st.completed.sort()).toEqual(['001', '002']);
    const hist = st.dispatch.specs['001'].history;
    expect(hist.map((x: { state: string }) => x.state)).toEqual(['failed', 'done']);
    // Relaunched wherever a slot was free first: h2 once 002 ends, or h1 once it answers again.
    expect(starts(dir).filter((s) => s.id === '001')[0]?.cwd).toContain(h1.dir);
    expect(readdirSync(join(baseOf(h1.dir, 'sshp3'), 'runs'))).toEqual([]);
  }, 180_000);

  it('a dispatcher killed mid-run: the next run adopts the remote runs by label and launches nothing twice', async () => {
    const dir = sshProject('sshp4', [
      { id: '001', name: 'a', wave: 1, cost: 1, body: 'sleep 4000\nwrite out/a.txt a\n' },
      { id: '002', name: 'b', wave: 1, cost: 1, body: 'sleep 4000\nwrite out/b.txt b\n' },
    ]);
    const { spawn } = await import('node:child_process');
    const { BIN } = await import('../helpers.js');
    const first = spawn(process.execPath, [BIN, 'run', '--yes', '--no-plan'], { cwd: dir, env: { ...process.env, ...env, FORCE_COLOR: '0' }, stdio: 'ignore' });
    await waitFor(() => starts(dir).length === 2, 60_000, 'both agents');
    first.kill('SIGKILL');
    const r = await run(dir);
    expect(r.code, r.stderr).toBe(0);
    const st = readStateOf(dir);
    expect(st.completed.sort()).toEqual(['001', '002']);
    expect(starts(dir)).toHaveLength(2);
    for (const id of ['001', '002']) expect(st.dispatch.specs[id].history).toHaveLength(1);
  }, 120_000);
});

describe.skipIf(!sshAvailable)('SSH hosts and what travels to them', () => {
  it('hostile names (spec names, host folders) arrive as themselves: nothing runs in any shell', async () => {
    const nasty = `x $(touch pwned1) ; 'q' "d" #(touch pwned2) #{session_name} \`touch pwned3\``;
    const hostilePool = await startPool(1, { dirName: () => `it's $(touch pwned4) #(touch pwned5) a;b` });
    const places = () => [process.cwd(), process.env.HOME ?? '/root', hostilePool.root, hostilePool.hosts[0]!.dir, join(hostilePool.hosts[0]!.dir, '..')];
    const { rmSync } = await import('node:fs');
    for (const p of places()) for (let i = 1; i <= 5; i++) rmSync(join(p, `pwned${i}`), { force: true });
    try {
      const dir = sshProject('sshp5', [{ id: '001', name: nasty, wave: 1, cost: 1, body: 'write out/n.txt nasty\n' }], {}, hostilePool.hosts.map((h) => h.entry));
      const r = await run(dir);
      expect(r.code, r.stderr).toBe(0);
      expect(readStateOf(dir).completed).toEqual(['001']);
      expect(git(dir, 'show', 'dispatch/001:out/n.txt')).toBe('nasty\n');
      // The name reached the agent whole, in its spec folder's name.
      expect(starts(dir)[0]!.argv!.join(' ')).toContain(`001-${nasty}`);
      for (const p of [dir, ...places()]) for (let i = 1; i <= 5; i++) expect(existsSync(join(p, `pwned${i}`)), `${p}/pwned${i}`).toBe(false);
    } finally {
      hostilePool.stop();
    }
  }, 120_000);

  it('only forwarded variables reach the host; `run --no-wait` then `status` brings the verdict home', async () => {
    const dir = sshProject('sshp6', [{ id: '001', name: 'env', wave: 1, cost: 1, body: 'sleep 1500\nwrite out/e.txt e\n' }]);
    const r = await dispatchAsync(dir, ['run', '--yes', '--no-plan', '--no-wait'], { env: { ...env, OPENAI_API_KEY: 'sk-test', DISPATCH_FORWARD_TEST: 'yes', SECRET_NOT_FORWARDED: 'leak' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/still running on their SSH hosts/);
    await waitFor(() => trace(dir).some((e) => e.event === 'end'), 60_000, 'the agent to end');
    const s = starts(dir)[0]!;
    expect(s.env).toMatchObject({ OPENAI_API_KEY: 'sk-test', DISPATCH_FORWARD_TEST: 'yes' });
    expect(s.env?.SECRET_NOT_FORWARDED).toBeUndefined();
    // The environment file on the host is gone once the runner read it.
    const runs = join(baseOf(pool.hosts[0]!.dir, 'sshp6'), 'runs');
    await waitFor(() => {
      const st = dispatch(dir, ['status'], { env });
      return /1 done/.test(st.stdout);
    }, 60_000, 'status to collect the verdict');
    expect(readStateOf(dir).completed).toEqual(['001']);
    expect(existsSync(runs) ? readdirSync(runs) : []).toEqual([]);
  }, 120_000);

  it('logs --follow reads the remote log; attach prints the ssh command that opens its tmux session', async () => {
    const dir = sshProject('sshp7', [{ id: '001', name: 'talk', wave: 1, cost: 1, body: 'sleep 3000\nwrite out/t.txt t\n' }]);
    const running = run(dir);
    const pid = () => {
      try {
        return readStateOf(dir).dispatch?.running?.['001']?.pid ?? 0;
      } catch {
        return 0; // no state file yet
      }
    };
    await waitFor(() => pid() > 0, 60_000, 'the runner adopted');
    const a = dispatch(dir, ['attach', '001', '--print'], { env });
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(new RegExp(`^ssh .*-t -- 127\\.0\\.0\\.1 'tmux -L ${pool.tmuxSocket} attach-session -t =sshp7-001-1-[0-9a-f]{12}'\n$`));
    const l = await dispatchAsync(dir, ['logs', '001', '--follow'], { env });
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout).toMatch(/succeed: working on 001[\s\S]*succeed: all done/);
    expect((await running).code).toBe(0);
  }, 120_000);

  it('doctor checks each host: reachable, same dispatch, agents present, slots free', async () => {
    // A host that takes the connection and never says a word (a hung sshd, a shell start-up that waits forever).
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentPort = (silent.address() as AddressInfo).port;
    const dir = sshProject('sshp8', [{ id: '001', name: 'd', wave: 1, cost: 1 }], {}, [...pool.hosts.map((h) => h.entry), { ...pool.hosts[0]!.entry, name: 'gone', port: 1 }, { ...pool.hosts[0]!.entry, name: 'mute', port: silentPort }]);
    try {
      const d = await dispatchAsync(dir, ['doctor'], { env });
      expect(d.stdout).toMatch(/host h1.*dispatch 0\.1\.0.*2 of 2 slots free/);
      expect(d.stdout).toMatch(/host h2.*1 of 1 slot free/);
      expect(d.stdout).toMatch(/host gone.*cannot reach it/);
      expect(d.stdout).toMatch(/host mute +cannot reach it: no answer within 5 s/);
      expect(d.stdout).toMatch(/raise executor\.timeoutSeconds/);
      expect(d.code).toBe(1);
    } finally {
      silent.close();
    }
  }, 60_000);
});

describe.skipIf(!sshAvailable)('stopping SSH runs', () => {
  it('dispatch stop ends the runner and agent on the host, recorded interrupted here', async () => {
    const dir = sshProject('sshp9', [{ id: '001', name: 'stopme', wave: 1, cost: 1, body: 'sleep 60000\nwrite out/s.txt s\n' }]);
    const running = dispatchAsync(dir, ['run', '--yes', '--no-plan', '--no-wait'], { env });
    await waitFor(() => starts(dir).length === 1, 60_000, 'the agent');
    expect((await running).code).toBe(0);
    const s = dispatch(dir, ['stop', '001'], { env });
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/001: stopped \(interrupted/);
    const st = readStateOf(dir);
    expect(st.failed).toEqual(['001']);
    expect(st.dispatch.specs['001'].kind).toBe('interrupted');
    expect(st.dispatch.specs['001'].history[0]).toMatchObject({ state: 'failed', kind: 'interrupted' });
    const { pidAlive } = await import('../fixtures/engine.js');
    await waitFor(() => !pidAlive(starts(dir)[0]!.pid), 20_000, 'the agent to end');
    expect(readFileSync(join(dir, '.codex', 'logs', '001.log'), 'utf8')).toMatch(/succeed: working on 001/);
  }, 120_000);

  it('a stalled agent on a host is stopped by the run (stall.action fail), its reason recorded', async () => {
    const dir = sshProject('sshp10', [{ id: '001', name: 'quiet', wave: 1, cost: 1, body: 'sleep 60000\n' }], { stall: { minutes: { 1: 0.05 }, action: 'fail' } });
    const r = await run(dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/stalled 001: no output for \d+ s — stopping it/);
    const st = readStateOf(dir);
    expect(st.dispatch.specs['001']).toMatchObject({ kind: 'stalled' });
    expect(st.dispatch.specs['001'].reason).toMatch(/^stalled: no output for \d+ s/);
  }, 120_000);
});
