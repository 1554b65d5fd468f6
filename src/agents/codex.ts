// The Codex CLI (`codex exec --json`): the prompt on stdin, JSONL events on
// stdout. A `turn.failed` event fails the work even on exit 0; each
// `turn.completed` carries the turn's token usage.
import { sep } from 'node:path';
import type { AgentDriver, AgentEvents, Tokens } from './types.js';
import { JsonEvents } from './events.js';
import { EFFORT_BY_COST, expandHome, modelFlag } from './command-parts.js';

/** Codex JSONL: `turn.failed` fails a run even on exit 0; `turn.completed.usage` counts tokens. */
export class CodexEvents extends JsonEvents implements AgentEvents {
  failure?: string;
  lastError?: string;
  tokens?: Tokens;
  protected take(ev: Record<string, unknown>): void {
    // Read field by field, whatever its shape.
    if (ev.type === 'turn.failed') this.failure = String((ev.error as { message?: unknown } | undefined)?.message ?? 'turn failed');
    else if (ev.type === 'error' && ev.message) this.lastError = String(ev.message);
    else if (ev.type === 'turn.completed' && ev.usage && typeof ev.usage === 'object') {
      const u = ev.usage as Record<string, unknown>;
      const t = (this.tokens ??= { input: 0, cachedInput: 0, output: 0, total: 0 });
      t.input += Number(u.input_tokens) || 0;
      t.cachedInput += Number(u.cached_input_tokens) || 0;
      t.output += Number(u.output_tokens) || 0;
      t.total = t.input + t.output;
    }
  }
}

export const codex: AgentDriver = {
  kind: 'codex',
  program: 'codex',
  readsPlan: true,
  installHint: 'npm install -g @openai/codex, or set agents.codex.bin',
  command(config, spec, paths) {
    const c = config.agents.codex;
    return {
      argv: [
        expandHome(c.bin), 'exec',
        '-s', c.sandbox,
        '-m', c.model,
        '-c', `model_reasoning_effort=${c.effort[spec.cost] ?? EFFORT_BY_COST[spec.cost]}`,
        '--json',
        // runDir is resolved and plain: concatenated (join's normalising showed in 10,000-spec dry runs).
        '-o', `${paths.runDir}${sep}last-message.md`,
        ...c.extraArgs,
        '-',
      ],
      cwd: paths.cwd,
      env: c.env,
      promptOnStdin: true,
      events: () => new CodexEvents(),
    };
  },
  // `-m` in extraArgs comes after the configured one: Codex takes it.
  model: (config) => modelFlag(config.agents.codex.extraArgs) ?? config.agents.codex.model,
  rateLimitPatterns: (config) => config.agents.codex.rateLimitPatterns,
  versionDetail: (config, version) => `${version} (model ${config.agents.codex.model})`,
};
