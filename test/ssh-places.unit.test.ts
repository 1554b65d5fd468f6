// Where an SSH run is: the tmux session it is started under, the place a launch
// records, and how a running entry is found again (a place on record, reached with
// the configured host's options when one is at that address; an entry of an older
// version, by its host's name). Also the connection folder on a system without uids.
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig, type ResolvedConfig } from '../src/config/load.js';
import { hostsOf, legacyBase, placeOf, remoteBase, runLabel, sessionName, sshOptions, whereOf, type SshHost } from '../src/executors/ssh/hosts.js';
import { placeKey, type RunnerInfo } from '../src/state/doc.js';

async function configOf(hosts: Record<string, unknown>[], project = 'proj', root = '/work/proj'): Promise<ResolvedConfig> {
  return resolveConfig({ project, specsDir: 'specs', specs: [], executor: { kind: 'ssh', hosts } }, `${root}/specs.config.ts`);
}

const HOSTS = [
  { host: 'b1', dir: '/srv/p/' },
  { host: 'dev@b2', port: 2222, dir: '~/p', identityFile: '~/.ssh/k', options: ['Compression=yes'], dispatch: ['node', '/opt/d.js'] },
];

// First in this file on purpose: the connection folder is chosen at the first ssh command of the process.
describe('the shared connection folder', () => {
  it('without uids (a system with no process.getuid) it is named dispatch-ssh-u', () => {
    const dir = join(tmpdir(), 'dispatch-ssh-u');
    const existed = existsSync(dir);
    const getuid = process.getuid;
    (process as { getuid?: () => number }).getuid = undefined;
    try {
      const h: SshHost = { name: 'h', cfg: { host: 'h', slots: 1, dir: '/d', dispatch: 'dispatch', options: [] } };
      const opts = sshOptions(h);
      expect(opts.slice(4, 6)).toEqual(['-o', `ControlPath=${join(dir, '%C')}`]);
      expect(existsSync(dir)).toBe(true);
    } finally {
      process.getuid = getuid;
      if (!existed) rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('tmux session names on a host', () => {
  it('the label, then a dash and a 12-hex key of the project and the launch', async () => {
    const c = await configOf(HOSTS);
    const s = sessionName(c, '001', 2);
    expect(s).toMatch(/^proj-001-2-[0-9a-f]{12}$/);
    // The same launch of the same checkout: the same name (the session is found again by it).
    expect(sessionName(await configOf(HOSTS), '001', 2)).toBe(s);
  });

  it('differ for every launch and every checkout, even where the labels agree', async () => {
    const c = await configOf(HOSTS);
    const key = (name: string) => name.slice(-12);
    const names = [
      sessionName(c, '001', 2),
      sessionName(c, '001', 3),
      sessionName(c, '002', 2),
      sessionName(await configOf(HOSTS, 'proj', '/elsewhere/proj'), '001', 2),
    ];
    expect(new Set(names.map(key)).size).toBe(4);
    // Project a-b spec c and project a spec b-c: one label, two sessions.
    const ab = sessionName(await configOf(HOSTS, 'a-b'), 'c', 1);
    const a = sessionName(await configOf(HOSTS, 'a'), 'b-c', 1);
    expect(ab.slice(0, -13)).toBe('a-b-c-1');
    expect(a.slice(0, -13)).toBe('a-b-c-1');
    expect(ab).not.toBe(a);
  });

  it("tmux's target separators become _, and the readable part is cut at 60 characters", async () => {
    const c = await configOf(HOSTS, 'p.q');
    expect(sessionName(c, 'v1.2', 1)).toMatch(/^p_q-v1_2-1-[0-9a-f]{12}$/);
    const long = 'x'.repeat(64);
    const s = sessionName(c, long, 12);
    expect(s).toMatch(new RegExp(`^p_q-${'x'.repeat(56)}-[0-9a-f]{12}$`));
    expect(s).toHaveLength(60 + 1 + 12);
  });
});

describe('the place a launch records', () => {
  it('a bare host: its address, checkout, project folder, label and session, nothing else', async () => {
    const c = await configOf(HOSTS);
    const [b1] = hostsOf(c);
    expect(placeOf(c, b1!, '001', 1)).toStrictEqual({
      host: 'b1', dispatch: 'dispatch', dir: '/srv/p/', base: remoteBase(c, b1!), label: 'proj-001-1', session: sessionName(c, '001', 1),
    });
  });

  it('a host with port, key and options records them, the options as its own copy', async () => {
    const c = await configOf(HOSTS);
    const b2 = hostsOf(c)[1]!;
    const place = placeOf(c, b2, '007', 3);
    expect(place).toStrictEqual({
      host: 'dev@b2', port: 2222, identityFile: '~/.ssh/k', options: ['Compression=yes'], dispatch: ['node', '/opt/d.js'], dir: '~/p',
      base: remoteBase(c, b2), label: 'proj-007-3', session: sessionName(c, '007', 3),
    });
    b2.cfg.options.push('LogLevel=ERROR');
    expect(place.options).toEqual(['Compression=yes']);
  });
});

describe('where a running entry is', () => {
  const entry = (extra: Partial<RunnerInfo>): RunnerInfo => ({ pid: 7, host: 'b1', startedAt: '', executor: 'ssh', ...extra });

  it('a recorded place on a configured address: that host (its options now), and the names on record', async () => {
    const c = await configOf(HOSTS);
    const hosts = hostsOf(c);
    const b2 = hosts[1]!;
    const place = placeOf(c, b2, '001', 4);
    const w = whereOf(c, hosts, '001', entry({ host: 'dev@b2:2222', attempt: 4, place }));
    expect(w).toStrictEqual({ h: b2, base: place.base, label: 'proj-001-4', session: place.session, key: placeKey('dev@b2', 2222, place.base) });
    expect(w!.h).toBe(b2);
    // The host renamed and given other options since: still that host, reached as configured now.
    const now = await configOf([{ host: 'b1', dir: '/srv/p' }, { ...HOSTS[1], name: 'fast', options: ['Ciphers=aes128-ctr'] }]);
    const again = whereOf(now, hostsOf(now), '001', entry({ host: 'dev@b2:2222', attempt: 4, place }));
    expect(again?.h).toEqual({ name: 'fast', cfg: expect.objectContaining({ host: 'dev@b2', port: 2222, options: ['Ciphers=aes128-ctr'] }) });
    expect(again).toMatchObject({ base: place.base, label: 'proj-001-4', session: place.session });
  });

  it('a recorded place no configured host is at: reached as recorded, under the name on record', async () => {
    const c = await configOf(HOSTS);
    const place = placeOf(c, hostsOf(c)[1]!, '001', 2);
    const gone = await configOf([{ host: 'b1', dir: '/srv/p' }, { host: 'dev@b2', port: 2200, dir: '~/p' }]);
    expect(whereOf(gone, hostsOf(gone), '001', entry({ host: 'dev@b2:2222', attempt: 2, place }))).toStrictEqual({
      h: { name: 'dev@b2:2222', cfg: { host: 'dev@b2', port: 2222, identityFile: '~/.ssh/k', options: ['Compression=yes'], dispatch: ['node', '/opt/d.js'], dir: '~/p', slots: 1 } },
      base: place.base, label: 'proj-001-2', session: place.session, key: placeKey('dev@b2', 2222, place.base),
    });
    // A bare place (no port, key or options): none invented.
    const bare = placeOf(c, hostsOf(c)[0]!, '001', 1);
    expect(whereOf(gone, [], '001', entry({ attempt: 1, place: bare }))?.h).toStrictEqual({
      name: 'b1', cfg: { host: 'b1', options: [], dispatch: 'dispatch', dir: '/srv/p/', slots: 1 },
    });
  });

  it("an entry of an older version (no place): its host by name, and that version's folder and names", async () => {
    const c = await configOf([{ host: 'b0', dir: '/x' }, ...HOSTS]);
    const hosts = hostsOf(c);
    const b1 = hosts[1]!;
    const label = runLabel(c, 'v1.0', 3);
    expect(label).toBe('proj-v1.0-3');
    expect(whereOf(c, hosts, 'v1.0', entry({ host: 'b1', attempt: 3 }))).toStrictEqual({
      h: b1, base: legacyBase(c, b1), label, session: 'proj-v1_0-3', key: placeKey('b1', undefined, '/srv/p/.dispatch/proj'),
    });
    const b2 = whereOf(c, hosts, '9', entry({ host: 'dev@b2:2222', attempt: 1 }));
    expect(b2?.h).toBe(hosts[2]);
    expect(b2?.key).toBe(placeKey('dev@b2', 2222, '~/p/.dispatch/proj'));
  });

  it('an older entry whose host is not configured, or without a launch number, is nowhere', async () => {
    const c = await configOf(HOSTS);
    const hosts = hostsOf(c);
    expect(whereOf(c, hosts, '001', entry({ host: 'gone', attempt: 1 }))).toBeUndefined();
    expect(whereOf(c, hosts, '001', entry({ host: 'b1' }))).toBeUndefined();
  });
});
