import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig, type ResolvedConfig } from '../src/config/load.js';
import { chatOnce, effectiveHost, listModels, pingOllama, PlannerError, type OllamaTarget } from '../src/planner/ollama.js';
import { cleanAnswer, hashSpec, missingSections, parseHeader, readPlanHeader, renderHeader, renderPlan, SECTIONS } from '../src/planner/plan-file.js';
import { buildPrompt, correctiveMessage } from '../src/planner/prompt.js';
import { planStatus } from '../src/planner/status.js';
import { GOOD_PLAN, startFakeOllama, type Behaviour, type FakeOllama } from './fixtures/fake-ollama.mjs';
import { freePort, makeProject, tempDir, until } from './helpers.js';

const MODEL = 'qwen3-coder:480b-cloud';
const SHA = 'a'.repeat(64);

describe('plan file', () => {
  it('starts with a header recording model, time and spec hash, then the four sections', () => {
    const created = '2026-11-26T10:00:00.000Z';
    const text = renderPlan({ model: MODEL, created, specSha256: SHA }, { id: '011', name: 'core' }, GOOD_PLAN);
    const [first, second] = text.split('\n');
    expect(first).toBe(`<!-- dispatch-plan model="${MODEL}" created="${created}" spec-sha256="${SHA}" -->`);
    expect(second).toBe('# Plan for 011-core');
    expect(parseHeader(text)).toEqual({ model: MODEL, created, specSha256: SHA });
    const at = SECTIONS.map((s) => text.indexOf(`## ${s}`));
    expect(at.every((i) => i > 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(text.endsWith('\n')).toBe(true);
  });

  it('keeps the original "Crate audit" heading among the four sections', () => {
    expect(SECTIONS).toEqual(['Risk register', 'File order', 'Crate audit', 'Gotchas']);
  });

  it('hashes spec text with sha256 (64 hex digits, changes with the text)', () => {
    expect(hashSpec('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hashSpec('abc\n')).not.toBe(hashSpec('abc'));
  });

  it('strips quotes from the model name so the header stays parseable', () => {
    const h = renderHeader({ model: 'we"ird', created: 'x', specSha256: SHA });
    expect(parseHeader(h)?.model).toBe('weird');
  });

  it('finds no header in a hand-written plan or a garbled one', () => {
    expect(parseHeader('# My plan\n')).toBeUndefined();
    expect(parseHeader('<!-- dispatch-plan model="m" created="c" spec-sha256="short" -->')).toBeUndefined();
  });

  it('readPlanHeader: null when there is no plan.md, undefined when it has no header', () => {
    const d = tempDir();
    expect(readPlanHeader(join(d, 'plan.md'))).toBeNull();
    writeFileSync(join(d, 'plan.md'), '# hand-written\n');
    expect(readPlanHeader(join(d, 'plan.md'))).toBeUndefined();
    writeFileSync(join(d, 'plan.md'), `${renderHeader({ model: 'm', created: 'c', specSha256: SHA })}\n${'x'.repeat(10_000)}`);
    expect(readPlanHeader(join(d, 'plan.md'))).toEqual({ model: 'm', created: 'c', specSha256: SHA });
  });

  describe('missingSections', () => {
    it('is empty for a complete answer', () => {
      expect(missingSections(GOOD_PLAN)).toEqual([]);
    });

    it('names each missing section', () => {
      expect(missingSections(GOOD_PLAN.replace('## Crate audit', '## Packages'))).toEqual(['Crate audit']);
      expect(missingSections('## Risk register\n- a\n')).toEqual(['File order', 'Crate audit', 'Gotchas']);
      expect(missingSections('')).toEqual([...SECTIONS]);
    });

    it('does not count a section named only in prose', () => {
      expect(missingSections(`${GOOD_PLAN.replace('## Gotchas', 'Gotchas')}`)).toEqual(['Gotchas']);
    });

    it('accepts other heading levels, numbering, emphasis and case', () => {
      const a = '# 1. Risk Register\n- x\n### **File order**\n- y\n## Crate audit:\n- z\n#### gotchas ##\n- w\n';
      expect(missingSections(a)).toEqual([]);
    });
  });

  it('cleanAnswer drops a <think> block and a markdown fence', () => {
    expect(cleanAnswer(`<think>hmm</think>\n${GOOD_PLAN}`)).toBe(GOOD_PLAN.trim());
    expect(cleanAnswer(`\`\`\`markdown\n${GOOD_PLAN.trim()}\n\`\`\``)).toBe(GOOD_PLAN.trim());
    expect(missingSections(cleanAnswer(`\`\`\`md\n${GOOD_PLAN.trim()}\n\`\`\``))).toEqual([]);
  });
});

describe('planStatus', () => {
  const setup = () => {
    const d = tempDir();
    const spec = join(d, 'spec.md');
    const plan = join(d, 'plan.md');
    writeFileSync(spec, '# spec\n\nDo it.\n');
    return { spec, plan };
  };

  it('missing without plan.md', () => {
    const { spec, plan } = setup();
    expect(planStatus(spec, plan)).toBe('missing');
  });

  it('planned when the header hash matches spec.md', () => {
    const { spec, plan } = setup();
    writeFileSync(plan, renderPlan({ model: MODEL, created: 'now', specSha256: hashSpec(readFileSync(spec, 'utf8')) }, { id: '1', name: 'a' }, GOOD_PLAN));
    expect(planStatus(spec, plan)).toBe('planned');
  });

  it('stale once spec.md changes, or is gone', () => {
    const { spec, plan } = setup();
    writeFileSync(plan, renderPlan({ model: MODEL, created: 'now', specSha256: hashSpec(readFileSync(spec, 'utf8')) }, { id: '1', name: 'a' }, GOOD_PLAN));
    writeFileSync(spec, '# spec\n\nDo it differently.\n');
    expect(planStatus(spec, plan)).toBe('stale');
    rmSync(spec);
    expect(planStatus(spec, plan)).toBe('stale');
  });

  it('planned for a hand-written plan.md without a header', () => {
    const { spec, plan } = setup();
    writeFileSync(plan, '# my own plan\n');
    expect(planStatus(spec, plan)).toBe('planned');
  });
});

describe('prompt', () => {
  let config: ResolvedConfig;
  let dir: string;
  beforeAll(async () => {
    const specs = [
      { id: '001', name: 'workspace-scaffold', wave: 0, cost: 1, agent: 'codex' },
      { id: '002', name: 'ci-pipeline', wave: 0, cost: 1, agent: 'codex', title: 'GitHub Actions CI' },
      { id: '011', name: 'core-commands', cost: 3, agent: 'ac', dependsOn: ['001', '002'] },
      { id: '012', name: 'llm-client', cost: 4, agent: 'ac', mode: 'isolated', dependsOn: ['011'] },
      { id: '013', name: 'mcp-server', cost: 2, agent: 'codex', dependsOn: ['011'] },
    ];
    dir = makeProject({ specs });
    writeFileSync(join(dir, '.auto-claude', 'specs', '001-workspace-scaffold', 'spec.md'), '# 001 scaffold\n\nCreate the Cargo workspace with three crates.\n');
    writeFileSync(join(dir, 'Cargo.toml'), '[workspace]\n');
    mkdirSync(join(dir, 'crates'));
    mkdirSync(join(dir, 'node_modules'));
    const raw = { project: 'triz', specs: specs.map((s) => ({ ...s })) };
    config = await resolveConfig(raw, join(dir, 'specs.config.ts'));
  });
  const spec = (id: string) => config.specs.find((s) => s.id === id)!;
  const userOf = (id: string, text = 'SPEC BODY: parse the TRIZ matrix.') => {
    const m = buildPrompt(config, spec(id), text);
    expect(m.map((x) => x.role)).toEqual(['system', 'user']);
    return { system: m[0]!.content, user: m[1]!.content };
  };

  it('includes the spec text', () => {
    expect(userOf('012').user).toContain('SPEC BODY: parse the TRIZ matrix.');
  });

  it("includes the spec's id, name, wave and the project", () => {
    const { user } = userOf('012');
    expect(user).toContain('012-llm-client');
    expect(user).toContain('Wave 2 of 2');
    expect(user).toContain('triz');
  });

  it('lists dependencies by id and name with what they were about', () => {
    const { user } = userOf('011');
    expect(user).toContain('001-workspace-scaffold (wave 0): Create the Cargo workspace with three crates.');
    // a title wins over the spec's first line
    expect(user).toContain('002-ci-pipeline (wave 0): GitHub Actions CI');
    expect(userOf('012').user).toContain('011-core-commands (wave 1)');
    expect(userOf('001').user).toContain('depends on no other spec');
  });

  it('names the specs running alongside in the same wave', () => {
    expect(userOf('012').user).toContain('013-mcp-server');
  });

  it("lists the project's top-level files (not node_modules)", () => {
    const { user } = userOf('011');
    const line = user.split('\n').find((l) => l.startsWith('Top-level files'))!;
    expect(line).toContain('Cargo.toml');
    expect(line).toContain('crates/');
    expect(line).toContain('specs.config.ts');
    expect(line).not.toContain('node_modules');
  });

  it('asks for the four sections by name', () => {
    const { system, user } = userOf('011');
    for (const s of SECTIONS) {
      expect(system).toContain(`## ${s}`);
      expect(user).toContain(s);
    }
  });

  it('the corrective message names what was missing and all four headings', () => {
    const m = correctiveMessage(['Crate audit', 'Gotchas']);
    expect(m.role).toBe('user');
    expect(m.content).toContain('"## Crate audit", "## Gotchas"');
    for (const s of SECTIONS) expect(m.content).toContain(`## ${s}`);
  });
});

describe('effectiveHost', () => {
  const saved = process.env.OLLAMA_HOST;
  afterEach(() => {
    if (saved === undefined) delete process.env.OLLAMA_HOST;
    else process.env.OLLAMA_HOST = saved;
  });

  it('uses the configured host without OLLAMA_HOST, trailing slash removed', () => {
    delete process.env.OLLAMA_HOST;
    expect(effectiveHost('http://10.0.0.5:11434/')).toBe('http://10.0.0.5:11434');
  });

  it('OLLAMA_HOST overrides, in its short forms too', () => {
    process.env.OLLAMA_HOST = '10.0.0.7:11434';
    expect(effectiveHost('http://127.0.0.1:11434')).toBe('http://10.0.0.7:11434');
    process.env.OLLAMA_HOST = ':9999';
    expect(effectiveHost('http://127.0.0.1:11434')).toBe('http://127.0.0.1:9999');
    process.env.OLLAMA_HOST = '   ';
    expect(effectiveHost('http://127.0.0.1:11434')).toBe('http://127.0.0.1:11434');
  });
});

describe('chatOnce against a server speaking the Ollama protocol', () => {
  let behaviour: Behaviour = {};
  let fake: FakeOllama;
  beforeAll(async () => {
    fake = await startFakeOllama({ behave: () => behaviour });
  });
  afterAll(() => fake.close());

  const target = (over: Partial<OllamaTarget> = {}): OllamaTarget => ({ host: fake.host, model: MODEL, options: { temperature: 0.2 }, timeoutSeconds: 5, ...over });
  const messages = [{ role: 'user' as const, content: 'plan this' }];
  const never = () => new AbortController().signal;
  /** The PlannerError chatOnce throws for the current behaviour. */
  const failure = async (t = target(), signal = never()): Promise<PlannerError> => {
    const err = await chatOnce(t, messages, signal).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PlannerError);
    return err as PlannerError;
  };

  it('returns the whole streamed answer and sends model, messages, stream and options', async () => {
    behaviour = {};
    const before = fake.state.requests.length;
    expect(await chatOnce(target(), messages, never())).toBe(GOOD_PLAN);
    const req = fake.state.requests.at(-1)!;
    expect(fake.state.requests.length).toBe(before + 1);
    expect(req.body).toMatchObject({ model: MODEL, messages, stream: true, options: { temperature: 0.2 } });
    expect(req.headers['content-type']).toContain('application/json');
  });

  it('404 unknown model: not retryable, names the model and suggests ollama pull', async () => {
    behaviour = {};
    const e = await failure(target({ model: 'nope:1b' }));
    expect(e.retryable).toBe(false);
    expect(e.message).toContain("model 'nope:1b' not found");
    expect(e.hint).toContain("ollama pull nope:1b");
  });

  it('401: not retryable, suggests ollama signin or OLLAMA_API_KEY', async () => {
    behaviour = { status: 401 };
    const e = await failure();
    expect(e.retryable).toBe(false);
    expect(e.message).toContain('unauthorized');
    expect(e.hint).toContain('ollama signin');
    expect(e.hint).toContain('OLLAMA_API_KEY');
  });

  it.each([500, 502, 503, 429])('%i is retryable and says the status', async (status) => {
    behaviour = { status, error: 'server busy' };
    const e = await failure();
    expect(e.retryable).toBe(true);
    expect(e.message).toBe(`Ollama answered ${status}: server busy`);
  });

  it('a 400 is not retried', async () => {
    behaviour = { status: 400, error: 'invalid options' };
    const e = await failure();
    expect(e.retryable).toBe(false);
    expect(e.message).toContain('invalid options');
  });

  it("a proxy's non-JSON error page becomes the message, and nothing is printed to stdout", async () => {
    behaviour = { status: 502, rawBody: '<html>Bad Gateway</html>', contentType: 'text/html' };
    const writes: string[] = [];
    const orig = process.stdout.write.bind(process.stdout);
    const origLog = console.log;
    process.stdout.write = ((s: string | Uint8Array) => (writes.push(String(s)), true)) as typeof process.stdout.write;
    console.log = (...a: unknown[]) => void writes.push(a.join(' '));
    let e: PlannerError;
    try {
      e = await failure();
    } finally {
      process.stdout.write = orig;
      console.log = origLog;
    }
    expect(e.retryable).toBe(true);
    expect(e.message).toBe('Ollama answered 502: <html>Bad Gateway</html>');
    expect(writes).toEqual([]);
  });

  it('connection refused: retryable, "cannot reach Ollama at <host>" with the serve hint', async () => {
    const port = await freePort();
    const host = `http://127.0.0.1:${port}`;
    const e = await failure(target({ host }));
    expect(e.retryable).toBe(true);
    expect(e.message).toBe(`cannot reach Ollama at ${host}`);
    expect(e.hint).toBe("is 'ollama serve' running? (or set planner.host / OLLAMA_HOST)");
  });

  it('an {"error"} line after output started: not retryable, carries the message', async () => {
    behaviour = { midStreamError: true, error: 'model runner crashed' };
    const e = await failure();
    expect(e.retryable).toBe(false);
    expect(e.message).toContain('model runner crashed');
  });

  it('a malformed line fails even though the rest of the answer and done arrive', async () => {
    behaviour = { malformed: true };
    const e = await failure();
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(/^malformed line in Ollama's reply: \{"model": "x"/);
  });

  it('a stream without the done line is broken', async () => {
    behaviour = { noDone: true };
    const e = await failure();
    expect(e.retryable).toBe(false);
    expect(e.message).toBe('the answer stream from Ollama broke off before it was complete');
  });

  it('a connection cut mid-answer is broken', async () => {
    behaviour = { cut: true };
    const e = await failure();
    expect(e.retryable).toBe(false);
    expect(e.message).toBe('the answer stream from Ollama broke off before it was complete');
  });

  it('times out per request (retryable) and the server sees the request go away', async () => {
    behaviour = { hang: true };
    const t0 = Date.now();
    const e = await failure(target({ timeoutSeconds: 0.3 }));
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(e.retryable).toBe(true);
    expect(e.message).toBe(`no complete answer from ${fake.host} within 0.3s`);
    await until(() => fake.state.inFlight === 0, 2000);
  });

  it('times out while the answer streams slowly too', async () => {
    behaviour = { delayMs: 1500 };
    const e = await failure(target({ timeoutSeconds: 0.2 }));
    expect(e.message).toContain('within 0.2s');
  });

  it('the abort signal (Ctrl-C) ends a hanging request as "interrupted", not retryable', async () => {
    behaviour = { hang: true };
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const t0 = Date.now();
    const e = await failure(target(), ac.signal);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(e.message).toBe('interrupted');
    expect(e.retryable).toBe(false);
    await until(() => fake.state.inFlight === 0, 2000);
  });

  it('sends OLLAMA_API_KEY as a bearer token, and no Authorization without it', async () => {
    behaviour = {};
    const saved = process.env.OLLAMA_API_KEY;
    try {
      process.env.OLLAMA_API_KEY = 'sk-test-123';
      await chatOnce(target(), messages, never());
      expect(fake.state.requests.at(-1)!.headers.authorization).toBe('Bearer sk-test-123');
      delete process.env.OLLAMA_API_KEY;
      await chatOnce(target(), messages, never());
      expect(fake.state.requests.at(-1)!.headers.authorization).toBeUndefined();
    } finally {
      if (saved === undefined) delete process.env.OLLAMA_API_KEY;
      else process.env.OLLAMA_API_KEY = saved;
    }
  });

  it('pingOllama reads /api/version; listModels reads /api/tags', async () => {
    expect(await pingOllama(fake.host)).toEqual({ ok: true, version: '0.13.0' });
    expect(await listModels(fake.host)).toEqual([MODEL]);
    const down = await pingOllama(`http://127.0.0.1:${await freePort()}`);
    expect(down.ok).toBe(false);
  });
});


