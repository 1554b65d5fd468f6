// The command lines dispatch builds: each agent's argv (Codex, Auto-Claude's
// run.py, custom agents with placeholders), tmux's (real tmux on a private
// socket), zellij's (the strict 0.45 stand-in in test/fixtures/bin) and ssh's.
// In-process, so a wrong word in any of them fails a test here.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { resolveConfig, type ResolvedConfig, type ResolvedSpec } from '../src/config/load.js';
import { ConfigError, DispatchError } from '../src/errors.js';
import {
  agentCommand,
  autoClaudeDir,
  buildPrompt,
  expandHome,
  fillPlaceholders,
  modelOf,
  placeholderValues,
  usesDispatchWorktree,
  type AgentPaths,
} from '../src/agents/command.js';
import { formatLiteral, hasSessionArgv, tmuxArg, tmuxMux, tmuxSessionName } from '../src/executors/tmux.js';
import { zellijMux } from '../src/executors/zellij.js';
import { hostsOf, legacyBase, remoteBase, remoteDispatch, runLabel, sessionOf, sshArgv, sshConfigOf, sshOptions, type SshHost } from '../src/executors/ssh/hosts.js';
import { quoteRemote, remoteCommand } from '../src/executors/ssh/quote.js';
import type { RunnerInfo } from '../src/state/doc.js';
import type { Argv } from '../src/proc/launch.js';
import { ROOT, tempDir } from './helpers.js';

const HOME = homedir();
const NODE = process.execPath;

async function configOf(raw: Record<string, unknown>): Promise<ResolvedConfig> {
  return resolveConfig({ project: 'proj', specsDir: '.auto-claude/specs', ...raw }, '/work/proj/specs.config.ts');
}
const spec = (c: ResolvedConfig, id: string) => c.specs.find((s) => s.id === id)!;
const PATHS: AgentPaths = {
  specDir: '/work/proj/.auto-claude/specs/001-alpha',
  specFile: '/work/proj/.auto-claude/specs/001-alpha/spec.md',
  planFile: '/work/proj/.auto-claude/specs/001-alpha/plan.md',
  runDir: '/work/proj/.codex/runs/001',
  cwd: '/work/wt/001',
};
const runner = (pane?: string): RunnerInfo => ({ pid: 1, host: 'h', startedAt: '', ...(pane !== undefined ? { pane } : {}) });

/** An executable stand-in for a tool: a shell script. */
function fakeBin(dir: string, name: string, script: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${script}\n`);
  chmodSync(p, 0o755);
  return p;
}

// ------------------------------------------------------------------ agents ----

describe('expandHome and autoClaudeDir', () => {
  it('reads ~ and ~/ as a shell would, and nothing else', () => {
    expect(expandHome('~')).toBe(HOME);
    expect(expandHome('~/bin/codex')).toBe(join(HOME, 'bin', 'codex'));
    expect(expandHome('a~/b')).toBe('a~/b');
    expect(expandHome('~user/x')).toBe('~user/x');
    expect(expandHome('/opt/~')).toBe('/opt/~');
  });

  it('the Auto-Claude checkout: config dir, else $AUTO_CLAUDE_DIR, else ~/Auto-Claude', async () => {
    const saved = process.env.AUTO_CLAUDE_DIR;
    try {
      delete process.env.AUTO_CLAUDE_DIR;
      expect(autoClaudeDir(await configOf({ specs: [] }))).toBe(join(HOME, 'Auto-Claude'));
      expect(autoClaudeDir(await configOf({ specs: [], agents: { ac: { dir: '~/ac' } } }))).toBe(join(HOME, 'ac'));
      process.env.AUTO_CLAUDE_DIR = '/env/ac';
      expect(autoClaudeDir(await configOf({ specs: [] }))).toBe('/env/ac');
      expect(autoClaudeDir(await configOf({ specs: [], agents: { ac: { dir: '/cfg/ac' } } }))).toBe('/cfg/ac');
    } finally {
      if (saved === undefined) delete process.env.AUTO_CLAUDE_DIR;
      else process.env.AUTO_CLAUDE_DIR = saved;
    }
  });
});

describe('usesDispatchWorktree', () => {
  it('only isolated specs of agents other than Auto-Claude get a dispatch worktree', async () => {
    const c = await configOf({
      specs: [
        { id: '001', name: 'a', cost: 1, agent: 'codex', mode: 'isolated' },
        { id: '002', name: 'b', cost: 1, agent: 'codex', mode: 'direct' },
        { id: '003', name: 'c', cost: 1, agent: 'ac', mode: 'isolated' },
        { id: '004', name: 'd', cost: 1, agent: 'ac', mode: 'direct' },
      ],
    });
    expect(c.specs.map(usesDispatchWorktree)).toEqual([true, false, false, false]);
  });
});

describe('agentCommand: Codex', () => {
  it('exact argv with the defaults: effort by cost, JSON events, prompt on stdin', async () => {
    const c = await configOf({ specs: [1, 2, 3, 4].map((cost) => ({ id: `00${cost}`, name: 'a', cost, agent: 'codex' })) });
    const cmd = agentCommand(c, spec(c, '001'), PATHS);
    expect(cmd).toEqual({
      argv: ['codex', 'exec', '-s', 'workspace-write', '-m', 'gpt-5.3-codex', '-c', 'model_reasoning_effort=low', '--json', '-o', `/work/proj/.codex/runs/001${sep}last-message.md`, '-'],
      cwd: '/work/wt/001',
      env: {},
      promptOnStdin: true,
      events: expect.any(Function),
    });
    expect(['002', '003', '004'].map((id) => agentCommand(c, spec(c, id), PATHS).argv[7])).toEqual([
      'model_reasoning_effort=medium',
      'model_reasoning_effort=high',
      'model_reasoning_effort=xhigh',
    ]);
  });

  it('configured bin (~ expanded), model, sandbox, effort, extra args and env', async () => {
    const c = await configOf({
      agents: { codex: { bin: '~/bin/codex', model: 'm1', sandbox: 'read-only', effort: { 2: 'minimal' }, extraArgs: ['--profile', 'x;y'], env: { K: 'v' } } },
      specs: [{ id: '001', name: 'a', cost: 2, agent: 'codex' }],
    });
    expect(agentCommand(c, c.specs[0]!, PATHS)).toEqual({
      argv: [join(HOME, 'bin', 'codex'), 'exec', '-s', 'read-only', '-m', 'm1', '-c', 'model_reasoning_effort=minimal', '--json', '-o', `/work/proj/.codex/runs/001${sep}last-message.md`, '--profile', 'x;y', '-'],
      cwd: '/work/wt/001',
      env: { K: 'v' },
      promptOnStdin: true,
      events: expect.any(Function),
    });
  });
});

describe('agentCommand: Auto-Claude run.py', () => {
  it('exact argv: the exact spec folder, the project, isolated or direct, --force, extra args; stdin closed', async () => {
    const c = await configOf({
      agents: { ac: { python: '~/venv/bin/python', dir: '/opt/Auto-Claude', extraArgs: ['--model', 'opus'], env: { A: '1' } } },
      specs: [
        { id: '001', name: 'alpha', cost: 1, agent: 'ac', mode: 'isolated' },
        { id: '002', name: 'beta', cost: 1, agent: 'ac', mode: 'direct' },
      ],
    });
    const isolated = agentCommand(c, spec(c, '001'), PATHS);
    expect(isolated).toEqual({
      argv: [join(HOME, 'venv', 'bin', 'python'), join('/opt/Auto-Claude', 'apps', 'backend', 'run.py'), '--spec', '001-alpha', '--project-dir', '/work/proj', '--auto-continue', '--isolated', '--force', '--model', 'opus'],
      cwd: '/work/proj',
      env: { A: '1' },
      promptOnStdin: false,
    });
    expect(agentCommand(c, spec(c, '002'), { ...PATHS, specDir: '/work/proj/.auto-claude/specs/002-beta' }).argv.slice(2)).toEqual([
      '--spec', '002-beta', '--project-dir', '/work/proj', '--auto-continue', '--direct', '--force', '--model', 'opus',
    ]);
  });

  it('force: false leaves --force out', async () => {
    const c = await configOf({ agents: { ac: { dir: '/ac', force: false } }, specs: [{ id: '001', name: 'alpha', cost: 1, agent: 'ac' }] });
    expect(agentCommand(c, c.specs[0]!, PATHS).argv).toEqual(['python3', '/ac/apps/backend/run.py', '--spec', '001-alpha', '--project-dir', '/work/proj', '--auto-continue', '--direct']);
  });
});

describe('agentCommand: custom agents', () => {
  const agents = {
    mine: {
      command: ['my-agent', '--id={id}', '{name}', '{specDir}', '{specFile}', '{planFile}', '{promptFile}', '{model}', '{effort}', '{cwd}', '{project}', '#{attempt}', '{constructor}', '{nope}', '{ id }'],
      model: 'big-1',
      env: { X: 'y' },
      codexEvents: true,
    },
    quiet: { command: ['q', '[{model}]', '{id}{id}'], prompt: 'none' },
  };
  it('every placeholder filled inside its argument, unknown ones and {constructor} left as written', async () => {
    const c = await configOf({
      agents: { ...agents, codex: { effort: { 3: 'minimal' } } },
      specs: [{ id: '001', name: `it's $(x); y`, cost: 3, agent: 'mine' }],
    });
    expect(agentCommand(c, c.specs[0]!, PATHS, 3)).toEqual({
      argv: [
        'my-agent', '--id=001', `it's $(x); y`, PATHS.specDir, PATHS.specFile, PATHS.planFile, join(PATHS.runDir, 'prompt.md'), 'big-1', 'minimal', PATHS.cwd, 'proj', '#3',
        '{constructor}', '{nope}', '{ id }',
      ],
      cwd: '/work/wt/001',
      env: { X: 'y' },
      promptOnStdin: true,
      events: expect.any(Function),
    });
    // The attempt defaults to 1.
    expect(agentCommand(c, c.specs[0]!, PATHS).argv[11]).toBe('#1');
  });

  it('no model: {model} is empty; prompt none: stdin closed; codexEvents off by default', async () => {
    const c = await configOf({ agents, specs: [{ id: '001', name: 'a', cost: 1, agent: 'quiet' }] });
    expect(agentCommand(c, c.specs[0]!, PATHS)).toEqual({ argv: ['q', '[]', '001001'], cwd: '/work/wt/001', env: {}, promptOnStdin: false });
  });

  it('an agent that is not defined (even one named like an Object property) is a config error saying how to add it', async () => {
    const c = await configOf({ agents, specs: [{ id: '001', name: 'a', cost: 1, agent: 'mine' }] });
    for (const agent of ['ghost', 'constructor', 'toString']) {
      const s: ResolvedSpec = { ...c.specs[0]!, agent };
      let err: unknown;
      try {
        agentCommand(c, s, PATHS);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toBe(`spec 001: agent "${agent}" is not defined`);
      expect((err as ConfigError).hint).toBe(`use 'codex', 'ac', 'claude' or add agents.${agent} = { command: [...] } to the config`);
    }
  });
});

describe('modelOf (the model a report prices)', () => {
  it('Codex: -m / --model / --model= in extra args win (the last one), else the configured model', async () => {
    const codex = async (extraArgs: string[]) =>
      modelOf(await configOf({ agents: { codex: { model: 'cfg', extraArgs } }, specs: [] }), { agent: 'codex' });
    expect(await codex([])).toBe('cfg');
    expect(await codex(['-m', 'a'])).toBe('a');
    expect(await codex(['--model', 'b'])).toBe('b');
    expect(await codex(['--model=c'])).toBe('c');
    expect(await codex(['x', '-m', 'y', '--profile', 'p'])).toBe('y');
    expect(await codex(['-m', 'a', '--model=b'])).toBe('b');
    expect(await codex(['--model=b', '--model', 'a'])).toBe('a');
    // A flag with no value after it names nothing.
    expect(await codex(['-m'])).toBe('cfg');
    expect(await codex(['--profile', '-m'])).toBe('cfg');
    expect(await codex(['-m', 'a', '-m'])).toBe('a');
    expect(await codex(['x-model=1', 'y--model', '2'])).toBe('cfg');
  });

  it('Auto-Claude: only what its extra args say; custom: its model; unknown: nothing', async () => {
    const c = await configOf({ agents: { ac: { extraArgs: ['--model', 'opus'] }, mine: { command: ['x'], model: 'big' }, bare: { command: ['x'] } }, specs: [] });
    expect(modelOf(c, { agent: 'ac' })).toBe('opus');
    expect(modelOf(await configOf({ specs: [] }), { agent: 'ac' })).toBeUndefined();
    expect(modelOf(c, { agent: 'mine' })).toBe('big');
    expect(modelOf(c, { agent: 'bare' })).toBeUndefined();
    expect(modelOf(c, { agent: 'ghost' })).toBeUndefined();
    expect(modelOf(c, { agent: 'constructor' })).toBeUndefined();
  });
});

describe('placeholderValues and fillPlaceholders', () => {
  it('the values verify commands get: model empty unless given', async () => {
    const c = await configOf({ specs: [{ id: '007', name: 'n', cost: 4, agent: 'codex', title: 'T' }] });
    expect(placeholderValues(c, c.specs[0]!, PATHS, 2)).toEqual({
      id: '007', name: 'n', specDir: PATHS.specDir, specFile: PATHS.specFile, planFile: PATHS.planFile, promptFile: join(PATHS.runDir, 'prompt.md'),
      model: '', effort: 'xhigh', cwd: PATHS.cwd, project: 'proj', attempt: '2',
    });
    expect(placeholderValues(c, c.specs[0]!, PATHS, 1, 'm').model).toBe('m');
  });

  it('substitutes inside each argument and never re-splits', () => {
    expect(fillPlaceholders(['a {x} b', '{x}{y}', '{__proto__}', '{z}', '{}'], { x: '1 2', y: '$(y)' })).toEqual(['a 1 2 b', '1 2$(y)', '{__proto__}', '{z}', '{}']);
  });
});

describe('buildPrompt', () => {
  it('the spec under its title (else name), then the plan when there is one', async () => {
    const c = await configOf({ specs: [{ id: '001', name: 'alpha', cost: 1, agent: 'codex' }, { id: '002', name: 'beta', cost: 1, agent: 'codex', title: 'Beta work' }] });
    expect(buildPrompt(spec(c, '001'), '\n  do it  \n\n', undefined)).toBe('# Spec 001: alpha\n\ndo it\n');
    expect(buildPrompt(spec(c, '002'), 'do it', ' \n ')).toBe('# Spec 002: Beta work\n\ndo it\n');
    expect(buildPrompt(spec(c, '002'), 'do it', '\n1. step\n')).toBe(
      '# Spec 002: Beta work\n\ndo it\n\n---\n\n# Implementation plan (made before you started; verify it as you go)\n\n1. step\n',
    );
  });
});

// -------------------------------------------------------------------- tmux ----

describe('tmux quoting', () => {
  it('formatLiteral doubles each # run except one before [ (a style)', () => {
    expect(formatLiteral('plain')).toBe('plain');
    expect(formatLiteral('#(touch pwned)')).toBe('##(touch pwned)');
    expect(formatLiteral('#{session_name} ## x#')).toBe('##{session_name} #### x##');
    expect(formatLiteral('#[fg=red]')).toBe('#[fg=red]');
    expect(formatLiteral('a##[b #[c')).toBe('a##[b #[c');
    expect(formatLiteral('x#[')).toBe('x#[');
    expect(formatLiteral('[#x')).toBe('[##x');
  });

  it('tmuxArg escapes only a trailing ;', () => {
    expect(tmuxArg('ab;')).toBe('ab\\;');
    expect(tmuxArg(';')).toBe('\\;');
    expect(tmuxArg(';ab')).toBe(';ab');
    expect(tmuxArg('a;b')).toBe('a;b');
    expect(tmuxArg('')).toBe('');
  });

  it('tmuxSessionName rewrites what tmux would, and keeps the rest', () => {
    expect(tmuxSessionName('a.b:c\\d$e\x01f\x1fg\x7fh #{x};')).toBe('a_b_c_d_e_f_g_h #{x};');
  });

  it('hasSessionArgv asks for the exact session, on its socket', () => {
    expect(hasSessionArgv('a.b;')).toEqual(['tmux', 'has-session', '-t', '=a_b\\;']);
    expect(hasSessionArgv('s', 'sock', '/x/tmux')).toEqual(['/x/tmux', '-L', 'sock', 'has-session', '-t', '=s']);
  });
});

const SOCKET = `dispatch-mut-cmd-${process.pid}`;
const realTmux = (...args: string[]) => spawnSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
const cfgStub = { stateDir: '/nonexistent-state' } as ResolvedConfig;

describe('tmux executor (real tmux, private socket)', () => {
  afterAll(() => {
    // Only our private server: never the user's.
    realTmux('kill-server');
  });

  it('the exact commands: open, attach to a pane or to the session', () => {
    const mux = tmuxMux('s.1', { socket: 'sk', rootDir: '/r', bin: '/b/tmux', config: cfgStub });
    expect(mux.kind).toBe('tmux');
    expect(mux.session).toBe('s_1');
    expect(mux.openCommands({ name: 'w #{x};', cwd: '/c ##', argv: [NODE, 'a;', '#(x)'] })).toEqual([
      ['/b/tmux', '-L', 'sk', 'new-window', '-d', '-t', '=s_1:', '-n', 'w ##{x}\\;', '-c', '/c ####', '-P', '-F', '#{pane_id}', '--', NODE, 'a\\;', '#(x)'],
    ]);
    expect(mux.attach('001', runner('%12'))).toEqual({
      argv: ['/b/tmux', '-L', 'sk', 'select-window', '-t', '%12', '\\;', 'select-pane', '-t', '%12', '\\;', 'attach-session', '-t', '%12'],
    });
    expect(mux.attach('001', runner())).toEqual({ argv: ['/b/tmux', '-L', 'sk', 'attach-session', '-t', '=s_1'] });
    expect(mux.attach('001', runner('terminal_1'))).toEqual({ argv: ['/b/tmux', '-L', 'sk', 'attach-session', '-t', '=s_1'] });
    const plain = tmuxMux('s', { rootDir: '/r', config: cfgStub });
    expect(plain.openCommands({ name: 'n', cwd: '/c', argv: ['x'] })[0]!.slice(0, 4)).toEqual(['tmux', 'new-window', '-d', '-t']);
  });

  it('creates the session detached once, opens windows whose names, folders and words arrive literally', async () => {
    const hostile = '#(touch pwned) #{session_name} ## #[fg=red];';
    const root = join(tempDir('mutcmd-root-'), `r ${hostile}`);
    const cwd = join(tempDir('mutcmd-cwd-'), `c ${hostile}`);
    mkdirSync(root, { recursive: true });
    mkdirSync(cwd, { recursive: true });
    const out = join(tempDir('mutcmd-out-'), 'argv.json');
    const mux = tmuxMux(`s ${hostile}`, { socket: SOCKET, rootDir: root, config: cfgStub });
    expect(await mux.probe()).toEqual({ installed: true, running: false });
    const created = await mux.ensureSession(true);
    expect(created).toEqual({ created: true, commands: [['tmux', '-L', SOCKET, 'new-session', '-d', '-s', formatLiteral(mux.session), '-c', formatLiteral(root)].map(tmuxArg)] });
    expect(await mux.probe()).toEqual({ installed: true, running: true });
    expect(await mux.ensureSession(true)).toEqual({ created: false, commands: [] });
    expect(realTmux('display-message', '-p', '-t', `=${mux.session}:`, '#{session_name}|#{session_path}').stdout).toBe(`${mux.session}|${root}\n`);

    const words = [hostile, 'ends;', ';', '#{pane_id}'];
    // Written whole, then moved into place: the test never reads a half-written file.
    const script = `const fs = require('fs'); fs.writeFileSync(process.argv[1] + '.tmp', JSON.stringify({ argv: process.argv.slice(2), cwd: process.cwd() })); fs.renameSync(process.argv[1] + '.tmp', process.argv[1])`;
    const name = `w ${hostile}`;
    const pane = await mux.open({ name, cwd, argv: [NODE, '-e', script, out, ...words] });
    expect(pane).toMatch(/^%\d+$/);
    // Generous: a node starting in a pane on a loaded machine.
    for (let i = 0; i < 1000 && !existsSync(out); i++) await new Promise((r) => setTimeout(r, 10));
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual({ argv: words, cwd });
    expect(existsSync(join(process.cwd(), 'pwned'))).toBe(false);
  });

  it('a window in a session that is gone: the error says which window and what tmux said', async () => {
    const mux = tmuxMux(`gone-${process.pid}`, { socket: SOCKET, rootDir: tmpdir(), config: cfgStub });
    realTmux('new-session', '-d', '-s', 'keepalive');
    await expect(mux.open({ name: 'demo-001', cwd: tmpdir(), argv: [NODE, '-e', '0'] })).rejects.toThrow(
      new DispatchError(`tmux could not open window demo-001: can't find session: gone-${process.pid}`),
    );
  });

  it('tmux missing or not runnable: not installed, worded as doctor words it', async () => {
    const dir = tempDir('mutcmd-bin-');
    const missing = tmuxMux('s', { rootDir: '/', bin: join(dir, 'tmux'), config: cfgStub });
    const fix = 'install tmux (apt-get install -y tmux), or use --mux headless';
    expect(await missing.probe()).toEqual({ installed: false, detail: `${join(dir, 'tmux')} is not installed`, fix });
    const err = await missing.ensureSession(true).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DispatchError);
    expect(err).toMatchObject({ message: `${join(dir, 'tmux')} is not installed`, hint: fix });
    writeFileSync(join(dir, 'noexec'), 'x');
    chmodSync(join(dir, 'noexec'), 0o644);
    const p = await tmuxMux('s', { rootDir: '/', bin: join(dir, 'noexec'), config: cfgStub }).probe();
    expect(p).toMatchObject({ installed: false, fix });
    expect((p as { detail: string }).detail).toMatch(new RegExp(`^cannot run ${join(dir, 'noexec')}: .*EACCES`));
  });

  it('a session that cannot be created, a window that cannot be opened: their messages', async () => {
    const dir = tempDir('mutcmd-bin-');
    const mux = (script: string) => tmuxMux('s', { rootDir: '/', bin: fakeBin(dir, `t${Math.random().toString(36).slice(2)}`, script), config: cfgStub });
    const req = { name: 'demo-001', cwd: '/', argv: ['x'] as Argv };
    await expect(mux('[ "$1" = has-session ] && exit 1; echo "  no server  " >&2; exit 1').ensureSession(true)).rejects.toThrow("could not create tmux session 's': no server");
    await expect(mux('[ "$1" = has-session ] && exit 1; echo " on stdout "; exit 1').ensureSession(true)).rejects.toThrow("could not create tmux session 's': on stdout");
    await expect(mux('exit 3').open(req)).rejects.toThrow(new DispatchError('tmux could not open window demo-001: exit 3'));
    await expect(mux('echo " out "; exit 1').open(req)).rejects.toThrow(new DispatchError('tmux could not open window demo-001: out'));
    await expect(mux('echo out; echo " err " >&2; exit 1').open(req)).rejects.toThrow(new DispatchError('tmux could not open window demo-001: err'));
    expect(await mux('echo " %7 "').open(req)).toBe('%7');
    expect(await mux('exit 0').open(req)).toBe('demo-001');
  });
});

// ------------------------------------------------------------------ zellij ----

const ZBIN = join(ROOT, 'test', 'fixtures', 'bin', 'zellij');

describe('zellij executor (the 0.45 stand-in)', () => {
  let saved: string | undefined;
  let zdir = '';
  beforeAll(() => {
    saved = process.env.ZELLIJ_STANDIN_DIR;
  });
  beforeEach(() => {
    // A fresh stand-in world for each test: its sessions and calls, seen by this file only.
    zdir = tempDir('mutcmd-zellij-');
    process.env.ZELLIJ_STANDIN_DIR = zdir;
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.ZELLIJ_STANDIN_DIR;
    else process.env.ZELLIJ_STANDIN_DIR = saved;
  });
  const z = (...args: string[]) => spawnSync(ZBIN, args, { encoding: 'utf8', env: { ...process.env, ZELLIJ_STANDIN_DIR: zdir } });
  const calls = (): string[][] => (existsSync(join(zdir, 'calls.jsonl')) ? readFileSync(join(zdir, 'calls.jsonl'), 'utf8') : '').split('\n').filter(Boolean).map((l) => JSON.parse(l).argv);

  it('the exact commands, with values starting with "-" attached by =', () => {
    const mux = zellijMux('demo', 'zellij', cfgStub);
    expect(mux.kind).toBe('zellij');
    expect(mux.session).toBe('demo');
    expect(mux.openCommands({ name: 'demo-001', cwd: '/w', argv: [NODE, '-x', '--'] })).toEqual([
      ['zellij', '--session', 'demo', 'run', '--name', 'demo-001', '--close-on-exit', '--cwd', '/w', '--', NODE, '-x', '--'],
    ]);
    expect(zellijMux('-s x', 'zellij', cfgStub).openCommands({ name: '-p-001', cwd: '-dir', argv: ['a'] })).toEqual([
      ['zellij', '--session=-s x', 'run', '--name=-p-001', '--close-on-exit', '--cwd=-dir', '--', 'a'],
    ]);
    expect(mux.attach('001', runner('terminal_1'))).toEqual({ argv: ['zellij', 'attach', 'demo'] });
    expect(zellijMux('-x', 'zellij', cfgStub).attach('001', runner())).toEqual({ argv: ['zellij', 'attach', '--', '-x'] });
  });

  it('a missing session: not running, and the hint says how to start or open it', async () => {
    const start = (s: string) => zellijMux(s, ZBIN, cfgStub).probe();
    expect(await start('demo')).toEqual({
      installed: true,
      running: false,
      startHint: `start it with '${ZBIN} attach demo --create-background' (or open it: '${ZBIN} -s demo'), or pass --create-session`,
    });
    expect(await start('-x')).toMatchObject({ startHint: `start it with '${ZBIN} attach --create-background -- -x' (or open it: '${ZBIN} --session=-x'), or pass --create-session` });
    expect(await start('options')).toMatchObject({ startHint: `start it with '${ZBIN} attach --create-background -- options' (or open it: '${ZBIN} -s options'), or pass --create-session` });
    expect(await start('help')).toMatchObject({ startHint: `start it with '${ZBIN} attach --create-background -- help' (or open it: '${ZBIN} -s help'), or pass --create-session` });
    const err = await zellijMux('demo', ZBIN, cfgStub).ensureSession(false).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DispatchError);
    expect(err).toMatchObject({ message: "zellij session 'demo' is not running", hint: `start it with '${ZBIN} attach demo --create-background' (or open it: '${ZBIN} -s demo'), or pass --create-session` });
  });

  it('creates the session when asked, finds it running after, and opens panes in it', async () => {
    for (const session of ['EXITED-demo', '-s x']) {
      const mux = zellijMux(session, ZBIN, cfgStub);
      const before = calls().length;
      const created = await mux.ensureSession(true);
      const createCmd = session.startsWith('-') ? [ZBIN, 'attach', '--create-background', '--', session] : [ZBIN, 'attach', session, '--create-background'];
      expect(created, session).toEqual({ created: true, commands: [createCmd] });
      expect(calls().slice(before), session).toEqual([['list-sessions', '-n'], createCmd.slice(1)]);
      expect(await mux.probe(), session).toMatchObject({ installed: true, running: true });
      expect(await mux.ensureSession(true)).toEqual({ created: false, commands: [] });
      const pane = await mux.open({ name: `${session}-001`, cwd: tmpdir(), argv: [NODE, '-e', '0'] });
      expect(pane, session).toBe('terminal_1');
    }
  });

  it('an exited session, or one whose name only starts the same, is not running', async () => {
    z('attach', 'work2', '--create-background');
    z('attach', 'work', '--create-background');
    z('kill-session', 'work');
    expect(await zellijMux('work', ZBIN, cfgStub).probe()).toMatchObject({ running: false });
    expect(await zellijMux('work2', ZBIN, cfgStub).probe()).toMatchObject({ running: true });
    expect(await zellijMux('wor', ZBIN, cfgStub).probe()).toMatchObject({ running: false });
  });

  it('a pane in a session that is gone: the error quotes zellij', async () => {
    z('attach', 'other', '--create-background');
    const err = await zellijMux('nope', ZBIN, cfgStub).open({ name: 'nope-001', cwd: tmpdir(), argv: [NODE] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DispatchError);
    expect((err as Error).message).toMatch(/^zellij could not open pane nope-001: Session 'nope' not found\. The following sessions are active:\nother$/);
  });

  it('zellij missing or not runnable', async () => {
    const dir = tempDir('mutcmd-bin-');
    const fix = 'install zellij, or use --mux tmux / --mux headless';
    const missing = zellijMux('s', join(dir, 'zellij'), cfgStub);
    expect(await missing.probe()).toEqual({ installed: false, detail: `${join(dir, 'zellij')} is not installed`, fix });
    await expect(missing.ensureSession(true)).rejects.toMatchObject({ message: `${join(dir, 'zellij')} is not installed`, hint: fix });
    writeFileSync(join(dir, 'noexec'), 'x');
    chmodSync(join(dir, 'noexec'), 0o644);
    const p = await zellijMux('s', join(dir, 'noexec'), cfgStub).probe();
    expect(p).toMatchObject({ installed: false, fix });
    expect((p as { detail: string }).detail).toMatch(new RegExp(`^cannot run ${join(dir, 'noexec')}: .*EACCES`));
  });

  it('colored list output, failed creation and odd pane output (a scripted zellij)', async () => {
    const dir = tempDir('mutcmd-zbin-');
    let n = 0;
    const mux = (session: string, script: string) => zellijMux(session, fakeBin(dir, `z${++n}`, script), cfgStub);
    const ls = 'printf "\\033[32;1mdemo\\033[m [Created \\033[35;1m3s\\033[m ago] \\nother [Created 1s ago] \\n"';
    expect(await mux('demo', `[ "$1" = list-sessions ] && ${ls}; exit 0`).probe()).toMatchObject({ running: true });
    expect(await mux('other', `[ "$1" = list-sessions ] && ${ls}; exit 0`).probe()).toMatchObject({ running: true });
    const notRunning = '[ "$1" = list-sessions ] && exit 1;';
    // Another dispatch created it meanwhile: fine.
    expect(await mux('demo', `${notRunning} echo "Session already exists" >&2; exit 1`).ensureSession(true)).toEqual({ created: true, commands: [[join(dir, `z${n}`), 'attach', 'demo', '--create-background']] });
    await expect(mux('demo', `${notRunning} printf " \\033[31mbroken\\033[0m \\n" >&2; exit 1`).ensureSession(true)).rejects.toThrow(new DispatchError("could not create zellij session 'demo': broken"));
    await expect(mux('demo', `${notRunning} echo " on stdout "; exit 1`).ensureSession(true)).rejects.toThrow(new DispatchError("could not create zellij session 'demo': on stdout"));
    await expect(mux('demo', `${notRunning} exit 4`).ensureSession(true)).rejects.toThrow(new DispatchError("could not create zellij session 'demo': exit 4"));
    const req = { name: 'demo-001', cwd: '/', argv: ['x'] as Argv };
    await expect(mux('demo', 'exit 5').open(req)).rejects.toThrow(new DispatchError('zellij could not open pane demo-001: exit 5'));
    await expect(mux('demo', 'echo " out "; exit 1').open(req)).rejects.toThrow(new DispatchError('zellij could not open pane demo-001: out'));
    await expect(mux('demo', 'echo out; printf "\\033[1m err \\033[m\\n" >&2; exit 1').open(req)).rejects.toThrow(new DispatchError('zellij could not open pane demo-001: err'));
    expect(await mux('demo', 'echo opened').open(req)).toBe('demo-001');
    expect(await mux('demo', 'echo "pane terminal_42 ready"').open(req)).toBe('terminal_42');
  });
});

// --------------------------------------------------------------------- ssh ----

describe('ssh command lines', () => {
  // Connections are shared per user: the folder is named by the uid. As a user other than root (uid 0),
  // whose folder an earlier run left behind.
  const UID = 4242;
  const controlDir = join(tmpdir(), `dispatch-ssh-${UID}`);
  let made = false;
  beforeAll(() => {
    vi.spyOn(process, 'getuid').mockReturnValue(UID);
    if (!existsSync(controlDir)) {
      mkdirSync(controlDir, { mode: 0o700 });
      made = true;
    }
  });
  afterAll(() => {
    vi.restoreAllMocks();
    if (made) rmSync(controlDir, { recursive: true, force: true });
  });
  const host = (cfg: Partial<SshHost['cfg']> = {}, name = 'h'): SshHost => ({ name, cfg: { host: 'build1', slots: 1, dir: '/srv/p', dispatch: 'dispatch', options: [], ...cfg } });
  const BASE = [
    '-o', 'BatchMode=yes',
    '-o', 'ControlMaster=auto',
    '-o', `ControlPath=${join(controlDir, '%C')}`,
    '-o', 'ControlPersist=60',
    '-o', 'ConnectTimeout=10',
    '-o', 'ServerAliveInterval=5',
    '-o', 'ServerAliveCountMax=2',
  ];

  it('options: batch mode, one shared connection in a private folder, port, key, extra options, tty', () => {
    expect(sshOptions(host())).toEqual([...BASE, '-T']);
    expect(statSync(controlDir).mode & 0o777).toBe(0o700);
    expect(sshOptions(host({ port: 2222, identityFile: '~/.ssh/id', options: ['UserKnownHostsFile=/k', 'Compression=yes'] }), { tty: true })).toEqual([
      ...BASE, '-p', '2222', '-i', join(HOME, '.ssh', 'id'), '-o', 'UserKnownHostsFile=/k', '-o', 'Compression=yes', '-t',
    ]);
    expect(sshOptions(host({ identityFile: '~' }))).toEqual([...BASE, '-i', HOME, '-T']);
    expect(sshOptions(host({ identityFile: '/k/~/id' }))).toEqual([...BASE, '-i', '/k/~/id', '-T']);
    expect(sshOptions(host({ identityFile: 'x~/id' }))).toEqual([...BASE, '-i', 'x~/id', '-T']);
  });

  it('sshArgv: ssh [options] -- host <one quoted command>', () => {
    expect(sshArgv(host({ port: 22 }), ['tmux', '-L', 'dispatch', 'new-session', "it's", '', '~/p'])).toEqual([
      'ssh', ...BASE, '-p', '22', '-T', '--', 'build1', `tmux -L dispatch new-session 'it'\\''s' '' "$HOME"/p`,
    ]);
    expect(sshArgv(host(), ['x'], { tty: true }).slice(-4)).toEqual(['-t', '--', 'build1', 'x']);
  });

  it('the host pool, the remote dispatch command, folders and labels', async () => {
    const none = await configOf({ specs: [] });
    expect(hostsOf(none)).toEqual([]);
    expect(() => sshConfigOf(none)).toThrow(new Error('no SSH executor configured'));
    const c = await configOf({ specs: [], executor: { kind: 'ssh', hosts: [{ host: 'b1', dir: '/srv/p//' }, { host: 'dev@b2', port: 2222, dir: '~/p', dispatch: ['node', '/opt/d.js'] }] } });
    const hosts = hostsOf(c);
    expect(hosts.map((h) => h.name)).toEqual(['b1', 'dev@b2:2222']);
    expect(hosts[1]!.cfg).toMatchObject({ host: 'dev@b2', port: 2222 });
    expect(sshConfigOf(c)).toBe(c.executor);
    expect(remoteDispatch(hosts[0]!)).toEqual(['dispatch']);
    expect(remoteDispatch(hosts[1]!)).toEqual(['node', '/opt/d.js']);
    // Per checkout: the project's name and a key of this machine and the project's folder.
    const key = /^\/srv\/p\/\.dispatch\/proj-([0-9a-f]{10})$/.exec(remoteBase(c, hosts[0]!))?.[1];
    expect(key).toBeDefined();
    expect(remoteBase(c, hosts[1]!)).toBe(`~/p/.dispatch/proj-${key}`);
    expect(remoteBase(c, host({ dir: '/a/b' }))).toBe(`/a/b/.dispatch/proj-${key}`);
    expect(remoteBase({ ...c, rootDir: '/elsewhere' }, hosts[0]!)).not.toBe(remoteBase(c, hosts[0]!));
    expect(legacyBase(c, hosts[0]!)).toBe('/srv/p/.dispatch/proj');
    expect(runLabel(c, '001', 2)).toBe('proj-001-2');
    expect(sessionOf('p.x:y-001-1')).toBe('p_x_y-001-1');
  });

  it('quoteRemote: the empty word, plain words bare, the rest single-quoted', () => {
    expect(quoteRemote('')).toBe("''");
    expect(remoteCommand(['a', '', 'b c', '~'])).toBe(`a '' 'b c' "$HOME"`);
  });
});
