// The SSH host pool as dispatch uses it: names, ssh command lines, the remote
// layout. Every ssh call is `ssh [options] -- <host> <one quoted command>`.
import { mkdirSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResolvedConfig } from '../../config/load.js';
import { hostNameOf } from '../../config/load.js';
import type { ExecutorConfig, SshHostConfig } from '../../config/schema.js';
import type { Argv } from '../../proc/launch.js';
import { remoteCommand } from './quote.js';

export interface SshHost {
  /** What dispatch calls it: in the state (`running.<id>.host`), status and `runOn`. */
  name: string;
  cfg: SshHostConfig;
}

export const hostsOf = (config: ResolvedConfig): SshHost[] => (config.executor?.hosts ?? []).map((cfg) => ({ name: hostNameOf(cfg), cfg }));

export const sshConfigOf = (config: ResolvedConfig): ExecutorConfig => {
  if (!config.executor) throw new Error('no SSH executor configured');
  return config.executor;
};

const expandLocal = (p: string) => (p === '~' ? homedir() : p.startsWith('~/') ? join(homedir(), p.slice(2)) : p);

// One connection per host, shared by every call (ControlMaster). The socket's
// path must stay short (a Unix socket path has ~100 bytes): %C is a hash of the
// connection, in a folder only this user can enter.
let controlDir: string | undefined;
function controlPath(): string {
  if (!controlDir) {
    controlDir = join(tmpdir(), `dispatch-ssh-${process.getuid?.() ?? 'u'}`);
    mkdirSync(controlDir, { recursive: true, mode: 0o700 });
  }
  return join(controlDir, '%C');
}

/** `ssh` options for a host: batch mode (never a prompt), the shared connection, its port, key and extra options. */
export function sshOptions(h: SshHost, opts: { tty?: boolean } = {}): string[] {
  return [
    '-o', 'BatchMode=yes',
    '-o', 'ControlMaster=auto',
    '-o', `ControlPath=${controlPath()}`,
    '-o', 'ControlPersist=60',
    '-o', 'ConnectTimeout=10',
    // A host that stops answering is noticed in ~10 s, not at TCP's timeout.
    '-o', 'ServerAliveInterval=5',
    '-o', 'ServerAliveCountMax=2',
    ...(h.cfg.port ? ['-p', String(h.cfg.port)] : []),
    ...(h.cfg.identityFile ? ['-i', expandLocal(h.cfg.identityFile)] : []),
    ...h.cfg.options.flatMap((o) => ['-o', o]),
    ...(opts.tty ? ['-t'] : ['-T']),
  ];
}

/** The ssh command that runs `argv` on the host. */
export const sshArgv = (h: SshHost, argv: Argv, opts: { tty?: boolean } = {}): Argv => ['ssh', ...sshOptions(h, opts), '--', h.cfg.host, remoteCommand(argv)];

/** The dispatch command on the host. */
export const remoteDispatch = (h: SshHost): Argv => (typeof h.cfg.dispatch === 'string' ? [h.cfg.dispatch] : (h.cfg.dispatch as Argv));

/** Where dispatch keeps this project's runs and worktrees on a host: `<dir>/.dispatch/<project>`. */
export const remoteBase = (config: ResolvedConfig, h: SshHost) => `${h.cfg.dir.replace(/\/+$/, '')}/.dispatch/${config.project}`;

/** The label of a run: its tmux session and its folder's name on the host. */
export const runLabel = (config: ResolvedConfig, id: string, attempt: number) => `${config.project}-${id}-${attempt}`;

/** The host's tmux server for dispatch's runners (its own socket: never the user's sessions). */
export const REMOTE_TMUX_SOCKET = 'dispatch';

/** A run's tmux session on its host: its label, as tmux keeps names ('.' and ':' separate targets). */
export const sessionOf = (label: string) => label.replace(/[.:]/g, '_');
