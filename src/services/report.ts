// `dispatch report`: gathers the state and the journal, builds the report's
// data and writes the page. Returns what it wrote; printing is the command's.
import { dirname, resolve } from 'node:path';
import type { ResolvedConfig } from '../config/load.js';
import { FsError } from '../errors.js';
import { readJournal, readState } from '../state/store.js';
import { writeFileAtomic } from '../util/write-atomic.js';
import { buildReport, type JournalLine, type ReportData } from '../report/data.js';
import type { PlanSummary } from '../report/html.js';

export interface ReportOptions {
  run?: string;
  all?: boolean;
  /** Default: `<stateDir>/report.html`. */
  out?: string;
  now?: number;
}

export interface WrittenReport {
  path: string;
  bytes: number;
  data: ReportData;
}

export async function writeReport(config: ResolvedConfig, o: ReportOptions): Promise<WrittenReport> {
  const doc = readState(config.stateDir);
  const data = buildReport(config, doc, readJournal(config.stateDir) as JournalLine[], { ...(o.run !== undefined ? { run: o.run } : {}), ...(o.all ? { all: true } : {}), now: o.now ?? Date.now() });
  let plan: PlanSummary | undefined;
  if (!data.figures.attempts && config.specs.length) {
    // Nothing has run here: the page shows the plan, with the simulated schedule's length.
    const { simulate } = await import('./simulate.js');
    const sim = await simulate(config, doc, { schedule: config.schedule, durations: 'history', all: true });
    plan = { makespanMs: sim.makespanMs, lowerBoundMs: sim.lowerBound.ms, lowerBoundBy: sim.lowerBound.by };
  }
  const { renderReport } = await import('../report/html.js');
  const html = renderReport(data, plan);
  const path = resolve(o.out ?? `${config.stateDir}/report.html`);
  try {
    writeFileAtomic(path, html);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new FsError('write', e.code === 'ENOENT' ? `${path} (its folder ${dirname(path)} does not exist)` : path, e);
  }
  return { path, bytes: Buffer.byteLength(html), data };
}
