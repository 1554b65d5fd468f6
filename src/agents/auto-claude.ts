// Auto-Claude (`apps/backend/run.py`): it reads its spec from
// .auto-claude/specs itself, isolates an isolated build in its own worktree
// (and merges it with its own --merge), and exits 0 whatever its QA said: its
// sign-off in implementation_plan.json is the evidence.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import type { ResolvedConfig } from '../config/types.js';
import { DispatchError } from '../errors.js';
import type { AgentDriver } from './types.js';
import { expandHome, modelFlag } from './command-parts.js';
import { qaOutcome } from './auto-claude-qa.js';

export function autoClaudeDir(config: ResolvedConfig): string {
  return expandHome(config.agents.ac.dir ?? process.env.AUTO_CLAUDE_DIR ?? join(homedir(), 'Auto-Claude'));
}

const runPy = (config: ResolvedConfig) => join(autoClaudeDir(config), 'apps', 'backend', 'run.py');

export const autoClaude: AgentDriver = {
  kind: 'ac',
  program: 'python',
  // v2.7.5 reads only spec.md and its own files: planning its specs would spend Ollama for nothing.
  readsPlan: false,
  specsDir: '.auto-claude/specs',
  installHint: 'install Python 3, or set agents.ac.python',
  command(config, spec, paths) {
    const a = config.agents.ac;
    return {
      argv: [
        expandHome(a.python), runPy(config),
        // The exact folder: given only the id, run.py takes whichever `<id>-*` folder it lists first.
        '--spec', basename(paths.specDir),
        '--project-dir', config.rootDir,
        '--auto-continue',
        spec.mode === 'isolated' ? '--isolated' : '--direct',
        ...(a.force ? ['--force'] : []),
        ...a.extraArgs,
      ],
      cwd: config.rootDir,
      env: a.env,
      // run.py may stop at input(): it must see end-of-file at once.
      promptOnStdin: false,
    };
  },
  // It picks its own model unless told with --model.
  model: (config) => modelFlag(config.agents.ac.extraArgs),
  rateLimitPatterns: (config) => config.agents.ac.rateLimitPatterns,
  versionDetail: (_config, version) => version,
  checks(argv, users) {
    const file = argv[1] ?? '';
    return [existsSync(file)
      ? { name: 'auto-claude', status: 'ok', detail: file }
      : { name: 'auto-claude', status: 'fail', detail: `no ${file} (${users})`, fix: 'clone Auto-Claude there, or set agents.ac.dir / AUTO_CLAUDE_DIR' }];
  },
  ownIsolation: {
    // Its own --merge merges the worktree it made (--no-ff, aborts on conflicts).
    async merge(config, spec, say) {
      const { capture } = await import('../proc/launch.js');
      const { locateSpec } = await import('../specs/lookup.js');
      const a = config.agents.ac;
      const folder = basename(locateSpec(config.specsDir, spec).dir);
      const r = await capture([expandHome(a.python), runPy(config), '--spec', folder, '--project-dir', config.rootDir, '--merge'], { cwd: config.rootDir, env: a.env, timeoutMs: 600_000 });
      say(r.stdout + r.stderr);
      if (r.failedToStart) throw new DispatchError(`Auto-Claude could not merge spec ${spec.id}: ${r.failedToStart}`, { hint: 'check agents.ac (python, dir); nothing was removed' });
      return r.exitCode === 0 ? { ok: true } : { ok: false, reason: `Auto-Claude could not merge spec ${spec.id} (exit ${r.exitCode})`, hint: 'see its output above; nothing was removed' };
    },
  },
  signOff: (specDir, since) => qaOutcome(specDir, since),
};
