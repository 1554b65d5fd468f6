// SSH hosts are untrusted and must stay reachable: against real OpenSSH hosts
// whose `dispatch` is a proxy that runs the real one and rewrites (or withholds)
// its answers. What a host answers that does not fit never reaches the state;
// a host that hangs holds no other; the user's branches are never moved; a push
// sends only what the host lacks.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BIN, dispatch, dispatchAsync, readStateOf, statePathOf } from '../helpers.js';
import { engineProject, starts, trace } from '../fixtures/engine.js';
import { GIT_ENV, git } from '../fixtures/git.js';
import { baseOf, sshAvailable, startPool, type SshPool, type TestHost } from '../fixtures/sshd.js';

const env = { ...GIT_ENV };
const pools: SshPool[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
afterAll(() => {
  for (const p of pools) p.stop();
});

// The host's `dispatch`: runs the real one, then rewrites its answer as `modes.json` (beside it) says, by verb:
// `raw` (the whole answer), `top` (fields of the JSON line), `result` / `byId[id]` (fields of each finished run's
// result), `noblob` (a check carries no run's bytes), `hang` (never answers). Receives are counted in receive.log.
const PROXY = String.raw`
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
const [real, ...args] = process.argv.slice(2);
const here = dirname(process.argv[1]);
const modes = existsSync(join(here, 'modes.json')) ? JSON.parse(readFileSync(join(here, 'modes.json'), 'utf8')) : {};
const verb = args[0] === 'remote' ? (args[1] === 'poll' && args.includes('--collect') ? 'pollCollect' : args[1]) : args[0];
const mode = modes[verb];
if (mode?.hang) {
  setTimeout(() => process.exit(0), 120000);
} else {
  const child = spawn(process.execPath, [real, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  let inBytes = 0;
  process.stdin.on('data', (d) => { inBytes += d.length; });
  process.stdin.pipe(child.stdin);
  const chunks = [];
  child.stdout.on('data', (c) => chunks.push(c));
  child.on('close', (code) => {
    if (verb === 'receive') appendFileSync(join(here, 'receive.log'), inBytes + '\n');
    let out = Buffer.concat(chunks);
    if (mode) out = rewrite(out, mode);
    process.stdout.write(out, () => process.exit(code ?? 1));
  });
}
function rewrite(out, mode) {
  if (mode.raw !== undefined) return Buffer.from(mode.raw);
  const nl = out.indexOf(10);
  if (nl < 0) return out;
  const doc = JSON.parse(out.subarray(0, nl).toString());
  let rest = out.subarray(nl + 1);
  Object.assign(doc, mode.top ?? {});
  for (const run of Array.isArray(doc.runs) ? doc.runs : []) {
    if (mode.noblob) delete run.blob;
    const change = mode.byId?.[run.id] ?? mode.result;
    if (run.result && change) run.result = { ...run.result, ...change, entry: { ...run.result.entry, ...change.entry } };
  }
  if (mode.noblob) rest = Buffer.alloc(0);
  return Buffer.concat([Buffer.from(JSON.stringify(doc) + '\n'), rest]);
}
`;

/** A pool whose hosts answer through the proxy; `modes(h, m)` sets what a host's proxy does from now on. */
async function proxiedPool(n: number, slots: number[]): Promise<SshPool> {
  const pool = await startPool(n, { slots });
  pools.push(pool);
  for (const h of pool.hosts) {
    // Beside the host's checkout: what ran there is stopped with the pool.
    const proxy = join(h.dir, '..', 'proxy.mjs');
    mkdirSync(join(h.dir, '..'), { recursive: true });
    writeFileSync(proxy, PROXY);
    h.entry.dispatch = [process.execPath, proxy, join(__dirname, '..', '..', 'dist', 'cli.js')];
  }
  return pool;
}
const modes = (h: TestHost, m: Record<string, unknown>) => writeFileSync(join(h.dir, '..', 'modes.json'), JSON.stringify(m));
const received = (h: TestHost) => {
  const f = join(h.dir, '..', 'receive.log');
  return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean).map(Number) : [];
};

function sshProject(project: string, specs: Parameters<typeof engineProject>[0]['specs'], hosts: TestHost[], extra: Record<string, unknown> = {}, before?: (dir: string) => void): string {
  const { executor, ...rest } = extra;
  const dir = engineProject({
    specs,
    extra: { project, executor: { kind: 'ssh', hosts: hosts.map((h) => h.entry), checkSeconds: 0.3, lostAfterChecks: 2, timeoutSeconds: 5, ...(executor as object) }, retry: { maxAttempts: 1 }, ...rest },
  });
  writeFileSync(join(dir, '.gitignore'), '.codex/\ntrace.jsonl\n');
  git(dir, 'init', '-q', '-b', 'main');
  before?.(dir);
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'start');
  return dir;
}

async function waitFor(ok: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A run in the background, its exit awaited with a bound (the test kills it after). */
function runInBackground(dir: string, args: string[] = []): { done: Promise<{ code: number | null; stderr: string }>; child: ChildProcess } {
  const child = spawn(process.execPath, [BIN, 'run', '--yes', '--no-plan', ...args], { cwd: dir, env: { ...process.env, ...env, FORCE_COLOR: '0' }, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return { child, done: new Promise((r) => child.once('close', (code) => r({ code, stderr }))) };
}

const stateOk = (dir: string) => {
  const s = dispatch(dir, ['status'], { env });
  expect(s.code, s.stderr).toBe(0);
  expect(s.stderr).not.toMatch(/invalid|not iterable|bug/i);
};

describe.skipIf(!sshAvailable)('what an SSH host answers is checked, never written unchecked', () => {
  it('a finished run reported with a bad state, kind, tokens or until: its spec is lost, naming the host and the field; the state stays valid', async () => {
    const pool = await proxiedPool(1, [5]);
    const h1 = pool.hosts[0]!;
    const bad: Record<string, Record<string, unknown>> = {
      '001': { state: 'skipped' },
      '002': { kind: 'bogus' },
      '003': { entry: { tokens: 'lots' } },
      '004': { state: 'rate-limited', until: 'soon' },
      '005': { state: 'pending' },
      // Megabytes where a runner writes a line: the state, which every command reads, must not grow with them.
      '006': { entry: { qa: 'q'.repeat(1_000_000) } },
      '007': { runId: 'r'.repeat(200_000) },
      '008': { entry: { verify: [{ argv: ['npm', 'test'], seconds: 1, ok: false, tail: '\u001b]0;pwned\u0007'.repeat(200_000) }] } },
    };
    modes(h1, { pollCollect: { byId: bad }, collect: { byId: bad } });
    const dir = sshProject('sshtrust1', Object.keys(bad).map((id) => ({ id, name: `s${id}`, wave: 1, cost: 1 as const, body: `write out/${id}.txt ${id}\n` })), [h1]);
    const r = runInBackground(dir);
    const end = await Promise.race([r.done, new Promise<undefined>((res) => setTimeout(res, 90_000))]);
    expect(end, 'the run ended').toBeDefined();
    expect(end!.stderr).not.toMatch(/not iterable|bug|invalid/i);
    const st = readStateOf(dir);
    const expected: Record<string, RegExp> = {
      '001': /result\.state/, '002': /result\.kind/, '003': /result\.entry\.tokens/, '004': /result\.until/, '005': /result\.state/,
      '006': /result\.entry\.qa/, '007': /result\.runId/, '008': /result\.entry\.verify\[0\]\.tail/,
    };
    for (const [id, field] of Object.entries(expected)) {
      const rec = st.dispatch.specs[id];
      expect(rec.kind, id).toBe('lost');
      expect(rec.reason, id).toMatch(/host h1 answered what dispatch cannot use/);
      expect(rec.reason, id).toMatch(field);
    }
    expect(st.failed.sort()).toEqual(Object.keys(bad));
    expect(st.skipped).toEqual([]);
    expect(statSync(statePathOf(dir)).size).toBeLessThan(200_000);
    stateOk(dir);
  }, 120_000);

  it('a check answered with runs: null: the host is judged by its failed checks, its spec lost with what was wrong', async () => {
    const pool = await proxiedPool(1, [1]);
    const h1 = pool.hosts[0]!;
    const dir = sshProject('sshtrust2', [{ id: '001', name: 'a', wave: 1, cost: 1, body: 'sleep 1500\nwrite out/a.txt a\n' }], [h1]);
    const r = runInBackground(dir);
    await waitFor(() => starts(dir).length === 1, 60_000, 'the agent');
    modes(h1, { pollCollect: { top: { runs: null } }, poll: { top: { runs: null } } });
    const end = await Promise.race([r.done, new Promise<undefined>((res) => setTimeout(res, 60_000))]);
    expect(end, 'the run ended').toBeDefined();
    expect(end!.stderr).not.toMatch(/not iterable/);
    const rec = readStateOf(dir).dispatch.specs['001'];
    expect(rec.kind).toBe('lost');
    expect(rec.reason).toMatch(/host h1 answered what dispatch cannot use: its answer does not fit: runs: expected array, got null/);
    stateOk(dir);
  }, 120_000);

  it('a host answering a start with what is not JSON (exit 0): the launch fails naming the host, and the run it started there is discarded', async () => {
    const pool = await proxiedPool(1, [1]);
    const h1 = pool.hosts[0]!;
    modes(h1, { start: { raw: 'hello from a login banner\n' } });
    const dir = sshProject('sshtrust3', [{ id: '001', name: 'a', wave: 1, cost: 1, body: 'sleep 1000\nwrite out/a.txt a\n' }], [h1]);
    const r = await dispatchAsync(dir, ['run', '--yes', '--no-plan'], { env });
    expect(r.stderr).not.toMatch(/SyntaxError|is not valid JSON|bug/);
    const rec = readStateOf(dir).dispatch.specs['001'];
    expect(rec.reason).toMatch(/h1 answered 'start' with what dispatch cannot use: its answer is not JSON: "hello from a login banner"/);
    stateOk(dir);
    // Started there all the same: not this dispatcher's run, so stopped and discarded by the run's last check.
    const runs = join(baseOf(h1.dir, 'sshtrust3'), 'runs');
    expect(existsSync(runs) ? readdirSync(runs) : []).toEqual([]);
  }, 120_000);
});

describe.skipIf(!sshAvailable)('a host that hangs holds no other', () => {
  it('a result whose collect never answers: the other host\'s spec is recorded meanwhile, status answers at once, and the run ends with the hung spec lost', async () => {
    const pool = await proxiedPool(2, [1, 1]);
    const [h1, h2] = pool.hosts as [TestHost, TestHost];
    // h1 reports its finished run without its bytes, then never answers the fetch of them.
    modes(h1, { pollCollect: { noblob: true }, collect: { hang: true } });
    const dir = sshProject('sshtrust4', [
      { id: '001', name: 'hung', wave: 1, cost: 1, runOn: 'h1', body: 'write out/a.txt a\n' },
      { id: '002', name: 'fine', wave: 1, cost: 1, runOn: 'h2', body: 'sleep 2500\nwrite out/b.txt b\n' },
    ], [h1, h2], { executor: { timeoutSeconds: 20 } });
    const r = runInBackground(dir);
    const ended = () => trace(dir).filter((e) => e.event === 'end').length;
    await waitFor(() => ended() === 2, 60_000, 'both agents to end');
    const endedAt = Date.now();
    // 002's verdict comes home while h1 hangs.
    // Well within the 20 s a fetch from h1 may stay silent: no waiting on h1 first.
    await waitFor(() => readStateOf(dir).completed.includes('002'), 12_000, '002 recorded done while h1 hangs');
    expect(Date.now() - endedAt).toBeLessThan(12_000);
    // status is never held behind the run's collect for long: it answers with what the state has.
    const t0 = Date.now();
    const s = await dispatchAsync(dir, ['status'], { env });
    expect(s.code, s.stderr).toBe(0);
    // At most 2 s behind the run's collect of h1, then its own calls within one timeoutSeconds (20 s).
    expect(Date.now() - t0).toBeLessThan(30_000);
    const end = await Promise.race([r.done, new Promise<undefined>((res) => setTimeout(res, 120_000))]);
    expect(end, 'the run ended').toBeDefined();
    const rec = readStateOf(dir).dispatch.specs['001'];
    expect(rec.kind).toBe('lost');
    expect(rec.reason).toMatch(/its result could not be fetched from h1: no answer \(timed out\)/);
  }, 240_000);
});

describe.skipIf(!sshAvailable)('branches and pushes', () => {
  it("a branch dispatch/001 of the user's own: the preflight names it and how to free it, and it never moves", async () => {
    const pool = await proxiedPool(1, [1]);
    const h1 = pool.hosts[0]!;
    const dir = sshProject('sshtrust5', [{ id: '001', name: 'a', wave: 1, cost: 1, body: 'write out/a.txt a\n' }], [h1]);
    git(dir, 'branch', 'dispatch/001');
    const mine = git(dir, 'rev-parse', 'dispatch/001');
    const r = await dispatchAsync(dir, ['run', '--yes', '--no-plan'], { env });
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/branch dispatch\/001 already exists and dispatch did not make it/);
    expect(r.stdout + r.stderr).toMatch(/git branch -m dispatch\/001 other-name/);
    expect(starts(dir)).toHaveLength(0);
    expect(git(dir, 'rev-parse', 'dispatch/001')).toBe(mine);
  }, 60_000);

  it('a branch dispatch/001 made by the user while 001 runs: the work is not fetched over it (lost, naming the branch), the branch is as the user left it', async () => {
    const pool = await proxiedPool(1, [1]);
    const h1 = pool.hosts[0]!;
    const dir = sshProject('sshtrust6', [{ id: '001', name: 'a', wave: 1, cost: 1, body: 'sleep 2500\nwrite out/a.txt a\n' }], [h1]);
    const r = runInBackground(dir);
    await waitFor(() => starts(dir).length === 1, 60_000, 'the agent');
    git(dir, 'branch', 'dispatch/001');
    const mine = git(dir, 'rev-parse', 'dispatch/001');
    const end = await Promise.race([r.done, new Promise<undefined>((res) => setTimeout(res, 60_000))]);
    expect(end, 'the run ended').toBeDefined();
    expect(git(dir, 'rev-parse', 'dispatch/001')).toBe(mine);
    expect(git(dir, 'reflog', 'show', '--format=%gs', 'dispatch/001')).not.toMatch(/forced-update|dispatch: the work/);
    const rec = readStateOf(dir).dispatch.specs['001'];
    expect(rec.kind).toBe('lost');
    expect(rec.reason).toMatch(/the branch dispatch\/001 is not dispatch's/);
  }, 120_000);

  it('pushing one small commit onto a host that has 20 MB of history sends little', async () => {
    const pool = await proxiedPool(1, [1]);
    const h1 = pool.hosts[0]!;
    const dir = sshProject('sshtrust7', [
      { id: '001', name: 'a', wave: 1, cost: 1, body: 'write out/a.txt a\n' },
      { id: '002', name: 'b', wave: 1, cost: 1, body: 'write out/b.txt b\n' },
    ], [h1], {}, (d) => writeFileSync(join(d, 'big.bin'), randomBytes(20 * 1024 * 1024)));
    const first = await dispatchAsync(dir, ['run', '--yes', '--no-plan', '--spec', '001'], { env });
    expect(first.code, first.stderr).toBe(0);
    expect(received(h1)).toHaveLength(1);
    expect(received(h1)[0]).toBeGreaterThan(20 * 1024 * 1024);
    appendFileSync(join(dir, 'small.txt'), 'one small change\n');
    git(dir, 'add', 'small.txt');
    git(dir, 'commit', '-q', '-m', 'small');
    const second = await dispatchAsync(dir, ['run', '--yes', '--no-plan', '--spec', '002'], { env });
    expect(second.code, second.stderr).toBe(0);
    expect(readStateOf(dir).completed.sort()).toEqual(['001', '002']);
    const sent = received(h1);
    expect(sent).toHaveLength(2);
    expect(sent[1]).toBeLessThan(64 * 1024);
  }, 180_000);
});
