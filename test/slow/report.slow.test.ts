// `dispatch report` after a real run (stand-in agents: retries, a failure, a
// verify check, token usage), opened in a real headless Chromium (Debian's
// chromium, driven by playwright-core): every spec is on the page, one bar per
// attempt, no console errors, details on hover and on keyboard focus; a
// screenshot is taken. Then a 1,000-spec report: its size and time to open.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatch, makeProject, readStateOf, tempDir } from '../helpers.js';
import { AGENTS, NODE, engineProject } from '../fixtures/engine.js';
import { GIT_ENV } from '../fixtures/git.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn('report.slow: /usr/bin/chromium is missing (apt-get install chromium): the browser tests are skipped');

type Browser = import('playwright-core').Browser;
let browser: Browser;
beforeAll(async () => {
  if (!haveChromium) return;
  const { chromium } = await import('playwright-core');
  // As root, Chromium's sandbox cannot start: the page is our own file.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
}, 60_000);
afterAll(async () => browser?.close());

const needFile = (path: string) => [NODE, '-e', `process.exit(require('fs').existsSync(${JSON.stringify(path)}) ? 0 : 1)`];

async function open(file: string) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  // Anything the page asks for beyond its own file is a defect (no network, no external fonts or scripts).
  const requests: string[] = [];
  page.on('request', (r) => {
    if (r.url() !== `file://${file}`) requests.push(r.url());
  });
  const t0 = Date.now();
  await page.goto(`file://${file}`, { waitUntil: 'load' });
  const openMs = Date.now() - t0;
  return { page, problems, requests, openMs };
}

describe.skipIf(!haveChromium)('dispatch report in a real browser', () => {
  it('after a run: every spec, one bar per attempt, details on hover and focus, no console errors', async () => {
    const dir = engineProject({
      specs: [
        { id: '001', name: 'setup', wave: 0, cost: 1, body: 'sleep 300\nwrite out/001.txt ok\n' },
        { id: '002', name: 'flaky', wave: 0, cost: 2, agent: 'flaky' },
        { id: '003', name: 'tokens', wave: 0, cost: 3, agent: 'usage' },
        { id: '004', name: 'broken', wave: 1, cost: 1, agent: 'bad' },
        { id: '005', name: 'api <b>"x"<b>', wave: 1, cost: 2, dependsOn: ['001'], body: 'write out/005.txt ok\n', verify: [needFile('out/005.txt')] },
        { id: '006', name: 'ui', wave: 1, cost: 2, dependsOn: ['003'], agent: 'usage' },
        { id: '007', name: 'docs', wave: 1, cost: 1, body: 'sleep 200\n' },
      ],
      agents: {
        flaky: { command: [NODE, join(AGENTS, 'fail-once.mjs'), 'trace.jsonl'], prompt: 'stdin' },
        usage: { command: [NODE, join(AGENTS, 'usage.mjs'), 'trace.jsonl', '12000', '800', '2', '300'], prompt: 'stdin', codexEvents: true, model: 'm-usage' },
      },
      extra: { retry: { maxAttempts: 2 }, pricing: { 'm-usage': { input: 1.25, cachedInput: 0.125, output: 10 } } },
    });
    const r = dispatch(dir, ['run', '--yes', '--no-plan'], { env: GIT_ENV, timeout: 120_000 });
    expect(r.code, r.stderr).toBe(1);
    const st = readStateOf(dir);
    expect(st.failed).toEqual(['004']);
    const attempts = Object.values(st.dispatch.specs as Record<string, { history: unknown[] }>).reduce((t, s) => t + s.history.length, 0);
    expect(attempts).toBe(9); // 002 and 004 twice each

    const out = join(tempDir(), 'report.html');
    const rep = dispatch(dir, ['--json', 'report', '--out', out]);
    expect(rep.code, rep.stderr).toBe(0);
    const j = JSON.parse(rep.stdout);
    expect(j.path).toBe(out);
    expect(j.figures).toMatchObject({ specs: 7, launched: 7, done: 6, failed: 1, attempts: 9, verify: { passed: 1, total: 1 } });
    expect(j.figures.cost).toBeGreaterThan(0);
    expect(j.failures.map((f: { id: string }) => f.id)).toEqual(['004']);

    const { page, problems, requests, openMs } = await open(out);
    console.log(`report of 7 specs: ${statSync(out).size} bytes, opened in ${openMs} ms`);
    for (const id of ['001', '002', '003', '004', '005', '006', '007']) {
      await expect(page.locator('#timeline svg text', { hasText: id }).count()).resolves.toBe(1);
      await expect(page.locator('#graph svg g.n', { hasText: id }).count()).resolves.toBe(1);
    }
    // The name arrives as text, not as markup.
    await expect(page.locator('#timeline svg text', { hasText: 'api <b>"x"<b>' }).count()).resolves.toBe(1);
    await expect(page.locator('#timeline [data-a]').count()).resolves.toBe(attempts);
    await expect(page.locator('#timeline rect.k-agent-failed').count()).resolves.toBe(3);
    await expect(page.locator('#failures td', { hasText: '004 broken' }).count()).resolves.toBe(1);

    // Hover: the popup shows that attempt's details.
    const tip = page.locator('#tip');
    await expect(tip.isHidden()).resolves.toBe(true);
    await page.locator('#timeline rect.k-agent-failed').first().hover();
    await expect(tip.isVisible()).resolves.toBe(true);
    expect(await tip.textContent()).toMatch(/attempt 1.*agent-failed/s);
    // Keyboard: Tab reaches the bars; the focused one shows its details; Escape hides them.
    await page.mouse.move(0, 0);
    await page.locator('body').focus();
    let focused = '';
    for (let i = 0; i < 5 && !focused; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement?.getAttribute('data-a') ?? '');
    }
    expect(focused).not.toBe('');
    await expect(tip.isVisible()).resolves.toBe(true);
    expect(await tip.textContent()).toMatch(/attempt \d/);
    await page.keyboard.press('Escape');
    await expect(tip.isHidden()).resolves.toBe(true);

    const shot = join(tempDir(), 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${shot}`);
    expect(statSync(shot).size).toBeGreaterThan(10_000);
    expect(problems).toEqual([]);
    expect(requests).toEqual([]);
    await page.close();
  }, 240_000);

  it("a night's run (a state written as a long run would leave it): rate-limit waits, batch pauses, retries; the README's screenshot", async () => {
    const names = ['auth-api', 'db-schema', 'ci-cache', 'logging', 'config-loader', 'http-client', 'feature-flags', 'metrics',
      'users-endpoint', 'billing-model', 'search-index', 'email-worker', 'rate-limiter', 'admin-ui', 'audit-trail', 'webhooks',
      'checkout-flow', 'reports-page', 'sso-login', 'export-csv', 'notifications', 'onboarding', 'docs-site', 'e2e-suite'];
    const t0 = Date.parse('2026-11-30T22:00:00Z');
    const iso = (min: number) => new Date(t0 + min * 60_000).toISOString();
    const specs = names.map((name, i) => ({ id: String(i + 1).padStart(3, '0'), name, wave: Math.floor(i / 8), cost: 1 + ((i * 5) % 4), agent: 'codex', ...(i >= 8 ? { dependsOn: [String(((i * 3) % 8) + 1 + Math.floor(i / 8 - 1) * 8).padStart(3, '0')] } : {}) }));
    const tokens = (k: number) => ({ input: k * 1000, cachedInput: k * 600, output: k * 90, total: k * 1090 });
    const history: Record<string, unknown> = {};
    const journal: object[] = [{ event: 'run-start', time: iso(0), run: 'night', schedule: 'waves', specs: 24 }];
    const waveStart = [0, 0, 0];
    for (const [i, s] of specs.entries()) {
      const base = waveStart[s.wave]! + (i % 8) * 1.5;
      const long = 12 + ((i * 37) % 40);
      const att = (n: number, from: number, to: number, rest: object) => ({ n, startedAt: iso(from), endedAt: iso(to), runId: 'night', wave: s.wave, ...rest });
      let h: object[];
      if (i === 3 || i === 13) h = [att(1, base, base + 9, { state: 'failed', kind: 'agent-failed', reason: 'agent exited with code 1: 3 of 12 tests failed', tokens: tokens(40) }), att(2, base + 9.5, base + 9.5 + long, { state: 'done', kind: 'done', tokens: tokens(90), verify: [{ argv: ['npm', 'test'], ok: true, seconds: 150 }] })];
      else if (i === 5 || i === 10) {
        h = [att(1, base, base + 4, { state: 'rate-limited', kind: 'rate-limited', reason: 'usage limit reached; resets in 18 min', tokens: tokens(20) }), att(2, base + 22, base + 22 + long, { state: 'done', kind: 'done', tokens: tokens(80) })];
        journal.push({ event: 'rate-limit-wait', time: iso(base + 4), run: 'night', agent: 'codex', spec: s.id, until: iso(base + 22) });
      } else if (i === 17) h = [att(1, base, base + long, { state: 'failed', kind: 'verify-failed', reason: 'verify failed: `npm test` exited 1', tokens: tokens(70), verify: [{ argv: ['npm', 'test'], ok: false, seconds: 240 }] }), att(2, base + long + 1, base + long + 20, { state: 'failed', kind: 'verify-failed', reason: 'verify failed: `npm test` exited 1: 2 failing', tokens: tokens(60), verify: [{ argv: ['npm', 'test'], ok: false, seconds: 230 }] })];
      else if (i === 20) h = [att(1, base, base + 14, { state: 'failed', kind: 'lost', reason: 'lost (runner died on build2)' }), att(2, base + 15, base + 15 + long, { state: 'done', kind: 'done', tokens: tokens(75) })];
      else h = [att(1, base, base + long, { state: 'done', kind: 'done', tokens: tokens(50 + ((i * 13) % 60)), verify: [{ argv: ['npm', 'test'], ok: true, seconds: 60 + (i % 5) * 30 }] })];
      history[s.id] = { history: h, attempts: h.length };
      const end = Date.parse((h.at(-1) as { endedAt: string }).endedAt);
      if (s.wave < 2) waveStart[s.wave + 1] = Math.max(waveStart[s.wave + 1]!, (end - t0) / 60_000 + 1);
    }
    journal.push({ event: 'batch-pause', time: iso(6), run: 'night', from: iso(6), until: iso(9) }, { event: 'run-end', time: iso(Math.max(...Object.values(history).map((x) => (Date.parse(((x as { history: { endedAt: string }[] }).history.at(-1)!).endedAt) - t0) / 60_000))), run: 'night', outcome: 'failed' });
    const dir = makeProject({
      format: 'json',
      specs,
      state: { completed: specs.map((s) => s.id).filter((id) => id !== '018'), failed: ['018'], skipped: [], dispatch: { version: 1, running: {}, specs: history } },
      extra: { project: 'shop', pricing: { 'gpt-5.3-codex': { input: 1.25, cachedInput: 0.125, output: 10 } } },
    });
    writeFileSync(join(dir, '.codex', 'dispatch-events.jsonl'), journal.map((e, i) => `${JSON.stringify({ seq: i + 1, pid: 1, command: 'run', ...e })}\n`).join(''));
    const rep = dispatch(dir, ['report']);
    expect(rep.code, rep.stderr).toBe(0);
    const { page, problems } = await open(rep.stdout.trim());
    await expect(page.locator('#timeline line.rl').count()).resolves.toBe(2);
    await expect(page.locator('#timeline rect.bp').count()).resolves.toBe(1);
    await expect(page.locator('#timeline rect.k-rate-limited').count()).resolves.toBe(2);
    await expect(page.locator('#failures td', { hasText: '018 reports-page' }).count()).resolves.toBe(1);
    await page.locator('#timeline rect.k-rate-limited').first().hover();
    const shot = process.env.DISPATCH_SCREENSHOT ?? join(tempDir(), 'night.png');
    mkdirSync(join(shot, '..'), { recursive: true });
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${shot}`);
    expect(statSync(shot).size).toBeGreaterThan(10_000);
    expect(problems).toEqual([]);
    await page.close();
  }, 120_000);

  it('1,000 specs: under 1 MB, opened by the browser with every bar; size and time printed', async () => {
    const n = 1000;
    const specs = Array.from({ length: n }, (_, i) => ({ id: `s${String(i).padStart(4, '0')}`, name: `spec-${i}`, wave: Math.floor(i / 100), cost: 1 + (i % 4), agent: 'codex', ...(i >= 100 ? { dependsOn: [`s${String(i - 100).padStart(4, '0')}`] } : {}) }));
    const t0 = Date.parse('2026-06-01T00:00:00Z');
    const iso = (min: number) => new Date(t0 + min * 60_000).toISOString();
    const history: Record<string, unknown> = {};
    let total = 0;
    for (const [i, s] of specs.entries()) {
      const base = s.wave * 30 + (i % 100) * 0.2;
      const h = i % 10 === 0
        ? [{ n: 1, startedAt: iso(base), endedAt: iso(base + 6), state: 'failed', kind: 'agent-failed', reason: 'exit 1', runId: 'big' }, { n: 2, startedAt: iso(base + 6), endedAt: iso(base + 20), state: 'done', kind: 'done', runId: 'big', tokens: { input: 40000, cachedInput: 20000, output: 3000, total: 43000 } }]
        : [{ n: 1, startedAt: iso(base), endedAt: iso(base + 12), state: 'done', kind: 'done', runId: 'big', tokens: { input: 30000, cachedInput: 15000, output: 2000, total: 32000 } }];
      total += h.length;
      history[s.id] = { history: h, attempts: h.length };
    }
    const dir = makeProject({
      format: 'json',
      specs,
      state: { completed: specs.map((s) => s.id), failed: [], skipped: [], dispatch: { version: 1, running: {}, specs: history } },
      extra: { pricing: { 'gpt-5.3-codex': { input: 1.25, cachedInput: 0.125, output: 10 } } },
    });
    writeFileSync(join(dir, '.codex', 'dispatch-events.jsonl'), `${JSON.stringify({ seq: 1, time: iso(0), pid: 1, command: 'run', event: 'run-start', run: 'big', schedule: 'waves', specs: n })}\n${JSON.stringify({ seq: 2, time: iso(320), pid: 1, command: 'run', event: 'run-end', run: 'big', outcome: 'done', done: n, failed: 0 })}\n`);
    const t = Date.now();
    const rep = dispatch(dir, ['report']);
    const writeMs = Date.now() - t;
    expect(rep.code, rep.stderr).toBe(0);
    const file = rep.stdout.trim();
    const bytes = statSync(file).size;
    expect(bytes).toBeLessThan(1024 * 1024);
    expect(readFileSync(file, 'utf8')).toContain('s0999 spec-999');
    const { page, problems, openMs } = await open(file);
    await expect(page.locator('#timeline [data-a]').count()).resolves.toBe(total);
    await expect(page.locator('#graph g.n').count()).resolves.toBe(n);
    const paint = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
      return nav ? Math.round(nav.loadEventEnd - nav.startTime) : -1;
    });
    console.log(`report of 1,000 specs (${total} attempts): ${(bytes / 1024).toFixed(0)} KB, written in ${writeMs} ms (the whole command), opened in ${openMs} ms (load event at ${paint} ms)`);
    expect(problems).toEqual([]);
    await page.close();
  }, 240_000);
});
