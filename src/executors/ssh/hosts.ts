// The SSH host pool as dispatch uses it: names, ssh command lines, the remote
// layout. Every ssh call is `ssh [options] -- <host> <one quoted command>`.
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { homedir, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResolvedConfig } from '../../config/types.js';
import { hostNameOf } from '../../config/load.js';
import type { ExecutorConfig, SshHostConfig } from '../../config/schema.js';
import type { Argv } from '../../proc/launch.js';
import { placeKey, type RunPlace, type RunnerInfo } from '../../state/doc.js';
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

/**
 * Where dispatch keeps this checkout's runs and worktrees on a host: `<dir>/.dispatch/<project>-<key>`, the key a
 * hash of this machine and the project's folder. Two checkouts of one project (two clones, two people) share a
 * host's checkout but never each other's runs: each takes the other's for stale attempts of its own otherwise.
 */
export const remoteBase = (config: ResolvedConfig, h: SshHost) => `${h.cfg.dir.replace(/\/+$/, '')}/.dispatch/${config.project}-${checkoutKey(config)}`;

/** Where versions before the key kept a project's runs (entries they recorded have no place). */
export const legacyBase = (config: ResolvedConfig, h: SshHost) => `${h.cfg.dir.replace(/\/+$/, '')}/.dispatch/${config.project}`;

const keys = new WeakMap<ResolvedConfig, string>();
function checkoutKey(config: ResolvedConfig): string {
  let k = keys.get(config);
  if (!k) keys.set(config, (k = createHash('sha256').update(JSON.stringify([hostname(), config.rootDir, config.project])).digest('hex').slice(0, 10)));
  return k;
}

/** The label of a run: its tmux session and its folder's name on the host. */
export const runLabel = (config: ResolvedConfig, id: string, attempt: number) => `${config.project}-${id}-${attempt}`;


/**
 * The session name versions before recorded places used: the label, as tmux keeps names ('.' and ':'
 * separate targets). Not injective (`1_0` and `1.0`; project `a-b` spec `c` and project `a` spec `b-c`):
 * only used to find runs those versions started.
 */
export const sessionOf = (label: string) => label.replace(/[.:]/g, '_');

/**
 * A run's tmux session: readable (its label), and made injective by a hash of this project's identity
 * (this machine, its folder, its name) and the launch, as one tmux server on a host serves every project.
 */
export function sessionName(config: ResolvedConfig, id: string, attempt: number): string {
  const key = createHash('sha256').update(JSON.stringify([hostname(), config.rootDir, config.project, id, attempt])).digest('hex').slice(0, 12);
  return `${runLabel(config, id, attempt).replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 60)}-${key}`;
}

/** Where a run is: the connection, the project's folder there and the run's names. */
export interface RunWhere {
  h: SshHost;
  base: string;
  label: string;
  session: string;
  /** The place as an address (host, port, project folder): equal keys are the same place whatever the config calls it. */
  key: string;
}

export { placeKey };
export const hostKey = (config: ResolvedConfig, h: SshHost) => placeKey(h.cfg.host, h.cfg.port, remoteBase(config, h));

/** The place a launch on `h` records. */
export function placeOf(config: ResolvedConfig, h: SshHost, id: string, attempt: number): RunPlace {
  return {
    host: h.cfg.host, ...(h.cfg.port ? { port: h.cfg.port } : {}), ...(h.cfg.identityFile ? { identityFile: h.cfg.identityFile } : {}),
    ...(h.cfg.options.length ? { options: [...h.cfg.options] } : {}), dispatch: h.cfg.dispatch as string | string[], dir: h.cfg.dir,
    base: remoteBase(config, h), label: runLabel(config, id, attempt), session: sessionName(config, id, attempt),
  };
}

/**
 * Where a running entry is. Recorded: its place (reached with the configured host's options when one is at
 * the same address, as keys and options may have changed since). Recorded by an older version (no place):
 * the configured host of its name, and the names that version used; undefined when no host has that name.
 */
export function whereOf(config: ResolvedConfig, hosts: SshHost[], id: string, r: RunnerInfo): RunWhere | undefined {
  const p = r.place;
  if (p) {
    const key = placeKey(p.host, p.port, p.base);
    const same = hosts.find((h) => hostKey(config, h) === key);
    const h: SshHost = same ?? {
      name: r.host,
      cfg: { host: p.host, ...(p.port ? { port: p.port } : {}), ...(p.identityFile ? { identityFile: p.identityFile } : {}), options: p.options ?? [], dispatch: p.dispatch, dir: p.dir, slots: 1 },
    };
    return { h, base: p.base, label: p.label, session: p.session, key };
  }
  const h = hosts.find((x) => x.name === r.host);
  if (!h || r.attempt === undefined) return undefined;
  const label = runLabel(config, id, r.attempt);
  const base = legacyBase(config, h);
  return { h, base, label, session: sessionOf(label), key: placeKey(h.cfg.host, h.cfg.port, base) };
}
