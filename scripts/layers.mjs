// The floors of src/, lowest first: a module imports only from its own floor or
// the ones below it, and no chain of imports comes back to where it started.
// Every kind of import counts (static, dynamic, type-only): a type is a
// dependency too. `node scripts/layers.mjs` prints what breaks the rule;
// test/layering.test.ts runs it in `npm test`.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Folders (or top-level files) of src/, by floor. */
export const FLOORS = [
  ['util', 'errors', 'version'],
  ['proc'],
  ['state'],
  ['config'],
  ['specs'],
  ['agents', 'planner'],
  // What one attempt leaves and how it is judged: paths, logs, evidence, verdicts, hooks, worktrees.
  ['attempt'],
  ['executors', 'schedule'],
  // Orchestration: the engine, the runner, preflight; the host side of the SSH pool runs runners.
  ['run'],
  ['remote'],
  ['ui'],
  ['report'],
  ['services'],
  ['context'],
  ['commands'],
  // The command table (program), and the entries: the process's (cli), the library's (index), the code-cache loader (boot).
  ['program'],
  ['cli', 'index', 'boot'],
];

/**
 * The imports allowed to run back up a floor (at most 2), each with why. Keyed by `from -> to` file.
 */
export const ALLOWED_UP = {
  // The config names the built-in agents and resolves their defaults (Auto-Claude's specs folder):
  // the registry is the one list of them, and agents in turn read the resolved config's types.
  'config/load.ts -> agents/registry.ts': 'the built-in agents are listed once, in their registry',
};

const IMPORT = /(?:^|[^\w.])(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g;

function sources(dir) {
  const out = [];
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

const floorOf = (file) => {
  const top = file.split('/')[0].replace(/\.ts$/, '');
  return FLOORS.findIndex((f) => f.includes(top));
};

/** The imports between files of `srcDir` (paths relative to it). */
export function importsOf(srcDir) {
  const edges = [];
  for (const abs of sources(srcDir)) {
    const from = relative(srcDir, abs).split(sep).join('/');
    const text = readFileSync(abs, 'utf8').replace(/^\s*\/\/.*$/gm, '');
    for (const m of text.matchAll(IMPORT)) {
      const to = relative(srcDir, resolve(dirname(abs), m[1])).split(sep).join('/').replace(/\.js$/, '.ts');
      edges.push({ from, to });
    }
  }
  return edges;
}

/** What breaks the floors: imports up a floor (not allowed), folders on no floor, and circles. */
export function checkLayers(srcDir) {
  const edges = importsOf(srcDir);
  const problems = [];
  const files = new Set(edges.flatMap((e) => [e.from, e.to]));
  for (const f of files) if (floorOf(f) < 0) problems.push(`${f} is on no floor: add its folder to FLOORS in scripts/layers.mjs`);
  const up = [];
  for (const e of edges) {
    if (floorOf(e.to) <= floorOf(e.from)) continue;
    const key = `${e.from} -> ${e.to}`;
    if (ALLOWED_UP[key]) up.push(key);
    else problems.push(`${key} runs up a floor (${e.from.split('/')[0]} is below ${e.to.split('/')[0]})`);
  }
  if (Object.keys(ALLOWED_UP).length > 2) problems.push('more than 2 imports are allowed up a floor');
  // Circles, file by file (Tarjan's strongly connected components).
  const next = new Map();
  for (const e of edges) (next.get(e.from) ?? next.set(e.from, new Set()).get(e.from)).add(e.to);
  let i = 0;
  const index = new Map(), low = new Map(), stack = [], on = new Set();
  const visit = (v) => {
    index.set(v, i); low.set(v, i); i++; stack.push(v); on.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v), low.get(w))); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) === index.get(v)) {
      const scc = [];
      let w;
      do { w = stack.pop(); on.delete(w); scc.push(w); } while (w !== v);
      if (scc.length > 1 || next.get(v)?.has(v)) problems.push(`circle: ${scc.sort().join(' <-> ')}`);
    }
  };
  for (const f of files) if (!index.has(f)) visit(f);
  return { problems, up, edges: edges.length };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { problems, up, edges } = checkLayers(resolve(dirname(fileURLToPath(import.meta.url)), '../src'));
  for (const p of problems) console.log(p);
  console.error(`${edges} imports, ${up.length} allowed up a floor, ${problems.length} problems`);
  process.exit(problems.length ? 1 : 0);
}
