// `dispatch report`: gathers the state and the journal, builds the report's
// data and writes the page. Returns what it wrote; printing is the command's.
import { lstatSync, mkdirSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { ResolvedConfig } from '../config/types.js';
import { DispatchError, FsError, UsageError } from '../errors.js';
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
  /** '-': the page went to stdout (`html`). */
  path: string;
  bytes: number;
  data: ReportData;
  html?: string;
}

const isDir = (p: string) => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/**
 * The page replaces a regular file (or a link, not its target) and nothing else: never a device, a
 * folder, nor one of the files dispatch keeps (state, journal, locks, the config).
 */
function checkOut(config: ResolvedConfig, path: string): void {
  const own = [config.configPath, `${config.stateDir}/dispatch-state.json`, `${config.stateDir}/dispatch-events.jsonl`, `${config.stateDir}/dispatch-lock.json`].map((f) => resolve(f));
  if (own.includes(path) || (dirname(path) === resolve(config.stateDir) && /^dispatch-|\.lock$/.test(basename(path)))) {
    throw new UsageError(`--out ${path} is one of dispatch's own files`, 'write the report elsewhere (default: .codex/report.html)');
  }
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return; // nothing there yet
  }
  if (!st.isFile() && !st.isSymbolicLink()) throw new UsageError(`--out ${path} is not a regular file (a ${st.isDirectory() ? 'folder' : 'device or special file'})`, 'give the path of an .html file');
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
  if (o.out === '-') return { path: '-', bytes: Buffer.byteLength(html), data, html };
  const path = resolve(o.out ?? `${config.stateDir}/report.html`);
  checkOut(config, path);
  // The default place is dispatch's own folder: a project that never ran has none yet.
  if (o.out === undefined) mkdirSync(config.stateDir, { recursive: true });
  else if (!isDir(dirname(path))) throw new DispatchError(`cannot write ${path}: its folder ${dirname(path)} does not exist`, { hint: 'create the folder, or pick another --out' });
  try {
    writeFileAtomic(path, html);
  } catch (err) {
    throw new FsError('write', path, err as NodeJS.ErrnoException);
  }
  return { path, bytes: Buffer.byteLength(html), data };
}
