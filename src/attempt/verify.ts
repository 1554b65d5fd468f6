// Verify commands: "done" means an agent exited 0 AND its work passed the
// project's checks. Run after the agent, in its working folder, one by one;
// the first that fails decides the verdict (`verify-failed`).
import type { ResolvedConfig, ResolvedSpec } from '../config/types.js';
import { fillPlaceholders, placeholderValues, type AgentPaths } from '../agents/command.js';
import { capture, showArgv } from '../proc/launch.js';
import type { AgentGroup } from '../state/doc.js';

/** One check as it ran: kept in the attempt's evidence. */
export interface VerifyResult {
  argv: string[];
  exitCode?: number;
  signal?: string;
  timedOut?: boolean;
  /** It could not be started (no such program...). */
  error?: string;
  seconds: number;
  ok: boolean;
  /** The end of a failing check's output (what a retry's prompt shows the agent). */
  tail?: string;
}

export interface VerifyOutcome {
  ran: VerifyResult[];
  failed?: VerifyResult;
  /** One line: which check failed, how, and its last meaningful output line. */
  reason?: string;
}

/** The spec's own checks when it has them (`[]`: none), else the config's. */
export function verifyCommandsOf(config: Pick<ResolvedConfig, 'verify'>, spec: ResolvedSpec): string[][] {
  return spec.verify ?? config.verify;
}

/** Whether an attempt that changed nothing is `no-changes` for this spec. */
export function requireChangesOf(config: Pick<ResolvedConfig, 'requireChanges'>, spec: ResolvedSpec): boolean {
  return spec.requireChanges ?? config.requireChanges;
}

const TAIL_LINES = 30;
const TAIL_CHARS = 3000;

function tailOf(text: string): string {
  const lines = text.replace(/\r/g, '').trimEnd().split('\n').slice(-TAIL_LINES).join('\n');
  return lines.length > TAIL_CHARS ? lines.slice(-TAIL_CHARS) : lines;
}

/** How a check ended, in words: "exited 1", "timed out after 600 s", "could not start: …". */
export function endedAs(r: VerifyResult, timeoutSeconds: number): string {
  if (r.error) return `could not start: ${r.error}`;
  if (r.timedOut) return `timed out after ${timeoutSeconds} s`;
  if (r.signal) return `killed by ${r.signal}`;
  return r.exitCode === undefined ? 'was stopped' : `exited ${r.exitCode}`;
}

/**
 * Runs the checks in order, stopping at the first that fails. `say` gets the
 * markers and each check's output as it comes (the attempt's log and pane).
 */
export async function runVerify(
  config: ResolvedConfig,
  spec: ResolvedSpec,
  opts: { paths: AgentPaths; attempt: number; env?: Record<string, string>; signal?: AbortSignal; say: (text: string) => void; onGroup?: (group: AgentGroup) => void },
): Promise<VerifyOutcome> {
  const commands = verifyCommandsOf(config, spec);
  const values = placeholderValues(config, spec, opts.paths, opts.attempt);
  // The same environment whoever runs the checks (a run, `dispatch verify`, `merge --verify`).
  const env = { ...(process.env as Record<string, string>), ...opts.env, DISPATCH_SPEC_ID: spec.id, DISPATCH_PROJECT: config.project, DISPATCH_ATTEMPT: String(opts.attempt) };
  const ran: VerifyResult[] = [];
  for (const [i, command] of commands.entries()) {
    const argv = fillPlaceholders(command, values);
    const label = `verify ${i + 1} of ${commands.length}`;
    opts.say(`── dispatch: ${label}: ${showArgv(argv)}\n`);
    const started = Date.now();
    let output = '';
    const r = await capture(argv, {
      cwd: opts.paths.cwd,
      env,
      timeoutMs: config.verifyTimeoutSeconds * 1000,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.onGroup ? { onGroup: opts.onGroup } : {}),
      onData: (c) => {
        const t = c.toString('utf8');
        output += t;
        if (output.length > TAIL_CHARS * 4) output = output.slice(-TAIL_CHARS * 2);
        opts.say(t);
      },
    });
    const result: VerifyResult = {
      argv,
      seconds: Math.round((Date.now() - started) / 100) / 10,
      ok: r.exitCode === 0 && !r.timedOut && !r.failedToStart,
      ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
      ...(r.signal ? { signal: r.signal } : {}),
      ...(r.timedOut ? { timedOut: true } : {}),
      ...(r.failedToStart ? { error: r.notFound ? `'${argv[0]}' not found` : r.failedToStart } : {}),
    };
    if (output && !output.endsWith('\n')) opts.say('\n');
    if (result.ok) {
      opts.say(`── dispatch: ${label} passed (${result.seconds} s)\n`);
      ran.push(result);
      continue;
    }
    result.tail = tailOf(output);
    ran.push(result);
    const how = endedAs(result, config.verifyTimeoutSeconds);
    opts.say(`── dispatch: ${label} FAILED: ${how} (${result.seconds} s)\n`);
    const last = result.tail.split('\n').map((l) => l.trim()).filter(Boolean).at(-1);
    return { ran, failed: result, reason: `verify failed: \`${showArgv(argv)}\` ${how}${last ? `: ${last.slice(0, 200)}` : ''}` };
  }
  return { ran };
}
