// End to end against the REAL Codex CLI (npm @openai/codex, installed on demand
// into .cache/codex by scripts/install-codex.mjs): `dispatch run` launches the
// real `codex exec` in headless panes, pointed by `-c model_provider=...` at a
// local fake of the OpenAI Responses API (test/fixtures/fake-responses.mjs).
// Opt-in, as the binary is ~420 MB: `npm run test:codex`, or
// DISPATCH_E2E_CODEX=1 npx vitest run test/codex.e2e.test.ts
// (DISPATCH_CODEX_BIN=/path/to/codex skips the install step).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codexProviderArgs, startFakeResponses, userText, type FakeResponses } from './fixtures/fake-responses.mjs';
import { dispatch, dispatchAsync, makeProject, readStateOf, ROOT, tempDir, type SpecRowInput } from './helpers.js';
import { pidAlive, waitFor } from './fixtures/engine.js';

const E2E = process.env.DISPATCH_E2E_CODEX === '1';
const MODEL = 'gpt-5.3-codex'; // dispatch's default model: not configured below on purpose.

/** The installed codex (installs it the first time: a few seconds to minutes, by the network). */
function codexBin(): string {
  if (process.env.DISPATCH_CODEX_BIN) return process.env.DISPATCH_CODEX_BIN;
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'install-codex.mjs')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`scripts/install-codex.mjs failed (exit ${r.status})`);
  return r.stdout.trim().split('\n').at(-1)!;
}

const git = (cwd: string, ...args: string[]) => {
  const r = spawnSync('git', ['-c', 'user.name=dispatch-test', '-c', 'user.email=test@example.invalid', '-c', 'commit.gpgsign=false', ...args], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

describe.skipIf(!E2E)('dispatch runs the real Codex CLI (against a fake Responses API)', () => {
  let bin = '';
  let version = '';
  let fake: FakeResponses;

  beforeAll(async () => {
    bin = codexBin();
    const v = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    expect(v.status, v.stderr).toBe(0);
    version = v.stdout.trim();
    fake = await startFakeResponses();
  }, 15 * 60_000);
  afterAll(async () => {
    await fake?.close();
  });

  /**
   * A project whose specs run on the real codex, their spec.md texts given
   * (markers in them drive the fake server), in a git repository (codex exec
   * refuses to run outside one without --skip-git-repo-check) unless `git: false`.
   */
  function project(specs: SpecRowInput[], texts: Record<string, string>, opts: { git?: boolean; commit?: boolean; extra?: Record<string, unknown> } = {}): string {
    const dir = makeProject({
      specs,
      extra: {
        ...opts.extra,
        multiplexer: 'headless',
        pacing: { cooldownSeconds: { 1: 0, 2: 0, 3: 0, 4: 0 } },
        agents: {
          codex: {
            bin,
            // No retries: a failing server fails the turn at once (the default is 5 retries with backoff).
            extraArgs: codexProviderArgs(fake.baseUrl),
            // Its own config, sessions and logs; no API key needed (the fake provider has no env_key).
            env: { CODEX_HOME: tempDir('dispatch-codex-home-') },
          },
        },
      },
    });
    for (const s of specs) writeFileSync(join(dir, '.auto-claude', 'specs', `${s.id}-${s.name}`, 'spec.md'), texts[s.id] ?? `# ${s.id} ${s.name}\n\nBuild ${s.name}.\n`);
    if (opts.git !== false) {
      git(dir, 'init', '-q');
      if (opts.commit) {
        git(dir, 'add', '-A');
        git(dir, 'commit', '-q', '-m', 'specs');
      }
    }
    return dir;
  }

  const requestsFor = (marker: string) => fake.state.requests.filter((r) => userText(r.body).includes(marker));
  const stateOf = (dir: string, id: string): 'done' | 'failed' | 'other' => {
    const s = readStateOf(dir);
    return s?.completed.includes(id) ? 'done' : s?.failed.includes(id) ? 'failed' : 'other';
  };
  const status = (dir: string) => {
    const r = dispatch(dir, ['status', '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { counts: Record<string, number>; failed: { id: string; reason?: string }[] };
  };

  it('runs one codex spec to done: last-message.md has the answer, the server got the spec', async () => {
    const dir = project([{ id: '001', name: 'alpha', wave: 1, cost: 1, title: 'Alpha feature' }], {
      '001': '# Alpha\n\nBuild the alpha feature (marker alpha-7d1f).\n',
    });
    const t0 = Date.now();
    const r = await dispatchAsync(dir, ['run', '--yes', '--no-plan']);
    const ms = Date.now() - t0;
    expect(r.code, `${r.stdout}\n${r.stderr}\n${readLog(dir, '001')}`).toBe(0);
    expect(r.stdout).toMatch(/1 launched · 1 done · 0 failed/);
    expect(stateOf(dir, '001')).toBe('done');
    expect(readStateOf(dir).dispatch.specs['001'].reason).toBeUndefined();
    expect(status(dir).counts.done).toBe(1);

    // codex wrote its last message where dispatch told it to (-o <runDir>/last-message.md).
    expect(readFileSync(join(dir, '.codex', 'runs', '001', 'last-message.md'), 'utf8').trim()).toBe('Done: Spec 001: Alpha feature');

    // The request the real codex made: dispatch's prompt (from stdin), model and effort by cost.
    const reqs = requestsFor('alpha-7d1f');
    expect(reqs).toHaveLength(1);
    const [req] = reqs;
    expect(userText(req!.body)).toContain('# Spec 001: Alpha feature\n\n# Alpha\n\nBuild the alpha feature (marker alpha-7d1f).');
    expect(req!.body.model).toBe(MODEL);
    expect(req!.body.stream).toBe(true);
    expect(req!.body.reasoning?.effort).toBe('low');
    expect(req!.headers['user-agent']).toMatch(/^codex_exec\//);

    // The pane's output went to the log: codex's JSONL events, then dispatch's verdict.
    const log = readLog(dir, '001');
    expect(log).toContain('"type":"turn.completed"');
    expect(log).toMatch(/── dispatch: 001 done\n$/);
    console.log(`codex e2e: ${version}, one spec in ${ms} ms`);
  }, 120_000);

  it('lets codex run commands that write into the working folder, and into an isolated worktree', async () => {
    const cmd = (id: string) => `FAKE_RESPONSES_EXEC: printf 'written by codex in %s\\n' "$PWD" > made-by-${id}.txt && cat made-by-${id}.txt`;
    const dir = project(
      [
        { id: '010', name: 'direct', wave: 1, cost: 2 },
        { id: '011', name: 'isolated', wave: 1, cost: 4, mode: 'isolated' },
      ],
      { '010': `Write the file.\n${cmd('010')}\n`, '011': `Write the file.\n${cmd('011')}\n` },
      { commit: true },
    );
    const r = await dispatchAsync(dir, ['run', '--yes', '--no-plan']);
    expect(r.code, `${r.stdout}\n${r.stderr}\n${readLog(dir, '010')}\n${readLog(dir, '011')}`).toBe(0);
    expect(stateOf(dir, '010')).toBe('done');
    expect(stateOf(dir, '011')).toBe('done');

    // workspace-write: the command ran in the sandbox with the spec's folder writable.
    expect(readFileSync(join(dir, 'made-by-010.txt'), 'utf8')).toMatch(/^written by codex in .*\n$/);
    const wt = join(dir, '.codex', 'worktrees', '011');
    expect(readFileSync(join(wt, 'made-by-011.txt'), 'utf8')).toMatch(/^written by codex in .*\.codex\/worktrees\/011\n$/);
    expect(existsSync(join(dir, 'made-by-011.txt'))).toBe(false);
    expect(readStateOf(dir).dispatch.specs['011'].awaitingMerge).toBe(true);

    // codex sent the command's output back and answered with it; effort followed cost (2 medium, 4 xhigh).
    expect(readFileSync(join(dir, '.codex', 'runs', '011', 'last-message.md'), 'utf8')).toMatch(/^Ran: [\s\S]*written by codex in .*worktrees\/011/);
    const effort = (id: string) => requestsFor(`made-by-${id}.txt`).map((q) => q.body.reasoning?.effort);
    expect(effort('010')).toEqual(['medium', 'medium']);
    expect(effort('011')).toEqual(['xhigh', 'xhigh']);
  }, 120_000);

  it('a 500 ("high demand") is a rate limit, waited out and relaunched; a 400 fails with codex’s own message', async () => {
    const dir = project(
      [
        { id: '020', name: 'overloaded', wave: 1, cost: 1 },
        { id: '021', name: 'nomodel', wave: 1, cost: 1 },
      ],
      { '020': 'Build it.\nFAKE_RESPONSES=500\n', '021': 'Build it.\nFAKE_RESPONSES=400\n' },
      // Short waits; the overloaded server never recovers, so the second rate limit ends it.
      { extra: { retry: { maxAttempts: 1, maxRateLimitAttempts: 2, backoffSeconds: 0.5 } } },
    );
    const r = await dispatchAsync(dir, ['run', '--yes', '--no-plan']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(1);
    const highDemand = 'We’re currently experiencing high demand, which may cause temporary errors.';
    const overloaded = `rate-limited 2 times; last: ${highDemand}`;
    const noModel = `turn.failed: The model ${MODEL} does not exist`;
    // The first 500 was a rate limit, relaunched after the backoff.
    expect(r.stderr).toContain(`rate-limited 020: rate-limited: ${highDemand}`);
    expect(r.stderr).toMatch(/^relaunching 020: the rate limit has reset$/m);
    expect(r.stdout).toContain(`failed 020: ${overloaded}`);
    expect(r.stdout).toContain(`failed 021: ${noModel}`);

    expect(stateOf(dir, '020')).toBe('failed');
    expect(stateOf(dir, '021')).toBe('failed');
    const st = readStateOf(dir);
    expect(st.dispatch.specs['020'].reason).toBe(overloaded);
    expect(st.dispatch.specs['020'].history.map((h: any) => h.state)).toEqual(['rate-limited', 'failed']);
    expect(st.dispatch.specs['021'].reason).toBe(noModel);
    const s = status(dir);
    expect(s.counts.failed).toBe(2);
    expect(Object.fromEntries(s.failed.map((f) => [f.id, f.reason]))).toEqual({ '020': overloaded, '021': noModel });
    // codex's own retries are off: one request per launch.
    expect(requestsFor('FAKE_RESPONSES=500')).toHaveLength(2);
    expect(requestsFor('FAKE_RESPONSES=400')).toHaveLength(1);
    expect(readLog(dir, '020')).toContain('"type":"turn.failed"');
  }, 120_000);

  it('a usage limit with a date (ChatGPT resets_at, printed to the minute) waits until the end of that minute; no short backoff', async () => {
    const dir = project([{ id: '040', name: 'limited', wave: 1, cost: 1 }], { '040': 'Build it (usage-7a1).\nFAKE_RESPONSES=usage\n' });
    const r = await dispatchAsync(dir, ['run', '--yes', '--no-plan', '--no-wait']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const w = await waitFor('the rate limit on record', () => readStateOf(dir)?.dispatch?.waiting?.['040'], 60_000);
    // codex printed "try again at <Mon> <D>th, <YYYY> <h>:<mm> AM|PM" for resets_at = now + 2 d 1 h.
    expect(w.reason).toMatch(/^rate-limited: .*usage limit.*try again at [A-Z][a-z]{2} \d{1,2}(st|nd|rd|th), \d{4} \d{1,2}:\d{2} [AP]M\.$/);
    const until = Date.parse(w.until);
    const resetsAt = Date.now() + 2 * 86_400_000 + 3_600_000; // the fake's resets_at, give or take the run's few seconds
    expect(until).toBeGreaterThan(resetsAt - 5 * 60_000);
    expect(until).toBeLessThan(resetsAt + 2 * 60_000);
    expect(new Date(until).getSeconds()).toBe(0);
    expect(requestsFor('usage-7a1')).toHaveLength(1);
  }, 120_000);

  it('insufficient_quota is quota-exhausted: never relaunched, and no more codex launches in the run', async () => {
    const dir = project(
      [{ id: '041', name: 'broke', wave: 1, cost: 1 }, { id: '042', name: 'next', wave: 1, cost: 1 }],
      { '041': 'Build it (quota-3f9).\nFAKE_RESPONSES=quota\n', '042': 'Build it (after-quota-3f9).\n' },
      { extra: { waves: { '1': { sequential: true } }, retry: { maxAttempts: 3 } } },
    );
    const r = await dispatchAsync(dir, ['run', '--yes', '--no-plan']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(1);
    expect(readStateOf(dir).dispatch.specs['041']).toMatchObject({ kind: 'quota-exhausted', reason: 'quota exhausted: Quota exceeded. Check your plan and billing details.' });
    expect(r.stderr).toContain("quota exhausted for codex (041: quota exhausted: Quota exceeded. Check your plan and billing details.) — no more codex launches in this run");
    expect(requestsFor('quota-3f9')).toHaveLength(1);
    expect(requestsFor('after-quota-3f9')).toHaveLength(0);
    expect(stateOf(dir, '042')).toBe('other');
  }, 120_000);

  it('reports codex refusing a project that is not a git repository', async () => {
    const dir = project([{ id: '030', name: 'nogit', wave: 1, cost: 1 }], { '030': 'Build it (marker nogit-5c2e).\n' }, { git: false });
    const r = await dispatchAsync(dir, ['run', '--yes', '--no-plan']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(1);
    expect(stateOf(dir, '030')).toBe('failed');
    expect(readStateOf(dir).dispatch.specs['030'].reason).toBe('agent exited with code 1: Not inside a trusted directory and --skip-git-repo-check was not specified.');
    expect(requestsFor('nogit-5c2e')).toHaveLength(0);
  }, 120_000);

  it('killing the runner and the npm codex wrapper leaves the native codex at work; dispatch stops it before anything can relaunch', async () => {
    const dir = project([{ id: '040', name: 'orphan', wave: 1, cost: 1 }], { '040': 'Wait (marker orphan-7d1f).\nFAKE_RESPONSES_EXEC: sleep 61\n' }, { extra: { retry: { maxAttempts: 1 } } });
    const r = await dispatchAsync(dir, ['run', '--yes', '--no-plan', '--no-wait']);
    expect(r.code, r.stderr).toBe(0);
    const group = await waitFor('the agent group on record', () => readStateOf(dir)?.dispatch?.running['040']?.agent, 60_000);
    const runner = readStateOf(dir).dispatch.running['040'].pid;
    // The native binary runs the command the fake server asked for: a `sleep 61` in the agent's group.
    await waitFor('codex to run its command', () => commandPids().length > 0, 60_000);
    process.kill(runner, 'SIGKILL');
    process.kill(group.pgid, 'SIGKILL'); // the npm wrapper, node's `codex` script
    await waitFor('the runner and the wrapper to die', () => !pidAlive(runner) && !pidAlive(group.pgid));
    const orphans = membersOf(group.pgid);
    expect(orphans.length, 'the native codex outlives its wrapper').toBeGreaterThan(0);
    const s = dispatch(dir, ['status']);
    expect(s.stderr).toContain('040 was running but runner died');
    expect(membersOf(group.pgid).filter((p) => orphans.includes(p))).toEqual([]);
    // codex runs its commands in sessions of their own (codex-linux-sandbox, bwrap): those go too.
    await waitFor('the command codex ran to be gone', () => commandPids().length === 0, 10_000);
    expect(readStateOf(dir).dispatch.specs['040'].kind).toBe('lost');
  }, 120_000);
});

/** The `sleep 61` the fake server had codex run, wherever it runs. */
function commandPids(): number[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number).filter((p) => cmdline(p).endsWith('-lc\u0000sleep 61\u0000'));
}

/** Live processes of a process group (by /proc). */
function membersOf(pgid: number): number[] {
  const out: number[] = [];
  for (const n of readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    try {
      const stat = readFileSync(`/proc/${n}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) === pgid && f[0] !== 'Z') out.push(Number(n));
    } catch {
      // gone
    }
  }
  return out;
}

const cmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
};

function readLog(dir: string, id: string): string {
  const p = join(dir, '.codex', 'logs', `${id}.log`);
  return existsSync(p) ? readFileSync(p, 'utf8') : '(no log)';
}
