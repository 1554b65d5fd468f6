// Agents as drivers: the registry (built-ins, a config's own agent winning
// over a built-in of the same name), Claude Code's command line and how its
// stream-json output is read (a failure, tokens and cost, a 429 it waits on,
// its usage-limit and credit messages), one model rule for every reader.
import { describe, expect, it } from 'vitest';
import { ClaudeEvents } from '../src/agents/claude.js';
import { agentCommand, modelOf, usesDispatchWorktree } from '../src/agents/command.js';
import { BUILTIN_AGENTS, driverOf, findDriver, shadowedBuiltins } from '../src/agents/registry.js';
import { detectQuotaExhausted, detectRateLimit } from '../src/agents/rate-limit.js';
import { resolveConfig, type ResolvedConfig } from '../src/config/load.js';

const paths = { specDir: '/p/.auto-claude/specs/001-a', specFile: '/p/.auto-claude/specs/001-a/spec.md', planFile: '/p/.auto-claude/specs/001-a/plan.md', runDir: '/p/.codex/runs/001', cwd: '/p' };
const configWith = (extra: Record<string, unknown> = {}, agent = 'claude', cost = 2): Promise<ResolvedConfig> =>
  resolveConfig({ project: 'p', specs: [{ id: '001', name: 'a', wave: 0, cost, agent }], ...extra }, '/p/specs.config.json');
const lines = (...evs: unknown[]) => `${evs.map((e) => JSON.stringify(e)).join('\n')}\n`;

describe('the agent registry', () => {
  it('knows codex, ac and claude; a config agent is a driver made from its entry', async () => {
    expect(BUILTIN_AGENTS).toEqual(['codex', 'ac', 'claude']);
    const config = await configWith({ agents: { mine: { command: ['my-agent', '{specFile}'], model: 'm1' } } }, 'mine');
    expect(driverOf(config, 'mine').command(config, config.specs[0]!, paths, 1).argv).toEqual(['my-agent', paths.specFile]);
    expect(modelOf(config, { agent: 'mine' })).toBe('m1');
  });

  it('an unknown agent is a config error naming the built-ins', async () => {
    const plain = await configWith();
    expect(() => driverOf(plain, 'nope', '001')).toThrow(/spec 001: agent "nope" is not defined/);
    expect(findDriver(plain, 'constructor')).toBeUndefined();
  });

  it("a config's own agents.claude (a command) wins over the built-in, and is named as shadowing it", async () => {
    const config = await configWith({ agents: { claude: { command: ['my-claude', '-p'] } } });
    expect(agentCommand(config, config.specs[0]!, paths).argv).toEqual(['my-claude', '-p']);
    expect(shadowedBuiltins(config)).toEqual(['claude']);
    expect(shadowedBuiltins(await configWith())).toEqual([]);
  });

  it('only Auto-Claude isolates itself', () => {
    expect(usesDispatchWorktree({ mode: 'isolated', agent: 'ac' })).toBe(false);
    for (const agent of ['codex', 'claude', 'mine']) expect(usesDispatchWorktree({ mode: 'isolated', agent })).toBe(true);
    expect(usesDispatchWorktree({ mode: 'direct', agent: 'codex' })).toBe(false);
  });

  it('one model rule: a -m in extraArgs is the model Codex runs on, for the report and the trailer alike', async () => {
    const config = await configWith({ agents: { codex: { model: 'gpt-x', extraArgs: ['-m', 'gpt-y'] } } }, 'codex');
    expect(modelOf(config, { agent: 'codex' })).toBe('gpt-y');
  });
});

describe('Claude Code as a built-in agent', () => {
  it('runs headless with stream-json, acceptEdits, Bash allowed, effort and model by cost, the prompt on stdin', async () => {
    const config = await configWith({ agents: { claude: { model: { 3: 'opus' } } } }, 'claude', 3);
    const cmd = agentCommand(config, config.specs[0]!, paths);
    expect(cmd.argv).toEqual(['claude', '-p', '--output-format', 'stream-json', '--verbose', '--permission-mode', 'acceptEdits', '--allowedTools', 'Bash', '--model', 'opus', '--effort', 'high']);
    expect(cmd.promptOnStdin).toBe(true);
    expect(cmd.cwd).toBe('/p');
    expect(cmd.events).toBeDefined();
    expect(modelOf(config, { agent: 'claude', cost: 3 })).toBe('opus');
    // No model for cost 2: Claude Code's own choice, and no --model.
    const c2 = await configWith({}, 'claude', 2);
    expect(agentCommand(c2, c2.specs[0]!, paths).argv).not.toContain('--model');
    expect(modelOf(c2, { agent: 'claude', cost: 2 })).toBeUndefined();
  });

  it('a bad permission mode, effort or command is a config error naming the field', async () => {
    const details = async (agents: unknown) => ((await configWith({ agents }).catch((e: { details?: string[] }) => e)) as { details?: string[] }).details;
    expect(await details({ claude: { permissionMode: 'yolo' } })).toEqual(['agents.claude.permissionMode: expected one of "acceptEdits", "auto", "bypassPermissions", "dontAsk", got "yolo"']);
    expect(await details({ claude: { effort: { 1: 'huge' } } })).toEqual([expect.stringMatching(/^agents\.claude\.effort\.1: expected one of/)]);
    expect(await details({ claude: { command: [] } })).toEqual([expect.stringMatching(/^agents\.claude\.command/)]);
  });
});

describe('ClaudeEvents', () => {
  it('a successful result: no failure, tokens (all input, the cached part apart) and cost', () => {
    const ev = new ClaudeEvents();
    ev.push(lines(
      { type: 'system', subtype: 'init', session_id: 'sess-1', cwd: '/p', tools: ['Write'] },
      { type: 'assistant', message: { content: [{ type: 'text', text: 'on it' }] } },
      { type: 'result', subtype: 'success', is_error: false, result: 'done', total_cost_usd: 0.0123, usage: { input_tokens: 10, cache_creation_input_tokens: 200, cache_read_input_tokens: 1000, output_tokens: 50 } },
    ));
    ev.end();
    expect(ev.failure).toBeUndefined();
    expect(ev.sessionId).toBe('sess-1');
    expect(ev.tokens).toEqual({ input: 1210, cachedInput: 1000, output: 50, total: 1260 });
    expect(ev.costUsd).toBe(0.0123);
  });

  it('an error result is a failure with its words, even split across chunks', () => {
    const ev = new ClaudeEvents();
    const text = lines({ type: 'result', subtype: 'error_during_execution', is_error: true, result: 'API Error: 500 boom\nmore' });
    ev.push(text.slice(0, 17));
    ev.push(text.slice(17));
    ev.end();
    expect(ev.failure).toBe('API Error: 500 boom');
  });

  it('api_retry on a 429 means waiting on a limit (not stalled) until work goes on', () => {
    let now = 1000;
    const ev = new ClaudeEvents(() => now);
    ev.push(lines({ type: 'system', subtype: 'api_retry', attempt: 1, max_retries: 10, retry_delay_ms: 500, error_status: 429, error: 'rate_limit' }));
    expect(ev.waitingSince).toBe(1000);
    expect(ev.lastError).toBe('api_retry 1/10: HTTP 429 rate_limit');
    now = 5000;
    ev.push(lines({ type: 'assistant', message: {} }));
    expect(ev.waitingSince).toBeUndefined();
  });

  it('its usage-limit message is a rate limit with its reset; its credit message is quota', () => {
    const reset = Math.floor(Date.parse('2026-12-08T09:00:00Z') / 1000);
    const ev = new ClaudeEvents();
    ev.push(lines({ type: 'result', is_error: true, result: `Claude AI usage limit reached|${reset}` }));
    const hit = detectRateLimit(ev.failure!, [], new Date('2026-12-07T20:00:00Z'));
    expect(hit?.resetAt?.toISOString()).toBe('2026-12-08T09:00:00.000Z');
    const q = new ClaudeEvents();
    q.push(lines({ type: 'result', is_error: true, result: 'Credit balance is too low' }));
    expect(detectQuotaExhausted(q.failure!)).toBeDefined();
  });

  it('hostile lines change nothing: not JSON, arrays, wrong types, a huge line', () => {
    const ev = new ClaudeEvents();
    ev.push('not json\n[1,2]\n{"type":"result","is_error":"yes","usage":{"input_tokens":"lots","output_tokens":-5},"total_cost_usd":"free"}\n');
    // A line longer than any event read (5 MB), as a pipe delivers it: 64 KB at a time.
    const huge = `{"type":"result","is_error":true,"result":"${'x'.repeat(5 * 1024 * 1024)}"}\n`;
    for (let i = 0; i < huge.length; i += 65_536) ev.push(huge.slice(i, i + 65_536));
    ev.end();
    expect(ev.failure).toBeUndefined();
    expect(ev.tokens).toEqual({ input: 0, cachedInput: 0, output: 0, total: 0 });
    expect(ev.costUsd).toBeUndefined();
  });
});
