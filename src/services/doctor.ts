// `dispatch doctor`: each check returns data (ok / warn / fail, what, how to fix).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ResolvedConfig } from '../config/load.js';

export interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  fix?: string;
}

export async function runChecks(config: ResolvedConfig, muxWanted: ResolvedConfig['multiplexer']): Promise<Check[]> {
  const { capture } = await import('../proc/launch.js');
  const { resolveMuxKind, createMux, onPath } = await import('../mux/choose.js');
  const { autoClaudeDir } = await import('../agents/command.js');
  const checks: Check[] = [];
  const major = Number(process.versions.node.split('.')[0]);
  checks.push(major >= 20 ? { name: 'node', status: 'ok', detail: process.version } : { name: 'node', status: 'fail', detail: process.version, fix: 'install Node 20 or later' });

  const kind = resolveMuxKind(muxWanted);
  const mux = await createMux(config, kind);
  if (kind === 'headless') {
    checks.push({ name: 'multiplexer', status: 'ok', detail: 'headless (background processes; output in .codex/logs)' });
  } else if (!onPath(kind)) {
    checks.push({ name: 'multiplexer', status: 'fail', detail: `${kind} is not installed`, fix: kind === 'tmux' ? 'apt-get install -y tmux, or --mux headless' : "install zellij, or use --mux tmux / --mux headless" });
  } else if (kind === 'zellij') {
    try {
      await mux.ensureSession(false);
      checks.push({ name: 'multiplexer', status: 'ok', detail: `zellij session '${config.session}' is running` });
    } catch (err) {
      checks.push({ name: 'multiplexer', status: 'warn', detail: (err as Error).message, fix: `zellij attach ${config.session} --create-background, or 'dispatch run --create-session'` });
    }
  } else {
    const { hasSessionArgv } = await import('../mux/tmux.js');
    const has = await capture(hasSessionArgv(config.session, config.tmuxSocket));
    checks.push({ name: 'multiplexer', status: 'ok', detail: `tmux; session '${config.session}' ${has.exitCode === 0 ? 'is running' : 'will be created (detached) on the first run'}` });
  }

  const agents = new Set(config.specs.map((s) => s.agent));
  if (agents.has('codex')) {
    const bin = config.agents.codex.bin;
    const v = await capture([bin, '--version'], { timeoutMs: 15_000 });
    checks.push(v.exitCode === 0
      ? { name: 'codex', status: 'ok', detail: `${v.stdout.trim()} (model ${config.agents.codex.model})` }
      : { name: 'codex', status: 'fail', detail: `'${bin} --version' ${v.failedToStart ? 'could not start' : `exited ${v.exitCode}`}`, fix: 'npm install -g @openai/codex, or set agents.codex.bin' });
  }
  if (agents.has('ac')) {
    const dir = autoClaudeDir(config);
    const runPy = join(dir, 'apps', 'backend', 'run.py');
    checks.push(existsSync(runPy)
      ? { name: 'auto-claude', status: 'ok', detail: runPy }
      : { name: 'auto-claude', status: 'fail', detail: `no ${runPy}`, fix: 'clone Auto-Claude there, or set agents.ac.dir / AUTO_CLAUDE_DIR' });
    const py = await capture([config.agents.ac.python, '--version']);
    checks.push(py.exitCode === 0
      ? { name: 'python', status: 'ok', detail: (py.stdout || py.stderr).trim() }
      : { name: 'python', status: 'fail', detail: `'${config.agents.ac.python}' not found`, fix: 'install Python 3, or set agents.ac.python' });
  }

  const { pingOllama, listModels, effectiveHost } = await import('../planner/ollama.js');
  const host = effectiveHost(config.planner.host);
  const ping = await pingOllama(host);
  if (!ping.ok) {
    checks.push({ name: 'ollama', status: 'warn', detail: `cannot reach Ollama at ${host}`, fix: "run 'ollama serve' (or set planner.host / OLLAMA_HOST); without it specs launch without plans" });
  } else {
    const models = await listModels(host).catch(() => [] as string[]);
    const has = models.includes(config.planner.model);
    checks.push(has
      ? { name: 'ollama', status: 'ok', detail: `${host} (version ${ping.version}), model ${config.planner.model}` }
      : { name: 'ollama', status: 'warn', detail: `${host} answers but has no model ${config.planner.model}`, fix: `ollama pull ${config.planner.model}` });
  }
  return checks;
}
