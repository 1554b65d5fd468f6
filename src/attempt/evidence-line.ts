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

