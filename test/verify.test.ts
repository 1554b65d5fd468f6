// Verdicts backed by evidence (issue 10): verify commands, requireChanges, and
// what each attempt keeps (exit, checks, git changes), judged by what a user sees.
import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, readStateOf, dispatchIn } from './helpers.js';
import { NODE, configPathOf, engineProject, pidAlive, starts, waitFor } from './fixtures/engine.js';
import { GIT_ENV, commitAll, git } from './fixtures/git.js';

const run = (dir: string, ...args: string[]) => dispatchIn(dir, args, { env: GIT_ENV });
const historyOf = (dir: string, id: string): any[] => readStateOf(dir).dispatch.specs[id].history;
const logOf = (dir: string, id: string, n: number) => readFileSync(join(dir, '.codex', 'logs', `${id}.attempt-${n}.log`), 'utf8');

/** A check that passes when `path` exists (relative to where it runs), and says so when it does not. */
const needFile = (path: string) => [NODE, '-e', `const ok = require('fs').existsSync(${JSON.stringify(path)}); console.log(ok ? 'check: found ${path}' : 'check: FAIL ${path} is missing'); process.exit(ok ? 0 : 1)`];

function setConfig(dir: string, change: (c: any) => void): void {
  const c = JSON.parse(readFileSync(configPathOf(dir), 'utf8'));
  change(c);
  writeFileSync(configPathOf(dir), JSON.stringify(c, null, 2));
}

describe('verify commands', () => {
  it('an agent that exits 0 but fails a check is verify-failed; the retry prompt holds the failing output; the retry passes', async () => {
    const dir = engineProject({
      // The stand-in does the work only from its second launch on.
      specs: [{ id: '001', name: 'feature', wave: 1, body: 'from-attempt 2\nwrite out/feature.txt done\n' }],
      extra: { verify: [needFile('out/feature.txt')], retry: { maxAttempts: 2 } },
    });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^failed 001: verify failed: `\S+ -e .*` exited 1: check: FAIL out\/feature\.txt is missing$/m);
    expect(r.stderr).toMatch(/^relaunching 001: retry 1 of 1 after: verify failed: /m);
    const [first, second] = historyOf(dir, '001');
    expect(first).toMatchObject({ n: 1, state: 'failed', kind: 'verify-failed', exit: { code: 0 } });
    expect(first.verify).toEqual([expect.objectContaining({ ok: false, exitCode: 1, tail: 'check: FAIL out/feature.txt is missing' })]);
    expect(second).toMatchObject({ n: 2, state: 'done', kind: 'done', exit: { code: 0 } });
    expect(second.verify).toEqual([expect.objectContaining({ ok: true, exitCode: 0 })]);
    // The second launch was told what check its predecessor's work failed, with the check's output.
    const prompt2 = starts(dir)[1]!.stdin as string;
    expect(prompt2).toContain("The previous attempt's work failed this check: `");
    expect(prompt2).toContain('```\ncheck: FAIL out/feature.txt is missing\n```');
    // The log shows each check under a marker, and the evidence at the end.
    const log1 = logOf(dir, '001', 1);
    expect(log1).toMatch(/^── dispatch: verify 1 of 1: \S+ -e /m);
    expect(log1).toContain('check: FAIL out/feature.txt is missing\n── dispatch: verify 1 of 1 FAILED: exited 1 (');
    expect(log1).toMatch(/^── dispatch: evidence: exit 0 · verify exited 1: /m);
    expect(logOf(dir, '001', 2)).toMatch(/^── dispatch: evidence: exit 0 · verify: 1 passed$/m);
    // `logs` heads its output (on stderr) with the attempt's verdict and evidence.
    const l1 = await run(dir, 'logs', '001', '--attempt', '1');
    expect(l1.stderr).toMatch(/^── 001 attempt 1: failed \(verify-failed\) · exit 0 · verify exited 1: \S+ -e /);
    expect(l1.stdout).toBe(logOf(dir, '001', 1));
    expect((await run(dir, 'logs', '001')).stderr).toBe('── 001 attempt 2: done · exit 0 · verify: 1 passed\n');
    expect(readStateOf(dir).completed).toEqual(['001']);
  });

  it('a spec\'s own verify replaces the config\'s, and [] turns the checks off for it', async () => {
    const dir = engineProject({
      specs: [
        { id: '001', name: 'own', wave: 1, verify: [needFile('own.txt')], body: 'write own.txt x\n' },
        { id: '002', name: 'none', wave: 1, verify: [] },
      ],
      extra: { verify: [needFile('never-there.txt')], retry: { maxAttempts: 1 } },
    });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    expect(historyOf(dir, '001')[0].verify).toHaveLength(1);
    expect(historyOf(dir, '002')[0].verify).toBeUndefined();
  });

  it('a check that hangs is stopped at verifyTimeoutSeconds, and that is its failure', async () => {
    const dir = engineProject({
      specs: [{ id: '001', name: 'slow', wave: 1 }],
      extra: { verify: [[NODE, '-e', 'setInterval(() => {}, 1000)']], verifyTimeoutSeconds: 1, retry: { maxAttempts: 1 } },
    });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(readStateOf(dir).dispatch.specs['001'].reason).toMatch(/^verify failed: `.*` timed out after 1 s$/);
    expect(readStateOf(dir).dispatch.specs['001'].kind).toBe('verify-failed');
  });

  it('a check whose program does not exist is named by the preflight, nothing launched; one gone by the time it runs fails the spec, saying so', async () => {
    const missing = engineProject({ specs: [{ id: '001', name: 'x', wave: 1 }], extra: { verify: [['no-such-checker-xyz', '{id}']] } });
    const r = await run(missing, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("dispatch: 'no-such-checker-xyz' is not on PATH (checks of 001) — install it, or fix the verify commands in the config\n");
    expect(readStateOf(missing)).toBeUndefined();
    // The agent itself removes the check script: found at the preflight, gone when the check runs.
    const gone = engineProject({ specs: [{ id: '001', name: 'x', wave: 1, body: 'remove checker.sh\n' }], extra: { verify: [['./checker.sh', '{id}']], retry: { maxAttempts: 1 } } });
    writeFileSync(join(gone, 'checker.sh'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    expect((await run(gone, 'run', '--yes', '--no-plan')).code).toBe(1);
    expect(readStateOf(gone).dispatch.specs['001'].reason).toBe("verify failed: `./checker.sh 001` could not start: './checker.sh' not found");
  });

  it('bad verify config: a string instead of an argument array is a config error (exit 2)', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'x', wave: 1 }] });
    setConfig(dir, (c) => (c.verify = ['npm test']));
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/verify/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});

describe('evidence kept per attempt', () => {
  it('in a git project: the commit before and after and a diff summary; requireChanges makes an unchanged tree no-changes', async () => {
    const dir = engineProject({
      specs: [
        { id: '001', name: 'writes', wave: 1, body: 'write src/a.txt one\nwrite src/b.txt two\n' },
        { id: '002', name: 'idle', wave: 2 },
      ],
      extra: { requireChanges: true, retry: { maxAttempts: 1 } },
    });
    commitAll(dir);
    const head = git(dir, 'rev-parse', 'HEAD').trim();
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    const a = historyOf(dir, '001')[0];
    expect(a.git).toMatchObject({ before: head, after: head, files: 2, changed: true });
    expect(a.git.shared).toBeUndefined();
    const b = historyOf(dir, '002')[0];
    expect(b).toMatchObject({ state: 'failed', kind: 'no-changes', exit: { code: 0 } });
    expect(b.reason).toMatch(/^no changes: the agent exited 0 but left the commit and the working tree as they were/);
    expect(logOf(dir, '002', 1)).toMatch(/^── dispatch: evidence: exit 0 · no changes$/m);
    // status --json shows the evidence with the attempts.
    const j = JSON.parse((await run(dir, '--json', 'status')).stdout);
    expect(j.attempts['001'][0].git).toMatchObject({ files: 2 });
  });

  it('direct specs running side by side in one tree are marked shared, and not judged no-changes', async () => {
    const dir = engineProject({
      specs: [
        { id: '001', name: 'slow', wave: 1, body: 'sleep 1500\n' },
        { id: '002', name: 'idle', wave: 1, body: 'sleep 1500\n' },
      ],
      extra: { requireChanges: true, retry: { maxAttempts: 1 } },
    });
    commitAll(dir);
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    for (const id of ['001', '002']) expect(historyOf(dir, id)[0].git).toMatchObject({ changed: false, shared: true });
  });
});

describe('quota and reset times', () => {
  const sayAndFail = (line: string) => ({ command: [NODE, '-e', `console.log('working'); console.error(${JSON.stringify(line)}); process.exit(1)`], prompt: 'none' });

  it('billing exhausted is quota-exhausted: never relaunched, and that agent launches nothing more in this run', async () => {
    const dir = engineProject({
      specs: [{ id: '001', name: 'a', wave: 1, agent: 'broke' }, { id: '002', name: 'b', wave: 1, agent: 'broke' }, { id: '003', name: 'c', wave: 1 }],
      agents: { broke: sayAndFail('ERROR: Quota exceeded. Check your plan and billing details.') },
      extra: {
        waves: { '1': { sequential: true } },
        retry: { maxAttempts: 3 },
        // onSpecFailed hears of it with its kind.
        hooks: { onSpecFailed: [NODE, '-e', "require('fs').appendFileSync('failed-hook.txt', process.env.DISPATCH_SPEC_ID + ' ' + process.env.DISPATCH_KIND + '\\n')"] },
      },
    });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(readFileSync(join(dir, 'failed-hook.txt'), 'utf8')).toBe('001 quota-exhausted\n');
    const said = r.stderr.split('\n').filter((l) => l.startsWith('quota exhausted'));
    expect(said).toEqual(["quota exhausted for broke (001: quota exhausted: ERROR: Quota exceeded. Check your plan and billing details.) — no more broke launches in this run; check the plan, credits or billing, then 'dispatch retry'"]);
    expect(r.stderr).not.toMatch(/relaunching|rate-limited/);
    const st = readStateOf(dir);
    expect(st.dispatch.specs['001']).toMatchObject({ kind: 'quota-exhausted' });
    expect(st.dispatch.specs['001'].history).toHaveLength(1);
    // 002 (same agent) was never launched; 003 (another agent) was.
    expect(st.dispatch.specs['002']).toBeUndefined();
    expect(st.completed).toEqual(['003']);
  });

  it("Codex's usage limit with a date two days ahead waits until then (to the end of the printed minute), not a short backoff", async () => {
    const at = new Date(Date.now() + 2 * 86_400_000);
    at.setSeconds(0, 0);
    const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
    const d = at.getDate();
    const ord = d % 10 === 1 && d !== 11 ? 'st' : d % 10 === 2 && d !== 12 ? 'nd' : d % 10 === 3 && d !== 13 ? 'rd' : 'th';
    const h = at.getHours() % 12 || 12;
    const printed = `${months[at.getMonth()]} ${d}${ord}, ${at.getFullYear()} ${h}:${String(at.getMinutes()).padStart(2, '0')} ${at.getHours() < 12 ? 'AM' : 'PM'}`;
    const dir = engineProject({
      specs: [{ id: '001', name: 'a', wave: 1, agent: 'limited' }],
      agents: { limited: sayAndFail(`You've hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit https://chatgpt.com/codex/settings/usage to purchase more credits or try again at ${printed}.`) },
    });
    expect((await run(dir, 'run', '--yes', '--no-plan', '--no-wait')).code).toBe(0);
    await waitFor('the rate limit on record', () => readStateOf(dir)?.dispatch?.waiting?.['001']);
    const until = Date.parse(readStateOf(dir).dispatch.waiting['001'].until);
    expect(until).toBe(at.getTime() + 60_000);
  });
});

describe('dispatch verify', () => {
  it('runs a spec\'s checks now: prints each result, exit 1 on a failure; --mark records done or verify-failed', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1 }, { id: '002', name: 'b', wave: 1 }], extra: { verify: [needFile('fixed-{id}.txt')] } });
    const before = await run(dir, 'verify', '001');
    expect(before.code).toBe(1);
    expect(before.stdout).toMatch(/^001 {2}FAIL {2}\S+ -e .* — exited 1 \(\d+(\.\d)? s\)\n$/);
    expect(before.stderr).toContain('check: FAIL fixed-001.txt is missing');
    expect(readStateOf(dir)).toBeUndefined();
    // A fix by hand, then the check passes and --mark records it.
    writeFileSync(join(dir, 'fixed-001.txt'), 'ok\n');
    const fixed = await run(dir, 'verify', '001', '002', '--mark');
    expect(fixed.code).toBe(1);
    expect(fixed.stdout).toMatch(/^001 {2}ok {4}/m);
    expect(fixed.stdout).toMatch(/^002 {2}FAIL /m);
    const st = readStateOf(dir);
    expect(st.completed).toEqual(['001']);
    expect(st.failed).toEqual(['002']);
    expect(st.dispatch.specs['002']).toMatchObject({ kind: 'verify-failed' });
    expect(st.dispatch.specs['002'].reason).toMatch(/^verify failed: .* exited 1: check: FAIL fixed-002\.txt is missing$/);
  });

  it('bad input: unknown id (exit 2), no checks configured (exit 2), nothing run or changed', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1 }] });
    const unknown = await run(dir, 'verify', 'nope');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^dispatch: unknown spec id 'nope'/);
    const none = await run(dir, 'verify', '001', '--mark');
    expect(none.code).toBe(2);
    expect(none.stderr).toBe("dispatch: no verify commands for 001 — add verify: [[...command]] to the config (or to the spec); nothing was run\n");
    expect(readStateOf(dir)).toBeUndefined();
    const noArgs = await run(dir, 'verify');
    expect(noArgs.code).toBe(2);
  });
});

describe('verify commands under attack', () => {
  /** A spec launched without waiting whose check (it never ends) is at work: the project and the check's pid. */
  async function checkAtWork(): Promise<{ dir: string; pid: number }> {
    const dir = engineProject({
      specs: [{ id: '001', name: 'a', wave: 1 }],
      extra: { verify: [[NODE, '-e', "require('fs').writeFileSync('check.pid', String(process.pid)); setInterval(() => {}, 1000)"]], verifyTimeoutSeconds: 300 },
    });
    expect((await run(dir, 'run', '--yes', '--no-plan', '--no-wait')).code).toBe(0);
    const pid = Number(await waitFor('the check to start', () => existsSync(join(dir, 'check.pid')) && readFileSync(join(dir, 'check.pid'), 'utf8')));
    return { dir, pid };
  }

  it('placeholders reach a check literally (quotes, $(), ;, backticks): no shell in between', async () => {
    const nasty = `it's $(touch pwned); \`touch pwned2\` #{x}`;
    const dir = engineProject({
      specs: [{ id: '001', name: nasty, wave: 1 }],
      extra: { verify: [[NODE, '-e', "require('fs').writeFileSync('seen.txt', process.argv[1])", '{name}']] },
    });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(dir, 'seen.txt'), 'utf8')).toBe(nasty);
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
    expect(existsSync(join(dir, 'pwned2'))).toBe(false);
  });

  it('a runner killed (SIGKILL) while its check runs: whoever finds it lost stops the check too', async () => {
    const { dir, pid } = await checkAtWork();
    const runner = readStateOf(dir).dispatch.running['001'].pid as number;
    process.kill(runner, 'SIGKILL');
    await waitFor('the runner to die', () => !pidAlive(runner));
    expect(pidAlive(pid)).toBe(true);
    const st = await run(dir, 'status');
    expect(st.stderr).toBe('dispatch: 001 was running but runner died: marked failed\n');
    await waitFor('the check to be stopped', () => !pidAlive(pid));
    expect(readStateOf(dir).dispatch.specs['001'].kind).toBe('lost');
  });

  it('a spec stopped while its check runs: recorded interrupted, and the check (with what it started) is stopped', async () => {
    const { dir, pid } = await checkAtWork();
    expect(pidAlive(pid)).toBe(true);
    const s = await run(dir, 'stop', '001');
    expect(s.code, s.stderr).toBe(0);
    await waitFor('the check to be gone', () => !pidAlive(pid));
    const rec = readStateOf(dir).dispatch.specs['001'];
    expect(rec.kind).toBe('interrupted');
    expect(readStateOf(dir).failed).toEqual(['001']);
  });
});

describe('evidence under attack (found by a fresh-eyes attacker)', () => {
  it('an edit to a file that was already modified is a change; the summary counts only what the attempt changed', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'edit', wave: 1, body: 'write notes.txt second version\n' }], extra: { requireChanges: true, retry: { maxAttempts: 1 } } });
    writeFileSync(join(dir, 'notes.txt'), 'committed\n');
    writeFileSync(join(dir, 'other.txt'), 'committed\n');
    commitAll(dir);
    // Uncommitted changes the user had before the agent started: not the agent's.
    writeFileSync(join(dir, 'notes.txt'), 'first version\n');
    writeFileSync(join(dir, 'other.txt'), 'mine\n');
    writeFileSync(join(dir, 'scratch.txt'), 'mine too\n');
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    expect(historyOf(dir, '001')[0].git).toMatchObject({ changed: true, files: 1, insertions: 1, deletions: 1 });
  });

  it('a direct spec that ran while another started and ended beside it is marked shared', async () => {
    const dir = engineProject({
      specs: [{ id: '001', name: 'long', wave: 1, body: 'sleep 2500\n' }, { id: '002', name: 'short', wave: 1, body: 'write b.txt b\n' }],
      extra: { requireChanges: true, retry: { maxAttempts: 1 }, pacing: { cooldownSeconds: { 1: 1, 2: 1, 3: 1, 4: 1 } } },
    });
    commitAll(dir);
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stderr).toBe(0);
    // 002 started a second after 001 and ended long before it: 001's "changes" may be 002's.
    expect(historyOf(dir, '001')[0].git).toMatchObject({ shared: true });
    expect(readStateOf(dir).completed.sort()).toEqual(['001', '002']);
  });

  it('checks get the same environment from `dispatch verify` as in a run (DISPATCH_SPEC_ID, DISPATCH_PROJECT, DISPATCH_ATTEMPT)', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1 }], extra: { verify: [[NODE, '-e', "process.exit(process.env.DISPATCH_SPEC_ID === '001' && process.env.DISPATCH_PROJECT === 'demo' && process.env.DISPATCH_ATTEMPT ? 0 : 1)"]] } });
    expect((await run(dir, 'run', '--yes', '--no-plan')).code).toBe(0);
    expect((await run(dir, 'verify', '001')).code).toBe(0);
  });

  it('a verifyTimeoutSeconds beyond what a timer can hold is a config error, not an instant timeout', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1 }], extra: { verifyTimeoutSeconds: 1e12 } });
    const r = await run(dir, 'list');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ {2}verifyTimeoutSeconds: expected at most 2147483, got 1000000000000$/m);
  });

  it("an Auto-Claude sign-off left from an earlier run is not this attempt's: verify-failed (stale)", async () => {
    const dir = engineProject({
      specs: [{ id: '001', name: 'x', wave: 1, agent: 'ac' }],
      agents: { ac: { python: NODE, dir: join(ROOT, 'test', 'fixtures', 'auto-claude'), env: { AC_QA: 'none' } } },
      extra: { retry: { maxAttempts: 1 } },
    });
    const plan = join(dir, '.auto-claude', 'specs', '001-x', 'implementation_plan.json');
    writeFileSync(plan, JSON.stringify({ qa_signoff: { status: 'approved' } }));
    const old = new Date(Date.now() - 3600_000);
    utimesSync(plan, old, old);
    expect((await run(dir, 'run', '--yes', '--no-plan')).code).toBe(1);
    expect(readStateOf(dir).dispatch.specs['001']).toMatchObject({ kind: 'verify-failed', reason: "Auto-Claude's QA did not sign the work off (qa_signoff.status: stale): implementation_plan.json was not written by this attempt (its QA never ran)" });
  });
});
