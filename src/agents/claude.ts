// Claude Code (`claude -p --output-format stream-json --verbose`): the prompt
// on stdin, JSONL events on stdout — `system/init` (its session), `assistant`
// and `user` turns, and a last `result` (is_error, usage, total_cost_usd). On a
// 429 it says `system/api_retry` and retries by itself: it is waiting on a
// limit then, not stalled. Its usage-limit message ("Claude AI usage limit
// reached|<epoch>") and "Credit balance is too low" come as an error result.
import type { ResolvedConfig } from '../config/types.js';
// Types only: the schema (and zod) is not loaded on the way to a command that reads a cached config.
import type { ClaudeConfig } from '../config/schema.js';
import type { AgentDriver, AgentEvents, Tokens } from './types.js';
import { JsonEvents } from './events.js';
import { EFFORT_BY_COST, expandHome, modelFlag } from './command-parts.js';

export class ClaudeEvents extends JsonEvents implements AgentEvents {
  failure?: string;
  readonly failureLabel = 'error result';
  lastError?: string;
  tokens?: Tokens;
  costUsd?: number;
  sessionId?: string;
  waitingSince?: number;
  // Output that ends without a result is no verdict of its own: the exit code decides.
  constructor(private readonly now: () => number = Date.now) {
    super();
  }
  protected take(ev: Record<string, unknown>): void {
    if (ev.type === 'system' && ev.subtype === 'init' && typeof ev.session_id === 'string') this.sessionId = ev.session_id;
    else if (ev.type === 'system' && ev.subtype === 'api_retry') {
      this.waitingSince = this.now();
      const status = typeof ev.error_status === 'number' ? ev.error_status : undefined;
      // Said as the HTTP status it is ("429 rate_limit"): what a limit's patterns know.
      this.lastError = `api_retry ${ev.attempt ?? '?'}/${ev.max_retries ?? '?'}: ${status !== undefined ? `HTTP ${status} ` : ''}${typeof ev.error === 'string' ? ev.error : 'error'}`;
    } else if (ev.type === 'assistant' || ev.type === 'user') {
      // Work goes on: no longer waiting.
      this.waitingSince = undefined;
    } else if (ev.type === 'result') {
      this.waitingSince = undefined;
      if (ev.is_error === true) {
        const said = typeof ev.result === 'string' && ev.result.trim() ? ev.result.trim() : typeof ev.subtype === 'string' ? ev.subtype : 'error result';
        this.failure = said.split('\n')[0]!.slice(0, 2000);
      }
      const u = ev.usage && typeof ev.usage === 'object' ? (ev.usage as Record<string, unknown>) : undefined;
      if (u) {
        const n = (k: string) => (Number.isFinite(Number(u[k])) ? Math.max(0, Number(u[k])) : 0);
        // Its input is split three ways; dispatch counts all of it as input, the part read from cache as cached.
        const input = n('input_tokens') + n('cache_creation_input_tokens') + n('cache_read_input_tokens');
        const output = n('output_tokens');
        this.tokens = { input, cachedInput: n('cache_read_input_tokens'), output, total: input + output };
      }
      if (typeof ev.total_cost_usd === 'number' && Number.isFinite(ev.total_cost_usd) && ev.total_cost_usd >= 0) this.costUsd = ev.total_cost_usd;
    }
  }
}

/** The built-in's settings (the registry uses this driver only when `agents.claude` is not a command of the config's own). */
const settings = (config: ResolvedConfig): ClaudeConfig => {
  const c = config.agents.claude;
  // (Not reached: a command of the config's own is a driver of its own, see registry.ts.)
  if ('command' in c) throw new Error('agents.claude is a command of the config: the built-in Claude Code driver does not apply');
  return c;
};

export const claude: AgentDriver = {
  kind: 'claude',
  program: 'claude',
  readsPlan: true,
  installHint: 'npm install -g @anthropic-ai/claude-code, or set agents.claude.bin',
  command(config, spec, paths) {
    const c = settings(config);
    const model = c.model[spec.cost];
    return {
      argv: [
        expandHome(c.bin), '-p',
        '--output-format', 'stream-json', '--verbose',
        // Unattended: edits in its folder accepted, and only the tools named here allowed besides them.
        '--permission-mode', c.permissionMode,
        ...(c.allowedTools.length ? ['--allowedTools', c.allowedTools.join(',')] : []),
        ...(model ? ['--model', model] : []),
        '--effort', c.effort[spec.cost] ?? EFFORT_BY_COST[spec.cost],
        ...c.extraArgs,
      ],
      cwd: paths.cwd,
      env: c.env,
      promptOnStdin: true,
      events: () => new ClaudeEvents(),
    };
  },
  model: (config, spec) => modelFlag(settings(config).extraArgs) ?? settings(config).model[(spec.cost ?? 2) as 1 | 2 | 3 | 4],
  rateLimitPatterns: (config) => settings(config).rateLimitPatterns,
  versionDetail: (config, version) => `${version}${settings(config).model[2] ? ` (model ${settings(config).model[2]})` : ''}`,
};
