// Public entry for `import { defineConfig } from 'dispatch'` in specs.config.ts.
import type { ConfigInput } from './config/schema.js';

export type { ConfigInput, SpecInput } from './config/schema.js';

/** Identity function that gives `specs.config.ts` types and hover docs. */
export function defineConfig(config: ConfigInput): ConfigInput {
  return config;
}
