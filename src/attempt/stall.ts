import { statSync } from 'node:fs';
import type { ResolvedConfig, ResolvedSpec } from '../config/types.js';
import { logPath } from './paths.js';

export const stallSeconds = (config: ResolvedConfig, spec: ResolvedSpec) => (config.stall.minutes[spec.cost] ?? 15) * 60;

/** Seconds since the spec's log last grew (or since it started). */
export function quietSeconds(config: ResolvedConfig, spec: ResolvedSpec, startedAt: string | undefined, now = Date.now()): number {
  let last = startedAt ? Date.parse(startedAt) : now;
  try {
    last = Math.max(last, statSync(logPath(config, spec.id)).mtimeMs);
  } catch {
    // no output yet
  }
  return Math.max(0, (now - last) / 1000);
}

