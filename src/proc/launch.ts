// The one module that starts processes. Everything is an argument array:
// spec names, paths and config values never pass through a shell.
import type { ChildProcess } from 'node:child_process';

export type Argv = [string, ...string[]];

export interface CaptureResult {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  /** Set when the executable could not be started (ENOENT...). */
  failedToStart?: string;
}

/** Runs a short command to completion and captures its output. Never throws on a non-zero exit. */
export async function capture(argv: Argv, opts: { cwd?: string; env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): Promise<CaptureResult> {
  const { execa } = await import('execa');
  const r = await execa(argv[0], argv.slice(1), {
    cwd: opts.cwd,
    env: opts.env,
    reject: false,
    stdin: opts.input === undefined ? 'ignore' : undefined,
    input: opts.input,
    // 0: no timeout.
    timeout: opts.timeoutMs ?? 30_000,
    stripFinalNewline: false,
  });
  const failedToStart = r.failed && r.exitCode === undefined && !r.timedOut ? (r.cause as Error | undefined)?.message ?? r.shortMessage : undefined;
  return { exitCode: r.exitCode, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), failedToStart };
}

/** Starts a process that outlives dispatch (headless panes). Its output goes to nowhere: the runner keeps its own log. */
export async function spawnDetached(argv: Argv, opts: { cwd: string; env?: Record<string, string> }): Promise<number> {
  const { spawn } = await import('node:child_process');
  const child = spawn(argv[0], argv.slice(1), { cwd: opts.cwd, env: opts.env ?? process.env, detached: true, stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  child.unref();
  return child.pid!;
}

/** Starts an agent with piped output (the runner tees it). stdin: a prompt string, or nothing (/dev/null). */
export async function spawnAgent(argv: Argv, opts: { cwd: string; env: Record<string, string>; input?: string }): Promise<ChildProcess> {
  const { spawn } = await import('node:child_process');
  // Its own process group, so stopping it stops what it started too (a python agent's claude, a test server).
  const child = spawn(argv[0], argv.slice(1), { cwd: opts.cwd, env: opts.env, detached: true, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  if (opts.input !== undefined) {
    // The agent may exit before reading everything (EPIPE): its exit code says what happened.
    child.stdin!.on('error', () => {});
    child.stdin!.end(opts.input);
  }
  return child;
}

/** Signals an agent and everything in its process group (it was started in a group of its own). */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid) process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

/** For display only (dry-run, confirmations): quotes like a POSIX shell would need. Never executed. */
export function showArgv(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
