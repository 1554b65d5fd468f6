// The evidence behind an attempt's verdict, in one line: the end of its log and `logs`' header.
import { showArgv } from '../proc/launch.js';
import type { AttemptRecord } from '../state/doc.js';
import { endedAs } from './verify.js';

/** One line at the end of an attempt's log: what backs its verdict. */
export function evidenceLine(e: Pick<AttemptRecord, 'exit' | 'verify' | 'git' | 'qa'>, timeoutSeconds: number): string {
  const parts: string[] = [];
  parts.push(e.exit ? (e.exit.signal ? `killed by ${e.exit.signal}` : `exit ${e.exit.code}`) : 'not started');
  if (e.qa) parts.push(`QA ${e.qa}`);
  if (e.verify) {
    const failed = e.verify.find((v) => !v.ok);
    parts.push(failed ? `verify ${endedAs(failed, timeoutSeconds)}: ${showArgv(failed.argv)}` : `verify: ${e.verify.length} passed`);
  }
  if (e.git) parts.push(e.git.changed ? `${e.git.files} file${e.git.files === 1 ? '' : 's'} changed (+${e.git.insertions} -${e.git.deletions})${e.git.shared ? ', shared tree' : ''}` : `no changes${e.git.shared ? ' (shared tree)' : ''}`);
  return parts.join(' · ');
}

/** "passed 2" / "failed check 2: `npm test`". */
export function verifySummary(ran: { argv: string[]; ok: boolean }[]): string {
  const failed = ran.find((v) => !v.ok);
  return failed ? `failed check ${ran.length}: ${showArgv(failed.argv)}` : `passed ${ran.length}`;
}

/**
 * The evidence of an attempt as its verdict's hook sees it (DISPATCH_EXIT_CODE, _VERIFY, _FILES_CHANGED,
 * _INSERTIONS, _DELETIONS, _TOKENS): the same from a local runner and from a run collected from a host.
 */
export function evidenceVars(e: Pick<AttemptRecord, 'exit' | 'verify' | 'git' | 'tokens'>): Record<string, string | number | undefined> {
  return {
    EXIT_CODE: e.exit?.code, VERIFY: e.verify ? verifySummary(e.verify) : undefined,
    FILES_CHANGED: e.git?.files, INSERTIONS: e.git?.insertions, DELETIONS: e.git?.deletions, TOKENS: e.tokens?.total,
  };
}
