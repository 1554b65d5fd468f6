// The one module that starts processes. Everything is an argument array:
// spec names, paths and config values never pass through a shell.
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import type { AgentGroup } from './group.js';
import { groupAlive, groupOf, signalGroup } from './group.js';
import { hasControl, visible } from '../util/visible.js';

export type Argv = [string, ...string[]];

export interface CaptureResult {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  /** Set when the executable could not be started (ENOENT...). */
  failedToStart?: string;
  /** It could not be started because there is no such executable (ENOENT): not installed, or not on PATH. */
  notFound?: boolean;
  /** Stopped at its timeout (with everything it started). */
  timedOut?: boolean;
  /** The signal that ended it, when it did not exit by itself. */
  signal?: NodeJS.Signals;
  /** stdout as bytes (asked with `raw`): a git bundle, a log. */
  stdoutRaw?: Buffer;
  /** stdout went past `wholeUpTo`: the command was stopped there, and stdout is only its beginning. */
  tooLarge?: boolean;
  /** stdout could not be written to `stdoutTo` (a full disk): the command was stopped. */
  writeError?: string;
}

/**
 * What a capture keeps of a stream by default: its first and last EDGE_BYTES, and a line saying how much was
 * cut between. A command may print gigabytes (a verbose test suite, a hostile host): dispatch's memory stays
 * bounded, and a verbose command that succeeds still succeeds.
 */
export const EDGE_BYTES = 256 * 1024;
/** How far from an edge a line end is looked for. */
const LINE_SLACK = 4096;

/** One stream's first and last `edge` bytes; what lies between is only counted. */
export class Edges {
  private head: Buffer[] = [];
  private headLen = 0;
  private tail: Buffer[] = [];
  private tailLen = 0;
  total = 0;
  constructor(private readonly edge = EDGE_BYTES) {}
  push(d: Buffer): void {
    this.total += d.length;
    if (this.headLen < this.edge) {
      const take = d.subarray(0, this.edge - this.headLen);
      this.head.push(take);
      this.headLen += take.length;
      d = d.subarray(take.length);
      if (!d.length) return;
    }
    this.tail.push(d);
    this.tailLen += d.length;
    while (this.tail.length > 1 && this.tailLen - this.tail[0]!.length >= this.edge) this.tailLen -= this.tail.shift()!.length;
  }
  bytes(): Buffer {
    const head = Buffer.concat(this.head);
    let tail = Buffer.concat(this.tail);
    if (head.length + tail.length === this.total) return Buffer.concat([head, tail]);
    tail = tail.subarray(tail.length - this.edge);
    // Cut at the nearest line end (one near the edge): the marker stands on a line of its own, no line is half kept.
    const nl = head.lastIndexOf(10);
    const headEnd = nl >= head.length - LINE_SLACK ? nl + 1 : head.length;
    const tnl = tail.indexOf(10);
    const tailStart = tnl >= 0 && tnl < LINE_SLACK ? tnl + 1 : 0;
    const cut = this.total - headEnd - (tail.length - tailStart);
    const marker = Buffer.from(`${head[headEnd - 1] === 10 ? '' : '\n'}[… ${sizeOf(cut)} cut by dispatch: the first and last ${sizeOf(this.edge)} are kept …]\n`);
    return Buffer.concat([head.subarray(0, headEnd), marker, tail.subarray(tailStart)]);
  }
}

/** A byte count in words: "600.0 MB", "12 KB". */
export function sizeOf(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${Math.ceil(n / 1024)} KB`;
}

/** How long output pipes may stay open after the command exits (a background child holding them). */
const PIPE_GRACE_MS = 200;
/** From SIGTERM to SIGKILL at a timeout. */
const KILL_AFTER_MS = 500;

/** Process groups of captures still running: stopped if dispatch exits first (Ctrl-C no longer reaches them). */
const running = new Set<AgentGroup>();
let exitHook = false;

/**
 * Runs a short command to completion and captures its output. Never throws on a non-zero exit.
 * The command runs in a process group of its own: at the timeout the whole group is stopped
 * (SIGTERM, then SIGKILL), and its exit is what counts, not pipes a background child keeps open.
 */
export interface CaptureOptions {
  cwd?: string;
  env?: Record<string, string>;
  input?: string | Buffer;
  /** Keep stdout's bytes as they are (`stdoutRaw`). */
  raw?: boolean;
  /**
   * stdout is parsed whole (a host's JSON answer): kept up to this many bytes instead of its edges. Past them
   * the command is stopped and `tooLarge` is set: an answer cut short is never taken for a whole one.
   */
  wholeUpTo?: number;
  /** stdout goes to this file as it comes, none of it kept in memory (a host's logs and bundles, whatever their size). */
  stdoutTo?: string;
  timeoutMs?: number;
  /** Stopped (as at a timeout) when it prints nothing for this long: a transfer of any size, from a peer that may hang. */
  idleTimeoutMs?: number;
  /** Each chunk of stdout and stderr as it arrives, interleaved as printed (a check's output shown live). */
  onData?: (chunk: Buffer) => void;
  /** Aborted: the command and everything it started are stopped, as at a timeout. */
  signal?: AbortSignal;
  /** Its process group, as soon as it exists (a runner records a check's group, so it is stopped if the runner dies). */
  onGroup?: (group: AgentGroup) => void;
}

export async function capture(argv: Argv, opts: CaptureOptions = {}): Promise<CaptureResult> {
  const { execa } = await import('execa');
  // 0: no timeout.
  const timeoutMs = opts.timeoutMs ?? 30_000;
  // Opened before the command starts (a file that cannot be made leaves nothing running). Written synchronously:
  // the pipe is read no faster than the disk takes it, so nothing piles up in memory.
  const fd = opts.stdoutTo === undefined ? undefined : openSync(opts.stdoutTo, 'w', 0o600);
  // execa starts it; the timeout, the group and the pipes are ours: execa would stop only the direct
  // child at a timeout, and wait for pipes a background grandchild may hold open for ever.
  const child = execa(argv[0], argv.slice(1), {
    cwd: opts.cwd,
    env: opts.env,
    detached: true,
    cleanup: false,
    buffer: false,
    reject: false,
    stdin: opts.input === undefined ? 'ignore' : 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  // Settled by our own finish below; its result (or a rejection from destroyed pipes) is not needed.
  child.catch(() => {});
  if (!child.pid) {
    if (fd !== undefined) closeSync(fd);
    const r = await child;
    const cause = r.cause as NodeJS.ErrnoException | undefined;
    return { exitCode: undefined, stdout: '', stderr: '', failedToStart: cause?.message ?? r.shortMessage ?? 'could not start', ...(cause?.code === 'ENOENT' ? { notFound: true } : {}) };
  }
  // Read at once, like an agent's: a command that exits at once is a zombie until the loop reaps it.
  const group = groupOf(child.pid);
  opts.onGroup?.(group);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const g of running) signalGroup(g, 'SIGTERM');
    });
  }
  const whole = opts.wholeUpTo;
  const out = whole === undefined && opts.stdoutTo === undefined ? new Edges() : undefined;
  const outWhole: Buffer[] = [];
  let outLen = 0;
  let tooLarge = false;
  let writeError: string | undefined;
  const err = new Edges();
  // Set once the promise below exists: an answer too large (or that cannot be kept) stops the command like a timeout.
  let stopEarly: (() => void) | undefined;
  const refuse = () => {
    child.stdout!.destroy();
    stopEarly?.();
  };
  // Set once the promise below exists: output pushes the idle deadline back.
  let stirred: (() => void) | undefined;
  child.stdout!.on('data', (d: Buffer) => {
    stirred?.();
    opts.onData?.(d);
    if (out) return out.push(d);
    if (tooLarge || writeError) return;
    if (fd !== undefined) {
      try {
        writeSync(fd, d);
      } catch (e) {
        writeError = (e as Error).message;
        refuse();
      }
      return;
    }
    if (outLen + d.length > whole!) {
      tooLarge = true;
      outWhole.push(d.subarray(0, whole! - outLen));
      outLen = whole!;
      return refuse();
    }
    outWhole.push(d);
    outLen += d.length;
  });
  child.stderr!.on('data', (d: Buffer) => {
    stirred?.();
    err.push(d);
    opts.onData?.(d);
  });
  if (opts.input !== undefined) {
    // It may exit before reading everything (EPIPE): its exit code says what happened.
    child.stdin!.on('error', () => {});
    child.stdin!.end(opts.input);
  }
  return new Promise<CaptureResult>((resolve) => {
    let timedOut = false;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const timers: NodeJS.Timeout[] = [];
    let idle: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (extra: Partial<CaptureResult> = {}) => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      if (idle) clearTimeout(idle);
      running.delete(group);
      // A background child may still hold the pipes: stop reading them, without waiting.
      child.stdout!.destroy();
      child.stderr!.destroy();
      child.stdin?.destroy();
      if (fd !== undefined) closeSync(fd);
      const stdout = out ? out.bytes() : Buffer.concat(outWhole);
      resolve({
        exitCode: exited?.code ?? undefined,
        stdout: opts.raw ? '' : stdout.toString('utf8'),
        ...(opts.raw ? { stdoutRaw: stdout } : {}),
        stderr: err.bytes().toString('utf8'),
        ...(timedOut ? { timedOut } : {}),
        ...(tooLarge ? { tooLarge } : {}),
        ...(writeError ? { writeError } : {}),
        ...(exited?.signal ? { signal: exited.signal } : {}),
        ...extra,
      });
    };
    // One turn of the event loop first: output already in the pipes is read before we stop reading.
    const finishSoon = () => void setImmediate(finish);
    running.add(group);
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      if (timedOut) return;
      // Done when its output is complete, or after a short grace if something else holds the pipes.
      running.delete(group);
      child.once('close', () => finish());
      timers.push(setTimeout(finishSoon, PIPE_GRACE_MS));
    });
    const stop = (why: 'timeout' | 'abort' | 'refused') => {
      if (exited || done) return;
      if (why === 'timeout') timedOut = true;
      signalGroup(group, 'SIGTERM');
      const deadline = Date.now() + KILL_AFTER_MS;
      const poll = () => {
        if (!groupAlive(group)) return finishSoon();
        if (Date.now() < deadline) return void timers.push(setTimeout(poll, 20));
        signalGroup(group, 'SIGKILL');
        // SIGKILL cannot be refused; a last moment for the kernel to reap.
        timers.push(setTimeout(finishSoon, 100));
      };
      poll();
    };
    stopEarly = () => stop('refused');
    if (timeoutMs > 0) timers.push(setTimeout(() => stop('timeout'), timeoutMs));
    if (opts.idleTimeoutMs) {
      const idleMs = opts.idleTimeoutMs;
      idle = setTimeout(() => stop('timeout'), idleMs);
      stirred = () => {
        if (done || exited || !idle) return;
        idle.refresh();
      };
    }
    if (opts.signal) {
      if (opts.signal.aborted) stop('abort');
      else opts.signal.addEventListener('abort', () => stop('abort'), { once: true });
    }
  });
}

/** Runs a command on this terminal (attach): it gets the keyboard and the screen; resolves with its exit code. */
export async function runInteractive(argv: Argv): Promise<{ exitCode: number | undefined; notFound?: boolean }> {
  const { spawn } = await import('node:child_process');
  const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit' });
  return new Promise((resolve) => {
    child.once('error', (err: NodeJS.ErrnoException) => resolve({ exitCode: undefined, ...(err.code === 'ENOENT' ? { notFound: true } : {}) }));
    child.once('exit', (code) => resolve({ exitCode: code ?? undefined }));
  });
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
export async function spawnAgent(argv: Argv, opts: { cwd: string; env: Record<string, string>; input?: string; onGroup?: (g: AgentGroup) => void }): Promise<{ child: ChildProcess; group?: AgentGroup }> {
  const { spawn } = await import('node:child_process');
  // Its own process group, so stopping it stops what it started too (a python agent's claude, a test server).
  const child = spawn(argv[0], argv.slice(1), { cwd: opts.cwd, env: opts.env, detached: true, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  // Its identity is read now, before anything yields to the event loop: even an agent that has
  // already exited is an unreaped zombie until then, and its start time is what tells its group
  // from a later process that reuses the number (pids wrap in seconds on a busy machine).
  const group = child.pid ? groupOf(child.pid) : undefined;
  // Told at once, still before any await: a runner killed a moment later must leave its agent findable.
  if (group) opts.onGroup?.(group);
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  if (opts.input !== undefined) {
    // The agent may exit before reading everything (EPIPE): its exit code says what happened.
    child.stdin!.on('error', () => {});
    child.stdin!.end(opts.input);
  }
  return { child, ...(group ? { group } : {}) };
}

/** For display only (dry-run, confirmations): quotes like a POSIX shell would need. Never executed. */
const quoted = new Map<string, string>();
// A control character is written as bash's $'...' escape: shown, not sent to the terminal, and still what the shell reads.
const quote = (a: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : hasControl(a) ? `$'${visible(a.replace(/[\\']/g, '\\$&'))}'` : `'${a.replace(/'/g, `'\\''`)}'`);
export function showArgv(argv: readonly string[]): string {
  let out = '';
  for (const a of argv) {
    // The runner's node, script and config path repeat in every line of a long dry run: quoted once.
    let q = quoted.get(a);
    if (q === undefined) {
      q = quote(a);
      if (quoted.size < 1000) quoted.set(a, q);
    }
    out += out ? ` ${q}` : q || "''";
  }
  return out;
}
