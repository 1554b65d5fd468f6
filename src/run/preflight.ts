// Preflight: everything a launch needs, checked for every spec a run may launch
// before the first one starts, so a problem in wave 3 is said before wave 1 runs.
// `run` refuses on a failed check, `run --dry-run` and `doctor` show the same list.
import { existsSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import type { ResolvedConfig } from '../config/types.js';
import { isExecutable, onPath } from '../util/which.js';
import type { Mux } from '../executors/types.js';
import type { StateDoc } from '../state/doc.js';
import type { LaunchItem } from './launch-plan.js';
import { fillPlaceholders, placeholderValues } from '../agents/command.js';
import { driverOf, shadowedBuiltins } from '../agents/registry.js';
import { requireChangesOf, verifyCommandsOf } from '../attempt/verify.js';

import type { Check } from '../executors/types.js';
export type { Check } from '../executors/types.js';

/** What the checks need of a launch: not its whole command lines, only the program (and run.py for ac). */
export type PreflightItem = Pick<LaunchItem, 'spec' | 'files' | 'error' | 'worktree'> & { agentArgv: readonly string[] };

export const forPreflight = (i: LaunchItem): PreflightItem => ({ spec: i.spec, files: i.files, error: i.error, worktree: i.worktree, agentArgv: i.agentArgv.slice(0, 2) });

export interface PreflightOptions {
  /** `run --create-session`: a missing zellij session is fine. */
  createSession?: boolean;
  /** doctor: a missing zellij session is a warning (a run can be told to create it), and agents say their version. */
  doctor?: boolean;
}

/** At most this many ids in a line: a table of thousands must not print thousands. */
const SHOWN = 5;
const idList = (ids: string[]) => (ids.length > SHOWN ? `${ids.slice(0, SHOWN).join(', ')} and ${ids.length - SHOWN} more` : ids.join(', '));
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** An executable as the runner would start it: a path (absolute, or relative to where it runs), else looked up on PATH. */
function executable(cmd: string, cwd: string): string | undefined {
  if (!cmd.includes('/')) return onPath(cmd);
  const file = resolve(cwd, cmd);
  return isExecutable(file) ? file : undefined;
}

export async function preflight(config: ResolvedConfig, items: PreflightItem[], mux: Mux, doc: StateDoc, opts: PreflightOptions = {}): Promise<Check[]> {
  const programs = [...new Set(items.flatMap((i) => (i.agentArgv[0] ? [i.agentArgv[0]] : [])))];
  const checks = await mux.checks({ programs, ids: items.map((i) => i.spec.id), doc, ...opts });
  // Agents, checks and worktrees of remote runs are the hosts' (the executor's checks asked them there).
  if (mux.remote) {
    if (items.length) checks.push(specFilesCheck(config, items));
    return checks;
  }
  if (!items.length) {
    checks.push({ name: 'specs', status: 'ok', detail: 'nothing left to launch' });
    return checks;
  }
  checks.push(specFilesCheck(config, items));
  checks.push(...(await agentChecks(config, items, opts)));
  checks.push(...verifyChecks(config, items));
  if (items.some((i) => i.spec.mode === 'isolated')) checks.push(...(await gitChecks(config, items, doc)));
  else if (items.some((i) => requireChangesOf(config, i.spec))) {
    const inRepo = await (await import('../proc/launch.js')).capture(['git', '-C', config.rootDir, 'rev-parse', '--git-dir'], { timeoutMs: 30_000 });
    if (inRepo.exitCode !== 0) checks.push({ name: 'changes', status: 'warn', detail: `requireChanges is set, but ${config.rootDir} is not a git repository: changes cannot be checked`, fix: "run 'git init' and commit, or drop requireChanges" });
  }
  return checks;
}

/** The verify commands' programs, found as a run would start them (each distinct one once). */
function verifyChecks(config: ResolvedConfig, items: PreflightItem[]): Check[] {
  const byProgram = new Map<string, string[]>();
  let commands = 0;
  const seen = new Set<string[][]>();
  for (const i of items) {
    const list = verifyCommandsOf(config, i.spec);
    if (!list.length || !i.files) continue;
    if (!seen.has(list)) {
      seen.add(list);
      commands += list.length;
    }
    const values = placeholderValues(config, i.spec, { specDir: i.files.dir, specFile: i.files.specFile, planFile: i.files.planFile, runDir: '', cwd: config.rootDir }, 1);
    for (const c of list) {
      const program = fillPlaceholders(c, values)[0];
      const users = byProgram.get(program);
      if (users) users.push(i.spec.id);
      else byProgram.set(program, [i.spec.id]);
    }
  }
  if (!byProgram.size) return [];
  const missing = [...byProgram].filter(([p]) => !executable(p, config.rootDir));
  if (missing.length) {
    return [{ name: 'verify', status: 'fail', detail: missing.map(([p, ids]) => `'${p}' ${p.includes('/') ? 'is not an executable file' : 'is not on PATH'} (checks of ${idList(ids)})`).join('; '), fix: 'install it, or fix the verify commands in the config' }];
  }
  return [{ name: 'verify', status: 'ok', detail: `${plural(commands, 'check')}: ${[...byProgram.keys()].slice(0, 5).join(', ')}${byProgram.size > 5 ? ` and ${byProgram.size - 5} more` : ''}` }];
}

/** Each spec's folder (found, and only one) and its spec.md. */
function specFilesCheck(config: ResolvedConfig, items: PreflightItem[]): Check {
  const broken: string[] = [];
  const noFolder: string[] = [];
  const noSpec: string[] = [];
  for (const i of items) {
    if (i.error || !i.files) broken.push(`${i.spec.id} (${i.error ?? 'cannot be located'})`);
    else if (!i.files.found) noFolder.push(i.spec.id);
    else if (!existsSync(i.files.specFile)) noSpec.push(i.spec.id);
  }
  const where = relative(config.rootDir, config.specsDir) || '.';
  if (!broken.length && !noFolder.length && !noSpec.length) return { name: 'spec files', status: 'ok', detail: `${plural(items.length, 'spec')} to launch, each with its spec.md` };
  const parts: string[] = [];
  if (noFolder.length) parts.push(`no folder in ${where} for ${idList(noFolder)}`);
  if (noSpec.length) parts.push(`no spec.md in the folder of ${idList(noSpec)}`);
  if (broken.length) parts.push(idList(broken));
  return { name: 'spec files', status: 'fail', detail: parts.join('; '), fix: `each spec needs ${where}/<id>-<name>/spec.md ('dispatch list' shows the folders expected)` };
}

/** Each agent's program (once per program, whatever the number of specs), and what its driver checks besides. */
async function agentChecks(config: ResolvedConfig, items: PreflightItem[], opts: PreflightOptions): Promise<Check[]> {
  const byAgent = new Map<string, PreflightItem[]>();
  for (const i of items) {
    if (i.error) continue;
    const list = byAgent.get(i.spec.agent);
    if (list) list.push(i);
    else byAgent.set(i.spec.agent, [i]);
  }
  const checks: Check[] = [];
  for (const [agent, list] of byAgent) {
    const driver = driverOf(config, agent);
    const first = list[0]!;
    const program = first.agentArgv[0]!;
    // A relative program runs where the agent works: the project, or the worktree made from its HEAD.
    const found = executable(program, config.rootDir);
    const users = `used by ${idList(list.map((i) => i.spec.id))}`;
    const name = driver.program;
    if (!found) {
      checks.push({ name, status: 'fail', detail: `'${program}' ${program.includes('/') ? 'is not an executable file' : 'is not on PATH'} (${users})`, fix: driver.installHint });
    } else if (opts.doctor && driver.versionDetail) {
      const { capture } = await import('../proc/launch.js');
      const v = await capture([found, '--version'], { timeoutMs: 15_000 });
      const version = (v.stdout || v.stderr).trim().split('\n')[0] ?? '';
      checks.push(v.exitCode === 0
        ? { name, status: 'ok', detail: driver.versionDetail(config, version) }
        : { name, status: 'fail', detail: `'${program} --version' ${v.failedToStart ? 'could not start' : `exited ${v.exitCode}`}`, fix: driver.installHint });
    } else {
      checks.push({ name, status: 'ok', detail: `${found} (${users})` });
    }
    checks.push(...(driver.checks?.(first.agentArgv, users) ?? []));
  }
  // A config's own agent under a built-in's name is the one used: said, as the user may expect the built-in.
  if (opts.doctor) {
    for (const b of shadowedBuiltins(config)) checks.push({ name: b, status: 'warn', detail: `agents.${b} in the config (a command) is used instead of the built-in '${b}' agent`, fix: `rename agents.${b} (and the specs that use it) to use the built-in` });
  }
  return checks;
}

/** Isolated specs: a repository with a commit, worktree folders and branches free, agent scripts committed. */
async function gitChecks(config: ResolvedConfig, items: PreflightItem[], doc: StateDoc): Promise<Check[]> {
  const { capture } = await import('../proc/launch.js');
  const git = (...args: string[]) => capture(['git', '-C', config.rootDir, ...args], { timeoutMs: 30_000 });
  const isolated = items.filter((i) => i.spec.mode === 'isolated');
  const ids = idList(isolated.map((i) => i.spec.id));
  const head = await git('rev-parse', '--verify', '--quiet', 'HEAD');
  if (head.failedToStart) return [{ name: 'git', status: 'fail', detail: `cannot run git: ${head.failedToStart} (isolated: ${ids})`, fix: 'install git, or set mode: "direct"' }];
  if (head.exitCode !== 0) {
    return [{ name: 'git', status: 'fail', detail: `${config.rootDir} is not a git repository with a commit (isolated: ${ids})`, fix: "run 'git init' and commit once, or set mode: 'direct'" }];
  }
  const problems: string[] = [];
  const fixes = new Set<string>();
  // Worktrees dispatch makes: the folder and the branch must be free, or be the ones dispatch made before.
  const wts = items.filter((i) => i.worktree);
  if (wts.length) {
    const refs = await git('for-each-ref', '--format=%(refname)', 'refs/heads/dispatch/');
    const branches = new Set(refs.stdout.split('\n').filter(Boolean));
    const takenPath: PreflightItem[] = [];
    const takenBranch: PreflightItem[] = [];
    for (const i of wts) {
      const made = doc.dispatch?.specs[i.spec.id]?.worktree as { createdBy?: string; path?: string } | undefined;
      if (made?.createdBy === 'dispatch' && made.path === i.worktree!.path && existsSync(i.worktree!.path)) continue;
      if (existsSync(i.worktree!.path)) takenPath.push(i);
      else if (branches.has(`refs/heads/${i.worktree!.branch}`)) takenBranch.push(i);
    }
    const whose = (list: PreflightItem[]) => `spec${list.length === 1 ? '' : 's'} ${idList(list.map((i) => i.spec.id))}`;
    if (takenPath.length) {
      const one = takenPath.length === 1;
      problems.push(`${one ? takenPath[0]!.worktree!.path : `${takenPath.length} worktree folders`} already ${one ? 'exists' : 'exist'} and dispatch did not make ${one ? 'it' : 'them'} (worktree of ${whose(takenPath)})`);
      fixes.add(`move ${one ? 'it' : 'them'} away, or set worktreesDir elsewhere`);
    }
    if (takenBranch.length) {
      const one = takenBranch.length === 1;
      problems.push(`branch${one ? '' : 'es'} ${idList(takenBranch.map((i) => i.worktree!.branch))} already ${one ? 'exists' : 'exist'} and dispatch did not make ${one ? 'it' : 'them'} (${whose(takenBranch)})`);
      fixes.add(one ? `delete or rename it ('git branch -m ${takenBranch[0]!.worktree!.branch} other-name')` : "delete or rename them ('git branch -m dispatch/<id> other-name')");
    }
    // An agent script given by a relative path runs in the worktree, a checkout of HEAD: it must be committed.
    const scripts = new Map<string, string[]>();
    for (const i of wts) {
      // The agent's program and its checks' programs: all run in the worktree.
      for (const program of [i.agentArgv[0]!, ...verifyCommandsOf(config, i.spec).map((c) => c[0]!)]) {
        if (!program.includes('/') || program.includes('{') || (isAbsolute(program) && !program.startsWith(`${config.rootDir}/`))) continue;
        const rel = isAbsolute(program) ? relative(config.rootDir, program) : program;
        const list = scripts.get(rel);
        if (!list) scripts.set(rel, [i.spec.id]);
        else if (list.at(-1) !== i.spec.id) list.push(i.spec.id);
      }
    }
    for (const [rel, users] of scripts) {
      const tracked = await git('ls-files', '--error-unmatch', '--', rel);
      if (tracked.exitCode !== 0) {
        problems.push(`the agent script ${rel} is not committed, so the worktrees of ${idList(users)} will not have it`);
        fixes.add(`commit ${rel}`);
      }
    }
  }
  if (problems.length) return [{ name: 'git', status: 'fail', detail: problems.join('; '), fix: [...fixes].join('; ') }];
  return [{ name: 'git', status: 'ok', detail: `repository with a commit (${plural(isolated.length, 'isolated spec')})` }];
}
