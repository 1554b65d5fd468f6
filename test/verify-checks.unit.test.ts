// The project's checks after an agent (runVerify), in-process with real
// commands: any exit but 0 fails (2 as much as 1, or a kill), the first
// failure stops the list, and the reason names the command and its last line.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/load.js';
import { runVerify } from '../src/attempt/verify.js';
import { tempDir } from './helpers.js';

const NODE = process.execPath;
async function check(verify: string[][]) {
  const dir = tempDir('vc');
  const c = await resolveConfig({ project: 'vc', verify, specs: [{ id: '001', name: 'a', cost: 1, agent: 'codex' }] }, join(dir, 'specs.config.ts'));
  const said: string[] = [];
  const out = await runVerify(c, c.specs[0]!, { paths: { specDir: dir, specFile: join(dir, 'spec.md'), planFile: join(dir, 'plan.md'), runDir: dir, cwd: dir }, attempt: 1, say: (t) => void said.push(t) });
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
