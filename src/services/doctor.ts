// `dispatch doctor`: each check returns data (ok / warn / fail, what, how to fix).
import type { ResolvedConfig } from '../config/types.js';

import type { Check } from '../run/preflight.js';
export type { Check };

export async function runChecks(config: ResolvedConfig, muxWanted: ResolvedConfig['multiplexer']): Promise<Check[]> {
  const { resolveExecutorKind, createMux } = await import('../executors/choose.js');
  const checks: Check[] = [];
  const major = Number(process.versions.node.split('.')[0]);
  checks.push(major >= 20 ? { name: 'node', status: 'ok', detail: process.version } : { name: 'node', status: 'fail', detail: process.version, fix: 'install Node 20 or later' });

  // The same checks as a run's preflight, for what `dispatch run` would launch now (every wave).
  const mux = await createMux(config, resolveExecutorKind(config, muxWanted === config.multiplexer ? undefined : muxWanted));
  const { readState } = await import('../state/store.js');
  const { planWave } = await import('../run/launch-plan.js');
  const { readSpecFolders } = await import('../specs/lookup.js');
  const { preflight } = await import('../run/preflight.js');
  let doc;
  try {
    doc = readState(config.stateDir);
    checks.push({ name: 'state', status: 'ok', detail: 'readable' });
  } catch (err) {
    const e = err as Error & { hint?: string };
    checks.push({ name: 'state', status: 'fail', detail: e.message, fix: e.hint ?? "see 'dispatch reset'" });
    return checks;
  }
  const folders = readSpecFolders(config.specsDir);
  const items = config.waves.flatMap((w) => planWave(config, doc, mux, w, { folders }).items);
  checks.push(...(await preflight(config, items, mux, doc, { doctor: true })));

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
