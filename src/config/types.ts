// The config as the rest of dispatch sees it, derived from the schema's output:
// a field added to the schema is in these types, with its type, at once.
import type { Config } from './schema.js';

type Row = Config['specs'][number];
type Cost = 1 | 2 | 3 | 4;

/** A spec of the table after validation, with its computed wave. */
export type ResolvedSpec = Pick<Row, 'id' | 'name' | 'agent' | 'mode' | 'dependsOn' | 'title' | 'requireChanges' | 'runOn'> & {
  wave: number;
  cost: Cost;
  /** Set only when the spec has its own (see verifyOf). */
  verify?: string[][];
};

/** The config after defaults, validation and wave computation, with absolute paths. */
export type ResolvedConfig = Pick<
  Config,
  | 'project' | 'planner' | 'agents' | 'multiplexer' | 'executor' | 'tmuxSocket' | 'pacing' | 'startTimeoutSeconds' | 'verify'
  | 'verifyTimeoutSeconds' | 'requireChanges' | 'retry' | 'stall' | 'budget' | 'hooks' | 'logs' | 'schedule' | 'merge'
> & {
  configPath: string;
  rootDir: string;
  session: string;
  /** Absolute: specsDir, stateDir, signalDir (the system's temporary folder when unset), worktreesDir. */
  specsDir: string;
  stateDir: string;
  signalDir: string;
  worktreesDir: string;
  /** Per-wave settings by wave number (the config's `waves`). */
  waveOptions: Config['waves'];
  /** Expected minutes by cost (simulate, eager priorities). */
  estimateMinutes: Record<Cost, number>;
  /** Dollars per million tokens, by model (the report's cost figures). */
  pricing: NonNullable<Config['pricing']>;
  specs: ResolvedSpec[];
  /** Sorted distinct wave numbers. */
  waves: number[];
};
