import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { findConfig } from './find.js';
import type { Config } from './schema.js';
import { computeWaves } from './waves.js';
import { BUILTIN_AGENTS, builtinDriver } from '../agents/registry.js';

import type { ResolvedConfig, ResolvedSpec } from './types.js';
export type { ResolvedConfig, ResolvedSpec } from './types.js';


/** Finds, imports, validates and resolves the config. Throws ConfigError (exit 2). */
export async function loadConfig(opts: { cwd?: string; configPath?: string } = {}): Promise<ResolvedConfig> {
  const configPath = findConfig(opts.cwd ?? process.cwd(), opts.configPath);
  if (configPath.endsWith('.json')) return resolveConfig(readJson(configPath), configPath);
  const { compileConfig, importCompiled, cacheDirFor, BUILD } = await import('./compile.js');
  const { writeFileAtomic } = await import('../util/write-atomic.js');
  const { readCacheFile, seal, unseal } = await import('./cache-seal.js');
  const compiled = await compileConfig(configPath);
  // A config that only builds literals validates to the same result every
  // time in one build of dispatch (resolution rules change between builds):
  // reuse it, so a 1,000-spec table costs a JSON.parse, not a module compile
  // plus validation.
  const cached = compiled.isStatic ? join(cacheDirFor(configPath), `${basename(compiled.file, '.mjs')}.resolved.json`) : undefined;
  // Sealed by this user's dispatch after it validated it (see cache-seal.ts): a planted or edited
  // file fails the seal and the config is loaded and validated afresh.
  // It names the compiled module it came from: an older one, sealed too, cannot stand in for today's.
  if (cached) {
    try {
      const text = readCacheFile(dirname(cached), basename(cached));
      const body = text && unseal(text.toString('utf8'));
      const r = body === undefined ? undefined : (JSON.parse(body) as ResolvedConfig & { build?: string; compiled?: string });
      if (r && r.configPath === configPath && r.build === BUILD && r.compiled === compiled.hash) {
        delete r.compiled;
        return withRuntimeDefaults(r);
      }
    } catch {
      // not cached yet
    }
  }
  const resolved = await resolveConfig(await importCompiled(configPath, compiled), configPath);
  const sealed = cached && seal(JSON.stringify({ ...resolved, build: BUILD, compiled: compiled.hash, signalDir: resolved.signalDir === tmpdir() ? undefined : resolved.signalDir }));
  if (cached && sealed) {
    try {
      writeFileAtomic(cached, sealed, { sync: false });
    } catch {
      // read-only project: fine, just slower
    }
  }
  return resolved;
}

/** Values that depend on the environment, never cached. */
function withRuntimeDefaults(r: ResolvedConfig): ResolvedConfig {
  r.signalDir ??= tmpdir();
  return r;
}

function readJson(configPath: string): unknown {
  const text = readFileSync(configPath, 'utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${configPath} is not valid JSON (${jsonPosition(text, (err as Error).message)})`, {
      hint: 'fix the syntax error at that position',
    });
  }
}

function jsonPosition(text: string, message: string): string {
  const m = /position (\d+)/.exec(message);
  if (!m) return message;
  const pos = Number(m[1]);
  const before = text.slice(0, pos).split('\n');
  return `line ${before.length}, column ${before.at(-1)!.length + 1}: ${message.replace(/ in JSON at position \d+.*$/, '')}`;
}

/** Validates a raw config object; every problem is reported at once. */
export async function resolveConfig(raw: unknown, configPath: string): Promise<ResolvedConfig> {
  const { configSchema } = await import('./schema.js');
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const { describeIssue } = await import('./issues.js');
    const lines = parsed.error.issues.map((i) => describeIssue(i, raw));
    // Every problem at once: a bad cost must not hide a cycle or an unknown agent elsewhere.
    throw invalid(configPath, [...lines, ...tableProblems(wellFormedRows(raw), agentNames(raw))]);
  }
  const config: Config = parsed.data;
  const problems = tableProblems(config.specs.map((s, index) => ({ ...s, index })), agentNames(config));
  // An agent that reads its specs itself (Auto-Claude: <project>/.auto-claude/specs) finds them nowhere else.
  const seen = new Set<string>();
  for (const [i, s] of config.specs.entries()) {
    if (seen.has(s.agent)) continue;
    seen.add(s.agent);
    const dir = builtinDriver(s.agent)?.specsDir;
    if (dir && resolve(dirname(configPath), config.specsDir) !== resolve(dirname(configPath), dir)) {
      problems.push(`specs[${i}].agent: "${s.agent}" reads its specs only from ${dir}, but specsDir is "${config.specsDir}" — move the spec folders there (and set specsDir: '${dir}'), or use another agent`);
    }
  }
  problems.push(...executorProblems(config));
  if (problems.length) throw invalid(configPath, problems);
  const { waves } = computeWaves(config.specs);

  const rootDir = dirname(configPath);
  const specs: ResolvedSpec[] = config.specs.map((s) => ({
    id: s.id,
    name: s.name,
    wave: waves.get(s.id)!,
    cost: s.cost as 1 | 2 | 3 | 4,
    agent: s.agent,
    mode: s.mode,
    dependsOn: s.dependsOn,
    ...(s.title !== undefined ? { title: s.title } : {}),
    ...(s.verify !== undefined ? { verify: s.verify } : {}),
    ...(s.requireChanges !== undefined ? { requireChanges: s.requireChanges } : {}),
    ...(s.runOn !== undefined ? { runOn: s.runOn } : {}),
  }));
  return {
    configPath,
    rootDir,
    project: config.project,
    session: config.session ?? config.project,
    specsDir: resolve(rootDir, config.specsDir),
    stateDir: resolve(rootDir, config.stateDir),
    signalDir: config.signalDir ? resolve(rootDir, config.signalDir) : tmpdir(),
    planner: config.planner,
    agents: config.agents,
    multiplexer: config.multiplexer,
    ...(config.executor ? { executor: config.executor } : {}),
    ...(config.tmuxSocket ? { tmuxSocket: config.tmuxSocket } : {}),
    pacing: config.pacing,
    waveOptions: config.waves,
    worktreesDir: resolve(rootDir, config.worktreesDir),
    startTimeoutSeconds: config.startTimeoutSeconds,
    verify: config.verify,
    verifyTimeoutSeconds: config.verifyTimeoutSeconds,
    requireChanges: config.requireChanges,
    retry: config.retry,
    stall: config.stall,
    budget: config.budget,
    hooks: config.hooks,
    logs: config.logs,
    schedule: config.schedule,
    merge: config.merge,
    pricing: config.pricing ?? {},
    estimateMinutes: { 1: config.estimateMinutes[1] ?? 5, 2: config.estimateMinutes[2] ?? 15, 3: config.estimateMinutes[3] ?? 30, 4: config.estimateMinutes[4] ?? 60 },
    specs,
    waves: [...new Set(specs.map((s) => s.wave))].sort((a, b) => a - b),
  };
}

/** The name a host goes by in the state and in `runOn`. */
export const hostNameOf = (h: { host: string; name?: string; port?: number }) => h.name ?? (h.port ? `${h.host}:${h.port}` : h.host);

function executorProblems(config: Config): string[] {
  const out: string[] = [];
  const hosts = config.executor?.hosts ?? [];
  const names = hosts.map(hostNameOf);
  names.forEach((n, i) => {
    if (names.indexOf(n) !== i) out.push(`executor.hosts[${i}]: two hosts are called "${n}" — give one a different name`);
  });
  config.specs.forEach((s, i) => {
    if (s.runOn === undefined) return;
    if (!config.executor) out.push(`specs[${i}].runOn: "${s.runOn}" needs executor: { kind: 'ssh', hosts: [...] } — or remove runOn`);
    else if (!hosts.some((h) => hostNameOf(h) === s.runOn || h.host === s.runOn)) out.push(`specs[${i}].runOn: no host "${s.runOn}" — expected one of ${names.map((n) => `"${n}"`).join(', ')}`);
  });
  return out;
}

interface TableRow {
  index: number;
  id: string;
  agent?: unknown;
  dependsOn: string[];
  wave?: number;
}

/** Problems that involve several specs (ids, dependencies, waves) or other config sections (agents). */
function tableProblems(rows: TableRow[], agents: string[]): string[] {
  const problems = [...computeWaves(rows).problems];
  for (const r of rows) {
    if (typeof r.agent === 'string' && r.agent && !agents.includes(r.agent)) {
      problems.push(`specs[${r.index}].agent: unknown agent "${r.agent}" — expected one of ${agents.map((a) => `"${a}"`).join(', ')} or an agent defined under "agents"`);
    }
  }
  return problems;
}

function agentNames(raw: unknown): string[] {
  const agents = (raw as { agents?: unknown } | null)?.agents;
  const custom = agents && typeof agents === 'object' ? Object.keys(agents) : [];
  return [...new Set([...BUILTIN_AGENTS as string[], ...custom])];
}

/** Rows of a config that failed validation which are still sound enough to check against each other. */
function wellFormedRows(raw: unknown): TableRow[] {
  const specs = (raw as { specs?: unknown } | null)?.specs;
  if (!Array.isArray(specs)) return [];
  const rows: TableRow[] = [];
  specs.forEach((row: unknown, index) => {
    if (!row || typeof row !== 'object') return;
    const s = row as { id?: unknown; agent?: unknown; dependsOn?: unknown; wave?: unknown };
    if (typeof s.id !== 'string') return;
    const deps = s.dependsOn ?? [];
    if (!Array.isArray(deps) || !deps.every((d: unknown) => typeof d === 'string')) return;
    if (s.wave !== undefined && !(typeof s.wave === 'number' && Number.isInteger(s.wave) && s.wave >= 0)) return;
    rows.push({ index, id: s.id, agent: s.agent, dependsOn: deps as string[], ...(typeof s.wave === 'number' ? { wave: s.wave } : {}) });
  });
  return rows;
}

function invalid(configPath: string, lines: string[]): ConfigError {
  return new ConfigError(`invalid config ${configPath} (${lines.length} problem${lines.length > 1 ? 's' : ''})`, {
    hint: 'fix the fields below',
    details: lines,
  });
}
