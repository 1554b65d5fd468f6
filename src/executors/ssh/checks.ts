// What `doctor` and a run's preflight ask each SSH host: does it answer, is
// its dispatch this version, are tmux, git and the agents there, is the
// checkout there, how many slots are free.
import type { ResolvedConfig } from '../../config/types.js';
import type { Check } from '../types.js';
import type { StateDoc } from '../../state/doc.js';
import { VERSION } from '../../version.js';
import { sshProblem, type SshExecutor } from './pool.js';
import { remoteDispatch, sshConfigOf } from './hosts.js';
import { checkAnswerSchema, parseAnswer } from './answers.js';

interface HostFacts {
  version: string;
  node: string;
  tmux: boolean;
  git: boolean;
  checkout: 'repo' | 'missing' | 'not-a-repo';
  bins: Record<string, string | null>;
}

export async function hostChecks(config: ResolvedConfig, ex: SshExecutor, bins: string[], doc: StateDoc): Promise<Check[]> {
  const busy = ex.busy(doc);
  const local = await (await import('../../proc/launch.js')).capture(['git', '-C', config.rootDir, 'rev-parse', '--verify', 'HEAD^{commit}']);
  const checks: Check[] = [local.exitCode === 0
    ? { name: 'git', status: 'ok', detail: `hosts start from ${local.stdout.trim().slice(0, 12)} (HEAD)` }
    : { name: 'git', status: 'fail', detail: `${config.rootDir} has no commit: SSH hosts get the project through git`, fix: "run 'git init' and commit once" }];
  const perHost = await Promise.all(ex.hosts.map(async (h): Promise<Check[]> => {
    const name = `host ${h.name}`;
    const r = await ex.onHost(h, 'check', ['--dir', h.cfg.dir, '--', ...bins]);
    if (r.exitCode !== 0) {
      if (r.timedOut) {
        // A host that answers slowly is as often a slow shell start-up there (an rc file waiting on a lock) as a network.
        const secs = sshConfigOf(config).timeoutSeconds;
        return [{ name, status: 'fail', detail: `cannot reach it: no answer within ${secs} s`, fix: `check that 'ssh ${h.cfg.host} true' answers within ${secs} s without a prompt (keys, known_hosts, BatchMode, the shell's start-up files there), or raise executor.timeoutSeconds` }];
      }
      const problem = sshProblem(r);
      const missing = /command not found|No such file|not found/i.test(problem);
      return [{ name, status: 'fail', detail: `${missing ? `no dispatch on ${h.name} (${remoteDispatch(h).join(' ')})` : `cannot reach it: ${problem}`}`, fix: missing ? `install dispatch ${VERSION} there, or set hosts[].dispatch to its command` : `check 'ssh ${h.cfg.host}' works without a prompt (keys, known_hosts, BatchMode)` }];
    }
    let f: HostFacts;
    try {
      f = parseAnswer(checkAnswerSchema, r.stdout);
    } catch (err) {
      return [{ name, status: 'fail', detail: `its dispatch answered something else: ${(err as Error).message}`, fix: `install dispatch ${VERSION} there` }];
    }
    const out: Check[] = [];
    const free = Math.max(0, h.cfg.slots - busy(h));
    if (f.version !== VERSION) out.push({ name, status: 'fail', detail: `dispatch ${f.version} there, ${VERSION} here`, fix: `install dispatch ${VERSION} on ${h.name}` });
    else out.push({ name, status: 'ok', detail: `dispatch ${f.version} (node ${f.node}), ${free} of ${h.cfg.slots} slot${h.cfg.slots === 1 ? '' : 's'} free` });
    if (!f.git) out.push({ name, status: 'fail', detail: `git is not installed on ${h.name}`, fix: 'install git there' });
    if (!f.tmux) out.push({ name, status: 'warn', detail: `tmux is not installed on ${h.name}: runners run in the background, and 'dispatch attach' cannot open them`, fix: 'install tmux there' });
    if (f.checkout === 'not-a-repo') out.push({ name, status: 'fail', detail: `${h.cfg.dir} on ${h.name} exists but is not a git checkout`, fix: 'point hosts[].dir at a clone of the project, or at a folder that does not exist yet' });
    else if (f.checkout === 'missing') out.push({ name, status: 'ok', detail: `${h.cfg.dir} will be created on ${h.name} at the first launch` });
    const absent = Object.entries(f.bins).filter(([, p]) => !p).map(([b]) => b);
    if (absent.length) out.push({ name, status: 'fail', detail: `not on ${h.name}: ${absent.join(', ')}`, fix: 'install the agents there (the runner starts them on the host)' });
    return out;
  }));
  return [...checks, ...perHost.flat()];
}
