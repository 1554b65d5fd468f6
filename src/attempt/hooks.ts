// User hooks: argument arrays run with the event's details in DISPATCH_*
// variables. A hook that fails or hangs is reported, never fatal.
import type { ResolvedConfig } from '../config/types.js';
import type { HooksConfig } from '../config/schema.js';
import { warn } from '../errors.js';

export type HookName = Exclude<keyof HooksConfig, 'timeoutSeconds'>;

export interface HookResult {
  hook: HookName;
  ok: boolean;
  /** Why it failed: exit code, timeout, could not start. */
  error?: string;
}

/** The variables every spec event carries. */
export function specVars(id: string, spec?: { name: string; wave: number; agent: string }): Record<string, string | number | undefined> {
  return { SPEC_ID: id, SPEC_NAME: spec?.name, WAVE: spec?.wave, AGENT: spec?.agent };
}

export async function runHook(config: ResolvedConfig, hook: HookName, vars: Record<string, string | number | undefined>): Promise<HookResult | undefined> {
  const argv = config.hooks[hook];
  if (!argv?.length) return undefined;
  const env: Record<string, string> = { ...(process.env as Record<string, string>), DISPATCH_EVENT: hook, DISPATCH_PROJECT: config.project };
  for (const [k, v] of Object.entries(vars)) if (v !== undefined) env[`DISPATCH_${k}`] = String(v);
  const { capture } = await import('../proc/launch.js');
  try {
    const r = await capture(argv as [string, ...string[]], { cwd: config.rootDir, env, timeoutMs: config.hooks.timeoutSeconds * 1000 });
    if (r.failedToStart) return { hook, ok: false, error: `could not start '${argv[0]}': ${r.failedToStart}` };
    if (r.timedOut) return { hook, ok: false, error: `timed out after ${config.hooks.timeoutSeconds} s` };
    if (r.exitCode === undefined) return { hook, ok: false, error: `killed by ${r.signal ?? 'a signal'}` };
    if (r.exitCode !== 0) return { hook, ok: false, error: `exited with code ${r.exitCode}${r.stderr.trim() ? `: ${r.stderr.trim().split('\n').at(-1)}` : ''}` };
    return { hook, ok: true };
  } catch (err) {
    return { hook, ok: false, error: (err as Error).message };
  }
}

/** The hook a verdict runs: chosen here only. */
export const hookFor = (state: 'done' | 'failed' | 'rate-limited'): HookName => (state === 'done' ? 'onSpecDone' : state === 'failed' ? 'onSpecFailed' : 'onRateLimited');

type Announced = { state: 'done' | 'failed' | 'rate-limited'; kind: string; reason?: string | undefined };

/**
 * A recorded verdict's signal file, as the original tool wrote it (none for a rate limit: the spec is not
 * finished). Returns what went wrong, for the caller to say.
 */
export async function signalVerdict(config: ResolvedConfig, id: string, v: Announced): Promise<string | undefined> {
  if (v.state === 'rate-limited') return undefined;
  const { writeSignal } = await import('../state/signals.js');
  return writeSignal(config.signalDir, config.project, v.state, id, v.reason ? `${v.reason}\n` : '');
}

/** A recorded verdict's hook (the one `hookFor` names), with the verdict and `vars` in its environment. */
export function verdictHook(config: ResolvedConfig, id: string, v: Announced, vars: Record<string, string | number | undefined> = {}): Promise<HookResult | undefined> {
  const spec = config.specs.find((s) => s.id === id);
  return runHook(config, hookFor(v.state), { ...specVars(id, spec), STATE: v.state, KIND: v.kind, REASON: v.reason, ...vars });
}

/**
 * The signal file and the hook, for whoever records a verdict on a runner's behalf (a stop, a lost runner, a
 * failed launch, a collected remote run): a signal problem is warned, the hook's result returned.
 */
export async function announceVerdict(config: ResolvedConfig, id: string, v: Announced, vars: Record<string, string | number | undefined> = {}): Promise<HookResult | undefined> {
  const problem = await signalVerdict(config, id, v);
  if (problem) warn(problem);
  return verdictHook(config, id, v, vars);
}
