import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';

export const CONFIG_NAMES = ['specs.config.ts', 'specs.config.mts', 'specs.config.mjs', 'specs.config.js', 'specs.config.json'];

/** The config given with --config, or the nearest one from cwd upwards (like git). */
export function findConfig(cwd: string, explicit?: string): string {
  if (explicit) {
    const p = resolve(cwd, explicit);
    if (!existsSync(p)) throw new ConfigError(`config file not found: ${p}`, { hint: 'check the --config path' });
    return p;
  }
  let dir = resolve(cwd);
  for (;;) {
    for (const name of CONFIG_NAMES) {
      const p = join(dir, name);
      if (existsSync(p)) return p;
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new ConfigError(`no specs.config.ts found in ${resolve(cwd)} or any parent folder`, {
    hint: "run 'dispatch init' to create one, or pass --config PATH",
  });
}
