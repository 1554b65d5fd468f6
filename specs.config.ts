import { defineConfig } from 'dispatch';

// The example project: the "triz" table of the original dispatch.codex.nu.
// 001 and 002 are done beforehand (see .codex/dispatch-state.json);
// 011-core-commands runs alone in wave 1; Codex takes the deterministic
// specs (011, 017-020), Auto-Claude the LLM-heavy ones.
export default defineConfig({
  project: 'triz',
  session: 'wise-xylophone',
  specsDir: '.auto-claude/specs',
  stateDir: '.codex',
  specs: [
    { id: '001', name: 'workspace-scaffold', wave: 0, cost: 1, agent: 'codex', mode: 'direct' },
    { id: '002', name: 'ci-pipeline', wave: 0, cost: 1, agent: 'codex', mode: 'direct' },
    { id: '011', name: 'core-commands', wave: 1, cost: 3, agent: 'codex', mode: 'direct', dependsOn: ['001'] },
    { id: '003', name: 'contradiction-matrix', wave: 2, cost: 3, agent: 'ac', mode: 'direct', dependsOn: ['011'] },
    { id: '004', name: 'principles-db', wave: 2, cost: 2, agent: 'ac', mode: 'direct', dependsOn: ['011'] },
    { id: '005', name: 'nu-plugin', wave: 2, cost: 3, agent: 'ac', mode: 'direct', dependsOn: ['011'] },
    { id: '006', name: 'problem-parser', wave: 2, cost: 3, agent: 'ac', mode: 'direct', dependsOn: ['011'] },
    { id: '012', name: 'llm-client', wave: 2, cost: 4, agent: 'ac', mode: 'isolated', dependsOn: ['011'] },
    { id: '017', name: 'config-loader', wave: 2, cost: 1, agent: 'codex', mode: 'direct', dependsOn: ['011'] },
    { id: '018', name: 'ts-bindings', wave: 2, cost: 2, agent: 'codex', mode: 'direct', dependsOn: ['011'] },
    { id: '007', name: 'solution-ranker', wave: 3, cost: 3, agent: 'ac', mode: 'direct', dependsOn: ['003', '004', '006'] },
    { id: '008', name: 'prompt-templates', wave: 3, cost: 2, agent: 'ac', mode: 'direct', dependsOn: ['006', '012'] },
    { id: '009', name: 'tui-explorer', wave: 3, cost: 4, agent: 'ac', mode: 'isolated', dependsOn: ['003', '004'] },
    { id: '013', name: 'mcp-server', wave: 3, cost: 4, agent: 'ac', mode: 'direct', dependsOn: ['012', '004'] },
    { id: '019', name: 'shell-completions', wave: 3, cost: 1, agent: 'codex', mode: 'direct', dependsOn: ['011'] },
    { id: '014', name: 'eval-harness', wave: 4, cost: 3, agent: 'ac', mode: 'direct', dependsOn: ['007', '008'] },
    { id: '016', name: 'report-export', wave: 4, cost: 2, agent: 'ac', mode: 'direct', dependsOn: ['007'] },
    { id: '020', name: 'release-config', wave: 4, cost: 1, agent: 'codex', mode: 'direct', dependsOn: ['002', '019'] },
  ],
});
