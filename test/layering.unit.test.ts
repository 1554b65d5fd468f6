// The floors of src/ (scripts/layers.mjs): no import runs back up a floor
// except the few allowed with a reason, and no chain of imports is a circle.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error a plain ES module without types
import { ALLOWED_UP, checkLayers } from '../scripts/layers.mjs';
import { tempDir } from './helpers.js';

const plant = (files: Record<string, string>) => {
  const src = join(tempDir('layers'), 'src');
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(dirname(join(src, f)), { recursive: true });
    writeFileSync(join(src, f), text);
  }
  return src;
};

describe('the layering of src/', () => {
  it('holds: no import up a floor beyond the allowed ones, and no circle', () => {
    const r = checkLayers(join(import.meta.dirname, '../src'));
    expect(r.problems).toEqual([]);
    expect(r.edges).toBeGreaterThan(500);
    expect(Object.keys(ALLOWED_UP).length).toBeLessThanOrEqual(2);
  });

  it('catches an import up a floor, dynamic and type-only ones too', () => {
    const src = plant({
      'state/doc.ts': "export const x = () => import('../services/mark.js');\n",
      'proc/launch.ts': "import type { Y } from '../run/engine.js';\nexport type Z = Y;\n",
      'services/mark.ts': 'export const m = 1;\n',
      'run/engine.ts': 'export type Y = 1;\n',
    });
    expect(checkLayers(src).problems.sort()).toEqual([
      'proc/launch.ts -> run/engine.ts runs up a floor (proc is below run)',
      'state/doc.ts -> services/mark.ts runs up a floor (state is below services)',
    ]);
  });

  it('catches a circle within a floor, and a folder on no floor', () => {
    const src = plant({
      'run/a.ts': "import { b } from './b.js';\nexport const a = b;\n",
      'run/b.ts': "import type { a } from './a.js';\nexport const b = 1 as unknown as typeof a;\n",
      'newfloor/c.ts': "import { a } from '../run/a.js';\nexport const c = a;\n",
    });
    const { problems } = checkLayers(src);
    expect(problems).toContain('circle: run/a.ts <-> run/b.ts');
    expect(problems).toContain('newfloor/c.ts is on no floor: add its folder to FLOORS in scripts/layers.mjs');
  });

  it('does not count an import written in a comment', () => {
    const src = plant({ 'state/doc.ts': "// import('../services/mark.js') would run up a floor\nexport const x = 1;\n", 'services/mark.ts': 'export {};\n' });
    expect(checkLayers(src).problems).toEqual([]);
  });
});
