// The project's checks after an agent (runVerify), in-process with real
// commands: any exit but 0 fails (2 as much as 1, or a kill), the first
// failure stops the list, and the reason names the command and its last line.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/load.js';
import { endedAs, requireChangesOf, runVerify } from '../src/attempt/verify.js';
import { tempDir } from './helpers.js';

const NODE = process.execPath;
async function check(verify: string[][], opts: { env?: Record<string, string>; extra?: Record<string, unknown>; signal?: AbortSignal; onGroup?: (g: unknown) => void } = {}) {
  const dir = tempDir('vc');
  const c = await resolveConfig({ project: 'vc', verify, ...opts.extra, specs: [{ id: '001', name: 'a', cost: 1, agent: 'codex' }] }, join(dir, 'specs.config.ts'));
  const said: string[] = [];
  const out = await runVerify(c, c.specs[0]!, { paths: { specDir: dir, specFile: join(dir, 'spec.md'), planFile: join(dir, 'plan.md'), runDir: dir, cwd: dir }, attempt: 1, ...(opts.env ? { env: opts.env } : {}), ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onGroup ? { onGroup: opts.onGroup } : {}), say: (t) => void said.push(t) });
  return { out, said: said.join('') };
}

describe('runVerify', () => {
  it('a check that exits 2 is a failure, named with its last line; the checks after it do not run', async () => {
    const { out, said } = await check([[NODE, '-e', 'process.exit(0)'], [NODE, '-e', "console.log('first'); console.log('2 tests failed'); process.exit(2)"], [NODE, '-e', "console.log('never')"]]);
    expect(out.failed).toMatchObject({ ok: false, exitCode: 2 });
    expect(out.ran.map((r) => r.ok)).toEqual([true, false]);
    expect(out.reason).toMatch(/^verify failed: `.* -e .*` exited 2: 2 tests failed$/);
    expect(said).not.toContain('never');
    expect(said).toContain('verify 2 of 3 FAILED');
  });

  it('every check passing is no failure, each said passed', async () => {
    const { out, said } = await check([[NODE, '-e', 'process.exit(0)'], [NODE, '-e', 'process.exit(0)']]);
    expect(out.failed).toBeUndefined();
    expect(out.reason).toBeUndefined();
    expect(out.ran).toHaveLength(2);
    expect(said.match(/passed/g)).toHaveLength(2);
  });

  it('a program that is not there fails, saying so', async () => {
    const { out } = await check([['/nonexistent/check']]);
    expect(out.failed).toMatchObject({ ok: false, error: "'/nonexistent/check' not found" });
  });
});

describe("a failed check's output kept for the record and the retry prompt", () => {
  it('its last 30 lines, carriage returns dropped, trailing blank lines trimmed', async () => {
    const { out } = await check([[NODE, '-e', "for (let i = 1; i <= 100; i++) console.log('line ' + i + '\\r'); console.log('\\n\\n'); process.exit(1)"]]);
    const lines = out.failed!.tail!.split('\n');
    expect(lines).toHaveLength(30);
    expect(lines[0]).toBe('line 71');
    expect(lines.at(-1)).toBe('line 100');
    expect(out.failed!.tail).not.toContain('\r');
  });

  it('at most 3,000 characters: the end of very long lines', async () => {
    const { out } = await check([[NODE, '-e', "console.log('a'.repeat(5000) + 'END'); process.exit(1)"]]);
    expect(out.failed!.tail).toHaveLength(3000);
    expect(out.failed!.tail!.endsWith('aEND')).toBe(true);
  });
});

describe('endedAs and requireChangesOf', () => {
  const r = { argv: ['x'], ok: false, seconds: 1 };
  it('says how a check ended, in words', () => {
    expect(endedAs({ ...r, error: "'x' not found" }, 60)).toBe("could not start: 'x' not found");
    expect(endedAs({ ...r, timedOut: true, signal: 'SIGKILL' }, 60)).toBe('timed out after 60 s');
    expect(endedAs({ ...r, signal: 'SIGKILL' }, 60)).toBe('killed by SIGKILL');
    expect(endedAs({ ...r, exitCode: 2 }, 60)).toBe('exited 2');
    expect(endedAs(r, 60)).toBe('was stopped');
  });
  it("a spec's own requireChanges wins over the config's, either way", () => {
    const spec = { id: '1', name: 'a', wave: 0, cost: 1 as const, agent: 'codex', mode: 'direct' as const, dependsOn: [] };
    expect(requireChangesOf({ requireChanges: true }, spec)).toBe(true);
    expect(requireChangesOf({ requireChanges: false }, spec)).toBe(false);
    expect(requireChangesOf({ requireChanges: true }, { ...spec, requireChanges: false })).toBe(false);
    expect(requireChangesOf({ requireChanges: false }, { ...spec, requireChanges: true })).toBe(true);
  });

  it('says each check before it runs, with its number and command; output without a final newline gets one before the verdict', async () => {
    const { said } = await check([[NODE, '-e', 'process.exit(0)'], [NODE, '-e', "process.stdout.write('no newline'); process.exit(3)"]]);
    expect(said).toContain(`── dispatch: verify 1 of 2: ${NODE} -e 'process.exit(0)'\n`);
    expect(said).toMatch(/── dispatch: verify 1 of 2 passed \(\d+(\.\d)? s\)\n── dispatch: verify 2 of 2: /);
    expect(said).toMatch(/no newline\n── dispatch: verify 2 of 2 FAILED: exited 3 \(/);
  });

  it('times each check in seconds to a tenth', async () => {
    const { out } = await check([[NODE, '-e', 'setTimeout(() => process.exit(1), 400)']]);
    const s = out.failed!.seconds;
    expect(s).toBeGreaterThanOrEqual(0.3);
    expect(s).toBeLessThan(5);
    expect(Math.round(s * 10)).toBe(s * 10);
  });

  it("runs with the process's environment, the caller's and the spec's own variables", async () => {
    process.env.DISPATCH_TEST_FROM_PROCESS = 'p';
    try {
      const { out } = await check([[NODE, '-e', "console.log([process.env.DISPATCH_TEST_FROM_PROCESS, process.env.FROM_CALLER, process.env.DISPATCH_SPEC_ID, process.env.DISPATCH_PROJECT, process.env.DISPATCH_ATTEMPT].join(',')); process.exit(1)"]], { env: { FROM_CALLER: 'c' } });
      expect(out.reason).toMatch(/: p,c,001,vc,1$/);
    } finally {
      delete process.env.DISPATCH_TEST_FROM_PROCESS;
    }
  });

  it('the reason quotes the last line that has text, cut at 200 characters', async () => {
    const { out } = await check([[NODE, '-e', "console.log('one'); console.log('two'); console.log('three is the one'); console.log('   '); process.exit(1)"]]);
    expect(out.reason).toMatch(/exited 1: three is the one$/);
    const long = await check([[NODE, '-e', "console.log('x'.repeat(300)); process.exit(1)"]]);
    expect(long.out.reason).toMatch(new RegExp(`exited 1: ${'x'.repeat(200)}$`));
  });

  it('a check that printed nothing: the reason ends with how it ended', async () => {
    const { out } = await check([[NODE, '-e', 'process.exit(4)']]);
    expect(out.reason).toBe(`verify failed: \`${NODE} -e 'process.exit(4)'\` exited 4`);
  });

  it('a check killed by a signal has no exit code', async () => {
    const { out } = await check([[NODE, '-e', "process.kill(process.pid, 'SIGKILL')"]]);
    expect(out.failed).toMatchObject({ signal: 'SIGKILL', ok: false });
    expect(Object.keys(out.failed!)).not.toContain('exitCode');
  });

  it('15,000 characters at once still leave a tail of the last 3,000', async () => {
    const { out } = await check([[NODE, '-e', "process.stdout.write(Array.from({ length: 100 }, (_, i) => String(i).padStart(149, '.')).join('\\n') + '\\nEND\\n'); process.exit(1)"]]);
    expect(out.failed!.tail!.length).toBe(3000);
    expect(out.failed!.tail!.endsWith('END')).toBe(true);
  });

  it('output that ends its own line gets no blank line before the verdict; the reason trims the line it quotes', async () => {
    const { out, said } = await check([[NODE, '-e', "console.log('   padded reason'); process.exit(1)"]]);
    expect(said).toContain('   padded reason\n── dispatch: verify 1 of 1 FAILED');
    expect(out.reason).toMatch(/exited 1: padded reason$/);
  });

  it('a check past verifyTimeoutSeconds is stopped and failed as timed out', async () => {
    const { out } = await check([[NODE, '-e', 'setTimeout(() => {}, 20000)']], { extra: { verifyTimeoutSeconds: 0.5 } });
    expect(out.failed).toMatchObject({ timedOut: true, ok: false });
    expect(out.reason).toMatch(/timed out after 0\.5 s$/);
    expect(out.failed!.seconds).toBeLessThan(10);
  });

  it("stops a check when the caller's signal aborts, and tells the caller each check's process group", async () => {
    const groups: unknown[] = [];
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const t0 = Date.now();
    const { out } = await check([[NODE, '-e', 'setTimeout(() => {}, 20000)']], { signal: ac.signal, onGroup: (g) => groups.push(g) });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(out.failed?.ok).toBe(false);
    expect(groups).toHaveLength(1);
  });
});
