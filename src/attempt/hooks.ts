// User hooks: argument arrays run with the event's details in DISPATCH_*
// variables. A hook that fails or hangs is reported, never fatal.
import type { ResolvedConfig } from '../config/types.js';
import type { HooksConfig } from '../config/schema.js';

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
