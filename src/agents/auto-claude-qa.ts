// Auto-Claude (v2.7.5) exits 0 whether or not its own QA signed the work off
// (apps/backend/cli/build_commands.py:273-282 only prints "QA VALIDATION
// INCOMPLETE"). The outcome is in the spec folder's implementation_plan.json,
// `qa_signoff.status` (written by its QA agent; read by qa/criteria.py:46-67):
// only "approved" is a sign-off.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface QaOutcome {
  /** qa_signoff.status as Auto-Claude wrote it, or "missing" when there is none. */
  status: string;
  approved: boolean;
  /** Why not, in a line: the first issue it found, or the first line of its fix request or report. */
  detail?: string;
}

function firstLine(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').split('\n').map((l) => l.replace(/^[#>*\-\s]+/, '').trim()).find(Boolean)?.slice(0, 200);
  } catch {
    return undefined;
  }
}

/** One line, at most 200 characters: it becomes a reason shown in tables. */
const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim().slice(0, 200);

/** Its QA outcome for the attempt that started at `since` (ms): a sign-off written before then is an earlier run's. */
export function qaOutcome(specDir: string, since = 0): QaOutcome {
  const planFile = join(specDir, 'implementation_plan.json');
  let signoff: { status?: unknown; issues_found?: { title?: unknown }[] } | undefined;
  try {
    const plan = JSON.parse(readFileSync(planFile, 'utf8')) as { qa_signoff?: typeof signoff };
    signoff = plan?.qa_signoff;
    // A second of slack: file times are not finer than the clock that stamped `since` everywhere.
    if (statSync(planFile).mtimeMs < since - 1000) return { status: 'stale', approved: false, detail: 'implementation_plan.json was not written by this attempt (its QA never ran)' };
  } catch {
    // no plan, or not JSON: QA never ran (a build stopped early also exits 0)
  }
  const status = typeof signoff?.status === 'string' ? oneLine(signoff.status) || 'missing' : 'missing';
  if (status === 'approved') return { status, approved: true };
  const issue = Array.isArray(signoff?.issues_found) ? signoff!.issues_found.map((i) => i?.title).find((t) => typeof t === 'string') : undefined;
  const detail = (issue as string | undefined) ?? firstLine(join(specDir, 'QA_FIX_REQUEST.md')) ?? firstLine(join(specDir, 'qa_report.md'));
  return { status, approved: false, ...(detail && oneLine(detail) ? { detail: oneLine(detail) } : {}) };
}
