import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GOOD_PLAN, startFakeOllama, type Behaviour, type ChatBody, type FakeOllama } from './fixtures/fake-ollama.mjs';
import { BIN, dispatchIn, freePort, makeProject, until, type RunResult, type SpecRowInput } from './helpers.js';

const MODEL = 'qwen3-coder:480b-cloud';
const HINT = "is 'ollama serve' running? (or set planner.host / OLLAMA_HOST)";
const HEADER_RE = /^<!-- dispatch-plan model="([^"]+)" created="([^"]+)" spec-sha256="([0-9a-f]{64})" -->\n/;
const SPECS3: SpecRowInput[] = [
  { id: '001', name: 'alpha', wave: 0 },
  { id: '002', name: 'beta', dependsOn: ['001'] },
  { id: '003', name: 'gamma', dependsOn: ['001'] },
];

const fakes: FakeOllama[] = [];
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

async function fake(behave?: (body: ChatBody, n: number) => Behaviour | Promise<Behaviour>, opts: { port?: number } = {}): Promise<FakeOllama> {
  const f = await startFakeOllama({ behave, port: opts.port });
  fakes.push(f);
  return f;
}

/** `001-alpha` from the prompt of a chat request. */
function specOf(body: ChatBody): string {
  const user = body.messages.find((m) => m.role === 'user')?.content ?? '';
  return /^Spec: (\S+)/m.exec(user)?.[1] ?? '?';
}

/** A project whose planner points at `host`, with quick retries. */
function project(host: string | undefined, opts: { specs?: SpecRowInput[]; planner?: Record<string, unknown> } = {}): string {
  const planner = { ...(host ? { host } : {}), retries: 1, backoffSeconds: 0.02, ...opts.planner };
  return makeProject({ specs: opts.specs ?? SPECS3, extra: { planner } });
}

const specDir = (dir: string, folder: string) => join(dir, '.auto-claude', 'specs', folder);
const planFile = (dir: string, folder: string) => join(specDir(dir, folder), 'plan.md');
const specFile = (dir: string, folder: string) => join(specDir(dir, folder), 'spec.md');
const readPlan = (dir: string, folder: string) => readFileSync(planFile(dir, folder), 'utf8');
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Runs dispatch in-process (the fake server lives in this process too) and checks what must hold for every run. */
async function run(cwd: string, args: string[], env: Record<string, string | undefined> = {}): Promise<RunResult> {
  const r = await dispatchIn(cwd, args, { env: { OLLAMA_API_KEY: undefined, ...env } });
  expect(`${r.stdout}${r.stderr}`).not.toMatch(/\n\s+at /);
  expect(r.stderr).not.toContain('this is a bug');
  return r;
}
const prePlan = (cwd: string, args: string[] = [], env: Record<string, string | undefined> = {}) => run(cwd, ['pre-plan', ...args], env);

/** stdout lines, trimmed of the trailing timing. */
const lines = (s: string) => s.split('\n').filter(Boolean).map((l) => l.replace(/ \(\d+\.\d+s\)$/, ''));

/** The plan.md is whole: the header, the title and all four sections in order. */
function expectGoodPlan(dir: string, folder: string, model = MODEL): { created: string; sha: string } {
  const text = readPlan(dir, folder);
  const m = HEADER_RE.exec(text);
  expect(m, `header of ${folder}/plan.md`).not.toBeNull();
  expect(m![1]).toBe(model);
  expect(Number.isNaN(Date.parse(m![2]!))).toBe(false);
  expect(m![3]).toBe(createHash('sha256').update(readFileSync(specFile(dir, folder))).digest('hex'));
  expect(text).toContain(`# Plan for ${folder}`);
  const at = ['## Risk register', '## File order', '## Crate audit', '## Gotchas'].map((h) => text.indexOf(h));
  expect(at.every((i) => i > 0)).toBe(true);
  expect([...at].sort((a, b) => a - b)).toEqual(at);
  return { created: m![2]!, sha: m![3]! };
}

/** Nothing but spec.md (and plan.md when expected) in each spec folder: no temp or partial files. */
function expectCleanFolders(dir: string, withPlan: Record<string, boolean>) {
  for (const [folder, has] of Object.entries(withPlan)) {
    expect(readdirSync(specDir(dir, folder)).sort(), folder).toEqual(has ? ['plan.md', 'spec.md'] : ['spec.md']);
  }
}



describe('dispatch pre-plan: planning', () => {
  it('plans every spec: one line each on stdout, a summary on stderr, plan.md with header and four sections', async () => {
    const f = await fake();
    const dir = project(f.host);
    const r = await prePlan(dir);
    expect(r.code).toBe(0);
    expect(lines(r.stdout).sort()).toEqual(['planned     001-alpha', 'planned     002-beta', 'planned     003-gamma']);
    expect(r.stderr).toContain(`planning 3 of 3 specs with ${MODEL}`);
    expect(r.stderr).toContain('3 planned, 0 up to date, 0 failed');
    // not a terminal: plain lines, no cursor tricks or colours
    expect(r.stderr).not.toMatch(/\r|\x1b\[/);
    expect(r.stdout).not.toMatch(/\r|\x1b\[/);
    for (const s of ['001-alpha', '002-beta', '003-gamma']) expectGoodPlan(dir, s);
    expect(readPlan(dir, '001-alpha')).toContain(GOOD_PLAN.trim());
    expectCleanFolders(dir, { '001-alpha': true, '002-beta': true, '003-gamma': true });
    expect(f.state.chats).toBe(3);
  });

  it('sends each spec, the configured options and the model to /api/chat as a stream', async () => {
    const f = await fake();
    const dir = project(f.host, { planner: { options: { temperature: 0.2, num_ctx: 8192 } } });
    writeFileSync(join(dir, 'Cargo.toml'), '[workspace]\n');
    writeFileSync(specFile(dir, '002-beta'), '# beta\n\nParse the contradiction matrix from CSV.\n');
    expect((await prePlan(dir)).code).toBe(0);
    const beta = f.state.requests.find((q) => specOf(q.body) === '002-beta')!.body;
    expect(beta).toMatchObject({ model: MODEL, stream: true, options: { temperature: 0.2, num_ctx: 8192 } });
    const user = beta.messages.find((m) => m.role === 'user')!.content;
    expect(user).toContain('Parse the contradiction matrix from CSV.');
    expect(user).toContain('Wave 1');
    expect(user).toContain('001-alpha (wave 0): Build alpha.');
    expect(user).toContain('Cargo.toml');
  });

  it('--model picks the model: sent to Ollama and recorded in plan.md', async () => {
    const f = await startFakeOllama({ models: [MODEL, 'llama3.2:3b'] });
    fakes.push(f);
    const dir = project(f.host);
    const r = await prePlan(dir, ['--model', 'llama3.2:3b']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('with llama3.2:3b');
    expect(f.state.requests.map((q) => q.body.model)).toEqual(['llama3.2:3b', 'llama3.2:3b', 'llama3.2:3b']);
    expectGoodPlan(dir, '001-alpha', 'llama3.2:3b');
  });

  it('prints each line as its spec finishes', async () => {
    const delay: Record<string, number> = { '001-alpha': 600, '002-beta': 0, '003-gamma': 250 };
    const f = await fake((b) => ({ delayMs: delay[specOf(b)] }));
    const r = await prePlan(project(f.host));
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual(['planned     002-beta', 'planned     003-gamma', 'planned     001-alpha']);
  });

  it('a second run skips up-to-date plans without asking the model again and leaves them untouched', async () => {
    const f = await fake();
    const dir = project(f.host);
    expect((await prePlan(dir)).code).toBe(0);
    const before = readPlan(dir, '002-beta');
    const mtime = statSync(planFile(dir, '002-beta')).mtimeMs;
    const r = await prePlan(dir);
    expect(r.code).toBe(0);
    expect(lines(r.stdout).sort()).toEqual(['up to date  001-alpha', 'up to date  002-beta', 'up to date  003-gamma']);
    expect(r.stderr).toContain('0 planned, 3 up to date, 0 failed');
    expect(f.state.chats).toBe(3);
    expect(readPlan(dir, '002-beta')).toBe(before);
    expect(statSync(planFile(dir, '002-beta')).mtimeMs).toBe(mtime);
  });

  it('--force re-plans up-to-date plans', async () => {
    const f = await fake();
    const dir = project(f.host);
    expect((await prePlan(dir)).code).toBe(0);
    const first = expectGoodPlan(dir, '001-alpha');
    await new Promise((r) => setTimeout(r, 20));
    const r = await prePlan(dir, ['--force']);
    expect(r.code).toBe(0);
    expect(lines(r.stdout).sort()).toEqual(['planned     001-alpha', 'planned     002-beta', 'planned     003-gamma']);
    expect(f.state.chats).toBe(6);
    expect(expectGoodPlan(dir, '001-alpha').created).not.toBe(first.created);
  });

  it('editing spec.md makes its plan stale in plan/list, and pre-plan re-plans only that one', async () => {
    const f = await fake();
    const dir = project(f.host);
    const shown = async (verb: 'plan' | 'list') => {
      const r = await run(dir, [verb]);
      expect(r.code).toBe(0);
      const row = (id: string) => r.stdout.split('\n').find((l) => new RegExp(`^\\s*${id}\\s`).test(l)) ?? '';
      return ['001', '002', '003'].map((id) => /\b(planned|stale|missing)\b/.exec(row(id))?.[1]);
    };
    expect(await shown('plan')).toEqual(['missing', 'missing', 'missing']);
    expect((await prePlan(dir)).code).toBe(0);
    expect(await shown('plan')).toEqual(['planned', 'planned', 'planned']);

    writeFileSync(specFile(dir, '002-beta'), '# 002 beta\n\nBuild beta, and a cache.\n');
    expect(await shown('plan')).toEqual(['planned', 'stale', 'planned']);
    expect(await shown('list')).toEqual(['planned', 'stale', 'planned']);
    const json = JSON.parse((await run(dir, ['--json', 'list'])).stdout);
    expect(JSON.stringify(json)).toContain('stale');

    const r = await prePlan(dir);
    expect(r.code).toBe(0);
    expect(lines(r.stdout).sort()).toEqual(['planned     002-beta', 'up to date  001-alpha', 'up to date  003-gamma']);
    expect(r.stderr).toContain('planning 1 of 3 specs');
    expect(f.state.chats).toBe(4);
    expect(specOf(f.state.requests[3]!.body)).toBe('002-beta');
    expect(f.state.requests[3]!.body.messages[1]!.content).toContain('Build beta, and a cache.');
    expectGoodPlan(dir, '002-beta');
    expect(await shown('list')).toEqual(['planned', 'planned', 'planned']);
  });

  it('--spec selects specs by id', async () => {
    const f = await fake();
    const dir = project(f.host);
    const r = await prePlan(dir, ['--spec', '002', '003']);
    expect(r.code).toBe(0);
    expect(lines(r.stdout).sort()).toEqual(['planned     002-beta', 'planned     003-gamma']);
    expect(existsSync(planFile(dir, '001-alpha'))).toBe(false);
    expect(f.state.requests.map((q) => specOf(q.body)).sort()).toEqual(['002-beta', '003-gamma']);
  });

  it('--wave selects one wave, and narrows --spec', async () => {
    const f = await fake();
    const dir = project(f.host);
    let r = await prePlan(dir, ['--wave', '0']);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual(['planned     001-alpha']);
    expect(existsSync(planFile(dir, '002-beta'))).toBe(false);
    r = await prePlan(dir, ['--spec', '001', '002', '--wave', '1']);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual(['planned     002-beta']);
    expect(existsSync(planFile(dir, '003-gamma'))).toBe(false);
  });

  it('--json prints the results and a summary on stdout', async () => {
    const f = await fake();
    const r = await run(project(f.host), ['--json', 'pre-plan']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.summary).toEqual({ planned: 3, upToDate: 0, failed: 0, interrupted: 0 });
    expect(out.results.map((x: { id: string; status: string }) => `${x.id}:${x.status}`).sort()).toEqual(['001:planned', '002:planned', '003:planned']);
  });
});

const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

describe('dispatch pre-plan: progress on a terminal', () => {
  it.skipIf(!hasScript)('shows done/total and the specs in flight while it works, then the lines and the summary', async () => {
    const f = await fake(() => ({ delayMs: 200 }));
    const dir = project(f.host);
    // util-linux `script` gives the bin a pseudo-terminal.
    const cmd = [process.execPath, BIN, 'pre-plan'].map((a) => `'${a}'`).join(' ');
    const r = await new Promise<{ code: number | null; out: string }>((res) => {
      const child = spawn('script', ['-qefc', cmd, '/dev/null'], { cwd: dir, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', OLLAMA_HOST: '', OLLAMA_API_KEY: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.on('close', (code) => res({ code, out }));
    });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/planning 0\/3 · in flight: 001, 002, 003/);
    expect(r.out).toMatch(/planning [12]\/3/);
    expect(r.out).toMatch(/planned\s+001-alpha/);
    expect(r.out).toContain('3 planned, 0 up to date, 0 failed');
    expect(r.out).not.toMatch(/\n\s+at /);
  });
});

describe('dispatch pre-plan: concurrency', () => {
  const many = (n: number): SpecRowInput[] => Array.from({ length: n }, (_, i) => ({ id: String(i + 1).padStart(3, '0'), name: `s${i + 1}`, wave: 0 }));

  it('--concurrency N: the server sees at most N requests at once, and N are used', async () => {
    const f = await fake(() => ({ delayMs: 150 }));
    const dir = project(f.host, { specs: many(10) });
    const r = await prePlan(dir, ['--concurrency', '3']);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toHaveLength(10);
    expect(f.state.chats).toBe(10);
    expect(f.state.maxInFlight).toBe(3);
  });

  it('defaults to 4 at once', async () => {
    const f = await fake(() => ({ delayMs: 150 }));
    const dir = project(f.host, { specs: many(10) });
    expect((await prePlan(dir)).code).toBe(0);
    expect(f.state.maxInFlight).toBe(4);
  });

  it('planner.concurrency in the config sets it; the flag wins over it', async () => {
    let f = await fake(() => ({ delayMs: 150 }));
    let dir = project(f.host, { specs: many(6), planner: { concurrency: 2 } });
    expect((await prePlan(dir)).code).toBe(0);
    expect(f.state.maxInFlight).toBe(2);
    f = await fake(() => ({ delayMs: 150 }));
    dir = project(f.host, { specs: many(6), planner: { concurrency: 2 } });
    expect((await prePlan(dir, ['--concurrency', '5'])).code).toBe(0);
    expect(f.state.maxInFlight).toBe(5);
  });
});

describe('dispatch pre-plan: the answer is checked', () => {
  const lacking = GOOD_PLAN.replace('## Crate audit', '## Dependencies');

  it('a missing section gets one corrective request; the good second answer is written', async () => {
    const f = await fake((b) => ({ answer: b.messages.length === 2 ? lacking : GOOD_PLAN }));
    const dir = project(f.host);
    const r = await prePlan(dir);
    expect(r.code).toBe(0);
    expect(lines(r.stdout).sort()).toEqual(['planned     001-alpha', 'planned     002-beta', 'planned     003-gamma']);
    expect(f.state.chats).toBe(6);
    const second = f.state.requests.find((q) => q.body.messages.length > 2)!.body.messages;
    expect(second.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(second[2]!.content).toBe(lacking);
    expect(second[3]!.content).toContain('## Crate audit');
    expectGoodPlan(dir, '002-beta');
    expect(readPlan(dir, '002-beta')).not.toContain('## Dependencies');
  });

  it('still missing after the corrective request: that spec fails with the reason, no plan.md; the others are planned', async () => {
    const f = await fake((b) => ({ answer: specOf(b) === '002-beta' ? lacking : GOOD_PLAN }));
    const dir = project(f.host);
    const r = await prePlan(dir);
    expect(r.code).toBe(1);
    const out = lines(r.stdout);
    expect(out).toContain('planned     001-alpha');
    expect(out).toContain('planned     003-gamma');
    const failed = out.find((l) => l.startsWith('failed'))!;
    expect(failed).toMatch(/^failed\s+002-beta: .*"Crate audit".*corrective.*no plan\.md written/);
    expect(r.stderr).toContain('2 planned, 0 up to date, 1 failed');
    expect(f.state.requests.filter((q) => specOf(q.body) === '002-beta')).toHaveLength(2);
    expectCleanFolders(dir, { '001-alpha': true, '002-beta': false, '003-gamma': true });
  });
});

describe('dispatch pre-plan: faults', () => {
  it("Ollama not running: one line naming the host and 'ollama serve', exit 1, no plan.md", async () => {
    const host = `http://127.0.0.1:${await freePort()}`;
    const dir = project(host, { planner: { retries: 0 } });
    const r = await prePlan(dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`dispatch: cannot reach Ollama at ${host} — ${HINT}\n`);
    expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('dispatch:'))).toHaveLength(1);
    expectCleanFolders(dir, { '001-alpha': false, '002-beta': false, '003-gamma': false });
  });

  it('waiting for an Ollama that does not answer is never silent: each retry is said, then one error line', async () => {
    const port = await freePort();
    const dir = project(`http://127.0.0.1:${port}`, { planner: { retries: 2, backoffSeconds: 0.05 } });
    const r = await prePlan(dir);
    expect(r.code).toBe(1);
    const said = r.stderr.split('\n').filter((l) => l.startsWith('cannot reach Ollama'));
    expect(said).toEqual([
      `cannot reach Ollama at http://127.0.0.1:${port} (connection refused); trying again in 0.1 s (1 of 2)`,
      `cannot reach Ollama at http://127.0.0.1:${port} (connection refused); trying again in 0.1 s (2 of 2)`,
    ]);
    expect(r.stderr).toContain(`dispatch: cannot reach Ollama at http://127.0.0.1:${port} — ${HINT}\n`);
  });

  it('the default host is http://127.0.0.1:11434', async () => {
    const dir = project(undefined, { planner: { retries: 0 } });
    const r = await prePlan(dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`dispatch: cannot reach Ollama at http://127.0.0.1:11434 — ${HINT}`);
  });

  it('connection refused is retried with backoff: a server that comes up late is used', async () => {
    const port = await freePort();
    const dir = project(`http://127.0.0.1:${port}`, { planner: { retries: 4, backoffSeconds: 0.15 } });
    const running = prePlan(dir);
    await new Promise((r) => setTimeout(r, 350));
    const f = await fake(undefined, { port });
    const r = await running;
    expect(r.code).toBe(0);
    expect(f.state.chats).toBe(3);
    expectGoodPlan(dir, '003-gamma');
  });

  it('unknown model (404): names the model, suggests ollama pull, not retried', async () => {
    const f = await fake();
    const dir = project(f.host);
    const r = await prePlan(dir, ['--model', 'nope:7b']);
    expect(r.code).toBe(1);
    const out = lines(r.stdout);
    expect(out).toHaveLength(3);
    for (const l of out) {
      expect(l).toMatch(/^failed\s+\d{3}-\w+: /);
      expect(l).toContain("model 'nope:7b' not found");
      expect(l).toContain("'ollama pull nope:7b'");
    }
    expect(f.state.chats).toBe(3);
    expectCleanFolders(dir, { '001-alpha': false, '002-beta': false, '003-gamma': false });
  });

  it('401: suggests ollama signin or OLLAMA_API_KEY, not retried', async () => {
    const f = await fake(() => ({ status: 401 }));
    const dir = project(f.host, { specs: [SPECS3[0]!] });
    const r = await prePlan(dir);
    expect(r.code).toBe(1);
    const [l] = lines(r.stdout);
    expect(l).toMatch(/^failed\s+001-alpha: .*unauthorized/);
    expect(l).toContain('ollama signin');
    expect(l).toContain('OLLAMA_API_KEY');
    expect(f.state.chats).toBe(1);
    expect(existsSync(planFile(dir, '001-alpha'))).toBe(false);
  });

  it.each([
    [503, 'service unavailable'],
    [500, 'llama runner process has terminated'],
    [429, 'too many requests'],
  ])('%i is retried with backoff, then only that spec fails; the others are planned', async (status, error) => {
    const f = await fake((b) => (specOf(b) === '002-beta' ? { status, error } : {}));
    const dir = project(f.host, { planner: { retries: 2, backoffSeconds: 0.05 } });
    const r = await prePlan(dir);
    expect(r.code).toBe(1);
    const out = lines(r.stdout);
    expect(out).toContain('planned     001-alpha');
    expect(out).toContain('planned     003-gamma');
    expect(out).toContain(`failed      002-beta: Ollama answered ${status}: ${error} (after 3 attempts)`);
    expect(f.state.requests.filter((q) => specOf(q.body) === '002-beta')).toHaveLength(3);
    expect(r.stderr).toMatch(/retrying 002 in 0\.1s .*Ollama answered/);
    expect(r.stderr).toContain('2 planned, 0 up to date, 1 failed');
    expectCleanFolders(dir, { '001-alpha': true, '002-beta': false, '003-gamma': true });
  });

  it('a transient 503 followed by an answer is planned (exit 0)', async () => {
    const seen = new Map<string, number>();
    const f = await fake((b) => {
      const n = (seen.get(specOf(b)) ?? 0) + 1;
      seen.set(specOf(b), n);
      return n === 1 ? { status: 503 } : {};
    });
    const dir = project(f.host, { planner: { retries: 2 } });
    const r = await prePlan(dir);
    expect(r.code).toBe(0);
    expect(lines(r.stdout).sort()).toEqual(['planned     001-alpha', 'planned     002-beta', 'planned     003-gamma']);
    expect(f.state.chats).toBe(6);
    expectGoodPlan(dir, '002-beta');
  });

  it.each<[string, Behaviour, RegExp]>([
    ['an error line mid-stream', { midStreamError: true, error: 'model runner crashed' }, /model runner crashed/],
    ['a malformed line', { malformed: true }, /malformed line/],
    ['a connection cut mid-answer', { cut: true }, /broke off before it was complete/],
    ['a stream without the done line', { noDone: true }, /broke off before it was complete/],
  ])('%s: that spec fails, no plan.md; the others are planned', async (_, fault, reason) => {
    const f = await fake((b) => (specOf(b) === '002-beta' ? fault : {}));
    const dir = project(f.host);
    const r = await prePlan(dir);
    expect(r.code).toBe(1);
    const out = lines(r.stdout);
    expect(out).toContain('planned     001-alpha');
    expect(out).toContain('planned     003-gamma');
    const failed = out.find((l) => l.includes('002-beta'))!;
    expect(failed).toMatch(/^failed\s+002-beta: /);
    expect(failed).toMatch(reason);
    expect(r.stdout).not.toMatch(/invalid json|Getting text/i);
    expectCleanFolders(dir, { '001-alpha': true, '002-beta': false, '003-gamma': true });
  });

  it('timeout (planner.timeoutSeconds) against a server that never answers: retried, then that spec fails', async () => {
    const f = await fake((b) => (specOf(b) === '002-beta' ? { hang: true } : {}));
    const dir = project(f.host, { planner: { timeoutSeconds: 0.3 } });
    const t0 = Date.now();
    const r = await prePlan(dir);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.code).toBe(1);
    const out = lines(r.stdout);
    expect(out).toContain(`failed      002-beta: no complete answer from ${f.host} within 0.3s (after 2 attempts) — raise planner.timeoutSeconds, or check the model is loaded`);
    expect(out).toContain('planned     001-alpha');
    expect(out).toContain('planned     003-gamma');
    expect(f.state.requests.filter((q) => specOf(q.body) === '002-beta')).toHaveLength(2);
    expectCleanFolders(dir, { '001-alpha': true, '002-beta': false, '003-gamma': true });
  });

  it('empty or missing spec.md: that spec fails naming the path; the others are planned', async () => {
    const f = await fake();
    const dir = project(f.host);
    writeFileSync(specFile(dir, '002-beta'), '  \n\n');
    rmSync(specFile(dir, '003-gamma'));
    const r = await prePlan(dir);
    expect(r.code).toBe(1);
    const out = lines(r.stdout);
    expect(out).toContain('planned     001-alpha');
    expect(out.find((l) => l.includes('002-beta'))).toMatch(/^failed\s+002-beta: .*empty/);
    expect(out.find((l) => l.includes('002-beta'))).toContain(specFile(dir, '002-beta'));
    expect(out.find((l) => l.includes('003-gamma'))).toMatch(/^failed\s+003-gamma: /);
    expect(out.find((l) => l.includes('003-gamma'))).toContain(specFile(dir, '003-gamma'));
    expect(r.stderr).toContain('1 planned, 0 up to date, 2 failed');
    expect(f.state.chats).toBe(1);
    expect(existsSync(planFile(dir, '002-beta'))).toBe(false);
    expect(existsSync(planFile(dir, '003-gamma'))).toBe(false);
  });

  it('a plan.md that cannot be written: one line naming it and why, exit 1, no temp file, nothing asked after it', async () => {
    // Answers take 300 ms: the failed write (milliseconds) is known before the next answer is in.
    const f = await fake(() => ({ delayMs: 300 }));
    const dir = project(f.host, { specs: [{ id: '001', name: 'alpha', wave: 0 }, ...Array.from({ length: 6 }, (_, i) => ({ id: `10${i}`, name: `later${i}`, wave: 1 }))] });
    mkdirSync(planFile(dir, '001-alpha')); // a folder where the file goes
    const r = await prePlan(dir, ['--concurrency', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^dispatch: .*${esc(planFile(dir, '001-alpha'))}.*\n`, 'm'));
    expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('dispatch:'))).toHaveLength(1);
    expect(readdirSync(specDir(dir, '001-alpha'))).toEqual(['plan.md', 'spec.md']);
    // One worker: its next request went out while the write failed, and none after that.
    expect(f.state.chats).toBeLessThanOrEqual(2);
  });

  it('a spec folder that does not exist: fails naming the spec.md path it looked for', async () => {
    const f = await fake();
    const dir = project(f.host);
    rmSync(specDir(dir, '003-gamma'), { recursive: true });
    const r = await prePlan(dir);
    expect(r.code).toBe(1);
    expect(lines(r.stdout).find((l) => l.includes('003-gamma'))).toMatch(new RegExp(`^failed\\s+003-gamma: .*${esc(specFile(dir, '003-gamma'))}`));
  });
});

describe('dispatch pre-plan: environment', () => {
  it('OLLAMA_API_KEY is sent as a bearer token; without it no Authorization header', async () => {
    const f = await fake();
    const dir = project(f.host);
    expect((await prePlan(dir, [], { OLLAMA_API_KEY: 'sk-test-42' })).code).toBe(0);
    expect(f.state.requests).toHaveLength(3);
    for (const q of f.state.requests) expect(q.headers.authorization).toBe('Bearer sk-test-42');
    const n = f.state.hits.length;
    expect((await prePlan(dir, ['--force'])).code).toBe(0);
    expect(f.state.hits.length).toBeGreaterThan(n);
    for (const h of f.state.hits.slice(n)) expect(h.headers.authorization).toBeUndefined();
  });

  it('OLLAMA_HOST overrides planner.host (with or without a scheme)', async () => {
    const f = await fake();
    const dead = `http://127.0.0.1:${await freePort()}`;
    let dir = project(dead, { planner: { retries: 0 } });
    let r = await prePlan(dir, [], { OLLAMA_HOST: f.host });
    expect(r.code).toBe(0);
    expectGoodPlan(dir, '001-alpha');
    expect(f.state.chats).toBe(3);
    dir = project(dead, { planner: { retries: 0 } });
    r = await prePlan(dir, [], { OLLAMA_HOST: `127.0.0.1:${f.port}` });
    expect(r.code).toBe(0);
    expect(f.state.chats).toBe(6);
    // and it is named in the error when it is the one that is down
    r = await prePlan(project(f.host, { planner: { retries: 0 } }), [], { OLLAMA_HOST: dead });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot reach Ollama at ${dead}`);
  });
});

describe('dispatch pre-plan: Ctrl-C', () => {
  /** Starts pre-plan; resolves when it exits. */
  function start(cwd: string, args: string[] = []) {
    const env: Record<string, string | undefined> = { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', OLLAMA_HOST: undefined, OLLAMA_API_KEY: undefined, DISPATCH_DEBUG: undefined };
    const child = spawn(process.execPath, [BIN, 'pre-plan', ...args], { cwd, env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const done = new Promise<RunResult>((res) => child.on('close', (code, signal) => res({ code, signal, stdout, stderr })));
    return { child, done };
  }

  it('SIGINT with requests in flight: exit 130, requests aborted, no plan.md and no temp files', async () => {
    const f = await fake(() => ({ hang: true }));
    const dir = project(f.host);
    const { child, done } = start(dir);
    await until(() => f.state.inFlight === 3);
    const t0 = Date.now();
    child.kill('SIGINT');
    const r = await done;
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(r.code).toBe(130);
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/\n\s+at /);
    expect(r.stdout).toMatch(/interrupted\s+001-alpha/);
    await until(() => f.state.inFlight === 0, 2000);
    expectCleanFolders(dir, { '001-alpha': false, '002-beta': false, '003-gamma': false });
  });

  it('SIGINT mid-stream keeps the plans already finished whole and writes no partial ones', async () => {
    const f = await fake((b) => (specOf(b) === '001-alpha' ? {} : { hang: true }));
    const dir = project(f.host, { specs: [...SPECS3, { id: '004', name: 'delta', wave: 0 }] });
    const { child, done } = start(dir, ['--concurrency', '2']);
    await until(() => existsSync(planFile(dir, '001-alpha')) && f.state.inFlight === 2);
    child.kill('SIGINT');
    const r = await done;
    expect(r.code).toBe(130);
    expect(r.stdout).toMatch(/planned\s+001-alpha/);
    expectGoodPlan(dir, '001-alpha');
    expectCleanFolders(dir, { '001-alpha': true, '002-beta': false, '003-gamma': false, '004-delta': false });
    // the spec still queued was never sent
    expect(f.state.chats).toBe(3);
  });
});

describe('dispatch pre-plan: bad flags', () => {
  it.each([
    [['--concurrency', '0'], /--concurrency.*'0'/],
    [['--concurrency', 'abc'], /--concurrency.*'abc'/],
    [['--concurrency', '-3'], /--concurrency/],
    [['--wave', 'x'], /--wave.*'x'/],
    [['--spec', '999'], /unknown spec id '999'.*dispatch list/],
    [['--spec', '02'], /unknown spec id '02' \(did you mean '002'/],
    [['--spec', '001', '998', '999'], /unknown spec ids '998'.*'999'/],
    // commander's own message holds a newline before "(Did you mean --force?)".
    [['--forse'], /unknown option '--forse'.*--force/],
  ])('pre-plan %j: exit 2, one line on stderr, nothing planned', async (args, message) => {
    const f = await fake();
    const dir = project(f.host);
    const r = await prePlan(dir, args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const err = r.stderr.trim().split('\n');
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^dispatch: /);
    expect(err[0]).toMatch(message);
    expect(f.state.hits).toHaveLength(0);
    expectCleanFolders(dir, { '001-alpha': false, '002-beta': false, '003-gamma': false });
  });
});
