// One real sshd on a loopback port for the SSH section of the benchmark (root only):
// a generated host key (checked through a known_hosts file) and user key.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const sshdPath = ['/usr/sbin/sshd', '/usr/bin/sshd'].find((p) => existsSync(p));

const freePort = () => new Promise((res) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => res(port));
  });
});

export async function startSshd() {
  const root = mkdtempSync(join(tmpdir(), 'dispatch-bench-sshd-'));
  mkdirSync('/run/sshd', { recursive: true });
  const key = join(root, 'user_key');
  const hostKey = join(root, 'host_key');
  for (const f of [key, hostKey]) spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', f], { stdio: 'ignore' });
  writeFileSync(join(root, 'authorized_keys'), readFileSync(`${key}.pub`));
  const port = await freePort();
  const knownHosts = join(root, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${readFileSync(`${hostKey}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ')}\n`);
  const cfg = join(root, 'sshd.conf');
  writeFileSync(cfg, [`Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${hostKey}`, `AuthorizedKeysFile ${join(root, 'authorized_keys')}`, 'StrictModes no', 'UsePAM no', `PidFile ${join(root, 'sshd.pid')}`, 'PasswordAuthentication no', 'PermitRootLogin prohibit-password', 'LogLevel ERROR', 'MaxSessions 100', 'MaxStartups 100:30:200',
    // As the test hosts (test/fixtures/sshd.ts): no login rc files, which may wait on a stale lock of their own.
    'SetEnv SHLVL=1', ''].join('\n'));
  const proc = spawn(sshdPath, ['-D', '-e', '-f', cfg], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  return { root, port, key, knownHosts, stop: () => proc.kill('SIGKILL') };
}
