import { mkdtempSync, mkdirSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { afterAll } from 'vitest';

export const ROOT = resolve(__dirname, '..');
export const BIN = join(ROOT, 'dist', 'cli.js');

const made: string[] = [];
afterAll(() => {
  if (process.env.KEEP_TMP) return;
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A temp folder removed after the test file finishes. */
export function tempDir(prefix = 'dispatch-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

export interface SpecRowInput {
  id: string;
  name: string;
  wave?: number;
  cost?: number;
  agent?: string;
  mode?: string;
  dependsOn?: string[];
  title?: string;
  verify?: string[][];
  requireChanges?: boolean;
  runOn?: string;
}

/**
 * A project folder with a specs.config.ts (or other format), spec.md files
 * for each spec, and optionally a state file. Returns its path.
 */
export function makeProject(opts: {
  specs?: SpecRowInput[];
  extra?: Record<string, unknown>;
  state?: unknown;
  format?: 'ts' | 'mjs' | 'json' | 'plain-ts';
  configText?: string;
  dir?: string;
  writeSpecFiles?: boolean;
} = {}): string {
  const dir = opts.dir ?? tempDir();
  const specs = opts.specs ?? [
    { id: '001', name: 'alpha', wave: 0, cost: 1, agent: 'codex' },
    { id: '002', name: 'beta', cost: 2, agent: 'ac', dependsOn: ['001'] },
    { id: '003', name: 'gamma', cost: 3, agent: 'codex', mode: 'isolated', dependsOn: ['001'] },
  ];
  const body = { project: 'demo', signalDir: join(dir, 'signals'), ...opts.extra, specs: specs.map((s) => ({ cost: 1, agent: 'codex', ...s })) };
  const format = opts.format ?? 'ts';
  if (opts.configText !== undefined) {
    writeFileSync(join(dir, format === 'json' ? 'specs.config.json' : `specs.config.${format === 'mjs' ? 'mjs' : 'ts'}`), opts.configText);
  } else if (format === 'json') {
    writeFileSync(join(dir, 'specs.config.json'), JSON.stringify(body, null, 2));
  } else if (format === 'mjs') {
    writeFileSync(join(dir, 'specs.config.mjs'), `export default ${JSON.stringify(body, null, 2)};\n`);
  } else if (format === 'plain-ts') {
    writeFileSync(join(dir, 'specs.config.ts'), `const config = ${JSON.stringify(body, null, 2)};\nexport default config;\n`);
  } else {
    writeFileSync(join(dir, 'specs.config.ts'), `import { defineConfig } from 'dispatch';\n\nexport default defineConfig(${JSON.stringify(body, null, 2)});\n`);
  }
  if (opts.writeSpecFiles !== false) {
    for (const s of specs) {
      const f = join(dir, '.auto-claude', 'specs', `${s.id}-${s.name}`, 'spec.md');
      mkdirSync(dirname(f), { recursive: true });
      writeFileSync(f, `# ${s.id} ${s.name}\n\nBuild ${s.name}.\n`);
    }
  }
  if (opts.state !== undefined) {
    mkdirSync(join(dir, '.codex'), { recursive: true });
    writeFileSync(join(dir, '.codex', 'dispatch-state.json'), typeof opts.state === 'string' ? opts.state : JSON.stringify(opts.state));
  }
  return dir;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** What every test's dispatch sees over the process's environment: no colours, no debug, no user's Ollama or multiplexer. */
const TEST_ENV: Record<string, string | undefined> = { FORCE_COLOR: '0', NO_COLOR: '1', DISPATCH_DEBUG: undefined, OLLAMA_HOST: undefined, ZELLIJ: undefined, TMUX: undefined };

const baseEnv = () => {
  const env: Record<string, string | undefined> = { ...process.env, ...TEST_ENV };
  for (const k of Object.keys(TEST_ENV)) if (env[k] === undefined) delete env[k];
  return env as Record<string, string>;
};

/** Runs the built bin synchronously in `cwd`. */
export function dispatch(cwd: string, args: string[], opts: { env?: Record<string, string | undefined>; input?: string; timeout?: number } = {}): RunResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    env: { ...baseEnv(), ...opts.env } as NodeJS.ProcessEnv,
    input: opts.input ?? '',
    encoding: 'utf8',
    timeout: opts.timeout ?? 60_000,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Runs the built bin asynchronously (for concurrency tests). */
export function dispatchAsync(cwd: string, args: string[], opts: { env?: Record<string, string | undefined> } = {}): Promise<RunResult> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...baseEnv(), ...opts.env } as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code, signal) => res({ code, signal, stdout, stderr }));
  });
}

export function readJson(path: string): any {
  return JSON.parse(readFileSync(path, 'utf8'));
}

export function statePathOf(dir: string): string {
  return join(dir, '.codex', 'dispatch-state.json');
}

export function readStateOf(dir: string): any {
  const p = statePathOf(dir);
  return existsSync(p) ? readJson(p) : undefined;
}

/** A TCP port nothing listens on (taken, then released). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

/** Polls `ok` every 10 ms; fails after `ms`. */
export async function until(ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Runs one command in this process (src/program.ts's runCli), for tests of what no real
 * process is needed for: arguments, messages, exit codes, what the state file becomes.
 * The environment is the one `dispatch()` gives a child, set for the call and put back after.
 */
export async function dispatchIn(cwd: string, args: string[], opts: { env?: Record<string, string | undefined> } = {}): Promise<RunResult> {
  const { runCli } = await import('../src/program.js');
  const wanted: Record<string, string | undefined> = { ...TEST_ENV, ...opts.env };
  const before = Object.fromEntries(Object.keys(wanted).map((k) => [k, process.env[k]]));
  const set = (vars: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(vars)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  let stdout = '';
  let stderr = '';
  const text = (c: string | Uint8Array) => (typeof c === 'string' ? c : Buffer.from(c).toString('utf8'));
  set(wanted);
  try {
    const code = await runCli(args, { cwd, self: BIN, out: (c) => (stdout += text(c)), err: (c) => (stderr += text(c)) });
    return { code, signal: null, stdout, stderr };
  } finally {
    set(before);
  }
}
